import Link from 'next/link';
import { ArrowLeft, Hammer } from 'lucide-react';
import { service } from '@/service.config';
import { Button } from '@/components/ui/button';
import { PageHeader } from './page-header';

/** A page of the navigation that is not built yet, and says so plainly. */
export function ComingSoon({ href, what }: { href: string; what: string }) {
  const item = service.navigation.find((n) => n.href === href);
  const Icon = item?.icon ?? Hammer;
  return (
    <>
      <PageHeader title={item?.label ?? 'Coming soon'} />
      <div className="flex flex-col items-center rounded-xl border border-dashed bg-card px-6 py-16 text-center" data-testid="not-built">
        <span className="inline-flex size-12 items-center justify-center rounded-full bg-primary/10 text-primary">
          <Icon className="size-5" />
        </span>
        <h2 className="mt-5 text-lg font-semibold">This page is not built yet</h2>
        <p className="mt-2 max-w-md text-sm text-muted-foreground">{what} This screen of the dashboard comes in a later release.</p>
        <Button asChild variant="outline" className="mt-6">
          <Link href="/">
            <ArrowLeft /> Back to the dashboard
          </Link>
        </Button>
      </div>
    </>
  );
}
