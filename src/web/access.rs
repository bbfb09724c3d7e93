//! Access management over HTTP: sign-in and sign-out for API clients of the console
//! session, and the admin's users, API tokens and agency settings.

use super::extract::{ApiJson, ClientAddr, SESSION_COOKIE};
use crate::app::{App, SCOPES, create_api_token_owned};
use crate::auth::{self, LoginError, Principal, Role, Scope, Via};
use crate::domain::rfc3339;
use crate::error::{AppError, Problem};
use crate::storage::StoreError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The `Set-Cookie` value of a new session (HttpOnly, SameSite=Strict, Secure on https).
pub fn session_cookie(app: &App, secret: &str) -> Result<HeaderValue, AppError> {
    let secure = if app.config.public_base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        auth::SESSION_MAX_SECS
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("sanad_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Map a sign-in failure to a problem (one message for wrong name and wrong password).
pub fn login_problem(e: LoginError) -> AppError {
    match e {
        LoginError::BadCredentials => AppError::Unauthorized,
        LoginError::Locked { retry_after } => AppError::TooManyRequests {
            retry_after: retry_after.max(1) as u64,
            detail: "too many failed sign-ins; try again later".into(),
        },
        LoginError::Store(e) => e.into(),
        LoginError::Internal(e) => AppError::Internal(e),
    }
}

/// Sign-in request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Who is signed in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionOut {
    /// Audit id (`user:…` or `token:…`).
    pub id: String,
    /// Role.
    pub role: Role,
    /// Agency (none for admins).
    pub agency: Option<String>,
    /// Permissions.
    pub scopes: Vec<String>,
    /// The CSRF token to send as `X-CSRF-Token` with unsafe requests (sessions only).
    pub csrf_token: Option<String>,
    /// The signed-in user's name, for showing who is signed in (sessions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

fn session_out(p: &Principal) -> SessionOut {
    SessionOut {
        id: p.id.clone(),
        role: p.role,
        agency: p.agency.as_ref().map(ToString::to_string),
        scopes: p.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        csrf_token: match &p.via {
            Via::Session { csrf_token, .. } => Some(csrf_token.clone()),
            Via::Token => None,
        },
        username: None,
    }
}

/// Sign in: sets the session cookie and returns the CSRF token. Repeated failures make
/// this account-and-address, or this address, wait (doubling, up to 15 minutes), and the
/// account wait at most 30 s from addresses it has not signed in from (429).
#[utoipa::path(post, path = "/api/v1/session", tag = "access", request_body = LoginRequest,
    responses((status = 200, body = SessionOut), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(app): State<Arc<App>>,
    addr: ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    let s = auth::login(&app, &req.username, &req.password, &addr.0)
        .await
        .map_err(login_problem)?;
    let p = Principal::of_user(
        &s.user,
        Via::Session {
            id_hash: String::new(),
            csrf_token: s.csrf_token.clone(),
        },
    )?;
    let mut out = session_out(&p);
    out.username = Some(s.user.username.clone());
    let mut res = Json(out).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&app, &s.secret)?);
    Ok(res)
}

/// Who am I: the principal of the session or token.
#[utoipa::path(get, path = "/api/v1/session", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = SessionOut), (status = 401, body = Problem)))]
pub async fn whoami(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<SessionOut>, AppError> {
    let mut out = session_out(&auth);
    if let Via::Session { .. } = auth.via {
        out.username = Some(app.store.get_user(&auth.subject).await?.username);
    }
    Ok(Json(out))
}

/// Sign out (ends the session server-side).
#[utoipa::path(delete, path = "/api/v1/session", tag = "access",
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(State(app): State<Arc<App>>, auth: Principal) -> Result<Response, AppError> {
    auth::logout(&app, &auth).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    Ok(res)
}

/// A user as the admin sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    /// Id.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Agency.
    pub agency: Option<String>,
    /// Created.
    pub created_at: String,
    /// Disabled.
    pub disabled_at: Option<String>,
}

impl From<crate::storage::UserRow> for UserOut {
    fn from(u: crate::storage::UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            role: u.role,
            agency: u.agency_code,
            created_at: rfc3339(u.created_at),
            disabled_at: u.disabled_at.map(rfc3339),
        }
    }
}

