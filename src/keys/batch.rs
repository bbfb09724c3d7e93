//! Micro-batched Ed25519 verification for the scanning hot path.
//!
//! Under load many scans wait for a signature check at the same moment. Checked together in one
//! randomized batch equation they cost about half as much per signature as one by one
//! (STACK-NOTES: 52k vs 25k a second on one core), so scans hand their check to one tokio task
//! that verifies whatever is waiting (up to [`MAX_BATCH`]) in one go.
//!
//! That task is the one place every never-seen scan passes through, so it does only what must
//! be done together: the equation. Everything a signature needs on its own — decompressing `R`,
//! refusing a non-canonical `s` or a small-order `R` (as `verify_strict` does), hashing
//! `k = SHA-512(R ‖ A ‖ M)` — is done by the worker that handles the request, before the
//! hand-off ([`Prepared`]).
//!
//! The equation is ed25519-dalek's `verify_batch`, with random 128-bit `z_i`:
//! `[-Σ z_i s_i] B + Σ z_i R_i + Σ_A [Σ_{i by A} z_i k_i] A = identity`, with no cofactor
//! multiplication, as `verify_batch` has it. Nearly every scan is signed by the same issuer key,
//! so the `A` terms of signatures by one key are summed into one scalar first: a batch of `n`
//! signatures by one key is one multiscalar multiplication of `n + 2` points, not `2n + 1`.
//!
//! The task runs on the runtime's own workers, not on a thread of its own: handing each scan
//! to another OS thread cost a futex wake-up each way and, with two cores shared by the
//! workers, that thread and the load generator, kept the batches small (BENCHMARKS.md, "Verify:
//! where the time goes"). When a check arrives the task wakes, then yields once before it
//! verifies: tokio runs a yielded task again only after the worker has run the tasks it has in
//! hand (or polled for I/O), so the scans that worker is parsing meanwhile join the batch.
//! Nothing waits for a batch to fill: on a quiet server the worker has nothing else in hand,
//! so a lone check is verified at once, alone, with `verify_strict`.
//!
//! If a batch fails, each signature in it is checked again on its own with `verify_strict`,
//! so one bad token never fails the others and every rejection is a strict one. A batch may
//! still accept what `verify_strict` would not in one case, as `verify_batch` may: an `R` or
//! `A` with a torsion component (not itself of small order) that the random `z_i` happen to
//! cancel (a chance between one in two and one in eight, by the torsion's order). The keys are
//! our own issuers', and such an `R` still has to satisfy the equation in the prime-order
//! subgroup, which takes the key's secret: a signature malleated by its signer, not a forgery.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity as _, VartimeMultiscalarMul as _};
use ed25519_dalek::{Signature, VerifyingKey};
use rand::Rng as _;
use sha2::{Digest as _, Sha512};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Most signatures verified in one batch.
pub const MAX_BATCH: usize = 64;

/// The parts of one signature check that need no other signature, computed by the requesting
/// worker before the hand-off.
#[derive(Debug, Clone, Copy)]
struct Prepared {
    key: VerifyingKey,
    /// The signature's `R`, decompressed, not of small order.
    r: EdwardsPoint,
    /// The signature's `s`, canonical.
    s: Scalar,
    /// `SHA-512(R ‖ A ‖ M)` reduced mod ℓ.
    k: Scalar,
}

impl Prepared {
    /// `None` when `verify_strict` would refuse the signature before any curve arithmetic:
    /// a non-canonical `s`, an `R` that does not decompress, or an `R` of small order.
    fn new(key: VerifyingKey, message: &[u8], signature: &Signature) -> Option<Self> {
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes()))?;
        let r = CompressedEdwardsY(*signature.r_bytes()).decompress()?;
        if r.is_small_order() {
            return None;
        }
        let hash: [u8; 64] = Sha512::new()
            .chain_update(signature.r_bytes())
            .chain_update(key.as_bytes())
            .chain_update(message)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&hash);
        Some(Self { key, r, s, k })
    }
}

