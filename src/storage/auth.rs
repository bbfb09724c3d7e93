//! Storage of who may do what: users, console sessions, sign-in throttling, agency
//! settings, API token management and maker-checker requests. Every change here is audited
//! in its own transaction through the same hash chain as issuance.

use super::audited::AuditedTx;
use super::{Store, StoreError, map_unique};
use sqlx::FromRow;
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// A console user.
#[derive(Clone)]
pub struct UserRow {
    /// Id (`u…`), used in the audit log.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// `admin`, `registrar`, `approver` or `officer`.
    pub role: String,
    /// Agency (none for admins).
    pub agency_code: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Created.
    pub created_at: i64,
    /// Disabled (cannot sign in).
    pub disabled_at: Option<i64>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password hash stays out of debug prints.
        write!(f, "UserRow({}, {})", self.id, self.role)
    }
}

impl<'r> FromRow<'r, AnyRow> for UserRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            role: r.try_get("role")?,
            agency_code: r.try_get("agency_code")?,
            password_hash: r.try_get("password_hash")?,
            created_at: r.try_get("created_at")?,
            disabled_at: r.try_get("disabled_at")?,
        })
    }
}

const USER_COLS: &str = "id, username, role, agency_code, password_hash, created_at, disabled_at";

/// A console session (the cookie's secret is stored hashed).
#[derive(Clone)]
pub struct SessionRow {
    /// SHA-256 of the cookie secret, hex.
    pub id_hash: String,
    /// The user.
    pub user_id: String,
    /// The synchronizer token of this session's forms.
    pub csrf_token: String,
    /// Created (absolute timeout counts from here).
    pub created_at: i64,
    /// Last request (idle timeout counts from here, kept to the minute).
    pub last_seen_at: i64,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionRow(user {})", self.user_id)
    }
}

/// A maker-checker request.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    /// Id (`r…`).
    pub id: String,
    /// Agency of the credential.
    pub agency_code: String,
    /// The credential to act on.
    pub credential_id: String,
    /// `revoke` or `reissue`.
    pub action: String,
    /// Reason code.
    pub reason_code: String,
    /// Free text.
    pub reason_text: Option<String>,
    /// Who asked (audit id).
    pub maker: String,
    /// When.
    pub created_at: i64,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Who decided.
    pub checker: Option<String>,
    /// When decided.
    pub decided_at: Option<i64>,
    /// Why rejected (or a note on approval).
    pub decision_reason: Option<String>,
    /// The replacement credential of an approved re-issue.
    pub result_id: Option<String>,
}

impl<'r> FromRow<'r, AnyRow> for ApprovalRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            agency_code: r.try_get("agency_code")?,
            credential_id: r.try_get("credential_id")?,
            action: r.try_get("action")?,
            reason_code: r.try_get("reason_code")?,
            reason_text: r.try_get("reason_text")?,
            maker: r.try_get("maker")?,
            created_at: r.try_get("created_at")?,
            state: r.try_get("state")?,
            checker: r.try_get("checker")?,
            decided_at: r.try_get("decided_at")?,
            decision_reason: r.try_get("decision_reason")?,
            result_id: r.try_get("result_id")?,
        })
    }
}

const APPROVAL_COLS: &str = "id, agency_code, credential_id, action, reason_code, reason_text, maker, created_at, state, checker, decided_at, decision_reason, result_id";

impl Store {
    // ----- users ----------------------------------------------------------------------

