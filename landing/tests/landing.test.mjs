// The landing page in Debian's Chromium, driven by playwright-core, against the
// real stack of a test instance (scripts/test.sh, stage "browser"; the same
// harness as dashboard/tests/browser.test.mjs).
//   FLOWSEND_TEST_URL   the instance's nginx (http://127.0.0.1:1808N)
//   FLOWSEND_ARTEFACTS  where screenshots go (build/browser)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const BASE = process.env.FLOWSEND_TEST_URL || 'http://127.0.0.1:18080';
const ART = process.env.FLOWSEND_ARTEFACTS || path.resolve('build/browser');
const CHROMIUM = process.env.FLOWSEND_CHROMIUM || '/usr/bin/chromium';
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
// First-load JavaScript of the page, gzipped (the dashboard's pages stay under 200 kB).
const FIRST_LOAD_MAX = 150 * 1024;

let browser;
const problems = []; // console errors, page errors, CSP violations: must stay empty

fs.mkdirSync(ART, { recursive: true });

async function newPage(viewport = DESKTOP, { colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: viewport === PHONE ? 2 : 1 });
  const page = await context.newPage();
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${page.url()}: console error: ${msg.text()} ${msg.location()?.url || ''}`);
  });
  page.on('pageerror', (err) => problems.push(`${page.url()}: page error: ${err.message}`));
  return { context, page };
}

async function shot(page, name, { fullPage = true } = {}) {
  await page.waitForTimeout(250); // let transitions settle
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage });
}

async function plansFromApi() {
  const res = await fetch(`${BASE}/api/v1/billing/plans`);
  assert.equal(res.status, 200);
  return res.json();
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

test('nginx serves the landing page at / with a CSP of hashes, long-cached assets, the API and dashboard untouched', async () => {
  const res = await fetch(`${BASE}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /text\/html/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const csp = res.headers.get('content-security-policy') || '';
  const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] || '';
  assert.ok(scriptSrc.includes("'sha256-"), csp);
  assert.ok(!scriptSrc.includes('unsafe-inline') && !scriptSrc.includes('unsafe-eval'), csp);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /connect-src 'self'/);
  const html = await res.text();
  assert.match(html, /FlowSend/);
  // The policy is this page's own: exactly the hashes of its inline scripts.
  const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${crypto.createHash('sha256').update(m[1]).digest('base64')}'`,
  );
  const listed = scriptSrc.split(' ').filter((x) => x.startsWith("'sha256-"));
  assert.deepEqual([...new Set(listed)].sort(), [...new Set(inline)].sort());

  // Hashed assets: a year, immutable. First-load JS stays small.
  // (noModule: the polyfills only browsers without modules fetch)
  const scripts = [...html.matchAll(/<script([^>]*)\bsrc="(\/_next\/static\/[^"]+\.js)"([^>]*)>/g)]
    .filter((m) => !/nomodule/i.test(m[1] + m[3]))
    .map((m) => m[2]);
  assert.ok(scripts.length > 0, 'hashed scripts');
  let gz = 0;
  for (const s of new Set(scripts)) {
    const a = await fetch(BASE + s);
    assert.equal(a.status, 200, s);
    assert.match(a.headers.get('cache-control') || '', /max-age=31536000.*immutable/);
    gz += zlib.gzipSync(Buffer.from(await a.arrayBuffer())).length;
  }
  console.log(`landing: first-load JS ${(gz / 1024).toFixed(1)} kB gzipped in ${new Set(scripts).size} files`);
  assert.ok(gz < FIRST_LOAD_MAX, `first-load JS ${gz} bytes gzipped`);
  const css = /href="(\/_next\/static\/[^"]+\.css)"/.exec(html)?.[1];
  assert.ok(css, 'a hashed stylesheet');
  assert.match((await fetch(BASE + css)).headers.get('cache-control') || '', /immutable/);

  // Everything else keeps working: unknown paths are JSON 404s, the API and the dashboard answer.
  const nf = await fetch(`${BASE}/no/such/page`);
  assert.equal(nf.status, 404);
  assert.deepEqual(await nf.json(), { detail: 'Not Found' });
  const missingAsset = await fetch(`${BASE}/_next/static/nope.js`);
  assert.equal(missingAsset.status, 404);
  assert.equal((await fetch(`${BASE}/_next/`)).status, 404);
  const health = await fetch(`${BASE}/api/v1/health`);
  assert.equal(health.status, 200);
  assert.equal((await health.json()).service, 'flowsend');
  assert.equal((await fetch(`${BASE}/api/v1/no-such-thing`)).status, 404);
  assert.equal((await fetch(`${BASE}/app/login`)).status, 200);
  assert.equal((await fetch(`${BASE}/icon.svg`)).status, 200);
  const post = await fetch(`${BASE}/`, { method: 'POST', body: 'x' });
  assert.ok(post.status === 405, `POST / answered ${post.status}`);
  assert.ok((await post.json()).detail);
});

