//! Standard formats: status lists (IETF and W3C), the trust list, full credentials and the
//! W3C CCG VC-API, so wallets, verifiers and other agencies can use Sanad with their tools.

use super::vcapi::{self, VcApiError, VcApiJson};
use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::domain::{CredentialId, DocumentMeta, Invalid};
use crate::error::{AppError, Problem};
use crate::issuance;
use crate::issuance::vc::{VC_JWT, VC_V2, full_credential};
use crate::status::publish::{self, Purpose, TTL_SECONDS};
use crate::storage::now;
use crate::verification::vc::verify_vc;
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

/// Whether `If-None-Match` names `etag`. The comparison is weak (RFC 9110 §13.1.2: a
/// `W/"…"` tag a cache or CDN handed out matches its strong form).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == opaque(etag))
}

async fn publish_list(
    app: &App,
    headers: &HeaderMap,
    list: u32,
    form: &str,
    media: &'static str,
    make: impl FnOnce(&crate::status::StatusList) -> anyhow::Result<String>,
) -> Result<Response, AppError> {
    let (version, jwt) = app
        .published(list, form, make)?
        .ok_or(AppError::NotFound("status list"))?;
    let etag = format!("\"{form}-{list}-{version}\"");
    if not_modified(headers, &etag) {
        // RFC 9110 §15.4.5: a 304 carries the Cache-Control and ETag a 200 would.
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={TTL_SECONDS}")) {
            h.insert(header::CACHE_CONTROL, v);
        }
        return Ok(res);
    }
    Ok(jwt_response(media, &jwt, Some(etag), TTL_SECONDS))
}

/// An IETF Token Status List (`statuslist+jwt`, 2 bits an entry: 0 valid, 1 revoked,
/// 2 suspended, 3 superseded). ETag, a 1-second max-age (`ttl`) and a validity window
/// (`exp`).
#[utoipa::path(get, path = "/status/{list}", tag = "status",
    params(("list" = u32, Path, description = "status list id")),
    responses((status = 200, description = "the signed list", content_type = "application/statuslist+jwt", body = String),
              (status = 304, description = "not modified"),
              (status = 404, description = "no such list", content_type = "application/problem+json", body = Problem)))]
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

/// A deployment-wide W3C `BitstringStatusListCredential` (`vc+jwt`, issuer: the deployment)
/// for `revocation` (revoked or superseded) or `suspension`. Credentials issued before
/// per-agency lists point here; newer ones point at their agency's list.
#[utoipa::path(get, path = "/status/w3c/{list}/{purpose}", tag = "status",
    params(("list" = u32, Path, description = "status list id"), ("purpose" = String, Path, description = "revocation or suspension")),
    responses((status = 200, description = "the signed list", content_type = "application/vc+jwt", body = String),
              (status = 304, description = "not modified"),
              (status = 404, description = "no such list", content_type = "application/problem+json", body = Problem)))]
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

/// An agency's W3C `BitstringStatusListCredential` (`vc+jwt`) for `revocation` or
/// `suspension`: issued and signed by the agency, so its issuer is the issuer its
/// credentials name (what `checkStatus` of standard libraries requires by default).
#[utoipa::path(get, path = "/agencies/{code}/status/w3c/{list}/{purpose}", tag = "status",
    params(("code" = String, Path, description = "agency code"), ("list" = u32, Path, description = "status list id"), ("purpose" = String, Path, description = "revocation or suspension")),
    responses((status = 200, description = "the signed list", content_type = "application/vc+jwt", body = String),
              (status = 304, description = "not modified"),
              (status = 404, description = "no such agency or list", content_type = "application/problem+json", body = Problem)))]
pub async fn agency_status_w3c(
    State(app): State<Arc<App>>,
    Path((code, list, purpose)): Path<(String, u32, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let purpose = Purpose::parse(&purpose).ok_or(AppError::NotFound("status purpose"))?;
    let agency = local_agency(&app, &code)?;
    let key = app
        .keys
        .signing_key(&agency)
        .ok_or(AppError::NotFound("agency signing key"))?;
    let base = app.config.public_base().to_owned();
    let issuer = crate::issuance::vc::issuer_id(&base, agency.as_str());
    let uri =
        crate::issuance::vc::w3c_list_url(&base, agency.as_str(), list.into(), purpose.as_str());
    let form = format!("{}@{agency}", purpose.as_str());
    publish_list(&app, &headers, list, &form, VC_JWT, |l| {
        Ok(publish::w3c_jwt(l, purpose, &uri, &issuer, &key, now())?)
    })
    .await
}

fn local_agency(app: &App, code: &str) -> Result<crate::domain::AgencyCode, AppError> {
    let agency =
        crate::domain::AgencyCode::parse(code).map_err(|_| AppError::NotFound("agency"))?;
    if !app
        .agencies()
        .iter()
        .any(|a| a.code == agency.as_str() && a.is_local())
    {
        return Err(AppError::NotFound("agency"));
    }
    Ok(agency)
}

/// An agency's issuer document: what its issuer URL (the `issuer.id` of its credentials and
/// status lists) answers. Sanad uses no DIDs: the document names the agency and lists the
/// public keys it signs with, as a JWKS; its `id` is the URL itself.
#[utoipa::path(get, path = "/agencies/{code}", tag = "keys",
    params(("code" = String, Path, description = "agency code")),
    responses((status = 200, description = "the agency's issuer document", body = Object),
              (status = 404, description = "no such agency here", content_type = "application/problem+json", body = Problem)))]
