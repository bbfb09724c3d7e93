//! Issue #9: standard software must use Sanad with no glue. Each test does what a relying
//! party's standard library does (look a `kid` up in the JWKS by exact match, follow a
//! credential's status URLs and issuer URL, revalidate with a weak ETag, call from another
//! origin) and checks it works as the specification says.

use crate::both_dbs;
use crate::helpers::{self, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

const BASE: &str = "https://sanad.example.gov";

pub fn jwt_parts(jwt: &str) -> (Value, Value) {
    let mut p = jwt.split('.');
    let h = serde_json::from_slice(&B64.decode(p.next().expect("h")).expect("b64")).expect("json");
    let c = serde_json::from_slice(&B64.decode(p.next().expect("p")).expect("b64")).expect("json");
    (h, c)
}

/// What `jose`'s `createLocalJWKSet` does: find the JWK whose `kid` equals the header's
/// (no prefix matching), then verify with an independent EdDSA implementation (josekit's
/// OpenSSL backend, not Sanad's dalek code).
pub async fn verify_by_exact_kid(t: &TestApp, jwt: &str) -> Value {
    let jwks = t.get("/.well-known/jwks.json").await.json();
    let (h, _) = jwt_parts(jwt);
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == h["kid"])
        .unwrap_or_else(|| panic!("kid {} is in the JWKS", h["kid"]))
        .clone();
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).expect("jwk");
    let v = josekit::jws::EdDSA
        .verifier_from_jwk(&jwk)
        .expect("verifier");
    let (payload, _) = josekit::jws::deserialize_compact(jwt, &v).expect("verifies");
    serde_json::from_slice(&payload).expect("json")
}

