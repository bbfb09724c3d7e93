//! Issue #8: nothing a caller sends may come back signed as something Sanad trusts.
//!
//! Every kind of artefact Sanad signs is presented to every verifier of another kind, and
//! each must refuse it; the forgeries of the issue's findings 1–3 are reproduced (including
//! tokens an older Sanad could have signed, made here with the agency's real key) and
//! refused; a QR token's status slot must belong to its credential.

use crate::both_dbs;
use crate::helpers::{self, TestApp};
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sanad::keys::Artefact;
use sanad::keys::kind;
use serde_json::{Value, json};

/// One real sample of every signed kind, made by the running app.
async fn samples(t: &TestApp) -> Vec<(Artefact, String)> {
    let c = t.issue_id("فاطمة").await;
    let id = c["id"].as_str().expect("id");
    let qr = c["token"].as_str().expect("token").to_owned();
    let full = t
        .call(
            Method::GET,
            &format!("/api/v1/credentials/{id}/vc"),
            Some(&t.token),
            None,
        )
        .await
        .text();
    let r = t
        .post(
            "/credentials/issue",
            json!({"credential": {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential", "EligibilityCredential"],
                "credentialSubject": {"name": "Fatima", "eligibleFor": "housing"}
            }}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let vcapi = r.json()["verifiableCredential"]["id"]
        .as_str()
        .expect("envelope")
        .strip_prefix("data:application/vc+jwt,")
        .expect("data url")
        .to_owned();
    let list = c["status_list"].as_i64().expect("list");
    let ietf = t.get(&format!("/status/{list}")).await.text();
    let w3c = t
        .get(&format!("/status/w3c/{list}/revocation"))
        .await
        .text();
    let trust = t.get("/.well-known/sanad-trust-list").await.text();
    let checkpoint = sanad::audit::checkpoint(&t.app)
        .await
        .expect("checkpoint")
        .signature;
    let key = t.app.deployment_key().expect("key");
    let event = kind::sign(
        Artefact::Event,
        &json!({"event": "credential.revoked", "credential": id}),
        &key.signer(&key.kid),
    )
    .expect("event");
    vec![
        (Artefact::QrToken, qr),
        (Artefact::FullCredential, full),
        (Artefact::VcApiCredential, vcapi),
        (Artefact::IetfStatusList, ietf),
        (Artefact::W3cStatusList, w3c),
        (Artefact::TrustList, trust),
        (Artefact::AuditCheckpoint, checkpoint),
        (Artefact::Event, event),
    ]
}

/// Does the verifier of kind `as_kind` accept `jws`? The real verifier for each kind Sanad
/// verifies itself; for the W3C status list and events (verified by other parties' tools,
/// and by the events module to come) the central `keys::kind` check they are to use.
async fn accepted_as(t: &TestApp, as_kind: Artefact, jws: &str) -> bool {
    match as_kind {
        Artefact::QrToken => {
            let v = t.verify(json!({"token": jws})).await;
            let digits = sanad::domain::token_to_digits(jws);
            let q = t
                .verify(
                    json!({"qr": format!("https://sanad.example.gov/v/0123456789abcdef#{digits}")}),
                )
                .await;
            assert!(
                q["outcome"] != "valid",
                "a QR text around another kind must not verify: {q}"
            );
            v["outcome"] == "valid"
        }
        Artefact::FullCredential | Artefact::VcApiCredential => {
            let v = t.verify(json!({"credential": jws})).await;
            let r = t
                .call(
                    Method::POST,
                    "/credentials/verify",
                    None,
                    Some(json!({"verifiableCredential": jws})),
                )
                .await;
            // VC-API: 200 only for a verified credential, 400 naming the failed checks.
            assert!(
                r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
                "{}",
                r.text()
            );
            let verified = r.status == StatusCode::OK && r.json()["verified"] == true;
            let both = (v["outcome"] == "valid", verified);
            assert_eq!(both.0, both.1, "the two credential verifiers agree: {v}");
            both.0
        }
        Artefact::IetfStatusList => {
            // A status list of this deployment is fetched as another deployment's would be:
            // pretend this deployment's own keys come from that origin by checking the kind
            // first (the origin rule would refuse every sample otherwise).
            match sanad::status::remote::parse_list(&t.app.keys, "https://elsewhere", jws) {
                Ok(_) => true,
                Err(e) => {
                    // Our own list is refused only for its origin, after the kind check.
                    !e.contains("not a ")
                }
            }
        }
        Artefact::TrustList => sanad::keys::trust::parse_verified(jws, None).is_ok(),
        Artefact::AuditCheckpoint => sanad::audit::verify_checkpoint(&t.app.store, jws)
            .await
            .expect("store")
            .is_ok(),
        Artefact::W3cStatusList | Artefact::Event => {
            let Ok(h) = kind::expect(jws, as_kind) else {
                return false;
            };
            let Some(key) = t.app.keys.get(&h.kid) else {
                return false;
            };
            sanad::keys::verify_compact(jws, &key.verifier)
                .ok()
                .is_some_and(|p| kind::expect_payload(&p, as_kind).is_ok())
        }
    }
}

/// Each verifier accepts its own kind (so the test can fail) and refuses all seven others.
async fn every_kind_against_every_verifier(t: TestApp) {
    let samples = samples(&t).await;
    for (as_kind, _) in &samples {
        for (kind_of, jws) in &samples {
            let ok = accepted_as(&t, *as_kind, jws).await;
            let own = kind_of == as_kind
                // One credential verifier serves both credential kinds.
                || matches!(
                    (kind_of, as_kind),
                    (Artefact::FullCredential, Artefact::VcApiCredential)
                        | (Artefact::VcApiCredential, Artefact::FullCredential)
                );
            assert_eq!(
                ok,
                own,
                "{} presented as {}: accepted = {ok}",
                kind_of.name(),
                as_kind.name()
            );
        }
    }
}
both_dbs!(
    every_kind_against_every_verifier_both,
    every_kind_against_every_verifier
);

fn vcapi(extra: Value) -> Value {
    let mut c = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "EligibilityCredential"],
        "credentialSubject": {"name": "Mallory"}
    });
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
    }
    json!({ "credential": c })
}