test('the landing page renders, its pricing is the API plan table, light and dark', async () => {
  const plans = await plansFromApi();
  const { context, page } = await newPage(DESKTOP);
  await page.goto(`${BASE}/`);
  await page.waitForSelector('[data-testid=pricing-plans]');
  assert.equal(await page.title(), 'FlowSend · Email marketing that runs itself');
  assert.equal((await page.textContent('[data-testid=hero-title]')).trim(), 'Email marketing that runs itself');
  const body = await page.textContent('main');
  for (const word of ['Flows', 'Campaigns', 'Tracking', 'DKIM', 'Forms', 'Self-hostable']) assert.ok(body.includes(word), word);
  assert.equal(await page.locator('[data-testid=feature]').count(), 6);

  // One card per plan, in the API's order, with the API's names, prices and limits.
  const cards = page.locator('[data-testid=plan]');
  assert.equal(await cards.count(), plans.length);
  const int = new Intl.NumberFormat('en-US');
  for (let i = 0; i < plans.length; i++) {
    const p = plans[i];
    const card = cards.nth(i);
    assert.equal(await card.getAttribute('data-tier'), p.tier);
    assert.equal((await card.locator('[data-testid=plan-name]').textContent()).trim(), p.name);
    const dollars = p.price_monthly_cents / 100;
    assert.equal((await card.locator('[data-testid=plan-price]').textContent()).trim(), `$${Number.isInteger(dollars) ? int.format(dollars) : dollars.toFixed(2)}`);
    const emails = (await card.locator('[data-testid=plan-emails]').textContent()).trim();
    assert.equal(emails, p.max_items < 0 ? 'Unlimited emails a month' : `${int.format(p.max_items)} emails a month`);
    const contacts = (await card.locator('[data-testid=plan-contacts]').textContent()).trim();
    assert.equal(contacts, p.max_secondary < 0 ? 'Unlimited contacts' : `${int.format(p.max_secondary)} contacts`);
    const flows = (await card.locator('[data-testid=plan-flows]').textContent()).trim();
    assert.equal(flows, p.max_flows < 0 ? 'Unlimited flows' : `${int.format(p.max_flows)} automated flow${p.max_flows === 1 ? '' : 's'}`);
    assert.equal(await card.locator('[data-testid=plan-api]').getAttribute('data-on'), String(p.api_access));
    const trial = (await card.locator('[data-testid=plan-trial]').textContent()).trim();
    if (p.trial_days > 0) assert.equal(trial, `${p.trial_days}-day free trial`);
    assert.equal(await card.locator('[data-testid=plan-cta]').getAttribute('href'), '/app/register');
  }
  // The page asked the API for them (no copy of the table in the export).
  const exported = fs.readdirSync(path.join(ART, '..', 'landing', 'out', '_next', 'static', 'chunks'), { recursive: true })
    .filter((f) => f.endsWith('.js'))
    .map((f) => fs.readFileSync(path.join(ART, '..', 'landing', 'out', '_next', 'static', 'chunks', f), 'utf8'))
    .join('\n');
  assert.ok(!exported.includes('price_monthly_cents:') && !/\b3900\b/.test(exported), 'no plan table in the bundle');

  await shot(page, 'landing-desktop');
  await page.click('[data-testid=theme-toggle]');
  await page.waitForFunction(() => document.documentElement.classList.contains('dark'));
  await page.mouse.move(5, 5);
  await shot(page, 'landing-dark-desktop');
  await page.reload();
  await page.waitForSelector('[data-testid=pricing-plans]');
  assert.ok(await page.evaluate(() => document.documentElement.classList.contains('dark')), 'the theme is kept');
  await context.close();
});

