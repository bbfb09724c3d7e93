//! Bulk issuance: CSV or NDJSON rows of persons and credential requests, read as a stream
//! (a reader thread hands over chunks through a bounded channel, so memory does not grow
//! with the file), each row validated with the same domain rules as the single API, signed
//! on all cores and stored a chunk per transaction with one audit entry per chunk.
//!
//! Every row carries a request key, unique per agency: a key issued before is skipped (the
//! earlier credential is reported), so re-running a file, or running it again after a crash,
//! issues every row exactly once. Rows that fail are reported with their row number and the
//! reason, and the batch goes on.
//!
//! Formula-leading names (`=`, `+`, `-`, `@`: CSV injection) are refused by the domain rules
//! themselves ([`crate::domain::formula_leading`]), so they never reach storage by any path;
//! request keys in result files are escaped on export besides.

use super::{Actor, DocumentInput, Draft, document_draft, person_draft};
use crate::app::App;
use crate::domain::{
    AgencyCode, CredentialId, DocumentDigest, DocumentMeta, Invalid, NewPerson, PersonId,
    PersonInput, QrClaims, batch_prefix,
};
use crate::error::AppError;
use crate::keys::{Artefact, PrivateKey, kind};
use crate::storage::{
    BulkChunk, BulkCredential, BulkPerson, BulkResultRow, BulkWriter, NewCredential, PersonRow,
    StatusChangeRow, StoreError, now,
};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// Largest accepted row (one CSV record or NDJSON line), bytes.
pub const MAX_ROW_BYTES: usize = 16 * 1024;

/// Rows per chunk (one transaction, one audit entry) by default.
pub const DEFAULT_CHUNK: usize = 2_000;

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, first line the column names.
    Csv,
    /// One JSON object a line.
    Ndjson,
}

impl Format {
    /// `csv` or `ndjson` (also `jsonl`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "text/csv" => Some(Self::Csv),
            "ndjson" | "jsonl" | "application/x-ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_path(p: &std::path::Path) -> Option<Self> {
        p.extension().and_then(|e| e.to_str()).and_then(Self::parse)
    }

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// The columns (CSV) or fields (NDJSON) of a row. Digital IDs carry either `person_id` (an
/// existing person of the agency) or the person's fields; documents carry their metadata
/// and `sha256`.
pub const COLUMNS: &[&str] = &[
    "request_key",
    "kind",
    "person_id",
    "name_ar",
    "name_en",
    "date_of_birth",
    "national_id",
    "programme",
    "doc_type",
    "number",
    "title",
    "recipient_name",
    "issue_date",
    "sha256",
];

/// One input row, unvalidated.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRow {
    request_key: Option<String>,
    kind: Option<String>,
    person_id: Option<String>,
    name_ar: Option<String>,
    name_en: Option<String>,
    date_of_birth: Option<String>,
    national_id: Option<String>,
    programme: Option<String>,
    doc_type: Option<String>,
    number: Option<String>,
    title: Option<String>,
    recipient_name: Option<String>,
    issue_date: Option<String>,
    sha256: Option<String>,
}

/// A row as read: its number and the row or why it could not be read.
type ReadRow = (i64, Result<BulkRow, String>);

/// What a valid row asks for.
enum Request {
    NewPerson(NewPerson),
    Person(PersonId),
    Document(DocumentMeta, DocumentDigest),
}

