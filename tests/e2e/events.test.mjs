// An independent JOSE library (jose) verifies Sanad's webhook deliveries against the JWKS
// Sanad serves: each is a compact JWS of type `sanad-event+jwt` whose `jti` is the event id,
// and the events arrive in order for the credential.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { startSanad } from './lib/sanad.mjs';

let sanad;
let receiver;
const received = [];

before(async () => {
  sanad = await startSanad();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
});
after(async () => {
  await sanad?.stop();
  receiver?.close();
});

test('webhook deliveries verify with jose against the JWKS, typed sanad-event+jwt', async () => {
  const events = (await sanad.cli('tokens', 'create', '--agency', 'MOSD', '--scopes', 'events')).trim().split(/\s+/).pop();
  const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
  const res = await fetch(`${sanad.url}/api/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${events}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: hook }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const cred = await sanad.issueId();
  await sanad.action(cred.id, 'suspend', 'under_review');
  await sanad.action(cred.id, 'revoke', 'fraud');
  const deadline = Date.now() + 20_000;
  while (received.length < 3) {
    assert.ok(Date.now() < deadline, `only ${received.length} deliveries arrived`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const jwks = await (await fetch(`${sanad.url}/.well-known/jwks.json`)).json();
  const types = [];
  let last = 0;
  for (const { headers, body } of received) {
    assert.equal(headers['content-type'], 'application/jwt');
    const { kid, typ, alg } = decodeProtectedHeader(body);
    assert.equal(alg, 'EdDSA');
    assert.equal(typ, 'sanad-event+jwt');
    const jwk = jwks.keys.find((k) => k.kid === kid);
    assert.ok(jwk, `kid ${kid} is in the JWKS`);
    const { payload } = await compactVerify(body, await importJWK(jwk, 'EdDSA'));
    const claims = JSON.parse(new TextDecoder().decode(payload));
    assert.equal(claims.jti, String(claims.event.id));
    assert.equal(headers['sanad-event-id'], claims.jti);
    assert.equal(claims.event.credential_id, cred.id);
    assert.ok(claims.event.id > last, 'in order');
    last = claims.event.id;
    types.push(claims.event.type);
    // Tampering breaks it.
    const [h, p, s] = body.split('.');
    const forged = JSON.stringify({ ...claims, event: { ...claims.event, status: 'forged' } });
    await assert.rejects(
      compactVerify(`${h}.${Buffer.from(forged).toString('base64url')}.${s}`, await importJWK(jwk, 'EdDSA')),
      { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' },
    );
    assert.ok(p.length > 0);
  }
  assert.deepEqual(types, ['credential.issued', 'credential.suspended', 'credential.revoked']);
});
