//! Seeded random streams: every purpose (a latency, the scheduler's tie
//! breaking, ...) draws from its own ChaCha stream derived from the scenario
//! seed and the purpose's name, so that adding a component or a draw in one
//! place never shifts the numbers drawn elsewhere.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// The factory of random streams for one run.
#[derive(Clone, Copy, Debug)]
pub struct RngStreams {
    seed: u64,
}

impl RngStreams {
    pub fn new(seed: u64) -> Self {
        RngStreams { seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream for `purpose`: the same seed and name always give the same
    /// sequence, different names give independent sequences.
    pub fn stream(&self, purpose: &str) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(fnv1a(purpose.as_bytes()));
        rng
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::Rng;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let s = RngStreams::new(42);
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = s.stream("a");
                move |_| r.next_u64()
            })
            .collect();
        let a2: Vec<u64> = (0..4)
            .map({
                let mut r = s.stream("a");
                move |_| r.next_u64()
            })
            .collect();
        let b = s.stream("b").next_u64();
        let other_seed = RngStreams::new(43).stream("a").next_u64();
        assert_eq!(a, a2);
        assert_ne!(a[0], b);
        assert_ne!(a[0], other_seed);
    }
}
