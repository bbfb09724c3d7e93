//! Micro-batched Ed25519 verification for the scanning hot path.
//!
//! Under load many scans wait for a signature check at the same moment. One thread takes
//! every check that is waiting (up to [`MAX_BATCH`]) and verifies them together with
//! ed25519-dalek's batch verification, which costs about half as much per signature as
//! checking them one by one (STACK-NOTES: 52k vs 25k a second on one core). Nothing waits
//! for a batch to fill: a check that arrives alone is verified alone, at once, so a quiet
//! server answers as fast as before. If a batch fails, each signature in it is checked on
//! its own (`verify_strict`), so one bad token never fails the others and every rejection
//! is a strict one.

use ed25519_dalek::{Signature, VerifyingKey};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most signatures verified in one batch.
pub const MAX_BATCH: usize = 64;

struct Job {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
    done: oneshot::Sender<bool>,
}

/// Handle to the batching thread; it ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct BatchVerifier {
    tx: mpsc::Sender<Job>,
}

impl Default for BatchVerifier {
    fn default() -> Self {
        Self::spawn()
    }
}

impl BatchVerifier {
    /// Start the verification thread.
    pub fn spawn() -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("sanad-verify".into())
            .spawn(move || run(&rx));
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the verification thread; verifying inline");
        }
        Self { tx }
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by `key`.
    pub async fn verify(&self, key: VerifyingKey, message: Vec<u8>, signature: Signature) -> bool {
        let (done, wait) = oneshot::channel();
        let job = Job {
            key,
            message,
            signature,
            done,
        };
        match self.tx.send(job) {
            Ok(()) => wait.await.unwrap_or(false),
            // No thread: check here rather than fail open or closed.
            Err(mpsc::SendError(job)) => {
                job.key.verify_strict(&job.message, &job.signature).is_ok()
            }
        }
    }
}

fn run(rx: &mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let all_ok = jobs.len() > 1 && {
            let messages: Vec<&[u8]> = jobs.iter().map(|j| j.message.as_slice()).collect();
            let signatures: Vec<Signature> = jobs.iter().map(|j| j.signature).collect();
            let keys: Vec<VerifyingKey> = jobs.iter().map(|j| j.key).collect();
            ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
        };
        for j in jobs.drain(..) {
            let ok = all_ok || j.key.verify_strict(&j.message, &j.signature).is_ok();
            // The requester may have gone (client hung up): nothing to tell.
            let _ = j.done.send(ok);
        }
    }
}

/// Verify a compact JWS whose header has passed [`super::inspect`] through the batcher,
/// returning the payload. The same checks as [`super::verify_compact`], which stays the path
/// for everything but scanning.
pub async fn verify_compact_batched(
    token: &str,
    key: &VerifyingKey,
    batch: &BatchVerifier,
) -> Result<Vec<u8>, super::TokenError> {
    use super::TokenError;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signing_input, sig) = token
        .rsplit_once('.')
        .ok_or(TokenError::Malformed("a JWS has three parts"))?;
    let payload = signing_input
        .split_once('.')
        .map(|(_, p)| p)
        .ok_or(TokenError::Malformed("a JWS has three parts"))?;
    let payload = b64
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
    let sig = b64
        .decode(sig)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or(TokenError::Signature)?;
    if batch
        .verify(*key, signing_input.as_bytes().to_vec(), sig)
        .await
    {
        Ok(payload)
    } else {
        Err(TokenError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_accept_good_and_isolate_bad() {
        let v = BatchVerifier::spawn();
        let key = SigningKey::generate(&mut rand::rng());
        let other = SigningKey::generate(&mut rand::rng());
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let v = v.clone();
            let msg = format!("message {i}").into_bytes();
            // Every 7th is signed by the wrong key, every 11th is for another message.
            let signer = if i % 7 == 0 { &other } else { &key };
            let signed = if i % 11 == 0 {
                b"something else".to_vec()
            } else {
                msg.clone()
            };
            let sig = signer.sign(&signed);
            let vk = key.verifying_key();
            tasks.push(tokio::spawn(
                async move { (i, v.verify(vk, msg, sig).await) },
            ));
        }
        for t in tasks {
            let (i, ok) = t.await.expect("task");
            assert_eq!(ok, i % 7 != 0 && i % 11 != 0, "message {i}");
        }
    }
}
