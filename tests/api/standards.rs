//! Issue #3: status lists decoded with code written from the specs' own examples, full VC 2.0
//! credentials, VC-API, key rotation and revocation, and federation through trust lists.

use crate::both_dbs;
use crate::helpers::{self, TestApp};
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::io::Read as _;

// ---- decoders written from the specifications, independent of src/ ----------------------

/// draft-ietf-oauth-status-list: `lst` is base64url(ZLIB(bytes)); entry i of b bits is at
/// byte i*b/8, shifted right by (i*b)%8.
fn ietf_decode(lst: &str) -> Vec<u8> {
    let z = B64.decode(lst).expect("base64url");
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..])
        .read_to_end(&mut out)
        .expect("zlib");
    out
}
fn ietf_entry(bytes: &[u8], bits: usize, i: usize) -> u8 {
    let mask = ((1u16 << bits) - 1) as u8;
    (bytes[i * bits / 8] >> ((i * bits) % 8)) & mask
}

/// W3C Bitstring Status List: multibase `u` + base64url(GZIP(bitstring)); index 0 is the most
/// significant bit of the first byte.
fn w3c_decode(encoded: &str) -> Vec<u8> {
    let b = B64
        .decode(encoded.strip_prefix('u').expect("multibase u"))
        .expect("base64url");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&b[..])
        .read_to_end(&mut out)
        .expect("gzip");
    out
}
fn w3c_bit(bits: &[u8], i: usize) -> bool {
    bits[i / 8] & (0x80 >> (i % 8)) != 0
}

fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors/specs.json")).expect("vectors")
}

fn jwt_parts(jwt: &str) -> (Value, Value) {
    let mut p = jwt.split('.');
    let h = serde_json::from_slice(&B64.decode(p.next().expect("h")).expect("b64")).expect("json");
    let c = serde_json::from_slice(&B64.decode(p.next().expect("p")).expect("b64")).expect("json");
    (h, c)
}

#[test]
fn spec_examples_decode() {
    let v = vectors();
    // IETF 1-bit example.
    let one = &v["ietf_token_status_list"]["one_bit"];
    let bytes = ietf_decode(one["lst"].as_str().expect("lst"));
    assert_eq!(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        one["decompressed_hex"]
    );
    let expect: Vec<u8> = one["statuses_index_0_to_15"]
        .as_array()
        .expect("a")
        .iter()
        .map(|x| x.as_u64().expect("n") as u8)
        .collect();
    let got: Vec<u8> = (0..16).map(|i| ietf_entry(&bytes, 1, i)).collect();
    assert_eq!(got, expect);
    // IETF 2-bit example.
    let two = &v["ietf_token_status_list"]["two_bit"];
    let bytes = ietf_decode(two["lst"].as_str().expect("lst"));
    assert_eq!(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        two["decompressed_hex"]
    );
    assert_eq!(
        (0..12)
            .map(|i| ietf_entry(&bytes, 2, i))
            .collect::<Vec<_>>(),
        [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    );
    // The signed example: decode its claims and check its ES256 signature with josekit.
    let signed = &v["ietf_token_status_list"]["signed_example"];
    let jwt = signed["statuslist_jwt"].as_str().expect("jwt");
    let (h, c) = jwt_parts(jwt);
    assert_eq!(h["typ"], "statuslist+jwt");
    assert_eq!(c["status_list"]["bits"], 1);
    assert_eq!(
        ietf_decode(c["status_list"]["lst"].as_str().expect("lst")),
        vec![0xb9, 0xa3]
    );
    let jwk = josekit::jwk::Jwk::from_bytes(signed["issuer_public_jwk"].to_string()).expect("jwk");
    let verifier = josekit::jws::ES256
        .verifier_from_jwk(&jwk)
        .expect("verifier");
    josekit::jwt::decode_with_verifier(jwt, &verifier).expect("the example's signature verifies");
    // W3C example: 131,072 entries, all zero.
    let w = w3c_decode(
        v["w3c_bitstring_status_list"]["encodedList"]
            .as_str()
            .expect("list"),
    );
    assert_eq!(w.len(), 16384);
    assert!(w.iter().all(|b| *b == 0));
}

async fn fetch_jwt(t: &TestApp, path: &str, media: &str) -> (String, String) {
    let r = t.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    assert_eq!(r.content_type(), media);
    assert!(
        r.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("max-age"))
    );
    let etag = r
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (r.text(), etag)
}

