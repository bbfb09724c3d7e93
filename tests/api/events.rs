//! Events: the outbox follows every change in its transaction, the pull feed pages through
//! it, the stream resumes from `Last-Event-ID`, watches and grants widen what an agency
//! hears, and webhooks deliver everything (signed, in order per credential) through
//! failures and timeouts.

use crate::both_dbs;
use crate::callers::{Caller, with_second_agency};
use crate::helpers::{self, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::IntoResponse as _;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

async fn events_token(t: &TestApp, agency: &str) -> String {
    match t.token_for(agency, &["events"]).await {
        Caller::Token(s) => s,
        _ => unreachable!(),
    }
}

async fn pull_all(t: &TestApp, token: &str, after: i64, limit: i64) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut cursor = after;
    let mut pages = 0;
    loop {
        let r = t
            .call(
                Method::GET,
                &format!("/api/v1/events?after={cursor}&limit={limit}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        pages += 1;
        let evs = j["events"].as_array().expect("events").clone();
        cursor = j["next_after"].as_i64().expect("next_after");
        let more = j["more"].as_bool().expect("more");
        out.extend(evs);
        if !more {
            return (out, pages);
        }
    }
}

fn types_of(evs: &[Value], cid: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e["credential_id"] == cid)
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

/// Every change writes its event; a refused change writes none; ids are one order; the
/// pull feed pages through the same events; no personal data in any event.
async fn outbox_and_pull(t: TestApp) {
    let tok = events_token(&t, "MOSD").await;
    let c = t.issue_id("عائشة المميزة").await;
    let cid = c["id"].as_str().expect("id").to_owned();
    for (action, reason) in [("suspend", "under_review"), ("reinstate", "review_cleared")] {
        let r = t.action(&cid, action, reason).await;
        assert_eq!(r.status, 200, "{action}: {}", r.text());
    }
    // An illegal change (reinstating an active credential) is refused: no event.
    let r = t.action(&cid, "reinstate", "review_cleared").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = t.action(&cid, "reissue", "data_changed").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let new_id = r.json()["id"].as_str().expect("new id").to_owned();
    let r = t.action(&new_id, "revoke", "fraud").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let code = sanad::domain::AgencyCode::parse("MOSD").expect("code");
    let (new_key, retired) =
        sanad::keys::rotate(&t.app.store, &t.app.config.keys_dir, code, "test")
            .await
            .expect("rotate");

    let (all, pages) = pull_all(&t, &tok, 0, 2).await;
    assert!(pages >= 4, "paged in {pages} pages");
    let (same, _) = pull_all(&t, &tok, 0, 500).await;
    assert_eq!(all, same, "small and large pages give the same feed");
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "one order: {ids:?}");
    assert_eq!(
        types_of(&all, &cid),
        [
            "credential.issued",
            "credential.suspended",
            "credential.reinstated",
            "credential.superseded"
        ]
    );
    assert_eq!(
        types_of(&all, &new_id),
        ["credential.issued", "credential.revoked"]
    );
    let superseded = all
        .iter()
        .find(|e| e["type"] == "credential.superseded")
        .expect("superseded");
    assert_eq!(superseded["superseded_by"], new_id.as_str());
    assert_eq!(superseded["status"], "superseded");
    assert_eq!(superseded["reason_code"], "data_changed");
    let reissued = all
        .iter()
        .find(|e| e["credential_id"] == new_id.as_str() && e["type"] == "credential.issued")
        .expect("re-issued");
    assert_eq!(reissued["supersedes"], cid.as_str());
    assert_eq!(reissued["kind"], "digital_id");
    assert_eq!(reissued["agency"], "MOSD");
    let key_events: Vec<(String, String)> = all
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("key.")))
        .map(|e| {
            (
                e["type"].as_str().expect("t").to_owned(),
                e["kid"].as_str().expect("kid").to_owned(),
            )
        })
        .collect();
    assert!(
        key_events.contains(&("key.generated".into(), new_key.kid.clone())),
        "{key_events:?}"
    );
    for kid in retired {
        assert!(key_events.contains(&("key.retired".into(), kid)));
    }
    // No personal data: names, national ID, reason free text.
    let text = serde_json::to_string(&all).expect("json");
    for secret in ["عائشة", "Fatima", "1098765432", "case 7781"] {
        assert!(!text.contains(secret), "{secret} in events");
    }
    // The events and their changes agree row for row: one event per status-feed row.
    let feed = t.app.store.changes_since(0, 10_000).await.expect("feed");
    let cred_events = all
        .iter()
        .filter(|e| e["credential_id"].is_string())
        .count();
    assert_eq!(feed.len(), cred_events);
    // after= skips what was seen.
    let (tail, _) = pull_all(&t, &tok, ids[ids.len() - 2], 100).await;
    assert_eq!(tail, all[all.len() - 1..]);
}

