//! The registrar JSON API under `/api/v1`: persons, credentials and their lifecycle.
//! Every handler checks the token's scope; every lookup is confined to the token's agency.

use super::extract::ApiJson;
use crate::app::App;
use crate::approval::{self, Gated};
use crate::auth::{Principal, Scope};
use crate::domain::{
    CredentialId, CredentialKind, CredentialStatus, DocumentDigest, DocumentMeta, Invalid,
    NewPerson, PersonId, PersonInput, PublicIssuer, ReasonCode, StatusAction, rfc3339,
};
use crate::error::{AppError, Problem};
use crate::issuance::{self, DocumentInput};
use crate::storage::ApprovalRow;
use crate::storage::{CredentialFilter, CredentialRow, PersonRow, now};
use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// A person record as the registrar sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonOut {
    /// Id.
    pub id: String,
    /// Agency.
    pub agency: String,
    /// Arabic name.
    pub name_ar: String,
    /// Latin name.
    pub name_en: String,
    /// Date of birth.
    pub date_of_birth: String,
    /// National ID number.
    pub national_id: String,
    /// Programme or category.
    pub programme: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Updated (RFC 3339).
    pub updated_at: String,
}

impl From<PersonRow> for PersonOut {
    fn from(p: PersonRow) -> Self {
        Self {
            id: p.id,
            agency: p.agency_code,
            name_ar: p.name_ar,
            name_en: p.name_en,
            date_of_birth: p.date_of_birth,
            national_id: p.national_id,
            programme: p.programme,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A credential as its issuing agency sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialOut {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: CredentialKind,
    /// Live status.
    pub status: CredentialStatus,
    /// Reason code of the last change.
    pub status_reason_code: Option<String>,
    /// Free text of the last change (agency only).
    pub status_reason_text: Option<String>,
    /// Time of the last change.
    pub status_at: String,
    /// Replacement.
    pub superseded_by: Option<String>,
    /// The credential this one replaced.
    pub supersedes: Option<String>,
    /// Issuer.
    pub issuer: PublicIssuer,
    /// Issue time.
    pub issued_at: String,
    /// Name as printed.
    pub name_as_printed: String,
    /// Subject person (digital IDs).
    pub person_id: Option<String>,
    /// Signing key (full thumbprint).
    pub kid: String,
    /// Status list id.
    pub status_list: i64,
    /// Index in the status list.
    pub status_index: i64,
    /// Document SHA-256 (hex), certificates only.
    pub document_sha256: Option<String>,
    /// What was signed about the subject.
    pub subject: serde_json::Value,
    /// The QR token (compact JWS).
    pub token: String,
    /// The text encoded in the QR.
    pub qr_text: String,
    /// The live record.
    pub live_url: String,
    /// QR as PNG.
    pub qr_png_url: String,
    /// QR as SVG.
    pub qr_svg_url: String,
}

pub(crate) fn credential_out(app: &App, c: CredentialRow) -> CredentialOut {
    let base = app.config.public_base();
    CredentialOut {
        qr_text: issuance::qr_text(base, &c.id, &c.token),
        live_url: format!("{base}/v/{}", c.id),
        qr_png_url: format!("{base}/v/{}/qr.png", c.id),
        qr_svg_url: format!("{base}/v/{}/qr.svg", c.id),
        kind: CredentialKind::parse(&c.kind).unwrap_or(CredentialKind::Document),
        status: CredentialStatus::parse(&c.status).unwrap_or(CredentialStatus::Revoked),
        status_reason_code: c.status_reason_code,
        status_reason_text: c.status_reason_text,
        status_at: rfc3339(c.status_changed_at),
        superseded_by: c.superseded_by,
        supersedes: c.supersedes,
        issuer: app.issuer(&c.agency_code),
        issued_at: rfc3339(c.issued_at),
        name_as_printed: c.name_printed,
        person_id: c.person_id,
        kid: c.kid,
        status_list: c.status_list,
        status_index: c.status_index,
        document_sha256: c.doc_sha256,
        subject: serde_json::from_str(&c.subject_json).unwrap_or_default(),
        token: c.token,
        id: c.id,
    }
}

/// Create a person record.
#[utoipa::path(post, path = "/api/v1/persons", tag = "persons", request_body = PersonInput,
    security(("bearer" = [])),
    responses((status = 201, body = PersonOut), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn create_person(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(input): ApiJson<PersonInput>,
) -> Result<(StatusCode, Json<PersonOut>), AppError> {
    let actor = &auth.require(Scope::Issue)?;
    let p = NewPerson::parse(input)?;
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
    app.store.insert_person(&row, &actor.id).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Replace a person's fields (re-issue their ID afterwards to print the change).
#[utoipa::path(put, path = "/api/v1/persons/{id}", tag = "persons", request_body = PersonInput,
    params(("id" = String, Path, description = "person id")), security(("bearer" = [])),
    responses((status = 200, body = PersonOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_person(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PersonInput>,
) -> Result<Json<PersonOut>, AppError> {
    let actor = &auth.require(Scope::Issue)?;
    let id = PersonId::parse(&id).map_err(|_| AppError::NotFound("person"))?;
    let old = issuance::own_person(&app, actor, &id).await?;
    let p = NewPerson::parse(input)?;
    let row = PersonRow {
        name_ar: p.name_ar.as_str().to_owned(),
        name_en: p.name_en.as_str().to_owned(),
        date_of_birth: p.date_of_birth,
        national_id: p.national_id.as_str().to_owned(),
        programme: p.programme,
        updated_at: now(),
        ..old
    };
    app.store.update_person(&row, &actor.id).await?;
    Ok(Json(row.into()))
}

/// Read a person record.
#[utoipa::path(get, path = "/api/v1/persons/{id}", tag = "persons",
    params(("id" = String, Path, description = "person id")), security(("bearer" = [])),
    responses((status = 200, body = PersonOut), (status = 404, body = Problem)))]
pub async fn get_person(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<PersonOut>, AppError> {
    let actor = &auth.require(Scope::Read)?;
    let id = PersonId::parse(&id).map_err(|_| AppError::NotFound("person"))?;
    Ok(Json(issuance::own_person(&app, actor, &id).await?.into()))
}

/// Query of the person search.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// Exact national ID number.
    pub national_id: Option<String>,
    /// Page size (1-200, default 50).
    pub limit: Option<i64>,
}

/// Search the agency's persons (by exact national ID, or the newest).
#[utoipa::path(get, path = "/api/v1/persons", tag = "persons", params(PersonQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<PersonOut>)))]
pub async fn list_persons(
    State(app): State<Arc<App>>,
    auth: Principal,
    Query(q): Query<PersonQuery>,
) -> Result<Json<Vec<PersonOut>>, AppError> {
    let actor = &auth.require(Scope::Read)?;
    let nid = q
        .national_id
        .as_deref()
        .map(crate::domain::NationalId::parse)
        .transpose()?;
    let rows = app
        .store
        .list_persons(
            actor.agency.as_str(),
            nid.as_ref().map(|n| n.as_str()),
            q.limit.unwrap_or(50).clamp(1, 200),
        )
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Issue a credential (JSON). Documents given by digest; to upload the file use
/// `POST /api/v1/credentials/document`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IssueRequest {
    /// A digital ID for a person of the agency.
    DigitalId {
        /// The person.
        person_id: String,
    },
    /// A document certificate from a digest.
    Document {
        /// SHA-256 of the document, 64 hex or 43 base64url characters.
        sha256: String,
        /// Metadata.
        #[serde(flatten)]
        meta: DocumentMeta,
    },
}

/// Issue a digital ID or a document certificate (by digest).
#[utoipa::path(post, path = "/api/v1/credentials", tag = "credentials", request_body = IssueRequest,
    security(("bearer" = [])),
    responses((status = 201, body = CredentialOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_credential(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(req): ApiJson<IssueRequest>,
) -> Result<(StatusCode, Json<CredentialOut>), AppError> {
    let actor = &auth.require(Scope::Issue)?;
    let row = match req {
        IssueRequest::DigitalId { person_id } => {
            let pid = PersonId::parse(&person_id).map_err(|_| AppError::NotFound("person"))?;
            issuance::issue_digital_id(&app, actor, &pid).await?
        }
        IssueRequest::Document { sha256, meta } => {
            let doc = DocumentInput {
                meta: meta.validate()?,
                digest: DocumentDigest::parse(&sha256)?,
                file: None,
            };
            issuance::issue_document(&app, actor, doc).await?
        }
    };
    Ok((StatusCode::CREATED, Json(credential_out(&app, row))))
}

/// Largest document accepted for certification: 20 MiB = 20,971,520 bytes (the file
/// itself; the request may carry up to 64 KiB more of form fields).
pub const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

/// Most parts in a multipart form.
pub const MAX_FORM_PARTS: usize = 32;

/// Read a multipart form into text fields and at most one file, from one of `file_fields`,
/// of at most `max_file` bytes (a larger file is a 413 naming the limit).
pub(crate) async fn read_form(
    mut mp: Multipart,
    file_fields: &[&str],
    max_file: usize,
) -> Result<
    (
        std::collections::HashMap<String, String>,
        Option<(String, Vec<u8>, String)>,
    ),
    AppError,
> {
    let mut fields = std::collections::HashMap::new();
    let mut file = None;
    // Parts are counted, not names: a name given again is refused, and so is the 33rd part,
    // so a body of 200,000 tiny parts stops at the first few dozen.
    let mut parts = 0usize;
    while let Some(f) = mp
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("bad multipart body: {e}")))?
    {
        parts += 1;
        if parts > MAX_FORM_PARTS {
            return Err(AppError::BadRequest(format!(
                "too many form parts (at most {MAX_FORM_PARTS})"
            )));
        }
        let name = f.name().unwrap_or_default().to_owned();
        if fields.contains_key(&name) {
            return Err(AppError::BadRequest(format!(
                "form field {} given twice",
                name.chars().take(32).collect::<String>()
            )));
        }
        if file_fields.contains(&name.as_str()) {
            let ct = f
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let bytes = f.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::FileTooLarge(max_file)
                } else {
                    AppError::BadRequest(format!("bad multipart body: {e}"))
                }
            })?;
            if file.is_some() {
                return Err(AppError::BadRequest("give one file only".into()));
            }
            if bytes.len() > max_file {
                return Err(AppError::FileTooLarge(max_file));
            }
            file = Some((name, bytes.to_vec(), ct));
        } else {
            let text = f
                .text()
                .await
                .map_err(|e| AppError::BadRequest(format!("bad multipart field: {e}")))?;
            if text.len() > 4096 {
                return Err(AppError::BadRequest("form fields too large".into()));
            }
            fields.insert(name, text);
        }
    }
    Ok((fields, file))
}

/// Multipart form for certifying an uploaded document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentUpload {
    /// The document file (any type, up to 20 MiB = 20,971,520 bytes). Sanad computes its SHA-256.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
    /// Document type.
    doc_type: String,
    /// The agency's number for the document.
    number: String,
    /// Title.
    title: String,
    /// Recipient's name as printed.
    recipient_name: String,
    /// The document's issue date, YYYY-MM-DD.
    issue_date: String,
}

/// Issue a document certificate from an uploaded file.
#[utoipa::path(post, path = "/api/v1/credentials/document", tag = "credentials",
    request_body(content = DocumentUpload, content_type = "multipart/form-data"), security(("bearer" = [])),
    responses((status = 201, body = CredentialOut), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_document_upload(
    State(app): State<Arc<App>>,
    auth: Principal,
    mp: Multipart,
) -> Result<(StatusCode, Json<CredentialOut>), AppError> {
    let actor = &auth.require(Scope::Issue)?;
    let (mut f, file) = read_form(mp, &["file"], MAX_DOCUMENT_BYTES).await?;
    let (_, bytes, ct) =
        file.ok_or_else(|| Invalid::new("file", "the document file is missing"))?;
    if bytes.is_empty() {
        return Err(Invalid::new("file", "the document file is empty").into());
    }
    let mut take = |k: &'static str| -> Result<String, AppError> {
        f.remove(k)
            .ok_or_else(|| Invalid::new(k, "is required").into())
    };
    let meta = DocumentMeta {
        doc_type: take("doc_type")?,
        number: take("number")?,
        title: take("title")?,
        recipient_name: take("recipient_name")?,
        issue_date: take("issue_date")?,
    }
    .validate()?;
    let doc = DocumentInput {
        meta,
        digest: DocumentDigest::of(&bytes),
        file: Some((bytes, ct)),
    };
    let row = issuance::issue_document(&app, actor, doc).await?;
    Ok((StatusCode::CREATED, Json(credential_out(&app, row))))
}

/// Read one of the agency's credentials.
#[utoipa::path(get, path = "/api/v1/credentials/{id}", tag = "credentials",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = CredentialOut), (status = 404, body = Problem)))]
pub async fn get_credential(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<CredentialOut>, AppError> {
    let actor = &auth.require(Scope::Read)?;
    let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
    let c = issuance::own_credential(&app, actor, &id).await?;
    Ok(Json(credential_out(&app, c)))
}

/// Filters for listing credentials.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CredentialQuery {
    /// Only this status.
    pub status: Option<CredentialStatus>,
    /// Only this kind.
    pub kind: Option<CredentialKind>,
    /// Only this person's.
    pub person_id: Option<String>,
    /// Cursor from the previous page's `next`.
    pub cursor: Option<String>,
    /// Page size (1-200, default 50).
    pub limit: Option<i64>,
}

/// A page of credentials.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialPage {
    /// The credentials, newest first.
    pub items: Vec<CredentialOut>,
    /// Cursor for the next page, if there may be one.
    pub next: Option<String>,
}

