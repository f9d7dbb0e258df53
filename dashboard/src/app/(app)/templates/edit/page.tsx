import type { Metadata } from 'next';
import { Suspense } from 'react';
import { TemplateEditor } from '@/components/templates/editor';

export const metadata: Metadata = { title: 'Template' };

// /templates/edit?id=<uuid> (a system template opens read-only, to duplicate), or no id: a new one
export default function Page() {
  return (
    <Suspense>
      <TemplateEditor />
    </Suspense>
  );
}
