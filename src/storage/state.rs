//! State the audit log vouches for.
//!
//! The hash chain proves the log itself was not edited, but the rows it describes live in
//! other tables, where a direct database edit (a revoked credential set back to `active`, a
//! national ID changed, an admin inserted, a token's scopes widened) would go unnoticed.
//! So every audited change also records, in its entry's `detail.state`, a SHA-256 over the
//! security-relevant columns of each row it wrote, as they are after the change. `sanad
//! audit verify` recomputes that hash for every row and names each one that differs from
//! its last audited state, has none (inserted behind Sanad's back), or is gone (deleted).
//!
//! This is the simplest sound design here: the commitment rides in the chained entry, so
//! forging it means rewriting the chain, which the signed checkpoints catch; and no
//! personal data goes into the log, only hashes of it.

use super::StoreError;
use sha2::Digest as _;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// A table whose rows the audit log vouches for, with the columns that matter.
#[derive(Debug, Clone, Copy)]
pub struct Vouched {
    /// Table name.
    pub table: &'static str,
    /// Its key column.
    pub key: &'static str,
    /// The security-relevant columns.
    pub columns: &'static [&'static str],
}

/// Every vouched table.
pub const VOUCHED: [Vouched; 6] = [
    Vouched {
        table: "credentials",
        key: "id",
        columns: &[
            "agency_code",
            "kind",
            "person_id",
            "kid",
            "status",
            "status_reason_code",
            "superseded_by",
            "supersedes",
            "issued_at",
            "name_printed",
            "status_list",
            "status_index",
            "token",
            "subject_json",
            "doc_sha256",
        ],
    },
    Vouched {
        table: "persons",
        key: "id",
        columns: &[
            "agency_code",
            "name_ar",
            "name_en",
            "date_of_birth",
            "national_id",
            "programme",
        ],
    },
    Vouched {
        table: "users",
        key: "id",
        columns: &[
            "username",
            "role",
            "agency_code",
            "password_hash",
            "disabled_at",
        ],
    },
    Vouched {
        table: "api_tokens",
        key: "id",
        columns: &["agency_code", "token_hash", "scopes", "owner", "revoked_at"],
    },
    Vouched {
        table: "signing_keys",
        key: "kid",
        columns: &[
            "short_kid",
            "agency_code",
            "public_x",
            "status",
            "revoked_at",
        ],
    },
    Vouched {
        table: "agencies",
        key: "code",
        columns: &[
            "name_ar",
            "name_en",
            "base_url",
            "requires_approval",
            "origin",
        ],
    },
];

fn by_name(table: &str) -> Option<&'static Vouched> {
    VOUCHED.iter().find(|v| v.table == table)
}

/// Which vouched table an audit action writes (its subject is the row's key); `"*"` for
/// an action that rewrites a whole table set (a trust-list import).
pub fn table_of(action: &str) -> Option<&'static [&'static str]> {
    let prefix = action.split('.').next().unwrap_or_default();
    Some(match (prefix, action) {
        (_, "trust.import") => &["agencies", "signing_keys"],
        ("credential", _) => &["credentials"],
        ("person", _) => &["persons"],
        ("user", _) => &["users"],
        ("token", _) => &["api_tokens"],
        ("key", _) => &["signing_keys"],
        ("agency", _) => &["agencies"],
        _ => return None,
    })
}

fn select(v: &Vouched, one: bool) -> String {
    let cols: Vec<String> = v
        .columns
        .iter()
        .map(|c| format!("CAST({c} AS TEXT) AS {c}"))
        .collect();
    format!(
        "SELECT {} AS vouched_key, {} FROM {}{}",
        v.key,
        cols.join(", "),
        v.table,
        if one {
            format!(" WHERE {} = $1", v.key)
        } else {
            String::new()
        }
    )
}

