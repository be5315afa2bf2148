//! Hindsight's native fast path for the first stage of ingest: a batch of osquery result lines
//! parsed into the columns the SQL path (hindsight/store/normalise.py) would compute, for every
//! line this path can vouch for; the others are handed back, deferred, to the SQL path, which
//! stays the reference (tests compare the two row by row).
//!
//! A C ABI, loaded with ctypes (hindsight/store/native.py); the columns are read without a
//! copy as Arrow buffers, and live until `hs_free`.

mod columnar;
mod duck;
mod intervals;
mod json;
mod keys;
mod line;
mod members;
mod segments;
mod streams;

use line::{flatten, keys, order, render, subset, Defer};
use ahash::AHashMap as HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::slice;

/// The columns of a parsed batch, in the order of `Column` ids (see native.py).
#[derive(Default)]
pub struct Batch {
    // accepted lines
    l_i: Vec<i32>,
    l_t: Vec<i64>,
    l_epoch: Vec<i64>,
    l_counter: Vec<i64>,
    l_counter_valid: Bitmap,
    l_shape: Vec<u8>,
    l_n_add: Vec<i32>,
    l_n_rem: Vec<i32>,
    l_host_key: Text,
    l_identifier: Text,
    l_name: Text,
    // their rows
    r_line: Vec<i32>,
    r_op: Vec<i8>,
    r_rh_state: Vec<u64>,
    r_rh_text: Vec<u64>,
    r_text: Text,
    // each row's `time` member as an event's typed insert reads it (members.rs): its value, and
    // whether it is NULL (0: none, null or ''), a value (1), or of another form (2)
    r_time: Vec<i64>,
    r_time_state: Vec<u8>,
    // each row's position (0, 1, ...): how the writer finds a row's text (`ref`)
    r_ref: Vec<i64>,
    // per accepted line, the wrapping sums of its added and removed rows' identities, as state
    // rows and as event rows (normalise.LINE_SUMS), and its signature: an index in `signatures`
    l_sa_state: Vec<u64>,
    l_sa_text: Vec<u64>,
    l_sr_state: Vec<u64>,
    l_sr_text: Vec<u64>,
    // the distinct (query name, its first row's member names) of the accepted lines, each as
    // a JSON array of strings (normalise.query_columns)
    signatures: Text,
    signature_ids: HashMap<Vec<u8>, u32>,
    signature: Vec<u8>,      // the line's, being built
    last_signature: Vec<u8>, // the line before's
    // the line before's query name and its first row's member names, in the line's order,
    // each ended by 0xFF (no UTF-8 byte), and the positions of those members by name: the
    // usual line has them too (then neither sorted nor its signature written again)
    last_shape: Vec<u8>,
    last_order: Vec<usize>,
    // lines left to the SQL path
    deferred: Vec<i32>,
}

/// A string column: Arrow's large_string offsets and data.
struct Text {
    offsets: Vec<i64>,
    data: Vec<u8>,
}

impl Default for Text {
    fn default() -> Self {
        Text { offsets: vec![0], data: Vec::new() }
    }
}

impl Text {
    fn push(&mut self, s: &[u8]) {
        self.data.extend_from_slice(s);
        self.end();
    }
    fn end(&mut self) {
        self.offsets.push(self.data.len() as i64);
    }
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    fn truncate(&mut self, n: usize) {
        self.offsets.truncate(n + 1);
        self.data.truncate(self.offsets[n] as usize);
    }
}

/// An Arrow validity bitmap.
#[derive(Default)]
struct Bitmap {
    bytes: Vec<u8>,
    len: usize,
}

impl Bitmap {
    fn push(&mut self, valid: bool) {
        if self.len % 8 == 0 {
            self.bytes.push(0);
        }
        if valid {
            *self.bytes.last_mut().unwrap() |= 1 << (self.len % 8);
        }
        self.len += 1;
    }
}

