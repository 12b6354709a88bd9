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

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

/// Words in a ChaCha block.
const BLOCK_WORDS: u128 = 16;
/// Blocks `ChaCha8Rng` generates at once.
const WINDOW_BLOCKS: u128 = 4;
/// Bytes in a window of the stream.
const WINDOW_BYTES: usize = (BLOCK_WORDS * WINDOW_BLOCKS * 4) as usize;

/// The scheduler's random stream (`kube-scheduler/select-host`).
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
        let draws = before + ties - 1;
        if draws == 0 {
            return best;
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
        if winner == 1 {
            return best;
        }
        // The `winner`th score equal to the best.
        self.tied[(winner - 1) as usize]
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
