//! Compact JWS with EdDSA: josekit builds and parses the serialization, ed25519-dalek makes
//! and checks the signatures.
//!
//! Verification is strict before any cryptography runs: the token must be short, have three
//! parts, a header that is a small JSON object with only `alg`, `kid`, `typ` and `cty`,
//! `alg` exactly `EdDSA` or its fully specified name `Ed25519` (RFC 9864; both mean Ed25519
//! here, the only curve whose keys we hold), and a `kid` the caller knows. `crit`, `jku`, `x5u`, `jwk`, `x5c`
//! and every other member are refused, so nothing in a token can point us at a URL or a key.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use josekit::JoseError;
use josekit::jws::alg::eddsa::EddsaJwsAlgorithm;
use josekit::jws::{JwsAlgorithm, JwsHeader, JwsSigner, JwsVerifier};
use std::fmt;

/// The longest token accepted anywhere (a QR token is ~350 bytes, a full VC ~1.5 KB).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
const MAX_HEADER_LEN: usize = 512;

/// A josekit signer over an ed25519-dalek key.
#[derive(Clone)]
pub struct DalekSigner {
    key: SigningKey,
    kid: String,
}

impl DalekSigner {
    /// Sign with `key`, naming it `kid` in the header.
    pub fn new(key: SigningKey, kid: String) -> Self {
        Self { key, kid }
    }
}

impl fmt::Debug for DalekSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DalekSigner(kid={}, key=<redacted>)", self.kid)
    }
}

impl JwsSigner for DalekSigner {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        &EddsaJwsAlgorithm::Eddsa
    }
    fn key_id(&self) -> Option<&str> {
        Some(&self.kid)
    }
    fn signature_len(&self) -> usize {
        64
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        Ok(self.key.sign(message).to_bytes().to_vec())
    }
    fn box_clone(&self) -> Box<dyn JwsSigner> {
        Box::new(self.clone())
    }
}

/// A josekit verifier over an ed25519-dalek public key (strict verification: no small-order
/// keys, no malleable signatures).
#[derive(Clone, Debug)]
pub struct DalekVerifier {
    key: VerifyingKey,
}

impl DalekVerifier {
    /// Verify with `key`.
    pub fn new(key: VerifyingKey) -> Self {
        Self { key }
    }

    /// The public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl JwsVerifier for DalekVerifier {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        &EddsaJwsAlgorithm::Eddsa
    }
    fn key_id(&self) -> Option<&str> {
        // The kid was already matched against the registry (short or full form).
        None
    }
    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        let sig = Signature::from_slice(signature)
            .map_err(|e| JoseError::InvalidSignature(anyhow::anyhow!("{e}")))?;
        self.key
            .verify_strict(message, &sig)
            .map_err(|e| JoseError::InvalidSignature(anyhow::anyhow!("{e}")))
    }
    fn box_clone(&self) -> Box<dyn JwsVerifier> {
        Box::new(self.clone())
    }
}

/// The polymorphic JOSE name of Ed25519 signatures (RFC 8037), which Sanad signs with.
pub const ALG_EDDSA: &str = "EdDSA";
/// The fully specified name (RFC 9864), accepted wherever `EdDSA` is.
pub const ALG_ED25519: &str = "Ed25519";

/// Why a token was refused. Each maps to a verification outcome and a reason in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("token too large")]
    TooLarge,
    /// Not three base64url parts with a JSON header.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` other than EdDSA (including `none` and HS256).
    #[error("algorithm not allowed: {0}")]
    Algorithm(String),
    /// A header member we refuse (`crit`, `jku`, `x5u`, `jwk`, …).
    #[error("header member not allowed: {0}")]
    Header(String),
    /// No `kid`, or one not in the trust list.
    #[error("unknown key id")]
    UnknownKid,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Signature,
    /// A genuine artefact of another kind (its `typ` or shape is not the one expected here).
    #[error("not a {0}: another kind of signed artefact")]
    WrongKind(&'static str),
}

/// The parts of a header we look at.
#[derive(Debug)]
pub struct TokenHeader {
    /// Key id (short or full thumbprint).
    pub kid: String,
    /// `typ`, if any.
    pub typ: Option<String>,
}

/// Check a token's shape and header without verifying it. Returns the header.
pub fn inspect(token: &str) -> Result<TokenHeader, TokenError> {
    use base64::Engine as _;
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("a JWS has three parts"));
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(TokenError::Malformed("empty part"));
    }
    if h.len() > MAX_HEADER_LEN {
        return Err(TokenError::Malformed("header too large"));
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| TokenError::Malformed("header is not base64url"))?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&raw)
        .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
    let mut kid = None;
    let mut typ = None;
    let mut alg = None;
    for (k, v) in map {
        match (k.as_str(), v) {
            ("alg", serde_json::Value::String(s)) => alg = Some(s),
            ("kid", serde_json::Value::String(s)) => kid = Some(s),
            ("typ", serde_json::Value::String(s)) => typ = Some(s),
            ("cty", serde_json::Value::String(_)) => {}
            ("alg" | "kid" | "typ" | "cty", _) => {
                return Err(TokenError::Malformed("header member is not a string"));
            }
            (other, _) => return Err(TokenError::Header(other.chars().take(16).collect())),
        }
    }
    match alg.as_deref() {
        Some(ALG_EDDSA | ALG_ED25519) => {}
        Some(other) => return Err(TokenError::Algorithm(other.chars().take(16).collect())),
        None => return Err(TokenError::Algorithm("missing".into())),
    }
    let kid = kid.ok_or(TokenError::UnknownKid)?;
    Ok(TokenHeader { kid, typ })
}

