//! HTTP: one router built from per-feature route sets, with the OpenAPI description
//! generated from the same handler annotations (so the document cannot drift from the code).

pub mod access;
pub mod api;
pub mod approvals;
pub mod audit;
pub mod blocking;
pub mod client;
pub mod console;
pub mod events;
pub mod extract;
pub mod holder;
pub mod ops;
pub mod photo;
pub mod printables;
pub mod public;
pub mod ratelimit;
pub mod server;
pub mod standards;

use crate::app::App;
use crate::error::problem;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;
use tower_http::set_header::SetResponseHeaderLayer;
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
        .routes(routes!(standards::trust_list))
        .routes(routes!(standards::credential_vc))
        .routes(routes!(standards::vcapi_issue))
        .routes(routes!(standards::vcapi_verify))
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
    let photos = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(photo::put_photo, photo::get_photo))
        .layer(DefaultBodyLimit::max(photo::MAX_PHOTO_BODY));
    let verify = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(public::verify))
        .layer(DefaultBodyLimit::max(public::MAX_VERIFY_BYTES));
    json_api
        .merge(uploads)
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

/// The complete application router.
pub fn router(app: Arc<App>) -> Router {
    let (routes, openapi) = routes();
    let openapi = Arc::new(openapi);
    let security_headers = [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
             media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    ];
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
        .nest_service(
            "/verifier",
            tower_http::services::ServeDir::new(&app.config.verifier_dir)
                .append_index_html_on_directories(true)
                .not_found_service(axum::routing::any(not_found)),
        )
        .fallback(console::fallback)
        .method_not_allowed_fallback(console::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ops::count_requests,
        ))
        .with_state(app);
    for (name, value) in security_headers {
        r = r.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    // Anything that can carry personal data (the API under /api/v1 — full credentials,
    // persons, photos, audit — the VC-API issuer and the console) is never stored by a
    // shared or a browser cache. Only the public verification answer is left alone.
    r = r.layer(axum::middleware::from_fn(
        |req: axum::extract::Request, next: axum::middleware::Next| async move {
            let path = req.uri().path();
            // `/api/v1/session` (the caller's own role and CSRF token) is left out: with
            // `no-store` on it, headless Chromium never reports the verifier app's session
            // fetch as finished (seen in tests/e2e), and it holds no personal data.
            let private = (path.starts_with("/api/v1/")
                && path != "/api/v1/verify"
                && path != "/api/v1/session")
                || path.starts_with("/console")
                || path == "/credentials/issue";
            let mut res = next.run(req).await;
            if private {
                res.headers_mut().insert(
                    axum::http::header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                );
            }
            res
        },
    ));
    if let Some(l) = limiter {
        let trusted = Arc::new(client::TrustedProxies::parse(&trusted_list));
        r = r.layer(axum::middleware::from_fn(move |req, next| {
            ratelimit::middleware(l.clone(), trusted.clone(), req, next)
        }));
    }
    // `/verifier` → `/verifier/`, so the app's relative URLs and its service worker's scope
    // work however the address was typed.
    r = r.layer(axum::middleware::from_fn(
        |req: axum::extract::Request, next: axum::middleware::Next| async move {
            if req.uri().path() == "/verifier" {
                return axum::response::Redirect::permanent("/verifier/").into_response();
            }
            next.run(req).await
        },
    ));
    r.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ))
}
