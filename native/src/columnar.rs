//! The raw archive's chunks by column (hindsight/store/chunks.py reads them back): a stream's
//! lines, each split into its template (the line with every value taken out, `%s` in its place,
//! a literal `%` doubled) and its values (the text of each string value between its quotes,
//! each number as written), laid out with each template once and each of its values' slots as
//! one run of text. Event lines (one row a line) repeat their keys on every line: zstd then
//! reads ~40 % of the bytes and finds the values side by side (bench_ingest's events: the
//! archive -18 %, its compression 2.6-2.7x faster).
//!
//! Any bytes split and join back exactly (a line that is not JSON is a template of its own):
//! `template % values` in Python gives the line again. A chunk whose lines do not share
//! templates (batch or snapshot lines, of many rows each) is kept as its lines joined by `\n`.

use ahash::AHashMap as HashMap;

/// What begins a chunk by column (a chunk of lines begins with `{` or a space: an accepted line).
pub const MAGIC: &[u8] = b"\x00HSC1";
/// What begins a chunk of lines whose first line begins with NUL (not an accepted line's start,
/// but any bytes must read back as they were).
pub const LINES: &[u8] = b"\x00HSL1";

/// The chunks of a batch's streams, concatenated: stream s is `data[ends[s-1]..ends[s]]`.
#[derive(Default)]
pub struct Packed {
    pub data: Vec<u8>,
    pub ends: Vec<i64>,
}

/// The chunk of each stream: stream s holds the lines ORDER[ends[s-1]..ends[s]] of LINES (an
/// empty ORDER: the lines in their order).
pub fn pack(all: &[&[u8]], order: &[i64], stream_ends: &[i64]) -> Packed {
    let bytes: usize = all.iter().map(|l| l.len()).sum();
    let mut out = Packed { data: Vec::with_capacity(bytes / 2), ends: Vec::new() };
    let mut split = Split::default();
    let mut start = 0usize;
    let line = |k: usize| all[if order.is_empty() { k } else { order[k] as usize }];
    for &end in stream_ends {
        let end = end as usize;
        let lines: Vec<&[u8]> = (start..end).map(line).collect();
        if !split.columnar(&lines, &mut out.data) {
            plain(&lines, &mut out.data);
        }
        out.ends.push(out.data.len() as i64);
        start = end;
    }
    out
}

fn plain(lines: &[&[u8]], out: &mut Vec<u8>) {
    if lines.first().is_some_and(|l| l.first() == Some(&0)) {
        out.extend_from_slice(LINES);
    }
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
    }
}

/// The scratch of splitting one chunk's lines.
#[derive(Default)]
struct Split {
    template: Vec<u8>,
    templates: HashMap<Vec<u8>, u16>,
    order: Vec<(Vec<u8>, u32)>, // each template and its slots, by id
    shapes: Vec<Shape>,         // by id
    ids: Vec<u16>,              // per line
    spans: Vec<Span>,           // the values of every line, in order
    firsts: Vec<usize>,         // per line, its first value in `spans`
}

/// A value's bytes in its line, and whether it is a string's text (else a number).
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    string: bool,
}

/// A template as the bytes between its values, to match a line against: the lines of a stream
/// mostly share their template, and matching the line before's is a few compares of its keys
/// and a scan of its values (tokens() looks at every byte, and a new template is hashed).
struct Shape {
    pieces: Vec<Vec<u8>>,
    strings: Vec<bool>,
}

impl Shape {
    fn of(line: &[u8], spans: &[Span]) -> Shape {
        let mut pieces = Vec::with_capacity(spans.len() + 1);
        let mut at = 0usize;
        for s in spans {
            pieces.push(line[at..s.start as usize].to_vec());
            at = s.end as usize;
        }
        pieces.push(line[at..].to_vec());
        Shape { pieces, strings: spans.iter().map(|s| s.string).collect() }
    }

    /// LINE's values, if it is this template's (then pieces and values join into it).
    fn matches(&self, line: &[u8], spans: &mut Vec<Span>) -> bool {
        let before = spans.len();
        let mut at = 0usize;
        for (j, piece) in self.pieces.iter().enumerate() {
            let end = at + piece.len();
            if end > line.len() || &line[at..end] != piece.as_slice() {
                spans.truncate(before);
                return false;
            }
            at = end;
            if j == self.strings.len() {
                break;
            }
            let close = if self.strings[j] { string_end(line, at) } else { number_end(line, at) };
            let Some(close) = close else {
                spans.truncate(before);
                return false;
            };
            spans.push(Span { start: at as u32, end: close as u32, string: self.strings[j] });
            at = close;
        }
        if at != line.len() {
            spans.truncate(before);
            return false;
        }
        true
    }
}

