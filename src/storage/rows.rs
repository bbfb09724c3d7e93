//! Plain row types, one per table, decoded by column position so both engines agree.

use super::StoreError;
use sqlx::Row as _;
use sqlx::any::AnyRow;

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

impl AgencyRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            code: r.try_get(0)?,
            name_ar: r.try_get(1)?,
            name_en: r.try_get(2)?,
            base_url: r.try_get(3)?,
            created_at: r.try_get(4)?,
            origin: r.try_get(5)?,
        })
    }

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

impl KeyRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            kid: r.try_get(0)?,
            short_kid: r.try_get(1)?,
            agency_code: r.try_get(2)?,
            public_x: r.try_get(3)?,
            status: r.try_get(4)?,
            created_at: r.try_get(5)?,
            retired_at: r.try_get(6)?,
            revoked_at: r.try_get(7)?,
            revocation_reason: r.try_get(8)?,
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

impl PersonRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get(0)?,
            agency_code: r.try_get(1)?,
            name_ar: r.try_get(2)?,
            name_en: r.try_get(3)?,
            date_of_birth: r.try_get(4)?,
            national_id: r.try_get(5)?,
            programme: r.try_get(6)?,
            created_at: r.try_get(7)?,
            updated_at: r.try_get(8)?,
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

impl CredentialRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get(0)?,
            agency_code: r.try_get(1)?,
            kind: r.try_get(2)?,
            person_id: r.try_get(3)?,
            kid: r.try_get(4)?,
            status: r.try_get(5)?,
            status_reason_code: r.try_get(6)?,
            status_reason_text: r.try_get(7)?,
            status_changed_at: r.try_get(8)?,
            superseded_by: r.try_get(9)?,
            supersedes: r.try_get(10)?,
            issued_at: r.try_get(11)?,
            name_printed: r.try_get(12)?,
            status_list: r.try_get(13)?,
            status_index: r.try_get(14)?,
            token: r.try_get(15)?,
            subject_json: r.try_get(16)?,
            doc_sha256: r.try_get(17)?,
            doc_media_type: r.try_get(18)?,
            created_by: r.try_get(19)?,
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

impl StatusChangeRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            seq: r.try_get(0)?,
            credential_id: r.try_get(1)?,
            status_list: r.try_get(2)?,
            status_index: r.try_get(3)?,
            from_status: r.try_get(4)?,
            to_status: r.try_get(5)?,
            reason_code: r.try_get(6)?,
            superseded_by: r.try_get(7)?,
            at: r.try_get(8)?,
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
}

impl ApiTokenRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get(0)?,
            agency_code: r.try_get(1)?,
            token_hash: r.try_get(2)?,
            scopes: r.try_get(3)?,
            label: r.try_get(4)?,
            created_at: r.try_get(5)?,
            last_used_at: r.try_get(6)?,
            revoked_at: r.try_get(7)?,
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

impl AuditRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            actor: r.try_get(2)?,
            action: r.try_get(3)?,
            subject: r.try_get(4)?,
            detail: r.try_get(5)?,
            prev_hash: r.try_get(6)?,
            hash: r.try_get(7)?,
        })
    }
}
