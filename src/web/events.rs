//! The event API: pull (`GET /api/v1/events?after=`), stream (server-sent events resuming
//! from `Last-Event-ID`), watches, feed grants, webhook endpoints and their delivery log, and
//! a beneficiary's notification contact.
//!
//! Every reader goes through the same storage query, which lets an agency hear its own
//! events, those of credentials it watches and those of agencies an admin granted it — and
//! nothing else: there is no deployment-wide feed.

use super::extract::{ApiJson, ApiQuery};
use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::domain::{AgencyCode, CredentialId, Invalid, PersonId, random_base32, rfc3339};
use crate::error::{AppError, Problem};
use crate::events::{EVENT_TYPES, EventOut};
use crate::storage::{DeliveryRow, StoreError, WebhookRow};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Most watches one agency may hold.
pub const MAX_WATCHES: i64 = 100_000;
/// Most webhook endpoints one agency may register.
pub const MAX_WEBHOOKS: usize = 20;
/// How often a stream re-checks that its token was not revoked.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(30);
/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// Paging of the pull feed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Return events with ids greater than this (default 0: from the start).
    pub after: Option<i64>,
    /// Page size (1-500, default 100).
    pub limit: Option<i64>,
}

/// A page of events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// Events in order.
    pub events: Vec<EventOut>,
    /// Pass as `after` for the next page (the last id here, or the `after` given).
    pub next_after: i64,
    /// Whether the page was full (there may be more).
    pub more: bool,
}

/// Pull events the caller may hear, in order, after a cursor.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery), security(("bearer" = [])),
    responses((status = 200, body = EventPage), (status = 403, body = Problem)))]
