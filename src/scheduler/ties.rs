//! The scheduler's random stream and upstream's `selectHost` tie-break
//! (reservoir sampling: one draw per score equal to the best so far, the
//! score taking the place of the best when the draw is a multiple of the
//! number of such scores so far), computed without drawing one by one.
//!
//! Which scores draw depends only on the scores, not on the draws: every
//! score equal to the best before it. So one pass over the scores finds
//! the best score, its first position and how many draws come before it
//! (their outcome cannot matter: a later, higher score replaces whatever
//! they chose). Of the draws after it, only the last one that hits
//! decides, so they are read from the last one down, a window of the
//! ChaCha stream at a time (the stream is a function of the word
//! position), stopping at the first hit; the stream is then left where
//! drawing one by one would have left it. The decisions and the stream
//! are exactly those of drawing one by one.
//!
//! The pass over the scores can also read them by blocks, each summarized
//! by its highest score and how often it occurs (kept up to date by the
//! caller): a block whose highest score is not above the best so far only
//! adds ties, so only the blocks where the best rises, and the one
//! holding the chosen tie, are read score by score.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

/// Words in a ChaCha block.
const BLOCK_WORDS: u128 = 16;
/// Blocks `ChaCha8Rng` generates at once.
const WINDOW_BLOCKS: u128 = 4;
/// Bytes in a window of the stream.
const WINDOW_BYTES: usize = (BLOCK_WORDS * WINDOW_BLOCKS * 4) as usize;

/// The scheduler's random stream (`kube-scheduler/select-host`).
#[derive(Clone)]
pub struct HostRng {
    rng: ChaCha8Rng,
    /// The stream's word position when `rng` was not moved there yet
    /// (moving it generates a window, which the next tie-break would
    /// throw away).
    pending: Option<u128>,
    window: [u8; WINDOW_BYTES],
    /// Scratch for [`HostRng::select_best`]: `tied[j - 1]` is the
    /// position of the `j`th score equal to the best (j >= 2).
    tied: Vec<usize>,
}

impl HostRng {
    pub fn new(rng: ChaCha8Rng) -> Self {
        HostRng {
            rng,
            pending: None,
            window: [0; WINDOW_BYTES],
            tied: Vec::new(),
        }
    }

    /// Whether `self` and `other` are the same stream at the same place.
    #[cfg(test)]
    pub fn same_place(&self, other: &HostRng) -> bool {
        let place = |h: &HostRng| h.pending.unwrap_or_else(|| h.rng.get_word_pos());
        place(self) == place(other)
            && self.rng.get_seed() == other.rng.get_seed()
            && self.rng.get_stream() == other.rng.get_stream()
    }

    /// The next draw, as `ChaCha8Rng::next_u64`.
    pub fn next_u64(&mut self) -> u64 {
        if let Some(pos) = self.pending.take() {
            self.rng.set_word_pos(pos);
        }
        self.rng.next_u64()
    }

    /// The index of the best of `scores` (at least one), ties broken by
    /// reservoir sampling as upstream's `selectHost` does, drawing from
    /// the stream exactly as [`select_best_naive`] would.
    pub fn select_best(&mut self, scores: &[i64]) -> usize {
        // Which scores draw: the best, its first position, the draws
        // before it and how many scores equal it (and where: `tied`, whose
        // entries from a best that was passed are overwritten).
        if self.tied.len() < scores.len() {
            self.tied.resize(scores.len(), 0);
        }
        let tied = &mut self.tied[..scores.len()];
        let mut best = 0;
        let mut best_score = scores[0];
        let mut ties = 1u64;
        let mut before = 0u64;
        for (k, &s) in scores.iter().enumerate().skip(1) {
            if s > best_score {
                best = k;
                best_score = s;
                before += ties - 1;
                ties = 1;
            } else if s == best_score {
                tied[ties as usize] = k;
                ties += 1;
            }
        }
        match self.winner(before, ties) {
            1 => best,
            // The `winner`th score equal to the best.
            winner => self.tied[(winner - 1) as usize],
        }
    }

