//! Full credentials: W3C Verifiable Credentials Data Model 2.0, secured per VC-JOSE-COSE as a
//! compact JWS (`typ: vc+jwt`, `cty: vc`, EdDSA). The JWT's claims are the credential itself.
//! Sanad's own credentials have no `validUntil` (a VC-API caller's may): validity is the
//! signature, a trusted key and the live status, which the
//! `credentialStatus` entries point at (W3C Bitstring Status List, same list and index as
//! the IETF list the QR token points at).

use crate::app::App;
use crate::domain::rfc3339;
use crate::error::AppError;
use crate::keys::{Artefact, kind};
use crate::storage::{CredentialRow, PersonRow};
use serde_json::{Value, json};

/// The VC 2.0 base context.
pub const VC_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// Media type of a VC-JOSE-COSE credential.
pub const VC_JWT: &str = "application/vc+jwt";

/// The URL that identifies an agency as an issuer. It answers with the agency's issuer
/// document (names and keys), and the agency's W3C status lists live under it.
pub fn issuer_id(base: &str, agency: &str) -> String {
    format!("{}/agencies/{agency}", base.trim_end_matches('/'))
}

/// The URL of an agency's W3C status list credential for `purpose`: under the issuer URL,
/// with the agency as the list's issuer, as the Bitstring Status List requires.
pub fn w3c_list_url(base: &str, agency: &str, list: i64, purpose: &str) -> String {
    format!("{}/status/w3c/{list}/{purpose}", issuer_id(base, agency))
}

/// The IETF `status` claim (Token Status List §6.1) of a credential in slot `(list, index)`,
/// so IETF libraries find the list without reading `credentialStatus`.
pub fn ietf_status_claim(base: &str, list: i64, index: i64) -> Value {
    json!({"status_list": {"idx": index, "uri": format!("{base}/status/{list}")}})
}

/// The two `credentialStatus` entries of an agency's credential in slot `(list, index)`.
pub fn status_entries(base: &str, agency: &str, list: i64, index: i64) -> Value {
    let entry = |purpose: &str| {
        let url = w3c_list_url(base, agency, list, purpose);
        json!({
            "id": format!("{url}#{index}"),
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": index.to_string(),
            "statusListCredential": url,
        })
    };
    json!([entry("revocation"), entry("suspension")])
}

/// The unsigned VC 2.0 JSON of a stored credential. `person` is the subject of a digital ID;
/// a VC-API credential (kept as its submitted JSON) is given as `submitted`.
pub fn credential_json(
    app: &App,
    c: &CredentialRow,
    person: Option<&PersonRow>,
    submitted: Option<Value>,
) -> Value {
    let base = app.config.public_base();
    let issuer = app.issuer(&c.agency_code);
    let subject_data: Value = serde_json::from_str(&c.subject_json).unwrap_or_default();
    let mut vc = match submitted {
        Some(v) => v,
        None => {
            let (kind_type, subject) = match (c.kind.as_str(), person) {
                ("digital_id", Some(p)) => (
                    "SanadDigitalId",
                    json!({
                        "type": "SanadBeneficiary",
                        "name": [{"@value": p.name_ar, "@language": "ar"}, {"@value": p.name_en, "@language": "en"}],
                        "birthDate": p.date_of_birth,
                        "nationalId": p.national_id,
                        "programme": p.programme,
                    }),
                ),
                ("digital_id", None) => (
                    "SanadDigitalId",
                    json!({
                        "type": "SanadBeneficiary",
                        "name": [{"@value": subject_data["name_ar"], "@language": "ar"}, {"@value": subject_data["name_en"], "@language": "en"}],
                        "birthDate": subject_data["date_of_birth"],
                        "programme": subject_data["programme"],
                    }),
                ),
                _ => (
                    "SanadDocumentCertificate",
                    json!({
                        "type": "SanadCertifiedDocument",
                        "documentType": subject_data["doc_type"],
                        "documentNumber": subject_data["number"],
                        "title": subject_data["title"],
                        "recipientName": subject_data["recipient_name"],
                        "issueDate": subject_data["issue_date"],
                        "digestMultibase": c.doc_sha256.as_deref().and_then(|h| crate::domain::DocumentDigest::parse(h).ok()).map(|d| format!("u{}", d.b64())),
                        "sha256": c.doc_sha256,
                    }),
                ),
            };
            json!({
                "@context": [VC_V2],
                "type": ["VerifiableCredential", kind_type],
                "credentialSubject": subject,
            })
        }
    };
    if let Some(obj) = vc.as_object_mut() {
        obj.insert("id".into(), json!(format!("{base}/v/{}", c.id)));
        // A VC-API caller's `issuer` (checked at issue to be this agency) and `validFrom`
        // are signed as given; otherwise Sanad's issuer object and the issue time.
        obj.entry("issuer").or_insert_with(|| {
            json!({
                "id": issuer_id(base, &c.agency_code),
                "name": [{"@value": issuer.name_ar, "@language": "ar"}, {"@value": issuer.name_en, "@language": "en"}],
            })
        });
        obj.entry("validFrom")
            .or_insert_with(|| json!(rfc3339(c.issued_at)));
        obj.insert(
            "credentialStatus".into(),
            status_entries(base, &c.agency_code, c.status_list, c.status_index),
        );
        obj.insert(
            "status".into(),
            ietf_status_claim(base, c.status_list, c.status_index),
        );
    }
    vc
}