impl Split {
    /// Write LINES by column to OUT; false (OUT untouched) when they share too few templates.
    fn columnar(&mut self, lines: &[&[u8]], out: &mut Vec<u8>) -> bool {
        self.templates.clear();
        self.order.clear();
        self.shapes.clear();
        self.ids.clear();
        self.spans.clear();
        self.firsts.clear();
        for line in lines {
            self.firsts.push(self.spans.len());
            if let Some(&last) = self.ids.last() {
                if self.shapes[last as usize].matches(line, &mut self.spans) {
                    self.ids.push(last);
                    continue;
                }
            }
            self.template.clear();
            let before = self.spans.len();
            tokens(line, &mut self.template, &mut self.spans);
            let slots = (self.spans.len() - before) as u32;
            let id = match self.templates.get(self.template.as_slice()) {
                Some(&id) => id,
                None => {
                    // a chunk of lines of their own templates is better as lines
                    if (self.order.len() + 1) * 4 > lines.len() || self.order.len() == u16::MAX as usize {
                        return false;
                    }
                    let id = self.order.len() as u16;
                    self.templates.insert(self.template.clone(), id);
                    self.order.push((self.template.clone(), slots));
                    self.shapes.push(Shape::of(line, &self.spans[before..]));
                    id
                }
            };
            self.ids.push(id);
        }
        self.firsts.push(self.spans.len());
        self.write(lines, out);
        true
    }

    fn write(&self, lines: &[&[u8]], out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        put(out, lines.len());
        put(out, self.order.len());
        for (template, slots) in &self.order {
            put(out, *slots as usize);
            put(out, template.len());
            out.extend_from_slice(template);
        }
        for id in &self.ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        let mut by_template: Vec<Vec<usize>> = vec![Vec::new(); self.order.len()];
        for (k, &id) in self.ids.iter().enumerate() {
            by_template[id as usize].push(k);
        }
        for (id, members) in by_template.iter().enumerate() {
            for slot in 0..self.order[id].1 as usize {
                let at = out.len();
                put(out, 0);
                for (n, &k) in members.iter().enumerate() {
                    if n > 0 {
                        out.push(b'\n');
                    }
                    let s = self.spans[self.firsts[k] + slot];
                    out.extend_from_slice(&lines[k][s.start as usize..s.end as usize]);
                }
                let length = (out.len() - at - 4) as u32;
                out[at..at + 4].copy_from_slice(&length.to_le_bytes());
            }
        }
    }
}

/// The lines of a chunk by column (PAYLOAD, MAGIC first), joined by `\n`; None when it is
/// damaged (hindsight/store/chunks.py reads it the same way without the library).
pub fn unpack(payload: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader { p: payload, at: MAGIC.len() };
    if payload.get(..MAGIC.len())? != MAGIC {
        return None;
    }
    let n = r.u32()? as usize;
    let count = r.u32()? as usize;
    let mut templates = Vec::with_capacity(count);
    for _ in 0..count {
        let slots = r.u32()? as usize;
        let size = r.u32()? as usize;
        templates.push((slots, pieces(r.take(size)?, slots)?));
    }
    let ids: Vec<usize> = r.take(2 * n)?.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).collect();
    // each template's runs, read value by value as its lines come
    let mut runs: Vec<Vec<&[u8]>> = Vec::with_capacity(count);
    for (slots, _) in &templates {
        let mut mine = Vec::with_capacity(*slots);
        for _ in 0..*slots {
            let size = r.u32()? as usize;
            mine.push(r.take(size)?);
        }
        runs.push(mine);
    }
    if r.at != payload.len() {
        return None;
    }
    let mut cursors: Vec<Vec<usize>> = runs.iter().map(|m| vec![0; m.len()]).collect();
    let mut seen = vec![0usize; count];
    let mut out = Vec::with_capacity(payload.len() * 3);
    for (k, &id) in ids.iter().enumerate() {
        let (_, parts) = templates.get(id)?;
        if k > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(&parts[0]);
        for (slot, part) in parts[1..].iter().enumerate() {
            let run = runs[id][slot];
            let at = cursors[id][slot];
            if at > run.len() {
                return None; // fewer values than lines
            }
            let end = run[at..].iter().position(|&c| c == b'\n').map_or(run.len(), |p| at + p);
            out.extend_from_slice(&run[at..end]);
            cursors[id][slot] = end + 1;
            out.extend_from_slice(part);
        }
        seen[id] += 1;
    }
    // every run read to its end: as many values as lines
    for (id, mine) in runs.iter().enumerate() {
        for (slot, run) in mine.iter().enumerate() {
            let whole = if seen[id] == 0 { run.is_empty() } else { cursors[id][slot] == run.len() + 1 };
            if !whole {
                return None;
            }
        }
    }
    Some(out)
}

