//! The event queue: a monotone radix heap keyed by time, with first-in
//! first-out order among events of the same time.
//!
//! A discrete-event run never schedules into the past, so the queue only
//! needs to be monotone: every pushed time is at least the last popped one.
//! Times are read as 8 digits of one byte each. The `now` run holds the
//! next events in order; an event no later than its last goes into it, in
//! order. Any other differs first at some digit `j` (counting from the
//! least significant) from the time the run started at, and goes to
//! bucket `(j, d)`, `d` being its own digit `j`. Buckets in increasing
//! `(j, d)` order hold increasing, disjoint ranges of times, all later
//! than the run. A pop takes from the front of the run, refilling it when
//! empty from the lowest non-empty bucket: moved whole when its events
//! share one time, sorted into the run when they are at most [`FEW`], else
//! spread around its minimum (every event lands at a lower digit). Events
//! of equal time always share a bucket, buckets keep their order when
//! moved and the run is sorted by (time, sequence), so equal times pop in
//! insertion order, as an ordering by (time, sequence) would.
//!
//! With 256 buckets per digit, an event moves at most once per byte of its
//! distance from the last popped time (a binary radix heap moves it up to
//! once per bit, and one with hexadecimal digits once per four bits). A
//! bucket of a few events is sorted rather than spread: most buckets a
//! refill reaches hold one or two events of different times, which would
//! otherwise each go down a digit and need a refill of their own.

use std::collections::VecDeque;

use super::Time;

/// One scheduled message.
pub struct Scheduled<D, M> {
    pub time: Time,
    /// The sequence number, with [`BACKGROUND`] set for a background
    /// event (a flag field would add 8 bytes of padding to every event the
    /// queue moves).
    tagged_seq: u64,
    pub dest: D,
    pub msg: M,
}

/// The bit of `tagged_seq` that marks a background event: sequence numbers
/// count events, and never reach it.
const BACKGROUND: u64 = 1 << 63;

impl<D, M> Scheduled<D, M> {
    /// The insertion sequence number.
    #[inline(always)]
    pub fn seq(&self) -> u64 {
        self.tagged_seq & !BACKGROUND
    }

    /// A background event does not keep the run going by itself.
    #[inline(always)]
    pub fn background(&self) -> bool {
        self.tagged_seq & BACKGROUND != 0
    }
}

const DIGIT_BITS: u32 = 8;
const RADIX: usize = 1 << DIGIT_BITS;
const LEVELS: usize = 64_usize.div_ceil(DIGIT_BITS as usize);
const BUCKETS: usize = LEVELS * RADIX;
const WORDS: usize = BUCKETS.div_ceil(64);
const _: () = assert!(WORDS <= 32, "one bit per word of `occupied` in a u32");
/// The most events an emptied buffer is kept for: with 2 048 buckets, large
/// buffers kept in the empty ones would add up to megabytes.
const KEEP: usize = 64;
/// The most larger emptied buffers kept aside for buckets to start from.
const POOL: usize = 8;
/// The largest buffer kept aside, in events: a wave of events scheduled
/// together (every kube-proxy's sync, say) is this size; much larger
/// buffers given to buckets that start filling cost more than they save.
const POOLED: usize = 8192;
/// The most events of different times a refill sorts into the run
/// rather than spreading them over lower buckets.
const FEW: usize = 4;

/// The bucket of an event at `time` when buckets are placed from `last`
/// (`time >= last`); `None` when they are equal.
#[inline(always)]
fn bucket(time: Time, last: Time) -> Option<usize> {
    let x = time ^ last;
    if x == 0 {
        return None;
    }
    let digit = (63 - x.leading_zeros()) / DIGIT_BITS;
    let d = (time >> (digit * DIGIT_BITS)) as usize & (RADIX - 1);
    Some(digit as usize * RADIX + d)
}

/// A min-queue of scheduled messages with stable ties.
pub struct EventQueue<D, M> {
    /// The run: events sorted by (time, sequence), from time `last` on,
    /// every one earlier than any bucket's, popped from the front.
    now: VecDeque<Scheduled<D, M>>,
    buckets: Vec<Vec<Scheduled<D, M>>>,
    /// Per bucket, the least and greatest time it holds (when non-empty).
    mins: Vec<Time>,
    maxs: Vec<Time>,
    /// Bit `b % 64` of word `b / 64` is set when bucket `b` is non-empty.
    occupied: [u64; WORDS],
    /// Bit `w` is set when word `w` of `occupied` is non-zero.
    occupied_words: u32,
    /// Emptied buffers of more than [`KEEP`] events, given to buckets
    /// that fill up: a wave of events scheduled together fills one
    /// bucket, which would otherwise grow, a dozen reallocations, at every
    /// wave.
    pool: Vec<Vec<Scheduled<D, M>>>,
    /// The time buckets are placed from: the least time of the run when
    /// it was filled (it stays there while the run empties, so that no
    /// bucket's range changes under its events).
    last: Time,
    /// The time of the last pop, which pushes are raised to.
    floor: Time,
    len: usize,
    next_seq: u64,
}

