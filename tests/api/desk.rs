//! The registrar's desk on both databases: name search with folded Arabic, the report
//! figures against a known data set, the CSV's safety, and officers without an agency.

use crate::both_dbs;
use crate::callers::Caller;
use crate::helpers::{self, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sanad::auth::Role;
use sanad::storage::PersonQuery;
use serde_json::json;

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, format!("sanad_session={cookie}"))
        .body(Body::empty())
        .expect("request")
}

/// A person search finds "فاطمة أحمد" from "فاطمه احمد", partial national IDs and a
/// credential id; nothing of another agency.
async fn search(t: TestApp) {
    let c = t.issue_id("فاطمة أحمد الحربي").await;
    t.issue_id("إيمان سالم").await;
    let find = |q: &str| {
        let q = PersonQuery::parse(q);
        let store = t.app.store.clone();
        async move {
            store
                .search_persons("MOSD", &q, 0, 10)
                .await
                .expect("search")
                .into_iter()
                .map(|p| p.name_ar)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("فاطمه احمد").await, vec!["فاطمة أحمد الحربي"]);
    assert_eq!(find("ايمان").await, vec!["إيمان سالم"]);
    assert_eq!(find("AL-HARBI").await.len(), 2, "Latin names, any case");
    assert_eq!(find("87654").await.len(), 2, "part of a national ID");
    assert_eq!(
        find(c["id"].as_str().expect("id")).await,
        vec!["فاطمة أحمد الحربي"]
    );
    assert!(find("100%").await.is_empty(), "LIKE wildcards are literal");
    let other = t
        .app
        .store
        .search_persons("MOJ", &PersonQuery::Name("فاطمه".into()), 0, 10)
        .await
        .expect("search");
    assert!(other.is_empty(), "another agency's persons are not found");
}
both_dbs!(search_both, search);

/// A report table as CSV, checking every cell is quoted and none is a formula.
async fn csv(t: &TestApp, cookie: &str, table: &str) -> String {
    let r = t
        .send(get(
            &format!("/console/reports.csv?table={table}&days=7"),
            cookie,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.content_type().starts_with("text/csv"));
    let text = r.text().trim_start_matches('\u{feff}').to_owned();
    for line in text.lines() {
        for cell in line.split(',') {
            assert!(
                cell.starts_with('"') && cell.ends_with('"'),
                "quoted: {cell}"
            );
            assert!(
                !cell[1..].starts_with(['=', '+', '-', '@']),
                "no formula: {cell}"
            );
        }
    }
    text
}

/// Known data: 3 digital IDs and 1 document issued today; one suspended, one revoked;
/// 2 valid public verifications, 1 of an unknown id, 1 officer view. The report and its
/// CSV say exactly that, and every CSV cell is quoted.
async fn report_figures(t: TestApp) {
    let a = t.issue_id("أ").await;
    let b = t.issue_id("ب").await;
    t.issue_id("ج").await;
    t.issue_doc_upload(b"%PDF-1.4 known").await;
    let id = |v: &serde_json::Value| v["id"].as_str().expect("id").to_owned();
    assert_eq!(
        t.action(&id(&a), "suspend", "under_review").await.status,
        200
    );
    assert_eq!(t.action(&id(&b), "revoke", "lost").await.status, 200);
    // One public verification of the suspended `a`, one of an unknown id.
    assert_eq!(
        t.verify(json!({"id": id(&a)})).await["outcome"],
        "suspended"
    );
    assert_eq!(
        t.verify(json!({"id": "NOSUCHCREDENTIAL0000"})).await["outcome"],
        "not_found"
    );
    t.add_user("root", Role::Admin, None).await;
    t.add_user("off", Role::Officer, None).await;
    let Caller::Session { cookie: off, .. } = t.signed_in("off").await else {
        panic!("session")
    };
    let r = t
        .send(get(&format!("/console/officer?id={}", id(&b)), &off))
        .await;
    assert_eq!(r.status, 200);
    t.app
        .metrics
        .flush_verifications(&t.app.store)
        .await
        .expect("flush");
    let Caller::Session { cookie, .. } = t.signed_in("root").await else {
        panic!("session")
    };
    let creds = csv(&t, &cookie, "credentials").await;
    for row in [
        r#""MOSD","digital_id","active","1""#,
        r#""MOSD","digital_id","revoked","1""#,
        r#""MOSD","digital_id","suspended","1""#,
        r#""MOSD","document","active","1""#,
    ] {
        assert!(creds.contains(row), "{row} in\n{creds}");
    }
    let today = sanad::render::pages::date(sanad::storage::now());
    let changes = csv(&t, &cookie, "changes").await;
    assert!(
        changes.contains(&format!(r#""{today}","4","1","0","1","0""#)),
        "issued 4, suspended 1, revoked 1 today:\n{changes}"
    );
    assert_eq!(changes.lines().count(), 1 + 7, "a row a day");
    let verifications = csv(&t, &cookie, "verifications").await;
    for row in [
        format!(r#""{today}","suspended","1""#),
        format!(r#""{today}","not_found","1""#),
        format!(r#""{today}","revoked","1""#),
    ] {
        assert!(verifications.contains(&row), "{row} in\n{verifications}");
    }
    let verifiers = csv(&t, &cookie, "verifiers").await;
    assert!(
        verifiers.contains(&format!(r#""{today}","public","public","2""#)),
        "{verifiers}"
    );
    assert!(
        verifiers.contains(&format!(r#""{today}","officer","none","1""#)),
        "{verifiers}"
    );
    // The page draws the same figures as SVG charts.
    let page = t
        .send(get("/console/reports?days=7&lang=en", &cookie))
        .await;
    let html = page.text();
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("Issuance and status changes per day"));
    // A registrar sees only their agency's credentials; an unknown table is a 404 page.
    let r = t
        .send(get("/console/reports.csv?table=nope", &cookie))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.content_type().starts_with("text/html"));
}
both_dbs!(report_figures_both, report_figures);

/// `sanad users add omar --role officer` needs no agency.
async fn officer_without_agency(t: TestApp) {
    let u = sanad::auth::add_user(
        &t.app.store,
        "omar",
        Role::Officer,
        None,
        crate::callers::PW,
        "test",
    )
    .await
    .expect("an officer without an agency");
    assert_eq!(u.agency_code, None);
    assert!(
        sanad::auth::add_user(
            &t.app.store,
            "rana",
            Role::Registrar,
            None,
            crate::callers::PW,
            "test"
        )
        .await
        .is_err(),
        "a registrar still needs one"
    );
}
both_dbs!(officer_without_agency_both, officer_without_agency);
