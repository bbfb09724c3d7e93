// Headless Chromium with a fake camera whose video is a Y4M file we write: a QR that Sanad
// rendered, centred on a white 640×480 frame.

import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodePngGray } from './png.mjs';
import { REPO } from './sanad.mjs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'test-artifacts', 'screenshots');
const W = 640;
const H = 480;

/** Why the browser tests cannot run here, or null. Under CI=true a missing browser fails. */
export function browserMissing() {
  if (existsSync(CHROMIUM)) return null;
  const why = `Chromium not found at ${CHROMIUM}`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${why} (CI=true: failing instead of skipping)`);
  console.log(`SKIPPED (browser tests): ${why}`);
  return why;
}

/** A Y4M (C420jpeg) file of a few identical frames showing the PNG centred on white (null: blank). */
export async function writeCameraFile(file, png) {
  const { width, height, gray } = png ? decodePngGray(png) : { width: 1, height: 1, gray: Buffer.from([255]) };
  // Scale down by an integer factor if the QR does not fit the frame.
  const k = Math.max(1, Math.ceil(Math.max(width / (W - 20), height / (H - 20))));
  const w = Math.floor(width / k);
  const h = Math.floor(height / k);
  const y = Buffer.alloc(W * H, 255);
  const ox = (W - w) >> 1;
  const oy = (H - h) >> 1;
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) y[(oy + r) * W + ox + c] = gray[r * k * width + c * k];
  const uv = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, uv]);
  const header = Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`);
  // Write then rename, so a camera that opens the file never sees half of it.
  await writeFile(`${file}.tmp`, Buffer.concat([header, frame, frame, frame, frame, frame]));
  await rename(`${file}.tmp`, file);
}

/** The QR of a credential as Sanad renders it, at a size that fits the fake camera. */
export async function fetchQrPng(base, id, px = 5, ec = 'M') {
  const res = await fetch(`${base}/v/${id}/qr.png?px=${px}&ec=${ec}`);
  if (!res.ok) throw new Error(`qr.png → ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The QR version of a Sanad PNG rendered at `px` pixels a module (4-module quiet zone). */
export function qrVersion(png, px = 5) {
  const modules = decodePngGray(png).width / px - 8;
  return (modules - 17) / 4;
}

/** A test BarcodeDetector over jsQR, for a Chromium without the platform one. */
export async function detectorInitScript() {
  const require = createRequire(import.meta.url);
  const jsqr = await readFile(require.resolve('jsqr/dist/jsQR.js'), 'utf8');
  return `${jsqr}
;(() => {
  if ('BarcodeDetector' in window) return;
  const jsQR = window.jsQR;
  class BarcodeDetector {
    constructor(opts) { this.formats = opts?.formats ?? ['qr_code']; }
    static async getSupportedFormats() { return ['qr_code']; }
    async detect(src) {
      const w = src.videoWidth || src.naturalWidth || src.width;
      const h = src.videoHeight || src.naturalHeight || src.height;
      if (!w || !h) return [];
      const c = document.createElement('canvas');
      c.width = w; c.height = h;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(src, 0, 0, w, h);
      const found = jsQR(g.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: 'dontInvert' });
      window.__testDetections = (window.__testDetections || 0) + (found ? 1 : 0);
      return found ? [{ rawValue: found.data, format: 'qr_code', boundingBox: new DOMRect(), cornerPoints: [] }] : [];
    }
  }
  window.BarcodeDetector = BarcodeDetector;
  window.__testDetector = true;
})();`;
}

/** Launch Chromium with the fake camera reading `cameraFile`. */
export async function launch(cameraFile) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'sanad-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: false, // '--headless=new' below, as given
    viewport: { width: 480, height: 900 },
    deviceScaleFactor: 1,
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${cameraFile}`,
    ],
  });
  const close = async () => {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}