test('the pricing section says so when the API cannot answer', async () => {
  const { context, page } = await newPage(DESKTOP);
  await page.route('**/api/v1/billing/plans', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"detail":"down"}' }));
  await page.goto(`${BASE}/`);
  await page.waitForSelector('[data-testid=pricing-failed]');
  assert.equal(await page.locator('[data-testid=plan]').count(), 0);
  await context.close();
  // That 503 was this test's doing, not a fault of the page.
  for (let i = problems.length - 1; i >= 0; i--) if (problems[i].includes('status of 503')) problems.splice(i, 1);
});

test('the calls to action go to the dashboard', async () => {
  const { context, page } = await newPage(DESKTOP);
  for (const [sel, target, ready] of [
    ['[data-testid=nav-register]', '/app/register', '#field-password'],
    ['[data-testid=hero-register]', '/app/register', '#field-password'],
    ['[data-testid=nav-login]', '/app/login', '#field-password'],
    ['[data-testid=hero-login]', '/app/login', '#field-password'],
    ['[data-testid=cta-register]', '/app/register', '#field-password'],
  ]) {
    await page.goto(`${BASE}/`);
    await page.waitForSelector('[data-testid=pricing-plans]');
    await page.click(sel);
    await page.waitForURL(`${BASE}${target}`);
    await page.waitForSelector(ready);
  }
  await page.goto(`${BASE}/`);
  await page.waitForSelector('[data-testid=pricing-plans]');
  await page.locator('[data-testid=plan-cta]').first().click();
  await page.waitForURL(`${BASE}/app/register`);
  // Every link on the page leads somewhere that answers.
  await page.goto(`${BASE}/`);
  const hrefs = await page.$$eval('a[href]', (as) => [...new Set(as.map((a) => a.getAttribute('href')))]);
  for (const h of hrefs.filter((h) => h.startsWith('/'))) {
    const r = await fetch(BASE + h);
    assert.equal(r.status, 200, h);
  }
  await context.close();
});

test('the landing page on a phone-sized viewport', async () => {
  const plans = await plansFromApi();
  for (const colorScheme of ['light', 'dark']) {
    const { context, page } = await newPage(PHONE, { colorScheme });
    await page.goto(`${BASE}/`);
    await page.waitForSelector('[data-testid=pricing-plans]');
    assert.equal(await page.locator('[data-testid=plan]').count(), plans.length);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `nothing wider than the screen (${overflow}px)`);
    assert.ok(await page.isVisible('[data-testid=nav-register]'), 'Get started stays in the header');
    assert.ok(await page.isVisible('[data-testid=nav-login]'), 'Sign in stays in the header');
    const cta = await page.locator('[data-testid=nav-register]').boundingBox();
    assert.ok(cta.x + cta.width <= PHONE.width - 16, `the header fits the screen with its margin (${cta.x + cta.width}px)`);
    // The plans stack: each card as wide as the content column.
    const widths = await page.locator('[data-testid=plan]').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width));
    for (const w of widths) assert.ok(w > 300, `a plan card ${w}px wide`);
    await shot(page, colorScheme === 'light' ? 'landing-phone' : 'landing-dark-phone');
    await context.close();
  }
  assert.deepEqual(problems, []);
});
