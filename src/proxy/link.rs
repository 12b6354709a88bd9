//! kube-proxy beside the rest of the model, on a thread of its own.
//!
//! Nothing in the cluster reads what kube-proxy does: it watches Services
//! and EndpointSlices and programs rules, and what it produces (its
//! timeline rows, the pods' `reachable_s`, the network programming
//! latency) only reaches the outputs. So the group ([`ProxyGroup`]) runs
//! with an engine of its own on a second thread, and the main model hands
//! it what it receives, in virtual-time order:
//!
//! - the link ([`ProxyLink`]) stands for the group in the main model. It
//!   opens the watches, and forwards every message the group would have
//!   received (watch events, node failures, nodes added) and every pod
//!   delete accepted (a pod deleted is never made reachable after), each
//!   with its time;
//! - every [`BATCH`] main events it hands the inputs over with a
//!   watermark, the main model's clock: the thread runs the group's own
//!   events before it (the main model may still send inputs at it), and
//!   hands back its timeline rows;
//! - the main model's timeline rows are held meanwhile, and written out
//!   merged with the group's in time order, the main model's first at
//!   equal times, one batch behind, so that the two threads overlap (the
//!   main model's rows of a batch are those up to its watermark, the
//!   group's those before it); the row buffers go back and forth, never
//!   copied;
//! - at the end the thread runs through the main run's time limit, or,
//!   when the main run went idle, until its own syncs are done (within the
//!   limit, if any), and hands back its counters, the pods' reachable
//!   times, its event count and its run hash.
//!
//! Deterministic: batch boundaries count main events, the thread's inputs
//! and its random draws (its own latency streams) are the same on every
//! run, and the merge orders by time, then by model. The group's events
//! have their own sequence numbers (the `seq` of its rows), and a run's
//! hash and event count cover both engines. A run that went idle ends when
//! the group has no sync left to finish, without running the main model's
//! periodic work (Lease renewals, resyncs) in between.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};

use super::ProxyGroup;
use crate::api::Kind;
use crate::engine::{Ctx, Engine, RunHash, Stop, Time, World};
use crate::output::{Counters, HeldRows, Recorder};
use crate::sim::msg::WatchSpec;
use crate::sim::{Cx, Dest, Latencies, Msg, Verb};

/// Main-model events between two hand-overs to the thread.
pub const BATCH: u32 = 4096;

/// What the thread is given: a message for the group, or a node added.
enum Input {
    Msg(Msg),
    AddMember(Arc<str>),
}

/// How far the thread may run after a batch's inputs.
enum Until {
    /// Every event before this time (the main model may still send
    /// inputs at it).
    Before(Time),
    /// The main run stopped at `at`: the thread runs through it, and when
    /// the main run went idle (not `by_limit`), on until its own
    /// foreground events are done, within `limit`.
    End {
        at: Time,
        by_limit: bool,
        limit: Option<Time>,
    },
}

struct Batch {
    inputs: Vec<(Time, Input)>,
    until: Until,
    /// The buffers of rows the thread handed over earlier, back for reuse.
    recycled: Option<HeldRows>,
}

/// From the thread, one per batch.
enum Output {
    Rows(HeldRows),
    Done(Box<Finish>),
}

/// What the thread hands back at the end.
struct Finish {
    rows: HeldRows,
    counters: Counters,
    reachable: Vec<(u64, Time)>,
    events: u64,
    hash: u64,
    now: Time,
    stopped_by_limit: bool,
}

/// The group's part of a run, for the run's facts.
pub struct Beside {
    /// Events the group's engine processed.
    pub events: u64,
    /// Its engine's run hash.
    pub hash: u64,
    /// Its clock at the end.
    pub now: Time,
    /// It stopped at the run's time limit with events left after it.
    pub stopped_by_limit: bool,
}

/// The group and what its handlers touch, on the thread.
struct Alone {
    group: ProxyGroup,
    rec: Recorder,
    lat: Latencies,
    names: Vec<Arc<str>>,
}

impl World for Alone {
    type Dest = Dest;
    type Msg = Msg;

    fn handle(&mut self, ctx: &mut Ctx<Dest, Msg>, _dest: Dest, msg: Msg) {
        self.rec.seq = ctx.seq();
        let mut cx = Cx::new(ctx, &mut self.rec, &mut self.lat, &self.names);
        self.group.handle(msg, &mut cx);
    }
}