pub async fn full_vc(t: &TestApp, id: &str) -> String {
    let r = t
        .call(
            Method::GET,
            &format!("/api/v1/credentials/{id}/vc"),
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.text()
}

fn local(url: &str) -> &str {
    url.strip_prefix(BASE).expect("a URL of this deployment")
}

async fn jose_conventions(t: TestApp) {
    let c = t.issue_id("فاطمة").await;
    // The QR token's 8-character kid is found by exact lookup in the JWKS.
    let qr = c["qr_text"].as_str().expect("qr");
    let digits = qr.split_once('#').expect("token after #").1;
    let token = &sanad::domain::digits_to_token(digits).expect("token digits");
    let (h, _) = jwt_parts(token);
    assert_eq!(h["kid"].as_str().map(str::len), Some(8));
    let claims = verify_by_exact_kid(&t, token).await;
    assert!(claims.is_object());
    // And the full credential's full thumbprint too.
    let vc = full_vc(&t, c["id"].as_str().expect("id")).await;
    verify_by_exact_kid(&t, &vc).await;

    // A token re-signed with the RFC 9864 name `Ed25519` verifies as valid: only the
    // deployment's key can make one, so sign with it.
    let key = t.app.deployment_key().expect("key");
    let (_, payload) = jwt_parts(token);
    let header = json!({"alg": "Ed25519", "kid": h["kid"]});
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    );
    let sig = josekit::jws::JwsSigner::sign(&key.signer(&key.kid), input.as_bytes()).expect("sign");
    let ed = format!("{input}.{}", B64.encode(sig));
    let v = t.verify(json!({"token": ed})).await;
    assert_eq!(v["outcome"], "valid", "{v}");
    // `none` and other algorithms stay refused.
    let none = format!(
        "{}.{}.{}",
        B64.encode(r#"{"alg":"none","kid":"x"}"#),
        B64.encode(payload.to_string()),
        B64.encode("sig")
    );
    assert_eq!(t.verify(json!({"token": none})).await["outcome"], "invalid");
}
both_dbs!(jose_conventions_both, jose_conventions);

async fn status_lists_resolve(t: TestApp) {
    let c = t.issue_id("فاطمة").await;
    let (list, idx) = (
        c["status_list"].as_i64().expect("list"),
        c["status_index"].as_i64().expect("idx"),
    );
    let vc = verify_by_exact_kid(&t, &full_vc(&t, c["id"].as_str().expect("id")).await).await;

    // IETF `status` claim (Token Status List §6.1) points at the list and the slot.
    assert_eq!(
        vc["status"],
        json!({"status_list": {"idx": idx, "uri": format!("{BASE}/status/{list}")}})
    );
    let ietf = t
        .get(local(
            vc["status"]["status_list"]["uri"].as_str().expect("uri"),
        ))
        .await;
    assert_eq!(ietf.status, StatusCode::OK);
    let (h, l) = jwt_parts(&ietf.text());
    assert_eq!(h["typ"], "statuslist+jwt");
    // Validity window: exp after iat, ttl for caching.
    let (iat, exp) = (
        l["iat"].as_i64().expect("iat"),
        l["exp"].as_i64().expect("exp"),
    );
    assert!(exp > iat, "exp {exp} after iat {iat}");
    assert!(l["ttl"].as_u64().is_some_and(|t| t > 0));

    // W3C: every status entry's list resolves, is issued by the credential's issuer (the
    // Bitstring Status List check `checkStatus` makes by default) and carries validUntil.
    let issuer = vc["issuer"]["id"].as_str().expect("issuer id");
    for e in vc["credentialStatus"].as_array().expect("entries") {
        let url = e["statusListCredential"].as_str().expect("url");
        let r = t.get(local(url)).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text());
        assert_eq!(r.content_type(), "application/vc+jwt");
        let list_vc = verify_by_exact_kid(&t, &r.text()).await;
        assert_eq!(list_vc["id"], url);
        assert_eq!(list_vc["issuer"], issuer, "same issuer as the credential");
        assert_eq!(
            list_vc["credentialSubject"]["statusPurpose"],
            e["statusPurpose"]
        );
        let from = time::OffsetDateTime::parse(
            list_vc["validFrom"].as_str().expect("validFrom"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("date");
        let until = time::OffsetDateTime::parse(
            list_vc["validUntil"].as_str().expect("validUntil"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("date");
        assert!(until > from);
    }
    // The issuer URL answers with the agency's issuer document and keys.
    let r = t.get(local(issuer)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["id"], issuer);
    assert_eq!(doc["name"][0]["@language"], "ar");
    let (vh, _) = jwt_parts(&full_vc(&t, c["id"].as_str().expect("id")).await);
    assert!(
        doc["jwks"]["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == vh["kid"])
    );
    t.get("/agencies/NOPE")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    t.get("/agencies/NOPE/status/w3c/1/revocation")
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // Revalidation: a weak ETag matches; the 304 carries Cache-Control and the ETag.
    for path in [
        format!("/status/{list}"),
        format!("/agencies/MOSD/status/w3c/{list}/suspension"),
    ] {
        let etag = t.get(&path).await.headers["etag"]
            .to_str()
            .expect("etag")
            .to_owned();
        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", W/{etag}"),
        ] {
            let req = Request::get(&path)
                .header(header::IF_NONE_MATCH, &tag)
                .body(Body::empty())
                .expect("r");
            let r = t.send(req).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{path} {tag}");
            assert!(
                r.headers
                    .get(header::CACHE_CONTROL)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("max-age")),
                "304 carries Cache-Control"
            );
            assert_eq!(r.headers["etag"].to_str().ok(), Some(etag.as_str()));
        }
        let req = Request::get(&path)
            .header(header::IF_NONE_MATCH, "W/\"something-else\"")
            .body(Body::empty())
            .expect("r");
        assert_eq!(t.send(req).await.status, StatusCode::OK);
    }
}
both_dbs!(status_lists_resolve_both, status_lists_resolve);

async fn cors_on_public_reads(t: TestApp) {
    let c = t.issue_id("فاطمة").await;
    let id = c["id"].as_str().expect("id");
    let origin = "https://verifier.other-agency.example";
    for path in [
        "/.well-known/jwks.json".to_owned(),
        "/.well-known/sanad-trust-list".to_owned(),
        format!("/status/{}", c["status_list"]),
        format!("/v/{id}"),
        "/agencies/MOSD".to_owned(),
    ] {
        let req = Request::get(&path)
            .header(header::ORIGIN, origin)
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .expect("r");
        let r = t.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(
            r.headers
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok()),
            Some(origin),
            "{path}"
        );
        assert!(
            r.headers
                .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
    }
    // A preflight for a JSON POST to the verify endpoints is allowed.
    for path in [
        "/api/v1/verify",
        "/credentials/verify",
        "/presentations/verify",
    ] {
        let req = Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .expect("r");
        let r = t.send(req).await;
        assert!(r.status.is_success(), "{path}: {}", r.status);
        assert_eq!(
            r.headers
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok()),
            Some(origin)
        );
    }
    // The registrar API is not opened to other origins.
    let req = Request::get("/api/v1/persons")
        .header(header::ORIGIN, origin)
        .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
        .body(Body::empty())
        .expect("r");
    let r = t.send(req).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
both_dbs!(cors_on_public_reads_both, cors_on_public_reads);

async fn vc_api_issue(t: &TestApp, credential: Value) -> axum::http::StatusCode {
    t.post("/credentials/issue", json!({ "credential": credential }))
        .await
        .status
}

fn base_vc() -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "EligibilityCredential"],
        "credentialSubject": {"name": "Fatima", "eligibleFor": "housing support"}
    })
}

