'use client';
// Add or edit a contact in a panel that slides in from the right.
import * as React from 'react';
import { Plus, X } from 'lucide-react';
import { api, type ApiError, type Contact, type ContactInput } from '@/lib/api';
import { Sheet, SheetContent, SheetDescription, SheetTitle } from '@/components/ui/sheet';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Checkbox } from '@/components/ui/checkbox';
import { Field, FormAlert } from '@/components/auth/form-bits';
import { toast } from '@/components/ui/toaster';

type Props = { open: boolean; onOpenChange: (v: boolean) => void; contact: Contact | null; onSaved: (c: Contact) => void };

type Row = { key: string; value: string };

function fieldsOf(c: Contact | null): Row[] {
  if (!c) return [];
  return Object.entries(c.custom_fields ?? {}).map(([key, value]) => ({ key, value: typeof value === 'string' ? value : JSON.stringify(value) }));
}

/** Which field an API error belongs to. */
export function errorField(e: ApiError, known: string[]): { field: string | null; msg: string } {
  for (const k of known) if (e.fields[k]) return { field: k, msg: e.fields[k] };
  const f = Object.keys(e.fields)[0];
  if (f) return { field: known.includes(f) ? f : null, msg: e.fields[f] };
  if (/email/i.test(e.detail) && known.includes('email')) return { field: 'email', msg: e.detail };
  return { field: null, msg: e.detail };
}

