//! Bulk issuance storage: a whole chunk of persons and credentials in one transaction with
//! multi-row INSERTs, their status-feed rows and outbox events (`credential.issued`, as
//! single issuance writes), and one audit entry committing to every item (see
//! [`crate::audit::bulk`]); bulk jobs and their per-row results.

use super::{
    NewCredential, PersonRow, Store, StoreError, Tx, audit_append, audit_begin, map_unique, now,
};
use crate::audit::bulk::{BULK_ACTION, BatchItem, items_hash};
use sqlx::{AssertSqlSafe, Row as _};

/// Rows per multi-row INSERT statement. Binding grows faster than linearly with the number
/// of parameters in one statement through sqlx's Any driver (measured in a debug build on
/// SQLite, 3,000 rows: 500 rows a statement 374 rows/s, 100: 1,694, 60: 1,795, 30: 2,889;
/// PostgreSQL 500: 1,122, 30: 1,562), so statements stay small; the transaction per chunk is
/// what saves the commits.
const ROWS_PER_STATEMENT: usize = 32;

/// A credential to insert in bulk, with its caller's request key.
#[derive(Clone)]
pub struct BulkCredential {
    /// The credential.
    pub c: NewCredential,
    /// The caller's request key (unique per agency).
    pub request_key: String,
}

/// What became of one input row.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BulkResultRow {
    /// Row number in the input (1 = the first data row).
    pub row: i64,
    /// The row's request key, when it could be read.
    pub request_key: Option<String>,
    /// The credential issued for it (or issued for the same key before).
    pub credential_id: Option<String>,
    /// `issued`, `skipped` (the key was issued before) or `failed`.
    pub outcome: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// One chunk to store.
pub struct BulkChunk {
    /// Issuing agency.
    pub agency: String,
    /// Audit actor.
    pub actor: String,
    /// The API job this chunk belongs to (its results and counts are stored with it).
    pub job_id: Option<String>,
    /// Audit subject: the job id, or the imported file's name.
    pub subject: String,
    /// New persons (digital-ID rows that carry the person).
    pub persons: Vec<PersonRow>,
    /// New credentials.
    pub credentials: Vec<BulkCredential>,
    /// Every row's outcome (stored only for jobs).
    pub results: Vec<BulkResultRow>,
}

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

/// A stored bulk credential, as the audit check re-reads it.
#[derive(Debug, Clone)]
pub struct BatchCredRow {
    id: String,
    person_id: Option<String>,
    kid: String,
    status_list: i64,
    status_index: i64,
    request_key: Option<String>,
    token: String,
    doc_sha256: Option<String>,
}

impl BatchCredRow {
    /// What the audit entry committed to.
    pub fn item(&self) -> BatchItem<'_> {
        BatchItem {
            id: &self.id,
            person_id: self.person_id.as_deref(),
            kid: &self.kid,
            status_list: self.status_list,
            status_index: self.status_index,
            request_key: self.request_key.as_deref(),
            token: &self.token,
            doc_sha256: self.doc_sha256.as_deref(),
        }
    }
}

