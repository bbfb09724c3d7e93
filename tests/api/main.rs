//! Integration tests: the real router on SQLite and on PostgreSQL.

mod access;
mod audit_log;
mod authz;
mod bounded;
mod bulk;
mod callers;
mod conformance;
mod console_bulk;
mod desk;
mod events;
mod helpers;
mod holder;
mod photo;
mod qr_photos;
mod second_instance;
mod standards;
mod tools;
mod trust_holes;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use helpers::{TestApp, multipart};
use serde_json::{Value, json};

/// A 40-character Arabic name, the size budget's reference case.
const ARABIC_40: &str = "عبدالرحمن محمد عبدالله إبراهيم العبدالله";

fn outcome(v: &Value) -> &str {
    v["outcome"].as_str().unwrap_or("<none>")
}

fn check_names(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}={}", c["name"].as_str().unwrap_or(""), c["ok"]))
        .collect()
}

fn decode_png(png: &[u8]) -> String {
    // rxing (a ZXing port, independent of the `qrcode` encoder that drew the PNG).
    let img = image::load_from_memory(png).expect("png").to_luma8();
    sanad::render::qr_read::decode_luma(img).expect("decodes")
}

/// Decode with zbarimg (an independent C decoder) when installed; required under CI.
fn zbar_decode(png: &[u8], dir: &std::path::Path) -> Option<String> {
    let path = dir.join(format!("{}.png", helpers::unique("qr")));
    std::fs::write(&path, png).expect("write png");
    match std::process::Command::new("zbarimg")
        .args(["--raw", "-q", "-Sbinary"])
        .arg(&path)
        .output()
    {
        Ok(out) if out.status.success() => {
            let mut s = String::from_utf8(out.stdout).expect("utf-8");
            if s.ends_with('\n') {
                s.pop();
            }
            Some(s)
        }
        Ok(out) => panic!("zbarimg failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but zbarimg is missing: {e}");
            }
            helpers::report_skip(
                "zbarimg cross-check",
                &format!("{e} (apt-get install zbar-tools)"),
            );
            None
        }
    }
}

