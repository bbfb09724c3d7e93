// Start the real Sanad binary on a free port with fresh data and keys, and drive its API.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../../..');
export const SANAD_BIN = path.resolve(process.env.SANAD_BIN ?? path.join(here, '../../../target/debug/sanad'));
export const VERIFIER_DIR = path.join(REPO, 'verifier-app');

export function requireBinary() {
  if (!existsSync(SANAD_BIN)) {
    throw new Error(`Sanad binary not found at ${SANAD_BIN}: run \`cargo build --bin sanad\` or set SANAD_BIN`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A running Sanad: `{url, token, api(), issueId(), issueDocument(), action(), stop()}`. */
export async function startSanad({ agency = 'MOSD', nameAr, nameEn } = {}) {
  requireBinary();
  const dir = await mkdtemp(path.join(tmpdir(), 'sanad-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    SANAD_LISTEN: `127.0.0.1:${port}`,
    SANAD_PUBLIC_URL: url,
    SANAD_DATA_DIR: dir,
    SANAD_KEYS_DIR: path.join(dir, 'keys'),
    SANAD_VERIFIER_DIR: VERIFIER_DIR,
    SANAD_DEFAULT_AGENCY: agency,
    ...(nameAr ? { SANAD_DEFAULT_AGENCY_AR: nameAr } : {}),
    ...(nameEn ? { SANAD_DEFAULT_AGENCY_EN: nameEn } : {}),
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
  const proc = spawn(SANAD_BIN, ['serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-8000); });
  let exited = null;
  proc.on('exit', (code) => { exited = code; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`sanad exited with ${exited}:\n${log}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`sanad did not become ready:\n${log}`);
    await sleep(100);
  }
  const cli = async (...args) => (await promisify(execFile)(SANAD_BIN, args, { env })).stdout;
  /** The CLI with `input` on standard input (passwords are never flags). */
  const cliInput = async (input, ...args) => {
    const run = promisify(execFile)(SANAD_BIN, args, { env });
    run.child.stdin.end(input);
    return (await run).stdout;
  };
  const token = (await cli('tokens', 'create', '--agency', agency, '--scopes', 'issue,revoke,read')).trim().split(/\s+/).pop();

  async function api(method, p, body) {
    const headers = { authorization: `Bearer ${token}` };
    let payload = body;
    if (body && !(body instanceof FormData)) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${url}${p}`, { method, headers, body: payload });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status}: ${text}`);
    return JSON.parse(text);
  }

  let n = 0;
  async function issueId(name_ar = 'فاطمة أحمد الحربي', name_en = 'Fatima Ahmed Al-Harbi') {
    n += 1;
    const person = await api('POST', '/api/v1/persons', {
      name_ar, name_en, date_of_birth: '1988-04-12',
      national_id: `10987654${String(n).padStart(2, '0')}`, programme: 'family of an inmate',
    });
    return api('POST', '/api/v1/credentials', { kind: 'digital_id', person_id: person.id });
  }

  async function issueDocument(bytes, fields = {}) {
    const fd = new FormData();
    fd.append('file', new Blob([bytes], { type: 'application/pdf' }), 'letter.pdf');
    const f = { doc_type: 'letter', number: 'A-1', title: 'Eligibility', recipient_name: 'فاطمة أحمد', issue_date: '2026-11-20', ...fields };
    for (const [k, v] of Object.entries(f)) fd.append(k, v);
    return api('POST', '/api/v1/credentials/document', fd);
  }

  const action = (id, what, reason_code, reason_text = 'e2e test') =>
    api('POST', `/api/v1/credentials/${id}/${what}`, { reason_code, reason_text });

  async function stop() {
    if (exited === null) {
      proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(3000)]);
      if (exited === null) proc.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  }

  return { url, port, token, cli, cliInput, api, issueId, issueDocument, action, stop, log: () => log };
}
