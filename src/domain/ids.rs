//! Identifiers. Credential and person ids are random (80 bits) so that they cannot be
//! guessed or enumerated from the public `/v/{id}` endpoint; agency codes are short
//! human-chosen codes that appear in every token.
//!
//! Ids issued in bulk share a random prefix per batch ([`batch_prefix`], 10 bits) and are
//! random after it (70 bits): a batch's ids then sit side by side in every index keyed by
//! them, so storing a batch writes a few index pages instead of one page per id scattered
//! over indexes of millions (what halved the import rate from 100k to 1M rows). They are
//! still 80 uniformly random bits each (the prefix is drawn at random too); what someone
//! holding one id of a batch learns is only its prefix, which leaves 70 random bits to
//! guess among the batch's few thousand ids (about 2^59 tries for a hit, against 2^60 in
//! a million fully random ids).

use super::Invalid;
use rand::RngExt as _;
use std::fmt;

/// Crockford's base32 alphabet in lower case: no `i`, `l`, `o`, `u`, so ids read aloud or
/// typed from a printed card are not confused.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `n` random base32 characters (5 bits each) from the operating system's CSPRNG.
pub fn random_base32(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..32usize)] as char)
        .collect()
}

/// Characters of the prefix that the ids of one bulk batch share.
pub const BATCH_PREFIX_LEN: usize = 2;

/// A fresh random prefix for the ids of one bulk batch (see the module's notes).
pub fn batch_prefix() -> String {
    random_base32(BATCH_PREFIX_LEN)
}

fn parse_base32_id(field: &'static str, s: &str, len: usize) -> Result<String, Invalid> {
    if s.len() != len {
        return Err(Invalid::new(field, format!("must be {len} characters")));
    }
    if !s.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(Invalid::new(
            field,
            "must use the characters 0-9 and a-z without i, l, o, u",
        ));
    }
    Ok(s.to_owned())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Length in characters (5 random bits each).
            pub const LEN: usize = $len;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(random_base32(Self::LEN))
            }

            /// A fresh id of a bulk batch: the batch's `prefix` ([`batch_prefix`]), then
            /// random characters.
            pub fn generate_in_batch(prefix: &str) -> Self {
                let mut s = String::with_capacity(Self::LEN);
                s.push_str(&prefix[..prefix.len().min(BATCH_PREFIX_LEN)]);
                s.push_str(&random_base32(Self::LEN - s.len()));
                Self(s)
            }

            /// Parse an id given by a caller.
            pub fn parse(s: &str) -> Result<Self, Invalid> {
                parse_base32_id($field, s, Self::LEN).map(Self)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A credential id: 16 base32 characters = 80 random bits.
    CredentialId,
    "id",
    16
);
id_type!(
    /// A person record id: 16 base32 characters = 80 random bits.
    PersonId,
    "person_id",
    16
);

/// An agency code such as `MOSD`: 2–12 characters `A-Z`, `0-9`, `-`. It is printed into
/// every QR token, so it is kept short.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct AgencyCode(String);

impl AgencyCode {
    /// Parse a code; lower case is accepted and upper-cased.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let up = s.trim().to_ascii_uppercase();
        if !(2..=12).contains(&up.len()) {
            return Err(Invalid::new("agency", "must be 2 to 12 characters"));
        }
        if !up
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Invalid::new("agency", "must use A-Z, 0-9 and '-'"));
        }
        Ok(Self(up))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgencyCode({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AgencyCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = CredentialId::generate();
        let b = CredentialId::generate();
        assert_ne!(a, b);
        assert_eq!(CredentialId::parse(a.as_str()).expect("parses"), a);
        assert_eq!(a.as_str().len() * 5, 80);
    }

    #[test]
    fn batch_ids_share_their_prefix_and_parse() {
        let p = batch_prefix();
        let a = CredentialId::generate_in_batch(&p);
        let b = CredentialId::generate_in_batch(&p);
        assert_ne!(a, b);
        assert!(a.as_str().starts_with(&p) && b.as_str().starts_with(&p));
        assert_eq!(CredentialId::parse(a.as_str()).expect("parses"), a);
        assert_eq!(
            PersonId::parse(PersonId::generate_in_batch(&p).as_str())
                .expect("ok")
                .as_str()
                .len(),
            16
        );
    }

    #[test]
    fn ids_reject_bad_input() {
        assert!(CredentialId::parse("short").is_err());
        assert!(CredentialId::parse("0123456789abcdeI").is_err());
        assert!(CredentialId::parse("0123456789abcdeu").is_err());
        assert!(CredentialId::parse("../../etc/passwd").is_err());
    }

    #[test]
    fn agency_codes() {
        assert_eq!(AgencyCode::parse("mosd").expect("ok").as_str(), "MOSD");
        assert!(AgencyCode::parse("M").is_err());
        assert!(AgencyCode::parse("MO SD").is_err());
        assert!(AgencyCode::parse("ABCDEFGHIJKLM").is_err());
    }
}
