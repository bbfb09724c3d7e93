//! The server-rendered console: sign-in, persons, credentials with lifecycle actions,
//! pending approvals, the officer's full-record view and the audit log. Plain HTML forms,
//! Arabic first with English beside.
//!
//! Every form carries a CSRF token: the session's synchronizer token once signed in, and a
//! double-submit cookie on the sign-in form itself (there is no session yet to tie it to).
//! The console calls the same capabilities and the same authorization as the JSON API.

use super::access::{clear_cookie, session_cookie};
use super::api::{ApprovalOut, credential_out};
use super::extract::{ApiQuery, ClientAddr, FormData, SESSION_COOKIE, cookie, same_secret};
use crate::app::App;
use crate::approval::{self, Gated};
use crate::auth::{self, LoginError, Principal, Scope, Via};
use crate::domain::{CredentialId, ReasonCode, StatusAction, random_base32};
use crate::error::AppError;
use crate::issuance;
use crate::render::pages;
use crate::storage::CredentialFilter;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const LOGIN_CSRF_COOKIE: &str = "sanad_login_csrf";

const REASONS: &[&str] = &[
    "data_changed",
    "lost",
    "stolen",
    "deceased",
    "fraud",
    "eligibility_ended",
    "under_review",
    "issued_in_error",
    "review_cleared",
    "other",
];

/// The console's routes (not part of the OpenAPI document: they answer HTML).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/persons", get(persons).post(search_persons))
        .route("/console/credentials", get(credentials))
        .route("/console/credentials/{id}/action", post(credential_action))
        .route("/console/approvals", get(approvals))
        .route("/console/approvals/{id}", post(decide))
        .route("/console/officer", get(officer))
        .route("/console/audit", get(audit))
}

#[derive(Serialize)]
struct Who {
    id: String,
    role: &'static str,
    agency: Option<String>,
    read: bool,
    officer: bool,
    admin: bool,
}

/// A signed-in console user, or a redirect to the sign-in page.
pub(super) struct Console {
    pub(super) p: Principal,
    pub(super) csrf: String,
}

impl Console {
    pub(super) async fn from(app: &App, headers: &HeaderMap) -> Result<Self, Response> {
        let to_login = || Redirect::to("/console/login").into_response();
        let secret = cookie(headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let p = match auth::session_principal(app, secret).await {
            Ok(p) => p,
            Err(AppError::Unauthorized) => return Err(to_login()),
            Err(e) => return Err(e.into_response()),
        };
        let csrf = match &p.via {
            Via::Session { csrf_token, .. } => csrf_token.clone(),
            Via::Token => String::new(),
        };
        Ok(Self { p, csrf })
    }

    fn who(&self) -> Who {
        Who {
            id: self.p.id.clone(),
            role: self.p.role.as_str(),
            agency: self.p.agency.as_ref().map(ToString::to_string),
            read: self.p.scopes.contains(&Scope::Read),
            officer: self.p.scopes.contains(&Scope::OfficerView),
            admin: self.p.scopes.contains(&Scope::Admin),
        }
    }

    /// The signed-in session of a form post, whose CSRF token must be the session's.
    pub(super) async fn for_form(
        app: &App,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<Self, Response> {
        let c = Self::from(app, headers).await?;
        c.check(csrf).map_err(IntoResponse::into_response)?;
        Ok(c)
    }

    /// Refuse a form whose CSRF token is not this session's.
    fn check(&self, sent: &str) -> Result<(), AppError> {
        if same_secret(sent, &self.csrf) && !self.csrf.is_empty() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "the form's CSRF token is missing or wrong".into(),
            ))
        }
    }

    pub(super) fn page(&self, app: &App, name: &str, mut extra: serde_json::Value) -> Response {
        if let Some(m) = extra.as_object_mut() {
            m.insert("who".into(), serde_json::json!(self.who()));
            m.insert("csrf".into(), serde_json::json!(self.csrf));
        }
        render(app, name, extra)
    }
}

pub(super) fn render<S: Serialize>(app: &App, name: &str, ctx: S) -> Response {
    match pages::render(name, app.config.public_base(), ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => AppError::Internal(anyhow::anyhow!("template {name}: {e}")).into_response(),
    }
}

/// Messages and errors shown after a redirect.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Flash {
    msg: Option<String>,
    err: Option<String>,
}

fn flash(msg: Option<String>) -> Option<String> {
    // Only known message keys are shown (the value indexes the string tables).
    msg.filter(|m| ["done", "pending_sent"].contains(&m.as_str()))
}

