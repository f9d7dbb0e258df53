import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Billing' };

export default function Page() {
  return <ComingSoon href="/billing" what="Billing: your plan, its limits and invoices." />;
}
