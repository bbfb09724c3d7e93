//! The command line: `serve`, `migrate`, `keys`, `agencies`, `tokens`, `users`, `audit`,
//! `import`, `verify`. Passwords are read from standard input, never from flags (which land in shell
//! history and process listings).

use crate::app::{App, create_api_token};
use crate::config::Config;
use crate::domain::{AgencyCode, QrClaims, QrText};
use crate::keys::{DalekVerifier, verify_compact, verifying_key_from_x};
use crate::storage::{AgencyRow, Store, now};
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

/// Sanad: signed digital IDs and document certificates whose QR codes resolve to live records.
#[derive(Debug, Parser)]
#[command(name = "sanad", version)]
pub struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (creates the database, the default agency and its key on first run).
    Serve,
    /// Create a deployment here (the database, the default agency and its key) without
    /// serving; does nothing to one that exists.
    Init,
    /// Apply database migrations and exit (creates the database if missing).
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Agencies.
    #[command(subcommand)]
    Agencies(AgenciesCmd),
    /// API tokens.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Console users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Credentials in bulk.
    #[command(subcommand)]
    Credentials(CredentialsCmd),
    /// Trust other deployments (federation).
    #[command(subcommand)]
    Trust(TrustCmd),
    /// Issue credentials in bulk from a CSV or NDJSON file (see the README's "Bulk
    /// issuance"). Each row needs a request key: running the same file again (after a crash,
    /// say) issues nothing twice. Row errors are reported and the rest goes on.
    Import {
        /// The file (`.csv`, `.ndjson` or `.jsonl`).
        file: std::path::PathBuf,
        /// `csv` or `ndjson` (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// Agency to issue for (default: the deployment's default agency).
        #[arg(long)]
        agency: Option<String>,
        /// Write every row's result (row, request key, credential id or error) here, CSV or
        /// NDJSON by extension.
        #[arg(long)]
        result: Option<std::path::PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = crate::issuance::bulk::DEFAULT_CHUNK)]
        chunk: usize,
    },
    /// Verify a QR text, a token or a PNG/JPEG of a QR. Offline against this deployment's
    /// keys and records, or against another server with --server.
    Verify {
        /// QR text, compact JWS, or path to an image of the QR.
        input: String,
        /// Base URL of a Sanad server: fetch its JWKS, check the signature here, then ask
        /// the server for the live status.
        #[arg(long)]
        server: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// List keys.
    List,
    /// Generate an additional active key for an agency (to switch keys, use `rotate`).
    Generate {
        /// Agency code.
        #[arg(long)]
        agency: String,
    },
    /// Rotate: a new key signs from now on; the old ones are retired and keep verifying.
    Rotate {
        /// Agency code.
        #[arg(long)]
        agency: String,
    },
    /// Revoke a key after a compromise: it leaves the JWKS and what it signed verifies as
    /// key_revoked. Then run `sanad credentials reissue --key KID`.
    Revoke {
        /// The key's kid (full or short).
        kid: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialsCmd {
    /// Re-issue, in bulk, every active or suspended credential signed by a key (after a key
    /// revocation): each gets a replacement signed by its agency's current key and becomes
    /// superseded.
    Reissue {
        /// The key's kid (full or short).
        #[arg(long)]
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum TrustCmd {
    /// Trust another Sanad deployment's agencies: import its trust list from its base URL
    /// (http://…), a trust-list URL, or a file holding the JWT.
    Import {
        /// Base URL, trust-list URL or file.
        source: String,
        /// Require the list to be signed by this kid.
        #[arg(long)]
        pin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AgenciesCmd {
    /// Add an agency and generate its signing key.
    Add {
        /// Code, e.g. MOSD.
        code: String,
        /// Arabic name.
        #[arg(long)]
        name_ar: String,
        /// English name.
        #[arg(long)]
        name_en: String,
    },
    /// List agencies.
    List,
}

#[derive(Debug, Subcommand)]
enum TokensCmd {
    /// Create an API token (printed once; only its hash is stored).
    Create {
        /// Agency the token acts for.
        #[arg(long)]
        agency: String,
        /// Comma-separated scopes: issue, revoke, read, events.
        #[arg(long, value_delimiter = ',', default_value = "read")]
        scopes: Vec<String>,
        /// A label to recognise the token by.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (ids, scopes, owner, last use; never secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// Token id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Add a user. The password is read from standard input (one line), never from a flag.
    Add {
        /// Sign-in name.
        username: String,
        /// admin, registrar, approver or officer.
        #[arg(long)]
        role: String,
        /// Agency: registrars and approvers need one; officers act for any agency and may have
        /// none; admins have none.
        #[arg(long)]
        agency: Option<String>,
        /// Read the password from standard input (the default; kept for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user and end their sessions.
    Disable {
        /// Sign-in name.
        username: String,
    },
    /// Set a user's password (read from standard input) and end their sessions.
    SetPassword {
        /// Sign-in name.
        username: String,
        /// Read the password from standard input (the default; kept for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Check the whole log's hash chain against its head (naming the first entry changed,
    /// inserted or removed) and every credential, person, user, token, key and agency row
    /// against its last audited state (naming each row edited, inserted or deleted directly
    /// in the database); exits non-zero if anything is wrong.
    Verify {
        /// Also check a saved checkpoint (the `signature` JWS of
        /// `GET /api/v1/audit/checkpoint`, or a file holding it): catches history rewritten
        /// together with its hashes.
        #[arg(long)]
        checkpoint: Option<String>,
    },
}

/// Read a password: one line from standard input (prompting on a terminal).
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!pw.is_empty(), "no password on standard input");
    Ok(pw)
}

/// What `sanad audit verify` prints and whether the log is whole.
///
/// Two checks: the log's chain against its head, then every row the log vouches for
/// (credentials, persons, users, tokens, keys, agencies) against its last audited state,
/// naming each row changed, inserted or deleted behind Sanad's back.
pub async fn audit_verify(store: &Store) -> anyhow::Result<(bool, String)> {
    let (mut ok, mut text) = match crate::audit::verify_store(store).await? {
        Ok(n) => match crate::audit::bulk::verify_batches(store).await? {
            Ok(b) => (
                true,
                format!("audit log intact: {n} entries, {b} bulk batches match their rows"),
            ),
            Err(m) => (false, format!("audit log BROKEN: {m}")),
        },
        Err(b) => (false, format!("audit log BROKEN: {b}")),
    };
    let problems = store.state_problems().await?;
    if problems.is_empty() {
        text.push_str("\nrecorded state intact: every vouched row matches the log");
    } else {
        ok = false;
        for p in problems {
            text.push_str(&format!("\nSTATE MISMATCH: {p}"));
        }
    }
    Ok((ok, text))
}

async fn import_cmd(
    config: Config,
    file: &std::path::Path,
    format: Option<String>,
    agency: Option<String>,
    result: Option<std::path::PathBuf>,
    chunk: usize,
) -> anyhow::Result<ExitCode> {
    use crate::issuance::bulk::{self, Format};
    use std::io::{IsTerminal as _, Write as _};
    let format = match format {
        Some(f) => {
            Format::parse(&f).with_context(|| format!("unknown format {f:?}: csv, ndjson"))?
        }
        None => Format::from_path(file).with_context(|| {
            format!(
                "cannot tell the format of {}: use --format csv|ndjson",
                file.display()
            )
        })?,
    };
    let agency = AgencyCode::parse(agency.as_deref().unwrap_or(&config.default_agency))?;
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let app = App::build(config).await?;
    let (start_seq, _) = app.store.audit_head().await?;
    let opts = bulk::Options {
        actor: bulk::cli_actor(agency),
        job_id: None,
        subject: format!(
            "import:{}",
            file.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ),
        chunk_rows: chunk,
        start_seq,
        skip_rows: 0,
    };
    let mut out = match &result {
        Some(p) => Some((
            std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            ),
            Format::from_path(p).unwrap_or(Format::Csv),
        )),
        None => None,
    };
    // A progress bar (rate and ETA by the bytes read) only on a terminal.
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {percent}% {msg} ({per_sec}, ETA {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let counted = CountingReader {
        inner: input,
        read: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
    };
    let read = std::sync::Arc::clone(&counted.read);
    let started = std::time::Instant::now();
    let mut header = true;
    let mut io_err = None;
    let mut errors_shown = 0;
    let mut done = 0u64;
    let sum = bulk::run(&app, counted, format, &opts, |rows| {
        done += rows.len() as u64;
        if let Some((w, f)) = &mut out
            && let Err(e) = bulk::write_results(w, *f, rows, header)
        {
            io_err.get_or_insert(e);
        }
        header = false;
        for r in rows.iter().filter(|r| r.outcome == "failed") {
            if errors_shown < 20 {
                let line = format!("row {}: {}", r.row, r.error.as_deref().unwrap_or("failed"));
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            errors_shown += 1;
        }
        if let Some(b) = &bar {
            b.set_position(read.load(std::sync::atomic::Ordering::Relaxed));
            b.set_message(format!("{done} rows"));
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some((mut w, _)) = out {
        w.flush()?;
    }
    if let Some(e) = io_err {
        bail!("writing the result file: {e}");
    }
    if errors_shown > 20 {
        eprintln!("… and {} more failed rows", errors_shown - 20);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} rows: {} issued, {} already issued before, {} failed ({:.1} s, {:.0} rows/s)",
        sum.rows,
        sum.issued,
        sum.skipped,
        sum.failed,
        secs,
        sum.rows as f64 / secs.max(1e-9)
    );
    Ok(if sum.failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Counts the bytes read, for the progress bar.
struct CountingReader<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Logs go to stderr; `RUST_LOG` filters by target and level (default `info`; e.g.
/// `RUST_LOG=warn,sanad::events=debug`); colours only on a terminal.
pub fn init_tracing() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .with(filter)
        .try_init();
}

/// `RUST_LOG` as `target=level` directives (`tracing_subscriber::filter::Targets`, which needs no
/// regex engine); unset or unreadable falls back to `info`, with a warning for the latter.
fn log_filter(spec: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => Targets::new().with_default(LevelFilter::INFO),
        Some(s) => s.parse().unwrap_or_else(|e| {
            eprintln!(
                "RUST_LOG={s:?} is not a list of target=level directives ({e}); logging at info"
            );
            Targets::new().with_default(LevelFilter::INFO)
        }),
    }
}

/// The deployment's database, which must exist (see [`crate::app::open_existing`]).
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    for w in config.check()? {
        tracing::warn!("{w}");
    }
    crate::app::open_existing(config).await
}

/// Run a command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config;
    match cli.command {
        Command::Serve => serve(config).await?,
        Command::Init => {
            let app = App::build(config).await?;
            let url = app.config.database_url();
            println!(
                "deployment ready: {}, keys in {}",
                crate::storage::describe(&url),
                crate::config::absolute(&app.config.keys_dir).display()
            );
            for a in app.agencies() {
                if let Some(k) = crate::domain::AgencyCode::parse(&a.code)
                    .ok()
                    .and_then(|c| app.keys.signing_key(&c))
                {
                    println!("agency {} signs with key {}", a.code, k.kid);
                }
            }
        }
        Command::Migrate => {
            config.check()?;
            if config.database_url.is_none() {
                std::fs::create_dir_all(&config.data_dir)?;
            }
            Store::connect(&config.database_url()).await?;
            println!("migrations applied");
        }
        Command::Keys(KeysCmd::List) => {
            let store = open_store(&config).await?;
            for k in store.list_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}\tshort={}",
                    k.agency_code,
                    k.status,
                    crate::domain::rfc3339(k.created_at),
                    k.kid,
                    k.short_kid
                );
            }
        }
        Command::Keys(KeysCmd::Generate { agency }) => {
            let store = open_store(&config).await?;
            let code = AgencyCode::parse(&agency)?;
            let pk = crate::keys::generate_key(&store, &config.keys_dir, code, "cli").await?;
            println!(
                "generated key {} for {} in {}",
                pk.kid,
                pk.agency,
                config.keys_dir.display()
            );
        }
        Command::Keys(KeysCmd::Rotate { agency }) => {
            let store = open_store(&config).await?;
            let code = AgencyCode::parse(&agency)?;
            let (pk, retired) = crate::keys::rotate(&store, &config.keys_dir, code, "cli").await?;
            println!(
                "{} now signs with {}; retired (still verifying): {}",
                pk.agency,
                pk.kid,
                retired.join(", ")
            );
        }
        Command::Keys(KeysCmd::Revoke { kid, reason }) => {
            let store = open_store(&config).await?;
            let replacement =
                crate::keys::revoke(&store, &config.keys_dir, &kid, &reason, "cli").await?;
            println!("revoked {kid}: what it signed now verifies as key_revoked");
            if let Some(pk) = replacement {
                println!(
                    "{} had no other active key: generated {}",
                    pk.agency, pk.kid
                );
            }
            println!("re-issue what it signed with: sanad credentials reissue --key {kid}");
        }
        Command::Credentials(CredentialsCmd::Reissue { key }) => {
            let app = App::open(config, crate::app::Open::Existing).await?;
            let (ok, failed) = crate::issuance::reissue_signed_by(&app, &key, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("re-issued {ok} credentials signed by {key}; {failed} failed");
            if failed > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Trust(TrustCmd::Import { source, pin }) => {
            let store = open_store(&config).await?;
            let list = crate::app::import_trust(&store, &source, pin.as_deref()).await?;
            println!(
                "trusted {}: {} agencies, {} keys",
                list.iss,
                list.agencies.len(),
                list.agencies.iter().map(|a| a.keys.len()).sum::<usize>()
            );
        }
        Command::Agencies(AgenciesCmd::Add {
            code,
            name_ar,
            name_en,
        }) => {
            let store = open_store(&config).await?;
            let code = AgencyCode::parse(&code)?;
            store
                .insert_agency(&AgencyRow {
                    code: code.to_string(),
                    name_ar,
                    name_en,
                    base_url: config.public_base().to_owned(),
                    created_at: now(),
                    origin: String::new(),
                })
                .await
                .with_context(|| format!("adding agency {code}"))?;
            let pk =
                crate::keys::generate_key(&store, &config.keys_dir, code.clone(), "cli").await?;
            println!("added agency {code} with signing key {}", pk.kid);
        }
        Command::Agencies(AgenciesCmd::List) => {
            let store = open_store(&config).await?;
            for a in store.list_agencies().await? {
                println!("{}\t{}\t{}", a.code, a.name_en, a.name_ar);
            }
        }
        Command::Tokens(TokensCmd::Create {
            agency,
            scopes,
            label,
        }) => {
            let store = open_store(&config).await?;
            let token = create_api_token(&store, &agency, &scopes, &label).await?;
            eprintln!(
                "API token for {agency} ({}); it is shown only now:",
                scopes.join(",")
            );
            println!("{token}");
        }
        Command::Tokens(TokensCmd::List) => {
            let store = open_store(&config).await?;
            for t in store.list_api_tokens().await? {
                println!(
                    "{}\t{}\t{}\towner={}\tlast_used={}\t{}\t{}",
                    t.id,
                    t.agency_code.unwrap_or_default(),
                    t.scopes,
                    t.owner,
                    t.last_used_at
                        .map(crate::domain::rfc3339)
                        .unwrap_or_default(),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    },
                    t.label
                );
            }
        }
        Command::Tokens(TokensCmd::Revoke { id }) => {
            let store = open_store(&config).await?;
            store
                .revoke_api_token(&id, "cli")
                .await
                .with_context(|| format!("revoking token {id} (unknown or already revoked?)"))?;
            println!("revoked token {id}");
        }
        Command::Users(cmd) => users_cmd(&config, cmd).await?,
        Command::Audit(AuditCmd::Verify { checkpoint }) => {
            let store = open_store(&config).await?;
            let (mut ok, text) = audit_verify(&store).await?;
            println!("{text}");
            let interval = i64::try_from(config.checkpoint_interval_secs.max(1))?;
            let cps =
                crate::audit::checkpoint_problems(&store, interval, crate::storage::now()).await?;
            if cps.is_empty() {
                println!(
                    "signed checkpoints consistent; every entry older than {interval} s is covered"
                );
            }
            for p in cps {
                ok = false;
                println!("CHECKPOINT PROBLEM: {p}");
            }
            if let Some(c) = checkpoint {
                let jws = match std::fs::read_to_string(&c) {
                    Ok(s) => s,
                    Err(_) => c,
                };
                match crate::audit::verify_checkpoint(&store, &jws).await? {
                    Ok(n) => println!("checkpoint of {n} entries matches"),
                    Err(m) => {
                        ok = false;
                        println!("checkpoint MISMATCH: {m}");
                    }
                }
            }
            if !ok {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Import {
            file,
            format,
            agency,
            result,
            chunk,
        } => return import_cmd(config, &file, format, agency, result, chunk).await,
        Command::Verify { input, server } => {
            return verify_cmd(config, &input, server.as_deref()).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn users_cmd(config: &Config, cmd: UsersCmd) -> anyhow::Result<()> {
    use crate::auth::{Role, add_user, password};
    let store = open_store(config).await?;
    match cmd {
        UsersCmd::Add {
            username,
            role,
            agency,
            password_stdin: _,
        } => {
            let role = Role::parse_user(&role).with_context(|| {
                format!("unknown role {role:?}: admin, registrar, approver, officer")
            })?;
            let pw = read_password()?;
            let u = add_user(&store, &username, role, agency.as_deref(), &pw, "cli").await?;
            println!("added user {} ({}) as {}", u.username, u.id, u.role);
        }
        UsersCmd::Disable { username } => {
            let u = store
                .get_user_by_name(&username)
                .await
                .context("no such user")?;
            store.disable_user(&u.id, "cli").await?;
            println!("disabled {username}");
        }
        UsersCmd::SetPassword {
            username,
            password_stdin: _,
        } => {
            let u = store
                .get_user_by_name(&username)
                .await
                .context("no such user")?;
            let pw = read_password()?;
            password::check_strength(&pw)?;
            store
                .set_user_password(&u.id, &password::hash(&pw)?, "cli")
                .await?;
            println!("password of {username} set; their sessions were ended");
        }
        UsersCmd::List => {
            for u in store.list_users().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.id,
                    u.username,
                    u.role,
                    u.agency_code.unwrap_or_default(),
                    if u.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen.clone();
    config.check()?;
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another process, perhaps another `sanad serve`, listens there)"
        } else {
            ""
        };
        anyhow::anyhow!(
            "cannot listen on {listen}: {e}{hint}; choose another address with SANAD_LISTEN / --listen"
        )
    })?;
    let app = App::build(config).await?;
    let _sync = app.spawn_sync(Duration::from_millis(
        app.config.events.sync_poll_ms.max(10),
    ));
    let _listen = crate::events::listen::spawn(&app);
    let _deliver = crate::events::deliver::spawn(&app);
    let _purge = crate::auth::spawn_purge(app.store.clone(), Duration::from_secs(300));
    crate::web::bulk::resume_jobs(&app).await?;
    crate::audit::spawn_checkpoints(
        &app,
        Duration::from_secs(app.config.checkpoint_interval_secs.max(1)),
    );
    tracing::info!(listen = %listener.local_addr()?, public_url = %app.config.public_base(), "sanad is serving");
    let limits = crate::web::server::Limits {
        max_connections: app.config.max_connections,
        header_timeout: Duration::from_secs(app.config.header_timeout_secs.max(1)),
    };
    crate::web::server::serve(listener, crate::web::router(app), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// Turn the CLI input into QR text or a token.
fn read_input(input: &str) -> anyhow::Result<String> {
    let p = std::path::Path::new(input);
    if input.len() < 4096 && p.is_file() {
        let bytes = std::fs::read(p).with_context(|| format!("reading {input}"))?;
        return crate::render::qr::decode_image(&bytes).map_err(|e| anyhow::anyhow!(e));
    }
    Ok(input.trim().to_owned())
}

async fn verify_cmd(config: Config, input: &str, server: Option<&str>) -> anyhow::Result<ExitCode> {
    let text = read_input(input)?;
    let report = match server {
        None => {
            let app = App::open(config, crate::app::Open::Existing).await?;
            let v = if text.contains("/v/") {
                crate::verification::verify_qr(&app, &text, None).await
            } else {
                crate::verification::verify_token(&app, &text, None, None).await
            };
            serde_json::to_value(&v)?
        }
        Some(base) => verify_remote(base.trim_end_matches('/'), &text).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    let valid = report.get("outcome").and_then(|o| o.as_str()) == Some("valid");
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Offline signature check against the server's JWKS, then the server's live verdict.
async fn verify_remote(base: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    let (path_id, token) = if text.contains("/v/") {
        let q = QrText::parse(text)?;
        (Some(q.id), q.token)
    } else {
        (None, Some(text.to_owned()))
    };
    let mut local = serde_json::Map::new();
    if let Some(token) = &token {
        let jwks = http_json(&format!("{base}/.well-known/jwks.json"), None).await?;
        let header = crate::keys::kind::expect(token, crate::keys::Artefact::QrToken)
            .map_err(|e| anyhow::anyhow!("token refused: {e}"))?;
        let jwk = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| {
                k["kid"].as_str().is_some_and(|kid| {
                    kid == header.kid || (header.kid.len() >= 8 && kid.starts_with(&header.kid))
                })
            })
            .ok_or_else(|| anyhow::anyhow!("the server's JWKS has no key {}", header.kid))?;
        let vk = verifying_key_from_x(jwk["x"].as_str().unwrap_or_default())?;
        let payload = verify_compact(token, &DalekVerifier::new(vk));
        let ok = payload.is_ok();
        local.insert("signature_checked_locally".into(), ok.into());
        if let Ok(p) = payload {
            let claims: QrClaims = serde_json::from_slice(&p)?;
            if let Some(id) = &path_id
                && id.as_str() != claims.id
            {
                bail!("the QR's link and its token name different credentials");
            }
            local.insert("claims".into(), serde_json::to_value(&claims)?);
        }
    }
    let body = match (&token, &path_id) {
        (Some(t), _) => serde_json::json!({ "token": t }),
        (None, Some(id)) => serde_json::json!({ "id": id.as_str() }),
        (None, None) => bail!("nothing to verify"),
    };
    let mut server = http_json(&format!("{base}/api/v1/verify"), Some(body)).await?;
    if local.get("signature_checked_locally") == Some(&serde_json::Value::Bool(false)) {
        server["outcome"] = "invalid".into();
    }
    server["local"] = local.into();
    Ok(server)
}

async fn http_json(
    url: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let (status, bytes) = crate::net::request(
        url,
        body.map(|b| ("application/json", b.to_string().into_bytes())),
        Duration::from_secs(15),
    )
    .await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "{url}: HTTP {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(serde_json::from_slice(&bytes)?)
}

#[cfg(test)]
mod log_filter_tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_directives_filter_by_target() {
        let f = log_filter(Some("warn,sanad::events=debug"));
        assert!(f.would_enable("sanad::events::deliver", &Level::DEBUG));
        assert!(!f.would_enable("sanad::web", &Level::INFO));
        assert!(f.would_enable("sanad::web", &Level::WARN));
        let default = log_filter(None);
        assert!(default.would_enable("sanad", &Level::INFO));
        assert!(!default.would_enable("sanad", &Level::DEBUG));
        let bad = log_filter(Some("=nonsense=="));
        assert!(bad.would_enable("sanad", &Level::INFO));
    }
}
