'use client';
// One list: a static list's members (add, remove), or a segment's rules with
// the live count and sample contacts of POST /contacts/lists/preview.
import * as React from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { ArrowLeft, ChevronLeft, ChevronRight, List, Plus, Search, Trash2, UserMinus, Users } from 'lucide-react';
import { api, type Contact, type ContactList, type Page, type Rules } from '@/lib/api';
import { cn, formatInt } from '@/lib/utils';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Checkbox } from '@/components/ui/checkbox';
import { Input } from '@/components/ui/input';
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
import { Field, FormAlert } from '@/components/auth/form-bits';
import { AudienceTabs, Avatar, EmptyState, contactName } from './tabs';
import { errorField } from './contact-sheet';
import { SegmentBuilder, cleanRules, defaultCondition, incomplete } from './segment-builder';

const PAGE = 25;

function ContactLine({ c }: { c: Contact }) {
  const name = contactName(c);
  return (
    <Link href={`/contacts/view?id=${c.id}`} className="flex min-w-0 items-center gap-3 rounded-md focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
      <Avatar c={c} />
      <span className="min-w-0">
        <span className="block truncate text-sm font-medium">{name || c.email}</span>
        <span className="block truncate text-xs text-muted-foreground">{c.email}</span>
      </span>
    </Link>
  );
}

function parseRuleError(detail: string): { index: number; msg: string } | null {
  const m = /conditions\[(\d+)\]: (.*)$/.exec(detail);
  return m ? { index: Number(m[1]), msg: m[2].charAt(0).toUpperCase() + m[2].slice(1) } : null;
}

export function ListPage() {
  const params = useSearchParams();
  const id = params.get('id');
  const isNew = !id;
  const [list, setList] = React.useState<ContactList | null>(null);
  const [missing, setMissing] = React.useState<string | null>(null);

  React.useEffect(() => {
    if (!id) return;
    api.lists.get(id).then((r) => {
      if (r.error) setMissing(r.error.status === 404 ? 'This list does not exist.' : r.error.detail);
      else setList(r.data);
    });
  }, [id]);

  if (missing)
    return (
      <>
        <AudienceTabs />
        <Card>
          <EmptyState icon={List} title="List not found" testid="list-missing" actions={<Button asChild variant="outline"><Link href="/contacts/lists"><ArrowLeft /> All lists</Link></Button>}>
            {missing}
          </EmptyState>
        </Card>
      </>
    );
  if (isNew) return <SegmentEditor list={null} />;
  if (!list)
    return (
      <div className="space-y-6">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-64 w-full" />
      </div>
    );
  return list.list_type === 'dynamic' ? <SegmentEditor list={list} /> : <StaticList list={list} onChange={setList} />;
}

