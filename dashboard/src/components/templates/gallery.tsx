'use client';
// The template gallery: system and own templates by category, with thumbnails.
import * as React from 'react';
import Link from 'next/link';
import { FileText, Lock, Plus } from 'lucide-react';
import { api, type Template } from '@/lib/api';
import { cn, formatDate } from '@/lib/utils';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Skeleton } from '@/components/ui/skeleton';
import { PageHeader } from '@/components/shell/page-header';
import { EmptyState } from '@/components/audience/tabs';
import { CATEGORIES, categoryLabel } from './shared';
import { TemplateThumb } from './thumb';

function TemplateCard({ t }: { t: Template }) {
  return (
    <Link
      href={`/templates/edit?id=${t.id}`}
      className="group block rounded-lg focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring focus-visible:ring-offset-2"
      data-testid={t.is_system ? 'system-template' : 'own-template'}
    >
      <Card className="overflow-hidden transition-shadow group-hover:shadow-md">
        <TemplateThumb t={t} />
        <div className="space-y-1.5 p-4">
          <div className="flex items-center justify-between gap-2">
            <p className="truncate font-medium" data-testid="template-name">{t.name}</p>
            {t.is_system && <Lock className="size-3.5 shrink-0 text-muted-foreground" aria-label="System template" />}
          </div>
          <p className="truncate text-sm text-muted-foreground">{t.subject}</p>
          <div className="flex items-center justify-between pt-1">
            <Badge variant="secondary">{categoryLabel(t.category)}</Badge>
            {!t.is_system && t.updated_at && <span className="text-xs text-muted-foreground">Edited {formatDate(t.updated_at)}</span>}
          </div>
        </div>
      </Card>
    </Link>
  );
}

function Grid({ children }: { children: React.ReactNode }) {
  return <div className="grid gap-5 sm:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4">{children}</div>;
}

export function TemplatesView() {
  const [all, setAll] = React.useState<Template[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [category, setCategory] = React.useState<string>('all');
  React.useEffect(() => {
    api.templates.list().then((r) => {
      if (r.error) setError(r.error.detail);
      setAll(r.data?.items ?? []);
    });
  }, []);
  const shown = (all ?? []).filter((t) => category === 'all' || t.category === category);
  const own = shown.filter((t) => !t.is_system);
  const system = shown.filter((t) => t.is_system);

  return (
    <>
      <PageHeader
        title="Templates"
        description="Start from a system design or your own; every email in a campaign or flow uses one."
        actions={
          <Button asChild data-testid="new-template">
            <Link href="/templates/edit">
              <Plus /> New template
            </Link>
          </Button>
        }
      />
      <div role="tablist" aria-label="Category" className="mb-6 flex gap-1.5 overflow-x-auto pb-1">
        {[{ value: 'all', label: 'All' }, ...CATEGORIES].map((c) => (
          <button
            key={c.value}
            role="tab"
            aria-selected={category === c.value}
            onClick={() => setCategory(c.value)}
            className={cn(
              'h-8 whitespace-nowrap rounded-full border px-3.5 text-sm font-medium transition-colors focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring',
              category === c.value ? 'border-primary bg-primary/10 text-primary' : 'bg-card text-muted-foreground hover:text-foreground',
            )}
            data-testid={`category-${c.value}`}
          >
            {c.label}
          </button>
        ))}
      </div>
      {all === null ? (
        <Grid>
          {Array.from({ length: 6 }, (_, i) => (
            <Card key={i} className="overflow-hidden">
              <Skeleton className="h-52 rounded-none" />
              <div className="space-y-2 p-4">
                <Skeleton className="h-4 w-2/3" />
                <Skeleton className="h-3.5 w-full" />
                <Skeleton className="h-5 w-20 rounded-full" />
              </div>
            </Card>
          ))}
        </Grid>
      ) : (
        <div className="space-y-10">
          <section aria-labelledby="own-templates">
            <h2 id="own-templates" className="mb-4 text-sm font-semibold uppercase tracking-wide text-muted-foreground">
              Your templates
            </h2>
            {own.length ? (
              <Grid>
                {own.map((t) => (
                  <TemplateCard key={t.id} t={t} />
                ))}
              </Grid>
            ) : (
              <Card className="border-dashed">
                <EmptyState
                  icon={FileText}
                  title={error ? 'The templates could not be loaded' : category === 'all' ? 'No templates of your own yet' : `No ${categoryLabel(category).toLowerCase()} templates of your own`}
                  testid="templates-empty"
                  actions={
                    <Button asChild variant="outline">
                      <Link href="/templates/edit">
                        <Plus /> New template
                      </Link>
                    </Button>
                  }
                >
                  {error ?? 'Write one from scratch, or open a system template below and duplicate it.'}
                </EmptyState>
              </Card>
            )}
          </section>
          {system.length > 0 && (
            <section aria-labelledby="system-templates">
              <h2 id="system-templates" className="mb-4 text-sm font-semibold uppercase tracking-wide text-muted-foreground">
                System templates
              </h2>
              <Grid>
                {system.map((t) => (
                  <TemplateCard key={t.id} t={t} />
                ))}
              </Grid>
            </section>
          )}
        </div>
      )}
    </>
  );
}
