//! Holder links, the phone card, the printables and the document particulars, through the
//! real router on both databases.

use crate::both_dbs;
use crate::callers::{Caller, with_second_agency};
use crate::helpers::{self, Res, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sanad::auth::Role;

fn path_of(url: &str) -> String {
    let i = url.find("/h/").expect("holder path");
    url[i..].to_owned()
}

/// HTML text as a browser reads it (minijinja escapes `/` and quotes).
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn actions(entries: &[sanad::storage::AuditRow]) -> Vec<String> {
    entries.iter().map(|e| e.action.clone()).collect()
}

fn assert_private(r: &Res) {
    assert_eq!(r.headers[header::CACHE_CONTROL], "private, no-store");
    assert!(
        r.headers["x-robots-tag"]
            .to_str()
            .expect("header")
            .contains("noindex")
    );
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
}

/// Create, open, replace and revoke a holder link; its secret is stored only hashed; every
/// change is audited; another agency cannot touch it; documents get none.
async fn holder_links(t: TestApp) {
    let t = with_second_agency(t).await;
    let c = t.issue_id("فاطمة أحمد الحربي").await;
    let id = c["id"].as_str().expect("id");
    let me = Caller::Token(t.token.clone());
    let link = format!("/api/v1/credentials/{id}/holder-link");

    let state = t.req(&me, Method::GET, &link, None).await;
    assert_eq!(state.status, StatusCode::OK);
    assert_eq!(state.json()["exists"], false);

    let r = t.req(&me, Method::POST, &link, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.json()["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("https://sanad.example.gov/h/"), "{url}");
    assert_eq!(r.json()["replaced"], false);
    let secret = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("secret");
    assert_eq!(secret.len(), 32);

    // Only the hash is stored.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT secret_hash FROM holder_links")
        .fetch_all(t.app.store.pool())
        .await
        .expect("rows");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, secret);
    assert_eq!(stored[0].0, sanad::app::hash_token(secret));

    // The card: names in both scripts, programme, agency, number, status; private headers.
    let card = t.get(&path_of(&url)).await;
    assert_eq!(card.status, StatusCode::OK);
    assert_private(&card);
    let html = unescape(&card.text());
    for want in [
        "فاطمة أحمد الحربي",
        "Fatima Ahmed Al-Harbi",
        "family of an inmate",
        id,
        "state-active",
        r#"lang="ar" dir="rtl""#,
        r#"rel="manifest""#,
        "noindex",
    ] {
        assert!(html.contains(want), "card lacks {want}");
    }
    let qr = t.get(&format!("{}qr.svg", path_of(&url))).await;
    assert_eq!(qr.status, StatusCode::OK);
    assert_private(&qr);
    assert!(qr.text().contains("mm\""));
    let m = t
        .get(&format!("{}manifest.webmanifest", path_of(&url)))
        .await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(m.json()["start_url"], "./");
    let sw = t.get(&format!("{}sw.js", path_of(&url))).await;
    assert_eq!(sw.status, StatusCode::OK);
    assert!(sw.content_type().starts_with("text/javascript"));
    // No photo uploaded: the photo answers 404, the page shows the placeholder.
    assert_eq!(
        t.get(&format!("{}photo.jpg", path_of(&url))).await.status,
        StatusCode::NOT_FOUND
    );

    // A wrong or malformed secret is 404 (and as private).
    let wrong = t.get("/h/0123456789abcdefghjkmnpqrstvwxyz/").await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert_private(&wrong);
    assert_eq!(t.get("/h/short/").await.status, StatusCode::NOT_FOUND);

    // Another agency's registrar sees nothing.
    let moj = t.token_for("MOJ", &["issue", "read"]).await;
    t.req(&moj, Method::POST, &link, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    t.req(&moj, Method::DELETE, &link, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    // A read-only token cannot make links.
    let reader = t.token_for("MOSD", &["read"]).await;
    t.req(&reader, Method::POST, &link, None)
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    // Replace: the old URL stops working, the new one opens the card.
    let r2 = t.req(&me, Method::POST, &link, None).await;
    assert_eq!(r2.status, StatusCode::CREATED);
    assert_eq!(r2.json()["replaced"], true);
    let url2 = r2.json()["url"].as_str().expect("url").to_owned();
    assert_ne!(url, url2);
    assert_eq!(t.get(&path_of(&url)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&path_of(&url2)).await.status, StatusCode::OK);
    assert_eq!(
        t.req(&me, Method::GET, &link, None).await.json()["exists"],
        true
    );

    // Revoke: 404 from now on; a second revoke is 404 too.
    assert_eq!(
        t.req(&me, Method::DELETE, &link, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.get(&path_of(&url2)).await.status, StatusCode::NOT_FOUND);
    t.req(&me, Method::DELETE, &link, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // Audited, with neither the secret nor its hash in the log.
    let log = t.app.store.audit_page(0, 1000).await.expect("audit");
    let acts = actions(&log);
    assert_eq!(
        acts.iter().filter(|a| *a == "holder_link.create").count(),
        2
    );
    assert_eq!(
        acts.iter().filter(|a| *a == "holder_link.revoke").count(),
        1
    );
    for e in &log {
        assert!(!e.detail.contains(secret) && !e.detail.contains(&stored[0].0));
    }

    // Documents get no holder link; a revoked ID gets no new one.
    let doc = t.issue_doc_upload(b"%PDF-1.4 letter").await;
    let doc_id = doc["id"].as_str().expect("id");
    t.req(
        &me,
        Method::POST,
        &format!("/api/v1/credentials/{doc_id}/holder-link"),
        None,
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.action(id, "revoke", "lost").await.status, StatusCode::OK);
    t.req(&me, Method::POST, &link, None)
        .await
        .assert_problem(StatusCode::CONFLICT);
}
both_dbs!(holder_links_both, holder_links);

/// The card shows the live status: a suspension shows on the open link.
async fn card_shows_live_status(t: TestApp) {
    let c = t.issue_id("نوال").await;
    let id = c["id"].as_str().expect("id");
    let r = t
        .req(
            &Caller::Token(t.token.clone()),
            Method::POST,
            &format!("/api/v1/credentials/{id}/holder-link"),
            None,
        )
        .await;
    let url = r.json()["url"].as_str().expect("url").to_owned();
    assert_eq!(
        t.action(id, "suspend", "under_review").await.status,
        StatusCode::OK
    );
    let html = t.get(&path_of(&url)).await.text();
    assert!(html.contains("state-suspended"), "{html}");
}
both_dbs!(card_status_both, card_shows_live_status);

fn cookie_get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, format!("sanad_session={cookie}"))
        .body(Body::empty())
        .expect("request")
}

/// The console's holder page, the ID card and the certificate: for the credential's
/// agency only, bilingual, with the QR sized in millimetres, audited.
async fn console_printables(t: TestApp) {
    let t = with_second_agency(t).await;
    let reg = t.user("reg", Role::Registrar, Some("MOSD")).await;
    let other = t.user("moj", Role::Registrar, Some("MOJ")).await;
    let Caller::Session { cookie, csrf } = reg else {
        panic!("session")
    };
    let Caller::Session { cookie: other, .. } = other else {
        panic!("session")
    };
    let c = t.issue_id("فاطمة أحمد الحربي").await;
    let id = c["id"].as_str().expect("id");
    let doc = t.issue_doc_upload(b"%PDF-1.4 letter").await;
    let doc_id = doc["id"].as_str().expect("id");

    let card = t
        .send(cookie_get(
            &format!("/console/credentials/{id}/print/card"),
            &cookie,
        ))
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.text());
    assert_eq!(card.headers[header::CACHE_CONTROL], "private, no-store");
    let html = unescape(&card.text());
    for want in [
        "@page { size: 85.6mm 53.98mm",
        "فاطمة أحمد الحربي",
        "Fatima Ahmed Al-Harbi",
        "family of an inmate",
        id,
        &format!("https://sanad.example.gov/v/{id}"),
        "<svg",
    ] {
        assert!(html.contains(want), "card lacks {want}");
    }
    let mm: f64 = html
        .split("data-mm=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("qr size");
    assert!((25.0..=36.0).contains(&mm), "{mm}");

    let cert = t
        .send(cookie_get(
            &format!("/console/credentials/{doc_id}/print/certificate"),
            &cookie,
        ))
        .await;
    assert_eq!(cert.status, StatusCode::OK, "{}", cert.text());
    let html = unescape(&cert.text());
    let digest = doc["document_sha256"].as_str().expect("digest");
    for want in [
        "@page { size: A4",
        "إفادة استحقاق دعم اجتماعي",
        "MOSD/2026/004211",
        "social support eligibility letter",
        "2026-11-20",
        "فاطمة أحمد الحربي",
        &digest[..4],
        &digest[digest.len() - 4..],
        doc_id,
    ] {
        assert!(html.contains(want), "certificate lacks {want}");
    }

    // The wrong form for the kind, another agency, no session: console error pages (HTML).
    let r = t
        .send(cookie_get(
            &format!("/console/credentials/{doc_id}/print/card"),
            &cookie,
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.content_type().starts_with("text/html"));
    let r = t
        .send(cookie_get(
            &format!("/console/credentials/{id}/print/card"),
            &other,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.content_type().starts_with("text/html"));
    assert_eq!(
        t.get(&format!("/console/credentials/{id}/print/card"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // The holder page: create through the form; the URL and its QR are shown once.
    let page = t
        .send(cookie_get(
            &format!("/console/credentials/{id}/holder"),
            &cookie,
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(r#"data-exists="false""#));
    let form = |action: &str, token: &str| {
        Request::post(format!("/console/credentials/{id}/holder"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("sanad_session={cookie}"))
            .body(Body::from(format!("csrf={token}&action={action}")))
            .expect("request")
    };
    // A stale form token makes no link: back to the console with a notice.
    let stale = t.send(form("create", "wrong")).await;
    assert_eq!(stale.status, StatusCode::SEE_OTHER);
    assert_eq!(
        stale.headers[header::LOCATION],
        "/console?msg=msg_stale_form"
    );
    let made = t.send(form("create", &csrf)).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text());
    assert_eq!(made.headers[header::CACHE_CONTROL], "private, no-store");
    let html = unescape(&made.text());
    let url = html
        .split("id=\"holder-url\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("url shown")
        .to_owned();
    assert!(html.contains("<svg"));
    assert_eq!(t.get(&path_of(&url)).await.status, StatusCode::OK);
    let again = t
        .send(cookie_get(
            &format!("/console/credentials/{id}/holder"),
            &cookie,
        ))
        .await
        .text();
    assert!(again.contains(r#"data-exists="true""#) && !again.contains(&url));
    let gone = t.send(form("revoke", &csrf)).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(t.get(&path_of(&url)).await.status, StatusCode::NOT_FOUND);

    let log = t.app.store.audit_page(0, 1000).await.expect("audit");
    let prints: Vec<_> = log
        .iter()
        .filter(|e| e.action == "credential.print")
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(prints.len(), 2, "{prints:?}");
}
both_dbs!(console_printables_both, console_printables);

/// For document certificates the live page, its JSON and the verify answer carry the
/// printed particulars; digital IDs carry none.
async fn document_particulars(t: TestApp) {
    let doc = t.issue_doc_upload(b"%PDF-1.4 letter").await;
    let id = doc["id"].as_str().expect("id");
    let want = serde_json::json!({
        "doc_type": "social support eligibility letter", "number": "MOSD/2026/004211",
        "title": "إفادة استحقاق دعم اجتماعي", "issue_date": "2026-11-20"
    });
    assert_eq!(
        t.get_json(&format!("/v/{id}")).await.json()["document"],
        want
    );
    for body in [
        serde_json::json!({"qr": doc["qr_text"]}),
        serde_json::json!({"id": id}),
    ] {
        let v = t.verify(body).await;
        assert_eq!(v["outcome"], "valid");
        assert_eq!(v["credential"]["document"], want);
    }
    let page = unescape(&t.get(&format!("/v/{id}")).await.text());
    assert!(page.contains("MOSD/2026/004211") && page.contains("<h1"));
    assert!(page.contains("/assets/record.js"));
    let js = t.get("/assets/record.js").await;
    assert_eq!(js.status, StatusCode::OK);
    let c = t.issue_id("نوال").await;
    let j = t
        .get_json(&format!("/v/{}", c["id"].as_str().expect("id")))
        .await
        .json();
    assert!(j.get("document").is_none());
}
both_dbs!(document_particulars_both, document_particulars);

/// `?ref=1` honours `ec` and `px`; PNGs carry pHYs and SVGs their size in millimetres.
async fn qr_physical(t: TestApp) {
    let c = t.issue_id("نوال").await;
    let id = c["id"].as_str().expect("id");
    let small = t.get(&format!("/v/{id}/qr.png?ref=1&px=4")).await;
    let big = t.get(&format!("/v/{id}/qr.png?ref=1&px=8")).await;
    let high = t.get(&format!("/v/{id}/qr.png?ref=1&px=8&ec=H")).await;
    let dims = |r: &Res| {
        let d = png::Decoder::new(std::io::Cursor::new(r.body.to_vec()));
        let rd = d.read_info().expect("png");
        let i = rd.info();
        (i.width, i.pixel_dims.map(|p| p.xppu))
    };
    let (ws, ps) = dims(&small);
    let (wb, pb) = dims(&big);
    let (wh, _) = dims(&high);
    assert_eq!(wb, 2 * ws, "px honoured with ref=1");
    assert!(wh > wb, "ec=H makes a larger code");
    // Same physical size whatever the pixels: side / pixels-per-metre.
    let mm = |w: u32, p: Option<u32>| f64::from(w) / f64::from(p.expect("pHYs")) * 1000.0;
    assert!((mm(ws, ps) - mm(wb, pb)).abs() < 0.1);
    assert!(mm(wb, pb) >= 25.0);
    let svg = t.get(&format!("/v/{id}/qr.svg?ref=1&ec=Q")).await.text();
    let w: f64 = svg
        .split("width=\"")
        .nth(1)
        .and_then(|s| s.split("mm\"").next())
        .and_then(|s| s.parse().ok())
        .expect("width in mm");
    assert!(w >= 25.0, "{w}");
}
both_dbs!(qr_physical_both, qr_physical);
