//! Part `bulk` (SPEC §12: 1,000,000 digital IDs in ≤ 60 s on SQLite, peak memory ≤ 300 MB;
//! ≤ 120 s on PostgreSQL): the real `sanad import` binary on a generated CSV of persons with
//! their digital IDs, on a fresh database per run, measured from outside: wall time, rows/s
//! and the process's peak resident memory (VmHWM from /proc, read until it exits).
//!
//! Options by env: `BENCH_BULK_SIZES` (default `100000,1000000`), `BENCH_ENGINES`
//! (`sqlite,postgres`), `BENCH_CHUNK` (rows per transaction, default the import's),
//! `SANAD_TEST_POSTGRES_URL` (admin URL for PostgreSQL), `BENCH_AUDIT_VERIFY=0` to skip the
//! timed `sanad audit verify` run after each import (which shows the fast path leaves a log
//! that checks). Each PostgreSQL bench database is dropped once measured.

use crate::util::{self, sanad};
use std::path::Path;
use std::time::{Duration, Instant};

struct Run {
    engine: &'static str,
    rows: u64,
    secs: f64,
    peak_mb: f64,
    summary: String,
    /// `sanad audit verify` afterwards: seconds and whether the log was intact.
    verify: Option<(f64, bool)>,
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn measure(engine: &'static str, url: &str, dir: &Path, file: &Path, rows: u64) -> Run {
    // Schema, agency and key first, so the run measures issuance only.
    util::sanad_ok(dir, url, &["init"]);
    let mut cmd = sanad(dir, url);
    cmd.arg("import").arg(file);
    if let Ok(c) = std::env::var("BENCH_CHUNK") {
        cmd.args(["--chunk", &c]);
    }
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("import starts");
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs = started.elapsed().as_secs_f64();
    let out = child.wait_with_output().expect("output");
    // The fast path must leave a log that checks: verify it (BENCH_AUDIT_VERIFY=0 skips).
    let verify = (std::env::var("BENCH_AUDIT_VERIFY").as_deref() != Ok("0")).then(|| {
        let started = Instant::now();
        let v = sanad(dir, url)
            .args(["audit", "verify"])
            .output()
            .expect("audit verify");
        let text = String::from_utf8_lossy(&v.stdout);
        (
            started.elapsed().as_secs_f64(),
            v.status.success() && text.contains("intact") && !text.contains("BROKEN"),
        )
    });
    Run {
        engine,
        rows,
        secs,
        peak_mb: peak as f64 / 1024.0,
        summary: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        verify,
    }
}

fn verify_cell(r: &Run) -> String {
    match r.verify {
        Some((secs, true)) => format!(", intact ({secs:.1} s)"),
        Some((secs, false)) => format!(", BROKEN ({secs:.1} s)"),
        None => ", not run (BENCH_AUDIT_VERIFY=0)".into(),
    }
}

/// Run the part; its markdown section.
pub fn run() -> String {
    let sizes: Vec<u64> = std::env::var("BENCH_BULK_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".into());
    let admin = util::postgres_admin();
    let load = util::load();
    let mut runs = Vec::new();
    for &n in &sizes {
        let dir = util::scratch("bulk");
        let file = dir.join("people.csv");
        util::write_people_csv(&file, n);
        for engine in engines.split(',').map(str::trim) {
            let (name, url, run_dir) = match engine {
                "sqlite" => {
                    let d = dir.join("sqlite");
                    std::fs::create_dir_all(&d).expect("dir");
                    let url = format!("sqlite://{}?mode=rwc", d.join("b.db").display());
                    ("SQLite", url, d)
                }
                "postgres" => match util::postgres_db(&admin) {
                    Some(url) => ("PostgreSQL", url, dir.join("pg")),
                    None => continue,
                },
                _ => continue,
            };
            let r = measure(name, &url, &run_dir, &file, n);
            if engine == "postgres" {
                util::drop_postgres_db(&admin, &url);
            }
            println!(
                "{} {} rows: {:.1} s, {:.0} rows/s, peak {:.0} MB ({}){}",
                r.engine,
                r.rows,
                r.secs,
                r.rows as f64 / r.secs,
                r.peak_mb,
                r.summary,
                verify_cell(&r)
            );
            runs.push(r);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut md = String::new();
    md.push_str(&format!(
        "### Bulk issuance\n\n`sanad import` of digital IDs with their persons from CSV, fresh database per run ({} cores; load average at start: {load}).\n\n",
        util::cores()
    ));
    md.push_str(
        "| engine | rows | wall time | rows/s | peak memory (VmHWM) | `audit verify` after |\n|---|---:|---:|---:|---:|---|\n",
    );
    for r in &runs {
        md.push_str(&format!(
            "| {} | {} | {:.1} s | {:.0} | {:.0} MB | {} |\n",
            r.engine,
            r.rows,
            r.secs,
            r.rows as f64 / r.secs,
            r.peak_mb,
            verify_cell(r).trim_start_matches(", ")
        ));
    }
    md.push_str(&format!("\nLoad average at the end: {}.\n", util::load()));
    md
}
