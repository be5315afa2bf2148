//! A batch's lines applied to their streams in one pass: the executions grouped and classified
//! (hindsight/intervals/classify_sql.py, `executions_sql`), each row mapped to its execution
//! (the `_changes` of store/streams.py), then the intervals built (intervals.rs).

use crate::intervals::{self, Intervals};
use std::collections::HashMap;

pub struct Lines<'a> {
    pub src: &'a [i32],
    pub i: &'a [i32],
    pub host: &'a [i32],
    pub query: &'a [i32],
    pub t: &'a [i64],
    pub epoch: &'a [i64],
    pub counter: &'a [i64],
    pub counter_valid: &'a [u8],
    pub snap: &'a [u8],
    pub n_add: &'a [i32],
    pub n_rem: &'a [i32],
}

pub struct Positions<'a> {
    pub host: &'a [i32],
    pub query: &'a [i32],
    pub epoch: &'a [i64],
    pub counter: &'a [i64],
    pub counter_valid: &'a [u8],
}

pub struct Rows<'a> {
    pub src: &'a [i32],
    pub i: &'a [i32],
    pub op: &'a [i8],
    pub rh: &'a [u64],
    pub reference: &'a [i64],
}

/// The executions (`executions_sql`'s `execs`), one per element.
#[derive(Default)]
pub struct Executions {
    pub src: Vec<i32>,
    pub host: Vec<i32>,
    pub query: Vec<i32>,
    pub seq: Vec<i64>,
    pub time: Vec<i64>,
    pub epoch: Vec<i64>,
    pub counter: Vec<i64>,
    pub counter_valid: Vec<u8>,
    pub ckey: Vec<i64>,
    pub snap: Vec<u8>,
    pub added: Vec<i32>,
    pub removed: Vec<i32>,
    pub extended: Vec<u8>,
    pub full_set: Vec<u8>,
    pub counter_gap: Vec<u8>,
    pub prev_counter: Vec<i64>,
    pub prev_counter_valid: Vec<u8>,
    pub reset_with_removed: Vec<u8>,
}

/// An execution's key within its stream and source: (time, epoch, counter, snapshot).
type Key = (i64, i64, Option<i64>, bool);

struct Group {
    src: i32,
    host: i32,
    query: i32,
    key: Key,
    added: i64,
    removed: i64,
    seq: i64,
    full: bool,
}

pub fn apply(
    lines: &Lines,
    positions: &Positions,
    rows: &Rows,
    open: &intervals::OpenBefore,
) -> Option<(Executions, Intervals)> {
    // the executions: lines of one (source, stream, key) together
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(i32, i32, i32, Key), usize> = HashMap::new();
    let mut line_group: HashMap<(i32, i32), usize> = HashMap::with_capacity(lines.i.len());
    for k in 0..lines.i.len() {
        let counter = (lines.counter_valid[k] != 0).then_some(lines.counter[k]);
        let key = (lines.t[k], lines.epoch[k], counter, lines.snap[k] != 0);
        let at = (lines.src[k], lines.host[k], lines.query[k], key);
        let g = *index.entry(at).or_insert_with(|| {
            groups.push(Group {
                src: at.0,
                host: at.1,
                query: at.2,
                key,
                added: 0,
                removed: 0,
                seq: 0,
                full: false,
            });
            groups.len() - 1
        });
        groups[g].added += i64::from(lines.n_add[k]);
        groups[g].removed += i64::from(lines.n_rem[k]);
        line_group.insert((lines.src[k], lines.i[k]), g);
    }
    let mut position: HashMap<(i32, i32), (i64, Option<i64>)> = HashMap::new();
    for k in 0..positions.host.len() {
        let counter = (positions.counter_valid[k] != 0).then_some(positions.counter[k]);
        position.insert((positions.host[k], positions.query[k]), (positions.epoch[k], counter));
    }
    // each stream's executions in key order (time, epoch, counter or -1, snapshot)
    let mut streams: HashMap<(i32, i32), Vec<usize>> = HashMap::new();
    for (g, group) in groups.iter().enumerate() {
        streams.entry((group.host, group.query)).or_default().push(g);
    }
    let mut ex = Executions::default();
    for (stream, list) in streams.iter_mut() {
        list.sort_by_key(|&g| {
            let (t, e, c, s) = groups[g].key;
            (t, e, c.unwrap_or(-1), s, c.is_some())
        });
        let mut prev: Option<(Option<i64>, Option<i64>)> = None; // (epoch, counter) before
        for (seq, &g) in list.iter().enumerate() {
            let group = &mut groups[g];
            let known = if group.src == 0 { position.get(stream).copied() } else { None };
            let (prev_epoch, prev_counter) = match prev {
                Some(p) => p,
                None => (known.map(|p| p.0), known.and_then(|p| p.1)),
            };
            let (time, epoch, counter, snap) = group.key;
            let reset = counter == Some(0) || prev_epoch.is_some_and(|p| p != epoch);
            group.seq = seq as i64;
            group.full = snap || (reset && group.removed == 0);
            let gap = !snap
                && prev_epoch == Some(epoch)
                && matches!((counter, prev_counter), (Some(c), Some(p)) if c > p + 1);
            ex.src.push(group.src);
            ex.host.push(group.host);
            ex.query.push(group.query);
            ex.seq.push(seq as i64);
            ex.time.push(time);
            ex.epoch.push(epoch);
            ex.counter.push(counter.unwrap_or(0));
            ex.counter_valid.push(counter.is_some().into());
            ex.ckey.push(counter.unwrap_or(-1));
            ex.snap.push(snap.into());
            ex.added.push(group.added as i32);
            ex.removed.push(group.removed as i32);
            ex.extended.push(known.is_some().into());
            ex.full_set.push(group.full.into());
            ex.counter_gap.push(gap.into());
            ex.prev_counter.push(prev_counter.unwrap_or(0));
            ex.prev_counter_valid.push(prev_counter.is_some().into());
            ex.reset_with_removed.push((!snap && reset && group.removed > 0).into());
            prev = Some((Some(epoch), counter));
        }
    }
    // each row with its execution (a full set's removed rows are no change), then the intervals
    let (mut c_host, mut c_query, mut c_seq) = (Vec::new(), Vec::new(), Vec::new());
    let (mut c_op, mut c_rh, mut c_payload) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..rows.i.len() {
        let Some(&g) = line_group.get(&(rows.src[k], rows.i[k])) else { continue };
        let group = &groups[g];
        if group.full && rows.op[k] < 0 {
            continue;
        }
        c_host.push(group.host);
        c_query.push(group.query);
        c_seq.push(group.seq);
        c_op.push(rows.op[k]);
        c_rh.push(rows.rh[k]);
        c_payload.push(rows.reference[k] + (i64::from(rows.src[k]) << 62));
    }
    let execs = intervals::Execs {
        host: &ex.host,
        query: &ex.query,
        seq: &ex.seq,
        time: &ex.time,
        full: &ex.full_set,
    };
    let changes = intervals::Changes {
        host: &c_host,
        query: &c_query,
        seq: &c_seq,
        op: &c_op,
        rh: &c_rh,
        payload: &c_payload,
    };
    let built = intervals::build(&execs, &changes, open)?;
    Some((ex, built))
}
