//! Bulk batches in the audit log: one entry per stored batch (`credential.bulk_issue`) whose
//! detail commits to every item of the batch by a hash, and the check that the rows still
//! match it, so `sanad audit verify` vouches for each bulk-issued credential and person.

use crate::storage::Store;
use sha2::Digest as _;

/// The audit action of a bulk batch.
pub const BULK_ACTION: &str = "credential.bulk_issue";

/// What an entry commits to about one credential of a batch.
#[derive(Debug, Clone)]
pub struct BatchItem<'a> {
    /// Credential id.
    pub id: &'a str,
    /// Subject person, if any.
    pub person_id: Option<&'a str>,
    /// Signing key.
    pub kid: &'a str,
    /// Status list.
    pub status_list: i64,
    /// Status index.
    pub status_index: i64,
    /// The caller's request key.
    pub request_key: Option<&'a str>,
    /// The signed token.
    pub token: &'a str,
    /// Document digest (hex), certificates only.
    pub doc_sha256: Option<&'a str>,
}

/// SHA-256 (hex) over a batch's credentials and the ids of the persons it created, each
/// field length-prefixed and both lists sorted, so the order rows come back in does not
/// matter and no two batches share an encoding.
pub fn items_hash(items: &[BatchItem<'_>], person_ids: &[&str]) -> String {
    let mut items: Vec<&BatchItem<'_>> = items.iter().collect();
    items.sort_by(|a, b| a.id.cmp(b.id));
    let mut persons: Vec<&str> = person_ids.to_vec();
    persons.sort_unstable();
    let mut h = sha2::Sha256::new();
    let mut part = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    part(b"credentials");
    for i in items {
        let token_hash = sha2::Sha256::digest(i.token.as_bytes());
        part(i.id.as_bytes());
        part(i.person_id.unwrap_or_default().as_bytes());
        part(i.kid.as_bytes());
        part(i.status_list.to_string().as_bytes());
        part(i.status_index.to_string().as_bytes());
        part(i.request_key.unwrap_or_default().as_bytes());
        part(&token_hash);
        part(i.doc_sha256.unwrap_or_default().as_bytes());
    }
    part(b"persons");
    for p in persons {
        part(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The first bulk batch whose rows no longer match its audit entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchMismatch {
    /// The rows of batch `seq` (credentials or persons) were changed, added or removed.
    #[error("bulk batch {0}: its credentials or persons no longer match the audit entry")]
    Changed(i64),
    /// Rows claim batch `seq`, which is not a bulk audit entry.
    #[error("rows claim bulk batch {0}, which is no bulk audit entry")]
    Unknown(i64),
}

/// Check every bulk batch entry against its rows; returns how many batches were checked.
pub async fn verify_batches(store: &Store) -> anyhow::Result<Result<usize, BatchMismatch>> {
    let entries = store.bulk_audit_entries().await?;
    let known: std::collections::HashSet<i64> = entries.iter().map(|e| e.0).collect();
    for seq in store.bulk_batches_in_rows().await? {
        if !known.contains(&seq) {
            return Ok(Err(BatchMismatch::Unknown(seq)));
        }
    }
    for (seq, detail) in &entries {
        #[derive(serde::Deserialize)]
        struct Detail {
            items: String,
        }
        let d: Detail = match serde_json::from_str(detail) {
            Ok(d) => d,
            Err(_) => return Ok(Err(BatchMismatch::Changed(*seq))),
        };
        let (creds, persons) = store.bulk_batch_rows(*seq).await?;
        let items: Vec<BatchItem<'_>> = creds.iter().map(|c| c.item()).collect();
        let persons: Vec<&str> = persons.iter().map(String::as_str).collect();
        if items_hash(&items, &persons) != d.items {
            return Ok(Err(BatchMismatch::Changed(*seq)));
        }
    }
    Ok(Ok(entries.len()))
}
