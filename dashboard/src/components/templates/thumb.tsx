'use client';
import * as React from 'react';
import type { Template } from '@/lib/api';
import { withSample } from './shared';

/**
 * A template's first screen, scaled down: its thumbnail_url when it is one of
 * ours (the policy allows images from this site only), else the HTML itself in
 * a sandboxed frame (no scripts, no same-origin) with sample values.
 */
export function TemplateThumb({ t }: { t: Template }) {
  const own = t.thumbnail_url && (t.thumbnail_url.startsWith('/') || t.thumbnail_url.startsWith('data:image/'));
  return (
    <div className="relative h-52 overflow-hidden border-b bg-[#f4f4f5]" aria-hidden>
      {own ? (
        // eslint-disable-next-line @next/next/no-img-element
        <img src={t.thumbnail_url!} alt="" className="size-full object-cover object-top" loading="lazy" />
      ) : t.html_content ? (
        <iframe
          title=""
          tabIndex={-1}
          sandbox=""
          srcDoc={withSample(t.html_content)}
          className="pointer-events-none absolute left-0 top-0 h-[250%] w-[250%] origin-top-left scale-[0.4] border-0 bg-white"
        />
      ) : null}
      <div className="absolute inset-x-0 bottom-0 h-10 bg-gradient-to-t from-black/5 to-transparent" />
    </div>
  );
}
