//! The audit chain's hashing, as pure functions: the hash of one entry and the hash a bulk
//! batch entry commits to. They live in storage, not in `audit`, because storage computes
//! them while appending inside the write transaction; `audit` re-exports them to check the
//! chain, so the dependency points one way (audit → storage).

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
