//! The audit log over HTTP, for admins: entries, signed checkpoints (RFC 6962 tree heads)
//! and inclusion proofs. Registrars get no audit view: entries of status changes do not
//! all name their agency, and a partial view would look complete.

use super::extract::ApiQuery;
use crate::app::App;
use crate::audit::{self, Checkpoint, InclusionProof};
use crate::auth::{Principal, Scope};
use crate::domain::rfc3339;
use crate::error::{AppError, Problem};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// An audit entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`user:…`, `token:…`, `system`, `anonymous`).
    pub actor: String,
    /// What.
    pub action: String,
    /// On what (an id).
    pub subject: String,
    /// Detail (JSON, no personal data).
    pub detail: serde_json::Value,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries after this sequence number.
    pub after: Option<i64>,
    /// Page size (1-500, default 100).
    pub limit: Option<i64>,
}

/// Audit entries in order (admin).
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = Problem)))]
pub async fn entries(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    auth.require_global(Scope::Admin)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = app.store.audit_page(after, limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| AuditEntry {
                seq: e.seq,
                at: rfc3339(e.at),
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                detail: serde_json::from_str(&e.detail).unwrap_or_default(),
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
    ))
}

/// A signed checkpoint of the whole log (admin).
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Checkpoint), (status = 403, body = Problem)))]
pub async fn checkpoint(
    State(app): State<Arc<App>>,
    auth: Principal,
) -> Result<Json<Checkpoint>, AppError> {
    auth.require_global(Scope::Admin)?;
    Ok(Json(audit::checkpoint(&app).await?))
}

/// Which tree the proof is for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// Tree size of an earlier checkpoint (default: the whole log now).
    pub tree_size: Option<u64>,
}

/// Inclusion proof of entry `seq` (admin).
#[utoipa::path(get, path = "/api/v1/audit/entries/{seq}/proof", tag = "audit", params(("seq" = String, Path, description = "entry sequence number"), ProofQuery),
    security(("bearer" = [])),
    responses((status = 200, body = InclusionProof), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn proof(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(seq): Path<String>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, AppError> {
    auth.require_global(Scope::Admin)?;
    let seq: i64 = seq.parse().map_err(|_| AppError::NotFound("audit entry"))?;
    audit::inclusion_proof(&app.store, seq, q.tree_size)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("audit entry"))
}
