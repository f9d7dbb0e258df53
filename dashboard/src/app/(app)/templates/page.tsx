import type { Metadata } from 'next';
import { ComingSoon } from '@/components/shell/coming-soon';

export const metadata: Metadata = { title: 'Templates' };

export default function Page() {
  return <ComingSoon href="/templates" what="Templates: start from a responsive design and edit it with a live preview." />;
}
