//! Webhook endpoints and their deliveries: registration (audited), fan-out of events into
//! deliveries, leasing, recording attempts (an endpoint that keeps failing is disabled,
//! audited), listing and redelivery.

use super::audited::AuditedTx;
use super::events::{EV_COLS, EventRow, NewEvent, VISIBLE_TO, now_ms};
use super::{Store, StoreError, map_unique, now};
use sqlx::FromRow;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

impl Store {
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
}

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
