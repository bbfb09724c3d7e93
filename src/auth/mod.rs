//! Who may do what. Console users (Argon2id passwords, server-side sessions) and API tokens
//! both become one [`Principal`] — a role, an agency and a set of [`Scope`]s — so a single
//! function, [`authorize`], decides every request whichever way the caller signed in.
//!
//! Sign-in is throttled in the database (so every instance agrees) with exponential waits
//! per account-and-address and per real client address, and only a short capped wait per
//! account from addresses it has never signed in from, so one client's failures can slow
//! guessing but never lock another user out. Every success, failure, refusal and sign-out
//! is audited without the password or the name typed.

pub mod password;

use crate::app::{App, hash_token};
use crate::domain::{AgencyCode, random_base32};
use crate::error::AppError;
use crate::issuance::Actor;
use crate::storage::{SessionRow, StoreError, UserRow, now};

/// A console user's role (SPEC §1). API tokens act as [`Role::System`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The whole deployment: users, tokens, agency settings, audit; reads full records
    /// through the audited officer view.
    Admin,
    /// One agency: person records and credentials.
    Registrar,
    /// One agency: approves revocations and re-issues (maker-checker).
    Approver,
    /// Any agency: full record view, every view audited.
    Officer,
    /// A relying system with an API token; its scopes say what it may do.
    System,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Registrar => "registrar",
            Self::Approver => "approver",
            Self::Officer => "officer",
            Self::System => "system",
        }
    }

    /// Parse a user role (`system` is not a user role).
    pub fn parse_user(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "registrar" => Some(Self::Registrar),
            "approver" => Some(Self::Approver),
            "officer" => Some(Self::Officer),
            _ => None,
        }
    }

    /// What a user of this role may do.
    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Self::Admin => &[Scope::Admin, Scope::OfficerView],
            Self::Registrar => &[Scope::Read, Scope::Issue, Scope::Revoke],
            Self::Approver => &[Scope::Read, Scope::Approve],
            Self::Officer => &[Scope::OfficerView],
            Self::System => &[],
        }
    }
}

/// One permission. `Read`, `Issue`, `Revoke` and `Approve` hold only within the
/// principal's own agency; `OfficerView` and `Admin` span the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read the agency's persons, credentials and pending requests.
    Read,
    /// Create and change persons; issue credentials.
    Issue,
    /// Suspend, reinstate, revoke (re-issue needs `Issue` too).
    Revoke,
    /// Decide maker-checker requests.
    Approve,
    /// Full record of any agency's credential (audited).
    OfficerView,
    /// Users, tokens, agency settings, audit log.
    Admin,
    /// Hear events (pull, stream, webhooks, watches) of the agency's own credentials and of
    /// those it watches or was granted (API tokens only).
    Events,
    /// Read the operators' figures at `GET /metrics` (API tokens only).
    Metrics,
}

impl Scope {
    /// The scope's name (token scopes are `issue`, `revoke`, `read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Issue => "issue",
            Self::Revoke => "revoke",
            Self::Approve => "approve",
            Self::OfficerView => "officer_view",
            Self::Admin => "admin",
            Self::Events => "events",
            Self::Metrics => "metrics",
        }
    }

    /// Parse an API token scope.
    pub fn parse_token(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "issue" => Some(Self::Issue),
            "revoke" => Some(Self::Revoke),
            "events" => Some(Self::Events),
            "metrics" => Some(Self::Metrics),
            _ => None,
        }
    }

    fn agency_bound(self) -> bool {
        matches!(
            self,
            Self::Read | Self::Issue | Self::Revoke | Self::Approve | Self::Events
        )
    }
}

/// How the principal signed in.
#[derive(Debug, Clone)]
pub enum Via {
    /// A console session; unsafe requests must carry its CSRF token.
    Session {
        /// SHA-256 of the cookie secret.
        id_hash: String,
        /// The session's synchronizer token.
        csrf_token: String,
    },
    /// An API token.
    Token,
}

