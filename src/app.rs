//! The running application: configuration, storage and the in-memory views that the hot
//! path reads (keys, statuses, agencies), built once and shared by every request.

use crate::config::Config;
use crate::domain::{PublicIssuer, random_base32};
use crate::keys::KeyRegistry;
use crate::status::StatusRegistry;
use crate::storage::{AgencyRow, ApiTokenRow, Store, now};
use anyhow::Context as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// A signed status list and the status-view version it was made from.
/// `(status version, signed at, JWT)` of a published list.
type Published = (u64, i64, Arc<String>);

/// `(credential id, variant)` of a rendered QR.
type QrCacheKey = (String, &'static str);

/// Shared state; handlers get it as `State<Arc<App>>`.
#[derive(Debug)]
pub struct App {
    /// Settings.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Keys in memory.
    pub keys: KeyRegistry,
    /// Statuses in memory.
    pub status: StatusRegistry,
    /// Other deployments' status lists.
    pub remote: crate::status::remote::RemoteLists,
    /// Tokens already verified (repeat scans skip the signature check).
    pub verified: crate::verification::cache::VerifiedTokens,
    /// Micro-batched Ed25519 verification for scans.
    pub batch: crate::keys::batch::BatchVerifier,
    /// Where holder notifications go (SMS gateway or the log sink).
    pub notifier: Arc<dyn crate::events::notify::Notifier>,
    /// Operators' counters (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    published: Mutex<HashMap<(u32, String), Published>>,
    agencies: RwLock<Agencies>,
    qr_cache: Mutex<HashMap<QrCacheKey, Arc<Vec<u8>>>>,
}

/// The agencies known here, with what every scan asks of them worked out once per reload.
#[derive(Debug)]
struct Agencies {
    by_code: HashMap<String, AgencyRow>,
    /// The non-empty base URLs, without trailing slashes: the origin check of every scanned
    /// QR compares its link with each.
    bases: Vec<String>,
}

impl Agencies {
    fn new(rows: Vec<AgencyRow>) -> Self {
        let bases = rows
            .iter()
            .filter(|a| !a.base_url.is_empty())
            .map(|a| a.base_url.trim_end_matches('/').to_owned())
            .collect();
        Self {
            by_code: rows.into_iter().map(|a| (a.code.clone(), a)).collect(),
            bases,
        }
    }
}

/// Entries kept in the rendered-QR cache before it is cleared (a QR never changes, so a
/// cache hit saves the 2-4 ms of mask evaluation).
const QR_CACHE_MAX: usize = 4096;

/// How a command treats the deployment it is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `serve`, `init`: create the database, the default agency and its key if missing.
    Create,
    /// Every other command: use the deployment that is there, or refuse and say where it
    /// looked (waiting briefly for one being created by a `sanad serve` just started).
    Existing,
}

/// How long a command waits for a database file that a `sanad serve` just started may be
/// creating, when the data folder does not exist yet / when it does.
const WAIT_FOR_FOLDER: Duration = Duration::from_millis(1500);
const WAIT_FOR_FILE: Duration = Duration::from_secs(5);
/// How long a command waits for a database being set up (migrations, the default agency
/// and its key) by another process.
const WAIT_FOR_SETUP: Duration = Duration::from_secs(20);

