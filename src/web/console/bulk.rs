//! The registrar's bulk-issuance page: upload a CSV or NDJSON file (the formats of
//! `sanad import` and `POST /api/v1/credentials/bulk`), watch the job, read and download the
//! rows that failed, and list the agency's past jobs. Only principals that may issue see it.
//!
//! The upload is streamed to the job's file (never held in memory whole) under a limit of
//! its own, [`MAX_UPLOAD_BYTES`]: smaller than the API's, because a browser upload has to
//! finish within the request timeout; larger files go through the API or `sanad import`.
//! The header line is checked before the job starts, so a wrong file is refused at once
//! with a clear message instead of becoming a failed job. The job itself is the API's
//! ([`crate::web::bulk::launch`]): both paths issue, audit and resume in the same way.
//!
//! Row errors are stored as the importer's English text (`field: reason`, never the row's
//! content); [`row_error`] reads a code and a field from it, so the page and the errors file
//! say it in the reader's language.

use super::registrar::{actor_names, name_of};
use super::{Console, PAGE_SIZE, Paging, pager};
use crate::app::App;
use crate::auth::Scope;
use crate::error::AppError;
use crate::issuance::bulk::{self as import, Format};
use crate::render::pages::Lang;
use crate::storage::{BulkJobRow, BulkResultRow, now};
use crate::web::bulk::{ChannelStream, launch, new_job_id, own_job, result_file, upload_path};
use crate::web::extract::ApiQuery;
use axum::Router;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead as _, Read as _};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::io::AsyncWriteExt as _;

/// Largest file the console takes (64 MiB: about 500,000 digital-ID rows with their
/// persons). The API takes up to [`crate::web::bulk::MAX_BULK_BYTES`].
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// How often a running job's page fetches itself again (milliseconds).
const POLL_MS: u32 = 2_000;

pub(super) fn routes() -> Router<Arc<App>> {
    // The form fields and multipart framing around the file fit in the extra 64 KiB; the
    // file itself is counted exactly while it is written.
    let upload = Router::new()
        .route("/console/bulk", get(index).post(upload))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES as usize + 64 * 1024));
    Router::new()
        .route("/console/bulk/sample/{name}", get(sample))
        .route("/console/bulk/{id}", get(job_page))
        .route("/console/bulk/{id}/errors.csv", get(errors_csv))
        .route("/console/bulk/{id}/result", get(result))
        .merge(upload)
}

// ----- row error codes -------------------------------------------------------------------

/// A failed row's reason as a code (`rowerr_{code}` in the tables) and the field it names
/// (`field_{field}`), read from the importer's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// `required`, `invalid`, `length`, `date`, `formula`, `control`, `duplicate_key`,
    /// `unknown_person`, `malformed_csv`, `malformed_json`, `too_long` or `other`.
    pub code: &'static str,
    /// The field, when the reason names one the tables know.
    pub field: Option<&'static str>,
}

/// Fields a row error may name (each has `field_{name}` in the tables): the import's columns.
const ROW_FIELDS: &[&str] = crate::issuance::bulk::COLUMNS;

/// The code and field of an importer's row error (see `issuance::bulk` and the domain
/// rules for the texts).
pub fn row_error(text: &str) -> RowError {
    let plain = |code| RowError { code, field: None };
    if text.starts_with("malformed CSV line") || text.starts_with("malformed row") {
        return plain("malformed_csv");
    }
    if text.starts_with("malformed JSON line") {
        return plain("malformed_json");
    }
    if text.starts_with("row longer than") {
        return plain("too_long");
    }
    let Some((name, reason)) = text.split_once(": ") else {
        return plain("other");
    };
    let Some(field) = ROW_FIELDS.iter().copied().find(|f| *f == name) else {
        return plain("other");
    };
    let code = if field == "request_key" && reason.starts_with("used twice") {
        "duplicate_key"
    } else if field == "person_id" && reason == "unknown person" {
        "unknown_person"
    } else if reason == "is required" || reason == "must not be empty" {
        "required"
    } else if reason.contains("formula") {
        "formula"
    } else if reason.contains("control characters") {
        "control"
    } else if reason.contains("date YYYY-MM-DD") {
        "date"
    } else if reason.starts_with("must be at most") || reason.starts_with("must be 1 to ") {
        // `must be 1 to N characters` (document fields) or `… letters, digits …` (keys).
        if reason.ends_with("characters") {
            "length"
        } else {
            "invalid"
        }
    } else {
        "invalid"
    };
    RowError {
        code,
        field: Some(field),
    }
}

