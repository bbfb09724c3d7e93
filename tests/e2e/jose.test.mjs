// An independent JOSE library (jose) verifies a token Sanad issued, against the JWKS Sanad
// serves, with jose's own key selection (createLocalJWKSet: exact kid match). The JWKS lists
// each key under its thumbprint and under the short kid QR tokens carry, so no relying
// party writes prefix matching.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { compactVerify, decodeProtectedHeader, createLocalJWKSet, calculateJwkThumbprint } from 'jose';
import { startSanad } from './lib/sanad.mjs';
import { tamperSignature, tamperName, tokenOf } from './lib/token.mjs';

let sanad;
let cred;
let jwks;

before(async () => {
  sanad = await startSanad();
  cred = await sanad.issueId();
  jwks = await (await fetch(`${sanad.url}/.well-known/jwks.json`)).json();
});
after(async () => { await sanad?.stop(); });

async function keyFor(token) {
  const { kid, alg } = decodeProtectedHeader(token);
  assert.equal(alg, 'EdDSA');
  assert.equal(jwks.keys.filter((k) => k.kid === kid).length, 1, `exactly one JWK for kid ${kid}`);
  return createLocalJWKSet(jwks);
}

test('the QR token verifies with jose against the served JWKS', async () => {
  const token = tokenOf(cred.qr_text);
  assert.equal(token, cred.token, 'the QR fragment decodes to the issued token');
  const { payload, protectedHeader } = await compactVerify(token, await keyFor(token));
  const claims = JSON.parse(new TextDecoder().decode(payload));
  assert.equal(claims.c, cred.id);
  assert.equal(claims.i, 'MOSD');
  assert.equal(claims.n, cred.name_as_printed);
  assert.equal(claims.d, undefined, 'a digital ID carries no document digest');
  assert.ok(cred.kid.startsWith(protectedHeader.kid));
});

test('every served kid is the RFC 7638 thumbprint of its key, or its 8-character prefix', async () => {
  for (const jwk of jwks.keys) {
    const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
    if (jwk.kid.length === 8) assert.ok(thumbprint.startsWith(jwk.kid), jwk.kid);
    else assert.equal(thumbprint, jwk.kid);
  }
  const full = jwks.keys.filter((k) => k.kid.length === 43);
  assert.ok(full.length >= 1);
  for (const k of full) assert.ok(jwks.keys.some((s) => s.kid === k.kid.slice(0, 8) && s.x === k.x));
});

test('a tampered token fails with jose', async () => {
  const token = tokenOf(cred.qr_text);
  const key = await keyFor(token);
  await assert.rejects(compactVerify(tamperSignature(token), key), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  await assert.rejects(compactVerify(tamperName(token, 'Someone Else'), key), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});

test('the trust list and the status list verify with jose too (what the app caches)', async () => {
  const trust = (await (await fetch(`${sanad.url}/.well-known/sanad-trust-list`)).text()).trim();
  const { payload, protectedHeader } = await compactVerify(trust, await keyFor(trust));
  assert.equal(protectedHeader.typ, 'sanad-trust-list+jwt');
  const list = JSON.parse(new TextDecoder().decode(payload));
  const mosd = list.agencies.find((a) => a.code === 'MOSD');
  assert.ok(mosd.keys.some((k) => k.kid === cred.kid && k.status === 'active' && k.kid.startsWith(k.short_kid)));

  const [n] = JSON.parse(Buffer.from(tokenOf(cred.qr_text).split('.')[1], 'base64url')).s;
  const res = await fetch(`${sanad.url}/status/${n}`);
  assert.equal(res.headers.get('content-type'), 'application/statuslist+jwt');
  const sl = (await res.text()).trim();
  const v = await compactVerify(sl, await keyFor(sl));
  assert.equal(v.protectedHeader.typ, 'statuslist+jwt');
  const claims = JSON.parse(new TextDecoder().decode(v.payload));
  assert.equal(claims.status_list.bits, 2);
  assert.ok(claims.sub.endsWith(`/status/${n}`));
});

test('the full credential (VC 2.0 as vc+jwt) verifies with jose against the JWKS', async () => {
  const res = await fetch(`${sanad.url}/api/v1/credentials/${cred.id}/vc`, {
    headers: { authorization: `Bearer ${sanad.token}` },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/vc+jwt');
  const jwt = (await res.text()).trim();
  const header = decodeProtectedHeader(jwt);
  assert.equal(header.typ, 'vc+jwt');
  assert.equal(header.cty, 'vc');
  assert.equal(header.kid, cred.kid, 'a full credential names its key by the full thumbprint');
  const { payload } = await compactVerify(jwt, await keyFor(jwt));
  const vc = JSON.parse(new TextDecoder().decode(payload));
  assert.equal(vc['@context'][0], 'https://www.w3.org/ns/credentials/v2');
  assert.deepEqual(vc.type, ['VerifiableCredential', 'SanadDigitalId']);
  assert.equal(vc.validUntil, undefined);
  assert.equal(vc.credentialStatus.length, 2);
  // And an enveloped credential from the VC-API.
  const issued = await fetch(`${sanad.url}/credentials/issue`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sanad.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ credential: {
      '@context': ['https://www.w3.org/ns/credentials/v2'],
      type: ['VerifiableCredential', 'EligibilityCredential'],
      credentialSubject: { name: 'Fatima', eligibleFor: 'housing support' },
    } }),
  });
  assert.equal(issued.status, 201);
  const env = (await issued.json()).verifiableCredential;
  assert.equal(env.type, 'EnvelopedVerifiableCredential');
  const inner = env.id.replace('data:application/vc+jwt,', '');
  const v = await compactVerify(inner, await keyFor(inner));
  assert.equal(JSON.parse(new TextDecoder().decode(v.payload)).credentialSubject.eligibleFor, 'housing support');
  await assert.rejects(compactVerify(tamperSignature(inner), await keyFor(inner)), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});
