'use client';
// The signed-in user for every page of the shell: loads /auth/me once, sends
// the visitor to the login page without a session or when it ends.
import * as React from 'react';
import { usePathname, useRouter } from 'next/navigation';
import { api, onSessionEnd, tokens, type Me } from '@/lib/api';

type Session = { ready: boolean; me: Me | null; reload: () => Promise<void>; signOut: () => Promise<void> };
const SessionContext = React.createContext<Session | null>(null);

export function useSession(): Session {
  const s = React.useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

export function SessionProvider({ children }: { children: React.ReactNode }) {
  const router = useRouter();
  const pathname = usePathname();
  const [me, setMe] = React.useState<Me | null>(null);
  const [ready, setReady] = React.useState(false);

  const toLogin = React.useCallback(
    (reason?: string) => {
      const next = typeof window !== 'undefined' ? window.location.pathname.replace(/^\/app/, '') + window.location.search : '/';
      const q = new URLSearchParams();
      if (next && next !== '/') q.set('next', next);
      if (reason) q.set('reason', reason);
      const qs = q.toString();
      router.replace(`/login${qs ? `?${qs}` : ''}`);
    },
    [router],
  );

  const reload = React.useCallback(async () => {
    const { data } = await api.auth.me();
    if (data) setMe(data);
  }, []);

  React.useEffect(() => {
    if (!tokens.access() && !tokens.refresh()) {
      toLogin();
      return;
    }
    setReady(true);
    reload();
    return onSessionEnd(() => toLogin('expired'));
    // pathname: a page change re-checks that a session is still there
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pathname]);

  const signOut = React.useCallback(async () => {
    await api.auth.logout();
    setMe(null);
    router.replace('/login');
  }, [router]);

  const value = React.useMemo(() => ({ ready, me, reload, signOut }), [ready, me, reload, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}
