'use client';
// Static lists and dynamic segments: the index, and creating a static list.
import * as React from 'react';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { Filter, List, Plus } from 'lucide-react';
import { api, type ContactList } from '@/lib/api';
import { formatDate, formatInt } from '@/lib/utils';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Checkbox } from '@/components/ui/checkbox';
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
import { Field } from '@/components/auth/form-bits';
import { PageHeader } from '@/components/shell/page-header';
import { AudienceTabs, EmptyState } from './tabs';
import { errorField } from './contact-sheet';

export function ListsView() {
  const router = useRouter();
  const [lists, setLists] = React.useState<ContactList[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [creating, setCreating] = React.useState(false);

  React.useEffect(() => {
    api.lists.list().then((r) => {
      if (r.error) setError(r.error.detail);
      setLists(r.data?.items ?? []);
    });
  }, []);

  return (
    <>
      <PageHeader
        title="Lists & segments"
        description="Static lists hold the contacts you add. Segments pick theirs by rules, live."
        actions={
          <>
            <Button variant="outline" onClick={() => setCreating(true)} data-testid="new-list">
              <List /> New list
            </Button>
            <Button asChild data-testid="new-segment">
              <Link href="/contacts/lists/view?new=dynamic">
                <Filter /> New segment
              </Link>
            </Button>
          </>
        }
      />
      <AudienceTabs />
      <Card className="overflow-hidden">
        <div className="overflow-x-auto">
          <table className="w-full text-sm" data-testid="lists-table">
            <thead className="bg-muted/40 text-left text-xs font-medium uppercase tracking-wide text-muted-foreground">
              <tr>
                <th className="px-4 py-2.5 font-medium">Name</th>
                <th className="px-3 py-2.5 font-medium">Type</th>
                <th className="px-3 py-2.5 text-right font-medium">Contacts</th>
                <th className="hidden px-3 py-2.5 font-medium sm:table-cell">Created</th>
              </tr>
            </thead>
            <tbody className="divide-y">
              {lists === null &&
                Array.from({ length: 4 }, (_, i) => (
                  <tr key={i} className="h-[57px]">
                    <td className="px-4">
                      <Skeleton className="h-4 w-40" />
                    </td>
                    <td className="px-3">
                      <Skeleton className="h-5 w-16 rounded-full" />
                    </td>
                    <td className="px-3">
                      <Skeleton className="ml-auto h-4 w-10" />
                    </td>
                    <td className="hidden px-3 sm:table-cell">
                      <Skeleton className="h-4 w-20" />
                    </td>
                  </tr>
                ))}
              {lists?.map((l) => (
                <tr key={l.id} className="h-[57px] hover:bg-muted/40" data-testid="list-row">
                  <td className="px-4">
                    <Link href={`/contacts/lists/view?id=${l.id}`} className="block rounded-md font-medium hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
                      {l.name}
                    </Link>
                    {l.description && <p className="truncate text-xs text-muted-foreground">{l.description}</p>}
                  </td>
                  <td className="px-3">
                    {l.list_type === 'dynamic' ? <Badge>Segment</Badge> : <Badge variant="secondary">Static</Badge>}
                    {l.is_public && (
                      <Badge variant="outline" className="ml-1">
                        Public
                      </Badge>
                    )}
                  </td>
                  <td className="px-3 text-right tabular-nums" data-testid="list-count">{formatInt(l.contact_count)}</td>
                  <td className="hidden px-3 text-muted-foreground sm:table-cell">{formatDate(l.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {lists?.length === 0 && (
            <EmptyState
              icon={List}
              title={error ? 'The lists could not be loaded' : 'No lists or segments yet'}
              testid="lists-empty"
              actions={
                <>
                  <Button onClick={() => setCreating(true)}>
                    <Plus /> New list
                  </Button>
                  <Button asChild variant="outline">
                    <Link href="/contacts/lists/view?new=dynamic">
                      <Filter /> New segment
                    </Link>
                  </Button>
                </>
              }
            >
              {error ?? 'Group contacts by hand in a list, or let a segment follow rules such as “tagged vip and subscribed”.'}
            </EmptyState>
          )}
        </div>
      </Card>
      <NewListDialog
        open={creating}
        onOpenChange={setCreating}
        onCreated={(l) => {
          toast.success('List created', { description: l.name });
          router.push(`/contacts/lists/view?id=${l.id}`);
        }}
      />
    </>
  );
}

function NewListDialog({ open, onOpenChange, onCreated }: { open: boolean; onOpenChange: (v: boolean) => void; onCreated: (l: ContactList) => void }) {
  const [name, setName] = React.useState('');
  const [description, setDescription] = React.useState('');
  const [isPublic, setPublic] = React.useState(false);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [busy, setBusy] = React.useState(false);
  React.useEffect(() => {
    if (open) {
      setName('');
      setDescription('');
      setPublic(false);
      setErrors({});
    }
  }, [open]);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    const r = await api.lists.create({ name: name.trim(), description: description.trim() || null, list_type: 'static', is_public: isPublic });
    setBusy(false);
    if (r.error) {
      const { field, msg } = errorField(r.error, ['name', 'description']);
      setErrors({ [field ?? 'name']: msg });
      return;
    }
    onOpenChange(false);
    onCreated(r.data);
  }
  return (
    <AlertDialog open={open} onOpenChange={(v) => !busy && onOpenChange(v)}>
      <AlertDialogContent data-testid="new-list-dialog">
        <form onSubmit={submit} className="grid gap-4" noValidate>
          <AlertDialogHeader>
            <AlertDialogTitle>New static list</AlertDialogTitle>
            <AlertDialogDescription>Add contacts to it from the contacts table or the list’s page.</AlertDialogDescription>
          </AlertDialogHeader>
          <Field label="Name" name="name" autoFocus value={name} onChange={(e) => setName(e.target.value)} error={errors.name} />
          <Field label="Description" name="description" value={description} onChange={(e) => setDescription(e.target.value)} error={errors.description} hint="Optional" />
          <label className="flex items-start gap-3 text-sm">
            <Checkbox checked={isPublic} onChange={(e) => setPublic(e.target.checked)} className="mt-0.5" />
            <span>
              <span className="font-medium">Public</span>
              <span className="block text-[13px] text-muted-foreground">Shown in the preference center, where contacts can join or leave it.</span>
            </span>
          </label>
          <AlertDialogFooter>
            <AlertDialogCancel type="button" disabled={busy}>
              Cancel
            </AlertDialogCancel>
            <Button type="submit" loading={busy} data-testid="new-list-create">
              Create list
            </Button>
          </AlertDialogFooter>
        </form>
      </AlertDialogContent>
    </AlertDialog>
  );
}
