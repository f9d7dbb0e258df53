export function PageHeader({ title, description, actions }: { title: string; description?: React.ReactNode; actions?: React.ReactNode }) {
  return (
    <div className="mb-8 flex flex-col gap-4 sm:flex-row sm:items-end sm:justify-between">
      <div className="min-w-0 space-y-1">
        <h1 className="text-2xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="text-sm text-muted-foreground">{description}</p>}
      </div>
      {/* On a phone the buttons share the row evenly rather than wrap ragged. */}
      {actions && <div className="flex shrink-0 flex-wrap gap-2 *:flex-auto sm:*:flex-none" data-testid="page-actions">{actions}</div>}
    </div>
  );
}