/// Verify a JWT against the served JWKS with josekit's own EdDSA (OpenSSL) verifier.
async fn verify_with_jwks(t: &TestApp, jwt: &str) -> Value {
    let jwks = t.get("/.well-known/jwks.json").await.json();
    let (h, _) = jwt_parts(jwt);
    let kid = h["kid"].as_str().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid in JWKS");
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).expect("jwk");
    let v = josekit::jws::EdDSA
        .verifier_from_jwk(&jwk)
        .expect("verifier");
    let (payload, _) =
        josekit::jws::deserialize_compact(jwt, &v).expect("signature verifies against the JWKS");
    serde_json::from_slice(&payload).expect("json")
}

async fn status_lists(t: TestApp) {
    // Five credentials: one stays valid, one revoked, one suspended, one suspended then
    // reinstated, one superseded.
    let mut creds = Vec::new();
    for n in ["أ", "ب", "ت", "ث", "ج"] {
        creds.push(t.issue_id(n).await);
    }
    let id = |i: usize| creds[i]["id"].as_str().expect("id").to_owned();
    let slot = |i: usize| {
        (
            creds[i]["status_list"].as_i64().expect("list"),
            creds[i]["status_index"].as_i64().expect("idx") as usize,
        )
    };
    let list = slot(0).0;
    assert!(creds.iter().all(|c| c["status_list"] == list));
    let (before, etag0) =
        fetch_jwt(&t, &format!("/status/{list}"), "application/statuslist+jwt").await;
    let claims = verify_with_jwks(&t, &before).await;
    assert_eq!(
        claims["sub"],
        format!("https://sanad.example.gov/status/{list}")
    );
    assert_eq!(claims["status_list"]["bits"], 2);
    let bytes = ietf_decode(claims["status_list"]["lst"].as_str().expect("lst"));
    assert!(bytes.len() * 4 >= 131_072, "at least 131,072 entries");
    for i in 0..5 {
        assert_eq!(ietf_entry(&bytes, 2, slot(i).1), 0);
    }
    // Not modified while nothing changes.
    let req = axum::http::Request::get(format!("/status/{list}"))
        .header("if-none-match", &etag0)
        .body(axum::body::Body::empty())
        .expect("r");
    assert_eq!(t.send(req).await.status, StatusCode::NOT_MODIFIED);

    assert_eq!(
        t.action(&id(1), "revoke", "fraud").await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.action(&id(2), "suspend", "under_review").await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.action(&id(3), "suspend", "lost").await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.action(&id(3), "reinstate", "review_cleared").await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.action(&id(4), "reissue", "data_changed").await.status,
        StatusCode::CREATED
    );

    // The published list reflects the changes at once (well within 1 s).
    let started = std::time::Instant::now();
    let (after, etag1) =
        fetch_jwt(&t, &format!("/status/{list}"), "application/statuslist+jwt").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_ne!(etag0, etag1);
    let claims = verify_with_jwks(&t, &after).await;
    let bytes = ietf_decode(claims["status_list"]["lst"].as_str().expect("lst"));
    let got: Vec<u8> = (0..5).map(|i| ietf_entry(&bytes, 2, slot(i).1)).collect();
    assert_eq!(
        got,
        [0, 1, 2, 0, 3],
        "valid, revoked, suspended, reinstated, superseded"
    );

    // W3C lists: revocation (revoked and superseded) and suspension.
    for (purpose, expect) in [
        ("revocation", [false, true, false, false, true]),
        ("suspension", [false, false, true, false, false]),
    ] {
        let (jwt, _) = fetch_jwt(
            &t,
            &format!("/status/w3c/{list}/{purpose}"),
            "application/vc+jwt",
        )
        .await;
        let (h, _) = jwt_parts(&jwt);
        assert_eq!(h["typ"], "vc+jwt");
        let vc = verify_with_jwks(&t, &jwt).await;
        assert_eq!(
            vc["type"],
            json!(["VerifiableCredential", "BitstringStatusListCredential"])
        );
        assert_eq!(vc["credentialSubject"]["statusPurpose"], purpose);
        let bits = w3c_decode(
            vc["credentialSubject"]["encodedList"]
                .as_str()
                .expect("list"),
        );
        assert_eq!(bits.len() * 8, 131_072);
        let got: Vec<bool> = (0..5).map(|i| w3c_bit(&bits, slot(i).1)).collect();
        assert_eq!(got, expect, "{purpose}");
        assert_eq!(
            bits.iter().map(|b| b.count_ones()).sum::<u32>(),
            expect.iter().filter(|x| **x).count() as u32,
            "no other bit set"
        );
    }
    t.get("/status/999")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    t.get(&format!("/status/w3c/{list}/refresh"))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}
