//! PostgreSQL's bulk writer: a chunk's persons, credentials, feed rows, outbox events and job
//! results go in with `COPY … FROM STDIN` on a typed connection of the import's own (the
//! Any driver has no COPY), in the same [`AuditedTx`] as the multi-row INSERTs of
//! [`super::writer`] on SQLite: the audit head taken first, the chunk's one entry appended,
//! and no commit without it.

use super::BulkChunk;
use super::writer::{ACTIVE, add_job_counts};
use crate::storage::audited::AuditedTx;
use crate::storage::chain::BULK_ACTION;
use crate::storage::{StoreError, map_unique};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

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

    /// Store one chunk (see [`super::BulkWriter::insert_chunk`]) in an audited transaction:
    /// the rows copied, the entry appended, the job's results stored, then the commit.
    /// Returns the entry's seq when anything was issued.
    pub(super) async fn insert_chunk(
        &mut self,
        ch: &BulkChunk,
        detail: Option<String>,
    ) -> Result<Option<i64>, StoreError> {
        let tx = self.conn.begin().await?;
        let Some(detail) = detail else {
            // Nothing issued (every row skipped or failed): only the job's bookkeeping.
            let mut tx = tx;
            store_results(&mut tx, ch).await?;
            tx.commit().await?;
            return Ok(None);
        };
        // Issuing: an audited transaction (the head taken first, its number the batch number
        // the rows carry; refused without its entry).
        let mut atx = AuditedTx::on(tx).await?;
        let seq = atx.next_seq();
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
                    .int(seq)
                    .text(&b.search_key)
                    .end();
            }
            copy(
                &mut atx,
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
                    .int(seq)
                    .end();
            }
            copy(
                &mut atx,
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
                &mut atx,
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
                &mut atx,
                "COPY events (type, agency_code, credential_id, kind, status, at) FROM STDIN",
                &buf,
            )
            .await?;
        }
        atx.append(&ch.actor, BULK_ACTION, &ch.subject, &detail)
            .await?;
        store_results(&mut atx, ch).await?;
        atx.commit().await?;
        Ok(Some(seq))
    }

    /// Refresh the planner statistics of the table the run reads.
    pub(super) async fn analyze_credentials(&mut self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE credentials")
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}

/// A job's row results and counts for this chunk, in the chunk's transaction.
async fn store_results(conn: &mut PgConnection, ch: &BulkChunk) -> Result<(), StoreError> {
    let Some(job) = &ch.job_id else {
        return Ok(());
    };
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
            conn,
            "COPY bulk_results (job_id, row_no, request_key, credential_id, outcome, error) FROM STDIN",
            &buf,
        )
        .await?;
    }
    add_job_counts::<sqlx::Postgres>(conn, job, ch).await
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
