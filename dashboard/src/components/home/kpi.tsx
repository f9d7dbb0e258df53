import type { LucideIcon } from 'lucide-react';
import { Card } from '@/components/ui/card';
import { Skeleton } from '@/components/ui/skeleton';

export type KpiState = { loading: true } | { loading: false; value: string | null; note?: string };

/** One figure: a skeleton while loading, "—" when the server has no answer for it. */
export function Kpi({ id, label, icon: Icon, state }: { id: string; label: string; icon: LucideIcon; state: KpiState }) {
  return (
    <Card className="p-5" data-testid={`kpi-${id}`}>
      <div className="flex items-center justify-between text-muted-foreground">
        <span className="text-[13px] font-medium">{label}</span>
        <Icon className="size-4" aria-hidden />
      </div>
      <div className="mt-3 h-8">
        {state.loading ? (
          <Skeleton className="h-7 w-20" />
        ) : (
          <span data-testid={`kpi-${id}-value`} className="tabular text-[26px] font-semibold leading-8 tracking-tight">
            {state.value ?? '—'}
          </span>
        )}
      </div>
      <div className="mt-1 h-4 text-xs text-muted-foreground">
        {state.loading ? <Skeleton className="h-3 w-24" /> : state.value === null ? 'Not available yet' : state.note}
      </div>
    </Card>
  );
}