pub async fn agency_issuer(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let agency = local_agency(&app, &code)?;
    let base = app.config.public_base();
    let i = app.issuer(agency.as_str());
    let keys: Vec<Value> = app
        .keys
        .verifying_keys()
        .iter()
        .filter(|k| k.agency == agency)
        .flat_map(|k| {
            let mut short = k.jwk.clone();
            short["kid"] = json!(k.short_kid);
            [k.jwk.clone(), short]
        })
        .collect();
    let doc = json!({
        "@context": [VC_V2],
        "id": crate::issuance::vc::issuer_id(base, agency.as_str()),
        "name": [{"@value": i.name_ar, "@language": "ar"}, {"@value": i.name_en, "@language": "en"}],
        "url": base,
        "jwks": {"keys": keys},
    });
    let mut res = Json(doc).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(res)
}

/// This deployment's agencies and keys (with status and dates), signed, valid until `exp`.
/// The payload's JSON Schema is served at `/.well-known/sanad-trust-list.schema.json`.
#[utoipa::path(get, path = "/.well-known/sanad-trust-list", tag = "keys",
    responses((status = 200, description = "a compact JWS (typ sanad-trust-list+jwt) whose payload follows /.well-known/sanad-trust-list.schema.json", content_type = "application/jwt", body = String)))]
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

/// The JSON Schema (2020-12) of the trust list's payload.
#[utoipa::path(get, path = "/.well-known/sanad-trust-list.schema.json", tag = "keys",
    responses((status = 200, description = "JSON Schema of the trust list payload", content_type = "application/schema+json", body = Object)))]
pub async fn trust_list_schema() -> Response {
    let mut res = (StatusCode::OK, crate::keys::trust::SCHEMA).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    res
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
    /// The credential to issue (VC 2.0 JSON without `proof`, `id` or `credentialStatus`,
    /// which Sanad assigns). `issuer`, if given, must be the caller's agency; `validFrom`
    /// (default: now) and `validUntil` are signed as given and enforced at verification.
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
    responses((status = 201, body = IssueCredentialResponse),
        (status = 400, description = "malformed: `field` and `errors` name the members to fix", content_type = "application/problem+json", body = super::vcapi::VcApiProblem),
        (status = 401, body = Problem)))]
pub async fn vcapi_issue(
    State(app): State<Arc<App>>,
    auth: Principal,
    VcApiJson(req): VcApiJson<IssueCredentialRequest>,
) -> Result<(StatusCode, Json<IssueCredentialResponse>), VcApiError> {
    let actor = &auth.require(Scope::Issue)?;
    let vc = req.credential;
    // Reserved claims and types (status lists, Sanad's own types, JWT claims…) are refused
    // by name before anything else looks at the credential.
    issuance::caller::refuse_reserved(&vc)?;
    let Some(obj) = vc.as_object() else {
        return Err(vcapi::bad_member("credential", "must be a JSON object"));
    };
    // Members Sanad assigns are refused, not overwritten: the caller learns that what it
    // sent is not what would be signed.
    for (member, why) in [
        (
            "proof",
            "must not be given: Sanad secures the credential (vc+jwt)",
        ),
        (
            "id",
            "must not be given: Sanad assigns the credential's id (its live-record URL)",
        ),
        (
            "credentialStatus",
            "must not be given: Sanad assigns the status list entries",
        ),
    ] {
        if obj.contains_key(member) {
            return Err(vcapi::bad_member(member, why));
        }
    }
    let ours = crate::issuance::vc::issuer_id(app.config.public_base(), actor.agency.as_str());
    // Check the data model as it will be issued (issuer and validFrom filled in if absent).
    let mut probe = vc.clone();
    if let Some(o) = probe.as_object_mut() {
        o.entry("issuer").or_insert_with(|| json!(ours));
        o.entry("validFrom")
            .or_insert_with(|| json!(crate::domain::rfc3339(now())));
    }
    crate::domain::vcdm::check_credential(&probe)
        .map_err(|v| vcapi::violations("invalid-credential", &v))?;
    let given_issuer = probe["issuer"]
        .as_str()
        .or(probe["issuer"]["id"].as_str())
        .unwrap_or_default();
    if given_issuer != ours {
        return Err(vcapi::bad_member(
            if probe["issuer"].is_object() {
                "issuer.id"
            } else {
                "issuer"
            },
            &format!("must be {ours}, the issuer this token signs for (or left out)"),
        ));
    }
    let size = serde_json::to_vec(&vc)
        .map_err(|e| AppError::Internal(e.into()))?
        .len();
    if size > 32 * 1024 {
        return Err(AppError::TooLarge.into());
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
    .map_err(|e: Invalid| vcapi::bad_member("credential", &e.to_string()))?;
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

pub use super::vcapi::VerifyCredentialResponse;

/// VC-API: verify an enveloped `vc+jwt` (public). 200 only for a verified credential; any
/// failed check (signature, status — suspended included —, validity …) is a 400 problem
/// whose `errors` name each one.
#[utoipa::path(post, path = "/credentials/verify", tag = "vc-api", request_body = VerifyCredentialRequest,
    responses((status = 200, description = "verified: genuine and in force", body = VerifyCredentialResponse),
              (status = 400, description = "malformed, or not verified: `errors` names each failed check", content_type = "application/problem+json", body = super::vcapi::VcApiProblem)))]
pub async fn vcapi_verify(
    State(app): State<Arc<App>>,
    VcApiJson(req): VcApiJson<VerifyCredentialRequest>,
) -> Result<Response, VcApiError> {
    let jwt = vcapi::enveloped_credential(&req.verifiable_credential)?;
    Ok(vcapi::verification_answer(verify_vc(&app, &jwt).await))
}
