//! The audit log: tampering directly in the database is found and named by
//! `sanad audit verify` (the library function and the binary), checkpoints are signed RFC
//! 6962 tree heads, and inclusion proofs check out against code written here from the RFC.

use crate::both_dbs;
use crate::callers::Caller;
use crate::helpers::{self, TestApp};
use axum::http::Method;
use sanad::audit::ChainBreak;
use sanad::auth::Role;
use sha2::{Digest as _, Sha256};
use sqlx::AssertSqlSafe;

// ----- RFC 6962 §2.1, written independently of src/audit/merkle.rs ----------------------

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

fn rfc_leaf(data: &[u8]) -> [u8; 32] {
    h(&[&[0u8], data])
}

fn rfc_node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    h(&[&[1u8], l, r])
}

/// MTH(D[n]) straight from the definition (leaf data in, not leaf hashes).
fn rfc_mth(d: &[Vec<u8>]) -> [u8; 32] {
    let n = d.len();
    if n == 0 {
        return h(&[]);
    }
    if n == 1 {
        return rfc_leaf(&d[0]);
    }
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    rfc_node(&rfc_mth(&d[..k]), &rfc_mth(&d[k..]))
}

/// Recompute the root from a leaf and its audit path (RFC 6962 §2.1.1 read backwards:
/// the path's last element is the sibling subtree at the top split).
fn rfc_root_from_path(leaf: [u8; 32], m: usize, n: usize, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if n == 1 {
        return path.is_empty().then_some(leaf);
    }
    let (top, rest) = path.split_last()?;
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    if m < k {
        Some(rfc_node(&rfc_root_from_path(leaf, m, k, rest)?, top))
    } else {
        Some(rfc_node(
            top,
            &rfc_root_from_path(leaf, m - k, n - k, rest)?,
        ))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> [u8; 32] {
    let mut o = [0u8; 32];
    for (i, x) in o.iter_mut().enumerate() {
        *x = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    o
}

/// A tree of 7 leaves, worked by hand: root = N(N(N(l0,l1),N(l2,l3)), N(N(l4,l5),l6)); and
/// the known tree heads of the test vectors used across RFC 6962 implementations.
#[test]
fn seven_leaves_by_hand() {
    use sanad::audit::merkle;
    let data: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i, i.wrapping_mul(7)]).collect();
    let l: Vec<[u8; 32]> = data.iter().map(|d| rfc_leaf(d)).collect();
    let n01 = rfc_node(&l[0], &l[1]);
    let n23 = rfc_node(&l[2], &l[3]);
    let n45 = rfc_node(&l[4], &l[5]);
    let left = rfc_node(&n01, &n23);
    let right = rfc_node(&n45, &l[6]);
    let root = rfc_node(&left, &right);
    assert_eq!(rfc_mth(&data), root);
    assert_eq!(merkle::root(&l), root);
    for (m, path) in [
        (0, vec![l[1], n23, right]),
        (3, vec![l[2], n01, right]),
        (4, vec![l[5], l[6], left]),
        (5, vec![l[4], l[6], left]),
        (6, vec![n45, left]),
    ] {
        assert_eq!(merkle::inclusion_path(m, &l), path, "PATH({m}, D[7])");
        assert_eq!(rfc_root_from_path(l[m], m, 7, &path), Some(root));
        assert!(merkle::verify_inclusion(&l[m], m, 7, &path, &root));
    }
    // A path for the wrong leaf, or with a flipped node, does not verify.
    let p0 = merkle::inclusion_path(0, &l);
    assert!(!merkle::verify_inclusion(&l[1], 0, 7, &p0, &root));
    let mut bad = p0.clone();
    bad[1][0] ^= 1;
    assert!(!merkle::verify_inclusion(&l[0], 0, 7, &bad, &root));

    // The classic vectors: leaves "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
    // 606162636465666768696a6b6c6d6e6f; tree heads for sizes 1..8.
    let inputs: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
            .collect()
    })
    .collect();
    let heads = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    for (n, want) in (1..=8).zip(heads) {
        let leaves: Vec<[u8; 32]> = inputs[..n].iter().map(|d| merkle::leaf_hash(d)).collect();
        assert_eq!(hex(&merkle::root(&leaves)), want, "tree head of size {n}");
        assert_eq!(
            hex(&rfc_mth(&inputs[..n])),
            want,
            "independent MTH of size {n}"
        );
    }
}

