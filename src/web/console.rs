//! The server-rendered console, by role: the registrar's desk (persons, issuance,
//! credentials and their lifecycle, bulk issuance from a file), the approver's queue, the
//! admin's pages, the officer's full-record view and the managers' reports.
//!
//! Each page is in one language, chosen by `?lang=` (then remembered in a cookie), the
//! cookie, or `Accept-Language`; Arabic by default. Every string comes from the language
//! tables. Times are written as UTC `<time datetime>` elements and shown in the reader's
//! language and time zone by `/console/static/console.js` (the browser's `Intl`).
//!
//! Every form carries a CSRF token: the session's synchronizer token once signed in, and a
//! double-submit cookie on the sign-in form itself (there is no session yet to tie it to).
//! A stale token (a form from before the last sign-in, or from another tab) is not an
//! error: the form is shown again with a notice. Every error is an HTML page in the
//! reader's language with the other language beneath and a way back; banners show only
//! message codes from the tables, never text taken from the URL.
//! The console calls the same capabilities and the same authorization as the JSON API.

mod admin;
mod bulk;
mod registrar;
mod reports;

use super::access::{clear_cookie, session_cookie};
use super::extract::{ClientAddr, FormData, SESSION_COOKIE, cookie, same_secret};
use crate::app::App;
use crate::auth::{self, LoginError, Principal, Scope, Via};
use crate::domain::random_base32;
use crate::error::AppError;
use crate::render::pages::{self, Lang};
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use bulk::MAX_UPLOAD_BYTES as MAX_BULK_UPLOAD_BYTES;

const LOGIN_CSRF_COOKIE: &str = "sanad_login_csrf";
/// The remembered language.
pub const LANG_COOKIE: &str = "sanad_lang";
/// Rows per page of every console list.
pub const PAGE_SIZE: i64 = 25;

/// The console's routes (not part of the OpenAPI document: they answer HTML).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/static/console.js", get(script))
        .merge(registrar::routes())
        .merge(bulk::routes())
        .merge(admin::routes())
        .merge(reports::routes())
}

/// The page language of a request: `?lang=`, else the cookie, else `Accept-Language`, else
/// Arabic. The second value says whether `?lang=` asked for it (then it is remembered).
pub fn page_lang(parts: &Parts) -> (Lang, bool) {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse)
    });
    if let Some(l) = from_query {
        return (l, true);
    }
    if let Some(l) = cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse) {
        return (l, false);
    }
    let accept = parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language);
    (accept.unwrap_or(Lang::Ar), false)
}

/// The page language as an extractor (pages without a session: sign-in, errors).
pub struct PageLang(pub Lang, bool);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (l, set) = page_lang(parts);
        Ok(Self(l, set))
    }
}

fn remember_lang(res: &mut Response, lang: Lang) {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Serialize)]
struct Who {
    id: String,
    name: String,
    role: &'static str,
    agency: Option<String>,
    read: bool,
    issue: bool,
    approve: bool,
    officer: bool,
    admin: bool,
}

/// A signed-in console user. As an extractor it answers a redirect to the sign-in page
/// when there is no valid session.
pub struct Console {
    pub(super) p: Principal,
    pub(super) csrf: String,
    name: String,
    lang: Lang,
    set_lang: bool,
    path: String,
}

impl FromRequestParts<Arc<App>> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let (lang, set_lang) = page_lang(parts);
        Self::signed_in(app, &parts.headers, lang, set_lang, parts.uri.path()).await
    }
}

