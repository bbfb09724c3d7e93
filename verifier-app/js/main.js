// The verifier app: scan (camera, image, paste) → checks on the device → one clear screen
// per outcome. Offline scans are queued and re-checked when the connection returns.

import * as i18n from './i18n.js';
import * as trust from './trust.js';
import * as store from './store.js';
import { verifyScan, checkDocument, fromServer } from './verify.js';
import { Scanner, readImage } from './scanner.js';

const $ = (id) => document.getElementById(id);
const t = i18n.t;
let current = null; // the result on screen
let rechecked = [];
let scanMode = null;

// Deployment settings (config.json beside the app, cached with it): how old a downloaded
// status may be before "valid as of" becomes a warning, and how long the camera looks
// before saying it has read nothing.
const config = { stale_after_hours: 24, no_code_hint_seconds: 5 };

async function loadConfig() {
  try {
    const res = await fetch(new URL('../config.json', import.meta.url));
    if (res.ok) Object.assign(config, await res.json());
  } catch {
    // offline and not cached yet: the defaults
  }
  scanner.noCodeMs = Math.max(1, Number(config.no_code_hint_seconds) || 5) * 1000;
}

const staleMs = () => {
  const h = Number(config.stale_after_hours);
  return (Number.isFinite(h) && h >= 0 ? h : 24) * 3600 * 1000;
};

/** "5 min", "3 h", "2 days": how long ago `ms` was. */
function age(ms) {
  const min = Math.max(0, Math.round((Date.now() - ms) / 60000));
  if (min < 90) return t('age_minutes', { n: min });
  const h = Math.round(min / 60);
  if (h < 48) return t('age_hours', { n: h });
  return t('age_days', { n: Math.round(h / 24) });
}

const ICONS = {
  check: '<path d="M5 13l4 4L19 7"/>',
  cross: '<path d="M6 6l12 12M18 6L6 18"/>',
  pause: '<path d="M9 5v14M15 5v14"/>',
  arrow: '<path d="M4 12h15M13 6l6 6-6 6"/>',
  key: '<circle cx="8" cy="12" r="4"/><path d="M12 12h9M18 12v4M21 12v3"/><path d="M3 3l18 18"/>',
  question: '<path d="M9 9a3 3 0 1 1 4.2 2.7c-.8.4-1.2 1-1.2 1.8V15"/><path d="M12 19h.01"/>',
  doc: '<path d="M7 3h7l4 4v14H7z"/><path d="M9 13l6 6M15 13l-6 6"/>',
};
const OUTCOME_ICON = {
  valid: 'check', suspended: 'pause', revoked: 'cross', superseded: 'arrow', key_revoked: 'key',
  unknown_issuer: 'question', invalid: 'cross', document_mismatch: 'doc', not_found: 'question',
  undetermined: 'question',
};