/// List the agency's credentials, newest first.
#[utoipa::path(get, path = "/api/v1/credentials", tag = "credentials", params(CredentialQuery),
    security(("bearer" = [])), responses((status = 200, body = CredentialPage)))]
pub async fn list_credentials(
    State(app): State<Arc<App>>,
    auth: Principal,
    Query(q): Query<CredentialQuery>,
) -> Result<Json<CredentialPage>, AppError> {
    let actor = &auth.require(Scope::Read)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let (t, id) = c
                .split_once('.')
                .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, CredentialId::parse(id).ok()?)))
                .ok_or_else(|| Invalid::new("cursor", "not a cursor from a previous page"))?;
            Some((t, id.to_string()))
        }
    };
    if let Some(p) = &q.person_id {
        PersonId::parse(p)?;
    }
    let rows = app
        .store
        .list_credentials(
            actor.agency.as_str(),
            &CredentialFilter {
                status: q.status.map(|s| s.as_str().to_owned()),
                kind: q.kind.map(|k| k.as_str().to_owned()),
                person_id: q.person_id,
                before,
                limit,
            },
        )
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| format!("{}.{}", r.issued_at, r.id)))
        .flatten();
    Ok(Json(CredentialPage {
        items: rows.into_iter().map(|r| credential_out(&app, r)).collect(),
        next,
    }))
}

