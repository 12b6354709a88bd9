//! kube-proxy on every node, modelled as one group. Every kube-proxy
//! watches the same Services and EndpointSlices, so the group takes one
//! delivery per change and appends it to a shared log; each member (node)
//! runs its own sync through upstream's bounded-frequency runner (a token
//! bucket of one run per minSyncPeriod with a burst of 2, and a periodic
//! run syncPeriod = 30 s after the last one), and a sync programs
//! everything in the log up to its start, taking a time that grows with the
//! number of endpoints in the rules. The cost grows with syncs, not with
//! changes times nodes; a pod's `reachable_s` (the end of the last node's
//! sync that programs it) and the network programming latency of every
//! (node, endpoint change) stay exact (see `output::netprog`).
//!
//! A sync is one event, its end: when a member's next run is decided (a
//! change arrives while it is idle, or arrived during its sync, or its
//! periodic run is due), the runner's token for the start is taken at
//! once, and the end programs what was logged by the start. Each member
//! has at most one periodic timer outstanding.
//!
//! Simplified: all members receive a change at the same time (one watch
//! delivery); a sync's cost is set by the number of endpoints when it is
//! decided, at most minSyncPeriod before it starts; the periodic sync is a
//! background timer, so an idle cluster's resyncs do not keep a run going.
//!
//! The group runs on a thread of its own, with an engine of its own, fed
//! by the main model through [`link::ProxyLink`]; it opens no watch itself
//! (the link does) and learns of pod deletes from the link (a deleted pod
//! is never made reachable after).

pub mod link;

use crate::fasthash::{HashMap, HashSet};
use std::collections::VecDeque;
use std::sync::Arc;

use crate::api::service::ANNOTATION_TRIGGER_TIME;
use crate::api::{Kind, Object, ObjectKey};
use crate::engine::Time;
use crate::etcd::EventType;
use crate::output::{FieldTemplate, FixedFields, Recorder, Subject};
use crate::ratelimit::TokenBucket;
use crate::sim::{Cx, Dest, Hop, Msg, component_name};

/// kube-proxy's syncPeriod: the bounded-frequency runner's maxInterval.
pub const SYNC_PERIOD: Time = 30 * crate::engine::SECOND;
/// The runner's burst.
pub const SYNC_BURST: u32 = 2;

/// The least number of programmed-everywhere changes dropped from the log
/// at once (see `ProxyGroup::trim_log`).
const TRIM_AT: usize = 1024;

/// One change of the rules: when it was triggered and, when an endpoint
/// became ready, the pod it makes reachable.
struct RuleChange {
    trigger: Time,
    /// When the group received it.
    logged: Time,
    /// An endpoint change (counted in the network programming latency),
    /// rather than a Service's own change.
    endpoints: bool,
    pod: Option<u64>,
    name: Option<ObjectKey>,
}

struct Member {
    last_start: Option<Time>,
    /// A sync is scheduled.
    pending: bool,
    /// A sync is running.
    running: bool,
    /// Log entries before this index are programmed on the node.
    upto: usize,
    /// The bounded-frequency runner's limiter.
    limiter: TokenBucket,
    /// Bumped when the node fails or recovers: a sync end from before is
    /// stale.
    epoch: u32,
    /// The periodic sync's timer is set (one per member: a timer that
    /// finds the member synced since sets itself again).
    resync_armed: bool,
    /// In the idle list (entries of busy members are skipped when popped).
    in_idle: bool,
    /// The node failed: this kube-proxy is down and not counted for
    /// reachability.
    down: bool,
    /// Started at this time and not synced since: as upstream's change
    /// tracker, the first sync measures no change triggered before.
    fresh_since: Option<Time>,
}

impl Member {
    /// A member that has programmed nothing: up and idle, or (`up`
    /// false) down until its node powers it up.
    fn new(up: bool) -> Self {
        Member {
            last_start: None,
            pending: false,
            running: false,
            upto: 0,
            limiter: TokenBucket::new(1.0, SYNC_BURST),
            epoch: 0,
            resync_armed: false,
            in_idle: up,
            down: !up,
            fresh_since: None,
        }
    }
}

