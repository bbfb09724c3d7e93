//! What a chunk refers to, read before it is stored: the request keys an agency issued
//! before, and the persons it names.

use super::sql::{in_list, param, rows_per_statement};
use crate::storage::{PersonRow, Store, StoreError};
use sqlx::FromRow;
use sqlx::{AssertSqlSafe, Row as _};

impl Store {
    /// Which of `keys` an agency has issued already: `(request key, credential id, bulk batch)`.
    pub async fn existing_request_keys(
        &self,
        agency: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
        let mut out = Vec::new();
        let e = self.engine;
        for part in keys.chunks(rows_per_statement(e, 1)) {
            let sql = format!(
                "SELECT request_key, id, bulk_batch FROM credentials WHERE agency_code = {} AND request_key IN ({})",
                param(e, 1),
                in_list(e, part.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(agency);
            for k in part {
                q = q.bind(k.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((
                    r.try_get("request_key")?,
                    r.try_get("id")?,
                    r.try_get("bulk_batch")?,
                ));
            }
        }
        Ok(out)
    }

    /// Which of `ids` are persons of `agency` (another agency's persons are not revealed).
    pub async fn agency_person_ids(
        &self,
        agency: &str,
        ids: &[String],
    ) -> Result<Vec<PersonRow>, StoreError> {
        let mut out = Vec::new();
        let e = self.engine;
        for part in ids.chunks(rows_per_statement(e, 1)) {
            let sql = format!(
                "SELECT {} FROM persons WHERE agency_code = {} AND id IN ({})",
                crate::storage::PERSON_COLS,
                param(e, 1),
                in_list(e, part.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(agency);
            for k in part {
                q = q.bind(k.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(PersonRow::from_row(&r)?);
            }
        }
        Ok(out)
    }
}
