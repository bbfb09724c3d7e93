//! Bulk issuance storage: a whole chunk of persons and credentials in one transaction with
//! multi-row INSERTs, their status-feed rows and outbox events (`credential.issued`, as
//! single issuance writes), and one audit entry committing to every item (see
//! [`super::chain`]); bulk jobs and their per-row results.
//!
//! - [`writer`]: the chunk writer ([`BulkWriter`]) and its multi-row INSERTs (SQLite);
//! - [`pg_copy`]: PostgreSQL's chunk writer, `COPY … FROM STDIN` on a connection of its own;
//! - [`detail`]: the chunk's audit entry detail ([`BulkChunk::seal`]);
//! - [`lookup`]: the request keys and persons a chunk refers to, read before it is stored;
//! - [`jobs`]: bulk jobs and their per-row results;
//! - [`batches`]: a stored batch re-read for `audit verify`;
//! - [`sql`]: rows per statement and the placeholders of multi-row statements.

mod batches;
mod detail;
mod jobs;
mod lookup;
mod pg_copy;
mod sql;
mod writer;

pub use jobs::BulkJobRow;
pub use writer::BulkWriter;

use super::{NewCredential, PersonRow};

/// A credential to insert in bulk, with its caller's request key.
#[derive(Clone)]
pub struct BulkCredential {
    /// The credential.
    pub c: NewCredential,
    /// The caller's request key (unique per agency).
    pub request_key: String,
}

/// What became of one input row.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BulkResultRow {
    /// Row number in the input (1 = the first data row).
    pub row: i64,
    /// The row's request key, when it could be read.
    pub request_key: Option<String>,
    /// The credential issued for it (or issued for the same key before).
    pub credential_id: Option<String>,
    /// `issued`, `skipped` (the key was issued before) or `failed`.
    pub outcome: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// One chunk to store.
pub struct BulkChunk {
    /// Issuing agency.
    pub agency: String,
    /// Audit actor.
    pub actor: String,
    /// The API job this chunk belongs to (its results and counts are stored with it).
    pub job_id: Option<String>,
    /// Audit subject: the job id, or the imported file's name.
    pub subject: String,
    /// New persons (digital-ID rows that carry the person).
    pub persons: Vec<BulkPerson>,
    /// New credentials.
    pub credentials: Vec<BulkCredential>,
    /// Every row's outcome (stored only for jobs).
    pub results: Vec<BulkResultRow>,
    /// The audit entry's detail, when worked out ahead ([`BulkChunk::seal`]) so the
    /// storing stage only writes.
    pub detail: Option<String>,
}

/// A person to insert in bulk, with the search key the console's name search uses (see
/// [`crate::domain::search::person_key`]).
#[derive(Clone)]
pub struct BulkPerson {
    /// The person.
    pub p: PersonRow,
    /// Its search key.
    pub search_key: String,
}
