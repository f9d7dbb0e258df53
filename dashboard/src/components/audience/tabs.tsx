'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { cn } from '@/lib/utils';

const tabs = [
  { href: '/contacts', label: 'Contacts', exact: ['/contacts', '/contacts/view'] },
  { href: '/contacts/lists', label: 'Lists & segments', exact: ['/contacts/lists', '/contacts/lists/view'] },
  { href: '/contacts/import', label: 'Import', exact: ['/contacts/import'] },
];

/** The audience's three screens, as links (each is its own page of the export). */
export function AudienceTabs() {
  const pathname = usePathname();
  return (
    <nav aria-label="Audience" className="-mt-4 mb-6 flex gap-1 overflow-x-auto border-b">
      {tabs.map((t) => {
        const active = t.exact.includes(pathname);
        return (
          <Link
            key={t.href}
            href={t.href}
            aria-current={active ? 'page' : undefined}
            className={cn(
              '-mb-px whitespace-nowrap border-b-2 px-3 pb-2.5 pt-1 text-sm font-medium transition-colors focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring rounded-t-md',
              active ? 'border-primary text-foreground' : 'border-transparent text-muted-foreground hover:text-foreground',
            )}
          >
            {t.label}
          </Link>
        );
      })}
    </nav>
  );
}

export function EmptyState({
  icon: Icon,
  title,
  children,
  actions,
  testid,
}: {
  icon: React.ComponentType<{ className?: string }>;
  title: string;
  children?: React.ReactNode;
  actions?: React.ReactNode;
  testid?: string;
}) {
  return (
    <div data-testid={testid} className="flex flex-col items-center px-6 py-14 text-center">
      <span className="inline-flex size-11 items-center justify-center rounded-full bg-primary/10 text-primary">
        <Icon className="size-5" />
      </span>
      <h3 className="mt-4 text-base font-semibold">{title}</h3>
      {children && <p className="mt-1.5 max-w-sm text-sm text-muted-foreground">{children}</p>}
      {actions && <div className="mt-5 flex flex-wrap justify-center gap-2">{actions}</div>}
    </div>
  );
}

export function contactName(c: { first_name: string | null; last_name: string | null }): string {
  return [c.first_name, c.last_name].filter(Boolean).join(' ');
}

export function initials(c: { email: string; first_name: string | null; last_name: string | null }): string {
  const n = contactName(c);
  const src = n || c.email;
  const parts = src.split(/[\s@.]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '') + (n ? (parts[1]?.[0] ?? '') : '')).toUpperCase();
}

export function Avatar({ c, className }: { c: { email: string; first_name: string | null; last_name: string | null }; className?: string }) {
  // A stable hue per address.
  let h = 0;
  for (let i = 0; i < c.email.length; i++) h = (h * 31 + c.email.charCodeAt(i)) % 360;
  return (
    <span
      aria-hidden
      className={cn('inline-flex size-8 shrink-0 items-center justify-center rounded-full text-xs font-semibold text-white', className)}
      style={{ background: `oklch(0.68 0.13 ${h})` }}
    >
      {initials(c)}
    </span>
  );
}