impl Batch {
    fn add(&mut self, i: i32, raw: &[u8]) -> Result<(), Defer> {
        // the SQL reads a line that starts with '{'; a trailing byte is the SQL path's to judge
        if raw.first() != Some(&b'{') || raw.last() != Some(&b'}') {
            return Err(Defer);
        }
        // checked as UTF-8 once here, not string by string by the decoder (a line that is not
        // UTF-8 is the SQL path's either way)
        let text = std::str::from_utf8(raw).map_err(|_| Defer)?;
        let decoded: json::Line = serde_json::from_str(text).map_err(|_| Defer)?;
        let (h, added, removed) = flatten(decoded)?;
        // every row's members are among the first row's (the query's columns are read from
        // each line's first row): then a state row's identity over its own members is the one
        // over the query's columns
        let first = added.first().or(removed.first());
        let same_shape = self.same_shape(&h.name, first);
        let fresh_order = match first {
            Some(row) if !same_shape => Some(order(row)?),
            _ => None,
        };
        let first_keys: Vec<&str> = match first {
            Some(row) => fresh_order.as_ref().unwrap_or(&self.last_order).iter().map(|&p| row.0[p].0.as_ref()).collect(),
            None => Vec::new(),
        };
        let rows_before = self.r_text.len();
        let mut ok = true;
        'rows: for (op, rows) in [(1i8, &added), (-1i8, &removed)] {
            for row in rows.iter() {
                // (the usual row has the first row's members in its order: nothing to sort)
                let same = first.is_some_and(|f| {
                    f.0.len() == row.0.len() && f.0.iter().zip(&row.0).all(|(a, b)| a.0 == b.0)
                });
                if !same {
                    match keys(row) {
                        Ok(k) if subset(&k, &first_keys) => {}
                        _ => {
                            ok = false;
                            break 'rows;
                        }
                    }
                }
                let start = self.r_text.data.len();
                let rh = render(row, &mut self.r_text.data);
                self.r_rh_text.push(duck::hash(&self.r_text.data[start..]));
                self.r_text.end();
                self.r_rh_state.push(rh);
                self.r_op.push(op);
                self.r_line.push(self.l_i.len() as i32);
                let (time, state) = row_time(row);
                self.r_time.push(time);
                self.r_time_state.push(state);
            }
        }
        if !ok {
            self.r_text.truncate(rows_before);
            for v in [&mut self.r_rh_text, &mut self.r_rh_state] {
                v.truncate(rows_before);
            }
            self.r_time.truncate(rows_before);
            self.r_time_state.truncate(rows_before);
            self.r_op.truncate(rows_before);
            self.r_line.truncate(rows_before);
            return Err(Defer);
        }
        let mut sums = [0u64; 4];
        for r in rows_before..self.r_text.len() {
            let k = if self.r_op[r] > 0 { 0 } else { 2 };
            sums[k] = sums[k].wrapping_add(self.r_rh_state[r]);
            sums[k + 1] = sums[k + 1].wrapping_add(self.r_rh_text[r]);
        }
        self.l_sa_state.push(sums[0]);
        self.l_sa_text.push(sums[1]);
        self.l_sr_state.push(sums[2]);
        self.l_sr_text.push(sums[3]);
        if !same_shape {
            self.signed(&h.name, &first_keys);
            self.last_shape.clear();
            self.last_shape.extend_from_slice(h.name.as_bytes());
            self.last_shape.push(0xFF);
            for (k, _) in first.map_or(&[][..], |row| &row.0[..]) {
                self.last_shape.extend_from_slice(k.as_bytes());
                self.last_shape.push(0xFF);
            }
            self.last_order = fresh_order.unwrap_or_default();
        }
        self.l_i.push(i);
        self.l_t.push(h.t);
        self.l_epoch.push(h.epoch);
        self.l_counter.push(h.counter.unwrap_or(0));
        self.l_counter_valid.push(h.counter.is_some());
        self.l_shape.push(h.shape);
        self.l_n_add.push(added.len() as i32);
        self.l_n_rem.push(removed.len() as i32);
        self.l_host_key.push(h.host_key.as_bytes());
        self.l_identifier.push(h.identifier.as_bytes());
        self.l_name.push(h.name.as_bytes());
        Ok(())
    }

    /// Whether NAME and the member names of ROW, in its order, are the line before's.
    fn same_shape(&self, name: &str, row: Option<&json::Row>) -> bool {
        let shape = &self.last_shape;
        let mut at = 0;
        let mut next = |text: &[u8]| {
            let end = at + text.len();
            let same = shape.get(at..end) == Some(text) && shape.get(end) == Some(&0xFF);
            at = end + 1;
            same
        };
        next(name.as_bytes())
            && row.map_or(true, |r| r.0.iter().all(|(k, _)| next(k.as_bytes())))
            && at == shape.len()
    }

    /// The line's signature, of query NAME and its first row's sorted member names KEYS,
    /// recorded among the distinct ones.
    fn signed(&mut self, name: &str, keys: &[&str]) {
        let signature = &mut self.signature;
        signature.clear();
        signature.push(b'[');
        line::put_str(signature, name);
        for k in keys {
            signature.push(b',');
            line::put_str(signature, k);
        }
        signature.push(b']');
        // (a line of another query, or columns, often has a signature seen before)
        if *signature != self.last_signature {
            if !self.signature_ids.contains_key(signature.as_slice()) {
                self.signatures.push(signature);
                self.signature_ids.insert(signature.clone(), self.signature_ids.len() as u32);
            }
            std::mem::swap(&mut self.last_signature, &mut self.signature);
        }
    }

    /// Column WHICH as (pointer, length in bytes, rows).
    fn column(&self, which: u32) -> (*const u8, usize) {
        fn raw<T>(v: &[T]) -> (*const u8, usize) {
            (v.as_ptr() as *const u8, std::mem::size_of_val(v))
        }
        match which {
            0 => raw(&self.l_i),
            1 => raw(&self.l_t),
            2 => raw(&self.l_epoch),
            3 => raw(&self.l_counter),
            4 => raw(&self.l_counter_valid.bytes),
            5 => raw(&self.l_shape),
            6 => raw(&self.l_n_add),
            7 => raw(&self.l_n_rem),
            8 => raw(&self.l_host_key.offsets),
            9 => raw(&self.l_host_key.data),
            10 => raw(&self.l_identifier.offsets),
            11 => raw(&self.l_identifier.data),
            12 => raw(&self.l_name.offsets),
            13 => raw(&self.l_name.data),
            14 => raw(&self.r_line),
            15 => raw(&self.r_op),
            16 => raw(&self.r_rh_state),
            17 => raw(&self.r_rh_text),
            18 => raw(&self.r_text.offsets),
            19 => raw(&self.r_text.data),
            20 => raw(&self.deferred),
            21 => raw(&self.l_sa_state),
            22 => raw(&self.l_sa_text),
            23 => raw(&self.l_sr_state),
            24 => raw(&self.l_sr_text),
            25 => raw(&self.signatures.offsets),
            26 => raw(&self.signatures.data),
            27 => raw(&self.r_time),
            28 => raw(&self.r_time_state),
            29 => raw(&self.r_ref),
            _ => (std::ptr::null(), 0),
        }
    }
}

