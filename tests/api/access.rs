//! Sign-in, sessions, CSRF, throttling, maker-checker, tokens, the console and the rate
//! limit, through the real router on both databases.

use crate::both_dbs;
use crate::callers::{Caller, PW, with_second_agency};
use crate::helpers::{self, Res, TestApp};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use sanad::auth::Role;
use serde_json::json;
use std::net::SocketAddr;

async fn login_from(t: &TestApp, user: &str, pw: &str, addr: &str) -> Res {
    let mut req = Request::post("/api/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": user, "password": pw}).to_string(),
        ))
        .expect("request");
    let sa: SocketAddr = format!("{addr}:5555").parse().expect("addr");
    req.extensions_mut().insert(ConnectInfo(sa));
    t.send(req).await
}

fn actions(entries: &[sanad::storage::AuditRow]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

/// Failures make the account-and-address and the address wait, doubling from the third
/// (up to 15 min); the account itself waits at most 30 s, and not at all from an address
/// it signed in from before; a success from an address clears its pair.
async fn throttling(t: TestApp) {
    t.add_user("lena", Role::Registrar, Some("MOSD")).await;
    t.add_user("omar", Role::Registrar, Some("MOSD")).await;
    // Lena signs in once from her usual address.
    assert_eq!(login_from(&t, "lena", PW, "10.0.0.1").await.status, 200);
    // An attacker guesses from one address: refused, then made to wait, doubling.
    let mut waits = Vec::new();
    for _ in 0..8 {
        let r = login_from(&t, "lena", "wrong password!", "10.6.6.6").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            waits.push(
                r.headers[header::RETRY_AFTER]
                    .to_str()
                    .expect("header")
                    .parse::<i64>()
                    .expect("seconds"),
            );
            sqlx::query("UPDATE login_throttle SET locked_until = 1 WHERE key LIKE 'pair:%' OR key LIKE 'addr:%' OR key LIKE 'user:%'")
                .execute(t.app.store.pool())
                .await
                .expect("let the wait pass");
        } else {
            r.assert_problem(StatusCode::UNAUTHORIZED);
        }
    }
    assert!(!waits.is_empty(), "guessing is slowed");
    // The attacker's own address is held back, even with the right password of another.
    for _ in 0..3 {
        let _ = login_from(&t, "lena", "wrong password!", "10.6.6.6").await;
    }
    login_from(&t, "omar", PW, "10.6.6.6")
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS);
    // Lena, from her known address, is not locked out; Omar from his is not either.
    assert_eq!(login_from(&t, "lena", PW, "10.0.0.1").await.status, 200);
    assert_eq!(login_from(&t, "omar", PW, "10.0.0.2").await.status, 200);
    // From an address new to her account, Lena waits at most 30 s.
    let r = login_from(&t, "lena", PW, "10.0.0.3").await;
    if r.status == StatusCode::TOO_MANY_REQUESTS {
        let retry: i64 = r.headers[header::RETRY_AFTER]
            .to_str()
            .expect("header")
            .parse()
            .expect("seconds");
        assert!(retry <= 30, "{retry}");
    } else {
        assert_eq!(r.status, 200);
    }
    // Every attempt is audited, without the name typed or the password.
    let entries = t.app.store.audit_entries().await.expect("audit");
    let a = actions(&entries);
    assert!(a.iter().filter(|x| **x == "auth.login_failed").count() >= 5);
    assert!(a.contains(&"auth.login_locked"));
    for e in &entries {
        for secret in [PW, "wrong password!", "lena", "omar"] {
            assert!(
                !format!("{} {} {}", e.actor, e.subject, e.detail).contains(secret),
                "{secret} in audit entry {}",
                e.seq
            );
        }
    }
}
both_dbs!(throttling_both, throttling);

