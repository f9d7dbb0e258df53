'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { service } from '@/service.config';
import { cn } from '@/lib/utils';

export function NavLinks({ onNavigate }: { onNavigate?: () => void }) {
  const pathname = usePathname();
  return (
    <nav aria-label="Main" className="flex flex-col gap-0.5">
      {service.navigation.map((item) => {
        const active = item.href === '/' ? pathname === '/' : pathname === item.href || pathname.startsWith(`${item.href}/`);
        const Icon = item.icon;
        return (
          <Link
            key={item.href}
            href={item.href}
            onClick={onNavigate}
            aria-current={active ? 'page' : undefined}
            className={cn(
              'group flex h-9 items-center gap-3 rounded-md px-3 text-[14px] font-medium transition-colors',
              active ? 'bg-card text-foreground shadow-sm ring-1 ring-border' : 'text-sidebar-foreground/80 hover:bg-accent hover:text-foreground',
            )}
          >
            <Icon className={cn('size-[18px] shrink-0', active ? 'text-primary' : 'text-muted-foreground group-hover:text-foreground')} aria-hidden />
            <span className="flex-1 truncate">{item.label}</span>
            {!item.built && <span className="text-[10px] font-medium uppercase tracking-wide text-muted-foreground/70">Soon</span>}
          </Link>
        );
      })}
    </nav>
  );
}
