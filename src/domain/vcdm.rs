//! The W3C Verifiable Credentials Data Model 2.0 (§4) rules that a credential, an enveloped
//! credential or a presentation must meet, as pure checks over JSON.
//!
//! The VC-API accepts caller JSON, and a relying party's library will refuse what breaks
//! a MUST of the data model; so Sanad refuses it first, at issue and at verification, and
//! names the member that is wrong (a JSON-path-like `credentialSubject[0].id`), so the
//! caller's error says what to fix. What Sanad adds or forbids beyond the data model (its
//! own status entries, reserved claims) is not checked here.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The VC 2.0 base context, first in every `@context`.
pub const VC_V2_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";

/// One broken rule: which member, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The member, as a path (`issuer.id`, `credentialSchema[1].type`).
    pub member: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.member, self.message)
    }
}

struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn bad(&mut self, member: impl Into<String>, message: impl Into<String>) {
        self.out.push(Violation {
            member: member.into(),
            message: message.into(),
        });
    }
}

/// Whether `s` is a URL (WHATWG URL with a scheme: `https:`, `did:`, `urn:`, `data:` …).
pub fn is_url(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(char::is_whitespace)
        && url::Url::parse(s).is_ok_and(|u| !u.scheme().is_empty())
}

/// Parse an XML Schema `dateTimeStamp` (RFC 3339 with an offset), as `validFrom` and
/// `validUntil` must be.
pub fn parse_date_time_stamp(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `one or many`: a value that may be one object or an array of them.
fn each(v: &Value) -> Vec<(Option<usize>, &Value)> {
    match v {
        Value::Array(a) => a.iter().enumerate().map(|(i, x)| (Some(i), x)).collect(),
        other => vec![(None, other)],
    }
}

fn path(member: &str, i: Option<usize>) -> String {
    match i {
        Some(i) => format!("{member}[{i}]"),
        None => member.to_owned(),
    }
}

fn check_context(c: &mut Checker, obj: &Map<String, Value>) {
    match obj.get("@context") {
        None => c.bad("@context", "is required"),
        Some(Value::String(s)) if s == VC_V2_CONTEXT => {}
        Some(Value::Array(items))
            if items.first().and_then(Value::as_str) == Some(VC_V2_CONTEXT) =>
        {
            for (i, item) in items.iter().enumerate().skip(1) {
                match item {
                    Value::String(s) if is_url(s) => {}
                    Value::Object(_) => {}
                    _ => c.bad(format!("@context[{i}]"), "must be a URL or an object"),
                }
            }
        }
        Some(_) => c.bad(
            "@context",
            format!("must be an ordered set whose first item is {VC_V2_CONTEXT}"),
        ),
    }
}

fn check_type(c: &mut Checker, member: &str, v: Option<&Value>, must_include: Option<&str>) {
    let names: Vec<&str> = match v {
        None => {
            c.bad(member, "is required");
            return;
        }
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {
            a.iter().filter_map(Value::as_str).collect()
        }
        Some(_) => {
            c.bad(member, "must be a string or a non-empty array of strings");
            return;
        }
    };
    if names.iter().any(|n| n.is_empty()) {
        c.bad(member, "must not contain an empty name");
    }
    if let Some(needed) = must_include
        && !names.contains(&needed)
    {
        c.bad(member, format!("must include {needed}"));
    }
}

/// An optional `id` must be a URL; `member` is its parent (empty at the top level).
fn check_optional_id(c: &mut Checker, member: &str, obj: &Map<String, Value>) {
    match obj.get("id") {
        None => {}
        Some(Value::String(s)) if is_url(s) => {}
        Some(_) if member.is_empty() => c.bad("id", "must be a URL"),
        Some(_) => c.bad(format!("{member}.id"), "must be a URL"),
    }
}

/// §11.1 language value objects: `{"@value": string, "@language"?: BCP 47, "@direction"?:
/// "ltr"|"rtl"}` and nothing else.
fn check_language_value(c: &mut Checker, member: &str, v: &Value) {
    let Some(o) = v.as_object() else {
        c.bad(member, "must be a string or a language value object");
        return;
    };
    if !o.get("@value").is_some_and(Value::is_string) {
        c.bad(format!("{member}.@value"), "must be a string");
    }
    if let Some(l) = o.get("@language")
        && !l.as_str().is_some_and(is_language_tag)
    {
        c.bad(
            format!("{member}.@language"),
            "must be a BCP 47 language tag",
        );
    }
    if let Some(d) = o.get("@direction")
        && !matches!(d.as_str(), Some("ltr" | "rtl"))
    {
        c.bad(format!("{member}.@direction"), "must be ltr or rtl");
    }
    if let Some(k) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "@value" | "@language" | "@direction"))
    {
        c.bad(
            format!("{member}.{k}"),
            "is not allowed in a language value object",
        );
    }
}

