//! Reading the audit log: entries, pages, hashes and the head. Entries are written only
//! through [`super::audited`]; the chain's hashing is [`super::chain`].

use super::audited::AuditedTx;
use super::{AuditRow, Store, StoreError};
use sqlx::Row as _;

impl Store {
    /// The whole audit log in order (for verification and export).
    pub async fn audit_entries(&self) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Append one audit entry on its own (sign-ins, full-record views, refused attempts).
    pub async fn audit_event(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        tx.append(actor, action, subject, &detail.to_string())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of the audit log: entries after `after`, in order.
    pub async fn audit_page(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<super::AuditRow>, StoreError> {
        let rows = sqlx::query_as::<_, super::AuditRow>(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The entries' hashes in order (what the Merkle tree is built from).
    pub async fn audit_hashes(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT hash FROM audit_log ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("hash")?)).collect()
    }

    /// The audit head `(seq, hash)` as the database holds it.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get("seq")?, r.try_get("hash")?))
    }
}