/// The members' node names in one string: read on every sync, a small
/// block that stays in cache where one allocation per name does not.
#[derive(Default)]
struct Names {
    text: String,
    /// Where each name ends in `text`; it starts where the previous one ends.
    ends: Vec<u32>,
}

impl Names {
    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends
            .push(u32::try_from(self.text.len()).expect("node names fit in 4 GiB"));
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start as usize..self.ends[i] as usize]
    }
}

/// How many live members have programmed exactly up to each log index,
/// from the least such index on (`base`): an update is an index into a
/// deque, where an ordered map would search on every sync.
#[derive(Default)]
struct UptoCounts {
    /// The least index counted (meaningless while `counts` is empty).
    base: usize,
    /// `counts[i]`: the members at `base + i`; the front is never 0.
    counts: VecDeque<u32>,
}

impl UptoCounts {
    #[inline]
    fn add(&mut self, upto: usize) {
        if self.counts.is_empty() {
            self.base = upto;
        }
        if upto < self.base {
            for _ in upto..self.base {
                self.counts.push_front(0);
            }
            self.base = upto;
        }
        let i = upto - self.base;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    /// Takes one member off `upto`, if any is counted there.
    #[inline]
    fn remove(&mut self, upto: usize) {
        let Some(c) = upto
            .checked_sub(self.base)
            .and_then(|i| self.counts.get_mut(i))
            .filter(|c| **c > 0)
        else {
            return;
        };
        *c -= 1;
        while self.counts.front() == Some(&0) {
            self.counts.pop_front();
            self.base += 1;
        }
    }

    /// The least index counted.
    fn least(&self) -> Option<usize> {
        (!self.counts.is_empty()).then_some(self.base)
    }
}

/// A slice's endpoints as (pod uid, ready), sorted by uid, one per uid
/// (the last one given, as a map collected from them keeps).
fn endpoint_states(endpoints: impl Iterator<Item = (u64, bool)>) -> Vec<(u64, bool)> {
    let mut v: Vec<(u64, bool)> = endpoints.collect();
    if !v.is_sorted_by_key(|&(uid, _)| uid) {
        // Stable: of equal uids the last given stays last.
        v.sort_by_key(|&(uid, _)| uid);
    }
    v.dedup_by(|later, kept| {
        later.0 == kept.0 && {
            *kept = *later;
            true
        }
    });
    v
}

pub struct ProxyGroup {
    node_names: Names,
    members: Vec<Member>,
    /// The rule changes from `log_base` on; indices elsewhere (members'
    /// `upto`, `everywhere`, cohort keys) count from the first change ever.
    log: Vec<RuleChange>,
    /// How many changes were dropped from the front of `log`: programmed
    /// on every live node, and unread by a restarted member's first sync
    /// (see `trim_log`).
    log_base: usize,
    /// `TRIM_AT`, or more in a test that compares with an untrimmed log.
    trim_at: usize,
    /// Endpoints per slice, as last seen: (pod uid, ready), by uid.
    slices: HashMap<ObjectKey, Vec<(u64, bool)>>,
    /// How many members have programmed exactly up to each log index.
    upto_counts: UptoCounts,
    /// The last (cohort key, end, cohort) looked up: members that synced
    /// the same range one after the other find it here.
    last_cohort: Option<(usize, usize, usize)>,
    /// Every log entry before this index is programmed on every node.
    everywhere: usize,
    /// The number of endpoints in the rules (sync cost grows with it).
    endpoints: usize,
    idle: Vec<u32>,
    /// Members restarted so far (keys their first syncs' cohorts).
    restarts: usize,
    /// A sync's timeline row: its fields before the node, and its detail.
    sync_head: FixedFields,
    sync_detail: FieldTemplate,
    /// Pods whose delete was accepted: never made reachable after it.
    deleted: HashSet<u64>,
    /// Pods made reachable (programmed on every node), each once.
    reached: HashSet<u64>,
    /// (pod uid, when it became reachable), for the pods' records.
    pub reachable: Vec<(u64, Time)>,
}

impl ProxyGroup {
    pub fn new(node_names: Vec<Arc<str>>) -> Self {
        let n = node_names.len();
        let mut upto_counts = UptoCounts::default();
        if n > 0 {
            upto_counts.counts.push_back(n as u32);
        }
        let mut names = Names::default();
        for name in &node_names {
            names.push(name);
        }
        ProxyGroup {
            node_names: names,
            members: (0..n).map(|_| Member::new(true)).collect(),
            log: Vec::new(),
            log_base: 0,
            trim_at: TRIM_AT,
            slices: HashMap::default(),
            upto_counts,
            last_cohort: None,
            everywhere: 0,
            endpoints: 0,
            idle: (0..n as u32).rev().collect(),
            restarts: 0,
            sync_head: Recorder::fixed_head(component_name(Dest::KubeProxy), "sync", Subject::NONE),
            sync_detail: FieldTemplate::new(&["programmed ", " rule changes, ", " endpoints"]),
            deleted: HashSet::default(),
            reached: HashSet::default(),
            reachable: Vec::new(),
        }
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => {
                // The watches are opened by the link (`link::ProxyLink`).
                let min_period = cx.lat.sample(Hop::ProxyMinSyncPeriod).max(1);
                for m in &mut self.members {
                    m.limiter = TokenBucket::with_period(min_period, SYNC_BURST);
                }
            }
            Msg::PodDeleted { uid } => {
                self.deleted.insert(uid);
            }
            Msg::WatchList { tag, objects, .. } => {
                for o in *objects {
                    self.observe(EventType::Added, &o, cx);
                }
                if tag == 2 {
                    // Informers synced: every kube-proxy's first sync, then
                    // the periodic ones.
                    self.wake_idle(cx);
                }
            }
            Msg::WatchEvent { kind, change, .. } => self.observe(kind, &change.object, cx),
            Msg::NodePower { node, up } => self.power(node, up, cx),
            Msg::ProxySyncDone { node, epoch } => {
                cx.rec.counters.proxy_syncs += 1;
                let m = &self.members[node as usize];
                if m.down || !m.running || m.epoch != epoch {
                    // The node failed during the sync.
                    return;
                }
                // The sync programmed what was logged by its start.
                // Entries before the member's `upto` were logged by an
                // earlier start, so the search begins there.
                // A restarted member's `upto` can be before what is kept.
                let start = m.last_start.unwrap_or(0);
                let from = m.upto.max(self.log_base);
                let upto =
                    from + self.log[from - self.log_base..].partition_point(|c| c.logged <= start);
                self.sync_done(node, upto, cx)
            }
            Msg::ProxyResync { node } => {
                let now = cx.now();
                let m = &mut self.members[node as usize];
                m.resync_armed = false;
                if m.pending || m.running || m.down {
                    // The end of the running sync sets the timer again.
                    return;
                }
                let due = m.last_start.unwrap_or(0) + SYNC_PERIOD;
                if now >= due {
                    m.pending = true;
                    self.begin_sync(node, cx);
                } else {
                    self.arm_resync(node, due, cx);
                }
            }
            _ => {}
        }
    }

