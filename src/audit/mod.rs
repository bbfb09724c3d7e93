//! The audit log's hash chain: every entry commits to the one before it, so a row changed,
//! inserted or removed directly in the database breaks the chain at that row.
//!
//! Entries are appended by storage inside the same transaction as the change they record.
//! On top of the chain, signed checkpoints (RFC 6962 tree heads, see [`merkle`]) let anyone
//! holding an old checkpoint prove that history was not rewritten since, even by someone
//! who can recompute the chain and its head row.

pub mod bulk;
pub mod merkle;

use crate::app::App;
use crate::domain::AgencyCode;
use crate::keys::{Artefact, kind};
use crate::storage::{AuditRow, Store, now};

pub use crate::storage::chain::entry_hash;

/// The first problem found in a log, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// Entry `seq`'s content no longer matches its hash (changed in place).
    Changed(i64),
    /// Entry `seq` is missing (deleted, in the middle or at the end).
    Removed(i64),
    /// Entry `seq` was added outside Sanad (beyond the recorded head, or out of order).
    Inserted(i64),
    /// Entry `seq` is self-consistent but does not follow the entry before it: it, or the
    /// one before it, was replaced with a recomputed hash.
    Relinked(i64),
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed(s) => write!(
                f,
                "entry {s} was changed (its content no longer matches its hash)"
            ),
            Self::Removed(s) => write!(f, "entry {s} was removed"),
            Self::Inserted(s) => write!(f, "entry {s} was inserted outside Sanad"),
            Self::Relinked(s) => write!(
                f,
                "entry {s} does not follow entry {}: one of them was replaced",
                s - 1
            ),
        }
    }
}

/// Check a whole log, in sequence order; returns the number of entries.
pub fn verify_chain(entries: &[AuditRow]) -> Result<usize, ChainBreak> {
    verify_log(entries, None)
}

/// Check a whole log against the recorded head `(seq, hash)` too, which catches entries
/// removed from or added at the end.
pub fn verify_log(entries: &[AuditRow], head: Option<(i64, &str)>) -> Result<usize, ChainBreak> {
    let mut prev = "0".repeat(64);
    let mut expected = 1;
    for e in entries {
        if e.seq < expected {
            return Err(ChainBreak::Inserted(e.seq));
        }
        if e.seq > expected {
            return Err(ChainBreak::Removed(expected));
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
        if e.prev_hash != prev {
            return Err(ChainBreak::Relinked(e.seq));
        }
        prev = e.hash.clone();
        expected += 1;
    }
    let last = expected - 1;
    if let Some((seq, hash)) = head {
        if seq > last {
            return Err(ChainBreak::Removed(last + 1));
        }
        if seq < last {
            return Err(ChainBreak::Inserted(seq + 1));
        }
        if hash != prev {
            return Err(ChainBreak::Changed(last));
        }
    }
    Ok(entries.len())
}

/// Verify the log as stored, against its recorded head (what `sanad audit verify` runs).
pub async fn verify_store(store: &Store) -> anyhow::Result<Result<usize, ChainBreak>> {
    let entries = store.audit_entries().await?;
    let (seq, hash) = store.audit_head().await?;
    Ok(verify_log(&entries, Some((seq, &hash))))
}

/// A signed tree head over the first `tree_size` entries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Number of entries covered.
    pub tree_size: u64,
    /// RFC 6962 Merkle tree head, hex.
    pub root_hash: String,
    /// When it was signed (epoch seconds).
    pub timestamp: i64,
    /// Key that signed (RFC 7638 thumbprint; in the JWKS).
    pub kid: String,
    /// Compact JWS (`typ: sanad-checkpoint+jwt`) over
    /// `{"iss", "tree_size", "root_hash", "timestamp"}`.
    pub signature: String,
}

/// Why a saved checkpoint does not match the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointMismatch {
    /// The checkpoint's signature does not verify with any key of this deployment.
    #[error("the checkpoint's signature does not verify: {0}")]
    Signature(String),
    /// The log is shorter than the checkpoint: entries were removed.
    #[error("the checkpoint covers {signed} entries but the log holds only {now}")]
    Shorter {
        /// Entries the checkpoint covers.
        signed: u64,
        /// Entries now.
        now: u64,
    },
    /// The first `tree_size` entries no longer hash to the signed root: history was
    /// rewritten (even if the chain and its head were recomputed).
    #[error("the first {0} entries no longer match the signed tree head: history was rewritten")]
    Rewritten(u64),
}