/// The caller of a request, however they signed in.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Audit id: `user:{id}` or `token:{id}`.
    pub id: String,
    /// User id or token id (without the prefix).
    pub subject: String,
    /// Role.
    pub role: Role,
    /// Agency (none for admins).
    pub agency: Option<AgencyCode>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Session or token.
    pub via: Via,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The principal lacks the scope (403).
    Scope(Scope),
    /// The resource belongs to another agency (answered as 404: its existence is not
    /// revealed).
    OtherAgency,
}

/// The one authorization decision: may `p` use `scope` on a resource of `agency` (or, with
/// `None`, on its own agency's collection)?
pub fn authorize(p: &Principal, scope: Scope, agency: Option<&str>) -> Result<(), Denied> {
    if !p.scopes.contains(&scope) {
        return Err(Denied::Scope(scope));
    }
    if scope.agency_bound() {
        let own = p.agency.as_ref().ok_or(Denied::Scope(scope))?;
        if agency.is_some_and(|a| a != own.as_str()) {
            return Err(Denied::OtherAgency);
        }
    }
    Ok(())
}

impl Principal {
    /// Build the principal of a user.
    pub fn of_user(u: &UserRow, via: Via) -> Result<Self, AppError> {
        let role = Role::parse_user(&u.role)
            .ok_or_else(|| anyhow::anyhow!("user {} has an unknown role", u.id))?;
        let agency = u
            .agency_code
            .as_deref()
            .map(AgencyCode::parse)
            .transpose()?;
        Ok(Self {
            id: format!("user:{}", u.id),
            subject: u.id.clone(),
            role,
            agency,
            scopes: role.scopes().to_vec(),
            via,
        })
    }

    /// Check `scope` for the principal's own agency and return the actor to act as.
    pub fn require(&self, scope: Scope) -> Result<Actor, AppError> {
        authorize(self, scope, None).map_err(denied)?;
        Ok(Actor {
            id: self.id.clone(),
            agency: self
                .agency
                .clone()
                .ok_or_else(|| AppError::Forbidden("this principal has no agency".into()))?,
        })
    }

    /// Check a deployment-wide scope (`Admin`, `OfficerView`).
    pub fn require_global(&self, scope: Scope) -> Result<(), AppError> {
        authorize(self, scope, None).map_err(denied)
    }

    /// Check `scope` on a resource of `agency` (404 for another agency's).
    pub fn check(&self, scope: Scope, agency: &str, what: &'static str) -> Result<(), AppError> {
        authorize(self, scope, Some(agency)).map_err(|d| match d {
            Denied::OtherAgency => AppError::NotFound(what),
            d => denied(d),
        })
    }
}

fn denied(d: Denied) -> AppError {
    match d {
        Denied::Scope(s) => AppError::Forbidden(format!(
            "this principal lacks the '{}' permission",
            s.as_str()
        )),
        Denied::OtherAgency => AppError::NotFound("resource"),
    }
}

/// Idle timeout of a console session.
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// Absolute lifetime of a console session.
pub const SESSION_MAX_SECS: i64 = 12 * 3600;
/// Failed sign-ins (per key) that cost nothing; after that each failure doubles the wait.
pub const LOGIN_MAX_FAILURES: i64 = 3;
/// Failures older than this are forgotten.
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// The longest wait for one client address (alone, or on one account).
pub const LOGIN_LOCK_SECS: i64 = 15 * 60;
/// The longest wait an account imposes on an address it has not signed in from before.
/// Kept short on purpose: anyone can make an account's failures climb, so this slows
/// guessing (one try per half minute, across all addresses) without becoming a lock.
pub const LOGIN_ACCOUNT_MAX_DELAY_SECS: i64 = 30;
/// How long an address stays known for an account after a successful sign-in from it.
pub const LOGIN_KNOWN_SECS: i64 = 90 * 24 * 3600;