impl<D, M> Default for EventQueue<D, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D, M> EventQueue<D, M> {
    pub fn new() -> Self {
        EventQueue {
            now: VecDeque::new(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            mins: vec![Time::MAX; BUCKETS],
            maxs: vec![0; BUCKETS],
            occupied: [0; WORDS],
            occupied_words: 0,
            pool: Vec::new(),
            last: 0,
            floor: 0,
            len: 0,
            next_seq: 0,
        }
    }

    /// Appends `ev` to bucket `b`.
    #[inline(always)]
    fn put(&mut self, b: usize, ev: Scheduled<D, M>) {
        self.mins[b] = self.mins[b].min(ev.time);
        self.maxs[b] = self.maxs[b].max(ev.time);
        self.occupied[b / 64] |= 1 << (b % 64);
        self.occupied_words |= 1 << (b / 64);
        let bucket = &mut self.buckets[b];
        if bucket.len() == bucket.capacity()
            && self
                .pool
                .last()
                .is_some_and(|p| p.capacity() > bucket.len())
        {
            // A full bucket moves into a larger pooled buffer rather than
            // growing.
            let mut buffer = self.pool.pop().expect("checked");
            buffer.append(bucket);
            *bucket = buffer;
        }
        bucket.push(ev);
    }

    /// Schedules `msg` for `dest` at `time` (never before the last popped
    /// time: earlier times are raised to it); returns its sequence number.
    #[inline]
    pub fn push(&mut self, time: Time, dest: D, msg: M, background: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let time = time.max(self.floor);
        debug_assert!(seq < BACKGROUND, "sequence numbers stay below the flag bit");
        let ev = Scheduled {
            time,
            tagged_seq: if background { seq | BACKGROUND } else { seq },
            dest,
            msg,
        };
        match self.now.back() {
            // Into the run, after the events of its time.
            Some(back) if time < back.time => self.insert_in_run(ev),
            Some(back) if time == back.time => self.now.push_back(ev),
            _ => match bucket(time, self.last) {
                None => self.now.push_back(ev),
                Some(b) => self.put(b, ev),
            },
        }
        self.len += 1;
        seq
    }

    /// Puts `ev` into the run after every event no later than it (the run's
    /// times differ only when a refill sorted at most [`FEW`] events into
    /// it, so it is short then).
    #[inline(never)]
    fn insert_in_run(&mut self, ev: Scheduled<D, M>) {
        let at = self.now.partition_point(|e| e.time <= ev.time);
        self.now.insert(at, ev);
    }

    /// The lowest non-empty bucket.
    #[inline]
    fn lowest(&self) -> Option<usize> {
        if self.occupied_words == 0 {
            return None;
        }
        let w = self.occupied_words.trailing_zeros() as usize;
        Some(w * 64 + self.occupied[w].trailing_zeros() as usize)
    }

    /// Makes `now` non-empty if any event is queued.
    #[inline]
    fn refill(&mut self) {
        if self.now.is_empty() {
            self.refill_slow();
        }
    }

    #[inline(never)]
    fn refill_slow(&mut self) {
        let Some(b) = self.lowest() else {
            return;
        };
        self.occupied[b / 64] &= !(1 << (b % 64));
        if self.occupied[b / 64] == 0 {
            self.occupied_words &= !(1 << (b / 64));
        }
        let (min, max) = (self.mins[b], self.maxs[b]);
        self.mins[b] = Time::MAX;
        self.maxs[b] = 0;
        self.last = min;
        self.floor = min;
        let few = self.buckets[b].len() <= FEW;
        if few {
            // Moved into the run, both buffers kept; of different times,
            // sorted first (stable: equal times keep their order).
            let bucket = &mut self.buckets[b];
            if min != max {
                bucket.sort_by_key(|e| e.time);
            }
            // Moved one by one from the back: no `Drain` to set up. The
            // empty run is cleared first, which resets where its front
            // is: the few events go to the same (cached) slots at every
            // refill, not down a large buffer one slot at a time.
            self.now.clear();
            while let Some(ev) = bucket.pop() {
                self.now.push_front(ev);
            }
            if bucket.capacity() > KEEP {
                // A buffer once grown by a wave goes back to the pool.
                let spent = std::mem::take(bucket);
                self.set_aside(spent);
            }
            return;
        }
        if min == max {
            // One time: the bucket becomes `now` as it is (both conversions
            // keep the buffers; the empty `now` is the bucket's next one).
            let mut spent = std::mem::take(&mut self.now);
            // Empty, but its front can be anywhere in the buffer: cleared,
            // it starts at the buffer's start, and the conversion to a
            // `Vec` has nothing to move (else it calls `memmove` for
            // nothing, at every refill).
            spent.clear();
            if spent.capacity() > KEEP {
                self.set_aside(Vec::from(spent));
                spent = VecDeque::new();
            }
            let full = std::mem::replace(&mut self.buckets[b], Vec::from(spent));
            self.now = VecDeque::from(full);
            return;
        }
        let mut spread = std::mem::take(&mut self.buckets[b]);
        // Every event goes to a lower digit, since they all share the
        // digits above the bucket's with the new minimum.
        for ev in spread.drain(..) {
            match bucket(ev.time, min) {
                None => self.now.push_back(ev),
                Some(nb) => self.put(nb, ev),
            }
        }
        // Keep the emptied bucket's allocation for reuse; a large one
        // goes to the pool.
        if spread.capacity() <= KEEP {
            self.buckets[b] = spread;
        } else {
            self.set_aside(spread);
        }
    }

    /// Keeps an emptied large buffer in the pool, if there is room.
    #[cold]
    fn set_aside(&mut self, buffer: Vec<Scheduled<D, M>>) {
        debug_assert!(buffer.is_empty());
        if self.pool.len() < POOL && buffer.capacity() <= POOLED {
            self.pool.push(buffer);
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<Scheduled<D, M>> {
        self.refill();
        let ev = self.now.pop_front()?;
        self.floor = ev.time;
        self.len -= 1;
        Some(ev)
    }

    #[inline]
    pub fn peek_time(&mut self) -> Option<Time> {
        self.refill();
        self.now.front().map(|e| e.time)
    }

    /// The time of the next event, without moving anything: unlike
    /// [`EventQueue::peek_time`], which may advance the floor for pushes to
    /// that time, pushes at any time from the last pop on stay valid.
    #[inline]
    pub fn next_time(&self) -> Option<Time> {
        match self.now.front() {
            Some(ev) => Some(ev.time),
            None => self.lowest().map(|b| self.mins[b]),
        }
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
    /// pushes and pops that never goes back in time, with times spread over
    /// small and large ranges (many ties, many digits).
    #[test]
    fn matches_a_time_sequence_ordering() {
        for scale in [1u64, 1 << 20, 1 << 44] {
            let mut q = EventQueue::new();
            let mut reference: Vec<(Time, u64, u32)> = Vec::new();
            let mut x: u64 = 12345;
            let mut now = 0;
            for step in 0..20_000u64 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                if !x.is_multiple_of(3) || reference.is_empty() {
                    // Many ties: times drawn from a small range above now.
                    let t = now + (x >> 60) * if step.is_multiple_of(7) { scale } else { 1 };
                    let seq = q.push(t, (), step as u32, false);
                    reference.push((t, seq, step as u32));
                } else {
                    reference.sort();
                    let want = reference.remove(0);
                    let got = q.pop().map(|s| (s.time, s.seq(), s.msg)).unwrap();
                    assert_eq!(got, want);
                    assert_eq!(q.len(), reference.len());
                    now = got.0;
                }
            }
            reference.sort();
            for want in reference {
                assert_eq!(q.peek_time(), Some(want.0));
                assert_eq!(q.pop().map(|s| (s.time, s.seq(), s.msg)), Some(want));
            }
            assert!(q.is_empty());
            assert_eq!(q.peek_time(), None);
        }
    }

    /// A bucket of a few events of different times is sorted into the
    /// run; an event pushed after the run's last, while the run empties,
    /// is placed from the run's first time, not from the last popped one:
    /// from there, its bucket could hold later times than the event's
    /// (here 0x01_FF_20, pushed after 0x01_FF_00 was popped, would
    /// otherwise come before 0x01_FF_10, pushed before).
    #[test]
    fn a_sorted_run_keeps_the_buckets_placed_while_it_empties() {
        let mut q = EventQueue::new();
        q.push(0x01_00_05, 'a', (), false);
        q.push(0x01_FF_00, 'c', (), false);
        assert_eq!(q.pop().map(|s| s.dest), Some('a'));
        q.push(0x01_00_50, 'b', (), false);
        q.push(0x01_FF_10, 'd', (), false);
        assert_eq!(q.pop().map(|s| s.dest), Some('b'));
        assert_eq!(q.pop().map(|s| s.dest), Some('c'));
        q.push(0x01_FF_20, 'e', (), false);
        q.push(0x01_FF_10, 'f', (), false);
        let rest: Vec<(Time, char)> =
            std::iter::from_fn(|| q.pop().map(|s| (s.time, s.dest))).collect();
        assert_eq!(
            rest,
            vec![(0x01_FF_10, 'd'), (0x01_FF_10, 'f'), (0x01_FF_20, 'e')]
        );
    }

    /// Pushes before the last popped time are raised to it and run after
    /// the events already due then.
    #[test]
    fn past_times_are_raised_to_the_last_pop() {
        let mut q = EventQueue::new();
        q.push(10, 'a', (), false);
        q.push(10, 'b', (), false);
        assert_eq!(q.pop().map(|s| (s.time, s.dest)), Some((10, 'a')));
        q.push(3, 'c', (), false);
        q.push(u64::MAX, 'd', (), true);
        let rest: Vec<(Time, char, bool)> =
            std::iter::from_fn(|| q.pop().map(|s| (s.time, s.dest, s.background()))).collect();
        assert_eq!(
            rest,
            vec![(10, 'b', false), (10, 'c', false), (u64::MAX, 'd', true)]
        );
    }
}