both_dbs!(outbox_and_pull_both, outbox_and_pull);

/// Another agency hears a credential only after watching it, and everything of an agency
/// only after an admin's grant.
async fn watches_and_grants(t: TestApp) {
    let t = with_second_agency(t).await;
    let moj = events_token(&t, "MOJ").await;
    let a = t.issue_id("أ").await["id"].as_str().expect("id").to_owned();
    let b = t.issue_id("ب").await["id"].as_str().expect("id").to_owned();
    let (seen, _) = pull_all(&t, &moj, 0, 100).await;
    assert!(seen.iter().all(|e| e["agency"] == "MOJ"), "{seen:?}");
    let r = t
        .call(
            Method::POST,
            "/api/v1/events/watches",
            Some(&moj),
            Some(json!({"credential_id": a})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = t
        .call(
            Method::POST,
            "/api/v1/events/watches",
            Some(&moj),
            Some(json!({"credential_id": "NOSUCHID0000"})),
        )
        .await;
    r.assert_problem(StatusCode::NOT_FOUND);
    t.action(&a, "suspend", "under_review").await;
    t.action(&b, "suspend", "under_review").await;
    let (seen, _) = pull_all(&t, &moj, 0, 100).await;
    assert_eq!(
        types_of(&seen, &a),
        ["credential.issued", "credential.suspended"]
    );
    assert!(types_of(&seen, &b).is_empty(), "b is not watched");
    assert!(
        seen.iter()
            .all(|e| e["agency"] == "MOJ" || e["credential_id"] == a.as_str())
    );
    sanad::storage::Store::insert_grant(&t.app.store, "MOJ", "MOSD", "test")
        .await
        .expect("grant");
    let (seen, _) = pull_all(&t, &moj, 0, 100).await;
    assert_eq!(
        types_of(&seen, &b),
        ["credential.issued", "credential.suspended"]
    );
}

both_dbs!(watches_and_grants_both, watches_and_grants);

/// Read SSE events from a body until `n` arrived (or `wait` passed); returns them.
async fn read_sse(body: &mut Body, n: usize, wait: Duration) -> Vec<(i64, String, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let deadline = Instant::now() + wait;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(frame))) = tokio::time::timeout(left, body.frame()).await else {
            break;
        };
        if let Ok(d) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&d));
        }
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut ev, mut data) = (None, String::new(), None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, ev, data));
            }
        }
    }
    out
}

