//! Holder links and the beneficiary's phone card.
//!
//! A registrar creates (or replaces, or revokes) a private link for a digital ID:
//! `{public_url}/h/{secret}/`. The secret is 160 random bits; only its SHA-256 is stored, so
//! neither the database nor the audit log can open a card. The card page (photo, both names,
//! programme, agency, number, live status and the QR) is installable (a web app manifest)
//! and readable offline once loaded: a service worker scoped to that one card keeps the
//! last copy it fetched and shows when that was. Everything under `/h/{secret}/` that holds
//! personal data is sent `Cache-Control: private, no-store` (the service worker keeps its own
//! copy on the phone), `X-Robots-Tag: noindex` and, as everywhere, no referrer. A revoked or
//! replaced link answers 404, and the service worker then drops its copy.

use super::console::Console;
use crate::app::{App, hash_token};
use crate::auth::{Principal, Scope};
use crate::domain::{CredentialId, CredentialKind, CredentialStatus, random_base32, rfc3339};
use crate::error::{AppError, Problem};
use crate::issuance;
use crate::issuance::Actor;
use crate::render::{pages, qr};
use crate::storage::{CredentialRow, StoreError, now};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Characters of a holder-link secret (base32: 32 × 5 = 160 bits).
const SECRET_LEN: usize = 32;

/// A newly created holder link. The URL is shown once: only its hash is kept.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HolderLinkCreated {
    /// The private URL that opens the card (give it to the beneficiary; it is not stored).
    pub url: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Whether an earlier link was replaced (and so stopped working).
    pub replaced: bool,
}

/// Whether a credential has a holder link (the URL itself cannot be shown again).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HolderLinkState {
    /// Whether a link exists.
    pub exists: bool,
    /// When it was created (RFC 3339).
    pub created_at: Option<String>,
    /// Who created it.
    pub created_by: Option<String>,
}

fn secret_ok(s: &str) -> bool {
    s.len() == SECRET_LEN
        && s.bytes()
            .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
}

/// The actor's digital ID that may get a holder link.
async fn linkable(app: &App, actor: &Actor, id: &str) -> Result<CredentialRow, AppError> {
    let id = CredentialId::parse(id).map_err(|_| AppError::NotFound("credential"))?;
    let c = issuance::own_credential(app, actor, &id).await?;
    if c.kind != CredentialKind::DigitalId.as_str() {
        return Err(crate::domain::Invalid::new(
            "kind",
            "holder links are made for digital IDs only",
        )
        .into());
    }
    Ok(c)
}

/// Create or replace the holder link of one of the actor's digital IDs.
#[tracing::instrument(skip_all, fields(credential.id = %id, agency.code = %actor.agency))]
pub(super) async fn create_link(
    app: &App,
    actor: &Actor,
    id: &str,
) -> Result<HolderLinkCreated, AppError> {
    let c = linkable(app, actor, id).await?;
    if matches!(
        CredentialStatus::parse(&c.status),
        Ok(CredentialStatus::Revoked | CredentialStatus::Superseded)
    ) {
        return Err(AppError::Conflict(format!(
            "the credential is {}: give the holder a link to a credential in force",
            c.status
        )));
    }
    let had = app.store.get_holder_link(&c.id).await?.is_some();
    let secret = random_base32(SECRET_LEN);
    let row = app
        .store
        .put_holder_link(&c.id, &hash_token(&secret), &actor.id)
        .await?;
    Ok(HolderLinkCreated {
        url: format!("{}/h/{secret}/", app.config.public_base()),
        created_at: rfc3339(row.created_at),
        replaced: had,
    })
}

/// Revoke the holder link of one of the actor's digital IDs.
#[tracing::instrument(skip_all, fields(credential.id = %id, agency.code = %actor.agency))]
pub(super) async fn revoke_link(app: &App, actor: &Actor, id: &str) -> Result<(), AppError> {
    let c = linkable(app, actor, id).await?;
    app.store
        .delete_holder_link(&c.id, &actor.id)
        .await
        .map_err(AppError::not_found("holder link"))
}

/// Create a holder link for a digital ID, replacing any earlier one. The URL is in the
/// answer once and never again.
#[utoipa::path(post, path = "/api/v1/credentials/{id}/holder-link", tag = "credentials",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 201, body = HolderLinkCreated), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn post_holder_link(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<HolderLinkCreated>), AppError> {
    let actor = auth.require(Scope::Issue)?;
    let out = create_link(&app, &actor, &id).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Whether a digital ID has a holder link.
