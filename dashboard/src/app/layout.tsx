import type { Metadata, Viewport } from 'next';
import '@fontsource-variable/plus-jakarta-sans';
import './globals.css';
import { service } from '@/service.config';
import { Toaster } from '@/components/ui/toaster';

export const metadata: Metadata = {
  title: { default: service.name, template: `%s · ${service.name}` },
  description: service.tagline,
  icons: { icon: '/app/icon.svg' },
};

export const viewport: Viewport = {
  width: 'device-width',
  initialScale: 1,
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#ffffff' },
    { media: '(prefers-color-scheme: dark)', color: '#1c1517' },
  ],
};

// Applies the saved (or the system's) theme before the first paint, so a dark
// page never flashes light. Its sha256 goes into nginx's CSP with Next's own
// inline scripts (scripts/dashboard.sh).
const themeScript = `try{var t=localStorage.getItem('flowsend.theme');if(t!=='light'&&t!=='dark'){t=matchMedia('(prefers-color-scheme: dark)').matches?'dark':'light'}document.documentElement.classList.toggle('dark',t==='dark')}catch(e){}`;

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: themeScript }} />
      </head>
      <body>
        {children}
        <Toaster />
      </body>
    </html>
  );
}
