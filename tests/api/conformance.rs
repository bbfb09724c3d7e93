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
