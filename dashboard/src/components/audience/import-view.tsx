'use client';
// CSV import: choose a file, map its columns (with the first rows shown), then
// upload with a progress bar for the upload and one for the processing, and
// the result with its per-row error report as a CSV download.
import * as React from 'react';
import Link from 'next/link';
import { AlertTriangle, CheckCircle2, Download, FileSpreadsheet, RotateCcw, Upload, Users } from 'lucide-react';
import { api, saveBlob, type ImportResult, type UploadProgress } from '@/lib/api';
import { headerEnd, parseCsv, toCsv } from '@/lib/csv';
import { cn, formatInt } from '@/lib/utils';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Select } from '@/components/ui/select';
import { toast } from '@/components/ui/toaster';
import { FormAlert } from '@/components/auth/form-bits';
import { PageHeader } from '@/components/shell/page-header';
import { AudienceTabs } from './tabs';

const TARGETS = [
  { value: 'email', label: 'Email' },
  { value: 'first_name', label: 'First name' },
  { value: 'last_name', label: 'Last name' },
  { value: 'tags', label: 'Tags' },
  { value: 'is_subscribed', label: 'Subscribed' },
] as const;
const CONTACT_FIELDS = new Set(['id', 'user_id', 'email', 'first_name', 'last_name', 'tags', 'custom_fields', 'is_subscribed', 'subscribed_at', 'unsubscribed_at', 'bounced_at', 'created_at', 'updated_at']);
const SKIP = '__skip';
const CUSTOM = '__custom';
const PREVIEW_BYTES = 256 * 1024;
const REPORT_MAX_BYTES = 32 * 1024 * 1024; // the error report quotes the rows of files up to this size

function guess(header: string): string {
  const h = header.trim().toLowerCase().replace(/[\s_-]+/g, '');
  if (['email', 'emailaddress', 'mail', 'e-mail'].includes(h) || h === 'email') return 'email';
  if (['firstname', 'first', 'givenname', 'forename'].includes(h)) return 'first_name';
  if (['lastname', 'last', 'surname', 'familyname'].includes(h)) return 'last_name';
  if (['tags', 'tag', 'labels'].includes(h)) return 'tags';
  if (['issubscribed', 'subscribed', 'optin', 'consent'].includes(h)) return 'is_subscribed';
  if (CONTACT_FIELDS.has(header.trim().toLowerCase())) return SKIP; // created_at and the like: the API ignores them
  return CUSTOM;
}

type Parsed = { file: File; header: string[]; rows: string[][]; headerBytes: number; eol: string };
type Phase = { step: 'choose' } | { step: 'map'; parsed: Parsed } | { step: 'upload'; parsed: Parsed; progress: UploadProgress } | { step: 'done'; parsed: Parsed; result: ImportResult };

function formatBytes(n: number) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function readHead(file: File): Promise<Parsed | string> {
  const buf = await file.slice(0, PREVIEW_BYTES).arrayBuffer();
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
  const end = headerEnd(text);
  if (end < 0 && file.size > PREVIEW_BYTES) return 'The first line of this file is too long to be a header row.';
  const rows = parseCsv(text, 7);
  if (!rows.length) return 'This file is empty.';
  const header = rows[0].map((h, i) => (i === 0 ? h.replace(/^\uFEFF/, '') : h));
  const headerText = end < 0 ? text : text.slice(0, end);
  const eol = /\r\n$/.test(headerText) ? '\r\n' : '\n';
  // The rows shown: a last record cut by the slice is left out.
  const shown = rows.slice(1, file.size > PREVIEW_BYTES ? 6 : 7).slice(0, 5);
  return { file, header, rows: shown, headerBytes: new TextEncoder().encode(headerText).length, eol };
}

