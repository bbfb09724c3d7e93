//! Part `verify` (SPEC §12): `POST /api/v1/verify` and VC-API `POST /credentials/verify`
//! under wrk (one thread, 64 connections) on loopback, next to the same server's plain-JSON
//! ceiling (`GET /healthz`) and the in-process Ed25519 rates on all cores, all in one run.
//!
//! The server is the real router in-process (`BENCH_SERVER_THREADS` tokio workers, default
//! 2) on a SQLite database filled by the real `sanad import` with `BENCH_TOKENS` digital IDs
//! (default 800,000: at 10 s a pass, enough for 80k never-seen scans a second). The rows, in the order they run (the server is fresh before the first
//! verify run, so nothing is in its 64k verified-token cache):
//! - never-seen: one pass over all tokens, each sent once (the run stops at the end of the
//!   pool, or after `BENCH_SECONDS`);
//! - rotation: the first `BENCH_ROTATION` tokens (default 100,000, more than the cache holds)
//!   round and round, for `BENCH_SECONDS`;
//! - repeated: one token;
//! - VC-API: `BENCH_VCS` (default 2,000) distinct `vc+jwt` full credentials (not cached by the
//!   server: every request checks a signature).
//!
//! wrk shares the cores with the server, so its scripts do as little as they can per request
//! (see [`lua`]): the repeated token is a static request, the varying runs' requests are
//! formatted once before the timed window. Its CPU time is counted over the timed window only.
//!
//! Options by env: `BENCH_SECONDS` (default 10), `BENCH_CONNECTIONS` (64), `BENCH_TOKENS`,
//! `BENCH_ROTATION`, `BENCH_VCS`, `BENCH_SERVER_THREADS`, `BENCH_LUA_PREFORMAT=0` (format
//! every request in Lua `request()`, as the scripts did before).

use crate::util::{self, Wrk, env_or};
use sanad::app::App;
use sanad::config::Config;
use sanad::keys::batch::BatchVerifier;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a wrk script picks the next body.
#[derive(Clone, Copy)]
enum Pick {
    /// Each body once, then the thread stops.
    Once,
    /// Round and round.
    Cycle,
    /// The first body every time.
    First,
}

/// Write the wrk script of one run. The load generator shares the two cores with the
/// server, so what wrk spends building requests is taken from the server; the scripts keep
/// that small:
/// - `First` (the repeated token) sends a static request: `wrk.method`, `wrk.body` and
///   `wrk.headers`, no `request()` function, like the plain-JSON ceiling;
/// - `Once` and `Cycle` format every request once in `init()` (before wrk's timed window)
///   and `request()` only returns the next one.
///
/// With `preformat` false (`BENCH_LUA_PREFORMAT=0`), every script formats each request in
/// `request()` as before, to compare with earlier figures.
fn lua(path: &Path, bodies: &Path, endpoint: &str, pick: Pick, preformat: bool) {
    let head = r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
"#;
    let file = bodies.display();
    let script = match (pick, preformat) {
        (Pick::First, true) => format!(
            r#"{head}wrk.path = "{endpoint}"
local f = assert(io.open("{file}"))
wrk.body = f:read("*l")
f:close()
"#
        ),
        (_, true) => {
            let pick = match pick {
                Pick::Once => "i = i + 1\n  if i > n then wrk.thread:stop(); i = n end",
                _ => "i = (i % n) + 1",
            };
            format!(
                r#"{head}local requests = {{}}
local n = 0
local i = 0
init = function(args)
  for line in io.lines("{file}") do
    n = n + 1
    requests[n] = wrk.format(nil, "{endpoint}", nil, line)
  end
end
request = function()
  {pick}
  return requests[i]
end
"#
            )
        }
        (_, false) => {
            let pick = match pick {
                Pick::Once => "i = i + 1\n  if i > #bodies then wrk.thread:stop(); i = #bodies end",
                Pick::Cycle => "i = (i % #bodies) + 1",
                Pick::First => "i = 1",
            };
            format!(
                r#"{head}local bodies = {{}}
for line in io.lines("{file}") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  {pick}
  return wrk.format(nil, "{endpoint}", nil, bodies[i])
end
"#
            )
        }
    };
    std::fs::write(path, script).expect("write lua");
}

