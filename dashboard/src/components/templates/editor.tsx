'use client';
// The template editor: name, category, subject, HTML and text; the variables
// a template may use, insertable at the cursor; a live preview rendered by the
// API (POST /templates/preview) for sample data or a chosen contact, in a
// sandboxed frame at desktop or phone width; errors at their line and column.
import * as React from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { AlertCircle, ArrowLeft, Copy, Lock, Monitor, Smartphone, Trash2 } from 'lucide-react';
import { api, type Contact, type Template } from '@/lib/api';
import { cn } from '@/lib/utils';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';
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
import { EmptyState } from '@/components/audience/tabs';
import { errorField } from '@/components/audience/contact-sheet';
import { CATEGORIES, VARIABLES, offsetOf, parseTemplateError, type TemplateError } from './shared';

const STARTER = `<!doctype html>
<html>
  <body style="margin:0;background:#f4f4f5;font-family:Helvetica,Arial,sans-serif">
    <table role="presentation" width="100%" cellpadding="0" cellspacing="0">
      <tr><td align="center" style="padding:32px 16px">
        <table role="presentation" width="100%" style="max-width:560px;background:#ffffff;border-radius:12px">
          <tr><td style="padding:32px">
            <h1 style="margin:0 0 16px;font-size:24px;color:#18181b">Hi {{first_name|there}},</h1>
            <p style="margin:0 0 16px;font-size:16px;line-height:1.6;color:#3f3f46">Write your message here.</p>
          </td></tr>
        </table>
        <p style="font-size:12px;color:#71717a">{{postal_address}} · <a href="{{unsubscribe_url}}" style="color:#71717a">Unsubscribe</a></p>
      </td></tr>
    </table>
  </body>
</html>
`;

type Part = 'subject' | 'html_content' | 'text_content';
type Preview = { loading: boolean; subject: string; html: string; text: string; error: TemplateError | null };

/** A code area with line numbers, the error's line marked. */
const CodeArea = React.forwardRef<
  HTMLTextAreaElement,
  { id: string; value: string; onChange: (v: string) => void; readOnly: boolean; errorLine: number | null; onFocus: () => void; rows: number; describedBy?: string; placeholder?: string }
>(({ id, value, onChange, readOnly, errorLine, onFocus, rows, describedBy, placeholder }, ref) => {
  const gutter = React.useRef<HTMLDivElement>(null);
  const lines = value.split('\n').length;
  return (
    <div className={cn('flex overflow-hidden rounded-md border bg-card font-mono text-[12.5px] leading-5 shadow-sm focus-within:border-primary focus-within:ring-2 focus-within:ring-ring/40', errorLine !== null && 'border-destructive')}>
      <div ref={gutter} aria-hidden className="select-none overflow-hidden border-r bg-muted/40 py-2 text-right text-muted-foreground/70" style={{ height: rows * 20 + 16 }}>
        {Array.from({ length: Math.max(lines, rows) }, (_, i) => (
          <div key={i} className={cn('px-2', errorLine === i + 1 && 'bg-destructive/15 font-semibold text-destructive')}>
            {i < lines ? i + 1 : ''}
          </div>
        ))}
      </div>
      <textarea
        ref={ref}
        id={id}
        value={value}
        readOnly={readOnly}
        spellCheck={false}
        placeholder={placeholder}
        aria-invalid={errorLine !== null ? true : undefined}
        aria-describedby={describedBy}
        onFocus={onFocus}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
        }}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={(e) => {
          // Tab indents; Escape then Tab leaves the field (keyboard users are not trapped).
          if (e.key === 'Tab' && !e.shiftKey && !readOnly && !(e.currentTarget.dataset.escaped === '1')) {
            e.preventDefault();
            const t = e.currentTarget;
            const s = t.selectionStart;
            const v = t.value.slice(0, s) + '  ' + t.value.slice(t.selectionEnd);
            onChange(v);
            requestAnimationFrame(() => t.setSelectionRange(s + 2, s + 2));
          }
          e.currentTarget.dataset.escaped = e.key === 'Escape' ? '1' : '0';
        }}
        className="flex-1 resize-none whitespace-pre bg-transparent px-3 py-2 outline-none"
        style={{ height: rows * 20 + 16 }}
      />
    </div>
  );
});
CodeArea.displayName = 'CodeArea';