impl Console {
    /// The signed-in user of a request given by its headers (the language from the cookie
    /// or `Accept-Language`), for handlers outside this module.
    pub(super) async fn from(app: &App, headers: &HeaderMap) -> Result<Self, Response> {
        let lang = cookie(headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .or_else(|| {
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::Ar);
        Self::signed_in(app, headers, lang, false, "").await
    }

    /// [`Console::from`] for a form post whose CSRF token must be the session's; a stale
    /// token goes back to the console with a notice.
    pub(super) async fn for_form(
        app: &App,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<Self, Response> {
        let c = Self::from(app, headers).await?;
        if c.csrf_ok(csrf) {
            Ok(c)
        } else {
            Err(c.stale("/console"))
        }
    }

    async fn signed_in(
        app: &App,
        headers: &HeaderMap,
        lang: Lang,
        set_lang: bool,
        path: &str,
    ) -> Result<Self, Response> {
        let to_login = || Redirect::to("/console/login").into_response();
        let secret = cookie(headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let p = match auth::session_principal(app, secret).await {
            Ok(p) => p,
            Err(AppError::Unauthorized) => return Err(to_login()),
            Err(e) => return Err(error_page(app, lang, e, "/console")),
        };
        let csrf = match &p.via {
            Via::Session { csrf_token, .. } => csrf_token.clone(),
            Via::Token => String::new(),
        };
        let name = app
            .store
            .get_user(&p.subject)
            .await
            .map(|u| u.username)
            .unwrap_or_else(|_| p.subject.clone());
        Ok(Self {
            p,
            csrf,
            name,
            lang,
            set_lang,
            path: path.to_owned(),
        })
    }
}

impl Console {
    fn who(&self) -> Who {
        let has = |s| self.p.scopes.contains(&s);
        Who {
            id: self.p.id.clone(),
            name: self.name.clone(),
            role: self.p.role.as_str(),
            agency: self.p.agency.as_ref().map(ToString::to_string),
            read: has(Scope::Read),
            issue: has(Scope::Issue),
            approve: has(Scope::Approve),
            officer: has(Scope::OfficerView),
            admin: has(Scope::Admin),
        }
    }

    /// Is `sent` this session's CSRF token?
    fn csrf_ok(&self, sent: &str) -> bool {
        !self.csrf.is_empty() && same_secret(sent, &self.csrf)
    }

    /// The answer to a form whose CSRF token is stale: the form again, with a notice.
    fn stale(&self, form_page: &str) -> Response {
        let sep = if form_page.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{form_page}{sep}msg=msg_stale_form")).into_response()
    }

    /// Render a console page with the user, the CSRF token and the language.
    pub(super) fn page(&self, app: &App, name: &str, mut extra: serde_json::Value) -> Response {
        if let Some(m) = extra.as_object_mut() {
            m.insert("who".into(), serde_json::json!(self.who()));
            m.insert("csrf".into(), serde_json::json!(self.csrf));
            m.insert("path".into(), serde_json::json!(self.path));
            for k in ["msg", "err"] {
                if let Some(v) = m.get(k).and_then(|v| v.as_str())
                    && !known_code(v)
                {
                    m.remove(k);
                }
            }
        }
        let mut res = render_in(app, self.lang, name, extra);
        if self.set_lang {
            remember_lang(&mut res, self.lang);
        }
        res
    }

    /// An error as a page.
    /// An error as a page, with the signed-in user's menu.
    pub(super) fn fail(&self, app: &App, e: AppError, back: &str) -> Response {
        let (status, ctx) = error_context(e, back);
        let mut res = self.page(app, "console_error.html", ctx);
        *res.status_mut() = status;
        res
    }
}

/// Only message codes of the tables are shown in banners (`msg_…`, `err_…`): the URL
/// cannot put words on the page.
fn known_code(code: &str) -> bool {
    (code.starts_with("msg_") || code.starts_with("err_")) && Lang::Ar.table().contains_key(code)
}

/// Render a page without a signed-in user (print pages call this too): Arabic first, with
/// both string tables as `ar` and `en` besides `t`.
pub(super) fn render<S: Serialize>(app: &App, name: &str, ctx: S) -> Response {
    render_in(app, Lang::Ar, name, ctx)
}

fn render_in<S: Serialize>(app: &App, lang: Lang, name: &str, ctx: S) -> Response {
    match pages::render_lang(name, app.config.public_base(), lang, ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "template failed");
            let html = format!(
                "<!doctype html><html lang=\"ar\" dir=\"rtl\"><meta charset=\"utf-8\"><title>{}</title><p>{}</p><p lang=\"en\" dir=\"ltr\">{}</p><p><a href=\"/console\">{}</a></p></html>",
                Lang::Ar
                    .table()
                    .get("err_internal")
                    .map_or("", |s| s.as_str()),
                Lang::Ar
                    .table()
                    .get("err_internal")
                    .map_or("", |s| s.as_str()),
                Lang::En
                    .table()
                    .get("err_internal")
                    .map_or("", |s| s.as_str()),
                Lang::Ar.table().get("back").map_or("", |s| s.as_str()),
            );
            (StatusCode::INTERNAL_SERVER_ERROR, Html(html)).into_response()
        }
    }
}

/// The message code and status of an error.
fn error_code(e: &AppError) -> (StatusCode, &'static str, Option<&'static str>) {
    match e {
        AppError::BadRequest(_) | AppError::Reserved(_) => {
            (StatusCode::BAD_REQUEST, "err_bad_request", None)
        }
        AppError::Invalid(i) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "err_invalid",
            Some(i.field),
        ),
        AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "err_unauthorized", None),
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "err_forbidden", None),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "err_not_found", None),
        AppError::Conflict(_) => (StatusCode::CONFLICT, "err_conflict", None),
        AppError::TooLarge | AppError::FileTooLarge(_) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "err_too_large", None)
        }
        AppError::UnsupportedMedia(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "err_bad_request", None)
        }
        AppError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "err_rate", None),
        AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "err_internal", None),
    }
}

