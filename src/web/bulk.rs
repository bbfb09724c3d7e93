//! `POST /api/v1/credentials/bulk` and its job resource. The upload is streamed to a file
//! under the data directory (size-limited), then issued in the background by the same code
//! as `sanad import`; the job's counts and each row's result are stored chunk by chunk, in
//! the chunk's own transaction, so the job resource is always consistent with what was
//! issued. Posting the same file again issues nothing twice (request keys).

use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::domain::random_base32;
use crate::error::{AppError, Problem};
use crate::issuance::bulk::{self, Format};
use crate::storage::{BulkJobRow, BulkResultRow, StoreError, now};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::io::AsyncWriteExt as _;
use utoipa::{IntoParams, ToSchema};

/// Largest bulk upload (about 2 million rows of digital IDs with their persons).
pub const MAX_BULK_BYTES: u64 = 512 * 1024 * 1024;

/// Failed rows listed in the job resource (all of them are in the result file).
const ERRORS_SHOWN: i64 = 100;

/// A job and the first failed rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobOut {
    /// The job.
    #[serde(flatten)]
    pub job: BulkJobRow,
    /// The first failed rows (row number, request key, reason).
    pub errors: Vec<BulkResultRow>,
    /// Where every row's result is: `…/result?format=csv|ndjson`.
    pub result: String,
}

/// `?format=` of an upload or a result file.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` or `ndjson` (uploads: default from the Content-Type).
    pub format: Option<String>,
}

fn job_id_ok(id: &str) -> bool {
    (2..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Job `id` if `p` may issue for its agency (another agency's job is not found).
pub(crate) async fn own_job(app: &App, p: &Principal, id: &str) -> Result<BulkJobRow, AppError> {
    if !job_id_ok(id) {
        return Err(AppError::NotFound("job"));
    }
    let job = match app.store.get_bulk_job(id).await {
        Ok(j) => j,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("job")),
        Err(e) => return Err(e.into()),
    };
    p.check(Scope::Issue, &job.agency_code, "job")?;
    Ok(job)
}

async fn job_out(app: &App, job: BulkJobRow) -> Result<JobOut, AppError> {
    let errors = app
        .store
        .bulk_results(&job.id, 0, ERRORS_SHOWN, true)
        .await?;
    Ok(JobOut {
        result: format!("/api/v1/credentials/bulk/{}/result", job.id),
        job,
        errors,
    })
}

/// Issue credentials in bulk from a CSV or NDJSON body (columns as for `sanad import`, see
/// the README). Answers 202 with the job; poll it for progress.
#[utoipa::path(post, path = "/api/v1/credentials/bulk", tag = "credentials",
    params(FormatQuery),
    request_body(content = String, content_type = "text/csv", description = "CSV with a header line, or NDJSON (application/x-ndjson)"),
    security(("bearer" = [])),
    responses((status = 202, body = JobOut), (status = 413, body = Problem), (status = 415, body = Problem)))]
pub async fn start(
    State(app): State<Arc<App>>,
    auth: Principal,
    Query(q): Query<FormatQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let actor = auth.require(Scope::Issue)?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_owned();
    let format = q
        .format
        .as_deref()
        .and_then(Format::parse)
        .or_else(|| Format::parse(&ctype))
        .ok_or_else(|| {
            AppError::UnsupportedMedia(
                "send text/csv or application/x-ndjson (or ?format=csv|ndjson)".into(),
            )
        })?;
    let id = new_job_id();
    let path = upload_path(&app, &id, format);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(anyhow::Error::from)?;
    }
    if let Err(e) = save_body(body, &path).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    let job = launch(&app, actor, &id, format).await?;
    let out = job_out(&app, job).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/credentials/bulk/{id}"))],
        Json(out),
    )
        .into_response())
}

/// A new job id.
pub(crate) fn new_job_id() -> String {
    format!("j{}", random_base32(15))
}

/// Start job `id` over the upload already saved at [`upload_path`]: the job is stored
/// (audited) and issued in the background. Returns the job as stored.
pub(crate) async fn launch(
    app: &Arc<App>,
    actor: crate::issuance::Actor,
    id: &str,
    format: Format,
) -> Result<BulkJobRow, AppError> {
    let path = upload_path(app, id, format);
    let (start_seq, _) = app.store.audit_head().await?;
    let job = BulkJobRow {
        id: id.to_owned(),
        agency_code: actor.agency.to_string(),
        created_by: actor.id.clone(),
        format: format.as_str().into(),
        state: "running".into(),
        start_seq,
        rows_total: 0,
        issued: 0,
        skipped: 0,
        failed: 0,
        error: None,
        created_at: now(),
        finished_at: None,
    };
    if let Err(e) = app.store.create_bulk_job(&job).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e.into());
    }
    // The stored job has the audit head as its start.
    let job = app.store.get_bulk_job(id).await?;
    spawn_job(Arc::clone(app), job.clone(), actor, path, 0);
    Ok(job)
}