/// A row error in words: the table's sentence with the field's name put in.
fn row_message(lang: Lang, e: &RowError, detail: &str) -> String {
    let t = lang.table();
    let word = |k: &str| t.get(k).cloned().unwrap_or_default();
    let field = e
        .field
        .map(|f| word(&format!("field_{f}")))
        .unwrap_or_default();
    let msg = word(&format!("rowerr_{}", e.code)).replace("{field}", &field);
    if e.code == "other" {
        format!("{msg} {detail}")
    } else {
        msg
    }
}

/// A failed row as the page shows it.
#[derive(Serialize)]
struct ErrorView {
    row: i64,
    request_key: Option<String>,
    code: &'static str,
    message: String,
}

fn error_view(lang: Lang, r: BulkResultRow) -> ErrorView {
    let detail = r.error.unwrap_or_default();
    let e = row_error(&detail);
    ErrorView {
        row: r.row,
        request_key: r.request_key,
        code: e.code,
        message: row_message(lang, &e, &detail),
    }
}

// ----- expected rows ---------------------------------------------------------------------

/// Counts the rows of an upload as it streams past: CSV records (a newline inside quotes
/// does not end one; the header line is the first) and non-blank lines (NDJSON), as the
/// importer reads them.
#[derive(Debug, Default)]
struct RowCounter {
    records: i64,
    lines: i64,
    in_quotes: bool,
    record_open: bool,
    line_open: bool,
}

impl RowCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' => {
                    if !self.in_quotes && self.record_open {
                        self.records += 1;
                        self.record_open = false;
                    }
                    if self.line_open {
                        self.lines += 1;
                        self.line_open = false;
                    }
                }
                b'\r' => {}
                _ => {
                    if b == b'"' {
                        self.in_quotes = !self.in_quotes;
                    }
                    self.record_open = true;
                    if !b.is_ascii_whitespace() {
                        self.line_open = true;
                    }
                }
            }
        }
    }

    /// Data rows in `format` (CSV without its header line).
    fn rows(&self, format: Format) -> i64 {
        match format {
            Format::Csv => (self.records + i64::from(self.record_open) - 1).max(0),
            Format::Ndjson => self.lines + i64::from(self.line_open),
        }
    }
}

/// Rows in each running job's file, counted when it was uploaded (or again after a
/// restart), for "remaining" and the time left. Only running jobs are kept.
static EXPECTED: LazyLock<Mutex<HashMap<String, i64>>> = LazyLock::new(Mutex::default);

fn expected_map() -> std::sync::MutexGuard<'static, HashMap<String, i64>> {
    EXPECTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remember a running job's row count (the map is cleared if it ever grows large: the
/// counts are only for display and are counted again when missing).
fn remember_expected(id: &str, rows: i64) {
    let mut m = expected_map();
    if m.len() >= 10_000 {
        m.clear();
    }
    m.insert(id.to_owned(), rows);
}

/// How many rows job `job` will have read when it ends, if known.
async fn expected_rows(app: &App, job: &BulkJobRow) -> Option<i64> {
    if job.state != "running" {
        expected_map().remove(&job.id);
        return Some(job.rows_total);
    }
    if let Some(n) = expected_map().get(&job.id) {
        return Some(*n);
    }
    // A job resumed after a restart: count its file once.
    let format = Format::parse(&job.format)?;
    let path = upload_path(app, &job.id, format);
    let n = tokio::task::spawn_blocking(move || -> std::io::Result<i64> {
        let mut f = std::fs::File::open(path)?;
        let mut c = RowCounter::default();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(c.rows(format));
            }
            c.feed(&buf[..n]);
        }
    })
    .await
    .ok()?
    .ok()?;
    remember_expected(&job.id, n);
    Some(n)
}

// ----- the upload ------------------------------------------------------------------------

/// Why an upload was refused before a job started (`bulk_err_{code}` in the tables).
#[derive(Debug, Serialize)]
struct UploadError {
    code: &'static str,
    /// The unknown column, for `column`.
    column: Option<String>,
    #[serde(skip)]
    status: StatusCode,
}

impl UploadError {
    fn new(code: &'static str, status: StatusCode) -> Self {
        Self {
            code,
            column: None,
            status,
        }
    }
}

/// The form as received: the file is already on disk at `tmp`.
#[derive(Default)]
struct Received {
    csrf: String,
    format: String,
    file_name: String,
    content_type: String,
    bytes: u64,
    counter: RowCounter,
}

