//! What a caller may put into a credential Sanad signs for it (VC-API `POST
//! /credentials/issue`).
//!
//! Sanad signs a VC-API credential with an agency key, so its JSON must never be able to
//! pass for another kind of signed artefact: no reserved claims (registered JWT claims,
//! `vc`, `vp`, `cnf`, `status`, the QR token's one-letter claims…) and no reserved types
//! (Sanad's own credential types, status-list types, envelopes and presentations). Such a
//! member is refused with a 400 that names it, never stripped: a caller whose credential
//! would mean something else once signed must learn it. The table of reserved names lives
//! with the artefact kinds in [`crate::keys::kind`]; this module only applies it to caller
//! input. (Data-model validation of the credential is separate, in `verification::vc`.)

use crate::error::AppError;
use crate::keys::kind::reserved_members;
use serde_json::Value;

/// Members Sanad itself sets on a VC-API credential: a caller's own would be replaced, so
/// they are refused rather than silently dropped.
pub const SET_BY_SANAD: [&str; 2] = ["credentialStatus", "proof"];

/// Refuse a caller's credential that carries reserved members, naming each.
pub fn refuse_reserved(vc: &Value) -> Result<(), AppError> {
    let mut found = reserved_members(vc);
    if let Some(obj) = vc.as_object() {
        found.extend(
            SET_BY_SANAD
                .iter()
                .filter(|k| obj.contains_key(**k))
                .map(|k| (*k).to_owned()),
        );
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(AppError::Reserved(found))
    }
}
