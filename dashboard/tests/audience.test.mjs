// Dashboard part 2 in Debian's Chromium (stage "browser" of make test):
// contacts, import, lists and segments, templates, against a real test stack.
//   FLOWSEND_TEST_URL   the instance's nginx (http://127.0.0.1:1808N)
//   FLOWSEND_ARTEFACTS  where screenshots go (build/browser)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.FLOWSEND_TEST_URL || 'http://127.0.0.1:18080';
const ART = process.env.FLOWSEND_ARTEFACTS || path.resolve('build/browser');
const CHROMIUM = process.env.FLOWSEND_CHROMIUM || '/usr/bin/chromium';
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const PASSWORD = 'correct-horse-battery';
const fmt = new Intl.NumberFormat('en-US');

let browser;
const problems = []; // console errors, page errors, CSP violations: must stay empty
fs.mkdirSync(ART, { recursive: true });

async function apiCall(method, p, { token, body, raw, type } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (raw !== undefined) headers['Content-Type'] = type;
  const res = await fetch(`${BASE}/api/v1${p}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

async function account(label) {
  const email = `${label}-${crypto.randomBytes(5).toString('hex')}@example.com`;
  const r = await apiCall('POST', '/auth/register', { body: { email, password: PASSWORD } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { email, token: r.body.access_token, refresh: r.body.refresh_token };
}

// Answers the browser expects (Chromium logs each failed one): only these are not problems.
const expectedStatus = new Map();
function expectStatus(p, status) {
  if (!expectedStatus.has(p)) expectedStatus.set(p, new Set());
  expectedStatus.get(p).add(status);
}

async function newPage(acct, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: viewport === PHONE ? 2 : 1, acceptDownloads: true });
  const page = await context.newPage();
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url || '';
    const m = /status of (\d{3})/.exec(msg.text());
    if (m && url && expectedStatus.get(new URL(url).pathname)?.has(Number(m[1]))) return;
    problems.push(`${page.url()}: console error: ${msg.text()} ${url}`);
  });
  page.on('pageerror', (err) => problems.push(`${page.url()}: page error: ${err.message}`));
  if (acct) {
    await page.goto(`${BASE}/app/login`);
    await page.evaluate(([a, r]) => {
      localStorage.setItem('flowsend.access_token', a);
      localStorage.setItem('flowsend.refresh_token', r);
    }, [acct.token, acct.refresh]);
  }
  return { context, page };
}

async function shot(page, name, { fullPage = true } = {}) {
  await page.waitForTimeout(300); // let transitions settle
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage });
}

async function noOverflow(page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `nothing wider than the screen (${overflow}px) on ${page.url()}`);
}

/** No button's label runs onto a second line, and none is cut off at the right. */
async function noButtonWraps(page, selector) {
  const bad = await page.$$eval(selector, (els) =>
    els
      .filter((e) => {
        const r = e.getBoundingClientRect();
        const line = parseFloat(getComputedStyle(e).lineHeight) || 20;
        return r.height > Math.max(40, line * 2) || r.right > document.documentElement.clientWidth || e.scrollWidth > e.clientWidth + 1;
      })
      .map((e) => e.textContent.trim()),
  );
  assert.deepEqual(bad, [], `buttons wrapped or cut off on ${page.url()}`);
}

const rowsText = (page) => page.locator('[data-testid=contact-email]').allTextContents();

async function waitRows(page, n) {
  await page.waitForFunction(
    (k) => {
      const t = document.querySelector('[data-testid=contacts-table]');
      return t && t.getAttribute('aria-busy') === 'false' && document.querySelectorAll('[data-testid=contact-row]').length === k;
    },
    n,
  );
}

async function seed(token, n, tagEvery = 3) {
  const lines = ['email,first_name,last_name,tags,is_subscribed,plan'];
  for (let i = 0; i < n; i++)
    lines.push(`p${String(i).padStart(3, '0')}@shop.example,Person${i},${i % 7 === 0 ? 'Zedson' : 'Smith'},${i % tagEvery === 0 ? 'vip;customer' : 'customer'},${i % 5 === 0 ? 'false' : 'true'},${i % 2 ? 'pro' : 'free'}`);
  const r = await apiCall('POST', '/contacts/import', { token, raw: lines.join('\n') + '\n', type: 'text/csv' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.imported, n);
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

test('import a CSV with a bad row: mapping preview, progress, result and error report', async () => {
  const acct = await account('import');
  const { context, page } = await newPage(acct);
  await page.goto(`${BASE}/app/contacts`);
  await page.waitForSelector('[data-testid=contacts-empty]');
  await shot(page, 'contacts-empty-desktop');
  await page.click('a[href="/app/contacts/import"] >> nth=0');
  await page.waitForURL(`${BASE}/app/contacts/import`);
  const csv = [
    'E-mail,First name,Surname,Tags,Company,created_at',
    'ada@example.org,Ada,Lovelace,vip;founder,Analytical Engines,2020-01-01',
    'grace@example.org,Grace,Hopper,navy,US Navy,2020-01-01',
    'not-an-address,Bad,Row,,Nowhere,2020-01-01',
    '"linus@example.org","Linus, Jr.",Torvalds,kernel,"Linux ""Foundation""",2020-01-01',
  ].join('\r\n') + '\r\n';
  await page.setInputFiles('[data-testid=import-file]', { name: 'customers.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.waitForSelector('[data-testid=import-mapping]');
  // Guessed: E-mail → email, Surname → last name, Company a custom field, created_at not imported.
  assert.equal(await page.inputValue('[data-testid=map-0]'), 'email');
  assert.equal(await page.inputValue('[data-testid=map-1]'), 'first_name');
  assert.equal(await page.inputValue('[data-testid=map-2]'), 'last_name');
  assert.equal(await page.inputValue('[data-testid=map-3]'), 'tags');
  assert.equal(await page.inputValue('[data-testid=map-4]'), '__custom');
  assert.equal(await page.inputValue('[data-testid=map-5]'), '__skip');
  const cells = await page.locator('[data-testid=import-preview] tbody tr').allTextContents();
  assert.equal(cells.length, 4, 'the four data rows');
  assert.ok(cells[3].includes('Linus, Jr.') && cells[3].includes('Linux "Foundation"'), cells[3]);
  await shot(page, 'import-mapping-desktop');
  await page.click('[data-testid=import-start]');
  await page.waitForSelector('[data-testid=import-result]');
  assert.equal(await page.textContent('[data-testid=import-imported]'), '3');
  assert.equal(await page.textContent('[data-testid=import-failed]'), '1');
  assert.equal(await page.textContent('[data-testid=import-skipped]'), '0');
  const errRows = await page.locator('[data-testid=import-error-row]').allTextContents();
  assert.equal(errRows.length, 1);
  assert.match(errRows[0], /^3.*email/i, 'row 3 (after the header) and why');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=import-report]')]);
  assert.equal(download.suggestedFilename(), 'customers-errors.csv');
  const report = fs.readFileSync(await download.path(), 'utf8');
  const lines = report.trim().split(/\r\n/);
  assert.equal(lines[0], 'row,error,E-mail,First name,Surname,Tags,Company,created_at');
  assert.match(lines[1], /^3,.*,not-an-address,Bad,Row,,Nowhere,2020-01-01$/);
  await shot(page, 'import-result-desktop');

  // What went in: the mapped fields, the custom field under its own name, nothing from created_at.
  const list = await apiCall('GET', '/contacts?search=ada@example.org', { token: acct.token });
  assert.equal(list.body.total, 1);
  const ada = list.body.items[0];
  assert.equal(ada.first_name, 'Ada');
  assert.equal(ada.last_name, 'Lovelace');
  assert.deepEqual(ada.tags, ['vip', 'founder']);
  assert.deepEqual(ada.custom_fields, { Company: 'Analytical Engines' });
  assert.notEqual(ada.created_at.slice(0, 4), '2020');
  const linus = (await apiCall('GET', '/contacts?search=linus', { token: acct.token })).body.items[0];
  assert.equal(linus.first_name, 'Linus, Jr.');
  assert.deepEqual(linus.custom_fields, { Company: 'Linux "Foundation"' });

  // The table shows them, newest first like the API.
  await page.click('text=See contacts');
  await waitRows(page, 3);
  const api = await apiCall('GET', '/contacts?page=1&page_size=50', { token: acct.token });
  assert.deepEqual(await rowsText(page), api.body.items.map((c) => c.email));

  // A file without an address column cannot start.
  await page.goto(`${BASE}/app/contacts/import`);
  await page.setInputFiles('[data-testid=import-file]', { name: 'names.csv', mimeType: 'text/csv', buffer: Buffer.from('name,city\nA,B\n') });
  await page.waitForSelector('[data-testid=map-no-email]');
  assert.equal(await page.isDisabled('[data-testid=import-start]'), true);
  await context.close();
});

test('search, tag and subscription filters, sorting and pages equal the API; edit a contact in the side panel', async () => {
  const acct = await account('table');
  await seed(acct.token, 57);
  const { context, page } = await newPage(acct);
  const t0 = Date.now();
  await page.goto(`${BASE}/app/contacts`);
  await waitRows(page, 50);
  console.log(`# first page of 57 contacts shown in ${Date.now() - t0} ms (navigation included)`);
  const get = (q) => apiCall('GET', `/contacts?${q}`, { token: acct.token }).then((r) => r.body);
  let want = await get('page=1&page_size=50');
  assert.deepEqual(await rowsText(page), want.items.map((c) => c.email));
  assert.equal((await page.textContent('[data-testid=contacts-range]')).trim(), '1–50 of 57');
  await shot(page, 'contacts-desktop');

  await page.click('[data-testid=page-next]');
  await waitRows(page, 7);
  want = await get('page=2&page_size=50');
  assert.deepEqual(await rowsText(page), want.items.map((c) => c.email));
  assert.match(page.url(), /page=2/);

  // Oldest first from the select: the API's ?sort=created_at, the exact reverse of newest first.
  await page.selectOption('[data-testid=contacts-sort]', 'created_at');
  await waitRows(page, 50);
  const all = [...(await get('page=1&page_size=100')).items].reverse();
  assert.deepEqual(all.slice(0, 50).map((c) => c.email), (await get('sort=created_at&page=1&page_size=50')).items.map((c) => c.email));
  assert.deepEqual(await rowsText(page), all.slice(0, 50).map((c) => c.email));
  assert.match(page.url(), /sort=created_at/);
  assert.doesNotMatch(page.url(), /page=2/, 'a new order starts at page 1');
  await page.click('[data-testid=page-next]');
  await waitRows(page, 7);
  assert.deepEqual(await rowsText(page), all.slice(50).map((c) => c.email));
  assert.equal(await page.getAttribute('[data-testid=sort-created_at]', 'aria-sort'), 'ascending');
  assert.equal(await page.getAttribute('[data-testid=sort-email]', 'aria-sort'), 'none');

  // The column headers sort, from the keyboard: email A to Z, then Z to A, each the API's order.
  const byEmail = [...all].map((c) => c.email).sort();
  await page.focus('[data-testid=sort-email-button]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid=sort-email]')?.getAttribute('aria-sort') === 'ascending');
  await waitRows(page, 50);
  assert.deepEqual(await rowsText(page), byEmail.slice(0, 50));
  assert.deepEqual(await rowsText(page), (await get('sort=email&page=1&page_size=50')).items.map((c) => c.email));
  assert.equal(await page.getAttribute('[data-testid=sort-created_at]', 'aria-sort'), 'none');
  assert.equal(await page.inputValue('[data-testid=contacts-sort]'), 'email');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid=sort-email]')?.getAttribute('aria-sort') === 'descending');
  await waitRows(page, 50);
  assert.deepEqual(await rowsText(page), [...byEmail].reverse().slice(0, 50));
  await page.click('[data-testid=page-next]');
  await waitRows(page, 7);
  assert.deepEqual(await rowsText(page), [...byEmail].reverse().slice(50));
  assert.match(page.url(), /sort=-email/);
  // Sorted and filtered: the order holds within the tag.
  await page.fill('[data-testid=contacts-tag]', 'vip');
  want = await get('tag=vip&sort=-email&page=1&page_size=50');
  await waitRows(page, want.total);
  assert.deepEqual(await rowsText(page), want.items.map((c) => c.email));
  assert.deepEqual(want.items.map((c) => c.email), [...want.items.map((c) => c.email)].sort().reverse());
  await page.fill('[data-testid=contacts-tag]', '');
  await waitRows(page, 50);
  await shot(page, 'contacts-sorted-desktop', { fullPage: false });
  // The date header starts newest first, the default (and leaves the address).
  await page.click('[data-testid=sort-created_at-button]');
  await page.waitForFunction(() => document.querySelector('[data-testid=sort-created_at]')?.getAttribute('aria-sort') === 'descending');
  await waitRows(page, 50);
  assert.deepEqual(await rowsText(page), (await get('page=1&page_size=50')).items.map((c) => c.email));
  assert.doesNotMatch(page.url(), /sort=/);

  // Search (name), then tag, then status: each equals the API's answer.
  await page.fill('[data-testid=contacts-search]', 'zedson');
  want = await get('search=zedson&page=1&page_size=50');
  await waitRows(page, want.total);
  assert.ok(want.total > 0);
  assert.deepEqual(await rowsText(page), want.items.map((c) => c.email));
  await page.fill('[data-testid=contacts-tag]', 'vip');
  want = await get('search=zedson&tag=vip&page=1&page_size=50');
  await waitRows(page, want.total);
  assert.deepEqual(await rowsText(page), want.items.map((c) => c.email));
  await page.selectOption('[data-testid=contacts-status]', 'unsubscribed');
  want = await get('search=zedson&tag=vip&is_subscribed=false&page=1&page_size=50');
  await waitRows(page, want.total);
  assert.deepEqual(await rowsText(page), want.items.map((c) => c.email));
  assert.equal((await page.textContent('[data-testid=contacts-range]')).trim(), want.total ? `1–${want.total} of ${want.total}` : '0 contacts');
  // The filters are in the address: a reload shows the same.
  await page.reload();
  await waitRows(page, want.total);
  assert.equal(await page.inputValue('[data-testid=contacts-search]'), 'zedson');
  await page.fill('[data-testid=contacts-search]', 'no-such-person-xyz');
  await page.waitForSelector('[data-testid=contacts-empty-filtered]');
  await shot(page, 'contacts-no-match-desktop');
  await page.click('text=Clear filters');
  await waitRows(page, 50);

  // Edit the first row in the side panel.
  const first = (await get('page=1&page_size=1')).items[0];
  await page.locator('[data-testid=row-menu]').first().click();
  await page.click('[data-testid=row-edit]');
  await page.waitForSelector('[data-testid=contact-sheet]');
  assert.equal(await page.inputValue('#field-email'), first.email);
  await page.fill('#field-first_name', 'Renamed');
  await page.fill('#field-tags', 'edited');
  await page.keyboard.press('Enter');
  await shot(page, 'contact-edit-desktop', { fullPage: false });
  // Another contact's address: the API's detail next to the email field.
  const other = (await get('page=2&page_size=1')).items[0];
  expectStatus('/api/v1/contacts/' + first.id, 400);
  await page.fill('#field-email', other.email);
  await page.click('[data-testid=contact-save]');
  await page.waitForSelector('[data-testid=error-email]');
  assert.match(await page.textContent('[data-testid=error-email]'), /already exists/);
  await page.fill('#field-email', first.email);
  await page.click('[data-testid=contact-save]');
  await page.waitForSelector('[data-testid=contact-sheet]', { state: 'hidden' });
  const saved = (await apiCall('GET', `/contacts/${first.id}`, { token: acct.token })).body;
  assert.equal(saved.first_name, 'Renamed');
  assert.ok(saved.tags.includes('edited'));
  await page.waitForFunction(() => document.querySelector('[data-testid=contact-name]')?.textContent?.startsWith('Renamed'));

  // Bulk: tag two contacts.
  const boxes = page.locator('[data-testid=contact-row] input[type=checkbox]');
  await boxes.nth(1).check();
  await boxes.nth(2).check();
  assert.equal((await page.textContent('[data-testid=bulk-count]')).trim(), '2 selected');
  await page.click('[data-testid=bulk-tag]');
  await page.fill('[data-testid=bulk-tag-input]', 'bulk-tagged');
  await page.click('[data-testid=bulk-confirm]');
  await page.waitForSelector('[data-testid=bulk-bar]', { state: 'hidden' });
  assert.equal((await get('tag=bulk-tagged&page=1&page_size=50')).total, 2);

  // A batch that half fails (one contact deleted meanwhile: the API has no
  // bulk tag, one PATCH each) says so and keeps only the failed one selected.
  await waitRows(page, 50);
  const rows = await get('page=1&page_size=50');
  await boxes.nth(3).check();
  await boxes.nth(4).check();
  const gone = rows.items[4];
  assert.equal((await apiCall('DELETE', `/contacts/${gone.id}`, { token: acct.token })).status, 204);
  expectStatus('/api/v1/contacts/' + gone.id, 404);
  await page.click('[data-testid=bulk-tag]');
  await page.fill('[data-testid=bulk-tag-input]', 'half');
  await page.click('[data-testid=bulk-confirm]');
  await page.waitForSelector('[data-testid=bulk-error]');
  const said = await page.textContent('[data-testid=bulk-error]');
  assert.match(said, /Tagged 1 of 2 contacts; 1 failed/);
  assert.ok(said.includes(gone.email), said);
  assert.match(said, /Contact not found/);
  assert.equal((await page.textContent('[data-testid=bulk-count]')).trim(), '1 selected');
  assert.equal((await get('tag=half&page=1&page_size=50')).total, 1);
  await shot(page, 'contacts-bulk-partial-desktop', { fullPage: false });
  await page.keyboard.press('Escape');
  await page.click('[data-testid=bulk-clear]');
  await page.waitForSelector('[data-testid=bulk-bar]', { state: 'hidden' });
  await context.close();

  // The same table on a phone.
  const phone = await newPage(acct, PHONE);
  await phone.page.goto(`${BASE}/app/contacts`);
  await waitRows(phone.page, 50);
  await noOverflow(phone.page);
  await shot(phone.page, 'contacts-phone', { fullPage: false });
  // The bulk bar on a phone: its buttons in one row each, none cut off.
  await phone.page.locator('[data-testid=contact-row] input[type=checkbox]').first().check();
  await phone.page.waitForSelector('[data-testid=bulk-bar]');
  await noOverflow(phone.page);
  await noButtonWraps(phone.page, '[data-testid=bulk-bar] button');
  await noButtonWraps(phone.page, '[data-testid=page-actions] > *');
  await shot(phone.page, 'contacts-bulk-phone', { fullPage: false });
  await phone.context.close();
});

