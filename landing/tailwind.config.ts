import type { Config } from 'tailwindcss';

// The dashboard's conventions: colours are OKLCH channels in CSS variables
// (../dashboard/src/app/globals.css, imported by src/app/layout.tsx), computed
// from the hex values of ../dashboard/src/brand.ts; light and dark swap them.
const c = (v: string) => `oklch(var(--${v}) / <alpha-value>)`;

const config: Config = {
  darkMode: 'class',
  content: ['./src/**/*.{ts,tsx}'],
  theme: {
    container: { center: true, padding: { DEFAULT: '1rem', sm: '1.5rem' }, screens: { '2xl': '1200px' } },
    extend: {
      colors: {
        border: c('border'),
        input: c('input'),
        ring: c('ring'),
        background: c('background'),
        foreground: c('foreground'),
        primary: { DEFAULT: c('primary'), foreground: c('primary-foreground') },
        accent: { DEFAULT: c('accent'), foreground: c('accent-foreground') },
        brand2: { DEFAULT: c('brand2') },
        secondary: { DEFAULT: c('secondary'), foreground: c('secondary-foreground') },
        muted: { DEFAULT: c('muted'), foreground: c('muted-foreground') },
        success: { DEFAULT: c('success') },
        card: { DEFAULT: c('card'), foreground: c('card-foreground') },
      },
      borderRadius: {
        lg: 'var(--radius)',
        md: 'calc(var(--radius) - 2px)',
        sm: 'calc(var(--radius) - 4px)',
      },
      fontFamily: {
        sans: ['var(--font-sans)'],
      },
    },
  },
};

export default config;
