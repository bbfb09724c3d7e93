//! Person records: create, update, photo, read and list (each write audited).

use super::audited::AuditedTx;
use super::{PERSON_COLS, PersonRow, Store, StoreError, map_unique, now};
use sqlx::{AssertSqlSafe, Row as _};

impl Store {
    /// Store a new person record.
    pub async fn insert_person(&self, p: &PersonRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO persons (id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at, search_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&p.id)
        .bind(&p.agency_code)
        .bind(&p.name_ar)
        .bind(&p.name_en)
        .bind(&p.date_of_birth)
        .bind(&p.national_id)
        .bind(&p.programme)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(crate::domain::search::person_key(&p.name_ar, &p.name_en))
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let detail = serde_json::json!({"agency": p.agency_code}).to_string();
        tx.append(actor, "person.create", &p.id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace a person's fields (the id and agency stay).
    pub async fn update_person(&self, p: &PersonRow, actor: &str) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE persons SET name_ar = $1, name_en = $2, date_of_birth = $3, national_id = $4, programme = $5, updated_at = $6, search_key = $9 WHERE id = $7 AND agency_code = $8",
        )
        .bind(&p.name_ar)
        .bind(&p.name_en)
        .bind(&p.date_of_birth)
        .bind(&p.national_id)
        .bind(&p.programme)
        .bind(p.updated_at)
        .bind(&p.id)
        .bind(&p.agency_code)
        .bind(crate::domain::search::person_key(&p.name_ar, &p.name_en))
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.append(actor, "person.update", &p.id, "{}").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Set (or replace) a person's photo: `photo` is the normalised JPEG. The audit entry
    /// records the size, never the image.
    pub async fn set_person_photo(
        &self,
        id: &str,
        agency: &str,
        photo: &[u8],
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE persons SET photo = $1, updated_at = $2 WHERE id = $3 AND agency_code = $4",
        )
        .bind(photo)
        .bind(now())
        .bind(id)
        .bind(agency)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = serde_json::json!({"agency": agency, "bytes": photo.len()}).to_string();
        tx.append(actor, "person.photo", id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's photo (JPEG), if one was uploaded.
    pub async fn get_person_photo(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT photo FROM persons WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get("photo")?)
    }

    /// One person.
    pub async fn get_person(&self, id: &str) -> Result<PersonRow, StoreError> {
        sqlx::query_as::<_, PersonRow>(AssertSqlSafe(format!(
            "SELECT {PERSON_COLS} FROM persons WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// An agency's persons, optionally filtered by exact national ID, newest first.
    pub async fn list_persons(
        &self,
        agency: &str,
        national_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PersonRow>, StoreError> {
        let rows = match national_id {
            Some(n) => {
                sqlx::query_as::<_, PersonRow>(AssertSqlSafe(format!(
                    "SELECT {PERSON_COLS} FROM persons WHERE agency_code = $1 AND national_id = $2 ORDER BY created_at DESC, id LIMIT $3"
                )))
                .bind(agency)
                .bind(n)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as::<_, PersonRow>(AssertSqlSafe(format!(
                    "SELECT {PERSON_COLS} FROM persons WHERE agency_code = $1 ORDER BY created_at DESC, id LIMIT $2"
                )))
                .bind(agency)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
    }
}
