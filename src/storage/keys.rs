//! Agencies and their public keys: adding agencies, key generation, rotation and
//! revocation (each audited, each announced as an event), and the trust list imported
//! from another deployment.

use super::audited::AuditedTx;
use super::{AgencyRow, KeyRow, NewEvent, Store, StoreError, events, map_unique, now};
use sqlx::Row as _;

impl Store {
    /// Add an agency; a second agency with the same code is a conflict.
    pub async fn insert_agency(&self, a: &AgencyRow) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO agencies (code, name_ar, name_en, base_url, created_at, origin) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.code)
        .bind(&a.name_ar)
        .bind(&a.name_en)
        .bind(&a.base_url)
        .bind(a.created_at)
        .bind(&a.origin)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        tx.append("system", "agency.add", &a.code, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// All agencies, by code.
    pub async fn list_agencies(&self) -> Result<Vec<AgencyRow>, StoreError> {
        let rows = sqlx::query_as::<_, AgencyRow>(
            "SELECT code, name_ar, name_en, base_url, created_at, origin FROM agencies ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Record a new public key. A short-kid collision is a conflict.
    pub async fn insert_key(&self, k: &KeyRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, short_kid, agency_code, public_x, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.short_kid)
        .bind(&k.agency_code)
        .bind(&k.public_x)
        .bind(&k.status)
        .bind(k.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": k.agency_code}).to_string();
        tx.append(actor, "key.generate", &k.kid, &detail).await?;
        events::event_insert(tx.tx(), &key_event("key.generated", &k.agency_code, &k.kid)).await?;
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// Retire every active key of `agency` except `keep` (rotation: they stop signing and
    /// keep verifying).
    pub async fn retire_keys(
        &self,
        agency: &str,
        keep: &str,
        actor: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let rows = sqlx::query("SELECT kid FROM signing_keys WHERE agency_code = $1 AND status = 'active' AND kid <> $2")
            .bind(agency)
            .bind(keep)
            .fetch_all(&mut *tx)
            .await?;
        let kids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("kid"))
            .collect::<Result<_, _>>()?;
        let at = now();
        for kid in &kids {
            sqlx::query(
                "UPDATE signing_keys SET status = 'retired', retired_at = $1 WHERE kid = $2",
            )
            .bind(at)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
            let detail = serde_json::json!({"agency": agency, "replaced_by": keep}).to_string();
            tx.append(actor, "key.retire", kid, &detail).await?;
            events::event_insert(tx.tx(), &key_event("key.retired", agency, kid)).await?;
        }
        if kids.is_empty() {
            // Nothing to retire: record the rotation itself so the reserved number is used.
            let detail = serde_json::json!({"agency": agency, "active": keep}).to_string();
            tx.append(actor, "key.rotate", keep, &detail).await?;
        }
        tx.commit().await?;
        self.bump_changes();
        Ok(kids)
    }

    /// Revoke a key (compromise): it leaves the JWKS and what it signed verifies as
    /// `key_revoked`.
    pub async fn revoke_key(&self, kid: &str, reason: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE signing_keys SET status = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE kid = $3 AND status <> 'revoked'",
        )
        .bind(now())
        .bind(reason)
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = serde_json::json!({"reason": reason}).to_string();
        tx.append(actor, "key.revoke", kid, &detail).await?;
        let agency: String = sqlx::query("SELECT agency_code FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .fetch_one(&mut *tx)
            .await?
            .try_get("agency_code")?;
        events::event_insert(tx.tx(), &key_event("key.revoked", &agency, kid)).await?;
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// Insert or update agencies and keys imported from another deployment's trust list,
    /// in one transaction. A code already used by a local agency is a conflict.
    pub async fn import_trust(
        &self,
        origin: &str,
        agencies: &[AgencyRow],
        keys: &[KeyRow],
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        for a in agencies {
            let existing = sqlx::query("SELECT origin FROM agencies WHERE code = $1")
                .bind(&a.code)
                .fetch_optional(&mut *tx)
                .await?;
            match existing {
                Some(row) => {
                    let o: String = row.try_get("origin")?;
                    if o != origin {
                        return Err(StoreError::Conflict(format!(
                            "agency code {} is already used here (by {}); agency codes must be unique across trusted deployments",
                            a.code,
                            if o.is_empty() {
                                "this deployment".to_owned()
                            } else {
                                o
                            }
                        )));
                    }
                    sqlx::query("UPDATE agencies SET name_ar = $1, name_en = $2, base_url = $3 WHERE code = $4")
                        .bind(&a.name_ar)
                        .bind(&a.name_en)
                        .bind(&a.base_url)
                        .bind(&a.code)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO agencies (code, name_ar, name_en, base_url, created_at, origin) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&a.code)
                    .bind(&a.name_ar)
                    .bind(&a.name_en)
                    .bind(&a.base_url)
                    .bind(now())
                    .bind(origin)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for k in keys {
            let exists = sqlx::query("SELECT agency_code FROM signing_keys WHERE kid = $1")
                .bind(&k.kid)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = exists {
                let agency: String = row.try_get("agency_code")?;
                if agency != k.agency_code {
                    return Err(StoreError::Conflict(format!(
                        "key {} belongs to another agency here",
                        k.kid
                    )));
                }
                sqlx::query(
                    "UPDATE signing_keys SET status = $1, retired_at = $2, revoked_at = $3, revocation_reason = $4 WHERE kid = $5",
                )
                .bind(&k.status)
                .bind(k.retired_at)
                .bind(k.revoked_at)
                .bind(&k.revocation_reason)
                .bind(&k.kid)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, short_kid, agency_code, public_x, status, created_at, retired_at, revoked_at, revocation_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&k.kid)
                .bind(&k.short_kid)
                .bind(&k.agency_code)
                .bind(&k.public_x)
                .bind(&k.status)
                .bind(k.created_at)
                .bind(k.retired_at)
                .bind(k.revoked_at)
                .bind(&k.revocation_reason)
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
            }
        }
        let detail =
            serde_json::json!({"agencies": agencies.len(), "keys": keys.len()}).to_string();
        tx.append(actor, "trust.import", origin, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ids of the active or suspended credentials signed by `kid` (for bulk re-issue).
    pub async fn credentials_signed_by(
        &self,
        kid: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agency_code FROM credentials WHERE kid = $1 AND status IN ('active', 'suspended') ORDER BY issued_at, id",
        )
        .bind(kid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("agency_code")?)))
            .collect()
    }

    /// All keys, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows = sqlx::query_as::<_, KeyRow>(
            "SELECT kid, short_kid, agency_code, public_x, status, created_at, retired_at, revoked_at, revocation_reason FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

fn key_event(event_type: &str, agency: &str, kid: &str) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        agency_code: agency.into(),
        kid: Some(kid.into()),
        at: now(),
        ..Default::default()
    }
}
