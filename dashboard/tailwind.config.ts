import type { Config } from 'tailwindcss';
import animate from 'tailwindcss-animate';

// Colours are OKLCH channels in CSS variables (src/app/globals.css), computed
// from the hex values in src/service.config.ts; light and dark themes swap them.
const c = (v: string) => `oklch(var(--${v}) / <alpha-value>)`;

const config: Config = {
  darkMode: 'class',
  content: ['./src/**/*.{ts,tsx}'],
  theme: {
    container: { center: true, padding: '1.5rem' },
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
        destructive: { DEFAULT: c('destructive'), foreground: c('destructive-foreground') },
        success: { DEFAULT: c('success') },
        card: { DEFAULT: c('card'), foreground: c('card-foreground') },
        popover: { DEFAULT: c('popover'), foreground: c('popover-foreground') },
        sidebar: { DEFAULT: c('sidebar'), foreground: c('sidebar-foreground') },
      },
      borderRadius: {
        lg: 'var(--radius)',
        md: 'calc(var(--radius) - 2px)',
        sm: 'calc(var(--radius) - 4px)',
      },
      fontFamily: {
        sans: ['var(--font-sans)'],
      },
      keyframes: {
        shimmer: { '100%': { transform: 'translateX(100%)' } },
      },
    },
  },
  plugins: [animate],
};

export default config;
