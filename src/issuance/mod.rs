//! Issuance: build the compact claims, sign them with the agency's active key, take a
//! status-list slot, and store everything in one transaction. Re-issue is issuance plus
//! superseding the old credential in the same transaction, so there is never a moment with
//! both or neither in force.

use crate::app::App;
use crate::domain::{
    AgencyCode, CredentialId, CredentialKind, CredentialStatus, DocumentDigest, DocumentMeta,
    Invalid, PersonId, QrClaims, ReasonCode, StatusAction, token_to_digits,
};
use crate::error::AppError;
use crate::keys::{Artefact, kind};
use crate::status::LIST_SIZE;
use crate::storage::{CredentialRow, NewCredential, PersonRow, StatusChange, StoreError, now};
pub mod bulk;
pub mod caller;
pub mod vc;

use anyhow::Context as _;

/// Who is acting, for the audit log and the agency check.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Audit id, e.g. `token:abc123`.
    pub id: String,
    /// The agency the actor works for.
    pub agency: AgencyCode,
}

/// A document to certify: metadata plus either the file or its digest.
#[derive(Debug, Clone)]
pub struct DocumentInput {
    /// Validated metadata.
    pub meta: DocumentMeta,
    /// The digest (computed by Sanad when a file is given).
    pub digest: DocumentDigest,
    /// The file and its media type, when uploaded and kept.
    pub file: Option<(Vec<u8>, String)>,
}

/// What a re-issue supersedes and why.
#[derive(Debug, Clone)]
pub struct Supersede {
    /// The credential being replaced.
    pub old: CredentialRow,
    /// Why.
    pub reason_code: ReasonCode,
    /// Free text.
    pub reason_text: Option<String>,
}

pub(crate) struct Draft {
    kind: CredentialKind,
    person_id: Option<String>,
    name_printed: String,
    subject: serde_json::Value,
    digest: Option<DocumentDigest>,
    file: Option<(Vec<u8>, String)>,
}

/// The QR text of a credential: `{public_url}/v/{id}#{token digits}`.
pub fn qr_text(public_base: &str, id: &str, token: &str) -> String {
    format!("{public_base}/v/{id}#{}", token_to_digits(token))
}

/// The reference-only QR text (no token), for tiny prints.
pub fn qr_reference(public_base: &str, id: &str) -> String {
    format!("{public_base}/v/{id}")
}

/// Load a person of the actor's agency (another agency's person is "not found": its
/// existence is not revealed).
pub async fn own_person(app: &App, actor: &Actor, id: &PersonId) -> Result<PersonRow, AppError> {
    match app.store.get_person(id.as_str()).await {
        Ok(p) if p.agency_code == actor.agency.as_str() => Ok(p),
        Ok(_) | Err(StoreError::NotFound) => Err(AppError::NotFound("person")),
        Err(e) => Err(e.into()),
    }
}