/// Checkpoints and proofs served by the API match the independent computation, and the
/// checkpoint's JWS verifies with the deployment's published key.
async fn checkpoint_and_proofs(t: TestApp) {
    for name in ["أ", "ب", "ج"] {
        t.issue_id(name).await;
    }
    let admin: Caller = t.user("root", Role::Admin, None).await;
    let cp = t
        .req(&admin, Method::GET, "/api/v1/audit/checkpoint", None)
        .await
        .json();
    let entries = t.app.store.audit_entries().await.expect("audit");
    let n = cp["tree_size"].as_u64().expect("size") as usize;
    assert!(n >= 7 && n <= entries.len());
    let data: Vec<Vec<u8>> = entries[..n]
        .iter()
        .map(|e| unhex(&e.hash).to_vec())
        .collect();
    assert_eq!(cp["root_hash"], hex(&rfc_mth(&data)));
    // The signature: EdDSA by a key in the JWKS, over exactly these values.
    let jws = cp["signature"].as_str().expect("jws");
    let header = sanad::keys::inspect(jws).expect("header");
    assert_eq!(header.kid, cp["kid"].as_str().expect("kid"));
    let jwks = t.get("/.well-known/jwks.json").await.json();
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == cp["kid"])
        .expect("the checkpoint key is published");
    let vk = sanad::keys::verifying_key_from_x(jwk["x"].as_str().expect("x")).expect("key");
    let payload = sanad::keys::verify_compact(jws, &sanad::keys::DalekVerifier::new(vk))
        .expect("signature verifies");
    let claims: serde_json::Value = serde_json::from_slice(&payload).expect("json");
    assert_eq!(claims["tree_size"], cp["tree_size"]);
    assert_eq!(claims["root_hash"], cp["root_hash"]);
    assert_eq!(claims["timestamp"], cp["timestamp"]);
    // Every entry's proof against that checkpoint.
    for seq in 1..=n {
        let p = t
            .req(
                &admin,
                Method::GET,
                &format!("/api/v1/audit/entries/{seq}/proof?tree_size={n}"),
                None,
            )
            .await
            .json();
        assert_eq!(p["tree_size"].as_u64(), Some(n as u64));
        assert_eq!(p["leaf_index"].as_u64(), Some(seq as u64 - 1));
        let leaf = rfc_leaf(&unhex(&entries[seq - 1].hash));
        assert_eq!(p["leaf_hash"], hex(&leaf));
        let path: Vec<[u8; 32]> = p["audit_path"]
            .as_array()
            .expect("path")
            .iter()
            .map(|x| unhex(x.as_str().expect("hex")))
            .collect();
        let root = rfc_root_from_path(leaf, seq - 1, n, &path).expect("path length");
        assert_eq!(
            hex(&root),
            cp["root_hash"].as_str().expect("root"),
            "seq {seq}"
        );
    }
    // No proof for an entry past the end.
    let r = t
        .req(
            &admin,
            Method::GET,
            &format!("/api/v1/audit/entries/{}/proof", entries.len() + 50),
            None,
        )
        .await;
    r.assert_problem(axum::http::StatusCode::NOT_FOUND);
    // Malformed path and query parameters are problems too.
    t.req(&admin, Method::GET, "/api/v1/audit/entries/abc/proof", None)
        .await
        .assert_problem(axum::http::StatusCode::NOT_FOUND);
    t.req(
        &admin,
        Method::GET,
        "/api/v1/audit/entries?limit=lots",
        None,
    )
    .await
    .assert_problem(axum::http::StatusCode::BAD_REQUEST);
    let page = t
        .req(
            &admin,
            Method::GET,
            "/api/v1/audit/entries?after=2&limit=3",
            None,
        )
        .await
        .json();
    let seqs: Vec<i64> = page
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
}
both_dbs!(checkpoint_and_proofs_both, checkpoint_and_proofs);

async fn verify_now(t: &TestApp) -> Result<usize, ChainBreak> {
    sanad::audit::verify_store(&t.app.store)
        .await
        .expect("read the log")
}

