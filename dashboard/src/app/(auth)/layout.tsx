import { CheckCircle2 } from 'lucide-react';
import { Logo } from '@/components/logo';
import { service } from '@/service.config';

const points = [
  'Automated flows for welcome, cart and post-purchase mail',
  'Campaigns with live previews, scheduling and honest analytics',
  'Your contacts, segments and consent in one place',
];

export default function AuthLayout({ children }: { children: React.ReactNode }) {
  return (
    <div className="grid min-h-dvh lg:grid-cols-[minmax(0,1fr)_minmax(0,1.1fr)]">
      <aside className="relative hidden overflow-hidden bg-gradient-to-br from-primary to-brand2 p-10 text-white lg:flex lg:flex-col lg:justify-between">
        <div className="pointer-events-none absolute -right-24 -top-24 size-96 rounded-full bg-white/10 blur-2xl" />
        <div className="pointer-events-none absolute -bottom-32 -left-16 size-[28rem] rounded-full bg-black/10 blur-3xl" />
        <span className="relative inline-flex items-center gap-2.5 text-lg font-semibold">
          <span className="inline-flex size-8 items-center justify-center rounded-lg bg-white/20 backdrop-blur">
            <svg viewBox="0 0 24 24" className="size-[18px]" fill="none" stroke="currentColor" strokeWidth={2.2} strokeLinecap="round" strokeLinejoin="round">
              <path d="m3 7 9 6 9-6" />
              <rect x="3" y="5" width="18" height="14" rx="2" />
            </svg>
          </span>
          {service.name}
        </span>
        <div className="relative max-w-md">
          <h2 className="text-3xl font-semibold leading-tight tracking-tight">{service.tagline}.</h2>
          <ul className="mt-8 space-y-4 text-[15px] text-white/90">
            {points.map((p) => (
              <li key={p} className="flex gap-3">
                <CheckCircle2 className="mt-0.5 size-5 shrink-0 text-white" aria-hidden />
                {p}
              </li>
            ))}
          </ul>
        </div>
        <p className="relative text-sm text-white/70">© {service.name}</p>
      </aside>
      <main className="flex flex-col items-center justify-center px-5 py-10 sm:px-8">
        <div className="w-full max-w-[380px]">
          <div className="mb-8 lg:hidden">
            <Logo />
          </div>
          {children}
        </div>
      </main>
    </div>
  );
}
