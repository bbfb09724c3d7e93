//! The delivery worker: fans new events out to webhook endpoints, posts each delivery as a
//! signed JWS, and sends holder notifications; at least once, retried with backoff.
//!
//! Every instance runs one worker. Work is leased row by row in the database (see
//! `storage/events.rs`), so any number of instances share it without a leader and a killed
//! instance's leases run out and are taken by another (or by itself after a restart).
//! Receivers de-duplicate on the event id (`jti`), which a repeat delivery keeps.

use crate::app::App;
use crate::events::{EventOut, sign_delivery};
use crate::storage::{Attempt, DeliveryRow, EventRow, WebhookRow, now, now_ms};
use std::sync::Arc;
use std::time::Duration;

/// Largest answer read from a receiver (its body is ignored anyway).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// Events fanned out per endpoint per round.
const FAN_OUT_BATCH: i64 = 500;
/// Deliveries leased per round.
const LEASE_BATCH: i64 = 32;

/// Start the worker; it stops when the app is dropped.
pub fn spawn(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(app);
    let mut changes = app.store.subscribe_changes();
    let poll = Duration::from_millis(app.config.events.poll_ms.max(10));
    tokio::spawn(async move {
        loop {
            let busy = {
                let Some(app) = weak.upgrade() else { return };
                match round(&app).await {
                    Ok(busy) => busy,
                    Err(e) => {
                        tracing::warn!(error = %e, "event delivery round failed; will retry");
                        false
                    }
                }
            };
            if !busy {
                // Wake on a local or (PostgreSQL) remote change, or poll for due retries.
                let _ = tokio::time::timeout(poll, changes.changed()).await;
            }
        }
    })
}

/// One round: fan out, deliver what is due, notify. Returns whether there may be more.
pub async fn round(app: &Arc<App>) -> anyhow::Result<bool> {
    // Fan out only when there is something new: an idle round writes nothing.
    let last = app.store.last_event_id().await?;
    for w in app.store.list_webhooks(None).await? {
        if w.cursor < last {
            app.store.fan_out(&w, FAN_OUT_BATCH).await?;
        }
    }
    let lease_ms = app.config.events.webhook_timeout_ms as i64 + 5_000;
    let due = app.store.lease_deliveries(LEASE_BATCH, lease_ms).await?;
    let mut busy = due.len() as i64 == LEASE_BATCH;
    for (d, w, e) in due {
        let a = attempt(app, &d, &w, e).await;
        if let Attempt::Failed { error, .. } = &a {
            tracing::info!(webhook.id = %w.id, delivery.id = d.id, delivery.event = d.event_id,
                delivery.attempts = d.attempts + 1, error = %error, "webhook delivery failed");
        }
        app.store.record_delivery(&d, &a).await?;
    }
    busy |= crate::events::notify::round(app, last).await?;
    Ok(busy)
}

async fn attempt(app: &App, d: &DeliveryRow, w: &WebhookRow, e: EventRow) -> Attempt {
    let cfg = &app.config.events;
    let fail = |status: Option<i64>, error: String| Attempt::Failed {
        status,
        error,
        retry_at_ms: now_ms() + cfg.backoff().delay_ms(d.attempts) as i64,
        give_up_before_ms: now_ms() - cfg.backoff().window_ms as i64,
    };
    let event = EventOut::from(e);
    let jws = match app.deployment_key().and_then(|k| {
        Ok(sign_delivery(
            &k,
            app.config.public_base(),
            &w.id,
            &event,
            now(),
        )?)
    }) {
        Ok(j) => j,
        Err(e) => return fail(None, format!("signing failed: {e}")),
    };
    let id = event.id.to_string();
    let delivery = d.id.to_string();
    let headers = [
        ("sanad-event-id", id.as_str()),
        ("sanad-event-type", event.event_type.as_str()),
        ("sanad-delivery-id", delivery.as_str()),
    ];
    match crate::net::post(
        &w.url,
        "application/jwt",
        &headers,
        jws.into_bytes(),
        Duration::from_millis(cfg.webhook_timeout_ms),
        MAX_ANSWER_BYTES,
    )
    .await
    {
        Ok((status, _)) if (200..300).contains(&status) => Attempt::Done {
            status: Some(status.into()),
        },
        Ok((status, _)) if (300..400).contains(&status) => fail(
            Some(status.into()),
            format!("HTTP {status}: redirects are not followed"),
        ),
        Ok((status, _)) => fail(Some(status.into()), format!("HTTP {status}")),
        Err(e) => fail(None, e.message),
    }
}