fn back(to: &str, r: Result<&'static str, AppError>) -> Response {
    match r {
        Ok(msg) => Redirect::to(&format!("{to}?msg={msg}")).into_response(),
        Err(e) => {
            let text: String = e
                .to_string()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || " .,'-_:".contains(*c))
                .take(200)
                .collect();
            Redirect::to(&format!("{to}?err={}", text.replace(' ', "+"))).into_response()
        }
    }
}

async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let to = if c.p.scopes.contains(&Scope::Read) {
        "/console/credentials"
    } else if c.p.scopes.contains(&Scope::Admin) {
        "/console/audit"
    } else {
        "/console/officer"
    };
    Redirect::to(to).into_response()
}

async fn login_page(State(app): State<Arc<App>>) -> Response {
    login_form(&app, None, StatusCode::OK)
}

fn login_form(app: &App, failed: Option<&str>, status: StatusCode) -> Response {
    let token = random_base32(24);
    let mut res = render(
        app,
        "console_login.html",
        serde_json::json!({"login_csrf": &token, "failed": failed}),
    );
    *res.status_mut() = status;
    let secure = if app.config.public_base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={token}; Path=/console/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    )) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn login(
    State(app): State<Arc<App>>,
    addr: ClientAddr,
    headers: HeaderMap,
    FormData(f): FormData<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&f.csrf, expected) {
        return AppError::Forbidden("the sign-in form's CSRF token is missing or wrong".into())
            .into_response();
    }
    match auth::login(&app, &f.username, &f.password, &addr.0).await {
        Ok(s) => {
            let mut res = Redirect::to("/console").into_response();
            match session_cookie(&app, &s.secret) {
                Ok(v) => res.headers_mut().insert(header::SET_COOKIE, v),
                Err(e) => return e.into_response(),
            };
            res
        }
        Err(LoginError::BadCredentials) => {
            login_form(&app, Some("login_failed"), StatusCode::UNAUTHORIZED)
        }
        Err(LoginError::Locked { retry_after }) => {
            let mut res = login_form(&app, Some("login_locked"), StatusCode::TOO_MANY_REQUESTS);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            res
        }
        Err(LoginError::Store(e)) => AppError::from(e).into_response(),
        Err(LoginError::Internal(e)) => AppError::Internal(e).into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    FormData(f): FormData<CsrfForm>,
) -> Response {
    let c = match Console::for_form(&app, &headers, &f.csrf).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = auth::logout(&app, &c.p).await {
        return e.into_response();
    }
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    res
}

async fn persons(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    match Console::from(&app, &headers).await {
        Ok(c) => person_page(&app, &c, None, q).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct PersonSearch {
    csrf: String,
    national_id: String,
}

/// The search is a POST so the national ID number stays out of URLs (and so out of
/// browser history and proxy logs).
async fn search_persons(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    FormData(f): FormData<PersonSearch>,
) -> Response {
    let c = match Console::for_form(&app, &headers, &f.csrf).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    person_page(&app, &c, Some(f.national_id), Flash::default()).await
}

async fn person_page(app: &App, c: &Console, national_id: Option<String>, q: Flash) -> Response {
    let actor = match c.p.require(Scope::Read) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let nid = national_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let rows = match app
        .store
        .list_persons(actor.agency.as_str(), nid, 100)
        .await
    {
        Ok(r) => r,
        Err(e) => return AppError::from(e).into_response(),
    };
    let persons: Vec<super::api::PersonOut> = rows.into_iter().map(Into::into).collect();
    c.page(
        app,
        "console_persons.html",
        serde_json::json!({"persons": persons, "q": nid, "msg": flash(q.msg), "err": q.err}),
    )
}

#[derive(Deserialize)]
struct CredentialSearch {
    person_id: Option<String>,
    msg: Option<String>,
    err: Option<String>,
}

async fn credentials(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<CredentialSearch>,
) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let actor = match c.p.require(Scope::Read) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let filter = CredentialFilter {
        person_id: q
            .person_id
            .filter(|p| crate::domain::PersonId::parse(p).is_ok()),
        limit: 200,
        ..CredentialFilter::default()
    };
    let rows = match app
        .store
        .list_credentials(actor.agency.as_str(), &filter)
        .await
    {
        Ok(r) => r,
        Err(e) => return AppError::from(e).into_response(),
    };
    let creds: Vec<_> = rows.into_iter().map(|r| credential_out(&app, r)).collect();
    c.page(
        &app,
        "console_credentials.html",
        serde_json::json!({"credentials": creds, "reasons": REASONS, "msg": flash(q.msg), "err": q.err}),
    )
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    action: String,
    reason_code: String,
    reason_text: Option<String>,
}

async fn credential_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    FormData(f): FormData<ActionForm>,
) -> Response {
    let c = match Console::for_form(&app, &headers, &f.csrf).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let r = async {
        let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
        let code = ReasonCode::parse(&f.reason_code)?;
        let text = f
            .reason_text
            .map(|t| t.trim().chars().take(500).collect::<String>())
            .filter(|t| !t.is_empty());
        let (action, gated) = match f.action.as_str() {
            "suspend" => (Some(StatusAction::Suspend), None),
            "reinstate" => (Some(StatusAction::Reinstate), None),
            "revoke" => (Some(StatusAction::Revoke), Some(Gated::Revoke)),
            "reissue" => (None, Some(Gated::Reissue)),
            _ => return Err(crate::domain::Invalid::new("action", "unknown action").into()),
        };
        if let Some(g) = gated
            && approval::gate(&app, &c.p, &id, g, code, text.clone())
                .await?
                .is_some()
        {
            return Ok("pending_sent");
        }
        let actor = c.p.require(Scope::Revoke)?;
        match action {
            Some(a) => {
                issuance::change_status(&app, &actor, &id, a, code, text).await?;
            }
            None => {
                c.p.require(Scope::Issue)?;
                issuance::reissue(&app, &actor, &id, code, text, None).await?;
            }
        }
        Ok("done")
    }
    .await;
    back("/console/credentials", r)
}

