//! The in-memory key set: every public key that can verify, indexed by full and short kid,
//! and the current signing key of each local agency. Loaded at start from the database and
//! the keys directory; verification never touches either.

use super::{DalekVerifier, KeyError, PrivateKey, SHORT_KID_LEN, public_jwk, verifying_key_from_x};
use crate::domain::AgencyCode;
use crate::storage::{AgencyRow, KeyRow, Store, StoreError, now};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// A key's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs new credentials and verifies.
    Active,
    /// No longer signs; still verifies.
    Retired,
    /// Compromised: what it signed verifies as `key_revoked`.
    Revoked,
}

impl KeyStatus {
    fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "retired" => Self::Retired,
            _ => Self::Revoked,
        }
    }
}

/// A public key known to this deployment.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// Full thumbprint.
    pub kid: String,
    /// Truncated thumbprint.
    pub short_kid: String,
    /// Agency the key signs for.
    pub agency: AgencyCode,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// Verifier for this key.
    pub verifier: DalekVerifier,
    /// Public JWK.
    pub jwk: serde_json::Value,
    /// Created, epoch seconds.
    pub created_at: i64,
}

#[derive(Debug, Default)]
struct Inner {
    by_kid: HashMap<String, Arc<KeyEntry>>,
    signing: HashMap<AgencyCode, Arc<PrivateKey>>,
}

/// Keys in memory.
#[derive(Debug, Default)]
pub struct KeyRegistry {
    inner: RwLock<Inner>,
}

/// Errors while loading or creating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeySetupError {
    /// File trouble.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Database trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KeyRegistry {
    /// Load keys: public keys from the database, private keys from `dir`. A key file not yet
    /// in the database is registered (a keys folder carried to a fresh database keeps
    /// working). Each agency in `ensure_for` without an active key gets one generated, and
    /// the function says so in the returned list of generated kids.
    pub async fn load(
        store: &Store,
        dir: &Path,
        ensure_for: &[AgencyRow],
    ) -> Result<(Self, Vec<(String, String)>), KeySetupError> {
        let reg = Self::default();
        let mut rows = store.list_keys().await?;
        let mut privates = HashMap::new();
        for path in super::list_key_files(dir)? {
            let pk = PrivateKey::read_pem(&path)?;
            if !rows.iter().any(|r| r.kid == pk.kid) {
                let row = key_row(&pk);
                store.insert_key(&row, "system").await?;
                rows.push(row);
            }
            privates.insert(pk.kid.clone(), pk);
        }
        let mut generated = Vec::new();
        for a in ensure_for {
            let has_active = rows.iter().any(|r| {
                r.agency_code == a.code && r.status == "active" && privates.contains_key(&r.kid)
            });
            if !has_active {
                let code =
                    AgencyCode::parse(&a.code).map_err(|e| KeyError::Format(e.to_string()))?;
                let pk = generate_unique(&rows, code);
                pk.write_pem(dir)?;
                let row = key_row(&pk);
                store.insert_key(&row, "system").await?;
                generated.push((a.code.clone(), pk.kid.clone()));
                rows.push(row);
                privates.insert(pk.kid.clone(), pk);
            }
        }
        reg.replace(&rows, privates)?;
        Ok((reg, generated))
    }

    /// Replace the whole set (at load and after key events).
    pub fn replace(
        &self,
        rows: &[KeyRow],
        mut privates: HashMap<String, PrivateKey>,
    ) -> Result<(), KeyError> {
        let mut inner = Inner::default();
        for r in rows {
            let agency =
                AgencyCode::parse(&r.agency_code).map_err(|e| KeyError::Format(e.to_string()))?;
            let vk = verifying_key_from_x(&r.public_x)?;
            let status = KeyStatus::parse(&r.status);
            let entry = Arc::new(KeyEntry {
                kid: r.kid.clone(),
                short_kid: r.short_kid.clone(),
                agency: agency.clone(),
                status,
                verifier: DalekVerifier::new(vk),
                jwk: public_jwk(&vk, &r.kid),
                created_at: r.created_at,
            });
            inner.by_kid.insert(r.kid.clone(), entry.clone());
            inner.by_kid.insert(r.short_kid.clone(), entry);
            if status == KeyStatus::Active
                && let Some(pk) = privates.remove(&r.kid)
            {
                inner.signing.insert(agency, Arc::new(pk));
            }
        }
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = inner;
        Ok(())
    }

    /// The key named by a token's `kid` (short or full).
    pub fn get(&self, kid: &str) -> Option<Arc<KeyEntry>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_kid
            .get(kid)
            .cloned()
    }

    /// The current signing key of an agency.
    pub fn signing_key(&self, agency: &AgencyCode) -> Option<Arc<PrivateKey>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .signing
            .get(agency)
            .cloned()
    }

    /// Every key that can still verify (active and retired), oldest first.
    pub fn verifying_keys(&self) -> Vec<Arc<KeyEntry>> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = g
            .by_kid
            .iter()
            .filter(|(k, e)| **k == e.kid && e.status != KeyStatus::Revoked)
            .map(|(_, e)| e.clone())
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        v
    }

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .verifying_keys()
            .iter()
            .map(|e| e.jwk.clone())
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

fn key_row(pk: &PrivateKey) -> KeyRow {
    use base64::Engine as _;
    KeyRow {
        kid: pk.kid.clone(),
        short_kid: pk.short_kid().to_owned(),
        agency_code: pk.agency.to_string(),
        public_x: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(pk.verifying_key().as_bytes()),
        status: "active".into(),
        created_at: now(),
        retired_at: None,
        revoked_at: None,
        revocation_reason: None,
    }
}

/// A new key whose short kid collides with no known key (48 bits make a collision very
/// unlikely; checking costs nothing).
fn generate_unique(rows: &[KeyRow], agency: AgencyCode) -> PrivateKey {
    loop {
        let pk = PrivateKey::generate(agency.clone());
        if !rows.iter().any(|r| r.short_kid == pk.kid[..SHORT_KID_LEN]) {
            return pk;
        }
    }
}

/// Generate, store and write a new key for `agency` (`sanad keys generate`).
pub async fn generate_key(
    store: &Store,
    dir: &Path,
    agency: AgencyCode,
) -> Result<PrivateKey, KeySetupError> {
    let rows = store.list_keys().await?;
    let pk = generate_unique(&rows, agency);
    pk.write_pem(dir)?;
    store.insert_key(&key_row(&pk), "cli").await?;
    Ok(pk)
}
