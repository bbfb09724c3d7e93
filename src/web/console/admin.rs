//! The admin's pages: users, API tokens (the secret shown once), signing keys (rotate,
//! revoke after a confirmation), agencies and their maker-checker setting, and the audit
//! log with filters and actions in words.

use super::registrar::{actor_names, name_of};
use super::{Console, Flash, PAGE_SIZE, Paging, done_or_fail};
use crate::app::{App, SCOPES, create_api_token_owned};
use crate::auth::{self, Role, Scope};
use crate::domain::{AgencyCode, Invalid};
use crate::error::AppError;
use crate::storage::StoreError;
use crate::web::extract::{ApiQuery, FormData};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console/admin/users", get(users).post(add_user))
        .route("/console/admin/users/{id}/disable", post(disable_user))
        .route("/console/admin/tokens", get(tokens).post(create_token))
        .route("/console/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/console/admin/keys", get(keys))
        .route("/console/admin/keys/rotate", post(rotate_key))
        .route("/console/admin/keys/revoke", post(revoke_key))
        .route("/console/admin/agencies", get(agencies))
        .route("/console/admin/agencies/{code}", post(set_agency))
        .route("/console/audit", get(audit))
}

#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned early once a request"
)]
fn admin(c: &Console, app: &App) -> Result<(), Response> {
    c.p.require_global(Scope::Admin)
        .map_err(|e| c.fail(app, e, "/console"))
}

#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned early once a request"
)]
fn form_of<T>(
    c: &Console,
    app: &App,
    form: Result<FormData<T>, AppError>,
    back: &str,
    csrf: impl Fn(&T) -> &str,
) -> Result<T, Response> {
    match form {
        Ok(FormData(f)) if c.csrf_ok(csrf(&f)) => Ok(f),
        Ok(_) => Err(c.stale(back)),
        Err(e) => Err(c.fail(app, e, back)),
    }
}

fn invalid(e: anyhow::Error, field: &'static str) -> AppError {
    match e.downcast::<StoreError>() {
        Ok(s) => AppError::from(s),
        Err(e) => Invalid::new(field, e.to_string()).into(),
    }
}

// ----- users ----------------------------------------------------------------------------

async fn users(State(app): State<Arc<App>>, c: Console, ApiQuery(q): ApiQuery<Flash>) -> Response {
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let rows = match app.store.list_users().await {
        Ok(r) => r,
        Err(e) => return c.fail(&app, e.into(), "/console"),
    };
    let users: Vec<_> = rows
        .into_iter()
        .map(|u| {
            serde_json::json!({"id": u.id, "username": u.username, "role": u.role,
                "agency": u.agency_code, "created_at": u.created_at, "disabled_at": u.disabled_at})
        })
        .collect();
    let agencies: Vec<_> = app
        .agencies()
        .into_iter()
        .filter(|a| a.is_local())
        .collect();
    let agencies: Vec<_> = agencies
        .iter()
        .map(|a| serde_json::json!({"code": a.code, "name_ar": a.name_ar, "name_en": a.name_en}))
        .collect();
    c.page(
        &app,
        "console_users.html",
        serde_json::json!({"users": users, "agencies": agencies, "msg": q.msg, "err": q.err}),
    )
}

#[derive(Deserialize)]
struct NewUserForm {
    csrf: String,
    username: String,
    role: String,
    agency: Option<String>,
    password: String,
}

