//! No personal data or secrets in logs: with every log line captured (all levels, all
//! crates), a full flow — a person with a distinctive name and national ID, issuance,
//! verification of the QR, revocation, sign-in with a password (right and wrong), an
//! officer's full-record view, API token use — leaves no name, national ID number,
//! password, token, session secret or CSRF token in any line.

// The API test harness is shared; this binary uses only part of it.
#[allow(dead_code)]
#[path = "api/callers.rs"]
mod callers;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[path = "support/log_capture.rs"]
mod log_capture;

use axum::http::Method;
use callers::Caller;
use helpers::TestApp;
use log_capture::capture;
use sanad::auth::Role;
use serde_json::json;

const NAME_AR: &str = "زبيدة قويرتي المميزة";
const NAME_EN: &str = "Zubaydah Qwertyuiop";
const NATIONAL_ID: &str = "9988776655";
const PASSWORD: &str = "Pw-Sesame-7731-unique";
const WRONG_PASSWORD: &str = "Wrong-Pw-4412-unique";

async fn flow(t: TestApp) {
    let buf = capture();
    let admin = t.user("root", Role::Admin, None).await;
    sanad::auth::add_user(
        &t.app.store,
        "zz-login-user",
        Role::Registrar,
        Some("MOSD"),
        PASSWORD,
        "test",
    )
    .await
    .expect("user");
    // A wrong password, then the right one.
    assert!(t.login("zz-login-user", WRONG_PASSWORD).await.is_err());
    let reg = match t.login("zz-login-user", PASSWORD).await {
        Ok(c) => c,
        Err(r) => panic!("login {}", r.status),
    };
    let Caller::Session { cookie, csrf } = reg.clone() else {
        panic!("session")
    };
    // The registrar creates the person and issues; the fixture token reads.
    let p = t
        .req(
            &reg,
            Method::POST,
            "/api/v1/persons",
            Some(
                json!({"name_ar": NAME_AR, "name_en": NAME_EN, "date_of_birth": "1970-03-04",
                        "national_id": NATIONAL_ID, "programme": "family of an inmate"}),
            ),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text());
    let pid = p.json()["id"].as_str().expect("id").to_owned();
    let c = t
        .req(
            &reg,
            Method::POST,
            "/api/v1/credentials",
            Some(json!({"kind": "digital_id", "person_id": pid})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text());
    let c = c.json();
    let id = c["id"].as_str().expect("id").to_owned();
    let qr_token = c["token"].as_str().expect("token").to_owned();
    let qr_text = c["qr_text"].as_str().expect("qr").to_owned();
    let tok = Caller::Token(t.token.clone());
    assert_eq!(
        t.req(
            &tok,
            Method::GET,
            &format!("/api/v1/credentials/{id}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        t.req(
            &tok,
            Method::GET,
            &format!("/api/v1/persons?national_id={NATIONAL_ID}"),
            None
        )
        .await
        .status,
        200
    );
    // Verification of the scanned QR and the live record.
    assert_eq!(t.verify(json!({"qr": qr_text})).await["outcome"], "valid");
    assert_eq!(t.get(&format!("/v/{id}")).await.status, 200);
    // A holder link: created, its card and photo opened, the printed card.
    let link = t
        .req(
            &reg,
            Method::POST,
            &format!("/api/v1/credentials/{id}/holder-link"),
            None,
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.text());
    let holder_url = link.json()["url"].as_str().expect("url").to_owned();
    let holder_path = &holder_url[holder_url.find("/h/").expect("path")..];
    let holder_secret = holder_path
        .trim_start_matches("/h/")
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(t.get(holder_path).await.status, 200);
    t.get(&format!("{holder_path}photo.jpg")).await;
    t.get(&format!("{holder_path}qr.svg")).await;
    // An officer's full view, then revocation.
    let off = t.user("officer", Role::Officer, Some("MOSD")).await;
    assert_eq!(
        t.req(
            &off,
            Method::GET,
            &format!("/api/v1/officer/credentials/{id}"),
            None
        )
        .await
        .status,
        200
    );
    let r = t
        .req(
            &reg,
            Method::POST,
            &format!("/api/v1/credentials/{id}/revoke"),
            Some(json!({"reason_code": "fraud", "reason_text": "see case"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A bad token and an admin creating a token.
    t.req(
        &Caller::Token("sanad_notreal_0000".into()),
        Method::GET,
        "/api/v1/credentials",
        None,
    )
    .await;
    let made = t
        .req(
            &admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"agency": "MOSD", "scopes": ["read"]})),
        )
        .await
        .json();
    let new_token = made["token"].as_str().expect("token").to_owned();

    let logs =
        String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(
        logs.contains("issued") && logs.contains("signed in") && logs.contains("full record"),
        "the capture works: {}",
        logs.chars().take(2000).collect::<String>()
    );
    for (what, secret) in [
        ("Arabic name", NAME_AR),
        ("Arabic name part", "قويرتي"),
        ("Latin name", NAME_EN),
        ("Latin name part", "Qwertyuiop"),
        ("national ID", NATIONAL_ID),
        ("password", PASSWORD),
        ("wrong password", WRONG_PASSWORD),
        ("user name typed", "zz-login-user"),
        ("API token", t.token.as_str()),
        ("holder link secret", holder_secret.as_str()),
        ("new API token", new_token.as_str()),
        ("QR token", qr_token.as_str()),
        ("session secret", cookie.as_str()),
        ("CSRF token", csrf.as_str()),
    ] {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!("the {what} appears in a log line: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_or_secrets_in_logs_sqlite() {
    capture();
    if let Some(t) = helpers::spawn(helpers::Db::Sqlite).await {
        flow(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_or_secrets_in_logs_postgres() {
    capture();
    if let Some(t) = helpers::spawn(helpers::Db::Postgres).await {
        flow(t).await;
    }
}
