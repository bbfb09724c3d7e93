//! PostgreSQL's bulk writer: a chunk's persons, credentials, feed rows, outbox events and job
//! results go in with `COPY … FROM STDIN` on a typed connection of the import's own (the
//! Any driver has no COPY), in one transaction with the chunk's audit entry, exactly as the
//! multi-row INSERTs of [`super::writer`] write them on SQLite.

use super::BulkChunk;
use super::writer::{ACTIVE, ADD_JOB_COUNTS};
use crate::storage::chain::{self, BULK_ACTION};
use crate::storage::{StoreError, map_unique, now};
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Row as _};

/// A typed PostgreSQL connection that stores bulk chunks with COPY.
pub(super) struct PgBulk {
    conn: PgConnection,
}

impl PgBulk {
    /// Open the import's COPY connection.
    pub(super) async fn connect(url: &str) -> Result<Self, StoreError> {
        let conn = PgConnection::connect(url).await?;
        Ok(Self { conn })
    }

    /// Store one chunk (see [`super::BulkWriter::insert_chunk`]): the audit head is taken
    /// first (its row lock orders every write), the rows are copied, the entry appended and
    /// the transaction committed. Returns the entry's seq when anything was issued.
    pub(super) async fn insert_chunk(
        &mut self,
        ch: &BulkChunk,
        detail: Option<String>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.conn.begin().await?;
        let mut seq = None;
        if let Some(detail) = detail {
            let head =
                sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                    .fetch_one(&mut *tx)
                    .await?;
            let head_seq: i64 = head.try_get("seq")?;
            let head_hash: String = head.try_get("hash")?;
            let mut buf = Vec::with_capacity(ch.credentials.len() * 1024);
            if !ch.persons.is_empty() {
                for b in &ch.persons {
                    let p = &b.p;
                    let mut r = Line::new(&mut buf);
                    r.text(&p.id)
                        .text(&p.agency_code)
                        .text(&p.name_ar)
                        .text(&p.name_en)
                        .text(&p.date_of_birth)
                        .text(&p.national_id)
                        .text(&p.programme)
                        .int(p.created_at)
                        .int(p.updated_at)
                        .int(head_seq)
                        .text(&b.search_key)
                        .end();
                }
                copy(
                    &mut tx,
                    "COPY persons (id, agency_code, name_ar, name_en, date_of_birth, national_id, programme, created_at, updated_at, bulk_batch, search_key) FROM STDIN",
                    &buf,
                )
                .await?;
            }
            if !ch.credentials.is_empty() {
                buf.clear();
                for b in &ch.credentials {
                    let c = &b.c;
                    let mut r = Line::new(&mut buf);
                    r.text(&c.id)
                        .text(&c.agency_code)
                        .text(&c.kind)
                        .opt(c.person_id.as_deref())
                        .text(&c.kid)
                        .text(ACTIVE)
                        .int(c.issued_at)
                        .int(c.issued_at)
                        .text(&c.name_printed)
                        .int(c.status_list)
                        .int(c.status_index)
                        .text(&c.token)
                        .text(&c.subject_json)
                        .opt(c.doc_sha256.as_deref())
                        .text(&c.created_by)
                        .text(&b.request_key)
                        .int(head_seq)
                        .end();
                }
                copy(
                    &mut tx,
                    "COPY credentials (id, agency_code, kind, person_id, kid, status, status_changed_at, issued_at, name_printed, status_list, status_index, token, subject_json, doc_sha256, created_by, request_key, bulk_batch) FROM STDIN",
                    &buf,
                )
                .await?;
                buf.clear();
                for b in &ch.credentials {
                    let mut r = Line::new(&mut buf);
                    r.text(&b.c.id)
                        .int(b.c.status_list)
                        .int(b.c.status_index)
                        .text(ACTIVE)
                        .text(&b.c.created_by)
                        .int(b.c.issued_at)
                        .end();
                }
                copy(
                    &mut tx,
                    "COPY status_changes (credential_id, status_list, status_index, to_status, actor, at) FROM STDIN",
                    &buf,
                )
                .await?;
                buf.clear();
                for b in &ch.credentials {
                    let mut r = Line::new(&mut buf);
                    r.text("credential.issued")
                        .text(&b.c.agency_code)
                        .text(&b.c.id)
                        .text(&b.c.kind)
                        .text(ACTIVE)
                        .int(b.c.issued_at)
                        .end();
                }
                copy(
                    &mut tx,
                    "COPY events (type, agency_code, credential_id, kind, status, at) FROM STDIN",
                    &buf,
                )
                .await?;
            }
            let at = now();
            let hash = chain::entry_hash(
                &head_hash,
                head_seq,
                at,
                &ch.actor,
                BULK_ACTION,
                &ch.subject,
                &detail,
            );
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(head_seq)
            .bind(at)
            .bind(&ch.actor)
            .bind(BULK_ACTION)
            .bind(&ch.subject)
            .bind(&detail)
            .bind(&head_hash)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            seq = Some(head_seq);
        }
        if let Some(job) = &ch.job_id {
            if !ch.results.is_empty() {
                let mut buf = Vec::with_capacity(ch.results.len() * 64);
                for r in &ch.results {
                    let mut l = Line::new(&mut buf);
                    l.text(job)
                        .int(r.row)
                        .opt(r.request_key.as_deref())
                        .opt(r.credential_id.as_deref())
                        .text(&r.outcome)
                        .opt(r.error.as_deref())
                        .end();
                }
                copy(
                    &mut tx,
                    "COPY bulk_results (job_id, row_no, request_key, credential_id, outcome, error) FROM STDIN",
                    &buf,
                )
                .await?;
            }
            let [rows, issued, skipped, failed] = ch.job_counts();
            sqlx::query(ADD_JOB_COUNTS)
                .bind(rows)
                .bind(issued)
                .bind(skipped)
                .bind(failed)
                .bind(job)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(seq)
    }

    /// Refresh the planner statistics of the table the run reads.
    pub(super) async fn analyze_credentials(&mut self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE credentials")
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}

/// Copy `data` (rows in COPY's text format) with `statement`. A unique violation is a
/// [`StoreError::Conflict`], as for the INSERTs.
async fn copy(conn: &mut PgConnection, statement: &str, data: &[u8]) -> Result<(), StoreError> {
    let mut c = conn.copy_in_raw(statement).await.map_err(map_unique)?;
    if let Err(e) = c.send(data).await {
        let _ = c.abort("send failed").await;
        return Err(map_unique(e));
    }
    c.finish().await.map_err(map_unique)?;
    Ok(())
}

/// One row of COPY's text format: fields separated by tabs, `\N` for NULL, and backslash,
/// tab, newline and carriage return escaped.
struct Line<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Line<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        for &b in s.as_bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => {
                self.sep();
                self.buf.extend_from_slice(b"\\N");
                self
            }
        }
    }

    fn int(&mut self, n: i64) -> &mut Self {
        use std::io::Write as _;
        self.sep();
        let _ = write!(self.buf, "{n}");
        self
    }

    fn end(&mut self) {
        self.buf.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::Line;

    #[test]
    fn copy_text_escapes_and_nulls() {
        let mut buf = Vec::new();
        Line::new(&mut buf)
            .text("a\tb\\c\nd\re")
            .opt(None)
            .int(-7)
            .text("عبد")
            .end();
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "a\\tb\\\\c\\nd\\re\t\\N\t-7\tعبد\n"
        );
    }
}
