//! Two instances on one database: a credential issued on one is verified on the other before
//! any notification or poll has told the second of it. In-process apps run neither the poll
//! nor LISTEN, so this is the worst case, and deterministic: the second instance must catch
//! up from the database when asked about a slot it does not know, not answer from its stale
//! view ("stored record is unreadable", "no record of the credential").

use crate::both_dbs;
use crate::helpers::{self, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

async fn post_verify(router: &axum::Router, body: Value) -> Value {
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

async fn get_json(router: &axum::Router, path: &str) -> (StatusCode, Value) {
    let req = Request::get(path)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

async fn fresh_issue_verifies_on_second_instance(t: TestApp) {
    let config = sanad::config::Config::for_tests(t.app.config.database_url(), t.dir.join("keys"));
    let b = sanad::app::App::build(config)
        .await
        .expect("second instance");
    let b_router = sanad::web::router(b.clone());
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
            let v = post_verify(&b_router, body.clone()).await;
            assert_eq!(v["outcome"], "valid", "round {round}, {body} on B -> {v}");
        }
        let (s, j) = get_json(&b_router, &format!("/v/{id}")).await;
        assert_eq!(s, StatusCode::OK, "live record on B: {j}");
        assert_eq!(j["status"], "active", "{j}");
    }
}
both_dbs!(
    fresh_issue_verifies_on_second_instance_both,
    fresh_issue_verifies_on_second_instance
);
