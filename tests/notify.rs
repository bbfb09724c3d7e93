//! Holder notifications against a local fake SMS gateway: the right message, in the
//! holder's language, once per change (a failed send is retried, not repeated), with the
//! gateway's credentials — and with every log line captured, no phone number, name, message
//! text or gateway secret in any of them. The default log sink is checked the same way.

#[allow(dead_code)]
#[path = "api/callers.rs"]
mod callers;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[path = "support/log_capture.rs"]
mod log_capture;

use axum::http::{Method, StatusCode};
use helpers::TestApp;
use log_capture::capture;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PHONE_AR: &str = "+962791112233";
const PHONE_EN: &str = "+12025550187";
const NAME_AR: &str = "نجلاء المميزة جدا";
const GATEWAY_SECRET: &str = "Bearer gw-secret-5521";

type Inbox = Arc<Mutex<Vec<(Value, String)>>>;

/// A fake gateway: records each request (body, authorization); the first one fails.
async fn gateway() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let failed_once = Arc::new(Mutex::new(false));
    let i = inbox.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (i, failed_once) = (i.clone(), failed_once.clone());
            async move {
                let mut f = failed_once.lock().expect("lock");
                if !*f {
                    *f = true;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                i.lock()
                    .expect("lock")
                    .push((serde_json::from_str(&body).expect("json body"), auth));
                StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/sms"), inbox)
}

async fn person(t: &TestApp, name_ar: &str, nid: &str, contact: Option<Value>) -> String {
    let p = t
        .post(
            "/api/v1/persons",
            json!({"name_ar": name_ar, "name_en": "Najla Test", "date_of_birth": "1985-05-05",
                "national_id": nid, "programme": "support"}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text());
    let pid = p.json()["id"].as_str().expect("id").to_owned();
    if let Some(c) = contact {
        let r = t
            .call(
                Method::PUT,
                &format!("/api/v1/persons/{pid}/contact"),
                Some(&t.token),
                Some(c),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text());
    }
    pid
}

async fn issue(t: &TestApp, pid: &str) -> String {
    let c = t
        .post(
            "/api/v1/credentials",
            json!({"kind": "digital_id", "person_id": pid}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text());
    c.json()["id"].as_str().expect("id").to_owned()
}

async fn app(db: helpers::Db, gateway: Option<&str>) -> Option<TestApp> {
    let dir = helpers::temp_dir();
    let url = helpers::database_url(db, &dir).await?;
    let mut config = sanad::config::Config::for_tests(url, dir.join("keys"));
    config.events.backoff_base_ms = 30;
    config.events.backoff_max_ms = 100;
    config.events.poll_ms = 50;
    config.events.webhook_timeout_ms = 2000;
    if let Some(g) = gateway {
        config.events.sms_gateway_url = Some(g.to_owned());
        config.events.sms_gateway_auth = Some(GATEWAY_SECRET.parse().expect("secret"));
        config.events.sms_template =
            r#"{"to":{to},"text":{text},"segments":{segments},"encoding":"{encoding}"}"#.into();
    }
    helpers::spawn_with(config, dir).await
}

async fn gateway_flow(db: helpers::Db) {
    let logs = capture();
    let (url, inbox) = gateway().await;
    let Some(t) = app(db, Some(&url)).await else {
        return;
    };
    // Bad contacts are refused.
    let pid0 = person(&t, NAME_AR, "7000000001", None).await;
    for bad in [
        json!({"phone": "0791112233"}),
        json!({"phone": PHONE_AR, "language": "fr"}),
    ] {
        let r = t
            .call(
                Method::PUT,
                &format!("/api/v1/persons/{pid0}/contact"),
                Some(&t.token),
                Some(bad),
            )
            .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let ar = person(
        &t,
        NAME_AR,
        "7000000002",
        Some(json!({"phone": PHONE_AR, "language": "ar"})),
    )
    .await;
    let en = person(
        &t,
        NAME_AR,
        "7000000003",
        Some(json!({"phone": PHONE_EN, "language": "en"})),
    )
    .await;
    let _worker = sanad::events::deliver::spawn(&t.app);

    let a = issue(&t, &ar).await;
    for (action, reason) in [
        ("suspend", "under_review"),
        ("reinstate", "review_cleared"),
        ("revoke", "fraud"),
    ] {
        assert_eq!(t.action(&a, action, reason).await.status, 200);
    }
    let e = issue(&t, &en).await;
    let r = t.action(&e, "reissue", "data_changed").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let e2 = r.json()["id"].as_str().expect("id").to_owned();
    // No phone: no message.
    issue(&t, &pid0).await;

    let start = Instant::now();
    while inbox.lock().expect("lock").len() < 6 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            inbox.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = inbox.lock().expect("lock").clone();
    assert_eq!(got.len(), 6, "once per change: {got:?}");
    let texts: Vec<(String, String)> = got
        .iter()
        .map(|(b, auth)| {
            assert_eq!(auth, GATEWAY_SECRET);
            (
                b["to"].as_str().expect("to").to_owned(),
                b["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect();
    let want = |to: &str, key: &str, lang: &str, id: &str| {
        let name = if lang == "ar" {
            "وزارة التنمية الاجتماعية"
        } else {
            "Ministry of Social Development"
        };
        (
            to.to_owned(),
            sanad::events::notify::message_text(key, lang, id, name),
        )
    };
    let expected = vec![
        want(PHONE_AR, "issued", "ar", &a),
        want(PHONE_AR, "suspended", "ar", &a),
        want(PHONE_AR, "reinstated", "ar", &a),
        want(PHONE_AR, "revoked", "ar", &a),
        want(PHONE_EN, "issued", "en", &e),
        want(PHONE_EN, "reissued", "en", &e2),
    ];
    // In order per holder (a retried "issued" still comes before "suspended").
    for phone in [PHONE_AR, PHONE_EN] {
        let got: Vec<_> = texts.iter().filter(|t| t.0 == phone).collect();
        let want: Vec<_> = expected.iter().filter(|t| t.0 == phone).collect();
        assert_eq!(got, want);
    }
    let texts = expected;
    assert!(texts[0].1.starts_with("سند: أصدرت وزارة التنمية الاجتماعية"));
    assert!(
        texts[5]
            .1
            .starts_with("Sanad: Ministry of Social Development re-issued")
    );
    // Arabic is counted in UCS-2 segments, English in GSM-7.
    for (b, _) in &got {
        let text = b["text"].as_str().expect("text");
        let (enc, segs) = sanad::events::notify::sms_segments(text);
        assert_eq!(b["encoding"], enc);
        assert_eq!(b["segments"], segs);
        if b["to"] == PHONE_AR {
            assert_eq!(enc, "ucs2");
        } else {
            assert_eq!(enc, "gsm7");
        }
    }
    // The queue agrees: six sent, one of them after a retry.
    let states = t.app.store.notification_states().await.expect("states");
    assert_eq!(states.len(), 6);
    assert!(states.iter().all(|s| s.1 == "sent"));
    assert_eq!(states.iter().map(|s| s.2).sum::<i64>(), 7);
    // The contact change is audited without the number.
    let audit = t.app.store.audit_entries().await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "person.contact" && e.subject == ar)
    );
    assert!(audit.iter().all(|e| !e.detail.contains("791112233")));

    let logs = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    assert!(
        logs.contains("holder notification failed"),
        "the retry is logged"
    );
    for secret in [
        "791112233",
        "2025550187",
        NAME_AR,
        "Najla",
        "gw-secret-5521",
        texts[0].1.as_str(),
        texts[5].1.as_str(),
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_gateway_sqlite() {
    gateway_flow(helpers::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_gateway_postgres() {
    gateway_flow(helpers::Db::Postgres).await;
}

/// Without a gateway, messages go to the log sink: a line per message, no number, no text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_sink_logs_no_personal_data() {
    let logs = capture();
    let t = app(helpers::Db::Sqlite, None).await.expect("app");
    let pid = person(
        &t,
        NAME_AR,
        "7000000009",
        Some(json!({"phone": "+962795550011", "language": "ar"})),
    )
    .await;
    let id = issue(&t, &pid).await;
    let start = Instant::now();
    loop {
        sanad::events::deliver::round(&t.app).await.expect("round");
        let states = t.app.store.notification_states().await.expect("states");
        if states.iter().any(|s| s.1 == "sent") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    let line = logs
        .lines()
        .find(|l| l.contains("holder notification (log sink)"))
        .expect("a log-sink line");
    assert!(
        line.contains("sms.encoding=\"ucs2\"") || line.contains("sms.encoding=ucs2"),
        "{line}"
    );
    for secret in ["795550011", NAME_AR, &id] {
        assert!(!line.contains(secret), "{secret} in {line}");
    }
    assert!(!logs.contains("795550011"));
}

/// A gateway that never answers well: the message is retried, then given up (`failed`)
/// once the retry window has passed — and still nothing personal in the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateway_is_retried_then_given_up() {
    let logs = capture();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = helpers::temp_dir();
    let url = helpers::database_url(helpers::Db::Sqlite, &dir)
        .await
        .expect("url");
    let mut config = sanad::config::Config::for_tests(url, dir.join("keys"));
    config.events.backoff_base_ms = 20;
    config.events.backoff_max_ms = 50;
    config.events.retry_window_secs = 1;
    config.events.sms_gateway_url = Some(format!("http://127.0.0.1:{port}/sms"));
    let t = helpers::spawn_with(config, dir).await.expect("app");
    let pid = person(
        &t,
        NAME_AR,
        "7000000010",
        Some(json!({"phone": "+962794440099", "language": "ar"})),
    )
    .await;
    issue(&t, &pid).await;
    let start = Instant::now();
    let states = loop {
        sanad::events::deliver::round(&t.app).await.expect("round");
        let states = t.app.store.notification_states().await.expect("states");
        if states.iter().any(|s| s.1 == "failed") {
            break states;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{states:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert_eq!(states.len(), 1);
    assert!(states[0].2 > 2, "retried before giving up: {states:?}");
    let logs = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    assert!(!logs.contains("794440099"));
}