/// A vouched row as [`select`] reads it: its key, then its vouched columns' values as
/// text, in [`Vouched::columns`] order. Read the same way from the Any driver and from the
/// typed PostgreSQL connection the bulk COPY writer uses.
pub(super) struct StateRow {
    key: String,
    vals: Vec<Option<String>>,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for StateRow
where
    usize: sqlx::ColumnIndex<R>,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(r: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key: r.try_get("vouched_key")?,
            vals: (1..r.len())
                .map(|i| r.try_get(i))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn hash_row(v: &Vouched, r: StateRow) -> (String, String) {
    debug_assert_eq!(r.vals.len(), v.columns.len(), "{}", v.table);
    let digest = digest(v.table, &r.key, r.vals.iter().map(Option::as_deref));
    (r.key, digest)
}

/// SHA-256 (hex) over a row's table, key and vouched column values (`None` = NULL), each
/// value length-prefixed.
fn digest<'a>(table: &str, key: &str, vals: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut h = sha2::Sha256::new();
    h.update(table.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    for val in vals {
        match val {
            None => h.update([0u8]),
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    hex(&h.finalize())
}

/// Lower-case hex, without a string per byte (this runs for every row a bulk import writes).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The `state` member of an audit entry for `action` on `subject`: `{"table/key": hash}` of
/// every row it wrote, read inside the writing transaction.
pub(super) async fn states_for<DB>(
    conn: &mut DB::Connection,
    action: &str,
    subject: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> StateRow: sqlx::FromRow<'r, DB::Row>,
{
    let Some(tables) = table_of(action) else {
        return Ok(None);
    };
    let mut out = serde_json::Map::new();
    for t in tables {
        let Some(v) = by_name(t) else { continue };
        let whole = action == "trust.import";
        let q = sqlx::query_as::<DB, StateRow>(sqlx::AssertSqlSafe(select(v, !whole)));
        let rows = if whole {
            q.fetch_all(&mut *conn).await?
        } else {
            q.bind(subject).fetch_all(&mut *conn).await?
        };
        for r in rows {
            let (key, digest) = hash_row(v, r);
            out.insert(format!("{}/{key}", v.table), digest.into());
        }
    }
    Ok(Some(out))
}

/// A column's value as a writer stored it, for [`written_state`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Written<'a> {
    /// Text.
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// NULL.
    Null,
}

/// `("table/key", hash)` of a row from the values its writer has just stored, without
/// reading it back: what a bulk chunk's one audit entry vouches for. It is the hash
/// [`hash_row`] computes from the stored row's `CAST(column AS TEXT)` values (an integer's
/// text is its decimal form on both engines; text is stored as given), which `audit verify`
/// checks. `value` names each vouched column's value; a vouched column it does not know is
/// an error, so a column added to [`VOUCHED`] cannot be left out of the bulk path unseen.
pub(super) fn written_state<'a>(
    table: &str,
    key: &str,
    value: impl Fn(&str) -> Option<Written<'a>>,
) -> Result<(String, String), StoreError> {
    let v = by_name(table).ok_or_else(|| unknown(table, "(table)"))?;
    let mut vals: Vec<Option<std::borrow::Cow<'a, str>>> = Vec::with_capacity(v.columns.len());
    for c in v.columns {
        vals.push(match value(c).ok_or_else(|| unknown(table, c))? {
            Written::Text(s) => Some(s.into()),
            Written::Int(i) => Some(i.to_string().into()),
            Written::Null => None,
        });
    }
    let digest = digest(v.table, key, vals.iter().map(|x| x.as_deref()));
    Ok((format!("{}/{key}", v.table), digest))
}

fn unknown(table: &str, column: &str) -> StoreError {
    StoreError::Db(sqlx::Error::Protocol(format!(
        "the bulk writer does not know the vouched column {table}.{column}"
    )))
}

/// A row whose current state is not what the audit log vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateProblem {
    /// Changed since its last audited change.
    Changed {
        /// Table.
        table: &'static str,
        /// Row key.
        key: String,
    },
    /// Present, but no audited change ever wrote it.
    Unaudited {
        /// Table.
        table: &'static str,
        /// Row key.
        key: String,
    },
    /// Audited, but gone.
    Deleted {
        /// Table.
        table: String,
        /// Row key.
        key: String,
    },
}

impl std::fmt::Display for StateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed { table, key } => write!(
                f,
                "{table} {key} was changed outside Sanad (differs from its last audited state)"
            ),
            Self::Unaudited { table, key } => {
                write!(
                    f,
                    "{table} {key} was inserted outside Sanad (never audited)"
                )
            }
            Self::Deleted { table, key } => write!(f, "{table} {key} was deleted outside Sanad"),
        }
    }
}

impl super::Store {
    /// Compare every vouched row with the last state the audit log recorded for it. The log
    /// itself should be checked first (`audit::verify_store`): this trusts it.
    pub async fn state_problems(&self) -> Result<Vec<StateProblem>, StoreError> {
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        let rows = sqlx::query("SELECT detail FROM audit_log ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        for r in &rows {
            let detail: String = r.try_get("detail")?;
            if !detail.contains("\"state\"") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&detail) else {
                continue;
            };
            if let Some(state) = v["state"].as_object() {
                for (k, h) in state {
                    if let Some(h) = h.as_str() {
                        expected.insert(k.clone(), h.to_owned());
                    }
                }
            }
        }
        let mut problems = Vec::new();
        for v in &VOUCHED {
            let rows: Vec<StateRow> = sqlx::query_as(sqlx::AssertSqlSafe(select(v, false)))
                .fetch_all(self.pool())
                .await?;
            for r in rows {
                let (key, digest) = hash_row(v, r);
                match expected.remove(&format!("{}/{key}", v.table)) {
                    Some(h) if h == digest => {}
                    Some(_) => problems.push(StateProblem::Changed {
                        table: v.table,
                        key,
                    }),
                    None => problems.push(StateProblem::Unaudited {
                        table: v.table,
                        key,
                    }),
                }
            }
        }
        for k in expected.into_keys() {
            let (table, key) = k.split_once('/').unwrap_or((k.as_str(), ""));
            problems.push(StateProblem::Deleted {
                table: table.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok(problems)
    }
}

/// A stored signed checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointRow {
    /// Entries covered.
    pub tree_size: i64,
    /// Signing time (epoch seconds).
    pub timestamp: i64,
    /// The compact JWS.
    pub signature: String,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for CheckpointRow {
    fn from_row(r: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tree_size: r.try_get("tree_size")?,
            timestamp: r.try_get("timestamp")?,
            signature: r.try_get("signature")?,
        })
    }
}

impl super::Store {
    /// Keep a signed checkpoint (a second one of the same size is ignored).
    pub async fn insert_checkpoint(
        &self,
        tree_size: i64,
        root_hash: &str,
        timestamp: i64,
        kid: &str,
        signature: &str,
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO audit_checkpoints (tree_size, root_hash, timestamp, kid, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tree_size)
        .bind(root_hash)
        .bind(timestamp)
        .bind(kid)
        .bind(signature)
        .execute(self.pool())
        .await;
        match r.map_err(super::map_unique) {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every stored checkpoint, smallest first.
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows = sqlx::query_as::<_, CheckpointRow>(
            "SELECT tree_size, timestamp, signature FROM audit_checkpoints ORDER BY tree_size",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// `(seq, at)` of every audit entry, in order.
    pub async fn audit_times(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query("SELECT seq, at FROM audit_log ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("at")?)))
            .collect()
    }
}
