// Where keys and status come from: the trust list (agencies, their keys and key status),
// with the JWKS as fallback, and IETF Token Status Lists. Everything fetched is kept in
// IndexedDB with its fetch time so that the app can verify offline and say how old its
// knowledge is. Only our own origin is ever contacted: nothing inside a token is fetched.

import * as store from './store.js';
import { parseJws } from './codec.js';
import { STATUS_NAMES, inflateLst, entryAt } from './statuslist.js';

const ROOT = new URL('../../', import.meta.url); // the server root above /verifier/js/


async function fetchOk(path, accept) {
  const res = await fetch(new URL(path, ROOT), { headers: { accept }, cache: 'no-store' });
  return res;
}

export async function verifyEd25519(jwk, data, signature) {
  const key = await crypto.subtle.importKey(
    'jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, { name: 'Ed25519' }, false, ['verify'],
  );
  return crypto.subtle.verify('Ed25519', key, signature, data);
}

/** All keys we know: `[{kid, status, agency: {code, name_ar, name_en} | null, jwk}]`. */
export async function knownKeys() {
  const trust = await store.get('trust-list');
  const jwks = await store.get('jwks');
  const out = [];
  for (const a of trust?.agencies ?? []) {
    for (const k of a.keys ?? []) {
      out.push({
        kid: k.kid, status: k.status ?? 'active', jwk: k.jwk,
        agency: { code: a.code, name_ar: a.name_ar, name_en: a.name_en },
      });
    }
  }
  // The JWKS lists each key twice (full thumbprint and the QR's short kid): one entry a key.
  for (const jwk of jwks?.keys ?? []) {
    if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.kid
        && !out.some((k) => k.kid === jwk.kid || k.jwk?.x === jwk.x)) {
      out.push({ kid: jwk.kid, status: 'active', jwk, agency: null });
    }
  }
  return out;
}

/** The key a token's (possibly truncated) kid names, or null. */
export async function findKey(kid) {
  const matches = (await knownKeys()).filter((k) => k.kid.startsWith(kid));
  return matches.length === 1 ? matches[0] : null;
}

/**
 * Origins a Sanad QR link may point at: this deployment's, and the base URL of every agency
 * in the cached trust list (imported deployments included).
 */
export async function trustedOrigins() {
  const out = new Set([ROOT.origin]);
  const trust = await store.get('trust-list');
  for (const a of trust?.agencies ?? []) {
    try {
      if (a.base_url) out.add(new URL(a.base_url).origin);
    } catch {
      // a malformed base URL trusts nothing
    }
  }
  return out;
}

export async function agencyByCode(code) {
  const trust = await store.get('trust-list');
  return trust?.agencies?.find((a) => a.code === code) ?? null;
}

async function verifiedPayload(jwt, typ) {
  const { header, claims, signingInput, signature } = parseJws(jwt);
  if (header.typ !== typ) throw new Error(`typ is not ${typ}`);
  const key = await findKey(header.kid);
  if (!key || key.status === 'revoked') throw new Error('signed by an unknown key');
  if (!(await verifyEd25519(key.jwk, signingInput, signature))) throw new Error('bad signature');
  return { header, claims };
}

export async function syncKeys() {
  const now = Date.now();
  const jr = await fetchOk('.well-known/jwks.json', 'application/jwk-set+json, application/json');
  if (jr.ok) await store.put('jwks', { keys: (await jr.json()).keys ?? [], fetchedAt: now });
  const tr = await fetchOk('.well-known/sanad-trust-list', 'application/jwt, application/json');
  if (tr.ok) {
    const jwt = (await tr.text()).trim();
    // The trust list must be signed by a key it lists (or one from the JWKS we already hold).
    const { header, claims, signingInput, signature } = parseJws(jwt);
    if (header.typ !== 'sanad-trust-list+jwt') throw new Error('not a Sanad trust list');
    const listed = (claims.agencies ?? []).flatMap((a) => a.keys ?? []);
    const key = listed.find((k) => k.kid.startsWith(header.kid) && k.status !== 'revoked') ??
      (await findKey(header.kid));
    const jwk = key?.jwk ?? null;
    if (jwk && (await verifyEd25519(jwk, signingInput, signature))) {
      await store.put('trust-list', { agencies: claims.agencies ?? [], iat: claims.iat, fetchedAt: now });
    }
  }
}

/** Fetch, verify and cache one status list. Returns the cached entry or null. */
export async function syncStatusList(list) {
  const res = await fetchOk(`status/${list}`, 'application/statuslist+jwt');
  if (!res.ok) return null;
  const { claims } = await verifiedPayload((await res.text()).trim(), 'statuslist+jwt');
  if (typeof claims.sub !== 'string' || !claims.sub.endsWith(`/status/${list}`)) throw new Error('another list');
  const sl = claims.status_list;
  if (!sl || sl.bits !== 2 || typeof sl.lst !== 'string') throw new Error('not a 2-bit status list');
  const bytes = await inflateLst(sl.lst);
  const entry = { bytes, iat: claims.iat ?? null, ttl: claims.ttl ?? null, fetchedAt: Date.now() };
  await store.put(`status:${list}`, entry);
  const known = new Set((await store.get('status-lists')) ?? []);
  known.add(list);
  await store.put('status-lists', [...known]);
  return entry;
}

/** Status of `[list, index]` from the cached list: `{status, fetchedAt}` or null. */
export async function cachedStatus(list, index) {
  const entry = await store.get(`status:${list}`);
  if (!entry) return null;
  const code = entryAt(entry.bytes, index, 2);
  if (code === undefined) return null;
  return { status: STATUS_NAMES[code], fetchedAt: entry.fetchedAt };
}

/**
 * Refresh keys, the trust list and the status lists. Sanad numbers its lists from 1, so we
 * fetch 1, 2, … until the first that does not exist (at most MAX_LISTS), plus any list id a
 * scanned token named. Throws when offline.
 */
const MAX_LISTS = 64;
export async function sync() {
  await syncKeys();
  await store.put('synced-at', Date.now());
  const seen = new Set((await store.get('status-lists')) ?? []);
  for (let l = 1; l <= MAX_LISTS; l++) {
    let entry = null;
    try {
      entry = await syncStatusList(l);
    } catch (e) {
      if (e instanceof TypeError) throw e; // offline
      // a list that fails to verify is not cached; the last good copy stays
      entry = true;
    }
    seen.delete(l);
    if (!entry) break;
  }
  for (const l of seen) await syncStatusList(l).catch(() => null);
}

export const syncedAt = () => store.get('synced-at');
export const cachedListCount = async () => (await store.keys()).filter((k) => String(k).startsWith('status:')).length;
export const rootUrl = (path) => new URL(path, ROOT).href;
