//! Configuration: one typed struct from command-line flags or `SANAD_*` environment
//! variables (flags win), optionally read from an env file (`--env-file`, or `.env` in the
//! working folder). Every variable is listed in `.env.sample` and the README. Flags are
//! accepted before or after the subcommand (`sanad serve --listen …`), and [`Config::check`]
//! refuses values that cannot work before anything is created.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Settings shared by `sanad serve` and the other commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "SANAD_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: String,
    /// Public base URL printed into QR codes (no trailing slash), e.g. https://sanad.example.gov
    #[arg(
        long,
        global = true,
        env = "SANAD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    /// Database URL: sqlite://PATH or postgres://… (default: a SQLite file in the data dir).
    #[arg(long, global = true, env = "SANAD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Folder for the SQLite database and other state.
    #[arg(long, global = true, env = "SANAD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Folder holding private signing keys (PKCS#8 PEM, mode 0600).
    #[arg(long, global = true, env = "SANAD_KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,
    /// Code of the agency created on first run when there is none.
    #[arg(
        long,
        global = true,
        env = "SANAD_DEFAULT_AGENCY",
        default_value = "MOSD"
    )]
    pub default_agency: String,
    /// Arabic name of the default agency.
    #[arg(
        long,
        global = true,
        env = "SANAD_DEFAULT_AGENCY_AR",
        default_value = "وزارة التنمية الاجتماعية"
    )]
    pub default_agency_ar: String,
    /// English name of the default agency.
    #[arg(
        long,
        global = true,
        env = "SANAD_DEFAULT_AGENCY_EN",
        default_value = "Ministry of Social Development"
    )]
    pub default_agency_en: String,
    /// Serve the verifier web app at /verifier/ from this folder instead of the copy built
    /// into the binary (for development).
    #[arg(long, global = true, env = "SANAD_VERIFIER_DIR")]
    pub verifier_dir: Option<PathBuf>,
    /// Read templates, language tables and the verifier app from this source folder (the
    /// one holding `templates/` and `verifier-app/`) instead of the copies built into the
    /// binary, re-reading them on every request (for development).
    #[arg(long, global = true, env = "SANAD_ASSETS_DIR")]
    pub assets_dir: Option<PathBuf>,
    /// Keep uploaded document files (otherwise only their SHA-256 is kept).
    #[arg(long, global = true, env = "SANAD_KEEP_DOCUMENTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub keep_documents: bool,
    /// Requests per second per client address on `POST /api/v1/verify` and `GET /v/…`
    /// (burst: twice that); 0 turns the limit off.
    #[arg(long, global = true, env = "SANAD_RATE_LIMIT", default_value_t = 50.0)]
    pub rate_limit: f64,
    /// Read `SANAD_*` settings from this file (KEY=value lines, as in `.env.sample`) before
    /// the flags; without it `.env` in the working folder is read if present. Variables
    /// already set in the environment win over the file.
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Most open HTTP connections at once; further clients wait in the listen backlog.
    #[arg(
        long,
        global = true,
        env = "SANAD_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, and the longest a kept-alive
    /// connection may sit idle between requests.
    #[arg(
        long,
        global = true,
        env = "SANAD_HEADER_TIMEOUT",
        default_value_t = 10
    )]
    pub header_timeout_secs: u64,
    /// Reverse proxies (comma-separated IPs or CIDRs) whose X-Forwarded-For / Forwarded
    /// headers name the real client. Empty: the socket address is the client.
    #[arg(long, global = true, env = "SANAD_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Seconds between signed audit checkpoints (when the log has grown); `sanad audit
    /// verify` expects every entry older than this to be covered by one.
    #[arg(
        long,
        global = true,
        env = "SANAD_CHECKPOINT_INTERVAL",
        default_value_t = 60
    )]
    pub checkpoint_interval_secs: u64,
    /// Events: webhook deliveries, holder notifications, stream heartbeats.
    #[command(flatten)]
    pub events: EventsConfig,
}

