// The camera: rear camera with a live viewfinder. The QR text is read on the device, with
// the platform's BarcodeDetector where the browser has one and otherwise with the bundled
// jsQR decoder (vendor/jsQR.js, Apache-2.0), so the camera works offline on every phone and
// the signature is always checked on the device. If nothing is read for a few seconds the
// app says so (and offers a photo or pasting), but keeps looking.

const VERIFY = new URL('../../api/v1/verify', import.meta.url);
const JSQR = new URL('../vendor/jsQR.js', import.meta.url);

/** The platform's QR detector, or null. */
export async function detector() {
  if (!('BarcodeDetector' in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    if (!formats.includes('qr_code')) return null;
    return new globalThis.BarcodeDetector({ formats: ['qr_code'] });
  } catch {
    return null;
  }
}

let jsqrLoading = null;

/** The bundled decoder (a classic script that defines `jsQR`), loaded once on first use. */
export function loadDecoder() {
  if (globalThis.jsQR) return Promise.resolve(globalThis.jsQR);
  jsqrLoading ??= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = JSQR.href;
    s.async = true;
    s.onload = () => (globalThis.jsQR ? resolve(globalThis.jsQR) : reject(new Error('decoder missing')));
    s.onerror = () => { jsqrLoading = null; reject(new Error('the QR decoder could not be loaded')); };
    document.head.append(s);
  });
  return jsqrLoading;
}

/** Largest side a frame is decoded at: a code filling a third of the frame keeps ≥ 200 px. */
const MAX_SIDE = 960;

/** Read a QR from a drawable (video, image bitmap) with jsQR; the text or null. */
export function decodeWith(jsQR, canvas, src, w, h) {
  const k = Math.min(1, MAX_SIDE / Math.max(w, h));
  const cw = Math.round(w * k);
  const ch = Math.round(h * k);
  canvas.width = cw;
  canvas.height = ch;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(src, 0, 0, cw, ch);
  const found = jsQR(g.getImageData(0, 0, cw, ch).data, cw, ch, { inversionAttempts: 'attemptBoth' });
  return found?.data || null;
}

/** Read a QR from an image file on the device; the text or null. */
export async function readImage(file) {
  const bitmap = await createImageBitmap(file);
  const det = await detector();
  if (det) {
    const codes = await det.detect(bitmap);
    if (codes.length) return codes[0].rawValue;
  }
  const jsQR = await loadDecoder();
  return decodeWith(jsQR, document.createElement('canvas'), bitmap, bitmap.width, bitmap.height);
}

/** Post an image (Blob) to the server for decoding and verdict. Null when no QR was found. */
export async function serverVerify(blob) {
  const res = await fetch(VERIFY, {
    method: 'POST', headers: { 'content-type': blob.type || 'image/png' }, body: blob,
  });
  if (res.status === 400) return null;
  if (!res.ok) throw new Error(`server answered ${res.status}`);
  return res.json();
}

export class Scanner {
  /** `onNoCode` is called once when `noCodeMs` pass without a read. */
  constructor(video, { onText, onNoCode, onError, noCodeMs = 5000 }) {
    this.video = video;
    this.onText = onText;
    this.onNoCode = onNoCode;
    this.onError = onError;
    this.noCodeMs = noCodeMs;
    this.stream = null;
    this.timer = null;
    this.hintTimer = null;
    this.canvas = document.createElement('canvas');
  }

  get running() {
    return this.stream !== null;
  }

  /** Start the camera; answers which reader is used: `device` or `decoder`. */
  async start() {
    this.det = await detector();
    this.jsQR = this.det ? null : await loadDecoder();
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    this.video.srcObject = this.stream;
    this.video.setAttribute('playsinline', '');
    this.video.muted = true;
    await this.video.play();
    this.hintTimer = setTimeout(() => { if (this.stream) this.onNoCode?.(); }, this.noCodeMs);
    this.schedule(this.det ? 120 : 200);
    return this.det ? 'device' : 'decoder';
  }

  stop() {
    clearTimeout(this.timer);
    clearTimeout(this.hintTimer);
    this.timer = null;
    for (const tr of this.stream?.getTracks() ?? []) tr.stop();
    this.stream = null;
    this.video.srcObject = null;
  }

  schedule(ms) {
    if (this.stream) this.timer = setTimeout(() => this.tick(), ms);
  }

  async tick() {
    if (!this.stream || this.video.readyState < 2) return this.schedule(150);
    try {
      let text = null;
      if (this.det) {
        const codes = await this.det.detect(this.video);
        text = codes.find((c) => c.rawValue)?.rawValue ?? null;
      } else {
        text = decodeWith(this.jsQR, this.canvas, this.video, this.video.videoWidth, this.video.videoHeight);
      }
      if (text && this.stream) {
        this.stop();
        return this.onText(text);
      }
      return this.schedule(this.det ? 120 : 200);
    } catch (e) {
      this.onError?.(e);
      return this.schedule(1000);
    }
  }
}
