// The verifier app in headless Chromium against the real Sanad binary: a fake camera shows
// QR codes that Sanad rendered; every outcome of SPEC §5 on its own screen, in Arabic and
// English; both scanning paths (a BarcodeDetector on the device, or frames decoded by the
// server); the document check; and real offline use through the service worker.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSanad } from './lib/sanad.mjs';
import { browserMissing, launch, detectorInitScript, writeCameraFile, fetchQrPng, qrVersion } from './lib/browser.mjs';
import { openApp, scanWithCamera, paste, shot, shotBoth, text, toScanScreen } from './lib/page.mjs';
import { tokenOf, withToken, tamperSignature, tamperName } from './lib/token.mjs';

const skip = browserMissing() ?? false;
let A; // the deployment whose verifier app we use
let B; // another deployment, whose keys A does not trust
let tmp;
/** SPEC §2's reference case: a 40-character Arabic name makes a dense QR (version 13 or more). */
const ARABIC_40 = 'عبدالرحمن محمد عبدالله إبراهيم العبدالله';

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(path.join(tmpdir(), 'sanad-e2e-cam-'));
  [A, B] = await Promise.all([startSanad(), startSanad({ agency: 'MOH', nameAr: 'وزارة الصحة', nameEn: 'Ministry of Health' })]);
});
after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function withBrowser(name, { detector, server = A }, fn) {
  const camera = path.join(tmp, `${name}.y4m`);
  // The camera needs a file from the start; each scan rewrites it (the fake camera reopens
  // it whenever the app starts the camera).
  await writeCameraFile(camera, await fetchQrPng(server.url, (await server.issueId()).id));
  const { context, close } = await launch(camera);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Does this Chromium have the platform detector? (Headless Linux builds usually do not.)
    await page.goto(`${server.url}/healthz`);
    const hasNative = await page.evaluate(() => 'BarcodeDetector' in window);
    if (detector && !hasNative) await context.addInitScript({ content: await detectorInitScript() });
    await fn({ page, context, camera, hasNative });
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  } finally {
    await close();
  }
}

