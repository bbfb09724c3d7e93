//! Maker-checker over HTTP: list an agency's requests, approve or reject one.

use super::api::{ApprovalOut, CredentialOut, credential_out};
use super::extract::{ApiJson, ApiQuery};
use crate::app::App;
use crate::approval;
use crate::auth::{Principal, Scope};
use crate::error::{AppError, Problem};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Which requests to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// `pending` (default), `approved` or `rejected`.
    pub state: Option<String>,
}

/// List the agency's maker-checker requests (pending by default).
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", params(ApprovalQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<ApprovalOut>), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiQuery(q): ApiQuery<ApprovalQuery>,
) -> Result<Json<Vec<ApprovalOut>>, AppError> {
    let actor = auth.require(Scope::Read)?;
    let state = q.state.as_deref().unwrap_or("pending");
    if !["pending", "approved", "rejected"].contains(&state) {
        return Err(crate::domain::Invalid::new("state", "pending, approved or rejected").into());
    }
    let rows = app
        .store
        .list_approvals(actor.agency.as_str(), state)
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// An approver's decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why (required to reject; an optional note to approve).
    pub reason: Option<String>,
}

/// An approved request and the credential it acted on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Approved {
    /// The request.
    pub request: ApprovalOut,
    /// The revoked credential, or the replacement of a re-issue.
    pub credential: CredentialOut,
}

/// Approve a request (an approver of the agency other than its maker); carries it out.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", request_body = Decision,
    params(("id" = String, Path, description = "request id")), security(("bearer" = [])),
    responses((status = 200, body = Approved), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<Json<Approved>, AppError> {
    let (r, c) = approval::approve(&app, &auth, &id, d.reason).await?;
    Ok(Json(Approved {
        request: r.into(),
        credential: credential_out(&app, c),
    }))
}

/// Reject a request with a reason.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals", request_body = Decision,
    params(("id" = String, Path, description = "request id")), security(("bearer" = [])),
    responses((status = 200, body = ApprovalOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reject(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<Json<ApprovalOut>, AppError> {
    let r = approval::reject(&app, &auth, &id, d.reason.as_deref().unwrap_or_default()).await?;
    Ok(Json(r.into()))
}
