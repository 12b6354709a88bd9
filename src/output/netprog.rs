//! Network programming latency per (node, endpoint change), exact, without
//! one sample per pair.
//!
//! A kube-proxy sync programs a contiguous range `[from, upto)` of the
//! group's change log. Members that start a sync at the same moment cover
//! the same range (the group wakes idle members together), so syncs are
//! kept as cohorts: one range (its trigger times, sorted, stored once) and
//! the end times of every sync that covered exactly that range (4-byte
//! offsets from the first while they fit, which they usually do). A cohort
//! with `r` changes and `m` syncs stands for `r * m` latencies
//! `end - trigger` (0 for a trigger after the end); the number of them at
//! most `x` is counted in `O(min(r + m, r log m))`, by walking both sorted
//! lists or by a binary search in the ends per trigger. A percentile is the
//! smallest `x` whose count reaches its rank: a search over integer
//! nanoseconds between the smallest and the largest latency (cutting the
//! magnitude in thirds while the bounds are orders of magnitude apart,
//! then counting at two points around a guess interpolated from the
//! counts, and at the middle as well after a pass that did not halve what
//! lay between the bounds), until the latencies left between its bounds
//! are few enough to be listed and the one of the rank selected among
//! them. The percentiles the summary asks for share their passes, which
//! count at each point once, on two threads when there is enough to count.
//! The cost grows with syncs plus distinct ranges, never with changes
//! times nodes.

use crate::fasthash::HashMap;

use crate::engine::Time;

/// A cohort's sync ends, ascending: 4 bytes each while they lie within
/// 2^32 ns (about 4.3 s) of the first, the usual case (members woken
/// together end together), 8 bytes each once one does not. Churn keeps
/// millions of them.
enum Ends {
    Near { base: Time, offsets: Vec<u32> },
    Far(Vec<Time>),
}

impl Ends {
    fn len(&self) -> usize {
        match self {
            Ends::Near { offsets, .. } => offsets.len(),
            Ends::Far(v) => v.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th end.
    fn get(&self, i: usize) -> Time {
        match self {
            Ends::Near { base, offsets } => base + Time::from(offsets[i]),
            Ends::Far(v) => v[i],
        }
    }

    /// Appends `end`, no earlier than the last.
    #[inline]
    fn push(&mut self, end: Time) {
        match self {
            Ends::Near { base, offsets } => {
                if offsets.is_empty() {
                    *base = end;
                }
                match u32::try_from(end - *base) {
                    Ok(o) => offsets.push(o),
                    Err(_) => {
                        let mut v: Vec<Time> =
                            offsets.iter().map(|&o| *base + Time::from(o)).collect();
                        v.push(end);
                        *self = Ends::Far(v);
                    }
                }
            }
            Ends::Far(v) => v.push(end),
        }
    }

    /// The number of ends `e` for which `pred(e)` holds, all of which come
    /// first (as `slice::partition_point`).
    #[inline]
    fn partition_point(&self, pred: impl Fn(Time) -> bool) -> usize {
        match self {
            Ends::Near { base, offsets } => {
                offsets.partition_point(|&o| pred(base + Time::from(o)))
            }
            Ends::Far(v) => v.partition_point(|&e| pred(e)),
        }
    }

    /// The ends from index `a` to `b` (excluded), in order.
    fn range(&self, a: usize, b: usize) -> impl Iterator<Item = Time> + '_ {
        let (near, far) = match self {
            Ends::Near { base, offsets } => (Some((*base, &offsets[a..b])), None),
            Ends::Far(v) => (None, Some(&v[a..b])),
        };
        near.into_iter()
            .flat_map(|(base, o)| o.iter().map(move |&o| base + Time::from(o)))
            .chain(far.into_iter().flatten().copied())
    }
}

struct Cohort {
    /// Trigger times of the range's endpoint changes, sorted.
    triggers: Vec<Time>,
    /// Ends of the syncs that programmed the range, in time order.
    ends: Ends,
}

impl Cohort {
    /// Adds to `counts[k]` how many of the cohort's latencies are at most
    /// `xs[k]`; `walk` is scratch space.
    fn count_at_most(&self, xs: &[Time], counts: &mut [u64], walk: &mut Vec<usize>) {
        let (t, e) = (&self.triggers, &self.ends);
        if t.is_empty() || e.is_empty() {
            return;
        }
        let log_m = (usize::BITS - e.len().leading_zeros()) as usize;
        if t.len() * log_m < t.len() + e.len() {
            // end - trigger <= x  <=>  end <= trigger + x.
            for (&x, n) in xs.iter().zip(counts.iter_mut()) {
                for &t in t {
                    let limit = t.saturating_add(x);
                    *n += e.partition_point(|e| e <= limit) as u64;
                }
            }
        } else {
            // end - trigger <= x  <=>  trigger >= end - x; ends ascend, so
            // the first qualifying trigger only moves right.
            walk.clear();
            walk.resize(xs.len(), 0);
            for end in e.range(0, e.len()) {
                for ((&x, j), n) in xs.iter().zip(walk.iter_mut()).zip(counts.iter_mut()) {
                    let floor = end.saturating_sub(x);
                    while *j < t.len() && t[*j] < floor {
                        *j += 1;
                    }
                    *n += (t.len() - *j) as u64;
                }
            }
        }
    }