/// ROW's member `time` read as a BIGINT as the typed insert of events reads it (members.rs):
/// (value, 1), (0, 0) for NULL (no such member, null, or ''), (0, 2) for any other form.
fn row_time(row: &json::Row) -> (i64, u8) {
    let Some((_, value)) = row.0.iter().find(|(k, _)| k == "time") else { return (0, 0) };
    let read = match value {
        json::Scalar::I(i) => Some(Some(*i as u64)),
        json::Scalar::U(u) => i64::try_from(*u).ok().map(|v| Some(v as u64)),
        json::Scalar::Str(s) => members::typed(s.as_bytes(), members::Kind::BigInt),
        json::Scalar::Null => Some(None),
        json::Scalar::B(_) => None,
    };
    match read {
        Some(Some(bits)) => (bits as i64, 1),
        Some(None) => (0, 0),
        None => (0, 2),
    }
}

/// BUILD's result boxed for the caller, or null if it panicked (a bug: the caller says so and
/// names the way around it; no unwinding crosses the C boundary).
fn boxed<T>(build: impl FnOnce() -> Option<T>) -> *mut T {
    match panic::catch_unwind(AssertUnwindSafe(build)) {
        Ok(Some(value)) => Box::into_raw(Box::new(value)),
        _ => std::ptr::null_mut(),
    }
}

