//! Argon2id password hashing (the crate's default parameters: 19 MiB, 2 passes, 1 lane,
//! OWASP's minimum). Hashes are PHC strings, so parameters can be raised later without
//! invalidating stored hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use rand::RngExt as _;

/// A valid hash of a random password, verified against when the user name is unknown so
/// both paths cost the same.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FuYWRkdW1teXNhbHQ$0TUiR+rLQm7Yf3lZwtB0Gd4sPyG6hPz0Gq8I1o0mC0g";

/// Hash a password with a fresh random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

/// Whether `password` matches the PHC string `hash` (a malformed hash never matches).
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Refuse passwords too short to resist guessing (length is what matters; NIST 800-63B).
pub fn check_strength(password: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        password.chars().count() >= 10,
        "passwords need at least 10 characters"
    );
    anyhow::ensure!(password.len() <= 1024, "passwords are at most 1024 bytes");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a hash"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
