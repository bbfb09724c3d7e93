//! Two instances on one database: a credential issued on one is verified on the other before
//! any notification or poll has told the second of it. In-process apps run neither the poll
//! nor LISTEN, so this is the worst case, and deterministic: the second instance must catch
//! up from the database when asked about a slot it does not know, not answer from its stale
//! view ("stored record is unreadable", "no record of the credential").

use crate::both_dbs;
use crate::helpers::{self, TestApp};
use axum::http::StatusCode;
use serde_json::json;

async fn fresh_issue_verifies_on_second_instance(t: TestApp) {
    let config = sanad::config::Config::for_tests(t.app.config.database_url(), t.dir.join("keys"));
    let app = sanad::app::App::build(config)
        .await
        .expect("second instance");
    // B through the same test client as A (A's guard keeps the database).
    let b = TestApp {
        router: sanad::web::router(app.clone()),
        app,
        token: t.token.clone(),
        dir: t.dir.clone(),
        db: None,
    };
    for round in 0..3 {
        // Issued on A after B started: B's in-memory view has never seen the slot.
        let c = t.issue_id("فاطمة أحمد الحربي").await;
        let id = c["id"].as_str().expect("id");
        // Each round asks first in another form, so each path meets the unknown slot.
        let mut bodies = [
            json!({"id": id}),
            json!({"qr": c["qr_text"]}),
            json!({"token": c["token"]}),
        ];
        bodies.rotate_left(round);
        for body in bodies {
            let v = b.verify(body.clone()).await;
            assert_eq!(v["outcome"], "valid", "round {round}, {body} on B -> {v}");
        }
        let r = b.get_json(&format!("/v/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "live record on B: {}", r.text());
        let j = r.json();
        assert_eq!(j["status"], "active", "{j}");
    }
}
both_dbs!(
    fresh_issue_verifies_on_second_instance_both,
    fresh_issue_verifies_on_second_instance
);
