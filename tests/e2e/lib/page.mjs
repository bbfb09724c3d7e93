// Driving the verifier app like an officer: open, scan with the camera, paste, screenshot.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { SHOTS, writeCameraFile, fetchQrPng } from './browser.mjs';

export async function openApp(page, base, lang = 'ar') {
  await page.goto(`${base}/verifier/?lang=${lang}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
}

export async function toScanScreen(page) {
  if (await page.isVisible('#result-view')) await page.click('#again');
  await page.waitForSelector('body[data-state="scan"]');
}

async function resultOutcome(page) {
  await page.waitForSelector('body[data-state="result"] #banner[data-outcome]', { timeout: 20_000 });
  return page.getAttribute('#banner', 'data-outcome');
}

/** Show the credential's QR (as Sanad renders it) to the fake camera and scan it. */
export async function scanWithCamera(page, cameraFile, sanadUrl, id, { beforeResult, ec = 'M' } = {}) {
  await toScanScreen(page);
  await writeCameraFile(cameraFile, await fetchQrPng(sanadUrl, id, 5, ec));
  await page.click('#scan-btn');
  if (beforeResult) await beforeResult();
  return resultOutcome(page);
}

export async function paste(page, text) {
  await toScanScreen(page);
  await page.fill('#paste', text);
  await page.click('#paste-form button[type="submit"]');
  return resultOutcome(page);
}

export async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Screenshot the current screen in both languages, checking lang/dir switch, and return to `back`. */
export async function shotBoth(page, name, back = 'ar') {
  for (const lang of back === 'ar' ? ['ar', 'en'] : ['en', 'ar']) {
    const now = await page.getAttribute('html', 'lang');
    if (now !== lang) await page.click('#lang');
    await page.waitForSelector(`html[lang="${lang}"][dir="${lang === 'ar' ? 'rtl' : 'ltr'}"]`);
    await shot(page, `${name}-${lang}`);
  }
  if ((await page.getAttribute('html', 'lang')) !== back) await page.click('#lang');
  await page.waitForSelector(`html[lang="${back}"]`);
}

export const text = (page, sel) => page.textContent(sel).then((s) => s.trim());
