import type { Metadata } from 'next';
import { ImportView } from '@/components/audience/import-view';

export const metadata: Metadata = { title: 'Import contacts' };

export default function Page() {
  return <ImportView />;
}