/// Open the deployment `config` points at without creating one: the database must exist
/// and hold a local agency with an active key. Waits briefly for one being created by a
/// concurrent `sanad serve` (so `sanad serve & sanad tokens create …` works); otherwise
/// refuses, naming where it looked and how to point the command at a deployment.
pub async fn open_existing(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let start = std::time::Instant::now();
    let mut told = false;
    if let Some(path) = crate::storage::sqlite_path(&url) {
        loop {
            if path.is_file() {
                break;
            }
            let folder = path
                .parent()
                .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir());
            let limit = if folder {
                WAIT_FOR_FILE
            } else {
                WAIT_FOR_FOLDER
            };
            if start.elapsed() >= limit {
                anyhow::bail!(
                    "no Sanad deployment here: looked for its database {} (working folder {}) and found none. \
                     Run the command in the deployment's folder, or point it at one with SANAD_DATA_DIR / --data-dir, \
                     SANAD_DATABASE_URL / --database-url or --env-file FILE; `sanad init` (or `sanad serve`) creates \
                     a new deployment",
                    crate::config::absolute(&path).display(),
                    std::env::current_dir().unwrap_or_default().display()
                );
            }
            if folder && !told && start.elapsed() > Duration::from_millis(500) {
                eprintln!(
                    "sanad: waiting for the deployment being created at {} …",
                    path.display()
                );
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let store = Store::connect(&url).await?;
    loop {
        let agencies = store.list_agencies().await?;
        let keys = store.list_keys().await?;
        let ready = agencies.iter().filter(|a| a.is_local()).any(|a| {
            keys.iter()
                .any(|k| k.agency_code == a.code && k.status == "active")
        });
        if ready {
            return Ok(store);
        }
        if start.elapsed() >= WAIT_FOR_SETUP {
            anyhow::bail!(
                "{} is not set up as a Sanad deployment (no agency with a signing key). \
                 Point the command at the right database (SANAD_DATABASE_URL / --database-url, SANAD_DATA_DIR / \
                 --data-dir), or set this one up with `sanad init` (or `sanad serve`)",
                crate::storage::describe(&url)
            );
        }
        if !told {
            eprintln!(
                "sanad: waiting for {} to be set up (by a `sanad serve` starting?) …",
                crate::storage::describe(&url)
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl App {
    /// Connect, migrate, create the default agency and its key on first run, load the views
    /// (what `sanad serve` does; [`Open::Create`]).
    pub async fn build(config: Config) -> anyhow::Result<Arc<Self>> {
        Self::open(config, Open::Create).await
    }

    /// Check the settings, open the deployment (creating it or not, per `mode`), load the
    /// views.
    pub async fn open(config: Config, mode: Open) -> anyhow::Result<Arc<Self>> {
        for w in config.check()? {
            tracing::warn!("{w}");
        }
        if let Some(dir) = &config.assets_dir {
            crate::assets::set_dev_dir(dir);
        }
        let store = match mode {
            Open::Existing => open_existing(&config).await?,
            Open::Create => {
                if config.database_url.is_none() {
                    crate::storage::files::private_dir(&config.data_dir).map_err(|e| {
                        anyhow::anyhow!(
                            "cannot create the data folder {} for the SQLite database: {e}; \
                             set SANAD_DATA_DIR / --data-dir to a writable folder",
                            crate::config::absolute(&config.data_dir).display()
                        )
                    })?;
                }
                Store::connect(&config.database_url()).await?
            }
        };
        // One process at a time creates the default agency and its key.
        let lock = store.lock_deployment().await?;
        let setup = Self::setup(&config, &store, mode).await;
        lock.release().await;
        let (agencies, keys) = setup?;
        let status = StatusRegistry::load(&store).await?;
        let app = Arc::new(Self {
            notifier: crate::events::notify::from_config(&config.events),
            config,
            store,
            keys,
            status,
            remote: Default::default(),
            verified: Default::default(),
            batch: Default::default(),
            metrics: Default::default(),
            published: Mutex::new(HashMap::new()),
            agencies: RwLock::new(Agencies::new(agencies)),
            qr_cache: Mutex::new(HashMap::new()),
        });
        Ok(app)
    }

    /// Under the deployment lock: the default agency on first run, then the keys.
    async fn setup(
        config: &Config,
        store: &Store,
        mode: Open,
    ) -> anyhow::Result<(Vec<AgencyRow>, KeyRegistry)> {
        let mut agencies = store.list_agencies().await?;
        if agencies.is_empty() && mode == Open::Create {
            let a = AgencyRow {
                code: crate::domain::AgencyCode::parse(&config.default_agency)?.to_string(),
                name_ar: config.default_agency_ar.clone(),
                name_en: config.default_agency_en.clone(),
                base_url: config.public_base().to_owned(),
                created_at: now(),
                origin: String::new(),
            };
            store.insert_agency(&a).await?;
            tracing::info!(agency.code = %a.code, "created the default agency");
            agencies.push(a);
        }
        let (keys, generated) =
            KeyRegistry::load(store, &config.keys_dir, &agencies, mode == Open::Create)
                .await
                .context("loading signing keys")?;
        for (agency, kid) in generated {
            tracing::warn!(
                agency.code = %agency, key.kid = %kid, keys.dir = %crate::config::absolute(&config.keys_dir).display(),
                "no signing key found: generated a new Ed25519 key (back up the keys folder)"
            );
        }
        Ok((agencies, keys))
    }

    /// Keep the in-memory status view current with other instances' writes.
    pub fn spawn_sync(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                if let Err(e) = app.status.sync(&app.store).await {
                    tracing::warn!(error = %e, "status feed sync failed; will retry");
                }
                if let Err(e) = app.metrics.flush_verifications(&app.store).await {
                    tracing::warn!(error = %e, "writing verification counts failed; will retry");
                }
                match app.keys.reload(&app.store, &app.config.keys_dir).await {
                    Ok(true) => {
                        tracing::info!("keys changed: reloaded");
                        if let Err(e) = app.reload_agencies().await {
                            tracing::warn!(error = %e, "agency reload failed");
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "key reload failed; will retry"),
                }
            }
        })
    }

    /// Re-read agencies (after a trust import or `agencies add`).
    pub async fn reload_agencies(&self) -> anyhow::Result<()> {
        let rows = self.store.list_agencies().await?;
        *self.agencies.write().unwrap_or_else(|p| p.into_inner()) = Agencies::new(rows);
        Ok(())
    }

    /// Re-read keys and agencies now (the background sync does this every tick).
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        self.keys.reload(&self.store, &self.config.keys_dir).await?;
        self.reload_agencies().await
    }

    /// All agencies known here, local and imported.
    pub fn agencies(&self) -> Vec<AgencyRow> {
        let g = self.agencies.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = g.by_code.values().cloned().collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }

    /// Whether `pred` holds for any agency's base URL (non-empty, trailing slashes trimmed).
    /// Unlike [`App::agencies`], nothing is copied: the verification hot path asks this on
    /// every scanned QR.
    pub fn any_agency_base(&self, pred: impl FnMut(&str) -> bool) -> bool {
        let g = self.agencies.read().unwrap_or_else(|p| p.into_inner());
        g.bases.iter().map(String::as_str).any(pred)
    }

    /// The key that signs deployment-wide documents (status lists, the trust list,
    /// checkpoints): the default agency's active key.
    pub fn deployment_key(&self) -> anyhow::Result<Arc<crate::keys::PrivateKey>> {
        let code = crate::domain::AgencyCode::parse(&self.config.default_agency)?;
        self.keys
            .signing_key(&code)
            .ok_or_else(|| anyhow::anyhow!("the default agency {code} has no active signing key"))
    }

    /// Public description of an agency (falls back to the code alone if unknown).
    pub fn issuer(&self, code: &str) -> PublicIssuer {
        let g = self.agencies.read().unwrap_or_else(|p| p.into_inner());
        match g.by_code.get(code) {
            Some(a) => PublicIssuer {
                code: a.code.clone(),
                name_ar: a.name_ar.clone(),
                name_en: a.name_en.clone(),
                deployment: (!a.is_local()).then(|| a.origin.clone()),
            },
            None => PublicIssuer {
                code: code.to_owned(),
                name_ar: code.to_owned(),
                name_en: code.to_owned(),
                deployment: None,
            },
        }
    }

    /// Whether an agency exists here.
    pub fn has_agency(&self, code: &str) -> bool {
        self.agencies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_code
            .contains_key(code)
    }

    /// A published status list and its version tag (changes when the list or its signature
    /// does; `form` names the rendering, e.g. `ietf` or
    /// `revocation@MOSD`), made by `make` when the in-memory view changed since the cached
    /// one, or when the cached one has used up half of its validity window (lists carry
    /// `exp`/`validUntil`, so an unchanged list is re-signed before relying parties would
    /// have to treat it as stale).
    pub fn published(
        &self,
        list: u32,
        form: &str,
        make: impl FnOnce(&crate::status::StatusList) -> anyhow::Result<String>,
    ) -> anyhow::Result<Option<(String, Arc<String>)>> {
        let version = self.status.version();
        let fresh_after = crate::storage::now() - crate::status::publish::VALID_SECONDS / 2;
        if let Some((v, made, jwt)) = self
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(list, form.to_owned()))
            && *v == version
            && *made > fresh_after
        {
            return Ok(Some((format!("{v}-{made}"), jwt.clone())));
        }
        let Some((snapshot, v)) = self.status.snapshot(list) else {
            return Ok(None);
        };
        let jwt = Arc::new(make(&snapshot)?);
        let made = crate::storage::now();
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((list, form.to_owned()), (v, made, jwt.clone()));
        Ok(Some((format!("{v}-{made}"), jwt)))
    }

    /// How many view versions the most stale cached published status list is behind (0 when
    /// none is cached: lists are signed on demand from the current view).
    pub fn status_list_lag(&self) -> u64 {
        let now = self.status.version();
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(v, _, _)| now.saturating_sub(*v))
            .max()
            .unwrap_or(0)
    }

    /// A cached rendering of a credential's QR (`variant` names the format and options).
    pub fn qr_cached_get(&self, id: &str, variant: &'static str) -> Option<Arc<Vec<u8>>> {
        self.qr_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(id.to_owned(), variant))
            .cloned()
    }

    /// Remember a rendering (the cache is cleared when full: QRs are cheap to redo).
    pub fn qr_cache_put(&self, id: &str, variant: &'static str, bytes: Arc<Vec<u8>>) {
        let mut g = self.qr_cache.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= QR_CACHE_MAX {
            g.clear();
        }
        g.insert((id.to_owned(), variant), bytes);
    }
}

