// The one typed client of FlowSend's API. Every call answers { data, error }
// and never throws; nothing here writes to the console (a 404 from an
// endpoint this server does not have yet is an ordinary answer the pages
// show as "—"). On a 401 the access token is refreshed once, the refresh
// shared by every call that is waiting for it, and the call is retried; when
// the refresh fails the session ends (tokens cleared, the login page shown).

export const API_BASE = '/api/v1';
export const APP_BASE = '/app';

export type ApiError = {
  status: number; // 0: the network failed
  detail: string;
  /** 422 validation failures by field name (the last element of `loc`) */
  fields: Record<string, string>;
};
export type ApiResult<T> = { data: T; error: null } | { data: null; error: ApiError };

export type Tokens = { access_token: string; refresh_token: string; token_type: string };
export type Me = {
  id: string;
  email: string;
  is_active: boolean;
  plan: string;
  created_at: string;
  email_verified?: boolean;
};
export type Page<T> = { items: T[]; total: number; page: number; page_size: number };
export type Campaign = {
  id: string;
  name: string;
  subject: string;
  template_id: string | null;
  list_id: string | null;
  status: 'draft' | 'scheduled' | 'sending' | 'sent' | 'failed' | 'cancelled';
  scheduled_at: string | null;
  sent_at: string | null;
  total_recipients: number;
  sent_count: number;
  open_count: number;
  click_count: number;
  bounce_count: number;
  created_at: string;
  updated_at: string;
};
export type TemplateCategory = 'welcome' | 'cart' | 'promo' | 'newsletter' | 'transactional';
export type Template = {
  id: string;
  user_id: string | null;
  name: string;
  subject: string;
  category: TemplateCategory | string;
  is_system: boolean;
  html_content?: string;
  text_content?: string | null;
  thumbnail_url?: string | null;
  created_at?: string;
  updated_at?: string;
};
export type TemplateInput = {
  name?: string;
  subject?: string;
  html_content?: string;
  text_content?: string | null;
  category?: string;
};
export type Rendered = { subject: string; html: string; text: string };
export type Contact = {
  id: string;
  user_id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  tags: string[];
  custom_fields: Record<string, unknown>;
  is_subscribed: boolean;
  subscribed_at: string | null;
  unsubscribed_at: string | null;
  created_at: string;
  updated_at: string;
};
export type ContactInput = {
  email?: string;
  first_name?: string | null;
  last_name?: string | null;
  tags?: string[];
  custom_fields?: Record<string, string>;
  is_subscribed?: boolean;
};
export type ContactFilter = { search?: string; tag?: string; is_subscribed?: boolean | null };
/** The orders GET /contacts?sort= offers (each served by an index at a million contacts). */
export type ContactSort = '-created_at' | 'created_at' | 'email' | '-email';
export type ContactEvent = {
  id: string;
  event_type: string;
  campaign_id: string | null;
  flow_id: string | null;
  url?: string | null;
  metadata?: unknown;
  created_at: string;
};
export type Consent = {
  id: string;
  form_id: string | null;
  list_id: string | null;
  status: string;
  consent_at: string | null;
  ip: string | null;
  user_agent: string | null;
  consent_text: string | null;
  confirmed_at: string | null;
};
export type ContactExport = {
  contact: Contact;
  lists: { id: string; name: string; added_at: string }[];
  events: ContactEvent[];
  unsubscribes: { source: string; campaign_id: string | null; flow_id: string | null; created_at: string }[];
  consents: Consent[];
  exported_at: string;
};
export type RuleOp = 'eq' | 'neq' | 'contains' | 'not_contains' | 'starts_with' | 'ends_with' | 'gt' | 'lt' | 'before' | 'after' | 'exists';
export type RuleCondition = { field: string; op: RuleOp; value?: string | boolean | number };
export type Rules = { match: 'all' | 'any'; conditions: RuleCondition[] };
export type ContactList = {
  id: string;
  user_id: string;
  name: string;
  description: string | null;
  list_type: 'static' | 'dynamic';
  rules: Rules | null;
  is_public: boolean;
  contact_count: number;
  created_at: string;
  updated_at: string;
};
export type ListInput = { name?: string; description?: string | null; list_type?: 'static' | 'dynamic'; rules?: Rules; is_public?: boolean };
export type ImportResult = { imported: number; skipped: number; failed: number; total: number; errors: { row: number; detail: string }[] };
export type Flow = { id: string; name: string; status: 'draft' | 'active' | 'paused'; trigger_type: string };
export type Plan = {
  tier: string;
  name: string;
  price_monthly_cents: number;
  max_items: number;
  max_secondary: number;
  max_flows: number;
  trial_days: number;
  api_access: boolean;
};
export type UsageMetric = { name: string; label: string; used: number; limit: number };
export type Usage = { plan: string; period_start: string; period_end: string; metrics: UsageMetric[] };
export type Analytics = {
  total_emails_sent: number;
  total_opens: number;
  total_clicks: number;
  overall_open_rate: number;
  overall_click_rate: number;
  overall_bounce_rate: number;
  daily: { date: string; sent: number; opened: number; clicked: number; bounced: number }[];
};