/// Session cookies: flags, hashed storage, CSRF on unsafe requests, idle and absolute
/// timeouts, sign-out, disabling a user.
async fn sessions(t: TestApp) {
    let uid = t.add_user("rana", Role::Registrar, Some("MOSD")).await;
    let r = login_from(&t, "rana", PW, "127.0.0.1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set = r.headers[header::SET_COOKIE].to_str().expect("cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    let Caller::Session { cookie, csrf } = t.signed_in("rana").await else {
        panic!("session")
    };
    // Only a hash of the secret is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions")
        .fetch_all(t.app.store.pool())
        .await
        .expect("sessions");
    assert!(stored.iter().all(|h| h.len() == 64 && *h != cookie));
    let s = Caller::Session {
        cookie: cookie.clone(),
        csrf: csrf.clone(),
    };
    let who = t.req(&s, Method::GET, "/api/v1/session", None).await;
    assert_eq!(who.json()["id"], format!("user:{uid}"));
    assert_eq!(who.json()["role"], "registrar");
    // A write with the cookie but without (or with a wrong) CSRF token is refused.
    let person = json!({"name_ar": "هدى", "name_en": "Huda", "date_of_birth": "1990-01-01",
                        "national_id": "1234567890", "programme": "x"});
    for bad in [None, Some("nope")] {
        let mut b = Request::post("/api/v1/persons")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("sanad_session={cookie}"));
        if let Some(v) = bad {
            b = b.header("x-csrf-token", v);
        }
        t.send(b.body(Body::from(person.to_string())).expect("req"))
            .await
            .assert_problem(StatusCode::FORBIDDEN);
    }
    assert_eq!(
        t.req(&s, Method::POST, "/api/v1/persons", Some(person.clone()))
            .await
            .status,
        201
    );
    // Idle timeout: 31 minutes without a request ends the session (audited).
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 1860")
        .execute(t.app.store.pool())
        .await
        .expect("age");
    t.req(&s, Method::GET, "/api/v1/session", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    // Absolute timeout: 12 hours even when active.
    let s2 = t.signed_in("rana").await;
    sqlx::query("UPDATE sessions SET created_at = created_at - 43300")
        .execute(t.app.store.pool())
        .await
        .expect("age");
    t.req(&s2, Method::GET, "/api/v1/session", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    // Sign-out ends the session server-side.
    let s3 = t.signed_in("rana").await;
    assert_eq!(
        t.req(&s3, Method::DELETE, "/api/v1/session", None)
            .await
            .status,
        204
    );
    t.req(&s3, Method::GET, "/api/v1/session", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    // Disabling a user ends their sessions and refuses sign-in.
    let s4 = t.signed_in("rana").await;
    t.app
        .store
        .disable_user(&uid, "test")
        .await
        .expect("disable");
    t.req(&s4, Method::GET, "/api/v1/session", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    assert!(t.login("rana", PW).await.is_err());
    let a: Vec<String> = t
        .app
        .store
        .audit_entries()
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    for x in [
        "user.add",
        "auth.login",
        "auth.session_expired",
        "auth.logout",
        "user.disable",
    ] {
        assert!(a.iter().any(|y| y == x), "{x} audited");
    }
}
both_dbs!(sessions_both, sessions);

/// Maker-checker: a revoke or re-issue becomes a pending request; the maker cannot approve
/// it; another approver approves (the action happens) or rejects with a reason.
async fn maker_checker(t: TestApp) {
    let admin = t.user("root", Role::Admin, None).await;
    let reg = t.user("maker", Role::Registrar, Some("MOSD")).await;
    let a1 = t.user("checker1", Role::Approver, Some("MOSD")).await;
    let a2 = t.user("checker2", Role::Approver, Some("MOSD")).await;
    let c1 = t.issue_id("خالد").await;
    let c2 = t.issue_id("ليلى").await;
    let c3 = t.issue_id("يوسف").await;
    let id1 = c1["id"].as_str().expect("id");
    let id2 = c2["id"].as_str().expect("id");
    let id3 = c3["id"].as_str().expect("id");
    let r = t
        .req(
            &admin,
            Method::PUT,
            "/api/v1/agencies/MOSD/settings",
            Some(json!({"requires_approval": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The registrar's revoke is a pending request; the credential is still valid.
    let body = json!({"reason_code": "fraud", "reason_text": "case 12"});
    let r = t
        .req(
            &reg,
            Method::POST,
            &format!("/api/v1/credentials/{id1}/revoke"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let req1 = r.json();
    assert_eq!(req1["state"], "pending");
    assert_eq!(req1["action"], "revoke");
    let rid1 = req1["id"].as_str().expect("id").to_owned();
    assert_eq!(
        t.verify(json!({"id": id1})).await["outcome"],
        "valid",
        "nothing happens before approval"
    );
    // A second request for the same credential is a conflict.
    t.req(
        &reg,
        Method::POST,
        &format!("/api/v1/credentials/{id1}/reissue"),
        Some(body.clone()),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    // Listed for the agency.
    let list = t
        .req(&a1, Method::GET, "/api/v1/approvals", None)
        .await
        .json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], rid1.as_str());
    // The registrar cannot approve (not an approver).
    t.req(
        &reg,
        Method::POST,
        &format!("/api/v1/approvals/{rid1}/approve"),
        Some(json!({})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    // An approver approves: the credential is revoked.
    let r = t
        .req(
            &a1,
            Method::POST,
            &format!("/api/v1/approvals/{rid1}/approve"),
            Some(json!({"reason": "checked"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["request"]["state"], "approved");
    assert_eq!(r.json()["credential"]["status"], "revoked");
    assert_eq!(t.verify(json!({"id": id1})).await["outcome"], "revoked");
    // Deciding twice is a conflict.
    t.req(
        &a2,
        Method::POST,
        &format!("/api/v1/approvals/{rid1}/approve"),
        Some(json!({})),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);

    // Self-approval: an approver raises a re-issue and cannot approve it; another can.
    let r = t
        .req(
            &a1,
            Method::POST,
            &format!("/api/v1/credentials/{id2}/reissue"),
            Some(json!({"reason_code": "data_changed"})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let rid2 = r.json()["id"].as_str().expect("id").to_owned();
    let refused = t
        .req(
            &a1,
            Method::POST,
            &format!("/api/v1/approvals/{rid2}/approve"),
            Some(json!({})),
        )
        .await;
    let p = refused.assert_problem(StatusCode::FORBIDDEN);
    assert!(p["detail"].as_str().expect("detail").contains("maker"));
    let r = t
        .req(
            &a2,
            Method::POST,
            &format!("/api/v1/approvals/{rid2}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let new_id = r.json()["credential"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(new_id, id2);
    assert_eq!(r.json()["request"]["result_id"], new_id.as_str());
    let v = t.verify(json!({"id": id2})).await;
    assert_eq!(v["outcome"], "superseded");

    // Rejection needs a reason and leaves the credential alone.
    let r = t
        .req(
            &reg,
            Method::POST,
            &format!("/api/v1/credentials/{id3}/revoke"),
            Some(body.clone()),
        )
        .await;
    let rid3 = r.json()["id"].as_str().expect("id").to_owned();
    t.req(
        &a2,
        Method::POST,
        &format!("/api/v1/approvals/{rid3}/reject"),
        Some(json!({})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .req(
            &a2,
            Method::POST,
            &format!("/api/v1/approvals/{rid3}/reject"),
            Some(json!({"reason": "no police report attached"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "rejected");
    assert_eq!(r.json()["decision_reason"], "no police report attached");
    assert_eq!(
        r.json()["checker"],
        t.req(&a2, Method::GET, "/api/v1/session", None)
            .await
            .json()["id"]
    );
    assert_eq!(t.verify(json!({"id": id3})).await["outcome"], "valid");
    let pending = t
        .req(&reg, Method::GET, "/api/v1/approvals", None)
        .await
        .json();
    assert_eq!(pending.as_array().map(Vec::len), Some(0));
    let rejected = t
        .req(&reg, Method::GET, "/api/v1/approvals?state=rejected", None)
        .await
        .json();
    assert_eq!(rejected.as_array().map(Vec::len), Some(1));
    // Suspend is not gated.
    let r = t
        .req(
            &reg,
            Method::POST,
            &format!("/api/v1/credentials/{id3}/suspend"),
            Some(json!({"reason_code": "under_review"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let a: Vec<String> = t
        .app
        .store
        .audit_entries()
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    for x in [
        "agency.settings",
        "approval.request",
        "approval.approved",
        "approval.rejected",
    ] {
        assert!(a.iter().any(|y| y == x), "{x} audited");
    }
}
both_dbs!(maker_checker_both, maker_checker);

/// API tokens: owned, listed without secrets, last use kept, revocable by the admin.
async fn tokens(t: TestApp) {
    let admin = t.user("root", Role::Admin, None).await;
    let r = t
        .req(
            &admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"agency": "MOSD", "scopes": ["read"], "label": "crm"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let secret = r.json()["token"].as_str().expect("token").to_owned();
    let tok = Caller::Token(secret.clone());
    assert_eq!(
        t.req(&tok, Method::GET, "/api/v1/credentials", None)
            .await
            .status,
        200
    );
    let list = t.req(&admin, Method::GET, "/api/v1/tokens", None).await;
    assert!(!list.text().contains(&secret), "no secret in the listing");
    let me = list
        .json()
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert!(me["owner"].as_str().expect("owner").starts_with("user:u"));
    assert!(me["last_used_at"].is_string());
    assert!(
        t.req(
            &admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"agency": "MOSD", "scopes": ["godmode"]}))
        )
        .await
        .status
            == 422
    );
    assert_eq!(
        t.req(
            &admin,
            Method::POST,
            &format!("/api/v1/tokens/{id}/revoke"),
            None
        )
        .await
        .status,
        204
    );
    t.req(&tok, Method::GET, "/api/v1/credentials", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    t.req(
        &admin,
        Method::POST,
        &format!("/api/v1/tokens/{id}/revoke"),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    let a: Vec<String> = t
        .app
        .store
        .audit_entries()
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(a.iter().any(|x| x == "token.revoke"));
}
both_dbs!(tokens_both, tokens);

fn form_post(path: &str, cookies: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookies)
        .body(Body::from(body))
        .expect("request")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = html.find(&marker).expect("hidden field") + marker.len();
    html[i..].split('"').next().expect("value").to_owned()
}

fn set_cookie(r: &Res, name: &str) -> String {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned()
}

/// The console: bilingual pages, sign-in with a CSRF-protected form, lifecycle actions
/// through forms carrying the session's CSRF token, role-limited pages.
async fn console(t: TestApp) {
    let t = with_second_agency(t).await;
    t.add_user("reg", Role::Registrar, Some("MOSD")).await;
    t.add_user("off", Role::Officer, Some("MOJ")).await;
    let c = t.issue_id("نوال").await;
    let id = c["id"].as_str().expect("id");
    // Not signed in: to the sign-in page.
    let r = t.get("/console/credentials").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = t.get("/console/login").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#));
    assert!(html.contains("تسجيل الدخول") && !html.contains("Sign in"));
    // One language a page: `?lang=en` switches and is remembered in a cookie.
    let en = t.get("/console/login?lang=en").await;
    assert!(en.text().contains(r#"<html lang="en" dir="ltr">"#));
    assert!(en.text().contains("Sign in"));
    assert_eq!(set_cookie(&en, "sanad_lang"), "en");
    // Without `?lang=` or the cookie, the browser's Accept-Language decides.
    let r = t
        .send(
            Request::get("/console/login")
                .header(header::ACCEPT_LANGUAGE, "fr-FR, en-GB;q=0.8, ar;q=0.5")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert!(r.text().contains(r#"<html lang="en" dir="ltr">"#));
    let r = t
        .send(
            Request::get("/console/login")
                .header(header::ACCEPT_LANGUAGE, "en")
                .header(header::COOKIE, "sanad_lang=ar")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert!(
        r.text().contains(r#"<html lang="ar" dir="rtl">"#),
        "the remembered choice wins"
    );
    let login_csrf = hidden(&html, "csrf");
    let login_cookie = set_cookie(&page, "sanad_login_csrf");
    // The sign-in form without its CSRF cookie (a form from another tab or an old page)
    // signs nobody in: a fresh form comes back with a notice.
    let r = t
        .send(form_post(
            "/console/login",
            "",
            &[("username", "reg"), ("password", PW), ("csrf", &login_csrf)],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .all(|v| !v.to_str().unwrap_or_default().starts_with("sanad_session="))
    );
    assert!(r.text().contains("انتهت صلاحية النموذج"));
    // A wrong password shows the form again, 401.
    let jar = format!("sanad_login_csrf={login_cookie}");
    let r = t
        .send(form_post(
            "/console/login",
            &jar,
            &[
                ("username", "reg"),
                ("password", "not the password"),
                ("csrf", &login_csrf),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("اسم المستخدم أو كلمة المرور غير صحيحة"));
    let r = t
        .send(form_post(
            "/console/login",
            &jar,
            &[("username", "reg"), ("password", PW), ("csrf", &login_csrf)],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let session = format!("sanad_session={}", set_cookie(&r, "sanad_session"));
    let get = |path: &str| {
        Request::get(path)
            .header(header::COOKIE, session.clone())
            .body(Body::empty())
            .expect("request")
    };
    let list = t.send(get("/console/credentials")).await;
    assert_eq!(list.status, 200);
    let html = list.text();
    assert!(html.contains(id), "the credential is listed");
    assert!(html.contains(r#"dir="rtl""#) && html.contains("الوثائق"));
    let csrf = hidden(&html, "csrf");
    // An action form without the session's CSRF token is refused; with it, it acts.
    let path = format!("/console/credentials/{id}/action");
    let suspend = [
        ("action", "suspend"),
        ("reason_code", "under_review"),
        ("reason_text", "console"),
    ];
    let with = |token: &str| {
        let mut f: Vec<(&str, String)> =
            suspend.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        f.push(("csrf", token.to_owned()));
        f
    };
    let as_refs = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    let bad = as_refs(&with("wrong"));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A stale token changes nothing and brings the form back with a notice.
    let r = t.send(form_post(&path, &session, &bad)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION].to_str().expect("location"),
        format!("/console/credentials/{id}?do=suspend&msg=msg_stale_form")
    );
    assert_eq!(t.verify(json!({"id": id})).await["outcome"], "valid");
    let good = with(&csrf);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = t.send(form_post(&path, &session, &good)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .contains("msg=msg_done")
    );
    assert_eq!(t.verify(json!({"id": id})).await["outcome"], "suspended");
    // A form that does not parse is an error page in the reader's language with the
    // other language beneath, never JSON.
    let r = t.send(form_post(&path, &session, &[("csrf", &csrf)])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = r.text();
    assert!(html.contains("تعذّرت قراءة الطلب") && html.contains("The request could not be read"));
    assert!(html.contains(id), "a way back to the credential");
    // `?err=` shows only message codes of the tables, never text from the URL.
    let r = t
        .send(get(
            "/console/persons?err=Your+account+is+locked,+call+0555",
        ))
        .await;
    assert!(!r.text().contains("call 0555"));
    // Persons and approvals pages; the audit page is for admins only.
    assert!(
        t.send(get("/console/persons"))
            .await
            .text()
            .contains("Fatima Ahmed Al-Harbi")
    );
    let p = t
        .send(form_post(
            "/console/persons",
            &session,
            &[("q", "10987654"), ("csrf", &csrf)],
        ))
        .await;
    assert_eq!(p.status, 200);
    assert!(
        p.text().contains("Fatima Ahmed Al-Harbi"),
        "partial national ID"
    );
    let p = t
        .send(form_post(
            "/console/persons",
            &session,
            &[("q", "1098765432"), ("csrf", "forged")],
        ))
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(t.send(get("/console/approvals")).await.status, 200);
    let r = t.send(get("/console/audit")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("لا تملك صلاحية هذا الإجراء"));
    // Sign-out through the form.
    let r = t
        .send(form_post("/console/logout", &session, &[("csrf", &csrf)]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.send(get("/console/credentials")).await.status,
        StatusCode::SEE_OTHER
    );
    // An officer of another agency opens the full record; the view is audited.
    let off = t.signed_in("off").await;
    let Caller::Session { cookie, .. } = off else {
        panic!("session")
    };
    let r = t
        .send(
            Request::get(format!("/console/officer?id={id}"))
                .header(header::COOKIE, format!("sanad_session={cookie}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("1098765432"), "full record shown");
    let entries = t.app.store.audit_entries().await.expect("audit");
    assert!(
        entries
            .iter()
            .any(|e| e.action == "credential.view_full" && e.subject == id)
    );
}
both_dbs!(console_both, console);

/// The public endpoints are rate-limited per address: 429 problem+json with Retry-After.
async fn rate_limit(t: TestApp) {
    let c = t.issue_id("سلمى").await;
    let id = c["id"].as_str().expect("id");
    let mut config = t.app.config.clone();
    config.rate_limit = 1.0; // burst 2
    let app = sanad::app::App::build(config).await.expect("app");
    let limited = TestApp {
        router: sanad::web::router(app.clone()),
        app,
        token: t.token.clone(),
        dir: t.dir.clone(),
        db: t.db.clone(),
    };
    let path = format!("/v/{id}");
    assert_eq!(limited.get_json(&path).await.status, 200);
    assert_eq!(
        limited
            .call(
                Method::POST,
                "/api/v1/verify",
                None,
                Some(json!({"id": id}))
            )
            .await
            .status,
        200
    );
    let r = limited.get_json(&path).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    limited
        .call(
            Method::POST,
            "/api/v1/verify",
            None,
            Some(json!({"id": id})),
        )
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS);
    // Authenticated API calls are not limited by it.
    assert_eq!(
        limited
            .call(Method::GET, "/api/v1/credentials", Some(&t.token), None)
            .await
            .status,
        200
    );
    // 0 turns it off (the default test app).
    for _ in 0..10 {
        assert_eq!(t.get_json(&path).await.status, 200);
    }
    let _ = helpers::unique("x");
}
both_dbs!(rate_limit_both, rate_limit);

fn sanad_cli(t: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    let c = &t.app.config;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sanad"))
        .args([
            "--database-url",
            c.database_url.as_deref().expect("url"),
            "--keys-dir",
            &c.keys_dir.display().to_string(),
            "--data-dir",
            &c.data_dir.display().to_string(),
        ])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sanad");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
    }
    child.wait_with_output().expect("output")
}

/// `sanad users add|set-password|disable` and `sanad tokens list|revoke`: passwords come
/// from standard input; the results work (or stop working) through the API.
async fn cli_users_and_tokens(t: TestApp) {
    let out = sanad_cli(
        &t,
        &[
            "users",
            "add",
            "clerk",
            "--role",
            "registrar",
            "--agency",
            "MOSD",
            "--password-stdin",
        ],
        Some("first password 123\n"),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(t.login("clerk", "first password 123").await.is_ok());
    // Refused: an admin with an agency, a registrar without, a short password.
    for (args, pw) in [
        (
            vec!["users", "add", "a1", "--role", "admin", "--agency", "MOSD"],
            "long enough pw",
        ),
        (
            vec!["users", "add", "a2", "--role", "registrar"],
            "long enough pw",
        ),
        (
            vec![
                "users", "add", "a3", "--role", "officer", "--agency", "MOSD",
            ],
            "short",
        ),
    ] {
        let out = sanad_cli(&t, &args, Some(pw));
        assert!(!out.status.success(), "{args:?} should fail");
    }
    let out = sanad_cli(
        &t,
        &["users", "set-password", "clerk"],
        Some("second password 456\n"),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(t.login("clerk", "first password 123").await.is_err());
    let s = t.login("clerk", "second password 456").await;
    assert!(s.is_ok());
    let out = sanad_cli(&t, &["users", "disable", "clerk"], None);
    assert!(out.status.success(), "{out:?}");
    assert!(t.login("clerk", "second password 456").await.is_err());
    let list =
        String::from_utf8_lossy(&sanad_cli(&t, &["users", "list"], None).stdout).into_owned();
    assert!(
        list.contains("clerk") && list.contains("disabled"),
        "{list}"
    );
    // Tokens: listed without secrets, revoked by id.
    let listed =
        String::from_utf8_lossy(&sanad_cli(&t, &["tokens", "list"], None).stdout).into_owned();
    let id = t.token.split('_').nth(1).expect("id");
    assert!(
        listed.contains(id) && listed.contains("owner=cli"),
        "{listed}"
    );
    assert!(!listed.contains(&t.token));
    let out = sanad_cli(&t, &["tokens", "revoke", id], None);
    assert!(out.status.success(), "{out:?}");
    t.call(Method::GET, "/api/v1/credentials", Some(&t.token), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}
both_dbs!(cli_users_and_tokens_both, cli_users_and_tokens);

/// Expired sessions and stale throttle rows are purged; live ones stay.
async fn purge(t: TestApp) {
    t.add_user("pia", Role::Officer, Some("MOSD")).await;
    let live = t.signed_in("pia").await;
    let _old = t.signed_in("pia").await;
    login_from(&t, "pia", "wrong password!", "10.1.1.1").await;
    let count = |sql: &'static str| {
        let pool = t.app.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM sessions").await, 2);
    // Age one session past the idle timeout, and the failure past its window.
    let Caller::Session { cookie, .. } = &live else {
        panic!("session")
    };
    let live_hash = sanad::app::hash_token(cookie);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET last_seen_at = last_seen_at - 4000 WHERE id_hash <> '{live_hash}'"
    )))
    .execute(t.app.store.pool())
    .await
    .expect("age");
    sqlx::query("UPDATE login_throttle SET updated_at = updated_at - 4000")
        .execute(t.app.store.pool())
        .await
        .expect("age");
    let n = t
        .app
        .store
        .purge_expired(sanad::storage::now(), 1800, 43200, 900)
        .await
        .expect("purge");
    assert_eq!(
        n, 4,
        "one session, three throttle rows (pair, account, address); known addresses stay"
    );
    assert_eq!(count("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(
        t.req(&live, Method::GET, "/api/v1/session", None)
            .await
            .status,
        200
    );
}
both_dbs!(purge_both, purge);

/// Console sign-in for a test: the sign-in page, its CSRF cookie, the form. Returns the
/// session cookie and, for users with a page of forms, the session's CSRF token.
async fn console_login(t: &TestApp, user: &str) -> (String, Option<String>) {
    let page = t.get("/console/login").await;
    let jar = format!("sanad_login_csrf={}", set_cookie(&page, "sanad_login_csrf"));
    let token = hidden(&page.text(), "csrf");
    let r = t
        .send(form_post(
            "/console/login",
            &jar,
            &[("username", user), ("password", PW), ("csrf", &token)],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let session = format!("sanad_session={}", set_cookie(&r, "sanad_session"));
    let page = t
        .send(
            Request::get("/console/approvals")
                .header(header::COOKIE, session.clone())
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    let csrf = (page.status == StatusCode::OK).then(|| hidden(&page.text(), "csrf"));
    (session, csrf)
}

/// Maker-checker through the console: the registrar's revoke becomes a request, an
/// approver approves it with the form, the admin sees it all on the audit page.
async fn console_maker_checker(t: TestApp) {
    t.add_user("reg", Role::Registrar, Some("MOSD")).await;
    t.add_user("appr", Role::Approver, Some("MOSD")).await;
    t.add_user("root", Role::Admin, None).await;
    t.app
        .store
        .set_requires_approval("MOSD", true, "test")
        .await
        .expect("setting");
    let c = t.issue_id("منى").await;
    let id = c["id"].as_str().expect("id");
    let (reg, reg_csrf) = console_login(&t, "reg").await;
    let reg_csrf = reg_csrf.expect("csrf");
    let r = t
        .send(form_post(
            &format!("/console/credentials/{id}/action"),
            &reg,
            &[
                ("action", "revoke"),
                ("reason_code", "fraud"),
                ("reason_text", "case 9"),
                ("csrf", &reg_csrf),
            ],
        ))
        .await;
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .ends_with("msg=msg_pending_sent")
    );
    assert_eq!(t.verify(json!({"id": id})).await["outcome"], "valid");
    let rid = t
        .app
        .store
        .list_approvals("MOSD", "pending")
        .await
        .expect("list")[0]
        .id
        .clone();
    // The registrar sees the request but has no decision form; the approver has.
    let get = |cookie: &str, path: &str| {
        Request::get(path)
            .header(header::COOKIE, cookie.to_owned())
            .body(Body::empty())
            .expect("request")
    };
    let html = t.send(get(&reg, "/console/approvals")).await.text();
    assert!(html.contains(id) && !html.contains(&format!("/console/approvals/{rid}")));
    let (appr, appr_csrf) = console_login(&t, "appr").await;
    let appr_csrf = appr_csrf.expect("csrf");
    let html = t.send(get(&appr, "/console/approvals")).await.text();
    assert!(html.contains(&format!("/console/approvals/{rid}")));
    // The registrar's session token does not work in the approver's form.
    let r = t
        .send(form_post(
            &format!("/console/approvals/{rid}"),
            &appr,
            &[("decision", "approve"), ("csrf", &reg_csrf)],
        ))
        .await;
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .ends_with("msg=msg_stale_form")
    );
    assert_eq!(t.verify(json!({"id": id})).await["outcome"], "valid");
    let r = t
        .send(form_post(
            &format!("/console/approvals/{rid}"),
            &appr,
            &[
                ("decision", "approve"),
                ("reason", "ok"),
                ("csrf", &appr_csrf),
            ],
        ))
        .await;
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .ends_with("msg=msg_approved")
    );
    assert_eq!(t.verify(json!({"id": id})).await["outcome"], "revoked");
    let (root, _) = console_login(&t, "root").await;
    let audit = t.send(get(&root, "/console/audit")).await;
    assert_eq!(audit.status, 200);
    let html = audit.text();
    // Actions in words, actors by name.
    for a in [
        "طلب موافقة",
        "موافقة على طلب",
        "إلغاء وثيقة",
        "تسجيل دخول",
        ">appr<",
        ">reg<",
    ] {
        assert!(html.contains(a), "{a} on the audit page");
    }
    assert!(html.contains("نقطة التحقق الموقّعة"));
    let en = t
        .send(get(&root, "/console/audit?lang=en&action=approval"))
        .await
        .text();
    assert!(en.contains("Request approved") && !en.contains("Signed in"));
}
both_dbs!(console_maker_checker_both, console_maker_checker);
