//! API tokens: issued and revoked (audited), looked up by hash on every request.

use super::audited::AuditedTx;
use super::{ApiTokenRow, Store, StoreError, map_unique, now};
use sqlx::FromRow as _;

impl Store {
    /// Store a new API token (hash only).
    pub async fn insert_api_token(&self, t: &ApiTokenRow) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, agency_code, token_hash, scopes, label, created_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.agency_code)
        .bind(&t.token_hash)
        .bind(&t.scopes)
        .bind(&t.label)
        .bind(t.created_at)
        .bind(&t.owner)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": t.agency_code, "scopes": t.scopes}).to_string();
        tx.append(&t.owner, "token.create", &t.id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Find a live token by the hash of its secret and note its use.
    pub async fn find_api_token(&self, hash: &str) -> Result<ApiTokenRow, StoreError> {
        let row = sqlx::query(
            "SELECT id, agency_code, token_hash, scopes, label, created_at, last_used_at, revoked_at, owner FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let t = ApiTokenRow::from_row(&row)?;
        let now = now();
        // Last use is kept to the minute: no write per request on a busy token.
        if t.last_used_at.is_none_or(|u| now - u >= 60) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&t.id)
                .execute(&self.pool)
                .await?;
        }
        Ok(t)
    }

    /// Every token (hashes included; callers show only ids and metadata).
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRow>, StoreError> {
        let rows = sqlx::query_as::<_, ApiTokenRow>(
            "SELECT id, agency_code, token_hash, scopes, label, created_at, last_used_at, revoked_at, owner FROM api_tokens ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Revoke a live token.
    pub async fn revoke_api_token(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(super::now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.append(actor, "token.revoke", id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }
}