/// Why a lifecycle action is taken.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Reason code (shown publicly, translated).
    pub reason_code: ReasonCode,
    /// Free text for the agency's record (never public; up to 500 characters).
    pub reason_text: Option<String>,
}

fn reason_text(t: Option<String>) -> Result<Option<String>, AppError> {
    match t.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > 500 => {
            Err(Invalid::new("reason_text", "must be at most 500 characters").into())
        }
        other => Ok(other),
    }
}

async fn act(
    app: Arc<App>,
    auth: Principal,
    id: String,
    action: StatusAction,
    req: ActionRequest,
) -> Result<Response, AppError> {
    let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
    let text = reason_text(req.reason_text)?;
    if action == StatusAction::Revoke
        && let Some(r) = approval::gate(
            &app,
            &auth,
            &id,
            Gated::Revoke,
            req.reason_code,
            text.clone(),
        )
        .await?
    {
        return Ok((StatusCode::ACCEPTED, Json(ApprovalOut::from(r))).into_response());
    }
    let actor = &auth.require(Scope::Revoke)?;
    let row = issuance::change_status(&app, actor, &id, action, req.reason_code, text).await?;
    Ok(Json(credential_out(&app, row)).into_response())
}

/// A maker-checker request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalOut {
    /// Id.
    pub id: String,
    /// Agency.
    pub agency: String,
    /// The credential to act on.
    pub credential_id: String,
    /// `revoke` or `reissue`.
    pub action: String,
    /// Reason code.
    pub reason_code: String,
    /// Free text.
    pub reason_text: Option<String>,
    /// Who asked (audit id).
    pub maker: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Who decided.
    pub checker: Option<String>,
    /// When decided.
    pub decided_at: Option<String>,
    /// Why rejected (or the approver's note).
    pub decision_reason: Option<String>,
    /// The replacement of an approved re-issue.
    pub result_id: Option<String>,
}