    /// Appends the cohort's latencies in `[lo, hi]` to `out`.
    fn collect_between(&self, lo: Time, hi: Time, out: &mut Vec<Time>) {
        let e = &self.ends;
        for &t in &self.triggers {
            // Ends before `t` have latency 0.
            let first = if lo == 0 {
                0
            } else {
                let limit = t.saturating_add(lo);
                e.partition_point(|e| e < limit)
            };
            let limit = t.saturating_add(hi);
            let last = e.partition_point(|e| e <= limit);
            out.extend(e.range(first, last.max(first)).map(|e| e.saturating_sub(t)));
        }
    }
}

/// The search lists the latencies between its bounds once at most this
/// many are left.
const LIST_AT_MOST: u64 = 1 << 14;

/// The live cohorts in two parts of about equal counting work, counted on
/// two threads when there is enough work for a second thread to pay off.
struct Halves<'a> {
    first: Vec<&'a Cohort>,
    second: Vec<&'a Cohort>,
}

/// The least counting work (triggers and ends of the live cohorts) worth a
/// second thread per pass.
const PARALLEL_WORK: usize = 1 << 16;

impl<'a> Halves<'a> {
    /// Two parts when the cohorts hold at least `parallel_at` triggers and
    /// ends, else one.
    fn of(mut live: Vec<&'a Cohort>, parallel_at: usize) -> Self {
        let work = |c: &Cohort| c.triggers.len() + c.ends.len();
        let total: usize = live.iter().map(|c| work(c)).sum();
        if total < parallel_at || live.len() < 2 {
            return Halves {
                first: live,
                second: Vec::new(),
            };
        }
        let mut acc = 0;
        let split = live
            .iter()
            .position(|c| {
                acc += work(c);
                acc * 2 >= total
            })
            .map_or(live.len(), |i| i + 1);
        let second = live.split_off(split);
        Halves {
            first: live,
            second,
        }
    }
}

/// Adds to `counts[k]` how many latencies of all the cohorts are at most
/// `xs[k]`: the second half on a scoped thread beside this one (or here, if
/// no thread can be started). Integer sums, so the split changes nothing.
fn count_in_halves(halves: &Halves<'_>, xs: &[Time], counts: &mut [u64], walk: &mut Vec<usize>) {
    let count = |part: &[&Cohort], counts: &mut [u64], walk: &mut Vec<usize>| {
        for c in part {
            c.count_at_most(xs, counts, walk);
        }
    };
    if halves.second.is_empty() {
        return count(&halves.first, counts, walk);
    }
    std::thread::scope(|s| {
        let other = std::thread::Builder::new().spawn_scoped(s, || {
            crate::cores::helper_thread();
            let mut counts = vec![0; xs.len()];
            count(&halves.second, &mut counts, &mut Vec::new());
            counts
        });
        count(&halves.first, counts, walk);
        match other.map(|h| h.join()) {
            Ok(Ok(theirs)) => {
                for (n, t) in counts.iter_mut().zip(theirs) {
                    *n += t;
                }
            }
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => count(&halves.second, counts, walk),
        }
    });
}

/// One percentile's search: the answer is in `[lo, hi]`, `below`
/// latencies are under `lo` and `upto_hi` at most `hi`.
struct Search {
    rank: u64,
    lo: Time,
    hi: Time,
    below: u64,
    upto_hi: u64,
    /// Whether the last pass left more than half of the latencies that
    /// were between the bounds before it.
    slow: bool,
}

impl Search {
    /// Whether the bounds still hold more than `list` latencies.
    fn open(&self, list: u64) -> bool {
        self.lo < self.hi && self.upto_hi - self.below > list
    }

