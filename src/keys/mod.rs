//! Ed25519 signing keys, their files, and the JWS signer/verifier built on them.
//!
//! Private keys live only in PKCS#8 PEM files in the keys directory (mode 0600), are held in
//! memory inside `ed25519_dalek::SigningKey` (which zeroizes on drop) and never appear in a
//! `Debug` string, a log line or a response. The database holds only public keys and their
//! lifecycle (`active`, `retired`, `revoked`), so a database dump leaks no signing power.
//!
//! Tokens are JWS built by josekit, but signatures are made and checked by ed25519-dalek
//! through josekit's `JwsSigner`/`JwsVerifier` traits: the same bytes as josekit's OpenSSL
//! backend, with verification about 2.5x faster (STACK-NOTES).

pub mod batch;
mod jws;
pub mod kind;
mod registry;
pub mod trust;

pub use jws::{
    DalekSigner, DalekVerifier, MAX_TOKEN_LEN, TokenError, TokenHeader, inspect, verify_compact,
};
pub use kind::{Artefact, SignError};
pub use registry::{KeyEntry, KeyRegistry, KeySetupError, KeyStatus, generate_key, revoke, rotate};

use crate::domain::AgencyCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Length of the truncated thumbprint used as `kid` in QR tokens: 8 base64url characters =
/// 48 bits, unique within a deployment's trust list (checked when a key is created).
pub const SHORT_KID_LEN: usize = 8;

/// The RFC 7638 JWK thumbprint of an Ed25519 public key: SHA-256 over the required members
/// in lexicographic order, base64url without padding.
pub fn thumbprint(key: &VerifyingKey) -> String {
    use sha2::Digest as _;
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// The public JWK of a key, as served in the JWKS.
pub fn public_jwk(key: &VerifyingKey, kid: &str) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    })
}

/// Decode a JWK `x` member into a public key.
pub fn verifying_key_from_x(x: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(x)
        .map_err(|_| KeyError::Format("x is not base64url".into()))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Format("x is not 32 bytes".into()))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::Format("x is not a curve point".into()))
}

/// Errors reading, writing or using keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File-system trouble.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The keys folder cannot be read (missing rights, or a file where a folder should be).
    #[error("keys folder {}: {source}; point SANAD_KEYS_DIR / --keys-dir at the folder of PEM key files", crate::config::absolute(path).display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is readable by others than its owner.
    #[error(
        "key file {0} is readable by group or others; run `chmod 600` on it (Sanad refuses to use exposed keys)"
    )]
    Exposed(PathBuf),
    /// Bad key material.
    #[error("bad key: {0}")]
    Format(String),
}