async fn issue_read_scan_verify(t: TestApp) {
    let c = t.issue_id("فاطمة أحمد الحربي").await;
    let id = c["id"].as_str().expect("id");
    assert_eq!(id.len(), 16);
    assert_eq!(c["status"], "active");
    assert_eq!(c["kind"], "digital_id");
    let qr_text = c["qr_text"].as_str().expect("qr text");
    assert!(qr_text.starts_with(&format!("https://sanad.example.gov/v/{id}#")));

    // The token carries no expiry and no national ID.
    let token = c["token"].as_str().expect("token");
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "EdDSA");
    assert!(
        header.get("typ").is_none(),
        "a QR token is the one kind without typ (keys::kind)"
    );
    assert_eq!(header["kid"].as_str().map(str::len), Some(8));
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    assert!(claims.get("exp").is_none());
    assert!(
        !parts[1].is_empty()
            && !String::from_utf8_lossy(&B64.decode(parts[1]).expect("b64")).contains("1098765432")
    );
    assert_eq!(claims["n"], "فاطمة أحمد الحربي");

    // Live record, HTML: Arabic first, RTL, status in words.
    let page = t.get(&format!("/v/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type().starts_with("text/html"));
    let html = page.text();
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#));
    assert!(html.contains("سارية") && html.contains("Valid"));
    assert!(html.contains("فاطمة أحمد الحربي"));
    assert!(html.contains("وزارة التنمية الاجتماعية"));
    assert!(
        !html.contains("1098765432"),
        "no national ID on the public page"
    );
    assert!(
        !html.contains("1988-04-12"),
        "no date of birth on the public page"
    );

    // Live record, JSON: exactly the public fields.
    let j = t.get_json(&format!("/v/{id}")).await;
    assert_eq!(j.status, StatusCode::OK);
    let j = j.json();
    let mut keys: Vec<_> = j.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "id",
            "issued_at",
            "issuer",
            "kind",
            "name_as_printed",
            "status",
            "status_at",
            "status_reason_code",
            "superseded_by"
        ]
    );
    assert_eq!(j["issuer"]["code"], "MOSD");
    assert_eq!(j["status"], "active");

    // QR: PNG decodes (two independent decoders) to the exact text; SVG has a white ground.
    let png = t.get(&format!("/v/{id}/qr.png")).await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.content_type(), "image/png");
    assert_eq!(decode_png(&png.body), qr_text);
    if let Some(z) = zbar_decode(&png.body, &t.dir) {
        assert_eq!(z, qr_text, "zbarimg reads the same text");
    }
    let svg = t.get(&format!("/v/{id}/qr.svg")).await;
    assert_eq!(svg.content_type(), "image/svg+xml");
    assert!(svg.text().contains(r##"fill="#ffffff""##));
    let reference = t.get(&format!("/v/{id}/qr.png?ref=1")).await;
    assert_eq!(
        decode_png(&reference.body),
        format!("https://sanad.example.gov/v/{id}")
    );

    // Verify by every input form.
    for body in [
        json!({"qr": qr_text}),
        json!({"token": token}),
        json!({"id": id}),
    ] {
        let v = t.verify(body.clone()).await;
        assert_eq!(outcome(&v), "valid", "{body} -> {v}");
        assert_eq!(v["credential"]["id"], id);
        assert_eq!(v["credential"]["name_as_printed"], "فاطمة أحمد الحربي");
    }
    let v = t.verify(json!({"qr": qr_text})).await;
    assert_eq!(
        check_names(&v),
        [
            "origin=true",
            "format=true",
            "issuer_trusted=true",
            "signature=true",
            "key_status=true",
            "status=true"
        ]
    );
    // A photo of the QR (PNG body) and a multipart image.
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(png.body.clone()))
        .expect("req");
    let r = t.send(req).await;
    assert_eq!(outcome(&r.json()), "valid");
    let (ct, body) = multipart(&[], Some(("image", "qr.png", "image/png", &png.body)));
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .expect("req");
    assert_eq!(outcome(&t.send(req).await.json()), "valid");

    // Read and list through the API.
    let r = t
        .call(
            Method::GET,
            &format!("/api/v1/credentials/{id}"),
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(r.json()["id"], id);
    let l = t
        .call(
            Method::GET,
            "/api/v1/credentials?kind=digital_id&limit=10",
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(l.json()["items"].as_array().map(Vec::len), Some(1));
    // An unknown id is not_found, never an error.
    assert_eq!(
        outcome(&t.verify(json!({"id": "0000000000000000"})).await),
        "not_found"
    );
    assert_eq!(
        t.get_json("/v/0000000000000000").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/v/0000000000000000").await.status,
        StatusCode::NOT_FOUND
    );
}
both_dbs!(issue_read_scan_verify_both, issue_read_scan_verify);

async fn documents(t: TestApp) {
    let file = b"%PDF-1.7 the certified letter, page 1".to_vec();
    let c = t.issue_doc_upload(&file).await;
    let id = c["id"].as_str().expect("id");
    assert_eq!(c["kind"], "document");
    let digest = sanad::domain::DocumentDigest::of(&file).hex();
    assert_eq!(c["document_sha256"], digest, "Sanad computes the SHA-256");
    let qr = c["qr_text"].as_str().expect("qr");
    let claims: Value = serde_json::from_slice(
        &B64.decode(
            c["token"]
                .as_str()
                .expect("t")
                .split('.')
                .nth(1)
                .expect("p"),
        )
        .expect("b64"),
    )
    .expect("json");
    assert!(
        claims.get("k").is_none(),
        "the kind is implied by the digest"
    );
    assert!(claims["d"].is_string());

    // Verify with the file: match; with another file: document_mismatch.
    for (bytes, expect) in [
        (&file[..], "valid"),
        (&b"%PDF-1.7 a forged letter"[..], "document_mismatch"),
    ] {
        let (ct, body) = multipart(
            &[("qr", qr)],
            Some(("file", "x.pdf", "application/pdf", bytes)),
        );
        let req = Request::post("/api/v1/verify")
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("req");
        let r = t.send(req).await;
        let v = r.json();
        assert_eq!(outcome(&v), expect, "{v}");
        assert!(
            check_names(&v)
                .iter()
                .any(|c| c.starts_with("document_digest="))
        );
    }

    // By digest plus metadata.
    let r = t
        .post(
            "/api/v1/credentials",
            json!({"kind": "document", "sha256": digest, "doc_type": "letter", "number": "A-1",
                   "title": "Eligibility", "recipient_name": "Fatima", "issue_date": "2026-01-02"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Bad digest and bad date are 422 problems naming the field.
    let r = t
        .post(
            "/api/v1/credentials",
            json!({"kind": "document", "sha256": "abc", "doc_type": "letter", "number": "A-1",
                   "title": "Eligibility", "recipient_name": "Fatima", "issue_date": "2026-01-02"}),
        )
        .await;
    assert_eq!(
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY)["field"],
        "sha256"
    );
    // The live page of a document.
    assert!(
        t.get(&format!("/v/{id}"))
            .await
            .text()
            .contains("فاطمة أحمد الحربي")
    );
    // Empty upload.
    let (ct, body) = multipart(
        &[
            ("doc_type", "x"),
            ("number", "1"),
            ("title", "t"),
            ("recipient_name", "r"),
            ("issue_date", "2026-01-01"),
        ],
        Some(("file", "e.pdf", "application/pdf", b"")),
    );
    let req = Request::post("/api/v1/credentials/document")
        .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .expect("req");
    t.send(req)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}
both_dbs!(documents_both, documents);

/// Finding 9: the status is reported before the document check, and upload limits are
/// exact (20 MiB = 20,971,520 bytes of file).
async fn document_status_first_and_exact_limits(t: TestApp) {
    let file = b"%PDF-1.7 the certified letter".to_vec();
    let c = t.issue_doc_upload(&file).await;
    let id = c["id"].as_str().expect("id");
    let qr = c["qr_text"].as_str().expect("qr").to_owned();
    let verify_with = |bytes: Vec<u8>| {
        let (ct, body) = multipart(
            &[("qr", &qr)],
            Some(("file", "x.pdf", "application/pdf", &bytes)),
        );
        Request::post("/api/v1/verify")
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("req")
    };
    let r = t.action(id, "revoke", "fraud").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Revoked, checked with the wrong file: `revoked`, with the failed digest check shown.
    let v = t
        .send(verify_with(b"%PDF-1.7 another letter".to_vec()))
        .await
        .json();
    assert_eq!(outcome(&v), "revoked", "{v}");
    let names = check_names(&v);
    assert!(names.contains(&"status=false".to_owned()), "{names:?}");
    assert!(
        names.contains(&"document_digest=false".to_owned()),
        "{names:?}"
    );
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("revoked") && r.contains("not the certified document")),
        "{v}"
    );
    // Revoked, with the right file: `revoked`, digest check passed.
    let v = t.send(verify_with(file.clone())).await.json();
    assert_eq!(outcome(&v), "revoked", "{v}");
    assert!(
        check_names(&v).contains(&"document_digest=true".to_owned()),
        "{v}"
    );

    // Upload limits, to the byte.
    let limit = sanad::web::api::MAX_DOCUMENT_BYTES;
    assert_eq!(
        limit, 20_971_520,
        "the README states 20 MiB = 20,971,520 bytes"
    );
    let upload = |n: usize| {
        let (ct, body) = multipart(
            &[
                ("doc_type", "x"),
                ("number", "1"),
                ("title", "t"),
                ("recipient_name", "r"),
                ("issue_date", "2026-01-01"),
            ],
            Some(("file", "big.pdf", "application/pdf", &vec![b'a'; n])),
        );
        Request::post("/api/v1/credentials/document")
            .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("req")
    };
    for n in [21_000_000, limit + 1] {
        let p = t
            .send(upload(n))
            .await
            .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("20971520 bytes")),
            "{p}"
        );
    }
    let r = t.send(upload(limit)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // The same limit on a verification upload.
    t.send(verify_with(vec![b'a'; limit + 1]))
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
}
both_dbs!(
    document_status_first_and_exact_limits_both,
    document_status_first_and_exact_limits
);

async fn lifecycle(t: TestApp) {
    let c = t.issue_id("مريم خالد").await;
    let id = c["id"].as_str().expect("id").to_owned();
    let qr = c["qr_text"].as_str().expect("qr").to_owned();

    // suspend -> suspended everywhere
    let r = t.action(&id, "suspend", "under_review").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "suspended");
    let v = t.verify(json!({"qr": qr})).await;
    assert_eq!(outcome(&v), "suspended");
    assert_eq!(v["credential"]["status_reason_code"], "under_review");
    assert!(
        t.get(&format!("/v/{id}"))
            .await
            .text()
            .contains("موقوفة مؤقتاً")
    );
    // suspend again: illegal
    t.action(&id, "suspend", "under_review")
        .await
        .assert_problem(StatusCode::CONFLICT);
    // reinstate -> valid
    let r = t.action(&id, "reinstate", "review_cleared").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(outcome(&t.verify(json!({"qr": qr})).await), "valid");
    // reinstate an active one: illegal
    t.action(&id, "reinstate", "review_cleared")
        .await
        .assert_problem(StatusCode::CONFLICT);
    // revoke -> revoked (final)
    let r = t.action(&id, "revoke", "fraud").await;
    assert_eq!(r.json()["status"], "revoked");
    let v = t.verify(json!({"qr": qr})).await;
    assert_eq!(outcome(&v), "revoked");
    assert_eq!(
        t.get_json(&format!("/v/{id}")).await.json()["status"],
        "revoked"
    );
    assert!(t.get(&format!("/v/{id}")).await.text().contains("ملغاة"));
    for action in ["reinstate", "suspend", "revoke", "reissue"] {
        let p = t
            .action(&id, action, "other")
            .await
            .assert_problem(StatusCode::CONFLICT);
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains("revoked")),
            "{p}"
        );
    }

    // re-issue: the old one superseded with a link, the new one valid
    let c2 = t.issue_id("سارة علي").await;
    let id2 = c2["id"].as_str().expect("id").to_owned();
    let qr2 = c2["qr_text"].as_str().expect("qr").to_owned();
    // suspended credentials can be re-issued too
    assert_eq!(
        t.action(&id2, "suspend", "lost").await.status,
        StatusCode::OK
    );
    let r = t.action(&id2, "reissue", "data_changed").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let new = r.json();
    let new_id = new["id"].as_str().expect("id").to_owned();
    assert_ne!(new_id, id2);
    assert_eq!(new["supersedes"], id2.as_str());
    let v = t.verify(json!({"qr": qr2})).await;
    assert_eq!(outcome(&v), "superseded");
    assert_eq!(v["credential"]["superseded_by"], new_id.as_str());
    let page = t.get(&format!("/v/{id2}")).await.text();
    assert!(
        page.contains(&format!("/v/{new_id}")),
        "the page links the replacement"
    );
    assert_eq!(
        outcome(&t.verify(json!({"qr": new["qr_text"]})).await),
        "valid"
    );
    for action in ["reinstate", "suspend", "revoke", "reissue"] {
        t.action(&id2, action, "other")
            .await
            .assert_problem(StatusCode::CONFLICT);
    }
    // An unknown reason code is refused with 422.
    let r = t
        .post(
            &format!("/api/v1/credentials/{new_id}/suspend"),
            json!({"reason_code": "bored"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Every change is in the audit log, and the chain verifies.
    let entries = t.app.store.audit_entries().await.expect("audit");
    let actions: Vec<_> = entries.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "credential.issue",
        "credential.suspended",
        "credential.active",
        "credential.revoked",
        "credential.superseded",
    ] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
    assert_eq!(sanad::audit::verify_chain(&entries), Ok(entries.len()));
    assert!(
        entries.iter().all(|e| !e.detail.contains("case 7781")),
        "free text stays out of the audit detail"
    );
}
both_dbs!(lifecycle_both, lifecycle);

/// Tokens that must be refused, each with its outcome; none may cause a 500.
async fn bad_tokens(t: TestApp) {
    let c = t.issue_id("ليلى").await;
    let other = t.issue_id("هدى").await;
    let token = c["token"].as_str().expect("t").to_owned();
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let other_sig = other["token"]
        .as_str()
        .expect("t")
        .split('.')
        .nth(2)
        .expect("sig")
        .to_owned();
    let header: Value = serde_json::from_slice(&B64.decode(&parts[0]).expect("b64")).expect("json");
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let enc = |v: Value| B64.encode(v.to_string());
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(&parts[1]).expect("b64")).expect("json");
    claims["n"] = json!("شخص آخر");
    let tampered = format!("{}.{}.{}", parts[0], enc(claims), parts[2]);
    let cases: Vec<(&str, String, &str)> = vec![
        ("tampered payload", tampered, "invalid"),
        (
            "swapped signature",
            format!("{}.{}.{}", parts[0], parts[1], other_sig),
            "invalid",
        ),
        (
            "alg none",
            format!("{}.{}.", enc(json!({"alg": "none", "kid": kid})), parts[1]),
            "invalid",
        ),
        (
            "alg none with sig",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "none", "kid": kid})),
                parts[1],
                parts[2]
            ),
            "invalid",
        ),
        (
            "HS256",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "HS256", "kid": kid})),
                parts[1],
                parts[2]
            ),
            "invalid",
        ),
        (
            "unknown kid",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "EdDSA", "kid": "AAAAAAAA"})),
                parts[1],
                parts[2]
            ),
            "unknown_issuer",
        ),
        (
            "no kid",
            format!("{}.{}.{}", enc(json!({"alg": "EdDSA"})), parts[1], parts[2]),
            "unknown_issuer",
        ),
        (
            "crit",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "EdDSA", "kid": kid, "crit": ["exp"]})),
                parts[1],
                parts[2]
            ),
            "invalid",
        ),
        (
            "jku",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "EdDSA", "kid": kid, "jku": "https://evil.example/jwks"})),
                parts[1],
                parts[2]
            ),
            "invalid",
        ),
        (
            "x5u",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "EdDSA", "kid": kid, "x5u": "https://evil.example/cert"})),
                parts[1],
                parts[2]
            ),
            "invalid",
        ),
        (
            "jwk",
            format!(
                "{}.{}.{}",
                enc(json!({"alg": "EdDSA", "kid": kid, "jwk": {"kty": "OKP"}})),
                parts[1],
                parts[2]
            ),
            "invalid",
        ),
        ("truncated", token[..token.len() - 10].to_owned(), "invalid"),
        ("two parts", format!("{}.{}", parts[0], parts[1]), "invalid"),
        (
            "oversized",
            format!("{}.{}.{}", parts[0], "A".repeat(10_000), parts[2]),
            "invalid",
        ),
        ("garbage", "not a token at all".into(), "invalid"),
        ("empty", String::new(), "invalid"),
    ];
    for (what, tok, expect) in cases {
        let v = t.verify(json!({"token": tok})).await;
        assert_eq!(outcome(&v), expect, "{what}: {v}");
        assert!(v["reason"].is_string(), "{what} gives a reason");
        assert!(v.get("credential").is_none(), "{what} shows no credential");
        // The same token inside a QR text is refused too (an empty fragment is a
        // reference-only QR, checked by id: that one is tested elsewhere).
        if tok.is_empty() {
            continue;
        }
        let qr = format!(
            "https://sanad.example.gov/v/{}#{tok}",
            c["id"].as_str().expect("id")
        );
        let v = t.verify(json!({"qr": qr})).await;
        assert_ne!(outcome(&v), "valid", "{what} via qr");
    }
    // A genuine token under another credential's link.
    let qr = format!(
        "https://sanad.example.gov/v/{}#{}",
        other["id"].as_str().expect("id"),
        token
    );
    assert_eq!(outcome(&t.verify(json!({"qr": qr})).await), "invalid");
    // Malformed QR texts.
    for qr in [
        "",
        "https://sanad.example.gov/",
        "https://sanad.example.gov/v/short#1234",
        "https://x/v/0123456789abcdef#123",
    ] {
        assert_eq!(
            outcome(&t.verify(json!({"qr": qr})).await),
            "invalid",
            "{qr}"
        );
    }
}
both_dbs!(bad_tokens_both, bad_tokens);

