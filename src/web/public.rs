//! Public endpoints: verification, the live record behind every QR, QR images, keys and
//! health. None needs a token; none shows more than SPEC §4's public fields.

use super::api::read_form;
use super::extract::json_rejection;
use crate::app::App;
use crate::domain::{CredentialId, PublicCredential};
use crate::error::{AppError, Problem};
use crate::issuance;
use crate::render::{pages, qr};
use crate::storage::StoreError;
use crate::verification::{self, Verification};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// What to verify: exactly one of the members.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The scanned QR text.
    pub qr: Option<String>,
    /// A QR token (compact JWS).
    pub token: Option<String>,
    /// A full credential (vc+jwt).
    pub credential: Option<String>,
    /// A credential id.
    pub id: Option<String>,
}

/// Multipart form for verification with a file.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VerifyUpload {
    /// The scanned QR text, a token or an id (one of them, unless `image` is given).
    qr: Option<String>,
    /// Compact JWS.
    token: Option<String>,
    /// Credential id.
    id: Option<String>,
    /// The document to compare with a certificate's signed digest.
    #[schema(format = Binary)]
    file: Option<String>,
    /// A photo of the QR code (PNG or JPEG).
    #[schema(format = Binary)]
    image: Option<String>,
}

/// Largest file in a verification request (a phone photo of a QR, or a document to
/// compare): 20 MiB = 20,971,520 bytes, the certification limit.
pub const MAX_VERIFY_FILE_BYTES: usize = super::api::MAX_DOCUMENT_BYTES;
/// Largest verification request: the file plus 64 KiB of form fields.
pub const MAX_VERIFY_BYTES: usize = MAX_VERIFY_FILE_BYTES + 64 * 1024;

async fn verify_one(
    app: &App,
    req: VerifyRequest,
    document: Option<&[u8]>,
) -> Result<Verification, AppError> {
    let given = [&req.qr, &req.token, &req.credential, &req.id]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given != 1 {
        return Err(AppError::BadRequest(
            "give exactly one of qr, token, credential, id".into(),
        ));
    }
    Ok(if let Some(q) = req.qr {
        verification::verify_qr(app, &q, document).await
    } else if let Some(t) = req.token {
        verification::verify_token(app, &t, None, document).await
    } else if let Some(c) = req.credential {
        verification::vc::verify_vc(app, &c).await
    } else {
        let id = req.id.unwrap_or_default();
        match CredentialId::parse(id.trim()) {
            Ok(id) => verification::verify_id(app, &id, document).await,
            Err(_) => Verification {
                outcome: verification::Outcome::NotFound,
                reason: Some("not a credential id".into()),
                credential: None,
                checks: vec![],
            },
        }
    })
}

/// Verify a scanned QR, a token, a full credential or an id (JSON). This URL also takes
/// the bodies documented at `POST /api/v1/verify/upload` (multipart with a document or a
/// photo, or a bare PNG/JPEG photo of the QR); they are documented there, one operation a
/// body kind, because common client generators cannot build one call with several bodies.
#[utoipa::path(post, path = "/api/v1/verify", tag = "verify",
    request_body(content((VerifyRequest = "application/json"))),
    responses((status = 200, body = Verification), (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
pub async fn verify(State(app): State<Arc<App>>, req: Request) -> Result<Response, AppError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let is = |media: &str| starts_with_ignore_case(ct, media);
    if is("application/json") {
        let body = axum::Json::<VerifyRequest>::from_request(req, &app)
            .await
            .map_err(json_rejection)?;
        return counted(&app, verify_one(&app, body.0, None).await?);
    }
    if is("multipart/form-data") {
        let mp = Multipart::from_request(req, &app)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        let (mut f, file) = read_form(mp, &["file", "image"], MAX_VERIFY_FILE_BYTES).await?;
        let mut document = None;
        if let Some((name, bytes, _)) = file {
            if name == "image" {
                let text = super::blocking::image_work(move || qr::decode_image(&bytes))
                    .await?
                    .map_err(AppError::BadRequest)?;
                f.insert("qr".into(), text);
            } else {
                document = Some(bytes);
            }
        }
        let vr = VerifyRequest {
            qr: f.remove("qr"),
            token: f.remove("token"),
            credential: f.remove("credential"),
            id: f.remove("id"),
        };
        return counted(&app, verify_one(&app, vr, document.as_deref()).await?);
    }
    if is("image/png") || is("image/jpeg") {
        let bytes = Bytes::from_request(req, &app).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::FileTooLarge(MAX_VERIFY_FILE_BYTES)
            } else {
                AppError::BadRequest(e.body_text())
            }
        })?;
        if bytes.len() > MAX_VERIFY_FILE_BYTES {
            return Err(AppError::FileTooLarge(MAX_VERIFY_FILE_BYTES));
        }
        let text = super::blocking::image_work(move || qr::decode_image(&bytes))
            .await?
            .map_err(AppError::BadRequest)?;
        return counted(&app, verification::verify_qr(&app, &text, None).await);
    }
    Err(AppError::UnsupportedMedia(
        "send application/json, multipart/form-data, image/png or image/jpeg".into(),
    ))
}

