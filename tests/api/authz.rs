//! The authorization matrix: every API endpoint × every kind of caller (the public, each
//! role, API tokens with each scope), each of its own agency (MOSD, which owns every
//! resource here) and of another (MOJ), with the exact status asserted for every cell.
//! Resources that a call consumes (a credential to revoke, a request to approve, a token
//! to revoke, a user to disable) are made fresh for each cell.

use crate::both_dbs;
use crate::callers::{Caller, with_second_agency};
use crate::helpers::{self, TestApp, multipart};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sanad::auth::Role;
use sanad::domain::{CredentialId, PersonId, ReasonCode, StatusAction};
use sanad::issuance::Actor;

/// Column order of the expectations.
const COLUMNS: [&str; 14] = [
    "public",
    "admin",
    "registrar",
    "registrar_other",
    "approver",
    "approver_other",
    "officer",
    "officer_other",
    "token_read",
    "token_issue",
    "token_revoke",
    "token_read_other",
    "token_issue_other",
    "token_revoke_other",
];

/// What a row needs made fresh before each call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fresh {
    Nothing,
    ActiveCredential,
    SuspendedCredential,
    /// An active credential with a holder link.
    LinkedCredential,
    PendingRequest,
    Token,
    User,
}

/// `(method, path template, body, fresh resource, expected status per column)`.
/// Placeholders: `{pid}` person, `{cid}` credential, `{fresh}` the fresh resource's id.
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Fresh,
    [u16; 14],
);

const ADMIN_ONLY_200: [u16; 14] = [
    401, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403,
];
const ADMIN_ONLY_201: [u16; 14] = [
    401, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403,
];
const ADMIN_ONLY_204: [u16; 14] = [
    401, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403,
];
const READ_OWN: [u16; 14] = [
    401, 403, 200, 404, 200, 404, 403, 403, 200, 403, 403, 404, 403, 403,
];
const LIST_OWN: [u16; 14] = [
    401, 403, 200, 200, 200, 200, 403, 403, 200, 403, 403, 200, 403, 403,
];
const CHANGE_OWN: [u16; 14] = [
    401, 403, 200, 404, 403, 403, 403, 403, 403, 403, 200, 403, 403, 404,
];
const DECIDE: [u16; 14] = [
    401, 403, 403, 403, 200, 404, 403, 403, 403, 403, 403, 403, 403, 403,
];
const EVERYONE_200: [u16; 14] = [200; 14];
const SIGNED_IN_200: [u16; 14] = [
    401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200,
];

