import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Flows' };

export default function Page() {
  return <ComingSoon href="/flows" what="Flows send the right email at the right moment: welcome series, abandoned carts, post-purchase follow-ups." />;
}