/// Parse the lines held in N segments (segments.rs: DATA, LENS, NLS, COUNTS). Null on a
/// failure; free with `hs_free`.
///
/// # Safety
/// As `segments::lines`.
#[no_mangle]
pub unsafe extern "C" fn hs_parse(
    n: usize,
    data: *const *const u8,
    lens: *const usize,
    nls: *const *const i64,
    counts: *const usize,
) -> *mut Batch {
    let lines = segments::lines(n, data, lens, nls, counts);
    boxed(|| {
        let mut batch = Batch::default();
        // the rows' texts take about the lines' bytes: grown once, not copied as they grow
        batch.r_text.data.reserve(lines.iter().map(|l| l.len()).sum());
        for (k, raw) in lines.iter().enumerate() {
            if batch.add(k as i32, raw).is_err() {
                batch.deferred.push(k as i32);
            }
        }
        batch.r_ref = (0..batch.r_op.len() as i64).collect();
        Some(batch)
    })
}

/// The newlines of the LEN bytes at DATA (segments::newlines), up to CAP of them written to
/// OUT; INFO gets the longest line between two of them and whether one is blank (0 or 1).
/// Returns how many there are (all of them, whether or not CAP held them).
///
/// # Safety
/// DATA valid for LEN bytes, OUT for CAP i64s, INFO for two.
#[no_mangle]
pub unsafe extern "C" fn hs_newlines(data: *const u8, len: usize, out: *mut i64, cap: usize, info: *mut i64) -> usize {
    let found = segments::newlines(view(data, len));
    let n = found.at.len();
    std::ptr::copy_nonoverlapping(found.at.as_ptr(), out, n.min(cap));
    *info = found.longest;
    *info.add(1) = i64::from(found.blank);
    n
}

/// Counts of BATCH: accepted lines, their rows, deferred lines, signatures.
///
/// # Safety
/// BATCH must come from `hs_parse` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_counts(batch: *const Batch, out: *mut usize) {
    let b = &*batch;
    *out = b.l_i.len();
    *out.add(1) = b.r_line.len();
    *out.add(2) = b.deferred.len();
    *out.add(3) = b.signatures.len();
}

/// Column WHICH of BATCH: its address and length in bytes.
///
/// # Safety
/// BATCH must come from `hs_parse` and not be freed; OUT must hold two words.
#[no_mangle]
pub unsafe extern "C" fn hs_column(batch: *const Batch, which: u32, ptr: *mut *const u8, len: *mut usize) {
    let (p, l) = (*batch).column(which);
    *ptr = p;
    *len = l;
}

/// Free BATCH.
///
/// # Safety
/// BATCH must come from `hs_parse`, freed once.
#[no_mangle]
pub unsafe extern "C" fn hs_free(batch: *mut Batch) {
    drop(Box::from_raw(batch));
}

/// DuckDB's `hash()` of the string at DATA, as computed here (checked against DuckDB at load).
///
/// # Safety
/// DATA must be valid for LEN bytes.
#[no_mangle]
pub unsafe extern "C" fn hs_duckdb_hash(data: *const u8, len: usize) -> u64 {
    duck::hash(view(data, len))
}

/// A typed slice of N values at P (an empty one for N = 0, whatever P is).
unsafe fn view<'a, T>(p: *const u8, n: usize) -> &'a [T] {
    if n == 0 {
        &[]
    } else {
        slice::from_raw_parts(p as *const T, n)
    }
}