test("a dynamic segment's live count equals the API's; saved, its count is the same", async () => {
  const acct = await account('segment');
  await seed(acct.token, 40);
  const { context, page } = await newPage(acct);
  await page.goto(`${BASE}/app/contacts/lists`);
  await page.waitForSelector('[data-testid=lists-empty]');
  await page.click('[data-testid=new-segment]');
  await page.waitForURL(/\/app\/contacts\/lists\/view\?new=dynamic/);
  const count = async () => (await page.textContent('[data-testid=segment-count]')).trim();
  const preview = async (rules) => (await apiCall('POST', '/contacts/lists/preview', { token: acct.token, body: { rules } })).body.count;
  const waitCount = (n) => page.waitForFunction((s) => document.querySelector('[data-testid=segment-count]')?.textContent?.trim() === s, fmt.format(n));

  // Tags: has the tag vip.
  const rows = page.locator('[data-testid=rule-row]');
  await rows.nth(0).locator('[data-testid=rule-value]').fill('vip');
  let rules = { match: 'all', conditions: [{ field: 'tags', op: 'contains', value: 'vip' }] };
  await waitCount(await preview(rules));
  // And subscribed.
  await page.click('[data-testid=rule-add]');
  await rows.nth(1).locator('[data-testid=rule-field]').selectOption('is_subscribed');
  rules.conditions.push({ field: 'is_subscribed', op: 'eq', value: true });
  const both = await preview(rules);
  await waitCount(both);
  // And a custom field: plan is pro.
  await page.click('[data-testid=rule-add]');
  await rows.nth(2).locator('[data-testid=rule-field]').selectOption('custom_fields.');
  await rows.nth(2).locator('[data-testid=rule-custom-key]').fill('plan');
  await rows.nth(2).locator('[data-testid=rule-op]').selectOption('eq');
  await rows.nth(2).locator('[data-testid=rule-value]').fill('pro');
  rules.conditions.push({ field: 'custom_fields.plan', op: 'eq', value: 'pro' });
  const three = await preview(rules);
  await waitCount(three);
  assert.ok(three > 0 && three < both, `${three} < ${both}`);
  // Match any of them.
  await page.selectOption('[data-testid=rule-match]', 'any');
  rules = { ...rules, match: 'any' };
  const any = await preview(rules);
  await waitCount(any);
  assert.ok(any > both);
  const sample = await page.locator('[data-testid=segment-sample] li').count();
  assert.equal(sample, Math.min(5, any));
  // A rule the API refuses: its detail at its row.
  await rows.nth(2).locator('[data-testid=rule-custom-key]').fill('x'.repeat(65));
  expectStatus('/api/v1/contacts/lists/preview', 422);
  await page.waitForSelector('[data-testid=rule-error]');
  assert.match(await page.textContent('[data-testid=rule-error]'), /1 to 64 characters/);
  await rows.nth(2).locator('[data-testid=rule-custom-key]').fill('plan');
  await waitCount(any);
  await page.selectOption('[data-testid=rule-match]', 'all');
  await waitCount(three);
  assert.equal(await count(), fmt.format(three));
  await shot(page, 'segment-builder-desktop');

  // Saving without a name: the API's detail next to the name.
  expectStatus('/api/v1/contacts/lists', 422);
  await page.click('[data-testid=segment-save]');
  await page.waitForSelector('[data-testid=error-name]');
  await page.fill('#field-name', 'Pro VIPs');
  await page.click('[data-testid=segment-save]');
  await page.waitForURL(/\/app\/contacts\/lists\/view\?id=/);
  const id = new URL(page.url()).searchParams.get('id');
  const saved = (await apiCall('GET', `/contacts/lists/${id}`, { token: acct.token })).body;
  assert.equal(saved.list_type, 'dynamic');
  assert.equal(saved.contact_count, three);
  assert.deepEqual(saved.rules.conditions.map((c) => c.field), ['tags', 'is_subscribed', 'custom_fields.plan']);
  await waitCount(three);
  await page.goto(`${BASE}/app/contacts/lists`);
  await page.waitForSelector('[data-testid=list-row]');
  assert.equal((await page.textContent('[data-testid=list-count]')).trim(), fmt.format(three));
  await context.close();

  const phone = await newPage(acct, PHONE);
  await phone.page.goto(`${BASE}/app/contacts/lists/view?id=${id}`);
  await phone.page.waitForFunction((s) => document.querySelector('[data-testid=segment-count]')?.textContent?.trim() === s, fmt.format(three));
  await noOverflow(phone.page);
  await shot(phone.page, 'segment-builder-phone');
  await phone.context.close();
});

