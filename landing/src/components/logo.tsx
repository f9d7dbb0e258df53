import { brand } from '@brand';
import { cn } from '@/lib/utils';

// The dashboard's mark (dashboard/src/components/logo.tsx).
export function Logo({ className }: { className?: string }) {
  return (
    <span className={cn('inline-flex items-center gap-2.5 font-semibold tracking-tight', className)}>
      <span aria-hidden className="inline-flex size-8 shrink-0 items-center justify-center rounded-lg bg-gradient-to-br from-primary to-brand2 text-white shadow-sm">
        <svg viewBox="0 0 24 24" className="size-[18px]" fill="none" stroke="currentColor" strokeWidth={2.2} strokeLinecap="round" strokeLinejoin="round">
          <path d="m3 7 9 6 9-6" />
          <rect x="3" y="5" width="18" height="14" rx="2" />
        </svg>
      </span>
      <span className="text-[17px]">{brand.name}</span>
    </span>
  );
}