enum Fail {
    Upload(UploadError),
    App(AppError),
}

async fn receive(mp: &mut Multipart, tmp: &std::path::Path) -> Result<Received, Fail> {
    let mut got = Received::default();
    let mut seen_file = false;
    let too_large = || Fail::Upload(UploadError::new("too_large", StatusCode::PAYLOAD_TOO_LARGE));
    let multipart_err = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            Fail::App(AppError::BadRequest(format!("multipart: {e}")))
        }
    };
    while let Some(mut field) = mp.next_field().await.map_err(multipart_err)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" if !seen_file => {
                seen_file = true;
                got.file_name = field.file_name().unwrap_or_default().to_owned();
                got.content_type = field.content_type().unwrap_or_default().to_owned();
                let mut f = tokio::fs::File::create(tmp)
                    .await
                    .map_err(|e| Fail::App(AppError::Internal(e.into())))?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_err)? {
                    got.bytes += chunk.len() as u64;
                    if got.bytes > MAX_UPLOAD_BYTES {
                        return Err(too_large());
                    }
                    got.counter.feed(&chunk);
                    f.write_all(&chunk)
                        .await
                        .map_err(|e| Fail::App(AppError::Internal(e.into())))?;
                }
                f.flush()
                    .await
                    .map_err(|e| Fail::App(AppError::Internal(e.into())))?;
            }
            "csrf" | "format" => {
                let v = field.text().await.map_err(multipart_err)?;
                let v: String = v.trim().chars().take(200).collect();
                if name == "csrf" {
                    got.csrf = v;
                } else {
                    got.format = v;
                }
            }
            // Anything else is read past and dropped.
            _ => while field.chunk().await.map_err(multipart_err)?.is_some() {},
        }
    }
    Ok(got)
}

/// The format asked for, else the file name's extension, else the part's media type.
fn format_of(r: &Received) -> Option<Format> {
    match r.format.as_str() {
        "csv" => return Some(Format::Csv),
        "ndjson" => return Some(Format::Ndjson),
        _ => {}
    }
    Format::from_path(std::path::Path::new(&r.file_name))
        .or_else(|| Format::parse(r.content_type.split(';').next().unwrap_or("").trim()))
}

/// Check the header line (CSV) or the first line (NDJSON) as the importer will read it.
fn check_head(path: &std::path::Path, format: Format) -> Result<(), UploadError> {
    let unprocessable = |code| UploadError::new(code, StatusCode::UNPROCESSABLE_ENTITY);
    let f = std::fs::File::open(path).map_err(|_| unprocessable("unreadable"))?;
    // One row is at most MAX_ROW_BYTES; the header and a first line fit in a few.
    let head = f.take(4 * import::MAX_ROW_BYTES as u64);
    match format {
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(head);
            let headers = rdr.headers().map_err(|_| unprocessable("unreadable"))?;
            if let Some(h) = headers
                .iter()
                .find(|h| !import::COLUMNS.contains(&h.trim()))
            {
                return Err(UploadError {
                    column: Some(h.trim().chars().take(40).collect()),
                    ..unprocessable("column")
                });
            }
            if !headers.iter().any(|h| h.trim() == "request_key") {
                return Err(unprocessable("no_key"));
            }
        }
        Format::Ndjson => {
            let mut r = std::io::BufReader::new(head);
            let mut line = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let ok =
                    serde_json::from_slice::<serde_json::Value>(&line).is_ok_and(|v| v.is_object());
                if !ok {
                    return Err(unprocessable("not_ndjson"));
                }
                break;
            }
        }
    }
    Ok(())
}

/// The form again with the reason the file was refused; the file is deleted.
async fn refuse(app: &App, c: &Console, tmp: &std::path::Path, e: UploadError) -> Response {
    let _ = tokio::fs::remove_file(tmp).await;
    index_page(app, c, 1, None, Some(e)).await
}