fn opt(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// A request key: 1-100 characters of letters, digits and `. _ : / -`.
pub fn parse_request_key(s: Option<String>) -> Result<String, Invalid> {
    let s = opt(s).ok_or_else(|| Invalid::new("request_key", "is required"))?;
    let s = s.trim().to_owned();
    if s.len() > 100
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:/".contains(&b))
    {
        return Err(Invalid::new(
            "request_key",
            "must be 1 to 100 letters, digits or . _ : / -",
        ));
    }
    Ok(s)
}

fn validate(row: BulkRow) -> Result<(String, Request), (Option<String>, String)> {
    let key = parse_request_key(row.request_key).map_err(|e| (None, e.to_string()))?;
    let fail = |e: Invalid| (Some(key.clone()), e.to_string());
    let kind = opt(row.kind).unwrap_or_else(|| "digital_id".into());
    let req = match kind.as_str() {
        "digital_id" => match opt(row.person_id) {
            Some(id) => Request::Person(PersonId::parse(id.trim()).map_err(fail)?),
            None => Request::NewPerson(
                NewPerson::parse(PersonInput {
                    name_ar: row.name_ar.unwrap_or_default(),
                    name_en: row.name_en.unwrap_or_default(),
                    date_of_birth: row.date_of_birth.unwrap_or_default(),
                    national_id: row.national_id.unwrap_or_default(),
                    programme: row.programme.unwrap_or_default(),
                })
                .map_err(fail)?,
            ),
        },
        "document" => {
            let meta = DocumentMeta {
                doc_type: row.doc_type.unwrap_or_default(),
                number: row.number.unwrap_or_default(),
                title: row.title.unwrap_or_default(),
                recipient_name: row.recipient_name.unwrap_or_default(),
                issue_date: row.issue_date.unwrap_or_default(),
            }
            .validate()
            .map_err(fail)?;
            let digest =
                DocumentDigest::parse(row.sha256.as_deref().unwrap_or_default()).map_err(fail)?;
            Request::Document(meta, digest)
        }
        _ => {
            return Err(fail(Invalid::new("kind", "must be digital_id or document")));
        }
    };
    Ok((key, req))
}

/// Read rows on a thread of their own and hand them over `chunk` at a time; the channel
/// holds two chunks, so a fast reader waits for the issuer.
fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    format: Format,
    chunk: usize,
) -> tokio::sync::mpsc::Receiver<Result<Vec<ReadRow>, String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    std::thread::Builder::new()
        .name("sanad-import-read".into())
        .spawn(move || {
            let send = |v| tx.blocking_send(v).is_ok();
            let r = match format {
                Format::Csv => read_csv(input, chunk, &send),
                Format::Ndjson => read_ndjson(input, chunk, &send),
            };
            if let Err(e) = r {
                let _ = tx.blocking_send(Err(e));
            }
        })
        .ok();
    rx
}

fn read_csv<R: Read>(
    input: R,
    chunk: usize,
    send: &dyn Fn(Result<Vec<ReadRow>, String>) -> bool,
) -> Result<(), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|e| format!("the header line cannot be read: {e}"))?
        .clone();
    if let Some(h) = headers.iter().find(|h| !COLUMNS.contains(&h.trim())) {
        return Err(format!(
            "unknown column {h:?}; the columns are: {}",
            COLUMNS.join(", ")
        ));
    }
    if !headers.iter().any(|h| h.trim() == "request_key") {
        return Err("the header line has no request_key column".into());
    }
    let headers = csv::StringRecord::from(headers.iter().map(str::trim).collect::<Vec<_>>());
    let mut buf = Vec::with_capacity(chunk);
    let mut n = 0i64;
    let mut rec = csv::StringRecord::new();
    loop {
        n += 1;
        let row = match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) if rec.as_slice().len() > MAX_ROW_BYTES => {
                Err(format!("row longer than {MAX_ROW_BYTES} bytes"))
            }
            Ok(true) => rec
                .deserialize::<BulkRow>(Some(&headers))
                .map_err(|e| format!("malformed row: {}", csv_reason(&e))),
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Err(format!("reading the file: {e}"));
            }
            Err(e) => Err(format!("malformed CSV line: {}", csv_reason(&e))),
        };
        buf.push((n, row));
        if buf.len() >= chunk && !send(Ok(std::mem::take(&mut buf))) {
            return Ok(());
        }
    }
    if !buf.is_empty() {
        send(Ok(buf));
    }
    Ok(())
}

/// The reason of a CSV error without the record's content (which holds personal data).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(f) => format!("field {f}: {}", err.kind()),
            None => err.kind().to_string(),
        },
        _ => "unreadable".into(),
    }
}

