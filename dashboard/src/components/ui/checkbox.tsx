import * as React from 'react';
import { cn } from '@/lib/utils';

/** A native checkbox in the brand colour (indeterminate supported). */
export const Checkbox = React.forwardRef<HTMLInputElement, React.InputHTMLAttributes<HTMLInputElement> & { indeterminate?: boolean }>(
  ({ className, indeterminate, ...props }, ref) => {
    const inner = React.useRef<HTMLInputElement | null>(null);
    React.useEffect(() => {
      if (inner.current) inner.current.indeterminate = !!indeterminate;
    }, [indeterminate]);
    return (
      <input
        type="checkbox"
        ref={(el) => {
          inner.current = el;
          if (typeof ref === 'function') ref(el);
          else if (ref) ref.current = el;
        }}
        className={cn('size-4 shrink-0 cursor-pointer rounded border-input accent-primary focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring focus-visible:ring-offset-2', className)}
        {...props}
      />
    );
  },
);
Checkbox.displayName = 'Checkbox';
