//! RFC 6962 §2.1 Merkle tree over the audit entries' hashes: the tree head commits to the
//! whole log at a size, and an audit path proves one entry is in it, so a signed head
//! handed out today exposes any later rewrite of history.
//!
//! Leaves are `SHA-256(0x00 || entry hash bytes)`, nodes `SHA-256(0x01 || left || right)`,
//! and a tree of `n` leaves splits at the largest power of two below `n`.

use sha2::{Digest as _, Sha256};

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// The leaf hash of an entry hash.
pub fn leaf_hash(entry_hash: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry_hash);
    h.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over leaf hashes; the empty tree's head is SHA-256 of nothing.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `m` (0-based), from the leaf upwards.
pub fn inclusion_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || m >= n {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = inclusion_path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Check an audit path (RFC 9162 §2.1.3.2, the iterative form of RFC 6962's definition).
pub fn verify_inclusion(leaf: &Hash, m: usize, n: usize, path: &[Hash], root: &Hash) -> bool {
    if m >= n {
        return false;
    }
    let (mut f_n, mut s_n) = (m, n - 1);
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &r == root
}

/// Lower-case hex.
pub fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse 64 hex digits.
pub fn from_hex(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    #[test]
    fn every_path_verifies_and_a_wrong_one_does_not() {
        for n in 1..=17 {
            let l = leaves(n);
            let r = root(&l);
            for m in 0..n {
                let p = inclusion_path(m, &l);
                assert!(verify_inclusion(&l[m], m, n, &p, &r), "n={n} m={m}");
                if n > 1 {
                    assert!(!verify_inclusion(&l[(m + 1) % n], m, n, &p, &r));
                }
            }
        }
    }

    #[test]
    fn empty_tree_is_sha256_of_nothing() {
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