async fn exec(t: &TestApp, sql: &str) {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(t.app.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn row_values(e: &sanad::storage::AuditRow) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    format!(
        "({}, {}, {}, {}, {}, {}, {}, {})",
        e.seq,
        e.at,
        q(&e.actor),
        q(&e.action),
        q(&e.subject),
        q(&e.detail),
        q(&e.prev_hash),
        q(&e.hash)
    )
}

const COLS: &str = "(seq, at, actor, action, subject, detail, prev_hash, hash)";

/// Change a field, delete a row (middle and end), insert a row, reorder rows and rewrite a
/// row with a recomputed hash: each is named with the right entry; restored, the log
/// verifies again. The binary reports the same and exits non-zero.
async fn tamper(t: TestApp) {
    let c = t.issue_id("هند").await;
    let id = c["id"].as_str().expect("id");
    t.action(id, "suspend", "under_review").await;
    t.action(id, "reinstate", "review_cleared").await;
    let original = t.app.store.audit_entries().await.expect("audit");
    let n = original.len() as i64;
    assert!(n >= 6, "{n}");
    assert_eq!(verify_now(&t).await, Ok(n as usize));
    let e3 = original[2].clone();
    let last = original[n as usize - 1].clone();

    // 1. A field changed in place.
    exec(
        &t,
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3",
    )
    .await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Changed(3)));
    exec(
        &t,
        &format!("UPDATE audit_log SET actor = '{}' WHERE seq = 3", e3.actor),
    )
    .await;
    assert_eq!(verify_now(&t).await, Ok(n as usize));
    exec(&t, "UPDATE audit_log SET at = at + 1 WHERE seq = 4").await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Changed(4)));
    exec(&t, "UPDATE audit_log SET at = at - 1 WHERE seq = 4").await;

    // 2. A row removed in the middle, then at the end.
    exec(&t, "DELETE FROM audit_log WHERE seq = 3").await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Removed(3)));
    exec(
        &t,
        &format!("INSERT INTO audit_log {COLS} VALUES {}", row_values(&e3)),
    )
    .await;
    assert_eq!(verify_now(&t).await, Ok(n as usize));
    exec(&t, &format!("DELETE FROM audit_log WHERE seq = {n}")).await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Removed(n)));
    exec(
        &t,
        &format!("INSERT INTO audit_log {COLS} VALUES {}", row_values(&last)),
    )
    .await;
    assert_eq!(verify_now(&t).await, Ok(n as usize));

    // 3. A forged row appended with a correctly computed chain hash.
    let forged_hash = sanad::audit::entry_hash(
        &last.hash,
        n + 1,
        last.at,
        "user:intruder",
        "credential.issue",
        "x",
        "{}",
    );
    exec(
        &t,
        &format!(
            "INSERT INTO audit_log {COLS} VALUES ({}, {}, 'user:intruder', 'credential.issue', 'x', '{{}}', '{}', '{}')",
            n + 1,
            last.at,
            last.hash,
            forged_hash
        ),
    )
    .await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Inserted(n + 1)));

    // The binary names it too and exits non-zero.
    let out = run_cli(&t);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("entry {} was inserted", n + 1)),
        "{stdout}"
    );
    exec(&t, &format!("DELETE FROM audit_log WHERE seq = {}", n + 1)).await;

    // 4. Two rows swapped (their contents trade sequence numbers).
    let (a, b) = (original[1].clone(), original[2].clone());
    exec(&t, "DELETE FROM audit_log WHERE seq IN (2, 3)").await;
    let mut a2 = b.clone();
    a2.seq = 2;
    let mut b2 = a.clone();
    b2.seq = 3;
    exec(
        &t,
        &format!(
            "INSERT INTO audit_log {COLS} VALUES {}, {}",
            row_values(&a2),
            row_values(&b2)
        ),
    )
    .await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Changed(2)));
    exec(&t, "DELETE FROM audit_log WHERE seq IN (2, 3)").await;
    exec(
        &t,
        &format!(
            "INSERT INTO audit_log {COLS} VALUES {}, {}",
            row_values(&a),
            row_values(&b)
        ),
    )
    .await;
    assert_eq!(verify_now(&t).await, Ok(n as usize));

    // 5. A row rewritten with its own hash recomputed: the next entry no longer follows.
    let new_hash = sanad::audit::entry_hash(
        &e3.prev_hash,
        3,
        e3.at,
        &e3.actor,
        &e3.action,
        &e3.subject,
        "{\"rewritten\":true}",
    );
    exec(
        &t,
        &format!(
            "UPDATE audit_log SET detail = '{{\"rewritten\":true}}', hash = '{new_hash}' WHERE seq = 3"
        ),
    )
    .await;
    assert_eq!(verify_now(&t).await, Err(ChainBreak::Relinked(4)));
    exec(
        &t,
        &format!(
            "UPDATE audit_log SET detail = '{}', hash = '{}' WHERE seq = 3",
            e3.detail.replace('\'', "''"),
            e3.hash
        ),
    )
    .await;

    // Untouched again: the library and the binary agree it is whole.
    assert_eq!(verify_now(&t).await, Ok(n as usize));
    let out = run_cli(&t);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("intact: {n} entries")));
}
both_dbs!(tamper_both, tamper);

