//! The one storage interface, over SQLite (the embedded default) or PostgreSQL.
//!
//! Both engines are reached through sqlx's `Any` driver with the same SQL: SQLite accepts
//! PostgreSQL's `$1` placeholders, times are BIGINT seconds and no engine-specific types are
//! used, so the only SQL that differs lives in `migrations/sqlite` and `migrations/postgres`.
//! Composite writes (issue a credential, change a status) are single transactions that also
//! append the audit entry and the status-feed row, so no state change exists unaudited.
//!
//! Storage knows nothing of HTTP or signing: it stores what the capabilities hand it.

mod audit_log;
mod audited;
mod auth;
mod bulk;
pub mod chain;
mod credentials;
mod desk;
mod events;
pub mod files;
mod holder;
mod keys;
mod migrate;
mod notifications;
mod persons;
mod rows;
pub mod state;
mod tokens;
mod webhooks;

pub use auth::{ApprovalRow, SessionRow, UserRow};
pub use bulk::{BulkChunk, BulkCredential, BulkJobRow, BulkPerson, BulkResultRow, BulkWriter};
pub use credentials::CredentialFilter;
pub use desk::{Count, HistoryRow, PersonQuery};
pub use events::{EventRow, NewEvent, now_ms};
pub use holder::HolderLinkRow;
pub use notifications::NotificationRow;
pub use rows::{
    AgencyRow, ApiTokenRow, AuditRow, CredentialRow, KeyRow, NewCredential, PersonRow,
    StatusChange, StatusChangeRow,
};
pub use webhooks::{Attempt, DeliveryRow, WebhookRow};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row as _};
use std::time::Duration;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite file (WAL).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Storage errors. `Conflict` is a unique-constraint violation, `NotFound` a missing row;
/// everything else is internal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A unique constraint or a concurrent change got there first.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else from the database.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Migration failure.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database cannot be opened: one message naming it, what failed and the likely fix.
    #[error("{0}")]
    Open(String),
    /// A write reserved audit entry `seq` and wrote no entry for it: committing would leave
    /// a gap in the chain, so the transaction was rolled back instead.
    #[error("audit entry {0} was reserved but not written; the change was not committed")]
    Unaudited(i64),
}

pub(crate) fn map_unique(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return StoreError::Conflict(d.message().to_owned());
    }
    StoreError::Db(e)
}

/// The database handle. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    /// Bumped after every local commit that wrote an event, and by the PostgreSQL listener
    /// for other instances' commits: wakes event streams and the delivery workers.
    changes: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    url: DbUrl,
}

/// The database URL, which may hold a password: `Debug` never prints it.
#[derive(Clone)]
struct DbUrl(String);

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbUrl(…)")
    }
}

/// How long opening a database may take before Sanad gives up with a message.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The deployment-wide lock held by [`Store::lock_deployment`].
#[derive(Debug)]
pub enum DeploymentLock {
    /// An in-memory database: nothing to share.
    None,
    /// An exclusive lock on `<database file>.lock`.
    File(std::fs::File),
    /// A PostgreSQL session holding an advisory lock.
    Pg(sqlx::AnyConnection),
}

impl DeploymentLock {
    /// Release the lock now.
    pub async fn release(self) {
        match self {
            Self::None => {}
            Self::File(f) => drop(f),
            Self::Pg(mut c) => {
                use sqlx::Connection as _;
                let _ = sqlx::query("SELECT pg_advisory_unlock(7306152101)")
                    .execute(&mut c)
                    .await;
                let _ = c.close().await;
            }
        }
    }
}

/// The SQLite file named by a `sqlite:` URL (`None` for an in-memory database).
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory"))
        .then(|| std::path::PathBuf::from(path))
}

/// The database a URL names, for messages: the SQLite file, or the PostgreSQL host, port,
/// database and user (never the password).
pub fn describe(url: &str) -> String {
    if let Some(p) = sqlite_path(url) {
        return format!(
            "the SQLite database {}",
            crate::config::absolute(&p).display()
        );
    }
    if url.starts_with("sqlite:") {
        return "the in-memory SQLite database".into();
    }
    match url::Url::parse(url) {
        Ok(u) => format!(
            "PostgreSQL database {:?} on {}:{} as user {:?}",
            u.path().trim_start_matches('/'),
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432),
            if u.username().is_empty() {
                "(default)"
            } else {
                u.username()
            }
        ),
        Err(_) => "the database (SANAD_DATABASE_URL does not parse as a URL)".into(),
    }
}

