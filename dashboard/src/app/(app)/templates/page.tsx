import type { Metadata } from 'next';
import { TemplatesView } from '@/components/templates/gallery';

export const metadata: Metadata = { title: 'Templates' };

export default function Page() {
  return <TemplatesView />;
}
