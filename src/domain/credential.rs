//! Credentials and the compact claims printed into their QR codes.
//!
//! The QR token must fit a dense but printable QR (version 14 at level M for an ID with a
//! 40-character Arabic name), so its claims have one-letter names and carry only what an
//! offline verifier needs to show: issuer, id, issue time, the name as printed, where
//! its status lives, and the document digest for certificates (whose presence is the kind).
//!
//! The QR text is `{public_url}/v/{id}#{digits}`: an ordinary phone camera opens the live
//! record, the fragment is never sent to the server, and the token is written as decimal
//! digits (two per base64url character, as SMART Health Cards do) so the QR encoder can put it
//! in a numeric-mode segment at 3.33 bits per digit instead of 8 bits per character.

use super::{AgencyCode, CredentialId, Invalid};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The two kinds of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A beneficiary's digital ID.
    DigitalId,
    /// An authenticity certificate for a document.
    Document,
}

impl CredentialKind {
    /// Stored and served name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DigitalId => "digital_id",
            Self::Document => "document",
        }
    }

    /// Parse the stored name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "digital_id" => Ok(Self::DigitalId),
            "document" => Ok(Self::Document),
            _ => Err(Invalid::new("kind", "must be digital_id or document")),
        }
    }
}

/// A SHA-256 digest of a document's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentDigest([u8; 32]);

impl DocumentDigest {
    /// Hash a document.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Parse a digest given as 64 hex characters or 43 base64url characters.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let bytes = if s.len() == 64 {
            (0..32)
                .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            URL_SAFE_NO_PAD.decode(s).ok()
        };
        bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Self)
            .ok_or_else(|| {
                Invalid::new(
                    "sha256",
                    "must be a SHA-256 digest: 64 hex or 43 base64url characters",
                )
            })
    }

    /// Lower-case hex, as people compare digests.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// base64url without padding, as in the token.
    pub fn b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

/// Metadata of a certified document, validated.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentMeta {
    /// Document type, e.g. "social support eligibility letter".
    pub doc_type: String,
    /// The agency's own number for the document.
    pub number: String,
    /// Title as printed on the document.
    pub title: String,
    /// The recipient's name as printed on the document.
    pub recipient_name: String,
    /// The document's own issue date, `YYYY-MM-DD`.
    pub issue_date: String,
}

impl DocumentMeta {
    /// Validate lengths and the date.
    pub fn validate(mut self) -> Result<Self, Invalid> {
        fn field(name: &'static str, v: &mut String, max: usize) -> Result<(), Invalid> {
            *v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            let n = v.chars().count();
            if n == 0 || n > max || v.chars().any(char::is_control) {
                return Err(Invalid::new(name, format!("must be 1 to {max} characters")));
            }
            Ok(())
        }
        field("doc_type", &mut self.doc_type, 80)?;
        field("number", &mut self.number, 60)?;
        field("title", &mut self.title, 200)?;
        field("recipient_name", &mut self.recipient_name, 80)?;
        for (name, v) in [
            ("recipient_name", &self.recipient_name),
            ("title", &self.title),
        ] {
            if super::person::formula_leading(v) {
                return Err(Invalid::new(name, super::person::FORMULA_MESSAGE));
            }
        }
        self.issue_date = super::person::parse_date("issue_date", &self.issue_date)?;
        Ok(self)
    }
}

/// The claims inside a QR token. Field names are one letter to keep the QR small. Unknown
/// members are refused: a QR token carries these claims and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrClaims {
    /// Issuing agency code.
    #[serde(rename = "i")]
    pub issuer: String,
    /// Credential id.
    #[serde(rename = "c")]
    pub id: String,
    /// Issued at, seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub issued_at: i64,
    /// The name as printed on the card or certificate.
    #[serde(rename = "n")]
    pub name: String,
    /// Status-list reference: `[list, index]`.
    #[serde(rename = "s")]
    pub status: (u32, u32),
    /// Document digest (base64url SHA-256), certificates only.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Claims checked beyond their JSON shape.