/// Settings of the event path (webhooks, notifications, streams).
#[derive(Debug, Clone, clap::Args)]
pub struct EventsConfig {
    /// Timeout of one webhook or SMS-gateway request, in milliseconds.
    #[arg(
        long,
        global = true,
        env = "SANAD_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub webhook_timeout_ms: u64,
    /// Delay after a first failed delivery, in milliseconds (doubles each retry, jittered).
    #[arg(
        long,
        global = true,
        env = "SANAD_WEBHOOK_BACKOFF_BASE_MS",
        default_value_t = 10_000
    )]
    pub backoff_base_ms: u64,
    /// Longest delay between retries, in milliseconds.
    #[arg(
        long,
        global = true,
        env = "SANAD_WEBHOOK_BACKOFF_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub backoff_max_ms: u64,
    /// How long to keep retrying one delivery before disabling its endpoint, in seconds
    /// (at least 24 h in production).
    #[arg(long, global = true, env = "SANAD_WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 25 * 3600)]
    pub retry_window_secs: u64,
    /// How often the delivery workers look for due work when nothing wakes them, in ms.
    #[arg(
        long,
        global = true,
        env = "SANAD_EVENTS_POLL_MS",
        default_value_t = 1000
    )]
    pub poll_ms: u64,
    /// How often each instance re-reads the status feed and keys from the database, in ms
    /// (on PostgreSQL a safety net: LISTEN/NOTIFY brings changes at once).
    #[arg(long, global = true, env = "SANAD_SYNC_POLL_MS", default_value_t = 500)]
    pub sync_poll_ms: u64,
    /// Seconds between heartbeats on `/api/v1/events/stream`.
    #[arg(
        long,
        global = true,
        env = "SANAD_SSE_HEARTBEAT_SECS",
        default_value_t = 15
    )]
    pub heartbeat_secs: u64,
    /// SMS gateway for holder notifications (plain http://, e.g. a local relay). Without
    /// it, notifications go to the log sink (which logs no number and no name).
    #[arg(long, global = true, env = "SANAD_SMS_GATEWAY_URL")]
    pub sms_gateway_url: Option<String>,
    /// `Authorization` header value sent to the SMS gateway (secret: never printed).
    #[arg(long, global = true, env = "SANAD_SMS_GATEWAY_AUTH")]
    pub sms_gateway_auth: Option<crate::events::notify::Secret>,
    /// Body template POSTed to the gateway; `{to}`, `{text}` become JSON strings and
    /// `{segments}`, `{encoding}` the SMS segment count and `gsm7`/`ucs2`.
    #[arg(
        long,
        global = true,
        env = "SANAD_SMS_TEMPLATE",
        default_value = r#"{"to":{to},"text":{text}}"#
    )]
    pub sms_template: String,
    /// Content type of the gateway request body.
    #[arg(
        long,
        global = true,
        env = "SANAD_SMS_CONTENT_TYPE",
        default_value = "application/json"
    )]
    pub sms_content_type: String,
}

impl EventsConfig {
    /// The retry policy.
    pub fn backoff(&self) -> crate::events::Backoff {
        crate::events::Backoff {
            base_ms: self.backoff_base_ms,
            max_ms: self.backoff_max_ms,
            window_ms: self.retry_window_secs.saturating_mul(1000),
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            webhook_timeout_ms: 10_000,
            backoff_base_ms: 10_000,
            backoff_max_ms: 3_600_000,
            retry_window_secs: 25 * 3600,
            poll_ms: 1000,
            sync_poll_ms: 500,
            heartbeat_secs: 15,
            sms_gateway_url: None,
            sms_gateway_auth: None,
            sms_template: r#"{"to":{to},"text":{text}}"#.into(),
            sms_content_type: "application/json".into(),
        }
    }
}

/// Highest accepted `SANAD_RATE_LIMIT` (requests per second per client address).
pub const MAX_RATE_LIMIT: f64 = 1_000_000.0;

