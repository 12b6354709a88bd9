//! Network programming latency per (node, endpoint change), exact, without
//! one sample per pair.
//!
//! A kube-proxy sync programs a contiguous range `[from, upto)` of the
//! group's change log. Members that start a sync at the same moment cover
//! the same range (the group wakes idle members together), so syncs are
//! kept as cohorts: one range (its trigger times, sorted, stored once) and
//! the end times of every sync that covered exactly that range. A cohort
//! with `r` changes and `m` syncs stands for `r * m` latencies
//! `end - trigger`; the number of them at most `x` is counted in
//! `O(r + m)` by walking both sorted lists, and a percentile is the
//! smallest `x` whose count reaches its rank (a binary search over
//! integer nanoseconds). The cost grows with syncs plus distinct ranges,
//! never with changes times nodes.

use std::collections::HashMap;

use crate::engine::Time;

struct Cohort {
    /// Trigger times of the range's endpoint changes, sorted.
    triggers: Vec<Time>,
    /// Ends of the syncs that programmed the range, in time order.
    ends: Vec<Time>,
}

#[derive(Default)]
pub struct NetworkProgramming {
    cohorts: Vec<Cohort>,
    index: HashMap<(usize, usize), usize>,
}

impl NetworkProgramming {
    /// Whether the range `[from, upto)` is known.
    pub fn knows(&self, from: usize, upto: usize) -> bool {
        self.index.contains_key(&(from, upto))
    }

    /// Registers a range with the trigger times of its endpoint changes.
    pub fn add_range(&mut self, from: usize, upto: usize, mut triggers: Vec<Time>) {
        triggers.sort_unstable();
        self.index.insert((from, upto), self.cohorts.len());
        self.cohorts.push(Cohort {
            triggers,
            ends: Vec::new(),
        });
    }

    /// A sync that programmed the (registered) range ended at `end`.
    pub fn add_sync(&mut self, from: usize, upto: usize, end: Time) {
        if let Some(&i) = self.index.get(&(from, upto)) {
            let c = &mut self.cohorts[i];
            if !c.triggers.is_empty() {
                debug_assert!(c.ends.last().is_none_or(|l| *l <= end));
                c.ends.push(end);
            }
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

    /// How many latencies are at most `x`.
    fn count_at_most(&self, x: Time) -> u64 {
        let mut n = 0u64;
        for c in &self.cohorts {
            // end - trigger <= x  <=>  trigger >= end - x; ends ascend, so
            // the first qualifying trigger only moves right.
            let mut j = 0;
            for &end in &c.ends {
                let floor = end.saturating_sub(x);
                while j < c.triggers.len() && c.triggers[j] < floor {
                    j += 1;
                }
                n += (c.triggers.len() - j) as u64;
            }
        }
        n
    }

    /// The nearest-rank percentile `p` (0 < p <= 100), exact.
    pub fn percentile(&self, p: u32) -> Option<Time> {
        let total = self.len();
        if total == 0 {
            return None;
        }
        let rank = (total * u64::from(p)).div_ceil(100).max(1);
        let mut hi = self
            .cohorts
            .iter()
            .filter(|c| !c.triggers.is_empty() && !c.ends.is_empty())
            .map(|c| c.ends[c.ends.len() - 1].saturating_sub(c.triggers[0]))
            .max()
            .unwrap_or(0);
        let mut lo = 0;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.count_at_most(mid) >= rank {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::percentile;

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
            np.add_range(from, upto, triggers.clone());
            for &e in &ends {
                np.add_sync(from, upto, e);
                for &t in &triggers {
                    all.push(e - t);
                }
            }
        }
        all.sort_unstable();
        assert_eq!(np.len(), all.len() as u64);
        for p in [1, 10, 50, 90, 99, 100] {
            assert_eq!(np.percentile(p), percentile(&all, p), "p{p}");
        }
    }
}
