//! Plain row types, one per table, decoded by column name (sqlx's `FromRow`, written by
//! hand: the derive would compile sqlx's drivers a second time), so a query's column order
//! cannot silently shift a value into the wrong field.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row as _};

/// An agency.
#[derive(Debug, Clone)]
pub struct AgencyRow {
    /// Code, e.g. `MOSD`.
    pub code: String,
    /// Arabic name.
    pub name_ar: String,
    /// English name.
    pub name_en: String,
    /// Base URL of the deployment that hosts it.
    pub base_url: String,
    /// Created, epoch seconds.
    pub created_at: i64,
    /// `""` for this deployment's own agencies; the other deployment's base URL for agencies
    /// imported from its trust list.
    pub origin: String,
}

impl<'r> FromRow<'r, AnyRow> for AgencyRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            code: r.try_get("code")?,
            name_ar: r.try_get("name_ar")?,
            name_en: r.try_get("name_en")?,
            base_url: r.try_get("base_url")?,
            created_at: r.try_get("created_at")?,
            origin: r.try_get("origin")?,
        })
    }
}

impl AgencyRow {
    /// Whether this deployment issues for the agency.
    pub fn is_local(&self) -> bool {
        self.origin.is_empty()
    }
}

/// A public key and its lifecycle.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// Full RFC 7638 thumbprint.
    pub kid: String,
    /// Truncated thumbprint used in QR tokens.
    pub short_kid: String,
    /// Agency code.
    pub agency_code: String,
    /// JWK `x`.
    pub public_x: String,
    /// `active`, `retired` or `revoked`.
    pub status: String,
    /// Created, epoch seconds.
    pub created_at: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
}

impl<'r> FromRow<'r, AnyRow> for KeyRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            kid: r.try_get("kid")?,
            short_kid: r.try_get("short_kid")?,
            agency_code: r.try_get("agency_code")?,
            public_x: r.try_get("public_x")?,
            status: r.try_get("status")?,
            created_at: r.try_get("created_at")?,
            retired_at: r.try_get("retired_at")?,
            revoked_at: r.try_get("revoked_at")?,
            revocation_reason: r.try_get("revocation_reason")?,
        })
    }
}

/// A person record.
#[derive(Clone)]
pub struct PersonRow {
    /// Id.
    pub id: String,
    /// Owning agency.
    pub agency_code: String,
    /// Arabic name.
    pub name_ar: String,
    /// Latin name.
    pub name_en: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// National ID number.
    pub national_id: String,
    /// Programme or category.
    pub programme: String,
    /// Created, epoch seconds.
    pub created_at: i64,
    /// Updated, epoch seconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for PersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of any debug print or log line.
        write!(f, "PersonRow({}, agency {})", self.id, self.agency_code)
    }
}

impl<'r> FromRow<'r, AnyRow> for PersonRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            agency_code: r.try_get("agency_code")?,
            name_ar: r.try_get("name_ar")?,
            name_en: r.try_get("name_en")?,
            date_of_birth: r.try_get("date_of_birth")?,
            national_id: r.try_get("national_id")?,
            programme: r.try_get("programme")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

/// A credential to insert.
#[derive(Clone)]
pub struct NewCredential {
    /// Id.
    pub id: String,
    /// Issuing agency.
    pub agency_code: String,
    /// `digital_id` or `document`.
    pub kind: String,
    /// Subject person (digital IDs).
    pub person_id: Option<String>,
    /// Signing key.
    pub kid: String,
    /// The credential this one replaces.
    pub supersedes: Option<String>,
    /// Issued, epoch seconds.
    pub issued_at: i64,
    /// Name as printed.
    pub name_printed: String,
    /// Status list id.
    pub status_list: i64,
    /// Index in the list.
    pub status_index: i64,
    /// The QR token (compact JWS).
    pub token: String,
    /// Signed subject data as JSON.
    pub subject_json: String,
    /// Document digest, hex.
    pub doc_sha256: Option<String>,
    /// Document bytes, when kept.
    pub doc_file: Option<Vec<u8>>,
    /// Document media type.
    pub doc_media_type: Option<String>,
    /// Actor id.
    pub created_by: String,
}

/// A stored credential.
#[derive(Clone)]
pub struct CredentialRow {
    /// Id.
    pub id: String,
    /// Issuing agency.
    pub agency_code: String,
    /// Kind.
    pub kind: String,
    /// Subject person.
    pub person_id: Option<String>,
    /// Signing key.
    pub kid: String,
    /// Status.
    pub status: String,
    /// Reason code of the last change.
    pub status_reason_code: Option<String>,
    /// Free text of the last change (not public).
    pub status_reason_text: Option<String>,
    /// Time of the last change.
    pub status_changed_at: i64,
    /// Replacement, when superseded.
    pub superseded_by: Option<String>,
    /// The credential this replaced.
    pub supersedes: Option<String>,
    /// Issued, epoch seconds.
    pub issued_at: i64,
    /// Name as printed.
    pub name_printed: String,
    /// Status list id.
    pub status_list: i64,
    /// Index.
    pub status_index: i64,
    /// QR token.
    pub token: String,
    /// Subject JSON.
    pub subject_json: String,
    /// Document digest, hex.
    pub doc_sha256: Option<String>,
    /// Document media type (when the file is kept).
    pub doc_media_type: Option<String>,
    /// Who issued it.
    pub created_by: String,
}

impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CredentialRow({}, {}, {})",
            self.id, self.kind, self.status
        )
    }
}

impl<'r> FromRow<'r, AnyRow> for CredentialRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            agency_code: r.try_get("agency_code")?,
            kind: r.try_get("kind")?,
            person_id: r.try_get("person_id")?,
            kid: r.try_get("kid")?,
            status: r.try_get("status")?,
            status_reason_code: r.try_get("status_reason_code")?,
            status_reason_text: r.try_get("status_reason_text")?,
            status_changed_at: r.try_get("status_changed_at")?,
            superseded_by: r.try_get("superseded_by")?,
            supersedes: r.try_get("supersedes")?,
            issued_at: r.try_get("issued_at")?,
            name_printed: r.try_get("name_printed")?,
            status_list: r.try_get("status_list")?,
            status_index: r.try_get("status_index")?,
            token: r.try_get("token")?,
            subject_json: r.try_get("subject_json")?,
            doc_sha256: r.try_get("doc_sha256")?,
            doc_media_type: r.try_get("doc_media_type")?,
            created_by: r.try_get("created_by")?,
        })
    }
}

/// A status change to record.
#[derive(Debug, Clone)]
pub struct StatusChange {
    /// Credential.
    pub credential_id: String,
    /// Expected current status (`None` only at issuance).
    pub from_status: Option<String>,
    /// New status.
    pub to_status: String,
    /// Reason code.
    pub reason_code: Option<String>,
    /// Free text (kept in the row, not in the public view or the audit detail).
    pub reason_text: Option<String>,
    /// Replacement id, for supersede.
    pub superseded_by: Option<String>,
    /// Who did it.
    pub actor: String,
    /// When, epoch seconds.
    pub at: i64,
}

/// A row of the status feed.
#[derive(Debug, Clone)]
pub struct StatusChangeRow {
    /// Feed sequence number.
    pub seq: i64,
    /// Credential.
    pub credential_id: String,
    /// Status list.
    pub status_list: i64,
    /// Index.
    pub status_index: i64,
    /// Previous status (`None` at issuance).
    pub from_status: Option<String>,
    /// New status.
    pub to_status: String,
    /// Reason code.
    pub reason_code: Option<String>,
    /// Replacement.
    pub superseded_by: Option<String>,
    /// When.
    pub at: i64,
}

impl<'r> FromRow<'r, AnyRow> for StatusChangeRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: r.try_get("seq")?,
            credential_id: r.try_get("credential_id")?,
            status_list: r.try_get("status_list")?,
            status_index: r.try_get("status_index")?,
            from_status: r.try_get("from_status")?,
            to_status: r.try_get("to_status")?,
            reason_code: r.try_get("reason_code")?,
            superseded_by: r.try_get("superseded_by")?,
            at: r.try_get("at")?,
        })
    }
}

/// An API token (hash only).
#[derive(Debug, Clone)]
pub struct ApiTokenRow {
    /// Public id (also the token's prefix).
    pub id: String,
    /// Agency it acts for (`None` for deployment-wide tokens).
    pub agency_code: Option<String>,
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// Free label.
    pub label: String,
    /// Created.
    pub created_at: i64,
    /// Last used (to the minute).
    pub last_used_at: Option<i64>,
    /// Revoked.
    pub revoked_at: Option<i64>,
    /// Who made it: a user id, or `cli`.
    pub owner: String,
}

impl<'r> FromRow<'r, AnyRow> for ApiTokenRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            agency_code: r.try_get("agency_code")?,
            token_hash: r.try_get("token_hash")?,
            scopes: r.try_get("scopes")?,
            label: r.try_get("label")?,
            created_at: r.try_get("created_at")?,
            last_used_at: r.try_get("last_used_at")?,
            revoked_at: r.try_get("revoked_at")?,
            owner: r.try_get("owner")?,
        })
    }
}

/// An audit log entry.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// Sequence number (1, 2, …).
    pub seq: i64,
    /// When.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What, e.g. `credential.revoked`.
    pub action: String,
    /// On what (an id).
    pub subject: String,
    /// JSON detail without personal data.
    pub detail: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl<'r> FromRow<'r, AnyRow> for AuditRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            subject: r.try_get("subject")?,
            detail: r.try_get("detail")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        })
    }
}