/// The intervals of a batch (intervals.rs) from its executions (host, query, seq, time, full:
/// columns 0-4 of COLS), its changes (host, query, seq, op, rh, payload: 5-10) and the instances
/// open before it (host, query, rh, _from, _n: 11-15). Null on a failure (a row with more
/// instances open at once than `_n`, a SMALLINT, numbers); free with `hs_iv_free`.
///
/// # Safety
/// COLS must hold 16 pointers to columns of those types and lengths.
#[no_mangle]
pub unsafe extern "C" fn hs_intervals(
    cols: *const *const u8,
    n_execs: usize,
    n_changes: usize,
    n_open: usize,
) -> *mut intervals::Intervals {
    let c = slice::from_raw_parts(cols, 16);
    let execs = intervals::Execs {
        host: view(c[0], n_execs),
        query: view(c[1], n_execs),
        seq: view(c[2], n_execs),
        time: view(c[3], n_execs),
        full: view(c[4], n_execs),
    };
    let changes = intervals::Changes {
        host: view(c[5], n_changes),
        query: view(c[6], n_changes),
        seq: view(c[7], n_changes),
        op: view(c[8], n_changes),
        rh: view(c[9], n_changes),
        payload: view(c[10], n_changes),
    };
    let open = intervals::OpenBefore {
        host: view(c[11], n_open),
        query: view(c[12], n_open),
        rh: view(c[13], n_open),
        from: view(c[14], n_open),
        n: view(c[15], n_open),
    };
    boxed(|| intervals::build(&execs, &changes, &open))
}

fn raw<T>(v: &[T]) -> (*const u8, usize) {
    (v.as_ptr() as *const u8, v.len())
}

/// Column WHICH (0-24) of the intervals, in the order of intervals::Intervals' fields.
fn iv_column(o: &intervals::Intervals, which: u32) -> (*const u8, usize) {
    match which {
        0 => raw(&o.ce_host),
        1 => raw(&o.ce_query),
        2 => raw(&o.ce_rh),
        3 => raw(&o.ce_from),
        4 => raw(&o.ce_n),
        5 => raw(&o.ce_to),
        6 => raw(&o.nc_host),
        7 => raw(&o.nc_query),
        8 => raw(&o.nc_rh),
        9 => raw(&o.nc_from),
        10 => raw(&o.nc_to),
        11 => raw(&o.nc_n),
        12 => raw(&o.nc_payload),
        13 => raw(&o.no_host),
        14 => raw(&o.no_query),
        15 => raw(&o.no_rh),
        16 => raw(&o.no_from),
        17 => raw(&o.no_n),
        18 => raw(&o.no_payload),
        19 => raw(&o.sg_host),
        20 => raw(&o.sg_query),
        21 => raw(&o.sg_seq),
        22 => raw(&o.sg_time),
        23 => raw(&o.sg_removed_not_open),
        24 => raw(&o.sg_closed_by_full),
        _ => (std::ptr::null(), 0),
    }
}

/// Column WHICH (0-17) of the executions, in the order of streams::Executions' fields.
fn ex_column(e: &streams::Executions, which: u32) -> (*const u8, usize) {
    match which {
        0 => raw(&e.src),
        1 => raw(&e.host),
        2 => raw(&e.query),
        3 => raw(&e.seq),
        4 => raw(&e.time),
        5 => raw(&e.epoch),
        6 => raw(&e.counter),
        7 => raw(&e.counter_valid),
        8 => raw(&e.ckey),
        9 => raw(&e.snap),
        10 => raw(&e.added),
        11 => raw(&e.removed),
        12 => raw(&e.extended),
        13 => raw(&e.full_set),
        14 => raw(&e.counter_gap),
        15 => raw(&e.prev_counter),
        16 => raw(&e.prev_counter_valid),
        17 => raw(&e.reset_with_removed),
        _ => (std::ptr::null(), 0),
    }
}

/// Column WHICH of IV (intervals::Intervals' fields in order): its address and length in
/// values.
///
/// # Safety
/// IV must come from `hs_intervals` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_iv_column(iv: *const intervals::Intervals, which: u32, ptr: *mut *const u8, len: *mut usize) {
    (*ptr, *len) = iv_column(&*iv, which);
}

