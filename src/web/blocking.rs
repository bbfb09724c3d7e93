//! Image work off the async workers, a few at a time.
//!
//! Decoding a photo (of a QR, or of a person) takes tens to hundreds of milliseconds of CPU
//! and up to ~100 MB. On the async workers it would stall every other request (the issue's
//! eight parallel 20000×20000 PNGs stalled `/healthz` for 6 s); unbounded on the blocking
//! pool it would multiply the memory. So it runs on the blocking pool behind a small
//! semaphore, and a request that cannot get a permit within a few seconds is told to retry.

use crate::error::AppError;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Image decodes running at once (the machine has two cores).
pub const IMAGE_PERMITS: usize = 2;
static IMAGE_WORK: Semaphore = Semaphore::const_new(IMAGE_PERMITS);
/// How long a request waits for a permit before a 429.
const WAIT: Duration = Duration::from_secs(5);

/// Run `f` (image decoding) on the blocking pool once one of [`IMAGE_PERMITS`] is free.
pub async fn image_work<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = tokio::time::timeout(WAIT, IMAGE_WORK.acquire())
        .await
        .map_err(|_| AppError::TooManyRequests {
            retry_after: 2,
            detail: "busy decoding other images; try again shortly".into(),
        })?
        .map_err(|e| AppError::Internal(e.into()))?;
    let out = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    drop(permit);
    Ok(out)
}
