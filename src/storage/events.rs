//! The event outbox and what hangs off it: watches, feed grants, webhook endpoints and their
//! delivery log, holder notifications.
//!
//! Events are written by the composite writes in `storage/mod.rs` inside their own
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

const EV_COLS: &str = "id, type, agency_code, credential_id, kind, status, reason_code, superseded_by, supersedes, kid, at";

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
const VISIBLE_TO: &str = "(agency_code = $2 \
     OR agency_code IN (SELECT feed_agency FROM event_grants WHERE agency_code = $2) \
     OR credential_id IN (SELECT credential_id FROM event_watches WHERE agency_code = $2))";

/// A webhook endpoint.
#[derive(Debug, Clone)]
pub struct WebhookRow {
    /// Id.
    pub id: String,
    /// Owning agency (what it may hear).
    pub agency_code: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types wanted (empty: all).
    pub event_types: Vec<String>,
    /// Issuing agencies wanted (empty: all it may hear).
    pub agencies: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// When it was disabled.
    pub disabled_at: Option<i64>,
    /// The notice: why it was disabled.
    pub disabled_reason: Option<String>,
    /// Last event id fanned out.
    pub cursor: i64,
    /// Created, epoch seconds.
    pub created_at: i64,
}

const WH_COLS: &str = "id, agency_code, url, event_types, agencies, status, disabled_at, disabled_reason, cursor, created_at";

fn split_list(s: String) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

impl<'r> FromRow<'r, AnyRow> for WebhookRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            agency_code: r.try_get("agency_code")?,
            url: r.try_get("url")?,
            event_types: split_list(r.try_get("event_types")?),
            agencies: split_list(r.try_get("agencies")?),
            status: r.try_get("status")?,
            disabled_at: r.try_get("disabled_at")?,
            disabled_reason: r.try_get("disabled_reason")?,
            cursor: r.try_get("cursor")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl WebhookRow {
    /// Whether the endpoint asked for this event.
    pub fn wants(&self, e: &NewEvent) -> bool {
        (self.event_types.is_empty() || self.event_types.contains(&e.event_type))
            && (self.agencies.is_empty() || self.agencies.contains(&e.agency_code))
    }
}

/// One entry of the delivery log.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    /// Id.
    pub id: i64,
    /// Endpoint.
    pub webhook_id: String,
    /// Event delivered.
    pub event_id: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// First attempt, epoch ms.
    pub first_attempt_ms: Option<i64>,
    /// Next attempt due, epoch ms.
    pub next_attempt_ms: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was delivered, epoch ms.
    pub delivered_ms: Option<i64>,
}

const DL_COLS: &str = "id, webhook_id, event_id, state, attempts, first_attempt_ms, next_attempt_ms, last_status, last_error, delivered_ms";

impl<'r> FromRow<'r, AnyRow> for DeliveryRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            webhook_id: r.try_get("webhook_id")?,
            event_id: r.try_get("event_id")?,
            state: r.try_get("state")?,
            attempts: r.try_get("attempts")?,
            first_attempt_ms: r.try_get("first_attempt_ms")?,
            next_attempt_ms: r.try_get("next_attempt_ms")?,
            last_status: r.try_get("last_status")?,
            last_error: r.try_get("last_error")?,
            delivered_ms: r.try_get("delivered_ms")?,
        })
    }
}

/// The outcome of one delivery or notification attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// Accepted by the receiver.
    Done {
        /// HTTP status.
        status: Option<i64>,
    },
    /// Failed; try again at `retry_at_ms`, unless the first attempt is older than
    /// `give_up_before_ms`.
    Failed {
        /// HTTP status, if one came back.
        status: Option<i64>,
        /// What went wrong (no personal data).
        error: String,
        /// When to try again.
        retry_at_ms: i64,
        /// Give up when the first attempt was before this.
        give_up_before_ms: i64,
    },
}

/// A notification to send: the person is looked up at send time.
#[derive(Debug, Clone)]
pub struct NotificationRow {
    /// Id.
    pub id: i64,
    /// The event it reports.
    pub event_id: i64,
    /// Beneficiary.
    pub person_id: String,
    /// Message template: issued, suspended, reinstated, revoked, reissued.
    pub template: String,
    /// Attempts so far.
    pub attempts: i64,
    /// First attempt, epoch ms.
    pub first_attempt_ms: Option<i64>,
}

