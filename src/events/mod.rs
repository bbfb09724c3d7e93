//! Events between agencies (SPEC §7): what changed, told to whoever may hear it.
//!
//! The outbox lives in storage (an `events` row written in the transaction of each issuance,
//! status change, re-issue and key event). This module owns everything downstream of it:
//! the public shape of an event ([`EventOut`]), who may hear what (an agency's own events, a
//! watched credential, an admin's feed grant — enforced by the storage query every reader
//! uses), signed webhook deliveries with retries ([`deliver`]), holder notifications
//! ([`notify`]) and, on PostgreSQL, the LISTEN/NOTIFY link that keeps several instances'
//! in-memory views in step ([`listen`]).
//!
//! Events carry no personal data: ids, codes, statuses and times only.

pub mod deliver;
pub mod listen;
pub mod notify;

use crate::keys::{Artefact, PrivateKey, kind};
use crate::storage::EventRow;
use serde::{Deserialize, Serialize};

/// JWS `typ` of a webhook delivery. Its own type, so no other verifier of Sanad's accepts a
/// delivery and a delivery verifier accepts nothing else.
/// (The one table of signed kinds is `keys::kind`.)
pub const EVENT_JWT_TYP: &str = kind::TYP_EVENT;

/// Every event type, in the order a credential's life produces them.
pub const EVENT_TYPES: &[&str] = &[
    "credential.issued",
    "credential.suspended",
    "credential.reinstated",
    "credential.revoked",
    "credential.superseded",
    "key.generated",
    "key.retired",
    "key.revoked",
];

/// An event as relying systems receive it (pull, stream and webhook alike).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct EventOut {
    /// Global order; the cursor for `after=` and `Last-Event-ID`.
    pub id: i64,
    /// What happened, e.g. `credential.revoked`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Issuing agency.
    pub agency: String,
    /// The credential (absent for key events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// `digital_id` or `document`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Status after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Reason code of the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The replacement (re-issue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The credential a re-issued one replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// Key id (key events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

impl From<EventRow> for EventOut {
    fn from(r: EventRow) -> Self {
        let e = r.event;
        Self {
            id: r.id,
            event_type: e.event_type,
            agency: e.agency_code,
            credential_id: e.credential_id,
            kind: e.kind,
            status: e.status,
            reason_code: e.reason_code,
            superseded_by: e.superseded_by,
            supersedes: e.supersedes,
            kid: e.kid,
            at: crate::domain::rfc3339(e.at),
        }
    }
}

/// Sign a webhook delivery: `{iss, iat, jti, webhook, event}` as a compact JWS of type
/// [`EVENT_JWT_TYP`] with the deployment key (verifiable against `/.well-known/jwks.json`).
/// The `jti` is the event id, so a receiver recognises a repeat delivery.
pub fn sign_delivery(
    key: &PrivateKey,
    iss: &str,
    webhook_id: &str,
    event: &EventOut,
    now: i64,
) -> Result<String, josekit::JoseError> {
    let payload = serde_json::json!({
        "iss": iss,
        "iat": now,
        "jti": event.id.to_string(),
        "webhook": webhook_id,
        "event": event,
    });
    kind::sign(Artefact::Event, &payload, &key.signer(&key.kid))
        .map_err(|e| josekit::JoseError::InvalidJson(anyhow::anyhow!("{e}")))
}

/// Retry timing shared by webhooks and notifications.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure, in ms; doubles each time.
    pub base_ms: u64,
    /// Longest delay, in ms.
    pub max_ms: u64,
    /// Give up (and disable the endpoint) once the first attempt is this old, in ms.
    pub window_ms: u64,
}

impl Backoff {
    /// Delay before attempt number `attempts + 1` (after `attempts` failures): exponential
    /// with "equal jitter" — half fixed, half random — so receivers coming back up are not
    /// hit by every sender at the same instant.
    pub fn delay_ms(&self, attempts: i64) -> u64 {
        let exp = attempts.clamp(0, 40) as u32;
        let d = self
            .base_ms
            .saturating_mul(1u64 << exp.min(40))
            .min(self.max_ms)
            .max(1);
        d / 2 + rand::random::<u64>() % (d / 2 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let b = Backoff {
            base_ms: 1000,
            max_ms: 3_600_000,
            window_ms: 86_400_000,
        };
        for attempts in 0..30 {
            let full = (1000u64 << attempts.min(30)).min(3_600_000);
            let d = b.delay_ms(attempts);
            assert!(d >= full / 2 && d <= full, "{attempts}: {d} of {full}");
        }
        let samples: std::collections::HashSet<u64> = (0..50).map(|_| b.delay_ms(5)).collect();
        assert!(samples.len() > 10, "jitter varies the delay");
        // Enough attempts fit in the window to keep retrying for the whole 24 h.
        let mut t = 0u64;
        let mut n = 0;
        while t < 86_400_000 {
            t += b.delay_ms(n);
            n += 1;
        }
        assert!(n > 20, "{n} attempts in 24 h");
    }
}
