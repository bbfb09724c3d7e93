// The checks SPEC §5 names, run on this device: format, issuer trusted, signature (WebCrypto
// Ed25519), key status, status (live when online; the cached status list, or the last live
// record, when offline) and, for certificates, the document digest. The first failure
// decides the outcome, in the same order as the server.

import { parseScan, FormatError, bytesToB64url } from './codec.js';
import * as trust from './trust.js';
import * as store from './store.js';

const OUTCOME_OF_STATUS = {
  active: 'valid', valid: 'valid', suspended: 'suspended', revoked: 'revoked', superseded: 'superseded',
};

class Offline extends Error {}

async function liveRecord(id) {
  let res;
  try {
    res = await fetch(trust.rootUrl(`v/${id}`), { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new Offline();
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new Offline();
  const rec = await res.json();
  await store.put(`rec:${id}`, { rec, fetchedAt: Date.now() });
  return rec;
}

function result(outcome, fields) {
  return { outcome, source: 'device', checks: [], asOf: null, ...fields };
}

/**
 * Verify scanned text. Resolves to
 * `{outcome, checks, claims?, id, agency?, record?, asOf?, statusReason?, supersededBy?, digest?, reason?, queued?}`.
 */
export async function verifyScan(text) {
  const checks = [];
  let scan;
  try {
    scan = parseScan(text);
  } catch (e) {
    const reason = e instanceof FormatError ? e.message : 'unreadable';
    checks.push({ name: 'format', ok: false, detail: reason });
    return result('invalid', { checks, reason });
  }
  checks.push({ name: 'format', ok: true });
  const out = result('valid', { checks, id: scan.id, text: String(text).trim() });
  // A link to another host is a warning, not a verdict: the signature decides genuineness,
  // but a phone camera would open that other host.
  if (scan.origin) {
    const trusted = await trust.trustedOrigins();
    const ok = trusted.has(scan.origin);
    checks.push({ name: 'origin', ok, detail: scan.origin });
    if (!ok) out.originWarning = scan.origin;
  }

  if (scan.jws) {
    const { header, claims, signingInput, signature } = scan.jws;
    out.claims = claims;
    out.digest = claims.d ?? null;
    let key = await trust.findKey(header.kid);
    if (!key && navigator.onLine) {
      // Maybe a key we have not fetched yet (first run, or a rotation since the last sync).
      await trust.syncKeys().catch(() => {});
      key = await trust.findKey(header.kid);
    }
    if (!key && navigator.onLine) {
      // Not one of this deployment's keys. The server may trust it through federation (an
      // imported trust list we do not hold): then its verdict, labelled as the server's, is
      // the best we have.
      const v = await serverVerdict(text);
      if (v && v.outcome !== 'unknown_issuer') {
        // The server checked the signature, so the signed name and digest can be used here.
        const fed = { ...fromServer(v), text: out.text, federated: true, claims };
        if (v.outcome !== 'invalid') fed.digest = claims.d ?? null;
        return fed;
      }
    }
    if (!key || (key.agency && key.agency.code !== claims.i)) {
      checks.push({ name: 'issuer_trusted', ok: false, detail: key ? 'key of another agency' : `no trusted key ${header.kid}` });
      return { ...out, outcome: 'unknown_issuer', reason: 'issuer not trusted' };
    }
    out.agency = key.agency ?? (await trust.agencyByCode(claims.i)) ?? { code: claims.i };
    checks.push({ name: 'issuer_trusted', ok: true, detail: claims.i });
    let good = false;
    try {
      good = await trust.verifyEd25519(key.jwk, signingInput, signature);
    } catch {
      good = false;
    }
    checks.push({ name: 'signature', ok: good });
    if (!good) return { ...out, outcome: 'invalid', reason: 'bad signature' };
    const keyOk = key.status !== 'revoked';
    checks.push({ name: 'key_status', ok: keyOk, detail: key.status });
    if (!keyOk) return { ...out, outcome: 'key_revoked' };
  } else {
    checks.push({ name: 'signature', ok: null, detail: 'reference' });
  }

  // Status: live when we can reach the server, else what we cached.
  let rec;
  try {
    rec = await liveRecord(scan.id);
  } catch (e) {
    if (!(e instanceof Offline)) throw e;
    return offlineStatus(out, scan);
  }
  if (rec !== null && rec.id !== scan.id) return offlineStatus(out, scan); // not the record we asked for
  if (rec === null) {
    checks.push({ name: 'status', ok: false, detail: 'not found' });
    return { ...out, outcome: 'not_found' };
  }
  if (scan.jws) trust.syncStatusList(scan.jws.claims.s[0]).catch(() => {});
  applyRecord(out, rec);
  return pendingDocument(out);
}

function pendingDocument(out) {
  if (out.digest) out.checks.push({ name: 'document_digest', ok: null, detail: 'pending' });
  return out;
}

function applyRecord(out, rec) {
  out.record = rec;
  out.agency = rec.issuer ?? out.agency;
  out.statusReason = rec.status_reason_code ?? null;
  out.statusAt = rec.status_at ?? null;
  out.supersededBy = rec.superseded_by ?? null;
  out.outcome = OUTCOME_OF_STATUS[rec.status] ?? 'undetermined';
  out.checks.push({ name: 'status', ok: rec.status === 'active', detail: rec.status });
  if (rec.key_revoked) {
    // The server knows the signing key was revoked (perhaps before our trust list did).
    out.checks.push({ name: 'key_status', ok: false, detail: 'revoked' });
    out.outcome = 'key_revoked';
  }
}

async function offlineStatus(out, scan) {
  out.offline = true;
  if (scan.jws) {
    const [list, index] = scan.jws.claims.s;
    const cached = await trust.cachedStatus(list, index);
    if (cached) {
      out.asOf = cached.fetchedAt;
      out.listStatus = cached.status;
      out.outcome = OUTCOME_OF_STATUS[cached.status];
      out.checks.push({ name: 'status', ok: cached.status === 'valid', detail: cached.status });
      return pendingDocument(out);
    }
  }
  const last = await store.get(`rec:${scan.id}`);
  if (last) {
    applyRecord(out, last.rec);
    out.asOf = last.fetchedAt;
    return pendingDocument(out);
  }
  out.outcome = 'undetermined';
  out.checks.push({ name: 'status', ok: null, detail: 'offline' });
  return pendingDocument(out);
}

/** Hash a chosen file on the device and compare with the signed digest. */
export async function checkDocument(res, file) {
  const digest = bytesToB64url(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
  const ok = digest === res.digest;
  const checks = res.checks.filter((c) => c.name !== 'document_digest');
  checks.push({ name: 'document_digest', ok, detail: ok ? 'match' : 'mismatch' });
  // The document check runs last: a credential that is not in force keeps its own outcome.
  const base = res.baseOutcome ?? res.outcome;
  const outcome = !ok && (base === 'valid' || base === 'undetermined') ? 'document_mismatch' : base;
  return { ...res, checks, outcome, baseOutcome: base, documentOk: ok };
}

async function serverVerdict(text) {
  try {
    const res = await fetch(trust.rootUrl('api/v1/verify'), {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: String(text).trim() }),
    });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** The server's verdict (fallback scanning path), in the same shape. */
export function fromServer(v) {
  const out = result(v.outcome, { source: 'server', checks: v.checks ?? [], reason: v.reason ?? null });
  if (v.credential) {
    out.id = v.credential.id;
    out.record = v.credential;
    out.agency = v.credential.issuer;
    out.statusReason = v.credential.status_reason_code ?? null;
    out.statusAt = v.credential.status_at ?? null;
    out.supersededBy = v.credential.superseded_by ?? null;
  }
  return out;
}
