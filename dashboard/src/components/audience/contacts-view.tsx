'use client';
// The contacts table: search, tag and subscription filters, sorted by date or
// email (the API's ?sort=, from the column headers or the select), pages of 50
// (the API's listing is built to answer a first page fast at a million
// contacts), bulk tagging, adding to a list and deleting.
import * as React from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { ArrowDown, ArrowUp, ArrowUpDown, ChevronLeft, ChevronRight, Download, ListPlus, MoreHorizontal, Pencil, Plus, Search, SearchX, Tag, Trash2, Upload, Users, X } from 'lucide-react';
import { api, type Contact, type ContactFilter, type ContactList, type ContactSort, type Page } from '@/lib/api';
import { cn, formatDate, formatInt } from '@/lib/utils';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Checkbox } from '@/components/ui/checkbox';
import { Input } from '@/components/ui/input';
import { Select } from '@/components/ui/select';
import { Skeleton } from '@/components/ui/skeleton';
import { toast } from '@/components/ui/toaster';
import { DropdownMenu, DropdownMenuContent, DropdownMenuItem, DropdownMenuSeparator, DropdownMenuTrigger } from '@/components/ui/dropdown-menu';
import {
  AlertDialog,
  AlertDialogAction,
  AlertDialogCancel,
  AlertDialogContent,
  AlertDialogDescription,
  AlertDialogFooter,
  AlertDialogHeader,
  AlertDialogTitle,
} from '@/components/ui/alert-dialog';
import { PageHeader } from '@/components/shell/page-header';
import { AudienceTabs, Avatar, EmptyState, contactName } from './tabs';
import { ContactSheet } from './contact-sheet';

const PAGE_SIZE = 50;
type State = { loading: boolean; data: Page<Contact> | null; error: string | null };

const SORTS: ContactSort[] = ['-created_at', 'created_at', 'email', '-email'];
/** ?sort= in the address: the API's names; "oldest" and "newest" from older links still work. */
function sortFromParam(v: string | null): ContactSort {
  if (v === 'oldest') return 'created_at';
  return SORTS.includes(v as ContactSort) ? (v as ContactSort) : '-created_at';
}

