//! The registrar's desk and the approver's queue: dashboard, person search, person records
//! with photos, issuance of both kinds, the credential page with its lifecycle actions,
//! pending approvals, and the officer's full-record view.

use super::{Console, Flash, PAGE_SIZE, Paging, done_or_fail, pager};
use crate::app::App;
use crate::approval::{self, Gated};
use crate::auth::Scope;
use crate::domain::{
    CredentialId, CredentialStatus, DocumentDigest, DocumentMeta, Invalid, NewPerson, PersonId,
    PersonInput, ReasonCode, StatusAction,
};
use crate::error::AppError;
use crate::issuance::{self, Actor, DocumentInput};
use crate::storage::{CredentialFilter, PersonQuery, PersonRow, now};
use crate::web::api::{ApprovalOut, PersonOut, credential_out, read_form};
use crate::web::extract::{ApiQuery, FormData};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    let photos = Router::new()
        .route("/console/persons/new", get(new_person).post(create_person))
        .route(
            "/console/persons/{id}/edit",
            get(edit_person).post(save_person),
        )
        .layer(DefaultBodyLimit::max(crate::web::photo::MAX_PHOTO_BODY));
    let documents = Router::new()
        .route(
            "/console/documents/new",
            get(new_document).post(create_document),
        )
        .layer(DefaultBodyLimit::max(
            crate::web::api::MAX_DOCUMENT_BYTES + 64 * 1024,
        ));
    Router::new()
        .route("/console/persons", get(persons).post(search_persons))
        .route("/console/persons/{id}", get(person))
        .route("/console/persons/{id}/photo", get(person_photo))
        .route(
            "/console/persons/{id}/issue",
            get(|Path(id): Path<String>| async move {
                // A reload of the issue form's address goes back to the person.
                Redirect::to(&format!("/console/persons/{}", urlencode(&id)))
            })
            .post(issue_id),
        )
        .route("/console/credentials", get(credentials))
        .route("/console/credentials/{id}", get(credential))
        .route("/console/credentials/{id}/action", post(credential_action))
        .route("/console/credentials/{id}/download", get(download))
        .route("/console/approvals", get(approvals))
        .route("/console/approvals/{id}", post(decide))
        .route("/console/officer", get(officer))
        .merge(photos)
        .merge(documents)
}

/// The reasons a registrar may give for each action (the public sees the code).
pub fn reasons_for(action: &str) -> &'static [&'static str] {
    match action {
        "suspend" => &["under_review", "lost", "stolen", "fraud", "other"],
        "reinstate" => &["review_cleared", "issued_in_error", "other"],
        "revoke" => &[
            "lost",
            "stolen",
            "deceased",
            "fraud",
            "eligibility_ended",
            "issued_in_error",
            "other",
        ],
        "reissue" => &["data_changed", "lost", "stolen", "other"],
        _ => &[],
    }
}

/// The actions open to a credential in `status`.
fn actions_for(status: &str) -> &'static [&'static str] {
    match status {
        "active" => &["suspend", "revoke", "reissue"],
        "suspended" => &["reinstate", "revoke", "reissue"],
        _ => &[],
    }
}

#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned early once a request"
)]
fn actor(c: &Console, app: &App, scope: Scope, back: &str) -> Result<Actor, Response> {
    c.p.require(scope).map_err(|e| c.fail(app, e, back))
}

/// Display names of audit actors: users by name, tokens by label.
pub(super) async fn actor_names(app: &App) -> HashMap<String, String> {
    let mut m = HashMap::new();
    if let Ok(users) = app.store.list_users().await {
        for u in users {
            m.insert(format!("user:{}", u.id), u.username);
        }
    }
    if let Ok(tokens) = app.store.list_api_tokens().await {
        for t in tokens {
            let label = if t.label.is_empty() {
                t.id.clone()
            } else {
                t.label
            };
            m.insert(format!("token:{}", t.id), label);
        }
    }
    m
}

pub(super) fn name_of(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_owned())
}