async fn upload(
    State(app): State<Arc<App>>,
    c: Console,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let back = "/console/bulk";
    let actor = match c.p.require(Scope::Issue) {
        Ok(a) => a,
        Err(e) => return c.fail(&app, e, back),
    };
    let Ok(mut mp) = mp else {
        return c.fail(&app, AppError::BadRequest("multipart".into()), back);
    };
    let id = new_job_id();
    let dir = app.config.data_dir.join("bulk-uploads");
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        return c.fail(&app, AppError::Internal(e.into()), back);
    }
    let tmp = dir.join(format!("{id}.part"));
    let got = receive(&mut mp, &tmp).await;
    let got = match got {
        Ok(g) => g,
        Err(Fail::Upload(e)) => return refuse(&app, &c, &tmp, e).await,
        Err(Fail::App(e)) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return c.fail(&app, e, back);
        }
    };
    if !c.csrf_ok(&got.csrf) {
        let _ = tokio::fs::remove_file(&tmp).await;
        return c.stale(back);
    }
    if got.bytes == 0 {
        return refuse(
            &app,
            &c,
            &tmp,
            UploadError::new("no_file", StatusCode::UNPROCESSABLE_ENTITY),
        )
        .await;
    }
    let Some(format) = format_of(&got) else {
        let e = UploadError::new("format", StatusCode::UNSUPPORTED_MEDIA_TYPE);
        return refuse(&app, &c, &tmp, e).await;
    };
    let head = {
        let tmp = tmp.clone();
        tokio::task::spawn_blocking(move || check_head(&tmp, format)).await
    };
    match head {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return refuse(&app, &c, &tmp, e).await,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return c.fail(&app, AppError::Internal(e.into()), back);
        }
    }
    let rows = got.counter.rows(format);
    if rows == 0 {
        return refuse(
            &app,
            &c,
            &tmp,
            UploadError::new("empty", StatusCode::UNPROCESSABLE_ENTITY),
        )
        .await;
    }
    if let Err(e) = tokio::fs::rename(&tmp, upload_path(&app, &id, format)).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return c.fail(&app, AppError::Internal(e.into()), back);
    }
    remember_expected(&id, rows);
    match launch(&app, actor, &id, format).await {
        Ok(job) => {
            tracing::info!(job.id = %job.id, job.rows = rows, upload.bytes = got.bytes, "bulk job started from the console");
            Redirect::to(&format!("/console/bulk/{}?msg=msg_bulk_started", job.id)).into_response()
        }
        Err(e) => {
            expected_map().remove(&id);
            c.fail(&app, e, back)
        }
    }
}

// ----- pages -----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct IndexQuery {
    page: Option<String>,
    msg: Option<String>,
}

async fn index(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<IndexQuery>,
) -> Response {
    let page = Paging { page: q.page }.number();
    index_page(&app, &c, page, q.msg, None).await
}

/// A job in the list and on its page.
#[derive(Serialize)]
struct JobView {
    #[serde(flatten)]
    job: BulkJobRow,
    by: String,
    expected: Option<i64>,
    remaining: Option<i64>,
    percent: Option<i64>,
    /// Rows a second so far.
    rate: Option<i64>,
    /// Seconds since the start (to the end, once ended), as `m:ss`.
    elapsed: String,
    /// Time left at the current rate, as `m:ss`.
    eta: Option<String>,
}

fn clock(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn job_view(job: BulkJobRow, names: &HashMap<String, String>, expected: Option<i64>) -> JobView {
    let end = job.finished_at.unwrap_or_else(now);
    let secs = (end - job.created_at).max(0);
    let rate = (job.rows_total > 0).then(|| job.rows_total / secs.max(1));
    let running = job.state == "running";
    let remaining = expected
        .filter(|_| running)
        .map(|e| (e - job.rows_total).max(0));
    let percent = match (running, expected) {
        (false, _) => Some(100),
        (true, Some(e)) if e > 0 => Some((job.rows_total * 100 / e).clamp(0, 100)),
        _ => None,
    };
    let eta = match (remaining, rate) {
        (Some(r), Some(v)) if v > 0 => Some(clock((r + v - 1) / v)),
        _ => None,
    };
    JobView {
        by: name_of(names, &job.created_by),
        elapsed: clock(secs),
        job,
        expected,
        remaining,
        percent,
        rate,
        eta,
    }
}

#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned early once a request"
)]
fn may_issue(c: &Console, app: &App, back: &str) -> Result<String, Response> {
    c.p.require(Scope::Issue)
        .map(|a| a.agency.to_string())
        .map_err(|e| c.fail(app, e, back))
}