    /// [`HostRng::select_best`] of `all[range]` (the index returned is
    /// relative to `range.start`), reading whole blocks of `all` through
    /// their summaries: `tops[b]` must be [`BlockTop::of`] the block
    /// `all[b * BLOCK..(b + 1) * BLOCK]` for every block inside `range`
    /// (the others are read score by score). Same choice, same draws.
    pub fn select_best_blocked(
        &mut self,
        all: &[i64],
        range: std::ops::Range<usize>,
        tops: &[BlockTop],
    ) -> usize {
        let end = range.end;
        // The block starting at `k`, when it is whole inside the range.
        let whole =
            |k: usize| (k.is_multiple_of(BLOCK) && k + BLOCK <= end).then(|| tops[k / BLOCK]);
        // The end of the block holding `k`, or of the range.
        let block_end = |k: usize| ((k / BLOCK + 1) * BLOCK).min(end);
        let mut best = range.start;
        let mut best_score = all[best];
        let mut ties = 1u64;
        let mut before = 0u64;
        let mut k = best + 1;
        while k < end {
            if let Some(top) = whole(k)
                && top.max <= best_score
            {
                // No score above the best: only ties.
                if top.max == best_score {
                    ties += u64::from(top.count);
                }
                k += BLOCK;
                continue;
            }
            let stop = block_end(k);
            for (j, &s) in all[k..stop].iter().enumerate() {
                if s > best_score {
                    best = k + j;
                    best_score = s;
                    before += ties - 1;
                    ties = 1;
                } else if s == best_score {
                    ties += 1;
                }
            }
            k = stop;
        }
        // The `winner`th score equal to the best, the best the first (no
        // score after it is higher).
        let mut left = self.winner(before, ties) - 1;
        let mut k = best + 1;
        while left > 0 {
            if let Some(top) = whole(k)
                && (top.max < best_score || u64::from(top.count) < left)
            {
                if top.max == best_score {
                    left -= u64::from(top.count);
                }
                k += BLOCK;
                continue;
            }
            let stop = block_end(k);
            for (j, &s) in all[k..stop].iter().enumerate() {
                if s == best_score {
                    left -= 1;
                    if left == 0 {
                        return k + j - range.start;
                    }
                }
            }
            k = stop;
        }
        best - range.start
    }

    /// Draws for the ties of a tie-break: `before` draws whose outcome
    /// cannot matter, then one per score equal to the best after the
    /// first of `ties`. Which of them wins: 1 for the first, `j` for the
    /// `j`th; the stream is left where drawing one by one leaves it.
    fn winner(&mut self, before: u64, ties: u64) -> u64 {
        let draws = before + ties - 1;
        if draws == 0 {
            return 1;
        }
        let start = match self.pending {
            Some(pos) => pos,
            None => self.rng.get_word_pos(),
        };
        // A draw is two words; the draw of the `j`th equal score (j >= 2)
        // starts at word `first + 2 * (j - 2)`.
        let first = start + 2 * u128::from(before);
        let end = start + 2 * u128::from(draws);
        let mut winner = 1;
        let mut hi = end;
        'windows: while hi > first {
            // The window of the stream holding word `hi - 1`, from a
            // draw's first word.
            let top_block = (hi - 1) / BLOCK_WORDS;
            let mut from = (top_block.saturating_sub(WINDOW_BLOCKS - 1) * BLOCK_WORDS).max(first);
            from += (from - first) & 1;
            let len = ((hi - from) * 4) as usize;
            self.rng.set_word_pos(from);
            self.rng.fill_bytes(&mut self.window[..len]);
            // From the last draw of the window down.
            let mut j = 2 + ((hi - first) / 2) as u64;
            for draw in self.window[..len].rchunks_exact(8) {
                j -= 1;
                let x = u64::from_le_bytes(draw.try_into().unwrap());
                if x.is_multiple_of(j) {
                    winner = j;
                    break 'windows;
                }
            }
            hi = from;
        }
        self.pending = Some(end);
        winner
    }
}

/// Scores in a block of [`BLOCK`] for [`HostRng::select_best_blocked`].
pub const BLOCK: usize = 16;

/// A block of scores summarized: its highest score and how many times
/// it occurs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockTop {
    pub max: i64,
    pub count: u32,
}

impl BlockTop {
    /// The summary of `scores` (not empty).
    pub fn of(scores: &[i64]) -> BlockTop {
        let max = scores.iter().copied().max().unwrap_or(i64::MIN);
        let count = scores.iter().filter(|&&s| s == max).count() as u32;
        BlockTop { max, count }
    }
}

