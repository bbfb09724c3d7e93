//! A per-address token bucket for the public, unauthenticated endpoints that do work per
//! request (`POST /api/v1/verify`, VC-API `POST /credentials/verify`, `GET /v/…`). In memory per instance: it blunts floods
//! and scraping; it is not a substitute for limits at the edge.

use crate::error::AppError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 65_536;

/// Token buckets by client address.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` requests per second with a burst of twice that; `None` when `rate` is 0 (off).
    pub fn new(rate: f64) -> Option<Arc<Self>> {
        (rate > 0.0).then(|| {
            Arc::new(Self {
                rate,
                burst: (rate * 2.0).max(1.0),
                buckets: Mutex::new(HashMap::new()),
            })
        })
    }

    /// Take one token for `key`, or say how many seconds until one is there.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_BUCKETS && !g.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            g.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = g.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Whether a request is one of the rate-limited public endpoints.
fn limited(req: &Request) -> bool {
    let p = req.uri().path();
    (req.method() == axum::http::Method::POST
        && (p == "/api/v1/verify" || p == "/credentials/verify"))
        || p.starts_with("/v/")
}

/// Middleware: answer 429 problem+json with `Retry-After` when the address's bucket is empty.
/// The bucket is the client's real address (see [`super::client`]): behind a trusted proxy
/// the forwarded one, so clients behind it do not share one bucket.
pub async fn middleware(
    limiter: Arc<RateLimiter>,
    trusted: Arc<super::client::TrustedProxies>,
    req: Request,
    next: Next,
) -> Response {
    if limited(&req) {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let key = super::client::real_client(peer, req.headers(), &trusted)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        if let Err(retry_after) = limiter.take(&key) {
            return AppError::TooManyRequests {
                retry_after,
                detail: "too many requests from this address; slow down".into(),
            }
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        // A slow rate, so refills during the loop (a loaded machine, a debug build) cannot
        // hide the empty bucket: 10/s refills one token in 100 ms.
        let l = RateLimiter::new(10.0).expect("on");
        for _ in 0..20 {
            assert!(l.take("a").is_ok());
        }
        assert_eq!(
            l.take("a"),
            Err(1),
            "empty after the burst; retry after 1 s"
        );
        assert!(l.take("b").is_ok(), "buckets are per address");
        std::thread::sleep(std::time::Duration::from_millis(150));
        assert!(l.take("a").is_ok(), "refilled");
        assert!(RateLimiter::new(0.0).is_none());
    }
}
