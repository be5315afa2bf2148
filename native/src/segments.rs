//! A batch's lines as the reader holds them, without a copy: in segments, each a buffer of
//! bytes and the bounds of its lines in it. A segment is either a block of a file as read (its
//! lines between the newlines that end them) or lines joined by `\n` (those read one at a
//! time): line j of a segment is `data[nl[j] + 1..nl[j + 1]]`, NL holding its lines + 1 bounds
//! (-1 before the first line of joined lines).

use std::slice;

/// The lines of N segments: segment s is DATA[s] (LENS[s] bytes) with COUNTS[s] lines, bounded
/// by NLS[s] (COUNTS[s] + 1 of them).
///
/// # Safety
/// Each pointer must be valid for the lengths given, each segment's bounds increasing within
/// -1..=LENS[s].
pub unsafe fn lines<'a>(
    n: usize,
    data: *const *const u8,
    lens: *const usize,
    nls: *const *const i64,
    counts: *const usize,
) -> Vec<&'a [u8]> {
    let at = |p: *const usize, s: usize| if n == 0 { 0 } else { *p.add(s) };
    let total: usize = (0..n).map(|s| at(counts, s)).sum();
    let mut out = Vec::with_capacity(total);
    for s in 0..n {
        let (count, len) = (at(counts, s), at(lens, s));
        if count == 0 {
            continue;
        }
        let bytes = slice::from_raw_parts(*data.add(s), len);
        let bounds = slice::from_raw_parts(*nls.add(s), count + 1);
        out.extend(bounds.windows(2).map(|w| &bytes[(w[0] + 1) as usize..w[1] as usize]));
    }
    out
}

/// What `newlines` finds in a block: where each `\n` is, the longest line between two of them
/// and whether any such line is blank (empty, or only JSON's whitespace and the others Python's
/// `bytes.isspace` takes: `\x0b`, `\x0c`).
#[derive(Default)]
pub struct Newlines {
    pub at: Vec<i64>,
    pub longest: i64,
    pub blank: bool,
}

fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The newlines of DATA, and of the lines between two of them, the longest and whether any is
/// blank (the first line, before the first newline, and what follows the last are not
/// measured: the reader reads them one at a time).
pub fn newlines(data: &[u8]) -> Newlines {
    let mut out = Newlines { at: memchr::memchr_iter(b'\n', data).map(|p| p as i64).collect(), ..Default::default() };
    for w in out.at.windows(2) {
        let line = &data[(w[0] + 1) as usize..w[1] as usize];
        out.longest = out.longest.max(line.len() as i64);
        if line.first().map_or(true, |&b| space(b)) && line.iter().all(|&b| space(b)) {
            out.blank = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_a_block_and_of_joined_lines() {
        let block = b"tail\n{\"a\":1}\n{}\nhead";
        let found = newlines(block);
        assert_eq!(found.at, vec![4, 12, 15]);
        assert_eq!((found.longest, found.blank), (7, false));
        let joined = b"x\nyz";
        let bounds = [found.at.clone(), vec![-1, 1, 4]];
        let data = [block.as_ptr(), joined.as_ptr()];
        let lens = [block.len(), joined.len()];
        let nls = [bounds[0].as_ptr(), bounds[1].as_ptr()];
        let counts = [2usize, 2];
        let got = unsafe { lines(2, data.as_ptr(), lens.as_ptr(), nls.as_ptr(), counts.as_ptr()) };
        assert_eq!(got, vec![&b"{\"a\":1}"[..], b"{}", b"x", b"yz"]);
    }

    #[test]
    fn a_blank_line_is_found() {
        assert!(newlines(b"a\n\nb\n").blank);
        assert!(newlines(b"a\n \x0b\t\nb").blank);
        assert!(!newlines(b"a\n x\nb").blank);
    }
}
