//! The dedupe keys of a batch's lines (hindsight/store/keys.py, `keys_sql`), computed in one
//! pass: each line's content key and execution (DuckDB's `hash()` of the same values, so that
//! the keys equal those the SQL path computes and the archive's are read back by), its
//! occurrence among identical lines of its scope, and its rank among copies in the batch.

use crate::duck;
use ahash::AHashMap as HashMap;

/// A string column as Arrow's large_string buffers.
pub struct Strings<'a> {
    pub offsets: &'a [i64],
    pub data: &'a [u8],
}

impl<'a> Strings<'a> {
    pub fn get(&self, k: usize) -> &'a [u8] {
        &self.data[self.offsets[k] as usize..self.offsets[k + 1] as usize]
    }
}

/// The batch's lines in order (status lines among them), with what their keys read.
pub struct Lines<'a> {
    pub i: &'a [i32],
    pub host: Strings<'a>,
    pub query: Strings<'a>,
    pub t: &'a [i64],
    pub epoch: &'a [i64],
    pub ckey: &'a [i64],
    pub shape: Strings<'a>,
    pub sa: &'a [u64],
    pub na: &'a [i64],
    pub sr: &'a [u64],
    pub nr: &'a [i64],
    pub status: &'a [u8],
    pub raw_hash: &'a [u64],
    /// keys::units, when the lines are not those of one plain file (else empty)
    pub unit: &'a [i32],
    pub body: &'a [u8],
    pub given: &'a [i64],
    pub given_valid: &'a [u8],
}

pub struct Keys {
    pub i: Vec<i32>,
    pub t: Vec<i64>,
    pub key: Vec<u64>,
    pub occ: Vec<i64>,
    pub dup: Vec<i64>,
}

pub fn keys(l: &Lines) -> Keys {
    let n = l.i.len();
    let units = !l.unit.is_empty();
    // keyed by the hash of (host, query) (the content key hashes them too: lines told apart by
    // host or query alone would need two 64-bit hashes to collide); a hasher keyed at random
    // (ahash), so that lines crafted to collide cannot make this quadratic
    let mut seen: HashMap<(i64, u64, i64, u64), i64> = HashMap::with_capacity(n);
    let mut copies: HashMap<(u64, i64, u64, i64), i64> = HashMap::with_capacity(n);
    let mut out = Keys {
        i: Vec::with_capacity(n),
        t: Vec::with_capacity(n),
        key: Vec::with_capacity(n),
        occ: Vec::with_capacity(n),
        dup: Vec::with_capacity(n),
    };
    let (mut scope, mut last_ex) = (0i64, None::<u64>);
    for k in 0..n {
        let (host, query) = (l.host.get(k), l.query.get(k));
        let base = duck::combine(duck::hash(host), duck::hash(query));
        let (key, ex, whole) = if l.status[k] != 0 {
            (l.raw_hash[k], duck::combine(duck::hash(host), duck::hash_i64(l.t[k])), false)
        } else {
            let shape = l.shape.get(k);
            let fields = [
                duck::hash_i64(l.t[k]),
                duck::hash_i64(l.epoch[k]),
                duck::hash_i64(l.ckey[k]),
                duck::hash(shape),
                duck::hash_i64(l.sa[k] as i64),
                duck::hash_i64(l.na[k]),
                duck::hash_i64(l.sr[k] as i64),
                duck::hash_i64(l.nr[k]),
            ];
            let key = fields.iter().fold(base, |h, &f| duck::combine(h, f));
            let ex = fields[..3].iter().fold(base, |h, &f| duck::combine(h, f));
            (key, ex, shape == b"batch" || shape == b"snapshot")
        };
        // a new scope where the execution changes (or, of a body, the source does)
        let same = if units {
            k > 0 && l.unit[k - 1] == l.unit[k] && (l.body[k] != 0 || last_ex == Some(ex))
        } else {
            last_ex == Some(ex)
        };
        if !same {
            scope += 1;
        }
        last_ex = Some(ex);
        // (the rank counts every line of the partition, as the SQL's row_number does)
        let rank = seen.entry((scope, base, l.t[k], key)).or_insert(0);
        *rank += 1;
        let occ = if units && l.given_valid[k] != 0 {
            l.given[k]
        } else if whole {
            0
        } else {
            *rank - 1
        };
        let d = copies.entry((base, l.t[k], key, occ)).or_insert(0);
        *d += 1;
        out.i.push(l.i[k]);
        out.t.push(l.t[k]);
        out.key.push(key);
        out.occ.push(occ);
        out.dup.push(*d);
    }
    out
}
