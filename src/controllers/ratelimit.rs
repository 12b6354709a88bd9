//! The controller manager's client-side rate limiter: client-go's token
//! bucket (`flowcontrol.NewTokenBucketRateLimiter(qps, burst)`), which a
//! request waits on before it is sent. kube-controller-manager's defaults
//! are `--kube-api-qps=20` and `--kube-api-burst=30`.
//!
//! Kept as the equivalent virtual-scheduling form of the bucket (GCRA): the
//! bucket is full when `tat <= now`, each request takes one token
//! (`interval` of time), and a request may go once at most `burst` tokens
//! are owed. Integer nanoseconds, so it is exact and deterministic.

use crate::engine::{SECOND, Time};

/// kube-controller-manager's default client QPS.
pub const DEFAULT_QPS: f64 = 20.0;
/// kube-controller-manager's default client burst.
pub const DEFAULT_BURST: u32 = 30;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// The time one token takes to refill.
    interval: Time,
    burst: u32,
    /// The theoretical arrival time: when the bucket would be full again.
    tat: Time,
}

impl TokenBucket {
    /// `qps` must be positive; `burst` at least 1.
    pub fn new(qps: f64, burst: u32) -> Self {
        let interval = ((SECOND as f64) / qps).round().max(1.0) as Time;
        TokenBucket {
            interval,
            burst: burst.max(1),
            tat: 0,
        }
    }

    /// Takes one token for a request made at `now`; returns how long the
    /// request waits before it is sent.
    pub fn reserve(&mut self, now: Time) -> Time {
        let tolerance = self.interval * Time::from(self.burst - 1);
        let tat = self.tat.max(now);
        let allowed = tat.saturating_sub(tolerance).max(now);
        self.tat = tat + self.interval;
        allowed - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MILLISECOND;

    #[test]
    fn burst_then_qps() {
        let mut b = TokenBucket::new(20.0, 30);
        let waits: Vec<Time> = (0..33).map(|_| b.reserve(0)).collect();
        assert!(waits[..30].iter().all(|w| *w == 0));
        assert_eq!(waits[30], 50 * MILLISECOND);
        assert_eq!(waits[31], 100 * MILLISECOND);
        assert_eq!(waits[32], 150 * MILLISECOND);
        // After a quiet second, 20 tokens are back.
        let mut b = TokenBucket::new(20.0, 30);
        for _ in 0..30 {
            b.reserve(0);
        }
        let later = SECOND;
        let waits: Vec<Time> = (0..21).map(|_| b.reserve(later)).collect();
        assert!(waits[..20].iter().all(|w| *w == 0), "{waits:?}");
        assert_eq!(waits[20], 50 * MILLISECOND);
    }
}
