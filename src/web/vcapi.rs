//! The shape of W3C VC-API answers: 400 ProblemDetails (never 422) for a bad request, a
//! verification answer that is 200 only when the credential or presentation is verified and
//! otherwise a 400 ProblemDetails whose `errors` name each failed check, and
//! `POST /presentations/verify` for enveloped presentations (`vp+jwt`).
//!
//! The handlers for issue and verify live in `standards`; this module holds what they share
//! and the presentation endpoint.

use super::extract::ApiJson;
use crate::app::App;
use crate::domain::vcdm::{self, Violation};
use crate::error::AppError;
use crate::keys::{inspect, verify_compact};
use crate::verification::{Check, Outcome, Verification, vc::verify_vc};
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// Media type of an enveloped presentation.
pub const VP_JWT: &str = "application/vp+jwt";
/// Most enveloped credentials one presentation may carry.
pub const MAX_PRESENTED: usize = 16;

/// The body of every VC-API 400 (RFC 9457 problem+json), as the OpenAPI document describes
/// it for client generators: the members of every Sanad problem, and the VC-API's own
/// `errors` (one entry a failed check or violated member) and, for a failed verification,
/// `verified`, `outcome`, `checks` and `warnings`. The handlers build it with `problem`;
/// the TypeScript client test (`tests/e2e/openapi-ts.test.mjs`) reads these members through
/// the generated types, and the API tests read every VC-API 400 into it (unknown members
/// refused), so the description cannot fall behind the bodies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VcApiProblem {
    /// A URI naming the problem type (`urn:sanad:problem:…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary.
    pub title: String,
    /// HTTP status code (400).
    pub status: u16,
    /// What went wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The member the caller must fix, for a malformed request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Each failed check or violated member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<VcApiProblemEntry>>,
    /// `false`, for a credential or presentation that was read but not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Sanad's outcome (SPEC §5), for a credential that was read but not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Names of the checks that passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    /// Warnings (none are given yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Value>>,
    /// Public fields, when the credential could be identified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<crate::domain::PublicCredential>,
}

/// One entry of a VC-API problem's `errors`: a failed check (`type`, `title`, `detail`,
/// `check`) or a violated member of the data model (`member`, `message`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VcApiProblemEntry {
    /// A URI naming the failure (`urn:sanad:problem:credential-revoked`, …), for checks.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Short summary, for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Detail of a failed check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The check that failed (`signature`, `status`, `validity`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// The violated member of the credential (data-model errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// What is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A VC-API error: a problem+json response, always 400 for what the caller sent.
#[derive(Debug)]
pub struct VcApiError(Box<Response>);

impl IntoResponse for VcApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<AppError> for VcApiError {
    fn from(e: AppError) -> Self {
        match e {
            // The VC-API answers every malformed request with 400.
            AppError::Invalid(i) => Self(Box::new(problem(
                "invalid-input",
                &i.message,
                Some(i.field.to_owned()),
                json!({}),
            ))),
            other => Self(Box::new(other.into_response())),
        }
    }
}

fn problem(slug: &str, detail: &str, field: Option<String>, extra: Value) -> Response {
    let mut body = json!({
        "type": format!("urn:sanad:problem:{slug}"),
        "title": "Bad Request",
        "status": 400,
        "detail": detail,
    });
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let mut res = (StatusCode::BAD_REQUEST, Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// 400 naming the member the caller must fix (`field`), with every violation listed.
pub fn bad_member(member: &str, message: &str) -> VcApiError {
    VcApiError(Box::new(problem(
        "invalid-credential",
        &format!("{member}: {message}"),
        Some(member.to_owned()),
        json!({"errors": [{"member": member, "message": message}]}),
    )))
}

/// 400 for data-model violations: `field` is the first member, `errors` all of them.
pub fn violations(slug: &str, v: &[Violation]) -> VcApiError {
    let errors: Vec<Value> = v
        .iter()
        .map(|x| json!({"member": x.member, "message": x.message}))
        .collect();
    VcApiError(Box::new(problem(
        slug,
        &vcdm::describe(v),
        v.first().map(|x| x.member.clone()),
        json!({ "errors": errors }),
    )))
}

/// `ApiJson` whose every rejection is a 400 (the VC-API has no 422).
pub struct VcApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for VcApiJson<T> {
    type Rejection = VcApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(v)| Self(v))
            .map_err(VcApiError::from)
    }
}

