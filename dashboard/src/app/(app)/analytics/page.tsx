import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Analytics' };

export default function Page() {
  return <ComingSoon href="/analytics" what="Analytics: opens, clicks and bounces over time, per campaign and per flow." />;
}
