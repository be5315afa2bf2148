//! DuckDB's hash of a string (`hash(VARCHAR)`, src/common/types/hash.cpp), so that a row's
//! identity computed here equals the one the SQL path computes. The store checks it against
//! DuckDB's own at load (`hs_duckdb_hash`), and falls back to the SQL path if they differ.

const M: u64 = 0xd6e8_feb8_6659_fd93;

#[inline]
fn murmur64(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(M);
    x ^= x >> 32;
    x = x.wrapping_mul(M);
    x ^ (x >> 32)
}

/// `hash(s)` of DuckDB for a VARCHAR holding the bytes S.
#[inline]
pub fn hash(s: &[u8]) -> u64 {
    let mut h: u64 = 0xe17a_1465 ^ (s.len() as u64).wrapping_mul(0xc6a4_a793_5bd1_e995);
    let mut blocks = s.chunks_exact(8);
    for b in &mut blocks {
        h ^= u64::from_le_bytes(b.try_into().unwrap());
        h = h.wrapping_mul(M);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h ^= u64::from_le_bytes(last);
        h = h.wrapping_mul(M);
    }
    murmur64(h)
}

/// Hashes PARTS as one string, without building it.
#[inline]
pub fn hash_parts(parts: &[&[u8]], scratch: &mut Vec<u8>) -> u64 {
    scratch.clear();
    for p in parts {
        scratch.extend_from_slice(p);
    }
    hash(scratch)
}

/// `hash(v)` of DuckDB for a BIGINT (and for a HUGEINT in [0, 2^64): its upper half hashes to 0).
#[inline]
pub fn hash_i64(v: i64) -> u64 {
    murmur64(v as u64)
}

/// DuckDB's `hash(a, b, ...)`: each argument's hash folded into the first's.
#[inline]
pub fn combine(a: u64, b: u64) -> u64 {
    let a = (a ^ (a >> 32)).wrapping_mul(M);
    a ^ b
}
