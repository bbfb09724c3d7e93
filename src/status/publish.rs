//! Publishing status lists in the two standard forms, signed with the deployment key:
//!
//! - IETF Token Status List (draft-ietf-oauth-status-list): a `statuslist+jwt` whose
//!   `status_list.lst` is the 2-bit list, ZLIB-compressed, base64url. It carries all four
//!   statuses and is what the QR tokens point at.
//! - W3C Bitstring Status List v1.0: one `BitstringStatusListCredential` per purpose
//!   (`revocation`, `suspension`) as a `vc+jwt`, GZIP-compressed and multibase-encoded
//!   (`u` + base64url), index 0 the most significant bit of the first byte. Revoked and
//!   superseded credentials set the revocation bit (both are final); suspended ones the
//!   suspension bit. The full credentials' `credentialStatus` entries point here.
//!
//! Both are rendered from the same in-memory list that answers verification, so a change is
//! published as soon as it is applied.

use super::StatusList;
use crate::domain::rfc3339;
use crate::keys::{Artefact, PrivateKey, SignError, kind};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::io::Write as _;

/// Seconds a consumer may cache a list before fetching it again (`ttl` claim and
/// `Cache-Control: max-age`).
pub const TTL_SECONDS: u64 = 1;

/// Seconds a signed list stays valid (`exp` of the IETF list, `validUntil` of the W3C
/// lists): a relying party working from a cached copy older than this must treat status as
/// undetermined. The server re-signs an unchanged list once half of this has passed.
pub const VALID_SECONDS: i64 = 24 * 3600;

/// A W3C status purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Revoked or superseded.
    Revocation,
    /// Suspended.
    Suspension,
}

impl Purpose {
    /// Name in URLs and in `statusPurpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revocation => "revocation",
            Self::Suspension => "suspension",
        }
    }

    /// Parse a URL segment.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "revocation" => Some(Self::Revocation),
            "suspension" => Some(Self::Suspension),
            _ => None,
        }
    }

    fn applies(self, code: u8) -> bool {
        match self {
            Self::Revocation => code == 1 || code == 3,
            Self::Suspension => code == 2,
        }
    }
}

/// ZLIB (RFC 1950) compression of the 2-bit entries.
pub fn ietf_lst(list: &StatusList) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(list.bytes());
    URL_SAFE_NO_PAD.encode(z.finish().unwrap_or_default())
}

/// The signed IETF status list token.
pub fn ietf_jwt(
    list: &StatusList,
    uri: &str,
    key: &PrivateKey,
    now: i64,
) -> Result<String, SignError> {
    let payload = serde_json::json!({
        "sub": uri,
        "iat": now,
        "exp": now + VALID_SECONDS,
        "ttl": TTL_SECONDS,
        "status_list": { "bits": 2, "lst": ietf_lst(list) },
    });
    kind::sign(Artefact::IetfStatusList, &payload, &key.signer(&key.kid))
}

/// The W3C bitstring (one bit per entry, MSB first), GZIP-compressed, multibase base64url.
pub fn w3c_encoded_list(list: &StatusList, purpose: Purpose) -> String {
    let n = list.size() as usize;
    let mut bits = vec![0u8; n.div_ceil(8)];
    for (i, b) in list.bytes().iter().enumerate() {
        if *b == 0 {
            continue; // most of a list is valid: skip whole bytes of four zero entries
        }
        for j in 0..4 {
            let idx = i * 4 + j;
            if idx < n && purpose.applies((b >> (j * 2)) & 3) {
                bits[idx / 8] |= 0x80 >> (idx % 8);
            }
        }
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(&bits);
    format!(
        "u{}",
        URL_SAFE_NO_PAD.encode(gz.finish().unwrap_or_default())
    )
}

/// The signed W3C `BitstringStatusListCredential` (VC-JOSE-COSE: the JWT claims are the VC).
/// `issuer` must be the issuer the credentials pointing here name (Bitstring Status List
/// §3.2 step 7: verifiers such as `@digitalbazaar/vc-bitstring-status-list` refuse a list
/// whose issuer differs), so each agency has its own list URL under its issuer URL.
pub fn w3c_jwt(
    list: &StatusList,
    purpose: Purpose,
    uri: &str,
    issuer: &str,
    key: &PrivateKey,
    now: i64,
) -> Result<String, SignError> {
    let vc = serde_json::json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": uri,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": rfc3339(now),
        "validUntil": rfc3339(now + VALID_SECONDS),
        "credentialSubject": {
            "id": format!("{uri}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": purpose.as_str(),
            "encodedList": w3c_encoded_list(list, purpose),
        },
    });
    kind::sign(Artefact::W3cStatusList, &vc, &key.signer(&key.kid))
}