function ErrorAt({ id, e, onGo }: { id: string; e: TemplateError; onGo?: () => void }) {
  return (
    <p id={id} role="alert" data-testid="template-error" className="flex flex-wrap items-center gap-1.5 text-[13px] text-destructive">
      <AlertCircle className="size-3.5 shrink-0" aria-hidden />
      {e.line !== null ? (
        <>
          <span className="font-medium" data-testid="template-error-position">
            Line {e.line}, column {e.column}:
          </span>
          {e.message}
          {onGo && (
            <button type="button" onClick={onGo} className="ml-1 font-medium underline underline-offset-2 hover:no-underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring">
              Go to the error
            </button>
          )}
        </>
      ) : (
        e.message
      )}
    </p>
  );
}

export function TemplateEditor() {
  const params = useSearchParams();
  const router = useRouter();
  const id = params.get('id');
  const [tpl, setTpl] = React.useState<Template | null>(null);
  const [missing, setMissing] = React.useState<string | null>(null);
  const [name, setName] = React.useState('');
  const [category, setCategory] = React.useState('newsletter');
  const [subject, setSubject] = React.useState('');
  const [html, setHtml] = React.useState('');
  const [text, setText] = React.useState('');
  const [loaded, setLoaded] = React.useState(!id);
  const [width, setWidth] = React.useState<'desktop' | 'phone'>('desktop');
  const [view, setView] = React.useState<'html' | 'text'>('html');
  const [contactId, setContactId] = React.useState('');
  const [contacts, setContacts] = React.useState<Contact[]>([]);
  const [preview, setPreview] = React.useState<Preview>({ loading: false, subject: '', html: '', text: '', error: null });
  const [saveError, setSaveError] = React.useState<TemplateError | null>(null);
  const [fieldErrors, setFieldErrors] = React.useState<Record<string, string>>({});
  const [formError, setFormError] = React.useState<string | null>(null);
  const [saving, setSaving] = React.useState(false);
  const [deleting, setDeleting] = React.useState(false);
  const [confirmDelete, setConfirmDelete] = React.useState(false);
  const [customKey, setCustomKey] = React.useState('');
  const lastFocus = React.useRef<Part>('html_content');
  const refs = {
    subject: React.useRef<HTMLInputElement>(null),
    html_content: React.useRef<HTMLTextAreaElement>(null),
    text_content: React.useRef<HTMLTextAreaElement>(null),
  };
  const readOnly = !!tpl?.is_system;

  React.useEffect(() => {
    if (!id) {
      setName('');
      setSubject('Hello {{first_name|there}}');
      setHtml(STARTER);
      setText('');
      setLoaded(true);
      return;
    }
    api.templates.get(id).then((r) => {
      if (r.error) return setMissing(r.error.status === 404 ? 'This template does not exist.' : r.error.detail);
      setTpl(r.data);
      setName(r.data.name);
      setCategory(r.data.category);
      setSubject(r.data.subject);
      setHtml(r.data.html_content ?? '');
      setText(r.data.text_content ?? '');
      setLoaded(true);
    });
  }, [id]);

  React.useEffect(() => {
    api.contacts.list({}, 1, 20).then((r) => r.data && setContacts(r.data.items));
  }, []);

  // The live preview, a moment after the last keystroke; a newer one cancels the older.
  React.useEffect(() => {
    if (!loaded || !html.trim() || !subject.trim()) return;
    const ctl = new AbortController();
    setPreview((p) => ({ ...p, loading: true }));
    const t = setTimeout(async () => {
      const r = await api.templates.preview({ subject, html_content: html, text_content: text.trim() ? text : null, contact_id: contactId || undefined }, ctl.signal);
      if (ctl.signal.aborted) return;
      if (r.error) {
        const e = r.error.status === 422 && typeof r.error.detail === 'string' && !Object.keys(r.error.fields).length ? parseTemplateError(r.error.detail) : { field: 'form', line: null, column: null, message: r.error.detail, raw: r.error.detail };
        setPreview((p) => ({ ...p, loading: false, error: e }));
      } else setPreview({ loading: false, subject: r.data.subject, html: r.data.html, text: r.data.text, error: null });
    }, 400);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [loaded, subject, html, text, contactId]);

  // A save's error stays until the content changes; the live preview's is the current one.
  React.useEffect(() => setSaveError(null), [subject, html, text]);
  const tplError = saveError ?? preview.error;
  const errorFor = (f: Part) => (tplError && tplError.field === f ? tplError : null);

  function insert(token: string) {
    if (readOnly) return;
    const part = lastFocus.current;
    const el = refs[part].current;
    const [value, set] = part === 'subject' ? [subject, setSubject] : part === 'html_content' ? [html, setHtml] : [text, setText];
    const s = el?.selectionStart ?? value.length;
    const e = el?.selectionEnd ?? value.length;
    set(value.slice(0, s) + token + value.slice(e));
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(s + token.length, s + token.length);
    });
  }

  function goTo(e: TemplateError) {
    if (e.line === null) return;
    const part = e.field as Part;
    const el = refs[part]?.current;
    if (!el) return;
    const value = part === 'subject' ? subject : part === 'html_content' ? html : text;
    const off = offsetOf(value, e.line, e.column ?? 1);
    el.focus();
    el.setSelectionRange(off, Math.min(value.length, off + 1));
    if (el instanceof HTMLTextAreaElement) el.scrollTop = Math.max(0, (e.line - 4) * 20);
  }

  async function save(ev: React.FormEvent) {
    ev.preventDefault();
    setSaving(true);
    setFieldErrors({});
    setFormError(null);
    setSaveError(null);
    const body = { name: name.trim(), subject, html_content: html, text_content: text.trim() ? text : null, category };
    const r = tpl ? await api.templates.update(tpl.id, body) : await api.templates.create(body);
    setSaving(false);
    if (r.error) {
      if (r.error.status === 422 && /^Template error/.test(r.error.detail)) {
        const e = parseTemplateError(r.error.detail);
        setSaveError(e);
        goTo(e);
      } else {
        const { field, msg } = errorField(r.error, ['name', 'subject', 'html_content', 'text_content', 'category']);
        if (field) setFieldErrors({ [field]: msg });
        else setFormError(msg);
      }
      return;
    }
    toast.success(tpl ? 'Template saved' : 'Template created', { description: r.data.name });
    setTpl(r.data);
    if (!tpl) router.replace(`/templates/edit?id=${r.data.id}`);
  }

  async function duplicate() {
    if (!tpl) return;
    setSaving(true);
    const r = await api.templates.create({ name: `${tpl.name} (copy)`.slice(0, 255), subject, html_content: html, text_content: text || null, category });
    setSaving(false);
    if (r.error) return toast.error('Could not duplicate', { description: r.error.detail });
    toast.success('Template duplicated', { description: 'Your copy is ready to edit.' });
    router.push(`/templates/edit?id=${r.data.id}`);
  }

  if (missing)
    return (
      <Card>
        <EmptyState icon={AlertCircle} title="Template not found" testid="template-missing" actions={<Button asChild variant="outline"><Link href="/templates"><ArrowLeft /> All templates</Link></Button>}>
          {missing}
        </EmptyState>
      </Card>
    );

  const htmlErr = errorFor('html_content');
  const textErr = errorFor('text_content');
  const subjectErr = errorFor('subject');
  return (
    <form onSubmit={save} noValidate>
      <div className="mb-6 flex flex-col gap-4 sm:flex-row sm:items-center sm:justify-between">
        <div className="flex min-w-0 items-center gap-3">
          <Button asChild variant="ghost" size="icon" aria-label="Back to templates">
            <Link href="/templates">
              <ArrowLeft />
            </Link>
          </Button>
          <h1 className="truncate text-2xl font-semibold tracking-tight" data-testid="template-title">
            {!loaded ? <Skeleton className="h-7 w-56" /> : tpl ? tpl.name : 'New template'}
          </h1>
          {readOnly && (
            <Badge variant="outline">
              <Lock className="size-3" /> System
            </Badge>
          )}
        </div>
        <div className="flex flex-wrap gap-2">
          {readOnly ? (
            <Button type="button" onClick={duplicate} loading={saving} data-testid="template-duplicate">
              <Copy /> Duplicate to edit
            </Button>
          ) : (
            <>
              {tpl && (
                <Button type="button" variant="outline" className="text-destructive hover:text-destructive" onClick={() => setConfirmDelete(true)} data-testid="template-delete">
                  <Trash2 /> Delete
                </Button>
              )}
              <Button type="submit" loading={saving} disabled={!loaded} data-testid="template-save">
                {tpl ? 'Save template' : 'Create template'}
              </Button>
            </>
          )}
        </div>
      </div>
      {formError && (
        <div className="mb-4">
          <FormAlert>{formError}</FormAlert>
        </div>
      )}
      <div className="grid gap-6 xl:grid-cols-2">
        <div className="min-w-0 space-y-5">
          <Card>
            <CardContent className="grid gap-4 p-5 sm:grid-cols-[1fr_12rem]">
              <Field label="Name" name="name" value={name} readOnly={readOnly} onChange={(e) => setName(e.target.value)} error={fieldErrors.name} placeholder="e.g. Spring newsletter" />
              <div className="space-y-2">
                <Label htmlFor="field-category">Category</Label>
                <Select id="field-category" value={category} disabled={readOnly} onChange={(e) => setCategory(e.target.value)} className="[&_select]:h-10">
                  {CATEGORIES.map((c) => (
                    <option key={c.value} value={c.value}>
                      {c.label}
                    </option>
                  ))}
                </Select>
              </div>
              <div className="space-y-2 sm:col-span-2">
                <Label htmlFor="field-subject">Subject</Label>
                <Input
                  ref={refs.subject}
                  id="field-subject"
                  value={subject}
                  readOnly={readOnly}
                  onFocus={() => (lastFocus.current = 'subject')}
                  onChange={(e) => setSubject(e.target.value)}
                  aria-invalid={subjectErr || fieldErrors.subject ? true : undefined}
                  aria-describedby={subjectErr || fieldErrors.subject ? 'subject-error' : undefined}
                />
                {subjectErr && <ErrorAt id="subject-error" e={subjectErr} onGo={() => goTo(subjectErr)} />}
                {!subjectErr && fieldErrors.subject && <p id="subject-error" role="alert" className="text-[13px] text-destructive">{fieldErrors.subject}</p>}
              </div>
            </CardContent>
          </Card>
          <Card>
            <CardHeader className="pb-3">
              <CardTitle>Variables</CardTitle>
              <p className="text-sm text-muted-foreground">Click to insert at the cursor of the subject, HTML or text. Values are escaped in HTML.</p>
            </CardHeader>
            <CardContent className="flex flex-wrap items-center gap-1.5" data-testid="variables">
              {VARIABLES.map((v) => (
                <button
                  key={v.token}
                  type="button"
                  disabled={readOnly}
                  onMouseDown={(e) => e.preventDefault()}
                  onClick={() => insert(v.token)}
                  title={'note' in v ? `${v.label}: ${v.note}` : v.label}
                  className="rounded-md border bg-muted/40 px-2 py-1 font-mono text-xs transition-colors hover:border-primary hover:bg-primary/5 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring disabled:opacity-50"
                  data-testid="variable"
                >
                  {v.token}
                </button>
              ))}
              <span className="ml-1 inline-flex items-center gap-1">
                <Input aria-label="Custom field name" placeholder="custom field" value={customKey} onChange={(e) => setCustomKey(e.target.value.replace(/[^A-Za-z0-9_.-]/g, ''))} className="h-7 w-32 text-xs" disabled={readOnly} />
                <Button type="button" size="sm" variant="outline" className="h-7" disabled={readOnly || !customKey} onMouseDown={(e) => e.preventDefault()} onClick={() => insert(`{{custom.${customKey}}}`)}>
                  Insert
                </Button>
              </span>
            </CardContent>
          </Card>
          <div className="space-y-2">
            <Label htmlFor="field-html">HTML</Label>
            {loaded ? (
              <CodeArea
                ref={refs.html_content}
                id="field-html"
                value={html}
                onChange={setHtml}
                readOnly={readOnly}
                rows={18}
                errorLine={htmlErr?.line ?? null}
                onFocus={() => (lastFocus.current = 'html_content')}
                describedBy={htmlErr || fieldErrors.html_content ? 'html-error' : undefined}
              />
            ) : (
              <Skeleton className="h-[376px] w-full" />
            )}
            {htmlErr && <ErrorAt id="html-error" e={htmlErr} onGo={() => goTo(htmlErr)} />}
            {!htmlErr && fieldErrors.html_content && <p id="html-error" role="alert" className="text-[13px] text-destructive">{fieldErrors.html_content}</p>}
          </div>
          <div className="space-y-2">
            <Label htmlFor="field-text">Plain text</Label>
            <CodeArea
              ref={refs.text_content}
              id="field-text"
              value={text}
              onChange={setText}
              readOnly={readOnly}
              rows={6}
              placeholder="Optional: left empty, it is derived from the HTML."
              errorLine={textErr?.line ?? null}
              onFocus={() => (lastFocus.current = 'text_content')}
              describedBy={textErr ? 'text-error' : undefined}
            />
            {textErr && <ErrorAt id="text-error" e={textErr} onGo={() => goTo(textErr)} />}
          </div>
        </div>

        <div className="min-w-0">
          <Card className="overflow-hidden xl:sticky xl:top-20" data-testid="template-preview">
            <div className="flex flex-wrap items-center gap-2 border-b p-3">
              <div role="group" aria-label="Width" className="flex rounded-md border p-0.5">
                {(
                  [
                    ['desktop', Monitor, 'Desktop'],
                    ['phone', Smartphone, 'Phone'],
                  ] as const
                ).map(([w, Icon, label]) => (
                  <button
                    key={w}
                    type="button"
                    aria-pressed={width === w}
                    onClick={() => setWidth(w)}
                    className={cn('inline-flex h-7 items-center gap-1.5 rounded px-2.5 text-xs font-medium focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring', width === w ? 'bg-primary/10 text-primary' : 'text-muted-foreground hover:text-foreground')}
                    data-testid={`preview-${w}`}
                  >
                    <Icon className="size-3.5" /> {label}
                  </button>
                ))}
              </div>
              <div role="group" aria-label="Part" className="flex rounded-md border p-0.5">
                {(['html', 'text'] as const).map((v) => (
                  <button
                    key={v}
                    type="button"
                    aria-pressed={view === v}
                    onClick={() => setView(v)}
                    className={cn('h-7 rounded px-2.5 text-xs font-medium uppercase focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring', view === v ? 'bg-primary/10 text-primary' : 'text-muted-foreground hover:text-foreground')}
                  >
                    {v}
                  </button>
                ))}
              </div>
              <Select aria-label="Preview as" value={contactId} onChange={(e) => setContactId(e.target.value)} className="ml-auto w-full sm:w-56" data-testid="preview-contact">
                <option value="">Sample data (Alex)</option>
                {contacts.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.email}
                  </option>
                ))}
              </Select>
            </div>
            <div className="border-b px-4 py-3 text-sm">
              <span className="text-muted-foreground">Subject: </span>
              <span className="font-medium" data-testid="preview-subject">
                {preview.subject || (preview.loading ? '…' : '—')}
              </span>
            </div>
            <div className="relative bg-muted/40 p-4">
              {preview.error && (
                <div className="absolute inset-x-4 top-4 z-10 rounded-md border border-destructive/30 bg-card/95 p-3 text-sm text-destructive shadow-sm" data-testid="preview-error">
                  The preview shows the last version that rendered. {preview.error.line !== null ? `Line ${preview.error.line}, column ${preview.error.column}: ${preview.error.message}` : preview.error.message}
                </div>
              )}
              <div className={cn('mx-auto overflow-hidden rounded-md border bg-white shadow-sm transition-[width] duration-300', width === 'phone' ? 'w-[375px] max-w-full' : 'w-full')}>
                {view === 'html' ? (
                  preview.html ? (
                    <iframe
                      title="Email preview"
                      sandbox=""
                      srcDoc={preview.html}
                      className={cn('block h-[640px] w-full border-0 bg-white transition-opacity', preview.loading && 'opacity-70')}
                      data-testid="preview-frame"
                    />
                  ) : (
                    <Skeleton className="h-[640px] w-full rounded-none" />
                  )
                ) : (
                  <pre className="h-[640px] overflow-auto whitespace-pre-wrap p-4 font-mono text-xs text-zinc-800" data-testid="preview-text">
                    {preview.text}
                  </pre>
                )}
              </div>
              <p className="mt-2 text-center text-xs text-muted-foreground">Images from other sites are not loaded in the preview.</p>
            </div>
          </Card>
        </div>
      </div>
      <AlertDialog open={confirmDelete} onOpenChange={(v) => !deleting && setConfirmDelete(v)}>
        <AlertDialogContent>
          <AlertDialogHeader>
            <AlertDialogTitle>Delete “{tpl?.name}”?</AlertDialogTitle>
            <AlertDialogDescription>Campaigns already sent keep their content. A template a scheduled campaign uses cannot be deleted.</AlertDialogDescription>
          </AlertDialogHeader>
          <AlertDialogFooter>
            <AlertDialogCancel disabled={deleting}>Cancel</AlertDialogCancel>
            <Button
              type="button"
              variant="destructive"
              loading={deleting}
              onClick={async () => {
                if (!tpl) return;
                setDeleting(true);
                const r = await api.templates.remove(tpl.id);
                setDeleting(false);
                setConfirmDelete(false);
                if (r.error) return toast.error('Could not delete', { description: r.error.detail });
                toast.success('Template deleted', { description: tpl.name });
                router.push('/templates');
              }}
            >
              Delete
            </Button>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
    </form>
  );
}
