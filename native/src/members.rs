//! Event rows read into their query's columns, each value as text: what DuckDB's
//! `json_transform(r, '{"col": "VARCHAR", ...}')` gives (hindsight/store/normalise.py `as_text`),
//! from the rows' JSON texts as the library rendered them (line.rs `render`: `{"k":v,...}`, no
//! space, strings escaped by `put_str`, no nested value). A member no column names is left out,
//! a column no member names is NULL, a JSON null is NULL; names match exactly.

use crate::keys::Strings;
use std::collections::HashMap;

/// A text column: Arrow's large_string offsets, data and validity bitmap.
#[derive(Default)]
pub struct Column {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
    pub valid: Vec<u8>,
}

/// The columns read, in the order of the names given.
pub struct Columns {
    pub columns: Vec<Column>,
}

/// The members under NAMES of the rows CHOSEN (indexes in ROWS); None if a row is not in the
/// rendered form (the caller reads them in SQL then).
pub fn extract(rows: &Strings, chosen: &[i64], names: &[&[u8]]) -> Option<Columns> {
    let n = chosen.len();
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
    Some(Columns { columns })
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
        let got = extract(&s, &[0, 1, 2, 3], &names).unwrap();
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
        assert!(extract(&Strings { offsets: &offsets, data: &data }, &[0], &names).is_none());
        let (offsets, data) = strings(&rows);
        let s = Strings { offsets: &offsets, data: &data };
        let some = extract(&s, &[3, 1], &names).unwrap();
        assert_eq!(text(&some.columns[0], 1), Some(b"-6".to_vec()));
        assert_eq!(text(&some.columns[0], 0), None);
    }
}
