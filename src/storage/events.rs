//! The event outbox and what hangs off it: watches and feed grants here; webhook endpoints
//! and their delivery log in [`super::webhooks`], holder notifications in
//! [`super::notifications`].
//!
//! Events are written by the composite writes (keys, credentials, bulk) inside their own
//! transaction (see [`event_insert`]), so an event exists exactly when its change does. Every
//! such transaction first takes the audit head's row lock, so event ids are handed out in
//! commit order: a reader that has seen id N can never later see a smaller id appear, and
//! `after=N` is a safe cursor on both engines.
//!
//! Work queues (webhook deliveries, notifications) are leased with one `UPDATE … WHERE id IN
//! (SELECT … FOR UPDATE SKIP LOCKED) RETURNING` on PostgreSQL, so each attempt is made by
//! exactly one instance; a crashed instance's lease simply runs out. SQLite is
//! single-process and takes the same statement without the row-lock clause.

use super::audited::AuditedTx;
use super::{Engine, Store, StoreError, Tx, map_unique, now};
use sqlx::FromRow;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

/// An event about to be written.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    /// `credential.issued`, `credential.suspended`, … `key.revoked`.
    pub event_type: String,
    /// Issuing agency.
    pub agency_code: String,
    /// The credential (none for key events).
    pub credential_id: Option<String>,
    /// Credential kind.
    pub kind: Option<String>,
    /// Status after the change.
    pub status: Option<String>,
    /// Reason code of the change.
    pub reason_code: Option<String>,
    /// Replacement credential (re-issue).
    pub superseded_by: Option<String>,
    /// The credential a re-issued one replaces.
    pub supersedes: Option<String>,
    /// Key id (key events).
    pub kid: Option<String>,
    /// Epoch seconds.
    pub at: i64,
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Global order.
    pub id: i64,
    /// The event itself.
    pub event: NewEvent,
}

pub(super) const EV_COLS: &str = "id, type, agency_code, credential_id, kind, status, reason_code, superseded_by, supersedes, kid, at";

impl<'r> FromRow<'r, AnyRow> for EventRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            event: NewEvent {
                event_type: r.try_get("type")?,
                agency_code: r.try_get("agency_code")?,
                credential_id: r.try_get("credential_id")?,
                kind: r.try_get("kind")?,
                status: r.try_get("status")?,
                reason_code: r.try_get("reason_code")?,
                superseded_by: r.try_get("superseded_by")?,
                supersedes: r.try_get("supersedes")?,
                kid: r.try_get("kid")?,
                at: r.try_get("at")?,
            },
        })
    }
}

/// Append an event inside the transaction of the change it reports.
pub(super) async fn event_insert(tx: &mut Tx<'_>, e: &NewEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (type, agency_code, credential_id, kind, status, reason_code, superseded_by, supersedes, kid, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&e.event_type)
    .bind(&e.agency_code)
    .bind(&e.credential_id)
    .bind(&e.kind)
    .bind(&e.status)
    .bind(&e.reason_code)
    .bind(&e.superseded_by)
    .bind(&e.supersedes)
    .bind(&e.kid)
    .bind(e.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The condition "agency `$2` may hear this event": its own agency's, a granted agency's,
/// or a credential it watches.
pub(super) const VISIBLE_TO: &str = "(agency_code = $2 \
     OR agency_code IN (SELECT feed_agency FROM event_grants WHERE agency_code = $2) \
     OR credential_id IN (SELECT credential_id FROM event_watches WHERE agency_code = $2))";

/// Current time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    pub(super) fn skip_locked(&self) -> &'static str {
        match self.engine {
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        }
    }

    /// Events after `after` that `agency` may hear, in order.
    pub async fn events_visible(
        &self,
        agency: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query_as::<_, EventRow>(AssertSqlSafe(format!(
            "SELECT {EV_COLS} FROM events WHERE id > $1 AND {VISIBLE_TO} ORDER BY id LIMIT $3"
        )))
        .bind(after)
        .bind(agency)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Whether an API token is still live (long-lived streams re-check their caller).
    pub async fn api_token_live(&self, id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM api_tokens WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// One event.
    pub async fn get_event(&self, id: i64) -> Result<EventRow, StoreError> {
        sqlx::query_as::<_, EventRow>(AssertSqlSafe(format!(
            "SELECT {EV_COLS} FROM events WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The newest event id (0 when none).
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COALESCE(MAX(id), 0) AS top FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("top")?)
    }

    /// Register `agency`'s interest in a credential (idempotent); audited. Returns the
    /// credential's issuing agency, or `NotFound`.
    pub async fn insert_watch(
        &self,
        agency: &str,
        credential_id: &str,
        max_watches: i64,
        actor: &str,
    ) -> Result<String, StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let issuer: String = sqlx::query("SELECT agency_code FROM credentials WHERE id = $1")
            .bind(credential_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get("agency_code")?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM event_watches WHERE agency_code = $1")
            .bind(agency)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n >= max_watches {
            return Err(StoreError::Conflict(format!(
                "this agency already watches {n} credentials (the limit)"
            )));
        }
        sqlx::query(
            "INSERT INTO event_watches (agency_code, credential_id, created_at, created_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(agency)
        .bind(credential_id)
        .bind(now())
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({"agency": agency}).to_string();
        tx.append(actor, "event.watch", credential_id, &detail)
            .await?;
        tx.commit().await?;
        Ok(issuer)
    }

    /// Credentials `agency` watches, newest first.
    pub async fn list_watches(
        &self,
        agency: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT credential_id, created_at FROM event_watches WHERE agency_code = $1 ORDER BY created_at DESC, credential_id LIMIT $2",
        )
        .bind(agency)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("credential_id")?, r.try_get("created_at")?)))
            .collect()
    }

    /// Grant `agency` the whole event feed of `feed_agency`; audited.
    pub async fn insert_grant(
        &self,
        agency: &str,
        feed_agency: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO event_grants (agency_code, feed_agency, created_at, created_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(agency)
        .bind(feed_agency)
        .bind(now())
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"feed": feed_agency}).to_string();
        tx.append(actor, "event.grant", agency, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every feed grant `(agency, feed_agency, created_at)`.
    pub async fn list_grants(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT agency_code, feed_agency, created_at FROM event_grants ORDER BY agency_code, feed_agency",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("agency_code")?,
                    r.try_get("feed_agency")?,
                    r.try_get("created_at")?,
                ))
            })
            .collect()
    }

    // ----- webhooks -------------------------------------------------------------------

    // ----- holder notifications -------------------------------------------------------
}
