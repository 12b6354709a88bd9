//! The event queue: a binary heap keyed by (time, insertion sequence), so that
//! simultaneous events pop first-in first-out.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

impl<D, M> PartialEq for Scheduled<D, M> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<D, M> Eq for Scheduled<D, M> {}
impl<D, M> PartialOrd for Scheduled<D, M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<D, M> Ord for Scheduled<D, M> {
    /// Reversed, so that the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A min-queue of scheduled messages with stable ties.
pub struct EventQueue<D, M> {
    heap: BinaryHeap<Scheduled<D, M>>,
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
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Schedules `msg` for `dest` at `time`; returns its sequence number.
    pub fn push(&mut self, time: Time, dest: D, msg: M, background: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled {
            time,
            seq,
            dest,
            msg,
            background,
        });
        seq
    }

    pub fn pop(&mut self) -> Option<Scheduled<D, M>> {
        self.heap.pop()
    }

    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|s| s.time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
