//! Bulk jobs (started and finished with an audit entry each) and their per-row results.

use super::BulkResultRow;
use crate::storage::audited::AuditedTx;
use crate::storage::{Store, StoreError, map_unique, now};
use sqlx::{AssertSqlSafe, Row as _};

/// A bulk job.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BulkJobRow {
    /// Job id.
    pub id: String,
    /// Agency.
    pub agency_code: String,
    /// Who started it.
    pub created_by: String,
    /// `csv` or `ndjson`.
    pub format: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Audit head when the job started.
    #[serde(skip)]
    pub start_seq: i64,
    /// Rows read so far.
    pub rows_total: i64,
    /// Credentials issued.
    pub issued: i64,
    /// Rows whose request key was issued before.
    pub skipped: i64,
    /// Rows refused.
    pub failed: i64,
    /// Why the whole job stopped, if it did.
    pub error: Option<String>,
    /// Started, epoch seconds.
    pub created_at: i64,
    /// Finished, epoch seconds.
    pub finished_at: Option<i64>,
}

const JOB_COLS: &str = "id, agency_code, created_by, format, state, start_seq, rows_total, issued, skipped, failed, error, created_at, finished_at";

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<BulkJobRow, StoreError> {
    Ok(BulkJobRow {
        id: r.try_get("id")?,
        agency_code: r.try_get("agency_code")?,
        created_by: r.try_get("created_by")?,
        format: r.try_get("format")?,
        state: r.try_get("state")?,
        start_seq: r.try_get("start_seq")?,
        rows_total: r.try_get("rows_total")?,
        issued: r.try_get("issued")?,
        skipped: r.try_get("skipped")?,
        failed: r.try_get("failed")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl Store {
    /// Start a job (audited).
    pub async fn create_bulk_job(&self, j: &BulkJobRow) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO bulk_jobs (id, agency_code, created_by, format, state, start_seq, created_at) VALUES ($1, $2, $3, $4, 'running', $5, $6)",
        )
        .bind(&j.id)
        .bind(&j.agency_code)
        .bind(&j.created_by)
        .bind(&j.format)
        .bind(tx.next_seq())
        .bind(j.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": j.agency_code, "format": j.format}).to_string();
        tx.append(&j.created_by, "bulk.start", &j.id, &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finish a job: `done`, or `failed` with the reason (audited).
    pub async fn finish_bulk_job(
        &self,
        id: &str,
        error: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let state = if error.is_some() { "failed" } else { "done" };
        let r = sqlx::query(
            "UPDATE bulk_jobs SET state = $1, error = $2, finished_at = $3 WHERE id = $4 AND state = 'running' RETURNING rows_total, issued, skipped, failed",
        )
        .bind(state)
        .bind(error)
        .bind(now())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let detail = serde_json::json!({
            "state": state, "rows": r.try_get::<i64, _>("rows_total")?, "issued": r.try_get::<i64, _>("issued")?,
            "skipped": r.try_get::<i64, _>("skipped")?, "failed": r.try_get::<i64, _>("failed")?,
        })
        .to_string();
        tx.append(actor, "bulk.finish", id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One job.
    pub async fn get_bulk_job(&self, id: &str) -> Result<BulkJobRow, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM bulk_jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        job_from_row(&r)
    }

    /// An agency's jobs, newest first (by the audit entry that started each), `limit` from
    /// `offset`, for the console's list.
    pub async fn list_bulk_jobs(
        &self,
        agency: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<BulkJobRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM bulk_jobs WHERE agency_code = $1 ORDER BY start_seq DESC LIMIT $2 OFFSET $3"
        )))
        .bind(agency)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs still `running`, each with the last row whose result was stored.
    pub async fn running_bulk_jobs(&self) -> Result<Vec<(BulkJobRow, i64)>, StoreError> {
        let ids =
            sqlx::query("SELECT id FROM bulk_jobs WHERE state = 'running' ORDER BY created_at")
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::new();
        for r in ids {
            let id: String = r.try_get("id")?;
            let last: i64 = sqlx::query(
                "SELECT COALESCE(MAX(row_no), 0) AS last FROM bulk_results WHERE job_id = $1",
            )
            .bind(&id)
            .fetch_one(&self.pool)
            .await?
            .try_get("last")?;
            out.push((self.get_bulk_job(&id).await?, last));
        }
        Ok(out)
    }

    /// A job's results after row `after`, in row order (`only_failed` for the error list).
    pub async fn bulk_results(
        &self,
        job: &str,
        after: i64,
        limit: i64,
        only_failed: bool,
    ) -> Result<Vec<BulkResultRow>, StoreError> {
        let filter = if only_failed {
            " AND outcome = 'failed'"
        } else {
            ""
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT row_no, request_key, credential_id, outcome, error FROM bulk_results WHERE job_id = $1 AND row_no > $2{filter} ORDER BY row_no LIMIT $3"
        )))
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BulkResultRow {
                    row: r.try_get("row_no")?,
                    request_key: r.try_get("request_key")?,
                    credential_id: r.try_get("credential_id")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }
}