test('a static list gets members from the bulk bar; a contact page; erase with confirmation', async () => {
  const acct = await account('erase');
  await seed(acct.token, 6);
  const list = await apiCall('POST', '/contacts/lists', { token: acct.token, body: { name: 'Newsletter', list_type: 'static' } });
  assert.equal(list.status, 201);
  const { context, page } = await newPage(acct);
  await page.goto(`${BASE}/app/contacts`);
  await waitRows(page, 6);
  await page.check('[data-testid=select-page]');
  assert.equal((await page.textContent('[data-testid=bulk-count]')).trim(), '6 selected');
  await page.click('[data-testid=bulk-list]');
  await page.waitForSelector('[data-testid=bulk-list-select]');
  await page.click('[data-testid=bulk-confirm]');
  await page.waitForSelector('[data-testid=bulk-bar]', { state: 'hidden' });
  assert.equal((await apiCall('GET', `/contacts/lists/${list.body.id}`, { token: acct.token })).body.contact_count, 6);
  await page.goto(`${BASE}/app/contacts/lists/view?id=${list.body.id}`);
  await page.waitForSelector('[data-testid=member-row]');
  assert.equal(await page.locator('[data-testid=member-row]').count(), 6);
  await shot(page, 'list-members-desktop');

  // A contact's page: profile, tags, custom fields, lists, consent.
  const c = (await apiCall('GET', '/contacts?page=1&page_size=1', { token: acct.token })).body.items[0];
  await page.goto(`${BASE}/app/contacts/view?id=${c.id}`);
  await page.waitForSelector('[data-testid=contact-lists]');
  assert.equal((await page.textContent('[data-testid=contact-email-line]')).trim(), c.email);
  assert.match(await page.textContent('[data-testid=contact-lists]'), /Newsletter/);
  assert.match(await page.textContent('[data-testid=contact-fields]'), /plan/);
  await page.waitForSelector('[data-testid=contact-no-activity]');
  await page.waitForSelector('[data-testid=contact-consent]');
  // GDPR export: everything held, as JSON.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=contact-export]')]);
  const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(exported.contact.email, c.email);
  assert.equal(exported.lists[0].name, 'Newsletter');
  await shot(page, 'contact-page-desktop');

  // Erase: the button waits for the address to be typed.
  await page.click('[data-testid=contact-erase]');
  await page.waitForSelector('[data-testid=confirm-erase]');
  assert.equal(await page.isDisabled('[data-testid=confirm-action]'), true);
  await page.fill('[data-testid=erase-typed]', c.email.toUpperCase());
  await shot(page, 'contact-erase-confirm-desktop', { fullPage: false });
  await page.click('[data-testid=confirm-action]');
  await page.waitForURL(`${BASE}/app/contacts`);
  assert.equal((await apiCall('GET', `/contacts/${c.id}`, { token: acct.token })).status, 404);
  await waitRows(page, 5);
  assert.ok(!(await rowsText(page)).includes(c.email));
  // Imported again, the erased address is skipped (its suppression hash is kept).
  const again = await apiCall('POST', '/contacts/import', { token: acct.token, raw: `email\n${c.email}\n`, type: 'text/csv' });
  assert.equal(again.body.skipped, 1);
  expectStatus('/api/v1/contacts/' + c.id, 404);
  expectStatus(`/api/v1/contacts/${c.id}/export`, 404);
  expectStatus(`/api/v1/contacts/${c.id}/events`, 404);
  await page.goto(`${BASE}/app/contacts/view?id=${c.id}`);
  await page.waitForSelector('[data-testid=contact-missing]');
  await context.close();

  const phone = await newPage(acct, PHONE);
  const d = (await apiCall('GET', '/contacts?page=1&page_size=1', { token: acct.token })).body.items[0];
  await phone.page.goto(`${BASE}/app/contacts/view?id=${d.id}`);
  await phone.page.waitForSelector('[data-testid=contact-lists]');
  await noOverflow(phone.page);
  // The five actions: two even columns, the erasure on its own row, no label wrapped.
  await noButtonWraps(phone.page, '[data-testid=contact-actions] > *');
  const boxesOf = await phone.page.$$eval('[data-testid=contact-actions] > *', (els) => els.map((e) => e.getBoundingClientRect()).map((r) => ({ x: Math.round(r.x), y: Math.round(r.y), w: Math.round(r.width) })));
  assert.equal(boxesOf.length, 5);
  assert.equal(new Set(boxesOf.map((b) => b.y)).size, 3, JSON.stringify(boxesOf));
  assert.ok(Math.abs(boxesOf[0].w - boxesOf[1].w) <= 1 && boxesOf[0].y === boxesOf[1].y, JSON.stringify(boxesOf));
  assert.ok(boxesOf[4].w > boxesOf[0].w * 1.9, JSON.stringify(boxesOf));
  await shot(phone.page, 'contact-page-phone');
  await phone.context.close();
});