/// Whether the batch equation holds for `checks` (two or more; see the module doc).
fn batch_holds(checks: &[Prepared]) -> bool {
    let mut rng = rand::rng();
    let mut b_coefficient = Scalar::ZERO;
    let mut zs = Vec::with_capacity(checks.len());
    // One summed scalar per key; a batch rarely holds more than a few keys, so a scan of this
    // list is cheaper than a map.
    let mut keys: Vec<(VerifyingKey, Scalar)> = Vec::new();
    for c in checks {
        let mut z = [0u8; 16];
        rng.fill_bytes(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        b_coefficient += z * c.s;
        let zk = z * c.k;
        match keys.iter_mut().find(|(key, _)| key == &c.key) {
            Some((_, sum)) => *sum += zk,
            None => keys.push((c.key, zk)),
        }
        zs.push(z);
    }
    // verify_strict refuses a small-order key; a failed batch is re-checked by it.
    let points: Vec<EdwardsPoint> = keys.iter().map(|(key, _)| key.to_edwards()).collect();
    if points.iter().any(EdwardsPoint::is_small_order) {
        return false;
    }
    let scalars = std::iter::once(-b_coefficient)
        .chain(zs)
        .chain(keys.iter().map(|(_, sum)| *sum));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(checks.iter().map(|c| c.r))
        .chain(points);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// Prepares each check and runs the batch equation over them all, as a busy server does
/// (preparation on the workers, the equation on the batching task), in one call: what the
/// benchmark's in-process batch row measures. `false` if any check is refused or the
/// equation fails; the server would then re-check each with `verify_strict`.
pub fn verify_all(checks: &[(VerifyingKey, &[u8], Signature)]) -> bool {
    let prepared: Option<Vec<Prepared>> = checks
        .iter()
        .map(|(key, message, signature)| Prepared::new(*key, message, signature))
        .collect();
    match prepared {
        Some(p) if p.len() >= 2 => batch_holds(&p),
        Some(p) => p
            .iter()
            .zip(checks)
            .all(|(_, (key, message, signature))| key.verify_strict(message, signature).is_ok()),
        None => false,
    }
}

struct Job {
    check: Prepared,
    /// Kept for `verify_strict` (a lone check, or a failed batch).
    message: Vec<u8>,
    signature: Signature,
    done: oneshot::Sender<bool>,
}

/// What the verifier has done since it started (for benchmarks and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Verification rounds (a batch, or a lone signature).
    pub rounds: u64,
    /// Signatures checked in rounds.
    pub signatures: u64,
    /// Signatures that failed and were checked again one by one.
    pub rechecked: u64,
    /// Signatures refused by the requesting worker before the hand-off (in no round).
    pub refused: u64,
    /// Time spent verifying in rounds, in nanoseconds (on whichever worker ran the round);
    /// the preparation on the requesting workers is not in it.
    pub busy_ns: u64,
}

#[derive(Debug, Default)]
struct Counters {
    rounds: AtomicU64,
    signatures: AtomicU64,
    rechecked: AtomicU64,
    refused: AtomicU64,
    busy_ns: AtomicU64,
}

#[derive(Debug, Default)]
struct Shared {
    /// Set when the first check is asked for, on the runtime that asked.
    tx: OnceLock<mpsc::UnboundedSender<Job>>,
    counters: Arc<Counters>,
}

/// Handle to the verification task; clones share it, and it ends when the last is dropped.
#[derive(Debug, Clone, Default)]
pub struct BatchVerifier {
    shared: Arc<Shared>,
}

impl BatchVerifier {
    /// A verifier; its task starts on the runtime of the first check.
    pub fn spawn() -> Self {
        Self::default()
    }

    /// Counts since the start.
    pub fn stats(&self) -> BatchStats {
        let c = &self.shared.counters;
        BatchStats {
            rounds: c.rounds.load(Ordering::Relaxed),
            signatures: c.signatures.load(Ordering::Relaxed),
            rechecked: c.rechecked.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            busy_ns: c.busy_ns.load(Ordering::Relaxed),
        }
    }

    fn sender(&self) -> Option<&mpsc::UnboundedSender<Job>> {
        if let Some(tx) = self.shared.tx.get() {
            return Some(tx);
        }
        let rt = tokio::runtime::Handle::try_current().ok()?;
        Some(self.shared.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            rt.spawn(run(rx, self.shared.counters.clone()));
            tx
        }))
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by `key`.
    pub async fn verify(&self, key: VerifyingKey, message: &[u8], signature: Signature) -> bool {
        let Some(check) = Prepared::new(key, message, &signature) else {
            self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            // verify_strict refuses it too, before any curve arithmetic; asking it keeps every
            // rejection a strict one by construction.
            return key.verify_strict(message, &signature).is_ok();
        };
        if let Some(tx) = self.sender() {
            let (done, wait) = oneshot::channel();
            let job = Job {
                check,
                message: message.to_vec(),
                signature,
                done,
            };
            if tx.send(job).is_ok()
                && let Ok(ok) = wait.await
            {
                return ok;
            }
        }
        // No task (outside a runtime, or its runtime is shutting down): check here rather
        // than fail open or closed.
        key.verify_strict(message, &signature).is_ok()
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Job>, counters: Arc<Counters>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        if jobs.len() < MAX_BATCH {
            // Let this worker finish what it has in hand: scans it parses meanwhile join.
            tokio::task::yield_now().await;
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        verify_round(&mut jobs, &counters);
    }
}

/// Verify and answer every job (draining `jobs`).
fn verify_round(jobs: &mut Vec<Job>, counters: &Counters) {
    let started = Instant::now();
    let n = jobs.len();
    let all_ok = n > 1 && {
        let checks: Vec<Prepared> = jobs.iter().map(|j| j.check).collect();
        batch_holds(&checks)
    };
    let answers: Vec<bool> = jobs
        .iter()
        .map(|j| all_ok || j.check.key.verify_strict(&j.message, &j.signature).is_ok())
        .collect();
    // Counted before anyone is answered, so a caller that reads the counts after its
    // answer sees its own round.
    counters.rounds.fetch_add(1, Ordering::Relaxed);
    counters.signatures.fetch_add(n as u64, Ordering::Relaxed);
    if n > 1 && !all_ok {
        counters.rechecked.fetch_add(n as u64, Ordering::Relaxed);
    }
    counters
        .busy_ns
        .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    for (j, ok) in jobs.drain(..).zip(answers) {
        // The requester may have gone (client hung up): nothing to tell.
        let _ = j.done.send(ok);
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
    if batch.verify(*key, signing_input.as_bytes(), sig).await {
        Ok(payload)
    } else {
        Err(TokenError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use std::time::Duration;

    /// 200 checks at once, every 7th signed by the wrong key and every 11th over another
    /// message: each answer is its own.
    async fn mixed(v: &BatchVerifier) {
        let key = SigningKey::generate(&mut rand::rng());
        let other = SigningKey::generate(&mut rand::rng());
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let v = v.clone();
            let msg = format!("message {i}").into_bytes();
            let signer = if i % 7 == 0 { &other } else { &key };
            let signed = if i % 11 == 0 {
                b"something else".to_vec()
            } else {
                msg.clone()
            };
            let sig = signer.sign(&signed);
            let vk = key.verifying_key();
            tasks.push(tokio::spawn(
                async move { (i, v.verify(vk, &msg, sig).await) },
            ));
        }
        for t in tasks {
            let (i, ok) = t.await.expect("task");
            assert_eq!(ok, i % 7 != 0 && i % 11 != 0, "message {i}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_accept_good_and_isolate_bad() {
        let v = BatchVerifier::spawn();
        mixed(&v).await;
        let s = v.stats();
        assert_eq!(s.signatures, 200);
        // The checks were spawned together: they must not all have gone one by one.
        assert!(s.rounds < 200, "{s:?}");
        // Failed batches were re-checked one by one.
        assert!(s.rechecked > 0, "{s:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn batches_on_a_single_thread_runtime() {
        let v = BatchVerifier::spawn();
        mixed(&v).await;
        let s = v.stats();
        assert_eq!(s.signatures, 200);
        assert!(s.rounds < 200, "{s:?}");
    }

    /// Concurrent checks that are all good are verified in batches that pass whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn good_signatures_pass_in_batches() {
        let v = BatchVerifier::spawn();
        let key = SigningKey::generate(&mut rand::rng());
        let vk = key.verifying_key();
        let tasks: Vec<_> = (0..500u32)
            .map(|i| {
                let v = v.clone();
                let msg = format!("good {i}").into_bytes();
                let sig = key.sign(&msg);
                tokio::spawn(async move { v.verify(vk, &msg, sig).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.expect("task"));
        }
        let s = v.stats();
        assert_eq!(s.signatures, 500);
        assert_eq!(s.rechecked, 0, "{s:?}");
        assert!(
            s.rounds <= 500 / 2,
            "batches of two or more on average: {s:?}"
        );
    }

    /// A check that arrives alone is answered at once, alone, without waiting for others
    /// (no other check ever comes, so a verifier that waited for a batch would time out).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_check_does_not_wait() {
        let v = BatchVerifier::spawn();
        let key = SigningKey::generate(&mut rand::rng());
        let vk = key.verifying_key();
        for i in 0..20u32 {
            let msg = format!("alone {i}").into_bytes();
            let good = key.sign(&msg);
            let answer = tokio::time::timeout(Duration::from_secs(5), v.verify(vk, &msg, good))
                .await
                .expect("answered without waiting for a batch");
            assert!(answer);
            let bad = key.sign(b"another message");
            assert!(!v.verify(vk, &msg, bad).await);
        }
        let s = v.stats();
        assert_eq!((s.rounds, s.signatures, s.rechecked), (40, 40, 0), "{s:?}");
    }

    /// `verify_all` (the benchmark's in-process batch) accepts a batch of good signatures by
    /// two keys, and refuses it when one signature is swapped for another message's or
    /// claimed by the other key; a lone check is strict.
    #[test]
    fn verify_all_checks_every_signature() {
        let (a, b) = (
            SigningKey::generate(&mut rand::rng()),
            SigningKey::generate(&mut rand::rng()),
        );
        let msgs: Vec<Vec<u8>> = (0..10).map(|i| format!("all {i}").into_bytes()).collect();
        let signer = |i: usize| if i.is_multiple_of(3) { &b } else { &a };
        let good: Vec<(VerifyingKey, &[u8], Signature)> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| (signer(i).verifying_key(), m.as_slice(), signer(i).sign(m)))
            .collect();
        assert!(verify_all(&good));
        let mut wrong_message = good.clone();
        wrong_message[4].2 = a.sign(b"another message");
        assert!(!verify_all(&wrong_message));
        let mut wrong_key = good.clone();
        wrong_key[3].0 = a.verifying_key();
        assert!(!verify_all(&wrong_key));
        assert!(verify_all(&good[..1]));
        assert!(!verify_all(&wrong_message[4..5]));
    }

    /// Outside a runtime there is no task: the check is made in place, strictly.
    #[test]
    fn without_a_runtime_checks_in_place() {
        let v = BatchVerifier::spawn();
        let key = SigningKey::generate(&mut rand::rng());
        let msg = b"no runtime";
        let fut = v.verify(key.verifying_key(), msg, key.sign(msg));
        assert!(futures_lite_block_on(fut));
        let fut = v.verify(key.verifying_key(), msg, key.sign(b"other"));
        assert!(!futures_lite_block_on(fut));
        assert_eq!(v.stats().signatures, 0);
    }

    /// A minimal executor for a future that never waits (no runtime around it).
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the check waited outside a runtime"),
        }
    }

    /// Checks by several keys, interleaved, share batches: each key's terms are its own, so
    /// the batches pass whole (a batch that mixed up the keys' sums would fail and be
    /// re-checked).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_keys_share_a_batch() {
        let v = BatchVerifier::spawn();
        let keys: Vec<SigningKey> = (0..3)
            .map(|_| SigningKey::generate(&mut rand::rng()))
            .collect();
        let tasks: Vec<_> = (0..300u32)
            .map(|i| {
                let v = v.clone();
                let key = &keys[i as usize % keys.len()];
                let msg = format!("key {} message {i}", i as usize % keys.len()).into_bytes();
                let (vk, sig) = (key.verifying_key(), key.sign(&msg));
                tokio::spawn(async move { v.verify(vk, &msg, sig).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.expect("task"));
        }
        let s = v.stats();
        assert_eq!(s.signatures, 300);
        assert!(s.rounds < 300, "{s:?}");
        assert_eq!(s.rechecked, 0, "{s:?}");
    }

    fn signed(key: &SigningKey, n: usize, tag: &str) -> Vec<(Vec<u8>, Signature)> {
        (0..n)
            .map(|i| {
                let msg = format!("{tag} {i}").into_bytes();
                let sig = key.sign(&msg);
                (msg, sig)
            })
            .collect()
    }

    fn prepared(key: &SigningKey, signed: &[(Vec<u8>, Signature)]) -> Vec<Prepared> {
        signed
            .iter()
            .map(|(m, s)| Prepared::new(key.verifying_key(), m, s).expect("well-formed"))
            .collect()
    }

    /// The equation itself, on batches that mix keys: it holds when every signature is by the
    /// key it is checked against, and fails when signatures by one key of the batch are
    /// presented as another's.
    #[test]
    fn the_equation_keeps_each_keys_sum_its_own() {
        let a = SigningKey::generate(&mut rand::rng());
        let b = SigningKey::generate(&mut rand::rng());
        let by_a = signed(&a, 10, "a");
        let by_b = signed(&b, 10, "b");
        let good: Vec<Prepared> = [prepared(&a, &by_a), prepared(&b, &by_b)].concat();
        assert!(batch_holds(&good));
        assert!(batch_holds(&prepared(&a, &by_a)));

        // Valid under A, presented as B, among good signatures by both.
        let mut swapped = good.clone();
        swapped.extend(prepared(&b, &by_a[..1]));
        assert!(!batch_holds(&swapped));
        // Only A's, all presented as B, next to B's own.
        let swapped: Vec<Prepared> = [prepared(&b, &by_a), prepared(&b, &by_b)].concat();
        assert!(!batch_holds(&swapped));
        // And through the verifier: the swapped ones fail, the others pass.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let v = BatchVerifier::spawn();
            let mut tasks = Vec::new();
            for (i, (msg, sig)) in by_a.iter().chain(&by_b).enumerate() {
                let (v, msg, sig) = (v.clone(), msg.clone(), *sig);
                // The first three of A's are presented as B's.
                let as_key = if (3..10).contains(&i) { &a } else { &b };
                let vk = as_key.verifying_key();
                tasks.push(tokio::spawn(async move { v.verify(vk, &msg, sig).await }));
            }
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.expect("task"), i >= 3, "signature {i}");
            }
            assert!(v.stats().rechecked > 0);
        });
    }

    /// `s + ℓ`: the same signature with a non-canonical scalar.
    fn non_canonical(sig: &Signature) -> Signature {
        const ELL: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut s = *sig.s_bytes();
        let mut carry = 0u16;
        for (byte, l) in s.iter_mut().zip(ELL) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        Signature::from_components(*sig.r_bytes(), s)
    }

    /// Signatures `verify_strict` refuses before any curve arithmetic are refused by the
    /// requesting worker, and never reach a batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_signatures_are_refused_before_the_batch() {
        let v = BatchVerifier::spawn();
        let key = SigningKey::generate(&mut rand::rng());
        let vk = key.verifying_key();
        let msg = b"a message".to_vec();
        let good = key.sign(&msg);

        let high_s = non_canonical(&good);
        assert!(vk.verify_strict(&msg, &high_s).is_err());
        assert!(Prepared::new(vk, &msg, &high_s).is_none());

        let off_curve = (0u8..=255)
            .map(|y| {
                let mut r = [0u8; 32];
                r[0] = y;
                r
            })
            .find(|r| CompressedEdwardsY(*r).decompress().is_none())
            .expect("some y is off the curve");
        let bad_r = Signature::from_components(off_curve, *good.s_bytes());
        assert!(Prepared::new(vk, &msg, &bad_r).is_none());

        // The identity, of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let small_r = Signature::from_components(identity, *good.s_bytes());
        assert!(Prepared::new(vk, &msg, &small_r).is_none());

        let tasks: Vec<_> = [good, high_s, bad_r, small_r, good]
            .into_iter()
            .map(|sig| {
                let (v, msg) = (v.clone(), msg.clone());
                tokio::spawn(async move { v.verify(vk, &msg, sig).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("task"));
        }
        assert_eq!(answers, [true, false, false, false, true]);
        let s = v.stats();
        assert_eq!((s.signatures, s.refused, s.rechecked), (2, 3, 0), "{s:?}");
    }

    /// Cost per signature of ed25519-dalek's `verify_batch` against this module's split
    /// (preparation on the requesting worker, equation on the batching task), for batches by
    /// one key. Run: `cargo test --release --lib keys::batch -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn cost_per_signature_old_and_new() {
        let key = SigningKey::generate(&mut rand::rng());
        let vk = key.verifying_key();
        for n in [26usize, 64] {
            // About the size of a digital ID's JWS signing input.
            let batch: Vec<(Vec<u8>, Signature)> = (0..n)
                .map(|i| {
                    let msg = format!("{i:0>300}").into_bytes();
                    let sig = key.sign(&msg);
                    (msg, sig)
                })
                .collect();
            let messages: Vec<&[u8]> = batch.iter().map(|(m, _)| m.as_slice()).collect();
            let signatures: Vec<Signature> = batch.iter().map(|(_, s)| *s).collect();
            let keys = vec![vk; n];
            let rounds = 40_000 / n;
            let per_sig = |f: &mut dyn FnMut()| {
                for _ in 0..rounds / 10 {
                    f();
                }
                let start = Instant::now();
                for _ in 0..rounds {
                    f();
                }
                start.elapsed().as_secs_f64() * 1e6 / (rounds * n) as f64
            };
            let old = per_sig(&mut || {
                assert!(ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok());
            });
            let prepare = per_sig(&mut || {
                for (m, s) in &batch {
                    std::hint::black_box(Prepared::new(vk, m, s));
                }
            });
            let checks: Vec<Prepared> = batch
                .iter()
                .map(|(m, s)| Prepared::new(vk, m, s).expect("ok"))
                .collect();
            let equation = per_sig(&mut || assert!(batch_holds(&checks)));
            let strict = per_sig(&mut || {
                for (m, s) in &batch {
                    assert!(vk.verify_strict(m, s).is_ok());
                }
            });
            println!(
                "batch of {n:>2} by one key, µs a signature: verify_batch {old:.2} | new \
                 {:.2} = prepare (worker) {prepare:.2} + equation (batching task) {equation:.2} \
                 | verify_strict {strict:.2}",
                prepare + equation
            );
        }
    }

    /// Verifiers made on a runtime that has ended check in place on the next.
    #[test]
    fn survives_its_runtime() {
        let v = BatchVerifier::spawn();
        let key = SigningKey::generate(&mut rand::rng());
        let vk = key.verifying_key();
        let msg = b"two runtimes".to_vec();
        let sig = key.sign(&msg);
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("runtime");
            let (v, msg) = (v.clone(), msg.clone());
            assert!(rt.block_on(async move { v.verify(vk, &msg, sig).await }));
        }
    }
}
