// The OKLCH channels in globals.css are the brand's hex colours from
// src/brand.ts (shared by src/service.config.ts and the landing page), converted (sRGB -> OKLab -> OKLCH).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

const dir = new URL('../src/', import.meta.url);
const config = fs.readFileSync(new URL('brand.ts', dir), 'utf8'); // shared with landing/
const css = fs.readFileSync(new URL('app/globals.css', dir), 'utf8');

function oklch(hex) {
  const lin = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const [r, g, b] = [1, 3, 5].map((i) => lin(parseInt(hex.slice(i, i + 2), 16) / 255));
  const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
  const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
  const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
  const L = 0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s;
  const A = 1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s;
  const B = 0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s;
  const H = ((Math.atan2(B, A) * 180) / Math.PI + 360) % 360;
  return `${L.toFixed(3)} ${Math.hypot(A, B).toFixed(3)} ${H.toFixed(2)}`;
}

for (const [key, cssVar] of [['primary', '--primary'], ['accent', '--brand2']]) {
  test(`${key}: the OKLCH values are computed from the hex`, () => {
    const m = new RegExp(`${key}: \\{ hex: '(#[0-9a-f]{6})'[^}]*oklch: '([^']+)'`).exec(config);
    assert.ok(m, `${key} in service.config.ts`);
    assert.equal(m[2], oklch(m[1]));
    const light = new RegExp(`:root \\{[^}]*${cssVar}: ([^;]+);`).exec(css);
    assert.equal(light?.[1], m[2], `${cssVar} in globals.css`);
  });
}

test('the brand colours are Coral Red and orange', () => {
  assert.match(config, /primary: \{ hex: '#f43f5e'/);
  assert.match(config, /accent: \{ hex: '#fb923c'/);
});
