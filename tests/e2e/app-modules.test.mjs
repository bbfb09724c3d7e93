// The verifier app's pure modules, run in Node against public test vectors (RFC 8037, the IETF
// Token Status List examples) and hostile inputs. Node has the same web APIs the app uses
// (atob, TextDecoder, DecompressionStream, WebCrypto Ed25519).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './lib/sanad.mjs';
import { jwsToDigits } from './lib/token.mjs';

const app = (f) => import(path.join(REPO, 'verifier-app', 'js', f));
const { parseScan, parseJws, digitsToJws, FormatError, bytesToB64url, b64urlToBytes } = await app('codec.js');
const { inflateLst, entryAt } = await app('statuslist.js');
const vectors = JSON.parse(await readFile(path.join(REPO, 'tests', 'vectors', 'specs.json'), 'utf8'));

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const SIG = Buffer.alloc(64, 7).toString('base64url');
const CLAIMS = { i: 'MOSD', c: '0123456789abcdef', t: 1764000000, n: 'فاطمة', s: [1, 42] };
const token = (header = { alg: 'EdDSA', kid: 'abcdefgh' }, claims = CLAIMS) => `${b64(header)}.${b64(claims)}.${SIG}`;

test('IETF status list examples decode to the published entries', async () => {
  const two = vectors.ietf_token_status_list.two_bit;
  const bytes = await inflateLst(two.lst);
  assert.equal(Buffer.from(bytes).toString('hex'), two.decompressed_hex);
  // draft-ietf-oauth-status-list: the 2-bit example's 12 entries.
  assert.deepEqual([...Array(12).keys()].map((i) => entryAt(bytes, i, 2)), [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]);
  assert.equal(entryAt(bytes, 12, 2), undefined, 'past the end');
  const one = vectors.ietf_token_status_list.one_bit;
  const b1 = await inflateLst(one.lst);
  assert.deepEqual([...Array(16).keys()].map((i) => entryAt(b1, i, 1)), one.statuses_index_0_to_15);
});

test('RFC 8037 Ed25519 example verifies with WebCrypto as the app calls it', async () => {
  const v = vectors.rfc8037_ed25519;
  // (Its payload is text and its header has no kid, so the app's token parser would refuse it.)
  assert.throws(() => parseJws(v.compact_jws), FormatError);
  const [h, p, sig] = v.compact_jws.split('.');
  const signingInput = new TextEncoder().encode(`${h}.${p}`);
  const signature = b64urlToBytes(sig);
  const { x } = v.private_jwk;
  const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x }, { name: 'Ed25519' }, false, ['verify']);
  assert.equal(await crypto.subtle.verify('Ed25519', key, signature, signingInput), true);
  const bad = Uint8Array.from(signature);
  bad[0] ^= 1;
  assert.equal(await crypto.subtle.verify('Ed25519', key, bad, signingInput), false);
});

test('QR text forms: numeric fragment, raw token, reference-only link, bare id', () => {
  const jws = token();
  const url = `https://sanad.example/v/${CLAIMS.c}#${jwsToDigits(jws)}`;
  assert.equal(digitsToJws(jwsToDigits(jws)), jws);
  assert.equal(parseScan(url).token, jws);
  assert.equal(parseScan(`https://sanad.example/v/${CLAIMS.c}#${jws}`).token, jws);
  assert.equal(parseScan(jws).id, CLAIMS.c);
  assert.deepEqual(parseScan(`https://sanad.example/v/${CLAIMS.c}`), { id: CLAIMS.c, token: null, jws: null, origin: 'https://sanad.example' });
  assert.deepEqual(parseScan(CLAIMS.c), { id: CLAIMS.c, token: null, jws: null, origin: null });
  assert.equal(bytesToB64url(new Uint8Array([251, 255])), '-_8');
});