/// Load `--env-file FILE` (an error if it cannot be read) or else `./.env` if present, into
/// the process environment, before the command line is parsed (so `SANAD_*` values from the
/// file feed the flags' defaults). Returns the file read, to log it.
pub fn load_env_file(args: &[std::ffi::OsString]) -> anyhow::Result<Option<PathBuf>> {
    let mut explicit = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--env-file" {
            explicit = it.next().map(PathBuf::from);
            if explicit.is_none() {
                bail!("--env-file needs a file name");
            }
        } else if let Some(v) = a.strip_prefix("--env-file=") {
            explicit = Some(PathBuf::from(v));
        }
    }
    match explicit {
        Some(path) => {
            dotenvy::from_path(&path)
                .with_context(|| format!("reading the env file {}", path.display()))?;
            Ok(Some(path))
        }
        None => {
            let path = PathBuf::from(".env");
            if !path.is_file() {
                return Ok(None);
            }
            dotenvy::from_path(&path).with_context(|| {
                format!(
                    "reading {} (in {})",
                    path.display(),
                    std::env::current_dir().unwrap_or_default().display()
                )
            })?;
            Ok(Some(path))
        }
    }
}

impl Config {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("sanad.db").display()
            ),
        }
    }

    /// Check the settings before anything is opened or created. Returns warnings to log
    /// (settings that work but probably are not what was meant); an error for settings that
    /// cannot work.
    pub fn check(&self) -> anyhow::Result<Vec<String>> {
        let mut warnings = Vec::new();
        let public = parse_public_url(&self.public_url)?;
        let listen = self.listen.parse::<std::net::SocketAddr>().ok();
        let port_ok = self
            .listen
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if listen.is_none() && !port_ok {
            bail!(
                "SANAD_LISTEN / --listen {:?} is not an address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                self.listen
            );
        }
        if let Some(listen) = listen
            && listen.ip().is_loopback()
        {
            let host_is_loopback = match public.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if host_is_loopback && public.port_or_known_default() != Some(listen.port()) {
                warnings.push(format!(
                    "SANAD_PUBLIC_URL {} does not reach this server listening on {listen}: QR codes \
                     will point elsewhere; set SANAD_PUBLIC_URL=http://{listen}",
                    self.public_base()
                ));
            }
        }
        if !self.rate_limit.is_finite() || !(0.0..=MAX_RATE_LIMIT).contains(&self.rate_limit) {
            bail!(
                "SANAD_RATE_LIMIT / --rate-limit {} is out of range: give requests per second from 0 (off) to {MAX_RATE_LIMIT}",
                self.rate_limit
            );
        }
        let e = &self.events;
        for (what, v, lo, hi) in [
            ("SANAD_WEBHOOK_TIMEOUT_MS", e.webhook_timeout_ms, 1, 600_000),
            (
                "SANAD_WEBHOOK_BACKOFF_BASE_MS",
                e.backoff_base_ms,
                1,
                86_400_000,
            ),
            (
                "SANAD_WEBHOOK_BACKOFF_MAX_MS",
                e.backoff_max_ms,
                1,
                7 * 86_400_000,
            ),
            (
                "SANAD_WEBHOOK_RETRY_WINDOW_SECS",
                e.retry_window_secs,
                1,
                30 * 86_400,
            ),
            ("SANAD_EVENTS_POLL_MS", e.poll_ms, 1, 3_600_000),
            ("SANAD_SYNC_POLL_MS", e.sync_poll_ms, 1, 3_600_000),
            ("SANAD_SSE_HEARTBEAT_SECS", e.heartbeat_secs, 1, 3600),
        ] {
            if !(lo..=hi).contains(&v) {
                bail!("{what} {v} is out of range: give {lo} to {hi}");
            }
        }
        crate::domain::AgencyCode::parse(&self.default_agency).with_context(|| {
            format!(
                "SANAD_DEFAULT_AGENCY / --default-agency {:?} is not an agency code",
                self.default_agency
            )
        })?;
        for (what, dir) in [
            ("SANAD_KEYS_DIR / --keys-dir", Some(&self.keys_dir)),
            ("SANAD_DATA_DIR / --data-dir", Some(&self.data_dir)),
            (
                "SANAD_VERIFIER_DIR / --verifier-dir",
                self.verifier_dir.as_ref(),
            ),
            ("SANAD_ASSETS_DIR / --assets-dir", self.assets_dir.as_ref()),
        ] {
            if let Some(dir) = dir
                && dir.exists()
                && !dir.is_dir()
            {
                bail!(
                    "{what} {} is a file, not a folder: point it at a folder",
                    absolute(dir).display()
                );
            }
        }
        for (what, dir) in [
            (
                "SANAD_VERIFIER_DIR / --verifier-dir",
                self.verifier_dir.as_ref(),
            ),
            ("SANAD_ASSETS_DIR / --assets-dir", self.assets_dir.as_ref()),
        ] {
            if let Some(dir) = dir
                && !dir.is_dir()
            {
                bail!(
                    "{what} {} does not exist; unset it to use the copy built into the binary",
                    absolute(dir).display()
                );
            }
        }
        Ok(warnings)
    }

    /// The public URL without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// A configuration for tests: a given database, a fresh keys folder.
    pub fn for_tests(database_url: String, keys_dir: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            public_url: "https://sanad.example.gov".into(),
            database_url: Some(database_url),
            data_dir: keys_dir.clone(),
            keys_dir,
            default_agency: "MOSD".into(),
            default_agency_ar: "وزارة التنمية الاجتماعية".into(),
            default_agency_en: "Ministry of Social Development".into(),
            verifier_dir: None,
            assets_dir: None,
            keep_documents: true,
            rate_limit: 0.0,
            env_file: None,
            max_connections: 1024,
            header_timeout_secs: 10,
            trusted_proxies: String::new(),
            checkpoint_interval_secs: 60,
            events: EventsConfig::default(),
        }
    }
}