/// Issue through the VC-API; returns the vc+jwt.
async fn issue_vc(t: &TestApp, credential: Value) -> String {
    let r = t
        .post("/credentials/issue", json!({ "credential": credential }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["verifiableCredential"]["id"]
        .as_str()
        .expect("id")
        .strip_prefix("data:application/vc+jwt,")
        .expect("data URL")
        .to_owned()
}

async fn vc_verify(t: &TestApp, jwt: &str) -> helpers::Res {
    t.call(
        Method::POST,
        "/credentials/verify",
        None,
        Some(json!({"verifiableCredential": {
            "@context": "https://www.w3.org/ns/credentials/v2",
            "id": format!("data:application/vc+jwt,{jwt}"),
            "type": "EnvelopedVerifiableCredential"
        }})),
    )
    .await
}

/// The field a 400 problem names, and the checks its `errors` name.
fn named(r: &helpers::Res) -> (String, Vec<String>) {
    let j = r.assert_problem(StatusCode::BAD_REQUEST);
    // The body is what the OpenAPI document describes (`VcApiProblem`), member for member.
    if let Err(e) = serde_json::from_value::<sanad::web::vcapi::VcApiProblem>(j.clone()) {
        panic!("the 400 body is not the documented VcApiProblem: {e}: {j}");
    }
    let checks = j["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e["check"]
                .as_str()
                .or(e["member"].as_str())
                .map(str::to_owned)
        })
        .collect();
    (j["field"].as_str().unwrap_or_default().to_owned(), checks)
}

async fn vc_api_data_model(t: TestApp) {
    let ours = format!("{BASE}/agencies/MOSD");
    // Members Sanad assigns are refused and named, not silently overwritten.
    for (member, value) in [
        ("id", json!("https://elsewhere.example/credentials/1")),
        (
            "credentialStatus",
            json!({"type": "BitstringStatusListEntry"}),
        ),
        ("proof", json!({"type": "DataIntegrityProof"})),
    ] {
        let mut v = base_vc();
        v[member] = value;
        let r = t
            .post("/credentials/issue", json!({ "credential": v }))
            .await;
        assert_eq!(named(&r).0, member);
    }
    // The issuer must be the token's agency; `{"id": null}` is an error, not "absent".
    for (issuer, field) in [
        (json!("https://other.example/agencies/X"), "issuer"),
        (
            json!({"id": "https://other.example/agencies/X"}),
            "issuer.id",
        ),
        (json!({"id": null}), "issuer.id"),
        (json!("not a url"), "issuer"),
    ] {
        let mut v = base_vc();
        v["issuer"] = issuer;
        let r = t
            .post("/credentials/issue", json!({ "credential": v }))
            .await;
        assert_eq!(named(&r).0, field);
    }
    // VC 2.0 §4 MUSTs, each refused with the member named.
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "@context[1]",
            Box::new(|v| v["@context"] = json!([VC2, 42])),
        ),
        ("@context", Box::new(|v| v["@context"] = json!([]))),
        (
            "credentialSchema.type",
            Box::new(|v| v["credentialSchema"] = json!({"id": "https://x.example/s.json"})),
        ),
        (
            "termsOfUse.type",
            Box::new(|v| v["termsOfUse"] = json!({"id": "https://x.example/t"})),
        ),
        (
            "evidence[0].type",
            Box::new(|v| v["evidence"] = json!([{"id": "https://x.example/e"}])),
        ),
        (
            "refreshService.type",
            Box::new(|v| v["refreshService"] = json!({"url": "https://x.example/r"})),
        ),
        (
            "credentialSubject",
            Box::new(|v| v["credentialSubject"] = json!({})),
        ),
        (
            "credentialSubject.id",
            Box::new(|v| v["credentialSubject"]["id"] = json!("fatima")),
        ),
        (
            "name.@language",
            Box::new(|v| v["name"] = json!({"@value": "x", "@language": "??"})),
        ),
        (
            "relatedResource",
            Box::new(|v| v["relatedResource"] = json!({"id": "https://x.example/a"})),
        ),
        (
            "validFrom",
            Box::new(|v| v["validFrom"] = json!("2026-01-01")),
        ),
    ];
    for (member, f) in cases {
        let mut v = base_vc();
        f(&mut v);
        let r = t
            .post("/credentials/issue", json!({ "credential": v }))
            .await;
        assert_eq!(named(&r).0, member, "{v}");
    }
    // A body of the wrong shape is a 400 (the VC-API has no 422).
    t.post("/credentials/issue", json!({"credentials": base_vc()}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    t.call(Method::POST, "/credentials/verify", None, Some(json!({})))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    // An envelope's @context must be there (VC 2.0 §4.13).
    let r = t
        .call(
            Method::POST,
            "/credentials/verify",
            None,
            Some(json!({"verifiableCredential": {"@context": [], "id": "data:application/vc+jwt,a.b.c", "type": "EnvelopedVerifiableCredential"}})),
        )
        .await;
    assert_eq!(named(&r).0, "@context");

    // The caller's own issuer string and a full example (schema, terms, evidence, related
    // resources, language values) are accepted and signed as given.
    let mut v = base_vc();
    v["issuer"] = json!(ours);
    v["name"] = json!([{"@value": "أهلية", "@language": "ar", "@direction": "rtl"}, {"@value": "Eligibility", "@language": "en"}]);
    v["credentialSchema"] = json!({"id": "https://x.example/s.json", "type": "JsonSchema"});
    v["relatedResource"] = json!([{"id": "https://x.example/a", "digestSRI": "sha384-abc"}]);
    let jwt = issue_vc(&t, v.clone()).await;
    let signed = verify_by_exact_kid(&t, &jwt).await;
    for m in ["issuer", "name", "credentialSchema", "relatedResource"] {
        assert_eq!(signed[m], v[m], "{m} signed as given");
    }
    assert_eq!(vc_verify(&t, &jwt).await.status, StatusCode::OK);
    assert_eq!(vc_api_issue(&t, base_vc()).await, StatusCode::CREATED);
}
both_dbs!(vc_api_data_model_both, vc_api_data_model);

async fn vc_api_validity_and_answers(t: TestApp) {
    // validFrom/validUntil are signed as given and enforced at verification (VC 2.0 §4.9).
    let mut v = base_vc();
    v["validFrom"] = json!("2025-01-01T00:00:00Z");
    v["validUntil"] = json!("2099-12-31T23:59:59Z");
    let jwt = issue_vc(&t, v.clone()).await;
    let signed = verify_by_exact_kid(&t, &jwt).await;
    assert_eq!(signed["validFrom"], v["validFrom"]);
    assert_eq!(signed["validUntil"], v["validUntil"]);
    let r = vc_verify(&t, &jwt).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["verified"], true);
    assert!(
        j["checks"]
            .as_array()
            .expect("checks")
            .contains(&json!("validity"))
    );
    assert_eq!(j["errors"], json!([]));

    let mut future = base_vc();
    future["validFrom"] = json!("2099-01-01T00:00:00Z");
    let jwt_future = issue_vc(&t, future).await;
    assert_eq!(
        verify_by_exact_kid(&t, &jwt_future).await["validFrom"],
        "2099-01-01T00:00:00Z",
        "a future validFrom is signed as given, not as now"
    );
    let r = vc_verify(&t, &jwt_future).await;
    assert_eq!(named(&r).1, ["validity"]);

    let mut expired = base_vc();
    expired["validFrom"] = json!("2020-01-01T00:00:00Z");
    expired["validUntil"] = json!("2021-01-01T00:00:00Z");
    let r = vc_verify(&t, &issue_vc(&t, expired).await).await;
    assert_eq!(named(&r).1, ["validity"]);
    // Sanad's own credentials still carry no expiry.
    let c = t.issue_id("فاطمة").await;
    let own = verify_by_exact_kid(&t, &full_vc(&t, c["id"].as_str().expect("id")).await).await;
    assert!(own.get("validUntil").is_none());

    // A suspended credential is an error, not a warning with "no errors".
    let id = signed["id"]
        .as_str()
        .expect("id")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    assert_eq!(
        t.action(&id, "suspend", "under_review").await.status,
        StatusCode::OK
    );
    let r = vc_verify(&t, &jwt).await;
    let j = r.assert_problem(StatusCode::BAD_REQUEST);
    assert_eq!(j["verified"], false);
    assert_eq!(j["outcome"], "suspended");
    assert_eq!(
        j["errors"][0]["type"],
        "urn:sanad:problem:credential-suspended"
    );
    assert_eq!(j["errors"][0]["check"], "status");
    assert_eq!(
        t.action(&id, "reinstate", "review_cleared").await.status,
        StatusCode::OK
    );
    assert_eq!(vc_verify(&t, &jwt).await.status, StatusCode::OK);

    // A forged envelope is a 400 naming the failed check, not a 200.
    let mut parts: Vec<&str> = jwt.split('.').collect();
    let forged_sig = B64.encode([7u8; 64]);
    parts[2] = &forged_sig;
    let r = vc_verify(&t, &parts.join(".")).await;
    assert_eq!(named(&r).1, ["signature"]);
}
both_dbs!(
    vc_api_validity_and_answers_both,
    vc_api_validity_and_answers
);