    fn observe(&mut self, kind: EventType, obj: &Arc<Object>, cx: &mut Cx) {
        let now = cx.now();
        match &**obj {
            Object::Service(_) => self.log.push(RuleChange {
                trigger: now,
                logged: now,
                endpoints: false,
                pod: None,
                name: None,
            }),
            Object::EndpointSlice(slice) => {
                // Without a trigger time the change is programmed but not
                // measured, as upstream.
                let measured: Option<Time> = slice
                    .metadata
                    .annotations
                    .get(ANNOTATION_TRIGGER_TIME)
                    .and_then(|t| t.parse().ok());
                let trigger = measured.unwrap_or(now);
                let measured = measured.is_some();
                let key = obj.key();
                let old = self.slices.remove(&key).unwrap_or_default();
                let new = if kind == EventType::Deleted {
                    Vec::new()
                } else {
                    endpoint_states(slice.endpoints.iter().map(|e| (e.pod_uid(), e.ready)))
                };
                self.endpoints = self.endpoints + new.len() - old.len();
                let logged = self.log.len();
                for e in &slice.endpoints {
                    let was_ready = old
                        .binary_search_by_key(&e.pod_uid(), |&(uid, _)| uid)
                        .is_ok_and(|i| old[i].1);
                    if e.ready && !was_ready && kind != EventType::Deleted {
                        self.log.push(RuleChange {
                            trigger,
                            logged: now,
                            endpoints: measured,
                            pod: Some(e.pod_uid()),
                            name: Some(ObjectKey::new(
                                Kind::Pod,
                                key.namespace(),
                                &e.target.pod_name,
                            )),
                        });
                    }
                }
                if self.log.len() == logged && old != new {
                    self.log.push(RuleChange {
                        trigger,
                        logged: now,
                        endpoints: measured,
                        pod: None,
                        name: None,
                    });
                }
                if !new.is_empty() {
                    self.slices.insert(key, new);
                }
            }
            _ => return,
        }
        self.wake_idle(cx);
    }