/// Parse and check a public base URL: `http` or `https`, a host, no user, query or
/// fragment (it is the start of every QR code).
pub fn parse_public_url(s: &str) -> anyhow::Result<url::Url> {
    let hint = "give the base URL people reach this server at, e.g. https://sanad.example.gov";
    let u = url::Url::parse(s).map_err(|e| {
        anyhow::anyhow!("SANAD_PUBLIC_URL / --public-url {s:?} is not a URL ({e}): {hint}")
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!("SANAD_PUBLIC_URL / --public-url {s:?} must start with https:// or http://: {hint}");
    }
    if u.host_str().is_none_or(str::is_empty) {
        bail!("SANAD_PUBLIC_URL / --public-url {s:?} has no host: {hint}");
    }
    if !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        bail!(
            "SANAD_PUBLIC_URL / --public-url {s:?} must not carry a user, a query or a fragment: {hint}"
        );
    }
    Ok(u)
}

/// A path made absolute against the working folder (for messages).
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::for_tests("sqlite::memory:".into(), PathBuf::from("keys"));
        c.listen = "127.0.0.1:8080".into();
        c.public_url = "http://127.0.0.1:8080".into();
        c
    }

    #[test]
    fn public_url_is_checked() {
        for bad in [
            "not-a-url",
            "ftp://x.example",
            "https://",
            "https://u@x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "x.example",
        ] {
            let mut c = config();
            c.public_url = bad.into();
            assert!(c.check().is_err(), "{bad} accepted");
        }
        for good in [
            "https://sanad.example.gov",
            "https://sanad.example.gov/",
            "http://10.0.0.5:8080/sanad",
        ] {
            let mut c = config();
            c.public_url = good.into();
            assert!(c.check().expect(good).is_empty(), "{good}");
        }
    }

    #[test]
    fn a_loopback_public_url_on_another_port_is_warned_about() {
        let mut c = config();
        c.listen = "127.0.0.1:9090".into();
        let w = c.check().expect("works");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("SANAD_PUBLIC_URL=http://127.0.0.1:9090"),
            "{w:?}"
        );
        // A real public name is not second-guessed.
        c.public_url = "https://sanad.example.gov".into();
        assert!(c.check().expect("works").is_empty());
    }

    #[test]
    fn numbers_and_folders_are_range_checked() {
        for bad in [-1.0, f64::NAN, f64::INFINITY, MAX_RATE_LIMIT + 1.0] {
            let mut c = config();
            c.rate_limit = bad;
            assert!(c.check().is_err(), "{bad} accepted");
        }
        let mut c = config();
        c.listen = "8080".into();
        assert!(c.check().is_err());
        let file =
            std::env::temp_dir().join(format!("sanad-cfg-{}", crate::domain::random_base32(8)));
        std::fs::write(&file, b"x").expect("write");
        let mut c = config();
        c.keys_dir = file.clone();
        let e = c.check().expect_err("a file as keys folder").to_string();
        assert!(e.contains("is a file, not a folder"), "{e}");
        std::fs::remove_file(&file).expect("cleanup");
    }
}
