'use client';
import { Suspense, useEffect, useState } from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { api, tokens, type ApiError } from '@/lib/api';
import { Button } from '@/components/ui/button';
import { AuthHeader, Field, FormAlert } from '@/components/auth/form-bits';

function safeNext(next: string | null): string {
  // Only paths inside the dashboard: never an open redirect.
  return next && /^\/(?!\/)[\w\-/?=&.%]*$/.test(next) ? next : '/';
}

function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    if (tokens.access()) router.replace(safeNext(params.get('next')));
  }, [router, params]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error: err } = await api.auth.login(email.trim(), password);
    if (err) {
      setError(err);
      setBusy(false);
      return;
    }
    tokens.set(data);
    router.replace(safeNext(params.get('next')));
  }

  // "Invalid email or password" concerns the password the user just typed;
  // validation messages go to their own field; anything else above the form.
  const fieldErr = (f: 'email' | 'password') =>
    error?.fields[f] ?? (f === 'password' && error?.status === 401 ? error.detail : undefined);
  const general = error && !error.fields.email && !error.fields.password && error.status !== 401 ? error.detail : null;

  return (
    <>
      <AuthHeader
        title="Welcome back"
        subtitle={
          <>
            New to FlowSend?{' '}
            <Link href="/register" className="font-medium text-primary hover:underline">
              Create an account
            </Link>
          </>
        }
      />
      <form onSubmit={submit} className="space-y-5" noValidate>
        {general && <FormAlert>{general}</FormAlert>}
        {params.get('reason') === 'expired' && !error && <FormAlert tone="info">Your session ended. Please sign in again.</FormAlert>}
        <Field label="Email" name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} error={fieldErr('email')} autoFocus />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldErr('password')}
          aside={
            <Link href="/forgot-password" className="text-[13px] font-medium text-muted-foreground hover:text-foreground">
              Forgot password?
            </Link>
          }
        />
        <Button type="submit" className="w-full" size="lg" loading={busy}>
          Sign in
        </Button>
      </form>
    </>
  );
}

export default function LoginPage() {
  return (
    <Suspense>
      <LoginForm />
    </Suspense>
  );
}
