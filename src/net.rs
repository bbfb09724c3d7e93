//! Outbound HTTP, used only for trust-list import, other deployments' status lists and the
//! CLI's `--server` mode. URLs never come from a token: only from the operator or a trust
//! list the operator imported. Plain `http://` only (put a TLS-terminating proxy in front
//! for `https://` peers); every call has a timeout and a response size limit.

use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Largest response accepted (a status list is ~100 bytes to 32 KiB; a trust list a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Outbound HTTP failure.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {message}")]
pub struct NetError {
    /// The URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

/// GET or POST `url`, returning status and body.
pub async fn request(
    url: &str,
    body: Option<(&str, Vec<u8>)>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), NetError> {
    let err = |m: String| NetError {
        url: url.to_owned(),
        message: m,
    };
    if !url.starts_with("http://") {
        return Err(err(
            "only http:// URLs are supported (use a TLS proxy for https peers)".into(),
        ));
    }
    let client: Client<_, Full<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = match body {
        Some((ct, b)) => axum::http::Request::post(url)
            .header("content-type", ct)
            .body(Full::new(b.into())),
        None => axum::http::Request::get(url).body(Full::new(axum::body::Bytes::new())),
    }
    .map_err(|e| err(e.to_string()))?;
    let res = tokio::time::timeout(timeout, client.request(req))
        .await
        .map_err(|_| err("timed out".into()))?
        .map_err(|e| err(e.to_string()))?;
    let status = res.status().as_u16();
    let bytes = tokio::time::timeout(
        timeout,
        Limited::new(res.into_body(), MAX_RESPONSE_BYTES).collect(),
    )
    .await
    .map_err(|_| err("timed out reading the body".into()))?
    .map_err(|e| err(e.to_string()))?
    .to_bytes();
    Ok((status, bytes.to_vec()))
}

/// GET a URL and require a 2xx answer.
pub async fn get_ok(url: &str) -> Result<Vec<u8>, NetError> {
    let (status, body) = request(url, None, Duration::from_secs(10)).await?;
    if !(200..300).contains(&status) {
        return Err(NetError {
            url: url.to_owned(),
            message: format!("HTTP {status}"),
        });
    }
    Ok(body)
}

/// POST `body` to `url` with extra `headers`, for webhook deliveries and the SMS gateway.
/// Redirects are never followed (a 3xx is returned as is, and callers treat it as a
/// failure), the whole exchange is bounded by `timeout`, and at most `max_body` bytes of the
/// answer are read (the rest is dropped unread).
pub async fn post(
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
    max_body: usize,
) -> Result<(u16, Vec<u8>), NetError> {
    exchange("POST", url, content_type, headers, body, timeout, max_body).await
}

/// GET `url` with extra `headers` (same limits as [`post`]).
pub async fn get_with(
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    max_body: usize,
) -> Result<(u16, Vec<u8>), NetError> {
    exchange("GET", url, "", headers, Vec::new(), timeout, max_body).await
}

async fn exchange(
    method: &str,
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
    max_body: usize,
) -> Result<(u16, Vec<u8>), NetError> {
    let err = |m: String| NetError {
        url: url.split('?').next().unwrap_or_default().to_owned(),
        message: m,
    };
    if !url.starts_with("http://") {
        return Err(err(
            "only http:// URLs are supported (use a TLS proxy for https peers)".into(),
        ));
    }
    let client: Client<_, Full<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = axum::http::Request::builder().method(method).uri(url);
    if !content_type.is_empty() {
        req = req.header("content-type", content_type);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(body.into()))
        .map_err(|e| err(e.to_string()))?;
    let exchange = async {
        let res = client
            .request(req)
            .await
            .map_err(|e| err(format!("request failed: {e}")))?;
        let status = res.status().as_u16();
        // Read at most `max_body` bytes and drop the rest: the status is the answer, and an
        // oversized body must neither exhaust memory nor turn a success into a retry.
        let mut body = res.into_body();
        let mut out = Vec::new();
        while out.len() < max_body {
            let Some(frame) = body.frame().await else {
                break;
            };
            let frame = frame.map_err(|e| err(format!("reading the answer: {e}")))?;
            if let Ok(d) = frame.into_data() {
                let room = max_body - out.len();
                out.extend_from_slice(&d[..d.len().min(room)]);
            }
        }
        Ok((status, out))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| err(format!("timed out after {} ms", timeout.as_millis())))?
}