/// The well-formedness of a BCP 47 tag (RFC 5646 §2.1 syntax: alphanumeric subtags of 1–8
/// characters separated by hyphens, the first alphabetic).
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn check_text(c: &mut Checker, member: &str, v: Option<&Value>) {
    match v {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(a)) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                check_language_value(c, &format!("{member}[{i}]"), x);
            }
        }
        Some(other) => check_language_value(c, member, other),
    }
}

/// Objects that MUST carry a `type` (§4.10 credentialStatus, §4.11 credentialSchema, §5.4
/// refreshService, §5.5 termsOfUse, §5.6 evidence); `id_required` for those whose `id`
/// is required.
fn check_typed_objects(c: &mut Checker, obj: &Map<String, Value>, member: &str, id_required: bool) {
    let Some(v) = obj.get(member) else { return };
    if v.as_array().is_some_and(Vec::is_empty) {
        c.bad(member, "must not be an empty array");
        return;
    }
    for (i, item) in each(v) {
        let p = path(member, i);
        let Some(o) = item.as_object() else {
            c.bad(p, "must be an object");
            continue;
        };
        check_type(c, &format!("{p}.type"), o.get("type"), None);
        if id_required && !o.contains_key("id") {
            c.bad(format!("{p}.id"), "is required");
        }
        check_optional_id(c, &p, o);
    }
}

/// §5.3 relatedResource: each has a URL `id` (no `id` twice) and `digestSRI` or
/// `digestMultibase`.
fn check_related_resource(c: &mut Checker, obj: &Map<String, Value>) {
    let Some(v) = obj.get("relatedResource") else {
        return;
    };
    let mut seen = Vec::new();
    for (i, item) in each(v) {
        let p = path("relatedResource", i);
        let Some(o) = item.as_object() else {
            c.bad(p, "must be an object");
            continue;
        };
        match o.get("id").and_then(Value::as_str) {
            Some(id) if is_url(id) => {
                if seen.contains(&id) {
                    c.bad(format!("{p}.id"), "names a resource already listed");
                }
                seen.push(id);
            }
            _ => c.bad(format!("{p}.id"), "is required and must be a URL"),
        }
        let sri = o.get("digestSRI");
        let mb = o.get("digestMultibase");
        if sri.is_none() && mb.is_none() {
            c.bad(p.clone(), "needs digestSRI or digestMultibase");
        }
        if sri.is_some_and(|d| !d.is_string()) {
            c.bad(format!("{p}.digestSRI"), "must be a string");
        }
        if mb.is_some_and(|d| !d.is_string()) {
            c.bad(format!("{p}.digestMultibase"), "must be a string");
        }
    }
}

