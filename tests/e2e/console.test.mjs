// The registrar's desk in headless Chromium against the real Sanad binary: a registrar
// signs in, finds a person by part of an Arabic name typed with another hamza form,
// registers a person with a photo, issues both kinds, decodes the credential page's QR,
// revokes after confirming a reason and sees the history; an approver decides a request;
// an admin uses the users, tokens, keys, agencies, audit and reports pages. Arabic and
// English, screenshots at 1366×900 and 768 px wide, axe-core over every console page.
// Also: `/metrics` parsed with a Prometheus text-format parser.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startSanad } from './lib/sanad.mjs';
import { browserMissing, CHROMIUM, SHOTS } from './lib/browser.mjs';

const skip = browserMissing() ?? false;
const require = createRequire(import.meta.url);
const PW = 'a console password long enough';
let S;
let browser;
let tmp;

before(async () => {
  S = await startSanad();
  tmp = await mkdtemp(path.join(tmpdir(), 'sanad-e2e-console-'));
  for (const [name, role, agency] of [['reg', 'registrar', 'MOSD'], ['appr', 'approver', 'MOSD'], ['root', 'admin'], ['off', 'officer']]) {
    await S.cliInput(`${PW}\n`, 'users', 'add', name, '--role', role, ...(agency ? ['--agency', agency] : []));
  }
  if (!skip) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => {
  await browser?.close();
  await S?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function signIn(user, { width = 1366, height = 900 } = {}) {
  // bypassCSP only lets the test inject axe-core; the pages themselves run under the CSP.
  const context = await browser.newContext({ viewport: { width, height }, locale: 'ar', timezoneId: 'Asia/Riyadh', bypassCSP: true });
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
  // Grow the viewport to the page height first: a full-page screenshot of an RTL page can
  // come out shifted sideways (STACK-NOTES).
  const vp = page.viewportSize();
  const h = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: vp.width, height: Math.max(vp.height, h) });
  await page.screenshot({ path: path.join(SHOTS, `console-${name}.png`) });
  await page.setViewportSize(vp);
}

/** Nothing wider than the window (no horizontal scrolling, nothing cut off). */
async function assertFits(page, what) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(over <= 1, `${what}: ${over}px wider than the window`);
}

/** Screenshots at desktop and tablet width in both languages; the page must fit at 768 px. */
async function shotsOf(page, name) {
  const url = new URL(page.url());
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
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  url.searchParams.set('lang', 'ar');
  await page.goto(url.toString());
}

const axeSource = () => readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the current page. */
async function axe(page) {
  await page.addScriptTag({ content: await axeSource() });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    if (r.passes.length + r.violations.length < 10) return ['axe-core did not run its rules'];
    return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  return found;
}

/** A small portrait PNG drawn in the page. */
async function portrait(page) {
  return Buffer.from(await page.evaluate(async () => {
    const c = new OffscreenCanvas(300, 400);
    const g = c.getContext('2d');
    g.fillStyle = '#dfe7ee'; g.fillRect(0, 0, 300, 400);
    g.fillStyle = '#1f3b57'; g.beginPath(); g.ellipse(150, 400, 130, 110, 0, 0, 2 * Math.PI); g.fill();
    g.fillStyle = '#c99a78'; g.beginPath(); g.ellipse(150, 170, 70, 90, 0, 0, 2 * Math.PI); g.fill();
    const blob = await c.convertToBlob({ type: 'image/png' });
    return [...new Uint8Array(await blob.arrayBuffer())];
  }));
}

