//! The discrete-event engine: integer virtual time, an event queue ordered by
//! (time, insertion sequence), seeded random streams and the run loop.
//!
//! Architecture invariant: this module knows nothing of Kubernetes. It moves
//! opaque messages of a closed type `M` to destinations of type `D` and asks a
//! [`World`] to handle them one at a time.
//!
//! Ordering guarantees:
//! - events run in increasing virtual time;
//! - events with the same time run in the order they were scheduled (FIFO), and
//!   the messages one handler sends are scheduled in the order it sent them;
//! - a handler never runs concurrently with another; it sees the world as the
//!   previous handler left it.

pub mod ahead;
pub mod dist;
mod queue;
mod rng;

pub use queue::{EventQueue, Scheduled};
pub use rng::RngStreams;

/// Virtual time in nanoseconds since the start of the run.
pub type Time = u64;

pub const NANOSECOND: Time = 1;
pub const MICROSECOND: Time = 1_000;
pub const MILLISECOND: Time = 1_000_000;
pub const SECOND: Time = 1_000_000_000;

/// Formats a virtual time as seconds with exactly six decimals, from the integer
/// clock alone (no floating point), truncating below the microsecond.
pub fn format_seconds(t: Time) -> String {
    format!("{}.{:06}", t / SECOND, (t % SECOND) / MICROSECOND)
}

/// What a message must tell the engine for the run hash: a stable small number
/// per variant and a name for diagnostics.
pub trait MessageKind {
    fn kind_id(&self) -> u32;
}

/// What a destination must tell the engine for the run hash.
pub trait Address: Copy {
    fn address_id(&self) -> u64;
}

/// The handler's view of the engine: the current time, and the queue its
/// messages go to as they are sent (no buffer in between: the sequence
/// numbers are those of sending in order after the handler returned, as
/// nothing else schedules meanwhile).
pub struct Ctx<D, M> {
    now: Time,
    seq: u64,
    queue: EventQueue<D, M>,
    /// Pending events that are not background events.
    foreground: usize,
    /// Whether the run has a time limit (for [`Ctx::send_retry`]).
    bounded: bool,
}

impl<D, M> Ctx<D, M> {
    /// The virtual time of the event being handled.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The sequence number of the event being handled.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sends `msg` to `dest`, to arrive `delay` nanoseconds from now.
    #[inline]
    pub fn send(&mut self, dest: D, delay: Time, msg: M) {
        let at = self.now.saturating_add(delay);
        self.queue.push(at, dest, msg, false);
        self.foreground += 1;
    }

    /// Sends a background message: one that does not by itself keep the run
    /// going (a periodic timer, say). A run with only background events left
    /// is idle.
    #[inline]
    pub fn send_background(&mut self, dest: D, delay: Time, msg: M) {
        let at = self.now.saturating_add(delay);
        self.queue.push(at, dest, msg, true);
    }

    /// Sends a retry. When `lingering`, it may repeat forever (a crash
    /// loop at its back-off cap, say): it keeps a run with a time limit
    /// going, as any message, but not a run without one, which would
    /// otherwise never end. Otherwise it is sent as any message.
    #[inline]
    pub fn send_retry(&mut self, dest: D, delay: Time, msg: M, lingering: bool) {
        if lingering && !self.bounded {
            self.send_background(dest, delay, msg);
        } else {
            self.send(dest, delay, msg);
        }
    }

    /// Sends `msg` to `dest` at the absolute time `at` (never earlier than now).
    #[inline]
    pub fn send_at(&mut self, dest: D, at: Time, msg: M) {
        self.queue.push(at.max(self.now), dest, msg, false);
        self.foreground += 1;
    }
}

/// A model of the world the engine drives.
pub trait World {
    type Dest: Address;
    type Msg: MessageKind;
    fn handle(&mut self, ctx: &mut Ctx<Self::Dest, Self::Msg>, dest: Self::Dest, msg: Self::Msg);
}

/// A running FNV-1a hash over (time, sequence, destination, message kind) of
/// every event processed: two runs that diverge anywhere differ here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunHash(u64);