async fn add_user(
    State(app): State<Arc<App>>,
    c: Console,
    form: Result<FormData<NewUserForm>, AppError>,
) -> Response {
    let back = "/console/admin/users";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let f = match form_of(&c, &app, form, back, |f: &NewUserForm| &f.csrf) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let r = async {
        let role = Role::parse_user(&f.role).ok_or_else(|| Invalid::new("role", "unknown role"))?;
        let agency = f.agency.as_deref().map(str::trim).filter(|a| !a.is_empty());
        // Admins have no agency; officers may have none.
        let agency = if role == Role::Admin { None } else { agency };
        auth::add_user(&app.store, &f.username, role, agency, &f.password, &c.p.id)
            .await
            .map_err(|e| invalid(e, "user"))?;
        Ok("msg_user_added")
    }
    .await;
    done_or_fail(&c, &app, back, r)
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn disable_user(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    form: Result<FormData<CsrfOnly>, AppError>,
) -> Response {
    let back = "/console/admin/users";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    if let Err(r) = form_of(&c, &app, form, back, |f: &CsrfOnly| &f.csrf) {
        return r;
    }
    let r = app
        .store
        .disable_user(&id, &c.p.id)
        .await
        .map_err(AppError::not_found("user"))
        .map(|_| "msg_done");
    done_or_fail(&c, &app, back, r)
}

// ----- tokens ---------------------------------------------------------------------------

async fn token_page(
    app: &App,
    c: &Console,
    created: Option<(String, String)>,
    msg: Option<String>,
) -> Response {
    let rows = match app.store.list_api_tokens().await {
        Ok(r) => r,
        Err(e) => return c.fail(app, e.into(), "/console"),
    };
    let names = actor_names(app).await;
    let tokens: Vec<_> = rows
        .into_iter()
        .map(|t| {
            serde_json::json!({"id": t.id, "agency": t.agency_code, "scopes": t.scopes.split(',').collect::<Vec<_>>(),
                "label": t.label, "owner": name_of(&names, &t.owner),
                "created_at": t.created_at, "last_used_at": t.last_used_at, "revoked_at": t.revoked_at})
        })
        .collect();
    let agencies: Vec<_> = app
        .agencies()
        .into_iter()
        .filter(|a| a.is_local())
        .map(|a| serde_json::json!({"code": a.code, "name_ar": a.name_ar, "name_en": a.name_en}))
        .collect();
    c.page(
        app,
        "console_tokens.html",
        serde_json::json!({"tokens": tokens, "agencies": agencies, "scopes": SCOPES,
            "created": created.map(|(id, secret)| serde_json::json!({"id": id, "secret": secret})), "msg": msg}),
    )
}

async fn tokens(State(app): State<Arc<App>>, c: Console, ApiQuery(q): ApiQuery<Flash>) -> Response {
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    token_page(&app, &c, None, q.msg).await
}

async fn create_token(
    State(app): State<Arc<App>>,
    c: Console,
    body: axum::body::Bytes,
) -> Response {
    let back = "/console/admin/tokens";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    // Scopes arrive as repeated `scope` fields, which serde's form decoding cannot collect.
    let mut csrf = String::new();
    let mut agency = String::new();
    let mut label = String::new();
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded_pairs(&body) {
        match k.as_str() {
            "csrf" => csrf = v,
            "agency" => agency = v,
            "label" => label = v.chars().take(100).collect(),
            "scope" if SCOPES.contains(&v.as_str()) => scopes.push(v),
            _ => {}
        }
    }
    if !c.csrf_ok(&csrf) {
        return c.stale(back);
    }
    match create_api_token_owned(&app.store, &agency, &scopes, &label, &c.p.id).await {
        // The secret is on this page only: it is not stored and not put in a URL.
        Ok((id, secret)) => token_page(&app, &c, Some((id, secret)), None).await,
        Err(e) => c.fail(&app, invalid(e, "token"), back),
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded (at most 64).
fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .take(64)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn revoke_token(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    form: Result<FormData<CsrfOnly>, AppError>,
) -> Response {
    let back = "/console/admin/tokens";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    if let Err(r) = form_of(&c, &app, form, back, |f: &CsrfOnly| &f.csrf) {
        return r;
    }
    let r = app
        .store
        .revoke_api_token(&id, &c.p.id)
        .await
        .map_err(AppError::not_found("token"))
        .map(|_| "msg_done");
    done_or_fail(&c, &app, back, r)
}

// ----- keys -----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct KeysQuery {
    /// The key whose revocation is being confirmed.
    revoke: Option<String>,
    msg: Option<String>,
}

async fn keys(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<KeysQuery>,
) -> Response {
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let rows = match app.store.list_keys().await {
        Ok(r) => r,
        Err(e) => return c.fail(&app, e.into(), "/console"),
    };
    let confirm = q
        .revoke
        .filter(|k| rows.iter().any(|r| &r.kid == k && r.status != "revoked"));
    let keys: Vec<_> = rows
        .into_iter()
        .map(|k| {
            serde_json::json!({"kid": k.kid, "short_kid": k.short_kid, "agency": k.agency_code, "status": k.status,
                "created_at": k.created_at, "retired_at": k.retired_at, "revoked_at": k.revoked_at})
        })
        .collect();
    let agencies: Vec<_> = app
        .agencies()
        .into_iter()
        .filter(|a| a.is_local())
        .map(|a| serde_json::json!({"code": a.code, "name_ar": a.name_ar, "name_en": a.name_en}))
        .collect();
    c.page(
        &app,
        "console_keys.html",
        serde_json::json!({"keys": keys, "agencies": agencies, "confirm": confirm, "msg": q.msg}),
    )
}

#[derive(Deserialize)]
struct RotateForm {
    csrf: String,
    agency: String,
}

async fn rotate_key(
    State(app): State<Arc<App>>,
    c: Console,
    form: Result<FormData<RotateForm>, AppError>,
) -> Response {
    let back = "/console/admin/keys";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let f = match form_of(&c, &app, form, back, |f: &RotateForm| &f.csrf) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let r = async {
        let code = AgencyCode::parse(&f.agency)?;
        crate::keys::rotate(&app.store, &app.config.keys_dir, code, &c.p.id)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        app.reload_keys().await?;
        Ok("msg_key_rotated")
    }
    .await;
    done_or_fail(&c, &app, back, r)
}

#[derive(Deserialize)]
struct RevokeKeyForm {
    csrf: String,
    kid: String,
    reason: String,
}

async fn revoke_key(
    State(app): State<Arc<App>>,
    c: Console,
    form: Result<FormData<RevokeKeyForm>, AppError>,
) -> Response {
    let back = "/console/admin/keys";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let f = match form_of(&c, &app, form, back, |f: &RevokeKeyForm| &f.csrf) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let r = async {
        let reason = f.reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(Invalid::new("reason", "give a reason of 1-200 characters").into());
        }
        crate::keys::revoke(&app.store, &app.config.keys_dir, &f.kid, reason, &c.p.id)
            .await
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        app.reload_keys().await?;
        Ok("msg_key_revoked")
    }
    .await;
    done_or_fail(&c, &app, back, r)
}

// ----- agencies -------------------------------------------------------------------------

async fn agencies(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let mut out = Vec::new();
    for a in app.agencies() {
        let mc = if a.is_local() {
            match app.store.requires_approval(&a.code).await {
                Ok(b) => Some(b),
                Err(e) => return c.fail(&app, e.into(), "/console"),
            }
        } else {
            None
        };
        out.push(
            serde_json::json!({"code": a.code, "name_ar": a.name_ar, "name_en": a.name_en,
            "local": a.is_local(), "base_url": a.base_url, "requires_approval": mc}),
        );
    }
    out.sort_by(|a, b| a["code"].as_str().cmp(&b["code"].as_str()));
    c.page(
        &app,
        "console_agencies.html",
        serde_json::json!({"agencies": out, "msg": q.msg}),
    )
}

#[derive(Deserialize)]
struct AgencyForm {
    csrf: String,
    requires_approval: String,
}

async fn set_agency(
    State(app): State<Arc<App>>,
    c: Console,
    Path(code): Path<String>,
    form: Result<FormData<AgencyForm>, AppError>,
) -> Response {
    let back = "/console/admin/agencies";
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let f = match form_of(&c, &app, form, back, |f: &AgencyForm| &f.csrf) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let on = f.requires_approval == "on";
    let r = app
        .store
        .set_requires_approval(&code, on, &c.p.id)
        .await
        .map_err(AppError::not_found("agency"))
        .map(|_| "msg_saved");
    done_or_fail(&c, &app, back, r)
}

// ----- audit ----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    subject: Option<String>,
    before: Option<String>,
    page: Option<String>,
}

