// Sanad's flows through a client generated from the served OpenAPI document: the types come
// from openapi-typescript (./generated/sanad.ts, made by the test, never edited) and the calls
// from openapi-fetch typed by them. `tsc --strict` checks this file against those types, so a
// wrong or missing type in the document fails the test before anything runs.
//
// Usage (the test compiles this to JS first):
//   node flows.js BASE_URL TOKEN EVENTS_TOKEN ADMIN_USER ADMIN_PASSWORD
// Prints one `step …` line per step and, last, `RESULT {json}`: every step's HTTP status and
// what the server answered (credential statuses, verification outcomes), which the test
// compares with what Sanad must answer. Exits non-zero at the first broken expectation.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/sanad.js";

// Only what this program uses of Node (no @types/node: one package fewer).
declare const process: { argv: string[]; exitCode?: number };

type Schemas = components["schemas"];
type Outcome = Schemas["Outcome"];
type Status = Schemas["CredentialStatus"];
type Credential = Schemas["CredentialOut"];

const [baseUrl, token, eventsToken, adminUser, adminPassword] = process.argv.slice(2);
if (!baseUrl || !token || !eventsToken || !adminUser || !adminPassword) {
  throw new Error("usage: flows.js BASE_URL TOKEN EVENTS_TOKEN ADMIN_USER ADMIN_PASSWORD");
}