/// Load a credential of the actor's agency.
pub async fn own_credential(
    app: &App,
    actor: &Actor,
    id: &CredentialId,
) -> Result<CredentialRow, AppError> {
    match app.store.get_credential(id.as_str()).await {
        Ok(c) if c.agency_code == actor.agency.as_str() => Ok(c),
        Ok(_) | Err(StoreError::NotFound) => Err(AppError::NotFound("credential")),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn person_draft(p: &PersonRow) -> Draft {
    Draft {
        kind: CredentialKind::DigitalId,
        person_id: Some(p.id.clone()),
        name_printed: p.name_ar.clone(),
        subject: serde_json::json!({
            "name_ar": p.name_ar, "name_en": p.name_en, "date_of_birth": p.date_of_birth,
            "programme": p.programme,
        }),
        digest: None,
        file: None,
    }
}

pub(crate) fn document_draft(d: DocumentInput) -> Draft {
    Draft {
        kind: CredentialKind::Document,
        person_id: None,
        name_printed: d.meta.recipient_name.clone(),
        subject: serde_json::json!({
            "doc_type": d.meta.doc_type, "number": d.meta.number, "title": d.meta.title,
            "recipient_name": d.meta.recipient_name, "issue_date": d.meta.issue_date,
            "sha256": d.digest.hex(),
        }),
        digest: Some(d.digest),
        file: d.file,
    }
}

/// Issue a digital ID for one of the actor's agency's persons.
#[tracing::instrument(skip_all, fields(person.id = %person_id, agency.code = %actor.agency))]
pub async fn issue_digital_id(
    app: &App,
    actor: &Actor,
    person_id: &PersonId,
) -> Result<CredentialRow, AppError> {
    let p = own_person(app, actor, person_id).await?;
    issue(app, actor, person_draft(&p), None).await
}

/// Issue a document certificate. The uploaded file's media type is the caller's word, so
/// the one Sanad uses internally to mark a VC-API credential's JSON is never taken from it:
/// an upload typed `application/vc+ld+json` is kept as an ordinary file.
#[tracing::instrument(skip_all, fields(agency.code = %actor.agency))]
pub async fn issue_document(
    app: &App,
    actor: &Actor,
    mut doc: DocumentInput,
) -> Result<CredentialRow, AppError> {
    if let Some((_, media)) = &mut doc.file {
        let essence = media.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case(vc::VC_SUBMITTED_MEDIA_TYPE) {
            *media = "application/octet-stream".into();
        }
    }
    issue(app, actor, document_draft(doc), None).await
}

/// Issue a VC-API credential: the caller's credential JSON (already checked by
/// [`caller::refuse_reserved`]) is kept under the internal marker so the full credential
/// can be rebuilt from it.
#[tracing::instrument(skip_all, fields(agency.code = %actor.agency))]
pub async fn issue_vcapi(
    app: &App,
    actor: &Actor,
    meta: DocumentMeta,
    credential: &serde_json::Value,
) -> Result<CredentialRow, AppError> {
    caller::refuse_reserved(credential)?;
    let bytes = serde_json::to_vec(credential).map_err(|e| AppError::Internal(e.into()))?;
    let doc = DocumentInput {
        meta,
        digest: DocumentDigest::of(&bytes),
        file: Some((bytes, vc::VC_SUBMITTED_MEDIA_TYPE.into())),
    };
    issue(app, actor, document_draft(doc), None).await
}

/// Re-issue: a new credential from the current person record (digital IDs) or the old
/// certificate's metadata with an optional new document, superseding the old one.
#[tracing::instrument(skip_all, fields(credential.id = %id, agency.code = %actor.agency))]
pub async fn reissue(
    app: &App,
    actor: &Actor,
    id: &CredentialId,
    reason_code: ReasonCode,
    reason_text: Option<String>,
    new_document: Option<DocumentInput>,
) -> Result<CredentialRow, AppError> {
    let old = own_credential(app, actor, id).await?;
    let from = CredentialStatus::parse(&old.status)?;
    if StatusAction::Supersede.apply(from).is_none() {
        return Err(AppError::Conflict(format!(
            "a {from} credential cannot be re-issued"
        )));
    }
    let draft = match CredentialKind::parse(&old.kind)? {
        CredentialKind::DigitalId => {
            let pid = old
                .person_id
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("digital ID without a person"))?;
            let p = own_person(app, actor, &PersonId::parse(pid)?).await?;
            person_draft(&p)
        }
        CredentialKind::Document => match new_document {
            Some(d) => document_draft(d),
            None => {
                let meta: DocumentMeta =
                    serde_json::from_str(&old.subject_json).context("stored document metadata")?;
                let digest = DocumentDigest::parse(old.doc_sha256.as_deref().unwrap_or_default())?;
                let file = app.store.get_document_file(&old.id).await?;
                document_draft(DocumentInput { meta, digest, file })
            }
        },
    };
    issue(
        app,
        actor,
        draft,
        Some(Supersede {
            old,
            reason_code,
            reason_text,
        }),
    )
    .await
}

async fn issue(
    app: &App,
    actor: &Actor,
    draft: Draft,
    supersede: Option<Supersede>,
) -> Result<CredentialRow, AppError> {
    let key = app.keys.signing_key(&actor.agency).ok_or_else(|| {
        AppError::Conflict(format!("agency {} has no active signing key", actor.agency))
    })?;
    // A slot collision can only come from another instance allocating the same slot before
    // our feed caught up; a few retries with fresh slots settle it.
    for _ in 0..5 {
        let (list, index) = allocate_slot(app).await?;
        let id = CredentialId::generate();
        let issued_at = now();
        let claims = QrClaims {
            issuer: actor.agency.to_string(),
            id: id.to_string(),
            issued_at,
            name: draft.name_printed.clone(),
            status: (list, index),
            digest: draft.digest.map(|d| d.b64()),
        };
        let payload = serde_json::to_value(&claims).context("claims to JSON")?;
        let token = kind::sign(Artefact::QrToken, &payload, &key.signer(key.short_kid()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let new = NewCredential {
            id: id.to_string(),
            agency_code: actor.agency.to_string(),
            kind: draft.kind.as_str().to_owned(),
            person_id: draft.person_id.clone(),
            kid: key.kid.clone(),
            supersedes: supersede.as_ref().map(|s| s.old.id.clone()),
            issued_at,
            name_printed: draft.name_printed.clone(),
            status_list: i64::from(list),
            status_index: i64::from(index),
            token,
            subject_json: draft.subject.to_string(),
            doc_sha256: draft.digest.map(|d| d.hex()),
            doc_file: draft
                .file
                .as_ref()
                .filter(|f| keep(app, f))
                .map(|f| f.0.clone()),
            doc_media_type: draft
                .file
                .as_ref()
                .filter(|f| keep(app, f))
                .map(|f| f.1.clone()),
            created_by: actor.id.clone(),
        };
        let change = supersede.as_ref().map(|s| StatusChange {
            credential_id: s.old.id.clone(),
            from_status: Some(s.old.status.clone()),
            to_status: CredentialStatus::Superseded.as_str().to_owned(),
            reason_code: Some(s.reason_code.as_str().to_owned()),
            reason_text: s.reason_text.clone(),
            superseded_by: Some(id.to_string()),
            actor: actor.id.clone(),
            at: issued_at,
        });
        match app.store.insert_credential(&new, change.as_ref()).await {
            Ok(()) => {
                app.status.sync(&app.store).await?;
                app.metrics
                    .issued(actor.agency.as_str(), draft.kind.as_str());
                if change.is_some() {
                    app.metrics.status_change(
                        actor.agency.as_str(),
                        CredentialStatus::Superseded.as_str(),
                    );
                }
                tracing::info!(credential.id = %id, credential.kind = draft.kind.as_str(), "issued");
                return Ok(app.store.get_credential(id.as_str()).await?);
            }
            Err(StoreError::Conflict(m))
                if m.contains("status") || m.contains("UNIQUE") || m.contains("unique") =>
            {
                if supersede.is_some() && m.contains("status changed") {
                    return Err(AppError::Conflict(m));
                }
                app.status.sync(&app.store).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "could not find a free status slot after 5 attempts"
    )))
}

/// Keep an uploaded file? Documents as configured; a VC-API credential's JSON always (the
/// full credential is rebuilt from it).
fn keep(app: &App, file: &(Vec<u8>, String)) -> bool {
    app.config.keep_documents || file.1 == vc::VC_SUBMITTED_MEDIA_TYPE
}

pub(crate) async fn allocate_slot(app: &App) -> Result<(u32, u32), AppError> {
    loop {
        match app.status.allocate() {
            Ok(slot) => return Ok(slot),
            Err(next) => {
                app.store
                    .create_status_list(i64::from(next), i64::from(LIST_SIZE))
                    .await?;
                app.status.add_list(next, LIST_SIZE);
                tracing::info!(status.list = next, "opened a new status list");
            }
        }
    }
}

/// Suspend, reinstate or revoke a credential of the actor's agency.
#[tracing::instrument(skip_all, fields(credential.id = %id, action = action.as_str()))]
pub async fn change_status(
    app: &App,
    actor: &Actor,
    id: &CredentialId,
    action: StatusAction,
    reason_code: ReasonCode,
    reason_text: Option<String>,
) -> Result<CredentialRow, AppError> {
    let c = own_credential(app, actor, id).await?;
    let from = CredentialStatus::parse(&c.status)?;
    let to = action.apply(from).ok_or_else(|| {
        AppError::Conflict(format!(
            "cannot {} a credential that is {from}",
            action.as_str()
        ))
    })?;
    if action == StatusAction::Supersede {
        return Err(Invalid::new("action", "use re-issue to supersede").into());
    }
    app.store
        .change_status(&StatusChange {
            credential_id: c.id.clone(),
            from_status: Some(from.as_str().to_owned()),
            to_status: to.as_str().to_owned(),
            reason_code: Some(reason_code.as_str().to_owned()),
            reason_text,
            superseded_by: None,
            actor: actor.id.clone(),
            at: now(),
        })
        .await?;
    app.status.sync(&app.store).await?;
    app.metrics
        .status_change(actor.agency.as_str(), to.as_str());
    tracing::info!(status.to = to.as_str(), "status changed");
    Ok(app.store.get_credential(id.as_str()).await?)
}

/// Re-issue every active or suspended credential signed by `kid` (after the key was revoked),
/// each by its own agency's current key. Returns how many succeeded and failed; failures are
/// logged by id and the rest go on.
pub async fn reissue_signed_by(
    app: &App,
    kid: &str,
    actor_id: &str,
) -> Result<(usize, usize), AppError> {
    let key = app.keys.get(kid).ok_or(AppError::NotFound("key"))?;
    let list = app.store.credentials_signed_by(&key.kid).await?;
    let (mut ok, mut failed) = (0, 0);
    for (id, agency) in list {
        let actor = Actor {
            id: actor_id.to_owned(),
            agency: AgencyCode::parse(&agency)?,
        };
        let cid = CredentialId::parse(&id)?;
        match reissue(
            app,
            &actor,
            &cid,
            ReasonCode::KeyCompromise,
            Some(format!("signing key {} revoked", key.short_kid)),
            None,
        )
        .await
        {
            Ok(_) => ok += 1,
            Err(e) => {
                tracing::warn!(credential.id = %id, error = %e, "bulk re-issue failed for one credential");
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}
