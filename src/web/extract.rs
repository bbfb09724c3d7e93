//! Extractors whose rejections are problem+json, and bearer-token authentication.

use crate::app::{App, hash_token};
use crate::domain::AgencyCode;
use crate::error::AppError;
use crate::issuance::Actor;
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

/// An authenticated API caller: an agency-bound token with scopes.
#[derive(Debug, Clone)]
pub struct Auth {
    /// Who, for the audit log; which agency.
    pub actor: Actor,
    scopes: Vec<String>,
}

impl Auth {
    /// Fail with 403 unless the token has `scope`.
    pub fn require(&self, scope: &str) -> Result<&Actor, AppError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(&self.actor)
        } else {
            Err(AppError::Forbidden(format!(
                "this token lacks the '{scope}' scope"
            )))
        }
    }
}

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
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
            .and_then(|a| AgencyCode::parse(a).ok())
            .ok_or_else(|| AppError::Forbidden("this token is not bound to an agency".into()))?;
        Ok(Self {
            actor: Actor {
                id: format!("token:{}", row.id),
                agency,
            },
            scopes: row.scopes.split(',').map(str::to_owned).collect(),
        })
    }
}