describe('verifier app, QR read on the device (BarcodeDetector)', { skip }, () => {
  test('every outcome, by camera, paste and document check, in Arabic and English', async () => {
    const valid = await A.issueId(ARABIC_40, 'Abdulrahman Mohammed Abdullah Ibrahim Al-Abdullah');
    const version = qrVersion(await fetchQrPng(A.url, valid.id));
    console.log(`QR version of the 40-character-name ID: ${version}`);
    assert.ok(version >= 13, `a dense QR (version ${version})`);
    const revoked = await A.issueId('خالد عبد الله السبيعي', 'Khalid Abdullah Al-Subaie');
    const suspended = await A.issueId('نورة سعد القحطاني', 'Noura Saad Al-Qahtani');
    const replaced = await A.issueId('سلمان فهد العتيبي', 'Salman Fahad Al-Otaibi');
    const docBytes = Buffer.concat([Buffer.from('%PDF-1.4 eligibility letter '), randomBytes(2048)]);
    const doc = await A.issueDocument(docBytes);
    const foreign = await B.issueId('ريم ناصر الدوسري', 'Reem Nasser Al-Dosari');

    await withBrowser('device', { detector: true }, async ({ page, camera, hasNative }) => {
      console.log(`Chromium has a native BarcodeDetector: ${hasNative}${hasNative ? '' : ' (a jsQR-backed test detector is injected)'}`);
      await page.goto(`${A.url}/verifier/`);
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.getAttribute('html', 'dir'), 'rtl', 'Arabic is the default, right to left');
      assert.equal(await page.getAttribute('html', 'lang'), 'ar');
      await shotBoth(page, 'home');

      // The scanner with its live viewfinder (nothing in sight yet).
      await writeCameraFile(camera, null);
      await page.click('#scan-btn');
      await page.waitForSelector('body[data-camera="device"] #viewfinder:not([hidden])');
      await page.waitForFunction(() => document.querySelector('video').readyState >= 2);
      await shotBoth(page, 'scanner');
      await page.click('#scan-btn');
      await page.waitForSelector('#viewfinder[hidden]', { state: 'attached' });

      // Valid: a dense QR shown to the camera.
      const outcome = await scanWithCamera(page, camera, A.url, valid.id);
      assert.equal(await page.evaluate(() => document.body.dataset.camera), 'off');
      assert.equal(outcome, 'valid');
      assert.ok(await page.evaluate(() => window.__testDetections > 0 || !window.__testDetector), 'read by the detector');
      assert.ok((await text(page, '#details')).includes(ARABIC_40), 'the name as signed');
      assert.equal(await text(page, '#outcome-title'), 'سارية');
      for (const c of ['format', 'issuer_trusted', 'signature', 'key_status', 'status']) {
        assert.equal(await page.getAttribute(`li[data-check="${c}"]`, 'data-ok'), 'true', `check ${c}`);
      }
      await shotBoth(page, 'valid');
      // The densest print: the same ID at error-correction level Q.
      const versionQ = qrVersion(await fetchQrPng(A.url, valid.id, 5, 'Q'));
      console.log(`QR version at level Q: ${versionQ}`);
      assert.ok(versionQ >= 15);
      assert.equal(await scanWithCamera(page, camera, A.url, valid.id, { ec: 'Q' }), 'valid');

      // Revoked after a revoke.
      await A.action(revoked.id, 'revoke', 'fraud');
      assert.equal(await scanWithCamera(page, camera, A.url, revoked.id), 'revoked');
      assert.match(await text(page, '#details'), /احتيال/, 'reason shown');
      await shotBoth(page, 'revoked');

      // Suspended.
      await A.action(suspended.id, 'suspend', 'under_review');
      assert.equal(await scanWithCamera(page, camera, A.url, suspended.id), 'suspended');
      await shotBoth(page, 'suspended');
      // The same code from a chosen image (read on the device too).
      await toScanScreen(page);
      await page.setInputFiles('#image-input', { name: 'qr.png', mimeType: 'image/png', buffer: await fetchQrPng(A.url, suspended.id, 8) });
      await page.waitForSelector('body[data-state="result"] #banner[data-outcome="suspended"][data-source="device"]');

      // Superseded, with a link to the replacement.
      const replacement = await A.action(replaced.id, 'reissue', 'data_changed');
      assert.equal(await scanWithCamera(page, camera, A.url, replaced.id), 'superseded');
      assert.ok((await page.getAttribute('#replacement-link', 'href')).endsWith(`/v/${replacement.id}`));
      await shotBoth(page, 'superseded');

      // Unknown issuer: a genuine QR from another deployment whose key A does not list.
      assert.equal(await scanWithCamera(page, camera, B.url, foreign.id), 'unknown_issuer');
      assert.equal(await page.getAttribute('li[data-check="issuer_trusted"]', 'data-ok'), 'false');
      await shotBoth(page, 'unknown_issuer');

      // Forged: the signature changed; and a changed name under the old signature.
      const token = tokenOf(valid.qr_text);
      assert.equal(await paste(page, withToken(valid.qr_text, tamperSignature(token))), 'invalid');
      assert.equal(await page.getAttribute('li[data-check="signature"]', 'data-ok'), 'false');
      await shotBoth(page, 'invalid');
      assert.equal(await paste(page, withToken(valid.qr_text, tamperName(token, 'Someone Else'))), 'invalid');
      assert.equal(await paste(page, 'not a sanad code'), 'invalid');
      assert.equal(await page.getAttribute('li[data-check="format"]', 'data-ok'), 'false');

      // Not found: a reference-only link to no credential.
      assert.equal(await paste(page, `${A.url}/v/0123456789abcdef`), 'not_found');
      await shotBoth(page, 'not_found');
      // A reference-only code of a real credential: live status, signature not checked.
      assert.equal(await paste(page, `${A.url}/v/${valid.id}`), 'valid');
      assert.equal(await page.getAttribute('li[data-check="signature"]', 'data-ok'), 'null');

      // Document certificate: hashed on the device, compared with the signed digest.
      assert.equal(await scanWithCamera(page, camera, A.url, doc.id), 'valid');
      assert.ok(await page.isVisible('#doc-check'));
      await page.setInputFiles('#doc-input', { name: 'letter.pdf', mimeType: 'application/pdf', buffer: docBytes });
      await page.waitForSelector('#doc-result[data-ok="true"]');
      assert.equal(await page.getAttribute('#banner', 'data-outcome'), 'valid');
      assert.equal(await page.getAttribute('li[data-check="document_digest"]', 'data-ok'), 'true');
      await shotBoth(page, 'document_match');
      const other = Buffer.from(docBytes);
      other[other.length - 1] ^= 1;
      await page.setInputFiles('#doc-input', { name: 'letter.pdf', mimeType: 'application/pdf', buffer: other });
      await page.waitForSelector('#doc-result[data-ok="false"]');
      assert.equal(await page.getAttribute('#banner', 'data-outcome'), 'document_mismatch');
      await shotBoth(page, 'document_mismatch');

      // The same certificate pasted as its token alone.
      assert.equal(await paste(page, doc.token), 'valid');
    });
  });
});