const registrar = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const events = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${eventsToken}` } });
const anyone = createClient<paths>({ baseUrl });

/** What the server answered at each step, for the test to compare. */
const steps: { step: string; http: number; value?: string }[] = [];

function step(name: string): void {
  console.log(`step ${name}`);
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`expectation failed: ${what}`);
}

/** The typed body of an answer with the expected status (anything else throws). */
function expectStatus<T>(
  r: { data?: T; error?: unknown; response: Response },
  status: number,
  name: string,
  value?: (data: T) => string,
): T {
  const http = r.response.status;
  if (http !== status || r.data === undefined) {
    throw new Error(`${name}: HTTP ${http} (wanted ${status}): ${JSON.stringify(r.error)}`);
  }
  steps.push({ step: name, http, value: value?.(r.data) });
  return r.data;
}

/** A 201/200 lifecycle answer is the credential; a 202 would be an approval request. */
function credentialOf(data: Credential | Schemas["ApprovalOut"]): Credential {
  check("token" in data, "a credential, not a pending approval");
  return data;
}

/** Multipart body from a generated form type: strings as fields, Blobs as files. */
function formData<T extends object>(body: T): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(body)) {
    if (v instanceof Blob) fd.append(k, v);
    else if (typeof v === "string") fd.append(k, v);
    else if (v !== null && v !== undefined) throw new Error(`form field ${k} is neither text nor a file`);
  }
  return fd;
}

async function verify(name: string, body: Schemas["VerifyRequest"]): Promise<Outcome> {
  const v = expectStatus(await anyone.POST("/api/v1/verify", { body }), 200, name, (d) => d.outcome);
  check(Array.isArray(v.checks) && v.checks.every((c) => typeof c.name === "string"), "named checks");
  return v.outcome;
}

function same<T extends string>(got: T, want: T, what: string): void {
  check(got === want, `${what}: got ${got}, wanted ${want}`);
}

async function main(): Promise<void> {
  step("create a person");
  const person = expectStatus(
    await registrar.POST("/api/v1/persons", {
      body: {
        name_ar: "فاطمة أحمد الحربي",
        name_en: "Fatima Ahmed Al-Harbi",
        date_of_birth: "1988-04-12",
        national_id: "1098765432",
        programme: "family of an inmate",
      },
    }),
    201,
    "create person",
  );

  step("issue a digital ID");
  const id = credentialOf(
    expectStatus(
      await registrar.POST("/api/v1/credentials", { body: { kind: "digital_id", person_id: person.id } }),
      201,
      "issue digital id",
      (d) => d.status,
    ),
  );
  same<Schemas["CredentialKind"]>(id.kind, "digital_id", "kind");
  same<Status>(id.status, "active", "status");
  check(id.person_id === person.id, "the ID names its person");

  step("upload a photo (the ID's own QR PNG as the picture)");
  const png = expectStatus(
    await anyone.GET("/v/{id}/qr.png", { params: { path: { id: id.id }, query: { px: 8 } }, parseAs: "blob" }),
    200,
    "qr png",
  );
  const pngBytes = new Uint8Array(await png.arrayBuffer());
  check(pngBytes[0] === 0x89 && pngBytes[1] === 0x50, "a PNG");
  const photoFile = new File([pngBytes], "photo.png", { type: "image/png" });
  const put = await registrar.PUT("/api/v1/persons/{id}/photo", {
    params: { path: { id: person.id } },
    body: { photo: photoFile },
    bodySerializer: formData,
  });
  check(put.response.status === 204, `photo stored: HTTP ${put.response.status} ${JSON.stringify(put.error)}`);
  steps.push({ step: "put photo", http: put.response.status });
  const photo = expectStatus(
    await registrar.GET("/api/v1/persons/{id}/photo", { params: { path: { id: person.id } }, parseAs: "blob" }),
    200,
    "get photo",
    (d) => d.type,
  );
  const jpeg = new Uint8Array(await photo.arrayBuffer());
  check(jpeg[0] === 0xff && jpeg[1] === 0xd8, "stored re-encoded as JPEG");

  step("certify a document by uploading it");
  const letter = new TextEncoder().encode("%PDF-1.4 a letter of eligibility\n");
  const doc = credentialOf(
    expectStatus(
      await registrar.POST("/api/v1/credentials/document", {
        body: {
          file: new File([letter], "letter.pdf", { type: "application/pdf" }),
          doc_type: "eligibility letter",
          number: "MOSD/2026/1",
          title: "إفادة",
          recipient_name: "فاطمة",
          issue_date: "2026-11-20",
        },
        bodySerializer: formData,
      }),
      201,
      "issue document",
      (d) => d.kind,
    ),
  );
  check(typeof doc.document_sha256 === "string" && doc.document_sha256.length === 64, "the file's digest");

  step("verify: QR text, id, the QR image, and the document with its file");
  same<Outcome>(await verify("verify qr", { qr: id.qr_text }), "valid", "QR text");
  same<Outcome>(await verify("verify id", { id: doc.id }), "valid", "id");
  const byImage = expectStatus(
    await anyone.POST("/api/v1/verify/upload", {
      body: new Blob([pngBytes], { type: "image/png" }),
      headers: { "Content-Type": "image/png" },
      bodySerializer: (b) => b,
    }),
    200,
    "verify qr image",
    (d) => d.outcome,
  );
  check(byImage.credential?.id === id.id, "the image's QR is the ID's");
  const withFile = (bytes: Uint8Array<ArrayBuffer>) =>
    anyone.POST("/api/v1/verify/upload", {
      body: { id: doc.id, file: new File([bytes], "letter.pdf", { type: "application/pdf" }) },
      bodySerializer: formData,
    });
  expectStatus(await withFile(letter), 200, "verify document file", (d) => d.outcome);
  expectStatus(await withFile(new TextEncoder().encode("another letter")), 200, "verify other file", (d) => d.outcome);

  step("suspend, reinstate");
  const reason = (reason_code: Schemas["ReasonCode"], reason_text?: string): Schemas["ActionRequest"] => ({
    reason_code,
    reason_text,
  });
  const path = { path: { id: id.id } };
  expectStatus(
    await registrar.POST("/api/v1/credentials/{id}/suspend", { params: path, body: reason("under_review") }),
    200,
    "suspend",
    (d) => d.status,
  );
  await verify("verify suspended", { token: id.token });
  expectStatus(
    await registrar.POST("/api/v1/credentials/{id}/reinstate", { params: path, body: reason("review_cleared") }),
    200,
    "reinstate",
    (d) => d.status,
  );
  await verify("verify reinstated", { id: id.id });

  step("re-issue: the old ID is superseded");
  const renewed = credentialOf(
    expectStatus(
      await registrar.POST("/api/v1/credentials/{id}/reissue", { params: path, body: reason("data_changed") }),
      201,
      "reissue",
      (d) => ("status" in d ? d.status : d.state),
    ),
  );
  check(renewed.supersedes === id.id, "the new ID names the one it replaces");
  await verify("verify superseded", { qr: id.qr_text });
  await verify("verify renewed", { qr: renewed.qr_text });
  const old = expectStatus(
    await registrar.GET("/api/v1/credentials/{id}", { params: path }),
    200,
    "get old",
    (d) => d.status,
  );
  check(old.superseded_by === renewed.id, "the old ID points to its replacement");

  step("the full credential through the VC-API, before and after revocation");
  const vc = expectStatus(
    await registrar.GET("/api/v1/credentials/{id}/vc", { params: { path: { id: renewed.id } }, parseAs: "text" }),
    200,
    "get vc",
  );
  check(vc.trim().split(".").length === 3, "a compact JWS");
  const vcOk = expectStatus(
    await anyone.POST("/credentials/verify", { body: { verifiableCredential: vc.trim() } }),
    200,
    "vc-api verify",
    (d) => d.outcome,
  );
  check(vcOk.verified === true && vcOk.checks.includes("signature"), "verified, signature checked");

  step("revoke");
  expectStatus(
    await registrar.POST("/api/v1/credentials/{id}/revoke", {
      params: { path: { id: renewed.id } },
      body: reason("issued_in_error", "e2e test"),
    }),
    200,
    "revoke",
    (d) => ("status" in d ? d.status : d.state),
  );
  await verify("verify revoked", { id: renewed.id });
  const refused = await anyone.POST("/credentials/verify", { body: { verifiableCredential: vc.trim() } });
  check(refused.error !== undefined, "a revoked credential is not verified");
  const failed = (refused.error.errors ?? []).map((e) => `${e.check ?? ""}:${e.type}`);
  steps.push({ step: "vc-api verify revoked", http: refused.response.status, value: failed.join(" ") });
  check(refused.error.verified === false && refused.error.outcome === "revoked", "the problem says why");

  step("history: the event feed and the audit log");
  const feed = expectStatus(await events.GET("/api/v1/events", { params: { query: { after: 0, limit: 500 } } }), 200, "events");
  const mine = (credential: string) =>
    feed.events.filter((e) => e.credential_id === credential).map((e) => e.type);
  steps.push({ step: "events of the first ID", http: 200, value: mine(id.id).join(" ") });
  steps.push({ step: "events of the renewed ID", http: 200, value: mine(renewed.id).join(" ") });

  const login = await anyone.POST("/api/v1/session", { body: { username: adminUser, password: adminPassword } });
  const session = expectStatus(login, 200, "admin login", (d) => d.role);
  check(session.agency == null, "an admin works for the whole deployment");
  const cookie = login.response.headers.get("set-cookie")?.split(";")[0];
  check(cookie !== undefined && cookie.includes("="), "a session cookie");
  const admin = createClient<paths>({ baseUrl, headers: { Cookie: cookie } });
  const audit = expectStatus(
    await admin.GET("/api/v1/audit/entries", { params: { query: { after: 0, limit: 500 } } }),
    200,
    "audit entries",
  );
  const about = (subject: string) => audit.filter((e) => e.subject === subject).map((e) => e.action);
  steps.push({ step: "audit of the first ID", http: 200, value: about(id.id).join(" ") });
  steps.push({ step: "audit of the person", http: 200, value: about(person.id).join(" ") });
  for (let i = 1; i < audit.length; i++) {
    check(audit[i].prev_hash === audit[i - 1].hash && audit[i].seq > audit[i - 1].seq, "a hash chain in order");
  }
}

main().then(
  () => {
    console.log(`RESULT ${JSON.stringify(steps)}`);
    console.log("all flows passed");
  },
  (e: unknown) => {
    console.log(`RESULT ${JSON.stringify(steps)}`);
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exitCode = 1;
  },
);
