// What the template pages share: categories, the variables a template may
// use (lib/mail/template.c), sample values, and the API's error position.
export const CATEGORIES = [
  { value: 'welcome', label: 'Welcome' },
  { value: 'cart', label: 'Abandoned cart' },
  { value: 'promo', label: 'Promotion' },
  { value: 'newsletter', label: 'Newsletter' },
  { value: 'transactional', label: 'Transactional' },
] as const;

export const categoryLabel = (c: string) => CATEGORIES.find((x) => x.value === c)?.label ?? c;

export const VARIABLES = [
  { token: '{{first_name|there}}', label: 'First name', note: 'with a default' },
  { token: '{{last_name}}', label: 'Last name' },
  { token: '{{email}}', label: 'Email' },
  { token: '{{unsubscribe_url}}', label: 'Unsubscribe link', note: 'required in marketing mail' },
  { token: '{{postal_address}}', label: 'Postal address', note: 'your sender address' },
] as const;

const SAMPLE: Record<string, string> = {
  first_name: 'Alex',
  last_name: 'Morgan',
  email: 'alex@example.com',
  unsubscribe_url: '#',
  postal_address: '1 Market Street, Springfield',
};

/** The template with sample values, for gallery thumbnails (rendered in a sandboxed frame). */
export function withSample(html: string): string {
  return html.replace(/\{\{\s*([a-zA-Z0-9_.]+)\s*(?:\|([^}]*))?\}\}/g, (_, name: string, def?: string) => SAMPLE[name] ?? def ?? '');
}

export type TemplateError = { field: string; line: number | null; column: number | null; message: string; raw: string };

/** "Template error at line L, column C: <what> (in html_content)" → where and what. */
export function parseTemplateError(detail: string): TemplateError {
  const m = /^Template error at line (\d+), column (\d+): (.*?)(?: \(in (\w+)\))?$/.exec(detail);
  if (!m) {
    const inField = /\(in (\w+)\)$/.exec(detail);
    return { field: inField?.[1] ?? 'html_content', line: null, column: null, message: detail, raw: detail };
  }
  return { field: m[4] ?? 'html_content', line: Number(m[1]), column: Number(m[2]), message: m[3], raw: detail };
}

/** The offset of (line, column), both 1-based, in text. */
export function offsetOf(text: string, line: number, column: number): number {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  return Math.min(text.length, off + Math.max(0, column - 1));
}
