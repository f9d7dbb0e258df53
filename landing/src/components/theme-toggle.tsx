'use client';
import { Moon, Sun } from 'lucide-react';

// The same key as the dashboard (dashboard/src/lib/theme.ts): a choice made
// on one carries over to the other.
const KEY = 'flowsend.theme';

export function ThemeToggle() {
  function toggle() {
    const dark = !document.documentElement.classList.contains('dark');
    document.documentElement.classList.toggle('dark', dark);
    try {
      localStorage.setItem(KEY, dark ? 'dark' : 'light');
    } catch {
      /* private mode: the choice lasts for this page */
    }
  }
  return (
    <button
      type="button"
      onClick={toggle}
      data-testid="theme-toggle"
      aria-label="Toggle dark mode"
      className="inline-flex size-8 items-center justify-center rounded-md text-muted-foreground sm:size-9 transition-colors hover:bg-accent hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
    >
      <Sun className="size-4 dark:hidden" />
      <Moon className="hidden size-4 dark:block" />
    </button>
  );
}
