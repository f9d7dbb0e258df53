// Opt-in timing (bench/dashboard_contacts.sh, not make test): the contacts
// page of a tenant with 1,000,000 contacts in Chromium. Prints how long the
// first page of the table takes to show: from the navigation's start, and from
// the page's request for it to the rows in the DOM, each the median of 5 runs;
// the same for a 60-contact tenant in the same run, and sorted by email.
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.FLOWSEND_TEST_URL;
const ART = process.env.FLOWSEND_ARTEFACTS || path.resolve('build/browser');
const browser = await chromium.launch({
  executablePath: process.env.FLOWSEND_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
const page = await context.newPage();
await page.goto(`${BASE}/app/login`);
const signIn = (access, refresh) =>
  page.evaluate(([a, r]) => {
    localStorage.setItem('flowsend.access_token', a);
    localStorage.setItem('flowsend.refresh_token', r);
  }, [access, refresh]);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// The first page, loaded 6 times (the first warms the caches): from the
// navigation's start, from the page's request for it, and that request's own
// time in the browser's resource timing (what the server and network took).
async function firstPages(query = '') {
  const runs = [];
  for (let i = 0; i < 6; i++) {
    let asked = 0;
    const onReq = (req) => {
      if (!asked && /\/api\/v1\/contacts\?/.test(req.url())) asked = Date.now();
    };
    page.on('request', onReq);
    const t0 = Date.now();
    await page.goto(`${BASE}/app/contacts${query}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=contact-row]').length === 50, null, { polling: 'raf', timeout: 120000 });
    const t1 = Date.now();
    page.off('request', onReq);
    const server = await page.evaluate(() => {
      const e = performance.getEntriesByType('resource').filter((r) => /\/api\/v1\/contacts\?/.test(r.name)).pop();
      return e ? Math.round(e.responseEnd - e.requestStart) : -1;
    });
    if (i > 0) runs.push({ total: t1 - t0, api: t1 - asked, server });
  }
  return { total: median(runs.map((r) => r.total)), api: median(runs.map((r) => r.api)), server: median(runs.map((r) => r.server)) };
}
const say = (label, r) => `${label}: ${r.total} ms from navigation, ${r.api} ms from the API request (of which the request ${r.server} ms)`;

// The same page for a tenant of 60 contacts first, in the same run: on a
// shared machine the ratio says more than either figure.
let small = null;
if (process.env.FLOWSEND_SMALL_TOKEN) {
  await signIn(process.env.FLOWSEND_SMALL_TOKEN, process.env.FLOWSEND_SMALL_REFRESH);
  small = await firstPages();
}
await signIn(process.env.FLOWSEND_TOKEN, process.env.FLOWSEND_REFRESH);
const big = await firstPages();
const total = await page.textContent('[data-testid=contacts-range]');
await page.screenshot({ path: path.join(ART, 'contacts-1m-desktop.png') });
// Page 2 and a tag filter at that size, once each.
let t = Date.now();
await page.click('[data-testid=page-next]');
await page.waitForFunction(() => document.querySelector('[data-testid=contacts-range]')?.textContent?.startsWith('51'), null, { timeout: 60000 });
const next = Date.now() - t;
t = Date.now();
await page.fill('[data-testid=contacts-tag]', 'vip');
await page.waitForFunction(() => /of 100,000$/.test(document.querySelector('[data-testid=contacts-range]')?.textContent ?? ''), null, { timeout: 60000 });
const tag = Date.now() - t - 250; // less the filter's 250 ms debounce
const byEmail = await firstPages('?sort=email');
console.log(`contacts page, ${total.trim()}, medians of 5 loads after a warm-up:`);
if (small) console.log(`  ${say('60-contact tenant', small)}`);
console.log(`  ${say('1,000,000-contact tenant, newest first', big)}${small ? ` (${(big.total / small.total).toFixed(2)}× the small tenant's)` : ''}`);
console.log(`  ${say('1,000,000-contact tenant, email A to Z', byEmail)}`);
console.log(`  next page ${next} ms; tag filter ${tag} ms`);
await browser.close();