function svg(name) {
  return `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round">${ICONS[name]}</svg>`;
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ---------- static text, network state, sync state ----------

function applyStatic() {
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  $('lang').textContent = t('lang_switch');
  $('lang').lang = i18n.current() === 'ar' ? 'en' : 'ar';
  $('scan-btn').textContent = scanner.running ? t('scan_stop') : t('scan_start');
  $('scan-hint').textContent = t('scan_hint');
  $('no-code').textContent = t('no_code');
  showWho();
  document.title = `${t('app_title')} · Sanad`;
  showNet();
  showSync();
  showQueue();
  if (current) render(current);
  renderRechecked();
}

function showNet() {
  const on = navigator.onLine;
  $('net').textContent = on ? t('online') : t('offline');
  $('net').dataset.online = String(on);
}

async function showSync() {
  const at = await trust.syncedAt();
  const n = await trust.cachedListCount();
  $('sync-state').dataset.lists = String(n);
  $('sync-state').dataset.stale = String(!at || Date.now() - at > staleMs());
  $('sync-state').textContent = at ? `${t('synced_at', { n, time: i18n.fmtTime(at) })} · ${t('cache_age', { age: age(at) })}` : t('never_synced');
}

async function showQueue() {
  const n = (await store.queued()).length;
  $('queue-pending').hidden = n === 0;
  $('queue-pending').textContent = t('queue_pending', { n });
}

async function sync() {
  if (!navigator.onLine) return;
  try {
    await trust.sync();
  } catch {
    // offline or server down: keep what we have
  }
  await showSync();
  document.body.dataset.synced = 'true';
}

// ---------- results ----------

function showScreen(name) {
  $('scan-view').hidden = name !== 'scan';
  $('result-view').hidden = name !== 'result';
  document.body.dataset.state = name;
}

function title(r) {
  if (r.outcome === 'valid' && r.asOf) return t('outcome_valid_as_of', { time: i18n.fmtTime(r.asOf) });
  return t(`outcome_${r.outcome}`);
}

function agencyName(a) {
  if (!a) return null;
  const name = i18n.current() === 'ar' ? a.name_ar : a.name_en;
  const s = name ? `${name} (${a.code})` : a.code;
  return a.deployment ? `${s} · ${a.deployment}` : s;
}

function render(r) {
  current = r;
  const banner = $('banner');
  banner.dataset.outcome = r.outcome;
  banner.dataset.source = r.source;
  // A status downloaded long ago is a warning, not a green light.
  const stale = Boolean(r.asOf) && Date.now() - r.asOf > staleMs();
  banner.dataset.stale = String(stale);
  $('outcome-icon').innerHTML = svg(OUTCOME_ICON[r.outcome] ?? 'question');
  if (r.outcome === 'valid' && r.asOf) {
    // "Valid as of <time>": the time on its own line, smaller, so the verdict stays large.
    $('outcome-title').replaceChildren(`${t('outcome_valid')} `,
      el('span', { className: 'asof', textContent: t('as_of_line', { time: i18n.fmtTime(r.asOf) }) }));
  } else {
    $('outcome-title').textContent = title(r);
  }
  $('outcome-explain').textContent = t(`explain_${r.outcome}`);
  const notes = [];
  if (r.source === 'server') notes.push(t(r.federated ? 'explain_federated' : 'explain_server_verdict'));
  if (r.digest && r.documentOk === undefined && r.outcome === 'valid') notes.push(t('doc_pending'));
  if (r.asOf && r.outcome !== 'valid') notes.push(t('explain_offline_status', { time: i18n.fmtTime(r.asOf) }));
  if (stale) notes.push(t('stale_warning', { age: age(r.asOf) }));
  $('outcome-note').textContent = notes.join(' ');

  const dl = $('details');
  dl.replaceChildren();
  const row = (key, value, attrs = {}) => {
    if (value === null || value === undefined || value === '') return;
    const dd = el('dd', attrs);
    dd.append(value);
    dl.append(el('dt', { textContent: t(key) }), dd);
  };
  const rec = r.record;
  // What a forged or untrusted token claims is not shown: only what was verified is.
  const trusted = !['invalid', 'unknown_issuer'].includes(r.outcome);
  const name = trusted ? r.claims?.n ?? rec?.name_as_printed : null;
  row('field_name', name ? el('bdi', { textContent: name }) : null, { className: 'name' });
  if (trusted) row('field_issuer', agencyName(r.agency));
  const issued = r.claims?.t ?? rec?.issued_at;
  if (trusted && issued !== undefined) row('field_issued', i18n.fmtDate(issued));
  const kind = rec?.kind ?? (r.claims ? (r.claims.d ? 'document' : 'digital_id') : null);
  if (trusted && kind) row('field_kind', t(`kind_${kind}`));
  const status = rec?.status ?? (r.listStatus === 'valid' ? 'active' : r.listStatus);
  if (status) row('field_status', t(`status_${status}`), { className: `status status-${status}` });
  if (r.statusReason) row('field_reason', t.has(`reason_${r.statusReason}`) ? t(`reason_${r.statusReason}`) : r.statusReason);
  if (rec && status && status !== 'active' && r.statusAt) row('field_status_at', i18n.fmtTime(r.statusAt));
  if (r.supersededBy) {
    const a = el('a', { href: trust.rootUrl(`v/${r.supersededBy}`), id: 'replacement-link', className: 'replacement' });
    a.append(t('open_replacement'), ' ', el('bdi', { textContent: r.supersededBy }));
    row('field_replacement', a);
  }
  if (r.id) row('field_id', el('bdi', { textContent: r.id, className: 'mono' }));
  // What is printed on a certified document, to compare with the paper in hand.
  const doc = trusted ? rec?.document : null;
  if (doc) {
    row('field_doc_type', el('bdi', { textContent: doc.doc_type }));
    row('field_doc_number', el('bdi', { textContent: doc.number, className: 'mono' }));
    row('field_doc_title', el('bdi', { textContent: doc.title }));
    row('field_doc_date', el('bdi', { textContent: i18n.fmtDate(`${doc.issue_date}T00:00:00Z`) || doc.issue_date }));
  }

  // Document check: only for certificates verified on the device.
  const docable = r.digest && !['invalid', 'unknown_issuer', 'key_revoked', 'not_found'].includes(r.outcome);
  $('doc-check').hidden = !docable;
  $('doc-result').textContent = r.documentOk === true ? t('doc_match') : r.documentOk === false ? t('explain_document_mismatch') : '';
  $('doc-result').dataset.ok = r.documentOk === undefined ? '' : String(r.documentOk);

  const ul = $('check-list');
  ul.replaceChildren();
  const names = ['format', 'origin', 'issuer_trusted', 'signature', 'key_status', 'status', 'document_digest'];
  const order = (c) => (names.includes(c.name) ? names.indexOf(c.name) : names.length);
  for (const c of [...r.checks].sort((a, b) => order(a) - order(b))) {
    const state = c.ok === true ? 'ok' : c.ok === false ? 'failed' : 'pending';
    let word = t(`check_${state}`);
    if (c.detail === 'reference') word = t('check_skipped_reference');
    else if (c.name === 'status' && c.detail && t.has(`status_${c.detail === 'valid' ? 'active' : c.detail}`)) {
      word = t(`status_${c.detail === 'valid' ? 'active' : c.detail}`);
    }
    const li = el('li', { className: `check ${state}` });
    li.dataset.check = c.name;
    li.dataset.ok = String(c.ok);
    li.append(el('span', { className: 'mark', innerHTML: svg(state === 'ok' ? 'check' : state === 'failed' ? 'cross' : 'question') }),
      el('span', { textContent: t.has(`check_${c.name}`) ? t(`check_${c.name}`) : c.name }),
      el('span', { className: 'word', textContent: word }));
    ul.append(li);
  }
  fullRecord(r);
  showScreen('result');
}

async function show(resultPromise) {
  $('message').textContent = '';
  let r;
  try {
    r = await resultPromise;
  } catch (e) {
    $('message').textContent = String(e?.message ?? e);
    return;
  }
  if (!r) return;
  const first = $('result-view').hidden;
  if (r.offline) {
    const q = await store.queued();
    if (!q.some((x) => x.text === r.text)) await store.enqueue({ text: r.text, at: Date.now() });
    await showQueue();
  }
  render(r);
  window.scrollTo(0, 0);
  if (first) $('outcome-title').focus({ preventScroll: true });
}

// ---------- inputs ----------

const scanner = new Scanner($('video'), {
  onText: (text) => { stopCamera(); show(verifyScan(text)); },
  // Nothing read yet: say so, and point at the photo and paste inputs below.
  onNoCode: () => { $('no-code').hidden = false; },
  onError: () => {},
});

function stopCamera() {
  scanner.stop();
  $('viewfinder').hidden = true;
  $('scan-hint').hidden = true;
  $('no-code').hidden = true;
  $('scan-btn').textContent = t('scan_start');
  document.body.dataset.camera = 'off';
}

async function toggleCamera() {
  if (scanner.running) return stopCamera();
  $('message').textContent = '';
  $('viewfinder').hidden = false;
  try {
    scanMode = await scanner.start();
  } catch (e) {
    stopCamera();
    $('message').textContent = t('camera_error', { error: e?.message ?? e });
    return;
  }
  document.body.dataset.camera = scanMode;
  $('scan-hint').hidden = false;
  applyStatic();
}

async function fromImage(file) {
  // On the device first (the signature is then checked here too); the server only when
  // neither reader finds a code and we are online.
  const text = await readImage(file).catch(() => null);
  if (text) return verifyScan(text);
  if (!navigator.onLine) throw new Error(t('no_qr_in_image'));
  let v;
  try {
    const fd = new FormData();
    fd.append('image', file);
    const res = await fetch(trust.rootUrl('api/v1/verify'), { method: 'POST', body: fd });
    if (res.status === 400) throw new Error(t('no_qr_in_image'));
    if (!res.ok) throw new Error(t('server_unreachable'));
    v = await res.json();
  } catch (e) {
    throw e instanceof TypeError ? new Error(t('server_unreachable')) : e;
  }
  return fromServer(v);
}

// ---------- offline queue ----------

async function recheckQueue() {
  const items = await store.queued();
  if (!items.length) return;
  const results = [];
  for (const item of items) {
    const r = await verifyScan(item.text);
    if (r.offline) return; // still offline after all
    results.push(r);
  }
  await store.clearQueue();
  rechecked = results;
  renderRechecked();
  await showQueue();
  // If the screen shows one of these scans, show its fresh verdict.
  if (current && !$('result-view').hidden) {
    const fresh = results.find((r) => r.text === current.text);
    if (fresh) render(fresh);
  }
}

function renderRechecked() {
  $('queue-view').hidden = rechecked.length === 0;
  const ul = $('queue-list');
  ul.replaceChildren();
  for (const r of rechecked) {
    const li = el('li', { className: 'queued' });
    li.dataset.outcome = r.outcome;
    li.append(el('span', { className: 'mark', innerHTML: svg(OUTCOME_ICON[r.outcome] ?? 'question') }),
      el('bdi', { textContent: r.claims?.n ?? r.id ?? '' }), el('strong', { textContent: title(r) }));
    ul.append(li);
  }
}

// ---------- start ----------

async function main() {
  await i18n.load(i18n.initial());
  $('lang').addEventListener('click', async () => {
    await i18n.load(i18n.current() === 'ar' ? 'en' : 'ar');
    applyStatic();
  });
  $('scan-btn').addEventListener('click', toggleCamera);
  $('again').addEventListener('click', () => {
    current = null;
    showScreen('scan');
  });
  $('image-input').addEventListener('change', (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f) show(fromImage(f));
  });
  $('paste-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('paste').value.trim();
    if (text) show(verifyScan(text));
  });
  $('doc-input').addEventListener('change', async (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f && current) render(await checkDocument(current, f));
  });
  $('sync-btn').addEventListener('click', sync);
  window.addEventListener('online', async () => {
    showNet();
    await sync();
    await recheckQueue();
  });
  window.addEventListener('offline', showNet);
  // A camera left running in a hidden tab only drains the battery.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden' && scanner.running) stopCamera();
  });
  $('signin-open').addEventListener('click', () => {
    $('signin-form').hidden = !$('signin-form').hidden;
    if (!$('signin-form').hidden) $('signin-user').focus();
  });
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn(); });
  $('signout').addEventListener('click', signOut);
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register(new URL('../sw.js', import.meta.url), { scope: new URL('../', import.meta.url).pathname })
      .catch(() => {});
  }
  await loadConfig();
  applyStatic();
  showScreen('scan');
  await refreshWho();
  // Keep keys and status lists fresh while the app stays open and online.
  setInterval(() => { if (document.visibilityState === 'visible') sync(); }, 5 * 60 * 1000);
  await sync();
  if (navigator.onLine) await recheckQueue();
  document.body.dataset.ready = 'true';
  // Opened from a live record page with the scanned code (`#qr=…`): check it here.
  if (location.hash.startsWith('#qr=')) {
    let text = '';
    try {
      text = decodeURIComponent(location.hash.slice(4));
    } catch {
      // a malformed fragment is ignored
    }
    history.replaceState(null, '', location.pathname + location.search);
    if (text) await show(verifyScan(text));
  }
}