/// Scans that arrive together are checked in batches (keys::batch): genuine tokens and
/// tampered ones mixed in the same batches each get their own answer, and a failed batch
/// never fails the genuine tokens in it.
async fn concurrent_scans(t: TestApp) {
    let mut good = Vec::new();
    for name in ["سلمى", "مريم", "نورة", "خالد"] {
        let c = t.issue_id(name).await;
        good.push(c["token"].as_str().expect("token").to_owned());
    }
    let enc = |v: Value| B64.encode(v.to_string());
    let mut cases: Vec<(String, &str)> = Vec::new();
    for (i, token) in good.iter().enumerate() {
        let parts: Vec<&str> = token.split('.').collect();
        let other = good[(i + 1) % good.len()].split('.').nth(2).expect("sig");
        let mut claims: Value =
            serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
        claims["n"] = json!("شخص آخر");
        cases.push((token.clone(), "valid"));
        cases.push((format!("{}.{}.{other}", parts[0], parts[1]), "invalid"));
        cases.push((
            format!("{}.{}.{}", parts[0], enc(claims), parts[2]),
            "invalid",
        ));
    }
    // Each token is sent once (the verified-token cache never answers), many at once.
    t.app.verified.clear();
    let before = t.app.batch.stats();
    let mut tasks = Vec::new();
    for round in 0..10 {
        for (token, expect) in &cases {
            let router = t.router.clone();
            let body = json!({ "token": token }).to_string();
            let expect = *expect;
            tasks.push(tokio::spawn(async move {
                let req = Request::post("/api/v1/verify")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .expect("req");
                let res = tower::ServiceExt::oneshot(router, req)
                    .await
                    .expect("infallible");
                let body = http_body_util::BodyExt::collect(res.into_body())
                    .await
                    .expect("body")
                    .to_bytes();
                let v: Value = serde_json::from_slice(&body).expect("json");
                (round, expect, v)
            }));
        }
    }
    for task in tasks {
        let (round, expect, v) = task.await.expect("task");
        assert_eq!(outcome(&v), expect, "round {round}: {v}");
    }
    let after = t.app.batch.stats();
    let (rounds, signatures) = (
        after.rounds - before.rounds,
        after.signatures - before.signatures,
    );
    // Genuine tokens may be answered from the cache once verified; every tampered one
    // is checked each time.
    assert!(signatures >= 80, "{signatures} signatures checked");
    assert!(
        rounds < signatures,
        "{signatures} signatures in {rounds} rounds: no batch formed"
    );
    assert!(after.rechecked > before.rechecked, "no batch failed");
}
both_dbs!(concurrent_scans_both, concurrent_scans);

