//! The `sanad` binary end to end: first run creates the agency and key, `tokens create`,
//! `keys list|rotate`, and `sanad verify` offline (a PNG file) and against a server.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn sanad(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sanad"));
    c.env("SANAD_DATA_DIR", dir.join("data"))
        .env("SANAD_KEYS_DIR", dir.join("keys"))
        .env("SANAD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SANAD_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env_remove("SANAD_DATABASE_URL")
        .env("RUST_LOG", "warn");
    c
}

fn run(dir: &Path, port: u16, args: &[&str]) -> (i32, String, String) {
    let out = sanad(dir, port).args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let mut body = buf[split..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let n =
                usize::from_str_radix(std::str::from_utf8(&rest[..nl]).expect("hex").trim(), 16)
                    .expect("hex");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 2 + n + 2..];
        }
        body = out;
    }
    (status, body)
}

#[test]
fn cli_end_to_end() {
    let dir = std::env::temp_dir().join(format!("sanad-cli-{}", sanad::domain::random_base32(10)));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let server = Server(
        sanad(&dir, port)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve"),
    );
    let start = Instant::now();
    while http_ok(port).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first run generated a key file with mode 0600.
    let keys: Vec<_> = std::fs::read_dir(dir.join("keys"))
        .expect("keys")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(keys.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            keys[0].metadata().expect("m").permissions().mode() & 0o777,
            0o600
        );
    }
    let (code, token, _) = run(
        &dir,
        port,
        &[
            "tokens",
            "create",
            "--agency",
            "MOSD",
            "--scopes",
            "issue,revoke,read",
        ],
    );
    assert_eq!(code, 0);
    let token = token.trim().to_owned();
    assert!(token.starts_with("sanad_"));
    let (code, out, _) = run(&dir, port, &["keys", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("MOSD") && out.contains("active"));

    let (s, body) = http(
        port,
        "POST",
        "/api/v1/persons",
        Some(&token),
        Some(
            r#"{"name_ar":"فاطمة","name_en":"Fatima","date_of_birth":"1990-01-01","national_id":"12345678","programme":"p"}"#,
        ),
    );
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let person: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let (s, body) = http(
        port,
        "POST",
        "/api/v1/credentials",
        Some(&token),
        Some(&format!(
            r#"{{"kind":"digital_id","person_id":"{}"}}"#,
            person["id"].as_str().expect("id")
        )),
    );
    assert_eq!(s, 201);
    let cred: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let id = cred["id"].as_str().expect("id");
    let (s, png) = http(port, "GET", &format!("/v/{id}/qr.png"), None, None);
    assert_eq!(s, 200);
    let png_path = dir.join("card.png");
    std::fs::write(&png_path, &png).expect("write");

    // Offline (this deployment's keys and records) from the PNG, then against the server.
    let (code, out, err) = run(&dir, port, &["verify", png_path.to_str().expect("p")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(r#""outcome": "valid""#), "{out}");
    let (code, out, err) = run(
        &dir,
        port,
        &[
            "verify",
            cred["qr_text"].as_str().expect("qr"),
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(r#""signature_checked_locally": true"#),
        "{out}"
    );
    // Revoke and scan again: exit code 2 and outcome revoked.
    let (s, _) = http(
        port,
        "POST",
        &format!("/api/v1/credentials/{id}/revoke"),
        Some(&token),
        Some(r#"{"reason_code":"fraud"}"#),
    );
    assert_eq!(s, 200);
    let (code, out, _) = run(
        &dir,
        port,
        &[
            "verify",
            cred["qr_text"].as_str().expect("qr"),
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(code, 2);
    assert!(out.contains(r#""outcome": "revoked""#), "{out}");
    // A forged token is refused locally.
    let forged = format!("{}x", cred["token"].as_str().expect("t"));
    let (code, _, _) = run(
        &dir,
        port,
        &[
            "verify",
            &forged,
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_ne!(code, 0);

    // Rotation by the CLI reaches the running server (background reload).
    let (code, out, _) = run(&dir, port, &["keys", "rotate", "--agency", "MOSD"]);
    assert_eq!(code, 0, "{out}");
    let start = Instant::now();
    loop {
        let (_, jwks) = http(port, "GET", "/.well-known/jwks.json", None, None);
        let j: serde_json::Value = serde_json::from_slice(&jwks).expect("json");
        if j["keys"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "rotation not picked up: {j}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_ok(port: u16) -> Option<()> {
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    (http(port, "GET", "/readyz", None, None).0 == 200).then_some(())
}
