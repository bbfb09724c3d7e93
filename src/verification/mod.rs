//! Verification: take what an officer scanned and say, with every check named, whether it
//! is genuine and in force.
//!
//! The scanned-QR path touches no database: the key comes from the in-memory key registry
//! and the status from the in-memory status lists (kept current from the status feed). Only
//! a lookup by bare id (a reference-only QR) reads the database.
//!
//! Checks run in a fixed order and the first failure decides the outcome: `format`,
//! `issuer_trusted`, `signature`, `key_status`, `status`, then `document_digest` when a file
//! was given (a credential not in force keeps its status outcome even when the file also
//! differs). A token can never make us fetch anything: `jku`, `x5u`, `jwk`, `crit` and
//! every other unexpected header member are refused before any cryptography.

use crate::app::App;
use crate::domain::{
    CheckedClaims, CredentialId, CredentialKind, CredentialStatus, DocumentDigest,
    PublicCredential, PublicDocument, QrClaims, QrText, rfc3339,
};
use crate::keys::{Artefact, KeyStatus, TokenError, kind};
use crate::storage::StoreError;
use serde::{Deserialize, Serialize};

mod answer;
pub mod cache;
pub mod vc;

pub use answer::write as write_answer;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Genuine and in force.
    Valid,
    /// Genuine, temporarily not in force.
    Suspended,
    /// Genuine, withdrawn.
    Revoked,
    /// Genuine, replaced (see `superseded_by`).
    Superseded,
    /// Signed by a key that has been revoked.
    KeyRevoked,
    /// Signed by a key this deployment does not trust.
    UnknownIssuer,
    /// Malformed, tampered or wrongly signed.
    Invalid,
    /// The presented document is not the one certified.
    DocumentMismatch,
    /// No such credential.
    NotFound,
    /// Genuine, but the live status could not be learned now (another deployment's status
    /// list could not be fetched). Never shown as revoked.
    Undetermined,
}

impl Outcome {
    /// The outcome's name as it is serialized (`valid`, `key_revoked`, …), for metric labels
    /// without a trip through `serde_json` on every request.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Superseded => "superseded",
            Self::KeyRevoked => "key_revoked",
            Self::UnknownIssuer => "unknown_issuer",
            Self::Invalid => "invalid",
            Self::DocumentMismatch => "document_mismatch",
            Self::NotFound => "not_found",
            Self::Undetermined => "undetermined",
        }
    }
}

/// One named check.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct Check {
    /// `origin` (QR texts), `format`, `issuer_trusted`, `signature`, `key_status`, `status`,
    /// `document_digest`, `data_model`.
    pub name: &'static str,
    /// Passed?
    pub ok: bool,
    /// Detail, e.g. the status or why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The answer of `POST /api/v1/verify`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// The verdict.
    pub outcome: Outcome,
    /// Why, for `invalid` and other failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Public fields, when the credential could be identified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<PublicCredential>,
    /// Every check that ran, in order.
    pub checks: Vec<Check>,
}

impl Verification {
    fn fail(outcome: Outcome, reason: String, mut checks: Vec<Check>, name: &'static str) -> Self {
        checks.push(Check {
            name,
            ok: false,
            detail: Some(reason.clone()),
        });
        Self {
            outcome,
            reason: Some(reason),
            credential: None,
            checks,
        }
    }
}

fn pass(name: &'static str, detail: Option<String>) -> Check {
    Check {
        name,
        ok: true,
        detail,
    }
}

fn status_outcome(s: CredentialStatus) -> Outcome {
    match s {
        CredentialStatus::Active => Outcome::Valid,
        CredentialStatus::Suspended => Outcome::Suspended,
        CredentialStatus::Revoked => Outcome::Revoked,
        CredentialStatus::Superseded => Outcome::Superseded,
    }
}

/// Verify a scanned QR text. A reference-only QR (no token) is looked up by id.
pub async fn verify_qr(app: &App, text: &str, document: Option<&[u8]>) -> Verification {
    let mut v = match QrText::parse(text) {
        Err(e) => return Verification::fail(Outcome::Invalid, e.message, vec![], "format"),
        Ok(QrText { id, token: None }) => verify_id(app, &id, document).await,
        Ok(QrText { id, token: Some(t) }) => verify_token(app, &t, Some(&id), document).await,
    };
    v.checks.insert(0, origin_check(app, text));
    v
}

