//! The trust list: this deployment's agencies and their keys (with status and dates) as a
//! JWT signed by the deployment key, and the import of another deployment's list
//! (federation).
//!
//! An imported list is accepted only if its signature verifies with a key that the list
//! itself names as an active key of one of its agencies, and (when the operator pins one)
//! with the expected kid. A list changed in transit therefore fails; whom to trust in the
//! first place is the operator's decision when importing, as with any trust anchor.

use super::{
    Artefact, DalekVerifier, KeyEntry, KeyStatus, PrivateKey, SignError, thumbprint,
    verify_compact, verifying_key_from_x,
};
use crate::storage::{AgencyRow, KeyRow, now};
use serde::{Deserialize, Serialize};

/// One key in a trust list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrustKey {
    /// Full RFC 7638 thumbprint.
    pub kid: String,
    /// Truncated thumbprint used in QR tokens.
    pub short_kid: String,
    /// `active`, `retired` or `revoked`.
    pub status: String,
    /// Created, epoch seconds.
    pub created_at: i64,
    /// Retired, epoch seconds.
    #[serde(default)]
    pub retired_at: Option<i64>,
    /// Revoked, epoch seconds.
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// Public JWK.
    pub jwk: serde_json::Value,
}

/// One agency in a trust list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrustAgency {
    /// Code.
    pub code: String,
    /// Arabic name.
    pub name_ar: String,
    /// English name.
    pub name_en: String,
    /// Base URL of its deployment.
    pub base_url: String,
    /// Keys, oldest first.
    pub keys: Vec<TrustKey>,
}

/// The JSON Schema of the trust list's claims, served at
/// `/.well-known/sanad-trust-list.schema.json`.
pub const SCHEMA: &str = include_str!("../../schemas/sanad-trust-list.schema.json");

/// Seconds a signed trust list stays valid (`exp`): a relying party must not use a cached
/// copy after that. Lists are signed on each request, so a live deployment always serves a
/// fresh one.
pub const VALID_SECONDS: i64 = 7 * 24 * 3600;

/// The trust list's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrustList {
    /// The deployment's base URL.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Valid until (absent in lists from versions before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Agencies of the deployment.
    pub agencies: Vec<TrustAgency>,
}

/// Build and sign this deployment's trust list from its local agencies and keys.
pub fn build(
    base: &str,
    agencies: &[AgencyRow],
    keys: &[std::sync::Arc<KeyEntry>],
    key_rows: &[KeyRow],
    signer: &PrivateKey,
) -> Result<String, SignError> {
    let iat = now();
    let list = TrustList {
        iss: base.to_owned(),
        iat,
        exp: Some(iat + VALID_SECONDS),
        agencies: agencies
            .iter()
            .filter(|a| a.is_local())
            .map(|a| TrustAgency {
                code: a.code.clone(),
                name_ar: a.name_ar.clone(),
                name_en: a.name_en.clone(),
                base_url: if a.base_url.is_empty() {
                    base.to_owned()
                } else {
                    a.base_url.clone()
                },
                keys: keys
                    .iter()
                    .filter(|k| k.agency.as_str() == a.code && k.origin.is_none())
                    .map(|k| {
                        let row = key_rows.iter().find(|r| r.kid == k.kid);
                        TrustKey {
                            kid: k.kid.clone(),
                            short_kid: k.short_kid.clone(),
                            status: match k.status {
                                KeyStatus::Active => "active",
                                KeyStatus::Retired => "retired",
                                KeyStatus::Revoked => "revoked",
                            }
                            .to_owned(),
                            created_at: k.created_at,
                            retired_at: row.and_then(|r| r.retired_at),
                            revoked_at: row.and_then(|r| r.revoked_at),
                            jwk: k.jwk.clone(),
                        }
                    })
                    .collect(),
            })
            .collect(),
    };
    let payload = serde_json::to_value(&list).map_err(|e| SignError::Jose(e.to_string()))?;
    super::kind::sign(Artefact::TrustList, &payload, &signer.signer(&signer.kid))
}

/// Why an imported trust list was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Not a well-formed list.
    #[error("not a Sanad trust list: {0}")]
    Format(String),
    /// The signature does not verify (tampered, or signed by a key it does not list).
    #[error("the trust list's signature does not verify: {0}")]
    Signature(String),
}

