//! Storage behind the registrar's desk: name search, per-credential history, report
//! aggregates and verification counts. Reads only, apart from the search-key backfill and
//! the verification counters (counts, no personal data).

use super::{CredentialRow, PersonRow, Store, StoreError};
use crate::domain::search;
use sqlx::{AssertSqlSafe, Row as _};

/// What the registrar typed into the person search, already classified.
#[derive(Debug, Clone)]
pub enum PersonQuery {
    /// No query: the newest records.
    All,
    /// Part of a name in either script (folded before matching).
    Name(String),
    /// Part of a national ID number (digits).
    NationalId(String),
    /// The holder of this credential.
    Credential(String),
}

impl PersonQuery {
    /// Classify a typed query: a credential id, digits (national ID), or a name.
    pub fn parse(q: &str) -> Self {
        let q = q.trim();
        if q.is_empty() {
            Self::All
        } else if crate::domain::CredentialId::parse(q).is_ok()
            && !q.chars().all(|c| c.is_ascii_digit())
        {
            Self::Credential(q.to_owned())
        } else if q
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
        {
            Self::NationalId(q.chars().filter(char::is_ascii_digit).collect())
        } else {
            Self::Name(search::fold(q))
        }
    }
}

/// One step of a credential's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    /// When, epoch seconds.
    pub at: i64,
    /// Previous status (`None`: issuance).
    pub from_status: Option<String>,
    /// New status.
    pub to_status: String,
    /// Reason code.
    pub reason_code: Option<String>,
    /// Free text (the agency's own eyes only).
    pub reason_text: Option<String>,
    /// Replacement.
    pub superseded_by: Option<String>,
    /// Audit id of who did it.
    pub actor: String,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for HistoryRow {
    fn from_row(r: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            at: r.try_get("at")?,
            from_status: r.try_get("from_status")?,
            to_status: r.try_get("to_status")?,
            reason_code: r.try_get("reason_code")?,
            reason_text: r.try_get("reason_text")?,
            superseded_by: r.try_get("superseded_by")?,
            actor: r.try_get("actor")?,
        })
    }
}

/// One group of a count.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Count {
    /// The group's keys, in the query's order.
    pub keys: Vec<String>,
    /// How many.
    pub n: i64,
}

/// Escape `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

const PERSON_COLS: &str = super::PERSON_COLS;