/// A private signing key with its identifiers. `Debug` never shows key material.
pub struct PrivateKey {
    key: SigningKey,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// The agency the key signs for.
    pub agency: AgencyCode,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kid", &self.kid)
            .field("agency", &self.agency)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl PrivateKey {
    /// A new random key for `agency`.
    pub fn generate(agency: AgencyCode) -> Self {
        let key = SigningKey::generate(&mut rand::rng());
        Self::from_signing_key(key, agency)
    }

    /// Wrap an existing key.
    pub fn from_signing_key(key: SigningKey, agency: AgencyCode) -> Self {
        let kid = thumbprint(&key.verifying_key());
        Self { key, kid, agency }
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The truncated kid printed into QR tokens.
    pub fn short_kid(&self) -> &str {
        &self.kid[..SHORT_KID_LEN]
    }

    /// A josekit signer that puts `kid` into the header.
    pub fn signer(&self, kid: &str) -> DalekSigner {
        DalekSigner::new(self.key.clone(), kid.to_owned())
    }

    /// The file name of this key in the keys directory: `{AGENCY}.{kid}.pem`.
    pub fn file_name(&self) -> String {
        format!("{}.{}.pem", self.agency, self.kid)
    }

    /// Write the key as PKCS#8 v1 PEM (RFC 8410 §7: the seed only, no public key), created
    /// with mode 0600 (never widened afterwards). v1 because OpenSSL 3.0, Node and Python
    /// `cryptography` cannot read the v2 form (with the public key) that ed25519-dalek writes
    /// by default, and operators must be able to run `openssl pkey -in … -pubout`.
    pub fn write_pem(&self, dir: &Path) -> Result<PathBuf, KeyError> {
        let path = dir.join(self.file_name());
        let pem: Zeroizing<String> = self
            .pkcs8_v1_pem()
            .map_err(|e| KeyError::Format(e.to_string()))?;
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        crate::storage::files::private_dir(dir).map_err(io)?;
        write_private_file(&path, pem.as_bytes()).map_err(io)?;
        Ok(path)
    }

    /// The key as a PKCS#8 v1 PEM document.
    pub fn pkcs8_v1_pem(&self) -> ed25519_dalek::pkcs8::Result<Zeroizing<String>> {
        ed25519_dalek::ed25519::pkcs8::KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
    }

    /// Read a key file written by [`PrivateKey::write_pem`] (PKCS#8 v1, or v2 as written by
    /// earlier versions). The agency comes from the file
    /// name; the kid is recomputed from the key so a renamed file cannot lie about it.
    pub fn read_pem(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        check_private_mode(path)?;
        let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let key = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| KeyError::Format(format!("{}: {e}", path.display())))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let agency = name
            .split('.')
            .next()
            .and_then(|a| AgencyCode::parse(a).ok())
            .ok_or_else(|| {
                KeyError::Format(format!("{}: name must be AGENCY.kid.pem", path.display()))
            })?;
        Ok(Self::from_signing_key(key, agency))
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(unix)]
fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::Exposed(path.to_owned()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_: &Path) -> Result<(), KeyError> {
    Ok(())
}

/// All private key files (`*.pem`) in the keys directory.
pub fn list_key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyError::Folder {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8037_thumbprint_vector() {
        // RFC 8037 A.3: the thumbprint of the A.2 public key.
        let key = verifying_key_from_x("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").expect("x");
        assert_eq!(
            thumbprint(&key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn pem_round_trip_with_private_mode() {
        let dir =
            std::env::temp_dir().join(format!("sanad-keytest-{}", crate::domain::random_base32(8)));
        let agency = AgencyCode::parse("MOSD").expect("code");
        let k = PrivateKey::generate(agency);
        let path = k.write_pem(&dir).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = PrivateKey::read_pem(&path).expect("read");
        assert_eq!(back.kid, k.kid);
        assert_eq!(back.agency.as_str(), "MOSD");
        let dbg = format!("{back:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("PRIVATE"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(matches!(
                PrivateKey::read_pem(&path),
                Err(KeyError::Exposed(_))
            ));
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// Key files are PKCS#8 v1 (RFC 8410 §7: 48 bytes of DER, no public key), which OpenSSL
    /// reads; PKCS#8 v2 files written by earlier versions still load.
    #[test]
    fn pkcs8_v1_written_v2_still_read_and_openssl_reads_ours() {
        use base64::engine::general_purpose::STANDARD;
        let dir =
            std::env::temp_dir().join(format!("sanad-keytest-{}", crate::domain::random_base32(8)));
        let k = PrivateKey::generate(AgencyCode::parse("MOSD").expect("code"));
        let path = k.write_pem(&dir).expect("write");
        let pem = std::fs::read_to_string(&path).expect("read");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(b64).expect("base64");
        assert_eq!(
            der.len(),
            48,
            "v1: version 0, algorithm, seed; nothing else"
        );
        assert_eq!(&der[..7], &[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05]);
        // RFC 8410 §10.3's example key, in v1 form, round-trips byte for byte.
        let rfc = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let sk = SigningKey::from_pkcs8_pem(rfc).expect("RFC 8410 example");
        let again = PrivateKey::from_signing_key(sk, AgencyCode::parse("MOSD").expect("code"));
        assert_eq!(again.pkcs8_v1_pem().expect("pem").as_str(), rfc);

        // OpenSSL derives the same public key from our file.
        match std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&path)
            .output()
        {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(&out.stdout[12..], k.verifying_key().as_bytes());
            }
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipping the openssl check: {e}");
            }
            Err(e) => panic!("openssl is required under CI: {e}"),
        }

        // A v2 file (with the public key, as ed25519-dalek writes by default) still loads.
        let v2 = k.key.to_pkcs8_pem(LineEnding::LF).expect("v2");
        let v2_path = dir.join(format!("MOSD.{}.v2.pem", k.kid));
        write_private_file(&v2_path, v2.as_bytes()).expect("write v2");
        assert_eq!(PrivateKey::read_pem(&v2_path).expect("v2 read").kid, k.kid);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