pub(super) async fn dashboard(app: &App, c: &Console, msg: Option<String>) -> Response {
    let Ok(actor) = c.p.require(Scope::Read) else {
        return Redirect::to("/console/officer").into_response();
    };
    let r = async {
        let counts = app
            .store
            .count_credentials(Some(actor.agency.as_str()))
            .await?;
        let recent = app
            .store
            .list_credentials(
                actor.agency.as_str(),
                &CredentialFilter {
                    limit: 8,
                    ..CredentialFilter::default()
                },
            )
            .await?;
        let pending = app
            .store
            .list_approvals(actor.agency.as_str(), "pending")
            .await?
            .len();
        Ok::<_, AppError>((counts, recent, pending))
    }
    .await;
    match r {
        Ok((counts, recent, pending)) => {
            let mut by_status: HashMap<String, i64> = HashMap::new();
            for k in counts {
                *by_status.entry(k.keys[2].clone()).or_default() += k.n;
            }
            let recent: Vec<_> = recent.into_iter().map(|r| credential_out(app, r)).collect();
            c.page(
                app,
                "console_home.html",
                serde_json::json!({"by_status": by_status, "recent": recent, "pending": pending, "msg": msg}),
            )
        }
        Err(e) => c.fail(app, e, "/console"),
    }
}

// ----- persons --------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct PersonsQuery {
    page: Option<String>,
    msg: Option<String>,
}

async fn persons(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<PersonsQuery>,
) -> Response {
    let page = Paging { page: q.page }.number();
    person_list(&app, &c, String::new(), page, q.msg).await
}

#[derive(Deserialize)]
struct PersonSearch {
    csrf: String,
    q: Option<String>,
    page: Option<String>,
}

/// The search is a POST so a national ID number stays out of URLs (and so out of browser
/// history and proxy logs); its pager buttons post the query again.
async fn search_persons(
    State(app): State<Arc<App>>,
    c: Console,
    form: Result<FormData<PersonSearch>, AppError>,
) -> Response {
    let f = match form {
        Ok(FormData(f)) => f,
        Err(e) => return c.fail(&app, e, "/console/persons"),
    };
    if !c.csrf_ok(&f.csrf) {
        return c.stale("/console/persons");
    }
    let page = Paging { page: f.page }.number();
    let q: String = f.q.unwrap_or_default().trim().chars().take(100).collect();
    person_list(&app, &c, q, page, None).await
}

async fn person_list(
    app: &App,
    c: &Console,
    q: String,
    page: i64,
    msg: Option<String>,
) -> Response {
    let actor = match actor(c, app, Scope::Read, "/console") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = PersonQuery::parse(&q);
    let mut rows = match app
        .store
        .search_persons(
            actor.agency.as_str(),
            &query,
            (page - 1) * PAGE_SIZE,
            PAGE_SIZE + 1,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return c.fail(app, e.into(), "/console"),
    };
    let pg = pager(&mut rows, page);
    let persons: Vec<PersonOut> = rows.into_iter().map(Into::into).collect();
    c.page(
        app,
        "console_persons.html",
        serde_json::json!({"persons": persons, "q": q, "pager": pg, "msg": msg}),
    )
}

async fn load_person(
    app: &App,
    c: &Console,
    id: &str,
    scope: Scope,
) -> Result<PersonRow, Response> {
    let actor = actor(c, app, scope, "/console/persons")?;
    let pid = PersonId::parse(id)
        .map_err(|_| c.fail(app, AppError::NotFound("person"), "/console/persons"))?;
    issuance::own_person(app, &actor, &pid)
        .await
        .map_err(|e| c.fail(app, e, "/console/persons"))
}

async fn person(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    let p = match load_person(&app, &c, &id, Scope::Read).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = async {
        let has_photo = app.store.get_person_photo(&p.id).await?.is_some();
        let creds = app
            .store
            .list_credentials(
                &p.agency_code,
                &CredentialFilter {
                    person_id: Some(p.id.clone()),
                    limit: 100,
                    ..CredentialFilter::default()
                },
            )
            .await?;
        Ok::<_, AppError>((has_photo, creds))
    }
    .await;
    match r {
        Ok((has_photo, creds)) => {
            let creds: Vec<_> = creds.into_iter().map(|r| credential_out(&app, r)).collect();
            let person: PersonOut = p.into();
            c.page(
                &app,
                "console_person.html",
                serde_json::json!({"person": person, "has_photo": has_photo, "credentials": creds, "msg": q.msg, "err": q.err}),
            )
        }
        Err(e) => c.fail(&app, e, "/console/persons"),
    }
}

