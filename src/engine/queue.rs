//! The event queue: a monotone radix heap keyed by time, with first-in
//! first-out order among events of the same time.
//!
//! A discrete-event run never schedules into the past, so the queue only
//! needs to be monotone: every pushed time is at least the last popped one.
//! Bucket `b` holds the events whose time first differs from the last
//! popped time at bit `b - 1` (bucket 0: equal to it). A push is a bucket
//! append; a pop takes from bucket 0, refilling it when empty by spreading
//! the lowest non-empty bucket around its minimum. Events of equal time
//! always share a bucket and buckets keep their order when spread, so equal
//! times pop in insertion order, as an ordering by (time, sequence) would.

use std::collections::VecDeque;

use super::Time;

/// One scheduled message.
pub struct Scheduled<D, M> {
    pub time: Time,
    pub seq: u64,
    pub dest: D,
    pub msg: M,
    /// A background event does not keep the run going by itself.
    pub background: bool,
}

const BUCKETS: usize = 65;

/// A min-queue of scheduled messages with stable ties.
pub struct EventQueue<D, M> {
    /// Bucket 0, popped from the front.
    now: VecDeque<Scheduled<D, M>>,
    buckets: Vec<Vec<Scheduled<D, M>>>,
    /// Bit `b - 1` is set when bucket `b` (1 to 64) may hold events.
    occupied: u64,
    /// The time of the last pop (or the floor pushes are clamped to).
    last: Time,
    len: usize,
    next_seq: u64,
}

impl<D, M> Default for EventQueue<D, M> {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket(time: Time, last: Time) -> usize {
    (64 - (time ^ last).leading_zeros()) as usize
}

impl<D, M> EventQueue<D, M> {
    pub fn new() -> Self {
        EventQueue {
            now: VecDeque::new(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: 0,
            last: 0,
            len: 0,
            next_seq: 0,
        }
    }

    /// Schedules `msg` for `dest` at `time` (never before the last popped
    /// time: earlier times are raised to it); returns its sequence number.
    pub fn push(&mut self, time: Time, dest: D, msg: M, background: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let time = time.max(self.last);
        let ev = Scheduled {
            time,
            seq,
            dest,
            msg,
            background,
        };
        match bucket(time, self.last) {
            0 => self.now.push_back(ev),
            b => {
                self.buckets[b].push(ev);
                self.occupied |= 1 << (b - 1);
            }
        }
        self.len += 1;
        seq
    }

    /// Makes bucket 0 non-empty if any event is queued.
    fn refill(&mut self) {
        if !self.now.is_empty() {
            return;
        }
        if self.occupied == 0 {
            return;
        }
        let b = self.occupied.trailing_zeros() as usize + 1;
        self.occupied &= !(1 << (b - 1));
        let mut spread = std::mem::take(&mut self.buckets[b]);
        self.last = spread.iter().map(|e| e.time).min().expect("non-empty");
        // Every event goes to a lower bucket, since they all share the bits
        // above `b - 1` with the new minimum.
        for ev in spread.drain(..) {
            match bucket(ev.time, self.last) {
                0 => self.now.push_back(ev),
                nb => {
                    self.buckets[nb].push(ev);
                    self.occupied |= 1 << (nb - 1);
                }
            }
        }
        // Keep the emptied bucket's allocation for reuse.
        self.buckets[b] = spread;
    }

    pub fn pop(&mut self) -> Option<Scheduled<D, M>> {
        self.refill();
        let ev = self.now.pop_front()?;
        self.len -= 1;
        Some(ev)
    }

    pub fn peek_time(&mut self) -> Option<Time> {
        self.refill();
        self.now.front().map(|e| e.time)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, 'a', (), false);
        q.push(1, 'b', (), false);
        q.push(5, 'c', (), false);
        q.push(1, 'd', (), false);
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|s| s.dest)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
    }

    /// Against a reference ordering by (time, seq), on a pseudo-random mix of
    /// pushes and pops that never goes back in time.
    #[test]
    fn matches_a_time_sequence_ordering() {
        let mut q = EventQueue::new();
        let mut reference: Vec<(Time, u64)> = Vec::new();
        let mut x: u64 = 12345;
        let mut now = 0;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if !x.is_multiple_of(3) || reference.is_empty() {
                // Many ties: times drawn from a small range above now.
                let t = now + (x >> 60) * if step.is_multiple_of(7) { 1 << 20 } else { 1 };
                let seq = q.push(t, (), (), false);
                reference.push((t, seq));
            } else {
                reference.sort();
                let want = reference.remove(0);
                let got = q.pop().map(|s| (s.time, s.seq)).unwrap();
                assert_eq!(got, want);
                now = got.0;
            }
        }
        reference.sort();
        for want in reference {
            assert_eq!(q.pop().map(|s| (s.time, s.seq)), Some(want));
        }
        assert!(q.is_empty());
    }
}