impl Default for RunHash {
    fn default() -> Self {
        RunHash(0xcbf2_9ce4_8422_2325)
    }
}

/// The 64-bit FNV prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// `FNV_PRIME` to the powers 0 to 8: hashing `k` zero bytes multiplies by
/// the prime `k` times and XORs nothing in, which is one multiplication by
/// its `k`-th power.
const FNV_PRIME_POWERS: [u64; 9] = {
    let mut powers = [1u64; 9];
    let mut k = 1;
    while k < 9 {
        powers[k] = powers[k - 1].wrapping_mul(FNV_PRIME);
        k += 1;
    }
    powers
};

impl RunHash {
    /// Hashes the eight little-endian bytes of `word`, one at a time as
    /// FNV-1a does. The high zero bytes (most words are small numbers) are
    /// folded into one multiplication: the same value as byte by byte.
    #[inline]
    pub fn add(&mut self, word: u64) {
        let significant = 8 - (word.leading_zeros() / 8) as usize;
        let mut h = self.0;
        let mut rest = word;
        for _ in 0..significant {
            h ^= rest & 0xff;
            h = h.wrapping_mul(FNV_PRIME);
            rest >>= 8;
        }
        self.0 = h.wrapping_mul(FNV_PRIME_POWERS[8 - significant]);
    }

    pub fn value(&self) -> u64 {
        self.0
    }
}

/// Why a run loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Nothing was left to do.
    Idle,
    /// The next event lies past the time limit.
    TimeLimit,
}

/// The engine: the queue and the clock (in the handler context), the
/// counters and the hash.
pub struct Engine<D, M> {
    ctx: Ctx<D, M>,
    processed: u64,
    hash: RunHash,
}

impl<D: Address, M: MessageKind> Default for Engine<D, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Address, M: MessageKind> Engine<D, M> {
    pub fn new() -> Self {
        Engine {
            ctx: Ctx {
                now: 0,
                seq: 0,
                queue: EventQueue::new(),
                foreground: 0,
                bounded: false,
            },
            processed: 0,
            hash: RunHash::default(),
        }
    }

    pub fn now(&self) -> Time {
        self.ctx.now
    }

    pub fn processed(&self) -> u64 {
        self.processed
    }

    pub fn hash(&self) -> RunHash {
        self.hash
    }

    pub fn pending(&self) -> usize {
        self.ctx.queue.len()
    }

    /// Schedules a message from outside any handler (initial events).
    pub fn schedule(&mut self, at: Time, dest: D, msg: M) {
        self.ctx.send_at(dest, at, msg);
    }

    /// Runs events until only background events are left or the next event lies after
    /// `until` (inclusive limit). The clock ends at `until` when the limit
    /// stopped the run, else at the last event.
    pub fn run<W: World<Dest = D, Msg = M>>(&mut self, world: &mut W, until: Option<Time>) -> Stop {
        self.run_segment(world, until, until.is_some())
    }

    /// [`Self::run`] for one segment of a run cut at `until`, whose own
    /// time limit (`time_limited`) decides what lingering events do, so
    /// that a run cut into segments runs as it does whole.
    pub fn run_segment<W: World<Dest = D, Msg = M>>(
        &mut self,
        world: &mut W,
        until: Option<Time>,
        time_limited: bool,
    ) -> Stop {
        let limit = until.unwrap_or(Time::MAX);
        self.ctx.bounded = time_limited;
        loop {
            if self.ctx.foreground == 0 {
                return Stop::Idle;
            }
            match self.ctx.queue.peek_time() {
                None => return Stop::Idle,
                Some(t) if t > limit => {
                    self.ctx.now = limit;
                    return Stop::TimeLimit;
                }
                _ => {}
            }
            let Some(ev) = self.ctx.queue.pop() else {
                return Stop::Idle;
            };
            self.step(world, ev);
        }
    }

