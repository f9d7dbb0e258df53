'use client';
// The rule builder of a dynamic segment: every field and operator the API
// knows (lib/services/segments.c), match all or any.
import * as React from 'react';
import { Plus, X } from 'lucide-react';
import type { RuleCondition, RuleOp, Rules } from '@/lib/api';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Select } from '@/components/ui/select';
import { cn } from '@/lib/utils';

type Kind = 'text' | 'tags' | 'bool' | 'time' | 'custom';
export const FIELDS: { value: string; label: string; kind: Kind }[] = [
  { value: 'email', label: 'Email', kind: 'text' },
  { value: 'first_name', label: 'First name', kind: 'text' },
  { value: 'last_name', label: 'Last name', kind: 'text' },
  { value: 'tags', label: 'Tags', kind: 'tags' },
  { value: 'is_subscribed', label: 'Subscribed', kind: 'bool' },
  { value: 'created_at', label: 'Date added', kind: 'time' },
  { value: 'custom_fields.', label: 'Custom field…', kind: 'custom' },
];
const OP_LABEL: Record<RuleOp, string> = {
  eq: 'is',
  neq: 'is not',
  contains: 'contains',
  not_contains: 'does not contain',
  starts_with: 'starts with',
  ends_with: 'ends with',
  gt: 'is greater than',
  lt: 'is less than',
  before: 'is before',
  after: 'is after',
  exists: 'is set',
};
const OPS: Record<Kind, RuleOp[]> = {
  text: ['eq', 'neq', 'contains', 'not_contains', 'starts_with', 'ends_with', 'gt', 'lt', 'exists'],
  tags: ['contains', 'not_contains'],
  bool: ['eq', 'neq'],
  time: ['before', 'after', 'exists'],
  custom: ['eq', 'neq', 'contains', 'not_contains', 'starts_with', 'ends_with', 'gt', 'lt', 'before', 'after', 'exists'],
};
const TAG_LABEL: Partial<Record<RuleOp, string>> = { contains: 'has the tag', not_contains: 'does not have the tag' };

export function kindOf(field: string): Kind {
  if (field.startsWith('custom_fields.')) return 'custom';
  return FIELDS.find((f) => f.value === field)?.kind ?? 'text';
}

export function defaultCondition(field = 'tags'): RuleCondition {
  const k = kindOf(field);
  if (k === 'bool') return { field, op: 'eq', value: true };
  if (k === 'time') return { field, op: 'after', value: new Date(Date.now() - 30 * 864e5).toISOString().slice(0, 10) };
  return { field, op: OPS[k][0], value: '' };
}

/** The rules as the API takes them: values typed, none on `exists`. */
export function cleanRules(r: Rules): Rules {
  return {
    match: r.match,
    conditions: r.conditions.map((c) => {
      if (c.op === 'exists') return { field: c.field, op: c.op };
      const k = kindOf(c.field);
      if (k === 'bool') return { field: c.field, op: c.op, value: c.value === true || c.value === 'true' };
      if ((c.op === 'gt' || c.op === 'lt') && typeof c.value === 'string' && /^-?\d+(\.\d+)?$/.test(c.value.trim()))
        return { field: c.field, op: c.op, value: Number(c.value.trim()) };
      return { field: c.field, op: c.op, value: c.value ?? '' };
    }),
  };
}

/** A condition the user is still typing (no value yet): not sent to the preview. */
export function incomplete(c: RuleCondition): boolean {
  if (c.field === 'custom_fields.') return true;
  if (c.op === 'exists' || kindOf(c.field) === 'bool') return false;
  return c.value === undefined || String(c.value).trim() === '';
}

