//! The README's walk-through, run as written: the shell block under "Five-minute
//! walk-through" is extracted from README.md and run by bash in a fresh, empty folder with
//! the built binary, checking every output the README shows (a `# "value"` comment at the
//! end of a command is its expected output). `cargo run [-q] --` runs the built binary (the
//! fresh folder holds no source), `xdg-open` saves the page it would open, and port 8080 is
//! replaced by a free port (other programs may hold 8080); nothing else is changed.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The walk-through's shell block.
fn walk_through(readme: &str) -> String {
    let section = readme
        .split("## Five-minute walk-through")
        .nth(1)
        .expect("README has a Five-minute walk-through");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a ```sh block");
    block.to_owned()
}

/// Logical lines (continuations joined) with the expected output of those that show one.
fn with_checks(script: &str) -> (String, usize) {
    let mut out = String::new();
    let mut checks = 0;
    let mut logical = String::new();
    for line in script.lines() {
        logical.push_str(line);
        if line.ends_with('\\') {
            logical.push('\n');
            continue;
        }
        let cmd = std::mem::take(&mut logical);
        // `   # "value"` or `   # true` at the end: the output the README promises.
        let expected = cmd.rsplit_once("   #").and_then(|(c, comment)| {
            let v = comment.trim();
            serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .map(|_| (c.trim_end().to_owned(), v.to_owned()))
        });
        match expected {
            Some((c, v)) => {
                checks += 1;
                out.push_str(&format!(
                    "got=$({c})\nif [ \"$got\" != '{v}' ]; then echo \"README line {checks}: expected {v}, got $got\" >&2; exit 1; fi\necho \"ok {checks}: {v}\"\n"
                ));
            }
            None => {
                out.push_str(&cmd);
                out.push('\n');
            }
        }
    }
    (out, checks)
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    for tool in ["bash", "curl", "jq"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            if ci() {
                panic!("CI=true but {tool} is missing (.ci/run installs it)");
            }
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (README walk-through): {tool} is not installed; with CI=true this fails"
            );
            return;
        }
    }
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let block = walk_through(&readme);
    assert!(block.contains("cargo run -- serve &"), "{block}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (checked, checks) =
        with_checks(&block.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}")));
    assert!(checks >= 6, "the walk-through shows its outputs: {checks}");
    let dir =
        std::env::temp_dir().join(format!("sanad-readme-{}", sanad::domain::random_base32(8)));
    std::fs::create_dir_all(&dir).expect("dir");
    let bin = env!("CARGO_BIN_EXE_sanad");
    let script = format!(
        r#"set -eo pipefail
cargo() {{
  [ "$1" = run ] || {{ echo "cargo $*: only cargo run is stood in for" >&2; return 2; }}
  shift; [ "$1" = -q ] && shift; [ "$1" = -- ] && shift
  "{bin}" "$@"
}}
pages=0
xdg-open() {{ pages=$((pages+1)); curl -sf "$1" -o "page-$pages.html"; }}
{checked}
echo WALK-THROUGH DONE
"#
    );
    std::fs::write(dir.join("walk-through.sh"), &script).expect("write");
    let log = |name: &str| std::fs::File::create(dir.join(name)).expect("log file");
    let mut cmd = Command::new("bash");
    // Its own process group, so the server it starts in the background is stopped with it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.arg("walk-through.sh")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .env("SANAD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SANAD_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("SANAD_") && k != "SANAD_LISTEN" && k != "SANAD_PUBLIC_URL" {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("bash runs");
    let group = child.id();
    let status = child.wait().expect("bash ends");
    // Stop what the walk-through left running (`cargo run -- serve &`): this test's own
    // process group, by its id.
    let _ = Command::new("bash")
        .args(["-c", &format!("kill -TERM -- -{group} 2>/dev/null; true")])
        .status();
    let stdout = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
    let stderr = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    assert!(
        status.success() && stdout.contains("WALK-THROUGH DONE"),
        "the walk-through failed:\n{stdout}\n{stderr}\n--- script ---\n{script}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        checks,
        "{stdout}"
    );
    // What the README says the opened page shows.
    let page = std::fs::read_to_string(dir.join("page-1.html")).expect("the page was opened");
    assert!(page.contains(r#"lang="ar""#) && page.contains("سارية") && page.contains("Valid"));
    // The files it says it makes.
    assert!(dir.join("card-qr.png").is_file());
    assert!(dir.join("keys").is_dir() && dir.join("data/sanad.db").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
