//! Event rows read into their query's columns, each value as text: what DuckDB's
//! `json_transform(r, '{"col": "VARCHAR", ...}')` gives (hindsight/store/normalise.py `as_text`),
//! from the rows' JSON texts as the library rendered them (line.rs `render`: `{"k":v,...}`, no
//! space, strings escaped by `put_str`, no nested value). A member no column names is left out,
//! a column no member names is NULL, a JSON null is NULL; names match exactly.
//!
//! A column may be asked for typed (BIGINT, UBIGINT, DOUBLE): each value is then what the
//! SQL path's typed insert stores (hindsight/store/fit.py: `''` is NULL, a value is kept
//! when its text is exactly one of the type), read here only for the plain forms of such texts
//! (an integer's digits; a double's sign, digits, point and exponent). A value in any other
//! form, or not of the type, leaves the whole read to the SQL path (`Columns::typed` false):
//! whether it fits, and how DuckDB reads it, are the SQL path's to say.

use crate::keys::Strings;
use ahash::AHashMap as HashMap;

/// A text column: Arrow's large_string offsets, data and validity bitmap.
#[derive(Default)]
pub struct Column {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
    pub valid: Vec<u8>,
}

/// How a column is read: as text, or typed (the codes of first_stage.py's `TYPE_CODES`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    BigInt,
    UBigInt,
    Double,
}

impl Kind {
    pub fn of(code: u8) -> Option<Kind> {
        Some(match code {
            0 => Kind::Text,
            1 => Kind::BigInt,
            2 => Kind::UBigInt,
            3 => Kind::Double,
            _ => return None,
        })
    }
}

/// The columns read, in the order of the names given: a typed column's `data` holds its
/// values (8 bytes each, little-endian; 0 under NULL), its `offsets` nothing.
pub struct Columns {
    pub columns: Vec<Column>,
    /// Whether every value asked for typed was read so (else the columns are not filled).
    pub typed: bool,
}

