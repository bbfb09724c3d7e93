// Parsing what was scanned: the QR text `{base}/v/{id}#{digits}`, a raw JWS, or a bare id.
// Pure functions, no I/O, so they behave the same online and offline.

const ID_RE = /^[0-9abcdefghjkmnpqrstvwxyz]{16}$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

export class FormatError extends Error {}

export function b64urlToBytes(s) {
  if (!B64URL_RE.test(s)) throw new FormatError('not base64url');
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64url(bytes) {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decode the SMART-Health-Cards-style numeric form: two digits per character, value + 45. */
export function digitsToJws(digits) {
  if (digits.length % 2) throw new FormatError('odd number of digits');
  let out = '';
  for (let i = 0; i < digits.length; i += 2) {
    const n = Number(digits.slice(i, i + 2)) + 45;
    if (n > 122) throw new FormatError('digit pair out of range');
    out += String.fromCharCode(n);
  }
  return out;
}

function jsonPart(part, what) {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b64urlToBytes(part)));
  } catch {
    throw new FormatError(`${what} is not base64url JSON`);
  }
}

const HEADER_MEMBERS = ['alg', 'kid', 'typ', 'cty'];

/** Split and decode a compact JWS, with the header checks SPEC §5 asks for. */
export function parseJws(jws) {
  const parts = jws.split('.');
  if (parts.length !== 3) throw new FormatError('a token has three parts');
  const header = jsonPart(parts[0], 'header');
  const claims = jsonPart(parts[1], 'payload');
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new FormatError('header is not an object');
  // RFC 9864's fully specified name means the same algorithm.
  if (header.alg !== 'EdDSA' && header.alg !== 'Ed25519') throw new FormatError(`alg ${header.alg} is not EdDSA`);
  if (typeof header.kid !== 'string' || !header.kid) throw new FormatError('no kid');
  // As the server: only alg, kid, typ and cty; crit, jku, x5u, jwk, x5c and the rest refused.
  for (const m of Object.keys(header)) {
    if (!HEADER_MEMBERS.includes(m)) throw new FormatError(`header member ${m} is refused`);
  }
  const signature = b64urlToBytes(parts[2]);
  if (signature.length !== 64) throw new FormatError('an Ed25519 signature is 64 bytes');
  return {
    header,
    claims,
    signingInput: new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
    signature,
  };
}

// A QR token is the one kind Sanad signs without a `typ` (every other kind has its own:
// vc+jwt, statuslist+jwt, sanad-trust-list+jwt, sanad-checkpoint+jwt, sanad-event+jwt; see
// src/keys/kind.rs), and it carries exactly these claims.
const QR_CLAIMS = ['i', 'c', 't', 'n', 's', 'd'];

/** Parse a compact JWS that must be a Sanad QR token; any other signed kind is refused. */
export function parseQrToken(jws) {
  const parsed = parseJws(jws);
  if ('typ' in parsed.header || 'cty' in parsed.header) {
    throw new FormatError(`not a QR token: a signed ${parsed.header.typ ?? parsed.header.cty} artefact`);
  }
  checkClaims(parsed.claims);
  return parsed;
}

function checkClaims(c) {
  const ok =
    c && typeof c === 'object' && !Array.isArray(c) &&
    Object.keys(c).every((k) => QR_CLAIMS.includes(k)) &&
    typeof c.i === 'string' && typeof c.c === 'string' && ID_RE.test(c.c) &&
    Number.isInteger(c.t) && typeof c.n === 'string' &&
    Array.isArray(c.s) && c.s.length === 2 && c.s.every((x) => Number.isInteger(x) && x >= 0) &&
    (c.d === undefined || (typeof c.d === 'string' && /^[A-Za-z0-9_-]{43}$/.test(c.d)));
  if (!ok) throw new FormatError('claims are not a Sanad QR token');
}

/**
 * What was scanned → `{id, token, jws, origin}`; `token` is null for a reference-only code,
 * `origin` the link's origin (null for a raw token or id). Throws FormatError with the reason.
 */
export function parseScan(text) {
  const t = String(text).trim();
  if (ID_RE.test(t)) return { id: t, token: null, jws: null, origin: null };
  let id = null;
  let fragment = null;
  let origin = null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(t) && !/^https?:\/\//i.test(t)) {
    // javascript:, data:, intent: … never a Sanad link.
    throw new FormatError('not a web link');
  }
  if (/^https?:\/\//i.test(t)) {
    let url;
    try {
      url = new URL(t);
    } catch {
      throw new FormatError('not a URL');
    }
    const m = url.pathname.match(/\/v\/([^/]+)\/?$/);
    if (!m || !ID_RE.test(m[1])) throw new FormatError('no credential id in the link');
    id = m[1];
    origin = url.origin;
    fragment = url.hash.replace(/^#/, '');
    if (!fragment) return { id, token: null, jws: null, origin };
  } else {
    fragment = t;
  }
  const token = /^[0-9]+$/.test(fragment) ? digitsToJws(fragment) : fragment;
  const jws = parseQrToken(token);
  if (id !== null && jws.claims.c !== id) throw new FormatError('the token names another credential than the link');
  return { id: jws.claims.c, token, jws, origin };
}