/// List users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserOut>), (status = 403, body = Problem)))]
pub async fn list_users(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<Vec<UserOut>>, AppError> {
    auth.require_global(Scope::Admin)?;
    Ok(Json(
        app.store
            .list_users()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Sign-in name.
    pub username: String,
    /// `admin`, `registrar`, `approver` or `officer`.
    pub role: String,
    /// Agency (not for admins).
    pub agency: Option<String>,
    /// Initial password (at least 10 characters).
    pub password: String,
}

/// Add a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "access", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = UserOut), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(u): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserOut>), AppError> {
    auth.require_global(Scope::Admin)?;
    let role = Role::parse_user(&u.role)
        .ok_or_else(|| crate::domain::Invalid::new("role", "unknown role"))?;
    let row = auth::add_user(
        &app.store,
        &u.username,
        role,
        u.agency.as_deref(),
        &u.password,
        &auth.id,
    )
    .await
    .map_err(|e| match e.downcast::<StoreError>() {
        Ok(s) => AppError::from(s),
        Err(e) => crate::domain::Invalid::new("user", e.to_string()).into(),
    })?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Disable a user and end their sessions (admin).
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "access",
    params(("id" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn disable_user(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    auth.require_global(Scope::Admin)?;
    app.store
        .disable_user(&id, &auth.id)
        .await
        .map_err(AppError::not_found("user"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API token's metadata (never its secret or hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenOut {
    /// Id.
    pub id: String,
    /// Agency.
    pub agency: Option<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Label.
    pub label: String,
    /// Owner: a user's audit id, or `cli`.
    pub owner: String,
    /// Created.
    pub created_at: String,
    /// Last used (to the minute).
    pub last_used_at: Option<String>,
    /// Revoked.
    pub revoked_at: Option<String>,
}

/// List API tokens (admin).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenOut>), (status = 403, body = Problem)))]
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<Vec<TokenOut>>, AppError> {
    auth.require_global(Scope::Admin)?;
    Ok(Json(
        app.store
            .list_api_tokens()
            .await?
            .into_iter()
            .map(|t| TokenOut {
                id: t.id,
                agency: t.agency_code,
                scopes: t.scopes.split(',').map(str::to_owned).collect(),
                label: t.label,
                owner: t.owner,
                created_at: rfc3339(t.created_at),
                last_used_at: t.last_used_at.map(rfc3339),
                revoked_at: t.revoked_at.map(rfc3339),
            })
            .collect(),
    ))
}

/// A new API token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Agency the token acts for.
    pub agency: String,
    /// Scopes: `issue`, `revoke`, `read`.
    pub scopes: Vec<String>,
    /// Label.
    #[serde(default)]
    pub label: String,
}

/// A created token: the secret is shown only now.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// Id (for revocation).
    pub id: String,
    /// The bearer secret.
    pub token: String,
}

/// Create an API token (admin); the admin becomes its owner.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = NewToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(t): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    auth.require_global(Scope::Admin)?;
    if let Some(s) = t.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(crate::domain::Invalid::new("scopes", format!("unknown scope {s:?}")).into());
    }
    let (id, token) = create_api_token_owned(&app.store, &t.agency, &t.scopes, &t.label, &auth.id)
        .await
        .map_err(|e| crate::domain::Invalid::new("token", e.to_string()))?;
    Ok((StatusCode::CREATED, Json(CreatedToken { id, token })))
}

/// Revoke an API token (admin).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "access",
    params(("id" = String, Path, description = "token id")), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    auth.require_global(Scope::Admin)?;
    app.store
        .revoke_api_token(&id, &auth.id)
        .await
        .map_err(AppError::not_found("token"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agency's settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencySettings {
    /// Revocations and re-issues need a second person (maker-checker).
    pub requires_approval: bool,
}

/// Change an agency's settings (admin).
#[utoipa::path(put, path = "/api/v1/agencies/{code}/settings", tag = "access", request_body = AgencySettings,
    params(("code" = String, Path, description = "agency code")), security(("bearer" = [])),
    responses((status = 200, body = AgencySettings), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn agency_settings(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(code): Path<String>,
    ApiJson(s): ApiJson<AgencySettings>,
) -> Result<Json<AgencySettings>, AppError> {
    auth.require_global(Scope::Admin)?;
    app.store
        .set_requires_approval(&code, s.requires_approval, &auth.id)
        .await
        .map_err(AppError::not_found("agency"))?;
    Ok(Json(s))
}