/// Why a sign-in failed (the caller sees one generic message for both refusals).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong name or password, or a disabled account.
    #[error("wrong user name or password")]
    BadCredentials,
    /// Too many failures: locked until the given time.
    #[error("too many failed attempts; try again later")]
    Locked {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Any other failure (the password check's thread panicked).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A new console session: the cookie secret (shown once, to the browser) and its CSRF token.
pub struct NewSession {
    /// The cookie value.
    pub secret: String,
    /// The synchronizer token.
    pub csrf_token: String,
    /// The user.
    pub user: UserRow,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSession({:?})", self.user)
    }
}

/// Check a password and start a session, throttled per account and per `addr`.
#[tracing::instrument(skip_all, fields(client.addr = %addr))]
pub async fn login(
    app: &App,
    username: &str,
    password: &str,
    addr: &str,
) -> Result<NewSession, LoginError> {
    let username = username.trim();
    let name = username.to_lowercase();
    // Three throttles, none of which one client can turn against another:
    // - `pair`: this account from this address (exponential, up to 15 min);
    // - `addr`: this address on any account (exponential, up to 15 min), only when the
    //   address is real (the socket peer, or forwarded by a trusted proxy);
    // - `user`: this account from any address (exponential, capped at 30 s), not applied to
    //   an address the account has signed in from before (`known`).
    let user_key = format!("user:{name}");
    let pair_key = format!("pair:{name}|{addr}");
    let known_key = format!("known:{name}|{addr}");
    let real = addr != "unknown";
    let addr_key = format!("addr:{addr}");
    let t = now();
    let user = match app.store.get_user_by_name(username).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let subject = user.as_ref().map_or("-", |u| u.id.as_str()).to_owned();
    let known = app.store.throttle_locked_until(&[&known_key]).await? > t;
    let mut keys: Vec<&str> = vec![&pair_key];
    if real {
        keys.push(&addr_key);
    }
    if !known {
        keys.push(&user_key);
    }
    let locked_until = app.store.throttle_locked_until(&keys).await?;
    if locked_until > t {
        app.store
            .audit_event(
                "anonymous",
                "auth.login_locked",
                &subject,
                &serde_json::json!({}),
            )
            .await?;
        tracing::warn!(user.id = %subject, "sign-in refused: locked");
        return Err(LoginError::Locked {
            retry_after: locked_until - t,
        });
    }
    // Argon2 takes tens of milliseconds of CPU: off the async workers. An unknown name is
    // checked against a dummy hash, so timing does not reveal which names exist.
    let hash = user
        .as_ref()
        .map_or(password::DUMMY_HASH.to_owned(), |u| u.password_hash.clone());
    let pw = zeroize::Zeroizing::new(password.to_owned());
    let matches = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(|e| anyhow::anyhow!("password check failed: {e}"))?;
    let ok = matches && user.as_ref().is_some_and(|u| u.disabled_at.is_none());
    let Some(user) = user.filter(|_| ok) else {
        let mut fails = vec![
            (&pair_key, LOGIN_LOCK_SECS),
            (&user_key, LOGIN_ACCOUNT_MAX_DELAY_SECS),
        ];
        if real {
            fails.push((&addr_key, LOGIN_LOCK_SECS));
        }
        for (k, cap) in fails {
            app.store
                .throttle_fail(k, t, LOGIN_MAX_FAILURES, LOGIN_WINDOW_SECS, cap)
                .await?;
        }
        app.store
            .audit_event(
                "anonymous",
                "auth.login_failed",
                &subject,
                &serde_json::json!({}),
            )
            .await?;
        tracing::info!(user.id = %subject, "sign-in failed");
        return Err(LoginError::BadCredentials);
    };
    app.store.throttle_reset(&pair_key).await?;
    app.store
        .throttle_known(&known_key, t + LOGIN_KNOWN_SECS)
        .await?;
    let secret = random_base32(32);
    let csrf_token = random_base32(32);
    app.store
        .insert_session(&SessionRow {
            id_hash: hash_token(&secret),
            user_id: user.id.clone(),
            csrf_token: csrf_token.clone(),
            created_at: t,
            last_seen_at: t,
        })
        .await?;
    tracing::info!(user.id = %user.id, "signed in");
    Ok(NewSession {
        secret,
        csrf_token,
        user,
    })
}

/// The principal of a session cookie, or `Unauthorized` when it is unknown, expired or its
/// user was disabled. Expiry ends the session (audited).
pub async fn session_principal(app: &App, secret: &str) -> Result<Principal, AppError> {
    if secret.len() > 128 {
        return Err(AppError::Unauthorized);
    }
    let id_hash = hash_token(secret);
    let s = match app.store.get_session(&id_hash).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let t = now();
    if t - s.created_at > SESSION_MAX_SECS || t - s.last_seen_at > SESSION_IDLE_SECS {
        app.store
            .delete_session(&id_hash, &s.user_id, "auth.session_expired")
            .await?;
        return Err(AppError::Unauthorized);
    }
    let user = match app.store.get_user(&s.user_id).await {
        Ok(u) if u.disabled_at.is_none() => u,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    // Kept to the minute: no write per request.
    if t - s.last_seen_at >= 60 {
        app.store.touch_session(&id_hash, t).await?;
    }
    Principal::of_user(
        &user,
        Via::Session {
            id_hash,
            csrf_token: s.csrf_token,
        },
    )
}

/// End the principal's session (sign-out).
pub async fn logout(app: &App, p: &Principal) -> Result<(), AppError> {
    if let Via::Session { id_hash, .. } = &p.via {
        app.store
            .delete_session(id_hash, &p.subject, "auth.logout")
            .await?;
    }
    Ok(())
}

/// Remove expired sessions and stale throttle rows, every `every` (run by `sanad serve`).
pub fn spawn_purge(
    store: crate::storage::Store,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match store
                .purge_expired(
                    now(),
                    SESSION_IDLE_SECS,
                    SESSION_MAX_SECS,
                    LOGIN_WINDOW_SECS,
                )
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "purged expired sessions and throttle rows"),
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed; will retry"),
            }
        }
    })
}