async fn person_photo(State(app): State<Arc<App>>, c: Console, Path(id): Path<String>) -> Response {
    let p = match load_person(&app, &c, &id, Scope::Read).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match app.store.get_person_photo(&p.id).await {
        Ok(Some(bytes)) => {
            let mut res = bytes.into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            // A face is personal data: no shared or on-disk caches.
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            res
        }
        Ok(None) => c.fail(&app, AppError::NotFound("photo"), "/console/persons"),
        Err(e) => c.fail(&app, e.into(), "/console/persons"),
    }
}

async fn new_person(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    if let Err(r) = actor(&c, &app, Scope::Issue, "/console/persons") {
        return r;
    }
    c.page(
        &app,
        "console_person_form.html",
        serde_json::json!({"person": null, "action": "/console/persons/new", "msg": q.msg}),
    )
}

async fn edit_person(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    let p = match load_person(&app, &c, &id, Scope::Issue).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let action = format!("/console/persons/{}/edit", p.id);
    let person: PersonOut = p.into();
    c.page(
        &app,
        "console_person_form.html",
        serde_json::json!({"person": person, "action": action, "msg": q.msg}),
    )
}

/// The person form's fields and optional photo.
struct PersonForm {
    csrf: String,
    input: PersonInput,
    photo: Option<Vec<u8>>,
}

async fn read_person_form(mp: Multipart) -> Result<PersonForm, AppError> {
    let (mut f, file) = read_form(mp, &["photo"]).await?;
    let mut take = |k: &str| f.remove(k).unwrap_or_default().trim().to_owned();
    let form = PersonForm {
        csrf: take("csrf"),
        input: PersonInput {
            name_ar: take("name_ar"),
            name_en: take("name_en"),
            date_of_birth: take("date_of_birth"),
            national_id: take("national_id"),
            programme: take("programme"),
        },
        photo: file.map(|(_, bytes, _)| bytes).filter(|b| !b.is_empty()),
    };
    Ok(form)
}

/// Show the form again with what was typed and the field that was refused.
fn person_form_again(
    app: &App,
    c: &Console,
    action: &str,
    id: Option<&str>,
    f: &PersonForm,
    e: AppError,
) -> Response {
    let field = match &e {
        AppError::Invalid(i) => Some(format!("field_{}", i.field)),
        _ => None,
    };
    if !matches!(e, AppError::Invalid(_)) {
        return c.fail(app, e, action);
    }
    let mut person = serde_json::json!(&f.input);
    person["id"] = serde_json::json!(id);
    let mut res = c.page(
        app,
        "console_person_form.html",
        serde_json::json!({"person": person, "action": action, "err": "err_invalid", "field": field}),
    );
    *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    res
}