/** Prometheus families parsed by the reference parser (lib/prom_parse.py), or null (skip). */
async function parsePrometheus(text) {
  const run = promisify(execFile)('python3', [path.join(path.dirname(new URL(import.meta.url).pathname), 'lib', 'prom_parse.py')]);
  run.child.stdin.end(text);
  try {
    return JSON.parse((await run).stdout);
  } catch (e) {
    if (e.code !== 3) throw e;
    const why = 'python3 module prometheus_client not installed (pip install prometheus-client)';
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${why} (CI=true: failing instead of skipping)`);
    console.log(`SKIPPED (metrics parse): ${why}`);
    return null;
  }
}

async function zbar(file) {
  const { stdout } = await promisify(execFile)('zbarimg', ['-q', '--raw', file]);
  return stdout.trim();
}

describe('registrar console', { skip }, () => {
  test('search, register with a photo, issue both kinds, QR, revoke with a confirmed reason, history', async () => {
    await S.issueId('فاطمة أحمد الحربي', 'Fatima Ahmed Al-Harbi');
    await S.issueId('إيمان سالم القحطاني', 'Eman Salem Al-Qahtani');
    const { context, page, errors } = await signIn('reg');
    try {
      // Dashboard.
      assert.equal(new URL(page.url()).pathname, '/console');
      await shotsOf(page, 'dashboard');

      // Part of a name typed with another hamza form (احمد for أحمد) finds the record.
      await page.goto(`${S.url}/console/persons`);
      await page.fill('#q', 'احمد الحر');
      await Promise.all([page.waitForLoadState('load'), page.click('form[role="search"] button')]);
      assert.match(await page.textContent('table.list'), /فاطمة أحمد الحربي/);
      assert.doesNotMatch(await page.textContent('table.list'), /إيمان/);
      await shot(page, 'search-ar-1366');
      // …and ايمان (no hamza) finds إيمان.
      await page.fill('#q', 'ايمان');
      await Promise.all([page.waitForLoadState('load'), page.click('form[role="search"] button')]);
      assert.match(await page.textContent('table.list'), /إيمان سالم القحطاني/);

      // Register a person with a photo.
      await page.goto(`${S.url}/console/persons/new`);
      await page.fill('#name_ar', 'نورة عبدالله الشمري');
      await page.fill('#name_en', 'Noura Abdullah Al-Shammari');
      await page.fill('#dob', '1990-02-03');
      await page.fill('#nid', '1122334455');
      await page.fill('#programme', 'أسر السجناء');
      await page.setInputFiles('#photo', { name: 'face.png', mimeType: 'image/png', buffer: await portrait(page) });
      await shot(page, 'person-new-ar-1366');
      await Promise.all([page.waitForURL(/\/console\/persons\/[^/]+\?msg=msg_saved$/), page.click('form[enctype] button')]);
      const personUrl = page.url().split('?')[0];
      const photoWidth = await page.$eval('img.photo', (img) => img.complete && img.naturalWidth);
      assert.ok(photoWidth > 0, 'the stored photo loads');
      await shotsOf(page, 'person');

      // Edit the record: the form comes filled in; a photo that is not an image is refused
      // with the form kept; then a change is saved.
      await page.click(`a[href="${new URL(personUrl).pathname}/edit"]`);
      assert.equal(await page.inputValue('#name_en'), 'Noura Abdullah Al-Shammari');
      await page.fill('#programme', 'أسر السجناء — مرحلة ثانية');
      await page.setInputFiles('#photo', { name: 'face.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') });
      await page.click('form[enctype] button');
      await page.waitForSelector('.err');
      assert.match(await page.textContent('.err'), /الصورة/);
      assert.equal(await page.inputValue('#programme'), 'أسر السجناء — مرحلة ثانية', 'what was typed is kept');
      await shot(page, 'person-edit-error-ar-1366');
      await page.setInputFiles('#photo', []);
      await Promise.all([page.waitForURL(/msg=msg_saved/), page.click('form[enctype] button')]);
      assert.match(await page.textContent('dl.record'), /مرحلة ثانية/);

      // Issue a digital ID from the console.
      await Promise.all([page.waitForURL(/\/console\/credentials\/[^/?]+\?msg=msg_issued/), page.click('form[action$="/issue"] button')]);
      const idUrl = page.url().split('?')[0];
      const credId = idUrl.split('/').pop();
      assert.match(await page.textContent('.badge'), /سارية/);

      // The QR on the page decodes to the credential's QR text.
      await page.$eval('img.qr', (img) => { img.style.width = '600px'; img.style.maxWidth = 'none'; });
      await page.waitForFunction(() => document.querySelector('img.qr').complete);
      const qrFile = path.join(tmp, 'qr.png');
      await page.locator('img.qr').screenshot({ path: qrFile });
      const decoded = await zbar(qrFile);
      assert.ok(decoded.startsWith(`${S.url}/v/${credId}#`), `QR text ${decoded}`);
      const api = await S.api('GET', `/api/v1/credentials/${credId}`);
      assert.equal(decoded, api.qr_text);
      await page.reload();
      // Printables and holder link point at their pages; the full credential downloads.
      for (const href of [`/console/credentials/${credId}/print/card`, `/console/credentials/${credId}/holder`, `/console/credentials/${credId}/download`]) {
        assert.ok(await page.$(`a[href="${href}"]`), href);
      }
      const vc = await page.request.get(`${S.url}/console/credentials/${credId}/download`);
      assert.equal(vc.status(), 200);
      assert.equal(vc.headers()['content-type'], 'application/vc+jwt');
      assert.equal((await vc.text()).split('.').length, 3);
      await shotsOf(page, 'credential');

      // A second digital ID for the same person: a warning that offers re-issue.
      for (const lang of ['en', 'ar']) {
        await page.goto(`${personUrl}?lang=${lang}`);
        await page.click('form[action$="/issue"] button');
        await page.waitForSelector('.warn');
        assert.ok(await page.$(`a[href="/console/credentials/${credId}?do=reissue"]`));
        for (const width of [1366, 768]) {
          await page.setViewportSize({ width, height: 900 });
          await assertFits(page, `issue warning ${lang} ${width}`);
          await shot(page, `issue-warning-${lang}-${width}`);
        }
        await page.setViewportSize({ width: 1366, height: 900 });
      }

      // Certify an uploaded document.
      await page.goto(`${S.url}/console/documents/new`);
      await shotsOf(page, 'document-new');
      await page.setInputFiles('#file', { name: 'letter.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 a letter of eligibility') });
      await page.fill('#doc_type', 'خطاب أهلية');
      await page.fill('#number', 'MOSD-2026-17');
      await page.fill('#title', 'إثبات استحقاق الدعم');
      await page.fill('#recipient', 'نورة عبدالله الشمري');
      await page.fill('#issue_date', '2026-11-20');
      await Promise.all([page.waitForURL(/msg=msg_issued/), page.click('form[enctype] button')]);
      assert.match(await page.textContent('h1'), /شهادة صحة وثيقة/);
      assert.ok(await page.$('a[href$="/print/certificate"]'));
      await shot(page, 'document-credential-ar-1366');

      // Revoke the digital ID: choose the action, then confirm with a reason (no default).
      await page.goto(idUrl);
      await Promise.all([page.waitForURL(/do=revoke/), page.click(`a[href="/console/credentials/${credId}?do=revoke#confirm"]`)]);
      assert.equal(await page.$eval('#reason_code', (s) => s.value), '', 'no reason is chosen for the registrar');
      const offered = await page.$$eval('#reason_code option', (os) => os.map((o) => o.value).filter(Boolean));
      assert.ok(!offered.includes('review_cleared') && offered.includes('lost'), `reasons for revoke: ${offered}`);
      await shotsOf(page, 'confirm-revoke');
      await page.selectOption('#reason_code', 'lost');
      await page.fill('#reason_text', 'بلاغ رقم 42');
      await Promise.all([page.waitForURL(/msg=msg_done/), page.click('#confirm button.danger')]);
      assert.match(await page.textContent('.badge'), /ملغاة/);
      const history = await page.$$eval('table.list tbody tr', (rows) => rows.map((r) => r.textContent.replace(/\s+/g, ' ')));
      assert.equal(history.length, 2, history.join('\n'));
      assert.match(history[1], /سارية → ملغاة/);
      assert.match(history[1], /بلاغ فقدان/);
      assert.match(history[1], /بلاغ رقم 42/);
      assert.match(history[1], /reg/);
      assert.equal((await S.api('POST', '/api/v1/verify', { id: credId })).outcome, 'revoked');
      await shotsOf(page, 'history');

      // Lists with their pagers; an unknown credential is an HTML error page with a way back.
      await page.goto(`${S.url}/console/credentials`);
      await shotsOf(page, 'credentials');
      const res = await page.goto(`${S.url}/console/credentials/NOSUCHCREDENTIAL0000`);
      assert.equal(res.status(), 404);
      assert.match(res.headers()['content-type'], /text\/html/);
      assert.ok(await page.$('main a.button'));
      await shotsOf(page, 'error-404');
      // `?err=` cannot put words on the page.
      await page.goto(`${S.url}/console/persons?err=CALL+0555+NOW`);
      assert.doesNotMatch(await page.textContent('body'), /CALL 0555/);

      // A form from before a second sign-in (another tab) reloads with a notice.
      const fresh = (await S.issueId()).id;
      await page.goto(`${S.url}/console/credentials/${fresh}?do=suspend`);
      await page.selectOption('#reason_code', 'under_review');
      const other = await browser.newContext();
      const tab2 = await other.newPage();
      await tab2.goto(`${S.url}/console/login`);
      await tab2.fill('#username', 'reg');
      await tab2.fill('#password', PW);
      await Promise.all([tab2.waitForURL((u) => !u.pathname.endsWith('/login')), tab2.click('form[action="/console/login"] button')]);
      await context.addCookies((await other.cookies()).filter((c) => c.name === 'sanad_session'));
      await other.close();
      await Promise.all([page.waitForURL(/do=suspend&msg=msg_stale_form/), page.click('#confirm button.danger')]);
      assert.match(await page.textContent('.msg'), /انتهت صلاحية النموذج/);
      assert.ok(await page.$('#confirm'), 'the form is back');
      assert.equal((await S.api('POST', '/api/v1/verify', { id: fresh })).outcome, 'valid', 'nothing happened');
      await shot(page, 'stale-form-ar-1366');

      assert.deepEqual(errors, [], 'no uncaught errors in the pages');
    } finally {
      await context.close();
    }
  });
});