    /// Pushes onto `xs` where an open search counts next.
    ///
    /// While the bounds are orders of magnitude apart (a long tail puts
    /// the largest latency far beyond the 99th percentile), two points cut
    /// the logarithm of their ratio in thirds, where interpolating from a
    /// tail crawls. Then latencies are spread smoothly enough that a guess
    /// from the counts at the bounds usually lands close, and two points
    /// around it, as far apart as a quarter of `list` latencies would be at
    /// the bounds' average density, usually leave few enough between them
    /// to be listed. After a pass that kept more than half of what lay
    /// between the bounds (a guess on the near side of a dense cluster),
    /// the middle is counted as well, which bounds the number of passes
    /// whatever the spread. Any point keeps the search exact.
    fn probes(&self, list: u64, xs: &mut Vec<Time>) {
        let (lo, hi) = (self.lo, self.hi);
        let last = hi - 1;
        let floor = lo.max(MAGNITUDE_FLOOR);
        if hi / floor > 4 {
            let (f, h) = ((floor as f64).ln(), (hi as f64).ln());
            for third in [1.0 / 3.0, 2.0 / 3.0] {
                let x = (f + (h - f) * third).exp() as Time;
                xs.push(x.clamp(lo, last));
            }
            return;
        }
        let span = u128::from(hi - lo);
        let between = u128::from(self.upto_hi - self.below);
        let guess = lo + (span * u128::from(self.rank - self.below) / between) as Time;
        let width = (span * u128::from(list.max(4) / 4) / between).max(1) as Time;
        xs.push(guess.saturating_sub(width).clamp(lo, last));
        xs.push(guess.saturating_add(width).clamp(lo, last));
        if self.slow {
            xs.push(lo + (hi - lo) / 2);
        }
    }

    /// Narrows the bounds from the counts `counts` at the ascending points
    /// `xs`: the last point short of the rank and the first that reaches
    /// it are the new bounds.
    fn narrow(&mut self, xs: &[Time], counts: &[u64]) {
        let before = self.upto_hi - self.below;
        for (&x, &n) in xs.iter().zip(counts) {
            if x < self.lo || x >= self.hi {
                continue;
            }
            if n >= self.rank {
                self.hi = x;
                self.upto_hi = n;
                break;
            }
            self.lo = x + 1;
            self.below = n;
        }
        self.slow = (self.upto_hi - self.below) * 2 > before;
    }
}

/// The smallest lower bound the search cuts the magnitude from
/// (1 ms): network programming latencies are milliseconds to seconds.
const MAGNITUDE_FLOOR: Time = crate::engine::MILLISECOND;

#[derive(Default)]
pub struct NetworkProgramming {
    cohorts: Vec<Cohort>,
    /// Lookup only: its order reaches nothing.
    index: HashMap<(usize, usize), usize>,
}

impl NetworkProgramming {
    /// The cohort of range `[from, upto)`, if it is known.
    pub fn cohort(&self, from: usize, upto: usize) -> Option<usize> {
        self.index.get(&(from, upto)).copied()
    }

    /// Registers a range with the trigger times of its endpoint changes;
    /// returns its cohort.
    pub fn add_range(&mut self, from: usize, upto: usize, mut triggers: Vec<Time>) -> usize {
        triggers.sort_unstable();
        let i = self.cohorts.len();
        self.index.insert((from, upto), i);
        self.cohorts.push(Cohort {
            triggers,
            ends: Ends::Near {
                base: 0,
                offsets: Vec::new(),
            },
        });
        i
    }

    /// A sync that programmed cohort `i`'s range ended at `end`.
    #[inline]
    pub fn add_sync(&mut self, i: usize, end: Time) {
        let c = &mut self.cohorts[i];
        if !c.triggers.is_empty() {
            debug_assert!(c.ends.is_empty() || c.ends.get(c.ends.len() - 1) <= end);
            c.ends.push(end);
        }
    }

