// The console's bulk-issuance page in headless Chromium against the real Sanad binary: a
// registrar opens it from the menu, uploads a small CSV with bad rows, watches the job end
// (the page updates itself), reads the errors in the table, downloads the errors file, and
// the page is screenshotted in Arabic and English and checked by axe-core. The same upload
// works with JavaScript turned off (a plain form; the job page has a Refresh link). An
// approver does not see the page.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startSanad } from './lib/sanad.mjs';
import { browserMissing, CHROMIUM, SHOTS } from './lib/browser.mjs';

const skip = browserMissing() ?? false;
const require = createRequire(import.meta.url);
const PW = 'a console password long enough';
let S;
let browser;

// Row 2: a national ID too short; row 3: a name a spreadsheet would run as a formula;
// row 4: a request key used twice; row 5: a line with too few columns.
const CSV = [
  'request_key,name_ar,name_en,date_of_birth,national_id,programme',
  'e2e-1,فاطمة أحمد الحربي,Fatima Ahmed Al-Harbi,1988-04-12,1098765432,أسر السجناء',
  'e2e-2,علي عمر,Ali Omar,1990-01-02,12,أسر السجناء',
  'e2e-3,سارة ناصر,=HYPERLINK("http://x"),1991-03-04,99887766,أسر السجناء',
  'e2e-1,منى خالد,Mona Khaled,1992-05-06,55667788,أسر السجناء',
  'e2e-5,نورة',
  'e2e-6,إيمان سالم القحطاني,Eman Salem Al-Qahtani,1993-07-08,44556677,أسر السجناء',
  '',
].join('\n');