describe('verifier app, bundled decoder (no BarcodeDetector)', { skip }, () => {
  test('offline camera scans are read and signature-checked on the device; no code gets a message', async () => {
    const valid = await A.issueId(ARABIC_40, 'Abdulrahman Mohammed Abdullah Ibrahim Al-Abdullah');
    const revoked = await A.issueId();
    await A.action(revoked.id, 'revoke', 'lost');
    const foreign = await B.issueId('ريم ناصر الدوسري', 'Reem Nasser Al-Dosari');
    await withBrowser('decoder', { detector: false }, async ({ page, context, camera, hasNative }) => {
      if (hasNative) await page.addInitScript(() => { delete window.BarcodeDetector; });
      await openApp(page, A.url, 'ar');
      assert.equal(await page.evaluate(() => 'BarcodeDetector' in window), false);
      await page.waitForSelector('body[data-synced="true"]');

      // A camera that shows no code: after a few seconds the app says so (and keeps looking).
      await writeCameraFile(camera, null);
      await page.click('#scan-btn');
      await page.waitForSelector('body[data-camera="decoder"] #viewfinder:not([hidden])');
      await page.waitForSelector('#no-code:not([hidden])', { timeout: 12_000 });
      assert.ok((await text(page, '#no-code')).length > 20);
      assert.equal(await page.evaluate(() => typeof window.jsQR), 'function', 'the bundled decoder is loaded');
      await shotBoth(page, 'scanner_no_code');
      await page.click('#scan-btn');
      await page.waitForSelector('#viewfinder[hidden]', { state: 'attached' });
      assert.ok(await page.isHidden('#no-code'));

      // Offline: the camera still reads, and the signature is checked on the device.
      await context.setOffline(true);
      assert.equal(await page.evaluate(() => fetch('/healthz').then(() => 'reached', () => 'offline')), 'offline');
      assert.equal(await scanWithCamera(page, camera, A.url, valid.id, { ec: 'Q' }), 'valid');
      assert.equal(await page.getAttribute('#banner', 'data-source'), 'device');
      assert.equal(await page.getAttribute('li[data-check="signature"]', 'data-ok'), 'true', 'signature checked on the device');
      assert.ok((await text(page, '#details')).includes(ARABIC_40));
      assert.equal(await page.getAttribute('#banner', 'data-stale'), 'false', 'status downloaded just now');
      await shotBoth(page, 'decoder_offline_valid');
      assert.equal(await scanWithCamera(page, camera, A.url, revoked.id), 'revoked');
      assert.equal(await page.getAttribute('li[data-check="signature"]', 'data-ok'), 'true');

      // A chosen image is decoded on the device too, offline.
      await toScanScreen(page);
      const png = await fetchQrPng(A.url, revoked.id, 8);
      await page.setInputFiles('#image-input', { name: 'qr.png', mimeType: 'image/png', buffer: png });
      await page.waitForSelector('body[data-state="result"] #banner[data-outcome="revoked"]');
      assert.equal(await page.getAttribute('#banner', 'data-source'), 'device');
      await context.setOffline(false);

      // Another deployment's code: red, "do not accept".
      assert.equal(await paste(page, foreign.qr_text), 'unknown_issuer');
      const bg = await page.evaluate(() => getComputedStyle(document.getElementById('banner')).backgroundColor);
      assert.equal(bg, 'rgb(179, 0, 27)', 'unknown issuer is red');
      await page.click('#lang');
      await page.waitForSelector('html[lang="en"]');
      assert.match(await text(page, '#outcome-title'), /do not accept/i);
      await page.click('#lang');
      await shotBoth(page, 'unknown_issuer_red');
    });
  });

  test('a status downloaded longer ago than the configured age turns "valid as of" into a warning', async () => {
    const cred = await A.issueId('سارة خالد', 'Sara Khaled');
    await withBrowser('stale', { detector: true }, async ({ page, context, camera }) => {
      // The deployment's setting: any downloaded status is too old.
      await context.route('**/verifier/config.json', (route) => route.fulfill({
        status: 200, contentType: 'application/json', body: JSON.stringify({ stale_after_hours: 0, no_code_hint_seconds: 5 }),
      }));
      await openApp(page, A.url, 'en');
      await page.waitForSelector('body[data-synced="true"]');
      await context.setOffline(true);
      assert.equal(await scanWithCamera(page, camera, A.url, cred.id), 'valid');
      assert.equal(await page.getAttribute('#banner', 'data-stale'), 'true');
      assert.match(await text(page, '#outcome-note'), /Warning/);
      assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('banner')).backgroundColor), 'rgb(168, 90, 0)');
      assert.equal(await page.getAttribute('#sync-state', 'data-stale'), 'true');
      assert.match(await text(page, '#sync-state'), /old/);
      await shotBoth(page, 'valid_as_of_stale', 'en');
      await context.setOffline(false);
    });
  });

  test('a live page with the token offers the verifier, which checks it on load', async () => {
    const cred = await A.issueId('منيرة علي', 'Munira Ali');
    await withBrowser('fromlive', { detector: true }, async ({ page }) => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(cred.qr_text);
      assert.equal(await page.locator('h1').count(), 1);
      await page.waitForSelector('#check-signature:not([hidden])');
      await shot(page, 'live_page_check_signature-phone');
      await page.click('#check-signature-link');
      await page.waitForSelector('body[data-state="result"] #banner[data-outcome="valid"]', { timeout: 20_000 });
      assert.equal(await page.getAttribute('li[data-check="signature"]', 'data-ok'), 'true');
      assert.ok(!page.url().includes('#qr='), 'the token leaves the address bar');
      // Without the token, no offer.
      await page.goto(`${A.url}/v/${cred.id}`);
      assert.ok(await page.isHidden('#check-signature'));

      // A certificate's page at 390 px: the document's particulars, and value columns wide
      // enough that no word breaks letter by letter.
      const doc = await A.issueDocument(Buffer.from('%PDF-1.4 a letter'), {
        doc_type: 'social support eligibility letter', number: 'MOSD/2026/004211', title: 'Confirmation of eligibility for social support',
      });
      await page.goto(doc.qr_text);
      for (const want of ['social support eligibility letter', 'MOSD/2026/004211', 'Confirmation of eligibility for social support', '2026-11-20']) {
        assert.ok((await text(page, 'main')).includes(want), `the page shows ${want}`);
      }
      const widths = await page.evaluate(() => [...document.querySelectorAll('dd')].map((d) => d.getBoundingClientRect().width));
      assert.ok(Math.min(...widths) >= 150, `value columns ${widths.join(', ')} px`);
      await shot(page, 'live_page_document-phone');
    });
  });
});