impl From<ApprovalRow> for ApprovalOut {
    fn from(r: ApprovalRow) -> Self {
        Self {
            id: r.id,
            agency: r.agency_code,
            credential_id: r.credential_id,
            action: r.action,
            reason_code: r.reason_code,
            reason_text: r.reason_text,
            maker: r.maker,
            created_at: rfc3339(r.created_at),
            state: r.state,
            checker: r.checker,
            decided_at: r.decided_at.map(rfc3339),
            decision_reason: r.decision_reason,
            result_id: r.result_id,
        }
    }
}

/// Suspend an active credential.
#[utoipa::path(post, path = "/api/v1/credentials/{id}/suspend", tag = "lifecycle", request_body = ActionRequest,
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = CredentialOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn suspend(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Response, AppError> {
    act(app, auth, id, StatusAction::Suspend, req).await
}

/// Reinstate a suspended credential.
#[utoipa::path(post, path = "/api/v1/credentials/{id}/reinstate", tag = "lifecycle", request_body = ActionRequest,
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = CredentialOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reinstate(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Response, AppError> {
    act(app, auth, id, StatusAction::Reinstate, req).await
}

/// Revoke a credential (final). When the agency requires approval, files a pending
/// request instead (202).
#[utoipa::path(post, path = "/api/v1/credentials/{id}/revoke", tag = "lifecycle", request_body = ActionRequest,
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = CredentialOut), (status = 202, body = ApprovalOut, description = "pending approval"), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Response, AppError> {
    act(app, auth, id, StatusAction::Revoke, req).await
}

/// Re-issue: a new credential from the current data; the old one becomes superseded.
/// When the agency requires approval, files a pending request instead (202).
#[utoipa::path(post, path = "/api/v1/credentials/{id}/reissue", tag = "lifecycle", request_body = ActionRequest,
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 201, body = CredentialOut, description = "the replacement"), (status = 202, body = ApprovalOut, description = "pending approval"), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reissue(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Response, AppError> {
    let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
    let text = reason_text(req.reason_text)?;
    if let Some(r) = approval::gate(
        &app,
        &auth,
        &id,
        Gated::Reissue,
        req.reason_code,
        text.clone(),
    )
    .await?
    {
        return Ok((StatusCode::ACCEPTED, Json(ApprovalOut::from(r))).into_response());
    }
    let actor = &auth.require(Scope::Revoke)?;
    auth.require(Scope::Issue)?;
    let row = issuance::reissue(&app, actor, &id, req.reason_code, text, None).await?;
    Ok((StatusCode::CREATED, Json(credential_out(&app, row))).into_response())
}

/// A credential with its person record, for officers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FullRecord {
    /// The credential.
    pub credential: CredentialOut,
    /// The person (digital IDs).
    pub person: Option<PersonOut>,
}