pub async fn pull(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventPage>, AppError> {
    let actor = auth.require(Scope::Events)?;
    let after = q.after.unwrap_or(0).max(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = app
        .store
        .events_visible(actor.agency.as_str(), after, limit)
        .await?;
    let more = rows.len() as i64 == limit;
    let events: Vec<EventOut> = rows.into_iter().map(EventOut::from).collect();
    Ok(Json(EventPage {
        next_after: events.last().map_or(after, |e| e.id),
        events,
        more,
    }))
}

/// Where a stream starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Start after this id (a `Last-Event-ID` header wins). Default: only new events.
    pub after: Option<i64>,
}

/// Server-sent events: each event as `id`/`event`/`data`, heartbeats in between. A client
/// that reconnects with `Last-Event-ID` receives exactly what it missed.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event id")),
    security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of EventOut"), (status = 403, body = Problem)))]
pub async fn stream(
    State(app): State<Arc<App>>,
    auth: Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Response, AppError> {
    let actor = auth.require(Scope::Events)?;
    let last = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| Invalid::new("Last-Event-ID", "must be an event id"))?,
        ),
        None => q.after.map(|a| a.max(0)),
    };
    let cursor = match last {
        Some(c) => c,
        None => app.store.last_event_id().await?,
    };
    struct St {
        app: Arc<App>,
        agency: String,
        cursor: i64,
        buf: VecDeque<EventOut>,
        changes: tokio::sync::watch::Receiver<u64>,
        token: String,
        checked: std::time::Instant,
    }
    let st = St {
        changes: app.store.subscribe_changes(),
        app: app.clone(),
        agency: actor.agency.to_string(),
        cursor,
        buf: VecDeque::new(),
        token: auth.subject.clone(),
        checked: std::time::Instant::now(),
    };
    let poll = Duration::from_millis(app.config.events.poll_ms.max(10));
    let events = futures_util::stream::unfold(st, move |mut st| async move {
        loop {
            if let Some(e) = st.buf.pop_front() {
                let ev = Event::default()
                    .id(e.id.to_string())
                    .event(e.event_type.clone())
                    .data(serde_json::to_string(&e).unwrap_or_default());
                return Some((Ok::<_, std::convert::Infallible>(ev), st));
            }
            match st
                .app
                .store
                .events_visible(&st.agency, st.cursor, 100)
                .await
            {
                Ok(rows) if !rows.is_empty() => {
                    st.cursor = rows.last().map_or(st.cursor, |r| r.id);
                    st.buf.extend(rows.into_iter().map(EventOut::from));
                }
                Ok(_) => {
                    // A revoked token's stream ends within TOKEN_RECHECK.
                    if st.checked.elapsed() >= TOKEN_RECHECK {
                        if !st.app.store.api_token_live(&st.token).await.unwrap_or(true) {
                            return None;
                        }
                        st.checked = std::time::Instant::now();
                    }
                    let _ = tokio::time::timeout(poll, st.changes.changed()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed; will retry");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let heartbeat = Duration::from_secs(app.config.events.heartbeat_secs.max(1));
    Ok((
        [("cache-control", "no-store"), ("x-accel-buffering", "no")],
        Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")),
    )
        .into_response())
}

/// A credential to hear about.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WatchIn {
    /// Credential id (any agency's).
    pub credential_id: String,
}

/// A watched credential.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WatchOut {
    /// Credential id.
    pub credential_id: String,
    /// Since when (RFC 3339).
    pub created_at: String,
}

/// Hear about another agency's credential from now on (e.g. right after verifying it).
#[utoipa::path(post, path = "/api/v1/events/watches", tag = "events", request_body = WatchIn, security(("bearer" = [])),
    responses((status = 201, body = WatchOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn watch(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(w): ApiJson<WatchIn>,
) -> Result<(StatusCode, Json<WatchOut>), AppError> {
    let actor = auth.require(Scope::Events)?;
    let id = CredentialId::parse(&w.credential_id).map_err(|_| AppError::NotFound("credential"))?;
    app.store
        .insert_watch(actor.agency.as_str(), id.as_str(), MAX_WATCHES, &actor.id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound("credential"),
            e => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(WatchOut {
            credential_id: id.to_string(),
            created_at: rfc3339(crate::storage::now()),
        }),
    ))
}

/// The credentials the caller's agency watches (newest first, at most 1000).
#[utoipa::path(get, path = "/api/v1/events/watches", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = Vec<WatchOut>), (status = 403, body = Problem)))]
pub async fn list_watches(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<Vec<WatchOut>>, AppError> {
    let actor = auth.require(Scope::Events)?;
    let rows = app.store.list_watches(actor.agency.as_str(), 1000).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(credential_id, at)| WatchOut {
                credential_id,
                created_at: rfc3339(at),
            })
            .collect(),
    ))
}

/// An admin's grant of one agency's whole feed to another.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantIn {
    /// The agency that will hear.
    pub agency: String,
    /// The agency whose events it hears.
    pub feed_agency: String,
}

/// Grant `agency` the event feed of `feed_agency` (admins; audited).
#[utoipa::path(post, path = "/api/v1/events/grants", tag = "events", request_body = GrantIn, security(("bearer" = [])),
    responses((status = 201, body = GrantIn), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn grant(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(g): ApiJson<GrantIn>,
) -> Result<(StatusCode, Json<GrantIn>), AppError> {
    auth.require_global(Scope::Admin)?;
    let a = AgencyCode::parse(&g.agency)?;
    let f = AgencyCode::parse(&g.feed_agency)?;
    for code in [&a, &f] {
        if !app.has_agency(code.as_str()) {
            return Err(Invalid::new("agency", "no such agency here").into());
        }
    }
    if a == f {
        return Err(Invalid::new("feed_agency", "an agency always hears its own events").into());
    }
    app.store
        .insert_grant(a.as_str(), f.as_str(), &auth.id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantIn {
            agency: a.to_string(),
            feed_agency: f.to_string(),
        }),
    ))
}

/// Every feed grant (admins).
#[utoipa::path(get, path = "/api/v1/events/grants", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = Vec<GrantIn>), (status = 403, body = Problem)))]
pub async fn list_grants(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<Vec<GrantIn>>, AppError> {
    auth.require_global(Scope::Admin)?;
    Ok(Json(
        app.store
            .list_grants()
            .await?
            .into_iter()
            .map(|(agency, feed_agency, _)| GrantIn {
                agency,
                feed_agency,
            })
            .collect(),
    ))
}

/// A webhook endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookIn {
    /// `http://` URL that receives a POST of `application/jwt` per event (redirects are not
    /// followed; put a TLS proxy in front for https receivers).
    pub url: String,
    /// Event types wanted (empty or absent: all).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Issuing agencies wanted (empty or absent: every one the caller may hear).
    #[serde(default)]
    pub agencies: Vec<String>,
}

