//! The one error type of the HTTP layer, answered as `application/problem+json` (RFC 9457).
//! Internal errors are logged once, here, and answered with a generic message: no SQL, path
//! or key material ever reaches a caller.

use crate::domain::Invalid;
use crate::storage::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered to an HTTP caller.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed request (not JSON, wrong shape).
    #[error("{0}")]
    BadRequest(String),
    /// Caller JSON carries members only Sanad may set (reserved claims or types), named by
    /// their JSON paths. Refused, never stripped.
    #[error("reserved member(s) a caller may not set: {}", .0.join(", "))]
    Reserved(Vec<String>),
    /// Well-formed but invalid input.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No or bad credentials.
    #[error("authentication required")]
    Unauthorized,
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Conflicts with the current state (e.g. an illegal status transition).
    #[error("{0}")]
    Conflict(String),
    /// Body over the limit.
    #[error("request body too large")]
    TooLarge,
    /// An uploaded file over its limit (in bytes).
    #[error("the file is larger than the limit of {0} bytes ({mib} MiB)", mib = .0 / (1024 * 1024))]
    FileTooLarge(usize),
    /// Unsupported content type.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// Rate limited or locked out; retry after this many seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: u64,
        /// What to tell the caller.
        detail: String,
    },
    /// A bug or an outage; details are logged, not returned.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Internal(other.into()),
        }
    }
}

impl AppError {
    /// Map a storage error, naming what was not found (`.map_err(AppError::not_found("user"))`).
    pub fn not_found(what: &'static str) -> impl Fn(StoreError) -> Self {
        move |e| match e {
            StoreError::NotFound => Self::NotFound(what),
            other => other.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::Reserved(_) => (StatusCode::BAD_REQUEST, "reserved-member"),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-input"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge | Self::FileTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            Self::UnsupportedMedia(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
            }
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too-many-requests"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:sanad:problem:…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The rejected field, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Build a problem response (also used by the fallback and the body-limit mapper).
pub fn problem(
    status: StatusCode,
    slug: &str,
    detail: Option<String>,
    field: Option<String>,
) -> Response {
    let body = Problem {
        kind: format!("urn:sanad:problem:{slug}"),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        status: status.as_u16(),
        detail,
        field,
    };
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, slug) = self.parts();
        let (detail, field) = match &self {
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (Some("internal error; it has been logged".to_owned()), None)
            }
            Self::Invalid(i) => (Some(i.message.clone()), Some(i.field.to_owned())),
            Self::Reserved(m) => (Some(self.to_string()), m.first().cloned()),
            other => (Some(other.to_string()), None),
        };
        let mut res = problem(status, slug, detail, field);
        if matches!(self, Self::Unauthorized) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::TooManyRequests { retry_after, .. } = &self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        res
    }
}
