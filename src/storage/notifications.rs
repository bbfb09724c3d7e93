//! Holder notifications: fan-out of credential events to the people they concern, leasing
//! and recording attempts (one person's notifications go out in order), and the contact
//! details they go to (audited).

use super::audited::AuditedTx;
use super::events::{EV_COLS, EventRow, now_ms};
use super::webhooks::Attempt;
use super::{Store, StoreError, now};
use sqlx::{AssertSqlSafe, FromRow as _, Row as _};

impl Store {
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
        let mut out = sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
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

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for NotificationRow {
    fn from_row(r: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            event_id: r.try_get("event_id")?,
            person_id: r.try_get("person_id")?,
            template: r.try_get("template")?,
            attempts: r.try_get("attempts")?,
            first_attempt_ms: r.try_get("first_attempt_ms")?,
        })
    }
}