/// The members under NAMES of the rows CHOSEN (indexes in ROWS); None if a row is not in the
/// rendered form (the caller reads them in SQL then).
pub fn extract(rows: &Strings, chosen: &[i64], names: &[&[u8]], kinds: &[Kind]) -> Option<Columns> {
    let n = chosen.len();
    let mut text = Vec::new(); // (an escaped string's text, for a typed column)
    let index: HashMap<&[u8], usize> = names.iter().enumerate().map(|(k, name)| (*name, k)).collect();
    let mut columns: Vec<Column> = (0..names.len())
        .map(|_| Column { offsets: vec![0], data: Vec::new(), valid: vec![0; n.div_ceil(8)] })
        .collect();
    let mut found: Vec<Option<(usize, usize, bool)>> = vec![None; names.len()];
    // the members of the row before, by position: (its key's raw bytes, its column), so that a
    // row of the same keys in the same order (the usual one) hashes none of them
    let mut last: Vec<(&[u8], Option<usize>)> = Vec::new();
    let mut key = Vec::new();
    for (r, &k) in chosen.iter().enumerate() {
        let row = rows.get(usize::try_from(k).ok()?);
        found.iter_mut().for_each(|f| *f = None);
        let mut at = expect(row, 0, b'{')?;
        let mut position = 0;
        if row.get(at) == Some(&b'}') {
            at += 1;
        } else {
            loop {
                let ks = expect(row, at, b'"')?;
                let (ke, escaped) = string_end(row, ks)?;
                let raw_key = &row[ks..ke];
                let column = match last.get(position) {
                    Some(&(prev, column)) if prev == raw_key => column,
                    _ => {
                        let name: &[u8] = if escaped {
                            key.clear();
                            unescape(raw_key, &mut key)?;
                            &key
                        } else {
                            raw_key
                        };
                        let column = index.get(name).copied();
                        last.truncate(position);
                        last.push((raw_key, column));
                        column
                    }
                };
                position += 1;
                at = expect(row, ke + 1, b':')?;
                let (vs, ve, string, value_escaped) = if row.get(at) == Some(&b'"') {
                    let (e, esc) = string_end(row, at + 1)?;
                    (at + 1, e, true, esc)
                } else {
                    let e = at + row[at..].iter().position(|&c| c == b',' || c == b'}')?;
                    (at, e, false, false)
                };
                if let Some(c) = column {
                    let is_null = !string && &row[vs..ve] == b"null";
                    found[c] = if is_null { None } else { Some((vs, ve, value_escaped)) };
                }
                at = ve + usize::from(string);
                match row.get(at) {
                    Some(b',') => at += 1,
                    Some(b'}') => {
                        at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if at != row.len() {
            return None;
        }
        for (c, f) in found.iter().enumerate() {
            let col = &mut columns[c];
            if kinds[c] != Kind::Text {
                let value = match *f {
                    Some((vs, ve, true)) => {
                        text.clear();
                        unescape(&row[vs..ve], &mut text)?;
                        typed(&text, kinds[c])
                    }
                    Some((vs, ve, false)) => typed(&row[vs..ve], kinds[c]),
                    None => Some(None),
                };
                let Some(value) = value else {
                    return Some(Columns { columns: Vec::new(), typed: false });
                };
                if let Some(bits) = value {
                    col.valid[r / 8] |= 1 << (r % 8);
                    col.data.extend_from_slice(&bits.to_le_bytes());
                } else {
                    col.data.extend_from_slice(&[0; 8]);
                }
                continue;
            }
            if let Some((vs, ve, escaped)) = *f {
                if escaped {
                    unescape(&row[vs..ve], &mut col.data)?;
                } else {
                    col.data.extend_from_slice(&row[vs..ve]);
                }
                col.valid[r / 8] |= 1 << (r % 8);
            }
            col.offsets.push(col.data.len() as i64);
        }
        // (the keys of `last` borrow this row: the next row compares against them)
    }
    for col in &mut columns {
        col.data.shrink_to_fit(); // (grown by doubling: up to half of it unused, held till written)
    }
    Some(Columns { columns, typed: true })
}

/// TEXT read as KIND: Some(None) for NULL (the empty text), Some(Some(bits)) for a value, None
/// for a text of any other form.
pub fn typed(text: &[u8], kind: Kind) -> Option<Option<u64>> {
    if text.is_empty() {
        return Some(None);
    }
    let bits = match kind {
        Kind::BigInt => bigint(text)? as u64,
        Kind::UBigInt => ubigint(text)?,
        Kind::Double => double(text)?.to_bits(),
        Kind::Text => return None,
    };
    Some(Some(bits))
}

/// A BIGINT's text as its cast gives it back: `0`, or digits without a leading zero after an
/// optional `-`, within range.
fn bigint(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = ubigint(digits)?;
    if negative {
        // (-0 is not the text of 0)
        (magnitude != 0 && magnitude <= 1 << 63).then(|| (magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A UBIGINT's text as its cast gives it back: `0`, or digits without a leading zero.
fn ubigint(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then_some(())?;
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A DOUBLE's text in its plain form (`-`? digits (`.` digits)? ([eE] [+-]? digits)?), read
/// correctly rounded as DuckDB reads it; None for any other form, and for a value out of range
/// or rounded to zero (DuckDB's to say).
fn double(text: &[u8]) -> Option<f64> {
    let mut at = usize::from(text.first() == Some(&b'-'));
    let digits = |at: &mut usize| {
        let start = *at;
        while text.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > start
    };
    if !digits(&mut at) {
        return None;
    }
    if text.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return None;
        }
    }
    let mantissa = at;
    if matches!(text.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(text.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return None;
        }
    }
    if at != text.len() {
        return None;
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    let zero = text[..mantissa].iter().all(|&c| matches!(c, b'-' | b'0' | b'.'));
    (value.is_finite() && (value != 0.0 || zero)).then_some(value)
}

fn expect(row: &[u8], at: usize, c: u8) -> Option<usize> {
    (row.get(at) == Some(&c)).then_some(at + 1)
}

/// Where the string whose text starts at FROM closes, and whether it holds an escape.
fn string_end(row: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut j = from;
    let mut escaped = false;
    while j < row.len() {
        match row[j] {
            b'"' => return Some((j, escaped)),
            b'\\' => {
                escaped = true;
                j += 2;
            }
            _ => j += 1,
        }
    }
    None
}

/// A JSON string's escaped text decoded, appended to OUT; None if it is not valid JSON text.
fn unescape(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *text.get(i + 1)?;
        i += 2;
        let ch = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(text, i)?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if text.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(text, i + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                char::from_u32(code)?
            }
            _ => return None,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Some(())
}

fn hex4(text: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(text.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(rows: &[&[u8]]) -> (Vec<i64>, Vec<u8>) {
        let mut offsets = vec![0i64];
        let mut data = Vec::new();
        for r in rows {
            data.extend_from_slice(r);
            offsets.push(data.len() as i64);
        }
        (offsets, data)
    }

    #[test]
    fn reads_members_by_name() {
        let rows: Vec<&[u8]> = vec![
            br#"{"pid":5,"path":"a\"b\u0001","x":true,"n":null}"#,
            br#"{"pid":-6,"path":"c","x":false,"n":"1"}"#,
            br#"{"path":"d","Pid":7}"#,
            br#"{}"#,
        ];
        let (offsets, data) = strings(&rows);
        let s = Strings { offsets: &offsets, data: &data };
        let names: Vec<&[u8]> = vec![b"pid", b"path", b"n", b"gone"];
        let text4 = [Kind::Text; 4];
        let got = extract(&s, &[0, 1, 2, 3], &names, &text4).unwrap();
        let text = |c: &Column, r: usize| {
            ((c.valid[r / 8] >> (r % 8)) & 1 == 1)
                .then(|| c.data[c.offsets[r] as usize..c.offsets[r + 1] as usize].to_vec())
        };
        let pid: Vec<_> = (0..4).map(|r| text(&got.columns[0], r)).collect();
        assert_eq!(pid, vec![Some(b"5".to_vec()), Some(b"-6".to_vec()), None, None]);
        assert_eq!(text(&got.columns[1], 0), Some(b"a\"b\x01".to_vec()));
        assert_eq!(text(&got.columns[2], 0), None);
        assert_eq!(text(&got.columns[2], 1), Some(b"1".to_vec()));
        assert!((0..4).all(|r| text(&got.columns[3], r).is_none()));
        let bad: Vec<&[u8]> = vec![br#"{"pid":5"#];
        let (offsets, data) = strings(&bad);
        assert!(extract(&Strings { offsets: &offsets, data: &data }, &[0], &names, &text4).is_none());
        let (offsets, data) = strings(&rows);
        let s = Strings { offsets: &offsets, data: &data };
        let some = extract(&s, &[3, 1], &names, &text4).unwrap();
        assert_eq!(text(&some.columns[0], 1), Some(b"-6".to_vec()));
        assert_eq!(text(&some.columns[0], 0), None);
    }

    #[test]
    fn reads_typed_values_in_their_plain_form_only() {
        assert_eq!(bigint(b"0"), Some(0));
        assert_eq!(bigint(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(bigint(b"9223372036854775807"), Some(i64::MAX));
        for odd in [&b"9223372036854775808"[..], b"-0", b"01", b"+1", b" 1", b"1.0", b"1e3", b"-", b"0x1f"] {
            assert_eq!(bigint(odd), None, "{}", String::from_utf8_lossy(odd));
        }
        assert_eq!(ubigint(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(ubigint(b"18446744073709551616"), None);
        assert_eq!(ubigint(b"-1"), None);
        assert_eq!(double(b"-1.5e3"), Some(-1500.0));
        assert_eq!(double(b"0.0"), Some(0.0));
        for odd in [&b"1."[..], b".5", b"1e", b"inf", b"nan", b"1e400", b"1e-400", b" 1", b"+1"] {
            assert_eq!(double(odd), None, "{}", String::from_utf8_lossy(odd));
        }
        let rows: Vec<&[u8]> = vec![br#"{"a":"5","b":"","c":"2.5"}"#, br#"{"a":-7,"c":1}"#];
        let (offsets, data) = strings(&rows);
        let s = Strings { offsets: &offsets, data: &data };
        let names: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        let kinds = [Kind::BigInt, Kind::BigInt, Kind::Double];
        let got = extract(&s, &[0, 1], &names, &kinds).unwrap();
        assert!(got.typed);
        let value = |c: usize, r: usize| {
            let col = &got.columns[c];
            ((col.valid[r / 8] >> (r % 8)) & 1 == 1)
                .then(|| u64::from_le_bytes(col.data[8 * r..8 * r + 8].try_into().unwrap()))
        };
        assert_eq!(value(0, 0), Some(5));
        assert_eq!(value(0, 1), Some((-7i64) as u64));
        assert_eq!((value(1, 0), value(1, 1)), (None, None));
        assert_eq!(value(2, 0), Some(2.5f64.to_bits()));
        let odd = extract(&s, &[0, 1], &names, &[Kind::BigInt, Kind::BigInt, Kind::BigInt]).unwrap();
        assert!(!odd.typed);
    }
}
