'use client';
import { Suspense, useState } from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { api, type ApiError } from '@/lib/api';
import { Button } from '@/components/ui/button';
import { toast } from '@/components/ui/toaster';
import { AuthHeader, Field, FormAlert } from '@/components/auth/form-bits';

function ResetForm() {
  const router = useRouter();
  const token = useSearchParams().get('token') ?? '';
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [local, setLocal] = useState<{ new_password?: string; confirm?: string }>({});

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const v: typeof local = {};
    if (password.length < 8) v.new_password = 'Use at least 8 characters';
    else if (confirm !== password) v.confirm = 'The passwords do not match';
    setLocal(v);
    if (v.new_password || v.confirm) return;
    setBusy(true);
    setError(null);
    const { error: err } = await api.auth.resetPassword(token, password);
    setBusy(false);
    if (err) {
      setError(err);
      return;
    }
    toast.success('Password changed', { description: 'Sign in with your new password.' });
    router.replace('/login');
  }

  if (!token) {
    return (
      <>
        <AuthHeader title="This link is incomplete" subtitle="Open the link from the email again, or ask for a new one." />
        <Button asChild className="w-full">
          <Link href="/forgot-password">Send a new link</Link>
        </Button>
      </>
    );
  }

  return (
    <>
      <AuthHeader title="Choose a new password" subtitle="You will be signed out everywhere else." />
      <form onSubmit={submit} className="space-y-5" noValidate>
        {error && !error.fields.new_password && (
          <FormAlert>
            {error.detail}{' '}
            {error.status === 400 && (
              <Link href="/forgot-password" className="font-medium underline">
                Send a new link
              </Link>
            )}
          </FormAlert>
        )}
        <Field label="New password" name="new_password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} error={local.new_password ?? error?.fields.new_password} hint="At least 8 characters" autoFocus />
        <Field label="Confirm password" name="confirm" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} error={local.confirm} />
        <Button type="submit" className="w-full" size="lg" loading={busy}>
          Change password
        </Button>
      </form>
    </>
  );
}

export default function ResetPasswordPage() {
  return (
    <Suspense>
      <ResetForm />
    </Suspense>
  );
}
