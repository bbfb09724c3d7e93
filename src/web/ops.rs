//! Operators' endpoint: `GET /metrics` in the Prometheus text format, for an API token with
//! the `metrics` scope (Prometheus sends it as `Authorization: Bearer …`).

use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::error::AppError;
use crate::metrics::Gauge;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// The figures, as text.
pub async fn metrics(State(app): State<Arc<App>>, auth: Principal) -> Result<Response, AppError> {
    auth.require_global(Scope::Metrics)?;
    let db_seq = app.store.last_change_seq().await?;
    let (open, idle) = app.store.pool_stats();
    let applied = app.status.last_seq();
    let gauges = [
        Gauge {
            name: "sanad_feed_lag_changes",
            help: "Status changes in the database not yet applied to this instance's status view.",
            value: (db_seq - applied).max(0) as f64,
        },
        Gauge {
            name: "sanad_status_view_version",
            help: "Version of this instance's status view (bumped on every applied change).",
            value: app.status.version() as f64,
        },
        Gauge {
            name: "sanad_status_list_lag_changes",
            help: "Changes applied to the status view but not yet in the most stale published status list.",
            value: app.status_list_lag() as f64,
        },
        Gauge {
            name: "sanad_db_pool_connections",
            help: "Open database connections.",
            value: f64::from(open),
        },
        Gauge {
            name: "sanad_db_pool_idle_connections",
            help: "Idle database connections.",
            value: idle as f64,
        },
    ];
    let mut res = app.metrics.render(&gauges).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// Count every answered request by matched route, method and status, with its latency.
pub async fn count_requests(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    // A matched path is an `Arc<str>` and a standard method a constant: cheap to keep
    // across the call, where copying both into `String`s cost two allocations a request.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let t = Instant::now();
    let res = next.run(req).await;
    app.metrics.request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method.as_str(),
        res.status().as_u16(),
        t.elapsed().as_secs_f64(),
    );
    res
}
