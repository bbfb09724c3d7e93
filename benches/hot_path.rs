//! In-process figures for the hot path: Ed25519 verification (raw and through josekit's
//! traits), full QR verification (`verification::verify_qr`), a repeated scan through the
//! whole router (`POST /api/v1/verify`, middleware and JSON included), status lookup, QR
//! rendering. Run: `cargo bench --bench hot_path`. Prints one line per figure; nothing is
//! asserted.
//!
//! `HOT_PATH_PROFILE=N` runs only N repeated scans through the router (after one warm-up
//! scan) and exits: a short, steady loop to run under a profiler, e.g.
//! `HOT_PATH_PROFILE=20000 valgrind --tool=callgrind target/release/deps/hot_path-…`.

mod common;

use sanad::app::App;
use sanad::config::Config;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn rate<F: FnMut(usize)>(name: &str, min_time: Duration, mut f: F) -> f64 {
    // Warm up, then run whole batches until min_time has passed.
    for i in 0..200 {
        f(i);
    }
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < min_time {
        for _ in 0..100 {
            f(n);
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = n as f64 / secs;
    println!(
        "{name:<52} {per_sec:>12.0} /s   {:>9.2} µs each",
        1e6 / per_sec
    );
    per_sec
}

/// A `POST /api/v1/verify` of `body` through the router, answered 200; the answer's length.
async fn verify_via_router(router: &axum::Router, body: &str) -> usize {
    use tower::ServiceExt as _;
    let req = axum::http::Request::post("/api/v1/verify")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_owned()))
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("answer");
    assert_eq!(res.status(), 200);
    axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body")
        .len()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("sanad-bench-{}", sanad::domain::random_base32(8)));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("b.db").display());
    let app = rt
        .block_on(App::build(Config::for_tests(url, dir.join("keys"))))
        .expect("app");
    let agency = sanad::domain::AgencyCode::parse("MOSD").expect("code");
    let router = sanad::web::router(app.clone());
    let id_body =
        serde_json::json!({ "qr": rt.block_on(common::issue_digital_id(&app)) }).to_string();
    if let Some(n) = std::env::var("HOT_PATH_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let len = rt.block_on(verify_via_router(&router, &id_body));
        println!("answer: {len} bytes");
        rt.block_on(async {
            for _ in 0..n {
                black_box(verify_via_router(&router, &id_body).await);
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // Issue credentials through the real issuance path (one transaction each).
    let n_issue = 2000;
    let start = Instant::now();
    let texts = rt.block_on(common::issue_documents(&app, n_issue));
    let el = start.elapsed().as_secs_f64();
    println!(
        "{:<52} {:>12.0} /s   ({n_issue} in {el:.2} s, SQLite, one transaction each)",
        "issue a credential via issuance (sign+slot+store)",
        n_issue as f64 / el
    );

    let key = app.keys.signing_key(&agency).expect("key");
    let token0 = texts[0]
        .split('#')
        .nth(1)
        .map(sanad::domain::digits_to_token)
        .expect("t")
        .expect("t");
    let entry = app.keys.get(&key.kid).expect("entry");
    let min = Duration::from_secs(2);

    let msg = token0.rsplit_once('.').expect("dot").0.as_bytes().to_vec();
    let sig = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token0.rsplit_once('.').expect("dot").1)
            .expect("sig")
    };
    let vk = key.verifying_key();
    let signature = ed25519_dalek::Signature::from_slice(&sig).expect("sig");
    let ed = rate("ed25519-dalek verify_strict (1 core)", min, |_| {
        black_box(vk.verify_strict(black_box(&msg), &signature)).expect("ok");
    });
    rate("compact JWS verify via josekit traits + dalek", min, |_| {
        black_box(sanad::keys::verify_compact(
            black_box(&token0),
            &entry.verifier,
        ))
        .expect("ok");
    });
    let verify = rate(
        "verify_qr: full checks, distinct tokens (1 core)",
        min,
        |i| {
            if i % texts.len() == 0 {
                // Each round over the tokens starts cold: every token is checked in full.
                app.verified.clear();
            }
            let v = rt.block_on(sanad::verification::verify_qr(
                &app,
                &texts[i % texts.len()],
                None,
            ));
            assert_eq!(v.outcome, sanad::verification::Outcome::Valid);
            black_box(serde_json::to_vec(&v).expect("json"));
        },
    );
    rate(
        "verify_qr: repeated token (cached signature, 1 core)",
        min,
        |_| {
            let v = rt.block_on(sanad::verification::verify_qr(&app, &texts[0], None));
            black_box(serde_json::to_vec(&v).expect("json"));
        },
    );
    rate(
        "router: POST /api/v1/verify, repeated digital ID (1 core)",
        min,
        |_| {
            black_box(rt.block_on(verify_via_router(&router, &id_body)));
        },
    );
    rate("status lookup in memory", min, |i| {
        black_box(
            app.status
                .lookup(1, (i % 131072) as u32, "0123456789abcdef"),
        );
    });
    let code = sanad::render::qr::encode(&texts[0], qrcode::EcLevel::M).expect("qr");
    println!(
        "QR of a document certificate: version {} at M, {} chars",
        sanad::render::qr::version_of(&code),
        texts[0].len()
    );
    rate("QR encode (segments + EC + mask selection)", min, |i| {
        black_box(
            sanad::render::qr::encode(&texts[i % texts.len()], qrcode::EcLevel::M).expect("qr"),
        );
    });
    rate(
        "QR render PNG from an encoded code (8 px/module)",
        min,
        |_| {
            black_box(sanad::render::qr::png(&code, 8));
        },
    );
    rate("QR encode + render PNG (uncached request)", min, |i| {
        let c = sanad::render::qr::encode(&texts[i % texts.len()], qrcode::EcLevel::M).expect("qr");
        black_box(sanad::render::qr::png(&c, 8));
    });
    println!(
        "verify_qr / raw Ed25519 verify on one core: {:.0} %",
        100.0 * verify / ed
    );
    let _ = std::fs::remove_dir_all(&dir);
}