fn check_issuer(c: &mut Checker, obj: &Map<String, Value>) {
    match obj.get("issuer") {
        None => c.bad("issuer", "is required"),
        Some(Value::String(s)) if is_url(s) => {}
        Some(Value::String(_)) => c.bad("issuer", "must be a URL"),
        Some(Value::Object(o)) => {
            match o.get("id") {
                Some(Value::String(s)) if is_url(s) => {}
                Some(Value::Null) | None => c.bad("issuer.id", "is required"),
                Some(_) => c.bad("issuer.id", "must be a URL"),
            }
            check_text(c, "issuer.name", o.get("name"));
            check_text(c, "issuer.description", o.get("description"));
        }
        Some(_) => c.bad("issuer", "must be a URL or an object with an id"),
    }
}

fn check_subject(c: &mut Checker, obj: &Map<String, Value>) {
    let Some(v) = obj.get("credentialSubject") else {
        c.bad("credentialSubject", "is required");
        return;
    };
    if v.as_array().is_some_and(Vec::is_empty) {
        c.bad("credentialSubject", "must not be an empty array");
        return;
    }
    for (i, s) in each(v) {
        let p = path("credentialSubject", i);
        match s.as_object() {
            Some(o) if o.is_empty() => c.bad(p, "must make at least one claim"),
            Some(o) => check_optional_id(c, &p, o),
            None => c.bad(p, "must be an object"),
        }
    }
}

fn check_validity(c: &mut Checker, obj: &Map<String, Value>) {
    let mut at = |m: &str| match obj.get(m) {
        None => None,
        Some(Value::String(s)) => {
            let t = parse_date_time_stamp(s);
            if t.is_none() {
                c.bad(
                    m,
                    "must be an RFC 3339 date-time with a time zone (dateTimeStamp)",
                );
            }
            t
        }
        Some(_) => {
            c.bad(m, "must be a dateTimeStamp string");
            None
        }
    };
    let from = at("validFrom");
    let until = at("validUntil");
    if let (Some(f), Some(u)) = (from, until)
        && u < f
    {
        c.bad("validUntil", "is before validFrom");
    }
}

fn finish(c: Checker) -> Result<(), Vec<Violation>> {
    if c.out.is_empty() { Ok(()) } else { Err(c.out) }
}

/// Check a credential (VCDM 2.0 §4) without its securing mechanism.
pub fn check_credential(vc: &Value) -> Result<(), Vec<Violation>> {
    let mut c = Checker { out: Vec::new() };
    let Some(obj) = vc.as_object() else {
        c.bad("credential", "must be a JSON object");
        return finish(c);
    };
    check_context(&mut c, obj);
    check_optional_id(&mut c, "", obj);
    check_type(
        &mut c,
        "type",
        obj.get("type"),
        Some("VerifiableCredential"),
    );
    check_text(&mut c, "name", obj.get("name"));
    check_text(&mut c, "description", obj.get("description"));
    check_issuer(&mut c, obj);
    check_subject(&mut c, obj);
    check_validity(&mut c, obj);
    check_typed_objects(&mut c, obj, "credentialStatus", false);
    check_typed_objects(&mut c, obj, "credentialSchema", true);
    check_typed_objects(&mut c, obj, "termsOfUse", false);
    check_typed_objects(&mut c, obj, "evidence", false);
    check_typed_objects(&mut c, obj, "refreshService", false);
    check_related_resource(&mut c, obj);
    finish(c)
}

/// Check an enveloped credential or presentation (VCDM 2.0 §4.13): `@context` with the
/// base context, `type` `kind`, and an `id` that is a `data:` URL of `media_type`. Returns
/// the enveloped token.
pub fn check_envelope<'a>(
    env: &'a Value,
    kind: &str,
    media_type: &str,
) -> Result<&'a str, Vec<Violation>> {
    let mut c = Checker { out: Vec::new() };
    let Some(obj) = env.as_object() else {
        c.bad(kind, "must be a JSON object");
        return Err(c.out);
    };
    check_context(&mut c, obj);
    check_type(&mut c, "type", obj.get("type"), Some(kind));
    let prefix = format!("data:{media_type},");
    let token = obj
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.strip_prefix(prefix.as_str()));
    if token.is_none_or(str::is_empty) {
        c.bad("id", format!("must be a data: URL, {prefix}<token>"));
    }
    finish(c)?;
    Ok(token.unwrap_or_default())
}

