//! Bulk issuance storage: a whole chunk of persons and credentials in one transaction with
//! multi-row INSERTs, their status-feed rows and outbox events (`credential.issued`, as
//! single issuance writes), and one audit entry committing to every item (see
//! [`super::chain`]); bulk jobs and their per-row results.

use super::audited::{AuditedTx, audit_append, audit_begin};
use super::chain::{BULK_ACTION, BatchItem, items_hash};
use super::state::{Written, written_state};
use super::{Engine, NewCredential, PersonRow, Store, StoreError, Tx, map_unique, now};
use sqlx::FromRow;
use sqlx::{AssertSqlSafe, Row as _};

/// Rows per multi-row statement (INSERT, or keys in an `IN` list). Placeholders are what
/// decides it: SQLite looks a *named* parameter (`$7`) up by a linear search of the
/// statement's names for every bind, so binding a statement of n named parameters costs
/// O(n²) (what limited these statements to 32 rows before); its anonymous `?` is bound by
/// position, so on SQLite the statements use `?` and can be large. PostgreSQL numbers its
/// parameters natively. Both engines cache the prepared statement per connection, so a
/// chunk reuses the same few statements; larger statements mean fewer round trips.
fn rows_per_statement(engine: Engine, cols: usize) -> usize {
    // SQLite allows 32,766 parameters a statement, PostgreSQL 65,535.
    let max = match engine {
        Engine::Sqlite => 256,
        Engine::Postgres => 256,
    };
    max.min(30_000 / cols.max(1))
}

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
    pub persons: Vec<BulkPerson>,
    /// New credentials.
    pub credentials: Vec<BulkCredential>,
    /// Every row's outcome (stored only for jobs).
    pub results: Vec<BulkResultRow>,
    /// The audit entry's detail, when worked out ahead ([`BulkChunk::seal`]) so the
    /// storing stage only writes.
    pub detail: Option<String>,
}

/// A person to insert in bulk, with the search key the console's name search uses (see
/// [`crate::domain::search::person_key`]).
#[derive(Clone)]
pub struct BulkPerson {
    /// The person.
    pub p: PersonRow,
    /// Its search key.
    pub search_key: String,
}

/// Rows a PostgreSQL bulk writer stores before it first refreshes the planner statistics.
const FIRST_ANALYZE: u64 = 4_000;

/// SQLite page cache of a bulk writer's connection, KiB (SQLite's default is 2 MiB).
pub const BULK_CACHE_KIB: u32 = 64 * 1024;

/// WAL pages after which a bulk writer's commit checkpoints (SQLite's default is 1,000,
/// which a chunk's commit exceeds by itself: every commit then copied the WAL into the
/// database and synced both). Fewer, larger checkpoints write a page rewritten by several
/// chunks once and sync less often; durability is unchanged (WAL, `synchronous = NORMAL`).
pub const BULK_WAL_PAGES: u32 = 16 * 1024;

/// Stores the chunks of one bulk run, in order, on a connection of its own
/// ([`Store::bulk_writer`]).
pub struct BulkWriter {
    conn: sqlx::AnyConnection,
    store: Store,
    /// Rows this writer has stored, and the count at which it next refreshes PostgreSQL's
    /// planner statistics.
    written: u64,
    next_analyze: u64,
}

impl std::fmt::Debug for BulkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BulkWriter")
    }
}

