//! The validity intervals of a batch's executions, for every stream at once: the computation of
//! hindsight/intervals/build_sql.py (`build_intervals`, without snapshot deltas), one stream and
//! one execution at a time with each row's open instances as a stack, as apply.py does.
//!
//! Per stream (host, query) and row hash, the open instances are levels 1..count, the oldest
//! lowest (those open before the batch ranked by (_from, _n)). A full execution (snapshot or
//! reset) sets every row's count to its own multiplicity (0 for a row it lacks); a diff first
//! removes (floored at 0: a removed row that is not open is counted, not applied), then adds.
//! Closing takes the highest levels first; an opening takes the next level and keeps it, its
//! `_n` being level - 1. Rows of an execution missing from the executions are ignored.

use ahash::AHashMap as HashMap;

type Stream = (i32, i32);

/// Columns of one input table, borrowed from Arrow buffers.
pub struct Execs<'a> {
    pub host: &'a [i32],
    pub query: &'a [i32],
    pub seq: &'a [i64],
    pub time: &'a [i64],
    pub full: &'a [u8],
}

pub struct Changes<'a> {
    pub host: &'a [i32],
    pub query: &'a [i32],
    pub seq: &'a [i64],
    pub op: &'a [i8],
    pub rh: &'a [u64],
    pub payload: &'a [i64],
}

pub struct OpenBefore<'a> {
    pub host: &'a [i32],
    pub query: &'a [i32],
    pub rh: &'a [u64],
    pub from: &'a [i64],
    pub n: &'a [i16],
}

/// The four outputs, as build_sql's tables: closed_existing (host, query, rh, _from, _n, _to),
/// new_closed (host, query, rh, _from, _to, _n, payload), new_open (host, query, rh, _from, _n,
/// payload), signals (host, query, seq, time, removed_not_open, closed_by_full).
#[derive(Default)]
pub struct Intervals {
    pub ce_host: Vec<i32>,
    pub ce_query: Vec<i32>,
    pub ce_rh: Vec<u64>,
    pub ce_from: Vec<i64>,
    pub ce_n: Vec<i16>,
    pub ce_to: Vec<i64>,
    pub nc_host: Vec<i32>,
    pub nc_query: Vec<i32>,
    pub nc_rh: Vec<u64>,
    pub nc_from: Vec<i64>,
    pub nc_to: Vec<i64>,
    pub nc_n: Vec<i16>,
    pub nc_payload: Vec<i64>,
    pub no_host: Vec<i32>,
    pub no_query: Vec<i32>,
    pub no_rh: Vec<u64>,
    pub no_from: Vec<i64>,
    pub no_n: Vec<i16>,
    pub no_payload: Vec<i64>,
    pub sg_host: Vec<i32>,
    pub sg_query: Vec<i32>,
    pub sg_seq: Vec<i64>,
    pub sg_time: Vec<i64>,
    pub sg_removed_not_open: Vec<i32>,
    pub sg_closed_by_full: Vec<i32>,
}

/// An open instance: since when, its `_n`, and for one opened in the batch its payload.
#[derive(Clone, Copy)]
struct Instance {
    from: i64,
    n: i16,
    payload: Option<i64>,
}

/// One execution's rows per row hash: added, removed, the least payload of the added.
#[derive(Default, Clone, Copy)]
struct Agg {
    a: i64,
    r: i64,
    payload: Option<i64>,
}

struct Exec {
    seq: i64,
    time: i64,
    full: bool,
    rows: HashMap<u64, Agg>,
}

/// The intervals, or None where a row has more instances open at once than `_n` numbers.
/// Changes are matched to their executions by (host, query, seq); one matching none is ignored.
pub fn build(execs: &Execs, changes: &Changes, open: &OpenBefore) -> Option<Intervals> {
    let mut at: HashMap<(Stream, i64), u32> = HashMap::default();
    at.reserve(execs.seq.len());
    for k in 0..execs.seq.len() {
        at.insert(((execs.host[k], execs.query[k]), execs.seq[k]), k as u32);
    }
    let exec: Vec<u32> = (0..changes.seq.len())
        .map(|k| {
            let key = ((changes.host[k], changes.query[k]), changes.seq[k]);
            at.get(&key).copied().unwrap_or(NONE)
        })
        .collect();
    build_indexed(execs, &exec, changes.op, changes.rh, changes.payload, open)
}

/// No execution: a change of `build_indexed` to ignore.
pub const NONE: u32 = u32::MAX;