/// A compact JWS signed with the agency's real key exactly as an older Sanad would have
/// signed a VC-API credential: what the verifiers must refuse even if one exists.
fn legacy_sign(t: &TestApp, typ: Option<&str>, payload: &Value, short: bool) -> String {
    let key = t.app.deployment_key().expect("key");
    let kid = if short { key.short_kid() } else { &key.kid };
    let signer = key.signer(kid);
    let mut header = josekit::jws::JwsHeader::new();
    if let Some(typ) = typ {
        header.set_token_type(typ);
    }
    josekit::jws::serialize_compact(payload.to_string().as_bytes(), &header, &signer).expect("sign")
}

/// Findings 1–3: the API refuses each forgery at issue time, naming the member, and the
/// verifiers refuse the forged tokens an older Sanad could have signed.
async fn forgeries_refused(t: TestApp) {
    let victim = t.issue_id("الضحية").await;
    let vid = victim["id"].as_str().expect("id").to_owned();
    let slot = json!([victim["status_list"], victim["status_index"]]);

    // Finding 1: QR claims inside a VC-API credential.
    let r = t
        .post(
            "/credentials/issue",
            vcapi(json!({"i": "MOSD", "c": vid, "t": 1, "n": "Mallory", "s": slot, "d": "x"})),
        )
        .await;
    let p = r.assert_problem(StatusCode::BAD_REQUEST);
    assert_eq!(p["type"], "urn:sanad:problem:reserved-member");
    for m in ["i", "c", "t", "n", "s", "d"] {
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!(" {m}"))),
            "{m} named: {p}"
        );
    }
    // The same forgery signed the old way (vc+jwt carrying QR claims) is not a QR token.
    let legacy = legacy_sign(
        &t,
        Some("vc+jwt"),
        &json!({"i": "MOSD", "c": vid, "t": 1, "n": "Mallory", "s": slot,
                "type": ["VerifiableCredential"]}),
        false,
    );
    let v = t.verify(json!({"token": legacy})).await;
    assert_eq!(v["outcome"], "invalid", "{v}");
    let digits = sanad::domain::token_to_digits(&legacy);
    let v = t
        .verify(json!({"qr": format!("https://sanad.example.gov/v/{vid}#{digits}")}))
        .await;
    assert_eq!(v["outcome"], "invalid", "{v}");

    // Finding 2: a VC-API credential typed as a status list, at the top or in the subject.
    for body in [
        vcapi(json!({"type": ["VerifiableCredential", "BitstringStatusListCredential"]})),
        vcapi(json!({"credentialSubject": {"type": "BitstringStatusList", "encodedList": "u"}})),
        vcapi(json!({"type": ["VerifiableCredential", "StatusList2021Credential"]})),
    ] {
        let r = t.post("/credentials/issue", body).await;
        let p = r.assert_problem(StatusCode::BAD_REQUEST);
        assert!(
            p["field"].as_str().is_some_and(|f| f.ends_with("type")),
            "{p}"
        );
    }

    // Finding 3: registered claims, vc/vp/cnf/status, and Sanad's own types.
    for m in [
        "exp", "nbf", "iss", "sub", "aud", "iat", "jti", "cnf", "vc", "vp", "status",
    ] {
        let r = t.post("/credentials/issue", vcapi(json!({ m: 1 }))).await;
        let p = r.assert_problem(StatusCode::BAD_REQUEST);
        assert_eq!(p["field"], m, "{p}");
    }
    for ty in [
        "SanadDigitalId",
        "SanadDocumentCertificate",
        "sanadAnything",
    ] {
        let r = t
            .post(
                "/credentials/issue",
                vcapi(json!({"type": ["VerifiableCredential", ty]})),
            )
            .await;
        r.assert_problem(StatusCode::BAD_REQUEST);
    }
    let r = t
        .post(
            "/credentials/issue",
            vcapi(json!({"credentialStatus": {"type": "BitstringStatusListEntry"}})),
        )
        .await;
    assert_eq!(
        r.assert_problem(StatusCode::BAD_REQUEST)["field"],
        "credentialStatus"
    );
    // Nothing was issued by any of the refused requests.
    let list = t
        .call(Method::GET, "/api/v1/credentials", Some(&t.token), None)
        .await
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}
both_dbs!(forgeries_refused_both, forgeries_refused);

