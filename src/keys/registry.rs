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
    /// The stored and serialized name (`active`, `retired`, `revoked`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

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
    /// `None` for this deployment's keys; the other deployment's base URL for keys imported
    /// from its trust list.
    pub origin: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    by_kid: HashMap<String, Arc<KeyEntry>>,
    signing: HashMap<AgencyCode, Arc<PrivateKey>>,
    private: HashMap<String, Arc<PrivateKey>>,
    fingerprint: String,
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
    /// The keys folder lacks the private key of an agency's active key (a wrong or empty
    /// folder): refused rather than silently replaced by a new key.
    #[error(
        "the keys folder {dir} has no private key for {agency}'s active signing key {short} (file {agency}.{kid}.pem); \
         point SANAD_KEYS_DIR / --keys-dir at the folder that holds it. If the key is lost, revoke it with \
         `sanad keys revoke {short} --reason lost` (a new key is generated) and re-issue with \
         `sanad credentials reissue --key {short}`"
    )]
    MissingPrivateKey {
        /// The keys folder, absolute.
        dir: String,
        /// Agency code.
        agency: String,
        /// Full kid.
        kid: String,
        /// Short kid.
        short: String,
    },
    /// An agency with keys in the database has no active one, and none is generated unasked.
    #[error(
        "agency {agency} has no active signing key (its keys are retired or revoked); \
         generate one with `sanad keys generate --agency {agency}`"
    )]
    NoActiveKey {
        /// Agency code.
        agency: String,
    },
    /// A command that must not create keys found an agency without any.
    #[error(
        "agency {agency} has no signing key yet; `sanad serve` or `sanad init` creates it, \
         or `sanad keys generate --agency {agency}`"
    )]
    NoKey {
        /// Agency code.
        agency: String,
    },
}

impl KeyRegistry {
    /// Load keys: public keys from the database, private keys from `dir`. A key file not yet
    /// in the database is registered (a keys folder carried to a fresh database keeps
    /// working). A local agency in `agencies` with no key at all gets one generated when
    /// `generate` (first run); the generated `(agency, kid)` pairs are returned so the caller
    /// can say so. An agency whose active key has no private key file in `dir` is refused
    /// ([`KeySetupError::MissingPrivateKey`]): a wrong keys folder never silently becomes a
    /// new key.
    pub async fn load(
        store: &Store,
        dir: &Path,
        agencies: &[AgencyRow],
        generate: bool,
    ) -> Result<(Self, Vec<(String, String)>), KeySetupError> {
        let mut rows = store.list_keys().await?;
        let mut generated = Vec::new();
        let files = read_private_keys(dir)?;
        for pk in files.values() {
            if !rows.iter().any(|r| r.kid == pk.kid) {
                let row = key_row(pk);
                store.insert_key(&row, "system").await?;
                rows.push(row);
            }
        }
        for a in agencies.iter().filter(|a| a.is_local()) {
            let own: Vec<&KeyRow> = rows.iter().filter(|r| r.agency_code == a.code).collect();
            if own.is_empty() {
                if !generate {
                    return Err(KeySetupError::NoKey {
                        agency: a.code.clone(),
                    });
                }
                let code =
                    AgencyCode::parse(&a.code).map_err(|e| KeyError::Format(e.to_string()))?;
                let pk = generate_key(store, dir, code, "system").await?;
                generated.push((a.code.clone(), pk.kid.clone()));
                continue;
            }
            let active: Vec<&&KeyRow> = own.iter().filter(|r| r.status == "active").collect();
            if active.is_empty() {
                return Err(KeySetupError::NoActiveKey {
                    agency: a.code.clone(),
                });
            }
            if let Some(missing) = active.iter().find(|r| !files.contains_key(&r.kid)) {
                return Err(KeySetupError::MissingPrivateKey {
                    dir: crate::config::absolute(dir).display().to_string(),
                    agency: a.code.clone(),
                    kid: missing.kid.clone(),
                    short: missing.short_kid.clone(),
                });
            }
        }
        let reg = Self::default();
        reg.reload(store, dir).await?;
        Ok((reg, generated))
    }

    /// Re-read keys from the database (and private key files when the set changed). Cheap
    /// when nothing changed: one small query. Called by the background sync so a rotation or
    /// revocation made by the CLI reaches a running server.
    pub async fn reload(&self, store: &Store, dir: &Path) -> Result<bool, KeySetupError> {
        let rows = store.list_keys().await?;
        let fingerprint: String = rows
            .iter()
            .map(|r| format!("{}:{};", r.kid, r.status))
            .collect();
        if self
            .inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fingerprint
            == fingerprint
        {
            return Ok(false);
        }
        let agencies = store.list_agencies().await?;
        let files = read_private_keys(dir)?;
        let mut inner = Inner {
            fingerprint,
            ..Inner::default()
        };
        for r in &rows {
            let agency =
                AgencyCode::parse(&r.agency_code).map_err(|e| KeyError::Format(e.to_string()))?;
            let vk = verifying_key_from_x(&r.public_x)?;
            let status = KeyStatus::parse(&r.status);
            let origin = agencies
                .iter()
                .find(|a| a.code == r.agency_code)
                .filter(|a| !a.is_local())
                .map(|a| a.origin.clone());
            let entry = Arc::new(KeyEntry {
                kid: r.kid.clone(),
                short_kid: r.short_kid.clone(),
                agency: agency.clone(),
                status,
                verifier: DalekVerifier::new(vk),
                jwk: public_jwk(&vk, &r.kid),
                created_at: r.created_at,
                origin,
            });
            inner.by_kid.insert(r.kid.clone(), entry.clone());
            inner.by_kid.insert(r.short_kid.clone(), entry);
            if let Some(pk) = files.get(&r.kid) {
                if status == KeyStatus::Active {
                    // Rows are oldest first: the newest active key wins.
                    inner.signing.insert(agency, pk.clone());
                }
                if status != KeyStatus::Revoked {
                    inner.private.insert(r.kid.clone(), pk.clone());
                }
            }
        }
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = inner;
        Ok(true)
    }

