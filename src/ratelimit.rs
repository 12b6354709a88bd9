//! Client-side rate limiting: client-go's token bucket
//! (`flowcontrol.NewTokenBucketRateLimiter(qps, burst)`), used by every
//! client that upstream limits: kube-controller-manager (`--kube-api-qps=20`,
//! `--kube-api-burst=30`), the kubelet's status updates (QPS 50, burst 100)
//! and kube-proxy's bounded-frequency runner (one run per minSyncPeriod,
//! burst 2).
//!
//! Kept in the equivalent virtual-scheduling form (GCRA): the bucket is full
//! when `tat <= now`, each token is `interval` of time, and a request may go
//! once at most `burst` tokens are owed. Integer nanoseconds, so it is exact
//! and deterministic.

use crate::engine::{SECOND, Time};

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

    /// A full bucket refilling one token every `period`.
    pub fn with_period(period: Time, burst: u32) -> Self {
        TokenBucket {
            interval: period.max(1),
            burst: burst.max(1),
            tat: 0,
        }
    }

    /// When a request made at `now` could take a token (`now` if one is free).
    pub fn next_token(&self, now: Time) -> Time {
        let tolerance = self.interval * Time::from(self.burst - 1);
        self.tat.saturating_sub(tolerance).max(now)
    }

    /// Takes a token if one is free at `now`.
    pub fn try_take(&mut self, now: Time) -> bool {
        if self.next_token(now) > now {
            return false;
        }
        self.reserve(now);
        true
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

    #[test]
    fn try_take_and_next_token_follow_the_same_bucket() {
        let mut b = TokenBucket::new(50.0, 100);
        for _ in 0..100 {
            assert!(b.try_take(0));
        }
        assert!(!b.try_take(0));
        assert_eq!(b.next_token(0), SECOND / 50);
        assert!(b.try_take(SECOND / 50));
        assert!(!b.try_take(SECOND / 50));
        // A long idle time refills no more than the burst.
        let mut n = 0;
        while b.try_take(100 * SECOND) {
            n += 1;
        }
        assert_eq!(n, 100);
        let mut p = TokenBucket::with_period(SECOND, 2);
        assert!(p.try_take(5) && p.try_take(6) && !p.try_take(7));
        assert_eq!(p.next_token(7), SECOND + 5);
    }
}