async fn index_page(
    app: &App,
    c: &Console,
    page: i64,
    msg: Option<String>,
    err: Option<UploadError>,
) -> Response {
    let agency = match may_issue(c, app, "/console") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut jobs = match app
        .store
        .list_bulk_jobs(&agency, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        .await
    {
        Ok(j) => j,
        Err(e) => return c.fail(app, e.into(), "/console"),
    };
    let pg = pager(&mut jobs, page);
    let names = actor_names(app).await;
    let jobs: Vec<_> = jobs
        .into_iter()
        .map(|j| {
            let done = j.state != "running";
            let expected = if done {
                Some(j.rows_total)
            } else {
                expected_map().get(&j.id).copied()
            };
            job_view(j, &names, expected)
        })
        .collect();
    let status = err.as_ref().map(|e| e.status);
    let mut res = c.page(
        app,
        "console_bulk.html",
        serde_json::json!({
            "jobs": jobs, "pager": pg, "msg": msg, "upload_err": err,
            "columns": import::COLUMNS, "max_mb": (MAX_UPLOAD_BYTES / (1024 * 1024)).to_string(),
        }),
    );
    if let Some(s) = status {
        *res.status_mut() = s;
    }
    res
}

#[derive(Debug, Default, Deserialize)]
struct JobQuery {
    after: Option<String>,
    msg: Option<String>,
}

async fn job_page(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Response {
    let back = "/console/bulk";
    let job = match own_job(&app, &c.p, &id).await {
        Ok(j) => j,
        Err(e) => return c.fail(&app, e, back),
    };
    let after = q
        .after
        .as_deref()
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let mut errors = match app
        .store
        .bulk_results(&job.id, after, PAGE_SIZE + 1, true)
        .await
    {
        Ok(e) => e,
        Err(e) => return c.fail(&app, e.into(), back),
    };
    let next_after = (errors.len() as i64 > PAGE_SIZE)
        .then(|| errors.get(PAGE_SIZE as usize - 1).map(|r| r.row))
        .flatten();
    errors.truncate(PAGE_SIZE as usize);
    let errors: Vec<_> = errors.into_iter().map(|r| error_view(c.lang, r)).collect();
    let names = actor_names(&app).await;
    let expected = expected_rows(&app, &job).await;
    let running = job.state == "running";
    let view = job_view(job, &names, expected);
    c.page(
        &app,
        "console_bulk_job.html",
        serde_json::json!({
            "j": view, "errors": errors, "after": after, "next_after": next_after,
            "poll": running.then_some(POLL_MS), "msg": q.msg,
        }),
    )
}

// ----- downloads -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct ResultQuery {
    format: Option<String>,
}

/// Every row's result, the API's result file.
async fn result(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResultQuery>,
) -> Response {
    let back = format!("/console/bulk/{id}");
    let job = match own_job(&app, &c.p, &id).await {
        Ok(j) => j,
        Err(e) => return c.fail(&app, e, "/console/bulk"),
    };
    let Some(format) = q.format.as_deref().map_or(Some(Format::Csv), Format::parse) else {
        return c.fail(&app, AppError::BadRequest("format".into()), &back);
    };
    result_file(&app, job, format)
}

/// The failed rows as CSV for a spreadsheet: row, request key, code, field, the message in
/// the reader's language and the importer's own text. UTF-8 with a byte-order mark (so a
/// spreadsheet reads the Arabic), formula-leading cells escaped.
async fn errors_csv(State(app): State<Arc<App>>, c: Console, Path(id): Path<String>) -> Response {
    let job = match own_job(&app, &c.p, &id).await {
        Ok(j) => j,
        Err(e) => return c.fail(&app, e, "/console/bulk"),
    };
    let lang = c.lang;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let bg = Arc::clone(&app);
    let job_id = job.id.clone();
    tokio::spawn(async move {
        let mut after = 0;
        let mut first = true;
        loop {
            let page = match bg.store.bulk_results(&job_id, after, 2_000, true).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut buf = Vec::new();
            if first {
                buf.extend_from_slice("\u{feff}".as_bytes());
            }
            if write_errors(&mut buf, lang, &page, first).is_err() {
                return;
            }
            first = false;
            if tx.send(Ok(buf)).await.is_err() {
                return;
            }
            match page.last() {
                Some(last) => after = last.row,
                None => return,
            }
        }
    });
    let mut res = Body::from_stream(ChannelStream(rx)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-errors-{}.csv\"",
        job.id,
        lang.code()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

fn write_errors(
    out: &mut Vec<u8>,
    lang: Lang,
    rows: &[BulkResultRow],
    header: bool,
) -> std::io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    if header {
        w.write_record([
            "row",
            "request_key",
            "error_code",
            "field",
            "message",
            "detail",
        ])?;
    }
    for r in rows {
        let detail = r.error.as_deref().unwrap_or_default();
        let e = row_error(detail);
        w.write_record([
            r.row.to_string(),
            import::csv_cell(r.request_key.as_deref().unwrap_or_default()),
            e.code.to_owned(),
            e.field.unwrap_or_default().to_owned(),
            import::csv_cell(&row_message(lang, &e, detail)),
            import::csv_cell(detail),
        ])?;
    }
    w.flush()
}

/// The sample files offered beside the form (`templates/bulk/`).
async fn sample(Path(name): Path<String>) -> Response {
    let (file, ctype) = match name.as_str() {
        "sanad-bulk-sample.csv" => ("bulk/sample.csv", "text/csv; charset=utf-8"),
        "sanad-bulk-sample.ndjson" => ("bulk/sample.ndjson", "application/x-ndjson"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Some(bytes) = crate::assets::template_file(file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = bytes.into_owned().into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_rows(text: &str) -> i64 {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        rdr.records().count() as i64
    }

    #[test]
    fn row_counter_agrees_with_the_csv_reader() {
        for text in [
            "request_key,name_ar\nk1,a\nk2,b\n",
            "request_key,name_ar\nk1,a\nk2,b",
            "request_key,name_ar\r\nk1,\"a\nb\"\r\n\r\nk2,b\r\n",
            "request_key,name_ar\n\nk1,\"say \"\"hi\"\"\"\n  \n",
            "request_key\n",
            "",
        ] {
            let mut c = RowCounter::default();
            for part in text.as_bytes().chunks(3) {
                c.feed(part);
            }
            assert_eq!(c.rows(Format::Csv), csv_rows(text), "{text:?}");
        }
        let mut c = RowCounter::default();
        c.feed(b"{\"a\":1}\n\n  \n{\"b\":2}\n{\"c\":3}");
        assert_eq!(c.rows(Format::Ndjson), 3);
    }

    #[test]
    fn row_errors_have_codes_and_fields() {
        let cases = [
            ("request_key: is required", "required", Some("request_key")),
            (
                "request_key: must be 1 to 100 letters, digits or . _ : / -",
                "invalid",
                Some("request_key"),
            ),
            (
                "request_key: used twice in this file (first issued as X)",
                "duplicate_key",
                Some("request_key"),
            ),
            (
                "person_id: unknown person",
                "unknown_person",
                Some("person_id"),
            ),
            ("name_ar: must not be empty", "required", Some("name_ar")),
            (
                "name_en: must be at most 80 characters",
                "length",
                Some("name_en"),
            ),
            (
                "title: must be 1 to 200 characters",
                "length",
                Some("title"),
            ),
            (
                "name_en: must not begin with = + - or @ (a spreadsheet would run it as a formula)",
                "formula",
                Some("name_en"),
            ),
            (
                "date_of_birth: must be a date YYYY-MM-DD",
                "date",
                Some("date_of_birth"),
            ),
            (
                "national_id: must be 5 to 20 letters or digits",
                "invalid",
                Some("national_id"),
            ),
            (
                "kind: must be digital_id or document",
                "invalid",
                Some("kind"),
            ),
            (
                "malformed CSV line: 4 fields where the header has 6",
                "malformed_csv",
                None,
            ),
            ("malformed row: field x: invalid", "malformed_csv", None),
            (
                "malformed JSON line: not JSON (column 3)",
                "malformed_json",
                None,
            ),
            ("row longer than 16384 bytes", "too_long", None),
            ("something new", "other", None),
            ("secret: leaked", "other", None),
        ];
        for (text, code, field) in cases {
            assert_eq!(row_error(text), RowError { code, field }, "{text}");
        }
        // Every code and field has words in both languages.
        for lang in [Lang::Ar, Lang::En] {
            for (text, ..) in cases {
                let e = row_error(text);
                assert!(
                    lang.table().contains_key(&format!("rowerr_{}", e.code)),
                    "{}",
                    e.code
                );
                if let Some(f) = e.field {
                    assert!(lang.table().contains_key(&format!("field_{f}")), "{f}");
                }
            }
            for f in ROW_FIELDS {
                assert!(lang.table().contains_key(&format!("field_{f}")), "{f}");
                assert!(lang.table().contains_key(&format!("bulk_col_{f}")), "{f}");
            }
        }
        let m = row_message(
            Lang::Ar,
            &row_error("national_id: must be 5 to 20 letters or digits"),
            "",
        );
        assert!(m.contains("رقم الهوية"), "{m}");
    }

    #[test]
    fn clock_reads_as_minutes_and_hours() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(75), "1:15");
        assert_eq!(clock(3_725), "1:02:05");
    }
}