export function SegmentBuilder({ rules, onChange, errorAt }: { rules: Rules; onChange: (r: Rules) => void; errorAt: { index: number; msg: string } | null }) {
  const set = (i: number, c: RuleCondition) => onChange({ ...rules, conditions: rules.conditions.map((x, j) => (j === i ? c : x)) });
  return (
    <div className="space-y-3" data-testid="segment-builder">
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <span>Contacts matching</span>
        <Select aria-label="Match" value={rules.match} onChange={(e) => onChange({ ...rules, match: e.target.value as 'all' | 'any' })} className="w-24" data-testid="rule-match">
          <option value="all">all</option>
          <option value="any">any</option>
        </Select>
        <span>of these conditions</span>
      </div>
      <ol className="space-y-2">
        {rules.conditions.map((c, i) => {
          const k = kindOf(c.field);
          const isCustom = k === 'custom';
          const fieldValue = isCustom ? 'custom_fields.' : c.field;
          const err = errorAt?.index === i ? errorAt.msg : null;
          return (
            <li key={i} className={cn('relative rounded-lg border bg-muted/20 p-2.5', err && 'border-destructive/50')} data-testid="rule-row">
              <div className="flex flex-col gap-2 sm:flex-row sm:flex-wrap sm:items-center">
                <span className="w-12 shrink-0 text-xs font-medium uppercase tracking-wide text-muted-foreground">{i === 0 ? 'Where' : rules.match === 'all' ? 'and' : 'or'}</span>
                <Select
                  aria-label={`Condition ${i + 1} field`}
                  value={fieldValue}
                  onChange={(e) => set(i, defaultCondition(e.target.value))}
                  className="sm:w-40"
                  data-testid="rule-field"
                >
                  {FIELDS.map((f) => (
                    <option key={f.value} value={f.value}>
                      {f.label}
                    </option>
                  ))}
                </Select>
                {isCustom && (
                  <Input
                    aria-label={`Condition ${i + 1} custom field name`}
                    placeholder="field name"
                    value={c.field.slice('custom_fields.'.length)}
                    onChange={(e) => set(i, { ...c, field: `custom_fields.${e.target.value}` })}
                    className="h-9 sm:w-32"
                    data-testid="rule-custom-key"
                  />
                )}
                <Select
                  aria-label={`Condition ${i + 1} operator`}
                  value={c.op}
                  onChange={(e) => {
                    const op = e.target.value as RuleOp;
                    set(i, { ...c, op, value: op === 'exists' ? undefined : c.value ?? '' });
                  }}
                  className="sm:w-44"
                  data-testid="rule-op"
                >
                  {OPS[k].map((o) => (
                    <option key={o} value={o}>
                      {(k === 'tags' && TAG_LABEL[o]) || OP_LABEL[o]}
                    </option>
                  ))}
                </Select>
                {c.op !== 'exists' &&
                  (k === 'bool' ? (
                    <Select aria-label={`Condition ${i + 1} value`} value={String(c.value === true || c.value === 'true')} onChange={(e) => set(i, { ...c, value: e.target.value === 'true' })} className="sm:w-32" data-testid="rule-value">
                      <option value="true">yes</option>
                      <option value="false">no</option>
                    </Select>
                  ) : (
                    <Input
                      aria-label={`Condition ${i + 1} value`}
                      type={c.op === 'before' || c.op === 'after' ? 'date' : 'text'}
                      value={String(c.value ?? '')}
                      placeholder={k === 'tags' ? 'tag' : 'value'}
                      onChange={(e) => set(i, { ...c, value: e.target.value })}
                      className="h-9 sm:min-w-[9rem] sm:flex-1"
                      aria-invalid={err ? true : undefined}
                      data-testid="rule-value"
                    />
                  ))}
                <Button
                  type="button"
                  variant="ghost"
                  size="icon"
                  className="absolute right-1.5 top-1 size-8 shrink-0 sm:static sm:size-9"
                  aria-label={`Remove condition ${i + 1}`}
                  disabled={rules.conditions.length === 1}
                  onClick={() => onChange({ ...rules, conditions: rules.conditions.filter((_, j) => j !== i) })}
                >
                  <X />
                </Button>
              </div>
              {err && (
                <p role="alert" className="mt-2 text-[13px] text-destructive" data-testid="rule-error">
                  {err}
                </p>
              )}
            </li>
          );
        })}
      </ol>
      <Button type="button" variant="outline" size="sm" onClick={() => onChange({ ...rules, conditions: [...rules.conditions, defaultCondition('email')] })} disabled={rules.conditions.length >= 50} data-testid="rule-add">
        <Plus /> Add condition
      </Button>
    </div>
  );
}