/// Finding 3, second half: a document part typed `application/vc+ld+json` is an ordinary
/// document, and its full credential is a Sanad certificate (never a 500).
async fn vc_media_type_upload(t: TestApp) {
    for file in [&b"{not json"[..], br#"{"type":["SanadDigitalId"],"exp":1}"#] {
        let (ct, body) = helpers::multipart(
            &[
                ("doc_type", "letter"),
                ("number", "N-1"),
                ("title", "t"),
                ("recipient_name", "r"),
                ("issue_date", "2026-11-20"),
            ],
            Some(("file", "x.json", "application/vc+ld+json", file)),
        );
        let req = axum::http::Request::post("/api/v1/credentials/document")
            .header(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {}", t.token),
            )
            .header(axum::http::header::CONTENT_TYPE, ct)
            .body(axum::body::Body::from(body))
            .expect("request");
        let r = t.send(req).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let vc = t
            .call(
                Method::GET,
                &format!("/api/v1/credentials/{id}/vc"),
                Some(&t.token),
                None,
            )
            .await;
        assert_eq!(vc.status, StatusCode::OK, "{}", vc.text());
        let payload: Value = serde_json::from_slice(
            &B64.decode(vc.text().split('.').nth(1).expect("payload"))
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(
            payload["type"],
            json!(["VerifiableCredential", "SanadDocumentCertificate"])
        );
        assert!(payload.get("exp").is_none());
    }
}
both_dbs!(vc_media_type_upload_both, vc_media_type_upload);

/// A QR token's slot must be its credential's: a token (signed with the real key, as a
/// forger with an old VC-API hole could have had) naming a made-up id or another
/// credential's slot is refused, even while the victim's slot is valid.
async fn slot_bound_to_credential(t: TestApp) {
    let victim = t.issue_id("الضحية").await;
    let mine = t.issue_id("المحتال").await;
    let slot = json!([victim["status_list"], victim["status_index"]]);
    let forged = |c: &str| {
        legacy_sign(
            &t,
            None,
            &json!({"i": "MOSD", "c": c, "t": 1, "n": "Mallory", "s": slot}),
            true,
        )
    };
    // Sanity: the victim's own slot and id, signed this way, verify (the signature and
    // kind are right), so only the binding can refuse the next two.
    let v = t
        .verify(json!({"token": forged(victim["id"].as_str().expect("id"))}))
        .await;
    assert_eq!(v["outcome"], "valid", "{v}");
    for c in [mine["id"].as_str().expect("id"), "0123456789abcdef"] {
        let v = t.verify(json!({"token": forged(c)})).await;
        assert_eq!(v["outcome"], "not_found", "{c}: {v}");
    }
    // Revoking the forger's own credential changes nothing for the victim's, and the
    // forger's token on the victim's slot still does not verify.
    assert_eq!(
        t.action(mine["id"].as_str().expect("id"), "revoke", "fraud")
            .await
            .status,
        StatusCode::OK
    );
    let v = t
        .verify(json!({"token": forged(mine["id"].as_str().expect("id"))}))
        .await;
    assert_ne!(v["outcome"], "valid", "{v}");
}
both_dbs!(slot_bound_to_credential_both, slot_bound_to_credential);

/// Finding 7: a QR text whose link is not under this deployment's (or a trusted
/// deployment's) base URL fails the named `origin` check; `javascript:` too.
async fn qr_origin_named(t: TestApp) {
    let c = t.issue_id("أصل").await;
    let text = c["qr_text"].as_str().expect("qr");
    let origin = |v: &Value| {
        v["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "origin")
            .cloned()
            .expect("origin check")
    };
    let v = t.verify(json!({ "qr": text })).await;
    assert_eq!(origin(&v)["ok"], true, "{v}");
    assert_eq!(v["outcome"], "valid");
    let fragment = text.split_once("/v/").expect("path").1;
    for other in [
        format!("https://sanad.example.gov.evil.example/v/{fragment}"),
        format!("javascript:alert(1)//sanad.example.gov/v/{fragment}"),
        format!("http://sanad.example.gov/v/{fragment}"),
    ] {
        let v = t.verify(json!({ "qr": other })).await;
        assert_eq!(origin(&v)["ok"], false, "{other}: {v}");
    }
}
both_dbs!(qr_origin_named_both, qr_origin_named);

/// Finding 7: the last enabled admin cannot be disabled (API and storage), another can.
async fn last_admin_stays(t: TestApp) {
    use sanad::auth::Role;
    let a = t.add_user("root1", Role::Admin, None).await;
    let err = t.app.store.disable_user(&a, "test").await;
    assert!(
        matches!(err, Err(sanad::storage::StoreError::Conflict(_))),
        "{err:?}"
    );
    let b = t.add_user("root2", Role::Admin, None).await;
    let Ok(admin) = t.login("root2", crate::callers::PW).await else {
        panic!("root2 signs in");
    };
    let r = t
        .req(
            &admin,
            Method::POST,
            &format!("/api/v1/users/{a}/disable"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // root2 is now the last one: refused with a 409, and still enabled.
    let r = t
        .req(
            &admin,
            Method::POST,
            &format!("/api/v1/users/{b}/disable"),
            None,
        )
        .await;
    r.assert_problem(StatusCode::CONFLICT);
    assert!(
        t.app
            .store
            .get_user(&b)
            .await
            .expect("user")
            .disabled_at
            .is_none()
    );
}
both_dbs!(last_admin_stays_both, last_admin_stays);

/// Finding 7: personal data is served `private, no-store`.
async fn personal_data_not_cached(t: TestApp) {
    let c = t.issue_id("خاص").await;
    let id = c["id"].as_str().expect("id");
    for path in [
        format!("/api/v1/credentials/{id}/vc"),
        format!("/api/v1/credentials/{id}"),
        format!("/api/v1/persons/{}", c["person_id"].as_str().unwrap_or("x")),
        "/api/v1/credentials".to_owned(),
    ] {
        let r = t.call(Method::GET, &path, Some(&t.token), None).await;
        assert_eq!(
            r.headers
                .get(axum::http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("private, no-store"),
            "{path}"
        );
    }
    let r = t.get("/console/login").await;
    assert_eq!(
        r.headers
            .get(axum::http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("private, no-store")
    );
}
both_dbs!(personal_data_not_cached_both, personal_data_not_cached);

/// Finding 7: the SQLite file and its WAL/SHM files are 0600, the data folder 0700.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_file_modes() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(t) = helpers::spawn(helpers::Db::Sqlite).await else {
        return;
    };
    t.issue_id("ملف").await; // writes: the WAL and SHM files exist now
    for f in ["test.db", "test.db-wal", "test.db-shm"] {
        let mode = std::fs::metadata(t.dir.join(f))
            .expect(f)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}: {mode:o}");
    }
    let data = t.dir.join("data").join("nested");
    sanad::storage::files::private_dir(&data).expect("dir");
    let mode = std::fs::metadata(&data).expect("dir").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // An existing, too-open folder is tightened.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    sanad::storage::files::private_dir(&data).expect("dir");
    let mode = std::fs::metadata(&data).expect("dir").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

async fn sql(t: &TestApp, q: &str) {
    sqlx::query(sqlx::AssertSqlSafe(q.to_owned()))
        .execute(t.app.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
}

/// Finding 4: every security-relevant row edited directly in the database is named by
/// `sanad audit verify`, and the live answer and published status stay what the chained
/// record says, also after a restart.
async fn direct_edits_are_named(t: TestApp) {
    use sanad::auth::Role;
    let revoked = t.issue_id("ملغاة").await;
    let rid = revoked["id"].as_str().expect("id").to_owned();
    assert_eq!(
        t.action(&rid, "revoke", "fraud").await.status,
        StatusCode::OK
    );
    let other = t.issue_id("أخرى").await;
    let oid = other["id"].as_str().expect("id").to_owned();
    let gone = t.issue_id("محذوفة").await;
    let gid = gone["id"].as_str().expect("id").to_owned();
    let pid = revoked["person_id"].as_str().expect("person").to_owned();
    let uid = t.add_user("clerk", Role::Registrar, Some("MOSD")).await;
    let tid: String = sqlx::query_scalar("SELECT id FROM api_tokens")
        .fetch_one(t.app.store.pool())
        .await
        .expect("token id");
    let kid = revoked["kid"].as_str().expect("kid").to_owned();
    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    assert!(ok, "clean before the edits: {text}");

    sql(
        &t,
        &format!(
            "UPDATE credentials SET status = 'active', status_reason_code = NULL WHERE id = '{rid}'"
        ),
    )
    .await;
    sql(
        &t,
        &format!("UPDATE credentials SET superseded_by = '{rid}' WHERE id = '{oid}'"),
    )
    .await;
    sql(
        &t,
        &format!("DELETE FROM status_changes WHERE credential_id = '{gid}'"),
    )
    .await;
    sql(&t, &format!("DELETE FROM credentials WHERE id = '{gid}'")).await;
    sql(
        &t,
        &format!("UPDATE persons SET national_id = '1111111111' WHERE id = '{pid}'"),
    )
    .await;
    sql(
        &t,
        &format!("UPDATE users SET role = 'approver' WHERE id = '{uid}'"),
    )
    .await;
    sql(&t, "INSERT INTO users (id, username, role, agency_code, password_hash, created_at) VALUES ('sqladmin', 'mallory', 'admin', NULL, 'x', 1)").await;
    sql(
        &t,
        &format!("UPDATE api_tokens SET scopes = 'issue,revoke,read,admin' WHERE id = '{tid}'"),
    )
    .await;
    sql(
        &t,
        &format!("UPDATE signing_keys SET status = 'retired' WHERE kid = '{kid}'"),
    )
    .await;
    sql(
        &t,
        "UPDATE agencies SET requires_approval = 1 WHERE code = 'MOSD'",
    )
    .await;

    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    eprintln!("{text}");
    assert!(!ok);
    for (table, key, how) in [
        ("credentials", rid.as_str(), "changed"),
        ("credentials", oid.as_str(), "changed"),
        ("credentials", gid.as_str(), "deleted"),
        ("persons", pid.as_str(), "changed"),
        ("users", uid.as_str(), "changed"),
        ("users", "sqladmin", "inserted"),
        ("api_tokens", tid.as_str(), "changed"),
        ("signing_keys", kid.as_str(), "changed"),
        ("agencies", "MOSD", "changed"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("{table} {key} was {how}"))),
            "{table} {key} {how} not named in:\n{text}"
        );
    }
    // The live answer stays "revoked": in this process, and in a fresh one on the edited
    // database (its status view is rebuilt from the chained record, not the rows).
    let v = t.verify(json!({"qr": revoked["qr_text"]})).await;
    assert_eq!(v["outcome"], "revoked", "{v}");
    let v = t.verify(json!({"id": rid})).await;
    assert_eq!(v["outcome"], "revoked", "{v}");
    // A fresh process refuses to start while the agency's only key reads `retired` (no
    // active key, and none is generated unasked): put that one edit back first.
    sql(
        &t,
        &format!("UPDATE signing_keys SET status = 'active' WHERE kid = '{kid}'"),
    )
    .await;
    let restarted = sanad::app::App::build(t.app.config.clone())
        .await
        .expect("restart");
    let id = sanad::domain::CredentialId::parse(&rid).expect("id");
    let v = sanad::verification::verify_id(&restarted, &id, None).await;
    assert_eq!(v.outcome, sanad::verification::Outcome::Revoked, "{v:?}");
    let (list, idx) = (
        revoked["status_list"].as_u64().expect("list") as u32,
        revoked["status_index"].as_u64().expect("idx") as u32,
    );
    let (published, _) = restarted.status.snapshot(list).expect("list");
    assert_eq!(published.get(idx), 1, "the published bit stays revoked");
    let v =
        sanad::verification::verify_qr(&restarted, revoked["qr_text"].as_str().expect("qr"), None)
            .await;
    assert_eq!(v.outcome, sanad::verification::Outcome::Revoked);
    // The deleted credential is not found, by id, in the restarted process.
    let gid = sanad::domain::CredentialId::parse(&gid).expect("id");
    let v = sanad::verification::verify_id(&restarted, &gid, None).await;
    assert_eq!(v.outcome, sanad::verification::Outcome::NotFound);
}
both_dbs!(direct_edits_are_named_both, direct_edits_are_named);

/// Finding 4, the log itself: checkpoints are signed automatically, and an entry appended
/// behind the log's back with recomputed hashes (so the chain alone looks intact) is named
/// once it is older than one interval.
async fn appended_entries_are_caught(t: TestApp) {
    let c = t.issue_id("سجل").await;
    let signed = sanad::audit::checkpoint_if_grown(&t.app)
        .await
        .expect("checkpoint")
        .expect("the log grew");
    assert!(
        sanad::audit::checkpoint_if_grown(&t.app)
            .await
            .expect("again")
            .is_none(),
        "no new checkpoint without new entries"
    );
    let now = sanad::storage::now();
    let store = &t.app.store;
    assert!(
        sanad::audit::checkpoint_problems(store, 60, now + 3600)
            .await
            .expect("problems")
            .is_empty()
    );
    // The forger appends "credential.active" for the credential, dated ten minutes ago,
    // with a correct chain and head.
    let (seq, prev) = store.audit_head().await.expect("head");
    let seq = seq + 1;
    let at = now - 600;
    let subject = c["id"].as_str().expect("id");
    let detail = r#"{"from":"revoked","to":"active"}"#;
    let hash = sanad::audit::entry_hash(
        &prev,
        seq,
        at,
        "user:x",
        "credential.active",
        subject,
        detail,
    );
    sqlx::query("INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(seq).bind(at).bind("user:x").bind("credential.active").bind(subject).bind(detail).bind(&prev).bind(&hash)
        .execute(store.pool()).await.expect("insert");
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(store.pool())
        .await
        .expect("head");
    assert!(
        sanad::audit::verify_store(store)
            .await
            .expect("chain")
            .is_ok(),
        "chain looks intact"
    );
    let p = sanad::audit::checkpoint_problems(store, 60, now)
        .await
        .expect("problems");
    assert!(
        p.iter()
            .any(|m| m.contains(&format!("entry {seq} is older than 60 s"))),
        "{p:?}"
    );
    // Even once the next automatic checkpoint covers it, its claimed time gives it away.
    assert_eq!(
        sanad::audit::checkpoint_if_grown(&t.app).await.expect("cp"),
        Some(signed + 1)
    );
    let p = sanad::audit::checkpoint_problems(store, 60, now)
        .await
        .expect("problems");
    assert!(
        p.iter()
            .any(|m| m.contains(&format!("entry {seq} claims a time"))),
        "{p:?}"
    );
    // Rewriting an old entry with the whole chain recomputed breaks the stored checkpoints.
    sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 1")
        .bind("0".repeat(64))
        .execute(store.pool())
        .await
        .expect("rewrite");
    let p = sanad::audit::checkpoint_problems(store, 60, now)
        .await
        .expect("problems");
    assert!(p.iter().any(|m| m.contains("rewritten")), "{p:?}");
}
both_dbs!(
    appended_entries_are_caught_both,
    appended_entries_are_caught
);

async fn behind_proxy(db: helpers::Db) -> Option<TestApp> {
    let dir = helpers::temp_dir();
    let url = helpers::database_url(db, &dir).await?;
    let mut config = sanad::config::Config::for_tests(url, dir.join("keys"));
    config.trusted_proxies = "127.0.0.1".into();
    config.rate_limit = 2.0;
    helpers::spawn_with(config, dir).await
}

/// A request through the proxy at 127.0.0.1 for client `xff`.
fn via_proxy(path: &str, xff: &str, body: Value) -> axum::http::Request<axum::body::Body> {
    let mut req = axum::http::Request::post(path)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", xff)
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    req
}

/// Finding 6: behind a trusted proxy, one attacker's failed sign-ins cannot lock out
/// another user, and the verify rate limit is per real client, not per proxy.
async fn proxy_throttling(db: helpers::Db) {
    use sanad::auth::Role;
    let Some(t) = behind_proxy(db).await else {
        return;
    };
    t.add_user("victim", Role::Registrar, Some("MOSD")).await;
    t.add_user("bystander", Role::Registrar, Some("MOSD")).await;
    let login = |user: &str, pw: &str, xff: &str| {
        via_proxy(
            "/api/v1/session",
            xff,
            json!({"username": user, "password": pw}),
        )
    };
    assert_eq!(
        t.send(login("victim", crate::callers::PW, "198.51.100.10"))
            .await
            .status,
        StatusCode::OK
    );
    // The attacker hammers the victim's account (and others) through the same proxy.
    let mut refused = 0;
    for i in 0..30 {
        let user = if i % 2 == 0 { "victim" } else { "ghost" };
        let r = t
            .send(login(user, "not the password", "203.0.113.66"))
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "the attacker is slowed down");
    // The victim (known address) and a bystander (another client behind the same proxy)
    // sign in at once.
    assert_eq!(
        t.send(login("victim", crate::callers::PW, "198.51.100.10"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        t.send(login("bystander", crate::callers::PW, "198.51.100.11"))
            .await
            .status,
        StatusCode::OK
    );
    // A forwarded header from a client that is not a trusted proxy is ignored: spoofing a
    // fresh address per attempt does not escape the address throttle.
    let peer: std::net::SocketAddr = "192.0.2.99:5555".parse().expect("addr");
    let mut last = StatusCode::OK;
    for i in 0..12 {
        let mut req = login("victim", "not the password", &format!("10.9.9.{i}"));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        last = t.send(req).await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Verify rate limit (2/s, burst 4): one client behind the proxy exhausts its own bucket
    // only.
    let verify = |xff: &str| via_proxy("/api/v1/verify", xff, json!({"id": "0123456789abcdef"}));
    let mut limited = false;
    for _ in 0..10 {
        if t.send(verify("203.0.113.66")).await.status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
        }
    }
    assert!(limited, "the flooding client is limited");
    assert_eq!(t.send(verify("198.51.100.10")).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_throttling_sqlite() {
    proxy_throttling(helpers::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_throttling_postgres() {
    proxy_throttling(helpers::Db::Postgres).await;
}