/// Add a console user (CLI and admin API). Admins have no agency; every other role has one.
pub async fn add_user(
    app_store: &crate::storage::Store,
    username: &str,
    role: Role,
    agency: Option<&str>,
    password: &str,
    actor: &str,
) -> anyhow::Result<UserRow> {
    let username = username.trim();
    anyhow::ensure!(
        (1..=64).contains(&username.len())
            && username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)),
        "user names are 1-64 characters: letters, digits, . _ - @"
    );
    anyhow::ensure!(role != Role::System, "system is not a user role");
    let agency = match (role, agency) {
        (Role::Admin, None) => None,
        (Role::Admin, Some(_)) => {
            anyhow::bail!("admins work for the whole deployment: no --agency")
        }
        // Officers act for any agency (SPEC §1): an agency is optional.
        (Role::Officer, None) => None,
        (_, None) => anyhow::bail!("a {} needs --agency", role.as_str()),
        (_, Some(a)) => {
            let a = AgencyCode::parse(a)?;
            anyhow::ensure!(
                app_store
                    .list_agencies()
                    .await?
                    .iter()
                    .any(|x| x.code == a.as_str()),
                "no agency {a}"
            );
            Some(a.to_string())
        }
    };
    password::check_strength(password)?;
    let u = UserRow {
        id: format!("u{}", random_base32(12).to_lowercase()),
        username: username.to_owned(),
        role: role.as_str().to_owned(),
        agency_code: agency,
        password_hash: password::hash(password)?,
        created_at: now(),
        disabled_at: None,
    };
    app_store.insert_user(&u, actor).await?;
    Ok(u)
}