/// The uploaded photo through the photo pipeline (decoded, uprighted, shrunk, re-encoded
/// without metadata), off the async workers.
async fn normalise_photo(photo: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, AppError> {
    let Some(photo) = photo else { return Ok(None) };
    if photo.len() > crate::render::photo::MAX_UPLOAD_BYTES {
        return Err(AppError::TooLarge);
    }
    let out = tokio::task::spawn_blocking(move || crate::render::photo::normalise(&photo))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    Ok(Some(out))
}

async fn create_person(
    State(app): State<Arc<App>>,
    c: Console,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let back = "/console/persons/new";
    let actor = match actor(&c, &app, Scope::Issue, back) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let f = match mp {
        Ok(mp) => match read_person_form(mp).await {
            Ok(f) => f,
            Err(e) => return c.fail(&app, e, back),
        },
        Err(_) => return c.fail(&app, AppError::BadRequest("multipart".into()), back),
    };
    if !c.csrf_ok(&f.csrf) {
        return c.stale(back);
    }
    let p = match NewPerson::parse(f.input.clone()) {
        Ok(p) => p,
        Err(e) => return person_form_again(&app, &c, back, None, &f, e.into()),
    };
    // The photo is checked before the record is written, so a bad photo leaves nothing.
    let photo = match normalise_photo(f.photo.clone()).await {
        Ok(p) => p,
        Err(e) => return person_form_again(&app, &c, back, None, &f, e),
    };
    let t = now();
    let row = PersonRow {
        id: PersonId::generate().to_string(),
        agency_code: actor.agency.to_string(),
        name_ar: p.name_ar.as_str().to_owned(),
        name_en: p.name_en.as_str().to_owned(),
        date_of_birth: p.date_of_birth,
        national_id: p.national_id.as_str().to_owned(),
        programme: p.programme,
        created_at: t,
        updated_at: t,
    };
    let r = async {
        app.store.insert_person(&row, &actor.id).await?;
        if let Some(photo) = photo {
            app.store
                .set_person_photo(&row.id, actor.agency.as_str(), &photo, &actor.id)
                .await?;
        }
        Ok("msg_saved")
    }
    .await;
    done_or_fail(&c, &app, &format!("/console/persons/{}", row.id), r)
}

async fn save_person(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let old = match load_person(&app, &c, &id, Scope::Issue).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let back = format!("/console/persons/{}/edit", old.id);
    let actor = match actor(&c, &app, Scope::Issue, &back) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let f = match mp {
        Ok(mp) => match read_person_form(mp).await {
            Ok(f) => f,
            Err(e) => return c.fail(&app, e, &back),
        },
        Err(_) => return c.fail(&app, AppError::BadRequest("multipart".into()), &back),
    };
    if !c.csrf_ok(&f.csrf) {
        return c.stale(&back);
    }
    let p = match NewPerson::parse(f.input.clone()) {
        Ok(p) => p,
        Err(e) => return person_form_again(&app, &c, &back, Some(&old.id), &f, e.into()),
    };
    let photo = match normalise_photo(f.photo.clone()).await {
        Ok(p) => p,
        Err(e) => return person_form_again(&app, &c, &back, Some(&old.id), &f, e),
    };
    let row = PersonRow {
        name_ar: p.name_ar.as_str().to_owned(),
        name_en: p.name_en.as_str().to_owned(),
        date_of_birth: p.date_of_birth,
        national_id: p.national_id.as_str().to_owned(),
        programme: p.programme,
        updated_at: now(),
        ..old
    };
    let r = async {
        if let Some(photo) = photo {
            app.store
                .set_person_photo(&row.id, actor.agency.as_str(), &photo, &actor.id)
                .await?;
        }
        app.store.update_person(&row, &actor.id).await?;
        Ok("msg_saved")
    }
    .await;
    done_or_fail(&c, &app, &format!("/console/persons/{}", row.id), r)
}

#[derive(Deserialize)]
struct IssueForm {
    csrf: String,
    /// `another`: issue although the person holds a digital ID in force.
    confirm: Option<String>,
}

async fn issue_id(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    form: Result<FormData<IssueForm>, AppError>,
) -> Response {
    let back = format!("/console/persons/{id}");
    let f = match form {
        Ok(FormData(f)) => f,
        Err(e) => return c.fail(&app, e, &back),
    };
    if !c.csrf_ok(&f.csrf) {
        return c.stale(&back);
    }
    let p = match load_person(&app, &c, &id, Scope::Issue).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let actor = match actor(&c, &app, Scope::Issue, &back) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let live = match app.store.live_credentials_of(&p.id, "digital_id").await {
        Ok(l) => l,
        Err(e) => return c.fail(&app, e.into(), &back),
    };
    if !live.is_empty() && f.confirm.as_deref() != Some("another") {
        let live: Vec<_> = live.into_iter().map(|r| credential_out(&app, r)).collect();
        let person: PersonOut = p.into();
        return c.page(
            &app,
            "console_issue_warning.html",
            serde_json::json!({"person": person, "live": live}),
        );
    }
    let pid = match PersonId::parse(&p.id) {
        Ok(p) => p,
        Err(e) => return c.fail(&app, e.into(), &back),
    };
    match issuance::issue_digital_id(&app, &actor, &pid).await {
        Ok(row) => {
            Redirect::to(&format!("/console/credentials/{}?msg=msg_issued", row.id)).into_response()
        }
        Err(e) => c.fail(&app, e, &back),
    }
}

// ----- documents ------------------------------------------------------------------------

async fn new_document(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<Flash>,
) -> Response {
    if let Err(r) = actor(&c, &app, Scope::Issue, "/console") {
        return r;
    }
    c.page(
        &app,
        "console_document_form.html",
        serde_json::json!({"doc": null, "msg": q.msg}),
    )
}

async fn create_document(
    State(app): State<Arc<App>>,
    c: Console,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let back = "/console/documents/new";
    let actor = match actor(&c, &app, Scope::Issue, back) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (mut f, file) = match mp {
        Ok(mp) => match read_form(mp, &["file"]).await {
            Ok(x) => x,
            Err(e) => return c.fail(&app, e, back),
        },
        Err(_) => return c.fail(&app, AppError::BadRequest("multipart".into()), back),
    };
    if !c.csrf_ok(f.get("csrf").map_or("", String::as_str)) {
        return c.stale(back);
    }
    let mut take = |k: &str| f.remove(k).unwrap_or_default().trim().to_owned();
    let meta = DocumentMeta {
        doc_type: take("doc_type"),
        number: take("number"),
        title: take("title"),
        recipient_name: take("recipient_name"),
        issue_date: take("issue_date"),
    };
    let again = |e: AppError, meta: &DocumentMeta| {
        let field = match &e {
            AppError::Invalid(i) => Some(format!("field_{}", i.field)),
            _ => None,
        };
        if !matches!(e, AppError::Invalid(_)) {
            return c.fail(&app, e, back);
        }
        let mut res = c.page(
            &app,
            "console_document_form.html",
            serde_json::json!({"doc": meta, "err": "err_invalid", "field": field}),
        );
        *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        res
    };
    let bytes = match file {
        Some((_, b, ct)) if !b.is_empty() => (b, ct),
        _ => {
            return again(
                Invalid::new("file", "the document file is missing").into(),
                &meta,
            );
        }
    };
    let meta = match meta.clone().validate() {
        Ok(m) => m,
        Err(e) => return again(e.into(), &meta),
    };
    let doc = DocumentInput {
        meta,
        digest: DocumentDigest::of(&bytes.0),
        file: Some(bytes),
    };
    match issuance::issue_document(&app, &actor, doc).await {
        Ok(row) => {
            Redirect::to(&format!("/console/credentials/{}?msg=msg_issued", row.id)).into_response()
        }
        Err(e) => c.fail(&app, e, back),
    }
}

// ----- credentials ----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct CredentialsQuery {
    page: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    msg: Option<String>,
}