/// Full record of any agency's credential, for officers (and admins). Every view is
/// written to the audit log with the viewer's id.
#[utoipa::path(get, path = "/api/v1/officer/credentials/{id}", tag = "officer",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = FullRecord), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn officer_view(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Json<FullRecord>, AppError> {
    Ok(Json(full_record(&app, &auth, &id).await?))
}

/// Load a full record for an officer and audit the view.
pub(crate) async fn full_record(
    app: &App,
    auth: &Principal,
    id: &str,
) -> Result<FullRecord, AppError> {
    auth.require_global(Scope::OfficerView)?;
    let id = CredentialId::parse(id).map_err(|_| AppError::NotFound("credential"))?;
    let c = app
        .store
        .get_credential(id.as_str())
        .await
        .map_err(AppError::not_found("credential"))?;
    let person = match &c.person_id {
        Some(pid) => Some(app.store.get_person(pid).await?.into()),
        None => None,
    };
    app.store
        .audit_event(
            &auth.id,
            "credential.view_full",
            &c.id,
            &serde_json::json!({"agency": c.agency_code}),
        )
        .await?;
    tracing::info!(credential.id = %c.id, "full record viewed");
    app.metrics.verification(
        "officer",
        auth.agency.as_ref().map_or("none", |a| a.as_str()),
        &c.status,
    );
    Ok(FullRecord {
        credential: credential_out(app, c),
        person,
    })
}