/// A failed check as a VC-API ProblemDetails entry.
fn check_problem(c: &Check, outcome: Outcome) -> Value {
    let slug = match (c.name, outcome) {
        ("status", Outcome::Suspended) => "credential-suspended".to_owned(),
        ("status", Outcome::Revoked) => "credential-revoked".to_owned(),
        ("status", Outcome::Superseded) => "credential-superseded".to_owned(),
        (name, _) => format!("{}-failed", name.replace('_', "-")),
    };
    json!({
        "type": format!("urn:sanad:problem:{slug}"),
        "title": format!("{} check failed", c.name),
        "detail": c.detail,
        "check": c.name,
    })
}

/// The VC-API verification answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyCredentialResponse {
    /// Always true in a 200 answer (a failure is a 400 problem).
    pub verified: bool,
    /// Names of the checks that passed.
    pub checks: Vec<String>,
    /// Warnings (none are given yet).
    pub warnings: Vec<Value>,
    /// Errors (empty in a 200 answer).
    pub errors: Vec<Value>,
    /// Sanad's outcome (SPEC §5).
    pub outcome: Outcome,
    /// Public fields, when identified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<crate::domain::PublicCredential>,
}

/// 200 with the VC-API result when verified; otherwise a 400 problem naming each failed
/// check in `errors` (a suspended credential is an error, not a warning: it is not in
/// force).
pub fn verification_answer(v: Verification) -> Response {
    let passed: Vec<String> = v
        .checks
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.name.to_owned())
        .collect();
    if v.outcome == Outcome::Valid {
        return Json(VerifyCredentialResponse {
            verified: true,
            checks: passed,
            warnings: vec![],
            errors: vec![],
            outcome: v.outcome,
            credential: v.credential,
        })
        .into_response();
    }
    let errors: Vec<Value> = v
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| check_problem(c, v.outcome))
        .collect();
    let failed: Vec<&str> = v.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    problem(
        "verification-failed",
        &format!(
            "not verified ({}): failed {}",
            serde_json::to_value(v.outcome)
                .ok()
                .and_then(|o| o.as_str().map(str::to_owned))
                .unwrap_or_default(),
            failed.join(", ")
        ),
        None,
        json!({
            "verified": false,
            "outcome": v.outcome,
            "checks": passed,
            "warnings": [],
            "errors": errors,
            "credential": v.credential,
        }),
    )
}

/// The `vc+jwt` inside what a VC-API caller sent: an `EnvelopedVerifiableCredential` (checked
/// against VC 2.0 §4.13) or the bare JWT.
pub fn enveloped_credential(v: &Value) -> Result<String, VcApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(_) => {
            vcdm::check_envelope(v, "EnvelopedVerifiableCredential", "application/vc+jwt")
                .map(str::to_owned)
                .map_err(|e| violations("invalid-envelope", &e))
        }
        _ => Err(bad_member(
            "verifiableCredential",
            "must be an EnvelopedVerifiableCredential or a vc+jwt",
        )),
    }
}

/// VC-API verify-presentation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyPresentationRequest {
    /// An `EnvelopedVerifiablePresentation` (`id` = `data:application/vp+jwt,<jwt>`) or the
    /// JWT.
    pub verifiable_presentation: Value,
    /// Options (none are used yet).
    #[serde(default)]
    pub options: Option<Value>,
}

/// VC-API verify-presentation answer (200 only when the presentation and every credential
/// in it verify).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyPresentationResponse {
    /// Always true in a 200 answer.
    pub verified: bool,
    /// Names of the presentation's checks that passed.
    pub checks: Vec<String>,
    /// Warnings (none are given yet).
    pub warnings: Vec<Value>,
    /// Errors (empty in a 200 answer).
    pub errors: Vec<Value>,
    /// One result per enveloped credential, in order.
    pub credentials: Vec<VerifyCredentialResponse>,
}

fn presentation_failure(check: &str, detail: String) -> Response {
    problem(
        "verification-failed",
        &format!("presentation not verified: {check}: {detail}"),
        None,
        json!({
            "verified": false,
            "checks": [],
            "warnings": [],
            "errors": [{
                "type": format!("urn:sanad:problem:{}-failed", check.replace('_', "-")),
                "title": format!("{check} check failed"),
                "detail": detail,
                "check": check,
            }],
        }),
    )
}

/// VC-API: verify an enveloped presentation (`vp+jwt`, VC-JOSE-COSE §3.2) and each enveloped
/// credential in it. The presentation must be signed by a key in this deployment's trust
/// list (an agency presenting to another): Sanad fetches no holder keys from URLs, and a
/// key embedded in the header (`jwk`) would prove nothing about who holds it.
#[utoipa::path(post, path = "/presentations/verify", tag = "vc-api", request_body = VerifyPresentationRequest,
    responses((status = 200, description = "the presentation and every credential in it verify", body = VerifyPresentationResponse),
              (status = 400, description = "malformed, or not verified: `errors` names each failed check", content_type = "application/problem+json", body = VcApiProblem)))]
