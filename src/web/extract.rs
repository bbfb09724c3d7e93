//! Extractors whose rejections are problem+json, and authentication: API tokens and console
//! sessions both become an [`auth::Principal`].

use crate::app::{App, hash_token};
use crate::auth::{self, Principal, Role, Scope, Via};
use crate::domain::AgencyCode;
use crate::error::AppError;
use crate::storage::StoreError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// `axum::Json` with RFC 9457 rejections: 415 without a JSON content type, 400 for bad
/// syntax, 422 for the wrong shape, 413 over the body limit.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

/// `axum::extract::Query` with a problem+json rejection (400).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| AppError::BadRequest(e.body_text()))
    }
}

/// `axum::Form` with a problem+json rejection (a console form that does not parse).
pub struct FormData<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormData<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Self(v)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::TooLarge),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

pub(crate) fn json_rejection(e: JsonRejection) -> AppError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            AppError::UnsupportedMedia("expected Content-Type: application/json".into())
        }
        StatusCode::UNPROCESSABLE_ENTITY => crate::domain::Invalid {
            field: "body",
            message: e.body_text(),
        }
        .into(),
        _ => AppError::BadRequest(e.body_text()),
    }
}

/// Name of the console session cookie.
pub const SESSION_COOKIE: &str = "sanad_session";
/// Header carrying the session's CSRF token on unsafe API requests made with a cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compare secrets without an early exit.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The client's address as the socket saw it (`unknown` in in-process tests). Proxies'
/// forwarding headers are not trusted: they are trivially forged.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    /// The real client address (the forwarded one behind a trusted proxy), or `unknown`.
    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let trusted = super::client::TrustedProxies::parse(&app.config.trusted_proxies);
        Ok(Self(
            super::client::real_client(client_ip(parts), &parts.headers, &trusted)
                .map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        ))
    }
}

/// The peer IP from axum's connect info, when served with it.
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Authenticate the caller: a bearer API token, or a console session cookie. Unsafe
/// methods with a cookie must also carry the session's CSRF token in `X-CSRF-Token`.
impl FromRequestParts<Arc<App>> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.strip_prefix("Bearer ")
                    .map(str::trim)
                    .ok_or(AppError::Unauthorized)
            });
        let p = match bearer {
            Some(raw) => token_principal(app, raw?).await?,
            None => {
                let secret =
                    cookie(&parts.headers, SESSION_COOKIE).ok_or(AppError::Unauthorized)?;
                let p = auth::session_principal(app, secret).await?;
                if !parts.method.is_safe()
                    && let Via::Session { csrf_token, .. } = &p.via
                {
                    let sent = parts
                        .headers
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if !same_secret(sent, csrf_token) {
                        return Err(AppError::Forbidden(
                            "missing or wrong X-CSRF-Token for this session".into(),
                        ));
                    }
                }
                p
            }
        };
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

async fn token_principal(app: &App, raw: &str) -> Result<Principal, AppError> {
    if raw.len() > 128 || !raw.starts_with("sanad_") {
        return Err(AppError::Unauthorized);
    }
    let row = match app.store.find_api_token(&hash_token(raw)).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let agency = row
        .agency_code
        .as_deref()
        .map(AgencyCode::parse)
        .transpose()?;
    Ok(Principal {
        id: format!("token:{}", row.id),
        subject: row.id,
        role: Role::System,
        agency,
        scopes: row
            .scopes
            .split(',')
            .filter_map(Scope::parse_token)
            .collect(),
        via: Via::Token,
    })
}