/// Sign `claims` with the deployment key (what only the issuer could do) as `typ`.
fn sign_as_sanad(t: &TestApp, claims: &Value, typ: &str) -> String {
    let key = t.app.deployment_key().expect("key");
    raw_sign(claims, typ, &key.signer(&key.kid))
}

/// A compact JWS of `claims` with `typ`, signed as josekit does (Sanad's own signers only
/// sign their own kinds, so tests forge with josekit directly).
fn raw_sign(claims: &Value, typ: &str, signer: &dyn josekit::jws::JwsSigner) -> String {
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type(typ);
    josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).expect("sign")
}

pub const VC2: &str = "https://www.w3.org/ns/credentials/v2";

async fn vc_jose_claims_and_presentations(t: TestApp) {
    let jwt = issue_vc(&t, base_vc()).await;
    let claims = verify_by_exact_kid(&t, &jwt).await;
    // VC-JOSE-COSE: no vc/vp claims; iss, if present, is the issuer.
    for (member, value) in [
        (
            "vc",
            json!({"credentialSubject": {"eligibleFor": "everything"}}),
        ),
        ("vp", json!({})),
        ("iss", json!("https://other.example")),
    ] {
        let mut c = claims.clone();
        c[member] = value;
        let r = vc_verify(&t, &sign_as_sanad(&t, &c, "vc+jwt")).await;
        // These are reserved claims, so such a token is not even a VC-API credential
        // (`keys::kind`): refused at the format check, before the data model's.
        assert_eq!(named(&r).1, ["format"], "{member}");
    }
    // Even an `iss` equal to the issuer: Sanad never signs one into a VC-API credential,
    // so a token that has one is none of its kinds.
    let mut c = claims.clone();
    c["iss"] = claims["issuer"]["id"].clone();
    let r = vc_verify(&t, &sign_as_sanad(&t, &c, "vc+jwt")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(named(&r).1, ["format"]);

    // Presentations (VC-JOSE-COSE §3.2): an enveloped vp+jwt with enveloped credentials.
    let other = issue_vc(&t, base_vc()).await;
    let env = |j: &str| json!({"@context": VC2, "id": format!("data:application/vc+jwt,{j}"), "type": "EnvelopedVerifiableCredential"});
    let vp = json!({
        "@context": [VC2],
        "type": "VerifiablePresentation",
        "holder": format!("{BASE}/agencies/MOSD"),
        "verifiableCredential": [env(&jwt), env(&other)]
    });
    let present = |vp_jwt: String| {
        let t = &t;
        async move {
            t.call(
                Method::POST,
                "/presentations/verify",
                None,
                Some(json!({"verifiablePresentation": {
                    "@context": [VC2],
                    "id": format!("data:application/vp+jwt,{vp_jwt}"),
                    "type": "EnvelopedVerifiablePresentation"
                }})),
            )
            .await
        }
    };
    let r = present(sign_as_sanad(&t, &vp, "vp+jwt")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["verified"], true);
    assert_eq!(j["credentials"].as_array().map(Vec::len), Some(2));
    assert!(
        j["credentials"]
            .as_array()
            .expect("c")
            .iter()
            .all(|c| c["verified"] == true)
    );

    // One revoked credential inside: 400, and the error says which one and which check.
    let id = verify_by_exact_kid(&t, &other).await["id"]
        .as_str()
        .expect("id")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    assert_eq!(
        t.action(&id, "revoke", "issued_in_error").await.status,
        StatusCode::OK
    );
    let r = present(sign_as_sanad(&t, &vp, "vp+jwt")).await;
    let j = r.assert_problem(StatusCode::BAD_REQUEST);
    assert_eq!(j["errors"][0]["credential"], 1);
    assert_eq!(j["errors"][0]["check"], "status");
    assert_eq!(
        j["errors"][0]["type"],
        "urn:sanad:problem:credential-revoked"
    );
    // A vc+jwt is not a presentation; a vp with a vp claim is refused; a VP signed by a key
    // nobody trusts is refused.
    assert_eq!(named(&present(jwt.clone()).await).1, ["format"]);
    let mut bad = vp.clone();
    bad["vp"] = json!({});
    assert_eq!(
        named(&present(sign_as_sanad(&t, &bad, "vp+jwt")).await).1,
        ["data_model"]
    );
    let stranger =
        sanad::keys::PrivateKey::generate(sanad::domain::AgencyCode::parse("MOSD").expect("code"));
    let forged = raw_sign(&vp, "vp+jwt", &stranger.signer(&stranger.kid));
    assert_eq!(named(&present(forged).await).1, ["holder_trusted"]);
}
both_dbs!(
    vc_jose_claims_and_presentations_both,
    vc_jose_claims_and_presentations
);
