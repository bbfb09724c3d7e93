//! An operator's first hour (issue 14), run against the built binary in fresh folders: a
//! stray folder is refused, a wrong keys folder is refused, the verifier app is served
//! from any working folder, bad settings are refused with a message naming them, flags
//! work after the subcommand, the env file is read, concurrent first runs make one agency
//! and one key, and database failures say which database, what failed and the fix.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every setting the binary reads from the environment, cleared so the tests see defaults.
const SETTINGS: &[&str] = &[
    "SANAD_LISTEN",
    "SANAD_PUBLIC_URL",
    "SANAD_DATABASE_URL",
    "SANAD_DATA_DIR",
    "SANAD_KEYS_DIR",
    "SANAD_DEFAULT_AGENCY",
    "SANAD_DEFAULT_AGENCY_AR",
    "SANAD_DEFAULT_AGENCY_EN",
    "SANAD_VERIFIER_DIR",
    "SANAD_ASSETS_DIR",
    "SANAD_KEEP_DOCUMENTS",
    "SANAD_RATE_LIMIT",
];

fn fresh_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sanad-op-{tag}-{}",
        sanad::domain::random_base32(8)
    ));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// `sanad` run in `cwd` with default settings (nothing inherited).
fn sanad(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sanad"));
    c.current_dir(cwd).env("RUST_LOG", "info");
    for s in SETTINGS {
        c.env_remove(s);
    }
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.stdin(Stdio::null()).output().expect("runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
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

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

fn serve(cwd: &Path, port: u16, extra: &[(&str, String)]) -> Server {
    let mut c = sanad(cwd);
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")]);
    for (k, v) in extra {
        c.env(k, v);
    }
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let server = Server(child);
    let start = Instant::now();
    while get(port, "/readyz").is_none_or(|(s, _)| s != 200) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Finding 2: commands other than serve, init and migrate never create a deployment; they
/// say where they looked and how to point them at one.
#[test]
fn a_stray_folder_is_refused() {
    let dir = fresh_dir("stray");
    for args in [
        &["tokens", "create", "--agency", "MOSD"][..],
        &["verify", "http://127.0.0.1:8080/v/ABC#123"],
        &["keys", "list"],
        &["agencies", "list"],
        &["audit", "verify"],
    ] {
        let started = Instant::now();
        let (code, _, err) = run(sanad(&dir).args(args));
        assert_ne!(code, 0, "{args:?}: {err}");
        assert!(err.contains("no Sanad deployment here"), "{args:?}: {err}");
        let expected = dir.join("data").join("sanad.db");
        assert!(
            err.contains(&expected.display().to_string()),
            "{args:?} names where it looked: {err}"
        );
        assert!(
            err.contains("SANAD_DATA_DIR") && err.contains("sanad init"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} refused promptly"
        );
    }
    assert!(files(&dir).is_empty(), "nothing created: {:?}", files(&dir));
    // `init` creates one on purpose; it is idempotent.
    let (code, out, err) = run(sanad(&dir).arg("init"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("agency MOSD signs with key"), "{out}");
    let (code, out2, err) = run(sanad(&dir).arg("init"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, out2, "a second init changes nothing");
    assert_eq!(files(&dir.join("keys")).len(), 1);
    let (code, out, _) = run(sanad(&dir).args(["keys", "list"]));
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 3: a keys folder without the active key's private key refuses to start, and no
/// key is generated for an agency that has keys in the database.
#[test]
fn a_wrong_keys_folder_is_refused() {
    let dir = fresh_dir("keys");
    let (code, _, err) = run(sanad(&dir).arg("init"));
    assert_eq!(code, 0, "{err}");
    let (_, before, _) = run(sanad(&dir).args(["keys", "list"]));
    let empty = dir.join("elsewhere");
    std::fs::create_dir_all(&empty).expect("dir");
    let port = free_port();
    let (code, _, err) = run(sanad(&dir)
        .args(["serve", "--keys-dir", "elsewhere"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")]));
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("has no private key for MOSD's active signing key"),
        "{err}"
    );
    assert!(
        err.contains(&empty.display().to_string()),
        "names the folder: {err}"
    );
    assert!(err.contains("SANAD_KEYS_DIR"), "{err}");
    assert!(
        files(&empty).is_empty(),
        "no key generated: {:?}",
        files(&empty)
    );
    // The offline verifier and re-issue refuse the same way.
    let (code, _, err) = run(sanad(&dir)
        .env("SANAD_KEYS_DIR", "elsewhere")
        .args(["verify", "http://127.0.0.1:8080/v/ABC#123"]));
    assert_ne!(code, 0);
    assert!(err.contains("has no private key"), "{err}");
    let (_, after, _) = run(sanad(&dir).args(["keys", "list"]));
    assert_eq!(before, after, "the database's keys are unchanged");
    // A keys folder that is a file is called what it is.
    std::fs::write(dir.join("afile"), b"x").expect("write");
    let (code, _, err) = run(sanad(&dir).args(["serve", "--keys-dir", "afile"]));
    assert_ne!(code, 0);
    assert!(err.contains("is a file, not a folder"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 4: templates and the verifier app are in the binary; `/readyz` checks the app.
#[test]
fn the_verifier_is_served_from_another_working_folder() {
    let dir = fresh_dir("anywhere");
    let port = free_port();
    let _server = serve(&dir, port, &[]);
    let (s, body) = get(port, "/verifier/").expect("answers");
    assert_eq!(s, 200, "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{body}"
    );
    assert!(body.contains("<html"), "{body}");
    let (s, body) = get(port, "/verifier/manifest.webmanifest").expect("answers");
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("application/manifest+json"), "{body}");
    let (s, body) = get(port, "/verifier/i18n/ar.json").expect("answers");
    assert_eq!(s, 200, "{body}");
    let (s, _) = get(port, "/verifier/../Cargo.toml").expect("answers");
    assert_eq!(s, 404);
    let (s, body) = get(port, "/readyz").expect("answers");
    assert_eq!(s, 200);
    assert!(body.contains(r#""verifier":"ok""#), "{body}");
    // A server-rendered page (templates and language tables) from the same binary.
    let (s, body) = get(port, "/console/login").expect("answers");
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(r#"lang="ar""#), "{body}");
    assert!(!dir.join("verifier-app").exists() && !dir.join("templates").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 5: settings that cannot work are refused before anything is created, with the
/// setting named; a loopback public URL on another port is warned about.
#[test]
fn bad_settings_are_refused() {
    let dir = fresh_dir("settings");
    for (var, value, says) in [
        ("SANAD_PUBLIC_URL", "not-a-url", "SANAD_PUBLIC_URL"),
        ("SANAD_PUBLIC_URL", "ftp://x.example", "https://"),
        ("SANAD_RATE_LIMIT", "-1", "SANAD_RATE_LIMIT"),
        ("SANAD_RATE_LIMIT", "1e9", "out of range"),
        ("SANAD_LISTEN", "8080", "SANAD_LISTEN"),
        ("SANAD_DEFAULT_AGENCY", "not a code", "SANAD_DEFAULT_AGENCY"),
    ] {
        let (code, _, err) = run(sanad(&dir).env(var, value).arg("serve"));
        assert_ne!(code, 0, "{var}={value} accepted");
        assert!(err.contains(says), "{var}={value}: {err}");
        let (code, _, err) = run(sanad(&dir).env(var, value).arg("init"));
        assert_ne!(code, 0, "{var}={value} accepted by init: {err}");
    }
    assert!(files(&dir).is_empty(), "nothing created: {:?}", files(&dir));
    // Only SANAD_LISTEN set: QR codes would point at port 8080; the log says so.
    let port = free_port();
    let mut c = sanad(&dir);
    c.env("SANAD_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut server = Server(c.spawn().expect("serve"));
    let start = Instant::now();
    while get(port, "/readyz").is_none_or(|(s, _)| s != 200) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.0.kill();
    let _ = server.0.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut server.0.stderr.take().expect("piped"), &mut log)
        .expect("log");
    assert!(
        log.contains(&format!("SANAD_PUBLIC_URL=http://127.0.0.1:{port}")),
        "{log}"
    );
    // Logs written to a pipe carry no colour codes.
    assert!(!log.contains('\u{1b}'), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 6: flags after the subcommand; `serve --help` lists them; `--env-file` and
/// `.env` are read (the environment wins over the file, flags over both).
#[test]
fn flags_after_the_subcommand_and_env_files() {
    let dir = fresh_dir("flags");
    let (code, out, _) = run(sanad(&dir).args(["serve", "--help"]));
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--public-url",
        "--keys-dir",
        "--env-file",
        "--rate-limit",
    ] {
        assert!(
            out.contains(flag),
            "{flag} missing from serve --help: {out}"
        );
    }
    std::fs::write(
        dir.join("site.env"),
        "# a comment\nSANAD_DATA_DIR=state\nSANAD_KEYS_DIR=secret-keys\n",
    )
    .expect("write");
    let (code, out, err) = run(sanad(&dir).args(["init", "--env-file", "site.env"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("state"), "{out}");
    assert!(dir.join("state/sanad.db").is_file());
    assert_eq!(files(&dir.join("secret-keys")).len(), 1);
    // `.env` in the working folder is read without a flag.
    std::fs::copy(dir.join("site.env"), dir.join(".env")).expect("copy");
    let (code, out, err) = run(sanad(&dir).args(["agencies", "list"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("MOSD"), "{out}");
    // A flag beats the file.
    let (code, _, err) = run(sanad(&dir).args(["agencies", "list", "--data-dir", "nowhere"]));
    assert_ne!(code, 0);
    assert!(err.contains("nowhere"), "{err}");
    // A missing env file is an error, not silently ignored.
    let (code, _, err) = run(sanad(&dir).args(["init", "--env-file", "missing.env"]));
    assert_ne!(code, 0);
    assert!(err.contains("missing.env"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 1: `sanad serve &` then at once `sanad tokens create`: the command waits for
/// the deployment being created; concurrent first runs make one agency and one key.
#[test]
fn concurrent_first_runs_make_one_deployment() {
    for round in 0..3 {
        let dir = fresh_dir("race");
        let port = free_port();
        let server = Server(
            sanad(&dir)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--public-url", &format!("http://127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("serve"),
        );
        let inits: Vec<_> = (0..2)
            .map(|_| {
                sanad(&dir)
                    .arg("init")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("init")
            })
            .collect();
        let (code, token, err) = run(sanad(&dir).args([
            "tokens",
            "create",
            "--agency",
            "MOSD",
            "--scopes",
            "issue,revoke,read",
        ]));
        assert_eq!(code, 0, "round {round}: {err}");
        assert!(token.trim().starts_with("sanad_"), "{token}");
        for c in inits {
            let out = c.wait_with_output().expect("init");
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (_, agencies, _) = run(sanad(&dir).args(["agencies", "list"]));
        assert_eq!(agencies.lines().count(), 1, "{agencies}");
        let (_, keys, _) = run(sanad(&dir).args(["keys", "list"]));
        assert_eq!(keys.lines().count(), 1, "round {round}: one key: {keys}");
        assert_eq!(files(&dir.join("keys")).len(), 1);
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Finding 7: a database that cannot be opened is one message naming it, what failed and
/// the likely fix, and a refused port fails at once.
#[test]
fn database_failures_are_explained() {
    let dir = fresh_dir("db");
    // Nothing listens on this port.
    let port = free_port();
    let started = Instant::now();
    let (code, _, err) = run(sanad(&dir)
        .env(
            "SANAD_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/sanad"),
        )
        .arg("migrate"));
    assert_ne!(code, 0);
    assert!(started.elapsed() < Duration::from_secs(4), "fails fast");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        err.contains("connection refused") && err.contains("start PostgreSQL"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    // A SQLite file in a folder that cannot be created.
    std::fs::write(dir.join("blocker"), b"x").expect("write");
    let (code, _, err) = run(sanad(&dir).args(["serve", "--data-dir", "blocker/data"]));
    assert_ne!(code, 0);
    assert!(err.contains("blocker"), "{err}");
    // A missing PostgreSQL database, when a server is there.
    if let Ok(admin) = std::env::var("SANAD_TEST_POSTGRES_URL")
        && let Some((base, _)) = admin.rsplit_once('/')
    {
        let (code, _, err) = run(sanad(&dir)
            .env(
                "SANAD_DATABASE_URL",
                format!("{base}/sanad_no_such_database"),
            )
            .arg("migrate"));
        assert_ne!(code, 0);
        assert!(err.contains("\"sanad_no_such_database\""), "{err}");
        assert!(
            err.contains("no such database") && err.contains("createdb"),
            "{err}"
        );
        assert!(!err.contains("line "), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