/// The tie-break drawing one by one, as upstream writes it.
#[cfg(test)]
pub fn select_best_naive(scores: &[i64], rng: &mut ChaCha8Rng) -> usize {
    let mut best = 0;
    let mut best_score = scores[0];
    let mut ties = 1u64;
    for (k, &s) in scores.iter().enumerate().skip(1) {
        if s > best_score {
            best = k;
            best_score = s;
            ties = 1;
        } else if s == best_score {
            ties += 1;
            if rng.next_u64().is_multiple_of(ties) {
                best = k;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    /// Scores with many ties: values from a small range, rising now and
    /// then so that draws come before the best too.
    fn scores(src: &mut ChaCha8Rng, len: usize, spread: u64) -> Vec<i64> {
        (0..len)
            .map(|k| (src.next_u64() % spread) as i64 + (k as i64 / 97))
            .collect()
    }

    #[test]
    fn same_choices_and_stream_as_drawing_one_by_one() {
        let mut src = ChaCha8Rng::seed_from_u64(7);
        for seed in 0..6u64 {
            let mut naive = ChaCha8Rng::seed_from_u64(seed);
            naive.set_stream(seed * 31 + 1);
            // Start at an odd word for some seeds.
            if seed % 2 == 1 {
                naive.next_u32();
            }
            let mut fast = HostRng::new(naive.clone());
            let mut chosen_late = 0;
            for round in 0..400 {
                let len = 1 + (src.next_u64() % 700) as usize;
                let spread = 1 + src.next_u64() % 4;
                let s = scores(&mut src, len, spread);
                let want = select_best_naive(&s, &mut naive);
                assert_eq!(fast.select_best(&s), want, "seed {seed} round {round}");
                if want > len / 2 {
                    chosen_late += 1;
                }
                if round % 7 == 0 {
                    assert_eq!(fast.next_u64(), naive.next_u64());
                }
            }
            assert_eq!(fast.next_u64(), naive.next_u64());
            // The draws did move the choice around.
            assert!(chosen_late > 50, "{chosen_late}");
        }
    }

    #[test]
    fn ties_of_a_passed_best_and_of_longer_calls_are_not_chosen() {
        // Many scores equal to an early best, then a higher best with few
        // ties; and short calls after long ones (stale scratch entries).
        let mut naive = ChaCha8Rng::seed_from_u64(5);
        let mut fast = HostRng::new(naive.clone());
        for round in 0..300usize {
            let len = if round % 2 == 0 { 600 } else { 3 + round % 40 };
            let mut s = vec![1i64; len];
            let rise = len / 2 + round % (len / 2);
            s[rise..].iter_mut().step_by(3).for_each(|x| *x = 2);
            let want = select_best_naive(&s, &mut naive);
            let got = fast.select_best(&s);
            assert_eq!(got, want, "round {round}");
            assert_eq!(s[got], 2);
        }
        assert_eq!(fast.next_u64(), naive.next_u64());
    }

    /// `BlockTop::of` every block of `all` wholly inside `range`, and a
    /// summary that would mislead for the others (they must not be read).
    fn tops(all: &[i64], range: &std::ops::Range<usize>) -> Vec<BlockTop> {
        (0..all.len().div_ceil(BLOCK))
            .map(|b| {
                let block = b * BLOCK..(b + 1) * BLOCK;
                if range.start <= block.start && block.end <= range.end {
                    BlockTop::of(&all[block])
                } else {
                    BlockTop {
                        max: i64::MAX,
                        count: 0,
                    }
                }
            })
            .collect()
    }

    #[test]
    fn blocks_give_the_same_choices_and_stream_as_drawing_one_by_one() {
        let mut src = ChaCha8Rng::seed_from_u64(11);
        for seed in 0..4u64 {
            let mut naive = ChaCha8Rng::seed_from_u64(seed);
            if seed % 2 == 1 {
                naive.next_u32();
            }
            let mut fast = HostRng::new(naive.clone());
            let (mut chosen_late, mut skipped) = (0, 0);
            for round in 0..500 {
                let len = 1 + (src.next_u64() % 900) as usize;
                let spread = 1 + src.next_u64() % 4;
                let mut all = scores(&mut src, len, spread);
                // Now and then a lone higher score in mid-block.
                if round % 5 == 0 {
                    let k = (src.next_u64() % len as u64) as usize;
                    all[k] += 3;
                }
                let start = (src.next_u64() % len as u64) as usize;
                let end = start + 1 + (src.next_u64() % (len - start) as u64) as usize;
                let range = start..end;
                let s = &all[range.clone()];
                let want = select_best_naive(s, &mut naive);
                let tops = tops(&all, &range);
                skipped += tops.iter().filter(|t| t.max != i64::MAX).count();
                let got = if round % 3 == 0 {
                    fast.select_best(s)
                } else {
                    fast.select_best_blocked(&all, range, &tops)
                };
                assert_eq!(got, want, "seed {seed} round {round}");
                if want > s.len() / 2 {
                    chosen_late += 1;
                }
                if round % 11 == 0 {
                    assert_eq!(fast.next_u64(), naive.next_u64());
                }
            }
            assert_eq!(fast.next_u64(), naive.next_u64());
            assert!(chosen_late > 50, "{chosen_late}");
            assert!(skipped > 1000, "{skipped}");
        }
    }

    #[test]
    fn block_top() {
        assert_eq!(BlockTop::of(&[3, 1, 3, 2]), BlockTop { max: 3, count: 2 });
        assert_eq!(BlockTop::of(&[-4]), BlockTop { max: -4, count: 1 });
    }

    #[test]
    fn no_tie_draws_nothing() {
        let mut naive = ChaCha8Rng::seed_from_u64(3);
        let mut fast = HostRng::new(naive.clone());
        assert_eq!(fast.select_best(&[1, 2, 3, 2, 1]), 2);
        assert_eq!(fast.select_best(&[5]), 0);
        assert!(fast.pending.is_none());
        assert_eq!(fast.next_u64(), naive.next_u64());
    }
}