    /// A kube-proxy for a node added at run time: down until its node
    /// powers it up.
    pub fn add_member(&mut self, name: Arc<str>) {
        self.node_names.push(&name);
        self.members.push(Member::new(false));
    }

    /// A node fails (its kube-proxy stops) or comes back (kube-proxy starts
    /// and syncs everything).
    fn power(&mut self, node: u32, up: bool, cx: &mut Cx) {
        let m = &mut self.members[node as usize];
        if m.down != up {
            return;
        }
        m.down = !up;
        m.epoch += 1;
        let upto = m.upto;
        if up {
            m.fresh_since = Some(cx.now());
            self.upto_counts.add(upto);
            m.running = false;
            m.pending = true;
            self.begin_sync(node, cx);
        } else {
            self.upto_counts.remove(upto);
        }
    }

    /// Every idle member schedules a sync as soon as its limiter allows.
    fn wake_idle(&mut self, cx: &mut Cx) {
        while let Some(i) = self.idle.pop() {
            let m = &mut self.members[i as usize];
            m.in_idle = false;
            if m.pending || m.running || m.down {
                continue;
            }
            m.pending = true;
            self.begin_sync(i, cx);
        }
    }

    /// Sets member `node`'s periodic-sync timer for `due`, unless one is
    /// already set (it fires no later and sets itself again if early).
    fn arm_resync(&mut self, node: u32, due: Time, cx: &mut Cx) {
        let m = &mut self.members[node as usize];
        if !m.resync_armed {
            m.resync_armed = true;
            let now = cx.now();
            cx.send_background(
                Dest::KubeProxy,
                due.saturating_sub(now),
                Msg::ProxyResync { node },
            );
        }
    }

    /// Member `node` (pending, not running) runs a sync as soon as its
    /// limiter allows: it takes the token for that start now, and the sync
    /// is one event, its end. It programs what is logged by its start (see
    /// `ProxySyncDone`) and its cost is set by the rules as they are now,
    /// at most minSyncPeriod before it starts.
    fn begin_sync(&mut self, node: u32, cx: &mut Cx) {
        let now = cx.now();
        let m = &mut self.members[node as usize];
        let at = m.limiter.next_token(now);
        // The token is free at `at`: taken without checking again.
        let wait = m.limiter.reserve(at);
        debug_assert_eq!(wait, 0, "the limiter's next token is free");
        m.running = true;
        m.last_start = Some(at);
        let epoch = m.epoch;
        let cost = cx.lat.sample(Hop::ProxySync)
            + cx.lat.sample(Hop::ProxySyncPerEndpoint) * self.endpoints as Time;
        cx.send_at(
            Dest::KubeProxy,
            at + cost,
            Msg::ProxySyncDone { node, epoch },
        );
    }