    /// Runs every event at or before `limit`, background or not, and
    /// leaves the clock at the last one: for a model driven from outside,
    /// which is told how far it may go (see `proxy::link`). Messages may
    /// then be scheduled at any time after `limit` (the queue's floor
    /// never passes the last event run).
    pub fn run_through<W: World<Dest = D, Msg = M>>(&mut self, world: &mut W, limit: Time) {
        while self.ctx.queue.next_time().is_some_and(|t| t <= limit) {
            let Some(ev) = self.ctx.queue.pop() else {
                return;
            };
            self.step(world, ev);
        }
    }

    #[inline]
    fn step<W: World<Dest = D, Msg = M>>(&mut self, world: &mut W, ev: Scheduled<D, M>) {
        self.processed += 1;
        if !ev.background() {
            self.ctx.foreground -= 1;
        }
        self.hash.add(ev.time);
        self.hash.add(ev.seq());
        self.hash.add(ev.dest.address_id());
        self.hash.add(u64::from(ev.msg.kind_id()));
        self.ctx.now = ev.time;
        self.ctx.seq = ev.seq();
        world.handle(&mut self.ctx, ev.dest, ev.msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Node(u64);
    impl Address for Node {
        fn address_id(&self) -> u64 {
            self.0
        }
    }
    #[derive(Debug)]
    struct Ping(u32);
    impl MessageKind for Ping {
        fn kind_id(&self) -> u32 {
            1
        }
    }

    /// Each ping at node n records (time, n, value) and, for value < 3, sends two
    /// more pings: one after 5 ns, one now.
    struct Log(Vec<(Time, u64, u32)>);
    impl World for Log {
        type Dest = Node;
        type Msg = Ping;
        fn handle(&mut self, ctx: &mut Ctx<Node, Ping>, dest: Node, msg: Ping) {
            self.0.push((ctx.now(), dest.0, msg.0));
            if msg.0 < 3 {
                ctx.send(Node(dest.0 + 1), 5, Ping(msg.0 + 1));
                ctx.send(Node(dest.0 + 10), 0, Ping(msg.0 + 1));
            }
        }
    }

    #[test]
    fn simultaneous_events_run_in_send_order_and_time_never_goes_back() {
        let mut engine = Engine::new();
        let mut world = Log(Vec::new());
        engine.schedule(0, Node(0), Ping(2));
        engine.schedule(0, Node(100), Ping(9));
        assert_eq!(engine.run(&mut world, None), Stop::Idle);
        assert_eq!(world.0, vec![(0, 0, 2), (0, 100, 9), (0, 10, 3), (5, 1, 3)]);
        assert_eq!(engine.processed(), 4);
    }

    #[test]
    fn time_limit_stops_before_later_events() {
        let mut engine = Engine::new();
        let mut world = Log(Vec::new());
        engine.schedule(10, Node(0), Ping(9));
        engine.schedule(30, Node(0), Ping(9));
        assert_eq!(engine.run(&mut world, Some(20)), Stop::TimeLimit);
        assert_eq!(world.0.len(), 1);
        assert_eq!(engine.now(), 20);
    }

    /// Resends every message 10 later, as a background (or, `true`, a
    /// lingering) message, counting them.
    struct Ticker(u32, bool);
    impl World for Ticker {
        type Dest = Node;
        type Msg = Ping;
        fn handle(&mut self, ctx: &mut Ctx<Node, Ping>, dest: Node, msg: Ping) {
            self.0 += 1;
            if self.1 {
                ctx.send_retry(dest, 10, msg, true);
            } else {
                ctx.send_background(dest, 10, msg);
            }
        }
    }

    /// Runs a [`Ticker`] started on node 0 at 0 and on node 1 at `second`:
    /// its ticks, the clock at the end and why the run stopped.
    fn ticks(lingering: bool, second: Time, until: Option<Time>) -> (u32, Time, Stop) {
        let mut engine = Engine::new();
        let mut world = Ticker(0, lingering);
        engine.schedule(0, Node(0), Ping(0));
        engine.schedule(second, Node(1), Ping(0));
        let stop = engine.run(&mut world, until);
        (world.0, engine.now(), stop)
    }

    #[test]
    fn background_events_alone_do_not_keep_the_run_going() {
        // Node 0 ticks at 0, 10, 20, 30; node 1 at 35; then only background
        // events remain.
        assert_eq!(ticks(false, 35, None), (5, 35, Stop::Idle));
    }

    #[test]
    fn lingering_events_keep_only_a_run_with_a_time_limit_going() {
        // Without a limit: node 0 at 0, 10, 20; node 1 at 25; then only
        // lingering events remain.
        assert_eq!(ticks(true, 25, None), (4, 25, Stop::Idle));
        // With one: node 0 at 0, 10, ... 100 and node 1 at 25, ... 95.
        assert_eq!(ticks(true, 25, Some(100)), (19, 100, Stop::TimeLimit));
        // Background events still do not.
        assert_eq!(ticks(false, 25, Some(100)), (4, 25, Stop::Idle));
        // A run without a limit cut into segments stops as it does whole.
        let mut engine = Engine::new();
        let mut world = Ticker(0, true);
        engine.schedule(0, Node(0), Ping(0));
        engine.schedule(25, Node(1), Ping(0));
        assert_eq!(
            engine.run_segment(&mut world, Some(12), false),
            Stop::TimeLimit
        );
        assert_eq!(
            engine.run_segment(&mut world, Some(1000), false),
            Stop::Idle
        );
        assert_eq!((world.0, engine.now()), (4, 25));
    }

    /// A model driven from outside: after `run_through`, a message may be
    /// scheduled before the next queued event (background or not) and
    /// runs before it, even far below it (a higher digit of the queue).
    #[test]
    fn run_through_leaves_room_before_the_next_event() {
        let mut engine = Engine::new();
        let mut world = Log(Vec::new());
        engine.schedule(10, Node(0), Ping(9));
        engine.schedule(1 << 40, Node(1), Ping(9));
        engine.run_through(&mut world, 50);
        assert_eq!(world.0, vec![(10, 0, 9)]);
        engine.schedule(60, Node(2), Ping(9));
        engine.schedule(1 << 20, Node(3), Ping(9));
        engine.run_through(&mut world, 1 << 30);
        assert_eq!(world.0.len(), 3, "{:?}", world.0);
        engine.schedule((1 << 40) - 1, Node(4), Ping(9));
        assert_eq!(engine.run(&mut world, None), Stop::Idle);
        let order: Vec<(Time, u64)> = world.0.iter().map(|&(t, n, _)| (t, n)).collect();
        assert_eq!(
            order,
            [
                (10, 0),
                (60, 2),
                (1 << 20, 3),
                ((1 << 40) - 1, 4),
                (1 << 40, 1)
            ]
        );
    }

    #[test]
    fn hash_depends_on_every_event() {
        let run = |t: Time| {
            let mut engine = Engine::new();
            engine.schedule(t, Node(0), Ping(1));
            engine.run(&mut Log(Vec::new()), None);
            engine.hash().value()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn hash_folds_zero_bytes_into_the_same_value_as_fnv1a_byte_by_byte() {
        let bytewise = |mut h: u64, word: u64| {
            for byte in word.to_le_bytes() {
                h ^= u64::from(byte);
                h = h.wrapping_mul(FNV_PRIME);
            }
            h
        };
        let mut words = vec![0, 1, 0xff, 0x100, u64::MAX, 1 << 63, 0x00ff_0000_0000_0001];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for shift in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words.push(x >> shift);
            words.push(1u64 << shift);
        }
        let mut fast = RunHash::default();
        let mut slow = RunHash::default().value();
        for w in words {
            fast.add(w);
            slow = bytewise(slow, w);
            assert_eq!(fast.value(), slow, "after {w:#x}");
        }
    }

    #[test]
    fn seconds_are_formatted_from_integers() {
        assert_eq!(format_seconds(0), "0.000000");
        assert_eq!(format_seconds(1_500_000_999), "1.500000");
        assert_eq!(format_seconds(12 * SECOND + 3 * MICROSECOND), "12.000003");
    }
}
