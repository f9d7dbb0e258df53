// Opt-in timing (bench/dashboard_contacts.sh, not make test): the contacts
// page of a tenant with 1,000,000 contacts in Chromium. Prints how long the
// first page of the table takes to show: from the navigation's start, and from
// the page's request for it to the rows in the DOM, each the median of 5 runs.
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
await page.evaluate(([a, r]) => {
  localStorage.setItem('flowsend.access_token', a);
  localStorage.setItem('flowsend.refresh_token', r);
}, [process.env.FLOWSEND_TOKEN, process.env.FLOWSEND_REFRESH]);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = [];
for (let i = 0; i < 6; i++) {
  let asked = 0;
  const onReq = (req) => {
    if (!asked && /\/api\/v1\/contacts\?/.test(req.url())) asked = Date.now();
  };
  page.on('request', onReq);
  const t0 = Date.now();
  await page.goto(`${BASE}/app/contacts`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=contact-row]').length === 50, null, { polling: 'raf', timeout: 60000 });
  const t1 = Date.now();
  page.off('request', onReq);
  if (i > 0) runs.push({ total: t1 - t0, api: t1 - asked }); // the first warms the caches
}
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
console.log(`contacts page, ${total.trim()}: first page shown in ${median(runs.map((r) => r.total))} ms from navigation (median of ${runs.length}), ${median(runs.map((r) => r.api))} ms from the API request; next page ${next} ms; tag filter ${tag} ms`);
await browser.close();
