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
export type Template = { id: string; user_id: string | null; name: string; subject: string; category: string; is_system: boolean };
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
  },
  campaigns: {
    recent: (pageSize = 5) => request<Page<Campaign>>('GET', `/campaigns?page=1&page_size=${pageSize}`),
  },
  templates: {
    list: () => request<Page<Template>>('GET', '/templates?page=1&page_size=100'),
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
