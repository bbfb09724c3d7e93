//! The audit log's hash chain: every entry commits to the one before it, so a row changed,
//! inserted or removed directly in the database breaks the chain at that row.
//!
//! Entries are appended by storage inside the same transaction as the change they record.

use crate::storage::AuditRow;
use sha2::Digest as _;

/// The hash of an entry: SHA-256 over the previous hash and the entry's fields, each
/// length-prefixed so no two different entries share an encoding.
pub fn entry_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = sha2::Sha256::new();
    for part in [
        prev.as_bytes(),
        seq.to_string().as_bytes(),
        at.to_string().as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        subject.as_bytes(),
        detail.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The first problem found in a log, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// Entry `seq`'s content no longer matches its hash (changed in place).
    Changed(i64),
    /// Entry `seq` does not follow the previous entry (one was removed or inserted before it).
    Broken(i64),
}

/// Check a whole log, in sequence order.
pub fn verify_chain(entries: &[AuditRow]) -> Result<usize, ChainBreak> {
    let mut prev = "0".repeat(64);
    for (expected_seq, e) in (1..).zip(entries.iter()) {
        if e.seq != expected_seq || e.prev_hash != prev {
            return Err(ChainBreak::Broken(e.seq));
        }
        let h = entry_hash(
            &e.prev_hash,
            e.seq,
            e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.detail,
        );
        if h != e.hash {
            return Err(ChainBreak::Changed(e.seq));
        }
        prev = e.hash.clone();
    }
    Ok(entries.len())
}