/// Current time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    fn skip_locked(&self) -> &'static str {
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

    /// Register an endpoint; it hears events from now on (its cursor starts at the newest
    /// event). Audited without the URL's query (which may hold a receiver's secret).
    pub async fn insert_webhook(&self, w: &WebhookRow, actor: &str) -> Result<i64, StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let cursor: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS top FROM events")
            .fetch_one(&mut *tx)
            .await?
            .try_get("top")?;
        sqlx::query(
            "INSERT INTO webhooks (id, agency_code, url, event_types, agencies, status, cursor, created_at, created_by) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8)",
        )
        .bind(&w.id)
        .bind(&w.agency_code)
        .bind(&w.url)
        .bind(w.event_types.join(","))
        .bind(w.agencies.join(","))
        .bind(cursor)
        .bind(now())
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let host = w.url.split('?').next().unwrap_or_default();
        let detail = serde_json::json!({"agency": w.agency_code, "url": host,
            "event_types": w.event_types, "agencies": w.agencies})
        .to_string();
        tx.append(actor, "webhook.create", &w.id, &detail).await?;
        tx.commit().await?;
        Ok(cursor)
    }

    /// One endpoint.
    pub async fn get_webhook(&self, id: &str) -> Result<WebhookRow, StoreError> {
        sqlx::query_as::<_, WebhookRow>(AssertSqlSafe(format!(
            "SELECT {WH_COLS} FROM webhooks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// An agency's endpoints, or, with `None`, every active one (for the delivery worker).
    pub async fn list_webhooks(&self, agency: Option<&str>) -> Result<Vec<WebhookRow>, StoreError> {
        let rows =
            match agency {
                Some(a) => sqlx::query_as::<_, WebhookRow>(AssertSqlSafe(format!(
                    "SELECT {WH_COLS} FROM webhooks WHERE agency_code = $1 ORDER BY created_at, id"
                )))
                .bind(a)
                .fetch_all(&self.pool)
                .await?,
                None => sqlx::query_as::<_, WebhookRow>(AssertSqlSafe(format!(
                    "SELECT {WH_COLS} FROM webhooks WHERE status = 'active' ORDER BY created_at, id"
                )))
                .fetch_all(&self.pool)
                .await?,
            };
        Ok(rows)
    }

    /// Turn an endpoint back on: its failed deliveries become due again; audited.
    pub async fn enable_webhook(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE webhooks SET status = 'active', disabled_at = NULL, disabled_reason = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', first_attempt_ms = NULL, next_attempt_ms = $1, lease_until_ms = 0 WHERE webhook_id = $2 AND state = 'failed'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.append(actor, "webhook.enable", id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fan the events after an endpoint's cursor out into its delivery log. The first
    /// statement locks the endpoint's row, so concurrent instances take turns; the unique
    /// `(webhook_id, event_id)` makes a repeat harmless anyway.
    pub async fn fan_out(&self, w: &WebhookRow, batch: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cursor: i64 = match sqlx::query(
            "UPDATE webhooks SET cursor = cursor WHERE id = $1 AND status = 'active' RETURNING cursor",
        )
        .bind(&w.id)
        .fetch_optional(&mut *tx)
        .await?
        {
            Some(r) => r.try_get("cursor")?,
            None => return Ok(0),
        };
        // Every id up to `top` is settled (ids are handed out in commit order), so when the
        // page is not full the cursor moves to `top` even past events this endpoint may not
        // hear: an idle endpoint is not re-scanned every round.
        let top: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS top FROM events")
            .fetch_one(&mut *tx)
            .await?
            .try_get("top")?;
        if top <= cursor {
            return Ok(0);
        }
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EV_COLS} FROM events WHERE id > $1 AND {VISIBLE_TO} AND id <= $3 ORDER BY id LIMIT $4"
        )))
        .bind(cursor)
        .bind(&w.agency_code)
        .bind(top)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<EventRow> = rows
            .iter()
            .map(EventRow::from_row)
            .collect::<Result<_, _>>()?;
        let last = match events.last() {
            Some(e) if events.len() as i64 == batch => e.id,
            _ => top,
        };
        let now = now_ms();
        let mut n = 0;
        for e in events.iter().filter(|e| w.wants(&e.event)) {
            let key = e
                .event
                .credential_id
                .clone()
                .or_else(|| e.event.kid.clone())
                .unwrap_or_default();
            sqlx::query(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, order_key, state, next_attempt_ms) VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
            )
            .bind(&w.id)
            .bind(e.id)
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            n += 1;
        }
        sqlx::query("UPDATE webhooks SET cursor = $1 WHERE id = $2")
            .bind(last)
            .bind(&w.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Lease up to `limit` due deliveries for `lease_ms`. A delivery is due only when no
    /// earlier event for the same credential to the same endpoint is still undelivered
    /// (order per credential), and only on an active endpoint.
    pub async fn lease_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<(DeliveryRow, WebhookRow, EventRow)>, StoreError> {
        let now = now_ms();
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until_ms = $1 WHERE id IN (\
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.state = 'pending' AND d.next_attempt_ms <= $2 AND d.lease_until_ms <= $2 \
               AND d.webhook_id IN (SELECT id FROM webhooks WHERE status = 'active') \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                   AND e.order_key = d.order_key AND e.event_id < d.event_id AND e.state <> 'delivered') \
               ORDER BY d.event_id LIMIT $3{}) RETURNING {DL_COLS}",
            self.skip_locked()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let d = DeliveryRow::from_row(r)?;
            let w = self.get_webhook(&d.webhook_id).await?;
            let e = self.get_event(d.event_id).await?;
            out.push((d, w, e));
        }
        out.sort_by_key(|(d, ..)| d.event_id);
        Ok(out)
    }

    /// Record an attempt. Giving up on a delivery disables its endpoint with a notice
    /// (audited as `system`).
    pub async fn record_delivery(&self, d: &DeliveryRow, a: &Attempt) -> Result<(), StoreError> {
        let now = now_ms();
        let first = d.first_attempt_ms.unwrap_or(now);
        match a {
            Attempt::Done { status } => {
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, first_attempt_ms = $1, last_status = $2, last_error = NULL, delivered_ms = $3, lease_until_ms = 0 WHERE id = $4",
                )
                .bind(first)
                .bind(*status)
                .bind(now)
                .bind(d.id)
                .execute(&self.pool)
                .await?;
            }
            Attempt::Failed {
                status,
                error,
                give_up_before_ms,
                ..
            } if first < *give_up_before_ms => {
                let mut tx = AuditedTx::begin(&self.pool).await?;
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, first_attempt_ms = $1, last_status = $2, last_error = $3, lease_until_ms = 0 WHERE id = $4",
                )
                .bind(first)
                .bind(*status)
                .bind(error)
                .bind(d.id)
                .execute(&mut *tx)
                .await?;
                let reason = format!(
                    "disabled after {} failed attempts over {} s to deliver event {}: {error}",
                    d.attempts + 1,
                    (now - first) / 1000,
                    d.event_id
                );
                sqlx::query(
                    "UPDATE webhooks SET status = 'disabled', disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND status = 'active'",
                )
                .bind(now / 1000)
                .bind(&reason)
                .bind(&d.webhook_id)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({"event": d.event_id, "attempts": d.attempts + 1, "error": error}).to_string();
                tx.append("system", "webhook.disable", &d.webhook_id, &detail)
                    .await?;
                tx.commit().await?;
            }
            Attempt::Failed {
                status,
                error,
                retry_at_ms,
                ..
            } => {
                sqlx::query(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, first_attempt_ms = $1, last_status = $2, last_error = $3, next_attempt_ms = $4, lease_until_ms = 0 WHERE id = $5",
                )
                .bind(first)
                .bind(*status)
                .bind(error)
                .bind(*retry_at_ms)
                .bind(d.id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// An endpoint's delivery log, newest first, with keyset paging (`before` = an id).
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query_as::<_, DeliveryRow>(AssertSqlSafe(format!(
            "SELECT {DL_COLS} FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        )))
        .bind(webhook_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Make a delivery due again now (manual redeliver); audited.
    pub async fn redeliver(
        &self,
        webhook_id: &str,
        delivery_id: i64,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', first_attempt_ms = NULL, next_attempt_ms = $1 WHERE id = $2 AND webhook_id = $3",
        )
        .bind(now_ms())
        .bind(delivery_id)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = serde_json::json!({"delivery": delivery_id}).to_string();
        tx.append(actor, "webhook.redeliver", webhook_id, &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- holder notifications -------------------------------------------------------

    /// Turn new credential events of digital IDs into notifications (one per change: a
    /// re-issue notifies once, on the new credential). The cursor row is locked first, so
    /// instances take turns.
    pub async fn fan_out_notifications(&self, batch: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cursor: i64 = sqlx::query(
            "UPDATE event_cursors SET last_id = last_id WHERE name = 'notifications' RETURNING last_id",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get("last_id")?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EV_COLS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(cursor)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<EventRow> = rows
            .iter()
            .map(EventRow::from_row)
            .collect::<Result<_, _>>()?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        let now = now_ms();
        let mut n = 0;
        for e in &events {
            let template = match (e.event.event_type.as_str(), &e.event.supersedes) {
                ("credential.issued", Some(_)) => "reissued",
                ("credential.issued", None) => "issued",
                ("credential.suspended", _) => "suspended",
                ("credential.reinstated", _) => "reinstated",
                ("credential.revoked", _) => "revoked",
                _ => continue,
            };
            let Some(cid) = &e.event.credential_id else {
                continue;
            };
            let person: Option<String> = sqlx::query(
                "SELECT c.person_id FROM credentials c JOIN persons p ON p.id = c.person_id WHERE c.id = $1 AND p.phone IS NOT NULL",
            )
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("person_id"))
            .transpose()?;
            let Some(person) = person else { continue };
            sqlx::query(
                "INSERT INTO notifications (event_id, person_id, template, state, next_attempt_ms) VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
            )
            .bind(e.id)
            .bind(person)
            .bind(template)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            n += 1;
        }
        sqlx::query("UPDATE event_cursors SET last_id = $1 WHERE name = 'notifications'")
            .bind(last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The last event the notifier has fanned out.
    pub async fn notification_cursor(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT last_id FROM event_cursors WHERE name = 'notifications'")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("last_id")?)
    }

    /// Lease due notifications (oldest first; one person's messages in order, so "issued"
    /// never arrives after "suspended").
    pub async fn lease_notifications(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let now = now_ms();
        let sql = format!(
            "UPDATE notifications SET lease_until_ms = $1 WHERE id IN (\
               SELECT n.id FROM notifications n WHERE n.state = 'pending' AND n.next_attempt_ms <= $2 \
               AND n.lease_until_ms <= $2 \
               AND NOT EXISTS (SELECT 1 FROM notifications m WHERE m.person_id = n.person_id \
                   AND m.id < n.id AND m.state = 'pending') \
               ORDER BY n.id LIMIT $3{}) \
             RETURNING id, event_id, person_id, template, attempts, first_attempt_ms",
            self.skip_locked()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<NotificationRow> = rows
            .iter()
            .map(|r| {
                Ok(NotificationRow {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    person_id: r.try_get("person_id")?,
                    template: r.try_get("template")?,
                    attempts: r.try_get("attempts")?,
                    first_attempt_ms: r.try_get("first_attempt_ms")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        out.sort_by_key(|n| n.id);
        Ok(out)
    }

    /// Record a notification attempt (giving up marks it failed).
    pub async fn record_notification(
        &self,
        n: &NotificationRow,
        a: &Attempt,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let first = n.first_attempt_ms.unwrap_or(now);
        let (state, error, next) = match a {
            Attempt::Done { .. } => ("sent", None, 0),
            Attempt::Failed {
                error,
                retry_at_ms,
                give_up_before_ms,
                ..
            } => (
                if first < *give_up_before_ms {
                    "failed"
                } else {
                    "pending"
                },
                Some(error.clone()),
                *retry_at_ms,
            ),
        };
        sqlx::query(
            "UPDATE notifications SET state = $1, attempts = attempts + 1, first_attempt_ms = $2, last_error = $3, next_attempt_ms = $4, lease_until_ms = 0, sent_ms = $5 WHERE id = $6",
        )
        .bind(state)
        .bind(first)
        .bind(error)
        .bind(next)
        .bind((state == "sent").then_some(now))
        .bind(n.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `(state, attempts)` of every notification, oldest first (for tests and operators).
    pub async fn notification_states(&self) -> Result<Vec<(i64, String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT event_id, state, attempts FROM notifications ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("event_id")?,
                    r.try_get("state")?,
                    r.try_get("attempts")?,
                ))
            })
            .collect()
    }

    /// A person's phone and message language, for the notifier only (never logged).
    pub async fn person_contact(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT phone, language FROM persons WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let phone: Option<String> = row.try_get("phone")?;
        let lang: String = row.try_get("language")?;
        Ok(phone.map(|p| (p, lang)))
    }

    /// Set a person's phone (E.164, already validated) and message language; audited
    /// without the number.
    pub async fn set_person_contact(
        &self,
        id: &str,
        agency: &str,
        phone: Option<&str>,
        language: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE persons SET phone = $1, language = $2, updated_at = $3 WHERE id = $4 AND agency_code = $5",
        )
        .bind(phone)
        .bind(language)
        .bind(now())
        .bind(id)
        .bind(agency)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail =
            serde_json::json!({"phone": phone.is_some(), "language": language}).to_string();
        tx.append(actor, "person.contact", id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }
}
