//! Shared by the parts of the benchmark command: settings from the environment, the load
//! average, the `sanad` binary, wrk, throwaway PostgreSQL databases and a bare HTTP client.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 1-, 5- and 15-minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cores available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A fresh scratch folder under the system's temporary folder.
pub fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sanad-bench-{what}-{}",
        sanad::domain::random_base32(8)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The release `sanad` binary, set up for a deployment in `dir` on database `url`.
pub fn sanad(dir: &Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sanad"));
    c.env("SANAD_DATA_DIR", dir.join("data"))
        .env("SANAD_KEYS_DIR", dir.join("keys"))
        .env("SANAD_DATABASE_URL", url)
        .env("RUST_LOG", "warn");
    c
}

/// Run a `sanad` command to its end; its standard output.
pub fn sanad_ok(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = sanad(dir, url).args(args).output().expect("sanad runs");
    assert!(
        out.status.success(),
        "sanad {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CSV of `n` persons with a digital ID each, as `sanad import` reads it.
pub fn write_people_csv(path: &Path, n: u64) {
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

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

/// The admin URL of the PostgreSQL server to create bench databases on.
pub fn postgres_admin() -> String {
    std::env::var("SANAD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new empty PostgreSQL database; its URL. `None` (and a printed reason) when the server
/// cannot be reached.
pub fn postgres_db(admin: &str) -> Option<String> {
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

/// Drop a bench database once measured (a million rows take gigabytes).
pub fn drop_postgres_db(admin: &str, url: &str) {
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

/// `(id, token, status list, status index)` of every credential in a database.
pub fn credentials(url: &str) -> Vec<(String, String, i64, i64)> {
    rt().block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.expect("db");
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, token, status_list, status_index FROM credentials ORDER BY issued_at, id",
        )
        .fetch_all(&pool)
        .await
        .expect("credentials");
        pool.close().await;
        rows
    })
}

/// One HTTP/1.1 request on a new connection: status and body (status 0 when nothing
/// answers).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(t) = bearer {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One wrk run's figures.
pub struct Wrk {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non2xx: u64,
    /// CPU seconds (user + system) wrk itself used in the timed window: from when it says
    /// `Running …` (its script loaded and `init()` done) until it prints its figures.
    pub cpu_s: f64,
    /// wrk's peak resident memory (VmHWM) in bytes: read when the timed window starts (its
    /// script and any pre-formatted requests are loaded by then) and again as it ends, if
    /// wrk has not exited yet (an exited wrk has no memory figures left).
    pub peak_bytes: u64,
}

/// User + system CPU seconds of process `pid` so far (`/proc/<pid>/stat`, clock ticks of
/// 10 ms); `None` once it has gone.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Peak resident memory of process `pid` in bytes (`VmHWM` in `/proc/<pid>/status`).
fn process_peak(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Run wrk (one thread, `conns` connections, `secs` seconds) with an optional Lua script.
///
/// wrk's own CPU time is read from `/proc/<pid>/stat` over the timed window only: wrk loads
/// its script and runs its `init()` (which may pre-format hundreds of thousands of requests)
/// before it prints `Running …`, and prints its figures only after the window. Its standard
/// output is made line-buffered (`stdbuf -oL`) so those lines arrive as they are written.
/// The load generator shares the cores with the server, so its share bounds what the
/// server can reach.
pub fn wrk(url: &str, script: Option<&Path>, secs: u64, conns: u64) -> Wrk {
    use std::io::BufRead as _;
    let mut c = Command::new("stdbuf");
    c.args([
        "-oL",
        "wrk",
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(s) = script {
        c.arg("-s").arg(s);
    }
    let mut child = c
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wrk runs (apt-get install wrk; stdbuf is in coreutils)");
    // `stdbuf` execs wrk, so the child's pid is wrk's.
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let (mut cpu_start, mut cpu_end, mut peak) = (None, None, 0);
    let mut text = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if cpu_start.is_none() && line.starts_with("Running ") {
            cpu_start = process_cpu(pid);
            peak = process_peak(pid).unwrap_or(0);
        } else if cpu_start.is_some() && cpu_end.is_none() && line.contains("Thread Stats") {
            // wrk may have printed everything and exited by now: the stat of the exited
            // process (not yet waited for) still holds its CPU time, its status no memory.
            cpu_end = process_cpu(pid);
            peak = peak.max(process_peak(pid).unwrap_or(0));
        }
        text.push_str(&line);
        text.push('\n');
    }
    let _ = child.wait();
    let field = |prefix: &str, n: usize| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(n).map(str::to_owned))
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
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpu_s = match (cpu_start, cpu_end) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    Wrk {
        cpu_s,
        peak_bytes: peak,
        rps: field("Requests/sec:", 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: ms(field("50%", 1)),
        p99_ms: ms(field("99%", 1)),
        requests,
        non2xx,
    }
}

/// Whether wrk is installed.
pub fn have_wrk() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// CPU seconds (user + system) used so far by this process's threads, summed by thread
/// name (`/proc/self/task/*/stat`; clock ticks of 10 ms).
pub fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // `pid (name) state ppid …`: fields after the name, utime and stime are 12th and 13th.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        *out.entry(name).or_default() += ticks as f64 / 100.0;
    }
    out
}
