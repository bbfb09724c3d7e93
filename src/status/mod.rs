//! Live status: the in-memory view that answers every verification, kept current from the
//! database's status feed.
//!
//! Each credential owns one 2-bit slot in a status list (IETF Token Status List layout: 0
//! valid, 1 revoked, 2 suspended, 3 superseded, least significant bits first). The slot is
//! printed into the credential's token, so verifying a scanned QR needs no database at all:
//! the signature is checked against the in-memory keys and the status read from these bytes,
//! the same bytes that are published as status lists. Slots are drawn at random (herd
//! privacy: neighbouring indexes say nothing about issue order) and never reused.
//!
//! Every issuance and status change appends its audit entry inside its transaction, and the
//! writers are serialised on the audit head, so the log is in commit order. The view is
//! built by replaying those chained entries (not from the `credentials` rows, which a
//! direct database edit could change); each instance applies them after its own writes
//! and polls for other instances' writes, so a change shows everywhere within the poll
//! interval.

pub mod publish;
pub mod remote;

use crate::domain::CredentialStatus;
use crate::storage::{StatusChangeRow, Store, StoreError};
use rand::RngExt as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// Entries per status list (131,072 = 2^17, 32 KiB of 2-bit entries).
pub const LIST_SIZE: u32 = 131_072;

/// One status list: 2-bit statuses, an allocation bitmap, and each slot's owner.
///
/// The owner is a keyed 64-bit hash of the credential id that holds the slot, so a token
/// that names a slot can be checked to name the slot's own credential (8 bytes a slot:
/// 1 MiB a list).
#[derive(Debug, Clone)]
pub struct StatusList {
    size: u32,
    bits: Vec<u8>,
    allocated: Vec<u64>,
    owners: Vec<u64>,
    used: u32,
}

impl StatusList {
    /// An empty list of `size` entries (a multiple of 64).
    pub fn new(size: u32) -> Self {
        Self {
            size,
            bits: vec![0; (size as usize).div_ceil(4)],
            allocated: vec![0; (size as usize).div_ceil(64)],
            owners: Vec::new(),
            used: 0,
        }
    }

    /// The 2-bit status at `idx`.
    pub fn get(&self, idx: u32) -> u8 {
        let i = idx as usize;
        (self.bits[i / 4] >> ((i % 4) * 2)) & 3
    }

    /// Set the 2-bit status at `idx`.
    pub fn set(&mut self, idx: u32, code: u8) {
        let i = idx as usize;
        let shift = (i % 4) * 2;
        self.bits[i / 4] = (self.bits[i / 4] & !(3 << shift)) | ((code & 3) << shift);
    }

    /// Whether `idx` belongs to a credential.
    pub fn is_allocated(&self, idx: u32) -> bool {
        idx < self.size && self.allocated[idx as usize / 64] & (1 << (idx % 64)) != 0
    }

    fn set_owner(&mut self, idx: u32, owner: u64) {
        if self.owners.is_empty() {
            self.owners = vec![0; self.size as usize];
        }
        if let Some(o) = self.owners.get_mut(idx as usize) {
            *o = owner;
        }
    }

    fn owner(&self, idx: u32) -> Option<u64> {
        self.owners.get(idx as usize).copied().filter(|o| *o != 0)
    }

    fn mark(&mut self, idx: u32) {
        if !self.is_allocated(idx) {
            self.allocated[idx as usize / 64] |= 1 << (idx % 64);
            self.used += 1;
        }
    }

    /// A random free index, or `None` when full. Starts at a random point and takes the
    /// first free slot from there, so allocation stays O(size/64) even when nearly full.
    fn draw(&mut self) -> Option<u32> {
        if self.used >= self.size {
            return None;
        }
        let start = rand::rng().random_range(0..self.size);
        let words = self.allocated.len();
        for step in 0..=words {
            let w = (start as usize / 64 + step) % words;
            let mut free = !self.allocated[w];
            if step == 0 {
                // Only slots at or after `start` in the first word; the rest come last.
                free &= u64::MAX << (start % 64);
            }
            if free != 0 {
                let idx = (w * 64) as u32 + free.trailing_zeros();
                if idx < self.size {
                    self.mark(idx);
                    return Some(idx);
                }
            }
        }
        // Wrapped around to the low bits of the first word.
        let w = start as usize / 64;
        let free = !self.allocated[w] & !(u64::MAX << (start % 64));
        (free != 0).then(|| {
            let idx = (w * 64) as u32 + free.trailing_zeros();
            self.mark(idx);
            idx
        })
    }