/// The named `origin` check of a QR text: its link must be under this deployment's public
/// URL or a trusted deployment's base URL. A failure is a warning (the signature decides
/// whether the credential is genuine), but a phone camera would open that other link.
pub fn origin_check(app: &App, text: &str) -> Check {
    let text = text.trim();
    let link = text.split('#').next().unwrap_or_default();
    let under = |base: &str| {
        let base = base.trim_end_matches('/');
        link.strip_prefix(base)
            .is_some_and(|rest| rest.starts_with("/v/"))
    };
    let own = app.config.public_base();
    let trusted = (!own.is_empty() && under(own)) || app.any_agency_base(under);
    let detail = if trusted {
        "this deployment or a trusted one".into()
    } else {
        let origin: String = link
            .split("/v/")
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        format!("the link points elsewhere: {origin}")
    };
    Check {
        name: "origin",
        ok: trusted,
        detail: Some(detail),
    }
}

/// Verify a compact JWS (a QR token). For this deployment's credentials this is pure
/// memory, no I/O; another trusted deployment's status list may be fetched (cached).
pub async fn verify_token(
    app: &App,
    token: &str,
    expected_id: Option<&CredentialId>,
    document: Option<&[u8]>,
) -> Verification {
    let token = token.trim();
    // Room for every check a scanned QR can get (`origin` is put first by `verify_qr`, a
    // file adds `document_digest`), so the list never grows on the way.
    let mut checks = Vec::with_capacity(8);
    // A token verified before passed the header checks below then, and the same bytes pass
    // them again: a repeat takes its key id from the cache instead of decoding the header.
    let cached = app.verified.get(token);
    let header_kid;
    let kid: &str = match &cached {
        Some(v) => &v.kid,
        // Only a QR token: every other kind Sanad signs has another `typ` (keys::kind).
        None => match kind::expect(token, Artefact::QrToken) {
            Ok(h) => {
                header_kid = h.kid;
                &header_kid
            }
            Err(TokenError::UnknownKid) => {
                checks.push(pass("format", None));
                return Verification::fail(
                    Outcome::UnknownIssuer,
                    "the token names no key".into(),
                    checks,
                    "issuer_trusted",
                );
            }
            Err(e) => {
                return Verification::fail(Outcome::Invalid, e.to_string(), checks, "format");
            }
        },
    };
    checks.push(pass("format", None));
    let Some(key) = app.keys.get(kid) else {
        return Verification::fail(
            Outcome::UnknownIssuer,
            "signed by a key this deployment does not trust".into(),
            checks,
            "issuer_trusted",
        );
    };
    let verified = match &cached {
        Some(v) => std::sync::Arc::clone(v),
        None => {
            let verified =
                crate::keys::batch::verify_compact_batched(token, key.verifier.key(), &app.batch)
                    .await;
            let payload = match verified {
                Ok(p) => p,
                Err(e) => {
                    checks.push(pass("issuer_trusted", Some(key.agency.to_string())));
                    return Verification::fail(
                        Outcome::Invalid,
                        e.to_string(),
                        checks,
                        "signature",
                    );
                }
            };
            let claims: CheckedClaims = match serde_json::from_slice::<QrClaims>(&payload)
                .map_err(|_| "the claims are not a Sanad QR token".to_owned())
                .and_then(|c| c.check().map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(reason) => {
                    return Verification::fail(Outcome::Invalid, reason, checks, "format");
                }
            };
            if claims.issuer != key.agency {
                return Verification::fail(
                    Outcome::Invalid,
                    "the token's issuer is not the key's agency".into(),
                    checks,
                    "issuer_trusted",
                );
            }
            app.verified.put(token, kid, claims)
        }
    };
    let claims = &verified.claims;
    checks.push(pass("issuer_trusted", Some(key.agency.to_string())));
    checks.push(pass("signature", None));
    if let Some(id) = expected_id
        && *id != claims.id
    {
        return Verification::fail(
            Outcome::Invalid,
            "the QR's link and its signed token name different credentials".into(),
            checks,
            "format",
        );
    }
    let (list, idx) = claims.raw.status;
    let live = match key_and_status(app, &key, list, idx, claims.id.as_str(), &mut checks).await {
        Ok(l) => l,
        Err(v) => return v,
    };
    let public = PublicCredential {
        id: claims.id.to_string(),
        kind: claims.kind,
        status: live.status,
        status_reason_code: live.detail.as_ref().and_then(|d| d.reason_code.clone()),
        status_at: rfc3339(live.detail.as_ref().map_or(claims.raw.issued_at, |d| d.at)),
        superseded_by: live.detail.as_ref().and_then(|d| d.superseded_by.clone()),
        issuer: app.issuer(claims.issuer.as_str()),
        issued_at: rfc3339(claims.raw.issued_at),
        name_as_printed: claims.raw.name.clone(),
        key_revoked: false,
        document: None,
    };
    let public = with_document(app, public).await;
    finish(public, claims.digest, document, checks)
}