/// The thread's loop: runs each batch, hands back rows, and at the end
/// everything else.
fn serve(
    names: Vec<Arc<str>>,
    lat: Latencies,
    writes_rows: bool,
    jobs: Receiver<Batch>,
    out: Sender<Output>,
) {
    let mut world = Alone {
        group: ProxyGroup::new(names.clone()),
        rec: Recorder::beside(writes_rows),
        lat,
        names,
    };
    let mut engine: Engine<Dest, Msg> = Engine::new();
    while let Ok(batch) = jobs.recv() {
        if let Some(rows) = batch.recycled {
            world.rec.recycle_rows(rows);
        }
        for (at, input) in batch.inputs {
            match input {
                Input::Msg(msg) => engine.schedule(at, Dest::KubeProxy, msg),
                // No event names a member before it is added.
                Input::AddMember(name) => {
                    world.group.add_member(name.clone());
                    world.names.push(name);
                }
            }
        }
        match batch.until {
            Until::Before(t) => {
                if let Some(last) = t.checked_sub(1) {
                    engine.run_through(&mut world, last);
                }
                if out.send(Output::Rows(world.rec.take_rows())).is_err() {
                    return;
                }
            }
            Until::End {
                at,
                by_limit,
                limit,
            } => {
                // The main model ran until `at`: so does the group, its
                // periodic syncs included; then, if the main run went
                // idle, on until its own syncs are done.
                engine.run_through(&mut world, at);
                let stop = if by_limit {
                    Stop::Idle
                } else {
                    engine.run(&mut world, limit)
                };
                let finish = Finish {
                    rows: world.rec.take_rows(),
                    counters: std::mem::take(&mut world.rec.counters),
                    reachable: std::mem::take(&mut world.group.reachable),
                    events: engine.processed(),
                    hash: engine.hash().value(),
                    now: engine.now(),
                    stopped_by_limit: stop == Stop::TimeLimit,
                };
                let _ = out.send(Output::Done(Box::new(finish)));
                return;
            }
        }
    }
}

/// The thread and what is on its way to it.
struct Link {
    jobs: Sender<Batch>,
    out: Receiver<Output>,
    thread: Option<JoinHandle<()>>,
    inputs: Vec<(Time, Input)>,
    /// Main events since the last hand-over.
    events: u32,
    /// The main model's rows up to the last hand-over, to be merged with
    /// the thread's rows of that batch (all before its watermark; the
    /// main model's rows at the watermark go first).
    awaiting: Option<HeldRows>,
    /// The thread's rows merged last, their buffers to go back to it.
    recycled: Option<HeldRows>,
}

/// The kube-proxy group as the main model sees it (see the module's
/// documentation).
pub struct ProxyLink {
    link: Option<Link>,
}

impl ProxyLink {
    /// No kube-proxy: a run without node agents.
    pub fn none() -> Self {
        ProxyLink { link: None }
    }

    /// Starts the group's thread with the nodes `names`. `lat` is the
    /// run's sampler, not yet drawn from for kube-proxy's hops; `rec`
    /// holds its timeline rows from now on, for the merge, and notes pod
    /// deletes.
    pub fn spawn(names: Vec<Arc<str>>, lat: &Latencies, rec: &mut Recorder) -> Self {
        let (jobs, jobs_rx) = mpsc::channel();
        let (out_tx, out) = mpsc::channel();
        let lat = lat.clone();
        let writes_rows = rec.writes_rows();
        let thread = thread::Builder::new()
            .name("kubesim-proxy".into())
            .spawn(move || serve(names, lat, writes_rows, jobs_rx, out_tx))
            .expect("a thread can be started");
        rec.hold_rows();
        rec.note_deletions();
        ProxyLink {
            link: Some(Link {
                jobs,
                out,
                thread: Some(thread),
                inputs: Vec::new(),
                events: 0,
                awaiting: None,
                recycled: None,
            }),
        }
    }