#[utoipa::path(get, path = "/api/v1/credentials/{id}/holder-link", tag = "credentials",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = HolderLinkState), (status = 404, body = Problem)))]
pub async fn get_holder_link(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<HolderLinkState>, AppError> {
    let actor = auth.require(Scope::Read)?;
    let c = linkable(&app, &actor, &id).await?;
    let link = app.store.get_holder_link(&c.id).await?;
    Ok(Json(HolderLinkState {
        exists: link.is_some(),
        created_at: link.as_ref().map(|l| rfc3339(l.created_at)),
        created_by: link.map(|l| l.created_by),
    }))
}

/// Revoke a digital ID's holder link: the URL answers 404 from now on.
#[utoipa::path(delete, path = "/api/v1/credentials/{id}/holder-link", tag = "credentials",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_holder_link(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let actor = auth.require(Scope::Issue)?;
    revoke_link(&app, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- the card ---------------------------------------------------------------------------

/// The card's routes and the console's link-management page (HTML; not in OpenAPI).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/h/{secret}", get(card_redirect))
        .route("/h/{secret}/", get(card))
        .route("/h/{secret}/photo.jpg", get(card_photo))
        .route("/h/{secret}/qr.svg", get(card_qr))
        .route("/h/{secret}/manifest.webmanifest", get(card_manifest))
        .route("/h/{secret}/sw.js", get(card_sw))
        .route("/h/{secret}/card.js", get(card_js))
        .route(
            "/console/credentials/{id}/holder",
            get(console_page).post(console_action),
        )
}

/// Headers of every personal response under `/h/`: not stored by any HTTP cache, not
/// indexed, no referrer.
fn private(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow, noarchive"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    res
}

/// The credential behind a secret, or `None` for an unknown, revoked or replaced link.
async fn holder_credential(app: &App, secret: &str) -> Result<Option<CredentialRow>, AppError> {
    if !secret_ok(secret) {
        return Ok(None);
    }
    match app
        .store
        .credential_by_holder_secret(&hash_token(secret))
        .await
    {
        Ok(c) => Ok(Some(c)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn gone(app: &App) -> Response {
    let html = pages::render(
        "not_found.html",
        app.config.public_base(),
        serde_json::json!({}),
    )
    .unwrap_or_default();
    private((StatusCode::NOT_FOUND, Html(html)).into_response())
}

async fn card_redirect(Path(secret): Path<String>) -> Response {
    if !secret_ok(&secret) {
        return private(StatusCode::NOT_FOUND.into_response());
    }
    private(Redirect::permanent(&format!("/h/{secret}/")).into_response())
}

#[derive(Serialize)]
struct CardView {
    id: String,
    status: String,
    status_reason_code: Option<String>,
    name_ar: String,
    name_en: String,
    programme: String,
    issuer: crate::domain::PublicIssuer,
    issued_date: String,
    has_photo: bool,
    /// When this copy was made, epoch seconds (the page shows it as "last refreshed").
    rendered_at: i64,
}

async fn card(State(app): State<Arc<App>>, Path(secret): Path<String>) -> Response {
    let c = match holder_credential(&app, &secret).await {
        Ok(Some(c)) => c,
        Ok(None) => return gone(&app),
        Err(e) => return e.into_response(),
    };
    let subject: serde_json::Value = serde_json::from_str(&c.subject_json).unwrap_or_default();
    let text = |k: &str| subject[k].as_str().unwrap_or_default().to_owned();
    let has_photo = match &c.person_id {
        Some(p) => matches!(app.store.get_person_photo(p).await, Ok(Some(_))),
        None => false,
    };
    // The status the audit log vouches for (the live view), not the row's own column.
    let live = crate::verification::public_from_row_synced(&app, &c).await;
    let view = CardView {
        status: live
            .as_ref()
            .map_or_else(|| "revoked".to_owned(), |p| p.status.as_str().to_owned()),
        status_reason_code: live.as_ref().and_then(|p| p.status_reason_code.clone()),
        name_ar: text("name_ar"),
        name_en: text("name_en"),
        programme: text("programme"),
        issuer: app.issuer(&c.agency_code),
        issued_date: pages::date(c.issued_at),
        has_photo,
        rendered_at: now(),
        id: c.id,
    };
    match pages::render(
        "holder_card.html",
        app.config.public_base(),
        serde_json::json!({ "card": view }),
    ) {
        Ok(html) => private(Html(html).into_response()),
        Err(e) => {
            AppError::Internal(anyhow::anyhow!("rendering holder_card.html: {e}")).into_response()
        }
    }
}

async fn card_photo(State(app): State<Arc<App>>, Path(secret): Path<String>) -> Response {
    let c = match holder_credential(&app, &secret).await {
        Ok(Some(c)) => c,
        Ok(None) => return private(StatusCode::NOT_FOUND.into_response()),
        Err(e) => return e.into_response(),
    };
    let photo = match &c.person_id {
        Some(p) => app.store.get_person_photo(p).await,
        None => Ok(None),
    };
    match photo {
        Ok(Some(bytes)) => private(
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
                bytes,
            )
                .into_response(),
        ),
        Ok(None) | Err(StoreError::NotFound) => private(StatusCode::NOT_FOUND.into_response()),
        Err(e) => AppError::from(e).into_response(),
    }
}

async fn card_qr(State(app): State<Arc<App>>, Path(secret): Path<String>) -> Response {
    let c = match holder_credential(&app, &secret).await {
        Ok(Some(c)) => c,
        Ok(None) => return private(StatusCode::NOT_FOUND.into_response()),
        Err(e) => return e.into_response(),
    };
    let text = issuance::qr_text(app.config.public_base(), &c.id, &c.token);
    match qr::encode(&text, qr::DEFAULT_EC) {
        Ok(code) => private(
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml"),
                )],
                qr::svg(&code),
            )
                .into_response(),
        ),
        Err(e) => AppError::Internal(e.into()).into_response(),
    }
}