    /// How many (node, change) latencies there are.
    pub fn len(&self) -> u64 {
        self.cohorts
            .iter()
            .map(|c| c.triggers.len() as u64 * c.ends.len() as u64)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nearest-rank percentiles `ps` (each 0 < p <= 100), exact.
    pub fn percentiles(&self, ps: &[u32]) -> Vec<Option<Time>> {
        self.percentiles_listing(ps, LIST_AT_MOST, PARALLEL_WORK)
    }

    /// The nearest-rank percentile `p` (0 < p <= 100), exact.
    pub fn percentile(&self, p: u32) -> Option<Time> {
        self.percentiles(&[p])[0]
    }

    /// [`Self::percentiles`], listing the latencies left between a
    /// search's bounds once at most `list` are, and counting on two threads
    /// from `parallel_at` triggers and ends on. The searches share their
    /// passes over the cohorts.
    fn percentiles_listing(&self, ps: &[u32], list: u64, parallel_at: usize) -> Vec<Option<Time>> {
        let total = self.len();
        if total == 0 {
            return vec![None; ps.len()];
        }
        let live = || {
            self.cohorts
                .iter()
                .filter(|c| !c.triggers.is_empty() && !c.ends.is_empty())
        };
        let min = live()
            .map(|c| {
                c.ends
                    .get(0)
                    .saturating_sub(c.triggers[c.triggers.len() - 1])
            })
            .min()
            .unwrap_or(0);
        let max = live()
            .map(|c| c.ends.get(c.ends.len() - 1).saturating_sub(c.triggers[0]))
            .max()
            .unwrap_or(0);
        let mut searches: Vec<Search> = ps
            .iter()
            .map(|&p| Search {
                rank: (total * u64::from(p)).div_ceil(100).max(1),
                lo: min,
                hi: max,
                below: 0,
                upto_hi: total,
                slow: false,
            })
            .collect();
        let halves = Halves::of(live().collect(), parallel_at);
        let (mut xs, mut counts, mut walk) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            // The points this pass counts at, from every open search, each
            // once (the searches often share their first bounds).
            xs.clear();
            for s in searches.iter().filter(|s| s.open(list)) {
                s.probes(list, &mut xs);
            }
            if xs.is_empty() {
                break;
            }
            xs.sort_unstable();
            xs.dedup();
            counts.clear();
            counts.resize(xs.len(), 0);
            count_in_halves(&halves, &xs, &mut counts, &mut walk);
            for s in searches.iter_mut().filter(|s| s.open(list)) {
                s.narrow(&xs, &counts);
            }
        }
        // The latencies left between each unsettled search's bounds, listed
        // in one pass; the answer is the one of the rank among them.
        let mut left: Vec<Vec<Time>> = searches.iter().map(|_| Vec::new()).collect();
        if searches.iter().any(|s| s.lo < s.hi) {
            for c in live() {
                for (s, left) in searches.iter().zip(left.iter_mut()) {
                    if s.lo < s.hi {
                        c.collect_between(s.lo, s.hi, left);
                    }
                }
            }
        }
        searches
            .iter()
            .zip(left.iter_mut())
            .map(|(s, left)| {
                if s.lo == s.hi {
                    return Some(s.lo);
                }
                debug_assert_eq!(left.len() as u64, s.upto_hi - s.below);
                let k = (s.rank - s.below - 1) as usize;
                Some(*left.select_nth_unstable(k).1)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::percentile;

    /// Every percentile from 1 to 100 against the sorted list of every pair,
    /// whatever the number of latencies the search lists at the end.
    fn check(np: &NetworkProgramming, mut all: Vec<Time>) {
        all.sort_unstable();
        assert_eq!(np.len(), all.len() as u64);
        let ps: Vec<u32> = (1..=100).collect();
        let want: Vec<Option<Time>> = ps.iter().map(|&p| percentile(&all, p)).collect();
        for p in [1, 50, 90, 99, 100] {
            assert_eq!(np.percentile(p), want[p as usize - 1], "p{p}");
        }
        assert_eq!(np.percentiles(&ps), want);
        for list in [0, 1, 2, 7, 100] {
            // On one thread, and on two whatever the work.
            for parallel_at in [usize::MAX, 0] {
                assert_eq!(
                    np.percentiles_listing(&ps, list, parallel_at),
                    want,
                    "listing {list}, parallel at {parallel_at}"
                );
                assert_eq!(
                    np.percentiles_listing(&[99, 50, 90], list, parallel_at),
                    [want[98], want[49], want[89]],
                    "listing {list}, parallel at {parallel_at}"
                );
            }
        }
    }

    #[test]
    fn matches_the_percentiles_of_every_pair() {
        let mut np = NetworkProgramming::default();
        let mut all = Vec::new();
        let ranges = [
            (0, 3, vec![5, 1, 3], vec![10, 12, 40]),
            (3, 4, vec![20], vec![21, 25]),
            (4, 9, vec![30, 31, 31, 33, 35], vec![36, 37, 90, 91]),
        ];
        for (from, upto, triggers, ends) in ranges {
            assert_eq!(np.cohort(from, upto), None);
            let i = np.add_range(from, upto, triggers.clone());
            assert_eq!(np.cohort(from, upto), Some(i));
            for &e in &ends {
                np.add_sync(i, e);
                for &t in &triggers {
                    all.push(e - t);
                }
            }
        }
        check(&np, all);
    }

    /// A xorshift stream from `seed`: each call draws a number below `n`.
    fn below(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        }
    }

    /// Pseudo-random cohorts: few triggers and many ends (counted by
    /// binary search), many triggers and few ends (counted by a walk),
    /// ties, triggers after an end (latency 0), cohorts without triggers.
    #[test]
    fn matches_every_pair_on_mixed_cohorts() {
        let mut next = below(0x9e37_79b9_7f4a_7c15);
        let mut np = NetworkProgramming::default();
        let mut all = Vec::new();
        for k in 0..60 {
            let (r, m) = match k % 4 {
                0 => (1 + next(3), 1 + next(400)),
                1 => (1 + next(200), 1 + next(4)),
                2 => (next(3), 1 + next(20)),
                _ => (1 + next(30), 1 + next(30)),
            };
            let base = next(1_000);
            let triggers: Vec<Time> = (0..r).map(|_| base + next(50)).collect();
            let mut ends: Vec<Time> = (0..m)
                .map(|_| base + 20 + next(if k % 5 == 0 { 5 } else { 5_000 }))
                .collect();
            ends.sort_unstable();
            let i = np.add_range(k as usize, k as usize + 1, triggers.clone());
            for &e in &ends {
                np.add_sync(i, e);
                for &t in &triggers {
                    all.push(e.saturating_sub(t));
                }
            }
        }
        check(&np, all);
    }

    /// Cohorts whose ends spread past 2^32 ns of their first, so that
    /// they change to 8-byte ends part way, against every pair.
    #[test]
    fn matches_every_pair_with_ends_far_apart() {
        let mut np = NetworkProgramming::default();
        let mut all = Vec::new();
        let s = 1_000_000_000;
        for k in 0..8u64 {
            let triggers: Vec<Time> = (0..=k).map(|j| k * 100 * s + j * 7 * s / 10).collect();
            let i = np.add_range(k as usize, k as usize + 1, triggers.clone());
            for j in 0..14 {
                // Steps of 0.3 s to 3.3 s: 2^32 ns is passed after a few.
                let e = k * 100 * s + 5 * s + j * (3 * s / 10 + k * 3 * s / 7);
                np.add_sync(i, e);
                all.extend(triggers.iter().map(|&t| e.saturating_sub(t)));
            }
            let far = matches!(np.cohorts[i].ends, Ends::Far(_));
            assert_eq!(far, k > 0, "cohort {k}");
        }
        check(&np, all);
    }

    /// Latencies from a millisecond to a thousand seconds, most of them
    /// short (a long tail), so that the search bisects the magnitude
    /// before it interpolates, against every pair.
    #[test]
    fn matches_every_pair_with_a_long_tail() {
        let ms = crate::engine::MILLISECOND;
        let mut next = below(0x2545_f491_4f6c_dd1d);
        let mut np = NetworkProgramming::default();
        let mut all = Vec::new();
        for k in 0..40u64 {
            let base = k * 2_000_000 * ms;
            let triggers: Vec<Time> = (0..1 + next(6)).map(|_| base + next(50 * ms)).collect();
            let i = np.add_range(k as usize, k as usize + 1, triggers.clone());
            let mut ends: Vec<Time> = (0..1 + next(40))
                .map(|_| {
                    // 1 ms to about 1 s mostly; one in ten up to 1 000 s.
                    let scale = if next(10) == 0 { 1_000_000 } else { 1_000 };
                    base + 50 * ms + ms + next(scale * ms)
                })
                .collect();
            ends.sort_unstable();
            for &e in &ends {
                np.add_sync(i, e);
                all.extend(triggers.iter().map(|&t| e.saturating_sub(t)));
            }
        }
        check(&np, all);
    }

    #[test]
    fn ends_keep_their_values_in_either_width() {
        let mut e = Ends::Near {
            base: 0,
            offsets: Vec::new(),
        };
        let want: Vec<Time> = vec![
            10,
            10,
            u32::MAX as Time + 10,
            u32::MAX as Time + 11,
            1 << 40,
        ];
        for (n, &x) in want.iter().enumerate() {
            e.push(x);
            assert_eq!(matches!(e, Ends::Far(_)), n >= 3, "{n}");
            assert_eq!(e.range(0, e.len()).collect::<Vec<_>>(), want[..=n]);
            assert_eq!(
                (0..e.len()).map(|i| e.get(i)).collect::<Vec<_>>(),
                want[..=n]
            );
            assert_eq!(e.partition_point(|v| v <= 10), (n + 1).min(2));
        }
    }

    #[test]
    fn no_latencies_no_percentile() {
        let mut np = NetworkProgramming::default();
        assert_eq!(np.percentile(50), None);
        let i = np.add_range(0, 1, Vec::new());
        np.add_sync(i, 10);
        assert!(np.is_empty());
        assert_eq!(np.percentile(99), None);
    }
}
