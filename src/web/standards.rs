//! Standard formats: status lists (IETF and W3C), the trust list, full credentials and the
//! W3C CCG VC-API, so wallets, verifiers and other agencies can use Sanad with their tools.

use super::extract::ApiJson;
use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::domain::{CredentialId, DocumentMeta, Invalid};
use crate::error::{AppError, Problem};
use crate::issuance;
use crate::issuance::vc::{VC_JWT, VC_V2, full_credential};
use crate::status::publish::{self, Purpose, TTL_SECONDS};
use crate::storage::now;
use crate::verification::{Outcome, vc::verify_vc};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

fn jwt_response(media: &'static str, jwt: &str, etag: Option<String>, max_age: u64) -> Response {
    let mut res = (StatusCode::OK, jwt.to_owned()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(e) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, e);
    }
    res
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

async fn publish_list(
    app: &App,
    headers: &HeaderMap,
    list: u32,
    form: &'static str,
    media: &'static str,
    make: impl FnOnce(&crate::status::StatusList) -> anyhow::Result<String>,
) -> Result<Response, AppError> {
    let (version, jwt) = app
        .published(list, form, make)?
        .ok_or(AppError::NotFound("status list"))?;
    let etag = format!("\"{form}-{list}-{version}\"");
    if not_modified(headers, &etag) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return Ok(res);
    }
    Ok(jwt_response(media, &jwt, Some(etag), TTL_SECONDS))
}

/// An IETF Token Status List (`statuslist+jwt`, 2 bits an entry: 0 valid, 1 revoked,
/// 2 suspended, 3 superseded). ETag and a 1-second max-age.
#[utoipa::path(get, path = "/status/{list}", tag = "status",
    params(("list" = u32, Path, description = "status list id")),
    responses((status = 200, content_type = "application/statuslist+jwt", body = String),
              (status = 304, description = "not modified"), (status = 404, body = Problem)))]
pub async fn status_ietf(
    State(app): State<Arc<App>>,
    Path(list): Path<u32>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let key = app.deployment_key()?;
    let uri = format!("{}/status/{list}", app.config.public_base());
    publish_list(
        &app,
        &headers,
        list,
        "ietf",
        "application/statuslist+jwt",
        |l| Ok(publish::ietf_jwt(l, &uri, &key, now())?),
    )
    .await
}

/// A W3C `BitstringStatusListCredential` (`vc+jwt`) for `revocation` (revoked or
/// superseded) or `suspension`.
#[utoipa::path(get, path = "/status/w3c/{list}/{purpose}", tag = "status",
    params(("list" = u32, Path, description = "status list id"), ("purpose" = String, Path, description = "revocation or suspension")),
    responses((status = 200, content_type = "application/vc+jwt", body = String), (status = 404, body = Problem)))]
pub async fn status_w3c(
    State(app): State<Arc<App>>,
    Path((list, purpose)): Path<(u32, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let purpose = Purpose::parse(&purpose).ok_or(AppError::NotFound("status purpose"))?;
    let key = app.deployment_key()?;
    let base = app.config.public_base().to_owned();
    let uri = format!("{base}/status/w3c/{list}/{}", purpose.as_str());
    let form = purpose.as_str();
    publish_list(&app, &headers, list, form, VC_JWT, |l| {
        Ok(publish::w3c_jwt(l, purpose, &uri, &base, &key, now())?)
    })
    .await
}

/// This deployment's agencies and keys (with status and dates), signed.
#[utoipa::path(get, path = "/.well-known/sanad-trust-list", tag = "keys",
    responses((status = 200, content_type = "application/jwt", body = String)))]
pub async fn trust_list(State(app): State<Arc<App>>) -> Result<Response, AppError> {
    let key = app.deployment_key()?;
    let rows = app.store.list_keys().await?;
    let jwt = crate::keys::trust::build(
        app.config.public_base(),
        &app.agencies(),
        &app.keys.all_keys(),
        &rows,
        &key,
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("signing the trust list: {e}")))?;
    Ok(jwt_response("application/jwt", &jwt, None, 300))
}

/// The full credential (W3C VC 2.0 as `vc+jwt`) of one of the agency's credentials.
#[utoipa::path(get, path = "/api/v1/credentials/{id}/vc", tag = "credentials",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, content_type = "application/vc+jwt", body = String), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn credential_vc(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let actor = &auth.require(Scope::Read)?;
    let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
    let c = issuance::own_credential(&app, actor, &id).await?;
    let jwt = full_credential(&app, &c).await?;
    let mut res = jwt_response(VC_JWT, &jwt, None, 0);
    // The national ID is inside: no cache may keep it.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(res)
}

/// VC-API issue request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IssueCredentialRequest {
    /// The credential to issue (VC 2.0 JSON without proof; `issuer`, `validFrom`, `id` and
    /// `credentialStatus` are set by Sanad).
    pub credential: Value,
    /// Options (none are used yet).
    #[serde(default)]
    pub options: Option<Value>,
}

/// VC-API issue response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueCredentialResponse {
    /// An `EnvelopedVerifiableCredential` whose `id` is `data:application/vc+jwt,<jwt>`.
    pub verifiable_credential: Value,
}

fn envelope(jwt: &str) -> Value {
    json!({
        "@context": [VC_V2],
        "id": format!("data:{VC_JWT},{jwt}"),
        "type": "EnvelopedVerifiableCredential",
    })
}

