//! A decoded line checked and flattened into the first stage's header and rows, exactly as the
//! SQL of hindsight/store/normalise.py computes them (`_HEADER`, `_ROWS`, `hash_rows`).

use crate::duck;
use crate::json::{Line, Row, Rows, Scalar};
use std::borrow::Cow;

/// osquery's unixTime bounds (hindsight.osquery.lines.UNIX_MIN / UNIX_MAX).
const UNIX_MIN: i64 = -62_135_596_800;
const UNIX_MAX: i64 = 253_402_300_799;

pub const BATCH: u8 = 0;
pub const SNAPSHOT: u8 = 1;
pub const SNAPSHOT_EVENT: u8 = 2;
pub const EVENT: u8 = 3;

/// Why a line is left to the SQL path (the reason is not kept: the SQL path tells its own).
pub struct Defer;

pub struct Header<'a> {
    pub host_key: Cow<'a, str>,
    pub identifier: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub t: i64,
    pub epoch: i64,
    pub counter: Option<i64>,
    pub shape: u8,
}

/// The header of LINE and its added and removed rows.
pub fn flatten<'a>(line: Line<'a>) -> Result<(Header<'a>, Vec<Row<'a>>, Vec<Row<'a>>), Defer> {
    let name = line.name.filter(|n| !n.is_empty()).ok_or(Defer)?;
    let ident = line.host_identifier.or(line.hostname);
    let (dec_host_uuid, dec_uuid) = match line.decorations {
        Some(d) => (d.host_uuid, d.uuid),
        None => (None, None),
    };
    let uuid = dec_host_uuid
        .or(line.host_uuid)
        .filter(|u| !u.is_empty())
        .or(dec_uuid.or(line.uuid))
        .filter(|u| !u.is_empty());
    let ident = ident.filter(|i| !i.is_empty());
    let (host_key, identifier) = match (uuid, ident) {
        // DuckDB's lower() and Rust's agree on ASCII; anything else is the SQL path's
        (Some(u), i) if u.is_ascii() => (Cow::Owned(u.to_ascii_lowercase()), i.unwrap_or(u)),
        (None, Some(i)) => (i.clone(), i),
        _ => return Err(Defer),
    };
    let t = match line.unix_time.as_ref().map(int) {
        Some(Ok(Some(t))) if (UNIX_MIN..=UNIX_MAX).contains(&t) => t,
        _ => return Err(Defer),
    };
    let epoch = match line.epoch.as_ref().map(int) {
        None => 0,
        Some(e) => e?.unwrap_or(0),
    };
    let counter = match line.counter.as_ref().map(int) {
        None => None,
        Some(c) => c?,
    };
    let none = || Rows(Vec::new());
    let (shape, added, removed) = if let Some(diff) = line.diff {
        (BATCH, diff.added.unwrap_or_else(none).0, diff.removed.unwrap_or_else(none).0)
    } else if let Some(snapshot) = line.snapshot {
        (SNAPSHOT, snapshot.0, Vec::new())
    } else if let Some(columns) = line.columns {
        match line.action.as_deref() {
            Some("snapshot") => (SNAPSHOT_EVENT, vec![columns], Vec::new()),
            Some("added") => (EVENT, vec![columns], Vec::new()),
            Some("removed") => (EVENT, Vec::new(), vec![columns]),
            _ => return Err(Defer),
        }
    } else {
        return Err(Defer);
    };
    let header = Header { host_key, identifier, name, t, epoch, counter, shape };
    Ok((header, added, removed))
}

/// An integer member as `TRY_CAST(x AS BIGINT)` reads it: Some, or None for "" (which the
/// SQL reads as missing). Text other than plain digits is the SQL path's.
fn int(x: &Scalar) -> Result<Option<i64>, Defer> {
    match x {
        Scalar::I(v) => Ok(Some(*v)),
        Scalar::U(v) => i64::try_from(*v).map(Some).map_err(|_| Defer),
        Scalar::Str(s) if s.is_empty() => Ok(None),
        Scalar::Str(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Defer);
            }
            s.parse().map(Some).map_err(|_| Defer)
        }
        _ => Err(Defer),
    }
}

/// The sorted member names of ROW; a repeated one defers the line (DuckDB reads the first,
/// serde every one).
pub fn keys<'r>(row: &'r Row) -> Result<Vec<&'r str>, Defer> {
    Ok(order(row)?.into_iter().map(|p| row.0[p].0.as_ref()).collect())
}

/// The positions of ROW's members in the order of their names; a repeated name defers the
/// line (see `keys`).
pub fn order(row: &Row) -> Result<Vec<usize>, Defer> {
    let mut order: Vec<usize> = (0..row.0.len()).collect();
    order.sort_unstable_by(|&a, &b| row.0[a].0.cmp(&row.0[b].0));
    if order.windows(2).any(|w| row.0[w[0]].0 == row.0[w[1]].0) {
        return Err(Defer);
    }
    Ok(order)
}

/// Whether every one of SORTED (sorted) is in OF (sorted).
pub fn subset(sorted: &[&str], of: &[&str]) -> bool {
    let mut it = of.iter();
    sorted.iter().all(|k| it.any(|o| o == k))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A JSON string as DuckDB writes it (yyjson): `"` and `\` escaped, control characters as
/// \b \t \n \f \r or \u00XX, everything else as it is.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut run = 0; // the bytes since the last escape, copied at once
    for (n, &c) in b.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        out.extend_from_slice(&b[run..n]);
        run = n + 1;
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
        }
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

/// A decoded string as `put_str` writes it: one borrowed from the line had no escape in it,
/// so it holds no `"`, `\` or control character (JSON allows none unescaped), and is copied
/// as it is.
pub fn put_decoded(out: &mut Vec<u8>, s: &Cow<str>) {
    match s {
        Cow::Borrowed(b) => {
            out.reserve(b.len() + 2);
            out.push(b'"');
            out.extend_from_slice(b.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(o) => put_str(out, o),
    }
}

/// ROW's JSON text as DuckDB's `CAST(json AS VARCHAR)` writes it, appended to OUT, and its
/// identity as a state row (normalise.row_hash: the XOR of DuckDB's hash of
/// `name || chr(31) || value` over its non-null members, each value as text).
pub fn render(row: &Row, out: &mut Vec<u8>) -> u64 {
    let mut rh = 0u64;
    let mut num = itoa::Buffer::new();
    out.push(b'{');
    for (n, (k, v)) in row.0.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        put_decoded(out, k);
        out.push(b':');
        let text: Option<&[u8]> = match v {
            Scalar::Str(s) => {
                put_decoded(out, s);
                Some(s.as_bytes())
            }
            Scalar::I(i) => {
                let t = num.format(*i).as_bytes();
                out.extend_from_slice(t);
                Some(t)
            }
            Scalar::U(u) => {
                let t = num.format(*u).as_bytes();
                out.extend_from_slice(t);
                Some(t)
            }
            Scalar::B(b) => {
                let t: &[u8] = if *b { b"true" } else { b"false" };
                out.extend_from_slice(t);
                Some(t)
            }
            Scalar::Null => {
                out.extend_from_slice(b"null");
                None
            }
        };
        if let Some(text) = text {
            rh ^= duck::hash_parts(&[k.as_bytes(), b"\x1f", text]);
        }
    }
    out.push(b'}');
    rh
}