    /// Add a user; a taken username is a conflict.
    pub async fn insert_user(&self, u: &UserRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO users (id, username, role, agency_code, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.role)
        .bind(&u.agency_code)
        .bind(&u.password_hash)
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"role": u.role, "agency": u.agency_code}).to_string();
        tx.append(actor, "user.add", &u.id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user by sign-in name.
    pub async fn get_user_by_name(&self, username: &str) -> Result<UserRow, StoreError> {
        sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        )))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// A user by id.
    pub async fn get_user(&self, id: &str) -> Result<UserRow, StoreError> {
        sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// All users, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users ORDER BY username"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Disable a user and end their sessions.
    pub async fn disable_user(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let role: String = sqlx::query(
            "UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL RETURNING role",
        )
        .bind(super::now())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get("role")?;
        // Never the last admin: nobody could manage users, keys or agencies any more. The
        // count runs inside the transaction that holds the audit head, so two concurrent
        // disables cannot both pass it.
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if role == "admin" && left == 0 {
            return Err(StoreError::Conflict(
                "the last enabled admin cannot be disabled".into(),
            ));
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.append(actor, "user.disable", id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace a user's password hash and end their sessions.
    pub async fn set_user_password(
        &self,
        id: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.append(actor, "user.set_password", id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- sessions -------------------------------------------------------------------

    /// Start a session (the sign-in is audited in the same transaction).
    pub async fn insert_session(&self, s: &SessionRow) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hash)
        .bind(&s.user_id)
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .execute(&mut *tx)
        .await?;
        let actor = format!("user:{}", s.user_id);
        tx.append(&actor, "auth.login", &s.user_id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// A session by the hash of its secret.
    pub async fn get_session(&self, id_hash: &str) -> Result<SessionRow, StoreError> {
        let r = sqlx::query(
            "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(SessionRow {
            id_hash: r.try_get("id_hash")?,
            user_id: r.try_get("user_id")?,
            csrf_token: r.try_get("csrf_token")?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
        })
    }

    /// Note a session's use.
    pub async fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(at)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// End a session; `audit` names the reason (`auth.logout`, `auth.session_expired`).
    pub async fn delete_session(
        &self,
        id_hash: &str,
        user_id: &str,
        action: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        let actor = format!("user:{user_id}");
        tx.append(&actor, action, user_id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delete sessions past their idle or absolute timeout and throttle rows no longer
    /// locked nor counting; returns the number of rows removed.
    pub async fn purge_expired(
        &self,
        now: i64,
        idle: i64,
        max: i64,
        window: i64,
    ) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM sessions WHERE created_at < $1 OR last_seen_at < $2")
            .bind(now - max)
            .bind(now - idle)
            .execute(&self.pool)
            .await?;
        let b =
            sqlx::query("DELETE FROM login_throttle WHERE locked_until < $1 AND updated_at < $2")
                .bind(now)
                .bind(now - window)
                .execute(&self.pool)
                .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    // ----- sign-in throttling ---------------------------------------------------------

    /// The latest `locked_until` among `keys` (0 when none is locked).
    pub async fn throttle_locked_until(&self, keys: &[&str]) -> Result<i64, StoreError> {
        let mut until = 0;
        for k in keys {
            if let Some(r) = sqlx::query("SELECT locked_until FROM login_throttle WHERE key = $1")
                .bind(*k)
                .fetch_optional(&self.pool)
                .await?
            {
                until = until.max(r.try_get::<i64, _>("locked_until")?);
            }
        }
        Ok(until)
    }

    /// Count a failure for `key`; from the `max`-th failure within `window` seconds on,
    /// the key must wait 2^(failures - max) seconds, at most `lock`. One upsert, so
    /// concurrent failures all count.
    pub async fn throttle_fail(
        &self,
        key: &str,
        now: i64,
        max: i64,
        window: i64,
        lock: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let failures: i64 = sqlx::query(
            "INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ($1, 1, 0, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.updated_at >= $3 THEN login_throttle.failures + 1 ELSE 1 END, \
               updated_at = $2 \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .fetch_one(&mut *tx)
        .await?
        .try_get("failures")?;
        if failures >= max {
            let wait = 1i64
                .checked_shl(u32::try_from(failures - max).unwrap_or(u32::MAX).min(40))
                .unwrap_or(lock)
                .min(lock);
            sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE key = $2")
                .bind(now + wait)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remember an address an account signed in from, until `until` (stored as a throttle
    /// row whose `locked_until` is its expiry, so the purge drops it when it lapses).
    pub async fn throttle_known(&self, key: &str, until: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ($1, 0, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET locked_until = $2, updated_at = $2",
        )
        .bind(key)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forget `key`'s failures (after a successful sign-in).
    pub async fn throttle_reset(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- agency settings ------------------------------------------------------------

    /// Whether the agency requires a second person for revocations and re-issues.
    pub async fn requires_approval(&self, agency: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("SELECT requires_approval FROM agencies WHERE code = $1")
            .bind(agency)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(r.try_get::<i64, _>("requires_approval")? != 0)
    }

    /// Turn maker-checker on or off for an agency.
    pub async fn set_requires_approval(
        &self,
        agency: &str,
        on: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query("UPDATE agencies SET requires_approval = $1 WHERE code = $2")
            .bind(i64::from(on))
            .bind(agency)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = serde_json::json!({"requires_approval": on}).to_string();
        tx.append(actor, "agency.settings", agency, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- maker-checker --------------------------------------------------------------

    /// Store a pending request.
    pub async fn insert_approval(&self, a: &ApprovalRow) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO approvals (id, agency_code, credential_id, action, reason_code, reason_text, maker, created_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')",
        )
        .bind(&a.id)
        .bind(&a.agency_code)
        .bind(&a.credential_id)
        .bind(&a.action)
        .bind(&a.reason_code)
        .bind(&a.reason_text)
        .bind(&a.maker)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({
            "agency": a.agency_code, "credential": a.credential_id, "action": a.action,
            "reason_code": a.reason_code,
        })
        .to_string();
        tx.append(&a.maker, "approval.request", &a.id, &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One request.
    pub async fn get_approval(&self, id: &str) -> Result<ApprovalRow, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLS} FROM approvals WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// An agency's requests in `state`, oldest first.
    pub async fn list_approvals(
        &self,
        agency: &str,
        state: &str,
    ) -> Result<Vec<ApprovalRow>, StoreError> {
        let rows = sqlx::query_as::<_, ApprovalRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLS} FROM approvals WHERE agency_code = $1 AND state = $2 ORDER BY created_at, id LIMIT 500"
        )))
        .bind(agency)
        .bind(state)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Move a pending request to `state` (a request already decided is a conflict).
    pub async fn decide_approval(
        &self,
        id: &str,
        state: &str,
        checker: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE approvals SET state = $1, checker = $2, decided_at = $3, decision_reason = $4 WHERE id = $5 AND state = 'pending'",
        )
        .bind(state)
        .bind(checker)
        .bind(super::now())
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the request is no longer pending".into(),
            ));
        }
        let action = format!("approval.{state}");
        tx.append(checker, &action, id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Put an approved request whose action failed back to pending, or note the re-issue's
    /// replacement.
    pub async fn approval_outcome(
        &self,
        id: &str,
        failed: bool,
        result_id: Option<&str>,
    ) -> Result<(), StoreError> {
        if failed {
            sqlx::query(
                "UPDATE approvals SET state = 'pending', checker = NULL, decided_at = NULL WHERE id = $1",
            )
            .bind(id)
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("UPDATE approvals SET result_id = $1 WHERE id = $2")
                .bind(result_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