/// Ed25519 checks per second on all cores: `verify_strict` one by one, and Sanad's own
/// batch check (`keys::batch::verify_all`: each signature prepared, then one equation) of 64
/// signatures by one key at a time, as a busy server batches them.
fn ed25519_rates(secs: f64) -> (f64, f64) {
    use ed25519_dalek::Signer as _;
    let sk = ed25519_dalek::SigningKey::generate(&mut rand::rng());
    let vk = sk.verifying_key();
    // About the length of a QR token's signing input.
    let msgs: Vec<Vec<u8>> = (0..64)
        .map(|i| format!("eyJhbGciOiJFZERTQSJ9.{i:04}-{}", "x".repeat(240)).into_bytes())
        .collect();
    let sigs: Vec<_> = msgs.iter().map(|m| sk.sign(m)).collect();
    let per_core = |batch: bool| {
        let handles: Vec<_> = (0..util::cores())
            .map(|_| {
                let (msgs, sigs) = (msgs.clone(), sigs.clone());
                std::thread::spawn(move || {
                    let s = Instant::now();
                    let mut n = 0u64;
                    let checks: Vec<_> = msgs
                        .iter()
                        .zip(&sigs)
                        .map(|(m, sig)| (vk, m.as_slice(), *sig))
                        .collect();
                    while s.elapsed().as_secs_f64() < secs {
                        if batch {
                            assert!(std::hint::black_box(sanad::keys::batch::verify_all(
                                &checks
                            )));
                            n += checks.len() as u64;
                        } else {
                            std::hint::black_box(vk.verify_strict(&msgs[0], &sigs[0])).expect("ok");
                            n += 1;
                        }
                    }
                    n as f64 / s.elapsed().as_secs_f64()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .sum::<f64>()
    };
    (per_core(false), per_core(true))
}

/// One measured wrk run.
struct Run {
    w: Wrk,
    /// Server CPU µs per request, all its threads.
    cpu: f64,
    /// Wall-clock µs per request in the batching task's rounds (`keys::batch`: the batch
    /// equation only; each signature's preparation runs on the requesting worker and is not
    /// counted here; a worker preempted by another process mid-round counts too).
    verify: f64,
    /// Signatures per round.
    batch: f64,
    /// wrk's own CPU µs per request in the timed window (not loading its script).
    wrk: f64,
}

/// A wrk run against the in-process server, with the server's CPU time per request (all
/// its threads), the share of it in signature-check rounds and their mean size, and wrk's
/// CPU time per request. With `BENCH_PERF` set to a folder, the run is also recorded with
/// `perf record` (arguments `BENCH_PERF_ARGS`, default `-g`) into `<folder>/<name>.data`.
fn measured(
    name: &str,
    url: &str,
    script: Option<&Path>,
    secs: u64,
    conns: u64,
    batch: &BatchVerifier,
) -> Run {
    let perf = std::env::var("BENCH_PERF").ok().map(|d| {
        std::process::Command::new("perf")
            .arg("record")
            .args(
                std::env::var("BENCH_PERF_ARGS")
                    .unwrap_or_else(|_| "-g".into())
                    .split_whitespace(),
            )
            .arg("-o")
            .arg(Path::new(&d).join(format!("{name}.data")))
            .args(["-p", &std::process::id().to_string(), "--", "sleep"])
            .arg(secs.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("perf")
    });
    // The previous run's last requests (wrk hangs up with up to `conns` in flight) finish
    // before this run's counts start.
    std::thread::sleep(Duration::from_millis(300));
    let before = util::cpu_by_thread();
    let rounds_before = batch.stats();
    let w = util::wrk(url, script, secs, conns);
    let rounds = batch.stats();
    let after = util::cpu_by_thread();
    if let Some(mut p) = perf {
        let _ = p.wait();
    }
    let n = w.requests.max(1) as f64;
    let cpu = after
        .iter()
        .map(|(k, v)| v - before.get(k).copied().unwrap_or(0.0))
        .sum::<f64>()
        * 1e6
        / n;
    let verify = (rounds.busy_ns - rounds_before.busy_ns) as f64 / 1e3 / n;
    let batch = (rounds.signatures - rounds_before.signatures) as f64
        / (rounds.rounds - rounds_before.rounds).max(1) as f64;
    let wrk = w.cpu_s * 1e6 / n;
    println!(
        "{name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} requests, server CPU {cpu:.1} µs/request ({verify:.1} in the batching task's equations, {batch:.1} signatures a round), wrk {wrk:.1} µs/request in the timed window, wrk peak memory {}",
        w.rps,
        w.p50_ms,
        w.p99_ms,
        w.requests,
        mb(w.peak_bytes)
    );
    Run {
        w,
        cpu,
        verify,
        batch,
        wrk,
    }
}

/// Bytes as whole megabytes (10^6), the unit of the bulk part's peak memory.
fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

fn row(what: &str, r: &Run, note: &str) -> String {
    let checks = if r.verify >= 0.05 {
        format!("{:.1} µs, {:.1} a round", r.verify, r.batch)
    } else {
        "—".into()
    };
    format!(
        "| {what} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.1} µs | {checks} | {:.1} µs | {} | {note} |\n",
        r.w.rps,
        r.w.p50_ms,
        r.w.p99_ms,
        r.w.requests,
        r.cpu,
        r.wrk,
        mb(r.w.peak_bytes)
    )
}

/// Run the part; its markdown section.
pub fn run() -> String {
    if !util::have_wrk() {
        println!("SKIPPED verify: wrk is not installed (apt-get install wrk)");
        return "### Verify\n\nSKIPPED: wrk is not installed.\n".into();
    }
    let secs = env_or("BENCH_SECONDS", 10);
    let conns = env_or("BENCH_CONNECTIONS", 64);
    let n_tokens = env_or("BENCH_TOKENS", 800_000);
    let n_rotation = env_or("BENCH_ROTATION", 100_000).min(n_tokens) as usize;
    let n_vcs = env_or("BENCH_VCS", 2_000).min(n_tokens) as usize;
    let threads = env_or("BENCH_SERVER_THREADS", 2) as usize;
    let preformat = env_or("BENCH_LUA_PREFORMAT", 1) != 0;
    let dir = util::scratch("verify");
    let url = format!("sqlite://{}?mode=rwc", dir.join("b.db").display());

    // Digital IDs issued by the real import; their tokens read back from the database.
    let started = Instant::now();
    util::sanad_ok(&dir, &url, &["init"]);
    let csv = dir.join("people.csv");
    util::write_people_csv(&csv, n_tokens);
    util::sanad_ok(&dir, &url, &["import", &csv.display().to_string()]);
    let creds = util::credentials(&url);
    println!(
        "issued {} digital IDs with `sanad import` in {:.1} s",
        creds.len(),
        started.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut cfg = Config::for_tests(url, dir.join("keys"));
    cfg.public_url = format!("http://127.0.0.1:{port}");
    let app = rt.block_on(App::build(cfg)).expect("app");
    let base = app.config.public_base().to_owned();

    let qr_bodies: Vec<String> = creds
        .iter()
        .map(|(id, token, _, _)| {
            serde_json::json!({ "qr": sanad::issuance::qr_text(&base, id, token) }).to_string()
        })
        .collect();
    let vc_bodies: Vec<String> = rt.block_on(async {
        let mut v = Vec::with_capacity(n_vcs);
        for (id, ..) in creds.iter().take(n_vcs) {
            let row = app.store.get_credential(id).await.expect("row");
            let jwt = sanad::issuance::vc::full_credential(&app, &row)
                .await
                .expect("vc");
            v.push(serde_json::json!({ "verifiableCredential": jwt }).to_string());
        }
        v
    });
    let all_file = dir.join("all.txt");
    let rotation_file = dir.join("rotation.txt");
    let vc_file = dir.join("vcs.txt");
    std::fs::write(&all_file, qr_bodies.join("\n")).expect("write");
    std::fs::write(&rotation_file, qr_bodies[..n_rotation].join("\n")).expect("write");
    std::fs::write(&vc_file, vc_bodies.join("\n")).expect("write");
    drop(qr_bodies);
    let scripts = [
        ("never_seen.lua", &all_file, "/api/v1/verify", Pick::Once),
        (
            "rotation.lua",
            &rotation_file,
            "/api/v1/verify",
            Pick::Cycle,
        ),
        ("repeated.lua", &all_file, "/api/v1/verify", Pick::First),
        ("vcapi.lua", &vc_file, "/credentials/verify", Pick::Cycle),
    ];
    for (name, file, endpoint, pick) in scripts {
        lua(&dir.join(name), file, endpoint, pick, preformat);
    }

    let router = sanad::web::router(app.clone());
    rt.spawn(async move { axum::serve(listener, router).await });
    std::thread::sleep(Duration::from_millis(200));
    let url = format!("http://127.0.0.1:{port}");
    let load_start = util::load();

    let (ed_strict, ed_batch) = ed25519_rates(3.0);
    let run = |name: &str, script: Option<&str>| {
        let target = if script.is_some() {
            url.clone()
        } else {
            format!("{url}/healthz")
        };
        let script = script.map(|s| dir.join(s));
        measured(name, &target, script.as_deref(), secs, conns, &app.batch)
    };
    let plain = run("plain", None);
    let never = run("never_seen", Some("never_seen.lua"));
    let rotation = run("rotation", Some("rotation.lua"));
    let repeated = run("repeated", Some("repeated.lua"));
    let vcapi = run("vcapi", Some("vcapi.lua"));
    let load_end = util::load();
    let denominator = plain.w.rps.min(ed_strict);
    let pct = |a: f64, b: f64| 100.0 * a / b;

    let mut md = String::new();
    md.push_str(&format!(
        "### Verify at {conns} connections\n\n\
         The real router in-process ({threads} tokio workers), `wrk -t1 -c{conns} -d{secs}s --latency` on loopback sharing the same {} cores, \
         {} digital IDs from `sanad import` (SQLite), rate limit off. {}. Load average {load_start} at the start, {load_end} at the end.\n\n\
         | what | req/s | p50 | p99 | requests | server CPU per request | batching task's equations, wall time per request (signatures a round) | wrk CPU per request (timed window only) | wrk peak memory | what it measures |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        util::cores(),
        creds.len(),
        if preformat {
            "wrk sends the repeated token as a static request and pre-formats the varying runs' requests in its `init()`"
        } else {
            "wrk formats every request in its Lua `request()` (`BENCH_LUA_PREFORMAT=0`)"
        }
    ));
    md.push_str(&row(
        "plain-JSON ceiling, `GET /healthz`",
        &plain,
        "the HTTP stack alone",
    ));
    md.push_str(&row(
        "`POST /api/v1/verify`, never-seen tokens",
        &never,
        &format!(
            "first pass on a fresh server over {} tokens, each sent once: every request checks a signature{}",
            creds.len(),
            if never.w.requests as usize > creds.len() {
                " (the pool ran out: some repeats)"
            } else if never.w.requests as usize >= creds.len() * 98 / 100 {
                " (the pool ran out before the time was up: a shorter run; raise `BENCH_TOKENS`)"
            } else {
                ""
            }
        ),
    ));
    md.push_str(&row(
        "`POST /api/v1/verify`, rotation larger than the cache",
        &rotation,
        &format!(
            "{n_rotation} distinct tokens round and round (the verified-token cache holds 64k)"
        ),
    ));
    md.push_str(&row(
        "`POST /api/v1/verify`, repeated token",
        &repeated,
        "one token: signature cached, key and credential status read live",
    ));
    md.push_str(&row(
        "VC-API `POST /credentials/verify`",
        &vcapi,
        &format!(
            "{} distinct full credentials (`vc+jwt`), each request checks a signature",
            vc_bodies.len()
        ),
    ));
    md.push_str(&format!(
        "| in-process Ed25519 `verify_strict`, all cores | {ed_strict:.0} | — | — | — | — | — | — | — | one by one, {} threads |\n\
         | in-process Ed25519 batch check (Sanad's `keys::batch`), all cores | {ed_batch:.0} | — | — | — | — | — | — | — | 64 signatures by one key a batch, preparation and equation, {} threads |\n\n",
        util::cores(),
        util::cores()
    ));
    let non2xx = [&plain, &never, &rotation, &repeated, &vcapi]
        .iter()
        .map(|r| r.w.non2xx)
        .sum::<u64>();
    md.push_str(&format!(
        "Ratios (same run; SPEC §12 targets in brackets):\n\
         - never-seen / min(ceiling, `verify_strict` on all cores) = {:.0} % (≥ 75 %)\n\
         - rotation / min(ceiling, `verify_strict` on all cores) = {:.0} % (no cliff: compare with never-seen)\n\
         - repeated / ceiling = {:.0} % (≥ 75 %)\n\
         - VC-API / never-seen QR = {:.0} % (≥ 60 %)\n\
         - p99 at {conns} connections: never-seen {:.2} ms, repeated {:.2} ms, VC-API {:.2} ms (≤ 10 ms)\n\
         - non-2xx answers in all runs: {non2xx}\n",
        pct(never.w.rps, denominator),
        pct(rotation.w.rps, denominator),
        pct(repeated.w.rps, plain.w.rps),
        pct(vcapi.w.rps, never.w.rps),
        never.w.p99_ms,
        repeated.w.p99_ms,
        vcapi.w.p99_ms,
    ));
    println!("{md}");
    drop(app);
    rt.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
    md
}
