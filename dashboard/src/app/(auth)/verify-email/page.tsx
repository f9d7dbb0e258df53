'use client';
import { Suspense, useEffect, useRef, useState } from 'react';
import Link from 'next/link';
import { CheckCircle2, Loader2, XCircle } from 'lucide-react';
import { useSearchParams } from 'next/navigation';
import { api, tokens } from '@/lib/api';
import { Button } from '@/components/ui/button';
import { AuthHeader } from '@/components/auth/form-bits';

type State = { kind: 'checking' } | { kind: 'ok' } | { kind: 'failed'; detail: string };

function Verify() {
  const token = useSearchParams().get('token') ?? '';
  const [state, setState] = useState<State>({ kind: 'checking' });
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return; // the token is single-use: one POST, even in strict mode
    started.current = true;
    if (!token) {
      setState({ kind: 'failed', detail: 'This link has no token. Open it from the email again.' });
      return;
    }
    api.auth.verifyEmail(token).then(({ error }) => setState(error ? { kind: 'failed', detail: error.detail } : { kind: 'ok' }));
  }, [token]);

  const signedIn = typeof window !== 'undefined' && !!tokens.access();
  if (state.kind === 'checking') {
    return (
      <div className="flex items-center gap-3 text-muted-foreground" role="status">
        <Loader2 className="size-5 animate-spin" /> Verifying your email…
      </div>
    );
  }
  return (
    <div className="space-y-6" data-testid={`verify-${state.kind}`}>
      <span className={state.kind === 'ok' ? 'inline-flex size-11 items-center justify-center rounded-full bg-success/15 text-success' : 'inline-flex size-11 items-center justify-center rounded-full bg-destructive/10 text-destructive'}>
        {state.kind === 'ok' ? <CheckCircle2 className="size-5" /> : <XCircle className="size-5" />}
      </span>
      {state.kind === 'ok' ? (
        <AuthHeader title="Email verified" subtitle="Thanks! Your address is confirmed, so your campaigns can go out." />
      ) : (
        <AuthHeader title="We couldn't verify this link" subtitle={`${state.detail}. Links work once and expire; you can ask for a new one from the dashboard.`} />
      )}
      <Button asChild className="w-full">
        <Link href={signedIn ? '/' : '/login'}>{signedIn ? 'Go to the dashboard' : 'Sign in'}</Link>
      </Button>
    </div>
  );
}

export default function VerifyEmailPage() {
  return (
    <Suspense>
      <Verify />
    </Suspense>
  );
}
