//! The benchmark command (SPEC §12; issue 13): every figure of BENCHMARKS.md measured in one
//! run on one machine, written as a markdown table. Nothing is asserted: figures are
//! printed and written.
//!
//! Run: `cargo bench --bench all`. Options by env:
//! - `BENCH_PARTS`: which parts, comma-separated, default all: `bulk,verify,revoke,qr`;
//! - `BENCH_OUT`: the markdown file (default `target/bench.md`);
//! - each part's own settings, in `benches/parts/<part>.rs` (bulk sizes and engines, verify
//!   seconds, connections and token counts, revoke samples, …).
//!
//! Needs `wrk` (verify) and a PostgreSQL server (`SANAD_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; bulk on PostgreSQL and revoke).

#[path = "parts/bulk.rs"]
mod bulk;
mod common;
#[path = "parts/qr.rs"]
mod qr;
#[path = "parts/revoke.rs"]
mod revoke;
#[path = "parts/util.rs"]
mod util;
#[path = "parts/verify.rs"]
mod verify;

fn main() {
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "bulk,verify,revoke,qr".into());
    let out = std::path::PathBuf::from(
        std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench.md".into()),
    );
    let started = std::time::Instant::now();
    let mut md = format!(
        "## Benchmark run\n\n`BENCH_PARTS={parts} cargo bench --bench all`: {} cores, load average {} at the start.\n\n",
        util::cores(),
        util::load()
    );
    for part in parts.split(',').map(str::trim) {
        let section = match part {
            "bulk" => bulk::run(),
            "verify" => verify::run(),
            "revoke" => revoke::run(),
            "qr" => qr::run(),
            other => {
                println!("unknown part {other:?} (bulk, verify, revoke, qr)");
                continue;
            }
        };
        md.push_str(&section);
        md.push('\n');
    }
    md.push_str(&format!(
        "Whole run: {:.0} s; load average {} at the end.\n",
        started.elapsed().as_secs_f64(),
        util::load()
    ));
    println!("\n{md}");
    if let Some(p) = out.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    std::fs::write(&out, md).expect("write table");
    println!("written to {}", out.display());
}
