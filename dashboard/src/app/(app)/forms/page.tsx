import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Forms' };

export default function Page() {
  return <ComingSoon href="/forms" what="Forms: sign-up forms for your site that add contacts to a list." />;
}