both_dbs!(status_lists_both, status_lists);

/// VC 2.0 rules, written here from the spec rather than taken from src/.
fn assert_vc20(vc: &Value, kind_type: &str) {
    assert_eq!(
        vc["@context"][0], "https://www.w3.org/ns/credentials/v2",
        "base context first"
    );
    let types = vc["type"].as_array().expect("type array");
    assert!(types.contains(&json!("VerifiableCredential")));
    assert!(types.contains(&json!(kind_type)));
    let issuer = vc["issuer"]["id"].as_str().expect("issuer id");
    assert!(issuer.starts_with("https://"), "issuer is a URL");
    assert!(vc["credentialSubject"].is_object());
    let vf = vc["validFrom"].as_str().expect("validFrom");
    assert!(
        time::OffsetDateTime::parse(vf, &time::format_description::well_known::Rfc3339).is_ok(),
        "validFrom is RFC 3339: {vf}"
    );
    assert!(vc.get("validUntil").is_none(), "no expiry");
    let cs = vc["credentialStatus"]
        .as_array()
        .expect("credentialStatus array");
    let purposes: Vec<_> = cs
        .iter()
        .map(|e| e["statusPurpose"].as_str().expect("purpose"))
        .collect();
    assert_eq!(purposes, ["revocation", "suspension"]);
    for e in cs {
        assert_eq!(e["type"], "BitstringStatusListEntry");
        assert!(
            e["statusListIndex"]
                .as_str()
                .expect("index is a string")
                .parse::<u64>()
                .is_ok()
        );
        assert!(
            e["statusListCredential"]
                .as_str()
                .expect("url")
                .starts_with("https://")
        );
        assert!(e["id"].as_str().expect("id").contains('#'));
    }
}