/** A sortable column header: a button that flips the order, aria-sort on the cell. */
function SortHeader({ label, field, sort, onSort, className }: { label: string; field: 'email' | 'created_at'; sort: ContactSort; onSort: (s: ContactSort) => void; className?: string }) {
  const active = sort === field || sort === `-${field}`;
  const descending = sort.startsWith('-');
  // Dates start newest first, addresses A to Z; a second click reverses.
  const first: ContactSort = field === 'created_at' ? '-created_at' : 'email';
  const next: ContactSort = !active ? first : descending ? field : (`-${field}` as ContactSort);
  const Icon = !active ? ArrowUpDown : descending ? ArrowDown : ArrowUp;
  return (
    <th className={cn('px-3 py-2.5 font-medium', className)} aria-sort={active ? (descending ? 'descending' : 'ascending') : 'none'} data-testid={`sort-${field}`}>
      <button
        type="button"
        onClick={() => onSort(next)}
        className={cn('-mx-1 inline-flex items-center gap-1 rounded px-1 uppercase tracking-wide hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring', active && 'text-foreground')}
        data-testid={`sort-${field}-button`}
      >
        {label}
        <Icon className="size-3.5" aria-hidden />
        <span className="sr-only">{active ? (descending ? ', sorted descending' : ', sorted ascending') : ', sort'}</span>
      </button>
    </th>
  );
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = React.useState(value);
  React.useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function ContactsView() {
  const router = useRouter();
  const params = useSearchParams();
  const [search, setSearch] = React.useState(params.get('search') ?? '');
  const [tag, setTag] = React.useState(params.get('tag') ?? '');
  const [status, setStatus] = React.useState(params.get('status') ?? 'all');
  const [sort, setSort] = React.useState<ContactSort>(sortFromParam(params.get('sort')));
  const [page, setPage] = React.useState(Math.max(1, Number(params.get('page')) || 1));
  const [state, setState] = React.useState<State>({ loading: true, data: null, error: null });
  const [reloadKey, setReloadKey] = React.useState(0);
  const [selected, setSelected] = React.useState<Set<string>>(new Set());
  const [editing, setEditing] = React.useState<Contact | null>(null);
  const [sheetOpen, setSheetOpen] = React.useState(false);
  const [bulk, setBulk] = React.useState<null | 'tag' | 'list' | 'delete'>(null);
  const [totalContacts, setTotalContacts] = React.useState<number | null>(null);
  const q = useDebounced(search.trim(), 250);
  const t = useDebounced(tag.trim(), 250);

  const filter: ContactFilter = React.useMemo(
    () => ({ search: q || undefined, tag: t || undefined, is_subscribed: status === 'subscribed' ? true : status === 'unsubscribed' ? false : null }),
    [q, t, status],
  );
  const filtered = !!(filter.search || filter.tag || filter.is_subscribed !== null);
  const filterKey = JSON.stringify(filter);

  // The filters live in the address, so a reload or a shared link shows the same page.
  React.useEffect(() => {
    const u = new URLSearchParams();
    if (q) u.set('search', q);
    if (t) u.set('tag', t);
    if (status !== 'all') u.set('status', status);
    if (sort !== '-created_at') u.set('sort', sort);
    if (page > 1) u.set('page', String(page));
    const s = u.toString();
    const want = `${window.location.pathname}${s ? `?${s}` : ''}`;
    if (want !== window.location.pathname + window.location.search) window.history.replaceState(window.history.state, '', want);
  }, [q, t, status, sort, page]);

  React.useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    api.contacts.list(filter, page, PAGE_SIZE, ctl.signal, sort).then((r) => {
      if (ctl.signal.aborted) return;
      if (r.error) setState({ loading: false, data: null, error: r.error.detail });
      else {
        setState({ loading: false, data: r.data, error: null });
        if (!filtered) setTotalContacts(r.data.total);
      }
    });
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filterKey, page, sort, reloadKey]);

  React.useEffect(() => {
    api.contacts.count().then((r) => r.data && setTotalContacts(r.data.count));
  }, [reloadKey]);

  const reload = () => {
    setReloadKey((k) => k + 1);
  };
  const resetPage = () => {
    setPage(1);
    setSelected(new Set());
  };
  const changeSort = (s: ContactSort) => {
    setSort(s);
    resetPage();
  };

  const items = state.data?.items ?? [];
  const total = state.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const allOnPage = items.length > 0 && items.every((c) => selected.has(c.id));
  const someOnPage = items.some((c) => selected.has(c.id));
  const tagsSeen = React.useMemo(() => [...new Set(items.flatMap((c) => c.tags))].sort().slice(0, 50), [items]);
  const firstLoad = state.loading && !state.data;

  const openEditor = (c: Contact | null) => {
    setEditing(c);
    setSheetOpen(true);
  };

  return (
    <>
      <PageHeader
        title="Contacts"
        description={totalContacts === null ? <Skeleton className="h-4 w-32" /> : <span data-testid="contacts-total">{formatInt(totalContacts)} contacts</span>}
        actions={
          <>
            <Button
              variant="outline"
              onClick={async () => {
                const e = await api.contacts.exportAll();
                if (e) toast.error('Export failed', { description: e.detail });
                else toast.success('Export downloaded', { description: 'contacts.csv' });
              }}
              data-testid="export-csv"
            >
              <Download /> Export CSV
            </Button>
            <Button variant="outline" asChild>
              <Link href="/contacts/import">
                <Upload /> Import
              </Link>
            </Button>
            <Button onClick={() => openEditor(null)} data-testid="add-contact">
              <Plus /> Add contact
            </Button>
          </>
        }
      />
      <AudienceTabs />
      <Card className="overflow-hidden">
        <div className="flex flex-col gap-2 border-b p-3 lg:flex-row lg:items-center">
          <div className="relative flex-1">
            <Search className="pointer-events-none absolute left-3 top-1/2 size-4 -translate-y-1/2 text-muted-foreground" aria-hidden />
            <Input
              type="search"
              aria-label="Search contacts"
              placeholder="Search by email or name"
              value={search}
              onChange={(e) => {
                setSearch(e.target.value);
                resetPage();
              }}
              className="h-9 pl-9"
              data-testid="contacts-search"
            />
          </div>
          <div className="grid grid-cols-2 gap-2 sm:grid-cols-3 lg:flex">
            <div className="relative col-span-2 sm:col-span-1">
              <Tag className="pointer-events-none absolute left-3 top-1/2 size-3.5 -translate-y-1/2 text-muted-foreground" aria-hidden />
              <Input
                aria-label="Filter by tag"
                placeholder="Tag"
                list="contacts-tags"
                value={tag}
                onChange={(e) => {
                  setTag(e.target.value);
                  resetPage();
                }}
                className="h-9 pl-8 lg:w-40"
                data-testid="contacts-tag"
              />
              <datalist id="contacts-tags">
                {tagsSeen.map((x) => (
                  <option key={x} value={x} />
                ))}
              </datalist>
            </div>
            <Select
              aria-label="Subscription"
              value={status}
              onChange={(e) => {
                setStatus(e.target.value);
                resetPage();
              }}
              className="lg:w-40"
              data-testid="contacts-status"
            >
              <option value="all">All statuses</option>
              <option value="subscribed">Subscribed</option>
              <option value="unsubscribed">Unsubscribed</option>
            </Select>
            <Select
              aria-label="Sort"
              value={sort}
              onChange={(e) => changeSort(e.target.value as ContactSort)}
              className="lg:w-36"
              data-testid="contacts-sort"
            >
              <option value="-created_at">Newest first</option>
              <option value="created_at">Oldest first</option>
              <option value="email">Email A–Z</option>
              <option value="-email">Email Z–A</option>
            </Select>
          </div>
        </div>

        {selected.size > 0 && (
          // On a phone: the count and Clear on one row, the three actions in even
          // columns below; from sm on, one row with Clear at its end.
          <div className="grid grid-cols-3 items-center gap-2 border-b bg-primary/5 px-3 py-2 sm:flex sm:flex-wrap" data-testid="bulk-bar" role="region" aria-label="Bulk actions">
            <span className="col-span-2 text-sm font-medium sm:mr-2" data-testid="bulk-count">
              {formatInt(selected.size)} selected
            </span>
            <Button size="sm" variant="ghost" className="justify-self-end sm:order-last sm:ml-auto" onClick={() => setSelected(new Set())} data-testid="bulk-clear">
              <X /> Clear
            </Button>
            <Button size="sm" variant="outline" className="max-sm:px-2" onClick={() => setBulk('tag')} data-testid="bulk-tag">
              <Tag /> Tag
            </Button>
            <Button size="sm" variant="outline" className="max-sm:px-2" onClick={() => setBulk('list')} data-testid="bulk-list">
              <ListPlus /> Add to list
            </Button>
            <Button size="sm" variant="outline" className="text-destructive hover:text-destructive max-sm:px-2" onClick={() => setBulk('delete')} data-testid="bulk-delete">
              <Trash2 /> Delete
            </Button>
          </div>
        )}

        <div className="relative overflow-x-auto">
          <table className="w-full text-sm" data-testid="contacts-table" aria-busy={state.loading}>
            <thead className="bg-muted/40 text-left text-xs font-medium uppercase tracking-wide text-muted-foreground">
              <tr>
                <th className="w-10 py-2.5 pl-4">
                  <Checkbox
                    aria-label="Select every contact on this page"
                    checked={allOnPage}
                    indeterminate={!allOnPage && someOnPage}
                    disabled={!items.length}
                    onChange={(e) => {
                      const s = new Set(selected);
                      for (const c of items) e.target.checked ? s.add(c.id) : s.delete(c.id);
                      setSelected(s);
                    }}
                    data-testid="select-page"
                  />
                </th>
                <SortHeader label="Contact" field="email" sort={sort} onSort={changeSort} />
                <th className="hidden px-3 py-2.5 font-medium md:table-cell">Tags</th>
                <th className="hidden px-3 py-2.5 font-medium sm:table-cell">Status</th>
                <SortHeader label="Added" field="created_at" sort={sort} onSort={changeSort} className="hidden sm:table-cell" />
                <th className="w-12 py-2.5 pr-3" aria-label="Actions" />
              </tr>
            </thead>
            <tbody className={cn('divide-y transition-opacity', state.loading && state.data && 'opacity-60')}>
              {firstLoad &&
                Array.from({ length: 8 }, (_, i) => (
                  <tr key={i} className="h-[57px]">
                    <td className="pl-4">
                      <Skeleton className="size-4" />
                    </td>
                    <td className="px-3">
                      <div className="flex items-center gap-3">
                        <Skeleton className="size-8 rounded-full" />
                        <div className="space-y-1.5">
                          <Skeleton className="h-3.5 w-32" />
                          <Skeleton className="h-3 w-44" />
                        </div>
                      </div>
                    </td>
                    <td className="hidden px-3 md:table-cell">
                      <Skeleton className="h-5 w-20 rounded-full" />
                    </td>
                    <td className="hidden px-3 sm:table-cell">
                      <Skeleton className="h-5 w-20 rounded-full" />
                    </td>
                    <td className="hidden px-3 sm:table-cell">
                      <Skeleton className="h-3.5 w-20" />
                    </td>
                    <td />
                  </tr>
                ))}
              {items.map((c) => {
                const name = contactName(c);
                return (
                  <tr key={c.id} className={cn('group h-[57px] hover:bg-muted/40', selected.has(c.id) && 'bg-primary/[0.04]')} data-testid="contact-row">
                    <td className="pl-4">
                      <Checkbox
                        aria-label={`Select ${c.email}`}
                        checked={selected.has(c.id)}
                        onChange={(e) => {
                          const s = new Set(selected);
                          e.target.checked ? s.add(c.id) : s.delete(c.id);
                          setSelected(s);
                        }}
                      />
                    </td>
                    <td className="max-w-0 px-3 sm:max-w-none">
                      <Link href={`/contacts/view?id=${c.id}`} className="flex min-w-0 items-center gap-3 rounded-md focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" data-testid="contact-link">
                        <Avatar c={c} />
                        <span className="min-w-0">
                          <span className="block truncate font-medium" data-testid="contact-name">{name || c.email}</span>
                          <span className="block truncate text-xs text-muted-foreground" data-testid="contact-email">{c.email}</span>
                          {!c.is_subscribed && <span className="block text-xs text-muted-foreground sm:hidden">Unsubscribed</span>}
                        </span>
                      </Link>
                    </td>
                    <td className="hidden px-3 md:table-cell">
                      <div className="flex max-w-[16rem] flex-wrap gap-1 overflow-hidden">
                        {c.tags.slice(0, 3).map((x) => (
                          <Badge key={x} variant="secondary">
                            {x}
                          </Badge>
                        ))}
                        {c.tags.length > 3 && <Badge variant="outline">+{c.tags.length - 3}</Badge>}
                      </div>
                    </td>
                    <td className="hidden px-3 sm:table-cell">
                      {c.is_subscribed ? <Badge variant="success">Subscribed</Badge> : <Badge variant="outline">Unsubscribed</Badge>}
                    </td>
                    <td className="hidden whitespace-nowrap px-3 text-muted-foreground sm:table-cell">{formatDate(c.created_at)}</td>
                    <td className="pr-3 text-right">
                      <DropdownMenu>
                        <DropdownMenuTrigger asChild>
                          <Button variant="ghost" size="icon" className="size-8" aria-label={`Actions for ${c.email}`} data-testid="row-menu">
                            <MoreHorizontal />
                          </Button>
                        </DropdownMenuTrigger>
                        <DropdownMenuContent align="end" className="min-w-[10rem]">
                          <DropdownMenuItem onSelect={() => openEditor(c)} data-testid="row-edit">
                            <Pencil /> Edit
                          </DropdownMenuItem>
                          <DropdownMenuItem onSelect={() => router.push(`/contacts/view?id=${c.id}`)}>
                            <Users /> Open
                          </DropdownMenuItem>
                          <DropdownMenuSeparator />
                          <DropdownMenuItem
                            className="text-destructive focus:text-destructive"
                            onSelect={() => {
                              setSelected(new Set([c.id]));
                              setBulk('delete');
                            }}
                          >
                            <Trash2 /> Delete
                          </DropdownMenuItem>
                        </DropdownMenuContent>
                      </DropdownMenu>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {!state.loading && state.error && (
            <EmptyState icon={SearchX} title="The contacts could not be loaded" testid="contacts-error" actions={<Button variant="outline" onClick={reload}>Try again</Button>}>
              {state.error}
            </EmptyState>
          )}
          {!state.loading && !state.error && items.length === 0 && (filtered ? (
            <EmptyState
              icon={SearchX}
              title="No contacts match"
              testid="contacts-empty-filtered"
              actions={
                <Button
                  variant="outline"
                  onClick={() => {
                    setSearch('');
                    setTag('');
                    setStatus('all');
                    resetPage();
                  }}
                >
                  Clear filters
                </Button>
              }
            >
              Try another search, tag or status.
            </EmptyState>
          ) : (
            <EmptyState
              icon={Users}
              title="No contacts yet"
              testid="contacts-empty"
              actions={
                <>
                  <Button asChild>
                    <Link href="/contacts/import">
                      <Upload /> Import a CSV
                    </Link>
                  </Button>
                  <Button variant="outline" onClick={() => openEditor(null)}>
                    <Plus /> Add one by hand
                  </Button>
                </>
              }
            >
              Import your audience from a spreadsheet or add people one at a time.
            </EmptyState>
          ))}
        </div>
        <div className="flex items-center justify-between gap-3 border-t px-4 py-3 text-sm text-muted-foreground">
          <span data-testid="contacts-range" className="tabular-nums">
            {state.data ? (total ? `${formatInt((page - 1) * PAGE_SIZE + 1)}–${formatInt(Math.min(total, page * PAGE_SIZE))} of ${formatInt(total)}` : '0 contacts') : <Skeleton className="h-4 w-28" />}
          </span>
          <div className="flex items-center gap-2">
            <span className="hidden tabular-nums sm:inline">
              Page {formatInt(page)} of {formatInt(pages)}
            </span>
            <Button variant="outline" size="icon" className="size-8" aria-label="Previous page" disabled={page <= 1 || state.loading} onClick={() => setPage(page - 1)} data-testid="page-prev">
              <ChevronLeft />
            </Button>
            <Button variant="outline" size="icon" className="size-8" aria-label="Next page" disabled={page >= pages || state.loading} onClick={() => setPage(page + 1)} data-testid="page-next">
              <ChevronRight />
            </Button>
          </div>
        </div>
      </Card>

      <ContactSheet
        open={sheetOpen}
        onOpenChange={setSheetOpen}
        contact={editing}
        onSaved={() => reload()}
      />
      <BulkDialogs
        kind={bulk}
        ids={[...selected]}
        onClose={() => setBulk(null)}
        onDone={() => {
          setBulk(null);
          setSelected(new Set());
          reload();
        }}
        onPartial={(failed) => {
          setSelected(new Set(failed));
          reload();
        }}
        contacts={items}
      />
    </>
  );
}

/**
 * Runs one call per contact, a few at a time; returns the ones that failed
 * with the API's detail. The API has no bulk tag or delete: each contact is
 * its own request, so a batch can half succeed, and the dialog says so.
 */
async function eachLimited<T>(list: T[], n: number, fn: (x: T) => Promise<string | null>): Promise<{ x: T; detail: string }[]> {
  const failed: { x: T; detail: string }[] = [];
  let i = 0;
  const worker = async () => {
    while (i < list.length) {
      const x = list[i++];
      const detail = await fn(x).catch((e: unknown) => String(e));
      if (detail !== null) failed.push({ x, detail });
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, list.length) }, worker));
  return failed;
}

/** The most a static list takes in one POST /members (the API refuses more with a 422). */
const MAX_LIST_BATCH = 1000;

function BulkDialogs({
  kind,
  ids,
  onClose,
  onDone,
  onPartial,
  contacts,
}: {
  kind: null | 'tag' | 'list' | 'delete';
  ids: string[];
  onClose: () => void;
  onDone: () => void;
  onPartial: (failed: string[]) => void;
  contacts: Contact[];
}) {
  const [busy, setBusy] = React.useState(false);
  const [tag, setTag] = React.useState('');
  const [lists, setLists] = React.useState<ContactList[] | null>(null);
  const [listId, setListId] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    setError(null);
    setTag('');
    if (kind === 'list') {
      setLists(null);
      api.lists.list().then((r) => {
        const statics = (r.data?.items ?? []).filter((l) => l.list_type === 'static');
        setLists(statics);
        setListId(statics[0]?.id ?? '');
      });
    }
  }, [kind]);
  const n = ids.length;
  const label = `${formatInt(n)} contact${n === 1 ? '' : 's'}`;
  const byId = new Map(contacts.map((c) => [c.id, c]));

  /** Some failed: say how many and why, keep only those selected for a retry. */
  function partial(done: string, failed: { x: string; detail: string }[]) {
    const emails = failed.slice(0, 3).map((f) => byId.get(f.x)?.email ?? f.x);
    const more = failed.length > 3 ? ` and ${formatInt(failed.length - 3)} more` : '';
    setError(`${done} ${formatInt(n - failed.length)} of ${label}; ${formatInt(failed.length)} failed (${emails.join(', ')}${more}): ${failed[0].detail}. Only the failed ones stay selected, to try again.`);
    onPartial(failed.map((f) => f.x));
  }

  async function run() {
    setBusy(true);
    setError(null);
    if (kind === 'tag') {
      const t = tag.trim();
      if (!t) {
        setBusy(false);
        setError('Enter a tag');
        return;
      }
      const failed = await eachLimited(ids, 4, async (id) => {
        const got = byId.get(id) ? { data: byId.get(id)!, error: null } : await api.contacts.get(id);
        if (got.error) return got.error.detail;
        if (got.data.tags.includes(t)) return null;
        const r = await api.contacts.update(id, { tags: [...got.data.tags, t] });
        return r.error ? (r.error.fields.tags ?? r.error.detail) : null;
      });
      setBusy(false);
      if (failed.length === n) return setError(failed[0].detail);
      if (failed.length) return partial('Tagged', failed);
      toast.success(`Tagged ${label} “${t}”`);
    } else if (kind === 'list') {
      if (!listId) {
        setBusy(false);
        return setError('Choose a list');
      }
      // One request, one transaction: all are added or none.
      if (n > MAX_LIST_BATCH) {
        setBusy(false);
        return setError(`A list takes at most ${formatInt(MAX_LIST_BATCH)} contacts at a time: select fewer.`);
      }
      const r = await api.lists.addMembers(listId, ids);
      setBusy(false);
      if (r.error) return setError(r.error.detail);
      toast.success(`Added ${label} to the list`);
    } else if (kind === 'delete') {
      const failed = await eachLimited(ids, 4, async (id) => {
        const r = await api.contacts.remove(id);
        return r.error ? r.error.detail : null;
      });
      setBusy(false);
      if (failed.length === n) return setError(failed[0].detail);
      if (failed.length) return partial('Deleted', failed);
      toast.success(`Deleted ${label}`);
    }
    onDone();
  }

  return (
    <AlertDialog open={kind !== null} onOpenChange={(v) => !v && !busy && onClose()}>
      <AlertDialogContent data-testid={`bulk-dialog-${kind}`}>
        <AlertDialogHeader>
          <AlertDialogTitle>{kind === 'tag' ? `Tag ${label}` : kind === 'list' ? `Add ${label} to a list` : `Delete ${label}?`}</AlertDialogTitle>
          <AlertDialogDescription>
            {kind === 'delete'
              ? 'They are removed from every list and flow. Their past activity stays in your reports. This cannot be undone.'
              : kind === 'tag'
                ? 'The tag is added to each selected contact; their other tags stay.'
                : 'Only static lists take members by hand; segments pick theirs by rules.'}
          </AlertDialogDescription>
        </AlertDialogHeader>
        {kind === 'tag' && (
          <Input autoFocus aria-label="Tag" placeholder="e.g. vip" value={tag} onChange={(e) => setTag(e.target.value)} data-testid="bulk-tag-input" aria-invalid={error ? true : undefined} onKeyDown={(e) => e.key === 'Enter' && run()} />
        )}
        {kind === 'list' &&
          (lists === null ? (
            <Skeleton className="h-9 w-full" />
          ) : lists.length === 0 ? (
            <p className="text-sm text-muted-foreground">
              No static list yet. <Link className="font-medium text-primary underline-offset-4 hover:underline" href="/contacts/lists">Create one</Link> first.
            </p>
          ) : (
            <Select aria-label="List" value={listId} onChange={(e) => setListId(e.target.value)} data-testid="bulk-list-select">
              {lists.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name} ({formatInt(l.contact_count)})
                </option>
              ))}
            </Select>
          ))}
        {error && (
          <p role="alert" className="text-[13px] text-destructive" data-testid="bulk-error">
            {error}
          </p>
        )}
        <AlertDialogFooter>
          <AlertDialogCancel disabled={busy}>Cancel</AlertDialogCancel>
          <Button variant={kind === 'delete' ? 'destructive' : 'default'} loading={busy} onClick={run} data-testid="bulk-confirm">
            {kind === 'delete' ? 'Delete' : kind === 'tag' ? 'Add tag' : 'Add to list'}
          </Button>
        </AlertDialogFooter>
      </AlertDialogContent>
    </AlertDialog>
  );
}
