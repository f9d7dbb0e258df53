import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'API Keys' };

export default function Page() {
  return <ComingSoon href="/api-keys" what="API keys: connect your store and your own scripts." />;
}
