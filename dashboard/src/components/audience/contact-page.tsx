'use client';
// One contact: profile, tags, custom fields, lists, activity and consent;
// edit, unsubscribe, GDPR export and erasure (each with a confirmation).
import * as React from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { Activity, ArrowLeft, BellOff, Download, List, Pencil, ShieldCheck, Trash2, UserX } from 'lucide-react';
import { api, saveBlob, type Contact, type ContactEvent, type ContactExport, type Page } from '@/lib/api';
import { formatDate, formatInt } from '@/lib/utils';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Skeleton } from '@/components/ui/skeleton';
import { toast } from '@/components/ui/toaster';
import {
  AlertDialog,
  AlertDialogCancel,
  AlertDialogContent,
  AlertDialogDescription,
  AlertDialogFooter,
  AlertDialogHeader,
  AlertDialogTitle,
} from '@/components/ui/alert-dialog';
import { AudienceTabs, Avatar, EmptyState, contactName } from './tabs';
import { ContactSheet } from './contact-sheet';

function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString('en-US', { month: 'short', day: 'numeric', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC' }) + ' UTC';
}

const eventLabel: Record<string, string> = {
  sent: 'Email sent',
  delivered: 'Delivered',
  opened: 'Opened an email',
  clicked: 'Clicked a link',
  bounced: 'Bounced',
  complained: 'Marked as spam',
  unsubscribed: 'Unsubscribed',
};

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="grid grid-cols-[8rem_1fr] gap-3 py-2 text-sm">
      <dt className="text-muted-foreground">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </div>
  );
}