    /// The private key with this kid, unless revoked (to sign full credentials with the key
    /// that issued them).
    pub fn private_key(&self, kid: &str) -> Option<Arc<PrivateKey>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .private
            .get(kid)
            .cloned()
    }

    /// Every key known, local and imported, including revoked ones, oldest first.
    pub fn all_keys(&self) -> Vec<Arc<KeyEntry>> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = g
            .by_kid
            .iter()
            .filter(|(k, e)| **k == e.kid)
            .map(|(_, e)| e.clone())
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        v
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

    /// This deployment's keys that can still verify (active and retired), oldest first.
    pub fn verifying_keys(&self) -> Vec<Arc<KeyEntry>> {
        self.all_keys()
            .into_iter()
            .filter(|e| e.status != KeyStatus::Revoked && e.origin.is_none())
            .collect()
    }

    /// The JWKS document. Each key is listed twice: under its RFC 7638 thumbprint (what full
    /// credentials and lists name) and under the 8-character short kid that QR tokens carry,
    /// so a standard `kid` lookup (e.g. `jose`'s `createLocalJWKSet`) finds either.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .verifying_keys()
            .iter()
            .flat_map(|e| {
                let mut short = e.jwk.clone();
                short["kid"] = serde_json::Value::String(e.short_kid.clone());
                [e.jwk.clone(), short]
            })
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

fn read_private_keys(dir: &Path) -> Result<HashMap<String, Arc<PrivateKey>>, KeyError> {
    let mut out = HashMap::new();
    for path in super::list_key_files(dir)? {
        let pk = PrivateKey::read_pem(&path)?;
        out.insert(pk.kid.clone(), Arc::new(pk));
    }
    Ok(out)
}

/// Generate, store and write a new key for `agency` (`sanad keys generate`).
pub async fn generate_key(
    store: &Store,
    dir: &Path,
    agency: AgencyCode,
    actor: &str,
) -> Result<PrivateKey, KeySetupError> {
    let rows = store.list_keys().await?;
    let pk = generate_unique(&rows, agency);
    pk.write_pem(dir)?;
    store.insert_key(&key_row(&pk), actor).await?;
    Ok(pk)
}

/// Rotate an agency's key: a new key signs from now on; the old ones are retired and keep
/// verifying (they stay in the JWKS and the trust list).
pub async fn rotate(
    store: &Store,
    dir: &Path,
    agency: AgencyCode,
    actor: &str,
) -> Result<(PrivateKey, Vec<String>), KeySetupError> {
    let pk = generate_key(store, dir, agency.clone(), actor).await?;
    let retired = store.retire_keys(agency.as_str(), &pk.kid, actor).await?;
    Ok((pk, retired))
}

/// Revoke a key after a compromise. If it was its agency's only active key, a new key is
/// generated so the agency can go on issuing (and re-issue what the revoked key signed).
pub async fn revoke(
    store: &Store,
    dir: &Path,
    kid: &str,
    reason: &str,
    actor: &str,
) -> Result<Option<PrivateKey>, KeySetupError> {
    let rows = store.list_keys().await?;
    let row = rows
        .iter()
        .find(|r| r.kid == kid || r.short_kid == kid)
        .ok_or(StoreError::NotFound)?
        .clone();
    store.revoke_key(&row.kid, reason, actor).await?;
    let others_active = rows
        .iter()
        .any(|r| r.agency_code == row.agency_code && r.kid != row.kid && r.status == "active");
    let local = store
        .list_agencies()
        .await?
        .iter()
        .any(|a| a.code == row.agency_code && a.is_local());
    if row.status == "active" && !others_active && local {
        let agency =
            AgencyCode::parse(&row.agency_code).map_err(|e| KeyError::Format(e.to_string()))?;
        return Ok(Some(generate_key(store, dir, agency, actor).await?));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_status_names_round_trip_and_match_serde() {
        for s in [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Revoked] {
            // A match that stops compiling when a state is added, so it is added here too.
            match s {
                KeyStatus::Active | KeyStatus::Retired | KeyStatus::Revoked => {}
            }
            assert_eq!(KeyStatus::parse(s.as_str()), s);
            assert_eq!(
                serde_json::to_value(s).expect("serializes"),
                serde_json::Value::String(s.as_str().to_owned())
            );
            // What the verification answer said before `as_str` existed.
            assert_eq!(format!("{s:?}").to_lowercase(), s.as_str());
        }
    }
}