/// Free IV.
///
/// # Safety
/// IV must come from `hs_intervals`, freed once.
#[no_mangle]
pub unsafe extern "C" fn hs_iv_free(iv: *mut intervals::Intervals) {
    drop(Box::from_raw(iv));
}

/// A batch's lines applied to their streams (streams.rs): executions and intervals.
pub struct Applied {
    ex: streams::Executions,
    iv: intervals::Intervals,
}

/// The executions and intervals of a batch's lines (src, i, host, query, t, epoch, counter,
/// counter valid, snap, n_add, n_rem: columns 0-10 of COLS), given the streams' positions
/// (host, query, epoch, counter, counter valid: 11-15), its rows (src, i, op, rh, ref: 16-20)
/// and the instances open before it (host, query, rh, _from, _n: 21-25). Null on a failure
/// (as `hs_intervals`); free with `hs_ap_free`.
///
/// # Safety
/// COLS must hold 26 pointers to columns of those types and lengths (N: lines, positions,
/// rows, open instances).
#[no_mangle]
pub unsafe extern "C" fn hs_apply(cols: *const *const u8, n: *const usize) -> *mut Applied {
    let c = slice::from_raw_parts(cols, 26);
    let n = slice::from_raw_parts(n, 4);
    let lines = streams::Lines {
        src: view(c[0], n[0]),
        i: view(c[1], n[0]),
        host: view(c[2], n[0]),
        query: view(c[3], n[0]),
        t: view(c[4], n[0]),
        epoch: view(c[5], n[0]),
        counter: view(c[6], n[0]),
        counter_valid: view(c[7], n[0]),
        snap: view(c[8], n[0]),
        n_add: view(c[9], n[0]),
        n_rem: view(c[10], n[0]),
    };
    let positions = streams::Positions {
        host: view(c[11], n[1]),
        query: view(c[12], n[1]),
        epoch: view(c[13], n[1]),
        counter: view(c[14], n[1]),
        counter_valid: view(c[15], n[1]),
    };
    let rows = streams::Rows {
        src: view(c[16], n[2]),
        i: view(c[17], n[2]),
        op: view(c[18], n[2]),
        rh: view(c[19], n[2]),
        reference: view(c[20], n[2]),
    };
    let open = intervals::OpenBefore {
        host: view(c[21], n[3]),
        query: view(c[22], n[3]),
        rh: view(c[23], n[3]),
        from: view(c[24], n[3]),
        n: view(c[25], n[3]),
    };
    boxed(|| streams::apply(&lines, &positions, &rows, &open).map(|(ex, iv)| Applied { ex, iv }))
}

/// Column WHICH of AP: 0-24 its intervals' (as `hs_iv_column`), 100-117 its executions'.
///
/// # Safety
/// AP must come from `hs_apply` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_ap_column(ap: *const Applied, which: u32, ptr: *mut *const u8, len: *mut usize) {
    let ap = &*ap;
    (*ptr, *len) = if which >= 100 { ex_column(&ap.ex, which - 100) } else { iv_column(&ap.iv, which) };
}

/// Free AP.
///
/// # Safety
/// AP must come from `hs_apply`, freed once.
#[no_mangle]
pub unsafe extern "C" fn hs_ap_free(ap: *mut Applied) {
    drop(Box::from_raw(ap));
}

/// A string column of N values from its Arrow offsets (N + 1) and data.
unsafe fn strings<'a>(offsets: *const u8, data: *const u8, n: usize) -> keys::Strings<'a> {
    let offsets: &[i64] = view(offsets, n + 1);
    let end = offsets.last().copied().unwrap_or(0) as usize;
    keys::Strings { offsets, data: view(data, end) }
}

