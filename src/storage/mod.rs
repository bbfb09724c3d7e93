//! The one storage interface, over SQLite (the embedded default) or PostgreSQL.
//!
//! Both engines are reached through sqlx's `Any` driver with the same SQL: SQLite accepts
//! PostgreSQL's `$1` placeholders, times are BIGINT seconds and no engine-specific types are
//! used, so the only SQL that differs lives in `migrations/sqlite` and `migrations/postgres`.
//! Composite writes (issue a credential, change a status) are single transactions that also
//! append the audit entry and the status-feed row, so no state change exists unaudited.
//!
//! Storage knows nothing of HTTP or signing: it stores what the capabilities hand it.

mod auth;
mod bulk;
mod desk;
mod events;
pub mod files;
mod holder;
mod migrate;
mod rows;
pub mod state;

pub use auth::{ApprovalRow, SessionRow, UserRow};
pub use bulk::{BulkChunk, BulkCredential, BulkJobRow, BulkPerson, BulkResultRow, BulkWriter};
pub use desk::{Count, HistoryRow, PersonQuery};
pub use events::{Attempt, DeliveryRow, EventRow, NewEvent, NotificationRow, WebhookRow, now_ms};
pub use holder::HolderLinkRow;
pub use rows::{
    AgencyRow, ApiTokenRow, AuditRow, CredentialRow, KeyRow, NewCredential, PersonRow,
    StatusChange, StatusChangeRow,
};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row as _};
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

    // ----- agencies -------------------------------------------------------------------

    /// Add an agency; a second agency with the same code is a conflict.
    pub async fn insert_agency(&self, a: &AgencyRow) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        sqlx::query(
            "INSERT INTO agencies (code, name_ar, name_en, base_url, created_at, origin) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.code)
        .bind(&a.name_ar)
        .bind(&a.name_en)
        .bind(&a.base_url)
        .bind(a.created_at)
        .bind(&a.origin)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        audit_append(&mut tx, head, "system", "agency.add", &a.code, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// All agencies, by code.
    pub async fn list_agencies(&self) -> Result<Vec<AgencyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT code, name_ar, name_en, base_url, created_at, origin FROM agencies ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AgencyRow::from_row).collect()
    }

    // ----- keys -----------------------------------------------------------------------

    /// Record a new public key. A short-kid collision is a conflict.
    pub async fn insert_key(&self, k: &KeyRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, short_kid, agency_code, public_x, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.short_kid)
        .bind(&k.agency_code)
        .bind(&k.public_x)
        .bind(&k.status)
        .bind(k.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": k.agency_code}).to_string();
        audit_append(&mut tx, head, actor, "key.generate", &k.kid, &detail).await?;
        events::event_insert(&mut tx, &key_event("key.generated", &k.agency_code, &k.kid)).await?;
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// Retire every active key of `agency` except `keep` (rotation: they stop signing and
    /// keep verifying).
    pub async fn retire_keys(
        &self,
        agency: &str,
        keep: &str,
        actor: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut head = audit_begin(&mut tx).await?;
        let rows = sqlx::query("SELECT kid FROM signing_keys WHERE agency_code = $1 AND status = 'active' AND kid <> $2")
            .bind(agency)
            .bind(keep)
            .fetch_all(&mut *tx)
            .await?;
        let kids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let at = now();
        for (i, kid) in kids.iter().enumerate() {
            if i > 0 {
                head = audit_reserve(&mut tx, head).await?;
            }
            sqlx::query(
                "UPDATE signing_keys SET status = 'retired', retired_at = $1 WHERE kid = $2",
            )
            .bind(at)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
            let detail = serde_json::json!({"agency": agency, "replaced_by": keep}).to_string();
            head = audit_append(&mut tx, head, actor, "key.retire", kid, &detail).await?;
            events::event_insert(&mut tx, &key_event("key.retired", agency, kid)).await?;
        }
        if kids.is_empty() {
            // Nothing to retire: record the rotation itself so the reserved number is used.
            let detail = serde_json::json!({"agency": agency, "active": keep}).to_string();
            audit_append(&mut tx, head, actor, "key.rotate", keep, &detail).await?;
        }
        tx.commit().await?;
        self.bump_changes();
        Ok(kids)
    }

    /// Revoke a key (compromise): it leaves the JWKS and what it signed verifies as
    /// `key_revoked`.
    pub async fn revoke_key(&self, kid: &str, reason: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        let r = sqlx::query(
            "UPDATE signing_keys SET status = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE kid = $3 AND status <> 'revoked'",
        )
        .bind(now())
        .bind(reason)
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = serde_json::json!({"reason": reason}).to_string();
        audit_append(&mut tx, head, actor, "key.revoke", kid, &detail).await?;
        let agency: String = sqlx::query("SELECT agency_code FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        events::event_insert(&mut tx, &key_event("key.revoked", &agency, kid)).await?;
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// Insert or update agencies and keys imported from another deployment's trust list,
    /// in one transaction. A code already used by a local agency is a conflict.
    pub async fn import_trust(
        &self,
        origin: &str,
        agencies: &[AgencyRow],
        keys: &[KeyRow],
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        for a in agencies {
            let existing = sqlx::query("SELECT origin FROM agencies WHERE code = $1")
                .bind(&a.code)
                .fetch_optional(&mut *tx)
                .await?;
            match existing {
                Some(row) => {
                    let o: String = row.try_get(0)?;
                    if o != origin {
                        return Err(StoreError::Conflict(format!(
                            "agency code {} is already used here (by {}); agency codes must be unique across trusted deployments",
                            a.code,
                            if o.is_empty() {
                                "this deployment".to_owned()
                            } else {
                                o
                            }
                        )));
                    }
                    sqlx::query("UPDATE agencies SET name_ar = $1, name_en = $2, base_url = $3 WHERE code = $4")
                        .bind(&a.name_ar)
                        .bind(&a.name_en)
                        .bind(&a.base_url)
                        .bind(&a.code)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO agencies (code, name_ar, name_en, base_url, created_at, origin) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&a.code)
                    .bind(&a.name_ar)
                    .bind(&a.name_en)
                    .bind(&a.base_url)
                    .bind(now())
                    .bind(origin)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for k in keys {
            let exists = sqlx::query("SELECT agency_code FROM signing_keys WHERE kid = $1")
                .bind(&k.kid)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = exists {
                let agency: String = row.try_get(0)?;
                if agency != k.agency_code {
                    return Err(StoreError::Conflict(format!(
                        "key {} belongs to another agency here",
                        k.kid
                    )));
                }
                sqlx::query(
                    "UPDATE signing_keys SET status = $1, retired_at = $2, revoked_at = $3, revocation_reason = $4 WHERE kid = $5",
                )
                .bind(&k.status)
                .bind(k.retired_at)
                .bind(k.revoked_at)
                .bind(&k.revocation_reason)
                .bind(&k.kid)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, short_kid, agency_code, public_x, status, created_at, retired_at, revoked_at, revocation_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&k.kid)
                .bind(&k.short_kid)
                .bind(&k.agency_code)
                .bind(&k.public_x)
                .bind(&k.status)
                .bind(k.created_at)
                .bind(k.retired_at)
                .bind(k.revoked_at)
                .bind(&k.revocation_reason)
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
            }
        }
        let detail =
            serde_json::json!({"agencies": agencies.len(), "keys": keys.len()}).to_string();
        audit_append(&mut tx, head, actor, "trust.import", origin, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ids of the active or suspended credentials signed by `kid` (for bulk re-issue).
    pub async fn credentials_signed_by(
        &self,
        kid: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agency_code FROM credentials WHERE kid = $1 AND status IN ('active', 'suspended') ORDER BY issued_at, id",
        )
        .bind(kid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// All keys, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, short_kid, agency_code, public_x, status, created_at, retired_at, revoked_at, revocation_reason FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(KeyRow::from_row).collect()
    }

    // ----- persons --------------------------------------------------------------------

    /// Store a new person record.
    pub async fn insert_person(&self, p: &PersonRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        sqlx::query(
            "INSERT INTO persons (id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at, search_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&p.id)
        .bind(&p.agency_code)
        .bind(&p.name_ar)
        .bind(&p.name_en)
        .bind(&p.date_of_birth)
        .bind(&p.national_id)
        .bind(&p.programme)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(crate::domain::search::person_key(&p.name_ar, &p.name_en))
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": p.agency_code}).to_string();
        audit_append(&mut tx, head, actor, "person.create", &p.id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace a person's fields (the id and agency stay).
    pub async fn update_person(&self, p: &PersonRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        let r = sqlx::query(
            "UPDATE persons SET name_ar = $1, name_en = $2, date_of_birth = $3, national_id = $4, programme = $5, updated_at = $6, search_key = $9 WHERE id = $7 AND agency_code = $8",
        )
        .bind(&p.name_ar)
        .bind(&p.name_en)
        .bind(&p.date_of_birth)
        .bind(&p.national_id)
        .bind(&p.programme)
        .bind(p.updated_at)
        .bind(&p.id)
        .bind(&p.agency_code)
        .bind(crate::domain::search::person_key(&p.name_ar, &p.name_en))
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit_append(&mut tx, head, actor, "person.update", &p.id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Set (or replace) a person's photo: `photo` is the normalised JPEG. The audit entry
    /// records the size, never the image.
    pub async fn set_person_photo(
        &self,
        id: &str,
        agency: &str,
        photo: &[u8],
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        let r = sqlx::query(
            "UPDATE persons SET photo = $1, updated_at = $2 WHERE id = $3 AND agency_code = $4",
        )
        .bind(photo)
        .bind(now())
        .bind(id)
        .bind(agency)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = serde_json::json!({"agency": agency, "bytes": photo.len()}).to_string();
        audit_append(&mut tx, head, actor, "person.photo", id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's photo (JPEG), if one was uploaded.
    pub async fn get_person_photo(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT photo FROM persons WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get(0)?)
    }

    /// One person.
    pub async fn get_person(&self, id: &str) -> Result<PersonRow, StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {PERSON_COLS} FROM persons WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(PersonRow::from_row)
        .unwrap_or(Err(StoreError::NotFound))
    }

    /// An agency's persons, optionally filtered by exact national ID, newest first.
    pub async fn list_persons(
        &self,
        agency: &str,
        national_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PersonRow>, StoreError> {
        let rows = match national_id {
            Some(n) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {PERSON_COLS} FROM persons WHERE agency_code = $1 AND national_id = $2 ORDER BY created_at DESC, id LIMIT $3"
                )))
                .bind(agency)
                .bind(n)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {PERSON_COLS} FROM persons WHERE agency_code = $1 ORDER BY created_at DESC, id LIMIT $2"
                )))
                .bind(agency)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(PersonRow::from_row).collect()
    }

    // ----- status lists ---------------------------------------------------------------

    /// All status lists.
    pub async fn list_status_lists(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, size FROM status_lists ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Create a status list (idempotent: a concurrent creator of the same id wins quietly).
    pub async fn create_status_list(&self, id: i64, size: i64) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO status_lists (id, size, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(size)
            .bind(now())
            .execute(&self.pool)
            .await;
        match r.map_err(map_unique) {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ----- credentials ----------------------------------------------------------------

    /// Insert a credential with its issuance feed row and audit entry; when `supersedes` is
    /// set, the old credential is marked superseded in the same transaction (re-issue).
    pub async fn insert_credential(
        &self,
        c: &NewCredential,
        supersede: Option<&StatusChange>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut head = audit_begin(&mut tx).await?;
        sqlx::query(
            "INSERT INTO credentials (id, agency_code, kind, person_id, kid, status, status_changed_at, supersedes, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, doc_file, doc_media_type, created_by) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&c.id)
        .bind(&c.agency_code)
        .bind(&c.kind)
        .bind(&c.person_id)
        .bind(&c.kid)
        .bind(c.issued_at)
        .bind(&c.supersedes)
        .bind(c.issued_at)
        .bind(&c.name_printed)
        .bind(c.status_list)
        .bind(c.status_index)
        .bind(&c.token)
        .bind(&c.subject_json)
        .bind(&c.doc_sha256)
        .bind(&c.doc_file)
        .bind(&c.doc_media_type)
        .bind(&c.created_by)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        feed_insert(
            &mut tx,
            &StatusChange {
                credential_id: c.id.clone(),
                from_status: None,
                to_status: "active".into(),
                reason_code: None,
                reason_text: None,
                superseded_by: None,
                actor: c.created_by.clone(),
                at: c.issued_at,
            },
            c.status_list,
            c.status_index,
        )
        .await?;
        let detail = serde_json::json!({
            "agency": c.agency_code, "kind": c.kind, "kid": c.kid,
            "status_list": c.status_list, "status_index": c.status_index,
            "supersedes": c.supersedes,
        })
        .to_string();
        head = audit_append(
            &mut tx,
            head,
            &c.created_by,
            "credential.issue",
            &c.id,
            &detail,
        )
        .await?;
        events::event_insert(
            &mut tx,
            &NewEvent {
                event_type: "credential.issued".into(),
                agency_code: c.agency_code.clone(),
                credential_id: Some(c.id.clone()),
                kind: Some(c.kind.clone()),
                status: Some("active".into()),
                supersedes: c.supersedes.clone(),
                at: c.issued_at,
                ..Default::default()
            },
        )
        .await?;
        if let Some(ch) = supersede {
            head = audit_reserve(&mut tx, head).await?;
            change_status_in(&mut tx, head, ch).await?;
        }
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// Apply a status change if the credential is still in `ch.from_status` (optimistic:
    /// a concurrent change makes this a conflict rather than a lost update).
    pub async fn change_status(&self, ch: &StatusChange) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        change_status_in(&mut tx, head, ch).await?;
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// One credential (the document file is not loaded).
    pub async fn get_credential(&self, id: &str) -> Result<CredentialRow, StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CRED_COLS} FROM credentials WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(CredentialRow::from_row)
        .unwrap_or(Err(StoreError::NotFound))
    }

    /// An agency's credentials, newest first, with optional filters and keyset paging
    /// (`before` = the `issued_at`/`id` of the last row of the previous page).
    pub async fn list_credentials(
        &self,
        agency: &str,
        filter: &CredentialFilter,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        let mut sql = format!("SELECT {CRED_COLS} FROM credentials WHERE agency_code = $1");
        let mut n = 1;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if filter.status.is_some() {
            next(&mut sql, " AND status = ?");
        }
        if filter.kind.is_some() {
            next(&mut sql, " AND kind = ?");
        }
        if filter.person_id.is_some() {
            next(&mut sql, " AND person_id = ?");
        }
        if filter.before.is_some() {
            next(&mut sql, " AND (issued_at < ?");
            next(&mut sql, " OR (issued_at = ?");
            next(&mut sql, " AND id < ?))");
        }
        next(&mut sql, " ORDER BY issued_at DESC, id DESC LIMIT ?");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(agency);
        if let Some(s) = &filter.status {
            q = q.bind(s.clone());
        }
        if let Some(k) = &filter.kind {
            q = q.bind(k.clone());
        }
        if let Some(p) = &filter.person_id {
            q = q.bind(p.clone());
        }
        if let Some((t, id)) = &filter.before {
            q = q.bind(*t).bind(*t).bind(id.clone());
        }
        let rows = q.bind(filter.limit).fetch_all(&self.pool).await?;
        rows.iter().map(CredentialRow::from_row).collect()
    }

    /// The stored document file of a certificate, if one was kept.
    pub async fn get_document_file(
        &self,
        id: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let row = sqlx::query("SELECT doc_file, doc_media_type FROM credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let file: Option<Vec<u8>> = row.try_get(0)?;
        let mt: Option<String> = row.try_get(1)?;
        Ok(file.map(|f| (f, mt.unwrap_or_else(|| "application/octet-stream".into()))))
    }

    /// Every allocated status-list slot with its current status and the id of the credential
    /// that owns it, for the in-memory view at start-up.
    pub async fn all_status_slots(&self) -> Result<Vec<(i64, i64, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT status_list, status_index, status, id FROM credentials")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

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
            "SELECT seq, subject, action, CASE WHEN action = $3 THEN '' ELSE detail END, at FROM audit_log WHERE seq > $1 AND action LIKE 'credential.%' ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .bind(crate::audit::bulk::BULK_ACTION)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (seq, id, action, detail, at): (i64, String, String, String, i64) = (
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            );
            if action == crate::audit::bulk::BULK_ACTION {
                // One entry vouches for a whole bulk chunk (its items hash, checked by
                // `audit verify`): each credential it stored starts active.
                let creds = sqlx::query(
                    "SELECT id, status_list, status_index FROM credentials WHERE bulk_batch = $1",
                )
                .bind(seq)
                .fetch_all(&self.pool)
                .await?;
                for c in &creds {
                    out.push(StatusChangeRow {
                        seq,
                        credential_id: c.try_get(0)?,
                        status_list: c.try_get(1)?,
                        status_index: c.try_get(2)?,
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
                    Some(s) => (s.try_get(0)?, s.try_get(1)?),
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
        let r = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get(0)?)
    }

    /// Status details (reason, time, replacement) of every credential that is not active.
    pub async fn inactive_details(&self) -> Result<Vec<StatusChangeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT 0, id, status_list, status_index, NULL, status, status_reason_code, superseded_by, status_changed_at FROM credentials WHERE status <> 'active'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(StatusChangeRow::from_row).collect()
    }

    // ----- API tokens -----------------------------------------------------------------

    /// Store a new API token (hash only).
    pub async fn insert_api_token(&self, t: &ApiTokenRow) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = audit_begin(&mut tx).await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, agency_code, token_hash, scopes, label, created_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.agency_code)
        .bind(&t.token_hash)
        .bind(&t.scopes)
        .bind(&t.label)
        .bind(t.created_at)
        .bind(&t.owner)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": t.agency_code, "scopes": t.scopes}).to_string();
        audit_append(&mut tx, head, &t.owner, "token.create", &t.id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Find a live token by the hash of its secret and note its use.
    pub async fn find_api_token(&self, hash: &str) -> Result<ApiTokenRow, StoreError> {
        let row = sqlx::query(
            "SELECT id, agency_code, token_hash, scopes, label, created_at, last_used_at, revoked_at, owner FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let t = ApiTokenRow::from_row(&row)?;
        let now = now();
        // Last use is kept to the minute: no write per request on a busy token.
        if t.last_used_at.is_none_or(|u| now - u >= 60) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&t.id)
                .execute(&self.pool)
                .await?;
        }
        Ok(t)
    }

    // ----- audit ----------------------------------------------------------------------

    /// The whole audit log in order (for verification and export).
    pub async fn audit_entries(&self) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AuditRow::from_row).collect()
    }
}

/// Filters for listing credentials.
#[derive(Debug, Default, Clone)]
pub struct CredentialFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this person's.
    pub person_id: Option<String>,
    /// Keyset cursor: rows strictly before `(issued_at, id)`.
    pub before: Option<(i64, String)>,
    /// Page size.
    pub limit: i64,
}

const PERSON_COLS: &str = "id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at";
const CRED_COLS: &str = "id, agency_code, kind, person_id, kid, status, status_reason_code, status_reason_text, status_changed_at, superseded_by, supersedes, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, doc_media_type, created_by";

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// The audit head as read at the start of a write transaction.
#[derive(Debug, Clone)]
struct Head {
    seq: i64,
    hash: String,
}

/// Take the audit head's row lock (the first statement of every write transaction) and
/// reserve the next sequence number.
async fn audit_begin(tx: &mut Tx<'_>) -> Result<Head, StoreError> {
    let row: AnyRow =
        sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut **tx)
            .await?;
    Ok(Head {
        seq: row.try_get(0)?,
        hash: row.try_get(1)?,
    })
}

/// Reserve one more sequence number in a transaction that already holds the head.
async fn audit_reserve(tx: &mut Tx<'_>, head: Head) -> Result<Head, StoreError> {
    sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(Head {
        seq: head.seq + 1,
        hash: head.hash,
    })
}

/// Append the entry numbered `head.seq`, chained to `head.hash`, and move the head.
async fn audit_append(
    tx: &mut Tx<'_>,
    head: Head,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<Head, StoreError> {
    // The rows this change wrote, as they are now (see `state`): merged into the detail so
    // the chained entry vouches for them.
    let with_state;
    let detail = match state::states_for(tx, action, subject).await? {
        Some(st) if !st.is_empty() => {
            let mut d: serde_json::Value =
                serde_json::from_str(detail).unwrap_or_else(|_| serde_json::json!({}));
            if !d.is_object() {
                d = serde_json::json!({ "detail": d });
            }
            d["state"] = serde_json::Value::Object(st);
            with_state = d.to_string();
            with_state.as_str()
        }
        _ => detail,
    };
    let at = now();
    let hash = crate::audit::entry_hash(&head.hash, head.seq, at, actor, action, subject, detail);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(head.seq)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(&head.hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(Head {
        seq: head.seq,
        hash,
    })
}

fn key_event(event_type: &str, agency: &str, kid: &str) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        agency_code: agency.into(),
        kid: Some(kid.into()),
        at: now(),
        ..Default::default()
    }
}

async fn feed_insert(
    tx: &mut Tx<'_>,
    ch: &StatusChange,
    list: i64,
    index: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO status_changes (credential_id, status_list, status_index, from_status, to_status, reason_code, reason_text, superseded_by, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&ch.credential_id)
    .bind(list)
    .bind(index)
    .bind(&ch.from_status)
    .bind(&ch.to_status)
    .bind(&ch.reason_code)
    .bind(&ch.reason_text)
    .bind(&ch.superseded_by)
    .bind(&ch.actor)
    .bind(ch.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn change_status_in(
    tx: &mut Tx<'_>,
    head: Head,
    ch: &StatusChange,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE credentials SET status = $1, status_reason_code = $2, status_reason_text = $3, status_changed_at = $4, superseded_by = COALESCE($5, superseded_by) WHERE id = $6 AND status = $7",
    )
    .bind(&ch.to_status)
    .bind(&ch.reason_code)
    .bind(&ch.reason_text)
    .bind(ch.at)
    .bind(&ch.superseded_by)
    .bind(&ch.credential_id)
    .bind(&ch.from_status)
    .execute(&mut **tx)
    .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "the credential's status changed meanwhile".into(),
        ));
    }
    let slot = sqlx::query(
        "SELECT status_list, status_index, agency_code, kind FROM credentials WHERE id = $1",
    )
    .bind(&ch.credential_id)
    .fetch_one(&mut **tx)
    .await?;
    feed_insert(tx, ch, slot.try_get(0)?, slot.try_get(1)?).await?;
    let (list, index): (i64, i64) = (slot.try_get(0)?, slot.try_get(1)?);
    // Back to active can only be a reinstatement (issuance writes its own event).
    let event_type = match ch.to_status.as_str() {
        "active" => "credential.reinstated".to_owned(),
        to => format!("credential.{to}"),
    };
    events::event_insert(
        tx,
        &NewEvent {
            event_type,
            agency_code: slot.try_get(2)?,
            credential_id: Some(ch.credential_id.clone()),
            kind: Some(slot.try_get(3)?),
            status: Some(ch.to_status.clone()),
            reason_code: ch.reason_code.clone(),
            superseded_by: ch.superseded_by.clone(),
            at: ch.at,
            ..Default::default()
        },
    )
    .await?;
    let detail = serde_json::json!({
        "from": ch.from_status, "to": ch.to_status, "reason_code": ch.reason_code,
        "superseded_by": ch.superseded_by, "status_list": list, "status_index": index,
    })
    .to_string();
    let action = format!("credential.{}", ch.to_status);
    audit_append(tx, head, &ch.actor, &action, &ch.credential_id, &detail).await?;
    Ok(())
}