#[derive(Debug, Clone)]
pub struct CheckedClaims {
    /// Issuer code.
    pub issuer: AgencyCode,
    /// Credential id.
    pub id: CredentialId,
    /// Kind.
    pub kind: CredentialKind,
    /// The raw claims.
    pub raw: QrClaims,
    /// Parsed digest for documents.
    pub digest: Option<DocumentDigest>,
}

impl QrClaims {
    /// Check field formats after the signature has been verified.
    pub fn check(self) -> Result<CheckedClaims, Invalid> {
        // The kind is not spelled out (every byte counts in the QR): a certificate is the
        // credential that signs a document digest.
        let (kind, digest) = match &self.digest {
            Some(d) => (CredentialKind::Document, Some(DocumentDigest::parse(d)?)),
            None => (CredentialKind::DigitalId, None),
        };
        Ok(CheckedClaims {
            issuer: AgencyCode::parse(&self.issuer)?,
            id: CredentialId::parse(&self.id)?,
            kind,
            digest,
            raw: self,
        })
    }
}

/// Write a compact JWS as decimal digits: each character `c` of the base64url alphabet and
/// `.` becomes the two digits of `c - 45` (as in SMART Health Cards, whose alphabet starts
/// at `-` = 45).
pub fn token_to_digits(token: &str) -> String {
    let mut out = String::with_capacity(token.len() * 2);
    for b in token.bytes() {
        let v = b.saturating_sub(45);
        out.push(char::from(b'0' + v / 10));
        out.push(char::from(b'0' + v % 10));
    }
    out
}

/// Reverse [`token_to_digits`]; `None` if the text is not an even run of digits that maps
/// back to JWS characters.
pub fn digits_to_token(digits: &str) -> Option<String> {
    match read_digits(digits.as_bytes()) {
        Digits::Token(t) => Some(t),
        Digits::Other | Digits::Malformed => None,
    }
}

/// A QR fragment read as digits.
#[derive(Debug, PartialEq, Eq)]
enum Digits {
    /// Some byte is not a digit: the fragment is not digit-encoded (a compact JWS as is).
    Other,
    /// Only digits, but not an even, non-empty run that maps back to JWS characters.
    Malformed,
    /// The decoded token.
    Token(String),
}

/// The JWS character each two-digit value stands for (`value + 45`, see
/// [`token_to_digits`]), or 0 where it stands for none (and for 100 to 255, which two
/// digits never make: the table spans every `u8` so that a lookup needs no bounds check).
const DIGIT_PAIRS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut v = 0;
    while v < 100 {
        let c = v as u8 + 45;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' {
            t[v] = c;
        }
        v += 1;
    }
    t
};

/// Tell whether a fragment is digits and decode it (a scanned QR's fragment is some 600
/// digits, read on every verification). Two tight passes rather than one with a branch and
/// a capacity check per pair: every byte a digit (no early exit, so it vectorises), then
/// each pair looked up in a table into a buffer of the exact size.
fn read_digits(d: &[u8]) -> Digits {
    if d.is_empty() {
        return Digits::Malformed;
    }
    if !d.iter().fold(true, |all, b| all & b.is_ascii_digit()) {
        return Digits::Other;
    }
    if !d.len().is_multiple_of(2) {
        return Digits::Malformed;
    }
    let mut out = vec![0u8; d.len() / 2];
    let mut any_zero = false;
    for (o, p) in out.iter_mut().zip(d.chunks_exact(2)) {
        // Both are digits (checked above): the value is at most 99, and the u8 index of a
        // 256-entry table needs no bounds check.
        let c = DIGIT_PAIRS[usize::from((p[0] - b'0') * 10 + (p[1] - b'0'))];
        any_zero |= c == 0;
        *o = c;
    }
    if any_zero {
        return Digits::Malformed;
    }
    // Every non-zero entry of DIGIT_PAIRS is ASCII.
    match String::from_utf8(out) {
        Ok(t) => Digits::Token(t),
        Err(_) => Digits::Malformed,
    }
}

/// A scanned QR text taken apart: the credential id from the path and, when present, the
/// token from the fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrText {
    /// The id in the `/v/{id}` path.
    pub id: CredentialId,
    /// The compact JWS from the fragment (digits decoded); `None` for a reference-only QR.
    pub token: Option<String>,
}

