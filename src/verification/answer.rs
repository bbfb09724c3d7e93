//! The verification answer as JSON, written straight into a buffer: the same bytes as
//! `serde_json::to_writer(&Verification)` (a test holds the two equal for every field and
//! every kind of string), without serde's per-key escaping. A scan's answer has some 35
//! keys, and escaping each of them was an eighth of a repeated scan's instructions
//! (callgrind, `HOT_PATH_PROFILE`). The types keep their serde derives: the OpenAPI
//! schema, the other endpoints and the tests read them.

use super::{Check, Verification};
use crate::domain::{PublicCredential, PublicDocument, PublicIssuer};

/// Append `v` as JSON.
pub fn write(v: &Verification, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"outcome\":\"");
    out.extend_from_slice(v.outcome.as_str().as_bytes());
    out.push(b'"');
    if let Some(r) = &v.reason {
        out.extend_from_slice(b",\"reason\":");
        string(out, r);
    }
    if let Some(c) = &v.credential {
        out.extend_from_slice(b",\"credential\":");
        credential(out, c);
    }
    out.extend_from_slice(b",\"checks\":[");
    for (i, c) in v.checks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        check(out, c);
    }
    out.extend_from_slice(b"]}");
}

fn check(out: &mut Vec<u8>, c: &Check) {
    out.extend_from_slice(b"{\"name\":");
    string(out, c.name);
    out.extend_from_slice(if c.ok {
        b",\"ok\":true"
    } else {
        b",\"ok\":false"
    });
    if let Some(d) = &c.detail {
        out.extend_from_slice(b",\"detail\":");
        string(out, d);
    }
    out.push(b'}');
}

fn credential(out: &mut Vec<u8>, c: &PublicCredential) {
    out.extend_from_slice(b"{\"id\":");
    string(out, &c.id);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(c.kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"status\":\"");
    out.extend_from_slice(c.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"status_reason_code\":");
    optional(out, c.status_reason_code.as_deref());
    out.extend_from_slice(b",\"status_at\":");
    string(out, &c.status_at);
    out.extend_from_slice(b",\"superseded_by\":");
    optional(out, c.superseded_by.as_deref());
    out.extend_from_slice(b",\"issuer\":");
    issuer(out, &c.issuer);
    out.extend_from_slice(b",\"issued_at\":");
    string(out, &c.issued_at);
    out.extend_from_slice(b",\"name_as_printed\":");
    string(out, &c.name_as_printed);
    if c.key_revoked {
        out.extend_from_slice(b",\"key_revoked\":true");
    }
    if let Some(d) = &c.document {
        out.extend_from_slice(b",\"document\":");
        document(out, d);
    }
    out.push(b'}');
}

fn issuer(out: &mut Vec<u8>, i: &PublicIssuer) {
    string_fields(
        out,
        &[
            ("code", &i.code),
            ("name_ar", &i.name_ar),
            ("name_en", &i.name_en),
        ],
    );
    if let Some(d) = &i.deployment {
        out.extend_from_slice(b",\"deployment\":");
        string(out, d);
    }
    out.push(b'}');
}

fn document(out: &mut Vec<u8>, d: &PublicDocument) {
    string_fields(
        out,
        &[
            ("doc_type", &d.doc_type),
            ("number", &d.number),
            ("title", &d.title),
            ("issue_date", &d.issue_date),
        ],
    );
    out.push(b'}');
}

/// `{"k1":"v1","k2":"v2"…` for an object's leading string fields, in order (the keys are
/// plain identifiers; the caller adds what follows and closes the object).
fn string_fields(out: &mut Vec<u8>, fields: &[(&str, &str)]) {
    for (i, (key, value)) in fields.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"" } else { b",\"" });
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        string(out, value);
    }
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string. Almost every value needs no escape (serde_json escapes only `"`, `\` and
/// control characters; Arabic and other UTF-8 pass as they are), so it is copied whole after
/// one pass that looks for them; anything else is escaped by serde_json itself.
fn string(out: &mut Vec<u8>, s: &str) {
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20 && b != b'"' && b != b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `&str` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CredentialKind, CredentialStatus};

    fn check(name: &'static str, ok: bool, detail: Option<&str>) -> Check {
        Check {
            name,
            ok,
            detail: detail.map(str::to_owned),
        }
    }

    fn credential(i: usize) -> PublicCredential {
        // Every optional field both ways across the cases, and strings serde must escape.
        let odd = i % 2 == 1;
        PublicCredential {
            id: format!("abc{i}"),
            kind: if odd {
                CredentialKind::Document
            } else {
                CredentialKind::DigitalId
            },
            status: [
                CredentialStatus::Active,
                CredentialStatus::Revoked,
                CredentialStatus::Suspended,
                CredentialStatus::Superseded,
            ][i % 4],
            status_reason_code: odd.then(|| "lost \"card\"".to_owned()),
            status_at: "2026-11-28T15:00:00Z".into(),
            superseded_by: i.is_multiple_of(3).then(|| "x\\y".to_owned()),
            issuer: PublicIssuer {
                code: "MOSD".into(),
                name_ar: "وزارة التنمية الاجتماعية".into(),
                name_en: "Ministry of\tSocial Development\n".into(),
                deployment: odd.then(|| "https://other.example/ä".into()),
            },
            issued_at: "2026-01-01T00:00:00Z".into(),
            name_as_printed: ["أمل \u{0001} المصري", "", "a/b <c> & 'd'", "\u{7f}\u{2028}"][i % 4]
                .into(),
            key_revoked: i % 4 == 1,
            document: odd.then(|| PublicDocument {
                doc_type: "شهادة".into(),
                number: "N\"1".into(),
                title: "t".into(),
                issue_date: "2026-02-03".into(),
            }),
        }
    }

    /// The same bytes as serde's derive for every outcome, with and without a reason and a
    /// credential, for every optional field and for strings that need escaping or not.
    #[test]
    fn the_same_bytes_as_serde() {
        let outcomes = crate::verification::tests::all_outcomes();
        let mut cases = 0;
        let outcomes_len = outcomes.len();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            for with_credential in [true, false] {
                for with_reason in [true, false] {
                    let v = Verification {
                        outcome,
                        reason: with_reason.then(|| format!("why {i}: \"quoted\"\n")),
                        credential: with_credential.then(|| credential(i)),
                        checks: (0..i)
                            .map(|j| {
                                check(
                                    ["format", "signature", "status"][j % 3],
                                    j % 2 == 0,
                                    (j % 3 != 1).then_some("تفصيل \\ detail"),
                                )
                            })
                            .collect(),
                    };
                    let mut ours = Vec::new();
                    write(&v, &mut ours);
                    let theirs = serde_json::to_vec(&v).expect("serde");
                    assert_eq!(
                        String::from_utf8_lossy(&ours),
                        String::from_utf8_lossy(&theirs)
                    );
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 4 * outcomes_len);
    }
}