async fn full_credentials_and_vc_api(t: TestApp) {
    let c = t.issue_id("فاطمة أحمد").await;
    let id = c["id"].as_str().expect("id");
    let r = t
        .call(
            Method::GET,
            &format!("/api/v1/credentials/{id}/vc"),
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.content_type(), "application/vc+jwt");
    let jwt = r.text();
    let (h, _) = jwt_parts(&jwt);
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["typ"], "vc+jwt");
    assert_eq!(h["cty"], "vc");
    let vc = verify_with_jwks(&t, &jwt).await;
    assert_vc20(&vc, "SanadDigitalId");
    assert_eq!(vc["id"], format!("https://sanad.example.gov/v/{id}"));
    assert_eq!(
        vc["credentialStatus"][0]["statusListIndex"],
        c["status_index"].to_string()
    );
    let v = t.verify(json!({"credential": jwt})).await;
    assert_eq!(v["outcome"], "valid", "{v}");

    let d = t.issue_doc_upload(b"a document").await;
    let r = t
        .call(
            Method::GET,
            &format!("/api/v1/credentials/{}/vc", d["id"].as_str().expect("id")),
            Some(&t.token),
            None,
        )
        .await;
    let dvc = verify_with_jwks(&t, &r.text()).await;
    assert_vc20(&dvc, "SanadDocumentCertificate");
    assert_eq!(dvc["credentialSubject"]["sha256"], d["document_sha256"]);

    // VC-API issue: the given credential comes back enveloped, with issuer and status added.
    let input = json!({"credential": {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "EligibilityCredential"],
        "credentialSubject": {"name": "Fatima", "eligibleFor": "housing support"}
    }});
    let r = t.post("/credentials/issue", input.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let env = r.json()["verifiableCredential"].clone();
    assert_eq!(env["type"], "EnvelopedVerifiableCredential");
    let jwt = env["id"]
        .as_str()
        .expect("id")
        .strip_prefix("data:application/vc+jwt,")
        .expect("data URL")
        .to_owned();
    let vc = verify_with_jwks(&t, &jwt).await;
    assert_eq!(vc["credentialSubject"]["eligibleFor"], "housing support");
    assert_eq!(
        vc["issuer"]["id"],
        "https://sanad.example.gov/agencies/MOSD"
    );
    assert_eq!(vc["credentialStatus"].as_array().map(Vec::len), Some(2));
    // VC-API verify: public, enveloped or bare.
    for body in [
        json!({"verifiableCredential": env}),
        json!({"verifiableCredential": jwt}),
    ] {
        let r = t
            .call(Method::POST, "/credentials/verify", None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let j = r.json();
        assert_eq!(j["verified"], true, "{j}");
        assert!(
            j["checks"]
                .as_array()
                .expect("checks")
                .contains(&json!("signature"))
        );
    }
    // Revoking it shows in VC-API verification.
    let vid = vc["id"]
        .as_str()
        .expect("id")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    assert_eq!(
        t.action(&vid, "revoke", "issued_in_error").await.status,
        StatusCode::OK
    );
    // VC-API: a credential that fails verification is a 400 problem naming the check.
    let j = t
        .call(
            Method::POST,
            "/credentials/verify",
            None,
            Some(json!({"verifiableCredential": jwt})),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    assert_eq!(j["verified"], false);
    assert_eq!(j["outcome"], "revoked");
    assert_eq!(j["errors"][0]["check"], "status");
    // A tampered VC fails.
    let mut p: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(&p[1]).expect("b64")).expect("json");
    claims["credentialSubject"]["eligibleFor"] = json!("everything");
    p[1] = B64.encode(claims.to_string());
    let j = t
        .call(
            Method::POST,
            "/credentials/verify",
            None,
            Some(json!({"verifiableCredential": p.join(".")})),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    assert_eq!(j["verified"], false);
    assert_eq!(j["outcome"], "invalid");
    // Bad input: 400 problems.
    let r = t.post("/credentials/issue", json!({"credential": {"type": ["VerifiableCredential"], "credentialSubject": {"a": 1}}})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    let r = t.post("/credentials/issue", json!({"credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"], "credentialSubject": {"a": 1}, "validUntil": "2030-01-01"}})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    t.call(Method::POST, "/credentials/issue", None, Some(input))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    t.call(
        Method::POST,
        "/credentials/verify",
        None,
        Some(json!({"verifiableCredential": 5})),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST);
}
both_dbs!(
    full_credentials_and_vc_api_both,
    full_credentials_and_vc_api
);

async fn key_rotation_and_revocation(t: TestApp) {
    let agency = sanad::domain::AgencyCode::parse("MOSD").expect("code");
    let old = t.issue_id("قبل التدوير").await;
    let old_kid = old["kid"].as_str().expect("kid").to_owned();
    let (new_key, retired) =
        sanad::keys::rotate(&t.app.store, &t.app.config.keys_dir, agency, "test")
            .await
            .expect("rotate");
    assert_eq!(retired, vec![old_kid.clone()]);
    t.app.reload_keys().await.expect("reload");
    let after = t.issue_id("بعد التدوير").await;
    assert_eq!(after["kid"], new_key.kid.as_str(), "the new key signs");
    // Both keys are served; the old credential still verifies.
    let jwks = t.get("/.well-known/jwks.json").await.json();
    let kids: Vec<_> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect();
    assert!(kids.contains(&old_kid) && kids.contains(&new_key.kid));
    for c in [&old, &after] {
        assert_eq!(
            t.verify(json!({"qr": c["qr_text"]})).await["outcome"],
            "valid"
        );
    }
    let trust = t.get("/.well-known/sanad-trust-list").await.text();
    let (_, tl) = jwt_parts(&trust);
    let status_of = |kid: &str| {
        tl["agencies"][0]["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["status"].clone())
    };
    assert_eq!(status_of(&old_kid), Some(json!("retired")));
    assert_eq!(status_of(&new_key.kid), Some(json!("active")));

    // Revoke the old key: its credential verifies as key_revoked and the key leaves the JWKS.
    let another_old = t.issue_id("x").await; // signed by the new key: unaffected
    sanad::keys::revoke(
        &t.app.store,
        &t.app.config.keys_dir,
        &old_kid,
        "key file leaked",
        "test",
    )
    .await
    .expect("revoke");
    t.app.reload_keys().await.expect("reload");
    let v = t.verify(json!({"qr": old["qr_text"]})).await;
    assert_eq!(v["outcome"], "key_revoked", "{v}");
    // Every path says so (issue #8): by bare id, the live record's JSON and its page.
    let old_id = old["id"].as_str().expect("id");
    let v = t.verify(json!({"id": old_id})).await;
    assert_eq!(v["outcome"], "key_revoked", "{v}");
    let rec = t.get_json(&format!("/v/{old_id}")).await.json();
    assert_eq!(rec["key_revoked"], true, "{rec}");
    let page = t.get(&format!("/v/{old_id}")).await.text();
    assert!(page.contains("Signing key revoked"), "{page}");
    let fresh = t
        .get_json(&format!("/v/{}", another_old["id"].as_str().expect("id")))
        .await
        .json();
    assert!(fresh.get("key_revoked").is_none(), "{fresh}");
    assert_eq!(
        t.verify(json!({"qr": another_old["qr_text"]})).await["outcome"],
        "valid"
    );
    let jwks = t.get("/.well-known/jwks.json").await.json();
    assert!(
        !jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == old_kid.as_str())
    );
    // Bulk re-issue: replacements valid, originals superseded.
    let (ok, failed) = sanad::issuance::reissue_signed_by(&t.app, &old_kid, "test")
        .await
        .expect("bulk");
    assert_eq!((ok, failed), (1, 0));
    let orig = t
        .get_json(&format!("/v/{}", old["id"].as_str().expect("id")))
        .await
        .json();
    assert_eq!(orig["status"], "superseded");
    let new_id = orig["superseded_by"]
        .as_str()
        .expect("replacement")
        .to_owned();
    let replacement = t
        .call(
            Method::GET,
            &format!("/api/v1/credentials/{new_id}"),
            Some(&t.token),
            None,
        )
        .await
        .json();
    assert_eq!(replacement["kid"], new_key.kid.as_str());
    assert_eq!(replacement["status_reason_code"], Value::Null);
    assert_eq!(
        t.verify(json!({"qr": replacement["qr_text"]})).await["outcome"],
        "valid"
    );
    // Nothing is left to re-issue.
    assert_eq!(
        sanad::issuance::reissue_signed_by(&t.app, &old_kid, "test")
            .await
            .expect("bulk"),
        (0, 0)
    );
    let audit: Vec<String> = t
        .app
        .store
        .audit_entries()
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in ["key.generate", "key.retire", "key.revoke"] {
        assert!(audit.iter().any(|x| x == a), "{a} audited");
    }
}
both_dbs!(
    key_rotation_and_revocation_both,
    key_rotation_and_revocation
);

/// Deployment A serves on a real port; deployment B imports A's trust list and verifies A's
/// credentials, reading their live status from A. A tampered list is refused.
async fn federation(db: helpers::Db) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let a_dir = helpers::temp_dir();
    let Some(a_url) = helpers::database_url(db, &a_dir).await else {
        return;
    };
    let mut a_cfg = sanad::config::Config::for_tests(a_url, a_dir.join("keys"));
    a_cfg.public_url = format!("http://127.0.0.1:{port}");
    let a = helpers::spawn_with(a_cfg, a_dir).await.expect("A");
    let a_router = a.router.clone();
    tokio::spawn(async move { axum::serve(listener, a_router).await });

    let b_dir = helpers::temp_dir();
    let Some(b_url) = helpers::database_url(db, &b_dir).await else {
        return;
    };
    let mut b_cfg = sanad::config::Config::for_tests(b_url, b_dir.join("keys"));
    b_cfg.default_agency = "MOJ".into();
    b_cfg.public_url = "http://b.example".into();
    let b = helpers::spawn_with_agency(b_cfg, b_dir, "MOJ")
        .await
        .expect("B");

    let c = a.issue_id("مواطن من أ").await;
    // Before the import, B does not trust A.
    assert_eq!(
        b.verify(json!({"qr": c["qr_text"]})).await["outcome"],
        "unknown_issuer"
    );

    // A tampered list is refused.
    let jwt = a.get("/.well-known/sanad-trust-list").await.text();
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(&parts[1]).expect("b64")).expect("json");
    claims["agencies"][0]["name_en"] = json!("Ministry of Something Else");
    parts[1] = B64.encode(claims.to_string());
    let file = b.dir.join("tampered.jwt");
    std::fs::write(&file, parts.join(".")).expect("write");
    let err = sanad::app::import_trust(&b.app.store, file.to_str().expect("path"), None)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("signature"), "{err}");
    // A wrong pin is refused.
    assert!(
        sanad::app::import_trust(
            &b.app.store,
            &format!("http://127.0.0.1:{port}"),
            Some("nope")
        )
        .await
        .is_err()
    );

    // The genuine list, fetched from A's URL.
    let list = sanad::app::import_trust(&b.app.store, &format!("http://127.0.0.1:{port}"), None)
        .await
        .expect("import");
    assert_eq!(list.agencies[0].code, "MOSD");
    b.app.reload_keys().await.expect("reload");
    let v = b.verify(json!({"qr": c["qr_text"]})).await;
    assert_eq!(v["outcome"], "valid", "{v}");
    assert_eq!(
        v["credential"]["issuer"]["deployment"],
        format!("http://127.0.0.1:{port}"),
        "names the issuer's deployment"
    );
    assert_eq!(
        v["credential"]["issuer"]["name_ar"],
        "وزارة التنمية الاجتماعية"
    );
    // A revocation at A reaches B (after B's short cache of A's list).
    assert_eq!(
        a.action(c["id"].as_str().expect("id"), "revoke", "fraud")
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(sanad::status::remote::REMOTE_TTL + std::time::Duration::from_millis(200))
        .await;
    assert_eq!(
        b.verify(json!({"qr": c["qr_text"]})).await["outcome"],
        "revoked"
    );
    // B's own credentials are unaffected, and B's trust list lists only B's agencies.
    let own = b.issue_id("مواطن من ب").await;
    assert_eq!(
        b.verify(json!({"qr": own["qr_text"]})).await["outcome"],
        "valid"
    );
    let (_, bl) = jwt_parts(&b.get("/.well-known/sanad-trust-list").await.text());
    assert_eq!(bl["agencies"].as_array().map(Vec::len), Some(1));
    assert_eq!(bl["agencies"][0]["code"], "MOJ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_sqlite() {
    federation(helpers::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_postgres() {
    federation(helpers::Db::Postgres).await;
}