fn read_ndjson<R: Read>(
    input: R,
    chunk: usize,
    send: &dyn Fn(Result<Vec<ReadRow>, String>) -> bool,
) -> Result<(), String> {
    let mut rdr = BufReader::with_capacity(64 * 1024, input);
    let mut buf = Vec::with_capacity(chunk);
    let mut line = Vec::new();
    let mut n = 0i64;
    loop {
        line.clear();
        let read = (&mut rdr)
            .take(MAX_ROW_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the file: {e}"))?;
        if read == 0 {
            break;
        }
        let too_long = line.len() > MAX_ROW_BYTES && !line.ends_with(b"\n");
        if too_long {
            // Skip the rest of the over-long line.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let r = (&mut rdr)
                    .take(64 * 1024)
                    .read_until(b'\n', &mut rest)
                    .map_err(|e| format!("reading the file: {e}"))?;
                if r == 0 || rest.ends_with(b"\n") {
                    break;
                }
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        n += 1;
        let row = if too_long {
            Err(format!("row longer than {MAX_ROW_BYTES} bytes"))
        } else {
            serde_json::from_slice::<BulkRow>(&line).map_err(|e| {
                // serde_json's message names the field or position, never the value.
                format!("malformed JSON line: {}", json_reason(&e))
            })
        };
        buf.push((n, row));
        if buf.len() >= chunk && !send(Ok(std::mem::take(&mut buf))) {
            return Ok(());
        }
    }
    if !buf.is_empty() {
        send(Ok(buf));
    }
    Ok(())
}

fn json_reason(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => {
            // "unknown field `x`, expected one of …" / "invalid type: …": keep the first clause.
            let s = e.to_string();
            s.split(", expected")
                .next()
                .unwrap_or("bad data")
                .to_owned()
        }
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("not JSON (column {})", e.column())
        }
        serde_json::error::Category::Io => "unreadable".into(),
    }
}

/// Rows a preparing loop handles before it lets the storing stage, which shares its task,
/// send the database its next statement.
const YIELD_ROWS: usize = 256;

/// How a run ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Rows read.
    pub rows: u64,
    /// Credentials issued.
    pub issued: u64,
    /// Rows whose request key was issued before (nothing issued again).
    pub skipped: u64,
    /// Rows refused.
    pub failed: u64,
}

/// Who runs the import and where results go.
#[derive(Debug, Clone)]
pub struct Options {
    /// Acting for this agency.
    pub actor: Actor,
    /// The API job, whose results and counts are stored with each chunk.
    pub job_id: Option<String>,
    /// Audit subject of the batch entries (job id or file name).
    pub subject: String,
    /// Rows per chunk.
    pub chunk_rows: usize,
    /// The audit head when the run started: a key issued by a later batch was issued by
    /// this run, so seeing it again means the file holds it twice.
    pub start_seq: i64,
    /// Rows already done by an earlier run of the same job (resuming): skipped unread.
    pub skip_rows: i64,
}

/// Issue a whole file. `on_chunk` sees each chunk's results (progress, result files).
/// Row errors are in the results; the `Err` is for the run as a whole (unreadable file,
/// database down, no signing key).
///
/// Two stages overlap: while one chunk is being stored (one transaction, mostly the
/// database's work), the next is validated and signed (on all cores). Chunks are stored
/// strictly in order, one at a time, so the audit log and the status feed stay in commit
/// order. A key the next chunk shares with the one being stored is caught by the unique
/// index when the next chunk is stored, and that chunk is checked and built again (see
/// [`store`]), so it is reported as used twice just as when the chunks run one after the
/// other.
pub async fn run<R: Read + Send + 'static>(
    app: &App,
    input: R,
    format: Format,
    opts: &Options,
    mut on_chunk: impl FnMut(&[BulkResultRow]),
) -> Result<Summary, AppError> {
    let mut rx = spawn_reader(input, format, opts.chunk_rows.max(1));
    let mut writer = app.store.bulk_writer().await?;
    let mut sum = Summary::default();
    let mut ready: Option<Prepared> = None;
    loop {
        let previous = ready.take();
        let store_previous = async {
            match previous {
                Some(p) => store(app, &mut writer, opts, p).await.map(Some),
                None => Ok(None),
            }
        };
        let prepare_next = async {
            while let Some(chunk) = rx.recv().await {
                let mut rows = chunk.map_err(AppError::BadRequest)?;
                rows.retain(|(n, _)| *n > opts.skip_rows);
                if !rows.is_empty() {
                    return prepare(app, opts, rows).await.map(Some);
                }
            }
            Ok(None)
        };
        let (stored, next) = tokio::join!(store_previous, prepare_next);
        if let Some(results) = stored? {
            for r in &results {
                sum.rows += 1;
                match r.outcome.as_str() {
                    "issued" => sum.issued += 1,
                    "skipped" => sum.skipped += 1,
                    _ => sum.failed += 1,
                }
            }
            on_chunk(&results);
        }
        match next? {
            Some(p) => ready = Some(p),
            None => return Ok(sum),
        }
    }
}

