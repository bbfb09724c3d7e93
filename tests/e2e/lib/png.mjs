// A tiny PNG decoder (non-interlaced; grey, RGB, palette, with or without alpha; 1–8 bits),
// enough to read the QR images Sanad renders. Returns 8-bit luminance.

import { inflateSync } from 'node:zlib';

export function decodePngGray(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let pos = 8;
  let width, height, depth, type, interlace;
  let palette = null;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const kind = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; type = data[9]; interlace = data[12];
    } else if (kind === 'PLTE') palette = data;
    else if (kind === 'IDAT') idat.push(data);
    else if (kind === 'IEND') break;
    pos += 12 + len;
  }
  if (interlace) throw new Error('interlaced PNG not supported');
  if (depth > 8) throw new Error('16-bit PNG not supported');
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[type];
  const bpp = Math.max(1, (channels * depth) >> 3);
  const stride = Math.ceil((width * channels * depth) / 8);
  const raw = inflateSync(Buffer.concat(idat));
  const out = Buffer.alloc(width * height);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? line[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const sample = (ch) => {
        if (depth === 8) return line[x * channels + ch];
        const bit = (x * channels + ch) * depth;
        const v = (line[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        return type === 3 ? v : Math.round((v * 255) / ((1 << depth) - 1));
      };
      let g;
      if (type === 3) {
        const i = sample(0);
        g = 0.299 * palette[i * 3] + 0.587 * palette[i * 3 + 1] + 0.114 * palette[i * 3 + 2];
      } else if (type === 2 || type === 6) g = 0.299 * sample(0) + 0.587 * sample(1) + 0.114 * sample(2);
      else g = sample(0);
      out[y * width + x] = Math.round(g);
    }
    prev = line;
  }
  return { width, height, gray: out };
}
