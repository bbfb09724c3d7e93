//! The chunk writer: one transaction per chunk storing its persons, credentials, feed
//! rows and outbox events with multi-row INSERTs, the audit entry committing to them, and
//! (for jobs) the rows' results.

use super::sql::{rows_per_statement, values};
use super::{BulkChunk, BulkCredential, BulkPerson, BulkResultRow};
use crate::storage::audited::AuditedTx;
use crate::storage::chain::BULK_ACTION;
use crate::storage::{Engine, Store, StoreError, Tx, map_unique};
use sqlx::AssertSqlSafe;

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
    /// PostgreSQL: the COPY connection the chunks are stored on.
    pg: Option<super::pg_copy::PgBulk>,
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
        if let Some(pg) = &mut self.pg {
            let seq = pg.insert_chunk(ch, detail).await?;
            return self.after_commit(ch, seq).await;
        }
        let mut tx = self.conn.begin().await?;
        let seq = match detail {
            // Issuing: an audited transaction (the head taken first, its number the batch
            // number the rows carry; refused without its entry).
            Some(detail) => {
                let mut atx = AuditedTx::on(tx).await?;
                let seq = atx.next_seq();
                insert_persons(atx.tx(), e, &ch.persons, seq).await?;
                insert_credentials(atx.tx(), e, &ch.credentials, seq).await?;
                insert_feed(atx.tx(), e, &ch.credentials).await?;
                insert_events(atx.tx(), e, &ch.credentials).await?;
                atx.append(&ch.actor, BULK_ACTION, &ch.subject, &detail)
                    .await?;
                store_results(atx.tx(), e, ch).await?;
                atx.commit().await?;
                Some(seq)
            }
            // Nothing issued (every row skipped or failed): only the job's bookkeeping.
            None => {
                store_results(&mut tx, e, ch).await?;
                tx.commit().await?;
                None
            }
        };
        self.after_commit(ch, seq).await
    }

    async fn after_commit(
        &mut self,
        ch: &BulkChunk,
        seq: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let e = self.store.engine;
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
            // right for ~log2(rows) short ANALYZEs (they only sample). Only `credentials`:
            // it is the table the run reads (request keys); sampling the other three too
            // took 15 % of the server's time at 100,000 rows, on the storing stage's path.
            self.next_analyze = self.written.saturating_mul(2);
            match &mut self.pg {
                Some(pg) => pg.analyze_credentials().await?,
                None => {
                    sqlx::query("ANALYZE credentials")
                        .execute(&mut self.conn)
                        .await?;
                }
            }
        }
        Ok(seq)
    }
}

impl Store {
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
        let pg = if self.engine == Engine::Postgres {
            Some(super::pg_copy::PgBulk::connect(self.url()).await?)
        } else {
            None
        };
        Ok(BulkWriter {
            conn,
            store: self.clone(),
            written: 0,
            next_analyze: FIRST_ANALYZE,
            pg,
        })
    }
}

/// Add a chunk's [`BulkChunk::job_counts`] to its job, in the chunk's transaction: one
/// statement for both engines' writers (the INSERT writer's `Any` connection and the
/// PostgreSQL COPY writer's typed one).
pub(super) async fn add_job_counts<DB>(
    conn: &mut DB::Connection,
    job: &str,
    ch: &BulkChunk,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let [rows, issued, skipped, failed] = ch.job_counts();
    sqlx::query::<DB>(
        "UPDATE bulk_jobs SET rows_total = rows_total + $1, issued = issued + $2, \
         skipped = skipped + $3, failed = failed + $4 WHERE id = $5",
    )
    .bind(rows)
    .bind(issued)
    .bind(skipped)
    .bind(failed)
    .bind(job)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl BulkChunk {
    /// The chunk's rows, issued, skipped and failed, as its job counts them.
    pub(super) fn job_counts(&self) -> [i64; 4] {
        let count = |o: &str| self.results.iter().filter(|r| r.outcome == o).count() as i64;
        [
            self.results.len() as i64,
            count("issued"),
            count("skipped"),
            count("failed"),
        ]
    }
}

/// The status every bulk-issued credential starts in.
pub(super) const ACTIVE: &str = "active";

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

/// A job's rows' results and counts (nothing for a run without a job).
async fn store_results(tx: &mut Tx<'_>, e: Engine, ch: &BulkChunk) -> Result<(), StoreError> {
    if let Some(job) = &ch.job_id {
        insert_results(tx, e, job, &ch.results).await?;
        add_job_counts::<sqlx::Any>(&mut **tx, job, ch).await?;
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