pub async fn verify_presentation(
    State(app): State<Arc<App>>,
    VcApiJson(req): VcApiJson<VerifyPresentationRequest>,
) -> Result<Response, VcApiError> {
    let jwt = match &req.verifiable_presentation {
        Value::String(s) => s.clone(),
        v @ Value::Object(_) => vcdm::check_envelope(v, "EnvelopedVerifiablePresentation", VP_JWT)
            .map(str::to_owned)
            .map_err(|e| violations("invalid-envelope", &e))?,
        _ => {
            return Err(bad_member(
                "verifiablePresentation",
                "must be an EnvelopedVerifiablePresentation or a vp+jwt",
            ));
        }
    };
    let jwt = jwt.trim();
    let header = match inspect(jwt) {
        Ok(h) => h,
        Err(e) => return Ok(presentation_failure("format", e.to_string())),
    };
    if header.typ.as_deref() != Some("vp+jwt") {
        return Ok(presentation_failure("format", "typ is not vp+jwt".into()));
    }
    let Some(key) = app
        .keys
        .get(&header.kid)
        .filter(|k| k.status != crate::keys::KeyStatus::Revoked)
    else {
        return Ok(presentation_failure(
            "holder_trusted",
            "signed by a key this deployment does not trust".into(),
        ));
    };
    let payload = match verify_compact(jwt, &key.verifier) {
        Ok(p) => p,
        Err(e) => return Ok(presentation_failure("signature", e.to_string())),
    };
    let Ok(vp) = serde_json::from_slice::<Value>(&payload) else {
        return Ok(presentation_failure("format", "claims are not JSON".into()));
    };
    if let Err(v) = vcdm::check_presentation(&vp) {
        return Ok(presentation_failure("data_model", vcdm::describe(&v)));
    }
    for wrapper in ["vc", "vp"] {
        if vp.get(wrapper).is_some() {
            return Ok(presentation_failure(
                "data_model",
                format!("{wrapper}: claim not allowed in a vp+jwt (VC-JOSE-COSE)"),
            ));
        }
    }
    let presented: Vec<Value> = match vp.get("verifiableCredential") {
        None => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(one) => vec![one.clone()],
    };
    if presented.len() > MAX_PRESENTED {
        return Ok(presentation_failure(
            "format",
            format!("more than {MAX_PRESENTED} credentials"),
        ));
    }
    let mut results = Vec::with_capacity(presented.len());
    let mut errors = Vec::new();
    for (i, env) in presented.iter().enumerate() {
        let vc_jwt = match vcdm::check_envelope(
            env,
            "EnvelopedVerifiableCredential",
            "application/vc+jwt",
        ) {
            Ok(t) => t.to_owned(),
            Err(v) => {
                errors.push(json!({
                    "type": "urn:sanad:problem:data-model-failed",
                    "title": "data_model check failed",
                    "detail": format!("verifiableCredential[{i}]: {}", vcdm::describe(&v)),
                    "check": "data_model",
                    "credential": i,
                }));
                continue;
            }
        };
        let v = verify_vc(&app, &vc_jwt).await;
        for c in v.checks.iter().filter(|c| !c.ok) {
            let mut e = check_problem(c, v.outcome);
            e["credential"] = json!(i);
            errors.push(e);
        }
        results.push(VerifyCredentialResponse {
            verified: v.outcome == Outcome::Valid,
            checks: v
                .checks
                .iter()
                .filter(|c| c.ok)
                .map(|c| c.name.to_owned())
                .collect(),
            warnings: vec![],
            errors: vec![],
            outcome: v.outcome,
            credential: v.credential,
        });
    }
    let checks = vec![
        "format".to_owned(),
        "holder_trusted".to_owned(),
        "signature".to_owned(),
        "data_model".to_owned(),
    ];
    if errors.is_empty() {
        return Ok(Json(VerifyPresentationResponse {
            verified: true,
            checks,
            warnings: vec![],
            errors: vec![],
            credentials: results,
        })
        .into_response());
    }
    Ok(problem(
        "verification-failed",
        &format!(
            "presentation not verified: {} failed check(s) in its credentials",
            errors.len()
        ),
        None,
        json!({
            "verified": false,
            "checks": checks,
            "warnings": [],
            "errors": errors,
            "credentials": results,
        }),
    ))
}