/// `($1, $2, …), (…)` for `rows` rows of `cols` columns.
fn values(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// `$1, $2, …` for an IN list.
fn in_list(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const JOB_COLS: &str = "id, agency_code, created_by, format, state, start_seq, rows_total, issued, skipped, failed, error, created_at, finished_at";

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<BulkJobRow, StoreError> {
    Ok(BulkJobRow {
        id: r.try_get(0)?,
        agency_code: r.try_get(1)?,
        created_by: r.try_get(2)?,
        format: r.try_get(3)?,
        state: r.try_get(4)?,
        start_seq: r.try_get(5)?,
        rows_total: r.try_get(6)?,
        issued: r.try_get(7)?,
        skipped: r.try_get(8)?,
        failed: r.try_get(9)?,
        error: r.try_get(10)?,
        created_at: r.try_get(11)?,
        finished_at: r.try_get(12)?,
    })
}

impl Store {
    /// Which of `keys` an agency has issued already: `(request key, credential id, bulk batch)`.
    pub async fn existing_request_keys(
        &self,
        agency: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
        let mut out = Vec::new();
        for part in keys.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT request_key, id, bulk_batch FROM credentials WHERE agency_code = $1 AND request_key IN ({})",
                in_list(part.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(agency);
            for k in part {
                q = q.bind(k.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
        }
        Ok(out)
    }

    /// Which of `ids` are persons of `agency` (another agency's persons are not revealed).
    pub async fn agency_person_ids(
        &self,
        agency: &str,
        ids: &[String],
    ) -> Result<Vec<PersonRow>, StoreError> {
        let mut out = Vec::new();
        for part in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {} FROM persons WHERE agency_code = $1 AND id IN ({})",
                super::PERSON_COLS,
                in_list(part.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(agency);
            for k in part {
                q = q.bind(k.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(PersonRow::from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Store a chunk in one transaction: persons, credentials, their feed rows, one audit
    /// entry committing to all of them, and (for jobs) the rows' results and the job's
    /// counts. A request key or status slot taken meanwhile is a conflict and nothing of
    /// the chunk is stored. Returns the audit entry's seq when anything was issued.
    pub async fn insert_bulk_chunk(&self, ch: &BulkChunk) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut seq = None;
        if !ch.credentials.is_empty() || !ch.persons.is_empty() {
            let head = audit_begin(&mut tx).await?;
            insert_persons(&mut tx, &ch.persons, head.seq).await?;
            insert_credentials(&mut tx, &ch.credentials, head.seq).await?;
            insert_feed(&mut tx, &ch.credentials).await?;
            insert_events(&mut tx, &ch.credentials).await?;
            let items: Vec<BatchItem<'_>> = ch
                .credentials
                .iter()
                .map(|b| BatchItem {
                    id: &b.c.id,
                    person_id: b.c.person_id.as_deref(),
                    kid: &b.c.kid,
                    status_list: b.c.status_list,
                    status_index: b.c.status_index,
                    request_key: Some(&b.request_key),
                    token: &b.c.token,
                    doc_sha256: b.c.doc_sha256.as_deref(),
                })
                .collect();
            let persons: Vec<&str> = ch.persons.iter().map(|p| p.id.as_str()).collect();
            // The rows as stored, so `audit verify` names any later edit of them as it does
            // for rows written one at a time.
            let mut state = serde_json::Map::new();
            let cred_ids: Vec<&str> = ch.credentials.iter().map(|b| b.c.id.as_str()).collect();
            super::state::states_of(&mut tx, "persons", &persons, &mut state).await?;
            super::state::states_of(&mut tx, "credentials", &cred_ids, &mut state).await?;
            let detail = serde_json::json!({
                "agency": ch.agency, "count": ch.credentials.len(), "persons": ch.persons.len(),
                "items": items_hash(&items, &persons),
                "state": state,
            })
            .to_string();
            seq = Some(head.seq);
            audit_append(&mut tx, head, &ch.actor, BULK_ACTION, &ch.subject, &detail).await?;
        }
        if let Some(job) = &ch.job_id {
            insert_results(&mut tx, job, &ch.results).await?;
            let count = |o: &str| ch.results.iter().filter(|r| r.outcome == o).count() as i64;
            sqlx::query(
                "UPDATE bulk_jobs SET rows_total = rows_total + $1, issued = issued + $2, skipped = skipped + $3, failed = failed + $4 WHERE id = $5",
            )
            .bind(ch.results.len() as i64)
            .bind(count("issued"))
            .bind(count("skipped"))
            .bind(count("failed"))
            .bind(job)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if seq.is_some() {
            self.bump_changes();
        }
        Ok(seq)
    }

    /// Start a job (audited).
    pub async fn create_bulk_job(&self, j: &BulkJobRow) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        sqlx::query(
            "INSERT INTO bulk_jobs (id, agency_code, created_by, format, state, start_seq, created_at) VALUES ($1, $2, $3, $4, 'running', $5, $6)",
        )
        .bind(&j.id)
        .bind(&j.agency_code)
        .bind(&j.created_by)
        .bind(&j.format)
        .bind(head.seq)
        .bind(j.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": j.agency_code, "format": j.format}).to_string();
        audit_append(&mut tx, head, &j.created_by, "bulk.start", &j.id, &detail).await?;
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
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
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
            "state": state, "rows": r.try_get::<i64, _>(0)?, "issued": r.try_get::<i64, _>(1)?,
            "skipped": r.try_get::<i64, _>(2)?, "failed": r.try_get::<i64, _>(3)?,
        })
        .to_string();
        audit_append(&mut tx, head, actor, "bulk.finish", id, &detail).await?;
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
            let id: String = r.try_get(0)?;
            let last: i64 =
                sqlx::query("SELECT COALESCE(MAX(row_no), 0) FROM bulk_results WHERE job_id = $1")
                    .bind(&id)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
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
                    row: r.try_get(0)?,
                    request_key: r.try_get(1)?,
                    credential_id: r.try_get(2)?,
                    outcome: r.try_get(3)?,
                    error: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// `(seq, detail)` of every bulk batch entry in the audit log.
    pub async fn bulk_audit_entries(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT seq, detail FROM audit_log WHERE action = $1 ORDER BY seq")
            .bind(BULK_ACTION)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Every batch number that credential or person rows claim.
    pub async fn bulk_batches_in_rows(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT bulk_batch FROM credentials WHERE bulk_batch IS NOT NULL UNION SELECT DISTINCT bulk_batch FROM persons WHERE bulk_batch IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The credentials and person ids stored by batch `seq`.
    pub async fn bulk_batch_rows(
        &self,
        seq: i64,
    ) -> Result<(Vec<BatchCredRow>, Vec<String>), StoreError> {
        let rows = sqlx::query(
            "SELECT id, person_id, kid, status_list, status_index, request_key, token, doc_sha256 FROM credentials WHERE bulk_batch = $1",
        )
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        let creds = rows
            .iter()
            .map(|r| {
                Ok(BatchCredRow {
                    id: r.try_get(0)?,
                    person_id: r.try_get(1)?,
                    kid: r.try_get(2)?,
                    status_list: r.try_get(3)?,
                    status_index: r.try_get(4)?,
                    request_key: r.try_get(5)?,
                    token: r.try_get(6)?,
                    doc_sha256: r.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let persons = sqlx::query("SELECT id FROM persons WHERE bulk_batch = $1")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<String>, _>>()?;
        Ok((creds, persons))
    }
}

async fn insert_persons(
    tx: &mut Tx<'_>,
    persons: &[PersonRow],
    batch: i64,
) -> Result<(), StoreError> {
    for part in persons.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO persons (id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at, bulk_batch) VALUES {}",
            values(part.len(), 10)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for p in part {
            q = q
                .bind(p.id.as_str())
                .bind(p.agency_code.as_str())
                .bind(p.name_ar.as_str())
                .bind(p.name_en.as_str())
                .bind(p.date_of_birth.as_str())
                .bind(p.national_id.as_str())
                .bind(p.programme.as_str())
                .bind(p.created_at)
                .bind(p.updated_at)
                .bind(batch);
        }
        q.execute(&mut **tx).await.map_err(map_unique)?;
    }
    Ok(())
}

async fn insert_credentials(
    tx: &mut Tx<'_>,
    creds: &[BulkCredential],
    batch: i64,
) -> Result<(), StoreError> {
    for part in creds.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO credentials (id, agency_code, kind, person_id, kid, status, status_changed_at, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, created_by, request_key, bulk_batch) VALUES {}",
            values(part.len(), 17)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in part {
            let c = &b.c;
            q = q
                .bind(c.id.as_str())
                .bind(c.agency_code.as_str())
                .bind(c.kind.as_str())
                .bind(c.person_id.as_deref())
                .bind(c.kid.as_str())
                .bind("active")
                .bind(c.issued_at)
                .bind(c.issued_at)
                .bind(c.name_printed.as_str())
                .bind(c.status_list)
                .bind(c.status_index)
                .bind(c.token.as_str())
                .bind(c.subject_json.as_str())
                .bind(c.doc_sha256.as_deref())
                .bind(c.created_by.as_str())
                .bind(b.request_key.as_str())
                .bind(batch);
        }
        q.execute(&mut **tx).await.map_err(map_unique)?;
    }
    Ok(())
}

async fn insert_feed(tx: &mut Tx<'_>, creds: &[BulkCredential]) -> Result<(), StoreError> {
    for part in creds.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO status_changes (credential_id, status_list, status_index, to_status, actor, at) VALUES {}",
            values(part.len(), 6)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in part {
            q = q
                .bind(b.c.id.as_str())
                .bind(b.c.status_list)
                .bind(b.c.status_index)
                .bind("active")
                .bind(b.c.created_by.as_str())
                .bind(b.c.issued_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One `credential.issued` outbox event per credential, as single issuance writes.
async fn insert_events(tx: &mut Tx<'_>, creds: &[BulkCredential]) -> Result<(), StoreError> {
    for part in creds.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (type, agency_code, credential_id, kind, status, at) VALUES {}",
            values(part.len(), 6)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in part {
            q = q
                .bind("credential.issued")
                .bind(b.c.agency_code.as_str())
                .bind(b.c.id.as_str())
                .bind(b.c.kind.as_str())
                .bind("active")
                .bind(b.c.issued_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_results(
    tx: &mut Tx<'_>,
    job: &str,
    results: &[BulkResultRow],
) -> Result<(), StoreError> {
    for part in results.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO bulk_results (job_id, row_no, request_key, credential_id, outcome, error) VALUES {}",
            values(part.len(), 6)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in part {
            q = q
                .bind(job)
                .bind(r.row)
                .bind(r.request_key.as_deref())
                .bind(r.credential_id.as_deref())
                .bind(r.outcome.as_str())
                .bind(r.error.as_deref());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