/// The common tail of token and full-credential verification: the key's status, then the
/// credential's live status (from memory for this deployment's credentials, from the issuing
/// deployment's status list for a trusted one's).
pub(crate) async fn key_and_status(
    app: &App,
    key: &crate::keys::KeyEntry,
    list: u32,
    idx: u32,
    id: &str,
    checks: &mut Vec<Check>,
) -> Result<crate::status::LiveStatus, Verification> {
    if key.status == KeyStatus::Revoked {
        return Err(Verification::fail(
            Outcome::KeyRevoked,
            "the signing key has been revoked".into(),
            std::mem::take(checks),
            "key_status",
        ));
    }
    checks.push(pass("key_status", Some(key.status.as_str().to_owned())));
    let live = match &key.origin {
        None => live_status(app, list, idx, id).await,
        Some(origin) => match app.remote.status(&app.keys, origin, list, idx).await {
            Ok(code) => Some(crate::status::LiveStatus {
                status: CredentialStatus::from_code(code),
                detail: None,
            }),
            Err(e) => {
                return Err(Verification::fail(
                    Outcome::Undetermined,
                    format!("the issuer's status list could not be read: {e}"),
                    std::mem::take(checks),
                    "status",
                ));
            }
        },
    };
    live.ok_or_else(|| {
        Verification::fail(
            Outcome::NotFound,
            "this deployment has no record of the credential".into(),
            std::mem::take(checks),
            "status",
        )
    })
}

fn finish(
    public: PublicCredential,
    signed_digest: Option<DocumentDigest>,
    document: Option<&[u8]>,
    mut checks: Vec<Check>,
) -> Verification {
    let status = public.status;
    checks.push(Check {
        name: "status",
        ok: status == CredentialStatus::Active,
        detail: Some(status.as_str().to_owned()),
    });
    let mut outcome = status_outcome(status);
    let mut reason = None;
    // The status is reported first: a revoked certificate checked with the wrong file is
    // `revoked` (with a failed `document_digest` check), never a `document_mismatch` that
    // would hide the revocation.
    let in_force = outcome == Outcome::Valid;
    let mut mismatch = |why: &str| {
        if in_force {
            outcome = Outcome::DocumentMismatch;
            reason = Some(why.to_owned());
        } else {
            reason = Some(format!("the credential is {status}; and {why}"));
        }
    };
    if let Some(bytes) = document {
        match (public.kind, signed_digest) {
            (CredentialKind::Document, Some(d)) => {
                let ok = DocumentDigest::of(bytes) == d;
                checks.push(Check {
                    name: "document_digest",
                    ok,
                    detail: Some(if ok { "match" } else { "mismatch" }.to_owned()),
                });
                if !ok {
                    mismatch("the file is not the certified document");
                }
            }
            _ => {
                checks.push(Check {
                    name: "document_digest",
                    ok: false,
                    detail: Some("not a document certificate".to_owned()),
                });
                mismatch("a file was given but the credential certifies no document");
            }
        }
    }
    if reason.is_none() && outcome != Outcome::Valid {
        reason = Some(format!("the credential is {status}"));
    }
    Verification {
        outcome,
        reason,
        credential: Some(public),
        checks,
    }
}

/// Verify by credential id (reference-only QR or a typed number): the live record decides,
/// since there is no signature to check.
pub async fn verify_id(app: &App, id: &CredentialId, document: Option<&[u8]>) -> Verification {
    let checks = vec![pass(
        "format",
        Some("reference only: no signature to check".into()),
    )];
    let c = match app.store.get_credential(id.as_str()).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => {
            return Verification::fail(
                Outcome::NotFound,
                "no credential with this id".into(),
                checks,
                "status",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "credential lookup failed");
            return Verification::fail(
                Outcome::NotFound,
                "the record could not be read now; try again".into(),
                checks,
                "status",
            );
        }
    };
    let Some(public) = public_from_row_synced(app, &c).await else {
        return Verification::fail(
            Outcome::Invalid,
            "stored record is unreadable".into(),
            checks,
            "status",
        );
    };
    if public.key_revoked {
        // The record stands, but what was printed was signed by a key that may be in other
        // hands: the same verdict as a scanned token signed by it.
        let mut v = Verification::fail(
            Outcome::KeyRevoked,
            "the key that signed this credential has been revoked".into(),
            checks,
            "key_status",
        );
        v.credential = Some(public);
        return v;
    }
    let digest = c
        .doc_sha256
        .as_deref()
        .and_then(|d| DocumentDigest::parse(d).ok());
    finish(public, digest, document, checks)
}

