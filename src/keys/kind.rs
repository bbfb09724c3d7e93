//! The one table of everything Sanad signs, and the rule that tells them apart.
//!
//! Every signature Sanad makes carries one meaning. A QR token, a full credential, a VC-API
//! credential, the two kinds of status list, the trust list, an audit checkpoint and a
//! webhook event are all compact JWS made with the same agency keys, so without a rule a
//! signature made for one could be presented as another (RFC 8725 §3.11). The rule:
//!
//! * each kind has its own JOSE `typ` (explicit typing), except the QR token (below) and the
//!   three kinds that the
//!   W3C VC-JOSE-COSE standard requires to be `vc+jwt` (full credential, VC-API credential,
//!   W3C status list), which are told apart by their credential `type`: Sanad's own types
//!   (`SanadDigitalId`, `SanadDocumentCertificate`) mark a full credential,
//!   `BitstringStatusListCredential` marks a status list, and a credential with neither is a
//!   VC-API credential. Callers can never put those types, or any reserved claim, into what
//!   Sanad signs ([`reserved_members`]), so the split is sound;
//! * signing goes through [`sign`], which takes the kind and checks the payload against it
//!   ([`classify`]) before signing, so no signer can be called with the wrong `typ` or with a
//!   payload of another kind;
//! * every verifier calls [`expect`] with the kind it accepts and refuses everything else.
//!
//! The QR token is the one kind *without* a `typ`, and the only kind allowed to lack one:
//! [`sign`] gives every other kind its `typ`, so "no `typ`, and exactly the QR claims" is as
//! strict a mark as an explicit `typ` while costing the QR nothing. Measured with a
//! 40-character Arabic name (tests/api `qr_budget`): the digital ID QR is version 13 at M /
//! 16 at Q without a `typ`, and 14 / 17 with even the short `"typ":"sq+jwt"`, i.e. exactly
//! at SPEC §2's limits, with no room left for a longer base URL.

use super::{DalekSigner, TokenError, TokenHeader, inspect};
use serde_json::Value;

/// Everything Sanad signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Artefact {
    /// The compact token inside a credential's QR code.
    QrToken,
    /// A Sanad credential in W3C VC 2.0 form (`SanadDigitalId` / `SanadDocumentCertificate`).
    FullCredential,
    /// A credential a caller submitted through the VC-API (`POST /credentials/issue`).
    VcApiCredential,
    /// An IETF Token Status List.
    IetfStatusList,
    /// A W3C `BitstringStatusListCredential`.
    W3cStatusList,
    /// The signed list of agencies and keys.
    TrustList,
    /// A signed head of the audit log.
    AuditCheckpoint,
    /// A webhook event (reserved: signed by the events module).
    Event,
}

/// `typ` of every W3C credential (VC-JOSE-COSE).
pub const TYP_VC: &str = "vc+jwt";
/// `typ` of an IETF status list.
pub const TYP_STATUS_LIST: &str = "statuslist+jwt";
/// `typ` of the trust list.
pub const TYP_TRUST_LIST: &str = "sanad-trust-list+jwt";
/// `typ` of an audit checkpoint.
pub const TYP_CHECKPOINT: &str = "sanad-checkpoint+jwt";
/// `typ` of a webhook event.
pub const TYP_EVENT: &str = "sanad-event+jwt";

/// Credential types only Sanad itself may sign: they mark a full credential.
pub const SANAD_CREDENTIAL_TYPES: [&str; 2] = ["SanadDigitalId", "SanadDocumentCertificate"];
/// Credential types that mark a W3C status list.
pub const STATUS_LIST_TYPES: [&str; 2] = ["BitstringStatusListCredential", "BitstringStatusList"];

impl Artefact {
    /// Every kind, for tests that try each against each.
    pub const ALL: [Artefact; 8] = [
        Self::QrToken,
        Self::FullCredential,
        Self::VcApiCredential,
        Self::IetfStatusList,
        Self::W3cStatusList,
        Self::TrustList,
        Self::AuditCheckpoint,
        Self::Event,
    ];