fn spawn_job(
    app: Arc<App>,
    job: BulkJobRow,
    actor: crate::issuance::Actor,
    path: std::path::PathBuf,
    skip_rows: i64,
) {
    let Some(format) = Format::parse(&job.format) else {
        return;
    };
    let opts = bulk::Options {
        actor,
        job_id: Some(job.id.clone()),
        subject: job.id.clone(),
        chunk_rows: bulk::DEFAULT_CHUNK,
        start_seq: job.start_seq,
        skip_rows,
    };
    tokio::spawn(async move {
        let r = match std::fs::File::open(&path) {
            Ok(f) => bulk::run(&app, f, format, &opts, |_| {}).await.map(drop),
            Err(e) => Err(AppError::Internal(e.into())),
        };
        let error = r.err().map(|e| match e {
            AppError::Internal(e) => {
                tracing::error!(job.id = %opts.subject, error = %e, "bulk job failed");
                "internal error".to_owned()
            }
            e => e.to_string(),
        });
        if let Err(e) = app
            .store
            .finish_bulk_job(&opts.subject, error.as_deref(), &opts.actor.id)
            .await
        {
            tracing::error!(job.id = %opts.subject, error = %e, "could not finish bulk job");
        }
        let _ = tokio::fs::remove_file(&path).await;
    });
}

/// Resume the jobs a stopped server left running (at start): each goes on after the last
/// row whose result was stored (results commit with their chunk, so nothing is issued
/// twice and no row is lost). A job whose upload is gone is marked failed.
pub async fn resume_jobs(app: &Arc<App>) -> anyhow::Result<usize> {
    let mut n = 0;
    for (job, last_row) in app.store.running_bulk_jobs().await? {
        let Some(format) = Format::parse(&job.format) else {
            continue;
        };
        let path = upload_path(app, &job.id, format);
        let agency = crate::domain::AgencyCode::parse(&job.agency_code)?;
        if !path.is_file() {
            app.store
                .finish_bulk_job(
                    &job.id,
                    Some("the upload was lost; post the file again"),
                    "system",
                )
                .await?;
            continue;
        }
        tracing::info!(job.id = %job.id, after_row = last_row, "resuming bulk job");
        let actor = crate::issuance::Actor {
            id: job.created_by.clone(),
            agency,
        };
        spawn_job(Arc::clone(app), job, actor, path, last_row);
        n += 1;
    }
    Ok(n)
}

/// Where job `id`'s upload is kept until the job ends.
pub(crate) fn upload_path(app: &App, id: &str, format: Format) -> std::path::PathBuf {
    app.config
        .data_dir
        .join("bulk-uploads")
        .join(format!("{id}.{}", format.as_str()))
}

async fn save_body(body: Body, path: &std::path::Path) -> Result<(), AppError> {
    let mut f = tokio::fs::File::create(path)
        .await
        .map_err(anyhow::Error::from)?;
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| AppError::BadRequest(format!("reading the body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            total += data.len() as u64;
            if total > MAX_BULK_BYTES {
                return Err(AppError::TooLarge);
            }
            f.write_all(data).await.map_err(anyhow::Error::from)?;
        }
    }
    f.flush().await.map_err(anyhow::Error::from)?;
    Ok(())
}

/// A bulk job: counts (rows, issued, skipped as issued before, failed), state and the
/// first failed rows.
#[utoipa::path(get, path = "/api/v1/credentials/bulk/{id}", tag = "credentials",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = [])),
    responses((status = 200, body = JobOut), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<JobOut>, AppError> {
    let job = own_job(&app, &auth, &id).await?;
    Ok(Json(job_out(&app, job).await?))
}

/// Every row's result: row, request key, credential id (issued now or before), outcome,
/// error. CSV (formula-leading cells escaped with `'`) or NDJSON.
#[utoipa::path(get, path = "/api/v1/credentials/bulk/{id}/result", tag = "credentials",
    params(("id" = String, Path, description = "Job id"), FormatQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
pub async fn result(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, AppError> {
    let job = own_job(&app, &auth, &id).await?;
    let format = q
        .format
        .as_deref()
        .map_or(Some(Format::Csv), Format::parse)
        .ok_or_else(|| AppError::BadRequest("format must be csv or ndjson".into()))?;
    Ok(result_file(&app, job, format))
}

/// Every row's result of `job` as a download, streamed page by page.
pub(crate) fn result_file(app: &Arc<App>, job: BulkJobRow, format: Format) -> Response {
    let id = job.id.clone();
    // Pages of results are written by a task into a small channel: the file is never
    // held in memory whole.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let bg = Arc::clone(app);
    tokio::spawn(async move {
        let mut after = 0;
        let mut header = true;
        loop {
            let page = match bg.store.bulk_results(&job.id, after, 2_000, false).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut buf = Vec::new();
            if bulk::write_results(&mut buf, format, &page, header).is_err() {
                return;
            }
            header = false;
            if !buf.is_empty() && tx.send(Ok(buf)).await.is_err() {
                return;
            }
            match page.last() {
                Some(last) => after = last.row,
                None => return,
            }
        }
    });
    let ctype = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Ndjson => "application/x-ndjson",
    };
    (
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.{}\"", format.as_str()),
            ),
        ],
        Body::from_stream(ChannelStream(rx)),
    )
        .into_response()
}

/// A body stream over the pages a task sends.
pub(crate) struct ChannelStream(
    pub(crate) tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
);

impl futures_core::Stream for ChannelStream {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