/// A template's literal pieces around its SLOTS `%s` (`%%` read as `%`); None if it has
/// another count of them or a lone `%`.
fn pieces(template: &[u8], slots: usize) -> Option<Vec<Vec<u8>>> {
    let mut parts = vec![Vec::new()];
    let mut i = 0;
    while i < template.len() {
        let c = template[i];
        if c != b'%' {
            parts.last_mut()?.push(c);
            i += 1;
            continue;
        }
        match template.get(i + 1) {
            Some(b'%') => parts.last_mut()?.push(b'%'),
            Some(b's') => parts.push(Vec::new()),
            _ => return None,
        }
        i += 2;
    }
    (parts.len() == slots + 1).then_some(parts)
}

struct Reader<'a> {
    p: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.p.get(self.at..end)?;
        self.at = end;
        Some(out)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn put(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

/// Split LINE into its template (appended to TEMPLATE) and its values (their spans in LINE,
/// appended to SPANS). Exact for any bytes: what is not a value is the template's, `%` doubled.
fn tokens(line: &[u8], template: &mut Vec<u8>, spans: &mut Vec<Span>) {
    let n = line.len();
    let mut i = 0;
    while i < n {
        let c = line[i];
        if c == b'"' {
            let Some(close) = string_end(line, i + 1) else {
                literal(&line[i..], template); // not closed: not JSON, kept as it is
                return;
            };
            let mut k = close + 1;
            while k < n && matches!(line[k], b' ' | b'\t' | b'\r') {
                k += 1;
            }
            if k < n && line[k] == b':' {
                literal(&line[i..=close], template); // a key
            } else {
                template.extend_from_slice(b"\"%s\"");
                spans.push(Span { start: (i + 1) as u32, end: close as u32, string: true });
            }
            i = close + 1;
        } else if c == b'-' || c.is_ascii_digit() {
            let j = number_end(line, i).unwrap_or(n);
            template.extend_from_slice(b"%s");
            spans.push(Span { start: i as u32, end: j as u32, string: false });
            i = j;
        } else {
            let j = line[i..]
                .iter()
                .position(|&c| c == b'"' || c == b'-' || c.is_ascii_digit())
                .map_or(n, |p| i + p);
            literal(&line[i..j], template);
            i = j;
        }
    }
}

/// Where the string whose text starts at FROM closes (its `"`), if it does.
fn string_end(line: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j < line.len() {
        match line[j] {
            b'"' => return Some(j),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    None
}

/// Where the number starting at FROM ends, if one starts there.
fn number_end(line: &[u8], from: usize) -> Option<usize> {
    match line.get(from) {
        Some(b'-' | b'0'..=b'9') => {}
        _ => return None,
    }
    let mut j = from + 1;
    while j < line.len() && matches!(line[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
        j += 1;
    }
    Some(j)
}

fn literal(text: &[u8], template: &mut Vec<u8>) {
    if !text.contains(&b'%') {
        template.extend_from_slice(text);
        return;
    }
    for &c in text {
        if c == b'%' {
            template.push(b'%');
        }
        template.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keys_from_values() {
        let (mut t, mut s) = (Vec::new(), Vec::new());
        let line = br#"{"name":"p","n":-1.5e3,"x":"a\"b%", "b":true}"#;
        tokens(line, &mut t, &mut s);
        assert_eq!(t, br#"{"name":"%s","n":%s,"x":"%s", "b":true}"#.to_vec());
        let values: Vec<&[u8]> = s.iter().map(|v| &line[v.start as usize..v.end as usize]).collect();
        assert_eq!(values, vec![&b"p"[..], b"-1.5e3", br#"a\"b%"#]);
    }

    #[test]
    fn unpacks_what_it_packed() {
        let lines: Vec<&[u8]> = vec![
            br#"{"a":"x%","n":1}"#, br#"{"a":"","n":-2}"#, b"not %s json", br#"{"a":"z","n":3}"#,
            br#"{"a":"y","n":4}"#, br#"{"a":"w","n":5}"#, br#"{"a":"v","n":6}"#, br#"{"a":"u","n":7}"#,
        ];
        let mut out = Vec::new();
        assert!(Split::default().columnar(&lines, &mut out));
        let reversed: Vec<&[u8]> = lines.iter().rev().copied().collect();
        let order: Vec<i64> = (0..lines.len() as i64).rev().collect();
        let packed = pack(&reversed, &order, &[lines.len() as i64]);
        assert_eq!(packed.data, out);
        assert_eq!(unpack(&out).unwrap(), lines.join(&b'\n'));
        assert!(unpack(&out[..out.len() - 1]).is_none());
    }

    #[test]
    fn keeps_what_is_not_json() {
        let (mut t, mut s) = (Vec::new(), Vec::new());
        tokens(b"{\"a\": \"open 5%", &mut t, &mut s);
        assert_eq!(t, b"{\"a\": \"open 5%%".to_vec());
        assert!(s.is_empty());
    }
}
