'use client';
import * as React from 'react';
import Link from 'next/link';
import dynamic from 'next/dynamic';
import {
  ArrowRight,
  BarChart3,
  Check,
  FileText,
  Mail,
  MailOpen,
  MousePointerClick,
  Plus,
  Send,
  Upload,
  Users,
  Workflow,
} from 'lucide-react';
import { api, type Analytics, type Campaign, type Plan, type Usage } from '@/lib/api';
import { formatDate, formatInt, formatPercent, cn } from '@/lib/utils';
import { Badge, type BadgeProps } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Skeleton } from '@/components/ui/skeleton';
import { toast } from '@/components/ui/toaster';
import { Kpi, type KpiState } from '@/components/home/kpi';
import { PageHeader } from '@/components/shell/page-header';
import { activitySeries } from '@/components/home/activity-series';
import { useSession } from '@/components/shell/session';

const ActivityChart = dynamic(() => import('@/components/home/activity-chart'), {
  ssr: false,
  loading: () => <Skeleton className="h-full w-full" />,
});

type Loaded<T> = { loading: true } | { loading: false; data: T | null };
const loading = { loading: true } as const;

function useLoad<T>(fn: () => Promise<{ data: T | null }>): Loaded<T> {
  const [state, setState] = React.useState<Loaded<T>>(loading);
  React.useEffect(() => {
    let live = true;
    fn().then((r) => live && setState({ loading: false, data: r.data }));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return state;
}

const statusVariant: Record<Campaign['status'], BadgeProps['variant']> = {
  draft: 'secondary',
  scheduled: 'warning',
  sending: 'default',
  sent: 'success',
  failed: 'destructive',
  cancelled: 'outline',
};

function greeting() {
  const h = new Date().getHours();
  return h < 12 ? 'Good morning' : h < 18 ? 'Good afternoon' : 'Good evening';
}

function kpi<T>(s: Loaded<T>, pick: (d: T) => { value: string; note?: string } | null): KpiState {
  if (s.loading) return { loading: true };
  const v = s.data ? pick(s.data) : null;
  return { loading: false, value: v?.value ?? null, note: v?.note };
}

export default function HomePage() {
  const { me, reload } = useSession();
  const contacts = useLoad(api.contacts.count);
  const campaigns = useLoad(() => api.campaigns.recent(5));
  const templates = useLoad(api.templates.list);
  const usage = useLoad<Usage>(api.usage);
  const analytics = useLoad<Analytics>(() => api.analytics(30));
  const flows = useLoad(api.flows.active);
  const plans = useLoad<Plan[]>(api.billing.plans);
  const [resending, setResending] = React.useState(false);

  const plan = !plans.loading && plans.data && me ? plans.data.find((p) => p.tier === me.plan) : undefined;
  const emails = !usage.loading && usage.data ? usage.data.metrics.find((m) => m.name === 'emails_sent') : undefined;

  const hasContacts = !contacts.loading && (contacts.data?.count ?? 0) > 0;
  const hasTemplate = !templates.loading && !!templates.data?.items.some((t) => !t.is_system);
  const campaignItems = !campaigns.loading ? campaigns.data?.items ?? [] : [];
  const hasCampaign = campaignItems.length > 0;
  const hasSent = campaignItems.some((c) => c.status === 'sent' || c.status === 'sending');
  const onboardingLoaded = !contacts.loading && !campaigns.loading && !templates.loading;
  const steps = [
    { done: hasContacts, title: 'Import your contacts', text: 'Upload a CSV or connect your store. Consent and tags come along.', href: '/contacts', cta: 'Import contacts', icon: Upload },
    { done: hasTemplate || hasCampaign, title: 'Pick a template', text: 'Start from a responsive design for welcome, promo or newsletter mail.', href: '/templates', cta: 'Browse templates', icon: FileText },
    { done: hasSent, title: 'Send your first campaign', text: 'Choose a list, preview it, send a test to yourself, then send.', href: '/campaigns', cta: 'Create campaign', icon: Send },
  ];
  const stepsDone = steps.filter((s) => s.done).length;
  // The last 30 UTC days, today included, zeros where the API has nothing.
  const series = React.useMemo(
    () => (!analytics.loading && analytics.data ? activitySeries(analytics.data.daily ?? [], 30) : null),
    [analytics],
  );

  async function resend() {
    setResending(true);
    const { error } = await api.auth.resendVerification();
    setResending(false);
    if (error) toast.error('Could not send the email', { description: error.detail });
    else toast.success('Verification email sent', { description: `Check ${me?.email ?? 'your inbox'}.` });
    reload();
  }

  return (
    <>
      <PageHeader
        title={me ? `${greeting()}` : 'Dashboard'}
        description={
          me ? (
            <>
              Here is how your email is doing.{' '}
              <span data-testid="plan-name">{plan ? `${plan.name} plan · ${plan.max_items < 0 ? 'unlimited' : formatInt(plan.max_items)} emails a month` : ''}</span>
            </>
          ) : (
            <Skeleton className="h-4 w-64" />
          )
        }
        actions={
          <>
            <Button asChild variant="outline">
              <Link href="/contacts">
                <Upload /> Import contacts
              </Link>
            </Button>
            <Button asChild>
              <Link href="/campaigns">
                <Plus /> New campaign
              </Link>
            </Button>
          </>
        }
      />

      {me && me.email_verified === false && (
        <div className="mb-6 flex flex-col gap-3 rounded-lg border border-brand2/40 bg-brand2/10 px-4 py-3 text-sm sm:flex-row sm:items-center sm:justify-between" data-testid="verify-banner">
          <p>
            <span className="font-medium">Confirm your email address.</span>{' '}
            <span className="text-muted-foreground">We sent a link to {me.email}; campaigns can go out once it is confirmed.</span>
          </p>
          <Button size="sm" variant="outline" onClick={resend} loading={resending} className="shrink-0">
            Resend link
          </Button>
        </div>
      )}

      <section aria-label="Key figures" className="grid grid-cols-2 gap-3 sm:gap-4 lg:grid-cols-5">
        <Kpi id="contacts" label="Contacts" icon={Users} state={kpi(contacts, (d) => ({ value: formatInt(d.count), note: 'In your audience' }))} />
        <Kpi
          id="emails-sent"
          label="Emails this month"
          icon={Mail}
          state={kpi(usage, () =>
            emails ? { value: formatInt(emails.used), note: emails.limit < 0 ? 'Unlimited plan' : `of ${formatInt(emails.limit)} included` } : null,
          )}
        />
        <Kpi id="open-rate" label="Open rate" icon={MailOpen} state={kpi(analytics, (d) => ({ value: formatPercent(d.overall_open_rate), note: 'Last 30 days' }))} />
        <Kpi id="click-rate" label="Click rate" icon={MousePointerClick} state={kpi(analytics, (d) => ({ value: formatPercent(d.overall_click_rate), note: 'Last 30 days' }))} />
        <Kpi
          id="active-flows"
          label="Active flows"
          icon={Workflow}
          state={kpi(flows, (d) => ({ value: formatInt(d.total), note: plan ? `${plan.max_flows < 0 ? 'Unlimited' : `Up to ${plan.max_flows}`} on your plan` : 'Running now' }))}
        />
      </section>

      {onboardingLoaded && stepsDone < steps.length && (
        <Card className="mt-6 overflow-hidden" data-testid="onboarding">
          <CardHeader className="flex-row items-center justify-between gap-4 space-y-0 border-b bg-gradient-to-r from-primary/[0.06] to-brand2/[0.06]">
            <div className="space-y-1">
              <CardTitle>Get set up in three steps</CardTitle>
              <CardDescription>Most teams send their first campaign within ten minutes.</CardDescription>
            </div>
            <span className="tabular shrink-0 text-sm font-medium text-muted-foreground">
              {stepsDone} of {steps.length}
            </span>
          </CardHeader>
          <ol className="divide-y">
            {steps.map((s, i) => (
              <li key={s.title} className="flex flex-col gap-3 p-5 sm:flex-row sm:items-center">
                <span
                  className={cn(
                    'inline-flex size-8 shrink-0 items-center justify-center rounded-full border text-sm font-semibold',
                    s.done ? 'border-success/30 bg-success/15 text-success' : 'bg-card text-muted-foreground',
                  )}
                >
                  {s.done ? <Check className="size-4" /> : i + 1}
                </span>
                <div className="min-w-0 flex-1">
                  <p className={cn('font-medium', s.done && 'text-muted-foreground line-through decoration-muted-foreground/40')}>{s.title}</p>
                  <p className="text-sm text-muted-foreground">{s.text}</p>
                </div>
                {!s.done && (
                  <Button asChild variant={i === stepsDone ? 'default' : 'outline'} size="sm" className="self-start sm:self-center">
                    <Link href={s.href}>
                      {s.cta} <ArrowRight />
                    </Link>
                  </Button>
                )}
              </li>
            ))}
          </ol>
        </Card>
      )}

      <div className="mt-6 grid gap-6 lg:grid-cols-3">
        <Card className="lg:col-span-2" data-testid="recent-campaigns">
          <CardHeader className="flex-row items-center justify-between space-y-0">
            <div className="space-y-1">
              <CardTitle>Recent campaigns</CardTitle>
              <CardDescription>Your latest sends and drafts</CardDescription>
            </div>
            <Button asChild variant="ghost" size="sm">
              <Link href="/campaigns">
                View all <ArrowRight />
              </Link>
            </Button>
          </CardHeader>
          <CardContent className="px-0 pb-2">
            {campaigns.loading ? (
              <div className="space-y-3 px-5 pb-3">
                {[0, 1, 2].map((i) => (
                  <Skeleton key={i} className="h-10 w-full" />
                ))}
              </div>
            ) : campaignItems.length === 0 ? (
              <div className="flex flex-col items-center px-5 pb-8 pt-4 text-center">
                <span className="inline-flex size-10 items-center justify-center rounded-full bg-muted text-muted-foreground">
                  <Mail className="size-5" />
                </span>
                <p className="mt-3 font-medium">No campaigns yet</p>
                <p className="mt-1 max-w-xs text-sm text-muted-foreground">When you create one it shows up here with its opens and clicks.</p>
              </div>
            ) : (
              <div className="overflow-x-auto">
                <table className="w-full text-sm">
                  <thead>
                    <tr className="border-y bg-muted/40 text-left text-xs font-medium text-muted-foreground">
                      <th className="px-5 py-2.5 font-medium">Campaign</th>
                      <th className="px-3 py-2.5 font-medium">Status</th>
                      <th className="hidden px-3 py-2.5 text-right font-medium sm:table-cell">Recipients</th>
                      <th className="hidden px-3 py-2.5 text-right font-medium sm:table-cell">Opened</th>
                      <th className="px-5 py-2.5 text-right font-medium">Date</th>
                    </tr>
                  </thead>
                  <tbody className="divide-y">
                    {campaignItems.map((c) => (
                      <tr key={c.id} data-testid="campaign-row" className="transition-colors hover:bg-muted/30">
                        <td className="max-w-[16rem] px-5 py-3">
                          <p className="truncate font-medium">{c.name}</p>
                          <p className="truncate text-xs text-muted-foreground">{c.subject}</p>
                        </td>
                        <td className="px-3 py-3">
                          <Badge variant={statusVariant[c.status]} className="capitalize">
                            {c.status}
                          </Badge>
                        </td>
                        <td className="tabular hidden px-3 py-3 text-right sm:table-cell">{formatInt(c.total_recipients)}</td>
                        <td className="tabular hidden px-3 py-3 text-right sm:table-cell">
                          {c.sent_count > 0 ? formatPercent((100 * c.open_count) / c.sent_count) : '—'}
                        </td>
                        <td className="tabular whitespace-nowrap px-5 py-3 text-right text-muted-foreground">{formatDate(c.sent_at ?? c.scheduled_at ?? c.created_at)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </CardContent>
        </Card>

        <Card data-testid="quick-actions">
          <CardHeader>
            <CardTitle>Quick actions</CardTitle>
            <CardDescription>Jump straight in</CardDescription>
          </CardHeader>
          <CardContent className="grid gap-2">
            {[
              { href: '/campaigns', label: 'Create a campaign', icon: Send },
              { href: '/flows', label: 'Build a flow', icon: Workflow },
              { href: '/contacts', label: 'Import contacts', icon: Upload },
              { href: '/templates', label: 'Browse templates', icon: FileText },
              { href: '/analytics', label: 'See analytics', icon: BarChart3 },
            ].map((a) => (
              <Link
                key={a.href}
                href={a.href}
                className="group flex items-center gap-3 rounded-md border bg-card px-3 py-2.5 text-sm font-medium transition-colors hover:border-primary/40 hover:bg-primary/[0.03]"
              >
                <span className="inline-flex size-8 items-center justify-center rounded-md bg-primary/10 text-primary">
                  <a.icon className="size-4" />
                </span>
                <span className="flex-1">{a.label}</span>
                <ArrowRight className="size-4 text-muted-foreground transition-transform group-hover:translate-x-0.5" />
              </Link>
            ))}
          </CardContent>
        </Card>
      </div>

      <Card className="mt-6">
        <CardHeader>
          <CardTitle>Email activity</CardTitle>
          <CardDescription>Sent and opened, last 30 days</CardDescription>
        </CardHeader>
        <CardContent>
          <div className="h-56">
            {analytics.loading ? (
              <Skeleton className="h-full w-full" />
            ) : series ? (
              <div className="h-full w-full" data-testid="activity-chart" data-first-day={series[0].date} data-last-day={series[series.length - 1].date} data-points={series.length}>
                <ActivityChart daily={series} />
              </div>
            ) : (
              <div className="flex h-full flex-col items-center justify-center rounded-md border border-dashed text-center">
                <BarChart3 className="size-5 text-muted-foreground" />
                <p className="mt-2 text-sm font-medium">No activity to chart yet</p>
                <p className="mt-1 text-sm text-muted-foreground">Daily sends and opens appear here after your first campaign.</p>
              </div>
            )}
          </div>
        </CardContent>
      </Card>
    </>
  );
}
