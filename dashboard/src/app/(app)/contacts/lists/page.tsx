import type { Metadata } from 'next';
import { ListsView } from '@/components/audience/lists-view';

export const metadata: Metadata = { title: 'Lists & segments' };

export default function Page() {
  return <ListsView />;
}
