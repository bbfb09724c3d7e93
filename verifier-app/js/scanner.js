// The camera: rear camera with a live viewfinder. With the platform's BarcodeDetector the
// QR text is read on the device; without one, frames are posted as PNG to the server,
// which decodes the QR and answers with its verdict.

const VERIFY = new URL('../../api/v1/verify', import.meta.url);

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
  constructor(video, { onText, onVerdict, onError }) {
    this.video = video;
    this.onText = onText;
    this.onVerdict = onVerdict;
    this.onError = onError;
    this.stream = null;
    this.timer = null;
    this.canvas = document.createElement('canvas');
  }

  get running() {
    return this.stream !== null;
  }

  async start() {
    this.det = await detector();
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    this.video.srcObject = this.stream;
    this.video.setAttribute('playsinline', '');
    this.video.muted = true;
    await this.video.play();
    this.schedule(this.det ? 120 : 400);
    return this.det ? 'device' : 'server';
  }

  stop() {
    clearTimeout(this.timer);
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
      if (this.det) {
        const codes = await this.det.detect(this.video);
        const qr = codes.find((c) => c.rawValue);
        if (qr && this.stream) {
          this.stop();
          return this.onText(qr.rawValue);
        }
        return this.schedule(120);
      }
      const { videoWidth: w, videoHeight: h } = this.video;
      this.canvas.width = w;
      this.canvas.height = h;
      this.canvas.getContext('2d').drawImage(this.video, 0, 0, w, h);
      const blob = await new Promise((r) => this.canvas.toBlob(r, 'image/png'));
      const verdict = await serverVerify(blob);
      if (verdict && this.stream) {
        this.stop();
        return this.onVerdict(verdict);
      }
      return this.schedule(500);
    } catch (e) {
      this.onError?.(e);
      return this.schedule(1000);
    }
  }
}
