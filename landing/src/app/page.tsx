import {
  ArrowRight,
  BarChart3,
  Clock,
  FileCode2,
  FormInput,
  Mail,
  MousePointerClick,
  Send,
  ServerCog,
  ShieldCheck,
  ShoppingBag,
  UserPlus,
  Workflow,
} from 'lucide-react';
import { brand } from '@brand';
import { Logo } from '@/components/logo';
import { Pricing } from '@/components/pricing';
import { ThemeToggle } from '@/components/theme-toggle';
import { Badge, Card } from '@/components/ui/card';
import { ButtonLink } from '@/components/ui/button';

const REGISTER = '/app/register';
const LOGIN = '/app/login';

const features = [
  {
    icon: Workflow,
    title: 'Flows',
    text: 'Welcome series, abandoned carts, win-backs. Triggers, waits, conditions and webhook steps run on their own, per contact.',
  },
  {
    icon: Send,
    title: 'Campaigns',
    text: 'Broadcasts to a list or a live segment. Preview, send a test to yourself, schedule, and cancel until the last message is out.',
  },
  {
    icon: BarChart3,
    title: 'Tracking',
    text: 'Opens and clicks per campaign and per day, humans only: link scanners are left out of your figures.',
  },
  {
    icon: ShieldCheck,
    title: 'Deliverability',
    text: 'Every message DKIM-signed for your domain, bounces and complaints handled, one-click unsubscribe and suppression built in.',
  },
  {
    icon: FormInput,
    title: 'Forms',
    text: 'Hosted signup forms with double opt-in. A new subscriber enters your signup flows the moment they confirm.',
  },
  {
    icon: ServerCog,
    title: 'Self-hostable',
    text: 'A small C service behind nginx with PostgreSQL and Redis. Your server, your data, an open HTTP API for everything.',
  },
];

const steps = [
  { icon: UserPlus, title: 'Bring your contacts', text: 'Import a CSV of any size or connect your store. Consent, tags and custom fields come along.' },
  { icon: Workflow, title: 'Automate the journey', text: 'Start a flow from a template: welcome, cart recovery, post-purchase. Edit every step.' },
  { icon: BarChart3, title: 'Watch it work', text: 'Daily sends, opens and clicks on one screen, and each campaign’s own report.' },
];

function FlowPreview() {
  const nodes = [
    { icon: ShoppingBag, label: 'Trigger', title: 'Cart abandoned', meta: 'Shopify event', tone: 'primary' },
    { icon: Clock, label: 'Wait', title: '1 hour', meta: 'then check the cart', tone: 'muted' },
    { icon: Mail, label: 'Email', title: 'You left something behind', meta: '62.4% opened', tone: 'brand2' },
    { icon: MousePointerClick, label: 'Condition', title: 'Clicked the link?', meta: 'Yes → done · No → reminder', tone: 'muted' },
  ] as const;
  return (
    <Card className="relative overflow-hidden p-0 shadow-xl shadow-foreground/[0.04]" aria-label="An example flow" role="img">
      <div className="flex items-center gap-2 border-b bg-muted/40 px-4 py-3">
        <span className="size-2.5 rounded-full bg-foreground/15" />
        <span className="size-2.5 rounded-full bg-foreground/15" />
        <span className="size-2.5 rounded-full bg-foreground/15" />
        <span className="ml-3 text-xs font-medium text-muted-foreground">Flows · Cart recovery</span>
        <span className="ml-auto inline-flex items-center gap-1.5 rounded-full bg-success/15 px-2 py-0.5 text-[11px] font-medium text-success">
          <span className="size-1.5 rounded-full bg-success" /> Active
        </span>
      </div>
      <div className="grid gap-6 p-5 sm:grid-cols-[1fr_auto] sm:p-6">
        <ol className="relative space-y-3">
          {nodes.map((n, i) => (
            <li key={n.title} className="relative flex items-center gap-3 rounded-lg border bg-card px-3.5 py-3">
              {i < nodes.length - 1 && <span aria-hidden className="absolute -bottom-3 left-[1.9rem] h-3 w-px bg-border" />}
              <span
                className={
                  n.tone === 'primary'
                    ? 'inline-flex size-8 shrink-0 items-center justify-center rounded-md bg-primary/10 text-primary'
                    : n.tone === 'brand2'
                      ? 'inline-flex size-8 shrink-0 items-center justify-center rounded-md bg-brand2/15 text-brand2'
                      : 'inline-flex size-8 shrink-0 items-center justify-center rounded-md bg-muted text-muted-foreground'
                }
              >
                <n.icon className="size-4" />
              </span>
              <span className="min-w-0 flex-1">
                <span className="block text-[11px] font-medium uppercase tracking-wider text-muted-foreground">{n.label}</span>
                <span className="block truncate text-sm font-medium">{n.title}</span>
              </span>
              <span className="hidden shrink-0 text-xs text-muted-foreground md:block">{n.meta}</span>
            </li>
          ))}
        </ol>
        <div className="grid grid-cols-3 gap-3 sm:w-44 sm:grid-cols-1">
          {[
            { k: 'Entered', v: '1,284' },
            { k: 'Recovered', v: '18.9%' },
            { k: 'Revenue', v: '$9,420' },
          ].map((s) => (
            <div key={s.k} className="rounded-lg border bg-muted/30 px-3.5 py-3">
              <p className="text-[11px] font-medium uppercase tracking-wider text-muted-foreground">{s.k}</p>
              <p className="tabular mt-1 text-lg font-semibold tracking-tight">{s.v}</p>
            </div>
          ))}
        </div>
      </div>
    </Card>
  );
}