impl BulkWriter {
    /// Store a chunk in one transaction: persons, credentials, their feed rows, one audit
    /// entry committing to all of them, and (for jobs) the rows' results and the job's
    /// counts. A request key or status slot taken meanwhile is a conflict and nothing of
    /// the chunk is stored. Returns the audit entry's seq when anything was issued.
    pub async fn insert_chunk(&mut self, ch: &BulkChunk) -> Result<Option<i64>, StoreError> {
        use sqlx::Connection as _;
        let e = self.store.engine;
        let issues = !ch.credentials.is_empty() || !ch.persons.is_empty();
        // Hashed before the transaction opens (or before the storing stage: see `seal`):
        // the write lock is held for writing only.
        let detail = match (&ch.detail, issues) {
            (_, false) => None,
            (Some(d), true) => Some(d.clone()),
            (None, true) => Some(ch.audit_detail()?),
        };
        let mut tx = self.conn.begin().await?;
        let mut seq = None;
        if let Some(detail) = detail {
            let head = audit_begin(&mut tx).await?;
            insert_persons(&mut tx, e, &ch.persons, head.seq).await?;
            insert_credentials(&mut tx, e, &ch.credentials, head.seq).await?;
            insert_feed(&mut tx, e, &ch.credentials).await?;
            insert_events(&mut tx, e, &ch.credentials).await?;
            seq = Some(head.seq);
            audit_append(&mut tx, head, &ch.actor, BULK_ACTION, &ch.subject, &detail).await?;
        }
        if let Some(job) = &ch.job_id {
            insert_results(&mut tx, e, job, &ch.results).await?;
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
            self.store.bump_changes();
        }
        self.written += ch.credentials.len() as u64;
        if e == Engine::Postgres && self.written >= self.next_analyze {
            // PostgreSQL plans from statistics taken when the tables were small (autovacuum
            // runs about once a minute): the request-key lookup of the next chunk then
            // scans every credential of the agency instead of probing the unique index,
            // and the run slows with every chunk (100,000 rows took 215 s, 464 rows/s).
            // Fresh statistics each time the run has doubled what it wrote keep the plans
            // right for ~log2(rows) short ANALYZEs (they only sample).
            self.next_analyze = self.written.saturating_mul(2);
            sqlx::query("ANALYZE credentials, persons, status_changes, events")
                .execute(&mut self.conn)
                .await?;
        }
        Ok(seq)
    }
}

impl BulkChunk {
    /// Work out the audit entry's detail now (hashing every item and row state), so that
    /// [`BulkWriter::insert_chunk`] does not: the import does it in its preparing stage,
    /// which overlaps the storing of the chunk before.
    pub fn seal(&mut self) -> Result<(), StoreError> {
        self.detail = if self.credentials.is_empty() && self.persons.is_empty() {
            None
        } else {
            Some(self.audit_detail()?)
        };
        Ok(())
    }

    /// The detail of the chunk's audit entry: counts, the hash committing to every item
    /// (checked by `audit verify`, see [`super::chain`]) and the state of every row
    /// it writes (see [`super::state`]), so a later edit of a bulk row is named like that
    /// of a row written one at a time. The states are hashed from the values the chunk
    /// binds rather than read back row by row (two queries a row, most of a chunk's round
    /// trips before); `audit verify` recomputes them from the stored rows.
    fn audit_detail(&self) -> Result<String, StoreError> {
        let items: Vec<BatchItem<'_>> = self
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
        let persons: Vec<&str> = self.persons.iter().map(|p| p.p.id.as_str()).collect();
        let mut state = serde_json::Map::new();
        for b in &self.persons {
            let p = &b.p;
            let (k, h) = written_state("persons", &p.id, |c| person_value(p, c))?;
            state.insert(k, h.into());
        }
        for b in &self.credentials {
            let (k, h) = written_state("credentials", &b.c.id, |c| credential_value(&b.c, c))?;
            state.insert(k, h.into());
        }
        Ok(serde_json::json!({
            "agency": self.agency, "count": self.credentials.len(), "persons": self.persons.len(),
            "items": items_hash(&items, &persons),
            "state": state,
        })
        .to_string())
    }
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

/// `(?, ?, …), (…)` (SQLite) or `($1, $2, …), (…)` (PostgreSQL) for `rows` rows of `cols`
/// columns, the first placeholder numbered `first`.
fn values(engine: Engine, rows: usize, cols: usize, first: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            push_placeholder(&mut s, engine, first + r * cols + c);
        }
        s.push(')');
    }
    s
}

/// `?, ?, …` or `$2, $3, …` for an IN list of `n` values, the first numbered `first`.
fn in_list(engine: Engine, n: usize, first: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        push_placeholder(&mut s, engine, first + i);
    }
    s
}

fn push_placeholder(s: &mut String, engine: Engine, n: usize) {
    use std::fmt::Write as _;
    match engine {
        Engine::Sqlite => s.push('?'),
        Engine::Postgres => {
            let _ = write!(s, "${n}");
        }
    }
}

