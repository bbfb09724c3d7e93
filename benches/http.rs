//! HTTP figures with wrk on loopback (SPEC §12): the plain-JSON ceiling of this server, the
//! in-process Ed25519 rate on all cores, and `POST /api/v1/verify` with distinct and with
//! repeated scanned QR texts, all in the same run.
//! Run: `cargo bench --bench http` (needs `wrk`: apt-get install wrk). Options by env:
//! `BENCH_SECONDS` (default 10), `BENCH_CONNECTIONS` (64), `BENCH_TOKENS` (20000),
//! `BENCH_SERVER_THREADS` (2). Nothing is asserted: figures are printed.

mod common;

use sanad::app::App;
use sanad::config::Config;
use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non2xx: u64,
}

fn wrk(url: &str, script: Option<&std::path::Path>, secs: u64, conns: u64) -> Wrk {
    let mut c = Command::new("wrk");
    c.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(s) = script {
        c.arg("-s").arg(s);
    }
    let out = c.arg(url).output().expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let num = |prefix: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
    };
    let ms = |s: Option<String>| -> f64 {
        let s = s.unwrap_or_default();
        if let Some(v) = s.strip_suffix("us") {
            v.parse::<f64>().unwrap_or(0.0) / 1000.0
        } else if let Some(v) = s.strip_suffix("ms") {
            v.parse().unwrap_or(0.0)
        } else if let Some(v) = s.strip_suffix('s') {
            v.parse::<f64>().unwrap_or(0.0) * 1000.0
        } else {
            0.0
        }
    };
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Wrk {
        rps: num("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: ms(num("50%")),
        p99_ms: ms(num("99%")),
        non2xx,
    }
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("SKIPPED: wrk is not installed (apt-get install wrk)");
        return;
    }
    let secs = env_or("BENCH_SECONDS", 10);
    let conns = env_or("BENCH_CONNECTIONS", 64);
    let n_tokens = env_or("BENCH_TOKENS", 20_000) as usize;
    let threads = env_or("BENCH_SERVER_THREADS", 2) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!(
        "sanad-httpbench-{}",
        sanad::domain::random_base32(8)
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut cfg = Config::for_tests(
        format!("sqlite://{}?mode=rwc", dir.join("b.db").display()),
        dir.join("keys"),
    );
    cfg.public_url = format!("http://127.0.0.1:{port}");
    let app = rt.block_on(App::build(cfg)).expect("app");
    let actor = sanad::issuance::Actor {
        id: "bench".into(),
        agency: sanad::domain::AgencyCode::parse("MOSD").expect("code"),
    };

    // Distinct credentials to scan.
    let start = Instant::now();
    let bodies: Vec<String> = rt
        .block_on(common::issue_documents(&app, n_tokens))
        .into_iter()
        .map(|qr| serde_json::json!({ "qr": qr }).to_string())
        .collect();
    println!(
        "issued {n_tokens} credentials in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let tokens_file = dir.join("bodies.txt");
    std::fs::write(&tokens_file, bodies.join("\n")).expect("write");
    let lua = |path: &std::path::Path, distinct: bool| {
        let mut f = std::fs::File::create(path).expect("lua");
        write!(
            f,
            r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{}}
for line in io.lines("{file}") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  {pick}
  return wrk.format(nil, "/api/v1/verify", nil, bodies[i])
end
"#,
            file = tokens_file.display(),
            pick = if distinct {
                "i = (i % #bodies) + 1"
            } else {
                "i = 1"
            }
        )
        .expect("write lua");
    };
    let distinct_lua = dir.join("distinct.lua");
    let repeated_lua = dir.join("repeated.lua");
    lua(&distinct_lua, true);
    lua(&repeated_lua, false);

    let router = sanad::web::router(app.clone());
    rt.spawn(async move { axum::serve(listener, router).await });
    std::thread::sleep(Duration::from_millis(200));
    let base = format!("http://127.0.0.1:{port}");

    // In-process Ed25519 verifications per second on all cores (2 threads), same run.
    let key = app
        .keys
        .signing_key(&actor.agency)
        .expect("key")
        .verifying_key();
    let msg = b"eyJhbGciOiJFZERTQSJ9.bench-message-of-a-typical-qr-token-length".repeat(4);
    let sk = ed25519_dalek::SigningKey::generate(&mut rand::rng());
    let sig = ed25519_dalek::Signer::sign(&sk, &msg);
    let vk = sk.verifying_key();
    let _ = key;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let dur = Duration::from_secs(3);
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let msg = msg.clone();
            std::thread::spawn(move || {
                let s = Instant::now();
                let mut n = 0u64;
                while s.elapsed() < dur {
                    std::hint::black_box(vk.verify_strict(&msg, &sig)).expect("ok");
                    n += 1;
                }
                n as f64 / s.elapsed().as_secs_f64()
            })
        })
        .collect();
    let ed_all: f64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();

    let plain = wrk(&format!("{base}/healthz"), None, secs, conns);
    let distinct = wrk(&base, Some(&distinct_lua), secs, conns);
    let repeated = wrk(&base, Some(&repeated_lua), secs, conns);
    let ceiling = plain.rps.min(ed_all);
    println!(
        "server: {threads} worker threads; wrk: 1 thread, {conns} connections, {secs} s; {cores} cores shared"
    );
    println!("in-process Ed25519 verify_strict, all cores      {ed_all:>10.0} /s");
    println!(
        "plain-JSON ceiling (GET /healthz)                 {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
        plain.rps, plain.p50_ms, plain.p99_ms
    );
    println!(
        "verify, distinct QR texts                         {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  non-2xx {}",
        distinct.rps, distinct.p50_ms, distinct.p99_ms, distinct.non2xx
    );
    println!(
        "verify, one repeated QR text                      {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  non-2xx {}",
        repeated.rps, repeated.p50_ms, repeated.p99_ms, repeated.non2xx
    );
    println!(
        "distinct / min(ceiling, Ed25519 all cores) = {:.0} %  (target >= 75 %)",
        100.0 * distinct.rps / ceiling
    );
    println!(
        "repeated / plain-JSON ceiling = {:.0} %  (target >= 60 %), p99 {:.2} ms (target <= 10 ms)",
        100.0 * repeated.rps / plain.rps,
        repeated.p99_ms
    );
    let _ = std::fs::remove_dir_all(&dir);
}
