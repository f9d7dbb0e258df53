import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Contacts' };

export default function Page() {
  return <ComingSoon href="/contacts" what="Contacts: import, search, tag and segment your audience." />;
}
