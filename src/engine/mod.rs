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

/// The handler's view of the engine: the current time and an out buffer of
/// messages to schedule. Only the engine owns the queue.
pub struct Ctx<D, M> {
    now: Time,
    seq: u64,
    out: Vec<(Time, D, M, bool)>,
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
    pub fn send(&mut self, dest: D, delay: Time, msg: M) {
        let at = self.now.saturating_add(delay);
        self.out.push((at, dest, msg, false));
    }

    /// Sends a background message: one that does not by itself keep the run
    /// going (a periodic timer, say). A run with only background events left
    /// is idle.
    pub fn send_background(&mut self, dest: D, delay: Time, msg: M) {
        let at = self.now.saturating_add(delay);
        self.out.push((at, dest, msg, true));
    }

    /// Sends `msg` to `dest` at the absolute time `at` (never earlier than now).
    pub fn send_at(&mut self, dest: D, at: Time, msg: M) {
        self.out.push((at.max(self.now), dest, msg, false));
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

impl RunHash {
    pub fn add(&mut self, word: u64) {
        for byte in word.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
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

/// The engine: the queue, the clock, the counters and the hash.
pub struct Engine<D, M> {
    queue: EventQueue<D, M>,
    now: Time,
    processed: u64,
    hash: RunHash,
    out: Vec<(Time, D, M, bool)>,
    /// Pending events that are not background events.
    foreground: usize,
}

impl<D: Address, M: MessageKind> Default for Engine<D, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Address, M: MessageKind> Engine<D, M> {
    pub fn new() -> Self {
        Engine {
            queue: EventQueue::new(),
            now: 0,
            processed: 0,
            hash: RunHash::default(),
            out: Vec::new(),
            foreground: 0,
        }
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn processed(&self) -> u64 {
        self.processed
    }

    pub fn hash(&self) -> RunHash {
        self.hash
    }

    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Schedules a message from outside any handler (initial events).
    pub fn schedule(&mut self, at: Time, dest: D, msg: M) {
        self.queue.push(at.max(self.now), dest, msg, false);
        self.foreground += 1;
    }

    /// Runs events until only background events are left or the next event lies after
    /// `until` (inclusive limit). The clock ends at `until` when the limit
    /// stopped the run, else at the last event.
    pub fn run<W: World<Dest = D, Msg = M>>(&mut self, world: &mut W, until: Option<Time>) -> Stop {
        loop {
            if self.foreground == 0 {
                return Stop::Idle;
            }
            match (self.queue.peek_time(), until) {
                (None, _) => return Stop::Idle,
                (Some(t), Some(limit)) if t > limit => {
                    self.now = limit;
                    return Stop::TimeLimit;
                }
                _ => {}
            }
            let Some(ev) = self.queue.pop() else {
                return Stop::Idle;
            };
            self.step(world, ev);
        }
    }

    fn step<W: World<Dest = D, Msg = M>>(&mut self, world: &mut W, ev: Scheduled<D, M>) {
        self.now = ev.time;
        self.processed += 1;
        if !ev.background {
            self.foreground -= 1;
        }
        self.hash.add(ev.time);
        self.hash.add(ev.seq);
        self.hash.add(ev.dest.address_id());
        self.hash.add(u64::from(ev.msg.kind_id()));
        let mut ctx = Ctx {
            now: ev.time,
            seq: ev.seq,
            out: std::mem::take(&mut self.out),
        };
        world.handle(&mut ctx, ev.dest, ev.msg);
        for (at, dest, msg, background) in ctx.out.drain(..) {
            self.queue.push(at, dest, msg, background);
            self.foreground += usize::from(!background);
        }
        self.out = ctx.out;
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

    struct Ticker(u32);
    impl World for Ticker {
        type Dest = Node;
        type Msg = Ping;
        fn handle(&mut self, ctx: &mut Ctx<Node, Ping>, dest: Node, msg: Ping) {
            self.0 += 1;
            ctx.send_background(dest, 10, msg);
        }
    }

    #[test]
    fn background_events_alone_do_not_keep_the_run_going() {
        let mut engine = Engine::new();
        let mut world = Ticker(0);
        engine.schedule(0, Node(0), Ping(0));
        engine.schedule(35, Node(1), Ping(0));
        assert_eq!(engine.run(&mut world, None), Stop::Idle);
        // Node 0 ticks at 0, 10, 20, 30; node 1 at 35; then only background
        // events remain.
        assert_eq!(world.0, 5);
        assert_eq!(engine.now(), 35);
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
    fn seconds_are_formatted_from_integers() {
        assert_eq!(format_seconds(0), "0.000000");
        assert_eq!(format_seconds(1_500_000_999), "1.500000");
        assert_eq!(format_seconds(12 * SECOND + 3 * MICROSECOND), "12.000003");
    }
}
