//! Tokens whose signature and claims have already been checked. A card is scanned again and
//! again (at every counter, by every officer), and the same bytes always verify the same way,
//! so a repeat skips the Ed25519 check and the claims parsing. Only the immutable part is
//! cached: the key's status and the credential's status are read live on every scan.

use crate::domain::CheckedClaims;
use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;
/// Tokens kept per shard before the shard is cleared (≈ 64k tokens, ≈ 40 MB at most).
const PER_SHARD: usize = 4096;

type Shard = Mutex<HashMap<Box<str>, Arc<CheckedClaims>>>;

/// A sharded map from token text to its checked claims.
#[derive(Debug)]
pub struct VerifiedTokens {
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Shard>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl VerifiedTokens {
    fn shard(&self, token: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(token) as usize) % SHARDS]
    }

    /// The checked claims of a token verified before.
    pub fn get(&self, token: &str) -> Option<Arc<CheckedClaims>> {
        self.shard(token)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    /// Forget every token (benchmarks measure the uncached path with it).
    pub fn clear(&self) {
        for s in &self.shards {
            s.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Remember a token that verified.
    pub fn put(&self, token: &str, claims: CheckedClaims) -> Arc<CheckedClaims> {
        let claims = Arc::new(claims);
        let mut g = self.shard(token).lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= PER_SHARD {
            g.clear();
        }
        g.insert(token.into(), claims.clone());
        claims
    }
}