// ---------- officer sign-in ----------

let who = null; // the signed-in user: {id, username, role, csrf_token}

function showWho() {
  const signedIn = Boolean(who);
  $('who').hidden = !signedIn;
  $('signin-open').hidden = signedIn;
  if (signedIn) {
    $('who-name').textContent = t('signed_in_as', { name: who.username ?? who.id, role: t.has(`role_${who.role}`) ? t(`role_${who.role}`) : who.role });
    $('signin-form').hidden = true;
  }
  document.body.dataset.signedIn = String(signedIn);
}

async function refreshWho() {
  if (!navigator.onLine) return showWho();
  try {
    const res = await fetch(trust.rootUrl('api/v1/session'), { credentials: 'same-origin', cache: 'no-store' });
    who = res.ok ? await res.json() : null;
  } catch {
    // offline: keep what we knew
  }
  showWho();
}

async function signIn() {
  $('signin-error').textContent = '';
  try {
    const res = await fetch(trust.rootUrl('api/v1/session'), {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: $('signin-user').value.trim(), password: $('signin-password').value }),
    });
    if (!res.ok) {
      $('signin-error').textContent = t(res.status === 429 ? 'signin_locked' : 'signin_failed');
      return;
    }
    who = await res.json();
  } catch {
    $('signin-error').textContent = t('server_unreachable');
    return;
  }
  $('signin-password').value = '';
  records.clear();
  showWho();
  if (current) render(current);
}