async fn card_manifest(State(app): State<Arc<App>>, Path(secret): Path<String>) -> Response {
    match holder_credential(&app, &secret).await {
        Ok(Some(_)) => {}
        Ok(None) => return private(StatusCode::NOT_FOUND.into_response()),
        Err(e) => return e.into_response(),
    }
    let ar = &*crate::render::i18n::AR;
    let en = &*crate::render::i18n::EN;
    let name = format!(
        "{} · {}",
        ar.get("card_title").map_or("", String::as_str),
        en.get("card_title").map_or("", String::as_str)
    );
    let m = serde_json::json!({
        "name": name,
        "short_name": ar.get("app_name").cloned().unwrap_or_default(),
        "lang": "ar",
        "dir": "rtl",
        "start_url": "./",
        "scope": "./",
        "display": "standalone",
        "background_color": "#f4f5f7",
        "theme_color": "#0a6b2f",
        "icons": [{"src": "/verifier/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    });
    private(
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/manifest+json"),
            )],
            m.to_string(),
        )
            .into_response(),
    )
}

/// Static files of the card (no personal data; the same for every card).
fn asset(ct: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn card_sw() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../templates/holder/sw.js"),
    )
}

async fn card_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../templates/holder/card.js"),
    )
}

/// `GET /assets/record.js`: the live record page's script (offers the signature check).
pub async fn record_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../templates/assets/record.js"),
    )
}

// ----- the console page ---------------------------------------------------------------------

async fn console_view(
    app: &App,
    c: &Console,
    id: &str,
    created: Option<HolderLinkCreated>,
    msg: Option<&str>,
) -> Response {
    let r = async {
        let actor = c.p.require(Scope::Read)?;
        let cred = linkable(app, &actor, id).await?;
        let link = app.store.get_holder_link(&cred.id).await?;
        let qr_svg = match &created {
            Some(l) => Some(
                qr::encode(&l.url, qr::DEFAULT_EC)
                    .map(|code| qr::svg(&code))
                    .map_err(|e| AppError::Internal(e.into()))?,
            ),
            None => None,
        };
        Ok::<_, AppError>(serde_json::json!({
            "cred": super::api::credential_out(app, cred),
            "link": link.map(|l| serde_json::json!({"created_at": rfc3339(l.created_at), "created_by": l.created_by})),
            "created": created,
            "qr_svg": qr_svg,
            "msg": msg,
            "can_issue": c.p.scopes.contains(&Scope::Issue),
        }))
    }
    .await;
    match r {
        Ok(ctx) => {
            let res = c.page(app, "console_holder.html", ctx);
            // The page may show the link once: keep it out of every cache.
            private(res)
        }
        Err(e) => c.fail(app, e, "/console/credentials"),
    }
}

async fn console_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match Console::from(&app, &headers).await {
        Ok(c) => console_view(&app, &c, &id, None, None).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct HolderForm {
    csrf: String,
    action: String,
}

/// Create/replace or revoke; the new URL is shown in this answer only (never in a URL that
/// a redirect would put in the browser's history).
async fn console_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    super::extract::FormData(f): super::extract::FormData<HolderForm>,
) -> Response {
    let c = match Console::for_form(&app, &headers, &f.csrf).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let actor = match c.p.require(Scope::Issue) {
        Ok(a) => a,
        Err(e) => return c.fail(&app, e, "/console/credentials"),
    };
    match f.action.as_str() {
        "create" => match create_link(&app, &actor, &id).await {
            Ok(l) => console_view(&app, &c, &id, Some(l), None).await,
            Err(e) => c.fail(&app, e, "/console/credentials"),
        },
        "revoke" => match revoke_link(&app, &actor, &id).await {
            Ok(()) => console_view(&app, &c, &id, None, Some("holder_link_revoked")).await,
            Err(e) => c.fail(&app, e, "/console/credentials"),
        },
        _ => c.fail(
            &app,
            crate::domain::Invalid::new("action", "create or revoke").into(),
            "/console/credentials",
        ),
    }
}
