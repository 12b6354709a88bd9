//! Latency distributions over integer nanoseconds, sampled from a seeded stream.
//!
//! Sampling uses `f64` arithmetic (`ln`, `exp`, `sqrt`) on the way and rounds to
//! whole nanoseconds; the clock itself stays an integer. Results are identical
//! from run to run on the same platform.

use rand_chacha::rand_core::Rng;

use super::Time;

/// The z-score of the 99th percentile of the standard normal distribution.
const Z_P99: f64 = 2.326_347_874_040_840_8;

/// A distribution of durations in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    Constant(Time),
    /// Uniform on [min, max].
    Uniform {
        min: Time,
        max: Time,
    },
    /// Exponential with the given mean.
    Exponential {
        mean: Time,
    },
    /// Normal, truncated below at zero.
    Normal {
        mean: Time,
        stddev: Time,
    },
    /// Log-normal given by its median and 99th percentile (p99 >= median).
    LogNormal {
        median: Time,
        p99: Time,
    },
}

impl Dist {
    /// Draws one duration. A constant draws nothing from the stream.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Time {
        match *self {
            Dist::Constant(t) => t,
            Dist::Uniform { min, max } => {
                if max <= min {
                    min
                } else {
                    let span = max - min + 1;
                    min + rng.next_u64() % span
                }
            }
            Dist::Exponential { mean } => to_time(-(mean as f64) * (1.0 - unit(rng)).ln()),
            Dist::Normal { mean, stddev } => {
                to_time(mean as f64 + stddev as f64 * standard_normal(rng))
            }
            Dist::LogNormal { median, p99 } => {
                if median == 0 {
                    return 0;
                }
                let mu = (median as f64).ln();
                let sigma = ((p99.max(median) as f64).ln() - mu) / Z_P99;
                to_time((mu + sigma * standard_normal(rng)).exp())
            }
        }
    }

    /// The distribution with what every draw computes from its parameters
    /// alone (a log-normal's `mu` and `sigma`) computed once.
    pub fn prepare(self) -> Prepared {
        let (mu, sigma) = match self {
            Dist::LogNormal { median, p99 } if median != 0 => {
                let mu = (median as f64).ln();
                (mu, ((p99.max(median) as f64).ln() - mu) / Z_P99)
            }
            _ => (0.0, 0.0),
        };
        Prepared {
            dist: self,
            mu,
            sigma,
        }
    }

    /// The mean of the distribution in nanoseconds, for documentation and checks.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Constant(t) => t as f64,
            Dist::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
            Dist::Exponential { mean } => mean as f64,
            Dist::Normal { mean, .. } => mean as f64,
            Dist::LogNormal { median, p99 } => {
                let sigma = ((p99.max(median) as f64).ln() - (median as f64).ln()) / Z_P99;
                median as f64 * (sigma * sigma / 2.0).exp()
            }
        }
    }
}

/// A [`Dist`] ready to draw from: its draws are those of [`Dist::sample`],
/// bit for bit, from the same stream (the same operations on the same
/// values, some done once instead of at every draw).
#[derive(Clone, Copy, Debug)]
pub struct Prepared {
    dist: Dist,
    mu: f64,
    sigma: f64,
}

impl Prepared {
    /// Draws one duration, as [`Dist::sample`]. Small, to be inlined at
    /// each draw site: a constant is answered there, a log-normal draw is
    /// one call.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Time {
        match self.dist {
            Dist::LogNormal { median, .. } => {
                if median == 0 {
                    return 0;
                }
                self.lognormal(rng)
            }
            // Draws nothing: answered here, without the call.
            Dist::Constant(t) => t,
            d => d.sample(rng),
        }
    }

    /// Whether a draw takes anything from the stream (all but a constant,
    /// an empty range and a log-normal of median 0, which is 0).
    pub fn draws(&self) -> bool {
        match self.dist {
            Dist::Constant(_) => false,
            Dist::Uniform { min, max } => max > min,
            Dist::LogNormal { median, .. } => median != 0,
            _ => true,
        }
    }

    /// A log-normal draw, the normal draw inlined.
    #[inline(never)]
    fn lognormal<R: Rng + ?Sized>(&self, rng: &mut R) -> Time {
        to_time((self.mu + self.sigma * standard_normal(rng)).exp())
    }
}

/// A uniform draw in [0, 1) with 53 random bits.
fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `2.0 * unit(rng) - 1.0`, bit for bit, in one multiplication: the 53
/// random bits `m` are exact as an `f64`, and `m / 2^53 * 2` and
/// `m * 2^-52` are the same exact product (scaling by a power of two), from
/// which 1 is subtracted as before.
#[inline(always)]
fn signed_unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 52) as f64) - 1.0
}