test('a template with an error at its line and column, fixed, previewed for a contact at both widths', async () => {
  const acct = await account('template');
  const contact = await apiCall('POST', '/contacts', { token: acct.token, body: { email: 'jo@example.org', first_name: 'Jo', custom_fields: { city: 'Lyon' } } });
  assert.equal(contact.status, 201);
  const { context, page } = await newPage(acct);
  await page.goto(`${BASE}/app/templates`);
  await page.waitForSelector('[data-testid=system-template]');
  const system = (await apiCall('GET', '/templates?is_system=true&page=1&page_size=100', { token: acct.token })).body;
  assert.equal(await page.locator('[data-testid=system-template]').count(), system.total);
  await page.waitForSelector('[data-testid=templates-empty]');
  await page.waitForTimeout(500); // the thumbnails' frames
  await shot(page, 'templates-gallery-desktop');
  await page.click('[data-testid=category-cart]');
  assert.equal(await page.locator('[data-testid=system-template]').count(), system.items.filter((t) => t.category === 'cart').length);

  await page.click('[data-testid=new-template]');
  await page.waitForURL(`${BASE}/app/templates/edit`);
  await page.waitForSelector('[data-testid=preview-frame]');
  await page.fill('#field-name', 'Hello from Lyon');
  const broken = '<html><body>\n<h1>Hi {{first_name|there}}</h1>\n<p>From {{custom.city</p>\n</body></html>';
  await page.fill('#field-html', broken);
  expectStatus('/api/v1/templates/preview', 422);
  expectStatus('/api/v1/templates', 422);
  const apiErr = await apiCall('POST', '/templates/preview', { token: acct.token, body: { subject: 'Hello {{first_name|there}}', html_content: broken } });
  assert.equal(apiErr.status, 422);
  const [, line, col] = /line (\d+), column (\d+)/.exec(apiErr.body.detail);
  await page.waitForSelector('[data-testid=template-error-position]');
  assert.equal((await page.textContent('[data-testid=template-error-position]')).trim(), `Line ${line}, column ${col}:`);
  assert.equal(line, '3');
  assert.equal(await page.getAttribute('#field-html', 'aria-invalid'), 'true');
  // Saving is refused the same way; nothing is stored.
  await page.click('[data-testid=template-save]');
  await page.waitForTimeout(500);
  assert.equal((await apiCall('GET', '/templates?is_system=false', { token: acct.token })).body.total, 0);
  await shot(page, 'template-error-desktop');
  // "Go to the error" puts the cursor there.
  await page.click('text=Go to the error');
  const caret = await page.evaluate(() => {
    const t = document.querySelector('#field-html');
    const before = t.value.slice(0, t.selectionStart).split('\n');
    return [before.length, before[before.length - 1].length + 1];
  });
  assert.deepEqual(caret, [Number(line), Number(col)]);

  // Fixed: the preview renders with sample data, then for the contact.
  await page.fill('#field-html', broken.replace('{{custom.city</p>', '{{custom.city|somewhere}}</p>'));
  await page.waitForSelector('[data-testid=template-error]', { state: 'detached' });
  const frame = page.frameLocator('[data-testid=preview-frame]');
  await frame.locator('text=From somewhere').waitFor();
  assert.equal(await frame.locator('h1').textContent(), 'Hi Alex');
  await page.selectOption('[data-testid=preview-contact]', contact.body.id);
  await frame.locator('text=From Lyon').waitFor();
  assert.equal(await frame.locator('h1').textContent(), 'Hi Jo');
  assert.equal((await page.textContent('[data-testid=preview-subject]')).trim(), 'Hello Jo');
  // The frame is sandboxed: no scripts, no same-origin access.
  assert.equal(await page.getAttribute('[data-testid=preview-frame]', 'sandbox'), '');
  // A variable inserted at the cursor of the subject.
  await page.click('#field-subject');
  await page.press('#field-subject', 'End');
  await page.type('#field-subject', ' from ');
  await page.locator('[data-testid=variable]', { hasText: '{{email}}' }).click();
  assert.equal(await page.inputValue('#field-subject'), 'Hello {{first_name|there}} from {{email}}');
  await page.waitForFunction(() => document.querySelector('[data-testid=preview-subject]')?.textContent?.trim() === 'Hello Jo from jo@example.org');
  await shot(page, 'template-preview-desktop');
  await page.click('[data-testid=preview-phone]');
  await page.waitForTimeout(400);
  const w = await page.evaluate(() => document.querySelector('[data-testid=preview-frame]').getBoundingClientRect().width);
  assert.ok(w <= 375 && w > 300, `phone width ${w}`);
  await shot(page, 'template-preview-phone-width-desktop');

  await page.click('[data-testid=template-save]');
  await page.waitForURL(/\/app\/templates\/edit\?id=/);
  const own = (await apiCall('GET', '/templates?is_system=false', { token: acct.token })).body;
  assert.equal(own.total, 1);
  assert.equal(own.items[0].name, 'Hello from Lyon');
  assert.ok(own.items[0].html_content.includes('{{custom.city|somewhere}}'));
  await page.goto(`${BASE}/app/templates`);
  await page.waitForSelector('[data-testid=own-template]');
  await context.close();

  const phone = await newPage(acct, PHONE);
  await phone.page.goto(`${BASE}/app/templates/edit?id=${own.items[0].id}`);
  await phone.page.frameLocator('[data-testid=preview-frame]').locator('h1').waitFor();
  await noOverflow(phone.page);
  await shot(phone.page, 'template-editor-phone');
  await phone.page.goto(`${BASE}/app/templates`);
  await phone.page.waitForSelector('[data-testid=own-template]');
  await noOverflow(phone.page);
  await shot(phone.page, 'templates-gallery-phone', { fullPage: false });
  await phone.context.close();
});

test('no console errors, page errors or CSP violations on these pages', () => {
  assert.deepEqual(problems, []);
});