async fn credentials(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<CredentialsQuery>,
) -> Response {
    let actor = match actor(&c, &app, Scope::Read, "/console") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let page = Paging { page: q.page }.number();
    let status = q.status.filter(|s| CredentialStatus::parse(s).is_ok());
    let kind = q
        .kind
        .filter(|k| crate::domain::CredentialKind::parse(k).is_ok());
    // Offset paging over the keyset-ordered list: pages stay stable while new credentials
    // arrive at the top only if one reads from the first page, which is how it is used.
    let filter = CredentialFilter {
        status: status.clone(),
        kind: kind.clone(),
        limit: page * PAGE_SIZE + 1,
        ..CredentialFilter::default()
    };
    let rows = match app
        .store
        .list_credentials(actor.agency.as_str(), &filter)
        .await
    {
        Ok(r) => r,
        Err(e) => return c.fail(&app, e.into(), "/console"),
    };
    let mut rows: Vec<_> = rows
        .into_iter()
        .skip(((page - 1) * PAGE_SIZE) as usize)
        .collect();
    let pg = pager(&mut rows, page);
    let creds: Vec<_> = rows.into_iter().map(|r| credential_out(&app, r)).collect();
    c.page(
        &app,
        "console_credentials.html",
        serde_json::json!({"credentials": creds, "pager": pg, "status": status, "kind": kind, "msg": q.msg}),
    )
}