/// A standard normal draw by Marsaglia's polar method (no trigonometry).
/// Inlined into its callers (a call's register saves cost about a third of
/// its own instructions).
#[inline(always)]
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    loop {
        let u = signed_unit(rng);
        let v = signed_unit(rng);
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

fn to_time(x: f64) -> Time {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u64::MAX as f64 {
        u64::MAX
    } else {
        round_positive(x)
    }
}

/// `x.round() as Time` for `0 < x < 2^64` (halves away from zero), without
/// the library call `f64::round` compiles to on the baseline x86-64 target.
#[inline]
fn round_positive(x: f64) -> Time {
    // From 2^52 on every f64 is an integer; below, truncating and the
    // fraction left are exact, and go through `i64` (one instruction each
    // way; `u64` conversions take a dozen on x86-64).
    if x >= 4_503_599_627_370_496.0 {
        return x as Time;
    }
    let t = x as i64;
    let up = x - t as f64 >= 0.5;
    t as Time + Time::from(up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MILLISECOND, RngStreams};

    fn percentile(dist: Dist, p: f64) -> Time {
        let mut rng = RngStreams::new(7).stream("test");
        let mut v: Vec<Time> = (0..20_000).map(|_| dist.sample(&mut rng)).collect();
        v.sort_unstable();
        v[((v.len() as f64) * p) as usize]
    }

    #[test]
    fn lognormal_has_the_requested_median_and_p99() {
        let d = Dist::LogNormal {
            median: 10 * MILLISECOND,
            p99: 100 * MILLISECOND,
        };
        let p50 = percentile(d, 0.5) as f64;
        let p99 = percentile(d, 0.99) as f64;
        assert!((p50 / 10e6 - 1.0).abs() < 0.05, "p50 {p50}");
        assert!((p99 / 100e6 - 1.0).abs() < 0.15, "p99 {p99}");
    }

    #[test]
    fn uniform_stays_in_bounds_and_constant_is_constant() {
        let mut rng = RngStreams::new(1).stream("u");
        for _ in 0..1000 {
            let x = Dist::Uniform { min: 5, max: 9 }.sample(&mut rng);
            assert!((5..=9).contains(&x));
        }
        assert_eq!(Dist::Constant(3).sample(&mut rng), 3);
    }

    /// A prepared distribution draws exactly what the distribution draws,
    /// and leaves the stream where it leaves it.
    #[test]
    fn prepared_draws_are_the_same_draws() {
        let dists = [
            Dist::Constant(3),
            Dist::Uniform { min: 5, max: 900 },
            Dist::Exponential { mean: 1_000_000 },
            Dist::Normal {
                mean: 1_000_000,
                stddev: 300_000,
            },
            Dist::LogNormal {
                median: 20 * MILLISECOND,
                p99: 100 * MILLISECOND,
            },
            Dist::LogNormal { median: 7, p99: 3 },
            Dist::LogNormal { median: 0, p99: 9 },
        ];
        for d in dists {
            let p = d.prepare();
            let mut a = RngStreams::new(11).stream("p");
            let mut b = RngStreams::new(11).stream("p");
            for _ in 0..5_000 {
                assert_eq!(d.sample(&mut a), p.sample(&mut b), "{d:?}");
            }
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    /// `signed_unit` is `2.0 * unit - 1.0` bit for bit, over the ends of
    /// the range, around its middle and on random words.
    #[test]
    fn signed_unit_is_twice_unit_less_one() {
        struct Words(Vec<u64>);
        impl rand_chacha::rand_core::TryRng for Words {
            type Error = std::convert::Infallible;
            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                Ok(self.0.pop().unwrap() as u32)
            }
            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                Ok(self.0.pop().unwrap())
            }
            fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
                unimplemented!()
            }
        }
        let mut words = vec![0, 1 << 11, u64::MAX, u64::MAX - (1 << 11), 1 << 63];
        words.extend([(1 << 63) - (1 << 11), (1 << 63) + (1 << 11), 12345 << 11]);
        let mut rng = RngStreams::new(5).stream("w");
        words.extend((0..100_000).map(|_| rng.next_u64()));
        for w in words {
            let a = unit(&mut Words(vec![w]));
            let b = signed_unit(&mut Words(vec![w]));
            assert_eq!((2.0 * a - 1.0).to_bits(), b.to_bits(), "{w:#x}");
        }
    }

    #[test]
    fn rounding_is_f64_round() {
        let mut xs = vec![
            f64::MIN_POSITIVE,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            4_503_599_627_370_497.0,
            9_007_199_254_740_993.0,
            1e19,
            18_446_744_073_709_549_568.0,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = (x >> 11) as f64 / (1u64 << 53) as f64;
            xs.extend([
                k as f64 + 0.5,
                k as f64 + 0.5 - f64::EPSILON * k as f64,
                f * 1e9,
                (f * 40.0).exp(),
            ]);
        }
        for x in xs {
            assert_eq!(to_time(x), x.round() as Time, "{x}");
        }
        assert_eq!(to_time(0.0), 0);
        assert_eq!(to_time(-3.0), 0);
        assert_eq!(to_time(f64::NAN), 0);
        assert_eq!(to_time(1e30), u64::MAX);
    }

    #[test]
    fn exponential_and_normal_have_their_means() {
        let mean = |d: Dist| {
            let mut rng = RngStreams::new(3).stream("m");
            (0..20_000).map(|_| d.sample(&mut rng) as f64).sum::<f64>() / 20_000.0
        };
        let e = mean(Dist::Exponential { mean: 1_000_000 });
        assert!((e / 1e6 - 1.0).abs() < 0.05, "{e}");
        let n = mean(Dist::Normal {
            mean: 1_000_000,
            stddev: 100_000,
        });
        assert!((n / 1e6 - 1.0).abs() < 0.01, "{n}");
    }
}
