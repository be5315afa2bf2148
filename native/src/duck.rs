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
        h ^= partial(rest);
        h = h.wrapping_mul(M);
    }
    murmur64(h)
}

/// The under 8 BYTES as the low bytes of a little-endian u64 (built in a register: bytes
/// stored to a buffer and read back as one u64 stall the load).
#[inline]
fn partial(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0, |v, (n, &b)| v | u64::from(b) << (8 * n))
}

/// `hash(s)` of the string PARTS make, without building it: each 8-byte block of it taken
/// where it lies (a block across parts gathered first).
#[inline]
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut h: u64 = 0xe17a_1465 ^ (len as u64).wrapping_mul(0xc6a4_a793_5bd1_e995);
    let (mut block, mut fill) = (0u64, 0); // the block gathered across parts, its bytes
    for part in parts {
        let mut part: &[u8] = part;
        if fill > 0 {
            let take = (8 - fill).min(part.len());
            block |= partial(&part[..take]) << (8 * fill);
            fill += take;
            part = &part[take..];
            if fill < 8 {
                continue;
            }
            h = (h ^ block).wrapping_mul(M);
        }
        let mut blocks = part.chunks_exact(8);
        for b in &mut blocks {
            h = (h ^ u64::from_le_bytes(b.try_into().unwrap())).wrapping_mul(M);
        }
        let rest = blocks.remainder();
        (block, fill) = (partial(rest), rest.len());
    }
    if fill > 0 {
        h = (h ^ block).wrapping_mul(M);
    }
    murmur64(h)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_in_parts_hashes_as_the_string() {
        let text: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37)).collect();
        for len in 0..text.len() {
            for a in 0..=len {
                for b in a..=len {
                    let parts = [&text[..a], &text[a..b], &text[b..len]];
                    assert_eq!(hash_parts(&parts), hash(&text[..len]), "{len} {a} {b}");
                }
            }
        }
    }
}