    /// The JOSE `typ` header of this kind (none for the QR token, see the module docs).
    pub const fn typ(self) -> Option<&'static str> {
        match self {
            Self::QrToken => None,
            Self::FullCredential | Self::VcApiCredential | Self::W3cStatusList => Some(TYP_VC),
            Self::IetfStatusList => Some(TYP_STATUS_LIST),
            Self::TrustList => Some(TYP_TRUST_LIST),
            Self::AuditCheckpoint => Some(TYP_CHECKPOINT),
            Self::Event => Some(TYP_EVENT),
        }
    }

    /// The JOSE `cty` header (`vc` for W3C credentials, as VC-JOSE-COSE suggests).
    pub const fn cty(self) -> Option<&'static str> {
        match self {
            Self::FullCredential | Self::VcApiCredential | Self::W3cStatusList => Some("vc"),
            _ => None,
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::QrToken => "QR token",
            Self::FullCredential => "full credential",
            Self::VcApiCredential => "VC-API credential",
            Self::IetfStatusList => "IETF status list",
            Self::W3cStatusList => "W3C status list",
            Self::TrustList => "trust list",
            Self::AuditCheckpoint => "audit checkpoint",
            Self::Event => "event",
        }
    }
}

/// The QR token's claim names: nothing else may appear in one.
pub const QR_CLAIMS: [&str; 6] = ["i", "c", "t", "n", "s", "d"];

/// What kind of artefact a `typ` and decoded payload are, or `None` when they are no kind
/// Sanad signs (an unknown `typ`, or a payload whose shape contradicts its `typ`).
pub fn classify(typ: Option<&str>, payload: &Value) -> Option<Artefact> {
    let obj = payload.as_object()?;
    let Some(typ) = typ else {
        return obj
            .keys()
            .all(|k| QR_CLAIMS.contains(&k.as_str()))
            .then_some(Artefact::QrToken);
    };
    match typ {
        TYP_VC => {
            let types = credential_types(payload);
            let sanad = types.iter().any(|t| SANAD_CREDENTIAL_TYPES.contains(t));
            let list = types.iter().any(|t| STATUS_LIST_TYPES.contains(t));
            match (sanad, list) {
                (true, false) => Some(Artefact::FullCredential),
                (false, true) => Some(Artefact::W3cStatusList),
                // The IETF `status` claim ({"status_list": {"idx", "uri"}}) is the one
                // reserved member Sanad itself adds to what it issues; callers can never
                // send one (refused at issue time by `issuance::caller`).
                (false, false) => reserved_members(payload)
                    .iter()
                    .all(|m| m == "status" && payload["status"]["status_list"].is_object())
                    .then_some(Artefact::VcApiCredential),
                (true, true) => None,
            }
        }
        TYP_STATUS_LIST => obj
            .contains_key("status_list")
            .then_some(Artefact::IetfStatusList),
        TYP_TRUST_LIST => Some(Artefact::TrustList),
        TYP_CHECKPOINT => Some(Artefact::AuditCheckpoint),
        TYP_EVENT => Some(Artefact::Event),
        _ => None,
    }
}

/// The top-level `type` of a credential as strings.
pub fn credential_types(vc: &Value) -> Vec<&str> {
    match &vc["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Top-level members a caller's credential may never carry: the registered JWT claims, the
/// claims that mean something to JOSE/VC processors (`vc`, `vp`, `cnf`, `status`), the QR
/// token's short claims and the members of Sanad's other signed kinds.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "cnf",
    "vc",
    "vp",
    "status",
    "status_list",
    "ttl",
    "i",
    "c",
    "t",
    "n",
    "s",
    "d",
    "tree_size",
    "root_hash",
    "timestamp",
    "agencies",
    "event",
];

/// Is `t` a credential type only Sanad may use? Sanad's own types (anything named
/// `Sanad…`), the status-list types, and the envelope and presentation types.
pub fn is_reserved_type(t: &str) -> bool {
    t.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("sanad"))
        || STATUS_LIST_TYPES.contains(&t)
        || [
            "StatusList2021Credential",
            "StatusList2021",
            "EnvelopedVerifiableCredential",
            "VerifiablePresentation",
            "EnvelopedVerifiablePresentation",
        ]
        .contains(&t)
}

/// The reserved members of a caller-supplied credential, each named by its JSON path
/// (`exp`, `credentialSubject.type`…): reserved top-level claims, and reserved types
/// anywhere in the document (a status list hides its type in the subject too). Empty when
/// the credential may be signed.
pub fn reserved_members(vc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(obj) = vc.as_object() {
        for k in obj.keys() {
            if RESERVED_CLAIMS.contains(&k.as_str()) {
                found.push(k.clone());
            }
        }
    }
    reserved_types_in(vc, "", &mut found, 0);
    found
}