const PERSON_BODY: &str = r#"{"name_ar": "سارة علي", "name_en": "Sara Ali", "date_of_birth": "1990-01-02", "national_id": "2233445566", "programme": "orphans"}"#;
const ACTION_BODY: &str = r#"{"reason_code": "fraud", "reason_text": "matrix"}"#;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // persons
    ("POST", "/api/v1/persons", Some(PERSON_BODY), Fresh::Nothing,
        [401, 403, 201, 201, 403, 403, 403, 403, 403, 201, 403, 403, 201, 403]),
    ("GET", "/api/v1/persons", None, Fresh::Nothing, LIST_OWN),
    ("GET", "/api/v1/persons/{pid}", None, Fresh::Nothing, READ_OWN),
    ("PUT", "/api/v1/persons/{pid}", Some(PERSON_BODY), Fresh::Nothing,
        [401, 403, 200, 404, 403, 403, 403, 403, 403, 200, 403, 403, 404, 403]),
    ("PUT", "/api/v1/persons/{pid}/photo", None, Fresh::Nothing,
        [401, 403, 204, 404, 403, 403, 403, 403, 403, 204, 403, 403, 404, 403]),
    ("GET", "/api/v1/persons/{pid}/photo", None, Fresh::Nothing, READ_OWN),
    ("PUT", "/api/v1/persons/{pid}/contact", Some(r#"{"phone": "+962791234567", "language": "en"}"#), Fresh::Nothing,
        [401, 403, 204, 404, 403, 403, 403, 403, 403, 204, 403, 403, 404, 403]),
    // credentials
    ("POST", "/api/v1/credentials", Some(r#"{"kind": "digital_id", "person_id": "{pid}"}"#), Fresh::Nothing,
        [401, 403, 201, 404, 403, 403, 403, 403, 403, 201, 403, 403, 404, 403]),
    ("POST", "/api/v1/credentials/document", None, Fresh::Nothing,
        [401, 403, 201, 201, 403, 403, 403, 403, 403, 201, 403, 403, 201, 403]),
    ("GET", "/api/v1/credentials", None, Fresh::Nothing, LIST_OWN),
    ("GET", "/api/v1/credentials/{cid}", None, Fresh::Nothing, READ_OWN),
    ("GET", "/api/v1/credentials/{cid}/vc", None, Fresh::Nothing, READ_OWN),
    ("POST", "/api/v1/credentials/{fresh}/suspend", Some(ACTION_BODY), Fresh::ActiveCredential, CHANGE_OWN),
    ("POST", "/api/v1/credentials/{fresh}/reinstate", Some(ACTION_BODY), Fresh::SuspendedCredential, CHANGE_OWN),
    ("POST", "/api/v1/credentials/{fresh}/revoke", Some(ACTION_BODY), Fresh::ActiveCredential, CHANGE_OWN),
    ("POST", "/api/v1/credentials/{fresh}/reissue", Some(ACTION_BODY), Fresh::ActiveCredential,
        [401, 403, 201, 404, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403]),
    // holder links
    ("POST", "/api/v1/credentials/{fresh}/holder-link", None, Fresh::ActiveCredential,
        [401, 403, 201, 404, 403, 403, 403, 403, 403, 201, 403, 403, 404, 403]),
    ("GET", "/api/v1/credentials/{cid}/holder-link", None, Fresh::Nothing, READ_OWN),
    ("DELETE", "/api/v1/credentials/{fresh}/holder-link", None, Fresh::LinkedCredential,
        [401, 403, 204, 404, 403, 403, 403, 403, 403, 204, 403, 403, 404, 403]),
    // officers
    ("GET", "/api/v1/officer/credentials/{cid}", None, Fresh::Nothing,
        [401, 200, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403]),
    ("GET", "/api/v1/officer/credentials/{cid}/photo", None, Fresh::Nothing,
        [401, 200, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403]),
    // maker-checker
    ("GET", "/api/v1/approvals", None, Fresh::Nothing, LIST_OWN),
    ("POST", "/api/v1/approvals/{fresh}/approve", Some("{}"), Fresh::PendingRequest, DECIDE),
    ("POST", "/api/v1/approvals/{fresh}/reject", Some(r#"{"reason": "not enough evidence"}"#), Fresh::PendingRequest, DECIDE),
    // administration
    ("GET", "/api/v1/users", None, Fresh::Nothing, ADMIN_ONLY_200),
    ("POST", "/api/v1/users", Some(r#"{"username": "new-{n}", "role": "registrar", "agency": "MOSD", "password": "a long enough password"}"#), Fresh::Nothing, ADMIN_ONLY_201),
    ("POST", "/api/v1/users/{fresh}/disable", None, Fresh::User, ADMIN_ONLY_204),
    ("GET", "/api/v1/tokens", None, Fresh::Nothing, ADMIN_ONLY_200),
    ("POST", "/api/v1/tokens", Some(r#"{"agency": "MOSD", "scopes": ["read"], "label": "matrix"}"#), Fresh::Nothing, ADMIN_ONLY_201),
    ("POST", "/api/v1/tokens/{fresh}/revoke", None, Fresh::Token, ADMIN_ONLY_204),
    ("PUT", "/api/v1/agencies/MOSD/settings", Some(r#"{"requires_approval": false}"#), Fresh::Nothing, ADMIN_ONLY_200),
    // audit
    ("GET", "/api/v1/audit/entries", None, Fresh::Nothing, ADMIN_ONLY_200),
    ("GET", "/api/v1/audit/checkpoint", None, Fresh::Nothing, ADMIN_ONLY_200),
    ("GET", "/api/v1/audit/entries/1/proof", None, Fresh::Nothing, ADMIN_ONLY_200),
    // VC-API
    ("POST", "/credentials/issue", Some(r#"{"credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"], "credentialSubject": {"name": "Matrix"}}}"#), Fresh::Nothing,
        [401, 403, 201, 201, 403, 403, 403, 403, 403, 201, 403, 403, 201, 403]),
    ("POST", "/credentials/verify", Some(r#"{"verifiableCredential": "{vc}"}"#), Fresh::Nothing, EVERYONE_200),
    // public
    ("GET", "/status/{list}", None, Fresh::Nothing, EVERYONE_200),
    ("GET", "/status/w3c/{list}/revocation", None, Fresh::Nothing, EVERYONE_200),
    ("GET", "/.well-known/sanad-trust-list", None, Fresh::Nothing, EVERYONE_200),
    ("POST", "/api/v1/verify", Some(r#"{"id": "{cid}"}"#), Fresh::Nothing, EVERYONE_200),
    ("GET", "/v/{cid}", None, Fresh::Nothing, EVERYONE_200),
    ("GET", "/.well-known/jwks.json", None, Fresh::Nothing, EVERYONE_200),
    ("POST", "/api/v1/session", Some(r#"{"username": "signer", "password": "correct horse battery staple"}"#), Fresh::Nothing, EVERYONE_200),
    ("GET", "/api/v1/session", None, Fresh::Nothing, SIGNED_IN_200),
    // last: sign-out ends the sessions used above (a token's sign-out is a no-op)
    ("DELETE", "/api/v1/session", None, Fresh::Nothing,
        [401, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204]),
];

/// The table and the OpenAPI document list the same endpoints: a new endpoint cannot be
/// forgotten here, and every endpoint tested here is documented.
fn assert_table_covers_openapi(doc: &serde_json::Value) {
    let events = EVENTS_TABLE.iter().map(|(m, p, _, _)| (*m, *p));
    let covered: Vec<(String, String)> = TABLE
        .iter()
        .map(|(m, p, ..)| (*m, *p))
        .chain(events)
        .map(|(m, p)| {
            let p = p
                .replace("{pid}", "{id}")
                .replace("{cid}", "{id}")
                .replace("{fresh}", "{id}")
                .replace("/agencies/MOSD/", "/agencies/{code}/")
                .replace("/entries/1/", "/entries/{seq}/")
                .replace("/{list}/revocation", "/{list}/{purpose}")
                .replace("{wh}", "{id}")
                .replace("{dl}", "{delivery}");
            (m.to_lowercase(), p)
        })
        .collect();
    let skip = ["/v/{id}/qr.png", "/v/{id}/qr.svg", "/healthz", "/readyz"];
    // And every row of the table is in the document.
    for (m, p) in &covered {
        assert!(
            doc["paths"][p.as_str()][m.as_str()].is_object(),
            "{m} {p} is not in the OpenAPI document"
        );
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if skip.contains(&path.as_str()) {
            continue;
        }
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_some() {
                assert!(
                    covered.contains(&(method.to_owned(), path.clone())),
                    "{method} {path} is missing from the authorization matrix"
                );
            }
        }
    }
}

async fn matrix(t: TestApp) {
    let t = with_second_agency(t).await;
    let doc = t.get("/api/openapi.json").await.json();
    assert_table_covers_openapi(&doc);

    // Shared MOSD resources, made with the fixture token (the "maker" of requests).
    let c = t.issue_id("مريم").await;
    let cid = c["id"].as_str().expect("id").to_owned();
    let pid = c["person_id"].as_str().expect("pid").to_owned();
    let list = c["status_list"].to_string();
    let vc = t
        .call(
            axum::http::Method::GET,
            &format!("/api/v1/credentials/{cid}/vc"),
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(vc.status, 200, "{}", vc.text());
    let vc = vc.text();
    let maker = Actor {
        id: "token:maker".into(),
        agency: sanad::domain::AgencyCode::parse("MOSD").expect("code"),
    };
    t.add_user("signer", Role::Registrar, Some("MOSD")).await;

    let callers: Vec<Caller> = vec![
        Caller::Public,
        t.user("admin", Role::Admin, None).await,
        t.user("reg", Role::Registrar, Some("MOSD")).await,
        t.user("reg-moj", Role::Registrar, Some("MOJ")).await,
        t.user("appr", Role::Approver, Some("MOSD")).await,
        t.user("appr-moj", Role::Approver, Some("MOJ")).await,
        t.user("off", Role::Officer, Some("MOSD")).await,
        t.user("off-moj", Role::Officer, Some("MOJ")).await,
        t.token_for("MOSD", &["read"]).await,
        t.token_for("MOSD", &["issue"]).await,
        t.token_for("MOSD", &["revoke"]).await,
        t.token_for("MOJ", &["read"]).await,
        t.token_for("MOJ", &["issue"]).await,
        t.token_for("MOJ", &["revoke"]).await,
    ];
    assert_eq!(callers.len(), COLUMNS.len());

    let mut failures = Vec::new();
    let mut n = 0;
    for (method, template, body, fresh, expected) in TABLE {
        for (col, caller) in callers.iter().enumerate() {
            n += 1;
            let fresh_id = match fresh {
                Fresh::Nothing => String::new(),
                Fresh::ActiveCredential | Fresh::SuspendedCredential | Fresh::LinkedCredential => {
                    let c = sanad::issuance::issue_digital_id(
                        &t.app,
                        &maker,
                        &PersonId::parse(&pid).expect("pid"),
                    )
                    .await
                    .expect("issue");
                    if *fresh == Fresh::SuspendedCredential {
                        sanad::issuance::change_status(
                            &t.app,
                            &maker,
                            &CredentialId::parse(&c.id).expect("id"),
                            StatusAction::Suspend,
                            ReasonCode::UnderReview,
                            None,
                        )
                        .await
                        .expect("suspend");
                    }
                    if *fresh == Fresh::LinkedCredential {
                        t.app
                            .store
                            .put_holder_link(&c.id, &sanad::app::hash_token(&c.id), "test")
                            .await
                            .expect("link");
                    }
                    c.id
                }
                Fresh::PendingRequest => {
                    let c = sanad::issuance::issue_digital_id(
                        &t.app,
                        &maker,
                        &PersonId::parse(&pid).expect("pid"),
                    )
                    .await
                    .expect("issue");
                    sanad::approval::submit(
                        &t.app,
                        &maker,
                        &CredentialId::parse(&c.id).expect("id"),
                        sanad::approval::Gated::Revoke,
                        ReasonCode::Fraud,
                        None,
                    )
                    .await
                    .expect("request")
                    .id
                }
                Fresh::Token => {
                    sanad::app::create_api_token_owned(
                        &t.app.store,
                        "MOSD",
                        &["read".into()],
                        "victim",
                        "cli",
                    )
                    .await
                    .expect("token")
                    .0
                }
                Fresh::User => {
                    let u = sanad::storage::UserRow {
                        id: format!("u{}", helpers::unique("v").to_lowercase()),
                        username: helpers::unique("victim-"),
                        role: "officer".into(),
                        agency_code: Some("MOSD".into()),
                        password_hash: "x".into(),
                        created_at: 0,
                        disabled_at: None,
                    };
                    t.app.store.insert_user(&u, "test").await.expect("user");
                    u.id
                }
            };
            let path = template
                .replace("{list}", &list)
                .replace("{pid}", &pid)
                .replace("{cid}", &cid)
                .replace("{fresh}", &fresh_id);
            let res = if *template == "/api/v1/credentials/document" {
                document_upload(&t, caller).await
            } else if *method == "PUT" && template.ends_with("/photo") {
                t.req_bytes(
                    caller,
                    axum::http::Method::PUT,
                    &path,
                    "image/png",
                    tiny_png(),
                )
                .await
            } else {
                let body = body.map(|b| {
                    serde_json::from_str(
                        &b.replace("{vc}", &vc)
                            .replace("{pid}", &pid)
                            .replace("{cid}", &cid)
                            .replace("{n}", &n.to_string()),
                    )
                    .expect("body JSON")
                });
                t.req(caller, method.parse().expect("method"), &path, body)
                    .await
            };
            if res.status.as_u16() != expected[col] {
                failures.push(format!(
                    "{method} {template} as {}: expected {}, got {} ({})",
                    COLUMNS[col],
                    expected[col],
                    res.status,
                    res.text().chars().take(160).collect::<String>()
                ));
                continue;
            }
            if !res.status.is_success() && res.status != StatusCode::NOT_MODIFIED {
                // Every refusal is problem+json.
                if res.content_type() != "application/problem+json" {
                    failures.push(format!(
                        "{method} {template} as {}: {} is not problem+json",
                        COLUMNS[col], res.status
                    ));
                }
            }
            // Another agency's caller never sees MOSD's records in a list.
            if COLUMNS[col].ends_with("_other")
                && *method == "GET"
                && !template.contains("{")
                && res.status == StatusCode::OK
            {
                let text = res.text();
                assert!(
                    !text.contains(&cid) && !text.contains(&pid),
                    "{template} as {} leaks MOSD records",
                    COLUMNS[col]
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(n, TABLE.len() * COLUMNS.len());

    // Officers' full-record views are in the audit log under their ids.
    let entries = t.app.store.audit_entries().await.expect("audit");
    let views: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "credential.view_full" && e.subject == cid)
        .map(|e| e.actor.clone())
        .collect();
    assert_eq!(views.len(), 3, "admin, officer, officer of MOJ: {views:?}");
    assert!(views.iter().all(|a| a.starts_with("user:u")));
    let photo_views = entries
        .iter()
        .filter(|e| e.action == "credential.view_photo" && e.subject == cid)
        .count();
    assert_eq!(photo_views, 3, "admin, officer, officer of MOJ");
    assert_eq!(sanad::audit::verify_chain(&entries), Ok(entries.len()));
}

fn tiny_png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(8, 8, image::Rgb([20, 40, 60]))
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

async fn document_upload(t: &TestApp, caller: &Caller) -> helpers::Res {
    let (ct, body) = multipart(
        &[
            ("doc_type", "letter"),
            ("number", "X/1"),
            ("title", "شهادة"),
            ("recipient_name", "سارة علي"),
            ("issue_date", "2026-11-20"),
        ],
        Some(("file", "a.pdf", "application/pdf", b"%PDF-1.4 matrix")),
    );
    let mut b = Request::post("/api/v1/credentials/document").header(header::CONTENT_TYPE, ct);
    match caller {
        Caller::Public => {}
        Caller::Token(tok) => b = b.header(header::AUTHORIZATION, format!("Bearer {tok}")),
        Caller::Session { cookie, csrf } => {
            b = b
                .header(header::COOKIE, format!("sanad_session={cookie}"))
                .header("x-csrf-token", csrf.as_str());
        }
    }
    t.send(b.body(Body::from(body)).expect("request")).await
}

both_dbs!(authorization_matrix, matrix);

/// Columns of the event matrix: events are for API tokens with the `events` scope; feed
/// grants are for admins.
const EVENT_COLUMNS: [&str; 6] = [
    "public",
    "admin",
    "registrar",
    "token_read",
    "token_events",
    "token_events_other",
];

/// `(method, path, body, expected per event column)`. `{wh}` is a MOSD webhook, `{dl}` one
/// of its deliveries. Another agency's events token (MOJ) hears MOSD's credential only after
/// it watched it (the watch row comes after the feed rows that must not show it).
#[rustfmt::skip]
const EVENTS_TABLE: &[(&str, &str, Option<&str>, [u16; 6])] = &[
    ("GET", "/api/v1/events", None, [401, 403, 403, 403, 200, 200]),
    ("GET", "/api/v1/events/stream", None, [401, 403, 403, 403, 200, 200]),
    ("GET", "/api/v1/webhooks", None, [401, 403, 403, 403, 200, 200]),
    ("POST", "/api/v1/webhooks", Some(r#"{"url": "http://127.0.0.1:9/hook", "event_types": ["credential.revoked"]}"#), [401, 403, 403, 403, 201, 201]),
    ("GET", "/api/v1/webhooks/{wh}", None, [401, 403, 403, 403, 200, 404]),
    ("POST", "/api/v1/webhooks/{wh}/enable", None, [401, 403, 403, 403, 200, 404]),
    ("GET", "/api/v1/webhooks/{wh}/deliveries", None, [401, 403, 403, 403, 200, 404]),
    ("POST", "/api/v1/webhooks/{wh}/deliveries/{dl}/redeliver", None, [401, 403, 403, 403, 202, 404]),
    ("GET", "/api/v1/events/grants", None, [401, 200, 403, 403, 403, 403]),
    ("POST", "/api/v1/events/grants", Some(r#"{"agency": "MOJ", "feed_agency": "MOSD"}"#), [401, 201, 403, 403, 403, 403]),
    ("POST", "/api/v1/events/watches", Some(r#"{"credential_id": "{cid}"}"#), [401, 403, 403, 403, 201, 201]),
    ("GET", "/api/v1/events/watches", None, [401, 403, 403, 403, 200, 200]),
];

/// Send `req` as `caller` and return the status only (the event stream never ends).
async fn status_only(
    t: &TestApp,
    caller: &Caller,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (u16, String) {
    use tower::ServiceExt as _;
    let mut b = Request::builder().method(method).uri(path);
    match caller {
        Caller::Public => {}
        Caller::Token(tok) => b = b.header(header::AUTHORIZATION, format!("Bearer {tok}")),
        Caller::Session { cookie, csrf } => {
            b = b.header(header::COOKIE, format!("sanad_session={cookie}"));
            if method != "GET" {
                b = b.header("x-csrf-token", csrf.as_str());
            }
        }
    }
    let req = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v)),
        None => b.body(Body::empty()),
    }
    .expect("request");
    let res = t.router.clone().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if ct.starts_with("text/event-stream") {
        return (status, ct);
    }
    use http_body_util::BodyExt as _;
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, format!("{ct}\n{}", String::from_utf8_lossy(&bytes)))
}

async fn events_matrix(t: TestApp) {
    let t = with_second_agency(t).await;
    let c = t.issue_id("مريم").await;
    let cid = c["id"].as_str().expect("id").to_owned();
    // A MOSD webhook with one delivery in its log.
    let wh = sanad::storage::WebhookRow {
        id: "whmatrix".into(),
        agency_code: "MOSD".into(),
        url: "http://127.0.0.1:9/hook".into(),
        event_types: vec![],
        agencies: vec![],
        status: "active".into(),
        disabled_at: None,
        disabled_reason: None,
        cursor: 0,
        created_at: 0,
    };
    t.app
        .store
        .insert_webhook(&wh, "test")
        .await
        .expect("webhook");
    let r = t.action(&cid, "suspend", "under_review").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let wh = t.app.store.get_webhook("whmatrix").await.expect("get");
    assert_eq!(t.app.store.fan_out(&wh, 100).await.expect("fan out"), 1);
    let dl = t
        .app
        .store
        .list_deliveries("whmatrix", None, 10)
        .await
        .expect("log")[0]
        .id;

    let callers: Vec<Caller> = vec![
        Caller::Public,
        t.user("admin", Role::Admin, None).await,
        t.user("reg", Role::Registrar, Some("MOSD")).await,
        t.token_for("MOSD", &["read", "issue", "revoke"]).await,
        t.token_for("MOSD", &["events"]).await,
        t.token_for("MOJ", &["events"]).await,
    ];
    let mut failures = Vec::new();
    for (method, template, body, expected) in EVENTS_TABLE {
        for (col, caller) in callers.iter().enumerate() {
            let path = template
                .replace("{wh}", "whmatrix")
                .replace("{dl}", &dl.to_string());
            let body = body.map(|b| b.replace("{cid}", &cid));
            let (status, text) = status_only(&t, caller, method, &path, body).await;
            if status != expected[col] {
                failures.push(format!(
                    "{method} {template} as {}: expected {}, got {status} ({})",
                    EVENT_COLUMNS[col],
                    expected[col],
                    text.chars().take(160).collect::<String>()
                ));
                continue;
            }
            if status >= 400 && !text.starts_with("application/problem+json") {
                failures.push(format!(
                    "{method} {template} as {}: {status} is not problem+json",
                    EVENT_COLUMNS[col]
                ));
            }
            // Before its watch (and the grant), MOJ hears nothing of MOSD's credential.
            if EVENT_COLUMNS[col] == "token_events_other" && *template == "/api/v1/events" {
                assert!(
                    !text.contains(&cid),
                    "MOJ hears MOSD's events before a watch: {text}"
                );
            }
            if EVENT_COLUMNS[col] == "token_events" && *template == "/api/v1/events" {
                assert!(
                    text.contains(&cid) && text.contains("credential.suspended"),
                    "{text}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

both_dbs!(events_authorization_matrix, events_matrix);
