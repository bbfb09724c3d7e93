//! Migrations embedded in the binary (so `sanad serve` needs no files beside it), applied at
//! start by sqlx's migrator with its usual bookkeeping table and checksums.

use super::{Engine, StoreError};
use sqlx::AnyPool;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;

/// `(version, description, sqlite sql, postgres sql)`, in order.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../migrations/sqlite/0001_core.sql"),
        include_str!("../../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "trust",
        include_str!("../../migrations/sqlite/0002_trust.sql"),
        include_str!("../../migrations/postgres/0002_trust.sql"),
    ),
    (
        3,
        "auth",
        include_str!("../../migrations/sqlite/0003_auth.sql"),
        include_str!("../../migrations/postgres/0003_auth.sql"),
    ),
    (
        4,
        "photo",
        include_str!("../../migrations/sqlite/0004_photo.sql"),
        include_str!("../../migrations/postgres/0004_photo.sql"),
    ),
    (
        5,
        "checkpoints",
        include_str!("../../migrations/sqlite/0005_checkpoints.sql"),
        include_str!("../../migrations/postgres/0005_checkpoints.sql"),
    ),
    (
        7,
        "desk",
        include_str!("../../migrations/sqlite/0007_desk.sql"),
        include_str!("../../migrations/postgres/0007_desk.sql"),
    ),
    (
        8,
        "holder links",
        include_str!("../../migrations/sqlite/0008_holder_links.sql"),
        include_str!("../../migrations/postgres/0008_holder_links.sql"),
    ),
    (
        9,
        "events",
        include_str!("../../migrations/sqlite/0009_events.sql"),
        include_str!("../../migrations/postgres/0009_events.sql"),
    ),
    (
        11,
        "bulk",
        include_str!("../../migrations/sqlite/0011_bulk.sql"),
        include_str!("../../migrations/postgres/0011_bulk.sql"),
    ),
    (
        12,
        "search key pending",
        include_str!("../../migrations/sqlite/0012_search_key_pending.sql"),
        include_str!("../../migrations/postgres/0012_search_key_pending.sql"),
    ),
];

/// SQLite migrations that manage their own transaction (a table rebuild needs foreign keys
/// off, which SQLite refuses inside a transaction).
const SQLITE_NO_TX: &[i64] = &[7];

#[derive(Debug)]
struct Embedded(Engine);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures_core::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>>
    {
        let list = MIGRATIONS
            .iter()
            .map(|(v, d, lite, pg)| {
                let sql = if self.0 == Engine::Sqlite { *lite } else { *pg };
                Migration::new(
                    *v,
                    Cow::Borrowed(*d),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    self.0 == Engine::Sqlite && SQLITE_NO_TX.contains(v),
                )
            })
            .collect();
        Box::pin(async move { Ok(list) })
    }
}

/// Apply every migration not yet applied.
pub(super) async fn run(pool: &AnyPool, engine: Engine) -> Result<(), StoreError> {
    let migrator = Migrator::new(Embedded(engine)).await?;
    migrator.run(pool).await?;
    Ok(())
}
