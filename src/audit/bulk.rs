//! Bulk batches in the audit log: one entry per stored batch (`credential.bulk_issue`) whose
//! detail commits to every item of the batch by a hash, and the check that the rows still
//! match it, so `sanad audit verify` vouches for each bulk-issued credential and person.

use crate::storage::Store;
pub use crate::storage::chain::{BULK_ACTION, BatchItem, items_hash};

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
