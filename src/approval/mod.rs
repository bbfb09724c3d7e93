//! Maker-checker: when an agency requires two people, a revocation or re-issue is stored
//! as a pending request, and an approver of the same agency — never the maker — approves
//! it (which carries out the action through [`issuance`]) or rejects it with a reason.
//!
//! The request is claimed (pending → approved) before the action runs, so two approvers
//! racing cannot both act; if the action then fails (the credential changed meanwhile) the
//! request goes back to pending.

use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::domain::{
    CredentialId, CredentialStatus, Invalid, ReasonCode, StatusAction, random_base32,
};
use crate::error::AppError;
use crate::issuance::{self, Actor};
use crate::storage::{ApprovalRow, CredentialRow, StoreError, now};

/// The actions that need a second person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gated {
    /// Revoke (final).
    Revoke,
    /// Re-issue (supersedes the old credential).
    Reissue,
}

impl Gated {
    /// Name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Reissue => "reissue",
        }
    }
}

/// When the principal's agency requires approval, file `action` as a request and return
/// it; otherwise `None` (the caller then acts directly, with its own scope checks).
///
/// A request may be raised by whoever could act alone (a registrar, or a token with the
/// same scopes) and also by an approver: either way a second approver must decide it.
pub async fn gate(
    app: &App,
    p: &Principal,
    id: &CredentialId,
    action: Gated,
    reason_code: ReasonCode,
    reason_text: Option<String>,
) -> Result<Option<ApprovalRow>, AppError> {
    let Some(agency) = &p.agency else {
        return Ok(None);
    };
    if !app.store.requires_approval(agency.as_str()).await? {
        return Ok(None);
    }
    let actor = if p.scopes.contains(&Scope::Approve) {
        p.require(Scope::Approve)?
    } else {
        let a = p.require(Scope::Revoke)?;
        if action == Gated::Reissue {
            p.require(Scope::Issue)?;
        }
        a
    };
    submit(app, &actor, id, action, reason_code, reason_text)
        .await
        .map(Some)
}

/// File a pending request for one of the actor's agency's credentials.
#[tracing::instrument(skip_all, fields(credential.id = %id, action = action.as_str()))]
pub async fn submit(
    app: &App,
    actor: &Actor,
    id: &CredentialId,
    action: Gated,
    reason_code: ReasonCode,
    reason_text: Option<String>,
) -> Result<ApprovalRow, AppError> {
    let c = issuance::own_credential(app, actor, id).await?;
    let from = CredentialStatus::parse(&c.status)?;
    let step = match action {
        Gated::Revoke => StatusAction::Revoke,
        Gated::Reissue => StatusAction::Supersede,
    };
    if step.apply(from).is_none() {
        return Err(AppError::Conflict(format!(
            "cannot {} a credential that is {from}",
            action.as_str()
        )));
    }
    let pending = app
        .store
        .list_approvals(actor.agency.as_str(), "pending")
        .await?;
    if pending.iter().any(|p| p.credential_id == c.id) {
        return Err(AppError::Conflict(
            "a request for this credential is already pending".into(),
        ));
    }
    let row = ApprovalRow {
        id: format!("r{}", random_base32(12).to_lowercase()),
        agency_code: c.agency_code.clone(),
        credential_id: c.id.clone(),
        action: action.as_str().to_owned(),
        reason_code: reason_code.as_str().to_owned(),
        reason_text,
        maker: actor.id.clone(),
        created_at: now(),
        state: "pending".into(),
        checker: None,
        decided_at: None,
        decision_reason: None,
        result_id: None,
    };
    app.store.insert_approval(&row).await?;
    tracing::info!(approval.id = %row.id, "approval requested");
    Ok(row)
}

/// Load a request the principal may decide (404 for another agency's).
async fn decidable(app: &App, p: &Principal, id: &str) -> Result<ApprovalRow, AppError> {
    let r = match app.store.get_approval(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("request")),
        Err(e) => return Err(e.into()),
    };
    p.check(Scope::Approve, &r.agency_code, "request")?;
    if r.maker == p.id {
        return Err(AppError::Forbidden(
            "the maker of a request cannot decide it; another approver must".into(),
        ));
    }
    if r.state != "pending" {
        return Err(AppError::Conflict(format!(
            "the request is already {}",
            r.state
        )));
    }
    Ok(r)
}

/// Approve a request and carry out its action; returns the request and the credential
/// acted on (the replacement, for a re-issue).
#[tracing::instrument(skip_all, fields(approval.id = %id))]
pub async fn approve(
    app: &App,
    p: &Principal,
    id: &str,
    note: Option<String>,
) -> Result<(ApprovalRow, CredentialRow), AppError> {
    let r = decidable(app, p, id).await?;
    let actor = p.require(Scope::Approve)?;
    app.store
        .decide_approval(&r.id, "approved", &p.id, note.as_deref())
        .await?;
    let cid = CredentialId::parse(&r.credential_id)?;
    let code = ReasonCode::parse(&r.reason_code)?;
    let done = match r.action.as_str() {
        "revoke" => {
            issuance::change_status(
                app,
                &actor,
                &cid,
                StatusAction::Revoke,
                code,
                r.reason_text.clone(),
            )
            .await
        }
        _ => issuance::reissue(app, &actor, &cid, code, r.reason_text.clone(), None).await,
    };
    match done {
        Ok(c) => {
            let result = (r.action == "reissue").then_some(c.id.as_str());
            app.store.approval_outcome(&r.id, false, result).await?;
            tracing::info!("approval carried out");
            Ok((app.store.get_approval(&r.id).await?, c))
        }
        Err(e) => {
            app.store.approval_outcome(&r.id, true, None).await?;
            app.store
                .audit_event(
                    &p.id,
                    "approval.failed",
                    &r.id,
                    &serde_json::json!({"error": e.to_string()}),
                )
                .await?;
            Err(e)
        }
    }
}

/// Reject a request with a reason.
#[tracing::instrument(skip_all, fields(approval.id = %id))]
pub async fn reject(
    app: &App,
    p: &Principal,
    id: &str,
    reason: &str,
) -> Result<ApprovalRow, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Invalid::new("reason", "give a reason of 1-500 characters").into());
    }
    let r = decidable(app, p, id).await?;
    app.store
        .decide_approval(&r.id, "rejected", &p.id, Some(reason))
        .await?;
    tracing::info!("approval rejected");
    Ok(app.store.get_approval(&r.id).await?)
}
