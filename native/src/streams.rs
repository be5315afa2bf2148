//! A batch's lines applied to their streams in one pass: the executions grouped and classified
//! (hindsight/intervals/classify_sql.py, `executions_sql`), each row mapped to its execution
//! (the `_changes` of store/streams.py), then the intervals built (intervals.rs).

use crate::intervals::{self, Intervals};
use ahash::AHashMap as HashMap;

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
    ex: u32, // its index in the executions
}

pub fn apply(
    lines: &Lines,
    positions: &Positions,
    rows: &Rows,
    open: &intervals::OpenBefore,
) -> Option<(Executions, Intervals)> {
    // the executions: lines of one (source, stream, key) together
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(i32, i32, i32, Key), usize> = HashMap::default();
    let mut line_group = LineGroups::new(lines.src, lines.i);
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
                ex: 0,
            });
            groups.len() - 1
        });
        groups[g].added += i64::from(lines.n_add[k]);
        groups[g].removed += i64::from(lines.n_rem[k]);
        line_group.set(lines.src[k], lines.i[k], g as u32);
    }
    let mut position: HashMap<(i32, i32), (i64, Option<i64>)> = HashMap::default();
    for k in 0..positions.host.len() {
        let counter = (positions.counter_valid[k] != 0).then_some(positions.counter[k]);
        position.insert((positions.host[k], positions.query[k]), (positions.epoch[k], counter));
    }
    // each stream's executions in key order (time, epoch, counter or -1, snapshot)
    let mut streams: HashMap<(i32, i32), Vec<usize>> = HashMap::default();
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
            group.ex = ex.src.len() as u32;
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
    let (mut c_exec, mut c_op, mut c_rh, mut c_payload) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for k in 0..rows.i.len() {
        let Some(g) = line_group.get(rows.src[k], rows.i[k]) else { continue };
        let group = &groups[g as usize];
        if group.full && rows.op[k] < 0 {
            continue;
        }
        c_exec.push(group.ex);
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
    let built = intervals::build_indexed(&execs, &c_exec, &c_op, &c_rh, &c_payload, open)?;
    Some((ex, built))
}

/// The group of each line, by (src, i): a dense table per source where the line numbers are
/// (a batch's, its replayed lines'), a map otherwise.
struct LineGroups {
    dense: Vec<(i32, i32, Vec<u32>)>, // (src, least i, group of i - least or NONE)
    sparse: HashMap<(i32, i32), u32>,
}

impl LineGroups {
    fn new(src: &[i32], i: &[i32]) -> Self {
        let mut spans: Vec<(i32, i32, i32, usize)> = Vec::new(); // (src, lo, hi, lines)
        for (&s, &i) in src.iter().zip(i) {
            match spans.iter_mut().find(|x| x.0 == s) {
                Some(x) => *x = (s, x.1.min(i), x.2.max(i), x.3 + 1),
                None => spans.push((s, i, i, 1)),
            }
        }
        let dense = spans
            .into_iter()
            .filter(|&(_, lo, hi, n)| (i64::from(hi) - i64::from(lo)) < 4 * n as i64 + 1024)
            .map(|(s, lo, hi, _)| (s, lo, vec![intervals::NONE; (hi - lo) as usize + 1]))
            .collect();
        LineGroups { dense, sparse: HashMap::default() }
    }

    fn set(&mut self, src: i32, i: i32, g: u32) {
        match self.dense.iter_mut().find(|x| x.0 == src) {
            Some((_, lo, v)) => v[(i - *lo) as usize] = g,
            None => {
                self.sparse.insert((src, i), g);
            }
        }
    }

    fn get(&self, src: i32, i: i32) -> Option<u32> {
        let g = match self.dense.iter().find(|x| x.0 == src) {
            Some((_, lo, v)) => *v.get(usize::try_from(i64::from(i) - i64::from(*lo)).ok()?)?,
            None => *self.sparse.get(&(src, i))?,
        };
        (g != intervals::NONE).then_some(g)
    }
}
