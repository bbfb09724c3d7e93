//! Pure domain types: identifiers, credentials, persons, statuses and reason codes.
//!
//! Everything here is parsed at the edge (HTTP, CLI, database rows) and is valid by
//! construction afterwards. No I/O lives in this module, so every rule about what a
//! credential *is* can be tested without a database or a network.

mod credential;
mod ids;
mod person;
mod public;
pub mod search;
mod status;
pub mod vcdm;

pub use credential::{
    CheckedClaims, CredentialKind, DocumentDigest, DocumentMeta, QrClaims, QrText, digits_to_token,
    token_to_digits,
};
pub use ids::{AgencyCode, CredentialId, PersonId, batch_prefix, random_base32};
pub use person::{NationalId, NewPerson, PersonInput, PersonName, formula_leading};
pub use public::{PublicCredential, PublicDocument, PublicIssuer, rfc3339};
pub use status::{CredentialStatus, ReasonCode, StatusAction};

/// A validation failure at the edge, reported to the caller as a 422 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The input field that was rejected (dotted path for nested fields).
    pub field: &'static str,
    /// What was wrong with it, in plain English.
    pub message: String,
}

impl Invalid {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