export function ContactPage() {
  const params = useSearchParams();
  const router = useRouter();
  const id = params.get('id') ?? '';
  const [contact, setContact] = React.useState<Contact | null>(null);
  const [missing, setMissing] = React.useState<string | null>(null);
  const [data, setData] = React.useState<ContactExport | null>(null);
  const [events, setEvents] = React.useState<Page<ContactEvent> | null>(null);
  const [eventsPage, setEventsPage] = React.useState(1);
  const [editOpen, setEditOpen] = React.useState(false);
  const [confirm, setConfirm] = React.useState<null | 'unsubscribe' | 'erase' | 'delete'>(null);
  const [typed, setTyped] = React.useState('');
  const [busy, setBusy] = React.useState(false);

  const load = React.useCallback(async () => {
    if (!id) {
      setMissing('No contact was given.');
      return;
    }
    const [c, x] = await Promise.all([api.contacts.get(id), api.contacts.exportOne(id)]);
    if (c.error) {
      setMissing(c.error.status === 404 ? 'This contact does not exist, or was erased.' : c.error.detail);
      return;
    }
    setContact(c.data);
    setData(x.data);
  }, [id]);

  React.useEffect(() => {
    load();
  }, [load]);
  React.useEffect(() => {
    if (!id) return;
    api.contacts.events(id, eventsPage, 20).then((r) => setEvents(r.data ?? { items: [], total: 0, page: 1, page_size: 20 }));
  }, [id, eventsPage]);

  async function act() {
    if (!contact) return;
    setBusy(true);
    if (confirm === 'unsubscribe') {
      const r = await api.contacts.update(contact.id, { is_subscribed: false });
      setBusy(false);
      setConfirm(null);
      if (r.error) return toast.error('Could not unsubscribe', { description: r.error.detail });
      toast.success('Unsubscribed', { description: `${contact.email} gets no more campaigns.` });
      load();
    } else {
      const erase = confirm === 'erase';
      const r = await api.contacts.remove(contact.id, erase);
      setBusy(false);
      if (r.error) {
        setConfirm(null);
        return toast.error(erase ? 'Could not erase' : 'Could not delete', { description: r.error.detail });
      }
      setConfirm(null);
      toast.success(erase ? 'Personal data erased' : 'Contact deleted', {
        description: erase ? 'Only a hash is kept so the address is never mailed again.' : contact.email,
      });
      router.push('/contacts');
    }
  }

  if (missing)
    return (
      <>
        <AudienceTabs />
        <Card>
          <EmptyState icon={UserX} title="Contact not found" testid="contact-missing" actions={<Button asChild variant="outline"><Link href="/contacts"><ArrowLeft /> All contacts</Link></Button>}>
            {missing}
          </EmptyState>
        </Card>
      </>
    );

  const name = contact ? contactName(contact) : '';
  const custom = contact ? Object.entries(contact.custom_fields ?? {}) : [];
  return (
    <>
      <div className="mb-6 flex flex-col gap-4 sm:flex-row sm:items-center sm:justify-between">
        <div className="flex min-w-0 items-center gap-4">
          <Button asChild variant="ghost" size="icon" aria-label="Back to contacts">
            <Link href="/contacts">
              <ArrowLeft />
            </Link>
          </Button>
          {contact ? <Avatar c={contact} className="size-12 text-base" /> : <Skeleton className="size-12 rounded-full" />}
          <div className="min-w-0">
            {contact ? (
              <>
                <h1 className="truncate text-2xl font-semibold tracking-tight" data-testid="contact-title">
                  {name || contact.email}
                </h1>
                <p className="truncate text-sm text-muted-foreground" data-testid="contact-email-line">{contact.email}</p>
              </>
            ) : (
              <div className="space-y-2">
                <Skeleton className="h-7 w-48" />
                <Skeleton className="h-4 w-60" />
              </div>
            )}
          </div>
        </div>
        {/* On a phone: two even columns, erasure on a row of its own, instead of
            five buttons wrapping raggedly. */}
        <div className="grid grid-cols-2 gap-2 sm:flex sm:flex-wrap sm:justify-end" data-testid="contact-actions">
          <Button variant="outline" onClick={() => setEditOpen(true)} disabled={!contact} data-testid="contact-edit">
            <Pencil /> Edit
          </Button>
          <Button
            variant="outline"
            disabled={!contact}
            data-testid="contact-export"
            onClick={async () => {
              const r = await api.contacts.exportOne(id);
              if (r.error) return toast.error('Export failed', { description: r.error.detail });
              saveBlob(new Blob([JSON.stringify(r.data, null, 2)], { type: 'application/json' }), `contact-${id}.json`);
              toast.success('Personal data exported', { description: 'Everything held about this contact, as JSON.' });
            }}
          >
            <Download /> Export data
          </Button>
          <Button variant="outline" disabled={!contact?.is_subscribed} onClick={() => setConfirm('unsubscribe')} data-testid="contact-unsubscribe">
            <BellOff /> Unsubscribe
          </Button>
          <Button variant="outline" className="text-destructive hover:text-destructive" disabled={!contact} onClick={() => setConfirm('delete')} data-testid="contact-delete">
            <Trash2 /> Delete
          </Button>
          <Button variant="destructive" className="col-span-2" disabled={!contact} onClick={() => { setTyped(''); setConfirm('erase'); }} data-testid="contact-erase">
            <UserX /> Erase (GDPR)
          </Button>
        </div>
      </div>
      <AudienceTabs />
      <div className="grid gap-6 lg:grid-cols-3">
        <div className="space-y-6 lg:col-span-1">
          <Card>
            <CardHeader>
              <CardTitle>Profile</CardTitle>
            </CardHeader>
            <CardContent>
              {contact ? (
                <dl className="divide-y" data-testid="contact-profile">
                  <Row label="Email">{contact.email}</Row>
                  <Row label="First name">{contact.first_name || <span className="text-muted-foreground">—</span>}</Row>
                  <Row label="Last name">{contact.last_name || <span className="text-muted-foreground">—</span>}</Row>
                  <Row label="Status">
                    {contact.is_subscribed ? <Badge variant="success" data-testid="contact-status">Subscribed</Badge> : <Badge variant="outline" data-testid="contact-status">Unsubscribed</Badge>}
                  </Row>
                  <Row label="Added">{formatDateTime(contact.created_at)}</Row>
                  <Row label="Updated">{formatDateTime(contact.updated_at)}</Row>
                </dl>
              ) : (
                <div className="space-y-3">
                  {Array.from({ length: 6 }, (_, i) => (
                    <Skeleton key={i} className="h-5 w-full" />
                  ))}
                </div>
              )}
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>Tags</CardTitle>
            </CardHeader>
            <CardContent>
              {!contact ? (
                <Skeleton className="h-6 w-40" />
              ) : contact.tags.length ? (
                <div className="flex flex-wrap gap-1.5" data-testid="contact-tags">
                  {contact.tags.map((t) => (
                    <Link key={t} href={`/contacts?tag=${encodeURIComponent(t)}`} className="rounded-full focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
                      <Badge variant="secondary">{t}</Badge>
                    </Link>
                  ))}
                </div>
              ) : (
                <p className="text-sm text-muted-foreground">No tags.</p>
              )}
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>Custom fields</CardTitle>
            </CardHeader>
            <CardContent>
              {!contact ? (
                <Skeleton className="h-5 w-full" />
              ) : custom.length ? (
                <dl className="divide-y" data-testid="contact-fields">
                  {custom.map(([k, v]) => (
                    <Row key={k} label={k}>
                      {typeof v === 'string' ? v : JSON.stringify(v)}
                    </Row>
                  ))}
                </dl>
              ) : (
                <p className="text-sm text-muted-foreground">No custom fields.</p>
              )}
            </CardContent>
          </Card>
        </div>
        <div className="space-y-6 lg:col-span-2">
          <Card>
            <CardHeader>
              <CardTitle className="flex items-center gap-2">
                <List className="size-4 text-muted-foreground" /> Lists
              </CardTitle>
            </CardHeader>
            <CardContent>
              {!data ? (
                <Skeleton className="h-5 w-1/2" />
              ) : data.lists.length ? (
                <ul className="divide-y" data-testid="contact-lists">
                  {data.lists.map((l) => (
                    <li key={l.id} className="flex items-center justify-between py-2 text-sm">
                      <Link href={`/contacts/lists/view?id=${l.id}`} className="font-medium hover:underline">
                        {l.name}
                      </Link>
                      <span className="text-muted-foreground">added {formatDate(l.added_at)}</span>
                    </li>
                  ))}
                </ul>
              ) : (
                <p className="text-sm text-muted-foreground">Not on any static list. Segments pick contacts by their rules.</p>
              )}
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle className="flex items-center gap-2">
                <ShieldCheck className="size-4 text-muted-foreground" /> Consent
              </CardTitle>
              <CardDescription>How and when this person agreed to hear from you.</CardDescription>
            </CardHeader>
            <CardContent>
              {!data || !contact ? (
                <Skeleton className="h-5 w-2/3" />
              ) : (
                <ul className="space-y-3 text-sm" data-testid="contact-consent">
                  <li>
                    {contact.is_subscribed ? 'Subscribed' : 'Unsubscribed'}
                    {contact.is_subscribed && contact.subscribed_at ? ` since ${formatDateTime(contact.subscribed_at)}` : ''}
                    {!contact.is_subscribed && contact.unsubscribed_at ? ` on ${formatDateTime(contact.unsubscribed_at)}` : ''}.
                  </li>
                  {data.consents.map((s) => (
                    <li key={s.id} className="rounded-md border p-3">
                      <p className="font-medium">
                        Signed up through a form · <span className="capitalize">{s.status}</span>
                      </p>
                      <p className="text-muted-foreground">
                        {formatDateTime(s.consent_at)}
                        {s.ip ? ` from ${s.ip}` : ''}
                        {s.confirmed_at ? `, confirmed ${formatDateTime(s.confirmed_at)}` : ''}
                      </p>
                      {s.consent_text && <p className="mt-1 italic text-muted-foreground">“{s.consent_text}”</p>}
                    </li>
                  ))}
                  {data.unsubscribes.map((u, i) => (
                    <li key={i} className="text-muted-foreground">
                      Unsubscribed ({u.source.replace(/_/g, ' ')}) on {formatDateTime(u.created_at)}
                    </li>
                  ))}
                  {!data.consents.length && <li className="text-muted-foreground">No form consent on record: added by import, the API or by hand.</li>}
                </ul>
              )}
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle className="flex items-center gap-2">
                <Activity className="size-4 text-muted-foreground" /> Activity
              </CardTitle>
            </CardHeader>
            <CardContent>
              {!events ? (
                <div className="space-y-3">
                  <Skeleton className="h-5 w-full" />
                  <Skeleton className="h-5 w-3/4" />
                </div>
              ) : events.items.length ? (
                <>
                  <ol className="relative space-y-4 border-l pl-5" data-testid="contact-activity">
                    {events.items.map((e) => (
                      <li key={e.id} className="text-sm">
                        <span className="absolute -left-[5px] mt-1.5 size-2.5 rounded-full border-2 border-card bg-primary" aria-hidden />
                        <p className="font-medium">{eventLabel[e.event_type] ?? e.event_type}</p>
                        <p className="text-muted-foreground">
                          {formatDateTime(e.created_at)}
                          {e.url ? ` · ${e.url}` : ''}
                        </p>
                      </li>
                    ))}
                  </ol>
                  {events.total > events.page_size && (
                    <div className="mt-4 flex items-center justify-between text-sm text-muted-foreground">
                      <span>{formatInt(events.total)} events</span>
                      <div className="flex gap-2">
                        <Button size="sm" variant="outline" disabled={eventsPage <= 1} onClick={() => setEventsPage(eventsPage - 1)}>Newer</Button>
                        <Button size="sm" variant="outline" disabled={eventsPage * events.page_size >= events.total} onClick={() => setEventsPage(eventsPage + 1)}>Older</Button>
                      </div>
                    </div>
                  )}
                </>
              ) : (
                <p className="text-sm text-muted-foreground" data-testid="contact-no-activity">No activity yet: sends, opens and clicks appear here.</p>
              )}
            </CardContent>
          </Card>
        </div>
      </div>

      <ContactSheet open={editOpen} onOpenChange={setEditOpen} contact={contact} onSaved={(c) => { setContact(c); load(); }} />
      <AlertDialog open={confirm !== null} onOpenChange={(v) => !v && !busy && setConfirm(null)}>
        <AlertDialogContent data-testid={`confirm-${confirm}`}>
          <AlertDialogHeader>
            <AlertDialogTitle>
              {confirm === 'unsubscribe' ? 'Unsubscribe this contact?' : confirm === 'erase' ? 'Erase all personal data?' : 'Delete this contact?'}
            </AlertDialogTitle>
            <AlertDialogDescription>
              {confirm === 'unsubscribe'
                ? `${contact?.email} will get no more campaigns or flow emails. The unsubscribe is recorded.`
                : confirm === 'erase'
                  ? 'The contact, its activity, list memberships and consent records are removed for good. Only a one-way hash of the address is kept, so it is never mailed again. This cannot be undone.'
                  : 'The contact is removed from every list and flow. This cannot be undone.'}
            </AlertDialogDescription>
          </AlertDialogHeader>
          {confirm === 'erase' && (
            <div className="space-y-2">
              <Label htmlFor="erase-confirm">
                Type <span className="font-mono">{contact?.email}</span> to confirm
              </Label>
              <Input id="erase-confirm" autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} data-testid="erase-typed" />
            </div>
          )}
          <AlertDialogFooter>
            <AlertDialogCancel disabled={busy}>Cancel</AlertDialogCancel>
            <Button
              variant={confirm === 'unsubscribe' ? 'default' : 'destructive'}
              loading={busy}
              disabled={confirm === 'erase' && typed.trim().toLowerCase() !== contact?.email.toLowerCase()}
              onClick={act}
              data-testid="confirm-action"
            >
              {confirm === 'unsubscribe' ? 'Unsubscribe' : confirm === 'erase' ? 'Erase for good' : 'Delete'}
            </Button>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
    </>
  );
}