/// Parse and check a trust list JWT. `pin` requires the signing key's kid.
pub fn parse_verified(jwt: &str, pin: Option<&str>) -> Result<TrustList, TrustError> {
    use base64::Engine as _;
    let header = super::kind::expect(jwt.trim(), Artefact::TrustList)
        .map_err(|e| TrustError::Format(e.to_string()))?;
    let payload_b64 = jwt.trim().split('.').nth(1).unwrap_or_default();
    let unverified: TrustList = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| TrustError::Format("payload is not a trust list".into()))?;
    if let Some(p) = pin
        && p != header.kid
    {
        return Err(TrustError::Signature(format!(
            "signed by {}, expected {p}",
            header.kid
        )));
    }
    let signing = unverified
        .agencies
        .iter()
        .flat_map(|a| a.keys.iter())
        .find(|k| k.kid == header.kid && k.status == "active")
        .ok_or_else(|| {
            TrustError::Signature("signed by a key the list does not name as active".into())
        })?;
    let vk = verifying_key_from_x(signing.jwk["x"].as_str().unwrap_or_default())
        .map_err(|e| TrustError::Format(e.to_string()))?;
    if thumbprint(&vk) != signing.kid {
        return Err(TrustError::Format(
            "a key's kid is not its thumbprint".into(),
        ));
    }
    let payload = verify_compact(jwt.trim(), &DalekVerifier::new(vk))
        .map_err(|e| TrustError::Signature(e.to_string()))?;
    let list: TrustList =
        serde_json::from_slice(&payload).map_err(|e| TrustError::Format(e.to_string()))?;
    if let Some(exp) = list.exp
        && exp < now()
    {
        return Err(TrustError::Format(format!(
            "the list expired at {} (fetch a fresh one)",
            crate::domain::rfc3339(exp)
        )));
    }
    for a in &list.agencies {
        crate::domain::AgencyCode::parse(&a.code).map_err(|e| TrustError::Format(e.to_string()))?;
        for k in &a.keys {
            let vk = verifying_key_from_x(k.jwk["x"].as_str().unwrap_or_default())
                .map_err(|e| TrustError::Format(e.to_string()))?;
            if thumbprint(&vk) != k.kid
                || !k.kid.starts_with(&k.short_kid)
                || k.short_kid.len() < super::SHORT_KID_LEN
            {
                return Err(TrustError::Format(format!(
                    "key {} does not match its thumbprint",
                    k.kid
                )));
            }
        }
    }
    Ok(list)
}

/// The rows to store for an imported list.
pub fn rows_for_import(list: &TrustList) -> (Vec<AgencyRow>, Vec<KeyRow>) {
    let agencies = list
        .agencies
        .iter()
        .map(|a| AgencyRow {
            code: a.code.clone(),
            name_ar: a.name_ar.clone(),
            name_en: a.name_en.clone(),
            base_url: a.base_url.clone(),
            created_at: now(),
            origin: list.iss.clone(),
        })
        .collect();
    let keys = list
        .agencies
        .iter()
        .flat_map(|a| {
            a.keys.iter().map(move |k| KeyRow {
                kid: k.kid.clone(),
                short_kid: k.short_kid.clone(),
                agency_code: a.code.clone(),
                public_x: k.jwk["x"].as_str().unwrap_or_default().to_owned(),
                status: k.status.clone(),
                created_at: k.created_at,
                retired_at: k.retired_at,
                revoked_at: k.revoked_at,
                revocation_reason: None,
            })
        })
        .collect();
    (agencies, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgencyCode;

    fn signed(exp: Option<i64>) -> String {
        let k = PrivateKey::generate(AgencyCode::parse("MOSD").expect("code"));
        let list = TrustList {
            iss: "https://sanad.example.gov".into(),
            iat: now() - 10,
            exp,
            agencies: vec![TrustAgency {
                code: "MOSD".into(),
                name_ar: "وزارة".into(),
                name_en: "Ministry".into(),
                base_url: "https://sanad.example.gov".into(),
                keys: vec![TrustKey {
                    kid: k.kid.clone(),
                    short_kid: k.short_kid().into(),
                    status: "active".into(),
                    created_at: now() - 10,
                    retired_at: None,
                    revoked_at: None,
                    jwk: super::super::public_jwk(&k.verifying_key(), &k.kid),
                }],
            }],
        };
        let payload = serde_json::to_value(&list).expect("json");
        crate::keys::kind::sign(
            crate::keys::Artefact::TrustList,
            &payload,
            &k.signer(&k.kid),
        )
        .expect("sign")
    }

    /// The validity window is enforced on import: an expired list is refused; a current one
    /// and one from a version without `exp` are accepted.
    #[test]
    fn expired_lists_are_refused() {
        assert!(parse_verified(&signed(Some(now() + 60)), None).is_ok());
        assert!(parse_verified(&signed(None), None).is_ok());
        let err = parse_verified(&signed(Some(now() - 1)), None).expect_err("expired");
        assert!(err.to_string().contains("expired"), "{err}");
    }
}