/// Check that the log still begins with exactly what a saved checkpoint (its compact JWS)
/// signed. Keys are taken from the database (any status: a retired key still verifies
/// the checkpoints it signed), so this needs no private key.
pub async fn verify_checkpoint(
    store: &Store,
    jws: &str,
) -> anyhow::Result<Result<u64, CheckpointMismatch>> {
    let keys = store.list_keys().await?;
    let entries = store.audit_hashes().await?;
    verify_checkpoint_with(&keys, &entries, jws)
}

/// [`verify_checkpoint`] against keys and entry hashes already read (so many checkpoints
/// can be checked with one read of the log).
pub fn verify_checkpoint_with(
    keys: &[crate::storage::KeyRow],
    entries: &[String],
    jws: &str,
) -> anyhow::Result<Result<u64, CheckpointMismatch>> {
    let header = match kind::expect(jws.trim(), Artefact::AuditCheckpoint) {
        Ok(h) => h,
        Err(e) => return Ok(Err(CheckpointMismatch::Signature(e.to_string()))),
    };
    let Some(key) = keys.iter().find(|k| k.kid == header.kid) else {
        return Ok(Err(CheckpointMismatch::Signature(format!(
            "unknown key {}",
            header.kid
        ))));
    };
    let vk = crate::keys::verifying_key_from_x(&key.public_x)?;
    let payload =
        match crate::keys::verify_compact(jws.trim(), &crate::keys::DalekVerifier::new(vk)) {
            Ok(p) => p,
            Err(e) => return Ok(Err(CheckpointMismatch::Signature(e.to_string()))),
        };
    #[derive(serde::Deserialize)]
    struct Signed {
        tree_size: u64,
        root_hash: String,
    }
    let signed: Signed = match kind::expect_payload(&payload, Artefact::AuditCheckpoint) {
        Ok(v) => serde_json::from_value(v)?,
        Err(e) => return Ok(Err(CheckpointMismatch::Signature(e.to_string()))),
    };
    let n = usize::try_from(signed.tree_size)?;
    if n > entries.len() {
        return Ok(Err(CheckpointMismatch::Shorter {
            signed: signed.tree_size,
            now: entries.len() as u64,
        }));
    }
    let root = merkle::root(&leaves(&entries[..n])?);
    if merkle::hex(&root) != signed.root_hash {
        return Ok(Err(CheckpointMismatch::Rewritten(signed.tree_size)));
    }
    Ok(Ok(signed.tree_size))
}

/// An inclusion proof of one entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct InclusionProof {
    /// The entry's sequence number.
    pub seq: i64,
    /// Its leaf index (`seq - 1`).
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The entry's hash (hex), as stored.
    pub entry_hash: String,
    /// `SHA-256(0x00 || entry hash bytes)`, hex.
    pub leaf_hash: String,
    /// RFC 6962 §2.1.1 audit path, leaf upwards, hex.
    pub audit_path: Vec<String>,
    /// The tree head the path leads to, hex.
    pub root_hash: String,
}

fn leaves(hashes: &[String]) -> anyhow::Result<Vec<merkle::Hash>> {
    hashes
        .iter()
        .zip(1..)
        .map(|(h, seq)| {
            merkle::from_hex(h)
                .map(|h| merkle::leaf_hash(&h))
                .ok_or_else(|| anyhow::anyhow!("audit entry {seq} has a malformed hash"))
        })
        .collect()
}

/// Sign a checkpoint of the whole log with the deployment's key (the default agency's
/// active signing key).
pub async fn checkpoint(app: &App) -> anyhow::Result<Checkpoint> {
    let entries = app.store.audit_hashes().await?;
    let root = merkle::root(&leaves(&entries)?);
    let agency = AgencyCode::parse(&app.config.default_agency)?;
    let key = app
        .keys
        .signing_key(&agency)
        .ok_or_else(|| anyhow::anyhow!("the default agency has no active signing key"))?;
    let timestamp = now();
    let payload = serde_json::json!({
        "iss": agency.as_str(), "tree_size": entries.len(), "root_hash": merkle::hex(&root),
        "timestamp": timestamp,
    });
    let signature = kind::sign(Artefact::AuditCheckpoint, &payload, &key.signer(&key.kid))
        .map_err(|e| anyhow::anyhow!("signing the checkpoint: {e}"))?;
    Ok(Checkpoint {
        tree_size: entries.len() as u64,
        root_hash: merkle::hex(&root),
        timestamp,
        kid: key.kid.clone(),
        signature,
    })
}

