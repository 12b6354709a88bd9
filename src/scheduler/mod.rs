//! kube-scheduler: watches pods and nodes, keeps its own cache of node
//! allocations (assumed pods included), runs one scheduling cycle at a time
//! for the pod at the head of its queue, and binds through the apiserver
//! asynchronously.
//!
//! Simplified compared to upstream, for now: the profile holds the plugins
//! listed in `framework`; ImageLocality, PodTopologySpread, InterPodAffinity,
//! NodePorts and preemption are not modelled yet; nodes are visited in the
//! order they were added (upstream interleaves zones).

pub mod framework;
pub mod queue;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

use crate::api::pod::Pod;
use crate::api::{Kind, Object};
use crate::engine::{RngStreams, Time};
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::msg::{FieldSelector, WatchSpec};
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

use framework::{NodeInfo, PodResources, filter, num_feasible_nodes_to_find, raw_scores, totals};
use queue::SchedulingQueue;

const WATCH_PODS: u32 = 1;
const WATCH_NODES: u32 = 2;

/// A pod the scheduler accounts on a node.
struct Placed {
    node: usize,
    res: PodResources,
    /// Assumed by this scheduler, not yet seen bound through the watch.
    assumed: bool,
}

/// The outcome of one scheduling cycle.
enum Decision {
    Node {
        node: usize,
        score: i64,
        feasible: usize,
    },
    Unschedulable(String),
}

struct InFlight {
    uid: u64,
    decision: Decision,
    evaluated: usize,
}

pub struct Scheduler {
    nodes: Vec<NodeInfo>,
    live: Vec<bool>,
    /// Live node indices, in the order nodes were added.
    order: Vec<usize>,
    node_index: HashMap<Arc<str>, usize>,
    placed: HashMap<u64, Placed>,
    queue: SchedulingQueue,
    /// The latest version of every pod waiting to be scheduled.
    waiting: HashMap<u64, Arc<Object>>,
    in_flight: Option<InFlight>,
    next_start: usize,
    rng: ChaCha8Rng,
    next_tag: u64,
    binds: HashMap<u64, u64>,
    synced_pods: bool,
    synced_nodes: bool,
    /// When a flush of backoffQ is already scheduled.
    flush_at: BTreeMap<Time, ()>,
}