/// `$n` (PostgreSQL) or `?` (SQLite) for a single parameter numbered `n`, in statements that
/// also hold a [`values`] or [`in_list`] (SQLite cannot mix `?` with `$n`).
fn param(engine: Engine, n: usize) -> String {
    let mut s = String::new();
    push_placeholder(&mut s, engine, n);
    s
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
    /// Which of `keys` an agency has issued already: `(request key, credential id, bulk batch)`.
    pub async fn existing_request_keys(
        &self,
        agency: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
        let mut out = Vec::new();
        let e = self.engine;
        for part in keys.chunks(rows_per_statement(e, 1)) {
            let sql = format!(
                "SELECT request_key, id, bulk_batch FROM credentials WHERE agency_code = {} AND request_key IN ({})",
                param(e, 1),
                in_list(e, part.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(agency);
            for k in part {
                q = q.bind(k.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((
                    r.try_get("request_key")?,
                    r.try_get("id")?,
                    r.try_get("bulk_batch")?,
                ));
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
        let e = self.engine;
        for part in ids.chunks(rows_per_statement(e, 1)) {
            let sql = format!(
                "SELECT {} FROM persons WHERE agency_code = {} AND id IN ({})",
                super::PERSON_COLS,
                param(e, 1),
                in_list(e, part.len(), 2)
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

    /// A writer for one bulk run: a connection of its own (taken out of the pool, closed
    /// when the writer is dropped). On SQLite its page cache is raised to
    /// [`BULK_CACHE_KIB`], so the indexes a run inserts into at random (ids, request keys,
    /// status slots) stay in memory instead of being read back from the file for every
    /// row; the pooled connections keep SQLite's small default.
    pub async fn bulk_writer(&self) -> Result<BulkWriter, StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        if self.engine == Engine::Sqlite {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "PRAGMA cache_size = -{BULK_CACHE_KIB}; PRAGMA wal_autocheckpoint = {BULK_WAL_PAGES};"
            )))
            .execute(&mut conn)
            .await?;
        }
        Ok(BulkWriter {
            conn,
            store: self.clone(),
            written: 0,
            next_analyze: FIRST_ANALYZE,
        })
    }

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

    /// `(seq, detail)` of every bulk batch entry in the audit log.
    pub async fn bulk_audit_entries(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT seq, detail FROM audit_log WHERE action = $1 ORDER BY seq")
            .bind(BULK_ACTION)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("detail")?)))
            .collect()
    }

    /// Every batch number that credential or person rows claim.
    pub async fn bulk_batches_in_rows(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT bulk_batch FROM credentials WHERE bulk_batch IS NOT NULL UNION SELECT DISTINCT bulk_batch FROM persons WHERE bulk_batch IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("bulk_batch")?)).collect()
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
                    id: r.try_get("id")?,
                    person_id: r.try_get("person_id")?,
                    kid: r.try_get("kid")?,
                    status_list: r.try_get("status_list")?,
                    status_index: r.try_get("status_index")?,
                    request_key: r.try_get("request_key")?,
                    token: r.try_get("token")?,
                    doc_sha256: r.try_get("doc_sha256")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let persons = sqlx::query("SELECT id FROM persons WHERE bulk_batch = $1")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<Vec<String>, _>>()?;
        Ok((creds, persons))
    }
}

/// A person's vouched column as [`insert_persons`] writes it.
fn person_value<'a>(p: &'a PersonRow, column: &str) -> Option<Written<'a>> {
    Some(Written::Text(match column {
        "agency_code" => &p.agency_code,
        "name_ar" => &p.name_ar,
        "name_en" => &p.name_en,
        "date_of_birth" => &p.date_of_birth,
        "national_id" => &p.national_id,
        "programme" => &p.programme,
        _ => return None,
    }))
}

/// A credential's vouched column as [`insert_credentials`] writes it.
fn credential_value<'a>(c: &'a NewCredential, column: &str) -> Option<Written<'a>> {
    let text = |s: Option<&'a str>| s.map_or(Written::Null, Written::Text);
    Some(match column {
        "agency_code" => Written::Text(&c.agency_code),
        "kind" => Written::Text(&c.kind),
        "person_id" => text(c.person_id.as_deref()),
        "kid" => Written::Text(&c.kid),
        "status" => Written::Text(ACTIVE),
        "status_reason_code" | "superseded_by" | "supersedes" => Written::Null,
        "issued_at" => Written::Int(c.issued_at),
        "name_printed" => Written::Text(&c.name_printed),
        "status_list" => Written::Int(c.status_list),
        "status_index" => Written::Int(c.status_index),
        "token" => Written::Text(&c.token),
        "subject_json" => Written::Text(&c.subject_json),
        "doc_sha256" => text(c.doc_sha256.as_deref()),
        _ => return None,
    })
}