export function ImportView() {
  const [phase, setPhase] = React.useState<Phase>({ step: 'choose' });
  const [error, setError] = React.useState<string | null>(null);
  const [mapping, setMapping] = React.useState<string[]>([]);
  const [drag, setDrag] = React.useState(false);
  const inputRef = React.useRef<HTMLInputElement>(null);

  async function choose(file: File | undefined) {
    setError(null);
    if (!file) return;
    if (file.size > 100 * 1024 * 1024) return setError('The file is larger than 100 MB, the import’s limit. Split it into parts.');
    const p = await readHead(file);
    if (typeof p === 'string') return setError(p);
    setMapping(p.header.map(guess));
    setPhase({ step: 'map', parsed: p });
  }

  const used = new Set(mapping.filter((m) => m !== SKIP && m !== CUSTOM));
  const hasEmail = mapping.includes('email');

  async function start(parsed: Parsed) {
    setError(null);
    // The API maps columns by their header names: a mapped column gets the
    // field's name, a skipped one an empty name (ignored), a custom field
    // keeps its own. Only the header line is rewritten; the rows go as they are.
    const names = parsed.header.map((h, i) => {
      const m = mapping[i];
      if (m === SKIP) return '';
      if (m === CUSTOM) return CONTACT_FIELDS.has(h.trim().toLowerCase()) || TARGETS.some((t) => t.value === h.trim().toLowerCase()) ? '' : h;
      return m;
    });
    const same = names.every((n, i) => n === parsed.header[i]);
    const body = same ? parsed.file : new Blob([toCsv([names]).replace(/\r\n$/, parsed.eol), parsed.file.slice(parsed.headerBytes)], { type: 'text/csv' });
    setPhase({ step: 'upload', parsed, progress: { loaded: 0, total: body.size, phase: 'upload' } });
    const r = await api.contacts.import(body, parsed.file.name || 'contacts.csv', (progress) => setPhase({ step: 'upload', parsed, progress }));
    if (r.error) {
      setPhase({ step: 'map', parsed });
      setError(r.error.detail);
      return;
    }
    setPhase({ step: 'done', parsed, result: r.data });
    toast.success(`Imported ${formatInt(r.data.imported)} contacts`, { description: r.data.failed ? `${formatInt(r.data.failed)} ${r.data.failed === 1 ? 'row has' : 'rows have'} errors` : undefined });
  }

  async function downloadReport(parsed: Parsed, result: ImportResult) {
    let records: string[][] | null = null;
    if (parsed.file.size <= REPORT_MAX_BYTES) {
      const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(await parsed.file.arrayBuffer());
      records = parseCsv(text).slice(1);
    }
    const rows: string[][] = [['row', 'error', ...parsed.header]];
    for (const e of result.errors) rows.push([String(e.row), e.detail, ...(records?.[e.row - 1] ?? [])]);
    saveBlob(new Blob([toCsv(rows)], { type: 'text/csv' }), `${(parsed.file.name || 'import').replace(/\.csv$/i, '')}-errors.csv`);
  }

  return (
    <>
      <PageHeader
        title="Import contacts"
        description="Bring your audience from a CSV file: one row per contact, a header row first."
        actions={
          <Button
            variant="outline"
            onClick={async () => {
              const e = await api.contacts.exportAll();
              if (e) toast.error('Export failed', { description: e.detail });
            }}
          >
            <Download /> Export CSV
          </Button>
        }
      />
      <AudienceTabs />
      <ol className="mb-6 flex items-center gap-2 text-sm" aria-label="Steps">
        {['Choose a file', 'Map columns', 'Import'].map((s, i) => {
          const current = phase.step === 'choose' ? 0 : phase.step === 'map' ? 1 : phase.step === 'upload' ? 2 : 3;
          return (
            <li key={s} className="flex items-center gap-2" aria-current={i === current ? 'step' : undefined}>
              <span className={cn('inline-flex size-6 items-center justify-center rounded-full text-xs font-semibold', i < current ? 'bg-primary text-primary-foreground' : i === current ? 'bg-primary/15 text-primary ring-1 ring-primary' : 'bg-muted text-muted-foreground')}>
                {i + 1}
              </span>
              <span className={cn(i === current ? 'font-medium' : 'text-muted-foreground', 'hidden sm:inline')}>{s}</span>
              {i < 2 && <span className="mx-1 h-px w-6 bg-border sm:w-10" aria-hidden />}
            </li>
          );
        })}
      </ol>
      {error && (
        <div className="mb-4" data-testid="import-error">
          <FormAlert>{error}</FormAlert>
        </div>
      )}

      {phase.step === 'choose' && (
        <Card>
          <CardContent className="p-5">
            <label
              htmlFor="import-file"
              onDragOver={(e) => {
                e.preventDefault();
                setDrag(true);
              }}
              onDragLeave={() => setDrag(false)}
              onDrop={(e) => {
                e.preventDefault();
                setDrag(false);
                choose(e.dataTransfer.files?.[0]);
              }}
              className={cn(
                'flex cursor-pointer flex-col items-center rounded-lg border-2 border-dashed px-6 py-14 text-center transition-colors focus-within:border-primary focus-within:ring-2 focus-within:ring-ring/40',
                drag ? 'border-primary bg-primary/5' : 'hover:bg-muted/40',
              )}
            >
              <span className="inline-flex size-12 items-center justify-center rounded-full bg-primary/10 text-primary">
                <FileSpreadsheet className="size-5" />
              </span>
              <span className="mt-4 text-base font-semibold">Drop a CSV file here, or choose one</span>
              <span className="mt-1.5 max-w-md text-sm text-muted-foreground">
                Up to 100 MB. Columns: email (required), first_name, last_name, tags, is_subscribed; any other column becomes a custom field.
              </span>
              <span className="mt-5 inline-flex h-9 items-center gap-2 rounded-md bg-primary px-4 text-sm font-medium text-primary-foreground shadow-sm">
                <Upload className="size-4" /> Choose file
              </span>
              <input
                ref={inputRef}
                id="import-file"
                type="file"
                accept=".csv,text/csv"
                className="sr-only"
                data-testid="import-file"
                onChange={(e) => {
                  choose(e.target.files?.[0]);
                  e.target.value = '';
                }}
              />
            </label>
          </CardContent>
        </Card>
      )}

      {phase.step === 'map' && (
        <Card data-testid="import-mapping">
          <CardHeader>
            <CardTitle>Map your columns</CardTitle>
            <CardDescription>
              {phase.parsed.file.name} · {formatBytes(phase.parsed.file.size)} · the first {phase.parsed.rows.length} rows shown. Tags are separated by “;”, subscribed is true or false; any other column can be a custom field under its own name.
            </CardDescription>
          </CardHeader>
          <CardContent className="space-y-4">
            <div className="overflow-x-auto rounded-md border">
              <table className="w-full text-sm" data-testid="import-preview">
                <thead className="bg-muted/40">
                  <tr>
                    {phase.parsed.header.map((h, i) => (
                      <th key={i} className="min-w-[11rem] border-b px-3 py-2.5 text-left align-top font-medium">
                        <span className="mb-2 block truncate text-xs uppercase tracking-wide text-muted-foreground" title={h}>
                          {h || `Column ${i + 1}`}
                        </span>
                        <Select
                          aria-label={`Map column ${h || i + 1}`}
                          value={mapping[i]}
                          onChange={(e) => setMapping(mapping.map((m, j) => (j === i ? e.target.value : m)))}
                          data-testid={`map-${i}`}
                        >
                          {TARGETS.map((t) => (
                            <option key={t.value} value={t.value} disabled={used.has(t.value) && mapping[i] !== t.value}>
                              {t.label}
                            </option>
                          ))}
                          <option value={CUSTOM}>Custom field</option>
                          <option value={SKIP}>Don’t import</option>
                        </Select>
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody className="divide-y">
                  {phase.parsed.rows.map((r, ri) => (
                    <tr key={ri}>
                      {phase.parsed.header.map((_, ci) => (
                        <td key={ci} className={cn('max-w-[14rem] truncate px-3 py-2', mapping[ci] === SKIP && 'text-muted-foreground/50 line-through')}>
                          {r[ci] ?? ''}
                        </td>
                      ))}
                    </tr>
                  ))}
                  {!phase.parsed.rows.length && (
                    <tr>
                      <td colSpan={phase.parsed.header.length} className="px-3 py-6 text-center text-muted-foreground">
                        Only a header row: nothing to import.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </div>
            {!hasEmail && (
              <p role="alert" className="flex items-center gap-1.5 text-[13px] text-destructive" data-testid="map-no-email">
                <AlertTriangle className="size-3.5" /> Map one column to Email: every contact needs an address.
              </p>
            )}
            <div className="flex flex-wrap justify-end gap-2">
              <Button variant="outline" onClick={() => setPhase({ step: 'choose' })}>
                Choose another file
              </Button>
              <Button disabled={!hasEmail} onClick={() => start(phase.parsed)} data-testid="import-start">
                <Upload /> Import contacts
              </Button>
            </div>
          </CardContent>
        </Card>
      )}

      {phase.step === 'upload' && (
        <Card data-testid="import-progress">
          <CardHeader>
            <CardTitle>{phase.progress.phase === 'upload' ? 'Uploading…' : 'Processing…'}</CardTitle>
            <CardDescription>{phase.parsed.file.name} · keep this page open until it is done.</CardDescription>
          </CardHeader>
          <CardContent className="space-y-5">
            <ProgressBar
              label="Upload"
              value={phase.progress.phase === 'upload' ? phase.progress.loaded / Math.max(1, phase.progress.total) : 1}
              note={`${formatBytes(phase.progress.phase === 'upload' ? phase.progress.loaded : phase.progress.total)} of ${formatBytes(phase.progress.total)}`}
            />
            <ProgressBar label="Processing" value={phase.progress.phase === 'processing' ? null : 0} note={phase.progress.phase === 'processing' ? 'Checking, de-duplicating and saving the rows' : 'Waiting for the upload'} />
          </CardContent>
        </Card>
      )}

      {phase.step === 'done' && (
        <div className="space-y-6" data-testid="import-result">
          <Card>
            <CardContent className="flex flex-col gap-5 p-5 sm:flex-row sm:items-center">
              <span className={cn('inline-flex size-12 shrink-0 items-center justify-center rounded-full', phase.result.failed ? 'bg-brand2/20 text-[oklch(0.5_0.13_55)]' : 'bg-success/15 text-success')}>
                {phase.result.failed ? <AlertTriangle className="size-5" /> : <CheckCircle2 className="size-5" />}
              </span>
              <div className="flex-1">
                <h2 className="text-lg font-semibold">Import finished</h2>
                <p className="text-sm text-muted-foreground">{phase.parsed.file.name}: {formatInt(phase.result.total)} rows read.</p>
              </div>
              <div className="grid grid-cols-3 gap-6 text-center">
                {(
                  [
                    ['imported', 'Imported', 'text-success'],
                    ['skipped', 'Skipped', 'text-muted-foreground'],
                    ['failed', 'Failed', 'text-destructive'],
                  ] as const
                ).map(([k, label, tone]) => (
                  <div key={k}>
                    <p className={cn('text-2xl font-semibold tabular-nums', tone)} data-testid={`import-${k}`}>
                      {formatInt(phase.result[k])}
                    </p>
                    <p className="text-xs text-muted-foreground">{label}</p>
                  </div>
                ))}
              </div>
            </CardContent>
          </Card>
          {phase.result.skipped > 0 && (
            <p className="text-sm text-muted-foreground">Skipped rows are addresses already in your audience, repeated in the file, suppressed, or over your plan’s limit.</p>
          )}
          {phase.result.errors.length > 0 && (
            <Card>
              <CardHeader className="flex-row items-center justify-between space-y-0">
                <div>
                  <CardTitle>Rows with errors</CardTitle>
                  <CardDescription>
                    These rows were not imported{phase.result.failed > phase.result.errors.length ? ` (the first ${phase.result.errors.length} of ${formatInt(phase.result.failed)} shown)` : ''}.
                  </CardDescription>
                </div>
                <Button variant="outline" onClick={() => downloadReport(phase.parsed, phase.result)} data-testid="import-report">
                  <Download /> Error report
                </Button>
              </CardHeader>
              <CardContent>
                <div className="overflow-x-auto rounded-md border">
                  <table className="w-full text-sm" data-testid="import-errors">
                    <thead className="bg-muted/40 text-left text-xs uppercase tracking-wide text-muted-foreground">
                      <tr>
                        <th className="w-20 px-3 py-2 font-medium">Row</th>
                        <th className="px-3 py-2 font-medium">Problem</th>
                      </tr>
                    </thead>
                    <tbody className="divide-y">
                      {phase.result.errors.map((e) => (
                        <tr key={e.row} data-testid="import-error-row">
                          <td className="px-3 py-2 tabular-nums">{e.row}</td>
                          <td className="px-3 py-2">{e.detail}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </CardContent>
            </Card>
          )}
          <div className="flex flex-wrap gap-2">
            <Button asChild>
              <Link href="/contacts">
                <Users /> See contacts
              </Link>
            </Button>
            <Button variant="outline" onClick={() => setPhase({ step: 'choose' })}>
              <RotateCcw /> Import another file
            </Button>
          </div>
        </div>
      )}
    </>
  );
}

function ProgressBar({ label, value, note }: { label: string; value: number | null; note: string }) {
  const pct = value === null ? null : Math.round(value * 100);
  return (
    <div className="space-y-1.5">
      <div className="flex justify-between text-sm">
        <span className="font-medium">{label}</span>
        <span className="tabular-nums text-muted-foreground">{pct === null ? '' : `${pct}%`}</span>
      </div>
      <div
        className="relative h-2 overflow-hidden rounded-full bg-muted"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct ?? undefined}
      >
        {pct === null ? (
          <div className="absolute inset-y-0 w-1/3 animate-[indeterminate_1.2s_ease-in-out_infinite] rounded-full bg-primary" />
        ) : (
          <div className="h-full rounded-full bg-primary transition-[width] duration-200" style={{ width: `${pct}%` }} />
        )}
      </div>
      <p className="text-xs text-muted-foreground">{note}</p>
    </div>
  );
}
