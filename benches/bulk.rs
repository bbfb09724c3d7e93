//! Bulk issuance figures (SPEC §12: 1,000,000 digital IDs in ≤ 60 s on SQLite, peak memory
//! ≤ 300 MB; ≤ 120 s on PostgreSQL): the real `sanad import` binary on a generated CSV of
//! persons with their digital IDs, on a fresh database per run, measured from outside:
//! wall time, rows/s and the process's peak resident memory (VmHWM from /proc, read until
//! it exits). Writes a markdown table.
//!
//! Run: `cargo bench --bench bulk`. Options by env: `BENCH_BULK_SIZES` (default
//! `100000,1000000`), `BENCH_ENGINES` (`sqlite,postgres`), `BENCH_CHUNK` (rows per
//! transaction, default the import's), `BENCH_OUT` (markdown file, default
//! `target/bench-bulk.md`), `SANAD_TEST_POSTGRES_URL` (admin URL for PostgreSQL),
//! `BENCH_AUDIT_VERIFY=0` to skip the timed `sanad audit verify` run after each import
//! (which shows the fast path leaves a log that checks). Each PostgreSQL bench database is
//! dropped once measured. The verify figures are `cargo bench --bench http`, in-process ones `--bench hot_path`.
//! Nothing is asserted: figures are printed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
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

fn write_csv(path: &Path, n: u64) {
    let f = std::fs::File::create(path).expect("csv");
    let mut w = std::io::BufWriter::new(f);
    writeln!(
        w,
        "request_key,name_ar,name_en,date_of_birth,national_id,programme"
    )
    .expect("w");
    for i in 0..n {
        writeln!(
            w,
            "b{i},عبدالرحمن محمد عبدالله إبراهيم,Abdulrahman Mohammed {i},1988-04-12,{},family of an inmate",
            1_000_000_000 + i
        )
        .expect("w");
    }
    w.flush().expect("flush");
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

fn sanad(dir: &Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sanad"));
    c.env("SANAD_DATA_DIR", dir.join("data"))
        .env("SANAD_KEYS_DIR", dir.join("keys"))
        .env("SANAD_DATABASE_URL", url)
        .env("RUST_LOG", "warn");
    c
}

fn measure(engine: &'static str, url: &str, dir: &Path, file: &Path, rows: u64) -> Run {
    // Schema, agency and key first, so the run measures issuance only.
    let st = sanad(dir, url).args(["init"]).output().expect("sanad");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
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

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

/// Drop a bench database once measured (a million rows take gigabytes).
fn drop_postgres_db(admin: &str, url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if !name.starts_with("sanad_bench_") {
        return;
    }
    rt().block_on(async {
        sqlx::any::install_default_drivers();
        if let Ok(pool) = sqlx::AnyPool::connect(admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&pool)
            .await;
        }
    });
}

fn verify_cell(r: &Run) -> String {
    match r.verify {
        Some((secs, true)) => format!(", intact ({secs:.1} s)"),
        Some((secs, false)) => format!(", BROKEN ({secs:.1} s)"),
        None => String::new(),
    }
}

fn postgres_db(admin: &str) -> Option<String> {
    rt().block_on(async {
        sqlx::any::install_default_drivers();
        let pool = match sqlx::AnyPool::connect(admin).await {
            Ok(p) => p,
            Err(e) => {
                println!("SKIPPED PostgreSQL: {e}");
                return None;
            }
        };
        let name = format!(
            "sanad_bench_{}",
            sanad::domain::random_base32(8).to_lowercase()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .ok()?;
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        Some(format!("{base}/{name}"))
    })
}

fn main() {
    let sizes: Vec<u64> = std::env::var("BENCH_BULK_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".into());
    let admin = std::env::var("SANAD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let out_path =
        PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench-bulk.md".into()));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut runs = Vec::new();
    for &n in &sizes {
        let dir = std::env::temp_dir().join(format!(
            "sanad-bulkbench-{}",
            sanad::domain::random_base32(8)
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("people.csv");
        write_csv(&file, n);
        for engine in engines.split(',').map(str::trim) {
            let (name, url, run_dir) = match engine {
                "sqlite" => {
                    let d = dir.join("sqlite");
                    std::fs::create_dir_all(&d).expect("dir");
                    let url = format!("sqlite://{}?mode=rwc", d.join("b.db").display());
                    ("SQLite", url, d)
                }
                "postgres" => match postgres_db(&admin) {
                    Some(url) => ("PostgreSQL", url, dir.join("pg")),
                    None => continue,
                },
                _ => continue,
            };
            let r = measure(name, &url, &run_dir, &file, n);
            if engine == "postgres" {
                drop_postgres_db(&admin, &url);
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
        "Bulk issuance, `sanad import` of digital IDs with their persons from CSV ({cores} cores; load average at start: {}).\n\n",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
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
    let end_load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    md.push_str(&format!(
        "\nLoad average at the end: {}.\n",
        end_load
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    println!("\n{md}");
    if let Some(p) = out_path.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    std::fs::write(&out_path, md).expect("write table");
    println!("written to {}", out_path.display());
}