/// Whether `s` starts with `prefix`, ASCII case ignored (media types are case-insensitive),
/// without lowercasing a copy of `s` on every request.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Room for a verification answer (a scanned digital ID's is about 700 bytes, a document
/// certificate's more), so the JSON is written into one allocation instead of growing from
/// axum's 128 bytes by doubling.
const ANSWER_CAPACITY: usize = 1024;

/// Count a public verification by outcome (no id, no personal data) and answer it.
fn counted(app: &App, v: Verification) -> Result<Response, AppError> {
    app.metrics
        .verification("public", "public", v.outcome.as_str());
    let mut body = Vec::with_capacity(ANSWER_CAPACITY);
    crate::verification::write_answer(&v, &mut body);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Verify with a file: multipart with a document to compare with a certificate's signed
/// digest or a photo of the QR (`image`), or a bare PNG/JPEG photo of the QR. The same
/// handler as `POST /api/v1/verify`.
#[utoipa::path(post, path = "/api/v1/verify/upload", tag = "verify",
    request_body(content((VerifyUpload = "multipart/form-data"), (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"))),
    responses((status = 200, body = Verification), (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
pub async fn verify_upload(state: State<Arc<App>>, req: Request) -> Result<Response, AppError> {
    verify(state, req).await
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.starts_with("text/html"))
}

/// The live record behind a QR: HTML (Arabic first) or, with `Accept: application/json`,
/// the public fields only.
#[utoipa::path(get, path = "/v/{id}", tag = "public",
    params(("id" = String, Path, description = "credential id")),
    responses((status = 200, body = PublicCredential, content_type = "application/json"),
              (status = 200, description = "HTML page", content_type = "text/html"),
              (status = 404, body = Problem)))]
pub async fn live_record(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let json = wants_json(&headers);
    let found = match CredentialId::parse(&id) {
        Err(_) => None,
        Ok(id) => match app.store.get_credential(id.as_str()).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let public = match &found {
        Some(c) => verification::public_from_row_synced(&app, c).await,
        None => None,
    };
    // Opening the live record (a phone camera on the QR) is a public verification too.
    let outcome = match &public {
        Some(p) => match p.status {
            crate::domain::CredentialStatus::Active => "valid",
            s => s.as_str(),
        },
        None => "not_found",
    };
    app.metrics.verification("public", "public", outcome);
    let base = app.config.public_base();
    let mut res = match (public, json) {
        (Some(p), true) => Json(p).into_response(),
        (None, true) => return Err(AppError::NotFound("credential")),
        (Some(p), false) => {
            let html = pages::render(
                "record.html",
                base,
                serde_json::json!({
                    "issued_date": pages::date(found.as_ref().map_or(0, |c| c.issued_at)),
                    "status_date": pages::date(found.as_ref().map_or(0, |c| c.status_changed_at)),
                    "c": p,
                }),
            )
            .map_err(|e| anyhow::anyhow!("rendering record.html: {e}"))?;
            Html(html).into_response()
        }
        (None, false) => {
            let html = pages::render("not_found.html", base, serde_json::json!({}))
                .map_err(|e| anyhow::anyhow!("rendering not_found.html: {e}"))?;
            (StatusCode::NOT_FOUND, Html(html)).into_response()
        }
    };
    // Status is live: caches may keep it only briefly.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(res)
}

/// QR options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// `1` for a reference-only QR (URL without token) for tiny prints.
    #[serde(rename = "ref")]
    pub reference: Option<u8>,
    /// Error-correction level: L, M (default), Q or H.
    pub ec: Option<String>,
    /// Pixels per module for PNG (2-20, default 8).
    pub px: Option<u32>,
}

fn qr_code(app: &App, id: &str, q: &QrQuery, token: &str) -> Result<qrcode::QrCode, AppError> {
    let ec = match q.ec.as_deref().unwrap_or("M") {
        "L" | "l" => qrcode::EcLevel::L,
        "M" | "m" => qrcode::EcLevel::M,
        "Q" | "q" => qrcode::EcLevel::Q,
        "H" | "h" => qrcode::EcLevel::H,
        _ => return Err(crate::domain::Invalid::new("ec", "must be L, M, Q or H").into()),
    };
    let base = app.config.public_base();
    let text = if q.reference == Some(1) {
        issuance::qr_reference(base, id)
    } else {
        issuance::qr_text(base, id, token)
    };
    qr::encode(&text, ec).map_err(|e| AppError::Internal(e.into()))
}

async fn qr_image(app: Arc<App>, id: String, q: QrQuery, svg: bool) -> Result<Response, AppError> {
    let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
    let px = q.px.unwrap_or(8);
    if !(2..=20).contains(&px) {
        return Err(crate::domain::Invalid::new("px", "must be 2 to 20").into());
    }
    // Only the default variants are cached; any other `ec` or `px` (with or without
    // `ref=1`) is rendered as asked.
    let variant: &'static str = match (svg, q.reference == Some(1), q.ec.as_deref().unwrap_or("M"))
    {
        (true, true, "M" | "m") => "svg-ref",
        (true, false, "M" | "m") => "svg",
        (false, true, "M" | "m") if px == 8 => "png-ref",
        (false, false, "M" | "m") if px == 8 => "png",
        _ => "",
    };
    let make = |token: &str| -> Result<Vec<u8>, AppError> {
        let code = qr_code(&app, id.as_str(), &q, token)?;
        Ok(if svg {
            qr::svg(&code).into_bytes()
        } else {
            qr::png(&code, px)
        })
    };
    let cached = if variant.is_empty() {
        None
    } else {
        app.qr_cached_get(id.as_str(), variant)
    };
    let bytes = match cached {
        Some(b) => b,
        None => {
            let c = match app.store.get_credential(id.as_str()).await {
                Ok(c) => c,
                Err(StoreError::NotFound) => return Err(AppError::NotFound("credential")),
                Err(e) => return Err(e.into()),
            };
            let b = Arc::new(make(&c.token)?);
            if !variant.is_empty() {
                app.qr_cache_put(id.as_str(), variant, b.clone());
            }
            b
        }
    };
    let ct = if svg { "image/svg+xml" } else { "image/png" };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
            // A credential's QR never changes.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        bytes.as_ref().clone(),
    )
        .into_response())
}

/// The credential's QR code as PNG.
#[utoipa::path(get, path = "/v/{id}/qr.png", tag = "public",
    params(("id" = String, Path, description = "credential id"), QrQuery),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn qr_png(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<QrQuery>,
) -> Result<Response, AppError> {
    qr_image(app, id, q, false).await
}

/// The credential's QR code as SVG (white background).
#[utoipa::path(get, path = "/v/{id}/qr.svg", tag = "public",
    params(("id" = String, Path, description = "credential id"), QrQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = Problem)))]
