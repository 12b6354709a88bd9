//! The scheduling queue: activeQ ordered by PrioritySort (higher priority
//! first, then the earlier queue timestamp), backoffQ for pods whose last
//! attempt failed recently (1 s doubling to 10 s), and the unschedulable
//! pods, which cluster events move back and which are flushed after 5 min.
//! Each unschedulable pod keeps the plugins that rejected it, which the
//! scheduler's queueing hints (`hints.rs`) read to pick the pods an event
//! moves. With the hints off, a pod found unschedulable after a move
//! request came during its cycle goes to backoffQ instead, as upstream's
//! `moveRequestCycle` has it: the event it missed may have made it fit;
//! with them on, the scheduler puts the events of the cycle to the hints.
//!
//! activeQ is a binary heap with lazy removal: a pod taken out of activeQ
//! by other means than `pop` leaves its heap entry behind, and `pop` skips
//! entries whose (uid, sequence number) is no longer the pod's current
//! place in activeQ. Sequence numbers are never reused, so the pop order
//! is that of a heap holding only the live entries.

use crate::fasthash::HashMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::engine::{SECOND, Time};

pub const INITIAL_BACKOFF: Time = SECOND;
pub const MAX_BACKOFF: Time = 10 * SECOND;
/// `DefaultPodMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE: Time = 300 * SECOND;

use super::framework::FilterPlugin;
pub use super::hints::{NO_REJECTOR, Rejectors};

/// The plugins registered for a bound pod's addition (upstream's
/// `EventAssignedPodAdd`), which the queue reads with the hints off.
pub const REJECTED_BY_INTER_POD_AFFINITY: Rejectors =
    super::hints::bit(FilterPlugin::InterPodAffinity);
pub const REJECTED_BY_POD_TOPOLOGY_SPREAD: Rejectors =
    super::hints::bit(FilterPlugin::PodTopologySpread);

/// Backoff after `attempts` failed attempts with upstream's defaults: 1,
/// 2, 4, 8, 10, 10 ... s.
pub fn backoff(attempts: u32) -> Time {
    backoff_between(attempts, INITIAL_BACKOFF, MAX_BACKOFF)
}

/// Backoff after `attempts` failed attempts: `initial` doubled per
/// attempt after the first, at most `max` (upstream's
/// `calculateBackoffDuration`).
pub fn backoff_between(attempts: u32, initial: Time, max: Time) -> Time {
    if attempts == 0 {
        return 0;
    }
    let mut d = initial;
    for _ in 1..attempts {
        if d > max.saturating_sub(d) {
            return max;
        }
        d += d;
    }
    d.min(max)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    /// In activeQ under this sequence number.
    Active(u64),
    /// Popped: its scheduling cycle runs.
    InFlight,
    Backoff(Time, u64),
    Unschedulable(u64),
}

struct Entry {
    priority: i32,
    attempts: u32,
    last_failure: Time,
    at: Where,
}

/// The queue of pods waiting for a scheduling cycle, by pod uid.
#[derive(Default)]
pub struct SchedulingQueue {
    /// activeQ: (priority, Reverse(sequence number), uid), highest first;
    /// may hold stale entries (see the module's header).
    active: BinaryHeap<(i32, Reverse<u64>, u64)>,
    /// How many entries of `active` are live.
    active_live: usize,
    backoff: BTreeMap<(Time, u64), u64>,
    /// By sequence number: (uid, since, the `REJECTED_BY_*` plugins).
    unschedulable: BTreeMap<u64, (u64, Time, Rejectors)>,
    entries: HashMap<u64, Entry>,
    seq: u64,
    /// Scheduling cycles started, one per `pop` (upstream's
    /// `schedulingCycle`).
    cycle: u64,
    /// The cycle during which the latest move request came (upstream's
    /// `moveRequestCycle`).
    move_request_cycle: u64,
    /// `podInitialBackoffSeconds` and `podMaxBackoffSeconds`, when a
    /// KubeSchedulerConfiguration sets them (else 1 s and 10 s).
    backoff_bounds: Option<(Time, Time)>,
}