function Header({ title, badge, actions }: { title: React.ReactNode; badge: React.ReactNode; actions?: React.ReactNode }) {
  return (
    <div className="mb-8 flex flex-col gap-4 sm:flex-row sm:items-center sm:justify-between">
      <div className="flex min-w-0 items-center gap-3">
        <Button asChild variant="ghost" size="icon" aria-label="Back to lists">
          <Link href="/contacts/lists">
            <ArrowLeft />
          </Link>
        </Button>
        <h1 className="truncate text-2xl font-semibold tracking-tight" data-testid="list-title">
          {title}
        </h1>
        {badge}
      </div>
      {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
    </div>
  );
}

function DeleteList({ list }: { list: ContactList }) {
  const router = useRouter();
  const [open, setOpen] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  return (
    <>
      <Button variant="outline" className="text-destructive hover:text-destructive" onClick={() => setOpen(true)} data-testid="list-delete">
        <Trash2 /> Delete
      </Button>
      <AlertDialog open={open} onOpenChange={(v) => !busy && setOpen(v)}>
        <AlertDialogContent>
          <AlertDialogHeader>
            <AlertDialogTitle>Delete “{list.name}”?</AlertDialogTitle>
            <AlertDialogDescription>The {list.list_type === 'dynamic' ? 'segment' : 'list'} goes; its contacts stay in your audience. Campaigns and forms using it stop working.</AlertDialogDescription>
          </AlertDialogHeader>
          <AlertDialogFooter>
            <AlertDialogCancel disabled={busy}>Cancel</AlertDialogCancel>
            <Button
              variant="destructive"
              loading={busy}
              data-testid="list-delete-confirm"
              onClick={async () => {
                setBusy(true);
                const r = await api.lists.remove(list.id);
                setBusy(false);
                if (r.error) return toast.error('Could not delete', { description: r.error.detail });
                setOpen(false);
                toast.success('Deleted', { description: list.name });
                router.push('/contacts/lists');
              }}
            >
              Delete
            </Button>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
    </>
  );
}

// --- segments ------------------------------------------------------------------------------

function SegmentEditor({ list }: { list: ContactList | null }) {
  const router = useRouter();
  const [name, setName] = React.useState(list?.name ?? '');
  const [description, setDescription] = React.useState(list?.description ?? '');
  const [rules, setRules] = React.useState<Rules>(list?.rules ?? { match: 'all', conditions: [defaultCondition('tags')] });
  const [preview, setPreview] = React.useState<{ loading: boolean; count: number | null; sample: Contact[]; error: string | null }>({ loading: false, count: null, sample: [], error: null });
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [formError, setFormError] = React.useState<string | null>(null);
  const [saving, setSaving] = React.useState(false);

  const complete = rules.conditions.filter((c) => !incomplete(c));
  const ruleKey = JSON.stringify(cleanRules({ ...rules, conditions: complete }));
  React.useEffect(() => {
    if (!complete.length) {
      setPreview({ loading: false, count: null, sample: [], error: null });
      return;
    }
    const ctl = new AbortController();
    setPreview((p) => ({ ...p, loading: true }));
    const t = setTimeout(async () => {
      const r = await api.lists.preview(JSON.parse(ruleKey), ctl.signal);
      if (ctl.signal.aborted) return;
      if (r.error) setPreview({ loading: false, count: null, sample: [], error: r.error.detail });
      else setPreview({ loading: false, count: r.data.count, sample: r.data.sample, error: null });
    }, 300);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ruleKey]);

  // A rule the API refused, shown at its row (indices of the complete conditions map back).
  const ruleError = preview.error ? parseRuleError(preview.error) : null;
  const errorAt = ruleError ? { index: rules.conditions.indexOf(complete[ruleError.index]), msg: ruleError.msg } : null;

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setSaving(true);
    setErrors({});
    setFormError(null);
    const body = { name: name.trim(), description: description.trim() || null, rules: cleanRules(rules) };
    const r = list ? await api.lists.update(list.id, body) : await api.lists.create({ ...body, list_type: 'dynamic' });
    setSaving(false);
    if (r.error) {
      const { field, msg } = errorField(r.error, ['name', 'description']);
      if (field) setErrors({ [field]: msg });
      else setFormError(msg);
      return;
    }
    toast.success(list ? 'Segment saved' : 'Segment created', { description: `${r.data.name}: ${formatInt(r.data.contact_count)} contacts` });
    if (!list) router.replace(`/contacts/lists/view?id=${r.data.id}`);
  }

  return (
    <form onSubmit={save} noValidate>
      <Header
        title={list ? list.name : 'New segment'}
        badge={<Badge>Segment</Badge>}
        actions={
          <>
            {list && <DeleteList list={list} />}
            <Button type="submit" loading={saving} data-testid="segment-save">
              {list ? 'Save segment' : 'Create segment'}
            </Button>
          </>
        }
      />
      <AudienceTabs />
      <div className="grid gap-6 lg:grid-cols-[1fr_22rem]">
        <div className="space-y-6">
          <Card>
            <CardContent className="grid gap-4 p-5 sm:grid-cols-2">
              <Field label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} placeholder="e.g. Engaged VIPs" />
              <Field label="Description" name="description" value={description ?? ''} onChange={(e) => setDescription(e.target.value)} error={errors.description} hint="Optional" />
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>Rules</CardTitle>
              <CardDescription>Members are worked out live, each time a campaign or this page asks.</CardDescription>
            </CardHeader>
            <CardContent className="space-y-4">
              {formError && <FormAlert>{formError}</FormAlert>}
              <SegmentBuilder rules={rules} onChange={setRules} errorAt={errorAt} />
              {preview.error && !errorAt && (
                <p role="alert" className="text-[13px] text-destructive" data-testid="rules-error">
                  {preview.error}
                </p>
              )}
            </CardContent>
          </Card>
        </div>
        <Card className="order-first self-start lg:sticky lg:top-20 lg:order-none" data-testid="segment-preview">
          <CardHeader>
            <CardDescription>Contacts matching now</CardDescription>
            <p className={cn('text-3xl font-semibold tabular-nums transition-opacity', preview.loading && 'opacity-50')} data-testid="segment-count" aria-live="polite">
              {preview.count === null ? '—' : formatInt(preview.count)}
            </p>
          </CardHeader>
          <CardContent>
            <p className="mb-2 text-xs font-medium uppercase tracking-wide text-muted-foreground">Sample</p>
            {preview.sample.length ? (
              <ul className={cn('space-y-3 transition-opacity', preview.loading && 'opacity-50')} data-testid="segment-sample">
                {preview.sample.map((c) => (
                  <li key={c.id}>
                    <ContactLine c={c} />
                  </li>
                ))}
              </ul>
            ) : (
              <p className="text-sm text-muted-foreground">{preview.count === 0 ? 'Nobody matches these rules yet.' : complete.length ? '…' : 'Fill in a condition to see who matches.'}</p>
            )}
          </CardContent>
        </Card>
      </div>
    </form>
  );
}

