//! Stored bulk batches as `audit verify` re-reads them: the batch entries, the batch
//! numbers rows claim, and the rows of one batch.

use crate::storage::chain::{BULK_ACTION, BatchItem};
use crate::storage::{Store, StoreError};
use sqlx::Row as _;

/// A stored bulk credential, as the audit check re-reads it.
#[derive(Debug, Clone)]
pub struct BatchCredRow {
    id: String,
    person_id: Option<String>,
    kid: String,
    status_list: i64,
    status_index: i64,
    request_key: Option<String>,
    token: String,
    doc_sha256: Option<String>,
}

impl BatchCredRow {
    /// What the audit entry committed to.
    pub fn item(&self) -> BatchItem<'_> {
        BatchItem {
            id: &self.id,
            person_id: self.person_id.as_deref(),
            kid: &self.kid,
            status_list: self.status_list,
            status_index: self.status_index,
            request_key: self.request_key.as_deref(),
            token: &self.token,
            doc_sha256: self.doc_sha256.as_deref(),
        }
    }
}

impl Store {
    /// `(seq, detail)` of every bulk batch entry in the audit log.
    pub async fn bulk_audit_entries(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT seq, detail FROM audit_log WHERE action = $1 ORDER BY seq")
            .bind(BULK_ACTION)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("detail")?)))
            .collect()
    }

    /// Every batch number that credential or person rows claim.
    pub async fn bulk_batches_in_rows(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT bulk_batch FROM credentials WHERE bulk_batch IS NOT NULL UNION SELECT DISTINCT bulk_batch FROM persons WHERE bulk_batch IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("bulk_batch")?)).collect()
    }

    /// The credentials and person ids stored by batch `seq`.
    pub async fn bulk_batch_rows(
        &self,
        seq: i64,
    ) -> Result<(Vec<BatchCredRow>, Vec<String>), StoreError> {
        let rows = sqlx::query(
            "SELECT id, person_id, kid, status_list, status_index, request_key, token, doc_sha256 FROM credentials WHERE bulk_batch = $1",
        )
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        let creds = rows
            .iter()
            .map(|r| {
                Ok(BatchCredRow {
                    id: r.try_get("id")?,
                    person_id: r.try_get("person_id")?,
                    kid: r.try_get("kid")?,
                    status_list: r.try_get("status_list")?,
                    status_index: r.try_get("status_index")?,
                    request_key: r.try_get("request_key")?,
                    token: r.try_get("token")?,
                    doc_sha256: r.try_get("doc_sha256")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let persons = sqlx::query("SELECT id FROM persons WHERE bulk_batch = $1")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<Vec<String>, _>>()?;
        Ok((creds, persons))
    }
}
