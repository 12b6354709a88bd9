//! A client-side token bucket, as client-go's `flowcontrol` rate limiter:
//! `qps` tokens a second, at most `burst` saved up. Kept in integer virtual
//! time: the level is the nanoseconds of refill accumulated.

use crate::engine::{SECOND, Time};

#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_token: Time,
    capacity: Time,
    level: Time,
    last: Time,
}

impl TokenBucket {
    /// A full bucket at time 0.
    pub fn new(qps: u64, burst: u64) -> Self {
        let per_token = SECOND / qps.max(1);
        TokenBucket {
            per_token,
            capacity: per_token * burst.max(1),
            level: per_token * burst.max(1),
            last: 0,
        }
    }

    fn refill(&mut self, now: Time) {
        if now > self.last {
            self.level = (self.level + (now - self.last)).min(self.capacity);
            self.last = now;
        }
    }

    /// A full bucket refilling one token every `period`.
    pub fn with_period(period: Time, burst: u64) -> Self {
        let per_token = period.max(1);
        TokenBucket {
            per_token,
            capacity: per_token * burst.max(1),
            level: per_token * burst.max(1),
            last: 0,
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Time) -> bool {
        self.refill(now);
        if self.level >= self.per_token {
            self.level -= self.per_token;
            true
        } else {
            false
        }
    }

    /// When the next token will be available (`now` if one is).
    pub fn next_token(&mut self, now: Time) -> Time {
        self.refill(now);
        now + self.per_token.saturating_sub(self.level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_qps() {
        let mut b = TokenBucket::new(50, 100);
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
    }
}