// --- static lists ------------------------------------------------------------------------------

function StaticList({ list, onChange }: { list: ContactList; onChange: (l: ContactList) => void }) {
  const [page, setPage] = React.useState(1);
  const [members, setMembers] = React.useState<Page<Contact> | null>(null);
  const [selected, setSelected] = React.useState<Set<string>>(new Set());
  const [adding, setAdding] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [key, setKey] = React.useState(0);

  React.useEffect(() => {
    api.lists.contacts(list.id, page, PAGE).then((r) => setMembers(r.data ?? { items: [], total: 0, page, page_size: PAGE }));
  }, [list.id, page, key]);
  const refresh = async () => {
    setSelected(new Set());
    setKey((k) => k + 1);
    const r = await api.lists.get(list.id);
    if (r.data) onChange(r.data);
  };
  const pages = Math.max(1, Math.ceil((members?.total ?? 0) / PAGE));

  return (
    <>
      <Header
        title={list.name}
        badge={<Badge variant="secondary">Static</Badge>}
        actions={
          <>
            <DeleteList list={list} />
            <Button onClick={() => setAdding(true)} data-testid="members-add">
              <Plus /> Add contacts
            </Button>
          </>
        }
      />
      <AudienceTabs />
      <Card className="overflow-hidden">
        <div className="flex items-center justify-between gap-3 border-b px-4 py-3">
          <p className="text-sm text-muted-foreground">
            <span className="font-medium text-foreground" data-testid="members-total">{formatInt(list.contact_count)}</span> members{list.description ? ` · ${list.description}` : ''}
          </p>
          {selected.size > 0 && (
            <Button
              size="sm"
              variant="outline"
              loading={busy}
              data-testid="members-remove"
              onClick={async () => {
                setBusy(true);
                const r = await api.lists.removeMembers(list.id, [...selected]);
                setBusy(false);
                if (r.error) return toast.error('Could not remove', { description: r.error.detail });
                toast.success(`Removed ${formatInt(selected.size)} from the list`);
                refresh();
              }}
            >
              <UserMinus /> Remove {formatInt(selected.size)}
            </Button>
          )}
        </div>
        <ul className="divide-y" data-testid="members">
          {!members &&
            Array.from({ length: 5 }, (_, i) => (
              <li key={i} className="flex h-[57px] items-center gap-3 px-4">
                <Skeleton className="size-4" />
                <Skeleton className="size-8 rounded-full" />
                <Skeleton className="h-4 w-48" />
              </li>
            ))}
          {members?.items.map((c) => (
            <li key={c.id} className="flex h-[57px] items-center gap-3 px-4" data-testid="member-row">
              <Checkbox
                aria-label={`Select ${c.email}`}
                checked={selected.has(c.id)}
                onChange={(e) => {
                  const s = new Set(selected);
                  e.target.checked ? s.add(c.id) : s.delete(c.id);
                  setSelected(s);
                }}
              />
              <ContactLine c={c} />
            </li>
          ))}
        </ul>
        {members && members.items.length === 0 && (
          <EmptyState icon={Users} title="No members yet" testid="members-empty" actions={<Button onClick={() => setAdding(true)}><Plus /> Add contacts</Button>}>
            Add contacts here, or select them in the contacts table and choose “Add to list”.
          </EmptyState>
        )}
        {members && members.total > PAGE && (
          <div className="flex items-center justify-end gap-2 border-t px-4 py-3 text-sm text-muted-foreground">
            Page {page} of {pages}
            <Button variant="outline" size="icon" className="size-8" aria-label="Previous page" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              <ChevronLeft />
            </Button>
            <Button variant="outline" size="icon" className="size-8" aria-label="Next page" disabled={page >= pages} onClick={() => setPage(page + 1)}>
              <ChevronRight />
            </Button>
          </div>
        )}
      </Card>
      <AddMembers open={adding} onOpenChange={setAdding} list={list} onAdded={refresh} />
    </>
  );
}