/// Where a pod found unschedulable waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeued {
    /// Among the unschedulable pods, flushed at this time at the latest.
    Unschedulable(Time),
    /// In backoffQ until this time: a move request came during its cycle.
    Backoff(Time),
}

impl SchedulingQueue {
    /// Sets the backoff's initial and greatest durations.
    pub fn set_backoff(&mut self, initial: Time, max: Time) {
        self.backoff_bounds = Some((initial, max));
    }

    fn backoff_of(&self, attempts: u32) -> Time {
        match self.backoff_bounds {
            Some((initial, max)) => backoff_between(attempts, initial, max),
            None => backoff(attempts),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn contains(&self, uid: u64) -> bool {
        self.entries.contains_key(&uid)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn active_len(&self) -> usize {
        self.active_live
    }

    /// Puts `uid` in activeQ under a new sequence number.
    fn push_active(&mut self, uid: u64, priority: i32) -> Where {
        let seq = self.next_seq();
        self.active.push((priority, Reverse(seq), uid));
        self.active_live += 1;
        Where::Active(seq)
    }

    /// An entry of activeQ left it other than by `pop`: its heap entry
    /// is now stale; the heap is rebuilt when stale entries outnumber the
    /// live ones.
    fn left_active(&mut self) {
        self.active_live -= 1;
        if self.active.len() > 64 && self.active.len() > 2 * self.active_live {
            let entries = &self.entries;
            self.active.retain(|&(_, Reverse(seq), uid)| {
                entries
                    .get(&uid)
                    .is_some_and(|e| e.at == Where::Active(seq))
            });
        }
    }

    /// A new pod: straight to activeQ.
    pub fn add(&mut self, uid: u64, priority: i32) {
        if self.entries.contains_key(&uid) {
            return;
        }
        let at = self.push_active(uid, priority);
        self.entries.insert(
            uid,
            Entry {
                priority,
                attempts: 0,
                last_failure: 0,
                at,
            },
        );
    }

    /// A pod whose binding failed after `attempts` attempts comes back,
    /// to backoffQ until its backoff ends (returned), as upstream's
    /// failure handler requeues it.
    pub fn requeue_failed(&mut self, uid: u64, priority: i32, attempts: u32, now: Time) -> Time {
        self.remove(uid);
        // Back in flight with its attempts, then failed as any other.
        self.entries.insert(
            uid,
            Entry {
                priority,
                attempts,
                last_failure: now,
                at: Where::InFlight,
            },
        );
        self.failed_backoff(uid, now)
            .expect("the pod was just put in flight")
    }

    /// Takes the pod at the head of activeQ. It stays known to the queue
    /// (in flight) until `done` or `failed`.
    pub fn pop(&mut self) -> Option<u64> {
        while let Some((_, Reverse(seq), uid)) = self.active.pop() {
            // Skips the stale entries.
            if let Some(e) = self.entries.get_mut(&uid)
                && e.at == Where::Active(seq)
            {
                e.attempts += 1;
                e.at = Where::InFlight;
                self.active_live -= 1;
                self.cycle += 1;
                return Some(uid);
            }
        }
        None
    }

    pub fn attempts(&self, uid: u64) -> u32 {
        self.entries.get(&uid).map_or(0, |e| e.attempts)
    }

    /// The pod left the queue for good (scheduled, deleted, bound elsewhere).
    pub fn remove(&mut self, uid: u64) {
        if let Some(e) = self.entries.remove(&uid) {
            match e.at {
                Where::Active(seq) => {
                    if self.active.peek().is_some_and(|top| top.1 == Reverse(seq)) {
                        self.active.pop();
                        self.active_live -= 1;
                    } else {
                        self.left_active();
                    }
                }
                Where::InFlight => {}
                Where::Backoff(t, s) => {
                    self.backoff.remove(&(t, s));
                }
                Where::Unschedulable(s) => {
                    self.unschedulable.remove(&s);
                }
            }
        }
    }

    /// The in-flight pod found no node, rejected by `plugins`: it waits
    /// among the unschedulable pods, or in backoffQ when it is worth
    /// trying again. With the queueing hints on, `worth` is upstream's
    /// `determineSchedulingHintForInFlightPod`: the scheduler put the
    /// events of the pod's cycle to the hints. With them off (`None`), it
    /// is when a move request came since the pod was popped (upstream's
    /// `moveRequestCycle >= podSchedulingCycle`; one pod is in flight at a
    /// time, so its cycle is the latest) or when no plugin rejected it
    /// ([`NO_REJECTOR`]).
    pub fn failed_unschedulable(
        &mut self,
        uid: u64,
        now: Time,
        plugins: Rejectors,
        worth: Option<bool>,
    ) -> Requeued {
        let worth =
            worth.unwrap_or(self.move_request_cycle >= self.cycle || plugins & NO_REJECTOR != 0);
        if worth && let Some(until) = self.failed_backoff(uid, now) {
            return Requeued::Backoff(until);
        }
        let seq = self.next_seq();
        if let Some(e) = self.entries.get_mut(&uid) {
            e.last_failure = now;
            e.at = Where::Unschedulable(seq);
            self.unschedulable.insert(seq, (uid, now, plugins));
        }
        Requeued::Unschedulable(now + MAX_UNSCHEDULABLE)
    }

    /// A move request that moved no pod, as upstream's AssignedPodAdded
    /// with no unschedulable pod to move: it still counts for the pod in
    /// flight.
    pub fn move_requested(&mut self) {
        self.move_request_cycle = self.cycle;
    }

    /// The in-flight pod failed for another reason (a failed bind): it goes
    /// to backoffQ. Returns when its backoff expires.
    pub fn failed_backoff(&mut self, uid: u64, now: Time) -> Option<Time> {
        let seq = self.next_seq();
        let attempts = self.entries.get(&uid)?.attempts;
        let until = now + self.backoff_of(attempts);
        let e = self.entries.get_mut(&uid)?;
        e.last_failure = now;
        e.at = Where::Backoff(until, seq);
        self.backoff.insert((until, seq), uid);
        Some(until)
    }

    fn activate(&mut self, uid: u64) {
        let Some(priority) = self.entries.get(&uid).map(|e| e.priority) else {
            // The sequence number is taken all the same, as it always was.
            self.next_seq();
            return;
        };
        if let Some(Where::Active(_)) = self.entries.get(&uid).map(|e| e.at) {
            // Its heap entry goes stale (as before, it moves to the back).
            self.active_live -= 1;
        }
        let at = self.push_active(uid, priority);
        if let Some(e) = self.entries.get_mut(&uid) {
            e.at = at;
        }
    }

    /// A cluster event that may make pods fit: every unschedulable pod moves
    /// to backoffQ if still backing off, else to activeQ. Returns the
    /// earliest backoff expiry among the moved pods.
    pub fn move_all(&mut self, now: Time) -> Option<Time> {
        self.move_requested();
        let moved: Vec<u64> = self.unschedulable.values().map(|(uid, ..)| *uid).collect();
        self.unschedulable.clear();
        self.move_out(moved, now)
    }

    /// The plugins that rejected `uid`, if it is among the unschedulable
    /// pods.
    pub fn unschedulable_rejectors(&self, uid: u64) -> Option<Rejectors> {
        match self.entries.get(&uid)?.at {
            Where::Unschedulable(seq) => self.unschedulable.get(&seq).map(|e| e.2),
            _ => None,
        }
    }

    /// Moves `uid`, if it is among the unschedulable pods, as
    /// [`Self::move_all`] moves them, for an update of its own: no move
    /// request for the pod in flight.
    pub fn move_one(&mut self, uid: u64, now: Time) -> Option<Time> {
        let Where::Unschedulable(seq) = self.entries.get(&uid)?.at else {
            return None;
        };
        self.unschedulable.remove(&seq);
        self.move_out(vec![uid], now)
    }

    /// Whether any pod is unschedulable.
    pub fn has_unschedulable(&self) -> bool {
        !self.unschedulable.is_empty()
    }

    /// The unschedulable pods `which(uid, plugins)` picks move as
    /// [`Self::move_all`] moves them all.
    pub fn move_some(
        &mut self,
        now: Time,
        mut which: impl FnMut(u64, Rejectors) -> bool,
    ) -> Option<Time> {
        self.move_requested();
        let mut moved = Vec::new();
        self.unschedulable.retain(|_, &mut (uid, _, plugins)| {
            let go = which(uid, plugins);
            if go {
                moved.push(uid);
            }
            !go
        });
        self.move_out(moved, now)
    }

    /// The unschedulable pods of priority at most `priority` (upstream's
    /// `getLEPriorityPreCheck`) that `which(uid, plugins)` picks move as
    /// [`Self::move_all`] moves them all.
    pub fn move_some_up_to(
        &mut self,
        now: Time,
        priority: i32,
        mut which: impl FnMut(u64, Rejectors) -> bool,
    ) -> Option<Time> {
        self.move_requested();
        let entries = &self.entries;
        let mut moved = Vec::new();
        self.unschedulable.retain(|_, &mut (uid, _, plugins)| {
            let go =
                entries.get(&uid).is_some_and(|e| e.priority <= priority) && which(uid, plugins);
            if go {
                moved.push(uid);
            }
            !go
        });
        self.move_out(moved, now)
    }

    /// Moves `moved` (taken out of the unschedulable pods), in order, to
    /// backoffQ or activeQ; returns the earliest backoff expiry.
    fn move_out(&mut self, moved: Vec<u64>, now: Time) -> Option<Time> {
        let mut earliest: Option<Time> = None;
        for uid in moved {
            let Some(e) = self.entries.get(&uid) else {
                continue;
            };
            let until = e.last_failure + self.backoff_of(e.attempts);
            if until > now {
                let seq = self.next_seq();
                let e = self.entries.get_mut(&uid).expect("present");
                e.at = Where::Backoff(until, seq);
                self.backoff.insert((until, seq), uid);
                earliest = Some(earliest.map_or(until, |t: Time| t.min(until)));
            } else {
                self.activate(uid);
            }
        }
        earliest
    }

    /// When the earliest backoff in backoffQ expires.
    pub fn next_backoff(&self) -> Option<Time> {
        self.backoff.first_key_value().map(|(&(until, _), _)| until)
    }

    /// Moves pods whose backoff expired, and pods unschedulable for longer
    /// than 5 minutes, to activeQ.
    pub fn flush(&mut self, now: Time) {
        while let Some((&(until, seq), &uid)) = self.backoff.first_key_value() {
            if until > now {
                break;
            }
            self.backoff.remove(&(until, seq));
            self.activate(uid);
        }
        let stale: Vec<(u64, u64)> = self
            .unschedulable
            .iter()
            .filter(|(_, (_, since, _))| now.saturating_sub(*since) >= MAX_UNSCHEDULABLE)
            .map(|(seq, (uid, ..))| (*seq, *uid))
            .collect();
        if !stale.is_empty() {
            self.move_requested();
        }
        for (seq, uid) in stale {
            self.unschedulable.remove(&seq);
            self.activate(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_to_ten_seconds() {
        let s: Vec<Time> = (1..=6).map(|a| backoff(a) / SECOND).collect();
        assert_eq!(s, vec![1, 2, 4, 8, 10, 10]);
        let s: Vec<Time> = (1..=4)
            .map(|a| backoff_between(a, 2 * SECOND, 5 * SECOND) / SECOND)
            .collect();
        assert_eq!(s, vec![2, 4, 5, 5]);
        assert_eq!(backoff_between(70, SECOND, u64::MAX), u64::MAX);
    }

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut q = SchedulingQueue::default();
        q.add(1, 0);
        q.add(2, 10);
        q.add(3, 0);
        q.add(4, 10);
        let order: Vec<u64> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![2, 4, 1, 3]);
    }

    #[test]
    fn unschedulable_pods_move_on_cluster_events_respecting_backoff() {
        let mut q = SchedulingQueue::default();
        q.add(1, 0);
        assert_eq!(q.pop(), Some(1));
        q.failed_unschedulable(1, 0, 0, None);
        assert_eq!(q.pop(), None);
        // 0.5 s later the 1 s backoff is still running: to backoffQ.
        assert_eq!(q.move_all(SECOND / 2), Some(SECOND));
        assert_eq!(q.pop(), None);
        q.flush(SECOND);
        assert_eq!(q.pop(), Some(1));
        // After the second failure, nothing moves it but the 5 minute flush.
        q.failed_unschedulable(1, 2 * SECOND, 0, None);
        q.flush(100 * SECOND);
        assert_eq!(q.pop(), None);
        q.flush(302 * SECOND);
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.attempts(1), 3);
    }

    /// Upstream's moveRequestCycle: a move request during a pod's cycle
    /// (even one that moved nothing) sends it to backoffQ when it fails;
    /// one before its cycle does not.
    #[test]
    fn a_move_request_during_the_cycle_sends_the_pod_to_backoff() {
        let mut q = SchedulingQueue::default();
        q.add(1, 0);
        q.add(2, 0);
        q.move_requested();
        assert_eq!(q.pop(), Some(1));
        assert_eq!(
            q.failed_unschedulable(1, 0, 0, None),
            Requeued::Unschedulable(MAX_UNSCHEDULABLE)
        );
        assert_eq!(q.pop(), Some(2));
        q.move_requested();
        assert_eq!(
            q.failed_unschedulable(2, SECOND, 0, None),
            Requeued::Backoff(2 * SECOND)
        );
        assert_eq!(q.next_backoff(), Some(2 * SECOND));
        q.flush(2 * SECOND);
        assert_eq!(q.pop(), Some(2));
        // move_some counts too, whether or not it moves pod 1.
        q.move_some(3 * SECOND, |_, _| false);
        assert_eq!(
            q.failed_unschedulable(2, 3 * SECOND, 0, None),
            Requeued::Backoff(5 * SECOND)
        );
        assert!(q.has_unschedulable());
        q.move_all(6 * SECOND);
        assert_eq!(q.pop(), Some(1));
        // No plugin rejected it (no node): backoffQ all the same.
        assert_eq!(
            q.failed_unschedulable(1, 6 * SECOND, NO_REJECTOR, None),
            Requeued::Backoff(8 * SECOND)
        );
    }

    /// Pops, adds and removes (of waiting and in-flight pods, so that
    /// stale heap entries pile up and are compacted) against a list of the
    /// live entries in the order they must come out.
    #[test]
    fn lazy_removal_keeps_the_pop_order() {
        let mut q = SchedulingQueue::default();
        // (priority, order of entry, uid) of the pods in activeQ.
        let mut model: Vec<(i32, u64, u64)> = Vec::new();
        let mut entered = 0u64;
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut in_flight: Vec<u64> = Vec::new();
        let mut popped = 0;
        for _ in 0..20_000 {
            let r = next();
            let uid = next() % 300;
            match r % 8 {
                0..=2 => {
                    if !q.contains(uid) {
                        let priority = (next() % 3) as i32;
                        q.add(uid, priority);
                        entered += 1;
                        model.push((priority, entered, uid));
                    }
                }
                3..=4 => {
                    q.remove(uid);
                    model.retain(|m| m.2 != uid);
                    in_flight.retain(|&u| u != uid);
                }
                _ => {
                    let want = model
                        .iter()
                        .enumerate()
                        .max_by_key(|(_, m)| (m.0, std::cmp::Reverse(m.1)))
                        .map(|(k, _)| k);
                    let got = q.pop();
                    assert_eq!(got, want.map(|k| model.remove(k).2));
                    if let Some(uid) = got {
                        popped += 1;
                        in_flight.push(uid);
                        assert!(q.contains(uid), "in flight, still known");
                    }
                }
            }
            assert_eq!(q.active_len(), model.len());
            assert!(q.active.len() <= 64.max(2 * model.len()) + 1);
        }
        assert!(popped > 1000 && !in_flight.is_empty());
    }
}