#[derive(Debug, Default, Deserialize)]
struct CredentialView {
    /// The action being confirmed.
    #[serde(rename = "do")]
    act: Option<String>,
    msg: Option<String>,
}

async fn credential(
    State(app): State<Arc<App>>,
    c: Console,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CredentialView>,
) -> Response {
    let actor = match actor(&c, &app, Scope::Read, "/console/credentials") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let r = async {
        let cid = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
        let row = issuance::own_credential(&app, &actor, &cid).await?;
        let history = app.store.credential_history(&row.id).await?;
        let person = match &row.person_id {
            Some(p) => Some(PersonOut::from(app.store.get_person(p).await?)),
            None => None,
        };
        let pending = app
            .store
            .list_approvals(actor.agency.as_str(), "pending")
            .await?
            .into_iter()
            .filter(|a| a.credential_id == row.id)
            .map(ApprovalOut::from)
            .collect::<Vec<_>>();
        Ok::<_, AppError>((row, history, person, pending))
    }
    .await;
    let (row, history, person, pending) = match r {
        Ok(x) => x,
        Err(e) => return c.fail(&app, e, "/console/credentials"),
    };
    let names = actor_names(&app).await;
    let history: Vec<_> = history
        .into_iter()
        .map(|h| {
            let mut v = serde_json::json!(h);
            v["actor_name"] = serde_json::json!(name_of(&names, &h.actor));
            v
        })
        .collect();
    let actions = actions_for(&row.status);
    let can_act = c.p.scopes.contains(&Scope::Revoke);
    let confirm = q
        .act
        .filter(|a| can_act && actions.contains(&a.as_str()))
        .map(|a| serde_json::json!({"action": a, "reasons": reasons_for(&a)}));
    let cred = credential_out(&app, row);
    c.page(
        &app,
        "console_credential.html",
        serde_json::json!({
            "c": cred, "history": history, "person": person, "pending": pending,
            "actions": if can_act { actions } else { &[] }, "confirm": confirm, "msg": q.msg,
        }),
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
    c: Console,
    Path(id): Path<String>,
    form: Result<FormData<ActionForm>, AppError>,
) -> Response {
    let page = format!("/console/credentials/{id}");
    let f = match form {
        Ok(FormData(f)) => f,
        Err(e) => return c.fail(&app, e, &page),
    };
    if !c.csrf_ok(&f.csrf) {
        return c.stale(&format!("{page}?do={}", urlencode(&f.action)));
    }
    let r = async {
        let cid = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
        if !reasons_for(&f.action).contains(&f.reason_code.as_str()) {
            return Err(
                Invalid::new("reason_code", "choose a reason valid for this action").into(),
            );
        }
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
            _ => return Err(Invalid::new("action", "unknown action").into()),
        };
        if let Some(g) = gated
            && approval::gate(&app, &c.p, &cid, g, code, text.clone())
                .await?
                .is_some()
        {
            return Ok((id.clone(), "msg_pending_sent"));
        }
        let actor = c.p.require(Scope::Revoke)?;
        match action {
            Some(a) => {
                issuance::change_status(&app, &actor, &cid, a, code, text).await?;
                Ok((id.clone(), "msg_done"))
            }
            None => {
                c.p.require(Scope::Issue)?;
                let new = issuance::reissue(&app, &actor, &cid, code, text, None).await?;
                Ok((new.id, "msg_reissued"))
            }
        }
    }
    .await;
    match r {
        Ok((to, msg)) => {
            Redirect::to(&format!("/console/credentials/{to}?msg={msg}")).into_response()
        }
        Err(e) => c.fail(&app, e, &page),
    }
}

