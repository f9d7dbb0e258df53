'use client';
// The plans come from the API at run time (GET /api/v1/billing/plans, the
// single source: lib/models/plan.c); nothing here repeats a price or a limit.
import * as React from 'react';
import { Check, Minus } from 'lucide-react';
import { ButtonLink } from '@/components/ui/button';
import { cn } from '@/lib/utils';

export type Plan = {
  tier: string;
  name: string;
  price_monthly_cents: number;
  max_items: number;
  max_secondary: number;
  max_flows: number;
  trial_days: number;
  api_access: boolean;
};

type State = { status: 'loading' } | { status: 'ready'; plans: Plan[] } | { status: 'failed' };

const int = new Intl.NumberFormat('en-US');
const limit = (n: number, unit: string) => (n < 0 ? `Unlimited ${unit}` : `${int.format(n)} ${unit}`);

export function price(cents: number) {
  const d = cents / 100;
  return `$${Number.isInteger(d) ? int.format(d) : d.toFixed(2)}`;
}

export function planFeatures(p: Plan): { text: string; on: boolean; key: string }[] {
  return [
    { key: 'emails', text: `${limit(p.max_items, 'emails')} a month`, on: true },
    { key: 'contacts', text: limit(p.max_secondary, 'contacts'), on: true },
    { key: 'flows', text: p.max_flows < 0 ? 'Unlimited flows' : `${int.format(p.max_flows)} automated flow${p.max_flows === 1 ? '' : 's'}`, on: true },
    { key: 'api', text: 'API access and keys', on: p.api_access },
  ];
}

function blurb(p: Plan, cheapestPaid: Plan | undefined) {
  if (p.price_monthly_cents === 0) return 'For trying FlowSend on a small list.';
  if (p.max_items < 0) return 'No limits, for high-volume senders.';
  if (p === cheapestPaid) return 'For growing shops that automate.';
  return 'For teams that send more.';
}

function PlanCard({ p, featured, cheapestPaid }: { p: Plan; featured: boolean; cheapestPaid?: Plan }) {
  return (
    <div
      data-testid="plan"
      data-tier={p.tier}
      className={cn(
        'relative flex flex-col rounded-2xl border bg-card p-6 shadow-sm sm:p-7',
        featured && 'border-primary/40 shadow-lg shadow-primary/[0.07] ring-1 ring-primary/30',
      )}
    >
      {featured && (
        <span className="absolute -top-3 left-6 rounded-full bg-gradient-to-r from-primary to-brand2 px-3 py-1 text-[11px] font-semibold uppercase tracking-wider text-white shadow-sm">
          Most popular
        </span>
      )}
      <h3 className="text-base font-semibold" data-testid="plan-name">
        {p.name}
      </h3>
      <p className="mt-1 text-sm text-muted-foreground">{blurb(p, cheapestPaid)}</p>
      <p className="mt-6 flex items-baseline gap-1">
        <span className="tabular text-4xl font-semibold tracking-tight" data-testid="plan-price">
          {price(p.price_monthly_cents)}
        </span>
        <span className="text-sm text-muted-foreground">/ month</span>
      </p>
      <p className="mt-1 h-5 text-xs text-muted-foreground" data-testid="plan-trial">
        {p.trial_days > 0 ? `${p.trial_days}-day free trial` : p.price_monthly_cents === 0 ? 'Free forever' : ''}
      </p>
      <ButtonLink href="/app/register" variant={featured ? 'default' : 'outline'} className="mt-6 w-full" data-testid="plan-cta">
        {p.price_monthly_cents === 0 ? 'Start for free' : p.trial_days > 0 ? 'Start free trial' : `Choose ${p.name}`}
      </ButtonLink>
      <ul className="mt-7 space-y-3 border-t pt-6 text-sm">
        {planFeatures(p).map((f) => (
          <li key={f.key} data-testid={`plan-${f.key}`} data-on={f.on} className={cn('flex items-start gap-2.5', !f.on && 'text-muted-foreground')}>
            {f.on ? <Check className="mt-0.5 size-4 shrink-0 text-primary" /> : <Minus className="mt-0.5 size-4 shrink-0" />}
            <span className={cn(!f.on && 'line-through decoration-muted-foreground/40')}>{f.text}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function Pricing() {
  const [state, setState] = React.useState<State>({ status: 'loading' });
  React.useEffect(() => {
    let live = true;
    fetch('/api/v1/billing/plans', { headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
      .then((plans: Plan[]) => live && setState(Array.isArray(plans) && plans.length ? { status: 'ready', plans } : { status: 'failed' }))
      .catch(() => live && setState({ status: 'failed' }));
    return () => {
      live = false;
    };
  }, []);

  if (state.status === 'failed') {
    return (
      <div className="mx-auto max-w-md rounded-2xl border border-dashed p-8 text-center" data-testid="pricing-failed">
        <p className="font-medium">Prices could not be loaded just now.</p>
        <p className="mt-1 text-sm text-muted-foreground">Every plan starts with a free account.</p>
        <ButtonLink href="/app/register" className="mt-5">
          Create a free account
        </ButtonLink>
      </div>
    );
  }
  if (state.status === 'loading') {
    return (
      <div className="grid gap-6 md:grid-cols-3" aria-busy="true" aria-label="Loading plans">
        {[0, 1, 2].map((i) => (
          <div key={i} className="h-[430px] animate-pulse rounded-2xl border bg-muted/50" />
        ))}
      </div>
    );
  }
  const paid = state.plans.filter((p) => p.price_monthly_cents > 0).sort((a, b) => a.price_monthly_cents - b.price_monthly_cents);
  const featured = paid.find((p) => p.max_items >= 0) ?? paid[0];
  return (
    <div className={cn('grid gap-6', state.plans.length >= 3 ? 'md:grid-cols-3' : 'md:grid-cols-2')} data-testid="pricing-plans">
      {state.plans.map((p) => (
        <PlanCard key={p.tier} p={p} featured={p === featured} cheapestPaid={paid[0]} />
      ))}
    </div>
  );
}