export function ContactSheet({ open, onOpenChange, contact, onSaved }: Props) {
  const [email, setEmail] = React.useState('');
  const [first, setFirst] = React.useState('');
  const [last, setLast] = React.useState('');
  const [tags, setTags] = React.useState<string[]>([]);
  const [tagDraft, setTagDraft] = React.useState('');
  const [subscribed, setSubscribed] = React.useState(true);
  const [fields, setFields] = React.useState<Row[]>([]);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [formError, setFormError] = React.useState<string | null>(null);
  const [saving, setSaving] = React.useState(false);

  React.useEffect(() => {
    if (!open) return;
    setEmail(contact?.email ?? '');
    setFirst(contact?.first_name ?? '');
    setLast(contact?.last_name ?? '');
    setTags(contact?.tags ?? []);
    setTagDraft('');
    setSubscribed(contact?.is_subscribed ?? true);
    setFields(fieldsOf(contact));
    setErrors({});
    setFormError(null);
  }, [open, contact]);

  const addTag = (raw: string) => {
    const parts = raw.split(/[,;]/).map((t) => t.trim()).filter(Boolean);
    if (parts.length) setTags((old) => [...old, ...parts.filter((p) => !old.includes(p))]);
    setTagDraft('');
  };

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const pending = tagDraft.trim() ? [...tags, ...tagDraft.split(/[,;]/).map((t) => t.trim()).filter((t) => t && !tags.includes(t))] : tags;
    const custom: Record<string, string> = {};
    for (const r of fields) if (r.key.trim()) custom[r.key.trim()] = r.value;
    const body: ContactInput = {
      email: email.trim(),
      first_name: first.trim() || null,
      last_name: last.trim() || null,
      tags: pending,
      custom_fields: custom,
      is_subscribed: subscribed,
    };
    setSaving(true);
    setErrors({});
    setFormError(null);
    const r = contact ? await api.contacts.update(contact.id, body) : await api.contacts.create(body);
    setSaving(false);
    if (r.error) {
      const { field, msg } = errorField(r.error, ['email', 'first_name', 'last_name', 'tags', 'custom_fields', 'is_subscribed']);
      if (field) setErrors({ [field]: msg });
      else setFormError(msg);
      return;
    }
    toast.success(contact ? 'Contact saved' : 'Contact added', { description: r.data.email });
    onSaved(r.data);
    onOpenChange(false);
  }

  return (
    <Sheet open={open} onOpenChange={onOpenChange}>
      <SheetContent side="right" data-testid="contact-sheet" aria-describedby="contact-sheet-desc">
        <form onSubmit={submit} className="flex h-full flex-col" noValidate>
          <div className="border-b px-6 py-5">
            <SheetTitle className="text-lg font-semibold">{contact ? 'Edit contact' : 'Add a contact'}</SheetTitle>
            <SheetDescription id="contact-sheet-desc" className="mt-1 text-sm text-muted-foreground">
              {contact ? contact.email : 'They will receive your campaigns while subscribed.'}
            </SheetDescription>
          </div>
          <div className="flex-1 space-y-5 overflow-y-auto px-6 py-5">
            {formError && <FormAlert>{formError}</FormAlert>}
            <Field label="Email" name="email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} required />
            <div className="grid grid-cols-2 gap-3">
              <Field label="First name" name="first_name" value={first} onChange={(e) => setFirst(e.target.value)} error={errors.first_name} />
              <Field label="Last name" name="last_name" value={last} onChange={(e) => setLast(e.target.value)} error={errors.last_name} />
            </div>
            <div className="space-y-2">
              <Label htmlFor="field-tags">Tags</Label>
              <div className="flex min-h-10 flex-wrap items-center gap-1.5 rounded-md border border-input bg-card px-2 py-1.5 shadow-sm focus-within:border-primary focus-within:ring-2 focus-within:ring-ring/40" aria-invalid={errors.tags ? true : undefined}>
                {tags.map((t) => (
                  <span key={t} className="inline-flex items-center gap-1 rounded-full bg-secondary px-2 py-0.5 text-xs font-medium">
                    {t}
                    <button type="button" aria-label={`Remove tag ${t}`} onClick={() => setTags(tags.filter((x) => x !== t))} className="rounded-full text-muted-foreground hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
                      <X className="size-3" />
                    </button>
                  </span>
                ))}
                <input
                  id="field-tags"
                  value={tagDraft}
                  onChange={(e) => setTagDraft(e.target.value)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter' || e.key === ',') {
                      e.preventDefault();
                      addTag(tagDraft);
                    } else if (e.key === 'Backspace' && !tagDraft && tags.length) setTags(tags.slice(0, -1));
                  }}
                  onBlur={() => tagDraft && addTag(tagDraft)}
                  placeholder={tags.length ? '' : 'vip, newsletter…'}
                  className="min-w-[6rem] flex-1 bg-transparent px-1 text-sm outline-none placeholder:text-muted-foreground/70"
                />
              </div>
              {errors.tags ? <p data-testid="error-tags" role="alert" className="text-[13px] text-destructive">{errors.tags}</p> : <p className="text-[13px] text-muted-foreground">Enter or comma adds a tag.</p>}
            </div>
            <div className="space-y-2">
              <div className="flex items-center justify-between">
                <Label>Custom fields</Label>
                <Button type="button" variant="ghost" size="sm" onClick={() => setFields([...fields, { key: '', value: '' }])} data-testid="add-field">
                  <Plus /> Add field
                </Button>
              </div>
              {fields.length === 0 && <p className="text-[13px] text-muted-foreground">None yet: company, plan, city… usable in templates as {'{{custom.KEY}}'}.</p>}
              {fields.map((r, i) => (
                <div key={i} className="flex gap-2">
                  <Input aria-label="Field name" placeholder="name" value={r.key} className="h-9" onChange={(e) => setFields(fields.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)))} />
                  <Input aria-label={`Value of ${r.key || 'field'}`} placeholder="value" value={r.value} className="h-9" onChange={(e) => setFields(fields.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
                  <Button type="button" variant="ghost" size="icon" aria-label="Remove field" onClick={() => setFields(fields.filter((_, j) => j !== i))}>
                    <X />
                  </Button>
                </div>
              ))}
              {errors.custom_fields && <p data-testid="error-custom_fields" role="alert" className="text-[13px] text-destructive">{errors.custom_fields}</p>}
            </div>
            <label className="flex items-start gap-3 rounded-md border p-3">
              <Checkbox checked={subscribed} onChange={(e) => setSubscribed(e.target.checked)} className="mt-0.5" data-testid="field-subscribed" />
              <span>
                <span className="block text-sm font-medium">Subscribed</span>
                <span className="block text-[13px] text-muted-foreground">Unticking records an unsubscribe; campaigns skip them.</span>
              </span>
            </label>
          </div>
          <div className="flex justify-end gap-2 border-t px-6 py-4">
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>
              Cancel
            </Button>
            <Button type="submit" loading={saving} data-testid="contact-save">
              {contact ? 'Save changes' : 'Add contact'}
            </Button>
          </div>
        </form>
      </SheetContent>
    </Sheet>
  );
}