fn failed(row: i64, key: Option<String>, error: String) -> BulkResultRow {
    BulkResultRow {
        row,
        request_key: key,
        credential_id: None,
        outcome: "failed".into(),
        error: Some(error),
    }
}

/// A chunk validated, checked against the keys issued before, signed and ready to store.
struct Prepared {
    /// Every row's result, in row order (credential ids filled in once stored).
    results: Vec<BulkResultRow>,
    /// The valid rows not issued before: `(index into results, key, request)`, kept to
    /// build the chunk again after a conflict.
    todo: Vec<(usize, String, Request)>,
    /// Persons referred to by id, the agency's own.
    known: HashMap<String, PersonRow>,
    /// The signing key.
    key: Arc<PrivateKey>,
    /// What to store.
    chunk: BulkChunk,
    /// `(index into results, credential id)` of what the chunk issues.
    issued: Vec<(usize, String)>,
}

/// Validate one chunk's rows, look up what they refer to, sign them.
async fn prepare(app: &App, opts: &Options, rows: Vec<ReadRow>) -> Result<Prepared, AppError> {
    let agency = &opts.actor.agency;
    let mut results = Vec::with_capacity(rows.len());
    // (index into results, key, request)
    let mut pending: Vec<(usize, String, Request)> = Vec::with_capacity(rows.len());
    let mut keys_here = HashSet::with_capacity(rows.len());
    for (i, (n, row)) in rows.into_iter().enumerate() {
        if i % YIELD_ROWS == YIELD_ROWS - 1 {
            tokio::task::yield_now().await;
        }
        let r = row
            .map_err(|e| (None, e))
            .and_then(validate)
            .and_then(|(k, req)| {
                if keys_here.insert(k.clone()) {
                    Ok((k, req))
                } else {
                    Err((Some(k), "request_key: used twice in this file".into()))
                }
            });
        match r {
            Ok((k, req)) => {
                pending.push((results.len(), k.clone(), req));
                results.push(BulkResultRow {
                    row: n,
                    request_key: Some(k),
                    credential_id: None,
                    outcome: "issued".into(),
                    error: None,
                });
            }
            Err((k, e)) => results.push(failed(n, k, e)),
        }
    }
    // Persons referred to by id must be the agency's own.
    let refs: Vec<String> = pending
        .iter()
        .filter_map(|(_, _, r)| match r {
            Request::Person(id) => Some(id.to_string()),
            _ => None,
        })
        .collect();
    let known: HashMap<String, PersonRow> = if refs.is_empty() {
        HashMap::new()
    } else {
        app.store
            .agency_person_ids(agency.as_str(), &refs)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect()
    };
    pending.retain(|(i, _, r)| match r {
        Request::Person(id) if !known.contains_key(id.as_str()) => {
            results[*i].outcome = "failed".into();
            results[*i].error = Some("person_id: unknown person".into());
            false
        }
        _ => true,
    });
    let key = app
        .keys
        .signing_key(agency)
        .ok_or_else(|| AppError::Conflict(format!("agency {agency} has no active signing key")))?;
    plan(app, opts, results, pending, known, key).await
}

/// Check `pending` against the keys issued before (skipped: an earlier run; failed: this
/// run issued the key already, so the file holds it twice), then build and sign the rest.
async fn plan(
    app: &App,
    opts: &Options,
    mut results: Vec<BulkResultRow>,
    mut pending: Vec<(usize, String, Request)>,
    known: HashMap<String, PersonRow>,
    key: Arc<PrivateKey>,
) -> Result<Prepared, AppError> {
    let keys: Vec<String> = pending.iter().map(|(_, k, _)| k.clone()).collect();
    let existing: HashMap<String, (String, Option<i64>)> = app
        .store
        .existing_request_keys(opts.actor.agency.as_str(), &keys)
        .await?
        .into_iter()
        .map(|(k, id, b)| (k, (id, b)))
        .collect();
    let mut todo = Vec::with_capacity(pending.len());
    for (i, k, req) in pending.drain(..) {
        match existing.get(&k) {
            Some((id, batch)) if batch.is_some_and(|b| b > opts.start_seq) => {
                results[i] = failed(
                    results[i].row,
                    Some(k),
                    format!("request_key: used twice in this file (first issued as {id})"),
                );
            }
            Some((id, _)) => {
                results[i].outcome = "skipped".into();
                results[i].credential_id = Some(id.clone());
            }
            None => todo.push((i, k, req)),
        }
    }
    let (mut chunk, issued) = build_chunk(app, opts, &key, &todo, &known).await?;
    if opts.job_id.is_some() {
        let mut r = results.clone();
        for (i, id) in &issued {
            r[*i].credential_id = Some(id.clone());
        }
        chunk.results = r;
    }
    Ok(Prepared {
        results,
        todo,
        known,
        key,
        chunk,
        issued,
    })
}

