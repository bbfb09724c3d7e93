//! HTTP: one router built from per-feature route sets, with the OpenAPI description
//! generated from the same handler annotations (so the document cannot drift from the code).

pub mod access;
pub mod api;
pub mod approvals;
pub mod audit;
pub mod blocking;
pub mod bulk;
pub mod client;
pub mod console;
pub mod events;
pub mod extract;
pub mod holder;
pub mod openapi;
pub mod ops;
pub mod photo;
pub mod printables;
pub mod public;
pub mod ratelimit;
pub mod server;
pub mod standards;
pub mod vcapi;

use crate::app::App;
use crate::error::problem;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Body limit of JSON API requests.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Sanad", description = "Signed digital IDs and document-authenticity certificates whose QR codes resolve to live records."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router and its OpenAPI document.
pub fn routes() -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    let json_api = OpenApiRouter::<Arc<App>>::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::create_person, api::list_persons))
        .routes(routes!(api::get_person, api::update_person))
        .routes(routes!(api::issue_credential, api::list_credentials))
        .routes(routes!(api::get_credential))
        .routes(routes!(api::suspend))
        .routes(routes!(api::reinstate))
        .routes(routes!(api::revoke))
        .routes(routes!(api::reissue))
        .routes(routes!(
            holder::post_holder_link,
            holder::get_holder_link,
            holder::delete_holder_link
        ))
        .routes(routes!(api::officer_view))
        .routes(routes!(photo::officer_photo))
        .routes(routes!(access::login, access::whoami, access::logout))
        .routes(routes!(access::list_users, access::create_user))
        .routes(routes!(access::disable_user))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(access::agency_settings))
        .routes(routes!(approvals::list))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::reject))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(audit::proof))
        .routes(routes!(public::live_record))
        .routes(routes!(public::qr_png))
        .routes(routes!(public::qr_svg))
        .routes(routes!(public::jwks))
        .routes(routes!(public::healthz))
        .routes(routes!(public::readyz))
        .routes(routes!(standards::status_ietf))
        .routes(routes!(standards::status_w3c))
        .routes(routes!(standards::agency_status_w3c))
        .routes(routes!(standards::agency_issuer))
        .routes(routes!(standards::trust_list))
        .routes(routes!(standards::trust_list_schema))
        .routes(routes!(standards::credential_vc))
        .routes(routes!(standards::vcapi_issue))
        .routes(routes!(standards::vcapi_verify))
        .routes(routes!(vcapi::verify_presentation))
        .routes(routes!(events::pull))
        .routes(routes!(events::stream))
        .routes(routes!(events::watch, events::list_watches))
        .routes(routes!(events::grant, events::list_grants))
        .routes(routes!(events::create_webhook, events::list_webhooks))
        .routes(routes!(events::get_webhook))
        .routes(routes!(events::enable_webhook))
        .routes(routes!(events::deliveries))
        .routes(routes!(events::redeliver))
        .routes(routes!(events::put_contact))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    let uploads = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(api::issue_document_upload))
        .layer(DefaultBodyLimit::max(api::MAX_DOCUMENT_BYTES + 64 * 1024));
    // The bulk upload is streamed to a file and limited there (bulk::MAX_BULK_BYTES).
    let bulk_jobs = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(bulk::start))
        .routes(routes!(bulk::get))
        .routes(routes!(bulk::result))
        .layer(DefaultBodyLimit::disable());
    let photos = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(photo::put_photo, photo::get_photo))
        .layer(DefaultBodyLimit::max(photo::MAX_PHOTO_BODY));
    let verify = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(public::verify))
        .routes(routes!(public::verify_upload))
        .layer(DefaultBodyLimit::max(public::MAX_VERIFY_BYTES));
    json_api
        .merge(uploads)
        .merge(bulk_jobs)
        .merge(photos)
        .merge(verify)
        .split_for_parts()
}

async fn not_found() -> axum::response::Response {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        Some("no such endpoint".into()),
        None,
    )
}