    /// A message to the group: `Start` opens the watches here.
    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        if let Msg::Start = msg {
            for (tag, kind) in [(1, Kind::Service), (2, Kind::EndpointSlice)] {
                let spec = WatchSpec::all(tag, kind);
                cx.api(Dest::KubeProxy, 0, Verb::Watch(spec));
            }
        }
        let now = cx.now();
        self.forward(now, Input::Msg(msg), cx.rec);
    }

    /// A kube-proxy for a node added at `now` (down until powered up).
    pub fn add_member(&mut self, now: Time, name: Arc<str>, rec: &mut Recorder) {
        self.forward(now, Input::AddMember(name), rec);
    }

    fn forward(&mut self, now: Time, input: Input, rec: &mut Recorder) {
        if let Some(link) = &mut self.link {
            link.take_deletions(rec);
            link.inputs.push((now, input));
        }
    }

    /// Before each main event, at `now`: every [`BATCH`] events, the
    /// inputs go to the thread, and the rows of the batch before are
    /// merged into the timeline.
    #[inline]
    pub fn tick(&mut self, now: Time, rec: &mut Recorder) {
        if let Some(link) = &mut self.link {
            link.events += 1;
            if link.events >= BATCH {
                link.events = 0;
                link.hand_over(Until::Before(now), rec);
                let mine = rec.take_rows();
                if let Some(before) = link.awaiting.replace(mine) {
                    link.merge_batch(before, rec);
                }
            }
        }
    }

    /// The main run stopped at `now` (`stop`, within `limit`): the thread
    /// finishes, its rows are merged, and its counters and the pods'
    /// reachable times go into `rec`. `None` without a thread.
    pub fn finish(
        &mut self,
        now: Time,
        stop: Stop,
        limit: Option<Time>,
        rec: &mut Recorder,
    ) -> Option<Beside> {
        let mut link = self.link.take()?;
        let by_limit = stop == Stop::TimeLimit;
        link.hand_over(
            Until::End {
                at: now,
                by_limit,
                limit,
            },
            rec,
        );
        let mine = rec.take_rows();
        if let Some(before) = link.awaiting.take() {
            link.merge_batch(before, rec);
        }
        let finish = match link.out.recv() {
            Ok(Output::Done(finish)) => finish,
            _ => link.died(),
        };
        if let Some(thread) = link.thread.take() {
            let _ = thread.join();
        }
        let Finish {
            rows,
            counters,
            reachable,
            events,
            hash,
            now: end,
            stopped_by_limit,
        } = *finish;
        rec.write_merged(&mine, &rows);
        rec.release_rows();
        let c = &mut rec.counters;
        c.proxy_syncs += counters.proxy_syncs;
        c.timeline_rows += counters.timeline_rows;
        c.network_programming = counters.network_programming;
        c.network_programming_last = counters.network_programming_last;
        for (uid, at) in reachable {
            if let Some(r) = rec.pod_if_known(uid)
                && r.reachable.is_none()
            {
                r.reachable = Some(at);
            }
        }
        Some(Beside {
            events,
            hash,
            now: end,
            stopped_by_limit,
        })
    }
}

impl Link {
    /// The pod deletes noted since the last inputs, as inputs (they are
    /// no later than any input to come).
    fn take_deletions(&mut self, rec: &mut Recorder) {
        for (at, uid) in rec.take_deletions() {
            self.inputs.push((at, Input::Msg(Msg::PodDeleted { uid })));
        }
    }

    fn hand_over(&mut self, until: Until, rec: &mut Recorder) {
        self.take_deletions(rec);
        let batch = Batch {
            inputs: std::mem::take(&mut self.inputs),
            until,
            recycled: self.recycled.take(),
        };
        if self.jobs.send(batch).is_err() {
            self.died();
        }
    }

    /// The thread's rows of the batch before the last hand-over, merged
    /// with the main model's rows `mine` of that batch.
    fn merge_batch(&mut self, mine: HeldRows, rec: &mut Recorder) {
        let theirs = match self.out.recv() {
            Ok(Output::Rows(rows)) => rows,
            _ => self.died(),
        };
        rec.write_merged(&mine, &theirs);
        rec.recycle_rows(mine);
        self.recycled = Some(theirs);
    }

    /// The thread ended early: only a bug does that; its panic goes on
    /// here.
    fn died(&mut self) -> ! {
        if let Some(thread) = self.thread.take()
            && let Err(panic) = thread.join()
        {
            std::panic::resume_unwind(panic);
        }
        panic!("the kube-proxy thread ended early");
    }
}

/// The run hash of a run whose kube-proxy ran beside it: the main
/// engine's, with the group's hash and event count folded in.
pub fn combined_hash(main: RunHash, beside: &Beside) -> u64 {
    let mut h = main;
    h.add(beside.hash);
    h.add(beside.events);
    h.value()
}