/// `build`, each change given as the index of its execution in EXECS (NONE: ignored) and its
/// op, row hash and payload.
pub fn build_indexed(
    execs: &Execs,
    exec: &[u32],
    op: &[i8],
    rh: &[u64],
    payload: &[i64],
    open: &OpenBefore,
) -> Option<Intervals> {
    // each execution's rows
    let mut rows: Vec<HashMap<u64, Agg>> = (0..execs.seq.len()).map(|_| HashMap::default()).collect();
    for k in 0..exec.len() {
        let Some(e) = rows.get_mut(exec[k] as usize) else { continue };
        let agg = e.entry(rh[k]).or_default();
        if op[k] > 0 {
            agg.a += 1;
            let p = payload[k];
            agg.payload = Some(agg.payload.map_or(p, |q: i64| q.min(p)));
        } else if execs.full[exec[k] as usize] == 0 {
            agg.r += 1;
        }
    }
    // the executions of each stream, in seq order
    let mut streams: HashMap<Stream, Vec<Exec>> = HashMap::default();
    for (k, rows) in rows.into_iter().enumerate() {
        streams.entry((execs.host[k], execs.query[k])).or_default().push(Exec {
            seq: execs.seq[k],
            time: execs.time[k],
            full: execs.full[k] != 0,
            rows,
        });
    }
    for list in streams.values_mut() {
        list.sort_by_key(|e| e.seq);
    }
    // the instances open before the batch, by stream and row, oldest first
    let mut before: HashMap<Stream, HashMap<u64, Vec<Instance>>> = HashMap::default();
    for k in 0..open.rh.len() {
        before
            .entry((open.host[k], open.query[k]))
            .or_default()
            .entry(open.rh[k])
            .or_default()
            .push(Instance { from: open.from[k], n: open.n[k], payload: None });
    }
    let mut out = Intervals::default();
    for (stream, list) in streams.iter() {
        let mut state = before.remove(stream).unwrap_or_default();
        for stack in state.values_mut() {
            stack.sort_by_key(|i| (i.from, i.n));
        }
        for e in list {
            apply(&mut out, *stream, &mut state, e)?;
        }
        for (rh, stack) in state {
            for inst in stack {
                if let Some(payload) = inst.payload {
                    out.no_host.push(stream.0);
                    out.no_query.push(stream.1);
                    out.no_rh.push(rh);
                    out.no_from.push(inst.from);
                    out.no_n.push(inst.n);
                    out.no_payload.push(payload);
                }
            }
        }
    }
    Some(out)
}

fn apply(
    out: &mut Intervals,
    stream: Stream,
    state: &mut HashMap<u64, Vec<Instance>>,
    e: &Exec,
) -> Option<()> {
    let (mut removed_not_open, mut closed_by_full) = (0i64, 0i64);
    if e.full {
        let absent: Vec<u64> = state.keys().filter(|rh| !e.rows.contains_key(rh)).copied().collect();
        for rh in absent {
            closed_by_full += close(out, stream, state, rh, 0, e.time);
        }
        for (&rh, agg) in &e.rows {
            closed_by_full += close(out, stream, state, rh, agg.a, e.time);
            open(state, rh, agg.a, e.time, agg.payload)?;
        }
    } else {
        for (&rh, agg) in &e.rows {
            let count = state.get(&rh).map_or(0, Vec::len) as i64;
            removed_not_open += (agg.r - count).max(0);
            close(out, stream, state, rh, (count - agg.r).max(0), e.time);
            let target = (count - agg.r).max(0) + agg.a;
            open(state, rh, target, e.time, agg.payload)?;
        }
    }
    if removed_not_open > 0 || closed_by_full > 0 {
        out.sg_host.push(stream.0);
        out.sg_query.push(stream.1);
        out.sg_seq.push(e.seq);
        out.sg_time.push(e.time);
        out.sg_removed_not_open.push(removed_not_open as i32);
        out.sg_closed_by_full.push(closed_by_full as i32);
    }
    Some(())
}

/// Close RH's instances above level KEEP at TIME; returns how many.
fn close(
    out: &mut Intervals,
    stream: Stream,
    state: &mut HashMap<u64, Vec<Instance>>,
    rh: u64,
    keep: i64,
    time: i64,
) -> i64 {
    let Some(stack) = state.get_mut(&rh) else { return 0 };
    let mut closed = 0;
    while stack.len() as i64 > keep {
        let inst = stack.pop().unwrap();
        closed += 1;
        match inst.payload {
            None => {
                out.ce_host.push(stream.0);
                out.ce_query.push(stream.1);
                out.ce_rh.push(rh);
                out.ce_from.push(inst.from);
                out.ce_n.push(inst.n);
                out.ce_to.push(time);
            }
            Some(payload) if time > inst.from => {
                out.nc_host.push(stream.0);
                out.nc_query.push(stream.1);
                out.nc_rh.push(rh);
                out.nc_from.push(inst.from);
                out.nc_to.push(time);
                out.nc_n.push(inst.n);
                out.nc_payload.push(payload);
            }
            Some(_) => {} // opened and closed at one instant: no interval
        }
    }
    if stack.is_empty() {
        state.remove(&rh);
    }
    closed
}

/// Open RH's instances up to level TARGET at TIME, with PAYLOAD; None past `_n`'s range.
fn open(
    state: &mut HashMap<u64, Vec<Instance>>,
    rh: u64,
    target: i64,
    time: i64,
    payload: Option<i64>,
) -> Option<()> {
    let count = state.get(&rh).map_or(0, Vec::len) as i64;
    if target <= count {
        return Some(());
    }
    if target - 1 > i64::from(i16::MAX) {
        return None;
    }
    // an added row always has a payload (its execution's least); a count above the open
    // instances is only ever reached by adding
    let payload = payload.unwrap_or(i64::MIN);
    let stack = state.entry(rh).or_default();
    for level in count + 1..=target {
        stack.push(Instance { from: time, n: (level - 1) as i16, payload: Some(payload) });
    }
    Some(())
}