/// The dedupe keys (keys.rs) of N lines (i, host, query, t, epoch, ckey, shape, sa, na, sr,
/// nr, status, raw_hash: COLS 0-15, a string as its offsets and data) and, if UNITS, their
/// units (unit, body, given occurrence and its flag: 16-19). Null on a failure; free with
/// `hs_keys_free`.
///
/// # Safety
/// COLS must hold 20 pointers to columns of those types and length N.
#[no_mangle]
pub unsafe extern "C" fn hs_keys(cols: *const *const u8, n: usize, units: u8) -> *mut keys::Keys {
    let c = slice::from_raw_parts(cols, 20);
    let u = if units != 0 { n } else { 0 };
    let lines = keys::Lines {
        i: view(c[0], n),
        host: strings(c[1], c[2], n),
        query: strings(c[3], c[4], n),
        t: view(c[5], n),
        epoch: view(c[6], n),
        ckey: view(c[7], n),
        shape: strings(c[8], c[9], n),
        sa: view(c[10], n),
        na: view(c[11], n),
        sr: view(c[12], n),
        nr: view(c[13], n),
        status: view(c[14], n),
        raw_hash: view(c[15], n),
        unit: view(c[16], u),
        body: view(c[17], u),
        given: view(c[18], u),
        given_valid: view(c[19], u),
    };
    boxed(|| Some(keys::keys(&lines)))
}

/// Column WHICH (i, t, key, occ, dup) of KEYS.
///
/// # Safety
/// KEYS must come from `hs_keys` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_keys_column(k: *const keys::Keys, which: u32, ptr: *mut *const u8, len: *mut usize) {
    let k = &*k;
    (*ptr, *len) = match which {
        0 => raw(&k.i),
        1 => raw(&k.t),
        2 => raw(&k.key),
        3 => raw(&k.occ),
        4 => raw(&k.dup),
        _ => (std::ptr::null(), 0),
    };
}

/// Free KEYS.
///
/// # Safety
/// KEYS must come from `hs_keys`, freed once.
#[no_mangle]
pub unsafe extern "C" fn hs_keys_free(k: *mut keys::Keys) {
    drop(Box::from_raw(k));
}

/// DuckDB's `hash()` of a BIGINT, as computed here (checked against DuckDB at load).
#[no_mangle]
pub extern "C" fn hs_duckdb_hash_i64(v: i64) -> u64 {
    duck::hash_i64(v)
}

/// DuckDB's fold of a further argument's hash B into `hash(...)`'s A (checked at load).
#[no_mangle]
pub extern "C" fn hs_duckdb_combine(a: u64, b: u64) -> u64 {
    duck::combine(a, b)
}

/// The raw archive's chunk of each stream (columnar.rs): of the lines held in N segments (as
/// `hs_parse` takes them), those at ORDER (N_ORDER indexes; none: all, in order), stream s of
/// them up to STREAM_ENDS[s]. Null on a failure; free with `hs_pack_free`.
///
/// # Safety
/// The segments as for `hs_parse`; ORDER indexes below their lines; STREAM_ENDS must hold
/// N_STREAMS non-decreasing counts, the last at most N_ORDER (the lines without ORDER).
#[no_mangle]
pub unsafe extern "C" fn hs_pack(
    n: usize,
    data: *const *const u8,
    lens: *const usize,
    nls: *const *const i64,
    counts: *const usize,
    order: *const i64,
    n_order: usize,
    stream_ends: *const i64,
    n_streams: usize,
) -> *mut columnar::Packed {
    let lines = segments::lines(n, data, lens, nls, counts);
    let order = view(order as *const u8, n_order);
    let ends = view(stream_ends as *const u8, n_streams);
    boxed(|| Some(columnar::pack(&lines, order, ends)))
}

/// Column WHICH (0: the chunks' bytes, 1: their ends) of PACKED.
///
/// # Safety
/// PACKED must come from `hs_pack` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_pack_column(p: *const columnar::Packed, which: u32, ptr: *mut *const u8, len: *mut usize) {
    let p = &*p;
    (*ptr, *len) = match which {
        0 => raw(&p.data),
        1 => raw(&p.ends),
        _ => (std::ptr::null(), 0),
    };
}

/// Free PACKED.
///
/// # Safety
/// PACKED must come from `hs_pack`, freed once.
#[no_mangle]
pub unsafe extern "C" fn hs_pack_free(p: *mut columnar::Packed) {
    drop(Box::from_raw(p));
}