    /// Drops the changes programmed on every live node from the front of
    /// the log, once they are at least `TRIM_AT` and half of it, so that a
    /// long run keeps only the changes some node still has to program.
    /// A member keeps its `upto` while down and, once restarted, reads the
    /// log from there, counting the changes triggered since its start.
    /// Nothing at or after a live member's `upto` is dropped (a restarted
    /// member's can be behind `everywhere`), and a change is dropped only
    /// when triggered before now, so that no member restarted later counts
    /// a dropped change.
    fn trim_log(&mut self, now: Time) {
        let keep = self
            .upto_counts
            .least()
            .map_or(self.everywhere, |least| least.min(self.everywhere));
        let done = keep.saturating_sub(self.log_base);
        if done < self.trim_at || done * 2 < self.log.len() {
            return;
        }
        let cut = self.log[..done]
            .iter()
            .position(|c| c.trigger >= now)
            .unwrap_or(done);
        self.log.drain(..cut);
        self.log_base += cut;
    }

    fn sync_done(&mut self, node: u32, upto: usize, cx: &mut Cx) {
        let now = cx.now();
        let m = &mut self.members[node as usize];
        let from = m.upto;
        m.upto = upto;
        m.pending = false;
        m.running = false;
        // Borrowed, not cloned: this runs for every sync.
        let name = self.node_names.get(node as usize);
        if upto > from {
            let fresh = m.fresh_since.take();
            cx.rec.event_fixed(
                now,
                &self.sync_head,
                name,
                &self.sync_detail,
                [(upto - from) as u64, self.endpoints as u64],
            );
            let np = &mut cx.rec.counters.network_programming;
            // A restarted member's first sync is a cohort of its own.
            let key = match fresh {
                Some(_) => {
                    self.restarts += 1;
                    usize::MAX - self.restarts
                }
                None => from,
            };
            let cohort = match self.last_cohort {
                Some((k, u, i)) if k == key && u == upto => Some(i),
                _ => np.cohort(key, upto),
            };
            let cohort = match cohort {
                Some(i) => i,
                None => {
                    let since = fresh.unwrap_or(0);
                    // Changes before `log_base` were triggered before
                    // any restart still to sync, so none passes the
                    // filter.
                    let triggers = self.log
                        [from.max(self.log_base) - self.log_base..upto - self.log_base]
                        .iter()
                        .filter(|c| c.endpoints && c.trigger >= since)
                        .map(|c| c.trigger)
                        .collect();
                    np.add_range(key, upto, triggers)
                }
            };
            self.last_cohort = Some((key, upto, cohort));
            np.add_sync(cohort, now);
        }
        self.upto_counts.remove(from);
        self.upto_counts.add(upto);
        let everywhere = self.upto_counts.least().unwrap_or(upto);
        // Changes now programmed on every node: this sync was the last.
        for i in self.everywhere..everywhere {
            let c = &self.log[i - self.log_base];
            if c.endpoints {
                cx.rec
                    .counters
                    .network_programming_last
                    .push(now.saturating_sub(c.trigger));
            }
            if let (Some(uid), Some(key)) = (c.pod, &c.name)
                && !self.deleted.contains(&uid)
                && self.reached.insert(uid)
            {
                self.reachable.push((uid, now));
                cx.log_on(
                    Dest::KubeProxy,
                    "reachable",
                    Subject::from(key),
                    name,
                    "programmed on every node",
                );
            }
        }
        self.everywhere = self.everywhere.max(everywhere);
        self.trim_log(now);
        let m = &mut self.members[node as usize];
        if self.log_base + self.log.len() > upto {
            // Changes arrived during the sync: run again when the limiter
            // allows.
            m.pending = true;
            self.begin_sync(node, cx);
        } else {
            if !m.in_idle {
                m.in_idle = true;
                self.idle.push(node);
            }
            // The periodic sync, syncPeriod after this one started.
            let due = m.last_start.unwrap_or(now) + SYNC_PERIOD;
            self.arm_resync(node, due, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ObjectMeta;
    use crate::api::service::{Endpoint, EndpointSlice, EndpointTarget};
    use crate::engine::{Ctx, Engine, RngStreams, SECOND, World};
    use crate::etcd::Change;
    use crate::output::Recorder;
    use crate::output::rows::tests::Shared;
    use crate::sim::{Latencies, LatencyConfig};

    /// The kube-proxy group alone: the test schedules its watch events and
    /// node failures; requests to the apiserver go nowhere.
    struct Alone {
        group: ProxyGroup,
        rec: Recorder,
        lat: Latencies,
        names: Vec<Arc<str>>,
        /// The most changes the log held after any event.
        most_kept: usize,
        /// How many changes were dropped when a node came back.
        dropped_when_back: usize,
    }

    impl World for Alone {
        type Dest = Dest;
        type Msg = Msg;
        fn handle(&mut self, ctx: &mut Ctx<Dest, Msg>, dest: Dest, msg: Msg) {
            if dest == Dest::KubeProxy {
                if let Msg::NodePower { up: true, .. } = msg {
                    self.dropped_when_back = self.group.log_base;
                }
                let mut cx = Cx::new(ctx, &mut self.rec, &mut self.lat, &self.names);
                self.group.handle(msg, &mut cx);
                self.most_kept = self.most_kept.max(self.group.log.len());
            }
        }
    }

    /// Slice `s` of 20 holding one ready pod, `uid`, whose change was
    /// triggered at `trigger`.
    fn slice(s: u64, uid: u64, trigger: Time) -> Arc<Object> {
        let annotations = [(ANNOTATION_TRIGGER_TIME.to_string(), trigger.to_string())];
        Arc::new(Object::EndpointSlice(EndpointSlice {
            metadata: ObjectMeta {
                name: format!("web-{s}").into(),
                namespace: "default".into(),
                annotations: Arc::new(annotations.into_iter().collect()),
                ..ObjectMeta::default()
            },
            endpoints: vec![Endpoint {
                target: Arc::new(EndpointTarget {
                    address: format!("10.0.0.{}", uid % 250),
                    pod_uid: uid,
                    pod_name: format!("web-{uid}"),
                    node_name: "n0".into(),
                }),
                ready: true,
                serving: true,
                terminating: false,
            }],
        }))
    }

    /// Eight kube-proxies through 3 000 endpoint changes, one every 100
    /// ms; node n2 fails at 60 s and comes back at 240.005 s. Returns the
    /// timeline, the counters that kube-proxy feeds, the most changes the
    /// log held, and how many it had dropped when n2 came back and at the
    /// end.
    fn run(trim_at: usize) -> (Vec<u8>, String, usize, [usize; 2]) {
        let rng = RngStreams::new(7);
        let names: Vec<Arc<str>> = (0..8).map(|i| Arc::from(format!("n{i}"))).collect();
        let events = Shared::default();
        let mut group = ProxyGroup::new(names.clone());
        group.trim_at = trim_at;
        let mut world = Alone {
            group,
            rec: Recorder::new(Box::new(events.clone()), Box::new(std::io::sink())),
            // minSyncPeriod 1 ms: every member syncs at every change, so
            // other members end syncs (and trim) while n2, back, still
            // runs its first.
            lat: Latencies::new(
                &LatencyConfig {
                    overrides: vec![(
                        Hop::ProxyMinSyncPeriod,
                        crate::engine::dist::Dist::Constant(crate::engine::MILLISECOND),
                    )],
                    image_pull_bandwidth: None,
                },
                &rng,
            ),
            names,
            most_kept: 0,
            dropped_when_back: 0,
        };
        let mut engine = Engine::new();
        engine.schedule(0, Dest::KubeProxy, Msg::Start);
        for tag in [1, 2] {
            let list = Msg::WatchList {
                tag,
                revision: 1,
                objects: Box::default(),
            };
            engine.schedule(SECOND, Dest::KubeProxy, list);
        }
        let mut prev: Vec<Option<Arc<Object>>> = vec![None; 20];
        for i in 0..3000u64 {
            let at = 2 * SECOND + i * SECOND / 10;
            let s = i % 20;
            // Every seventh trigger lies ahead of its delivery, as a
            // hand-written annotation may: the trimming must not drop a
            // change that a restarted node would still count.
            let trigger = if i % 7 == 0 {
                at + 706 * crate::engine::MILLISECOND
            } else {
                at - 30 * crate::engine::MILLISECOND
            };
            let object = slice(s, 100 + i, trigger);
            let kind = if prev[s as usize].is_some() {
                EventType::Modified
            } else {
                EventType::Added
            };
            let change = Arc::new(Change {
                revision: i + 2,
                kind,
                key: object.key(),
                object: object.clone(),
                prev: prev[s as usize].replace(object),
            });
            let msg = Msg::WatchEvent {
                tag: 2,
                kind,
                change,
            };
            engine.schedule(at, Dest::KubeProxy, msg);
        }
        let power = |up| Msg::NodePower { node: 2, up };
        engine.schedule(60 * SECOND, Dest::KubeProxy, power(false));
        // Back while the others sync the change of 240 s, past the
        // trigger of the change of 239.3 s.
        let back = 240 * SECOND + 5 * crate::engine::MILLISECOND;
        engine.schedule(back, Dest::KubeProxy, power(true));
        engine.run(&mut world, Some(400 * SECOND));
        world.rec.finish().unwrap();
        let c = &world.rec.counters;
        let counters = format!(
            "{} syncs, {} rows, {} samples {:?}, last node {} samples summing to {}",
            c.proxy_syncs,
            c.timeline_rows,
            c.network_programming.len(),
            c.network_programming.percentiles(&[1, 10, 50, 90, 99, 100]),
            c.network_programming_last.len(),
            c.network_programming_last.iter().sum::<Time>(),
        );
        let timeline = events.bytes();
        let dropped = [world.dropped_when_back, world.group.log_base];
        (timeline, counters, world.most_kept, dropped)
    }

    #[test]
    fn trimming_the_log_changes_nothing_but_its_length() {
        let (timeline, counters, most_kept, dropped) = run(TRIM_AT);
        let (whole_timeline, whole_counters, whole_kept, none) = run(usize::MAX);
        assert_eq!(none, [0, 0]);
        assert_eq!(whole_kept, 3000, "one change per new ready pod");
        // n2 stopped after about 580 changes, so it came back to a log
        // that no longer held the changes it had still to program.
        assert!(dropped[0] > 600, "dropped {dropped:?}");
        assert!(dropped[1] >= 3000 - 2 * TRIM_AT, "dropped {dropped:?}");
        assert!(most_kept <= 2 * TRIM_AT + 1, "kept {most_kept}");
        // n2's first sync after its restart reads from where it stopped.
        let text = String::from_utf8(timeline.clone()).unwrap();
        let n2_after: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("240.") && l.contains(",n2,"))
            .collect();
        assert!(
            n2_after
                .first()
                .is_some_and(|l| l.contains("programmed 1801 rule changes")),
            "{n2_after:?}"
        );
        assert_eq!(counters, whole_counters);
        assert!(timeline == whole_timeline, "the timelines differ");
        // Trimming at every sync: also while n2, back, has not yet synced.
        let (eager_timeline, eager_counters, _, _) = run(1);
        assert_eq!(eager_counters, whole_counters);
        assert!(eager_timeline == whole_timeline, "the timelines differ");
    }

    #[test]
    fn endpoint_states_keep_the_last_of_a_uid_as_a_map_does() {
        let given = [
            (5, true),
            (2, false),
            (5, false),
            (9, true),
            (2, true),
            (1, false),
        ];
        let map: std::collections::BTreeMap<u64, bool> = given.into_iter().collect();
        let states = endpoint_states(given.into_iter());
        assert_eq!(states, map.into_iter().collect::<Vec<_>>());
        assert_eq!(states, [(1, false), (2, true), (5, false), (9, true)]);
        let sorted = [(1, true), (1, false), (3, true)];
        assert_eq!(endpoint_states(sorted.into_iter()), [(1, false), (3, true)]);
    }
}