function SectionHeading({ eyebrow, title, text, id }: { eyebrow: string; title: string; text: string; id?: string }) {
  return (
    <div className="mx-auto max-w-2xl text-center">
      <p className="text-sm font-semibold text-primary">{eyebrow}</p>
      <h2 id={id} className="text-balance mt-2 text-3xl font-semibold tracking-tight sm:text-4xl">
        {title}
      </h2>
      <p className="text-balance mt-4 text-base leading-7 text-muted-foreground">{text}</p>
    </div>
  );
}

export default function Landing() {
  return (
    <>
      <header className="sticky top-0 z-40 border-b border-border/60 bg-background/80 backdrop-blur supports-[backdrop-filter]:bg-background/70">
        <div className="container flex h-16 items-center gap-4 sm:gap-6">
          <a href="/" aria-label={`${brand.name} home`}>
            <Logo />
          </a>
          <nav className="hidden items-center gap-1 text-sm text-muted-foreground md:flex" aria-label="Sections">
            <a href="#features" className="rounded-md px-3 py-2 transition-colors hover:text-foreground">
              Features
            </a>
            <a href="#how" className="rounded-md px-3 py-2 transition-colors hover:text-foreground">
              How it works
            </a>
            <a href="#pricing" className="rounded-md px-3 py-2 transition-colors hover:text-foreground">
              Pricing
            </a>
            <a href="/api/v1/openapi.json" className="rounded-md px-3 py-2 transition-colors hover:text-foreground">
              API
            </a>
          </nav>
          <div className="ml-auto flex items-center gap-1 sm:gap-2">
            <ThemeToggle />
            <ButtonLink href={LOGIN} variant="ghost" size="sm" className="px-2.5 sm:px-3" data-testid="nav-login">
              Sign in
            </ButtonLink>
            <ButtonLink href={REGISTER} size="sm" data-testid="nav-register">
              Get started
            </ButtonLink>
          </div>
        </div>
      </header>

      <main>
        <section className="relative overflow-hidden">
          <div aria-hidden className="bg-grid pointer-events-none absolute inset-0 -z-10" />
          <div
            aria-hidden
            className="pointer-events-none absolute left-1/2 top-[-12rem] -z-10 h-[28rem] w-[56rem] -translate-x-1/2 rounded-full bg-gradient-to-r from-primary/20 via-brand2/15 to-primary/10 blur-3xl"
          />
          <div className="container pb-16 pt-16 sm:pb-24 sm:pt-24">
            <div className="mx-auto max-w-3xl text-center">
              <Badge>
                <span className="size-1.5 rounded-full bg-primary" /> Self-hostable email automation
              </Badge>
              <h1 className="text-balance mt-6 text-4xl font-semibold tracking-tight sm:text-6xl sm:leading-[1.05]" data-testid="hero-title">
                {brand.tagline}
              </h1>
              <p className="text-balance mx-auto mt-6 max-w-2xl text-lg leading-8 text-muted-foreground">
                {brand.name} is email marketing for merchants that you run on your own server: automated flows, campaigns,
                open and click tracking, DKIM-signed delivery and signup forms, behind one clean API.
              </p>
              <div className="mt-9 flex flex-col items-center justify-center gap-3 sm:flex-row">
                <ButtonLink href={REGISTER} size="lg" className="w-full sm:w-auto" data-testid="hero-register">
                  Start for free <ArrowRight />
                </ButtonLink>
                <ButtonLink href={LOGIN} size="lg" variant="outline" className="w-full sm:w-auto" data-testid="hero-login">
                  Sign in to the dashboard
                </ButtonLink>
              </div>
              <p className="mt-4 text-xs text-muted-foreground">Free plan, no card needed. Paid plans start with a trial.</p>
            </div>
            <div className="mx-auto mt-16 max-w-4xl sm:mt-20">
              <FlowPreview />
            </div>
          </div>
        </section>

        <section className="border-y bg-muted/30">
          <div className="container grid grid-cols-2 gap-x-6 gap-y-8 py-10 text-center sm:grid-cols-4">
            {[
              { v: 'C11', k: 'Native core, prefork' },
              { v: 'PostgreSQL', k: 'Row-level tenant isolation' },
              { v: 'DKIM', k: 'Signed for your domain' },
              { v: 'OpenAPI', k: 'Every feature has an endpoint' },
            ].map((s) => (
              <div key={s.v}>
                <p className="text-lg font-semibold tracking-tight">{s.v}</p>
                <p className="mt-1 text-sm text-muted-foreground">{s.k}</p>
              </div>
            ))}
          </div>
        </section>

        <section id="features" className="container py-20 sm:py-28" aria-labelledby="features-title">
          <SectionHeading
            id="features-title"
            eyebrow="Features"
            title="Everything a shop needs to email well"
            text="From the first signup to the tenth order: the automations, the broadcasts and the figures, without renting someone else's platform."
          />
          <div className="mx-auto mt-14 grid max-w-5xl gap-px overflow-hidden rounded-2xl border bg-border sm:grid-cols-2 lg:grid-cols-3">
            {features.map((f) => (
              <div key={f.title} className="bg-card p-6 sm:p-7" data-testid="feature">
                <span className="inline-flex size-9 items-center justify-center rounded-lg bg-primary/10 text-primary">
                  <f.icon className="size-[18px]" />
                </span>
                <h3 className="mt-4 font-semibold">{f.title}</h3>
                <p className="mt-2 text-sm leading-6 text-muted-foreground">{f.text}</p>
              </div>
            ))}
          </div>
        </section>

        <section id="how" className="border-t bg-muted/20" aria-labelledby="how-title">
          <div className="container py-20 sm:py-28">
            <SectionHeading
              id="how-title"
              eyebrow="How it works"
              title="Live in an afternoon"
              text="Install it with two commands on a Debian server, or sign up here and start sending."
            />
            <ol className="mx-auto mt-14 grid max-w-5xl gap-6 md:grid-cols-3">
              {steps.map((s, i) => (
                <li key={s.title} className="relative rounded-2xl border bg-card p-6 sm:p-7">
                  <span className="tabular text-sm font-semibold text-muted-foreground">0{i + 1}</span>
                  <span className="mt-4 flex items-center gap-3">
                    <span className="inline-flex size-9 items-center justify-center rounded-lg bg-brand2/15 text-brand2">
                      <s.icon className="size-[18px]" />
                    </span>
                    <h3 className="font-semibold">{s.title}</h3>
                  </span>
                  <p className="mt-3 text-sm leading-6 text-muted-foreground">{s.text}</p>
                </li>
              ))}
            </ol>
            <div className="mx-auto mt-10 max-w-xl overflow-x-auto rounded-xl border bg-card px-5 py-4 font-mono text-[13px] leading-6 text-muted-foreground">
              <p>
                <span className="select-none text-primary">$ </span>
                <span className="text-foreground">make run</span>
                <span className="ml-3 select-none"># installs, builds, starts, prints the URLs</span>
              </p>
              <p>
                <span className="select-none text-primary">$ </span>
                <span className="text-foreground">make test</span>
                <span className="ml-3 select-none"># every suite against a real stack</span>
              </p>
            </div>
          </div>
        </section>

        <section id="pricing" className="container py-20 sm:py-28" aria-labelledby="pricing-title">
          <SectionHeading
            id="pricing-title"
            eyebrow="Pricing"
            title="Simple plans that grow with you"
            text="Start free. Upgrade when your list does. Every plan includes flows, tracking, DKIM signing and forms."
          />
          <div className="mx-auto mt-14 max-w-5xl">
            <Pricing />
          </div>
        </section>

        <section className="container pb-20 sm:pb-28">
          <div className="relative mx-auto max-w-5xl overflow-hidden rounded-3xl border bg-card px-6 py-14 text-center shadow-sm sm:px-16">
            <div aria-hidden className="pointer-events-none absolute inset-0 bg-gradient-to-br from-primary/[0.08] via-transparent to-brand2/[0.1]" />
            <FileCode2 aria-hidden className="mx-auto size-6 text-primary" />
            <h2 className="text-balance relative mt-4 text-3xl font-semibold tracking-tight">Your first flow is ten minutes away</h2>
            <p className="text-balance relative mx-auto mt-3 max-w-xl text-muted-foreground">
              Create an account, import a few contacts and turn on the welcome series. {brand.name} takes it from there.
            </p>
            <div className="relative mt-8 flex flex-col items-center justify-center gap-3 sm:flex-row">
              <ButtonLink href={REGISTER} size="lg" className="w-full sm:w-auto" data-testid="cta-register">
                Create your account <ArrowRight />
              </ButtonLink>
              <ButtonLink href={LOGIN} size="lg" variant="ghost" className="w-full sm:w-auto">
                I already have one
              </ButtonLink>
            </div>
          </div>
        </section>
      </main>

      <footer className="border-t">
        <div className="container flex flex-col gap-6 py-10 text-sm text-muted-foreground sm:flex-row sm:items-center">
          <Logo className="text-foreground" />
          <p className="sm:ml-4">{brand.tagline}.</p>
          <nav className="flex flex-wrap gap-x-5 gap-y-2 sm:ml-auto" aria-label="Footer">
            <a href={LOGIN} className="hover:text-foreground">
              Sign in
            </a>
            <a href={REGISTER} className="hover:text-foreground">
              Create account
            </a>
            <a href="/api/v1/openapi.json" className="hover:text-foreground">
              API reference
            </a>
            <a href="/api/v1/health" className="hover:text-foreground">
              Status
            </a>
          </nav>
        </div>
      </footer>
    </>
  );
}