describe('verifier app offline (service worker, cached keys and status)', { skip }, () => {
  test('no sync: undetermined, never revoked; re-checked when the connection returns', async () => {
    const revoked = await A.issueId('هند علي الزهراني', 'Hind Ali Al-Zahrani');
    await A.action(revoked.id, 'revoke', 'stolen');
    await withBrowser('offline1', { detector: true }, async ({ page, context, camera }) => {
      // The keys sync, the status lists do not (as when their download failed).
      await context.route('**/status/**', (route) => route.abort());
      await openApp(page, A.url, 'en');
      assert.equal(await page.getAttribute('#sync-state', 'data-lists'), '0');
      await page.evaluate(() => navigator.serviceWorker.ready);
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker controls the page');

      await context.setOffline(true);
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      // Really offline: neither the page nor the service worker reaches the server (README.md
      // is served but not part of the cached shell).
      assert.equal(await page.evaluate(() => fetch('/healthz').then(() => 'reached', () => 'offline')), 'offline');
      assert.equal(await page.evaluate(() => fetch('README.md').then((r) => (r.ok ? 'reached' : r.status), () => 'offline')), 'offline');
      assert.equal(await text(page, '#net'), 'Offline');

      assert.equal(await scanWithCamera(page, camera, A.url, revoked.id), 'undetermined');
      assert.equal(await page.getAttribute('li[data-check="signature"]', 'data-ok'), 'true', 'signature checked offline');
      assert.ok(await page.isVisible('#queue-pending'));
      await shotBoth(page, 'offline_undetermined', 'en');

      await context.setOffline(false);
      await page.waitForSelector('#queue-list li[data-outcome="revoked"]', { timeout: 20_000 });
      assert.equal(await page.getAttribute('#banner', 'data-outcome'), 'revoked', 'the screen shows the fresh verdict');
      assert.ok(await page.isHidden('#queue-pending'));
      await shot(page, 'offline_rechecked-en');
    });
  });

  test('after a sync: valid as of the cached status list, revoked stays revoked', async () => {
    // Never scanned online: what the app knows of them offline comes from the status list.
    const valid = await A.issueId('مريم خالد المطيري', 'Maryam Khalid Al-Mutairi');
    const revoked = await A.issueId();
    const suspended = await A.issueId();
    await A.action(revoked.id, 'revoke', 'deceased');
    await A.action(suspended.id, 'suspend', 'under_review');
    await new Promise((r) => setTimeout(r, 1100)); // SPEC §4: published within 1 s
    await withBrowser('offline2', { detector: true }, async ({ page, context, camera }) => {
      await openApp(page, A.url, 'en');
      await page.evaluate(() => navigator.serviceWorker.ready);
      await page.waitForSelector('body[data-synced="true"]');
      assert.ok(Number(await page.getAttribute('#sync-state', 'data-lists')) >= 1, 'status lists cached');
      assert.match(await text(page, '#sync-state'), /^Keys and \d+ status list\(s\) updated /);

      await context.setOffline(true);
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.evaluate(() => fetch('/healthz').then(() => 'reached', () => 'offline')), 'offline');
      assert.equal(await scanWithCamera(page, camera, A.url, valid.id), 'valid');
      assert.match(await text(page, '#outcome-title'), /^Valid as of /);
      await shotBoth(page, 'offline_valid_as_of', 'en');
      assert.match(await text(page, '#details'), /Ministry/, 'agency name from the cached trust list');
      assert.equal(await scanWithCamera(page, camera, A.url, revoked.id), 'revoked');
      assert.match(await text(page, '#outcome-note'), /^Offline: status as downloaded /);
      await shot(page, 'offline_revoked-en');
      assert.equal(await scanWithCamera(page, camera, A.url, suspended.id), 'suspended');
      await context.setOffline(false);
    });
  });
});

