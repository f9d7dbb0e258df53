'use client';
import { useState } from 'react';
import Link from 'next/link';
import { ArrowLeft, MailCheck } from 'lucide-react';
import { api, type ApiError } from '@/lib/api';
import { Button } from '@/components/ui/button';
import { AuthHeader, Field, FormAlert } from '@/components/auth/form-bits';

export default function ForgotPasswordPage() {
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { error: err } = await api.auth.forgotPassword(email.trim());
    setBusy(false);
    if (err) setError(err);
    else setSent(true);
  }

  if (sent) {
    return (
      <div className="space-y-6">
        <span className="inline-flex size-11 items-center justify-center rounded-full bg-primary/10 text-primary">
          <MailCheck className="size-5" />
        </span>
        <AuthHeader title="Check your inbox" subtitle={<>If an account exists for {email.trim()}, we sent it a link to choose a new password. The link works once.</>} />
        <Button asChild variant="outline" className="w-full">
          <Link href="/login">
            <ArrowLeft /> Back to sign in
          </Link>
        </Button>
      </div>
    );
  }

  return (
    <>
      <AuthHeader title="Reset your password" subtitle="Enter the email you signed up with and we'll send you a link." />
      <form onSubmit={submit} className="space-y-5" noValidate>
        {error && !error.fields.email && <FormAlert>{error.detail}</FormAlert>}
        <Field label="Email" name="email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={error?.fields.email} autoFocus />
        <Button type="submit" className="w-full" size="lg" loading={busy}>
          Send reset link
        </Button>
        <p className="text-center text-sm">
          <Link href="/login" className="font-medium text-muted-foreground hover:text-foreground">
            Back to sign in
          </Link>
        </p>
      </form>
    </>
  );
}