/// Audit actions with words in the tables (`audit_…`); others are shown as they are.
async fn audit(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Response {
    if let Err(r) = admin(&c, &app) {
        return r;
    }
    let clean = |s: Option<String>| {
        s.map(|s| s.trim().chars().take(100).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    let names = actor_names(&app).await;
    let actor_q = clean(q.actor);
    // The filter takes a user name as well as an audit id.
    let actor_id = actor_q.as_ref().map(|a| {
        names
            .iter()
            .find(|(_, n)| *n == a)
            .map_or_else(|| a.clone(), |(id, _)| id.clone())
    });
    let action = clean(q.action);
    let subject = clean(q.subject);
    let before = q.before.as_deref().and_then(|b| b.parse::<i64>().ok());
    let page = Paging { page: q.page }.number();
    let r = async {
        let cp = crate::audit::checkpoint(&app).await?;
        let rows = app
            .store
            .audit_search(
                actor_id.as_deref(),
                action.as_deref(),
                subject.as_deref(),
                before,
                PAGE_SIZE + 1,
            )
            .await?;
        Ok::<_, anyhow::Error>((cp, rows))
    }
    .await;
    let (cp, mut rows) = match r {
        Ok(x) => x,
        Err(e) => return c.fail(&app, AppError::Internal(e), "/console"),
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next_before = more.then(|| rows.last().map(|r| r.seq)).flatten();
    let entries: Vec<_> = rows
        .into_iter()
        .map(|e| {
            let key = format!("audit_{}", e.action.replace('.', "_"));
            serde_json::json!({"seq": e.seq, "at": e.at, "actor": e.actor, "actor_name": name_of(&names, &e.actor),
                "action": e.action, "action_key": key, "subject": e.subject})
        })
        .collect();
    c.page(
        &app,
        "console_audit.html",
        serde_json::json!({"checkpoint": cp, "entries": entries, "next_before": next_before, "page": page,
            "f": {"actor": actor_q, "action": action, "subject": subject}}),
    )
}