describe('approver and admin consoles', { skip }, () => {
  test('maker-checker through the console; users, tokens, keys, agencies, audit, reports', async () => {
    const admin = await signIn('root');
    const reg = await signIn('reg');
    const appr = await signIn('appr');
    try {
      // Admin: turn maker-checker on for MOSD.
      await admin.page.goto(`${S.url}/console/admin/agencies`);
      assert.equal(await admin.page.title(), `${'الجهات'} · سند`);
      await Promise.all([admin.page.waitForURL(/msg=msg_saved/), admin.page.click('form[action="/console/admin/agencies/MOSD"] button')]);
      await shotsOf(admin.page, 'admin-agencies');

      // Registrar asks to revoke; approver sees links to the credential and person, approves.
      const cred = await S.issueId('منى خالد', 'Mona Khaled');
      await reg.page.goto(`${S.url}/console/credentials/${cred.id}?do=revoke`);
      await reg.page.selectOption('#reason_code', 'fraud');
      await Promise.all([reg.page.waitForURL(/msg=msg_pending_sent/), reg.page.click('#confirm button.danger')]);
      await appr.page.goto(`${S.url}/console/approvals`);
      assert.ok(await appr.page.$(`a[href="/console/credentials/${cred.id}"]`), 'link to the credential');
      assert.ok(await appr.page.$(`a[href="/console/persons/${cred.person_id}"]`), 'link to the person');
      assert.match(await appr.page.textContent('table.list'), /reg/, 'the maker by name');
      await shotsOf(appr.page, 'approvals');
      await appr.page.fill('table.list input[name="reason"]', 'تم التحقق');
      await Promise.all([appr.page.waitForURL(/msg=msg_approved/), appr.page.click('table.list button[value="approve"]')]);
      assert.equal((await S.api('POST', '/api/v1/verify', { id: cred.id })).outcome, 'revoked');

      // Users: an officer needs no agency.
      await admin.page.goto(`${S.url}/console/admin/users`);
      await admin.page.fill('#u-name', 'omar');
      await admin.page.selectOption('#u-role', 'officer');
      await admin.page.fill('#u-pass', PW);
      await Promise.all([admin.page.waitForURL(/msg=msg_user_added/), admin.page.click('form[action="/console/admin/users"] button')]);
      assert.match(await admin.page.textContent('table.list'), /omar/);
      assert.doesNotMatch(await admin.page.textContent('table.list'), /\buser:u/, 'no internal ids');
      await shotsOf(admin.page, 'admin-users');

      // Tokens: the secret is shown once.
      await admin.page.goto(`${S.url}/console/admin/tokens`);
      await admin.page.fill('#t-label', 'prometheus');
      await admin.page.check('input[name="scope"][value="metrics"]');
      await admin.page.click('form[action="/console/admin/tokens"] button');
      const secret = (await admin.page.textContent('#new-token')).trim();
      assert.match(secret, /^sanad_/);
      await shot(admin.page, 'admin-token-created-ar-1366');
      const metrics = await fetch(`${S.url}/metrics`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(metrics.status, 200, 'the new metrics token reads /metrics');
      await admin.page.goto(`${S.url}/console/admin/tokens`);
      assert.equal(await admin.page.$('#new-token'), null, 'not shown again');
      await shotsOf(admin.page, 'admin-tokens');

      // Keys: revoking asks for confirmation first.
      await admin.page.goto(`${S.url}/console/admin/keys`);
      await admin.page.click('table.list a.button.danger');
      await admin.page.waitForSelector('#confirm');
      assert.ok(await admin.page.$('#confirm input[name="reason"][required]'));
      await shotsOf(admin.page, 'admin-keys-confirm');
      await admin.page.goto(`${S.url}/console/admin/keys`);
      await Promise.all([admin.page.waitForURL(/msg=msg_key_rotated/), admin.page.click('form[action="/console/admin/keys/rotate"] button')]);
      assert.match(await admin.page.textContent('table.list'), /متقاعد/);

      // Audit log with actions in words and a filter.
      await admin.page.goto(`${S.url}/console/audit?action=approval`);
      const audit = await admin.page.textContent('table.list');
      assert.match(audit, /موافقة على طلب/);
      assert.doesNotMatch(audit, /تسجيل دخول/);
      await shotsOf(admin.page, 'audit');

      // Reports: figures, charts, CSV.
      await admin.page.goto(`${S.url}/console/reports`);
      assert.equal(await admin.page.$$eval('figure.chart svg', (s) => s.length), 2);
      await shotsOf(admin.page, 'reports');
      const csv = await admin.page.request.get(`${S.url}/console/reports.csv?table=credentials`);
      assert.match(csv.headers()['content-type'], /text\/csv/);
      assert.match(await csv.text(), /"MOSD","digital_id","revoked","\d+"/);
    } finally {
      await Promise.all([admin.context.close(), reg.context.close(), appr.context.close()]);
    }
  });
});

describe('accessibility', { skip }, () => {
  test('axe-core finds no serious or critical violation on any console page', async () => {
    const cred = await S.issueId('سارة ناصر', 'Sara Nasser');
    const doc = await S.issueDocument(Buffer.from('%PDF-1.4 axe'));
    const pages = {
      reg: ['/console', '/console/persons', `/console/persons/${cred.person_id}`, '/console/persons/new',
        `/console/persons/${cred.person_id}/edit`, '/console/documents/new', '/console/credentials',
        `/console/credentials/${cred.id}`, `/console/credentials/${cred.id}?do=suspend`, '/console/approvals',
        '/console/reports', '/console/credentials/NOSUCH', `/console/credentials/${cred.id}/holder`,
        `/console/credentials/${cred.id}/print/card`, `/console/credentials/${doc.id}/print/certificate`],
      appr: ['/console/approvals'],
      root: ['/console/admin/users', '/console/admin/tokens', '/console/admin/keys', '/console/admin/agencies',
        '/console/audit', '/console/reports'],
      off: [`/console/officer?id=${cred.id}`],
    };
    const found = [];
    const login = await browser.newContext({ bypassCSP: true });
    const lp = await login.newPage();
    // The officer's record shows the holder's photo beside the fields.
    await lp.goto(`${S.url}/healthz`);
    const put = await fetch(`${S.url}/api/v1/persons/${cred.person_id}/photo`, {
      method: 'PUT', headers: { authorization: `Bearer ${S.token}`, 'content-type': 'image/png' }, body: await portrait(lp),
    });
    assert.equal(put.status, 204);
    await lp.goto(`${S.url}/console/login`);
    found.push(...(await axe(lp)).map((v) => `/console/login: ${v}`));
    await login.close();
    for (const [user, paths] of Object.entries(pages)) {
      const { context, page } = await signIn(user);
      try {
        for (const p of paths) {
          for (const lang of ['ar', 'en']) {
            await page.goto(`${S.url}${p}${p.includes('?') ? '&' : '?'}lang=${lang}`);
            found.push(...(await axe(page)).map((v) => `${user} ${p} ${lang}: ${v}`));
          }
        }
        if (user === 'off') {
          assert.ok(await page.$eval('img.photo', (img) => img.complete && img.naturalWidth > 0), 'photo on the officer page');
          await shotsOf(page, 'officer');
        }
      } finally {
        await context.close();
      }
    }
    assert.deepEqual(found, []);
  });
});

describe('metrics', () => {
  test('/metrics parses as Prometheus text and counts what happened', async () => {
    const token = (await S.cli('tokens', 'create', '--agency', 'MOSD', '--scopes', 'metrics')).trim().split(/\s+/).pop();
    const unauth = await fetch(`${S.url}/metrics`);
    assert.equal(unauth.status, 401);
    const wrong = await fetch(`${S.url}/metrics`, { headers: { authorization: `Bearer ${S.token}` } });
    assert.equal(wrong.status, 403, 'a token without the metrics scope');
    const c = await S.issueId('ريم', 'Reem');
    for (let i = 0; i < 3; i++) await S.api('POST', '/api/v1/verify', { id: c.id });
    await S.api('POST', '/api/v1/verify', { id: 'NOSUCHCREDENTIAL0000' });
    await S.action(c.id, 'suspend', 'under_review');
    const res = await fetch(`${S.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const families = await parsePrometheus(await res.text());
    if (!families) return;
    const family = (name) => {
      const f = families.find((x) => x.name === name);
      assert.ok(f, `${name} is exposed`);
      return f;
    };
    const value = (sample, labels) => {
      const m = families.flatMap((f) => f.samples).find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      return m ? m.value : 0;
    };
    for (const f of ['sanad_verifications', 'sanad_issued', 'sanad_status_changes']) assert.equal(family(f).type, 'counter');
    assert.ok(value('sanad_verifications_total', { channel: 'public', outcome: 'valid' }) >= 3);
    assert.ok(value('sanad_verifications_total', { channel: 'public', outcome: 'not_found' }) >= 1);
    assert.ok(value('sanad_issued_total', { agency: 'MOSD', kind: 'digital_id' }) >= 1);
    assert.ok(value('sanad_status_changes_total', { agency: 'MOSD', to: 'suspended' }) >= 1);
    assert.equal(family('sanad_build_info').type, 'gauge');
    assert.equal(family('sanad_http_request_duration_seconds').type, 'histogram');
    const route = { route: '/api/v1/verify', method: 'POST', status: '200' };
    const count = value('sanad_http_request_duration_seconds_count', route);
    assert.ok(count >= 4, `verify requests counted by route: ${count}`);
    assert.equal(value('sanad_http_request_duration_seconds_bucket', { ...route, le: '+Inf' }), count);
    for (const g of ['sanad_feed_lag_changes', 'sanad_db_pool_connections', 'sanad_status_list_lag_changes']) family(g);
  });
});