impl QrText {
    /// Parse `…/v/{id}#{digits or jws}`. The host is not checked here: trust comes from the
    /// signature, never from the URL.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let (path, fragment) = match text.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (text, None),
        };
        let pos = path
            .rfind("/v/")
            .ok_or_else(|| Invalid::new("qr", "not a Sanad QR: no /v/{id} path"))?;
        let id = CredentialId::parse(path[pos + 3..].trim_end_matches('/'))
            .map_err(|_| Invalid::new("qr", "not a Sanad QR: bad credential id"))?;
        let token = match fragment {
            None | Some("") => None,
            Some(f) => match read_digits(f.as_bytes()) {
                Digits::Token(t) => Some(t),
                Digits::Malformed => {
                    return Err(Invalid::new("qr", "the token digits are malformed"));
                }
                Digits::Other => Some(f.to_owned()),
            },
        };
        Ok(Self { id, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip_every_jws_character() {
        let all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        let d = token_to_digits(all);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(d.len(), all.len() * 2);
        assert_eq!(digits_to_token(&d).as_deref(), Some(all));
        assert_eq!(&token_to_digits("-")[..], "00");
        assert_eq!(&token_to_digits("z")[..], "77");
    }

    #[test]
    fn digits_reject_garbage() {
        assert_eq!(digits_to_token("1"), None);
        assert_eq!(digits_to_token("99"), None);
        assert_eq!(digits_to_token("ab"), None);
        assert_eq!(digits_to_token(""), None);
    }

    #[test]
    fn digits_are_told_from_a_jws() {
        assert_eq!(read_digits(b"5253"), Digits::Token("ab".into()));
        assert_eq!(read_digits(b""), Digits::Malformed);
        assert_eq!(read_digits(b"525"), Digits::Malformed);
        assert_eq!(read_digits(b"9952"), Digits::Malformed);
        // A non-digit anywhere, even after a malformed pair or in an odd tail, makes it
        // not digits at all.
        assert_eq!(read_digits(b"eyJ0"), Digits::Other);
        assert_eq!(read_digits(b"99a2"), Digits::Other);
        assert_eq!(read_digits(b"525x"), Digits::Other);
        assert_eq!(read_digits(b"52x"), Digits::Other);
        assert_eq!(read_digits(b"5252a"), Digits::Other);
        // Every two-digit value: a JWS character exactly where `token_to_digits` makes one.
        for v in 0..100u8 {
            let pair = format!("{v:02}");
            let jws = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
            let expected = if jws(v + 45) {
                Digits::Token(char::from(v + 45).to_string())
            } else {
                Digits::Malformed
            };
            assert_eq!(read_digits(pair.as_bytes()), expected, "{pair}");
        }
    }

    #[test]
    fn qr_text_parses() {
        let id = CredentialId::generate();
        let t = format!("https://sanad.example/v/{id}#{}", token_to_digits("a.b.c"));
        let q = QrText::parse(&t).expect("parses");
        assert_eq!(q.id, id);
        assert_eq!(q.token.as_deref(), Some("a.b.c"));
        let r = QrText::parse(&format!("https://x/v/{id}")).expect("reference-only");
        assert_eq!(r.token, None);
        assert!(QrText::parse("https://x/other").is_err());
        assert!(QrText::parse("https://x/v/short#12").is_err());
        assert!(QrText::parse(&format!("https://x/v/{id}#525")).is_err());
        assert!(QrText::parse(&format!("https://x/v/{id}#9952")).is_err());
        let jws = QrText::parse(&format!("https://x/v/{id}#1a.b.c")).expect("a jws");
        assert_eq!(jws.token.as_deref(), Some("1a.b.c"));
    }

    #[test]
    fn digests() {
        let d = DocumentDigest::of(b"abc");
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(DocumentDigest::parse(&d.hex()).expect("hex"), d);
        assert_eq!(DocumentDigest::parse(&d.b64()).expect("b64"), d);
        assert!(DocumentDigest::parse("abc").is_err());
    }
}