async fn open_stream(t: &TestApp, token: &str, last: Option<i64>) -> Body {
    let mut b = Request::get("/api/v1/events/stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(l) = last {
        b = b.header("last-event-id", l.to_string());
    }
    let res = t
        .router
        .clone()
        .oneshot(b.body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    res.into_body()
}

/// Disconnect, make changes, reconnect with `Last-Event-ID`: exactly the missed events,
/// the same as the pull feed's; then live events arrive as they happen.
async fn sse_resume(t: TestApp) {
    let tok = events_token(&t, "MOSD").await;
    let start = t.app.store.last_event_id().await.expect("last");
    let mut body = open_stream(&t, &tok, Some(start)).await;
    let c = t.issue_id("سلمى").await;
    let cid = c["id"].as_str().expect("id").to_owned();
    let first = read_sse(&mut body, 1, Duration::from_secs(5)).await;
    let issued = first
        .iter()
        .find(|(_, ev, d)| ev == "credential.issued" && d["credential_id"] == cid.as_str())
        .expect("issued arrives live");
    let last_seen = issued.0;
    drop(body); // disconnect

    t.action(&cid, "suspend", "under_review").await;
    t.action(&cid, "reinstate", "review_cleared").await;
    t.action(&cid, "revoke", "fraud").await;

    let mut body = open_stream(&t, &tok, Some(last_seen)).await;
    let missed = read_sse(&mut body, 3, Duration::from_secs(5)).await;
    let (pulled, _) = pull_all(&t, &tok, last_seen, 100).await;
    assert_eq!(pulled.len(), 3);
    assert_eq!(
        missed.iter().map(|m| m.2.clone()).collect::<Vec<_>>(),
        pulled,
        "the stream resumes with exactly the missed events, as the feed has them"
    );
    assert_eq!(
        missed.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        [
            "credential.suspended",
            "credential.reinstated",
            "credential.revoked"
        ]
    );
    // Nothing more is pending.
    assert!(
        read_sse(&mut body, 1, Duration::from_millis(300))
            .await
            .is_empty()
    );
    // A bad Last-Event-ID is a clear 400-class problem.
    let res = t
        .router
        .clone()
        .oneshot(
            Request::get("/api/v1/events/stream")
                .header(header::AUTHORIZATION, format!("Bearer {tok}"))
                .header("last-event-id", "yesterday")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

both_dbs!(sse_resume_both, sse_resume);

/// A heartbeat comes when nothing happens.
#[tokio::test]
async fn sse_heartbeats() {
    let dir = helpers::temp_dir();
    let url = helpers::database_url(helpers::Db::Sqlite, &dir)
        .await
        .expect("url");
    let mut config = sanad::config::Config::for_tests(url, dir.join("keys"));
    config.events.heartbeat_secs = 1;
    let t = helpers::spawn_with(config, dir).await.expect("app");
    let tok = events_token(&t, "MOSD").await;
    let mut body = open_stream(&t, &tok, None).await;
    let frame = tokio::time::timeout(Duration::from_secs(3), body.frame())
        .await
        .expect("a heartbeat within 3 s")
        .expect("frame")
        .expect("ok");
    let text = String::from_utf8_lossy(&frame.into_data().expect("data")).into_owned();
    assert!(
        text.starts_with(':') && text.contains("heartbeat"),
        "{text:?}"
    );
}

// ----- webhooks ---------------------------------------------------------------------------

#[derive(Default)]
struct Receiver {
    /// Every request: (event id header, JWS body, answered 2xx).
    seen: Vec<(i64, String, bool)>,
    /// What to do with the next requests: 500, "sleep", or 200 when empty.
    script: Vec<&'static str>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn start_receiver(script: Vec<&'static str>, sleep: Duration) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Receiver {
        seen: Vec::new(),
        script,
    }));
    let state = shared.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let id: i64 = headers["sanad-event-id"]
                    .to_str()
                    .expect("h")
                    .parse()
                    .expect("id");
                let step = {
                    let mut g = state.lock().expect("lock");
                    if g.script.is_empty() {
                        "ok"
                    } else {
                        g.script.remove(0)
                    }
                };
                match step {
                    "fail" => {
                        state.lock().expect("lock").seen.push((id, body, false));
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                    "sleep" => {
                        state.lock().expect("lock").seen.push((id, body, false));
                        tokio::time::sleep(sleep).await;
                        StatusCode::OK.into_response()
                    }
                    "redirect" => {
                        state.lock().expect("lock").seen.push((id, body, false));
                        (
                            StatusCode::TEMPORARY_REDIRECT,
                            [(header::LOCATION, "http://elsewhere.example/hook")],
                        )
                            .into_response()
                    }
                    "big" => {
                        // A success with a 4 MB answer: read only in part, still a success.
                        state.lock().expect("lock").seen.push((id, body, true));
                        (StatusCode::OK, vec![b'x'; 4 << 20]).into_response()
                    }
                    _ => {
                        state.lock().expect("lock").seen.push((id, body, true));
                        StatusCode::NO_CONTENT.into_response()
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), shared)
}

async fn spawn_fast(db: helpers::Db) -> Option<TestApp> {
    let dir = helpers::temp_dir();
    let url = helpers::database_url(db, &dir).await?;
    let mut config = sanad::config::Config::for_tests(url, dir.join("keys"));
    config.events.webhook_timeout_ms = 400;
    config.events.backoff_base_ms = 30;
    config.events.backoff_max_ms = 200;
    config.events.poll_ms = 50;
    helpers::spawn_with(config, dir).await
}

/// Verify a delivery with josekit's own OpenSSL EdDSA verifier (not Sanad's dalek-backed
/// one) against the served JWKS; returns the payload.
fn verify_delivery(jws: &str, jwks: &Value) -> Value {
    let header: Value = {
        use base64::Engine as _;
        let h = jws.split('.').next().expect("header");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .expect("b64"),
        )
        .expect("header json")
    };
    assert_eq!(header["typ"], sanad::events::EVENT_JWT_TYP);
    let kid = header["kid"].as_str().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid in JWKS");
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string().as_bytes()).expect("jwk");
    let verifier = josekit::jws::EdDSA
        .verifier_from_jwk(&jwk)
        .expect("verifier");
    let (payload, _) =
        josekit::jws::deserialize_compact(jws, &verifier).expect("signature verifies");
    serde_json::from_slice(&payload).expect("payload")
}