// --- tokens ---------------------------------------------------------------

const ACCESS_KEY = 'flowsend.access_token';
const REFRESH_KEY = 'flowsend.refresh_token';

function storage(): Storage | null {
  try {
    return typeof window === 'undefined' ? null : window.localStorage;
  } catch {
    return null;
  }
}

export const tokens = {
  access: () => storage()?.getItem(ACCESS_KEY) ?? null,
  refresh: () => storage()?.getItem(REFRESH_KEY) ?? null,
  set(t: Tokens) {
    storage()?.setItem(ACCESS_KEY, t.access_token);
    storage()?.setItem(REFRESH_KEY, t.refresh_token);
  },
  clear() {
    storage()?.removeItem(ACCESS_KEY);
    storage()?.removeItem(REFRESH_KEY);
  },
};

type SessionEndListener = () => void;
const sessionEndListeners = new Set<SessionEndListener>();
/** Called when a refresh fails: the shell sends the user to the login page. */
export function onSessionEnd(fn: SessionEndListener): () => void {
  sessionEndListeners.add(fn);
  return () => sessionEndListeners.delete(fn);
}

// --- requests ---------------------------------------------------------------

type Options = { body?: unknown; auth?: boolean; signal?: AbortSignal };

function toError(status: number, payload: unknown): ApiError {
  const fields: Record<string, string> = {};
  let detail = status === 0 ? 'Could not reach the server. Check your connection.' : `Request failed (${status})`;
  const d = (payload as { detail?: unknown } | null)?.detail;
  if (typeof d === 'string') {
    detail = d;
  } else if (Array.isArray(d)) {
    for (const item of d as { loc?: unknown[]; msg?: string }[]) {
      const loc = Array.isArray(item?.loc) ? item.loc : [];
      const field = String(loc[loc.length - 1] ?? '');
      if (field && item?.msg && !fields[field]) fields[field] = item.msg;
    }
    const first = (d as { msg?: string }[])[0]?.msg;
    if (first) detail = first;
  }
  return { status, detail, fields };
}

async function send(method: string, path: string, opts: Options, access: string | null): Promise<{ status: number; payload: unknown }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.auth !== false && access) headers.Authorization = `Bearer ${access}`;
  let res: Response;
  try {
    res = await fetch(API_BASE + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    return { status: 0, payload: null };
  }
  let payload: unknown = null;
  if (res.status !== 204) {
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = null;
      }
    }
  }
  return { status: res.status, payload };
}

let refreshing: Promise<boolean> | null = null;

/** One refresh at a time: every caller that needs one awaits the same promise. */
export function refreshSession(): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      const refresh = tokens.refresh();
      if (!refresh) return false;
      const r = await send('POST', '/auth/refresh', { body: { refresh_token: refresh }, auth: false }, null);
      if (r.status === 200 && r.payload && typeof (r.payload as Tokens).access_token === 'string') {
        tokens.set(r.payload as Tokens);
        return true;
      }
      return false;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function endSession() {
  tokens.clear();
  sessionEndListeners.forEach((fn) => fn());
}

function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A valid access token for a raw request (upload, download): refreshed first when the API says it expired. */
async function withToken<T extends { status: number }>(run: (access: string | null) => Promise<T>): Promise<T> {
  if (refreshing) await refreshing;
  const used = tokens.access();
  let r = await run(used);
  if (r.status === 401) {
    const ok = tokens.access() !== used && tokens.access() !== null ? true : await refreshSession();
    if (!ok) {
      endSession();
      return r;
    }
    r = await run(tokens.access());
    if (r.status === 401) endSession();
  }
  return r;
}

