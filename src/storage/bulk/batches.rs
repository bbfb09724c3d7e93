//! Stored bulk batches as `audit verify` re-reads them: the batch entries, the batch
//! numbers rows claim, and the rows of one batch.

use crate::storage::chain::{BULK_ACTION, BatchItem};
use crate::storage::{Engine, Store, StoreError};
use sqlx::{AssertSqlSafe, Row as _};

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

    /// `(credential id, status list, status index)` of every credential stored by batch
    /// `seq`, for the status view. Read as one aggregated row (the slots joined into one
    /// text by the database) rather than a row a credential: a start after a 1M-row import
    /// spent most of its time handing a million rows one by one from the driver. The text
    /// is only trusted when it splits into exactly as many items as the batch has rows (an
    /// id holding the separator, which no generated id does, makes it read row by row).
    pub(in crate::storage) async fn bulk_batch_slots(
        &self,
        seq: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let agg = match self.engine {
            Engine::Sqlite => "group_concat",
            Engine::Postgres => "string_agg",
        };
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n, COALESCE({agg}(CAST(status_list AS TEXT) || ':' || CAST(status_index AS TEXT) || ':' || id, ','), '') AS items FROM credentials WHERE bulk_batch = $1"
        )))
        .bind(seq)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = r.try_get("n")?;
        let items: String = r.try_get("items")?;
        if let Some(slots) = parse_slots(&items, n) {
            return Ok(slots);
        }
        let rows = sqlx::query(
            "SELECT id, status_list, status_index FROM credentials WHERE bulk_batch = $1",
        )
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|c| {
                Ok((
                    c.try_get("id")?,
                    c.try_get("status_list")?,
                    c.try_get("status_index")?,
                ))
            })
            .collect()
    }
}

/// `list:index:id,…` as [`Store::bulk_batch_slots`] aggregates it, when it holds exactly
/// `n` well-formed items.
fn parse_slots(items: &str, n: i64) -> Option<Vec<(String, i64, i64)>> {
    if n == 0 {
        return items.is_empty().then(Vec::new);
    }
    let mut out = Vec::with_capacity(usize::try_from(n).ok()?);
    for item in items.split(',') {
        let mut f = item.splitn(3, ':');
        let list = f.next()?.parse().ok()?;
        let index = f.next()?.parse().ok()?;
        out.push((f.next()?.to_owned(), list, index));
    }
    (out.len() as i64 == n).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::parse_slots;

    #[test]
    fn aggregated_slots_are_trusted_only_when_whole() {
        assert_eq!(
            parse_slots("1:7:AB,2:0:CD", 2),
            Some(vec![("AB".into(), 1, 7), ("CD".into(), 2, 0)])
        );
        assert_eq!(parse_slots("", 0), Some(vec![]));
        // An id holding the separator splits into one item too many.
        assert_eq!(parse_slots("1:7:A,B", 1), None);
        assert_eq!(parse_slots("1:7:A,1:8:B", 1), None);
        assert_eq!(parse_slots("1:x:A", 1), None);
        assert_eq!(parse_slots("1:7", 1), None);
    }
}