/// Whether `path` is a public read endpoint that browser apps of other agencies may call
/// (keys, trust list, status lists, issuer documents, live records, verification).
pub fn is_cors_public(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "/.well-known/jwks.json",
        "/.well-known/sanad-trust-list",
        "/.well-known/sanad-trust-list.schema.json",
        "/api/v1/verify",
        "/api/v1/verify/upload",
        "/credentials/verify",
        "/presentations/verify",
    ];
    EXACT.contains(&path)
        || ["/status/", "/agencies/", "/v/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// CORS for the public read endpoints only: any origin, no credentials (cookies never
/// travel cross-origin, so the console and the registrar API stay same-origin).
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(|_, parts| {
            is_cors_public(parts.uri.path())
        }))
        .allow_methods([Method::GET, Method::HEAD, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT, header::IF_NONE_MATCH])
        .expose_headers([header::ETAG, header::CACHE_CONTROL])
        .max_age(Duration::from_secs(3600))
}

/// A file of the verifier web app (built in, see `crate::assets`); a folder answers its
/// `index.html`.
async fn verifier_asset(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    let rel = uri.path().strip_prefix("/verifier/").unwrap_or_default();
    let rel = match percent_decode(rel) {
        Some(r) => r,
        None => return not_found().await,
    };
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel
    };
    match crate::assets::verifier_file(app.config.verifier_dir.as_deref(), &rel) {
        Some(bytes) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    crate::assets::content_type(&rel),
                ),
                // Small files; the app's service worker does the offline caching.
                (axum::http::header::CACHE_CONTROL, "no-cache"),
            ],
            bytes.into_owned(),
        )
            .into_response(),
        None => not_found().await,
    }
}

/// `%XX` escapes decoded; `None` for malformed escapes or non-UTF-8 results.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Headers every page and answer carries unless its handler set its own.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
         media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
];

/// Whether a path's answers can carry personal data (the API under /api/v1 — full
/// credentials, persons, photos, audit — the VC-API issuer and the console): never stored
/// by a shared or a browser cache. The public verification answer is left alone, and so is
/// `/api/v1/session` (the caller's own role and CSRF token: with `no-store` on it, headless
/// Chromium never reports the verifier app's session fetch as finished, seen in tests/e2e;
/// it holds no personal data).
fn is_private(path: &str) -> bool {
    (path.starts_with("/api/v1/") && path != "/api/v1/verify" && path != "/api/v1/session")
        || path.starts_with("/console")
        || path == "/credentials/issue"
}

/// What every request gets, in one middleware rather than a layer each (each `from_fn`
/// layer clones the whole stack inside it on every request, and a verify request is a few
/// µs of work above the HTTP floor):
/// - `/verifier` → `/verifier/`, so the app's relative URLs and its service worker's scope
///   work however the address was typed (not counted, no headers added, as before);
/// - the request counted by matched route, method and status, with its latency
///   ([`ops::count_requests`]);
/// - `cache-control: private, no-store` where [`is_private`];
/// - the [`SECURITY_HEADERS`] a handler did not set.
async fn every_response(
    state: axum::extract::State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    if path == "/verifier" {
        return axum::response::Redirect::permanent("/verifier/").into_response();
    }
    let private = is_private(path);
    let mut res = ops::count_requests(state, req, next).await;
    let headers = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
    }
    if private {
        headers.insert(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    res
}

/// The complete application router.
pub fn router(app: Arc<App>) -> Router {
    let (routes, openapi) = routes();
    let openapi = Arc::new(openapi::finish(&openapi));
    let limiter = ratelimit::RateLimiter::new(app.config.rate_limit);
    let trusted_list = app.config.trusted_proxies.clone();
    let mut r = routes
        .merge(console::routes().layer(DefaultBodyLimit::max(MAX_JSON_BYTES)))
        .merge(holder::routes().layer(DefaultBodyLimit::max(MAX_JSON_BYTES)))
        .merge(printables::routes())
        .route("/assets/record.js", axum::routing::get(holder::record_js))
        .route("/metrics", axum::routing::get(ops::metrics))
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/verifier/", axum::routing::get(verifier_asset))
        .route("/verifier/{*path}", axum::routing::get(verifier_asset))
        .fallback(console::fallback)
        .method_not_allowed_fallback(console::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            every_response,
        ))
        .with_state(app);
    if let Some(l) = limiter {
        let trusted = Arc::new(client::TrustedProxies::parse(&trusted_list));
        r = r.layer(axum::middleware::from_fn(move |req, next| {
            ratelimit::middleware(l.clone(), trusted.clone(), req, next)
        }));
    }
    r = r.layer(cors());
    r.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ))
}