/// Verify a compact JWS, returning the payload bytes. The header is checked again by
/// [`inspect`] (so `alg` is `EdDSA` or `Ed25519`); the signature is checked over the
/// signing input as sent, with `verify_strict`. (josekit's own parser would refuse the
/// RFC 9864 name, since it matches `alg` against its verifier's `EdDSA`.)
pub fn verify_compact(token: &str, verifier: &DalekVerifier) -> Result<Vec<u8>, TokenError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    match inspect(token) {
        // The caller chose the key; a header without `kid` is theirs to refuse.
        Ok(_) | Err(TokenError::UnknownKid) => {}
        Err(e) => return Err(e),
    }
    let (input, sig) = token
        .rsplit_once('.')
        .ok_or(TokenError::Malformed("a JWS has three parts"))?;
    let payload = input
        .split_once('.')
        .map(|(_, p)| p)
        .ok_or(TokenError::Malformed("a JWS has three parts"))?;
    let sig = b64
        .decode(sig)
        .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
    let sig = Signature::from_slice(&sig).map_err(|_| TokenError::Signature)?;
    verifier
        .key
        .verify_strict(input.as_bytes(), &sig)
        .map_err(|_| TokenError::Signature)?;
    b64.decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url"))
}

/// Sign `payload` as a compact JWS. Only [`super::kind::sign`] calls this, with the `typ`
/// and `cty` of the artefact kind it checked the payload against.
pub(super) fn sign_compact(
    payload: &[u8],
    typ: Option<&str>,
    cty: Option<&str>,
    signer: &DalekSigner,
) -> Result<String, JoseError> {
    let mut header = JwsHeader::new();
    if let Some(t) = typ {
        header.set_token_type(t);
    }
    if let Some(c) = cty {
        header.set_content_type(c);
    }
    josekit::jws::serialize_compact(payload, &header, signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// RFC 8037 A.4: Ed25519 is deterministic, so signing the example payload with the example
    /// key must give the example JWS byte for byte.
    #[test]
    fn rfc8037_signing_vector() {
        let d = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .expect("d");
        let key = SigningKey::from_bytes(&d.try_into().expect("32 bytes"));
        // The RFC's header has no kid; sign the same signing input directly.
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = key.sign(input.as_bytes());
        let jws = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        assert_eq!(
            jws,
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        // And josekit, driving our verifier, accepts it.
        let v = DalekVerifier::new(key.verifying_key());
        let payload = verify_compact(&jws, &v).expect("verifies");
        assert_eq!(payload, b"Example of Ed25519 signing");
    }

    #[test]
    /// A token signed with `alg: "Ed25519"` (RFC 9864) verifies like one with `EdDSA`, and a
    /// signature moved onto another header does not.
    fn rfc9864_alg_verifies() {
        let key = SigningKey::generate(&mut rand::rng());
        let v = DalekVerifier::new(key.verifying_key());
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"Ed25519","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes());
        assert_eq!(
            verify_compact(&format!("{input}.{sig}"), &v).expect("verifies"),
            b"{}"
        );
        let swapped = format!(
            "{}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(verify_compact(&swapped, &v), Err(TokenError::Signature));
    }

    #[test]
    fn josekit_signing_round_trip() {
        let key = SigningKey::generate(&mut rand::rng());
        let s = DalekSigner::new(key.clone(), "abc".into());
        let t = sign_compact(b"{\"x\":1}", None, None, &s).expect("sign");
        let h = inspect(&t).expect("header ok");
        assert_eq!(h.kid, "abc");
        let v = DalekVerifier::new(key.verifying_key());
        assert_eq!(verify_compact(&t, &v).expect("verify"), b"{\"x\":1}");
        let other = DalekVerifier::new(SigningKey::generate(&mut rand::rng()).verifying_key());
        assert_eq!(verify_compact(&t, &other), Err(TokenError::Signature));
    }

    fn with_header(h: &str) -> String {
        format!("{}.e30.AAAA", URL_SAFE_NO_PAD.encode(h))
    }

    #[test]
    fn header_rules() {
        assert!(matches!(
            inspect(&with_header(r#"{"alg":"none","kid":"a"}"#)),
            Err(TokenError::Algorithm(_))
        ));
        assert!(matches!(
            inspect(&with_header(r#"{"alg":"HS256","kid":"a"}"#)),
            Err(TokenError::Algorithm(_))
        ));
        assert!(matches!(
            inspect(&with_header(r#"{"kid":"a"}"#)),
            Err(TokenError::Algorithm(_))
        ));
        assert_eq!(
            inspect(&with_header(r#"{"alg":"EdDSA"}"#)).err(),
            Some(TokenError::UnknownKid)
        );
        for m in ["crit", "jku", "x5u", "jwk", "x5c", "b64"] {
            let h = format!(r#"{{"alg":"EdDSA","kid":"a","{m}":["x"]}}"#);
            assert_eq!(
                inspect(&with_header(&h)).err(),
                Some(TokenError::Header(m.into())),
                "{m}"
            );
        }
        // RFC 9864's fully specified name is the same algorithm; anything else is not.
        assert!(inspect(&with_header(r#"{"alg":"Ed25519","kid":"a"}"#)).is_ok());
        for alg in ["Ed448", "ed25519", "EDDSA", "ES256"] {
            let h = format!(r#"{{"alg":"{alg}","kid":"a"}}"#);
            assert!(
                matches!(inspect(&with_header(&h)), Err(TokenError::Algorithm(_))),
                "{alg}"
            );
        }
        assert!(matches!(inspect("a.b"), Err(TokenError::Malformed(_))));
        assert!(matches!(inspect("a.b.c.d"), Err(TokenError::Malformed(_))));
        assert!(matches!(
            inspect("!!.e30.AA"),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(
            inspect(&"a".repeat(MAX_TOKEN_LEN + 1)).err(),
            Some(TokenError::TooLarge)
        );
    }
}