/// One message for a database that does not open: which one, what failed, the likely fix.
fn explain_open_error(url: &str, e: &sqlx::Error) -> String {
    let what = describe(url);
    let fix_url = "fix SANAD_DATABASE_URL / --database-url";
    if let sqlx::Error::Io(io) = e {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!(
                "cannot open {what}: nothing is listening there (connection refused); start PostgreSQL or {fix_url}"
            ),
            std::io::ErrorKind::TimedOut => format!(
                "cannot open {what}: no answer (timed out); is the host right and the port open?"
            ),
            _ => format!("cannot open {what}: {io}; {fix_url}"),
        };
    }
    if let sqlx::Error::Database(d) = e {
        let code = d.code().unwrap_or_default().into_owned();
        let db = url::Url::parse(url)
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .unwrap_or_default();
        return match code.as_str() {
            "3D000" => format!(
                "cannot open {what}: PostgreSQL has no such database; create it (createdb {db}, or CREATE DATABASE {db}) or {fix_url}"
            ),
            "28P01" | "28000" => format!(
                "cannot open {what}: PostgreSQL refused the user or password ({}); check them in SANAD_DATABASE_URL",
                d.message()
            ),
            // SQLITE_CANTOPEN
            "14" => format!(
                "cannot open {what}: the file cannot be opened or created; does its folder exist and is it writable? (SANAD_DATA_DIR / --data-dir)"
            ),
            _ => format!("cannot open {what}: {} ({code})", d.message()),
        };
    }
    if let sqlx::Error::Tls(t) = e {
        return format!("cannot open {what}: TLS failed ({t})");
    }
    format!("cannot open {what}: {e}")
}