async function signOut() {
  try {
    await fetch(trust.rootUrl('api/v1/session'), {
      method: 'DELETE', credentials: 'same-origin', headers: { 'x-csrf-token': who?.csrf_token ?? '' },
    });
  } catch {
    // offline: the session ends on the server when it expires
  }
  who = null;
  records.clear();
  showWho();
  if (current) render(current);
}

// ---------- officer's full record ----------

// Loaded once per credential: a re-render (language switch, document check) neither fetches
// again nor writes another audit entry on the server.
const records = new Map();

async function loadRecord(id) {
  const get = (path) => fetch(trust.rootUrl(path), { credentials: 'same-origin', cache: 'no-store' });
  const me = await get('api/v1/session');
  if (!me.ok) return null; // not signed in: the public verdict is all there is
  const who = await me.json();
  if (!['officer', 'admin'].includes(who.role)) return null;
  const res = await get(`api/v1/officer/credentials/${encodeURIComponent(id)}`);
  if (!res.ok) return null;
  const rec = await res.json();
  if (!rec.person) return null;
  const pic = await get(`api/v1/officer/credentials/${encodeURIComponent(id)}/photo`);
  const photo = pic.ok ? URL.createObjectURL(await pic.blob()) : null;
  return { rec, photo };
}

function drawRecord(box, { rec, photo }) {
  const p = rec.person;
  const dl = el('dl', { className: 'details' });
  const row = (key, value) => {
    if (value) dl.append(el('dt', { textContent: t(key) }), el('dd', {}, value));
  };
  row('field_name_ar', el('bdi', { textContent: p.name_ar, lang: 'ar', className: 'name' }));
  row('field_name_en', el('bdi', { textContent: p.name_en, lang: 'en', className: 'name' }));
  row('field_dob', el('bdi', { textContent: i18n.fmtDate(`${p.date_of_birth}T00:00:00Z`) || p.date_of_birth }));
  row('field_national_id', el('bdi', { textContent: p.national_id, className: 'mono' }));
  row('field_programme', p.programme);
  row('field_issuer', agencyName(rec.credential.issuer));
  // The photo first, right under the verdict: it is what the officer compares with the face.
  box.replaceChildren();
  if (photo) box.append(el('img', { id: 'full-record-photo', className: 'photo', src: photo, alt: t('full_record_photo') }));
  box.append(el('h3', { textContent: t('full_record') }), dl, el('p', { className: 'note', textContent: t('full_record_logged') }));
  box.hidden = false;
}

/**
 * With an officer's session (signed in at /console/login on this origin), show the full
 * record of `r.id`: both names, date of birth, national ID, programme, agency and photo. The
 * server logs the view. Signed out, offline or for an untrusted code: nothing, and no error.
 */
function fullRecord(r) {
  const box = $('full-record');
  box.dataset.credential = r.id ?? '';
  const shown = r.id && navigator.onLine && !['invalid', 'unknown_issuer', 'not_found'].includes(r.outcome);
  if (!shown) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  if (!records.has(r.id)) records.set(r.id, loadRecord(r.id).catch(() => null));
  records.get(r.id).then((full) => {
    if (box.dataset.credential !== r.id) return; // another scan is on screen now
    if (!full) {
      records.delete(r.id); // try again next time: the officer may sign in meanwhile
      box.hidden = true;
      return;
    }
    drawRecord(box, full);
  });
}

main();
