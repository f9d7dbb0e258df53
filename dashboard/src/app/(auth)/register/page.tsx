'use client';
import { useEffect, useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { api, tokens, type ApiError } from '@/lib/api';
import { Button } from '@/components/ui/button';
import { toast } from '@/components/ui/toaster';
import { AuthHeader, Field, FormAlert } from '@/components/auth/form-bits';

export default function RegisterPage() {
  const router = useRouter();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [local, setLocal] = useState<{ email?: string; password?: string }>({});

  useEffect(() => {
    if (tokens.access()) router.replace('/');
  }, [router]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const v: typeof local = {};
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) v.email = 'Enter a valid email address';
    if (password.length < 8) v.password = 'Use at least 8 characters';
    setLocal(v);
    if (v.email || v.password) return;
    setBusy(true);
    setError(null);
    const { data, error: err } = await api.auth.register(email.trim(), password);
    if (err) {
      setError(err);
      setBusy(false);
      return;
    }
    tokens.set(data);
    toast.success('Welcome to FlowSend', { description: 'We sent you a link to verify your email address.' });
    router.replace('/');
  }

  const fieldErr = (f: 'email' | 'password') =>
    local[f] ?? error?.fields[f] ?? (f === 'email' && error?.status === 409 ? error.detail : undefined);
  const general = error && !error.fields.email && !error.fields.password && error.status !== 409 ? error.detail : null;

  return (
    <>
      <AuthHeader
        title="Create your account"
        subtitle={
          <>
            Already have one?{' '}
            <Link href="/login" className="font-medium text-primary hover:underline">
              Sign in
            </Link>
          </>
        }
      />
      <form onSubmit={submit} className="space-y-5" noValidate>
        {general && <FormAlert>{general}</FormAlert>}
        <Field label="Work email" name="email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={fieldErr('email')} autoFocus />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldErr('password')}
          hint="At least 8 characters"
        />
        <Button type="submit" className="w-full" size="lg" loading={busy}>
          Create account
        </Button>
        <p className="text-center text-xs text-muted-foreground">Free plan, no card needed. Upgrade when you grow.</p>
      </form>
    </>
  );
}
