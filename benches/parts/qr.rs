//! Part `qr` (SPEC §12, QR PNG render ≤ 2 ms): in-process, one core. The QR text of a
//! document certificate (a 40-character Arabic recipient name) issued through the real
//! issuance path: encoding (segments, error correction, mask selection), rendering an encoded
//! code to PNG and to SVG, and both together (what an uncached `GET /v/{id}/qr.png` does).
//!
//! Options by env: `BENCH_QR_SECONDS` (default 2 per figure).

use crate::util::{self, env_or};
use sanad::app::App;
use sanad::config::Config;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn rate<F: FnMut(usize)>(min_time: Duration, mut f: F) -> f64 {
    for i in 0..20 {
        f(i);
    }
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < min_time {
        for _ in 0..10 {
            f(n);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Run the part; its markdown section.
pub fn run() -> String {
    let min = Duration::from_secs(env_or("BENCH_QR_SECONDS", 2));
    let dir = util::scratch("qr");
    let rt = util::rt();
    let url = format!("sqlite://{}?mode=rwc", dir.join("b.db").display());
    let app = rt
        .block_on(App::build(Config::for_tests(url, dir.join("keys"))))
        .expect("app");
    let texts = rt.block_on(crate::common::issue_documents(&app, 50));
    let code = sanad::render::qr::encode(&texts[0], qrcode::EcLevel::M).expect("qr");
    let load_start = util::load();
    let encode = rate(min, |i| {
        black_box(
            sanad::render::qr::encode(&texts[i % texts.len()], qrcode::EcLevel::M).expect("qr"),
        );
    });
    let png = rate(min, |_| {
        black_box(sanad::render::qr::png(&code, 8));
    });
    let svg = rate(min, |_| {
        black_box(sanad::render::qr::svg(&code));
    });
    let both = rate(min, |i| {
        let c = sanad::render::qr::encode(&texts[i % texts.len()], qrcode::EcLevel::M).expect("qr");
        black_box(sanad::render::qr::png(&c, 8));
    });
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    let line = |what: &str, r: f64| format!("| {what} | {r:.0} | {:.3} ms |\n", 1000.0 / r);
    let md = format!(
        "### QR render\n\n\
         In-process, one core: the QR text of a document certificate ({} characters, version {} at M). \
         Load average {load_start} at the start, {} at the end.\n\n\
         | what | per second | each |\n|---|---:|---:|\n{}{}{}{}\n\
         Each credential's PNG and SVG are cached in memory by the server after the first request.\n",
        texts[0].len(),
        sanad::render::qr::version_of(&code),
        util::load(),
        line(
            "encode (segments, error correction, mask selection)",
            encode
        ),
        line("render an encoded code to PNG (1-bit, 8 px/module)", png),
        line("render an encoded code to SVG", svg),
        line("encode + PNG (an uncached `GET /v/{id}/qr.png`)", both),
    );
    println!("{md}");
    md
}
