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
//!   watermark, the main model's clock, and the main model's timeline rows
//!   since the last hand-over (all at or before the watermark), logged by
//!   their parts rather than formatted (`output::rowlog`). The thread runs
//!   the group's own events before the watermark (the main model may still
//!   send inputs at it), formats the main model's rows, and writes the two
//!   models' rows of the batch into the timeline, merged in time order,
//!   the main model's first at equal times: it took the timeline's writer
//!   at the start. The main model's logs come back for reuse, never
//!   copied, and the main model waits only when `AHEAD` (4) batches are already
//!   on their way;
//! - at the end the thread runs through the main run's time limit, or,
//!   when the main run went idle, until its own syncs are done (within the
//!   limit, if any), writes the last rows, flushes the timeline, and hands
//!   back its counters, the pods' reachable times, its event count, its
//!   run hash and the timeline's first write error.
//!
//! Deterministic: batch boundaries count main events, the thread's inputs
//! and its random draws (its own latency streams) are the same on every
//! run, and the merge orders by time, then by model. The group's events
//! have their own sequence numbers (the `seq` of its rows), and a run's
//! hash and event count cover both engines. A run that went idle ends when
//! the group has no sync left to finish, without running the main model's
//! periodic work (Lease renewals, resyncs) in between.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use super::ProxyGroup;
use crate::api::Kind;
use crate::engine::{Ctx, Engine, RunHash, Stop, Time, World};
use crate::output::rowlog::RowLog;
use crate::output::{Counters, EventsOut, Recorder, RowWriter};
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
    /// The main model's timeline rows since the last hand-over, logged by
    /// their parts (none when the run writes no timeline).
    rows: Option<RowLog>,
}

/// From the thread.
enum Output {
    /// A batch's rows of the main model, written: the log, for reuse.
    Spent(RowLog),
    Done(Box<Finish>),
}

/// Batches on their way to the thread before the main model waits. With
/// the helper threads kept off the model's core (`crate::cores`), the
/// thread falls behind in bursts (a wave of a thousand syncs) and catches
/// up after; four batches let the main model go on through them, where
/// two made it wait (churn-1h, results/BENCHMARKS.md, twentieth pass).
const AHEAD: usize = 4;

/// What the thread hands back at the end.
struct Finish {
    /// The timeline's flush, or its first write error.
    written: std::io::Result<()>,
    counters: Counters,
    reachable: Vec<(u64, Time)>,
    events: u64,
    hash: u64,
    now: Time,
    stopped_by_limit: bool,
    /// The thread's CPU time at its end.
    cpu: Option<std::time::Duration>,
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
    /// Its thread's CPU time ([`crate::output::cpu::thread_cpu`]).
    pub cpu: Option<std::time::Duration>,
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

/// The thread's loop: runs each batch and writes its rows into `timeline`
/// (when the run writes one), and at the end hands back everything else.
fn serve(
    names: Vec<Arc<str>>,
    lat: Latencies,
    mut timeline: Option<RowWriter<EventsOut>>,
    jobs: Receiver<Batch>,
    out: Sender<Output>,
) {
    let mut world = Alone {
        group: ProxyGroup::new(names.clone()),
        rec: Recorder::beside(timeline.is_some()),
        lat,
        names,
    };
    let mut engine: Engine<Dest, Msg> = Engine::new();
    // The main model's logged rows, formatted here before the merge.
    let mut theirs = RowWriter::new(std::io::sink());
    theirs.hold();
    while let Ok(batch) = jobs.recv() {
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
        let end = match batch.until {
            Until::Before(t) => {
                if let Some(last) = t.checked_sub(1) {
                    engine.run_through(&mut world, last);
                }
                None
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
                Some(if by_limit {
                    Stop::Idle
                } else {
                    engine.run(&mut world, limit)
                })
            }
        };
        // The main model's rows of the batch are at or before its
        // watermark, the group's before it (or, at the end, all that is
        // left of both).
        let mine = world.rec.take_rows();
        if let (Some(w), Some(log)) = (&mut timeline, &batch.rows) {
            log.write_into(&mut theirs);
            let formatted = theirs.take_held();
            w.write_merged(&formatted, &mine);
            theirs.recycle(formatted);
        }
        world.rec.recycle_rows(mine);
        if let Some(stop) = end {
            let finish = Finish {
                written: timeline.as_mut().map_or(Ok(()), RowWriter::flush),
                counters: std::mem::take(&mut world.rec.counters),
                reachable: std::mem::take(&mut world.group.reachable),
                events: engine.processed(),
                hash: engine.hash().value(),
                now: engine.now(),
                stopped_by_limit: stop == Stop::TimeLimit,
                cpu: crate::output::cpu::thread_cpu(),
            };
            let _ = out.send(Output::Done(Box::new(finish)));
            return;
        }
        if let Some(rows) = batch.rows
            && out.send(Output::Spent(rows)).is_err()
        {
            return;
        }
    }
}

/// The thread and what is on its way to it.
struct Link {
    jobs: SyncSender<Batch>,
    out: Receiver<Output>,
    thread: Option<JoinHandle<()>>,
    inputs: Vec<(Time, Input)>,
    /// Main events since the last hand-over.
    events: u32,
    /// The thread writes the timeline (the run writes one).
    merges: bool,
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
    /// logs its timeline rows from now on, for the thread to format and
    /// merge, and notes pod deletes.
    pub fn spawn(names: Vec<Arc<str>>, lat: &Latencies, rec: &mut Recorder) -> Self {
        let (jobs, jobs_rx) = mpsc::sync_channel(AHEAD);
        let (out_tx, out) = mpsc::channel();
        let lat = lat.clone();
        let merges = rec.writes_rows();
        rec.defer_rows();
        rec.note_deletions();
        let timeline = merges.then(|| RowWriter::new(rec.take_events_out()));
        let thread = thread::Builder::new()
            .name("kubesim-proxy".into())
            .spawn(move || {
                crate::cores::helper_thread();
                serve(names, lat, timeline, jobs_rx, out_tx)
            })
            .expect("a thread can be started");
        ProxyLink {
            link: Some(Link {
                jobs,
                out,
                thread: Some(thread),
                inputs: Vec::new(),
                events: 0,
                merges,
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
    /// inputs and the timeline rows since the last hand-over go to the
    /// thread.
    #[inline]
    pub fn tick(&mut self, now: Time, rec: &mut Recorder) {
        if let Some(link) = &mut self.link {
            link.events += 1;
            if link.events >= BATCH {
                link.events = 0;
                link.hand_over(Until::Before(now), rec);
                // Buffers of rows written, for the next hand-overs.
                while let Ok(Output::Spent(rows)) = link.out.try_recv() {
                    rec.recycle_log(rows);
                }
            }
        }
    }

    /// The main run stopped at `now` (`stop`, within `limit`): the thread
    /// finishes and writes the last rows, and its counters, the pods'
    /// reachable times and the timeline's first write error go into
    /// `rec`. `None` without a thread.
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
        let finish = loop {
            match link.out.recv() {
                Ok(Output::Spent(_)) => {}
                Ok(Output::Done(finish)) => break finish,
                Err(_) => link.died(),
            }
        };
        if let Some(thread) = link.thread.take() {
            let _ = thread.join();
        }
        let Finish {
            written,
            counters,
            reachable,
            events,
            hash,
            now: end,
            stopped_by_limit,
            cpu,
        } = *finish;
        if let Err(e) = written {
            rec.note_error(e);
        }
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
            cpu,
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
            rows: self.merges.then(|| rec.take_log()),
        };
        if self.jobs.send(batch).is_err() {
            self.died();
        }
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