async fn approvals(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let actor = match c.p.require(Scope::Read) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let rows = match app
        .store
        .list_approvals(actor.agency.as_str(), "pending")
        .await
    {
        Ok(r) => r,
        Err(e) => return AppError::from(e).into_response(),
    };
    let requests: Vec<ApprovalOut> = rows.into_iter().map(Into::into).collect();
    let can_approve = c.p.scopes.contains(&Scope::Approve);
    c.page(
        &app,
        "console_approvals.html",
        serde_json::json!({"requests": requests, "can_approve": can_approve, "msg": flash(q.msg), "err": q.err}),
    )
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: String,
    decision: String,
    reason: Option<String>,
}

async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    FormData(f): FormData<DecisionForm>,
) -> Response {
    let c = match Console::for_form(&app, &headers, &f.csrf).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let r = match f.decision.as_str() {
        "approve" => approval::approve(&app, &c.p, &id, f.reason)
            .await
            .map(|_| "done"),
        _ => approval::reject(&app, &c.p, &id, f.reason.as_deref().unwrap_or_default())
            .await
            .map(|_| "done"),
    };
    back("/console/approvals", r)
}

#[derive(Deserialize)]
struct OfficerQuery {
    id: Option<String>,
}

async fn officer(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<OfficerQuery>,
) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = c.p.require_global(Scope::OfficerView) {
        return e.into_response();
    }
    let id = q.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut err = None;
    let record = match id {
        Some(id) => match super::api::full_record(&app, &c.p, id).await {
            Ok(r) => Some(r),
            Err(e) => {
                err = Some(e.to_string());
                None
            }
        },
        None => None,
    };
    c.page(
        &app,
        "console_officer.html",
        serde_json::json!({"record": record, "id": id, "err": err}),
    )
}

async fn audit(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = c.p.require_global(Scope::Admin) {
        return e.into_response();
    }
    let r = async {
        let cp = crate::audit::checkpoint(&app).await?;
        let after = i64::try_from(cp.tree_size)?.saturating_sub(200);
        let mut entries = app.store.audit_page(after, 200).await?;
        entries.reverse();
        Ok::<_, anyhow::Error>((cp, entries))
    }
    .await;
    match r {
        Ok((cp, entries)) => {
            let entries: Vec<_> = entries
                .into_iter()
                .map(|e| {
                    serde_json::json!({"seq": e.seq, "at": crate::domain::rfc3339(e.at), "actor": e.actor, "action": e.action, "subject": e.subject})
                })
                .collect();
            c.page(
                &app,
                "console_audit.html",
                serde_json::json!({"checkpoint": cp, "entries": entries}),
            )
        }
        Err(e) => AppError::Internal(e).into_response(),
    }
}