/// VC-API: issue the given credential as an enveloped `vc+jwt` with status entries added.
#[utoipa::path(post, path = "/credentials/issue", tag = "vc-api", request_body = IssueCredentialRequest,
    security(("bearer" = [])),
    responses((status = 201, body = IssueCredentialResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn vcapi_issue(
    State(app): State<Arc<App>>,
    auth: Principal,
    ApiJson(req): ApiJson<IssueCredentialRequest>,
) -> Result<(StatusCode, Json<IssueCredentialResponse>), AppError> {
    let actor = &auth.require(Scope::Issue)?;
    let mut vc = req.credential;
    // Reserved claims and types (status lists, Sanad's own types, JWT claims…) are refused
    // by name before anything else looks at the credential.
    issuance::caller::refuse_reserved(&vc)?;
    let Some(obj) = vc.as_object_mut() else {
        return Err(AppError::BadRequest(
            "credential must be a JSON object".into(),
        ));
    };
    let ours = crate::issuance::vc::issuer_id(app.config.public_base(), actor.agency.as_str());
    let given_issuer = match obj.get("issuer") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        Some(_) => {
            return Err(AppError::BadRequest(
                "issuer must be a URL or an object".into(),
            ));
        }
    };
    if given_issuer.is_some_and(|i| i != ours) {
        return Err(AppError::BadRequest(format!(
            "issuer must be {ours} (or left out)"
        )));
    }
    for k in ["issuer", "validFrom", "id"] {
        obj.remove(k);
    }
    // Check the shape as it will be issued.
    let mut probe = vc.clone();
    if let Some(o) = probe.as_object_mut() {
        o.insert("issuer".into(), json!(ours));
    }
    let problems = crate::verification::vc::data_model_problems(&probe);
    if !problems.is_empty() {
        return Err(AppError::BadRequest(problems.join("; ")));
    }
    let size = serde_json::to_vec(&vc)
        .map_err(|e| AppError::Internal(e.into()))?
        .len();
    if size > 32 * 1024 {
        return Err(AppError::TooLarge);
    }
    let types: Vec<String> = vc["type"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .filter(|t| *t != "VerifiableCredential")
        .map(str::to_owned)
        .collect();
    let subject_name = vc["credentialSubject"]["name"]
        .as_str()
        .unwrap_or("-")
        .to_owned();
    let meta = DocumentMeta {
        doc_type: "verifiable-credential".into(),
        number: "-".into(),
        title: if types.is_empty() {
            "VerifiableCredential".into()
        } else {
            types.join(" ")
        },
        recipient_name: subject_name.chars().take(80).collect(),
        issue_date: crate::render::pages::date(now()),
    }
    .validate()
    .map_err(|e: Invalid| AppError::BadRequest(e.to_string()))?;
    let row = issuance::issue_vcapi(&app, actor, meta, &vc).await?;
    let jwt = full_credential(&app, &row).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssueCredentialResponse {
            verifiable_credential: envelope(&jwt),
        }),
    ))
}

/// VC-API verify request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyCredentialRequest {
    /// An `EnvelopedVerifiableCredential` (`id` = `data:application/vc+jwt,<jwt>`) or the JWT.
    pub verifiable_credential: Value,
    /// Options (none are used yet).
    #[serde(default)]
    pub options: Option<Value>,
}

/// VC-API verify response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyCredentialResponse {
    /// True when the credential is genuine and in force.
    pub verified: bool,
    /// Names of the checks that passed.
    pub checks: Vec<String>,
    /// Warnings (e.g. suspended).
    pub warnings: Vec<Value>,
    /// Errors (failed checks, with reasons).
    pub errors: Vec<Value>,
    /// Sanad's outcome (SPEC §5).
    pub outcome: Outcome,
    /// Public fields, when identified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<crate::domain::PublicCredential>,
}

/// VC-API: verify an enveloped `vc+jwt` (public).
#[utoipa::path(post, path = "/credentials/verify", tag = "vc-api", request_body = VerifyCredentialRequest,
    responses((status = 200, body = VerifyCredentialResponse), (status = 400, body = Problem)))]
pub async fn vcapi_verify(
    State(app): State<Arc<App>>,
    ApiJson(req): ApiJson<VerifyCredentialRequest>,
) -> Result<Json<VerifyCredentialResponse>, AppError> {
    let jwt = match &req.verifiable_credential {
        Value::String(s) => s.clone(),
        Value::Object(o)
            if o.get("type")
                .is_some_and(|t| t == "EnvelopedVerifiableCredential") =>
        {
            o.get("id")
                .and_then(Value::as_str)
                .and_then(|id| id.strip_prefix("data:application/vc+jwt,"))
                .map(str::to_owned)
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "the envelope's id must be data:application/vc+jwt,<jwt>".into(),
                    )
                })?
        }
        _ => {
            return Err(AppError::BadRequest(
                "verifiableCredential must be an EnvelopedVerifiableCredential or a vc+jwt".into(),
            ));
        }
    };
    let v = verify_vc(&app, &jwt).await;
    let checks = v
        .checks
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.name.to_owned())
        .collect();
    let failed: Vec<Value> = v
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| json!({"name": c.name, "message": c.detail}))
        .collect();
    let verified = v.outcome == Outcome::Valid;
    let (warnings, errors) = if matches!(v.outcome, Outcome::Suspended) {
        (failed, vec![])
    } else {
        (vec![], failed)
    };
    Ok(Json(VerifyCredentialResponse {
        verified,
        checks,
        warnings,
        errors,
        outcome: v.outcome,
        credential: v.credential,
    }))
}