function AddMembers({ open, onOpenChange, list, onAdded }: { open: boolean; onOpenChange: (v: boolean) => void; list: ContactList; onAdded: () => void }) {
  const [q, setQ] = React.useState('');
  const [found, setFound] = React.useState<Contact[] | null>(null);
  const [picked, setPicked] = React.useState<Set<string>>(new Set());
  const [busy, setBusy] = React.useState(false);
  React.useEffect(() => {
    if (!open) return;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      api.contacts.list({ search: q.trim() || undefined }, 1, 20, ctl.signal).then((r) => !ctl.signal.aborted && setFound(r.data?.items ?? []));
    }, 200);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [q, open]);
  React.useEffect(() => {
    if (open) {
      setQ('');
      setPicked(new Set());
      setFound(null);
    }
  }, [open]);
  return (
    <AlertDialog open={open} onOpenChange={(v) => !busy && onOpenChange(v)}>
      <AlertDialogContent className="max-w-lg" data-testid="members-dialog">
        <AlertDialogHeader>
          <AlertDialogTitle>Add contacts to “{list.name}”</AlertDialogTitle>
          <AlertDialogDescription>Search your audience and tick the people to add.</AlertDialogDescription>
        </AlertDialogHeader>
        <div className="relative">
          <Search className="pointer-events-none absolute left-3 top-1/2 size-4 -translate-y-1/2 text-muted-foreground" aria-hidden />
          <Input type="search" autoFocus aria-label="Search contacts" placeholder="Search by email or name" value={q} onChange={(e) => setQ(e.target.value)} className="pl-9" data-testid="members-search" />
        </div>
        <ul className="max-h-72 divide-y overflow-y-auto rounded-md border">
          {found === null && (
            <li className="p-3">
              <Skeleton className="h-5 w-full" />
            </li>
          )}
          {found?.map((c) => (
            <li key={c.id}>
              <label className="flex cursor-pointer items-center gap-3 px-3 py-2 hover:bg-muted/40">
                <Checkbox
                  checked={picked.has(c.id)}
                  onChange={(e) => {
                    const s = new Set(picked);
                    e.target.checked ? s.add(c.id) : s.delete(c.id);
                    setPicked(s);
                  }}
                />
                <Avatar c={c} />
                <span className="min-w-0">
                  <span className="block truncate text-sm font-medium">{contactName(c) || c.email}</span>
                  <span className="block truncate text-xs text-muted-foreground">{c.email}</span>
                </span>
              </label>
            </li>
          ))}
          {found?.length === 0 && <li className="p-4 text-center text-sm text-muted-foreground">No contacts match.</li>}
        </ul>
        <AlertDialogFooter>
          <AlertDialogCancel disabled={busy}>Cancel</AlertDialogCancel>
          <Button
            disabled={!picked.size}
            loading={busy}
            data-testid="members-add-confirm"
            onClick={async () => {
              setBusy(true);
              const r = await api.lists.addMembers(list.id, [...picked]);
              setBusy(false);
              if (r.error) return toast.error('Could not add', { description: r.error.detail });
              toast.success(`Added ${formatInt(picked.size)} to ${list.name}`);
              onOpenChange(false);
              onAdded();
            }}
          >
            Add {picked.size ? formatInt(picked.size) : ''}
          </Button>
        </AlertDialogFooter>
      </AlertDialogContent>
    </AlertDialog>
  );
}