test('hostile or malformed tokens are refused before any cryptography', () => {
  const refused = [
    token({ alg: 'none', kid: 'abcdefgh' }),
    token({ alg: 'HS256', kid: 'abcdefgh' }),
    token({ alg: 'EdDSA' }),
    token({ alg: 'EdDSA', kid: 'abcdefgh', crit: ['x'] }),
    token({ alg: 'EdDSA', kid: 'abcdefgh', jku: 'https://evil.example/jwks' }),
    token({ alg: 'EdDSA', kid: 'abcdefgh', x5u: 'https://evil.example/cert' }),
    token({ alg: 'EdDSA', kid: 'abcdefgh', jwk: { kty: 'OKP' } }),
    token(undefined, { ...CLAIMS, c: 'short' }),
    token(undefined, { ...CLAIMS, s: [1] }),
    token(undefined, { ...CLAIMS, d: 'not-a-digest' }),
    `${b64({ alg: 'EdDSA', kid: 'k' })}.${b64(CLAIMS)}.${Buffer.alloc(63).toString('base64url')}`,
    'a.b',
    'not a code',
    '123', // odd digit count
    `https://sanad.example/v/ffffffffffffffff#${jwsToDigits(token())}`, // token of another id
    'https://sanad.example/not-a-record',
  ];
  for (const t of refused) assert.throws(() => parseScan(t), FormatError, t.slice(0, 60));
});

// Issue #8: the forgeries of findings 1–3, as an insider could have had them signed. Each is
// a well-formed, EdDSA, known-kid JWS; the QR parser must refuse it for its kind before any
// key is looked up (the signature cannot help: it would be the agency's real one).
test('other signed kinds are refused as QR tokens (findings 1-3)', () => {
  const header = { alg: 'EdDSA', kid: 'abcdefgh' };
  const forgeries = {
    // 1: a VC-API credential carrying the QR claims, typed vc+jwt.
    vcApiAsQr: token({ ...header, typ: 'vc+jwt', cty: 'vc' }, { ...CLAIMS, type: ['VerifiableCredential'] }),
    // 1 again, with the typ stripped: the extra VC members still give it away.
    vcApiUntyped: token(header, { ...CLAIMS, '@context': ['https://www.w3.org/ns/credentials/v2'] }),
    // 2: a status list credential.
    statusList: token({ ...header, typ: 'vc+jwt' }, {
      ...CLAIMS, type: ['VerifiableCredential', 'BitstringStatusListCredential'],
      credentialSubject: { type: 'BitstringStatusList', encodedList: 'u' },
    }),
    ietfList: token({ ...header, typ: 'statuslist+jwt' }, { ...CLAIMS, status_list: { bits: 2, lst: 'eJw' } }),
    // 3: caller claims signed in (exp, vc) and a Sanad type on a VC-API credential.
    callerClaims: token(header, { ...CLAIMS, exp: 9999999999, vc: { type: ['SanadDigitalId'] } }),
    trustList: token({ ...header, typ: 'sanad-trust-list+jwt' }, CLAIMS),
    checkpoint: token({ ...header, typ: 'sanad-checkpoint+jwt' }, CLAIMS),
    event: token({ ...header, typ: 'sanad-event+jwt' }, CLAIMS),
  };
  for (const [what, jws] of Object.entries(forgeries)) {
    assert.throws(() => parseScan(jws), FormatError, what);
    assert.throws(() => parseScan(`https://sanad.example/v/${CLAIMS.c}#${jwsToDigits(jws)}`), FormatError, what);
  }
  // The genuine shape still parses (so the refusals above are about the kind).
  assert.equal(parseScan(token(header)).id, CLAIMS.c);
});

test('a QR link names its origin; non-web links are refused', () => {
  const jws = token();
  assert.equal(parseScan(`https://evil.example/v/${CLAIMS.c}#${jwsToDigits(jws)}`).origin, 'https://evil.example');
  assert.equal(parseScan(`https://sanad.example/v/${CLAIMS.c}`).origin, 'https://sanad.example');
  assert.equal(parseScan(jws).origin, null);
  for (const t of [`javascript:alert(1)//v/${CLAIMS.c}#${jwsToDigits(jws)}`, `data:text/html,/v/${CLAIMS.c}`]) {
    assert.throws(() => parseScan(t), FormatError, t);
  }
});