/// Store a prepared chunk; returns every row's result in row order. A request key or
/// status slot taken meanwhile (another writer, or the chunk stored just before this one
/// when they share a key) is a conflict: catch up, check and build again.
async fn store(
    app: &App,
    writer: &mut BulkWriter,
    opts: &Options,
    mut p: Prepared,
) -> Result<Vec<BulkResultRow>, AppError> {
    for attempt in 0..5 {
        match writer.insert_chunk(&p.chunk).await {
            Ok(seq) => {
                match seq {
                    // What the chunk issued, as the feed would give it back.
                    Some(seq) => {
                        let rows: Vec<StatusChangeRow> = p
                            .chunk
                            .credentials
                            .iter()
                            .map(|b| StatusChangeRow {
                                seq,
                                credential_id: b.c.id.clone(),
                                status_list: b.c.status_list,
                                status_index: b.c.status_index,
                                from_status: None,
                                to_status: "active".into(),
                                reason_code: None,
                                superseded_by: None,
                                at: b.c.issued_at,
                            })
                            .collect();
                        app.status.apply_committed(&app.store, seq, &rows).await?;
                    }
                    None => {
                        app.status.sync(&app.store).await?;
                    }
                }
                let mut results = p.results;
                for (i, id) in p.issued {
                    results[i].credential_id = Some(id);
                }
                return Ok(results);
            }
            Err(StoreError::Conflict(m)) if attempt < 4 => {
                tracing::info!(error = %m, "bulk chunk conflict, retrying");
                app.status.sync(&app.store).await?;
                p = plan(app, opts, p.results, p.todo, p.known, p.key).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "a bulk chunk kept conflicting with other writers"
    )))
}

