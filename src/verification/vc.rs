//! Verification of full credentials (`vc+jwt`): the same checks as a QR token, plus the VC
//! 2.0 data-model rules this deployment relies on.

use super::{Check, Outcome, Verification, finish, pass};
use crate::app::App;
use crate::domain::{CredentialKind, PublicCredential, rfc3339};
use crate::issuance::vc::VC_V2;
use crate::keys::{Artefact, kind, verify_compact};
use serde_json::Value;

/// Check a VC 2.0 credential's shape: the base context first, `VerifiableCredential` among
/// the types, an issuer (URL or object with an `id` URL), a subject, an RFC 3339
/// `validFrom`, no `validUntil` (Sanad credentials never expire) and well-formed
/// `BitstringStatusListEntry` entries. Returns the problems found.
pub fn data_model_problems(vc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(obj) = vc.as_object() else {
        return vec!["the credential is not a JSON object".into()];
    };
    match obj.get("@context").and_then(Value::as_array) {
        Some(c) if c.first().and_then(Value::as_str) == Some(VC_V2) => {}
        _ => p.push(format!("@context must be an array starting with {VC_V2}")),
    }
    match obj.get("type") {
        Some(Value::Array(t)) if t.iter().any(|x| x == "VerifiableCredential") => {}
        Some(Value::String(t)) if t == "VerifiableCredential" => {}
        _ => p.push("type must include VerifiableCredential".into()),
    }
    let issuer_id = match obj.get("issuer") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str),
        _ => None,
    };
    if !issuer_id.is_some_and(|i| i.contains(':')) {
        p.push("issuer must be a URL or an object with an id URL".into());
    }
    match obj.get("credentialSubject") {
        Some(Value::Object(o)) if !o.is_empty() => {}
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_object) => {}
        _ => p.push("credentialSubject must be a non-empty object".into()),
    }
    match obj.get("validFrom").and_then(Value::as_str) {
        Some(s)
            if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .is_ok() => {}
        Some(_) => p.push("validFrom must be an RFC 3339 date-time".into()),
        None => {}
    }
    if obj.contains_key("validUntil") {
        p.push("validUntil is not allowed: Sanad credentials never expire (status is live)".into());
    }
    if let Some(cs) = obj.get("credentialStatus") {
        let entries: Vec<&Value> = match cs {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for e in entries {
            let ok = e["type"] == "BitstringStatusListEntry"
                && e["statusPurpose"].is_string()
                && e["statusListIndex"]
                    .as_str()
                    .is_some_and(|i| i.parse::<u64>().is_ok())
                && e["statusListCredential"]
                    .as_str()
                    .is_some_and(|u| u.contains(':'));
            if !ok {
                p.push("credentialStatus entries must be BitstringStatusListEntry with purpose, index and list URL".into());
            }
        }
    }
    p
}

/// `(list, index)` of the revocation entry, from its list URL `…/status/w3c/{list}/revocation`.
fn status_slot(vc: &Value) -> Option<(u32, u32)> {
    let entries = vc["credentialStatus"].as_array()?;
    let e = entries
        .iter()
        .find(|e| e["statusPurpose"] == "revocation")?;
    let idx = e["statusListIndex"].as_str()?.parse().ok()?;
    let url = e["statusListCredential"].as_str()?;
    let mut parts = url.rsplit('/');
    let _purpose = parts.next()?;
    let list = parts.next()?.parse().ok()?;
    Some((list, idx))
}

/// Verify a `vc+jwt`.
pub async fn verify_vc(app: &App, jwt: &str) -> Verification {
    let jwt = jwt.trim();
    let mut checks: Vec<Check> = Vec::new();
    // `vc+jwt` is shared by three kinds (keys::kind): the header admits the family, the
    // payload's types below pick the credential kinds out of it.
    let header = match kind::expect(jwt, Artefact::FullCredential) {
        Ok(h) => h,
        Err(e) => return Verification::fail(Outcome::Invalid, e.to_string(), checks, "format"),
    };
    checks.push(pass("format", None));
    let Some(key) = app.keys.get(&header.kid) else {
        return Verification::fail(
            Outcome::UnknownIssuer,
            "signed by a key this deployment does not trust".into(),
            checks,
            "issuer_trusted",
        );
    };
    let payload = match verify_compact(jwt, &key.verifier) {
        Ok(p) => p,
        Err(e) => {
            checks.push(pass("issuer_trusted", Some(key.agency.to_string())));
            return Verification::fail(Outcome::Invalid, e.to_string(), checks, "signature");
        }
    };
    let vc: Value = match serde_json::from_slice(&payload) {
        Ok(v) => v,
        Err(_) => {
            return Verification::fail(
                Outcome::Invalid,
                "claims are not JSON".into(),
                checks,
                "format",
            );
        }
    };
    let credential_kind = match kind::classify(header.typ.as_deref(), &vc) {
        Some(k @ (Artefact::FullCredential | Artefact::VcApiCredential)) => k,
        other => {
            let what = other.map_or("an artefact of no known kind", Artefact::name);
            return Verification::fail(
                Outcome::Invalid,
                format!("not a credential: this is {what}"),
                checks,
                "format",
            );
        }
    };
    let problems = data_model_problems(&vc);
    if !problems.is_empty() {
        return Verification::fail(Outcome::Invalid, problems.join("; "), checks, "data_model");
    }
    let base = key.origin.as_deref().unwrap_or(app.config.public_base());
    let expected_issuer = crate::issuance::vc::issuer_id(base, key.agency.as_str());
    let issuer = vc["issuer"]["id"]
        .as_str()
        .or(vc["issuer"].as_str())
        .unwrap_or_default();
    if issuer != expected_issuer {
        return Verification::fail(
            Outcome::Invalid,
            "the credential's issuer is not the signing key's agency".into(),
            checks,
            "issuer_trusted",
        );
    }
    checks.push(pass("issuer_trusted", Some(key.agency.to_string())));
    checks.push(pass("signature", None));
    checks.push(pass("data_model", None));
    let id = vc["id"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let Some((list, idx)) = status_slot(&vc) else {
        return Verification::fail(
            Outcome::Invalid,
            "no revocation status entry".into(),
            checks,
            "status",
        );
    };
    let live = match super::key_and_status(app, &key, list, idx, &id, &mut checks).await {
        Ok(l) => l,
        Err(v) => return v,
    };
    // A VC-API credential is stored (and counted) as a document certificate.
    let kind = if credential_kind == Artefact::FullCredential
        && kind::credential_types(&vc).contains(&"SanadDigitalId")
    {
        CredentialKind::DigitalId
    } else {
        CredentialKind::Document
    };
    let subject = &vc["credentialSubject"];
    let name = subject["name"]
        .as_array()
        .and_then(|n| n.first())
        .and_then(|n| n["@value"].as_str())
        .or(subject["recipientName"].as_str())
        .or(subject["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let valid_from = vc["validFrom"].as_str().unwrap_or_default().to_owned();
    let public = PublicCredential {
        id,
        kind,
        status: live.status,
        status_reason_code: live.detail.as_ref().and_then(|d| d.reason_code.clone()),
        status_at: live
            .detail
            .as_ref()
            .map_or(valid_from.clone(), |d| rfc3339(d.at)),
        superseded_by: live.detail.as_ref().and_then(|d| d.superseded_by.clone()),
        issuer: app.issuer(key.agency.as_str()),
        issued_at: valid_from,
        name_as_printed: name,
        key_revoked: false,
        document: None,
    };
    let public = super::with_document(app, public).await;
    finish(public, None, None, checks)
}
