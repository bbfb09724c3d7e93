// QR text ⇄ token, and tampering, written independently of the app's own code.

export const digitsToJws = (d) => d.match(/../g).map((p) => String.fromCharCode(Number(p) + 45)).join('');
export const jwsToDigits = (s) => [...s].map((c) => String(c.charCodeAt(0) - 45).padStart(2, '0')).join('');

export function tokenOf(qrText) {
  return digitsToJws(new URL(qrText).hash.slice(1));
}

export function withToken(qrText, jws) {
  const u = new URL(qrText);
  return `${u.origin}${u.pathname}#${jwsToDigits(jws)}`;
}

/** The same token with one signature character changed (not the last, whose low bits are padding). */
export function tamperSignature(jws) {
  const [h, p, s] = jws.split('.');
  const i = 10;
  const c = s[i] === 'A' ? 'B' : 'A';
  return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
}

/** The same token with the printed name changed and the old signature kept. */
export function tamperName(jws, name) {
  const [h, p, s] = jws.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  claims.n = name;
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
}