/// A receiver that fails, then times out, then recovers gets every event: none lost,
/// repeats carry the same event id, order per credential holds, signatures verify.
async fn webhook_through_failures(t: TestApp) {
    let (url, rx) = start_receiver(
        vec!["fail", "fail", "redirect", "sleep", "big", "fail", "sleep"],
        Duration::from_millis(900),
    )
    .await;
    let tok = events_token(&t, "MOSD").await;
    let r = t
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(&tok),
            Some(json!({"url": url})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let wh = r.json()["id"].as_str().expect("id").to_owned();
    let registered_at = t.app.store.last_event_id().await.expect("last");
    let _worker = sanad::events::deliver::spawn(&t.app);

    let mut cids = Vec::new();
    for i in 0..3 {
        let c = t.issue_id(&format!("مستلم {i}")).await;
        cids.push(c["id"].as_str().expect("id").to_owned());
    }
    for cid in &cids {
        t.action(cid, "suspend", "under_review").await;
        t.action(cid, "reinstate", "review_cleared").await;
    }
    t.action(&cids[0], "revoke", "fraud").await;
    let (expected, _) = pull_all(&t, &tok, registered_at, 500).await;
    let expected_ids: Vec<i64> = expected
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(expected_ids.len(), 10);

    let start = Instant::now();
    loop {
        let delivered: std::collections::BTreeSet<i64> = rx
            .lock()
            .expect("lock")
            .seen
            .iter()
            .filter(|s| s.2)
            .map(|s| s.0)
            .collect();
        if expected_ids.iter().all(|id| delivered.contains(id)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not everything arrived: {delivered:?} of {expected_ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jwks = t.get("/.well-known/jwks.json").await.json();
    let seen = rx.lock().expect("lock").seen.clone();
    assert!(seen.iter().any(|s| !s.2), "the script made failures");
    let mut first_seen: Vec<(String, i64)> = Vec::new();
    let mut ids_per_event: HashMap<i64, Vec<Value>> = HashMap::new();
    for (id, jws, _) in &seen {
        let p = verify_delivery(jws, &jwks);
        assert_eq!(p["jti"], id.to_string(), "a delivery names its event");
        assert_eq!(p["event"]["id"], *id);
        assert_eq!(p["webhook"], wh.as_str());
        ids_per_event
            .entry(*id)
            .or_default()
            .push(p["event"].clone());
        let cid = p["event"]["credential_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !first_seen.iter().any(|(_, e)| e == id) {
            first_seen.push((cid, *id));
        }
    }
    // Repeats are the same event.
    for (id, evs) in &ids_per_event {
        assert!(
            evs.windows(2).all(|w| w[0] == w[1]),
            "event {id} changed between deliveries"
        );
        let want = expected
            .iter()
            .find(|e| e["id"] == *id)
            .expect("known event");
        assert_eq!(&evs[0], want);
    }
    assert!(
        ids_per_event.values().any(|v| v.len() > 1),
        "some event was delivered twice"
    );
    // The success with an oversized answer (5th request) counted: that event never came again.
    let big = seen[4].0;
    assert!(
        seen[5..].iter().all(|s| s.0 != big),
        "a 2xx with a 4 MB answer was retried"
    );
    // A delivery has one meaning: presented as a credential token it does not verify.
    let v = t.verify(json!({"token": seen[0].1})).await;
    assert_ne!(v["outcome"], "valid", "{v}");
    // Order per credential, in order of first arrival.
    for cid in &cids {
        let order: Vec<i64> = first_seen
            .iter()
            .filter(|(c, _)| c == cid)
            .map(|(_, e)| *e)
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{cid}: {order:?}");
    }
    // The delivery log says the same.
    let log = t
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{wh}/deliveries"),
            Some(&tok),
            None,
        )
        .await
        .json();
    let log = log.as_array().expect("log");
    assert_eq!(log.len(), 10);
    assert!(log.iter().all(|d| d["state"] == "delivered"));
    assert!(log.iter().any(|d| d["attempts"].as_i64() > Some(1)));
    // Manual redeliver sends the same event again.
    let d0 = &log[0];
    let r = t
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{wh}/deliveries/{}/redeliver", d0["id"]),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let before = seen.len();
    let start = Instant::now();
    while rx.lock().expect("lock").seen.len() == before {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redelivery did not come"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rx.lock().expect("lock").seen[before].0,
        d0["event_id"].as_i64().expect("e")
    );
    let audit = t.app.store.audit_entries().await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "webhook.redeliver" && e.subject == wh)
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "webhook.create" && e.subject == wh)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_through_failures_sqlite() {
    if let Some(t) = spawn_fast(helpers::Db::Sqlite).await {
        webhook_through_failures(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_through_failures_postgres() {
    if let Some(t) = spawn_fast(helpers::Db::Postgres).await {
        webhook_through_failures(t).await;
    }
}

/// An endpoint that stays dead past the retry window is disabled with a notice, audited and
/// shown by the API; enabling it retries what it missed.
async fn dead_endpoint_disabled(t: TestApp) {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let tok = events_token(&t, "MOSD").await;
    let r = t
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(&tok),
            Some(json!({"url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["credential.issued"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let wh = r.json()["id"].as_str().expect("id").to_owned();
    t.issue_id("ليلى").await;
    // Drive the worker by hand (the retry window is 1 s here).
    let start = Instant::now();
    loop {
        sanad::events::deliver::round(&t.app).await.expect("round");
        let w = t
            .call(
                Method::GET,
                &format!("/api/v1/webhooks/{wh}"),
                Some(&tok),
                None,
            )
            .await
            .json();
        if w["status"] == "disabled" {
            let reason = w["disabled_reason"].as_str().expect("notice");
            assert!(reason.contains("failed attempts"), "{reason}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{w}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit = t.app.store.audit_entries().await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "webhook.disable" && e.subject == wh && e.actor == "system")
    );
    let log = t
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{wh}/deliveries"),
            Some(&tok),
            None,
        )
        .await
        .json();
    assert_eq!(log[0]["state"], "failed");
    let r = t
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{wh}/enable"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "active");
    let log = t
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{wh}/deliveries"),
            Some(&tok),
            None,
        )
        .await
        .json();
    assert_eq!(
        log[0]["state"], "pending",
        "enabling retries what was given up"
    );
}

async fn dead_endpoint_fast(db: helpers::Db) {
    let dir = helpers::temp_dir();
    let Some(url) = helpers::database_url(db, &dir).await else {
        return;
    };
    let mut config = sanad::config::Config::for_tests(url, dir.join("keys"));
    config.events.webhook_timeout_ms = 300;
    config.events.backoff_base_ms = 20;
    config.events.backoff_max_ms = 50;
    config.events.retry_window_secs = 1;
    let t = helpers::spawn_with(config, dir).await.expect("app");
    dead_endpoint_disabled(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_is_disabled_sqlite() {
    dead_endpoint_fast(helpers::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_is_disabled_postgres() {
    dead_endpoint_fast(helpers::Db::Postgres).await;
}

/// Webhook input is checked.
#[tokio::test]
async fn webhook_input_is_checked() {
    let t = spawn_fast(helpers::Db::Sqlite).await.expect("app");
    let tok = events_token(&t, "MOSD").await;
    for body in [
        json!({"url": "https://example.org/hook"}),
        json!({"url": "http://user:pw@127.0.0.1/hook"}),
        json!({"url": format!("http://127.0.0.1/{}", "a".repeat(3000))}),
        json!({"url": "http://127.0.0.1/hook", "event_types": ["credential.exploded"]}),
        json!({"url": "http://127.0.0.1/hook", "agencies": ["NOPE"]}),
    ] {
        let r = t
            .call(
                Method::POST,
                "/api/v1/webhooks",
                Some(&tok),
                Some(body.clone()),
            )
            .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// The event is part of its change's transaction: a re-issue whose second half fails (the
/// old credential's status moved meanwhile) leaves neither the new credential nor its
/// `credential.issued` event behind.
async fn event_rolls_back_with_its_change(t: TestApp) {
    let c = t.issue_id("رولباك").await;
    let old = t
        .app
        .store
        .get_credential(c["id"].as_str().expect("id"))
        .await
        .expect("row");
    let before = t.app.store.last_event_id().await.expect("last");
    let new = sanad::storage::NewCredential {
        id: "ROLLBACK0000TEST".to_lowercase(),
        agency_code: old.agency_code.clone(),
        kind: old.kind.clone(),
        person_id: old.person_id.clone(),
        kid: old.kid.clone(),
        supersedes: Some(old.id.clone()),
        issued_at: sanad::storage::now(),
        name_printed: old.name_printed.clone(),
        status_list: old.status_list,
        status_index: old.status_index + 1,
        token: "x".into(),
        subject_json: "{}".into(),
        doc_sha256: None,
        doc_file: None,
        doc_media_type: None,
        created_by: "test".into(),
    };
    let stale = sanad::storage::StatusChange {
        credential_id: old.id.clone(),
        from_status: Some("suspended".into()), // it is active: the conditional update fails
        to_status: "superseded".into(),
        reason_code: Some("data_changed".into()),
        reason_text: None,
        superseded_by: Some(new.id.clone()),
        actor: "test".into(),
        at: sanad::storage::now(),
    };
    let r = t.app.store.insert_credential(&new, Some(&stale)).await;
    assert!(
        matches!(&r, Err(sanad::storage::StoreError::Conflict(m)) if m.contains("status changed meanwhile")),
        "the second half failed: {r:?}"
    );
    assert_eq!(t.app.store.last_event_id().await.expect("last"), before);
    assert!(t.app.store.get_credential(&new.id).await.is_err());
}

both_dbs!(
    event_rolls_back_with_its_change_both,
    event_rolls_back_with_its_change
);