describe('verifier app, signed-in officer', { skip }, () => {
  test('after a scan, the full record with the photo; signed out, nothing', async () => {
    const cred = await A.issueId('هيفاء منصور العنزي', 'Haifa Mansour Al-Anazi');
    const person = await A.api('GET', `/api/v1/persons/${cred.person_id}`);
    const password = 'an officer password long enough';
    await A.cliInput(`${password}\n`, 'users', 'add', 'officer-e2e', '--role', 'officer', '--agency', 'MOSD');
    await withBrowser('officer', { detector: true }, async ({ page, camera }) => {
      // Signed out: the public verdict only.
      await openApp(page, A.url, 'ar');
      assert.equal(await scanWithCamera(page, camera, A.url, cred.id), 'valid');
      await page.waitForLoadState('networkidle');
      assert.ok(await page.isHidden('#full-record'), 'no full record without an officer session');

      // A portrait drawn in the page (900×1200 JPEG), uploaded by the registrar's system.
      const jpeg = Buffer.from(await page.evaluate(async () => {
        const c = new OffscreenCanvas(900, 1200);
        const g = c.getContext('2d');
        g.fillStyle = '#dfe7ee'; g.fillRect(0, 0, 900, 1200);
        g.fillStyle = '#1f3b57'; g.beginPath(); g.ellipse(450, 1200, 380, 330, 0, 0, 2 * Math.PI); g.fill();
        g.fillStyle = '#c99a78'; g.beginPath(); g.ellipse(450, 520, 200, 250, 0, 0, 2 * Math.PI); g.fill();
        const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
        return [...new Uint8Array(await blob.arrayBuffer())];
      }));
      const put = await fetch(`${A.url}/api/v1/persons/${cred.person_id}/photo`, {
        method: 'PUT', headers: { authorization: `Bearer ${A.token}`, 'content-type': 'image/jpeg' }, body: jpeg,
      });
      assert.equal(put.status, 204, await put.text());

      // Sign in as an officer from the verifier itself.
      await openApp(page, A.url, 'ar');
      assert.ok(await page.isHidden('#who'));
      await page.click('#signin-open');
      await page.fill('#signin-user', 'officer-e2e');
      await page.fill('#signin-password', 'a wrong password here');
      await page.click('#signin-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
      await page.fill('#signin-password', password);
      await page.click('#signin-form button[type="submit"]');
      await page.waitForSelector('#who:not([hidden])');
      assert.match(await text(page, '#who-name'), /officer-e2e/, 'shows who is signed in');
      // Still signed in after a reload (the session cookie), and says so.
      await openApp(page, A.url, 'ar');
      await page.waitForSelector('#who:not([hidden])');
      await shotBoth(page, 'signed_in_officer');

      assert.equal(await scanWithCamera(page, camera, A.url, cred.id), 'valid');
      await page.waitForSelector('#full-record:not([hidden]) img#full-record-photo');
      await page.waitForFunction(() => {
        const img = document.querySelector('#full-record-photo');
        return img.complete && img.naturalWidth > 0;
      });
      const size = await page.evaluate(() => {
        const img = document.querySelector('#full-record-photo');
        return [img.naturalWidth, img.naturalHeight, img.src.startsWith('blob:')];
      });
      assert.deepEqual(size, [450, 600, true], 'the stored photo: 600 px on the long side, from a blob');
      // The photo comes right under the verdict.
      assert.equal(await page.evaluate(() => document.getElementById('banner').nextElementSibling.id), 'full-record');
      assert.equal(await page.evaluate(() => document.getElementById('full-record').firstElementChild.id), 'full-record-photo');
      const full = await text(page, '#full-record');
      for (const s of ['هيفاء منصور العنزي', 'Haifa Mansour Al-Anazi', person.national_id, person.programme, 'السجل الكامل', 'MOSD']) {
        assert.ok(full.includes(s), `the full record shows ${s}: ${full}`);
      }
      await shot(page, 'full_record-ar');
      // Sign out from the verifier: the next scan shows the public verdict only.
      await toScanScreen(page);
      await page.click('#signout');
      await page.waitForSelector('#signin-open:not([hidden])');
      assert.equal(await scanWithCamera(page, camera, A.url, cred.id), 'valid');
      await page.waitForLoadState('networkidle');
      assert.ok(await page.isHidden('#full-record'));
    });
  });
});

describe('verifier app, revoked signing key', { skip }, () => {
  test('a credential signed by a key revoked after a compromise shows key_revoked', async () => {
    const C = await startSanad();
    try {
      const cred = await C.issueId('سارة يوسف الغامدي', 'Sarah Yousef Al-Ghamdi');
      await C.cli('keys', 'revoke', cred.kid, '--reason', 'e2e compromise drill');
      // The running server picks the revocation up from the database.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const jwks = await (await fetch(`${C.url}/.well-known/jwks.json`)).json();
        if (!jwks.keys.some((k) => k.kid === cred.kid)) break;
        assert.ok(Date.now() < deadline, 'the revoked key left the JWKS');
        await new Promise((r) => setTimeout(r, 200));
      }
      await withBrowser('keyrevoked', { detector: true, server: C }, async ({ page, camera }) => {
        await openApp(page, C.url, 'ar');
        assert.equal(await scanWithCamera(page, camera, C.url, cred.id), 'key_revoked');
        assert.equal(await page.getAttribute('li[data-check="key_status"]', 'data-ok'), 'false');
        await shotBoth(page, 'key_revoked');
      });
    } finally {
      await C.stop();
    }
  });
});

