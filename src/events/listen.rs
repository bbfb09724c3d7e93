//! Several instances on one PostgreSQL database: each commit that changes a cached view is
//! announced on channel `sanad_changes` by a trigger (migration 0009), and every instance
//! listens, so a revocation on one shows on all within milliseconds rather than at the next
//! poll. The poll stays as a safety net (a notification sent while the listener was
//! reconnecting is made up for by a full refresh on reconnect, and by the poll).
//!
//! Cached here: the status view (and the status lists published from it), keys, agencies.
//! API tokens and console sessions are not cached — every request reads them — so their
//! revocation is already immediate on every instance. SQLite is single-process: no listener.

use crate::app::App;
use crate::storage::Engine;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

/// The channel the triggers notify.
pub const CHANNEL: &str = "sanad_changes";

/// Start listening (PostgreSQL only; `None` on SQLite).
pub fn spawn(app: &Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.store.engine() != Engine::Postgres {
        return None;
    }
    let weak = Arc::downgrade(app);
    let url = app.store.url().to_owned();
    Some(tokio::spawn(async move {
        loop {
            match listen(&weak, &url).await {
                Ok(()) => return, // the app is gone
                Err(e) => {
                    tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }))
}

async fn listen(weak: &std::sync::Weak<App>, url: &str) -> anyhow::Result<()> {
    let mut l = PgListener::connect(url).await?;
    l.listen(CHANNEL).await?;
    // Whatever happened before we listened (or while we were reconnecting).
    match weak.upgrade() {
        Some(app) => refresh(&app, "all").await,
        None => return Ok(()),
    }
    loop {
        let n = l.try_recv().await?;
        let Some(app) = weak.upgrade() else {
            return Ok(());
        };
        match n {
            Some(n) => refresh(&app, n.payload()).await,
            None => {
                // The connection dropped and will be re-established by the next call:
                // notifications may have been missed.
                refresh(&app, "all").await;
            }
        }
    }
}

async fn refresh(app: &App, what: &str) {
    let all = what == "all";
    if (all || what == "status")
        && let Err(e) = app.status.sync(&app.store).await
    {
        tracing::warn!(error = %e, "status sync after a notification failed");
    }
    if (all || what == "keys" || what == "agencies")
        && let Err(e) = app.reload_keys().await
    {
        tracing::warn!(error = %e, "key reload after a notification failed");
    }
    if all || what == "events" {
        app.store.bump_changes();
    }
}
