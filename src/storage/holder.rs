//! Storage of holder links: for each credential at most one, kept as the SHA-256 of its
//! secret (never the secret itself). Creating, replacing and revoking are audited in the
//! same transaction as the change.

use super::audited::AuditedTx;
use super::{CredentialRow, Store, StoreError};
use sqlx::Row as _;

/// A credential's holder link, as stored.
#[derive(Debug, Clone)]
pub struct HolderLinkRow {
    /// The credential it opens.
    pub credential_id: String,
    /// Created, epoch seconds.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for HolderLinkRow {
    fn from_row(r: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            credential_id: r.try_get("credential_id")?,
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
        })
    }
}

impl Store {
    /// Create the credential's holder link, replacing any earlier one (whose URL stops
    /// working in the same transaction). `replaced` in the audit detail says which it was.
    pub async fn put_holder_link(
        &self,
        credential_id: &str,
        secret_hash: &str,
        actor: &str,
    ) -> Result<HolderLinkRow, StoreError> {
        let at = super::now();
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let replaced = sqlx::query("DELETE FROM holder_links WHERE credential_id = $1")
            .bind(credential_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query(
            "INSERT INTO holder_links (credential_id, secret_hash, created_at, created_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(credential_id)
        .bind(secret_hash)
        .bind(at)
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(super::map_unique)?;
        let detail = serde_json::json!({ "replaced": replaced }).to_string();
        tx.append(actor, "holder_link.create", credential_id, &detail)
            .await?;
        tx.commit().await?;
        Ok(HolderLinkRow {
            credential_id: credential_id.to_owned(),
            created_at: at,
            created_by: actor.to_owned(),
        })
    }

    /// Revoke the credential's holder link; `NotFound` when it has none.
    pub async fn delete_holder_link(
        &self,
        credential_id: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let gone = sqlx::query("DELETE FROM holder_links WHERE credential_id = $1")
            .bind(credential_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(StoreError::NotFound);
        }
        tx.append(actor, "holder_link.revoke", credential_id, "{}")
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The credential's holder link, if it has one.
    pub async fn get_holder_link(
        &self,
        credential_id: &str,
    ) -> Result<Option<HolderLinkRow>, StoreError> {
        let row = sqlx::query_as::<_, HolderLinkRow>(
            "SELECT credential_id, created_at, created_by FROM holder_links WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// The credential a holder link's secret opens (looked up by the secret's hash).
    pub async fn credential_by_holder_secret(
        &self,
        secret_hash: &str,
    ) -> Result<CredentialRow, StoreError> {
        let row = sqlx::query("SELECT credential_id FROM holder_links WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let id: String = row.try_get("credential_id")?;
        self.get_credential(&id).await
    }
}