describe('verifier app, federation', { skip }, () => {
  test("a partner deployment's credential: no key on the device, the server's verdict shown as such", async () => {
    const D = await startSanad();
    try {
      const foreign = await B.issueId('ليلى عمر الشمري', 'Layla Omar Al-Shammari');
      await D.cli('trust', 'import', B.url);
      // The running server picks the import up from the database.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await fetch(`${D.url}/api/v1/verify`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: foreign.qr_text }),
        });
        if ((await res.json()).outcome === 'valid') break;
        assert.ok(Date.now() < deadline, 'the import reached the running server');
        await new Promise((r) => setTimeout(r, 200));
      }
      await withBrowser('federation', { detector: true, server: D }, async ({ page, camera }) => {
        await openApp(page, D.url, 'ar');
        assert.equal(await scanWithCamera(page, camera, B.url, foreign.id), 'valid');
        assert.equal(await page.getAttribute('#banner', 'data-source'), 'server');
        await shotBoth(page, 'federated_valid');
        await B.action(foreign.id, 'revoke', 'fraud');
        await new Promise((r) => setTimeout(r, 6000)); // the server caches a partner's list 5 s
        assert.equal(await scanWithCamera(page, camera, B.url, foreign.id), 'revoked');
      });
    } finally {
      await D.stop();
    }
  });
});
