//! The audited write transaction, written once: open a transaction, take the audit head
//! (its row lock serialises every write, on both engines), run the caller's changes on the
//! same transaction, append the entries that record them (each chained to the one before),
//! and commit. A transaction that reserved an audit number and wrote no entry for it is
//! rolled back rather than committed, so no state change exists unaudited and the chain
//! has no gaps.

use super::{StoreError, chain, now, state};
use sqlx::{Database, Transaction};

/// A write transaction holding the audit head. Statements run on it through `&mut *atx`
/// (it dereferences to the connection) or [`AuditedTx::tx`]; [`AuditedTx::append`] records
/// them; [`AuditedTx::commit`] refuses to commit a reserved number left without an entry.
/// Dropped without commit, it rolls back. It runs on the store's Any pool, and on the typed
/// PostgreSQL connection the bulk COPY writer uses (the Any driver has no COPY): the shape
/// is written once for both.
pub(super) struct AuditedTx<'c, DB: Database = sqlx::Any> {
    tx: Transaction<'c, DB>,
    head: Head,
    /// `head.seq` is reserved and no entry carries it yet.
    pending: bool,
}

impl AuditedTx<'static> {
    /// Begin a transaction on the pool and take the audit head, reserving the next number.
    pub(super) async fn begin(pool: &sqlx::AnyPool) -> Result<Self, StoreError> {
        let tx = pool.begin().await?;
        Self::on(tx).await
    }
}

impl<'c, DB> AuditedTx<'c, DB>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
    for<'r> state::StateRow: sqlx::FromRow<'r, DB::Row>,
{
    /// Take the audit head in an open transaction (its first statement): its row lock
    /// serialises every write, and the next number is reserved.
    pub(super) async fn on(mut tx: Transaction<'c, DB>) -> Result<Self, StoreError> {
        let (seq, hash): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *tx)
                .await?;
        Ok(Self {
            tx,
            head: Head { seq, hash },
            pending: true,
        })
    }

    /// The number the next entry will carry.
    pub(super) fn next_seq(&self) -> i64 {
        if self.pending {
            self.head.seq
        } else {
            self.head.seq + 1
        }
    }

    /// The transaction, for helpers that take one.
    pub(super) fn tx(&mut self) -> &mut Transaction<'c, DB> {
        &mut self.tx
    }

    /// Append an entry recording what this transaction wrote (reserving the next number
    /// first when the reserved one is already used); returns its number.
    pub(super) async fn append(
        &mut self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        if !self.pending {
            sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
                .execute(&mut *self.tx)
                .await?;
            self.head.seq += 1;
            self.pending = true;
        }
        // The rows this change wrote, as they are now (see `state`): merged into the
        // detail so the chained entry vouches for them.
        let with_state;
        let detail = match state::states_for(&mut *self.tx, action, subject).await? {
            Some(st) if !st.is_empty() => {
                let mut d: serde_json::Value =
                    serde_json::from_str(detail).unwrap_or_else(|_| serde_json::json!({}));
                if !d.is_object() {
                    d = serde_json::json!({ "detail": d });
                }
                d["state"] = serde_json::Value::Object(st);
                with_state = d.to_string();
                with_state.as_str()
            }
            _ => detail,
        };
        let (seq, at) = (self.head.seq, now());
        let hash = chain::entry_hash(&self.head.hash, seq, at, actor, action, subject, detail);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .bind(self.head.hash.as_str())
        .bind(hash.as_str())
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(hash.as_str())
            .execute(&mut *self.tx)
            .await?;
        self.head.hash = hash;
        self.pending = false;
        Ok(seq)
    }

    /// Commit, unless a reserved number has no entry: then roll back and answer
    /// [`StoreError::Unaudited`].
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        if self.pending {
            let seq = self.head.seq;
            self.tx.rollback().await?;
            return Err(StoreError::Unaudited(seq));
        }
        self.tx.commit().await?;
        Ok(())
    }
}

impl<DB: Database> std::ops::Deref for AuditedTx<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> std::ops::DerefMut for AuditedTx<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// The audit head as this transaction holds it.
#[derive(Debug, Clone)]
struct Head {
    seq: i64,
    hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Store;

    fn unique(prefix: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{prefix}{}_{nanos}", std::process::id())
    }

    /// The engines to run on: SQLite always; PostgreSQL (a fresh database) when
    /// `SANAD_TEST_POSTGRES_URL` is set, and required when `CI` is.
    async fn stores() -> Vec<(Store, Option<(String, String)>)> {
        let dir = std::env::temp_dir().join(unique("sanad-audited-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let mut out = vec![(Store::connect(&sqlite).await.expect("sqlite"), None)];
        let admin = std::env::var("SANAD_TEST_POSTGRES_URL").ok();
        if admin.is_none() && std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("CI is set: SANAD_TEST_POSTGRES_URL is required");
        }
        if let Some(admin) = admin {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin).await.expect("postgres");
            let name = unique("sanad_u_");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("create database");
            pool.close().await;
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            let url = format!("{base}/{name}");
            out.push((Store::connect(&url).await.expect("pg"), Some((admin, name))));
        }
        out
    }

    async fn head(store: &Store) -> (i64, i64) {
        let (seq, _) = store.audit_head().await.expect("head");
        let entries = store.audit_entries().await.expect("entries").len() as i64;
        (seq, entries)
    }

    #[tokio::test]
    async fn a_reserved_number_without_an_entry_is_not_committed() {
        for (store, pg) in stores().await {
            let before = head(&store).await;

            // A change with no entry: refused, and rolled back (the change is gone too).
            let mut tx = AuditedTx::begin(store.pool()).await.expect("begin");
            let seq = tx.next_seq();
            sqlx::query(
                "INSERT INTO agencies (code, name_ar, name_en, created_at) VALUES ('gap', 'g', 'g', 1)",
            )
            .execute(&mut *tx)
            .await
            .expect("insert");
            match tx.commit().await {
                Err(StoreError::Unaudited(s)) => assert_eq!(s, seq),
                other => panic!("expected Unaudited, got {other:?}"),
            }
            assert_eq!(head(&store).await, before);
            let changed: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM agencies WHERE code = 'gap'")
                    .fetch_one(store.pool())
                    .await
                    .expect("count");
            assert_eq!(changed, 0);

            // Two entries in one transaction: numbered in order and chained.
            let mut tx = AuditedTx::begin(store.pool()).await.expect("begin");
            let first = tx.append("test", "test.one", "s", "{}").await.expect("one");
            let second = tx.append("test", "test.two", "s", "{}").await.expect("two");
            tx.commit().await.expect("commit");
            assert_eq!((first, second), (before.0 + 1, before.0 + 2));
            assert_eq!(head(&store).await, (before.0 + 2, before.1 + 2));
            let entries = store.audit_entries().await.expect("entries");
            let mut prev = "0".repeat(64);
            for e in &entries {
                assert_eq!(
                    e.prev_hash, prev,
                    "entry {} chains to the one before",
                    e.seq
                );
                prev = e.hash.clone();
            }

            store.pool().close().await;
            if let Some((admin, name)) = pg {
                let pool = sqlx::AnyPool::connect(&admin).await.expect("postgres");
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&pool)
                .await;
            }
        }
    }
}
