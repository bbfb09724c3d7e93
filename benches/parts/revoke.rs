//! Part `revoke` (SPEC §12, multi-instance propagation ≤ 1 s): two `sanad serve` processes
//! on one PostgreSQL database, as behind a load balancer. A credential is revoked through
//! instance A's API; from the moment A's answer arrives, the bench polls (one request after
//! another, on new connections) until each of these shows it revoked: the status list A
//! publishes (`GET /status/{list}`, the signed IETF list, decoded), the list B publishes, and
//! B's `POST /api/v1/verify` of the credential's QR text. Several credentials, one at a
//! time; median and max.
//!
//! Options by env: `BENCH_REVOKE_SAMPLES` (default 20), `SANAD_TEST_POSTGRES_URL`.

use crate::util::{self, env_or, http};
use std::io::Read as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// The 2-bit entry `idx` of a published IETF status list token (the signature is the
/// server's business here: this reads what a relying party would read).
fn list_entry(jwt: &str, idx: usize) -> Option<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.decode(jwt.trim().split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    let z = b64.decode(claims["status_list"]["lst"].as_str()?).ok()?;
    let mut bits = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..])
        .read_to_end(&mut bits)
        .ok()?;
    Some((bits.get(idx / 4)? >> ((idx % 4) * 2)) & 3)
}

struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "— | —".into();
    }
    v.sort_by(f64::total_cmp);
    format!(
        "{:.0} ms | {:.0} ms",
        v[v.len() / 2] * 1000.0,
        v[v.len() - 1] * 1000.0
    )
}

/// Run the part; its markdown section.
pub fn run() -> String {
    let samples = env_or("BENCH_REVOKE_SAMPLES", 20) as usize;
    let admin = util::postgres_admin();
    let Some(url) = util::postgres_db(&admin) else {
        return "### Revoke → visible\n\nSKIPPED: no PostgreSQL server.\n".into();
    };
    let dir = util::scratch("revoke");
    util::sanad_ok(&dir, &url, &["init"]);
    let csv = dir.join("people.csv");
    util::write_people_csv(&csv, samples as u64);
    util::sanad_ok(&dir, &url, &["import", &csv.display().to_string()]);
    let out = util::sanad_ok(
        &dir,
        &url,
        &[
            "tokens",
            "create",
            "--agency",
            "MOSD",
            "--scopes",
            "revoke,read",
        ],
    );
    let token = out
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("token")
        .to_owned();
    let (pa, pb) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{pa}");
    let poll_ms = std::env::var("SANAD_SYNC_POLL_MS").unwrap_or_else(|_| "500".into());
    let servers = Servers(
        [pa, pb]
            .iter()
            .map(|p| {
                util::sanad(&dir, &url)
                    .env("SANAD_LISTEN", format!("127.0.0.1:{p}"))
                    .env("SANAD_PUBLIC_URL", &public)
                    .env("SANAD_RATE_LIMIT", "0")
                    .env("SANAD_SYNC_POLL_MS", &poll_ms)
                    .arg("serve")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("sanad serve")
            })
            .collect(),
    );
    let up = Instant::now();
    for p in [pa, pb] {
        while http(p, "GET", "/healthz", None, None).0 != 200 {
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "server on {p} did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let creds = util::credentials(&url);
    let (mut list_a, mut list_b, mut verify_b) = (Vec::new(), Vec::new(), Vec::new());
    let mut failures = Vec::new();
    let load_start = util::load();
    for (id, tok, list, idx) in creds.iter().take(samples) {
        let body =
            serde_json::json!({ "qr": sanad::issuance::qr_text(&public, id, tok) }).to_string();
        let before = http(pb, "POST", "/api/v1/verify", None, Some(&body)).1;
        if !before.contains("\"outcome\":\"valid\"") {
            failures.push(format!("{id} was not valid on B before the revoke"));
            continue;
        }
        let (st, answer) = http(
            pa,
            "POST",
            &format!("/api/v1/credentials/{id}/revoke"),
            Some(&token),
            Some(r#"{"reason_code":"lost"}"#),
        );
        let t0 = Instant::now();
        if st != 200 {
            failures.push(format!("revoke answered {st}: {answer}"));
            break;
        }
        let path = format!("/status/{list}");
        let idx = *idx as usize;
        let (mut a, mut b, mut v) = (None, None, None);
        while (a.is_none() || b.is_none() || v.is_none()) && t0.elapsed() < Duration::from_secs(10)
        {
            if a.is_none() && list_entry(&http(pa, "GET", &path, None, None).1, idx) == Some(1) {
                a = Some(t0.elapsed().as_secs_f64());
            }
            if b.is_none() && list_entry(&http(pb, "GET", &path, None, None).1, idx) == Some(1) {
                b = Some(t0.elapsed().as_secs_f64());
            }
            if v.is_none()
                && http(pb, "POST", "/api/v1/verify", None, Some(&body))
                    .1
                    .contains("\"outcome\":\"revoked\"")
            {
                v = Some(t0.elapsed().as_secs_f64());
            }
        }
        match (a, b, v) {
            (Some(a), Some(b), Some(v)) => {
                list_a.push(a);
                list_b.push(b);
                verify_b.push(v);
            }
            _ => failures.push(format!("{id} not seen revoked everywhere within 10 s")),
        }
    }
    drop(servers);
    util::drop_postgres_db(&admin, &url);
    let _ = std::fs::remove_dir_all(&dir);
    let mut md = format!(
        "### Revoke → visible\n\n\
         Two `sanad serve` processes (A, B) on one PostgreSQL database (status feed poll \
         `SANAD_SYNC_POLL_MS` = {poll_ms} ms). Time from A's answer to `POST …/revoke` until \
         each shows the credential revoked, {} samples one after another, polling without pause. \
         Load average {load_start} at the start, {} at the end.\n\n\
         | visible in | median | max |\n|---|---:|---:|\n\
         | A's published status list (`GET /status/{{list}}` on A) | {} |\n\
         | B's published status list (`GET /status/{{list}}` on B) | {} |\n\
         | B's `POST /api/v1/verify` answer `revoked` | {} |\n",
        verify_b.len(),
        util::load(),
        stats(list_a),
        stats(list_b),
        stats(verify_b),
    );
    if !failures.is_empty() {
        md.push_str(&format!("\nFailed samples: {}\n", failures.join("; ")));
    }
    println!("{md}");
    md
}