async fn bad_requests(t: TestApp) {
    // Not JSON, wrong content type, wrong shape, too many inputs, too large.
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .expect("r");
    t.send(req).await.assert_problem(StatusCode::BAD_REQUEST);
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("hello"))
        .expect("r");
    t.send(req)
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = t
        .call(
            Method::POST,
            "/api/v1/verify",
            None,
            Some(json!({"qr": "a", "token": "b"})),
        )
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    let r = t
        .call(
            Method::POST,
            "/api/v1/verify",
            None,
            Some(json!({"nonsense": 1})),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let big = vec![b'a'; 21 * 1024 * 1024];
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(big))
        .expect("r");
    t.send(req)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(&b"not a png"[..]))
        .expect("r");
    t.send(req).await.assert_problem(StatusCode::BAD_REQUEST);
    let big_json = json!({"name_ar": "x".repeat(70_000), "name_en": "x", "date_of_birth": "2000-01-01", "national_id": "12345", "programme": "p"});
    t.post("/api/v1/persons", big_json)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    // Unknown route and method.
    t.get("/nope").await.assert_problem(StatusCode::NOT_FOUND);
    t.call(Method::DELETE, "/api/v1/verify", None, None)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED);
    // Invalid person fields name the field.
    let r = t
        .post("/api/v1/persons", json!({"name_ar": "", "name_en": "x", "date_of_birth": "2000-01-01", "national_id": "12345", "programme": "p"}))
        .await;
    assert_eq!(
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY)["field"],
        "name_ar"
    );
}
both_dbs!(bad_requests_both, bad_requests);

