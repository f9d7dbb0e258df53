import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Settings' };

export default function Page() {
  return <ComingSoon href="/settings" what="Settings: your profile, sender identity and domains." />;
}