/// A webhook endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookOut {
    /// Id.
    pub id: String,
    /// Owning agency.
    pub agency: String,
    /// Target URL.
    pub url: String,
    /// Event types (empty: all).
    pub event_types: Vec<String>,
    /// Issuing agencies (empty: all it may hear).
    pub agencies: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// When Sanad gave up on it.
    pub disabled_at: Option<String>,
    /// The notice: why it was disabled.
    pub disabled_reason: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
}

impl From<WebhookRow> for WebhookOut {
    fn from(w: WebhookRow) -> Self {
        Self {
            id: w.id,
            agency: w.agency_code,
            url: w.url,
            event_types: w.event_types,
            agencies: w.agencies,
            status: w.status,
            disabled_at: w.disabled_at.map(rfc3339),
            disabled_reason: w.disabled_reason,
            created_at: rfc3339(w.created_at),
        }
    }
}

fn check_url(url: &str) -> Result<(), Invalid> {
    if url.len() > MAX_URL_LEN {
        return Err(Invalid::new("url", "too long"));
    }
    let uri: axum::http::Uri = url.parse().map_err(|_| Invalid::new("url", "not a URL"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
        return Err(Invalid::new(
            "url",
            "must be an http:// URL with a host (use a TLS proxy for https receivers)",
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Invalid::new("url", "must not carry user info"));
    }
    Ok(())
}

/// Register a webhook endpoint for the caller's agency; it receives events from now on.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "events", request_body = WebhookIn, security(("bearer" = [])),
    responses((status = 201, body = WebhookOut), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(w): ApiJson<WebhookIn>,
) -> Result<(StatusCode, Json<WebhookOut>), AppError> {
    let actor = auth.require(Scope::Events)?;
    check_url(&w.url)?;
    if w.event_types.len() > EVENT_TYPES.len()
        || w.event_types
            .iter()
            .any(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(Invalid::new("event_types", "unknown event type").into());
    }
    if w.agencies.len() > 50 {
        return Err(Invalid::new("agencies", "too many").into());
    }
    let mut agencies = Vec::new();
    for a in &w.agencies {
        let code = AgencyCode::parse(a)?;
        if !app.has_agency(code.as_str()) {
            return Err(Invalid::new("agencies", "no such agency here").into());
        }
        agencies.push(code.to_string());
    }
    if app
        .store
        .list_webhooks(Some(actor.agency.as_str()))
        .await?
        .len()
        >= MAX_WEBHOOKS
    {
        return Err(AppError::Conflict(format!(
            "an agency may register at most {MAX_WEBHOOKS} endpoints"
        )));
    }
    let mut row = WebhookRow {
        id: random_base32(12),
        agency_code: actor.agency.to_string(),
        url: w.url,
        event_types: w.event_types,
        agencies,
        status: "active".into(),
        disabled_at: None,
        disabled_reason: None,
        cursor: 0,
        created_at: crate::storage::now(),
    };
    row.cursor = app.store.insert_webhook(&row, &actor.id).await?;
    app.store.bump_changes();
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// The caller's agency's endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookOut>), (status = 403, body = Problem)))]
pub async fn list_webhooks(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<Vec<WebhookOut>>, AppError> {
    let actor = auth.require(Scope::Events)?;
    let rows = app.store.list_webhooks(Some(actor.agency.as_str())).await?;
    Ok(Json(rows.into_iter().map(WebhookOut::from).collect()))
}

async fn own_webhook(app: &App, auth: &Principal, id: &str) -> Result<WebhookRow, AppError> {
    auth.require(Scope::Events)?;
    if id.len() > 64 {
        return Err(AppError::NotFound("webhook"));
    }
    let w = app.store.get_webhook(id).await.map_err(|e| match e {
        StoreError::NotFound => AppError::NotFound("webhook"),
        e => e.into(),
    })?;
    auth.check(Scope::Events, &w.agency_code, "webhook")?;
    Ok(w)
}

/// One endpoint, with its status and, when disabled, the notice saying why.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "events",
    params(("id" = String, Path, description = "webhook id")), security(("bearer" = [])),
    responses((status = 200, body = WebhookOut), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, AppError> {
    Ok(Json(own_webhook(&app, &auth, &id).await?.into()))
}

/// Turn a disabled endpoint back on; deliveries it gave up on are retried (audited).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", tag = "events",
    params(("id" = String, Path, description = "webhook id")), security(("bearer" = [])),
    responses((status = 200, body = WebhookOut), (status = 404, body = Problem)))]
pub async fn enable_webhook(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, AppError> {
    let w = own_webhook(&app, &auth, &id).await?;
    app.store.enable_webhook(&w.id, &auth.id).await?;
    app.store.bump_changes();
    Ok(Json(app.store.get_webhook(&w.id).await?.into()))
}

/// One entry of the delivery log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryOut {
    /// Id.
    pub id: i64,
    /// The event.
    pub event_id: i64,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// Next attempt (pending only).
    pub next_attempt_at: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<String>,
}

fn ms3339(ms: i64) -> String {
    rfc3339(ms / 1000)
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(d: DeliveryRow) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            next_attempt_at: (d.state == "pending").then(|| ms3339(d.next_attempt_ms)),
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_ms.map(ms3339),
        }
    }
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeliveriesQuery {
    /// Only entries with ids below this (the last id of the previous page).
    pub before: Option<i64>,
    /// Page size (1-500, default 100).
    pub limit: Option<i64>,
}

/// An endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "events",
    params(("id" = String, Path, description = "webhook id"), DeliveriesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<DeliveryOut>), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryOut>>, AppError> {
    let w = own_webhook(&app, &auth, &id).await?;
    let rows = app
        .store
        .list_deliveries(&w.id, q.before, q.limit.unwrap_or(100).clamp(1, 500))
        .await?;
    Ok(Json(rows.into_iter().map(DeliveryOut::from).collect()))
}

/// Deliver one event again now (manual redeliver; audited).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "events",
    params(("id" = String, Path, description = "webhook id"), ("delivery" = i64, Path, description = "delivery id")),
    security(("bearer" = [])),
    responses((status = 202, description = "queued"), (status = 404, body = Problem)))]