/// The public view of a stored credential. The status comes from the live status view
/// (built from the audit log), never from the row's own status column, so a status edited
/// directly in the database is not what anyone is told. `None` when the view does not know
/// the row's slot as this credential's (the row's slot was edited, or it was inserted
/// behind Sanad's back).
pub fn public_from_row(app: &App, c: &crate::storage::CredentialRow) -> Option<PublicCredential> {
    let live = app.status.lookup(
        u32::try_from(c.status_list).ok()?,
        u32::try_from(c.status_index).ok()?,
        &c.id,
    )?;
    let detail = live.detail.as_ref();
    Some(PublicCredential {
        id: c.id.clone(),
        kind: CredentialKind::parse(&c.kind).ok()?,
        status: live.status,
        status_reason_code: detail.and_then(|d| d.reason_code.clone()),
        status_at: rfc3339(detail.map_or(c.issued_at, |d| d.at)),
        superseded_by: detail.and_then(|d| d.superseded_by.clone()),
        issuer: app.issuer(&c.agency_code),
        issued_at: rfc3339(c.issued_at),
        name_as_printed: c.name_printed.clone(),
        key_revoked: app
            .keys
            .get(&c.kid)
            .is_some_and(|k| k.status == KeyStatus::Revoked),
        document: (c.kind == CredentialKind::Document.as_str())
            .then(|| PublicDocument::from_subject(&c.subject_json))
            .flatten(),
    })
}

/// This deployment's live status of the credential in slot `(list, idx)`, catching up with
/// the database first when the view does not know the slot yet: another instance on the same
/// database may have issued the credential a moment ago, before its notification (or the
/// next poll) reached this one. A slot the database does not vouch for either stays `None`.
pub(crate) async fn live_status(
    app: &App,
    list: u32,
    idx: u32,
    id: &str,
) -> Option<crate::status::LiveStatus> {
    if let Some(live) = app.status.lookup(list, idx, id) {
        return Some(live);
    }
    catch_up(app).await;
    app.status.lookup(list, idx, id)
}

/// [`public_from_row`], catching up with the database first when the live view does not know
/// the row's slot yet (see [`live_status`]).
pub async fn public_from_row_synced(
    app: &App,
    c: &crate::storage::CredentialRow,
) -> Option<PublicCredential> {
    if let Some(p) = public_from_row(app, c) {
        return Some(p);
    }
    catch_up(app).await;
    public_from_row(app, c)
}

async fn catch_up(app: &App) {
    if let Err(e) = app.status.sync(&app.store).await {
        tracing::warn!(error = %e, "status catch-up before answering failed");
    }
}

/// Add a document certificate's printed particulars when this deployment holds its record
/// (another deployment's certificates carry only their digest).
pub(crate) async fn with_document(app: &App, mut p: PublicCredential) -> PublicCredential {
    if p.kind == CredentialKind::Document
        && p.document.is_none()
        && let Ok(c) = app.store.get_credential(&p.id).await
        && c.agency_code == p.issuer.code
    {
        p.document = PublicDocument::from_subject(&c.subject_json);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every outcome, by a match that stops compiling when one is added.
    pub(super) fn all_outcomes() -> Vec<Outcome> {
        let all = vec![
            Outcome::Valid,
            Outcome::Suspended,
            Outcome::Revoked,
            Outcome::Superseded,
            Outcome::KeyRevoked,
            Outcome::UnknownIssuer,
            Outcome::Invalid,
            Outcome::DocumentMismatch,
            Outcome::NotFound,
            Outcome::Undetermined,
        ];
        for o in &all {
            match o {
                Outcome::Valid
                | Outcome::Suspended
                | Outcome::Revoked
                | Outcome::Superseded
                | Outcome::KeyRevoked
                | Outcome::UnknownIssuer
                | Outcome::Invalid
                | Outcome::DocumentMismatch
                | Outcome::NotFound
                | Outcome::Undetermined => {}
            }
        }
        all
    }

    #[test]
    fn outcome_names_are_the_serialized_ones() {
        for o in all_outcomes() {
            assert_eq!(
                serde_json::to_value(o).expect("serializes"),
                serde_json::Value::String(o.as_str().to_owned()),
                "{o:?}"
            );
        }
    }
}
