// The brand, shared by the dashboard (src/service.config.ts) and the landing
// page (landing/ imports this file): name, tagline, colours and fonts. Plain
// data with no imports, so either project can read it.
export const brand = {
  name: 'FlowSend',
  tagline: 'Email marketing that runs itself',
  // Hex values are canonical; the OKLCH channels in src/app/globals.css (and
  // landing/src/app/globals.css) are computed from them
  // (dashboard/tests/colours.test.mjs checks them).
  colors: {
    primary: { hex: '#f43f5e', name: 'Coral Red', oklch: '0.645 0.215 16.44' },
    accent: { hex: '#fb923c', name: 'Orange', oklch: '0.758 0.159 55.93' },
  },
  fonts: {
    // @fontsource-variable/plus-jakarta-sans (npm); Satoshi is not packaged.
    sans: ['Satoshi', 'Plus Jakarta Sans Variable', 'Plus Jakarta Sans', 'ui-sans-serif', 'system-ui', 'sans-serif'],
  },
} as const;