/// Check a presentation (VCDM 2.0 §4.12): context, `VerifiablePresentation` among the
/// types, a URL `id` and `holder` if given, and enveloped credentials.
pub fn check_presentation(vp: &Value) -> Result<(), Vec<Violation>> {
    let mut c = Checker { out: Vec::new() };
    let Some(obj) = vp.as_object() else {
        c.bad("presentation", "must be a JSON object");
        return finish(c);
    };
    check_context(&mut c, obj);
    check_type(
        &mut c,
        "type",
        obj.get("type"),
        Some("VerifiablePresentation"),
    );
    check_optional_id(&mut c, "", obj);
    match obj.get("holder") {
        None => {}
        Some(Value::String(s)) if is_url(s) => {}
        Some(Value::Object(o)) if o.get("id").and_then(Value::as_str).is_some_and(is_url) => {}
        Some(_) => c.bad("holder", "must be a URL or an object with a URL id"),
    }
    if let Some(v) = obj.get("verifiableCredential") {
        for (i, item) in each(v) {
            let p = path("verifiableCredential", i);
            if !item.is_object() {
                c.bad(p, "must be an object");
            }
        }
    }
    finish(c)
}

/// `validFrom` and `validUntil`, when present and well-formed.
pub fn validity_window(vc: &Value) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
    let at = |m: &str| {
        vc.get(m)
            .and_then(Value::as_str)
            .and_then(parse_date_time_stamp)
    };
    (at("validFrom"), at("validUntil"))
}

