//! The public view of a credential: exactly the fields SPEC §4 lets anyone see. Nothing
//! else (no national ID, no date of birth, no free-text reason) can leak through it,
//! because nothing else is in it.

use super::{CredentialKind, CredentialStatus};
use serde::{Deserialize, Serialize};

/// An issuing agency as shown publicly.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct PublicIssuer {
    /// Agency code.
    pub code: String,
    /// Arabic name.
    pub name_ar: String,
    /// English name.
    pub name_en: String,
    /// For an agency of another, trusted deployment: that deployment's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

/// Public fields of a credential (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct PublicCredential {
    /// Credential id.
    pub id: String,
    /// Kind.
    pub kind: CredentialKind,
    /// Live status.
    pub status: CredentialStatus,
    /// Reason code of the last status change (not the free text).
    pub status_reason_code: Option<String>,
    /// Time of the last status change (issue time if never changed), RFC 3339.
    pub status_at: String,
    /// The replacement's id, when superseded.
    pub superseded_by: Option<String>,
    /// The issuing agency.
    pub issuer: PublicIssuer,
    /// Issue time, RFC 3339.
    pub issued_at: String,
    /// The name as printed on the credential.
    pub name_as_printed: String,
    /// True when the key that signed it has been revoked (its signature proves nothing any
    /// more, whatever the status); absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_revoked: bool,
    /// For a document certificate: what is printed on the document anyway (type, number,
    /// title, issue date), so an officer holding the paper can compare it without the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<PublicDocument>,
}

/// The printed particulars of a certified document (never its recipient's other data).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct PublicDocument {
    /// Document type.
    pub doc_type: String,
    /// The agency's number for the document.
    pub number: String,
    /// Title.
    pub title: String,
    /// The document's issue date, `YYYY-MM-DD`.
    pub issue_date: String,
}

impl PublicDocument {
    /// The particulars from a stored document certificate's subject JSON.
    pub fn from_subject(subject_json: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(subject_json).ok()?;
        let f = |k: &str| v.get(k)?.as_str().map(str::to_owned);
        Some(Self {
            doc_type: f("doc_type")?,
            number: f("number")?,
            title: f("title")?,
            issue_date: f("issue_date")?,
        })
    }
}

/// RFC 3339 UTC time for epoch seconds.
pub fn rfc3339(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