impl Store {
    /// Fill the search key of records written before it existed (and of persons a bulk
    /// import stored without one, before bulk imports wrote it). Run at start. The updates
    /// go a thousand to a transaction: one commit per row took 400 s for 100,000 persons on
    /// PostgreSQL, at every start.
    pub async fn backfill_search_keys(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT id, name_ar, name_en FROM persons WHERE search_key IS NULL")
            .fetch_all(&self.pool)
            .await?;
        let mut n = 0;
        for part in rows.chunks(1000) {
            let mut tx = self.pool.begin().await?;
            for r in part {
                let id: String = r.try_get("id")?;
                let key = search::person_key(
                    &r.try_get::<String, _>("name_ar")?,
                    &r.try_get::<String, _>("name_en")?,
                );
                sqlx::query("UPDATE persons SET search_key = $1 WHERE id = $2")
                    .bind(key)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    /// An agency's persons matching `q`, newest first, `limit` from `offset`.
    pub async fn search_persons(
        &self,
        agency: &str,
        q: &PersonQuery,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<PersonRow>, StoreError> {
        let base = format!("SELECT {PERSON_COLS} FROM persons WHERE agency_code = $1");
        let order = "ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4";
        let (sql, arg) = match q {
            PersonQuery::All => (format!("{base} AND $2 = '' {order}"), String::new()),
            PersonQuery::Name(n) => (
                format!("{base} AND search_key LIKE $2 ESCAPE '\\' {order}"),
                like(n),
            ),
            PersonQuery::NationalId(n) => (
                format!("{base} AND national_id LIKE $2 ESCAPE '\\' {order}"),
                like(n),
            ),
            PersonQuery::Credential(id) => (
                format!(
                    "{base} AND id IN (SELECT person_id FROM credentials WHERE id = $2) {order}"
                ),
                id.clone(),
            ),
        };
        let rows = sqlx::query_as::<_, PersonRow>(AssertSqlSafe(sql))
            .bind(agency)
            .bind(arg)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// A credential's status changes, oldest first (issuance is the first).
    pub async fn credential_history(&self, id: &str) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = sqlx::query_as::<_, HistoryRow>(
            "SELECT at, from_status, to_status, reason_code, reason_text, superseded_by, actor FROM status_changes WHERE credential_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// A person's credentials that are in force (`active` or `suspended`) of `kind`.
    pub async fn live_credentials_of(
        &self,
        person_id: &str,
        kind: &str,
    ) -> Result<Vec<CredentialRow>, StoreError> {
        let rows = sqlx::query_as::<_, CredentialRow>(AssertSqlSafe(format!(
            "SELECT {} FROM credentials WHERE person_id = $1 AND kind = $2 AND status IN ('active', 'suspended') ORDER BY issued_at DESC",
            super::CRED_COLS
        )))
        .bind(person_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Credentials by agency, kind and status (`agency` = `None`: every agency).
    pub async fn count_credentials(&self, agency: Option<&str>) -> Result<Vec<Count>, StoreError> {
        let rows = sqlx::query(
            "SELECT agency_code, kind, status, COUNT(*) AS n FROM credentials WHERE ($1 = '' OR agency_code = $1) GROUP BY agency_code, kind, status ORDER BY agency_code, kind, status",
        )
        .bind(agency.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Count {
                    keys: vec![
                        r.try_get("agency_code")?,
                        r.try_get("kind")?,
                        r.try_get("status")?,
                    ],
                    n: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Issuances and status changes per UTC day since `from` (epoch seconds): keys are the
    /// day number (days since the epoch) and the new status (`issued` for an issuance).
    pub async fn changes_per_day(
        &self,
        agency: Option<&str>,
        from: i64,
    ) -> Result<Vec<Count>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.at / 86400 AS d, CASE WHEN s.from_status IS NULL THEN 'issued' ELSE s.to_status END AS what, COUNT(*) AS n FROM status_changes s JOIN credentials c ON c.id = s.credential_id WHERE s.at >= $1 AND ($2 = '' OR c.agency_code = $2) GROUP BY d, what ORDER BY d, what",
        )
        .bind(from)
        .bind(agency.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let d: i64 = r.try_get("d")?;
                Ok(Count {
                    keys: vec![d.to_string(), r.try_get("what")?],
                    n: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Add verification counts: `(day, channel, verifier, outcome, n)`.
    pub async fn add_verification_counts(
        &self,
        counts: &[(String, String, String, String, i64)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (day, channel, verifier, outcome, n) in counts {
            sqlx::query(
                "INSERT INTO verification_counts (day, channel, verifier, outcome, n) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, channel, verifier, outcome) DO UPDATE SET n = verification_counts.n + excluded.n",
            )
            .bind(day)
            .bind(channel)
            .bind(verifier)
            .bind(outcome)
            .bind(*n)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Verifications per day since `from_day` (`YYYY-MM-DD`): keys day, channel, verifier,
    /// outcome.
    pub async fn verification_counts(&self, from_day: &str) -> Result<Vec<Count>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, channel, verifier, outcome, n FROM verification_counts WHERE day >= $1 ORDER BY day, channel, verifier, outcome",
        )
        .bind(from_day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Count {
                    keys: vec![
                        r.try_get("day")?,
                        r.try_get("channel")?,
                        r.try_get("verifier")?,
                        r.try_get("outcome")?,
                    ],
                    n: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Audit entries, newest first, filtered by actor, action prefix and subject, before
    /// `before` (a sequence number; `None`: from the newest).
    pub async fn audit_search(
        &self,
        actor: Option<&str>,
        action: Option<&str>,
        subject: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<super::AuditRow>, StoreError> {
        let rows = sqlx::query_as::<_, super::AuditRow>(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action LIKE $3 ESCAPE '\\') AND ($4 = '' OR subject = $4) AND seq < $5 ORDER BY seq DESC LIMIT $6",
        )
        .bind(actor.unwrap_or_default())
        .bind(action.unwrap_or_default())
        .bind(format!("{}%", like(action.unwrap_or_default()).trim_matches('%')))
        .bind(subject.unwrap_or_default())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Pool gauges for the metrics: (open connections, idle connections).
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }
}
