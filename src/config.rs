//! Configuration: one typed struct from command-line flags or `SANAD_*` environment
//! variables (flags win). Every variable is listed in `.env.sample` and the README.

use std::path::PathBuf;

/// Settings shared by `sanad serve` and the other commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SANAD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Public base URL printed into QR codes (no trailing slash), e.g. https://sanad.example.gov
    #[arg(
        long,
        env = "SANAD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    /// Database URL: sqlite://PATH or postgres://… (default: a SQLite file in the data dir).
    #[arg(long, env = "SANAD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Folder for the SQLite database and other state.
    #[arg(long, env = "SANAD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Folder holding private signing keys (PKCS#8 PEM, mode 0600).
    #[arg(long, env = "SANAD_KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,
    /// Code of the agency created on first run when there is none.
    #[arg(long, env = "SANAD_DEFAULT_AGENCY", default_value = "MOSD")]
    pub default_agency: String,
    /// Arabic name of the default agency.
    #[arg(
        long,
        env = "SANAD_DEFAULT_AGENCY_AR",
        default_value = "وزارة التنمية الاجتماعية"
    )]
    pub default_agency_ar: String,
    /// English name of the default agency.
    #[arg(
        long,
        env = "SANAD_DEFAULT_AGENCY_EN",
        default_value = "Ministry of Social Development"
    )]
    pub default_agency_en: String,
    /// Folder of the verifier web app served at /verifier/.
    #[arg(long, env = "SANAD_VERIFIER_DIR", default_value = "verifier-app")]
    pub verifier_dir: PathBuf,
    /// Keep uploaded document files (otherwise only their SHA-256 is kept).
    #[arg(long, env = "SANAD_KEEP_DOCUMENTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub keep_documents: bool,
    /// Requests per second per client address on `POST /api/v1/verify` and `GET /v/…`
    /// (burst: twice that); 0 turns the limit off.
    #[arg(long, env = "SANAD_RATE_LIMIT", default_value_t = 50.0)]
    pub rate_limit: f64,
    /// Most open HTTP connections at once; further clients wait in the listen backlog.
    #[arg(long, env = "SANAD_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, and the longest a kept-alive
    /// connection may sit idle between requests.
    #[arg(long, env = "SANAD_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Reverse proxies (comma-separated IPs or CIDRs) whose X-Forwarded-For / Forwarded
    /// headers name the real client. Empty: the socket address is the client.
    #[arg(long, env = "SANAD_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Seconds between signed audit checkpoints (when the log has grown); `sanad audit
    /// verify` expects every entry older than this to be covered by one.
    #[arg(long, env = "SANAD_CHECKPOINT_INTERVAL", default_value_t = 60)]
    pub checkpoint_interval_secs: u64,
    /// Events: webhook deliveries, holder notifications, stream heartbeats.
    #[command(flatten)]
    pub events: EventsConfig,
}

/// Settings of the event path (webhooks, notifications, streams).
#[derive(Debug, Clone, clap::Args)]
pub struct EventsConfig {
    /// Timeout of one webhook or SMS-gateway request, in milliseconds.
    #[arg(long, env = "SANAD_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Delay after a first failed delivery, in milliseconds (doubles each retry, jittered).
    #[arg(long, env = "SANAD_WEBHOOK_BACKOFF_BASE_MS", default_value_t = 10_000)]
    pub backoff_base_ms: u64,
    /// Longest delay between retries, in milliseconds.
    #[arg(
        long,
        env = "SANAD_WEBHOOK_BACKOFF_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub backoff_max_ms: u64,
    /// How long to keep retrying one delivery before disabling its endpoint, in seconds
    /// (at least 24 h in production).
    #[arg(long, env = "SANAD_WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 25 * 3600)]
    pub retry_window_secs: u64,
    /// How often the delivery workers look for due work when nothing wakes them, in ms.
    #[arg(long, env = "SANAD_EVENTS_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// How often each instance re-reads the status feed and keys from the database, in ms
    /// (on PostgreSQL a safety net: LISTEN/NOTIFY brings changes at once).
    #[arg(long, env = "SANAD_SYNC_POLL_MS", default_value_t = 500)]
    pub sync_poll_ms: u64,
    /// Seconds between heartbeats on `/api/v1/events/stream`.
    #[arg(long, env = "SANAD_SSE_HEARTBEAT_SECS", default_value_t = 15)]
    pub heartbeat_secs: u64,
    /// SMS gateway for holder notifications (plain http://, e.g. a local relay). Without
    /// it, notifications go to the log sink (which logs no number and no name).
    #[arg(long, env = "SANAD_SMS_GATEWAY_URL")]
    pub sms_gateway_url: Option<String>,
    /// `Authorization` header value sent to the SMS gateway (secret: never printed).
    #[arg(long, env = "SANAD_SMS_GATEWAY_AUTH")]
    pub sms_gateway_auth: Option<crate::events::notify::Secret>,
    /// Body template POSTed to the gateway; `{to}`, `{text}` become JSON strings and
    /// `{segments}`, `{encoding}` the SMS segment count and `gsm7`/`ucs2`.
    #[arg(
        long,
        env = "SANAD_SMS_TEMPLATE",
        default_value = r#"{"to":{to},"text":{text}}"#
    )]
    pub sms_template: String,
    /// Content type of the gateway request body.
    #[arg(
        long,
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
            verifier_dir: PathBuf::from("verifier-app"),
            keep_documents: true,
            rate_limit: 0.0,
            max_connections: 1024,
            header_timeout_secs: 10,
            trusted_proxies: String::new(),
            checkpoint_interval_secs: 60,
            events: EventsConfig::default(),
        }
    }
}
