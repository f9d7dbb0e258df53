import type { Metadata } from 'next';
import { Suspense } from 'react';
import { ListPage } from '@/components/audience/list-page';

export const metadata: Metadata = { title: 'List' };

// /contacts/lists/view?id=<uuid>, or ?new=static|dynamic
export default function Page() {
  return (
    <Suspense>
      <ListPage />
    </Suspense>
  );
}