export type UploadProgress = { loaded: number; total: number; phase: 'upload' | 'processing' };

/** POST a file as multipart/form-data with upload progress (XMLHttpRequest: fetch cannot report it). */
export function upload<T>(path: string, file: Blob, filename: string, onProgress: (p: UploadProgress) => void): Promise<ApiResult<T>> {
  const once = (access: string | null) =>
    new Promise<{ status: number; payload: unknown }>((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', API_BASE + path);
      xhr.setRequestHeader('Accept', 'application/json');
      if (access) xhr.setRequestHeader('Authorization', `Bearer ${access}`);
      xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size, phase: 'upload' });
      xhr.upload.onload = () => onProgress({ loaded: file.size, total: file.size, phase: 'processing' });
      xhr.onload = () => {
        let payload: unknown = null;
        try {
          payload = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          payload = null;
        }
        resolve({ status: xhr.status, payload });
      };
      xhr.onerror = () => resolve({ status: 0, payload: null });
      const form = new FormData();
      form.append('file', file, filename);
      xhr.send(form);
    });
  return withToken(once).then((r) =>
    r.status >= 200 && r.status < 300 ? { data: r.payload as T, error: null } : { data: null, error: toError(r.status, r.payload) },
  );
}

/** GET a file (CSV, JSON) with the session's token and hand it to the browser as a download. */
export async function download(path: string, filename: string): Promise<ApiError | null> {
  const r = await withToken(async (access) => {
    try {
      const res = await fetch(API_BASE + path, { headers: access ? { Authorization: `Bearer ${access}` } : {}, cache: 'no-store' });
      return { status: res.status, res };
    } catch {
      return { status: 0, res: null };
    }
  });
  if (!r.res || !r.res.ok) {
    let payload: unknown = null;
    try {
      payload = r.res ? await r.res.json() : null;
    } catch {
      payload = null;
    }
    return toError(r.status, payload);
  }
  saveBlob(await r.res.blob(), filename);
  return null;
}