/// The inclusion proof of entry `seq` in the tree of the first `tree_size` entries (the
/// whole log when `None`). `None` when the entry is not in that tree.
pub async fn inclusion_proof(
    store: &Store,
    seq: i64,
    tree_size: Option<u64>,
) -> anyhow::Result<Option<InclusionProof>> {
    let entries = store.audit_hashes().await?;
    let n = tree_size.map_or(entries.len(), |n| (n as usize).min(entries.len()));
    let all = leaves(&entries[..n])?;
    let Some(m) = usize::try_from(seq - 1).ok().filter(|m| *m < n) else {
        return Ok(None);
    };
    Ok(Some(InclusionProof {
        seq,
        leaf_index: m as u64,
        tree_size: n as u64,
        entry_hash: entries[m].clone(),
        leaf_hash: merkle::hex(&all[m]),
        audit_path: merkle::inclusion_path(m, &all)
            .iter()
            .map(|h| merkle::hex(h))
            .collect(),
        root_hash: merkle::hex(&merkle::root(&all)),
    }))
}

/// Sign and store a checkpoint if the log has grown since the last stored one. Run every
/// `SANAD_CHECKPOINT_INTERVAL` by the serving process.
pub async fn checkpoint_if_grown(app: &App) -> anyhow::Result<Option<u64>> {
    let last = app
        .store
        .checkpoints()
        .await?
        .last()
        .map_or(0, |c| c.tree_size);
    let (head, _) = app.store.audit_head().await?;
    if head <= last {
        return Ok(None);
    }
    let cp = checkpoint(app).await?;
    app.store
        .insert_checkpoint(
            i64::try_from(cp.tree_size)?,
            &cp.root_hash,
            cp.timestamp,
            &cp.kid,
            &cp.signature,
        )
        .await?;
    Ok(Some(cp.tree_size))
}

/// Sign checkpoints every `every` in the background (the first one at once).
pub fn spawn_checkpoints(app: &std::sync::Arc<App>, every: std::time::Duration) {
    let app = std::sync::Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            if let Err(e) = checkpoint_if_grown(&app).await {
                tracing::warn!(error = %e, "signing an audit checkpoint failed; will retry");
            }
        }
    });
}

/// What the stored checkpoints say about the log: each verifies and still matches the
/// log's prefix, and every entry older than `interval` (at `now`) is covered by a
/// checkpoint signed within `interval` (plus a grace of one interval) of the entry's own
/// time. An entry appended behind the log's back, even with recomputed hashes, is either
/// not covered at all, or covered only by a checkpoint signed long after the time it
/// claims: both are named here.
pub async fn checkpoint_problems(
    store: &Store,
    interval: i64,
    now: i64,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let cps = store.checkpoints().await?;
    let keys = store.list_keys().await?;
    let entries = store.audit_hashes().await?;
    let mut good: Vec<(i64, i64)> = Vec::new();
    for c in &cps {
        match verify_checkpoint_with(&keys, &entries, &c.signature)? {
            Ok(n) if i64::try_from(n)? == c.tree_size => good.push((c.tree_size, c.timestamp)),
            Ok(n) => problems.push(format!(
                "stored checkpoint of {} entries signs {n}",
                c.tree_size
            )),
            Err(m) => problems.push(format!("stored checkpoint of {} entries: {m}", c.tree_size)),
        }
    }
    for w in good.windows(2) {
        if w[1].1 < w[0].1 {
            problems.push(format!(
                "checkpoint of {} entries is dated before the one of {}",
                w[1].0, w[0].0
            ));
        }
    }
    for (seq, at) in store.audit_times().await? {
        let first = good.iter().find(|(size, _)| *size >= seq);
        match first {
            None if at < now - interval => problems.push(format!(
                "entry {seq} is older than {interval} s but no signed checkpoint covers it"
            )),
            Some((_, signed)) if *signed > at + 2 * interval => problems.push(format!(
                "entry {seq} claims a time {} s before the first checkpoint that covers it: added behind the log's back",
                signed - at
            )),
            _ => {}
        }
    }
    Ok(problems)
}
