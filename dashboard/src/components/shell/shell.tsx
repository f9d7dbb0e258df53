'use client';
import * as React from 'react';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { LogOut, Menu, Moon, Settings, Sun } from 'lucide-react';
import { Logo } from '@/components/logo';
import { Button } from '@/components/ui/button';
import { Sheet, SheetContent, SheetDescription, SheetTitle, SheetTrigger } from '@/components/ui/sheet';
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from '@/components/ui/dropdown-menu';
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
import { Skeleton } from '@/components/ui/skeleton';
import { useTheme } from '@/lib/theme';
import { service } from '@/service.config';
import { NavLinks } from './nav';
import { SessionProvider, useSession } from './session';

function AccountMenu() {
  const { me, signOut } = useSession();
  const { theme, setTheme } = useTheme();
  const [confirm, setConfirm] = React.useState(false);
  const [leaving, setLeaving] = React.useState(false);
  const initial = me?.email?.[0]?.toUpperCase() ?? '';
  return (
    <>
      <DropdownMenu>
        <DropdownMenuTrigger asChild>
          <button
            data-testid="account-menu"
            className="flex items-center gap-2 rounded-full p-0.5 pr-0.5 transition-colors hover:bg-accent sm:pr-3"
            aria-label="Account menu"
          >
            <span className="inline-flex size-8 items-center justify-center rounded-full bg-gradient-to-br from-primary to-brand2 text-sm font-semibold text-white">
              {initial || <span className="size-3" />}
            </span>
            <span className="hidden max-w-[180px] truncate text-sm font-medium sm:block">{me?.email ?? <Skeleton className="h-4 w-28" />}</span>
          </button>
        </DropdownMenuTrigger>
        <DropdownMenuContent align="end">
          <DropdownMenuLabel>
            <p className="truncate font-medium" data-testid="account-email">{me?.email}</p>
            <p className="text-xs capitalize text-muted-foreground">{me?.plan ?? ''} plan</p>
          </DropdownMenuLabel>
          <DropdownMenuSeparator />
          <DropdownMenuItem asChild>
            <Link href="/settings">
              <Settings /> Settings
            </Link>
          </DropdownMenuItem>
          <DropdownMenuItem onSelect={() => setTheme(theme === 'dark' ? 'light' : 'dark')} data-testid="theme-toggle">
            {theme === 'dark' ? <Sun /> : <Moon />} {theme === 'dark' ? 'Light theme' : 'Dark theme'}
          </DropdownMenuItem>
          <DropdownMenuSeparator />
          <DropdownMenuItem onSelect={() => setConfirm(true)} data-testid="logout">
            <LogOut /> Log out
          </DropdownMenuItem>
        </DropdownMenuContent>
      </DropdownMenu>
      <AlertDialog open={confirm} onOpenChange={setConfirm}>
        <AlertDialogContent>
          <AlertDialogHeader>
            <AlertDialogTitle>Log out of {service.name}?</AlertDialogTitle>
            <AlertDialogDescription>You will need your email and password to sign in again on this device.</AlertDialogDescription>
          </AlertDialogHeader>
          <AlertDialogFooter>
            <AlertDialogCancel>Cancel</AlertDialogCancel>
            <AlertDialogAction
              data-testid="logout-confirm"
              disabled={leaving}
              onClick={async (e) => {
                e.preventDefault();
                setLeaving(true);
                await signOut();
              }}
            >
              Log out
            </AlertDialogAction>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
    </>
  );
}

function MobileNav() {
  const [open, setOpen] = React.useState(false);
  const pathname = usePathname();
  React.useEffect(() => setOpen(false), [pathname]);
  return (
    <Sheet open={open} onOpenChange={setOpen}>
      <SheetTrigger asChild>
        <Button variant="ghost" size="icon" className="-ml-2 lg:hidden" aria-label="Open navigation" data-testid="nav-open">
          <Menu className="!size-5" />
        </Button>
      </SheetTrigger>
      <SheetContent>
        <SheetTitle className="sr-only">Navigation</SheetTitle>
        <SheetDescription className="sr-only">Pages of the dashboard</SheetDescription>
        <div className="flex h-16 items-center px-5">
          <Logo />
        </div>
        <div className="flex-1 overflow-y-auto px-3 pb-6">
          <NavLinks onNavigate={() => setOpen(false)} />
        </div>
      </SheetContent>
    </Sheet>
  );
}

/** The page's frame while the session is checked: no jump when it arrives. */
function PageSkeleton() {
  return (
    <div aria-busy="true" aria-label="Loading">
      <Skeleton className="h-7 w-48" />
      <Skeleton className="mt-3 h-4 w-72" />
      <div className="mt-8 grid grid-cols-2 gap-4 lg:grid-cols-5">
        {[0, 1, 2, 3, 4].map((i) => (
          <Skeleton key={i} className="h-[118px] rounded-lg" />
        ))}
      </div>
      <Skeleton className="mt-6 h-64 rounded-lg" />
    </div>
  );
}

function Gate({ children }: { children: React.ReactNode }) {
  const { ready } = useSession();
  return ready ? <>{children}</> : <PageSkeleton />;
}

export function Shell({ children }: { children: React.ReactNode }) {
  return (
    <SessionProvider>
      <div className="min-h-dvh lg:grid lg:grid-cols-[248px_minmax(0,1fr)]">
        <aside className="sticky top-0 hidden h-dvh flex-col border-r bg-sidebar lg:flex" data-testid="sidebar">
          <div className="flex h-16 items-center px-5">
            <Link href="/" aria-label={`${service.name} home`}>
              <Logo />
            </Link>
          </div>
          <div className="flex-1 overflow-y-auto px-3 py-2">
            <NavLinks />
          </div>
          <div className="m-3 rounded-lg border bg-card p-3.5 text-[13px]">
            <p className="font-medium">Need a hand?</p>
            <p className="mt-1 text-muted-foreground">Read the API reference or import your first contacts.</p>
            <a href="/api/v1/openapi.json" className="mt-2 inline-block font-medium text-primary hover:underline">
              API reference
            </a>
          </div>
        </aside>
        <div className="flex min-w-0 flex-col">
          <header className="sticky top-0 z-30 flex h-16 items-center gap-3 border-b bg-background/85 px-4 backdrop-blur supports-[backdrop-filter]:bg-background/70 sm:px-6 lg:px-8" data-testid="topbar">
            <MobileNav />
            <Link href="/" className="lg:hidden" aria-label={`${service.name} home`}>
              <Logo />
            </Link>
            <div className="flex-1" />
            <AccountMenu />
          </header>
          <main className="mx-auto w-full max-w-6xl flex-1 px-4 py-6 sm:px-6 sm:py-8 lg:px-8">
            <Gate>{children}</Gate>
          </main>
        </div>
      </div>
    </SessionProvider>
  );
}