/// Draw slots and ids, sign on all cores, and put the rows together.
async fn build_chunk(
    app: &App,
    opts: &Options,
    key: &Arc<PrivateKey>,
    todo: &[(usize, String, Request)],
    known: &HashMap<String, PersonRow>,
) -> Result<(BulkChunk, Vec<(usize, String)>), AppError> {
    let t = now();
    let agency = opts.actor.agency.to_string();
    let mut persons = Vec::new();
    // The chunk's ids share a random prefix each (see `crate::domain::ids`), so they land
    // side by side in the indexes keyed by them.
    let (person_prefix, credential_prefix) = (batch_prefix(), batch_prefix());
    let mut drafts: Vec<(Draft, String)> = Vec::with_capacity(todo.len());
    for (i, (_, k, req)) in todo.iter().enumerate() {
        if i % YIELD_ROWS == YIELD_ROWS - 1 {
            tokio::task::yield_now().await;
        }
        let draft = match req {
            Request::NewPerson(p) => {
                let row = PersonRow {
                    id: PersonId::generate_in_batch(&person_prefix).to_string(),
                    agency_code: agency.clone(),
                    name_ar: p.name_ar.as_str().to_owned(),
                    name_en: p.name_en.as_str().to_owned(),
                    date_of_birth: p.date_of_birth.clone(),
                    national_id: p.national_id.as_str().to_owned(),
                    programme: p.programme.clone(),
                    created_at: t,
                    updated_at: t,
                };
                let d = person_draft(&row);
                persons.push(BulkPerson {
                    search_key: crate::domain::search::person_key(&row.name_ar, &row.name_en),
                    p: row,
                });
                d
            }
            Request::Person(id) => match known.get(id.as_str()) {
                Some(p) => person_draft(p),
                None => continue,
            },
            Request::Document(meta, digest) => document_draft(DocumentInput {
                meta: meta.clone(),
                digest: *digest,
                file: None,
            }),
        };
        drafts.push((draft, k.clone()));
    }
    let mut payloads = Vec::with_capacity(drafts.len());
    let mut slots = Vec::with_capacity(drafts.len());
    for (d, _) in &drafts {
        let (list, index) = super::allocate_slot(app).await?;
        let id = CredentialId::generate_in_batch(&credential_prefix);
        let claims = QrClaims {
            issuer: agency.clone(),
            id: id.to_string(),
            issued_at: t,
            name: d.name_printed.clone(),
            status: (list, index),
            digest: d.digest.map(|x| x.b64()),
        };
        payloads.push(claims);
        slots.push((id, list, index));
    }
    let signer_key = Arc::clone(key);
    // The payloads are serialised with the signing, off this task (see the seal below).
    let tokens = tokio::task::spawn_blocking(move || {
        let payloads = payloads
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::from)?;
        sign_all(&signer_key, &payloads)
    })
    .await
    .map_err(anyhow::Error::from)??;
    let mut credentials = Vec::with_capacity(drafts.len());
    let mut issued = Vec::with_capacity(drafts.len());
    for ((((d, k), (id, list, index)), token), (i, _, _)) in
        drafts.into_iter().zip(slots).zip(tokens).zip(todo.iter())
    {
        issued.push((*i, id.to_string()));
        credentials.push(BulkCredential {
            c: NewCredential {
                id: id.to_string(),
                agency_code: agency.clone(),
                kind: d.kind.as_str().to_owned(),
                person_id: d.person_id.clone(),
                kid: key.kid.clone(),
                supersedes: None,
                issued_at: t,
                name_printed: d.name_printed.clone(),
                status_list: i64::from(list),
                status_index: i64::from(index),
                token,
                subject_json: d.subject.to_string(),
                doc_sha256: d.digest.map(|x| x.hex()),
                doc_file: None,
                doc_media_type: None,
                created_by: opts.actor.id.clone(),
            },
            request_key: k,
        });
    }
    let mut chunk = BulkChunk {
        agency,
        actor: opts.actor.id.clone(),
        job_id: opts.job_id.clone(),
        subject: opts.subject.clone(),
        persons,
        credentials,
        results: Vec::new(),
        detail: None,
    };
    // Hashing every row's state is the preparing stage's longest loop: off this task, which
    // the storing stage shares, so the database is not kept waiting for its next statement.
    let chunk = tokio::task::spawn_blocking(move || chunk.seal().map(|()| chunk))
        .await
        .map_err(anyhow::Error::from)??;
    Ok((chunk, issued))
}

/// Sign every payload, the work split over all cores.
fn sign_all(key: &PrivateKey, payloads: &[serde_json::Value]) -> Result<Vec<String>, AppError> {
    if payloads.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = payloads.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = payloads
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let signer = key.signer(key.short_kid());
                    part.iter()
                        .map(|p| kind::sign(Artefact::QrToken, p, &signer))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(payloads.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?
                .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
            out.extend(part);
        }
        Ok(out)
    })
}

/// Escape a value for a CSV result file: text a spreadsheet would run as a formula gets a
/// leading `'`.
pub fn csv_cell(s: &str) -> String {
    if crate::domain::formula_leading(s) || s.starts_with(['\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Write result rows as CSV (with `header`) or NDJSON.
pub fn write_results(
    out: &mut impl std::io::Write,
    format: Format,
    rows: &[BulkResultRow],
    header: bool,
) -> std::io::Result<()> {
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(out);
            if header {
                w.write_record(["row", "request_key", "credential_id", "outcome", "error"])?;
            }
            for r in rows {
                w.write_record([
                    r.row.to_string(),
                    csv_cell(r.request_key.as_deref().unwrap_or_default()),
                    r.credential_id.clone().unwrap_or_default(),
                    r.outcome.clone(),
                    csv_cell(r.error.as_deref().unwrap_or_default()),
                ])?;
            }
            w.flush()?;
        }
        Format::Ndjson => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// An actor for the command line.
pub fn cli_actor(agency: AgencyCode) -> Actor {
    Actor {
        id: "cli".into(),
        agency,
    }
}