fn run_cli(t: &TestApp) -> std::process::Output {
    run_cli_args(t, &["audit", "verify"])
}

fn run_cli_args(t: &TestApp, args: &[&str]) -> std::process::Output {
    let c = &t.app.config;
    std::process::Command::new(env!("CARGO_BIN_EXE_sanad"))
        .args([
            "--database-url",
            c.database_url.as_deref().expect("url"),
            "--keys-dir",
            &c.keys_dir.display().to_string(),
            "--data-dir",
            &c.data_dir.display().to_string(),
        ])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run sanad")
}

/// Someone with write access rewrites an entry and recomputes every later hash and the
/// head: the chain alone cannot tell, a checkpoint signed before can.
async fn rewritten_history(t: TestApp) {
    let c = t.issue_id("رغد").await;
    t.action(c["id"].as_str().expect("id"), "revoke", "fraud")
        .await;
    let admin: Caller = t.user("root", Role::Admin, None).await;
    let cp = t
        .req(&admin, Method::GET, "/api/v1/audit/checkpoint", None)
        .await
        .json();
    let jws = cp["signature"].as_str().expect("jws").to_owned();
    let n = cp["tree_size"].as_u64().expect("size");
    assert_eq!(
        sanad::audit::verify_checkpoint(&t.app.store, &jws)
            .await
            .expect("check"),
        Ok(n)
    );
    // A forged signature is refused.
    let mut forged = jws.clone();
    forged.push('A');
    assert!(matches!(
        sanad::audit::verify_checkpoint(&t.app.store, &forged)
            .await
            .expect("check"),
        Err(sanad::audit::CheckpointMismatch::Signature(_))
    ));
    // Rewrite entry 3 and re-chain everything after it, head included.
    let entries = t.app.store.audit_entries().await.expect("audit");
    let mut prev = entries[1].hash.clone();
    for e in &entries[2..] {
        let detail = if e.seq == 3 {
            "{\"rewritten\":true}".to_owned()
        } else {
            e.detail.clone()
        };
        let hash =
            sanad::audit::entry_hash(&prev, e.seq, e.at, &e.actor, &e.action, &e.subject, &detail);
        exec(
            &t,
            &format!(
                "UPDATE audit_log SET detail = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}",
                detail.replace('\'', "''"),
                e.seq
            ),
        )
        .await;
        prev = hash;
    }
    exec(
        &t,
        &format!("UPDATE audit_head SET hash = '{prev}' WHERE id = 1"),
    )
    .await;
    assert_eq!(
        verify_now(&t).await,
        Ok(entries.len()),
        "the chain alone is fooled"
    );
    assert_eq!(
        sanad::audit::verify_checkpoint(&t.app.store, &jws)
            .await
            .expect("check"),
        Err(sanad::audit::CheckpointMismatch::Rewritten(n))
    );
    let file = t.dir.join("checkpoint.jws");
    std::fs::write(&file, &jws).expect("write");
    let out = run_cli_args(
        &t,
        &[
            "audit",
            "verify",
            "--checkpoint",
            &file.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("history was rewritten"));
    // Entries cut from the end (head moved back too): the checkpoint says so.
    exec(&t, &format!("DELETE FROM audit_log WHERE seq > {}", n - 2)).await;
    assert!(matches!(
        sanad::audit::verify_checkpoint(&t.app.store, &jws)
            .await
            .expect("check"),
        Err(sanad::audit::CheckpointMismatch::Shorter { .. })
    ));
}
both_dbs!(rewritten_history_both, rewritten_history);