fn reserved_types_in(v: &Value, path: &str, found: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        found.push(format!("{path} (nested too deeply)"));
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k == "type" || k == "@type" {
                    let bad = match child {
                        Value::String(s) => is_reserved_type(s),
                        Value::Array(a) => a.iter().filter_map(Value::as_str).any(is_reserved_type),
                        _ => false,
                    };
                    if bad {
                        found.push(p.clone());
                    }
                }
                reserved_types_in(child, &p, found, depth + 1);
            }
        }
        Value::Array(a) => {
            for child in a {
                reserved_types_in(child, path, found, depth + 1);
            }
        }
        _ => {}
    }
}

/// Why [`sign`] refused.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The payload is not of the kind it was to be signed as.
    #[error("refusing to sign: the payload is not a {0}")]
    WrongKind(&'static str),
    /// JSON or JOSE trouble.
    #[error("signing failed: {0}")]
    Jose(String),
}

/// Sign `payload` as a compact JWS of kind `kind`: the `typ` and `cty` come from the kind,
/// and the payload must classify as that kind, so nothing is ever signed as something else.
pub fn sign(kind: Artefact, payload: &Value, signer: &DalekSigner) -> Result<String, SignError> {
    if classify(kind.typ(), payload) != Some(kind) {
        return Err(SignError::WrongKind(kind.name()));
    }
    let bytes = serde_json::to_vec(payload).map_err(|e| SignError::Jose(e.to_string()))?;
    super::jws::sign_compact(&bytes, kind.typ(), kind.cty(), signer)
        .map_err(|e| SignError::Jose(e.to_string()))
}

/// Check a token's header (as [`inspect`]) and that its `typ` is `kind`'s. The payload's
/// shape is checked by [`expect_payload`] once the signature has verified.
pub fn expect(token: &str, kind: Artefact) -> Result<TokenHeader, TokenError> {
    let h = inspect(token)?;
    if h.typ.as_deref() != kind.typ() {
        return Err(TokenError::WrongKind(kind.name()));
    }
    Ok(h)
}

/// Check a verified payload is of `kind` (for the `vc+jwt` family, by its types).
pub fn expect_payload(payload: &[u8], kind: Artefact) -> Result<Value, TokenError> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|_| TokenError::Malformed("claims are not JSON"))?;
    if classify(kind.typ(), &v) != Some(kind) {
        return Err(TokenError::WrongKind(kind.name()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reserved_members_are_named() {
        let vc = json!({"type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "exp": 1, "i": "X", "credentialSubject": {"type": "SanadBeneficiary"}});
        let r = reserved_members(&vc);
        assert!(r.contains(&"exp".to_owned()), "{r:?}");
        assert!(r.contains(&"i".to_owned()), "{r:?}");
        assert!(r.contains(&"type".to_owned()), "{r:?}");
        assert!(r.contains(&"credentialSubject.type".to_owned()), "{r:?}");
        assert!(
            reserved_members(&json!({"type": ["VerifiableCredential", "X"], "name": "a"}))
                .is_empty()
        );
    }

    #[test]
    fn classify_splits_the_vc_family_by_type() {
        let full = json!({"type": ["VerifiableCredential", "SanadDigitalId"]});
        let list = json!({"type": ["VerifiableCredential", "BitstringStatusListCredential"]});
        let api = json!({"type": ["VerifiableCredential", "ExampleCredential"]});
        assert_eq!(
            classify(Some(TYP_VC), &full),
            Some(Artefact::FullCredential)
        );
        assert_eq!(classify(Some(TYP_VC), &list), Some(Artefact::W3cStatusList));
        assert_eq!(
            classify(Some(TYP_VC), &api),
            Some(Artefact::VcApiCredential)
        );
        let both = json!({"type": ["SanadDigitalId", "BitstringStatusListCredential"]});
        assert_eq!(classify(Some(TYP_VC), &both), None);
        let api_with_claims = json!({"type": ["VerifiableCredential"], "i": "X"});
        assert_eq!(classify(Some(TYP_VC), &api_with_claims), None);
        assert_eq!(classify(None, &json!({"i": "X", "vc": {}})), None);
        assert_eq!(classify(None, &json!({"i": "X"})), Some(Artefact::QrToken));
        assert_eq!(classify(Some("JWT"), &json!({"i": "X"})), None);
    }

    #[test]
    fn every_kind_has_a_distinct_typ_or_type() {
        let typs: std::collections::HashSet<_> = Artefact::ALL.iter().map(|k| k.typ()).collect();
        // Three VC kinds share vc+jwt; every other kind has its own typ (the QR token: none).
        assert_eq!(typs.len(), Artefact::ALL.len() - 2);
    }
}