/// Render violations as one line for a problem's `detail`.
pub fn describe(v: &[Violation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn members(r: Result<(), Vec<Violation>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.member)
            .collect()
    }

    /// VCDM 2.0 Example 2 ("A simple example of a verifiable credential"), without proof.
    fn example_2() -> Value {
        json!({
          "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2"
          ],
          "id": "http://university.example/credentials/3732",
          "type": ["VerifiableCredential", "ExampleDegreeCredential"],
          "issuer": "https://university.example/issuers/565049",
          "validFrom": "2010-01-01T00:00:00Z",
          "credentialSubject": {
            "id": "did:example:ebfeb1f712ebc6f1c276e12ec21",
            "degree": {
              "type": "ExampleBachelorDegree",
              "name": "Bachelor of Science and Arts"
            }
          }
        })
    }

    #[test]
    fn spec_examples_pass() {
        assert_eq!(check_credential(&example_2()), Ok(()));
        // §4.6 names and descriptions: language value objects, including right-to-left.
        let mut v = example_2();
        v["name"] = json!([
          {"@value": "Example University", "@language": "en"},
          {"@value": "Université Exemple", "@language": "fr"},
          {"@value": "جامعة المثال", "@language": "ar", "@direction": "rtl"}
        ]);
        v["issuer"] =
            json!({"id": "did:example:76e12ec712ebc6f1c221ebfeb1f", "name": "Example University"});
        // §4.9 validity period, §4.11 data schemas, §5.3 integrity of related resources.
        v["validFrom"] = json!("2010-01-01T19:23:24Z");
        v["validUntil"] = json!("2020-01-01T19:23:24Z");
        v["credentialSchema"] = json!([{
          "id": "https://example.org/examples/degree.json",
          "type": "JsonSchema"
        }, {
          "id": "https://example.org/examples/alumni.json",
          "type": "JsonSchema"
        }]);
        v["relatedResource"] = json!([{
          "id": "https://www.w3.org/ns/credentials/v2",
          "digestSRI": "sha384-Ml/HrjlBCNWyAX91hr6LFV2Y3heB5Tcr6IeE4/Tje8YyzYBM8IhqjHWiWpr8+ZbYU"
        },{
          "id": "https://www.w3.org/ns/credentials/examples/v2",
          "digestSRI": "sha384-MzNNbQTWCSUSi0bbz7dbua+RcENv7C6FvlmYJ1Y+I727HsPOHdzwELMYO9Mz68M26"
        }]);
        // §4.10 status, §5.4 refresh, §5.5 terms of use, §5.6 evidence.
        v["credentialStatus"] = json!({
          "id": "https://university.example/credentials/status/3#94567",
          "type": "BitstringStatusListEntry",
          "statusPurpose": "revocation",
          "statusListIndex": "94567",
          "statusListCredential": "https://university.example/credentials/status/3"
        });
        v["refreshService"] = json!({
          "type": "VerifiableCredentialRefreshService2021",
          "url": "https://university.example/workflows/refresh-degree"
        });
        v["termsOfUse"] = json!({
          "type": "TrustFrameworkPolicy",
          "trustFramework": "Employment&CitizenshipTrustFramework",
          "policyId": "https://policy.example/policies/125",
          "legalBasis": "professional-qualifications-directive"
        });
        v["evidence"] = json!([{
          "id": "https://videoverifier.example/transactions/12345",
          "type": ["ExampleEvidence"],
          "verifier": "https://videoverifier.example"
        }]);
        assert_eq!(check_credential(&v), Ok(()), "{v}");
        // §4.13 enveloped verifiable credential example.
        let env = json!({
          "@context": "https://www.w3.org/ns/credentials/v2",
          "id": "data:application/vc+sd-jwt,QzVjV...RMjU",
          "type": "EnvelopedVerifiableCredential"
        });
        assert_eq!(
            check_envelope(
                &env,
                "EnvelopedVerifiableCredential",
                "application/vc+sd-jwt"
            ),
            Ok("QzVjV...RMjU")
        );
    }

    #[test]
    fn each_must_is_enforced_and_named() {
        let case = |f: &dyn Fn(&mut Value), member: &str| {
            let mut v = example_2();
            f(&mut v);
            let got = members(check_credential(&v));
            assert!(
                got.contains(&member.to_owned()),
                "{member}: got {got:?} for {v}"
            );
        };
        case(&|v| v["@context"] = json!([]), "@context");
        case(
            &|v| v["@context"] = json!(["https://example.org/x", VC_V2_CONTEXT]),
            "@context",
        );
        case(&|v| v["@context"][1] = json!(42), "@context[1]");
        case(&|v| v["@context"][1] = json!("not a url"), "@context[1]");
        case(&|v| v["type"] = json!(["ExampleDegreeCredential"]), "type");
        case(&|v| v["id"] = json!("3732"), "id");
        case(&|v| v["issuer"] = json!({"id": null}), "issuer.id");
        case(&|v| v["issuer"] = json!({"name": "x"}), "issuer.id");
        case(&|v| v["issuer"] = json!("university"), "issuer");
        case(&|v| v["credentialSubject"] = json!({}), "credentialSubject");
        case(&|v| v["credentialSubject"] = json!([]), "credentialSubject");
        case(
            &|v| v["credentialSubject"] = json!("x"),
            "credentialSubject",
        );
        case(
            &|v| v["credentialSubject"]["id"] = json!("ebfeb1"),
            "credentialSubject.id",
        );
        case(
            &|v| {
                v.as_object_mut().map(|o| o.remove("credentialSubject"));
            },
            "credentialSubject",
        );
        case(&|v| v["validFrom"] = json!("2010-01-01"), "validFrom");
        case(
            &|v| v["validFrom"] = json!("2010-01-01T00:00:00"),
            "validFrom",
        );
        case(
            &|v| v["validUntil"] = json!("2009-01-01T00:00:00Z"),
            "validUntil",
        );
        case(
            &|v| v["name"] = json!({"@value": "x", "@language": "not a tag!"}),
            "name.@language",
        );
        case(&|v| v["name"] = json!({"@language": "en"}), "name.@value");
        case(
            &|v| v["name"] = json!([{"@value": "x", "@direction": "up"}]),
            "name[0].@direction",
        );
        case(
            &|v| v["description"] = json!({"@value": "x", "extra": 1}),
            "description.extra",
        );
        case(
            &|v| v["issuer"] = json!({"id": "https://u.example", "name": {"value": "x"}}),
            "issuer.name.@value",
        );
        for m in [
            "credentialStatus",
            "termsOfUse",
            "evidence",
            "refreshService",
        ] {
            case(
                &|v| v[m] = json!({"id": "https://x.example/1"}),
                &format!("{m}.type"),
            );
            case(
                &|v| v[m] = json!({"type": "T", "id": "nope"}),
                &format!("{m}.id"),
            );
        }
        case(
            &|v| v["credentialSchema"] = json!([{"id": "https://x.example/s.json"}]),
            "credentialSchema[0].type",
        );
        case(
            &|v| v["credentialSchema"] = json!({"type": "JsonSchema"}),
            "credentialSchema.id",
        );
        case(
            &|v| v["relatedResource"] = json!({"id": "https://x.example/a"}),
            "relatedResource",
        );
        case(
            &|v| v["relatedResource"] = json!({"digestSRI": "sha384-x"}),
            "relatedResource.id",
        );
        case(
            &|v| v["relatedResource"] = json!([{"id": "https://x.example/a", "digestSRI": "a"}, {"id": "https://x.example/a", "digestSRI": "b"}]),
            "relatedResource[1].id",
        );
        assert_eq!(members(check_credential(&json!([1]))), ["credential"]);
    }

    #[test]
    fn envelopes_and_presentations() {
        for (env, member) in [
            (
                json!({"id": "data:application/vc+jwt,abc", "type": "EnvelopedVerifiableCredential"}),
                "@context",
            ),
            (
                json!({"@context": [], "id": "data:application/vc+jwt,abc", "type": "EnvelopedVerifiableCredential"}),
                "@context",
            ),
            (
                json!({"@context": VC_V2_CONTEXT, "id": "data:application/vc+jwt,abc", "type": "VerifiableCredential"}),
                "type",
            ),
            (
                json!({"@context": VC_V2_CONTEXT, "id": "data:text/plain,abc", "type": "EnvelopedVerifiableCredential"}),
                "id",
            ),
            (
                json!({"@context": VC_V2_CONTEXT, "id": "data:application/vc+jwt,", "type": "EnvelopedVerifiableCredential"}),
                "id",
            ),
        ] {
            let got = check_envelope(&env, "EnvelopedVerifiableCredential", "application/vc+jwt")
                .err()
                .unwrap_or_default();
            assert!(got.iter().any(|v| v.member == member), "{member}: {got:?}");
        }
        // VC-JOSE-COSE's enveloped presentation example (payload of a vp+jwt).
        let vp = json!({
          "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
          "type": "VerifiablePresentation",
          "verifiableCredential": [{
            "@context": "https://www.w3.org/ns/credentials/v2",
            "id": "data:application/vc+jwt,eyJhbGciOiJFUzM4NCJ9.e30.sig",
            "type": "EnvelopedVerifiableCredential"
          }]
        });
        assert_eq!(check_presentation(&vp), Ok(()));
        let mut bad = vp.clone();
        bad["type"] = json!("Presentation");
        bad["holder"] = json!({"id": null});
        assert_eq!(members(check_presentation(&bad)), ["type", "holder"]);
    }

    #[test]
    fn urls_and_language_tags() {
        for ok in [
            "https://a.example/x",
            "did:example:123",
            "urn:uuid:6a1676b8-b51f-11ed-937b-d76685a20ff5",
            "data:application/vc+jwt,x",
        ] {
            assert!(is_url(ok), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "/relative",
            "https://a.example/ x",
            " https://a.example",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
        for ok in ["en", "ar", "ar-SA", "zh-Hant-TW", "sr-Latn-RS"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "-en", "en-", "toolongtag", "e n", "1en"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