pub async fn qr_svg(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<QrQuery>,
) -> Result<Response, AppError> {
    qr_image(app, id, q, true).await
}

/// Every public key that can still verify (active and retired), as a JWK Set.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK Set", body = Object)))]
pub async fn jwks(State(app): State<Arc<App>>) -> Response {
    let mut res = Json(app.keys.jwks()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    res
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers and a signing key is loaded.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Object), (status = 503, body = Problem)))]
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<serde_json::Value>, Response> {
    let db = app.store.ping().await.is_ok();
    let keys = !app.keys.verifying_keys().is_empty();
    let verifier =
        crate::assets::verifier_file(app.config.verifier_dir.as_deref(), "index.html").is_some();
    if db && keys && verifier {
        Ok(Json(
            serde_json::json!({"status": "ready", "database": "ok", "keys": "ok", "verifier": "ok"}),
        ))
    } else {
        Err(crate::error::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            Some(format!(
                "database {}, keys {}, verifier app {}",
                if db { "ok" } else { "unreachable" },
                if keys { "ok" } else { "not loaded" },
                if verifier { "ok" } else { "missing" }
            )),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_prefixes_ignore_ascii_case() {
        assert!(starts_with_ignore_case(
            "Application/JSON; charset=utf-8",
            "application/json"
        ));
        assert!(starts_with_ignore_case("image/png", "image/png"));
        assert!(!starts_with_ignore_case("image/pn", "image/png"));
        assert!(!starts_with_ignore_case("", "image/png"));
        assert!(!starts_with_ignore_case("text/json", "application/json"));
        // A multi-byte character where the prefix would end is no match, and no panic.
        assert!(!starts_with_ignore_case("image/pnä", "image/png"));
        assert!(!starts_with_ignore_case("ä", "a"));
    }
}