    /// The raw 2-bit entries, as published.
    pub fn bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Entries in the list.
    pub fn size(&self) -> u32 {
        self.size
    }
}

/// What is known about a credential whose status has changed since issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDetail {
    /// Current status.
    pub status: CredentialStatus,
    /// Reason code of the last change.
    pub reason_code: Option<String>,
    /// Time of the last change.
    pub at: i64,
    /// Replacement, when superseded.
    pub superseded_by: Option<String>,
    seq: i64,
}

/// A credential's live status as seen from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveStatus {
    /// Status.
    pub status: CredentialStatus,
    /// Details when it changed since issue.
    pub detail: Option<StatusDetail>,
}

#[derive(Debug, Default)]
struct Inner {
    owner_key: std::hash::RandomState,
    lists: BTreeMap<u32, StatusList>,
    details: HashMap<String, StatusDetail>,
    last_seq: i64,
    version: u64,
}

impl Inner {
    /// The owner tag of a credential id: a per-process keyed hash, never 0 (0 = no owner).
    fn owner_of(&self, credential_id: &str) -> u64 {
        use std::hash::BuildHasher as _;
        self.owner_key.hash_one(credential_id) | 1
    }
}

/// The in-memory status view shared by all requests.
#[derive(Debug, Default)]
pub struct StatusRegistry {
    inner: RwLock<Inner>,
    sync_lock: tokio::sync::Mutex<()>,
}