/// A console error as an HTML page in the reader's language, the other language beneath,
/// and a link back. Internal errors are logged (once, here) and shown generically.
pub fn error_page(app: &App, lang: Lang, e: AppError, back: &str) -> Response {
    let (status, ctx) = error_context(e, back);
    let mut res = render_in(app, lang, "console_error.html", ctx);
    *res.status_mut() = status;
    res
}

/// The status and template values of an error page; internal errors are logged here.
fn error_context(e: AppError, back: &str) -> (StatusCode, serde_json::Value) {
    let (status, code, field) = error_code(&e);
    if let AppError::Internal(err) = &e {
        tracing::error!(error = %err, "console request failed");
    }
    let field_key = field.map(|f| format!("field_{f}"));
    let field_key = field_key.filter(|k| Lang::Ar.table().contains_key(k));
    (
        status,
        serde_json::json!({"code": code, "field": field_key, "back": back, "status": status.as_u16()}),
    )
}

/// The router's fallback: an HTML error page under `/console`, problem+json elsewhere.
pub async fn fallback(
    State(app): State<Arc<App>>,
    PageLang(lang, _): PageLang,
    uri: axum::http::Uri,
) -> Response {
    if uri.path().starts_with("/console") {
        return error_page(&app, lang, AppError::NotFound("page"), "/console");
    }
    crate::error::problem(
        StatusCode::NOT_FOUND,
        "not-found",
        Some("no such endpoint".into()),
        None,
    )
}

/// The router's answer to a method a route does not take (a reload of a form's address,
/// for one): back to the console under `/console`, problem+json elsewhere.
pub async fn method_not_allowed(
    State(app): State<Arc<App>>,
    PageLang(lang, _): PageLang,
    uri: axum::http::Uri,
) -> Response {
    if uri.path().starts_with("/console") {
        return error_page(
            &app,
            lang,
            AppError::BadRequest("method".into()),
            "/console",
        );
    }
    crate::error::problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        Some("this endpoint does not take that method".into()),
        None,
    )
}

/// Turn a result into a redirect with a message code, or an error page.
fn done_or_fail(c: &Console, app: &App, to: &str, r: Result<&'static str, AppError>) -> Response {
    match r {
        Ok(msg) => {
            let sep = if to.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{to}{sep}msg={msg}")).into_response()
        }
        Err(e) => c.fail(app, e, to),
    }
}

