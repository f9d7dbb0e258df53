import type { Metadata, Viewport } from 'next';
import '@fontsource-variable/plus-jakarta-sans';
// The dashboard's tokens (OKLCH channels from ../dashboard/src/brand.ts, light
// and dark) and base styles: one definition for both sites.
import '../../../dashboard/src/app/globals.css';
import './landing.css';
import { brand } from '@brand';

export const metadata: Metadata = {
  title: `${brand.name} · ${brand.tagline}`,
  description:
    'Self-hostable email automation for merchants: flows, campaigns, open and click tracking, DKIM-signed delivery and signup forms, on your own server.',
  icons: { icon: '/icon.svg' },
};

export const viewport: Viewport = {
  width: 'device-width',
  initialScale: 1,
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#ffffff' },
    { media: '(prefers-color-scheme: dark)', color: '#1c1517' },
  ],
};

// The dashboard's theme script (dashboard/src/app/layout.tsx, same key):
// applies the saved or the system's theme before the first paint. Its sha256
// goes into nginx's CSP with Next's own inline scripts (scripts/landing.sh).
const themeScript = `try{var t=localStorage.getItem('flowsend.theme');if(t!=='light'&&t!=='dark'){t=matchMedia('(prefers-color-scheme: dark)').matches?'dark':'light'}document.documentElement.classList.toggle('dark',t==='dark')}catch(e){}`;

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: themeScript }} />
      </head>
      <body>{children}</body>
    </html>
  );
}
