//! Verification of full credentials (`vc+jwt`): the same checks as a QR token, plus the VC
//! 2.0 data-model rules this deployment relies on.

use super::{Check, Outcome, Verification, finish, pass};
use crate::app::App;
use crate::domain::{CredentialKind, PublicCredential, rfc3339};
use crate::keys::{Artefact, kind};
use serde_json::Value;

/// Check a VC 2.0 credential's shape: the data model's MUSTs (`domain::vcdm`), the
/// VC-JOSE-COSE rules for JWT claims (no `vc`/`vp` claims; `iss`, if present, is the
/// `issuer`), and the status entries this deployment relies on (well-formed
/// `BitstringStatusListEntry` entries). Returns the problems found.
pub fn data_model_problems(vc: &Value) -> Vec<String> {
    let mut p: Vec<String> = match crate::domain::vcdm::check_credential(vc) {
        Ok(()) => Vec::new(),
        Err(v) => v.iter().map(ToString::to_string).collect(),
    };
    let Some(obj) = vc.as_object() else {
        return p;
    };
    // VC-JOSE-COSE §3.1.1/§3.1.2: the claims are the credential itself; the VC-JWT 1.1
    // wrappers would smuggle a second, unchecked credential.
    for wrapper in ["vc", "vp"] {
        if obj.contains_key(wrapper) {
            p.push(format!(
                "{wrapper}: claim not allowed in a vc+jwt (VC-JOSE-COSE)"
            ));
        }
    }
    if let Some(iss) = obj.get("iss") {
        let issuer = obj
            .get("issuer")
            .and_then(|i| i.as_str().or_else(|| i.get("id").and_then(Value::as_str)));
        if iss.as_str() != issuer {
            p.push("iss: differs from issuer (VC-JOSE-COSE)".into());
        }
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

/// VC 2.0 §4.9: a credential is in its validity period when `validFrom` (if any) is not
/// after `now` and `validUntil` (if any) is not before it. Sanad's own credentials have no
/// `validUntil`; a VC-API caller's may.
pub fn validity_problem(vc: &Value, now: time::OffsetDateTime) -> Option<String> {
    let (from, until) = crate::domain::vcdm::validity_window(vc);
    if let Some(f) = from
        && f > now
    {
        return Some(format!(
            "not valid before {}",
            vc["validFrom"].as_str().unwrap_or_default()
        ));
    }
    if let Some(u) = until
        && u < now
    {
        return Some(format!(
            "expired at {}",
            vc["validUntil"].as_str().unwrap_or_default()
        ));
    }
    None
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
    // The same Ed25519 check as `verify_compact`, through the batcher the QR scans use: a
    // VC-API credential is never cached (each request checks a signature), so under load
    // these join the scans' batches instead of a `verify_strict` each.
    let payload =
        match crate::keys::batch::verify_compact_batched(jwt, key.verifier.key(), &app.batch).await
        {
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
    if let Some(why) = validity_problem(&vc, time::OffsetDateTime::now_utc()) {
        return Verification::fail(Outcome::Invalid, why, checks, "validity");
    }
    checks.push(pass("validity", None));
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