impl Scheduler {
    pub fn new(rng: &RngStreams) -> Self {
        Scheduler {
            nodes: Vec::new(),
            live: Vec::new(),
            order: Vec::new(),
            node_index: HashMap::new(),
            placed: HashMap::new(),
            queue: SchedulingQueue::default(),
            waiting: HashMap::new(),
            in_flight: None,
            next_start: 0,
            rng: rng.stream("kube-scheduler/select-host"),
            next_tag: 0,
            binds: HashMap::new(),
            synced_pods: false,
            synced_nodes: false,
            flush_at: BTreeMap::new(),
        }
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => {
                for (tag, kind) in [(WATCH_NODES, Kind::Node), (WATCH_PODS, Kind::Pod)] {
                    let spec = WatchSpec {
                        tag,
                        kind,
                        namespace: None,
                        labels: None,
                        field: FieldSelector::Everything,
                        from_revision: None,
                    };
                    cx.api(Dest::Scheduler, 0, Verb::Watch(spec));
                }
            }
            Msg::WatchList { tag, objects, .. } => {
                for obj in objects {
                    self.observe(EventType::Added, &obj, None, cx);
                }
                match tag {
                    WATCH_PODS => self.synced_pods = true,
                    _ => self.synced_nodes = true,
                }
            }
            Msg::WatchEvent { kind, change, .. } => {
                self.observe(kind, &change.object, change.prev.as_deref(), cx);
            }
            Msg::SchedulingCycleDone => self.finish_cycle(cx),
            Msg::SchedulerFlush => {
                let now = cx.now();
                self.flush_at = self.flush_at.split_off(&(now + 1));
                self.queue.flush(now);
            }
            Msg::Response(resp) => {
                if let Some(uid) = self.binds.remove(&resp.tag)
                    && let Err(e) = &resp.result
                {
                    let detail = format!("{} {}: {}", e.code, e.reason, e.message);
                    cx.log(
                        Dest::Scheduler,
                        "bind-failed",
                        Subject::from(&resp.key),
                        &detail,
                    );
                    self.forget(uid);
                    if self.waiting.contains_key(&uid) {
                        let now = cx.now();
                        if let Some(until) = self.queue.failed_backoff(uid, now) {
                            self.schedule_flush(until, false, cx);
                        }
                    }
                }
            }
            _ => {}
        }
        self.maybe_start_cycle(cx);
    }

    fn schedule_flush(&mut self, at: Time, background: bool, cx: &mut Cx) {
        if self.flush_at.insert(at, ()).is_none() {
            let delay = at.saturating_sub(cx.now());
            if background {
                cx.send_background(Dest::Scheduler, delay, Msg::SchedulerFlush);
            } else {
                cx.send(Dest::Scheduler, delay, Msg::SchedulerFlush);
            }
        }
    }

    fn observe(&mut self, kind: EventType, obj: &Arc<Object>, prev: Option<&Object>, cx: &mut Cx) {
        match &**obj {
            Object::Node(node) => {
                let name: Arc<str> = Arc::from(node.metadata.name.as_str());
                match (kind, self.node_index.get(&name).copied()) {
                    (EventType::Deleted, Some(i)) => {
                        self.live[i] = false;
                        self.order.retain(|&j| j != i);
                        self.node_index.remove(&name);
                    }
                    (EventType::Deleted, None) => {}
                    (_, Some(i)) => {
                        self.nodes[i].update(node);
                        self.cluster_event(cx);
                    }
                    (_, None) => {
                        let i = self.nodes.len();
                        self.nodes.push(NodeInfo::new(node));
                        self.live.push(true);
                        self.order.push(i);
                        self.node_index.insert(name, i);
                        self.cluster_event(cx);
                    }
                }
            }
            Object::Pod(pod) => self.observe_pod(kind, obj, pod, prev, cx),
            _ => {}
        }
    }

    /// A change that may make unschedulable pods fit.
    fn cluster_event(&mut self, cx: &mut Cx) {
        if let Some(until) = self.queue.move_all(cx.now()) {
            self.schedule_flush(until, false, cx);
        }
    }

    fn forget(&mut self, uid: u64) {
        if let Some(p) = self.placed.remove(&uid) {
            self.nodes[p.node].remove_pod(&p.res);
        }
    }

    fn observe_pod(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        pod: &Pod,
        _prev: Option<&Object>,
        cx: &mut Cx,
    ) {
        let uid = pod.metadata.uid;
        let gone = kind == EventType::Deleted || pod.status.phase.is_terminal();
        if gone {
            self.queue.remove(uid);
            self.waiting.remove(&uid);
            if self.placed.contains_key(&uid) {
                self.forget(uid);
                self.cluster_event(cx);
            }
            return;
        }
        if let Some(node_name) = pod.spec.node_name() {
            // Bound: confirm an assumed pod, or account one bound by others.
            self.queue.remove(uid);
            self.waiting.remove(&uid);
            let node = self.node_index.get(node_name).copied();
            match (self.placed.get_mut(&uid), node) {
                (Some(p), Some(n)) if p.node == n => p.assumed = false,
                (_, Some(n)) => {
                    self.forget(uid);
                    let res = PodResources::of(pod);
                    self.nodes[n].add_pod(&res);
                    self.placed.insert(
                        uid,
                        Placed {
                            node: n,
                            res,
                            assumed: false,
                        },
                    );
                }
                (_, None) => self.forget(uid),
            }
            return;
        }
        if pod.spec.scheduler_name() != crate::api::pod::DEFAULT_SCHEDULER
            || pod.metadata.deletion_timestamp.is_some()
        {
            return;
        }
        let fresh = !self.waiting.contains_key(&uid);
        self.waiting.insert(uid, obj.clone());
        let in_flight = self.in_flight.as_ref().is_some_and(|f| f.uid == uid);
        if fresh && !in_flight && !self.placed.contains_key(&uid) {
            self.queue.add(uid, pod.spec.priority());
            cx.log(Dest::Scheduler, "enqueue", Subject::from(&**obj), "activeQ");
        }
    }

    fn maybe_start_cycle(&mut self, cx: &mut Cx) {
        if self.in_flight.is_some() || !self.synced_pods || !self.synced_nodes {
            return;
        }
        let Some(uid) = self.queue.pop() else { return };
        let Some(obj) = self.waiting.get(&uid).cloned() else {
            self.queue.remove(uid);
            return;
        };
        let Some(pod) = obj.as_pod() else { return };
        let (decision, evaluated) = self.decide(pod);
        let cost = cx.lat.sample(Hop::SchedulingCycle)
            + cx.lat.sample(Hop::SchedulingPerNode) * evaluated as Time;
        self.in_flight = Some(InFlight {
            uid,
            decision,
            evaluated,
        });
        cx.send(Dest::Scheduler, cost, Msg::SchedulingCycleDone);
    }

    /// Filters from the round-robin start until enough feasible nodes are
    /// found, scores them, and picks the best (ties by reservoir sampling).
    fn decide(&mut self, pod: &Pod) -> (Decision, usize) {
        let n = self.order.len();
        if n == 0 {
            return (
                Decision::Unschedulable(
                    "0/0 nodes are available: no nodes available to schedule pods.".into(),
                ),
                0,
            );
        }
        let res = PodResources::of(pod);
        let want = num_feasible_nodes_to_find(n);
        let mut feasible: Vec<usize> = Vec::with_capacity(want.min(64));
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut processed = 0;
        for k in 0..n {
            let i = self.order[(self.next_start + k) % n];
            processed = k + 1;
            match filter(pod, &res, &self.nodes[i]) {
                Ok(()) => {
                    feasible.push(i);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(rej) => {
                    for r in rej.reasons {
                        *reasons.entry(r).or_default() += 1;
                    }
                }
            }
        }
        self.next_start = (self.next_start + processed) % n;
        if feasible.is_empty() {
            let parts: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            return (
                Decision::Unschedulable(format!(
                    "0/{n} nodes are available: {}.",
                    parts.join(", ")
                )),
                processed,
            );
        }
        if feasible.len() == 1 {
            return (
                Decision::Node {
                    node: feasible[0],
                    score: 0,
                    feasible: 1,
                },
                processed,
            );
        }
        let raw: Vec<_> = feasible
            .iter()
            .map(|&i| raw_scores(pod, &res, &self.nodes[i]))
            .collect();
        let scores = totals(&raw);
        let mut best = 0;
        let mut ties = 0u64;
        for (k, &s) in scores.iter().enumerate() {
            if k == 0 || s > scores[best] {
                best = k;
                ties = 1;
            } else if s == scores[best] {
                ties += 1;
                if self.rng.next_u64().is_multiple_of(ties) {
                    best = k;
                }
            }
        }
        (
            Decision::Node {
                node: feasible[best],
                score: scores[best],
                feasible: feasible.len(),
            },
            processed,
        )
    }

    fn finish_cycle(&mut self, cx: &mut Cx) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        let Some(obj) = self.waiting.get(&f.uid).cloned() else {
            // Deleted or bound elsewhere during the cycle.
            return;
        };
        let Some(pod) = obj.as_pod() else { return };
        let now = cx.now();
        let attempts = self.queue.attempts(f.uid);
        cx.rec.counters.scheduling_attempts += 1;
        let rec = cx.rec.pod(f.uid);
        rec.attempts = attempts;
        match f.decision {
            Decision::Node {
                node,
                score,
                feasible,
            } if self.live.get(node).copied().unwrap_or(false) => {
                rec.scheduled = Some(now);
                let res = PodResources::of(pod);
                self.nodes[node].add_pod(&res);
                self.placed.insert(
                    f.uid,
                    Placed {
                        node,
                        res,
                        assumed: true,
                    },
                );
                self.queue.remove(f.uid);
                self.waiting.remove(&f.uid);
                let name = self.nodes[node].name.clone();
                let detail = format!(
                    "node={name} score={score} feasible={feasible} evaluated={} attempt={attempts}",
                    f.evaluated
                );
                cx.log(Dest::Scheduler, "schedule", Subject::from(&*obj), &detail);
                self.next_tag += 1;
                self.binds.insert(self.next_tag, f.uid);
                cx.api(
                    Dest::Scheduler,
                    self.next_tag,
                    Verb::Bind {
                        key: obj.key(),
                        node: name.to_string(),
                    },
                );
            }
            Decision::Node { .. } => {
                // The chosen node went away during the cycle: try again.
                if let Some(until) = self.queue.failed_backoff(f.uid, now) {
                    self.schedule_flush(until, false, cx);
                }
            }
            Decision::Unschedulable(message) => {
                cx.rec.counters.scheduling_failures += 1;
                cx.log(
                    Dest::Scheduler,
                    "unschedulable",
                    Subject::from(&*obj),
                    &message,
                );
                let flush = self.queue.failed_unschedulable(f.uid, now);
                self.schedule_flush(flush, true, cx);
            }
        }
    }
}