/// Sign a credential JSON as `vc+jwt` with the key that issued the credential, as `kind`
/// (a full credential or a VC-API credential: the payload must be of that kind).
pub fn sign_vc(
    app: &App,
    c: &CredentialRow,
    vc: &Value,
    kind_of: Artefact,
) -> Result<String, AppError> {
    let key = app.keys.private_key(&c.kid).ok_or_else(|| {
        AppError::Conflict("the key that issued this credential cannot sign any more (revoked or not held here); re-issue it".into())
    })?;
    kind::sign(kind_of, vc, &key.signer(&key.kid))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing the VC: {e}")))
}

/// The caller's JSON of a VC-API credential, if `c` is one and its stored JSON is still an
/// object free of reserved members. Anything else (a row from before the reserved-member
/// rule, or damaged data) is logged and the credential is served in Sanad's own
/// document-certificate form instead, so it never fails for ever.
async fn submitted_json(app: &App, c: &CredentialRow) -> Result<Option<Value>, AppError> {
    if c.doc_media_type.as_deref() != Some(VC_SUBMITTED_MEDIA_TYPE) {
        return Ok(None);
    }
    let Some((bytes, _)) = app.store.get_document_file(&c.id).await? else {
        tracing::warn!(credential.id = %c.id, "VC-API credential without its JSON: served as a certificate");
        return Ok(None);
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v.is_object() && kind::reserved_members(&v).is_empty() => Ok(Some(v)),
        _ => {
            tracing::warn!(credential.id = %c.id, "stored VC-API JSON is unusable: served as a certificate");
            Ok(None)
        }
    }
}

/// The full credential of a stored credential, signed.
pub async fn full_credential(app: &App, c: &CredentialRow) -> Result<String, AppError> {
    let person = match &c.person_id {
        Some(pid) => Some(app.store.get_person(pid).await?),
        None => None,
    };
    let submitted = submitted_json(app, c).await?;
    let kind_of = if submitted.is_some() {
        Artefact::VcApiCredential
    } else {
        Artefact::FullCredential
    };
    let vc = credential_json(app, c, person.as_ref(), submitted);
    sign_vc(app, c, &vc, kind_of)
}

/// Media type under which a VC-API credential's submitted JSON is kept.
pub const VC_SUBMITTED_MEDIA_TYPE: &str = "application/vc+ld+json";
