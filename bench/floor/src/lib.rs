//! Feasibility probe: the floor of a compiled ingest core (not product code).
//!
//! Pass A: read the file, decode every line with serde_json, and for each row emit columnar
//! buffers: line index, name id, host id, unixTime, op, xxh3-64 of the canonical row, and the
//! canonical row text (offsets + data). Pass B: the same on N threads, the file split at newlines.
//! Exposed through a C ABI for ctypes; Python wraps the buffers as pyarrow arrays without a copy.

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

// ---------------------------------------------------------------- decoding

enum Scalar<'a> {
    Str(Cow<'a, str>),
    I(i64),
    U(u64),
    F(f64),
    B(bool),
    Null,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::F(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::B(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A string that borrows from the line when it holds no escape (serde's own `Cow<str>` impl
/// always allocates).
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// One result row: its (key, value) pairs in the order of the line.
struct Row<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Row<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Row<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(12));
                while let Some((k, x)) = m.next_entry::<Str<'a>, Scalar<'a>>()? {
                    v.push((k.0, x));
                }
                Ok(Row(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A row list: an array of rows, or "" / null for none (osquery writes "" for an empty array).
struct Rows<'a>(Vec<Row<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Rows<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Rows<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(s.size_hint().unwrap_or(8));
                while let Some(r) = s.next_element::<Row<'a>>()? {
                    v.push(r);
                }
                Ok(Rows(v))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Rows(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Rows(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Decorations<'a> {
    #[serde(borrow)]
    host_uuid: Option<Str<'a>>,
    #[serde(borrow)]
    uuid: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct Diff<'a> {
    #[serde(borrow, default)]
    added: Option<Rows<'a>>,
    #[serde(borrow, default)]
    removed: Option<Rows<'a>>,
}

#[allow(non_snake_case)]
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    hostIdentifier: Option<Str<'a>>,
    #[serde(borrow)]
    unixTime: Option<Scalar<'a>>,
    #[serde(borrow)]
    decorations: Option<Decorations<'a>>,
    #[serde(borrow)]
    columns: Option<Row<'a>>,
    #[serde(borrow)]
    action: Option<Str<'a>>,
    #[serde(borrow)]
    snapshot: Option<Rows<'a>>,
    #[serde(borrow)]
    diffResults: Option<Diff<'a>>,
}

// ---------------------------------------------------------------- output

const OP_ADDED: u8 = 0;
const OP_REMOVED: u8 = 1;
const OP_SNAPSHOT: u8 = 2;

#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), i);
        i
    }
}

/// One chunk of output columns (one per thread).
#[derive(Default)]
pub struct Chunk {
    line: Vec<i64>,
    name: Vec<u32>,
    host: Vec<u32>,
    unix: Vec<i64>,
    op: Vec<u8>,
    hash: Vec<u64>,
    offsets: Vec<i32>,
    data: Vec<u8>,
    names: Interner,
    hosts: Interner,
    lines: i64,
    bad: i64,
    decode_only: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A JSON string's content, escaped as orjson/serde_json do. Strings borrowed from the input had
/// no escape in it (and JSON forbids raw control characters), so they are copied as they are.
#[inline]
fn put_str(out: &mut Vec<u8>, s: &Cow<str>) {
    out.push(b'"');
    match s {
        Cow::Borrowed(b) => out.extend_from_slice(b.as_bytes()),
        Cow::Owned(o) => {
            for &c in o.as_bytes() {
                match c {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    c if c < 0x20 => {
                        out.extend_from_slice(b"\\u00");
                        out.push(HEX[(c >> 4) as usize]);
                        out.push(HEX[(c & 15) as usize]);
                    }
                    c => out.push(c),
                }
            }
        }
    }
    out.push(b'"');
}

/// A double as Python's f"{v:.15g}" (osquery's 15 significant digits), ".0" added when it
/// reads as an integer, as hindsight's `_text` does.
fn put_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let sci = format!("{:.14e}", v); // d.dddddddddddddde<exp>
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let s = if (-4..15).contains(&exp) {
        let mut f = format!("{:.*}", (14 - exp) as usize, v);
        if f.contains('.') {
            while f.ends_with('0') {
                f.pop();
            }
            if f.ends_with('.') {
                f.pop();
            }
        }
        if !f.contains('.') {
            f.push_str(".0");
        }
        f
    } else {
        let mut m = mant.to_owned();
        if m.contains('.') {
            while m.ends_with('0') {
                m.pop();
            }
            if m.ends_with('.') {
                m.pop();
            }
        }
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
    };
    out.extend_from_slice(s.as_bytes());
}

/// The canonical row: keys sorted, every value as text, compact JSON.
#[inline]
fn put_row(out: &mut Vec<u8>, row: &mut Row) {
    row.0.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    let mut ib = itoa::Buffer::new();
    for (i, (k, v)) in row.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put_str(out, k);
        out.push(b':');
        match v {
            Scalar::Str(s) => put_str(out, s),
            Scalar::I(n) => {
                out.push(b'"');
                out.extend_from_slice(ib.format(*n).as_bytes());
                out.push(b'"');
            }
            Scalar::U(n) => {
                out.push(b'"');
                out.extend_from_slice(ib.format(*n).as_bytes());
                out.push(b'"');
            }
            Scalar::F(f) => {
                out.push(b'"');
                put_float(out, *f);
                out.push(b'"');
            }
            Scalar::B(b) => out.extend_from_slice(if *b { b"\"1\"" } else { b"\"0\"" }),
            Scalar::Null => out.extend_from_slice(b"\"\""),
        }
    }
    out.push(b'}');
}

fn unix_time(s: &Option<Scalar>) -> Option<i64> {
    match s {
        Some(Scalar::I(n)) => Some(*n),
        Some(Scalar::U(n)) => i64::try_from(*n).ok(),
        Some(Scalar::Str(t)) => t.trim().parse().ok(),
        _ => None,
    }
}

impl Chunk {
    #[inline]
    fn emit(&mut self, line: i64, name: u32, host: u32, unix: i64, op: u8, row: &mut Row) {
        let start = self.data.len();
        put_row(&mut self.data, row);
        let canon = &self.data[start..];
        self.hash.push(xxhash_rust::xxh3::xxh3_64(canon));
        assert!(self.data.len() <= i32::MAX as usize, "chunk text past 2 GiB");
        self.offsets.push(self.data.len() as i32);
        self.line.push(line);
        self.name.push(name);
        self.host.push(host);
        self.unix.push(unix);
        self.op.push(op);
    }

    fn line(&mut self, index: i64, text: &str) {
        let mut doc: Line = match serde_json::from_str(text) {
            Ok(d) => d,
            Err(_) => {
                self.bad += 1;
                return;
            }
        };
        if self.decode_only {
            return;
        }
        let (Some(name), Some(unix)) = (doc.name.as_ref().map(|s| &*s.0), unix_time(&doc.unixTime)) else {
            self.bad += 1;
            return;
        };
        let name = self.names.id(name);
        let uuid = doc.decorations.as_ref().and_then(|d| d.host_uuid.as_ref().or(d.uuid.as_ref())).map(|s| &*s.0);
        let host = match (uuid, doc.hostIdentifier.as_ref().map(|s| &*s.0)) {
            (Some(u), _) if !u.is_empty() => {
                if u.bytes().any(|c| c.is_ascii_uppercase()) {
                    self.hosts.id(&u.to_lowercase())
                } else {
                    self.hosts.id(u)
                }
            }
            (_, Some(h)) => self.hosts.id(h),
            _ => {
                self.bad += 1;
                return;
            }
        };
        if let Some(diff) = doc.diffResults.as_mut() {
            for (rows, op) in [(&mut diff.added, OP_ADDED), (&mut diff.removed, OP_REMOVED)] {
                if let Some(rows) = rows {
                    for r in rows.0.iter_mut() {
                        self.emit(index, name, host, unix, op, r);
                    }
                }
            }
        } else if let Some(rows) = doc.snapshot.as_mut() {
            for r in rows.0.iter_mut() {
                self.emit(index, name, host, unix, OP_SNAPSHOT, r);
            }
        } else if let Some(r) = doc.columns.as_mut() {
            let op = match doc.action.as_ref().map(|s| &*s.0) {
                Some("added") => OP_ADDED,
                Some("removed") => OP_REMOVED,
                Some("snapshot") => OP_SNAPSHOT,
                _ => {
                    self.bad += 1;
                    return;
                }
            };
            self.emit(index, name, host, unix, op, r);
        } else {
            self.bad += 1;
        }
    }

    /// Lines of bytes [start, end) of the file (start and end at line starts), read in blocks
    /// into one reused buffer; each block's whole lines are checked as UTF-8 at once.
    fn run(path: &str, start: u64, end: u64) -> std::io::Result<Chunk> {
        use std::io::{Read, Seek, SeekFrom};
        const BLOCK: usize = 4 << 20;
        let t0 = std::time::Instant::now();
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        let mut left = end - start;
        let mut c = Chunk::default();
        c.decode_only = std::env::var_os("RC_DECODE_ONLY").is_some();
        c.offsets.push(0);
        // canonical text is about the size of the input: reserve it so the buffer grows rarely
        c.data.reserve(left as usize);
        let mut buf = vec![0u8; BLOCK];
        let mut have = 0usize; // bytes in buf, a partial line carried over first
        let mut index = 0i64;
        loop {
            if have == buf.len() {
                buf.resize(buf.len() * 2, 0); // a line longer than the block
            }
            let want = ((buf.len() - have) as u64).min(left) as usize;
            let n = if want == 0 { 0 } else { f.read(&mut buf[have..have + want])? };
            left -= n as u64;
            have += n;
            let eof = n == 0;
            // whole lines in buf[..upto]
            let upto = if eof { have } else {
                match memchr::memrchr(b'\n', &buf[..have]) { Some(i) => i + 1, None => continue }
            };
            let block = &buf[..upto];
            match std::str::from_utf8(block) {
                Ok(text) => {
                    let mut a = 0;
                    while a < text.len() {
                        let b = memchr::memchr(b'\n', &text.as_bytes()[a..]).map_or(text.len(), |i| a + i);
                        let line = &text[a..b];
                        if !line.bytes().all(|b| b.is_ascii_whitespace()) {
                            c.line(index, line);
                        }
                        index += 1;
                        a = b + 1;
                    }
                }
                Err(_) => {
                    for line in block.split(|&b| b == b'\n') {
                        if line.is_empty() && line.as_ptr() as usize == block.as_ptr() as usize + block.len() {
                            break;
                        }
                        match std::str::from_utf8(line) {
                            Ok(t) if !t.bytes().all(|b| b.is_ascii_whitespace()) => c.line(index, t),
                            Ok(_) => {}
                            Err(_) => c.bad += 1,
                        }
                        index += 1;
                    }
                }
            }
            buf.copy_within(upto..have, 0);
            have -= upto;
            if eof {
                break;
            }
        }
        c.lines = index;
        if std::env::var_os("RC_TRACE").is_some() {
            eprintln!("chunk {} bytes parsed in {:?}", end - start, t0.elapsed());
        }
        Ok(c)
    }

    /// Map this chunk's name and host ids onto the first chunk's interners; shift line indices.
    fn rebase(&mut self, names: &mut Interner, hosts: &mut Interner, line_offset: i64) {
        let nmap: Vec<u32> = self.names.names.iter().map(|s| names.id(s)).collect();
        let hmap: Vec<u32> = self.hosts.names.iter().map(|s| hosts.id(s)).collect();
        for x in self.name.iter_mut() {
            *x = nmap[*x as usize];
        }
        for x in self.host.iter_mut() {
            *x = hmap[*x as usize];
        }
        for x in self.line.iter_mut() {
            *x += line_offset;
        }
    }
}

pub struct Output {
    chunks: Vec<Chunk>,
    names: Interner,
    hosts: Interner,
    lines: i64,
    bad: i64,
}

fn ingest(path: &str, threads: usize) -> std::io::Result<Output> {
    use std::io::{Read, Seek, SeekFrom};
    let trace = std::env::var_os("RC_TRACE").is_some();
    let t0 = std::time::Instant::now();
    let size = std::fs::metadata(path)?.len();
    let threads = threads.max(1);
    // split points: each at the byte after a newline
    let mut cuts = vec![0u64];
    let mut f = std::fs::File::open(path)?;
    for t in 1..threads {
        let mut at = (size * t as u64 / threads as u64).max(*cuts.last().unwrap());
        let mut probe = vec![0u8; 1 << 16];
        loop {
            f.seek(SeekFrom::Start(at))?;
            let n = f.read(&mut probe)?;
            if n == 0 {
                at = size;
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &probe[..n]) {
                at += i as u64 + 1;
                break;
            }
            at += n as u64;
        }
        cuts.push(at);
    }
    cuts.push(size);
    let mut chunks: Vec<Chunk> = if threads == 1 {
        vec![Chunk::run(path, 0, size)?]
    } else {
        std::thread::scope(|s| {
            let hs: Vec<_> = cuts.windows(2).map(|w| {
                let (a, b) = (w[0], w[1]);
                s.spawn(move || Chunk::run(path, a, b))
            }).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect::<std::io::Result<Vec<_>>>()
        })?
    };
    let mut names = std::mem::take(&mut chunks[0].names);
    let mut hosts = std::mem::take(&mut chunks[0].hosts);
    let mut lines = chunks[0].lines;
    let mut bad = chunks[0].bad;
    for c in chunks.iter_mut().skip(1) {
        c.rebase(&mut names, &mut hosts, lines);
        lines += c.lines;
        bad += c.bad;
    }
    if trace {
        eprintln!("total {:?}", t0.elapsed());
    }
    Ok(Output { chunks, names, hosts, lines, bad })
}

// ---------------------------------------------------------------- C ABI

/// Buffers of one chunk, as (pointer, byte length) pairs, in this order: line i64, name u32,
/// host u32, unix i64, op u8, hash u64, offsets i32, data u8.
#[repr(C)]
pub struct ChunkView {
    rows: i64,
    ptr: [*const u8; 8],
    len: [usize; 8],
}

#[no_mangle]
pub extern "C" fn rc_ingest(path: *const u8, path_len: usize, threads: usize) -> *mut Output {
    let p = unsafe { std::slice::from_raw_parts(path, path_len) };
    let Ok(p) = std::str::from_utf8(p) else { return std::ptr::null_mut() };
    match ingest(p, threads) {
        Ok(o) => Box::into_raw(Box::new(o)),
        Err(_) => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn rc_free(o: *mut Output) {
    if !o.is_null() {
        drop(unsafe { Box::from_raw(o) });
    }
}

#[no_mangle]
pub extern "C" fn rc_chunks(o: &Output) -> usize {
    o.chunks.len()
}

#[no_mangle]
pub extern "C" fn rc_counts(o: &Output, lines: &mut i64, bad: &mut i64) {
    *lines = o.lines;
    *bad = o.bad;
}

fn bytes<T>(v: &[T]) -> (*const u8, usize) {
    (v.as_ptr() as *const u8, std::mem::size_of_val(v))
}

#[no_mangle]
pub extern "C" fn rc_chunk(o: &Output, i: usize, view: &mut ChunkView) {
    let c = &o.chunks[i];
    let parts = [
        bytes(&c.line),
        bytes(&c.name),
        bytes(&c.host),
        bytes(&c.unix),
        bytes(&c.op),
        bytes(&c.hash),
        bytes(&c.offsets),
        bytes(&c.data),
    ];
    view.rows = c.line.len() as i64;
    for (k, (p, n)) in parts.into_iter().enumerate() {
        view.ptr[k] = p;
        view.len[k] = n;
    }
}

/// The interned strings, joined by "\n": which=0 names, 1 hosts. Returns the byte length;
/// copies at most cap bytes into out.
#[no_mangle]
pub extern "C" fn rc_interned(o: &Output, which: u32, out: *mut u8, cap: usize) -> usize {
    let t = if which == 0 { &o.names } else { &o.hosts };
    let joined = t.names.join("\n");
    let n = joined.len().min(cap);
    if !out.is_null() {
        unsafe { std::ptr::copy_nonoverlapping(joined.as_ptr(), out, n) };
    }
    joined.len()
}