pub async fn redeliver(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let w = own_webhook(&app, &auth, &id).await?;
    let delivery: i64 = delivery
        .parse()
        .map_err(|_| AppError::NotFound("delivery"))?;
    app.store
        .redeliver(&w.id, delivery, &auth.id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound("delivery"),
            e => e.into(),
        })?;
    app.store.bump_changes();
    Ok(StatusCode::ACCEPTED)
}

/// A beneficiary's notification contact.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactIn {
    /// Mobile number in E.164 form (`+9627…`), or null to stop messages.
    pub phone: Option<String>,
    /// Message language: `ar` (default) or `en`.
    #[serde(default = "default_language")]
    pub language: String,
}

fn default_language() -> String {
    "ar".into()
}

/// Parse an E.164 number: `+`, a non-zero digit, 7 to 14 more digits.
pub fn parse_e164(s: &str) -> Result<String, Invalid> {
    let digits = s
        .strip_prefix('+')
        .ok_or_else(|| Invalid::new("phone", "must be in E.164 form, e.g. +962791234567"))?;
    if !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(Invalid::new(
            "phone",
            "must be in E.164 form, e.g. +962791234567",
        ));
    }
    Ok(s.to_owned())
}

/// Set where a beneficiary's notifications go (registrars; audited without the number).
/// The number is kept on the person record only and is never logged.
#[utoipa::path(put, path = "/api/v1/persons/{id}/contact", tag = "persons", request_body = ContactIn,
    params(("id" = String, Path, description = "person id")), security(("bearer" = [])),
    responses((status = 204, description = "saved"), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_contact(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<ContactIn>,
) -> Result<StatusCode, AppError> {
    let actor = auth.require(Scope::Issue)?;
    let id = PersonId::parse(&id).map_err(|_| AppError::NotFound("person"))?;
    let phone = c.phone.as_deref().map(parse_e164).transpose()?;
    if c.language != "ar" && c.language != "en" {
        return Err(Invalid::new("language", "must be ar or en").into());
    }
    app.store
        .set_person_contact(
            id.as_str(),
            actor.agency.as_str(),
            phone.as_deref(),
            &c.language,
            &actor.id,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound("person"),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(parse_e164("+962791234567").is_ok());
        assert!(parse_e164("+12025550123").is_ok());
        for bad in [
            "0791234567",
            "+0791234567",
            "+96279123456789012",
            "+9627",
            "+96279x234567",
            "",
        ] {
            assert!(parse_e164(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_urls() {
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "https://x.example/hook",
            "ftp://x/",
            "http:///x",
            "http://u:p@x/",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