async fn auth_and_agencies(t: TestApp) {
    let c = t.issue_id("نورة").await;
    let id = c["id"].as_str().expect("id");
    let pid = c["person_id"].as_str().expect("pid");
    // No token, bad token: 401.
    t.call(Method::GET, "/api/v1/credentials", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    t.call(
        Method::GET,
        "/api/v1/credentials",
        Some("sanad_nope_nope"),
        None,
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED);
    // A read-only token cannot issue or revoke.
    let ro = sanad::app::create_api_token(&t.app.store, "MOSD", &["read".into()], "ro")
        .await
        .expect("token");
    t.call(
        Method::POST,
        &format!("/api/v1/credentials/{id}/revoke"),
        Some(&ro),
        Some(json!({"reason_code": "fraud"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    t.call(
        Method::POST,
        "/api/v1/credentials",
        Some(&ro),
        Some(json!({"kind": "digital_id", "person_id": pid})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(
        t.call(
            Method::GET,
            &format!("/api/v1/credentials/{id}"),
            Some(&ro),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    // Another agency's registrar sees nothing of MOSD's records.
    t.app
        .store
        .insert_agency(&sanad::storage::AgencyRow {
            code: "MOJ".into(),
            name_ar: "وزارة العدل".into(),
            name_en: "Ministry of Justice".into(),
            base_url: String::new(),
            created_at: 0,
            origin: String::new(),
        })
        .await
        .expect("agency");
    let moj = sanad::app::create_api_token(
        &t.app.store,
        "MOJ",
        &["issue".into(), "revoke".into(), "read".into()],
        "moj",
    )
    .await
    .expect("token");
    t.call(
        Method::GET,
        &format!("/api/v1/credentials/{id}"),
        Some(&moj),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    t.call(
        Method::GET,
        &format!("/api/v1/persons/{pid}"),
        Some(&moj),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    t.call(
        Method::POST,
        &format!("/api/v1/credentials/{id}/revoke"),
        Some(&moj),
        Some(json!({"reason_code": "fraud"})),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    t.call(
        Method::POST,
        "/api/v1/credentials",
        Some(&moj),
        Some(json!({"kind": "digital_id", "person_id": pid})),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    let l = t
        .call(Method::GET, "/api/v1/credentials", Some(&moj), None)
        .await
        .json();
    assert_eq!(l["items"].as_array().map(Vec::len), Some(0));
    // And the credential is still active.
    assert_eq!(outcome(&t.verify(json!({"id": id})).await), "valid");
}
both_dbs!(auth_and_agencies_both, auth_and_agencies);

/// SPEC §2 budget, measured: ID with a 40-character Arabic name ≤ v14 at M and ≤ v17 at Q;
/// document ≤ v15 at M.
async fn qr_budget(t: TestApp) {
    assert_eq!(ARABIC_40.chars().count(), 40);
    let c = t.issue_id(ARABIC_40).await;
    let text = c["qr_text"].as_str().expect("qr");
    let m = sanad::render::qr::encode(text, qrcode::EcLevel::M).expect("fits");
    let q = sanad::render::qr::encode(text, qrcode::EcLevel::Q).expect("fits");
    let (vm, vq) = (
        sanad::render::qr::version_of(&m),
        sanad::render::qr::version_of(&q),
    );
    eprintln!(
        "QR digital_id (40-char Arabic name): {} chars of text, version {vm} at M, {vq} at Q",
        text.len()
    );
    assert!(vm <= 14, "digital_id at M is version {vm}");
    assert!(vq <= 17, "digital_id at Q is version {vq}");
    // What the served PNG holds is that same version (modules + 8 quiet modules, 8 px each).
    let png = t
        .get(&format!("/v/{}/qr.png", c["id"].as_str().expect("id")))
        .await;
    let img = image::load_from_memory(&png.body).expect("png");
    assert_eq!(img.width(), ((vm as u32) * 4 + 17 + 8) * 8);
    assert_eq!(decode_png(&png.body), text);

    let d = t.issue_doc_upload(b"certified document bytes").await;
    let dt = d["qr_text"].as_str().expect("qr");
    let dm = sanad::render::qr::version_of(
        &sanad::render::qr::encode(dt, qrcode::EcLevel::M).expect("fits"),
    );
    eprintln!("QR document: {} chars of text, version {dm} at M", dt.len());
    assert!(dm <= 15, "document at M is version {dm}");
}
both_dbs!(qr_budget_both, qr_budget);

async fn ops_endpoints(t: TestApp) {
    assert_eq!(t.get("/healthz").await.json()["status"], "ok");
    assert_eq!(t.get("/readyz").await.json()["status"], "ready");
    let jwks = t.get("/.well-known/jwks.json").await;
    let keys = jwks.json()["keys"].as_array().cloned().expect("keys");
    // One key, listed under its thumbprint and under the short kid QR tokens carry.
    assert_eq!(keys.len(), 2);
    let (full, short) = (
        keys[0]["kid"].as_str().expect("kid"),
        keys[1]["kid"].as_str().expect("kid"),
    );
    assert_eq!(full.len(), 43);
    assert_eq!(short, &full[..8]);
    assert_eq!(keys[0]["x"], keys[1]["x"]);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert!(keys[0].get("d").is_none(), "no private part in the JWKS");
    let api = t.get("/api/openapi.json").await.json();
    assert_eq!(api["openapi"], "3.1.0");
    for path in [
        "/api/v1/persons",
        "/api/v1/persons/{id}",
        "/api/v1/credentials",
        "/api/v1/credentials/{id}",
        "/api/v1/credentials/document",
        "/api/v1/credentials/{id}/suspend",
        "/api/v1/credentials/{id}/reinstate",
        "/api/v1/credentials/{id}/revoke",
        "/api/v1/credentials/{id}/reissue",
        "/api/v1/verify",
        "/v/{id}",
        "/v/{id}/qr.png",
        "/v/{id}/qr.svg",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
    ] {
        assert!(api["paths"].get(path).is_some(), "{path} in OpenAPI");
    }
    // Security headers on every answer: a page, the public verify answer, a 404 from the
    // fallback and an API error.
    let verify = t
        .call(
            Method::POST,
            "/api/v1/verify",
            None,
            Some(json!({"qr": "not a sanad code"})),
        )
        .await;
    let missing = t.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let unauthorised = t.call(Method::GET, "/api/v1/credentials", None, None).await;
    assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED);
    let healthz = t.get("/healthz").await;
    for (what, r) in [
        ("healthz", &healthz),
        ("verify", &verify),
        ("404", &missing),
        ("401", &unauthorised),
    ] {
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(r.headers["x-frame-options"], "DENY", "{what}");
        assert_eq!(r.headers["referrer-policy"], "no-referrer", "{what}");
        assert!(
            r.headers["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("frame-ancestors 'none'"),
            "{what}"
        );
    }
    // `no-store` on the API's answers, even an error, but not on the public verify answer.
    assert_eq!(unauthorised.headers["cache-control"], "private, no-store");
    assert!(
        verify
            .headers
            .get("cache-control")
            .is_none_or(|v| v != "private, no-store")
    );
    // `/verifier` is sent on to the app's folder.
    let r = t.get("/verifier").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers["location"], "/verifier/");
}
both_dbs!(ops_endpoints_both, ops_endpoints);

/// A restart keeps everything: statuses come back from the database into memory, the key
/// file is reused, and the key file has mode 0600.
async fn restart_keeps_state(t: TestApp) {
    let c = t.issue_id("أمل").await;
    let id = c["id"].as_str().expect("id").to_owned();
    assert_eq!(
        t.action(&id, "suspend", "lost").await.status,
        StatusCode::OK
    );
    let config = t.app.config.clone();
    let kid_before = t.get("/.well-known/jwks.json").await.json()["keys"][0]["kid"].clone();
    drop(t.router);
    t.app.store.pool().close().await;
    let app = sanad::app::App::build(config).await.expect("rebuild");
    let router = sanad::web::router(app.clone());
    let t2 = TestApp {
        app,
        router,
        token: t.token,
        dir: t.dir,
        db: t.db,
    };
    let v = t2.verify(json!({"qr": c["qr_text"]})).await;
    assert_eq!(outcome(&v), "suspended", "status reloaded into memory: {v}");
    assert_eq!(
        t2.get("/.well-known/jwks.json").await.json()["keys"][0]["kid"],
        kid_before
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let keys: Vec<_> = std::fs::read_dir(&t2.app.config.keys_dir)
            .expect("dir")
            .filter_map(Result::ok)
            .collect();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            keys[0].metadata().expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
}
both_dbs!(restart_keeps_state_both, restart_keeps_state);

/// Issue 14 finding 8: a test's PostgreSQL database is dropped when the test ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_test_databases_are_dropped() {
    let Some(t) = helpers::spawn(helpers::Db::Postgres).await else {
        return;
    };
    let name = t.db.as_ref().expect("a guarded database").name.clone();
    let admin = std::env::var("SANAD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = sqlx::AnyPool::connect(&admin).await.expect("admin");
    let exists = |pool: sqlx::AnyPool, name: String| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(exists(pool.clone(), name.clone()).await, 1);
    t.issue_id("نورة").await;
    drop(t);
    assert_eq!(
        exists(pool.clone(), name.clone()).await,
        0,
        "{name} dropped"
    );
    pool.close().await;
}
