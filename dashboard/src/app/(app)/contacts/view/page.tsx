import type { Metadata } from 'next';
import { Suspense } from 'react';
import { ContactPage } from '@/components/audience/contact-page';

export const metadata: Metadata = { title: 'Contact' };

// /contacts/view?id=<uuid> (a static export has no [id] routes)
export default function Page() {
  return (
    <Suspense>
      <ContactPage />
    </Suspense>
  );
}