/// The lines of the chunk by column at DATA (columnar.rs), joined by `\n`, as a `Packed` of one
/// chunk; null when it is damaged. Free with `hs_pack_free`.
///
/// # Safety
/// DATA must be valid for LEN bytes.
#[no_mangle]
pub unsafe extern "C" fn hs_unpack(data: *const u8, len: usize) -> *mut columnar::Packed {
    let data: &[u8] = view(data, len);
    boxed(|| {
        let out = columnar::unpack(data)?;
        let end = out.len() as i64;
        Some(columnar::Packed { data: out, ends: vec![end] })
    })
}

/// The rows CHOSEN (N_CHOSEN indexes among the N_ROWS JSON texts at ROW_OFFSETS, ROW_DATA: a
/// large_string column of the rows `hs_parse` rendered) read into the columns named by NAMES
/// (N_NAMES, as offsets and data), each value as text or of the type KINDS gives (N_NAMES
/// codes, members.rs `Kind`). Null when a row is not in the rendered form, or a code unknown;
/// free with `hs_mem_free`.
///
/// # Safety
/// The offsets must hold N_ROWS + 1 (N_NAMES + 1) values within their data, CHOSEN N_CHOSEN,
/// KINDS N_NAMES.
#[no_mangle]
pub unsafe extern "C" fn hs_members(
    row_offsets: *const u8,
    row_data: *const u8,
    n_rows: usize,
    chosen: *const u8,
    n_chosen: usize,
    name_offsets: *const u8,
    name_data: *const u8,
    n_names: usize,
    kinds: *const u8,
) -> *mut members::Columns {
    let rows = strings(row_offsets, row_data, n_rows);
    let chosen: &[i64] = view(chosen, n_chosen);
    let names = strings(name_offsets, name_data, n_names);
    let kinds: &[u8] = view(kinds, n_names);
    boxed(|| {
        let names: Vec<&[u8]> = (0..n_names).map(|k| names.get(k)).collect();
        let kinds = kinds.iter().map(|&k| members::Kind::of(k)).collect::<Option<Vec<_>>>()?;
        members::extract(&rows, chosen, &names, &kinds)
    })
}

/// Whether COLUMNS read every value asked for typed so (else they are empty: ask for text).
///
/// # Safety
/// COLUMNS must come from `hs_members` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_mem_typed(c: *const members::Columns) -> u8 {
    u8::from((*c).typed)
}

/// Column WHICH of COLUMNS: 3 per name (offsets, data, validity bitmap), in bytes.
///
/// # Safety
/// COLUMNS must come from `hs_members` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn hs_mem_column(c: *const members::Columns, which: u32, ptr: *mut *const u8, len: *mut usize) {
    let c = &*c;
    let which = which as usize;
    (*ptr, *len) = match c.columns.get(which / 3) {
        Some(col) => match which % 3 {
            0 => (col.offsets.as_ptr() as *const u8, col.offsets.len() * 8),
            1 => (col.data.as_ptr(), col.data.len()),
            _ => (col.valid.as_ptr(), col.valid.len()),
        },
        None => (std::ptr::null(), 0),
    };
}

/// Whether the LEN bytes at DATA hold either of the needles (A_LEN bytes at A, B_LEN at B):
/// the reader's test of a block of lines for a line it must read one at a time (memchr's
/// SIMD search, without the GIL: in Python the two searches took a core's 60 ms per 90 MB).
///
/// # Safety
/// Each pointer must be valid for its length.
#[no_mangle]
pub unsafe extern "C" fn hs_holds(data: *const u8, len: usize, a: *const u8, a_len: usize, b: *const u8, b_len: usize) -> u8 {
    let data: &[u8] = view(data, len);
    let found = [(a, a_len), (b, b_len)].iter().any(|&(n, n_len)| memchr::memmem::find(data, view(n, n_len)).is_some());
    u8::from(found)
}

/// Free COLUMNS.
///
/// # Safety
/// COLUMNS must come from `hs_members`, freed once.
#[no_mangle]
pub unsafe extern "C" fn hs_mem_free(c: *mut members::Columns) {
    drop(Box::from_raw(c));
}