fn urlencode(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The full credential (`vc+jwt`) as a file.
async fn download(State(app): State<Arc<App>>, c: Console, Path(id): Path<String>) -> Response {
    let back = format!("/console/credentials/{id}");
    let actor = match actor(&c, &app, Scope::Read, &back) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let r = async {
        let cid = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
        let row = issuance::own_credential(&app, &actor, &cid).await?;
        let jwt = issuance::vc::full_credential(&app, &row).await?;
        Ok::<_, AppError>((row.id, jwt))
    }
    .await;
    match r {
        Ok((id, jwt)) => {
            let mut res = jwt.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(issuance::vc::VC_JWT),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.vc.jwt\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            res
        }
        Err(e) => c.fail(&app, e, &back),
    }
}

// ----- approvals ------------------------------------------------------------------------

async fn approvals(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<PersonsQuery>,
) -> Response {
    let actor = match actor(&c, &app, Scope::Read, "/console") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let page = Paging { page: q.page }.number();
    let rows = match app
        .store
        .list_approvals(actor.agency.as_str(), "pending")
        .await
    {
        Ok(r) => r,
        Err(e) => return c.fail(&app, e.into(), "/console"),
    };
    let mut rows: Vec<_> = rows
        .into_iter()
        .skip(((page - 1) * PAGE_SIZE) as usize)
        .take(PAGE_SIZE as usize + 1)
        .collect();
    let pg = pager(&mut rows, page);
    let names = actor_names(&app).await;
    let mut requests = Vec::new();
    for r in rows {
        let cred = app.store.get_credential(&r.credential_id).await.ok();
        let mut v = serde_json::json!(ApprovalOut::from(r.clone()));
        v["maker_name"] = serde_json::json!(name_of(&names, &r.maker));
        v["mine"] = serde_json::json!(r.maker == c.p.id);
        if let Some(cred) = cred {
            v["name_as_printed"] = serde_json::json!(cred.name_printed);
            v["kind"] = serde_json::json!(cred.kind);
            v["status"] = serde_json::json!(cred.status);
            v["person_id"] = serde_json::json!(cred.person_id);
        }
        requests.push(v);
    }
    let can_approve = c.p.scopes.contains(&Scope::Approve);
    c.page(
        &app,
        "console_approvals.html",
        serde_json::json!({"requests": requests, "can_approve": can_approve, "pager": pg, "msg": q.msg}),
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
    c: Console,
    Path(id): Path<String>,
    form: Result<FormData<DecisionForm>, AppError>,
) -> Response {
    let back = "/console/approvals";
    let f = match form {
        Ok(FormData(f)) => f,
        Err(e) => return c.fail(&app, e, back),
    };
    if !c.csrf_ok(&f.csrf) {
        return c.stale(back);
    }
    let r = match f.decision.as_str() {
        "approve" => approval::approve(&app, &c.p, &id, f.reason.filter(|r| !r.trim().is_empty()))
            .await
            .map(|_| "msg_approved"),
        "reject" => approval::reject(&app, &c.p, &id, f.reason.as_deref().unwrap_or_default())
            .await
            .map(|_| "msg_rejected"),
        _ => Err(Invalid::new("decision", "approve or reject").into()),
    };
    done_or_fail(&c, &app, back, r)
}

// ----- officer --------------------------------------------------------------------------

#[derive(Deserialize)]
struct OfficerQuery {
    id: Option<String>,
}

async fn officer(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<OfficerQuery>,
) -> Response {
    if let Err(e) = c.p.require_global(Scope::OfficerView) {
        return c.fail(&app, e, "/console");
    }
    let id = q.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut err = None;
    let record = match id {
        Some(id) => match crate::web::api::full_record(&app, &c.p, id).await {
            Ok(r) => Some(r),
            Err(AppError::NotFound(_)) => {
                err = Some("err_not_found");
                None
            }
            Err(e) => return c.fail(&app, e, "/console/officer"),
        },
        None => None,
    };
    let has_photo = match record.as_ref().and_then(|r| r.person.as_ref()) {
        Some(p) => matches!(app.store.get_person_photo(&p.id).await, Ok(Some(_))),
        None => false,
    };
    c.page(
        &app,
        "console_officer.html",
        serde_json::json!({"record": record, "id": id, "err": err, "has_photo": has_photo}),
    )
}