/// The scopes an API token can carry.
pub const SCOPES: &[&str] = &["issue", "revoke", "read", "events", "metrics"];

/// Create an API token for `agency` with `scopes`, owned by the command line; returns the
/// secret (shown once).
pub async fn create_api_token(
    store: &Store,
    agency: &str,
    scopes: &[String],
    label: &str,
) -> anyhow::Result<String> {
    Ok(create_api_token_owned(store, agency, scopes, label, "cli")
        .await?
        .1)
}

/// Create an API token owned by `owner` (a user's audit id, or `cli`); returns its id and
/// the secret (shown once).
pub async fn create_api_token_owned(
    store: &Store,
    agency: &str,
    scopes: &[String],
    label: &str,
    owner: &str,
) -> anyhow::Result<(String, String)> {
    for s in scopes {
        anyhow::ensure!(
            SCOPES.contains(&s.as_str()),
            "unknown scope {s:?} (known: {SCOPES:?})"
        );
    }
    anyhow::ensure!(!scopes.is_empty(), "give at least one scope");
    let agency = crate::domain::AgencyCode::parse(agency)?;
    anyhow::ensure!(
        store
            .list_agencies()
            .await?
            .iter()
            .any(|a| a.code == agency.as_str()),
        "no agency {agency}; add it with `sanad agencies add`"
    );
    let id = random_base32(10);
    let secret = random_base32(32);
    let token = format!("sanad_{id}_{secret}");
    store
        .insert_api_token(&ApiTokenRow {
            id: id.clone(),
            agency_code: Some(agency.to_string()),
            token_hash: hash_token(&token),
            scopes: scopes.join(","),
            label: label.to_owned(),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
            owner: owner.to_owned(),
        })
        .await?;
    Ok((id, token))
}

/// SHA-256 of an API token, hex. Tokens carry 160 random bits, so a fast hash is enough.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Import another deployment's trust list from its base URL, a trust-list URL or a file.
pub async fn import_trust(
    store: &Store,
    source: &str,
    pin: Option<&str>,
) -> anyhow::Result<crate::keys::trust::TrustList> {
    let jwt = if source.starts_with("http://") || source.starts_with("https://") {
        let url = if source.contains("/.well-known/") {
            source.to_owned()
        } else {
            format!(
                "{}/.well-known/sanad-trust-list",
                source.trim_end_matches('/')
            )
        };
        String::from_utf8(crate::net::get_ok(&url).await?)?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
    };
    let list = crate::keys::trust::parse_verified(&jwt, pin)?;
    let (agencies, keys) = crate::keys::trust::rows_for_import(&list);
    store
        .import_trust(&list.iss, &agencies, &keys, "cli")
        .await?;
    Ok(list)
}
