//! Status lists and credentials: issuance (with its status-feed row, event and audit entry
//! in one transaction, and the superseded credential's change when it is a re-issue),
//! status changes, reads and listings.

use super::audited::AuditedTx;
use super::{
    CRED_COLS, CredentialRow, NewCredential, NewEvent, StatusChange, Store, StoreError, Tx, events,
    map_unique, now,
};
use sqlx::{AssertSqlSafe, Row as _};

impl Store {
    /// All status lists.
    pub async fn list_status_lists(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, size FROM status_lists ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("size")?)))
            .collect()
    }

    /// Create a status list (idempotent: a concurrent creator of the same id wins quietly).
    pub async fn create_status_list(&self, id: i64, size: i64) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO status_lists (id, size, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(size)
            .bind(now())
            .execute(&self.pool)
            .await;
        match r.map_err(map_unique) {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Insert a credential with its issuance feed row and audit entry; when `supersedes` is
    /// set, the old credential is marked superseded in the same transaction (re-issue).
    pub async fn insert_credential(
        &self,
        c: &NewCredential,
        supersede: Option<&StatusChange>,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        sqlx::query(
            "INSERT INTO credentials (id, agency_code, kind, person_id, kid, status, status_changed_at, supersedes, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, doc_file, doc_media_type, created_by) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&c.id)
        .bind(&c.agency_code)
        .bind(&c.kind)
        .bind(&c.person_id)
        .bind(&c.kid)
        .bind(c.issued_at)
        .bind(&c.supersedes)
        .bind(c.issued_at)
        .bind(&c.name_printed)
        .bind(c.status_list)
        .bind(c.status_index)
        .bind(&c.token)
        .bind(&c.subject_json)
        .bind(&c.doc_sha256)
        .bind(&c.doc_file)
        .bind(&c.doc_media_type)
        .bind(&c.created_by)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        feed_insert(
            tx.tx(),
            &StatusChange {
                credential_id: c.id.clone(),
                from_status: None,
                to_status: "active".into(),
                reason_code: None,
                reason_text: None,
                superseded_by: None,
                actor: c.created_by.clone(),
                at: c.issued_at,
            },
            c.status_list,
            c.status_index,
        )
        .await?;
        let detail = serde_json::json!({
            "agency": c.agency_code, "kind": c.kind, "kid": c.kid,
            "status_list": c.status_list, "status_index": c.status_index,
            "supersedes": c.supersedes,
        })
        .to_string();
        tx.append(&c.created_by, "credential.issue", &c.id, &detail)
            .await?;
        events::event_insert(
            tx.tx(),
            &NewEvent {
                event_type: "credential.issued".into(),
                agency_code: c.agency_code.clone(),
                credential_id: Some(c.id.clone()),
                kind: Some(c.kind.clone()),
                status: Some("active".into()),
                supersedes: c.supersedes.clone(),
                at: c.issued_at,
                ..Default::default()
            },
        )
        .await?;
        if let Some(ch) = supersede {
            change_status_in(&mut tx, ch).await?;
        }
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// Apply a status change if the credential is still in `ch.from_status` (optimistic:
    /// a concurrent change makes this a conflict rather than a lost update).
    pub async fn change_status(&self, ch: &StatusChange) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(&self.pool).await?;
        change_status_in(&mut tx, ch).await?;
        tx.commit().await?;
        self.bump_changes();
        Ok(())
    }

    /// One credential (the document file is not loaded).
    pub async fn get_credential(&self, id: &str) -> Result<CredentialRow, StoreError> {
        sqlx::query_as::<_, CredentialRow>(AssertSqlSafe(format!(
            "SELECT {CRED_COLS} FROM credentials WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// An agency's credentials, newest first, with optional filters and keyset paging
    /// (`before` = the `issued_at`/`id` of the last row of the previous page).
    pub async fn list_credentials(
        &self,
        agency: &str,
        filter: &CredentialFilter,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        let mut sql = format!("SELECT {CRED_COLS} FROM credentials WHERE agency_code = $1");
        let mut n = 1;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if filter.status.is_some() {
            next(&mut sql, " AND status = ?");
        }
        if filter.kind.is_some() {
            next(&mut sql, " AND kind = ?");
        }
        if filter.person_id.is_some() {
            next(&mut sql, " AND person_id = ?");
        }
        if filter.before.is_some() {
            next(&mut sql, " AND (issued_at < ?");
            next(&mut sql, " OR (issued_at = ?");
            next(&mut sql, " AND id < ?))");
        }
        next(&mut sql, " ORDER BY issued_at DESC, id DESC LIMIT ?");
        let mut q = sqlx::query_as::<_, CredentialRow>(AssertSqlSafe(sql)).bind(agency);
        if let Some(s) = &filter.status {
            q = q.bind(s.clone());
        }
        if let Some(k) = &filter.kind {
            q = q.bind(k.clone());
        }
        if let Some(p) = &filter.person_id {
            q = q.bind(p.clone());
        }
        if let Some((t, id)) = &filter.before {
            q = q.bind(*t).bind(*t).bind(id.clone());
        }
        Ok(q.bind(filter.limit).fetch_all(&self.pool).await?)
    }

    /// The stored document file of a certificate, if one was kept.
    pub async fn get_document_file(
        &self,
        id: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let row = sqlx::query("SELECT doc_file, doc_media_type FROM credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let file: Option<Vec<u8>> = row.try_get("doc_file")?;
        let mt: Option<String> = row.try_get("doc_media_type")?;
        Ok(file.map(|f| (f, mt.unwrap_or_else(|| "application/octet-stream".into()))))
    }

    /// Every allocated status-list slot with its current status and the id of the credential
    /// that owns it, for the in-memory view at start-up.
    pub async fn all_status_slots(&self) -> Result<Vec<(i64, i64, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT status_list, status_index, status, id FROM credentials")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("status_list")?,
                    r.try_get("status_index")?,
                    r.try_get("status")?,
                    r.try_get("id")?,
                ))
            })
            .collect()
    }
}

/// Filters for listing credentials.
#[derive(Debug, Default, Clone)]
pub struct CredentialFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this person's.
    pub person_id: Option<String>,
    /// Keyset cursor: rows strictly before `(issued_at, id)`.
    pub before: Option<(i64, String)>,
    /// Page size.
    pub limit: i64,
}

async fn feed_insert(
    tx: &mut Tx<'_>,
    ch: &StatusChange,
    list: i64,
    index: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO status_changes (credential_id, status_list, status_index, from_status, to_status, reason_code, reason_text, superseded_by, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&ch.credential_id)
    .bind(list)
    .bind(index)
    .bind(&ch.from_status)
    .bind(&ch.to_status)
    .bind(&ch.reason_code)
    .bind(&ch.reason_text)
    .bind(&ch.superseded_by)
    .bind(&ch.actor)
    .bind(ch.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn change_status_in(tx: &mut AuditedTx<'_>, ch: &StatusChange) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE credentials SET status = $1, status_reason_code = $2, status_reason_text = $3, status_changed_at = $4, superseded_by = COALESCE($5, superseded_by) WHERE id = $6 AND status = $7",
    )
    .bind(&ch.to_status)
    .bind(&ch.reason_code)
    .bind(&ch.reason_text)
    .bind(ch.at)
    .bind(&ch.superseded_by)
    .bind(&ch.credential_id)
    .bind(&ch.from_status)
    .execute(&mut **tx)
    .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "the credential's status changed meanwhile".into(),
        ));
    }
    let slot = sqlx::query(
        "SELECT status_list, status_index, agency_code, kind FROM credentials WHERE id = $1",
    )
    .bind(&ch.credential_id)
    .fetch_one(&mut **tx)
    .await?;
    feed_insert(
        tx.tx(),
        ch,
        slot.try_get("status_list")?,
        slot.try_get("status_index")?,
    )
    .await?;
    let (list, index): (i64, i64) = (slot.try_get("status_list")?, slot.try_get("status_index")?);
    // Back to active can only be a reinstatement (issuance writes its own event).
    let event_type = match ch.to_status.as_str() {
        "active" => "credential.reinstated".to_owned(),
        to => format!("credential.{to}"),
    };
    events::event_insert(
        tx.tx(),
        &NewEvent {
            event_type,
            agency_code: slot.try_get("agency_code")?,
            credential_id: Some(ch.credential_id.clone()),
            kind: Some(slot.try_get("kind")?),
            status: Some(ch.to_status.clone()),
            reason_code: ch.reason_code.clone(),
            superseded_by: ch.superseded_by.clone(),
            at: ch.at,
            ..Default::default()
        },
    )
    .await?;
    let detail = serde_json::json!({
        "from": ch.from_status, "to": ch.to_status, "reason_code": ch.reason_code,
        "superseded_by": ch.superseded_by, "status_list": list, "status_index": index,
    })
    .to_string();
    let action = format!("credential.{}", ch.to_status);
    tx.append(&ch.actor, &action, &ch.credential_id, &detail)
        .await?;
    Ok(())
}