before(async () => {
  S = await startSanad();
  for (const [name, role] of [['reg', 'registrar'], ['appr', 'approver']]) {
    await S.cliInput(`${PW}\n`, 'users', 'add', name, '--role', role, '--agency', 'MOSD');
  }
  if (!skip) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => {
  await browser?.close();
  await S?.stop();
});

async function signIn(user, { javaScriptEnabled = true } = {}) {
  // bypassCSP only lets the test inject axe-core; the pages themselves run under the CSP.
  const context = await browser.newContext({
    viewport: { width: 1366, height: 900 }, locale: 'ar', timezoneId: 'Asia/Riyadh', bypassCSP: true,
    acceptDownloads: true, javaScriptEnabled,
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${S.url}/console/login?lang=ar`);
  await page.fill('#username', user);
  await page.fill('#password', PW);
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/login')), page.click('form[action="/console/login"] button')]);
  return { context, page, errors };
}

async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  // Grow the viewport to the page height first (a full-page screenshot of an RTL page can
  // come out shifted sideways: STACK-NOTES).
  const vp = page.viewportSize();
  const h = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: vp.width, height: Math.max(vp.height, h) });
  await page.screenshot({ path: path.join(SHOTS, `console-${name}.png`) });
  await page.setViewportSize(vp);
}

async function assertFits(page, what) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(over <= 1, `${what}: ${over}px wider than the window`);
}

async function axe(page) {
  await page.addScriptTag({ content: await readFile(require.resolve('axe-core/axe.min.js'), 'utf8') });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    if (r.passes.length + r.violations.length < 10) return ['axe-core did not run its rules'];
    return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
}

/** Screenshots at 1366 and 768 px in Arabic and English, axe-core in each language. */
async function shotsOf(page, name) {
  const url = new URL(page.url());
  url.searchParams.delete('msg');
  const found = [];
  for (const lang of ['ar', 'en']) {
    url.searchParams.set('lang', lang);
    await page.goto(url.toString());
    assert.equal(await page.getAttribute('html', 'lang'), lang);
    assert.equal(await page.getAttribute('html', 'dir'), lang === 'ar' ? 'rtl' : 'ltr');
    for (const width of [1366, 768]) {
      await page.setViewportSize({ width, height: 900 });
      await assertFits(page, `${name} ${lang} ${width}`);
      await shot(page, `${name}-${lang}-${width}`);
    }
    await page.setViewportSize({ width: 1366, height: 900 });
    found.push(...(await axe(page)).map((v) => `${name} ${lang}: ${v}`));
  }
  url.searchParams.set('lang', 'ar');
  await page.goto(url.toString());
  assert.deepEqual(found, [], 'axe-core: no serious or critical violation');
}

describe('bulk issuance in the console', { skip }, () => {
  test('upload a file with bad rows, watch it end, read and download the errors', async () => {
    const { context, page, errors } = await signIn('reg');
    try {
      // From the menu to the page: the form, the columns, the samples.
      await page.click('header nav a[href="/console/bulk"]');
      await page.waitForURL(/\/console\/bulk$/);
      assert.equal(await page.getAttribute('header nav a[href="/console/bulk"]', 'aria-current'), 'page');
      assert.match(await page.textContent('h1'), /الإصدار الجماعي/);
      const cols = await page.$$eval('table.list code', (cs) => cs.map((c) => c.textContent));
      assert.ok(cols.includes('request_key') && cols.includes('sha256'), `columns: ${cols}`);
      const sample = await page.request.get(`${S.url}/console/bulk/sample/sanad-bulk-sample.csv`);
      assert.equal(sample.status(), 200);
      assert.match(await sample.text(), /^request_key,kind,person_id,/);
      await shotsOf(page, 'bulk-upload');

      // Upload the file; the job page follows the job until it ends, without a reload.
      await page.setInputFiles('#file', { name: 'beneficiaries.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
      await Promise.all([page.waitForURL(/\/console\/bulk\/j[a-z0-9]+\?msg=msg_bulk_started$/), page.click('form[action="/console/bulk"] button')]);
      const jobUrl = page.url().split('?')[0];
      const marker = await page.evaluate(() => { window.__samePage = true; return true; });
      assert.ok(marker);
      await page.waitForSelector('#bulk-status .b-done', { timeout: 30_000 });
      assert.equal(await page.evaluate(() => window.__samePage), true, 'updated in place, not reloaded');
      assert.equal(await page.$('#bulk-job[data-poll]'), null, 'polling stopped');
      const stats = await page.$$eval('#bulk-progress .stat', (s) => s.map((x) => x.textContent.trim()));
      assert.deepEqual(stats.slice(0, 3), ['2', '4', '0'], `issued, with errors, before: ${stats}`);
      const rows = await page.$$eval('#bulk-errors tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
      assert.deepEqual(rows.map((r) => [r[0], r[2]]), [['2', 'invalid'], ['3', 'formula'], ['4', 'duplicate_key'], ['5', 'malformed_csv']]);
      assert.match(rows[0][3], /رقم الهوية الوطنية/);
      assert.match(rows[1][3], /معادلة/);

      // The errors file, as the browser downloads it.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`a[href="${new URL(jobUrl).pathname}/errors.csv"]`)]);
      const file = await readFile(await download.path(), 'utf8');
      const lines = file.replace(/^\uFEFF/, '').trim().split(/\r?\n/);
      assert.equal(lines[0], 'row,request_key,error_code,field,message,detail');
      assert.deepEqual(lines.slice(1).map((l) => l.split(',').slice(0, 3).join(',')), ['2,e2e-2,invalid', '3,e2e-3,formula', '4,e2e-1,duplicate_key', '5,,malformed_csv']);
      assert.match(lines[1], /رقم الهوية الوطنية/);
      assert.doesNotMatch(file, /HYPERLINK|Ali Omar/, 'no row content in the errors file');
      // Screenshots of the ended job in both languages and widths.
      await page.goto(jobUrl);
      await shotsOf(page, 'bulk-job');
      // The API sees the same job.
      const api = await S.api('GET', `/api/v1/credentials/bulk/${jobUrl.split('/').pop()}`);
      assert.equal(api.issued, 2);
      // A larger file is still running when its page opens: the page follows it to the end
      // in place (counts and the status line change without a reload).
      const big = ['request_key,name_ar,name_en,date_of_birth,national_id,programme'];
      for (let i = 0; i < 6000; i++) big.push(`big-${i},اسم ${i},Name ${i},1990-01-02,${String(70000000 + i)},p`);
      await page.goto(`${S.url}/console/bulk`);
      await page.setInputFiles('#file', { name: 'big.csv', mimeType: 'text/csv', buffer: Buffer.from(big.join('\n')) });
      await Promise.all([page.waitForURL(/msg=msg_bulk_started$/), page.click('form[action="/console/bulk"] button')]);
      assert.ok(await page.$('#bulk-job[data-poll] #bulk-status .b-running'), 'the job is running when its page opens');
      assert.match(await page.textContent('#bulk-progress'), /المتبقي/);
      await page.evaluate(() => { window.__samePage = 'big'; });
      await page.waitForSelector('#bulk-status .b-done', { timeout: 120_000 });
      assert.equal(await page.evaluate(() => window.__samePage), 'big', 'updated in place, not reloaded');
      assert.equal((await page.$$eval('#bulk-progress .stat', (s) => s.map((x) => x.textContent.trim())))[0], '6000');
      // The list of past jobs.
      await page.goto(`${S.url}/console/bulk`);
      assert.ok(await page.$(`a[href="${new URL(jobUrl).pathname}"]`), 'the job is listed');
      assert.deepEqual(errors, [], 'no uncaught errors in the pages');
    } finally {
      await context.close();
    }
  });

  test('works without JavaScript; an approver has no bulk page', async () => {
    const { context, page } = await signIn('reg', { javaScriptEnabled: false });
    try {
      await page.goto(`${S.url}/console/bulk?lang=en`);
      const nd = '{"request_key":"nojs-1","name_ar":"ريم","name_en":"Reem","date_of_birth":"1994-09-10","national_id":"33445566","programme":"p"}\n';
      await page.setInputFiles('#file', { name: 'one.ndjson', mimeType: 'application/octet-stream', buffer: Buffer.from(nd) });
      await Promise.all([page.waitForURL(/msg=msg_bulk_started/), page.click('form[action="/console/bulk"] button')]);
      const jobUrl = page.url().split('?')[0];
      for (let i = 0; i < 100 && !(await page.$('#bulk-status .b-done')); i++) {
        const refresh = await page.$('#bulk-progress a.button');
        if (refresh) await refresh.click(); else await page.goto(jobUrl);
        await page.waitForLoadState('load');
      }
      assert.ok(await page.$('#bulk-status .b-done'), 'the job ended');
      assert.match(await page.textContent('#bulk-errors'), /No row has an error/);
    } finally {
      await context.close();
    }
    const appr = await signIn('appr');
    try {
      assert.equal(await appr.page.$('header nav a[href="/console/bulk"]'), null, 'no menu entry');
      const res = await appr.page.goto(`${S.url}/console/bulk`);
      assert.equal(res.status(), 403);
    } finally {
      await appr.context.close();
    }
  });
});