/// Message codes carried across a redirect.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    msg: Option<String>,
    err: Option<String>,
}

/// Page number of a list (1-based), from `?page=`.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    page: Option<String>,
}

impl Paging {
    fn number(&self) -> i64 {
        self.page
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 100_000)
    }
}

/// The pager of a list page: `rows` were fetched with one more than a page to learn
/// whether a next page exists.
fn pager<T>(rows: &mut Vec<T>, page: i64) -> serde_json::Value {
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    serde_json::json!({"page": page, "prev": (page > 1).then_some(page - 1), "next": more.then_some(page + 1)})
}

async fn home(
    State(app): State<Arc<App>>,
    c: Console,
    super::extract::ApiQuery(q): super::extract::ApiQuery<Flash>,
) -> Response {
    if c.p.scopes.contains(&Scope::Read) {
        return registrar::dashboard(&app, &c, q.msg).await;
    }
    let to = if c.p.scopes.contains(&Scope::Admin) {
        "/console/admin/users"
    } else {
        "/console/officer"
    };
    Redirect::to(to).into_response()
}

async fn script() -> Response {
    let mut res = include_str!("../../templates/console.js").into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

#[derive(Deserialize)]
struct LoginQuery {
    msg: Option<String>,
}

async fn login_page(
    State(app): State<Arc<App>>,
    PageLang(lang, set): PageLang,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    let notice = q.msg.filter(|m| known_code(m));
    let mut res = login_form(&app, lang, None, notice.as_deref(), StatusCode::OK);
    if set {
        remember_lang(&mut res, lang);
    }
    res
}

fn login_form(
    app: &App,
    lang: Lang,
    failed: Option<&str>,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = random_base32(24);
    let mut res = render_in(
        app,
        lang,
        "console_login.html",
        serde_json::json!({"login_csrf": &token, "failed": failed, "msg": notice, "path": "/console/login"}),
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
        res.headers_mut().append(header::SET_COOKIE, v);
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
    PageLang(lang, _): PageLang,
    addr: ClientAddr,
    headers: HeaderMap,
    form: Result<FormData<LoginForm>, AppError>,
) -> Response {
    let f = match form {
        Ok(FormData(f)) => f,
        Err(e) => return error_page(&app, lang, e, "/console/login"),
    };
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&f.csrf, expected) {
        // A sign-in form from another tab or an old page: show a fresh one.
        return login_form(&app, lang, None, Some("msg_stale_form"), StatusCode::OK);
    }
    match auth::login(&app, &f.username, &f.password, &addr.0).await {
        Ok(s) => {
            let mut res = Redirect::to("/console").into_response();
            match session_cookie(&app, &s.secret) {
                Ok(v) => res.headers_mut().insert(header::SET_COOKIE, v),
                Err(e) => return error_page(&app, lang, e, "/console/login"),
            };
            res
        }
        Err(LoginError::BadCredentials) => login_form(
            &app,
            lang,
            Some("login_failed"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        Err(LoginError::Locked { retry_after }) => {
            let mut res = login_form(
                &app,
                lang,
                Some("login_locked"),
                None,
                StatusCode::TOO_MANY_REQUESTS,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            res
        }
        Err(LoginError::Store(e)) => error_page(&app, lang, e.into(), "/console/login"),
        Err(LoginError::Internal(e)) => {
            error_page(&app, lang, AppError::Internal(e), "/console/login")
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(app): State<Arc<App>>,
    c: Console,
    form: Result<FormData<CsrfForm>, AppError>,
) -> Response {
    match form {
        Ok(FormData(f)) if c.csrf_ok(&f.csrf) => {}
        Ok(_) => return c.stale("/console"),
        Err(e) => return c.fail(&app, e, "/console"),
    }
    if let Err(e) = auth::logout(&app, &c.p).await {
        return c.fail(&app, e, "/console");
    }
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    res
}
