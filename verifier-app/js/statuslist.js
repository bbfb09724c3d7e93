// IETF Token Status List decoding (pure): `lst` is base64url of ZLIB-compressed bytes; entry i
// of b bits is at byte (i*b)/8, shifted right by (i*b)%8 (least significant bits first).

import { b64urlToBytes } from './codec.js';

export const STATUS_NAMES = ['valid', 'revoked', 'suspended', 'superseded'];

export async function inflateLst(lst) {
  const stream = new Blob([b64urlToBytes(lst)]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The entry at `index`, or undefined past the end of the list. */
export function entryAt(bytes, index, bits = 2) {
  const byte = bytes[(index * bits) >> 3];
  if (byte === undefined) return undefined;
  return (byte >> ((index * bits) % 8)) & ((1 << bits) - 1);
}