/// Current time in seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Connect to `url` (`sqlite://…` or `postgres://…`) and apply the migrations (one
    /// process at a time: PostgreSQL through sqlx's advisory lock, SQLite through a lock
    /// file beside the database). A database that cannot be opened is one
    /// [`StoreError::Open`] naming it, what failed and the likely fix.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::open(url).await?;
        let lock = store.lock_deployment().await?;
        let migrated = migrate::run(&store.pool, store.engine).await;
        lock.release().await;
        migrated.map_err(|e| StoreError::Open(format!("migrating {}: {e}", describe(url))))?;
        store.backfill_search_keys().await?;
        Ok(store)
    }

    /// Connect to `url` without migrating.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            return Err(StoreError::Open(
                "the database URL must start with sqlite: or postgres:// (SANAD_DATABASE_URL / --database-url)".into(),
            ));
        };
        if engine == Engine::Sqlite
            && let Some(path) = files::sqlite_path(url)
        {
            files::private_sqlite(&path).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        }
        // One direct connection first, with a short timeout: a refused port, a missing
        // database or a wrong password fail at once with their own message, instead of a
        // pool retrying until its acquire timeout.
        use sqlx::Connection as _;
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(url)).await {
            Err(_) => {
                return Err(StoreError::Open(format!(
                    "cannot open {}: no answer within {} s; is the host right and the port open?",
                    describe(url),
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(StoreError::Open(explain_open_error(url, &e))),
            Ok(Ok(c)) => {
                let _ = c.close().await;
            }
        }
        let opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match engine {
            Engine::Sqlite => {
                opts.max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers go on while one writer commits; NORMAL sync is
                            // durable across process crashes (STACK-NOTES measured 6-7k tx/s).
                            sqlx::raw_sql(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .execute(conn)
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
            }
            Engine::Postgres => opts.max_connections(16).connect(url).await,
        }
        .map_err(|e| StoreError::Open(explain_open_error(url, &e)))?;
        Ok(Self {
            pool,
            engine,
            changes: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            url: DbUrl(url.to_owned()),
        })
    }

    /// Hold the deployment-wide lock (migrations, creating the default agency and its
    /// key), so concurrent `sanad` processes on one database do it once. Released on drop
    /// (SQLite) or by [`DeploymentLock::release`] (PostgreSQL; dropping also releases it
    /// when the connection closes).
    pub async fn lock_deployment(&self) -> Result<DeploymentLock, StoreError> {
        match self.engine {
            Engine::Sqlite => {
                let Some(path) = sqlite_path(&self.url.0) else {
                    return Ok(DeploymentLock::None);
                };
                let lock = std::path::PathBuf::from(format!("{}.lock", path.display()));
                let file =
                    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                        let f = std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(&lock)?;
                        f.lock()?;
                        Ok(f)
                    })
                    .await
                    .map_err(|e| {
                        StoreError::Open(format!("locking {}: {e}", describe(&self.url.0)))
                    })?
                    .map_err(|e| {
                        StoreError::Open(format!("locking {}: {e}", describe(&self.url.0)))
                    })?;
                Ok(DeploymentLock::File(file))
            }
            Engine::Postgres => {
                let mut conn = self.pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock(7306152101)")
                    .execute(&mut conn)
                    .await?;
                Ok(DeploymentLock::Pg(conn))
            }
        }
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The database URL (the PostgreSQL listener opens its own connection with it).
    pub fn url(&self) -> &str {
        &self.url.0
    }

    /// A receiver that changes whenever events may have been written (here or, on
    /// PostgreSQL, by another instance).
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Announce that events may have been written.
    pub fn bump_changes(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The pool, for tests that tamper with rows directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `SELECT 1`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ----- status feed ----------------------------------------------------------------

    /// Credential issuances and status changes after audit entry `seq`, in order, as the
    /// audit log records them. The live status view is built from these and not from the
    /// `credentials` rows, so a status edited directly in the database is never published
    /// (the chained entry is what counts; `sanad audit verify` names the edited row).
    /// Writers are serialised on the audit head, so sequence order is commit order. At most
    /// `limit` entries, and no further entry once `limit` rows are read (a bulk entry's
    /// rows are never split), so a caller reading on from the last row's seq misses none.
    pub async fn changes_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<StatusChangeRow>, StoreError> {
        let rows = sqlx::query(
            // A bulk entry's detail (the hashes of its thousands of rows) is not needed
            // here, and reading it made a start after a 1M-row import peak at 418 MB.
            "SELECT seq, subject, action, CASE WHEN action = $3 THEN '' ELSE detail END AS detail, at FROM audit_log WHERE seq > $1 AND action LIKE 'credential.%' ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .bind(chain::BULK_ACTION)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (seq, id, action, detail, at): (i64, String, String, String, i64) = (
                r.try_get("seq")?,
                r.try_get("subject")?,
                r.try_get("action")?,
                r.try_get("detail")?,
                r.try_get("at")?,
            );
            if action == chain::BULK_ACTION {
                // One entry vouches for a whole bulk chunk (its items hash, checked by
                // `audit verify`): each credential it stored starts active.
                for (credential_id, status_list, status_index) in self.bulk_batch_slots(seq).await?
                {
                    out.push(StatusChangeRow {
                        seq,
                        credential_id,
                        status_list,
                        status_index,
                        from_status: None,
                        to_status: "active".into(),
                        reason_code: None,
                        superseded_by: None,
                        at,
                    });
                }
                // `limit` bounds the rows too: a big import's entries (thousands of
                // credentials each) are read a few at a time, not all at once.
                if out.len() as i64 >= limit {
                    break;
                }
                continue;
            }
            let d: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
            let issue = action == "credential.issue";
            let slot = match (d["status_list"].as_i64(), d["status_index"].as_i64()) {
                (Some(l), Some(i)) => (l, i),
                // Entries written before the slot was recorded with every change.
                _ => match sqlx::query(
                    "SELECT status_list, status_index FROM credentials WHERE id = $1",
                )
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?
                {
                    Some(s) => (s.try_get("status_list")?, s.try_get("status_index")?),
                    None => continue,
                },
            };
            let text = |k: &str| d[k].as_str().map(str::to_owned);
            out.push(StatusChangeRow {
                seq,
                credential_id: id,
                status_list: slot.0,
                status_index: slot.1,
                from_status: if issue { None } else { text("from") },
                to_status: if issue {
                    "active".into()
                } else {
                    text("to").unwrap_or_else(|| action.trim_start_matches("credential.").into())
                },
                reason_code: text("reason_code"),
                superseded_by: text("superseded_by"),
                at,
            });
        }
        Ok(out)
    }

    /// The newest audit sequence number (0 when empty): where the status view starts.
    pub async fn last_change_seq(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS top FROM audit_log")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("top")?)
    }

    /// Status details (reason, time, replacement) of every credential that is not active.
    pub async fn inactive_details(&self) -> Result<Vec<StatusChangeRow>, StoreError> {
        let rows = sqlx::query_as::<_, StatusChangeRow>(
            "SELECT 0 AS seq, id AS credential_id, status_list, status_index, NULL AS from_status, status AS to_status, status_reason_code AS reason_code, superseded_by, status_changed_at AS at FROM credentials WHERE status <> 'active'",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

const PERSON_COLS: &str = "id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at";
const CRED_COLS: &str = "id, agency_code, kind, person_id, kid, status, status_reason_code, status_reason_text, status_changed_at, superseded_by, supersedes, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, doc_media_type, created_by";

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;