/// The status every bulk-issued credential starts in.
const ACTIVE: &str = "active";

async fn insert_persons(
    tx: &mut Tx<'_>,
    e: Engine,
    persons: &[BulkPerson],
    batch: i64,
) -> Result<(), StoreError> {
    for part in persons.chunks(rows_per_statement(e, 11)) {
        let sql = format!(
            "INSERT INTO persons (id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at, bulk_batch, search_key) VALUES {}",
            values(e, part.len(), 11, 1)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in part {
            let p = &b.p;
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
                .bind(batch)
                .bind(b.search_key.as_str());
        }
        q.execute(&mut **tx).await.map_err(map_unique)?;
    }
    Ok(())
}

async fn insert_credentials(
    tx: &mut Tx<'_>,
    e: Engine,
    creds: &[BulkCredential],
    batch: i64,
) -> Result<(), StoreError> {
    for part in creds.chunks(rows_per_statement(e, 17)) {
        let sql = format!(
            "INSERT INTO credentials (id, agency_code, kind, person_id, kid, status, status_changed_at, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, created_by, request_key, bulk_batch) VALUES {}",
            values(e, part.len(), 17, 1)
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
                .bind(ACTIVE)
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

async fn insert_feed(
    tx: &mut Tx<'_>,
    e: Engine,
    creds: &[BulkCredential],
) -> Result<(), StoreError> {
    for part in creds.chunks(rows_per_statement(e, 6)) {
        let sql = format!(
            "INSERT INTO status_changes (credential_id, status_list, status_index, to_status, actor, at) VALUES {}",
            values(e, part.len(), 6, 1)
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
async fn insert_events(
    tx: &mut Tx<'_>,
    e: Engine,
    creds: &[BulkCredential],
) -> Result<(), StoreError> {
    for part in creds.chunks(rows_per_statement(e, 6)) {
        let sql = format!(
            "INSERT INTO events (type, agency_code, credential_id, kind, status, at) VALUES {}",
            values(e, part.len(), 6, 1)
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
    e: Engine,
    job: &str,
    results: &[BulkResultRow],
) -> Result<(), StoreError> {
    for part in results.chunks(rows_per_statement(e, 6)) {
        let sql = format!(
            "INSERT INTO bulk_results (job_id, row_no, request_key, credential_id, outcome, error) VALUES {}",
            values(e, part.len(), 6, 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_engine() {
        assert_eq!(values(Engine::Sqlite, 2, 2, 1), "(?, ?), (?, ?)");
        assert_eq!(values(Engine::Postgres, 2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(in_list(Engine::Postgres, 3, 2), "$2, $3, $4");
        assert_eq!(in_list(Engine::Sqlite, 2, 2), "?, ?");
        for e in [Engine::Sqlite, Engine::Postgres] {
            assert!(rows_per_statement(e, 17) * 17 <= 32_766);
        }
    }

    #[test]
    fn bulk_writer_knows_every_vouched_column() {
        let p = PersonRow {
            id: "P".into(),
            agency_code: "A".into(),
            name_ar: "n".into(),
            name_en: "n".into(),
            date_of_birth: "1990-01-01".into(),
            national_id: "1234567".into(),
            programme: "p".into(),
            created_at: 1,
            updated_at: 1,
        };
        let c = NewCredential {
            id: "C".into(),
            agency_code: "A".into(),
            kind: "digital_id".into(),
            person_id: Some("P".into()),
            kid: "k".into(),
            supersedes: None,
            issued_at: 1,
            name_printed: "n".into(),
            status_list: 1,
            status_index: 2,
            token: "t".into(),
            subject_json: "{}".into(),
            doc_sha256: None,
            doc_file: None,
            doc_media_type: None,
            created_by: "cli".into(),
        };
        let (k, h) = written_state("persons", &p.id, |col| person_value(&p, col)).expect("persons");
        assert_eq!((k.as_str(), h.len()), ("persons/P", 64));
        let (k, _) =
            written_state("credentials", &c.id, |col| credential_value(&c, col)).expect("creds");
        assert_eq!(k, "credentials/C");
        assert!(written_state("persons", "P", |_| None).is_err());
    }
}