export function saveBlob(blob: Blob, filename: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function request<T>(method: string, path: string, opts: Options = {}): Promise<ApiResult<T>> {
  const auth = opts.auth !== false;
  if (auth && refreshing) await refreshing;
  const used = auth ? tokens.access() : null;
  let r = await send(method, path, opts, used);
  if (auth && r.status === 401) {
    // Another call may have refreshed while this one was in flight: retry with
    // the new token rather than spending the (single-use) refresh token again.
    const ok = tokens.access() !== used && tokens.access() !== null ? true : await refreshSession();
    if (!ok) {
      endSession();
      return { data: null, error: toError(401, r.payload) };
    }
    r = await send(method, path, opts, tokens.access());
    if (r.status === 401) {
      endSession();
      return { data: null, error: toError(401, r.payload) };
    }
  }
  if (r.status >= 200 && r.status < 300) return { data: r.payload as T, error: null };
  return { data: null, error: toError(r.status, r.payload) };
}

// --- endpoints ----------------------------------------------------------------

export const api = {
  auth: {
    register: (email: string, password: string) =>
      request<Tokens>('POST', '/auth/register', { body: { email, password }, auth: false }),
    login: (email: string, password: string) => request<Tokens>('POST', '/auth/login', { body: { email, password }, auth: false }),
    async logout(): Promise<void> {
      const refresh = tokens.refresh();
      // Authenticated: the API revokes the refresh token of the caller only.
      if (refresh) await request<null>('POST', '/auth/logout', { body: { refresh_token: refresh } });
      tokens.clear();
    },
    me: () => request<Me>('GET', '/auth/me'),
    forgotPassword: (email: string) => request<{ message: string }>('POST', '/auth/forgot-password', { body: { email }, auth: false }),
    resetPassword: (token: string, new_password: string) =>
      request<unknown>('POST', '/auth/reset-password', { body: { token, new_password }, auth: false }),
    verifyEmail: (token: string) => request<{ email_verified: boolean }>('POST', '/auth/verify-email', { body: { token }, auth: false }),
    resendVerification: () => request<unknown>('POST', '/auth/resend-verification'),
  },
  contacts: {
    count: () => request<{ count: number }>('GET', '/contacts/count'),
    list: (f: ContactFilter, page: number, pageSize: number, signal?: AbortSignal, sort?: ContactSort) =>
      request<Page<Contact>>('GET', `/contacts${qs({ search: f.search, tag: f.tag, is_subscribed: f.is_subscribed, sort: sort === '-created_at' ? undefined : sort, page, page_size: pageSize })}`, { signal }),
    get: (id: string) => request<Contact>('GET', `/contacts/${encodeURIComponent(id)}`),
    create: (body: ContactInput) => request<Contact>('POST', '/contacts', { body }),
    update: (id: string, body: ContactInput) => request<Contact>('PATCH', `/contacts/${encodeURIComponent(id)}`, { body }),
    remove: (id: string, erase = false) => request<null>('DELETE', `/contacts/${encodeURIComponent(id)}${erase ? '?erase=true' : ''}`),
    events: (id: string, page = 1, pageSize = 20) =>
      request<Page<ContactEvent>>('GET', `/contacts/${encodeURIComponent(id)}/events${qs({ page, page_size: pageSize })}`),
    exportOne: (id: string) => request<ContactExport>('GET', `/contacts/${encodeURIComponent(id)}/export`),
    import: (file: Blob, filename: string, onProgress: (p: UploadProgress) => void) => upload<ImportResult>('/contacts/import', file, filename, onProgress),
    exportAll: () => download('/contacts/export', 'contacts.csv'),
  },
  lists: {
    list: (page = 1, pageSize = 100) => request<Page<ContactList>>('GET', `/contacts/lists${qs({ page, page_size: pageSize })}`),
    get: (id: string) => request<ContactList>('GET', `/contacts/lists/${encodeURIComponent(id)}`),
    create: (body: ListInput) => request<ContactList>('POST', '/contacts/lists', { body }),
    update: (id: string, body: ListInput) => request<ContactList>('PATCH', `/contacts/lists/${encodeURIComponent(id)}`, { body }),
    remove: (id: string) => request<null>('DELETE', `/contacts/lists/${encodeURIComponent(id)}`),
    contacts: (id: string, page: number, pageSize: number) =>
      request<Page<Contact>>('GET', `/contacts/lists/${encodeURIComponent(id)}/contacts${qs({ page, page_size: pageSize })}`),
    addMembers: (id: string, contact_ids: string[]) =>
      request<unknown>('POST', `/contacts/lists/${encodeURIComponent(id)}/members`, { body: { contact_ids } }),
    removeMembers: (id: string, contact_ids: string[]) =>
      request<unknown>('DELETE', `/contacts/lists/${encodeURIComponent(id)}/members`, { body: { contact_ids } }),
    preview: (rules: Rules, signal?: AbortSignal) =>
      request<{ count: number; sample: Contact[] }>('POST', '/contacts/lists/preview', { body: { rules }, signal }),
  },
  campaigns: {
    recent: (pageSize = 5) => request<Page<Campaign>>('GET', `/campaigns?page=1&page_size=${pageSize}`),
  },
  templates: {
    list: () => request<Page<Template>>('GET', '/templates?page=1&page_size=100'),
    get: (id: string) => request<Template>('GET', `/templates/${encodeURIComponent(id)}`),
    create: (body: TemplateInput) => request<Template>('POST', '/templates', { body }),
    update: (id: string, body: TemplateInput) => request<Template>('PATCH', `/templates/${encodeURIComponent(id)}`, { body }),
    remove: (id: string) => request<null>('DELETE', `/templates/${encodeURIComponent(id)}`),
    preview: (body: { subject: string; html_content: string; text_content?: string | null; contact_id?: string }, signal?: AbortSignal) =>
      request<Rendered>('POST', '/templates/preview', { body, signal }),
  },
  flows: {
    active: () => request<Page<Flow>>('GET', '/flows?status=active&page=1&page_size=1'),
  },
  usage: () => request<Usage>('GET', '/usage'),
  analytics: (days = 30) => request<Analytics>('GET', `/analytics?days=${days}`),
  billing: {
    plans: () => request<Plan[]>('GET', '/billing/plans', { auth: false }),
  },
};