impl StatusRegistry {
    /// Load the whole view (at start) by replaying the audit log's credential entries: the
    /// chained record, not the `credentials` rows, decides what is published.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let mut inner = Inner::default();
        for (id, size) in store.list_status_lists().await? {
            inner.lists.insert(id as u32, StatusList::new(size as u32));
        }
        let reg = Self {
            inner: RwLock::new(inner),
            sync_lock: tokio::sync::Mutex::new(()),
        };
        reg.sync(store).await?;
        Ok(reg)
    }

    /// The live status of the credential in slot `(list, idx)`; `None` when the slot is not
    /// allocated (the token names a slot this deployment never gave out) or belongs to
    /// another credential than `credential_id`.
    pub fn lookup(&self, list: u32, idx: u32, credential_id: &str) -> Option<LiveStatus> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let l = g.lists.get(&list)?;
        if !l.is_allocated(idx) || l.owner(idx) != Some(g.owner_of(credential_id)) {
            return None;
        }
        let status = CredentialStatus::from_code(l.get(idx));
        let detail = g.details.get(credential_id).cloned();
        Some(LiveStatus { status, detail })
    }

    /// Reserve a fresh random slot. `Err(next_list_id)` when every list is full: the caller
    /// creates that list in the database and calls [`StatusRegistry::add_list`].
    pub fn allocate(&self) -> Result<(u32, u32), u32> {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for (id, l) in g.lists.iter_mut().rev() {
            if let Some(idx) = l.draw() {
                return Ok((*id, idx));
            }
        }
        Err(g.lists.keys().next_back().map_or(1, |k| k + 1))
    }

    /// Register a list created in the database.
    pub fn add_list(&self, id: u32, size: u32) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        g.lists.entry(id).or_insert_with(|| StatusList::new(size));
    }

    /// A copy of one list and the view's version (for publishing).
    pub fn snapshot(&self, list: u32) -> Option<(StatusList, u64)> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        g.lists.get(&list).map(|l| (l.clone(), g.version))
    }

    /// Ids of all lists.
    pub fn list_ids(&self) -> Vec<u32> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        g.lists.keys().copied().collect()
    }

    /// Apply feed rows (idempotent; older rows never undo newer ones).
    pub fn apply(&self, rows: &[StatusChangeRow]) {
        if rows.is_empty() {
            return;
        }
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for r in rows {
            let (list, idx) = (r.status_list as u32, r.status_index as u32);
            let owner = g.owner_of(&r.credential_id);
            let status = CredentialStatus::parse(&r.to_status).unwrap_or(CredentialStatus::Revoked);
            let newer = g
                .details
                .get(&r.credential_id)
                .is_none_or(|d| r.seq > d.seq);
            let l = g
                .lists
                .entry(list)
                .or_insert_with(|| StatusList::new(LIST_SIZE));
            l.mark(idx);
            l.set_owner(idx, owner);
            if r.from_status.is_none() {
                // Issuance: the slot starts valid unless a later change already landed.
                if newer {
                    l.set(idx, 0);
                }
            } else if newer {
                l.set(idx, status.code());
                g.details.insert(
                    r.credential_id.clone(),
                    StatusDetail {
                        status,
                        reason_code: r.reason_code.clone(),
                        at: r.at,
                        superseded_by: r.superseded_by.clone(),
                        seq: r.seq,
                    },
                );
            }
            g.last_seq = g.last_seq.max(r.seq);
        }
        g.version += 1;
    }

    /// Read and apply every feed row after the last one applied.
    pub async fn sync(&self, store: &Store) -> Result<usize, StoreError> {
        let _one = self.sync_lock.lock().await;
        let mut total = 0;
        loop {
            let from = self
                .inner
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .last_seq;
            let rows = store.changes_since(from, 5000).await?;
            let n = rows.len();
            self.apply(&rows);
            total += n;
            if n < 5000 {
                return Ok(total);
            }
        }
    }

    /// Apply the issuances a writer has just committed as credential entry `seq` (a bulk
    /// chunk) without reading them back, when every credential entry before it is applied
    /// already; otherwise read the feed ([`StatusRegistry::sync`]). Either way the view
    /// ends up as a sync would leave it (applying is idempotent).
    pub async fn apply_committed(
        &self,
        store: &Store,
        seq: i64,
        rows: &[StatusChangeRow],
    ) -> Result<(), StoreError> {
        {
            let _one = self.sync_lock.lock().await;
            if self.last_seq() == seq - 1 {
                self.apply(rows);
                return Ok(());
            }
        }
        self.sync(store).await.map(|_| ())
    }

    /// The feed sequence number applied last.
    pub fn last_seq(&self) -> i64 {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .last_seq
    }

    /// The view's version, bumped on every applied change.
    pub fn version(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bit_layout_matches_ietf_example() {
        // draft-ietf-oauth-status-list 2-bit example: decompressed bytes c9 44 f9 encode
        // statuses [1,2,0,3, 0,1,0,1, 1,2,3,3].
        let mut l = StatusList::new(64);
        for (i, s) in [1u8, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3].iter().enumerate() {
            l.set(i as u32, *s);
        }
        assert_eq!(&l.bytes()[..3], &[0xc9, 0x44, 0xf9]);
        assert_eq!(l.get(3), 3);
        l.set(3, 0);
        assert_eq!(l.get(3), 0);
        assert_eq!(l.get(2), 0);
        assert_eq!(l.get(4), 0);
    }

    #[test]
    fn draw_fills_without_reuse() {
        let mut l = StatusList::new(256);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..256 {
            let i = l.draw().expect("room");
            assert!(i < 256);
            assert!(seen.insert(i), "index {i} reused");
        }
        assert_eq!(l.draw(), None);
    }

    #[test]
    fn a_full_list_asks_for_the_next() {
        let reg = StatusRegistry::default();
        assert_eq!(reg.allocate(), Err(1), "no list yet: create list 1");
        reg.add_list(1, 64);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..64 {
            let (list, idx) = reg.allocate().expect("room");
            assert_eq!(list, 1);
            assert!(seen.insert(idx));
        }
        assert_eq!(reg.allocate(), Err(2), "list 1 is full: create list 2");
        reg.add_list(2, 64);
        assert_eq!(reg.allocate().map(|s| s.0), Ok(2));
    }

    #[test]
    fn draws_are_spread() {
        let mut l = StatusList::new(LIST_SIZE);
        let a: Vec<u32> = (0..50).map(|_| l.draw().expect("room")).collect();
        let sorted = {
            let mut s = a.clone();
            s.sort();
            s
        };
        assert_ne!(a, sorted, "indexes came out in order");
        assert!(a.iter().any(|i| *i > LIST_SIZE / 2) && a.iter().any(|i| *i < LIST_SIZE / 2));
    }
}
