import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Campaigns' };

export default function Page() {
  return <ComingSoon href="/campaigns" what="Campaigns: write, schedule and send one email to a list, then follow its opens and clicks." />;
}
