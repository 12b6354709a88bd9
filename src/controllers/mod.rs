//! kube-controller-manager: one component running one work loop per
//! controller (EndpointSlice, ReplicaSet, Deployment, garbage collector),
//! each fed only by the controller manager's watches (one shared informer
//! cache per kind, as upstream's SharedInformerFactory) and acting only
//! through apiserver requests. Each controller has a client of its own,
//! as upstream builds one per controller: its requests wait on the
//! client's token bucket (`--kube-api-qps` 20, `--kube-api-burst` 30,
//! configurable with the scenario's `controllerManager:` key) and reach the
//! apiserver in the order they were sent, so a large Deployment takes the
//! time it takes in a real cluster. A failed sync is requeued as client-go's
//! `AddRateLimited` does: after a per-key backoff of 5 ms doubling to
//! 1000 s, and within the queue's overall 10 qps (burst 100). A sync that
//! sends requests succeeds or fails with their answers, as upstream's
//! sync waits for them.

pub mod daemon;
pub mod deployment;
pub mod endpointslice;
pub mod gc;
pub mod nodelifecycle;
pub mod persistentvolume;
pub mod podutil;
pub mod replicaset;
pub mod slowstart;
pub mod statefulset;

use crate::fasthash::{HashMap, HashSet};
use std::collections::VecDeque;
use std::sync::Arc;

use crate::api::pod::PodPhase;
use crate::api::{Kind, Object, ObjectKey};
use crate::engine::Time;
use crate::etcd::EventType;
use crate::output::{Part, Subject};
use crate::sim::msg::{Request, Response, WatchSpec};
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

use crate::ratelimit::TokenBucket;
use daemon::DaemonSetController;
use deployment::DeploymentController;
use endpointslice::EndpointSliceController;
use gc::GarbageCollector;

/// kube-controller-manager's default client QPS (`--kube-api-qps`).
pub const DEFAULT_QPS: f64 = 20.0;
/// kube-controller-manager's default client burst (`--kube-api-burst`).
pub const DEFAULT_BURST: u32 = 30;
use replicaset::ReplicaSetController;
use statefulset::StatefulSetController;

/// The controllers' ids, in `ControllerWork` messages and request tags.
pub const REPLICASET: u8 = 1;
pub const DEPLOYMENT: u8 = 2;
pub const GARBAGE_COLLECTOR: u8 = 3;
pub const DAEMONSET: u8 = 4;
pub const STATEFULSET: u8 = 5;
/// The node lifecycle controller's Node patches.
pub const NODE_LIFECYCLE: u8 = 6;
/// The taint manager's evictions (upstream's taint-eviction-controller).
pub const TAINT_EVICTION: u8 = 7;
/// The pod garbage collector's force deletes of orphaned pods.
pub const POD_GC: u8 = 8;
/// The PersistentVolume controller (binder).
pub const PERSISTENT_VOLUME: u8 = 9;
/// The external provisioner of the StorageClasses' volumes.
pub const PROVISIONER: u8 = 10;

/// Whether controller `id` has a work queue (and a worker its requests
/// hold back).
fn has_queue(id: u8) -> bool {
    !(NODE_LIFECYCLE..PERSISTENT_VOLUME).contains(&id)
}

/// The controller manager's settings (the scenario's `controllerManager:`).
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerManagerConfig {
    /// `--kube-api-qps`.
    pub qps: f64,
    /// `--kube-api-burst`.
    pub burst: u32,
    /// `--terminated-pod-gc-threshold`: the pod GC deletes the oldest
    /// terminated pods beyond this many; 0 turns it off.
    pub terminated_pod_gc_threshold: u32,
}

impl Default for ControllerManagerConfig {
    fn default() -> Self {
        ControllerManagerConfig {
            qps: DEFAULT_QPS,
            burst: DEFAULT_BURST,
            terminated_pod_gc_threshold: nodelifecycle::TERMINATED_POD_GC_THRESHOLD,
        }
    }
}

/// The least number of failed pods in a row after which a controller's
/// replacements are lingering (see [`Cache::replaces_failures_forever`]).
const LINGER_FAILED_PODS: i32 = 10;

/// The shared informer caches: what the controller manager has observed
/// through its watches, with the indexes its controllers look up.
#[derive(Default)]
pub struct Cache {
    /// Every object but pods, in key order (controllers walk workloads and
    /// nodes by kind).
    objects: crate::api::keyed::KeyedMap<Cached>,
    /// Pods, looked up by key only (never walked here: a controller's pods
    /// are walked through its dependents).
    pods: HashMap<ObjectKey, Cached>,
    /// Dependents (pods, ReplicaSets) by the uid of their controller.
    by_controller: HashMap<u64, Dependents>,
    /// Dependents by the uid of any owner (for the garbage collector,
    /// which sorts them: see [`Cache::owned_by`]).
    by_owner: HashMap<u64, HashSet<ObjectKey>>,
    /// Objects without a controller, per kind and namespace: candidates
    /// for adoption. Unordered, so that a pod's insertion costs one hash;
    /// [`Cache::orphans`], read only to adopt, sorts them.
    orphans: [HashMap<String, HashSet<ObjectKey>>; Kind::ALL.len()],
    /// Workloads by uid.
    by_uid: HashMap<u64, UidEntry>,
    /// Per controller uid: how many of its pods failed since one last
    /// started running (see [`Cache::replaces_failures_forever`]).
    failed_in_a_row: HashMap<u64, u32>,
}

/// A workload of the cache, found by its uid.
pub struct UidEntry {
    pub key: ObjectKey,
    /// The uid its controller reference names when that is a Deployment
    /// (a pod's Deployment, through its ReplicaSet, without a search).
    pub deployment: Option<u64>,
}

/// An object of the cache, with its controller's uid and its slot among
/// that controller's [`Dependents`].
struct Cached {
    object: Arc<Object>,
    controller: Option<(u64, u32)>,
}

/// What a ReplicaSet's status counts of a dependent, kept per slot so that
/// a sync reads one word per pod instead of the pod: inactive (not a pod,
/// terminal, being deleted, or an empty slot), active and not Ready, or
/// active and Ready since a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodState(Time);

impl PodState {
    const INACTIVE: PodState = PodState(Time::MAX);
    const NOT_READY: PodState = PodState(Time::MAX - 1);

    fn of(o: &Object) -> PodState {
        match o.as_pod() {
            Some(p) if podutil::is_active(p) => match podutil::ready_since(p) {
                // A transition time this late would read as a sentinel.
                Some(t) => PodState(t.min(Time::MAX - 2)),
                None => PodState::NOT_READY,
            },
            _ => PodState::INACTIVE,
        }
    }

    /// When the pod became Ready, if it is active and Ready.
    pub fn ready_since(self) -> Option<Time> {
        (self.0 < Time::MAX - 1).then_some(self.0)
    }
}

/// The counts of a controller's active dependent pods, kept as pods come,
/// change and go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// Active pods.
    pub active: i32,
    /// Active Ready pods.
    pub ready: i32,
    /// No earlier than the Ready transition of every active Ready pod (exact
    /// while pods only become Ready; a pod leaving can leave it too late).
    pub ready_bound: Time,
}

impl PodCounts {
    fn add(&mut self, s: PodState, sign: i32) {
        if s == PodState::INACTIVE {
            return;
        }
        self.active += sign;
        if let Some(t) = s.ready_since() {
            self.ready += sign;
            if sign > 0 {
                self.ready_bound = self.ready_bound.max(t);
            }
        }
    }
}

/// One controller's dependents: their keys, each with the slot holding its
/// object, so that an update (most are status writes) replaces the object
/// without searching the keys. The keys are hashed (a pod's creation hashes
/// its key's one word instead of comparing names down a B-tree) and sorted
/// only for the callers that walk them in key order.
#[derive(Default)]
struct Dependents {
    order: HashMap<ObjectKey, u32>,
    slots: Vec<Option<Arc<Object>>>,
    /// Per slot, what the ReplicaSet controller counts of its object.
    states: Vec<PodState>,
    counts: PodCounts,
    free: Vec<u32>,
}

impl Dependents {
    /// Puts `obj` (or nothing) in slot `i`, keeping the counts.
    fn put(&mut self, i: u32, obj: Option<&Arc<Object>>) {
        let i = i as usize;
        let state = obj.map_or(PodState::INACTIVE, |o| PodState::of(o));
        self.counts.add(self.states[i], -1);
        self.counts.add(state, 1);
        self.states[i] = state;
        self.slots[i] = obj.cloned();
    }

    /// Adds a dependent; returns its slot.
    fn insert(&mut self, key: &ObjectKey, obj: &Arc<Object>) -> u32 {
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.states.push(PodState::INACTIVE);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 dependents")
            }
        };
        self.put(slot, Some(obj));
        if let Some(stale) = self.order.insert(key.clone(), slot) {
            self.put(stale, None);
            self.free.push(stale);
        }
        slot
    }

    fn remove(&mut self, key: &ObjectKey) {
        if let Some(i) = self.order.remove(key) {
            self.put(i, None);
            self.free.push(i);
        }
    }

    /// The dependents in slot order: not key order, but the same on every
    /// run (slots are handed out and reused deterministically).
    fn objects(&self) -> impl Iterator<Item = &Arc<Object>> {
        self.slots.iter().flatten()
    }

    /// The dependents of `kind`, in key order.
    fn sorted(&self, kind: Kind) -> Vec<(&ObjectKey, &Arc<Object>)> {
        let mut v: Vec<(&ObjectKey, &Arc<Object>)> = self
            .order
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .map(|(k, &i)| {
                let o = self.slots[i as usize].as_ref();
                (k, o.expect("a key's slot holds its object"))
            })
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }
}

fn owner_uid(r: &crate::api::meta::OwnerReference) -> Option<u64> {
    r.uid.parse().ok()
}

impl Cache {
    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Object>> {
        self.entry(key).map(|c| &c.object)
    }

    fn entry(&self, key: &ObjectKey) -> Option<&Cached> {
        if key.kind == Kind::Pod {
            self.pods.get(key)
        } else {
            self.objects.get(key)
        }
    }

    fn entry_mut(&mut self, key: &ObjectKey) -> Option<&mut Cached> {
        if key.kind == Kind::Pod {
            self.pods.get_mut(key)
        } else {
            self.objects.get_mut(key)
        }
    }

    /// The objects but pods from key `from` on, in key order.
    pub fn range_from<'a>(
        &'a self,
        from: &ObjectKey,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Object>)> + use<'a> {
        self.objects.range_from(from).map(|(k, c)| (k, &c.object))
    }

    /// How many objects of one kind but Pod the cache holds.
    pub fn count_of_kind(&self, kind: Kind) -> usize {
        self.objects.count_of_kind(kind)
    }

    /// The objects of one kind but Pod, in key order.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&ObjectKey, &Arc<Object>)> {
        self.objects.of_kind(kind).map(|(k, c)| (k, &c.object))
    }

    /// The objects of `kind` controlled by the object with `uid`, in key
    /// order.
    pub fn controlled(&self, uid: u64, kind: Kind) -> impl Iterator<Item = &Arc<Object>> {
        self.controlled_keyed(uid, kind).map(|(_, o)| o)
    }

    /// [`Cache::controlled`] with each object's key.
    pub fn controlled_keyed(
        &self,
        uid: u64,
        kind: Kind,
    ) -> impl Iterator<Item = (&ObjectKey, &Arc<Object>)> {
        self.by_controller
            .get(&uid)
            .map(|d| d.sorted(kind))
            .unwrap_or_default()
            .into_iter()
    }

    /// The pods controlled by the object with `uid`, in no particular (but
    /// deterministic) order: for callers whose result does not depend on
    /// the order, it spares sorting the keys.
    pub fn controlled_pods_unordered(&self, uid: u64) -> impl Iterator<Item = &crate::api::Pod> {
        self.by_controller
            .get(&uid)
            .into_iter()
            .flat_map(Dependents::objects)
            .filter_map(|o| o.as_pod())
    }

    /// The counts of the active pods controlled by the object with `uid`.
    pub fn controlled_pod_counts(&self, uid: u64) -> PodCounts {
        self.by_controller
            .get(&uid)
            .map_or_else(PodCounts::default, |d| d.counts)
    }

    /// When each active Ready pod controlled by the object with `uid`
    /// became Ready, in no particular (but deterministic) order.
    pub fn controlled_ready_since(&self, uid: u64) -> impl Iterator<Item = Time> {
        self.by_controller
            .get(&uid)
            .into_iter()
            .flat_map(|d| d.states.iter().filter_map(|s| s.ready_since()))
    }

    /// The objects of `kind` in `namespace` with no controller, in key
    /// order.
    pub fn orphans(&self, kind: Kind, namespace: &str) -> impl Iterator<Item = &Arc<Object>> {
        let mut keys: Vec<&ObjectKey> = self.orphans[kind.index()]
            .get(namespace)
            .into_iter()
            .flatten()
            .collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|k| self.get(k))
    }

    /// Applies one observed change; returns the previous version and the
    /// uid of `obj`'s controller (as its controller reference names it).
    pub fn apply(
        &mut self,
        kind: EventType,
        key: &ObjectKey,
        obj: &Arc<Object>,
    ) -> (Option<Arc<Object>>, Option<u64>) {
        if kind != EventType::Deleted
            && let Some(slot) = self.entry_mut(key)
        {
            let old = std::mem::replace(&mut slot.object, obj.clone());
            let (was, now) = (old.meta(), obj.meta());
            if was.uid == now.uid && was.owner_references == now.owner_references {
                // Most updates (status writes) leave every index as it is:
                // only the controller's dependents hold the object itself.
                // The controller is the one indexed for the same references.
                let controller = slot.controller;
                if let Some((uid, i)) = controller
                    && let Some(d) = self.by_controller.get_mut(&uid)
                {
                    d.put(i, Some(obj));
                }
                return (Some(old), controller.map(|(uid, _)| uid));
            }
            let controller = slot.controller;
            self.unindex(key, &old, controller);
            let controller = self.index(key, obj);
            if let Some(slot) = self.entry_mut(key) {
                slot.controller = controller;
            }
            return (Some(old), controller.map(|(uid, _)| uid));
        }
        if kind == EventType::Deleted {
            let uid = obj.meta().controller_ref().and_then(owner_uid);
            let old = if key.kind == Kind::Pod {
                self.pods.remove(key)
            } else {
                self.objects.remove(key)
            };
            let Some(old) = old else {
                return (None, uid);
            };
            self.unindex(key, &old.object, old.controller);
            return (Some(old.object), uid);
        }
        let controller = self.index(key, obj);
        let cached = Cached {
            object: obj.clone(),
            controller,
        };
        let old = if key.kind == Kind::Pod {
            self.pods.insert(key.clone(), cached)
        } else {
            self.objects.insert(key.clone(), cached)
        };
        (old.map(|c| c.object), controller.map(|(uid, _)| uid))
    }

    /// Counts a controlled pod's failure, or forgets its controller's
    /// failures once one of its pods runs.
    fn count_pod_failure(&mut self, controller: u64, obj: &Object, old: Option<&Object>) {
        let (Some(p), phase_was) = (
            obj.as_pod(),
            old.and_then(|o| o.as_pod()).map(|p| p.status.phase),
        ) else {
            return;
        };
        let phase = p.status.phase;
        if phase_was == Some(phase) {
            return;
        }
        match phase {
            PodPhase::Failed => *self.failed_in_a_row.entry(controller).or_insert(0) += 1,
            PodPhase::Running | PodPhase::Succeeded if !self.failed_in_a_row.is_empty() => {
                self.failed_in_a_row.remove(&controller);
            }
            _ => {}
        }
    }

    /// Whether the controller with `uid`, wanting `replicas` pods, has seen
    /// at least `max(replicas, 10)` of its pods fail and none run since
    /// (nor any running pod end or go, nor a Node come or change):
    /// its replacements may fail forever (pods pinned with `nodeName` to a
    /// node that refuses them), so its creates are retries that keep only
    /// a run with a `duration` going.
    pub fn replaces_failures_forever(&self, uid: u64, replicas: i32) -> bool {
        !self.failed_in_a_row.is_empty()
            && self
                .failed_in_a_row
                .get(&uid)
                .is_some_and(|&n| i64::from(n) >= i64::from(replicas.max(LINGER_FAILED_PODS)))
    }

    /// Indexes a new object; returns its controller's uid and its slot
    /// there.
    fn index(&mut self, key: &ObjectKey, o: &Arc<Object>) -> Option<(u64, u32)> {
        let m = o.meta();
        // Each reference's uid parsed once: the controller is the first
        // reference with `controller: true` (as `controller_ref`).
        let mut controller_uid = None;
        let mut deployment = false;
        let mut found = false;
        for r in m.owner_references.iter() {
            let uid = owner_uid(r);
            if !found && r.controller == Some(true) {
                found = true;
                controller_uid = uid;
                deployment = r.kind == "Deployment";
            }
            if let Some(uid) = uid {
                self.by_owner.entry(uid).or_default().insert(key.clone());
            }
        }
        if key.kind != Kind::Pod && key.kind != Kind::Node {
            let w = UidEntry {
                key: key.clone(),
                deployment: controller_uid.filter(|_| deployment),
            };
            self.by_uid.insert(m.uid, w);
        }
        match controller_uid {
            Some(uid) => {
                let slot = self.by_controller.entry(uid).or_default().insert(key, o);
                Some((uid, slot))
            }
            None => {
                let in_kind = &mut self.orphans[key.kind.index()];
                match in_kind.get_mut(key.namespace()) {
                    Some(set) => set.insert(key.clone()),
                    None => in_kind
                        .entry(key.namespace().to_string())
                        .or_default()
                        .insert(key.clone()),
                };
                None
            }
        }
    }

    fn unindex(&mut self, key: &ObjectKey, o: &Object, controller: Option<(u64, u32)>) {
        let m = o.meta();
        if key.kind != Kind::Pod && key.kind != Kind::Node {
            self.by_uid.remove(&m.uid);
        }
        match controller {
            Some((uid, _)) => {
                if let Some(s) = self.by_controller.get_mut(&uid) {
                    s.remove(key);
                    if s.order.is_empty() {
                        self.by_controller.remove(&uid);
                    }
                }
            }
            None => {
                if let Some(s) = self.orphans[key.kind.index()].get_mut(key.namespace()) {
                    s.remove(key);
                }
            }
        }
        for r in m.owner_references.iter() {
            if let Some(uid) = owner_uid(r)
                && let Some(s) = self.by_owner.get_mut(&uid)
            {
                s.remove(key);
                if s.is_empty() {
                    self.by_owner.remove(&uid);
                }
            }
        }
    }

    /// The key of the controller of `o`, if it is in the cache.
    pub fn controller_of(&self, o: &Object) -> Option<&ObjectKey> {
        let uid = o.meta().controller_ref().and_then(owner_uid)?;
        self.by_uid.get(&uid).map(|w| &w.key)
    }

    /// The dependents of the object with `uid` (through any owner
    /// reference), in key order.
    pub fn owned_by(&self, uid: u64) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = self
            .by_owner
            .get(&uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    /// The workload with `uid`, if it is in the cache.
    pub fn workload(&self, uid: Option<u64>) -> Option<&UidEntry> {
        self.by_uid.get(&uid?)
    }

    /// Whether the object with `uid` (a workload) is in the cache.
    pub fn has_uid(&self, uid: u64) -> bool {
        self.by_uid.contains_key(&uid)
    }
}

/// A controller's rate-limited work queue: a key is queued at most once.
#[derive(Default)]
pub struct WorkQueue {
    queue: VecDeque<ObjectKey>,
    /// What `queue` holds, for lookups only (never walked).
    queued: HashSet<ObjectKey>,
    busy: bool,
    /// The worker is blocked on the rate limiter until its last request
    /// goes out (client-go's limiter blocks the calling goroutine).
    blocked_until: Time,
    /// How many times in a row each key's sync failed (client-go's
    /// `NumRequeues`), for its exponential backoff.
    failures: HashMap<ObjectKey, u32>,
    /// The queue's overall bucket (10 qps, burst 100), made on first use.
    retry_bucket: Option<TokenBucket>,
    /// Whether the sync in progress failed (and was requeued).
    sync_failed: bool,
    /// Keys requeued since their last sync started: a sync counts as one
    /// failure however many of its requests fail.
    requeued: HashSet<ObjectKey>,
    /// After this many failures in a row a key is dropped (the Deployment
    /// controller's `maxRetries`); unlimited when `None`.
    pub max_retries: Option<u32>,
    /// Per key, the requests its syncs sent and not yet answered: their
    /// answers decide whether the syncs failed.
    answers_due: HashMap<ObjectKey, u32>,
    /// Whether a key is held back while requests of its last sync are
    /// unanswered, as upstream's worker, whose sync returns only once its
    /// requests are answered, holds the key it processes.
    pub hold_while_awaiting: bool,
    /// Keys taken while held back, queued again by their last answer.
    held: HashSet<ObjectKey>,
}

/// client-go's default controller rate limiter: per key 5 ms doubling to
/// 1000 s; overall 10 qps with a burst of 100; the later of the two.
const RETRY_BASE: Time = 5 * crate::engine::MILLISECOND;
const RETRY_MAX: Time = 1000 * crate::engine::SECOND;
const RETRY_QPS: f64 = 10.0;
const RETRY_BURST: u32 = 100;
/// A key's first 10 retries in a row (backoffs up to 2.56 s) keep any run
/// going; later ones keep only a run with a `duration` going, so that a
/// sync that always fails does not make a run without one endless.
const FOREGROUND_RETRIES: u32 = 10;

impl WorkQueue {
    /// A request of `key`'s sync is sent: its answer is awaited.
    pub fn await_answer(&mut self, key: &ObjectKey) {
        *self.answers_due.entry(key.clone()).or_insert(0) += 1;
    }

    /// One of `key`'s awaited answers came.
    pub fn answer_came(&mut self, key: &ObjectKey) {
        if let Some(n) = self.answers_due.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.answers_due.remove(key);
                if self.held.remove(key) {
                    self.add(key.clone());
                }
            }
        }
    }

    /// Whether some of `key`'s requests are unanswered.
    pub fn awaiting(&self, key: &ObjectKey) -> bool {
        self.answers_due.contains_key(key)
    }

    pub fn add(&mut self, key: ObjectKey) {
        // Most adds find the key already queued: no copy for them.
        if !self.queued.contains(&key) {
            self.queued.insert(key.clone());
            self.queue.push_back(key);
        }
    }

    /// Requeues `key` after a failed sync, as client-go's
    /// `AddRateLimited`: after its backoff, or never once it has failed
    /// `max_retries` times in a row.
    pub fn add_rate_limited(&mut self, id: u8, key: ObjectKey, cx: &mut Cx) {
        self.sync_failed = true;
        if !self.requeued.insert(key.clone()) {
            return;
        }
        let n = self.failures.entry(key.clone()).or_insert(0);
        if let Some(max) = self.max_retries.filter(|&max| *n >= max) {
            self.failures.remove(&key);
            let detail = format!("dropping {key} out of the queue after {max} failed syncs");
            log(
                cx,
                "drop",
                Subject::from(&key),
                controller_name(id),
                &detail,
            );
            return;
        }
        let backoff = if *n < 20 {
            (RETRY_BASE << *n).min(RETRY_MAX)
        } else {
            RETRY_MAX
        };
        *n += 1;
        let now = cx.now();
        let bucket = self
            .retry_bucket
            .get_or_insert_with(|| TokenBucket::new(RETRY_QPS, RETRY_BURST));
        let delay = backoff.max(bucket.reserve(now));
        let msg = Msg::ControllerRequeue {
            controller: id,
            key,
        };
        let lingering = *n > FOREGROUND_RETRIES;
        cx.send_retry(Dest::ControllerManager, now + delay, msg, lingering);
    }

    /// The answer to the write that ends `resp.key`'s sync (a status write,
    /// a delete): done (or the object gone) forgets the key's failures, a
    /// refusal fails the sync.
    pub fn sync_answered(&mut self, id: u8, resp: &Response, cx: &mut Cx) {
        self.status_answered(id, resp, false, cx);
    }

    /// [`Self::sync_answered`] for a status write sent while other requests
    /// of the same sync may be in flight (`busy`): a refusal fails the
    /// sync, but a success leaves it to their answers.
    pub fn status_answered(&mut self, id: u8, resp: &Response, busy: bool, cx: &mut Cx) {
        match &resp.result {
            Err(e) if e.reason != "NotFound" => self.add_rate_limited(id, resp.key.clone(), cx),
            _ if !busy => self.forget(&resp.key),
            _ => {}
        }
    }

    /// Forgets `key`'s failures (client-go's `Forget`): its sync succeeded,
    /// unless another of its requests failed (and requeued it) already.
    pub fn forget(&mut self, key: &ObjectKey) {
        if !self.failures.is_empty() && !self.requeued.contains(key) {
            self.failures.remove(key);
        }
    }

    /// Ends the handler of `key`'s sync. A sync that neither failed nor
    /// sent a request, nor left one of the key's earlier requests
    /// (`waiting`: a slow-start run) unanswered, succeeded; one that sent
    /// requests succeeds or fails with their answers (upstream's sync waits
    /// for them), which the controller reports with [`Self::forget`] or
    /// [`Self::add_rate_limited`].
    fn finish_sync(&mut self, key: &ObjectKey, sent: bool, waiting: bool) {
        if !std::mem::take(&mut self.sync_failed) && !sent && !waiting && !self.awaiting(key) {
            self.forget(key);
        }
    }

    /// Takes the next key for a sync, which has not failed yet.
    fn pop(&mut self) -> Option<ObjectKey> {
        self.busy = false;
        let k = loop {
            let k = self.queue.pop_front()?;
            if self.hold_while_awaiting && self.awaiting(&k) {
                // Still being processed: its last answer queues it again.
                self.queued.remove(&k);
                self.held.insert(k);
                continue;
            }
            break k;
        };
        self.sync_failed = false;
        self.queued.remove(&k);
        if !self.requeued.is_empty() {
            self.requeued.remove(&k);
        }
        Some(k)
    }

    /// Starts controller `id`'s worker if there is work and it is idle
    /// (checked inline: after most events there is nothing to start).
    #[inline]
    fn kick(&mut self, id: u8, cx: &mut Cx) {
        if !self.busy && !self.queue.is_empty() {
            self.start(id, cx);
        }
    }

    #[cold]
    fn start(&mut self, id: u8, cx: &mut Cx) {
        self.busy = true;
        let delay = cx.lat.sample(Hop::ControllerSync);
        let at = (cx.now() + delay).max(self.blocked_until);
        cx.send_at(Dest::ControllerManager, at, Msg::ControllerWork(id));
    }
}

/// One controller's client: its token bucket, and its requests reach the
/// apiserver in the order they were sent (one connection).
struct Lane {
    bucket: TokenBucket,
    last_arrival: Time,
    /// When the last request left the rate limiter.
    last_release: Time,
}

/// The controller manager's API client, shared by its controllers (by id).
pub struct Client {
    lanes: Vec<Lane>,
    next_tag: u64,
}

/// The name controller `id` logs under.
fn controller_name(id: u8) -> &'static str {
    match id {
        REPLICASET => replicaset::NAME,
        DEPLOYMENT => deployment::NAME,
        GARBAGE_COLLECTOR => gc::NAME,
        DAEMONSET => daemon::NAME,
        STATEFULSET => statefulset::NAME,
        NODE_LIFECYCLE => "node-lifecycle-controller",
        TAINT_EVICTION => "taint manager",
        POD_GC => "pod GC",
        PERSISTENT_VOLUME => persistentvolume::NAME,
        PROVISIONER => persistentvolume::PROVISIONER_NAME,
        _ => "endpointslice-controller",
    }
}

/// How many controllers (ids 0 to 10) send requests, each through a client
/// of its own.
const CLIENTS: usize = 11;

impl Client {
    fn new(config: &ControllerManagerConfig) -> Self {
        Client {
            lanes: (0..CLIENTS)
                .map(|_| Lane {
                    bucket: TokenBucket::new(config.qps, config.burst),
                    last_arrival: 0,
                    last_release: 0,
                })
                .collect(),
            next_tag: 0,
        }
    }

    /// When controller `id`'s last request left its rate limiter.
    fn released(&self, id: u8) -> Time {
        self.lanes[usize::from(id)].last_release
    }

    /// Sends a request for controller `id`; returns its tag, which carries
    /// the controller id in the top byte.
    pub fn send(&mut self, id: u8, cx: &mut Cx, verb: Verb) -> u64 {
        self.send_as(id, cx, verb, false)
    }

    /// [`Self::send`], as a lingering message (`Ctx::send_retry`) when
    /// `lingering`: a retry that may repeat forever.
    pub fn send_as(&mut self, id: u8, cx: &mut Cx, verb: Verb, lingering: bool) -> u64 {
        self.next_tag += 1;
        let tag = (u64::from(id) << 56) | self.next_tag;
        let now = cx.now();
        let lane = &mut self.lanes[usize::from(id)];
        let wait = lane.bucket.reserve(now);
        lane.last_release = now + wait;
        let at = (now + wait + cx.lat.sample(Hop::ApiserverRequest)).max(lane.last_arrival);
        lane.last_arrival = at;
        let msg = Msg::Request(Box::new(Request {
            from: Dest::ControllerManager,
            tag,
            verb,
        }));
        cx.send_retry(Dest::ApiServer, at, msg, lingering);
        tag
    }
}

/// Keeps the rollout pod counts of DaemonSets and StatefulSets (the
/// Deployment controller counts its own, through its ReplicaSets).
fn count_rollout_pods(kind: EventType, obj: &Object, old: Option<&Object>, cx: &mut Cx) {
    let Some(r) = obj.meta().controller_ref() else {
        return;
    };
    if r.kind != "DaemonSet" && r.kind != "StatefulSet" {
        return;
    }
    let Ok(uid) = r.uid.parse::<u64>() else {
        return;
    };
    let (before, after) = podutil::counts_across(kind, obj, old);
    if before != after {
        cx.rec
            .rollouts
            .pods_changed(uid, after.0 - before.0, after.1 - before.1);
    }
}

/// The `SuccessfulCreate` or `SuccessfulDelete` row of `owner` (a
/// ReplicaSet, a DaemonSet) once its pod's create or delete has succeeded,
/// as upstream's pod control records the event after the call returns.
pub fn log_pod_done(cx: &mut Cx, owner: &ObjectKey, controller: &str, resp: &Response) {
    let Ok(o) = &resp.result else { return };
    let (action, reason, verb) = if resp.verb == "create" {
        ("create", "SuccessfulCreate", "Created")
    } else {
        ("delete", "SuccessfulDelete", "Deleted")
    };
    cx.log_parts(
        Dest::ControllerManager,
        action,
        Subject::from(owner),
        &[
            Part::Text(controller),
            Part::Text(": "),
            Part::Text(reason),
            Part::Text(": "),
            Part::Text(verb),
            Part::Text(" pod: "),
            Part::Text(&o.meta().name),
        ],
    );
}

/// A timeline row by the controller manager, naming the controller.
pub fn log(
    cx: &mut Cx,
    action: &'static str,
    subject: Subject<'_>,
    controller: &str,
    detail: &str,
) {
    let who = Dest::ControllerManager;
    if detail.is_empty() {
        cx.log(who, action, subject, controller);
    } else {
        cx.log_parts(
            who,
            action,
            subject,
            &[Part::Text(controller), Part::Text(": "), Part::Text(detail)],
        );
    }
}

const WATCHED: [(u32, Kind); 7] = [
    (1, Kind::Service),
    (2, Kind::Pod),
    (3, Kind::Deployment),
    (4, Kind::ReplicaSet),
    (5, Kind::Node),
    (6, Kind::DaemonSet),
    (7, Kind::StatefulSet),
];

/// The storage informers, opened only in runs that make storage objects
/// (see [`ControllerManager::watch_storage`]).
const WATCHED_STORAGE: [(u32, Kind); 3] = [
    (8, Kind::PersistentVolume),
    (9, Kind::PersistentVolumeClaim),
    (10, Kind::StorageClass),
];

pub struct ControllerManager {
    cache: Cache,
    client: Client,
    endpoints: EndpointSliceController,
    replicasets: ReplicaSetController,
    deployments: DeploymentController,
    daemonsets: DaemonSetController,
    statefulsets: StatefulSetController,
    gc: GarbageCollector,
    nodes: nodelifecycle::NodeLifecycleController,
    volumes: persistentvolume::PersistentVolumeController,
    provisioner: persistentvolume::Provisioner,
    /// Whether the storage informers open (and the volume controllers run).
    storage: bool,
}

impl Default for ControllerManager {
    fn default() -> Self {
        Self::new(&ControllerManagerConfig::default())
    }
}

impl ControllerManager {
    pub fn new(config: &ControllerManagerConfig) -> Self {
        let mut deployments = DeploymentController::default();
        deployments.queue.max_retries = Some(deployment::MAX_RETRIES);
        deployments.queue.hold_while_awaiting = true;
        let mut replicasets = ReplicaSetController::default();
        replicasets.queue.hold_while_awaiting = true;
        let mut daemonsets = DaemonSetController::default();
        daemonsets.queue.hold_while_awaiting = true;
        let mut statefulsets = StatefulSetController::default();
        statefulsets.queue.hold_while_awaiting = true;
        ControllerManager {
            cache: Cache::default(),
            client: Client::new(config),
            endpoints: EndpointSliceController::default(),
            replicasets,
            deployments,
            daemonsets,
            statefulsets,
            gc: GarbageCollector::default(),
            nodes: nodelifecycle::NodeLifecycleController::new(config.terminated_pod_gc_threshold),
            volumes: Default::default(),
            provisioner: Default::default(),
            storage: false,
        }
    }

    /// Opens the PersistentVolume, PersistentVolumeClaim and StorageClass
    /// informers when the controller manager starts, so that the
    /// PersistentVolume controller and the provisioner run: only in runs
    /// that make storage objects, so that others keep their timelines.
    pub fn watch_storage(&mut self) {
        self.storage = true;
    }

    /// The queue of controller `id` (one with a work queue).
    fn queue(&mut self, id: u8) -> &mut WorkQueue {
        match id {
            REPLICASET => &mut self.replicasets.queue,
            DEPLOYMENT => &mut self.deployments.queue,
            DAEMONSET => &mut self.daemonsets.queue,
            STATEFULSET => &mut self.statefulsets.queue,
            GARBAGE_COLLECTOR => &mut self.gc.queue,
            PERSISTENT_VOLUME => &mut self.volumes.queue,
            PROVISIONER => &mut self.provisioner.queue,
            _ => unreachable!("controller {id} has no work queue"),
        }
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        let released: [Time; CLIENTS] = std::array::from_fn(|i| self.client.released(i as u8));
        let mut worker: Option<u8> = None;
        match msg {
            Msg::Start => {
                // The node lifecycle controller shares the Node and Pod
                // informers below.
                self.nodes.start(cx);
                let storage = if self.storage {
                    self.volumes.start(cx);
                    &WATCHED_STORAGE[..]
                } else {
                    &[]
                };
                for &(tag, kind) in WATCHED.iter().chain(storage) {
                    let spec = WatchSpec::all(tag, kind);
                    // Watches are opened once, before the informers sync:
                    // not rate limited.
                    cx.api(Dest::ControllerManager, 0, Verb::Watch(spec));
                }
            }
            Msg::WatchList { objects, .. } => {
                for o in objects.iter() {
                    self.observe(EventType::Added, &o.key(), o, cx);
                }
            }
            Msg::WatchEvent { kind, change, .. } => {
                self.observe(kind, &change.key, &change.object, cx)
            }
            Msg::VolumeResync => self.volumes.resync(&self.cache, cx),
            msg @ (Msg::NodeMonitor | Msg::LeasesRenewed { .. } | Msg::TaintEviction { .. }) => {
                self.nodes.handle(msg, &mut self.client, cx)
            }
            Msg::EndpointsWork => {
                worker = Some(0);
                self.endpoints.work(&mut self.client, cx);
            }
            Msg::ControllerWork(id) => {
                worker = Some(id);
                let key = self.queue(id).pop();
                if let Some(key) = key {
                    let tags = self.client.next_tag;
                    match id {
                        REPLICASET => {
                            self.replicasets
                                .sync(&key, &self.cache, &mut self.client, cx)
                        }
                        DEPLOYMENT => {
                            self.deployments
                                .sync(&key, &self.cache, &mut self.client, cx)
                        }
                        DAEMONSET => self
                            .daemonsets
                            .sync(&key, &self.cache, &mut self.client, cx),
                        STATEFULSET => {
                            self.statefulsets
                                .sync(&key, &self.cache, &mut self.client, cx)
                        }
                        PERSISTENT_VOLUME => {
                            self.volumes.sync(&key, &self.cache, &mut self.client, cx)
                        }
                        PROVISIONER => {
                            self.provisioner
                                .sync(&key, &self.cache, &mut self.client, cx)
                        }
                        _ => self.gc.sync(&key, &self.cache, &mut self.client, cx),
                    }
                    let sent = self.client.next_tag != tags;
                    // Requests of the key's earlier syncs still unanswered
                    // (beyond those the queue counts) decide whether they
                    // failed.
                    let waiting = match id {
                        REPLICASET => self.replicasets.creating(&key),
                        DAEMONSET => self.daemonsets.creating(&key),
                        GARBAGE_COLLECTOR => self.gc.waiting(&key),
                        _ => false,
                    };
                    self.queue(id).finish_sync(&key, sent, waiting);
                }
            }
            Msg::ControllerRequeue { controller, key } => self.queue(controller).add(key),
            Msg::Response(resp) => {
                let id = (resp.tag >> 56) as u8;
                worker = Some(id);
                if let Err(e) = &resp.result
                    && (id == 0 || !has_queue(id))
                {
                    // Tag 0: a watch; others with id 0 the EndpointSlice
                    // controller's writes. The controllers that handle
                    // their own errors are not logged here.
                    let detail = format!("{} failed: {} {}", resp.verb, e.code, e.message);
                    let subject = Subject::from(&resp.key);
                    // The node lifecycle controller's rows are unprefixed;
                    // its taint manager and pod GC name themselves.
                    if resp.tag == 0 || id == NODE_LIFECYCLE {
                        cx.log(Dest::ControllerManager, "error", subject, &detail)
                    } else {
                        log(cx, "error", subject, controller_name(id), &detail)
                    }
                }
                match id {
                    REPLICASET => self.replicasets.on_response(&resp, &mut self.client, cx),
                    DEPLOYMENT => {
                        self.deployments
                            .on_response(&resp, &self.cache, &mut self.client, cx)
                    }
                    GARBAGE_COLLECTOR => self.gc.on_response(&resp, &mut self.client, cx),
                    DAEMONSET => self.daemonsets.on_response(&resp, &mut self.client, cx),
                    STATEFULSET => self.statefulsets.on_response(&resp, &mut self.client, cx),
                    PERSISTENT_VOLUME => self.volumes.on_response(&resp, &mut self.client, cx),
                    PROVISIONER => self.provisioner.on_response(&resp, cx),
                    _ => {}
                }
            }
            _ => {}
        }
        // Whoever sent requests waits until the limiter lets the last go.
        // (The node lifecycle controllers' loops are not held back: their
        // requests only go out later.)
        if let Some(id) = worker
            && has_queue(id)
            && self.client.released(id) != released[usize::from(id)]
        {
            let until = self.client.released(id);
            if id == 0 {
                self.endpoints.blocked_until = until;
            } else {
                self.queue(id).blocked_until = until;
            }
        }
        self.endpoints.kick(cx);
        self.replicasets.queue.kick(REPLICASET, cx);
        self.deployments.queue.kick(DEPLOYMENT, cx);
        self.gc.queue.kick(GARBAGE_COLLECTOR, cx);
        self.daemonsets.queue.kick(DAEMONSET, cx);
        self.statefulsets.queue.kick(STATEFULSET, cx);
        if self.storage {
            self.volumes.queue.kick(PERSISTENT_VOLUME, cx);
            self.provisioner.queue.kick(PROVISIONER, cx);
        }
    }

    /// Every controller's count of failed pods starts again (a refused pod
    /// may fit now). Creates already sent as lingering are awaited in the
    /// foreground, so that a run does not end before the one that may now
    /// succeed arrives.
    fn forget_pod_failures(&mut self, cx: &mut Cx) {
        self.cache.failed_in_a_row.clear();
        let last = [REPLICASET, STATEFULSET]
            .map(|id| self.client.lanes[usize::from(id)].last_arrival)
            .into_iter()
            .max()
            .unwrap_or(0);
        if last >= cx.now() {
            cx.send_at(Dest::ControllerManager, last, Msg::AwaitRequests);
        }
    }

    fn observe(&mut self, kind: EventType, key: &ObjectKey, obj: &Arc<Object>, cx: &mut Cx) {
        let k = obj.kind();
        if k == Kind::Service || k == Kind::Pod {
            self.endpoints.observe(kind, obj);
        }
        if k == Kind::Node || k == Kind::Pod {
            self.nodes.observe(kind, key, obj, &mut self.client, cx);
        }
        if k == Kind::Service || k == Kind::EndpointSlice {
            return;
        }
        if matches!(
            k,
            Kind::PersistentVolume | Kind::PersistentVolumeClaim | Kind::StorageClass
        ) {
            self.cache.apply(kind, key, obj);
            self.volumes.observe(kind, key, obj);
            self.provisioner.observe(key, obj);
            if k == Kind::PersistentVolumeClaim {
                self.statefulsets.observe_claim(obj);
            }
            return;
        }
        let (old, controller) = self.cache.apply(kind, key, obj);
        if k == Kind::Pod {
            count_rollout_pods(kind, obj, old.as_deref(), cx);
            if let Some(c) = controller
                && kind != EventType::Deleted
            {
                self.cache.count_pod_failure(c, obj, old.as_deref());
            }
            if !self.cache.failed_in_a_row.is_empty() {
                // A running pod that ends or goes frees its node's room: a
                // refused pod may fit now, so every count starts again.
                let running = |o: Option<&Object>| {
                    o.and_then(|o| o.as_pod())
                        .is_some_and(|p| p.status.phase == PodPhase::Running)
                };
                let freed = if kind == EventType::Deleted {
                    running(Some(obj))
                } else {
                    running(old.as_deref()) && !running(Some(obj))
                };
                if freed {
                    self.forget_pod_failures(cx);
                }
            }
        } else if !self.cache.failed_in_a_row.is_empty() {
            if k == Kind::Node {
                // A node added or changed may take a refused pod now.
                self.forget_pod_failures(cx);
            } else if kind == EventType::Deleted {
                // A controller gone: its count goes with it.
                self.cache.failed_in_a_row.remove(&obj.meta().uid);
            }
        }
        match k {
            Kind::Pod => {
                // The pod's controller, looked up once for every controller.
                let workload = self.cache.workload(controller);
                let owner = workload.map(|w| &w.key);
                let old = old.as_deref();
                let cache = &self.cache;
                self.replicasets.observe_pod(kind, obj, old, owner, cache);
                self.deployments
                    .observe_pod(kind, obj, old, workload, cache, cx);
                self.daemonsets.observe_pod(kind, obj, old, owner);
                self.statefulsets.observe_pod(kind, obj, old, owner);
            }
            Kind::DaemonSet if kind != EventType::Deleted => self.daemonsets.queue.add(key.clone()),
            Kind::StatefulSet if kind != EventType::Deleted => {
                self.statefulsets.queue.add(key.clone())
            }
            Kind::Node => self
                .daemonsets
                .observe_node(obj, old.as_deref(), &self.cache),
            Kind::ReplicaSet => {
                self.replicasets
                    .observe_rs(kind, obj, old.as_deref(), &self.cache);
                self.deployments.observe_rs(obj, &self.cache);
            }
            Kind::Deployment => self.deployments.observe_deployment(kind, key, obj),
            _ => {}
        }
        self.gc.observe(kind, key, obj, old.as_deref(), &self.cache);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Manifest;

    /// A manifest's object in namespace default with the given uid (shared
    /// with the controllers' own test modules).
    pub(super) fn object(yaml: &str, uid: u64) -> Arc<Object> {
        let mut o = serde_yaml::from_str::<Manifest>(yaml)
            .unwrap()
            .object
            .unwrap();
        o.meta_mut().uid = uid;
        o.meta_mut().namespace = "default".into();
        Arc::new(o)
    }

    type Script = Box<dyn FnOnce(&mut Client, &mut WorkQueue, &mut Cx)>;

    /// A controller manager's client and one work queue, alone: `script`
    /// runs at time 0; requests and requeues are recorded as they arrive.
    pub(super) struct ClientAlone {
        client: Client,
        queue: WorkQueue,
        script: Option<Script>,
        rec: crate::output::Recorder,
        lat: crate::sim::Latencies,
        /// (arrival, controller id, verb) of every request.
        requests: Vec<(Time, u8, &'static str)>,
        /// (arrival, key name) of every requeue.
        pub(super) requeues: Vec<(Time, String)>,
    }

    impl crate::engine::World for ClientAlone {
        type Dest = Dest;
        type Msg = Msg;
        fn handle(&mut self, ctx: &mut crate::engine::Ctx<Dest, Msg>, dest: Dest, msg: Msg) {
            match (dest, msg) {
                (Dest::ControllerManager, Msg::Start) => {
                    let mut cx = Cx::new(ctx, &mut self.rec, &mut self.lat, &[]);
                    let script = self.script.take().unwrap();
                    script(&mut self.client, &mut self.queue, &mut cx);
                }
                (Dest::ControllerManager, Msg::ControllerRequeue { key, .. }) => {
                    self.requeues.push((ctx.now(), key.name().to_string()));
                }
                (Dest::ApiServer, Msg::Request(req)) => {
                    self.requests
                        .push((ctx.now(), (req.tag >> 56) as u8, req.verb.name()));
                }
                _ => {}
            }
        }
    }

    pub(super) fn run_alone(
        qps: f64,
        max_retries: Option<u32>,
        until: Option<Time>,
        script: impl FnOnce(&mut Client, &mut WorkQueue, &mut Cx) + 'static,
    ) -> ClientAlone {
        use crate::engine::RngStreams;
        use crate::sim::{Latencies, LatencyConfig};
        let config = ControllerManagerConfig {
            qps,
            burst: 1,
            ..ControllerManagerConfig::default()
        };
        let mut world = ClientAlone {
            client: Client::new(&config),
            queue: WorkQueue {
                max_retries,
                ..WorkQueue::default()
            },
            script: Some(Box::new(script)),
            rec: crate::output::Recorder::discarding(),
            lat: Latencies::new(&LatencyConfig::default(), &RngStreams::new(1)),
            requests: Vec::new(),
            requeues: Vec::new(),
        };
        let mut engine = crate::engine::Engine::new();
        engine.schedule(0, Dest::ControllerManager, Msg::Start);
        engine.run(&mut world, until);
        world
    }

    /// When (in ms) each requeue of key `name` arrived.
    fn requeue_ms(w: &ClientAlone, name: &str) -> Vec<Time> {
        w.requeues
            .iter()
            .filter(|(_, n)| n == name)
            .map(|&(t, _)| t / crate::engine::MILLISECOND)
            .collect()
    }

    /// A sync of `name` that fails once (its key popped, then requeued).
    pub(super) fn fail(q: &mut WorkQueue, name: &str, cx: &mut Cx) {
        q.add(key(name));
        q.pop();
        q.add_rate_limited(DEPLOYMENT, key(name), cx);
    }

    pub(super) fn key(name: &str) -> ObjectKey {
        ObjectKey::new(Kind::Deployment, "default", name)
    }

    #[test]
    fn each_controller_has_a_token_bucket_of_its_own() {
        use crate::engine::SECOND;
        // QPS 1, burst 1: a controller's second request waits 1 s; the
        // others' first requests do not wait for it.
        let w = run_alone(1.0, None, None, |client, _, cx| {
            for id in [REPLICASET, REPLICASET, DEPLOYMENT, NODE_LIFECYCLE, POD_GC] {
                let verb = Verb::Delete {
                    key: key("x"),
                    precondition: None,
                };
                client.send(id, cx, verb);
            }
            assert_eq!(client.released(REPLICASET), SECOND);
            for id in [0, DEPLOYMENT, NODE_LIFECYCLE, POD_GC] {
                assert_eq!(client.released(id), 0, "controller {id}");
            }
        });
        let mut late: Vec<u8> = w
            .requests
            .iter()
            .filter(|&&(t, _, _)| t >= SECOND)
            .map(|&(_, id, _)| id)
            .collect();
        late.sort_unstable();
        assert_eq!(w.requests.len(), 5);
        assert_eq!(late, [REPLICASET]);
    }

    /// A key whose last sync's requests are unanswered is not synced
    /// again: asked for meanwhile, its last answer queues it again; a
    /// queue that does not hold keys hands it out at once.
    #[test]
    fn a_key_is_held_while_its_sync_awaits_answers() {
        for hold in [true, false] {
            let mut q = WorkQueue {
                hold_while_awaiting: hold,
                ..WorkQueue::default()
            };
            q.add(key("a"));
            assert_eq!(q.pop(), Some(key("a")));
            q.await_answer(&key("a"));
            q.await_answer(&key("a"));
            q.add(key("a"));
            q.add(key("b"));
            let first = q.pop();
            if !hold {
                assert_eq!(first, Some(key("a")));
                continue;
            }
            assert_eq!(first, Some(key("b")), "a is held");
            assert_eq!(q.pop(), None);
            q.answer_came(&key("a"));
            assert_eq!(q.pop(), None, "one answer still due");
            q.answer_came(&key("a"));
            assert_eq!(q.pop(), Some(key("a")));
        }
    }

    #[test]
    fn a_failed_sync_is_retried_after_a_doubling_backoff_until_forgotten() {
        let w = run_alone(20.0, Some(3), None, |_, q, cx| {
            // Three failed syncs in a row: 5, 10 and 20 ms; the fourth is
            // over max_retries and dropped (which forgets the key).
            for _ in 0..5 {
                fail(q, "a", cx);
            }
            // A sync that neither fails, sends nor waits forgets the key:
            // 5 ms again.
            fail(q, "b", cx);
            fail(q, "b", cx);
            q.add(key("b"));
            q.pop();
            q.sync_failed = false;
            q.finish_sync(&key("b"), false, false);
            fail(q, "b", cx);
            // A failed sync is not forgotten at its end, nor one that sent
            // requests or waits on earlier ones, until they succeed.
            fail(q, "c", cx);
            q.finish_sync(&key("c"), false, false);
            q.add(key("c"));
            q.pop();
            q.sync_failed = false;
            q.finish_sync(&key("c"), true, false);
            q.finish_sync(&key("c"), false, true);
            fail(q, "c", cx);
            q.add(key("c"));
            q.pop();
            q.forget(&key("c"));
            fail(q, "c", cx);
            // Two failed requests of one sync count once, and a success of
            // a third does not forget it.
            fail(q, "d", cx);
            q.add_rate_limited(DEPLOYMENT, key("d"), cx);
            q.forget(&key("d"));
            fail(q, "d", cx);
        });
        let ms = |name: &str| requeue_ms(&w, name);
        assert_eq!(ms("a"), [5, 5, 10, 20]);
        assert_eq!(ms("b"), [5, 5, 10]);
        assert_eq!(ms("c"), [5, 5, 10]);
        assert_eq!(ms("d"), [5, 10]);
    }

    #[test]
    fn a_status_answer_fails_a_sync_or_ends_it_unless_other_requests_decide() {
        use crate::sim::msg::{ApiError, Response};
        let answer = |name: &str, reason: Option<&'static str>| Response {
            tag: 0,
            verb: "update-status",
            key: key(name),
            result: match reason {
                None => Ok(object("kind: Pod\nmetadata: {name: x}", 1)),
                Some(reason) => Err(ApiError {
                    code: 409,
                    reason,
                    message: String::new(),
                }),
            },
        };
        let w = run_alone(20.0, None, None, move |_, q, cx| {
            // A refusal fails the sync, busy or not: 5 ms, then 10 ms.
            fail(q, "a", cx);
            q.add(key("a"));
            q.pop();
            q.status_answered(DAEMONSET, &answer("a", Some("Conflict")), true, cx);
            // A success while other requests are in flight forgets
            // nothing (10 ms next); one without them does (5 ms next).
            fail(q, "b", cx);
            q.add(key("b"));
            q.pop();
            q.status_answered(DAEMONSET, &answer("b", None), true, cx);
            fail(q, "b", cx);
            q.add(key("b"));
            q.pop();
            q.status_answered(DAEMONSET, &answer("b", None), false, cx);
            fail(q, "b", cx);
            // The object gone (NotFound) is no failure.
            fail(q, "c", cx);
            q.add(key("c"));
            q.pop();
            q.status_answered(DAEMONSET, &answer("c", Some("NotFound")), false, cx);
            fail(q, "c", cx);
        });
        let ms = |name: &str| requeue_ms(&w, name);
        assert_eq!(ms("a"), [5, 10]);
        // (In arrival order: 5, 5 and 10 ms; a busy success that forgot
        // would give 5, 5, 5.)
        assert_eq!(ms("b"), [5, 5, 10]);
        assert_eq!(ms("c"), [5, 5]);
    }

    #[test]
    fn the_gc_removes_the_orphan_finalizer_only_once_every_dependent_is_orphaned() {
        use crate::engine::MILLISECOND;
        use crate::sim::msg::{ApiError, Response};
        let w = run_alone(20.0, None, None, |client, _, cx| {
            let mut cache = Cache::default();
            let mut gc = gc::GarbageCollector::default();
            let mut owner = (*object(
                "kind: ReplicaSet\nmetadata: {name: rs, finalizers: [orphan]}",
                7,
            ))
            .clone();
            owner.meta_mut().deletion_timestamp = Some(1);
            let owner = Arc::new(owner);
            let alive = object("kind: ReplicaSet\nmetadata: {name: rs}", 7);
            let dep = object(
                "kind: Pod\nmetadata: {name: p, ownerReferences: [{kind: ReplicaSet, name: rs, uid: '7', controller: true}]}",
                8,
            );
            let other = object(
                "kind: Pod\nmetadata: {name: q, ownerReferences: [{kind: ReplicaSet, name: rs, uid: '7', controller: true}]}",
                9,
            );
            for o in [&owner, &dep, &other] {
                cache.apply(EventType::Added, &o.key(), o);
            }
            gc.observe(
                EventType::Modified,
                &owner.key(),
                &owner,
                Some(&alive),
                &cache,
            );
            let answer = |tag: u64, reason: Option<&'static str>| Response {
                tag,
                verb: "update",
                key: dep.key(),
                result: match reason {
                    None => Ok(dep.clone()),
                    Some(reason) => Err(ApiError {
                        code: 409,
                        reason,
                        message: String::new(),
                    }),
                },
            };
            let tag = |n: u64| (u64::from(GARBAGE_COLLECTOR) << 56) | n;
            // One of the two updates is refused: no finalizer removal, and
            // the owner is orphaned again after its backoff (5 ms).
            gc.sync(&owner.key(), &cache, client, cx);
            let last = client.next_tag;
            gc.on_response(&answer(tag(last - 1), Some("Conflict")), client, cx);
            gc.on_response(&answer(tag(last), None), client, cx);
            assert_eq!(client.next_tag, last, "no delete after a refusal");
            // Retried: the owner waits on both answers, then goes.
            gc.sync(&owner.key(), &cache, client, cx);
            let last = client.next_tag;
            gc.on_response(&answer(tag(last - 1), None), client, cx);
            assert!(gc.waiting(&owner.key()));
            assert_eq!(client.next_tag, last, "no delete before the last answer");
            gc.on_response(&answer(tag(last), None), client, cx);
            assert_eq!(client.next_tag, last + 1, "the owner's delete");
        });
        let verbs: Vec<(u8, &str)> = w.requests.iter().map(|&(_, id, v)| (id, v)).collect();
        let g = GARBAGE_COLLECTOR;
        let update = (g, "update");
        assert_eq!(verbs, [update, update, update, update, (g, "delete")]);
        let requeues: Vec<(Time, &str)> = w
            .requeues
            .iter()
            .map(|(t, n)| (t / MILLISECOND, n.as_str()))
            .collect();
        assert_eq!(requeues, [(5, "rs")]);
    }

    #[test]
    fn retries_after_the_tenth_keep_only_a_run_with_a_time_limit_going() {
        use crate::engine::SECOND;
        let script = |_: &mut Client, q: &mut WorkQueue, cx: &mut Cx| {
            for _ in 0..12 {
                fail(q, "e", cx);
            }
        };
        // Retries 1 to 10 (at 5 ms to 2.56 s) keep the run going; the last
        // two (5.12 and 10.24 s) only when it has a limit.
        let free = run_alone(20.0, None, None, script);
        assert_eq!(free.requeues.len(), 10);
        let bounded = run_alone(20.0, None, Some(60 * SECOND), script);
        assert_eq!(bounded.requeues.len(), 12);
        assert_eq!(bounded.requeues[11].0, 10_240 * crate::engine::MILLISECOND);
    }

    #[test]
    fn retries_beyond_the_queues_burst_wait_on_its_bucket() {
        use crate::engine::MILLISECOND;
        // 10 qps, burst 100, over all keys: the 101st retry at once waits
        // 100 ms, the 102nd 200 ms.
        let w = run_alone(20.0, None, None, |_, q, cx| {
            for i in 0..102 {
                q.add_rate_limited(REPLICASET, key(&format!("k{i:03}")), cx);
            }
        });
        let at = |name: &str| w.requeues.iter().find(|(_, n)| n == name).unwrap().0;
        assert_eq!(at("k000"), 5 * MILLISECOND);
        assert_eq!(at("k099"), 5 * MILLISECOND);
        assert_eq!(at("k100"), 100 * MILLISECOND);
        assert_eq!(at("k101"), 200 * MILLISECOND);
    }

    #[test]
    fn the_cache_indexes_controllers_owners_and_orphans() {
        let mut c = Cache::default();
        let rs = object("kind: ReplicaSet\nmetadata: {name: rs}", 7);
        let owned = object(
            "kind: Pod\nmetadata: {name: a, ownerReferences: [{kind: ReplicaSet, name: rs, uid: '7', controller: true}]}",
            8,
        );
        let orphan = object("kind: Pod\nmetadata: {name: b}", 9);
        for o in [&rs, &owned, &orphan] {
            c.apply(EventType::Added, &o.key(), o);
        }
        let names = |it: Vec<&Arc<Object>>| -> Vec<String> {
            it.iter().map(|o| o.meta().name.to_string()).collect()
        };
        assert_eq!(names(c.controlled(7, Kind::Pod).collect()), ["a"]);
        let unordered: Vec<&str> = c
            .controlled_pods_unordered(7)
            .map(|p| p.metadata.name.as_str())
            .collect();
        assert_eq!(unordered, ["a"]);
        assert_eq!(names(c.orphans(Kind::Pod, "default").collect()), ["b"]);
        assert_eq!(c.controller_of(&owned), Some(&rs.key()));
        assert_eq!(c.owned_by(7), [owned.key()]);
        // Losing the reference (orphaned) moves it between the indexes.
        let released = object("kind: Pod\nmetadata: {name: a}", 8);
        c.apply(EventType::Modified, &released.key(), &released);
        assert_eq!(c.controlled(7, Kind::Pod).count(), 0);
        assert_eq!(c.controlled_pods_unordered(7).count(), 0);
        assert_eq!(c.orphans(Kind::Pod, "default").count(), 2);
        assert!(!c.by_owner.contains_key(&7));
        c.apply(EventType::Deleted, &rs.key(), &rs);
        assert_eq!(c.controller_of(&owned), None);
    }

    #[test]
    fn the_cache_keeps_the_counts_of_a_controllers_active_and_ready_pods() {
        use crate::api::pod::{PodConditionType, PodPhase};
        let mut c = Cache::default();
        let owned = |name: &str, uid: u64| {
            object(
                &format!(
                    "kind: Pod\nmetadata: {{name: {name}, ownerReferences: [{{kind: ReplicaSet, name: rs, uid: '7', controller: true}}]}}"
                ),
                uid,
            )
        };
        let with = |o: &Arc<Object>, f: &dyn Fn(&mut crate::api::Pod)| {
            let mut o = (**o).clone();
            if let Object::Pod(p) = &mut o {
                f(p);
            }
            Arc::new(o)
        };
        let ready_at = |t: Time| {
            move |p: &mut crate::api::Pod| {
                p.status.set_condition(PodConditionType::Ready, true, t, "")
            }
        };
        let since = |c: &Cache| {
            let mut v: Vec<Time> = c.controlled_ready_since(7).collect();
            v.sort_unstable();
            v
        };
        let (a, b) = (owned("a", 8), owned("b", 9));
        for o in [&a, &b] {
            c.apply(EventType::Added, &o.key(), o);
        }
        let counts = |c: &Cache| {
            let n = c.controlled_pod_counts(7);
            (n.active, n.ready, n.ready_bound)
        };
        assert_eq!(counts(&c), (2, 0, 0));
        // Status writes (the in-place path) become Ready at 5 and 3.
        let a5 = with(&a, &ready_at(5));
        c.apply(EventType::Modified, &a5.key(), &a5);
        let b3 = with(&b, &ready_at(3));
        c.apply(EventType::Modified, &b3.key(), &b3);
        assert_eq!(counts(&c), (2, 2, 5));
        assert_eq!(since(&c), [3, 5]);
        // Terminating, then gone: the bound stays late, the counts drop.
        let gone = with(&a5, &|p| p.metadata.deletion_timestamp = Some(9));
        c.apply(EventType::Modified, &gone.key(), &gone);
        assert_eq!(counts(&c), (1, 1, 5));
        assert_eq!(since(&c), [3]);
        c.apply(EventType::Deleted, &gone.key(), &gone);
        assert_eq!(counts(&c), (1, 1, 5));
        let failed = with(&b3, &|p| p.status.phase = PodPhase::Failed);
        c.apply(EventType::Modified, &failed.key(), &failed);
        assert_eq!(counts(&c), (0, 0, 5));
        assert_eq!(since(&c), Vec::<Time>::new());
        // A new pod reuses the freed slot; an unknown uid counts nothing.
        let d = with(&owned("d", 10), &ready_at(7));
        c.apply(EventType::Added, &d.key(), &d);
        assert_eq!(counts(&c), (1, 1, 7));
        assert_eq!(c.controlled_pod_counts(99), PodCounts::default());
    }

    #[test]
    fn a_controller_whose_pods_keep_failing_replaces_them_lingering() {
        use crate::api::pod::PodPhase;
        let mut c = Cache::default();
        let pod = |i: u64, phase: PodPhase| {
            let mut o = (*object(
                &format!("kind: Pod\nmetadata: {{name: p{i}, ownerReferences: [{{kind: ReplicaSet, name: rs, uid: '7', controller: true}}]}}"),
                100 + i,
            ))
            .clone();
            if let Object::Pod(p) = &mut o {
                p.status.phase = phase;
            }
            Arc::new(o)
        };
        let see = |c: &mut Cache, o: &Arc<Object>, old: Option<&Arc<Object>>| {
            c.count_pod_failure(7, o, old.map(|o| &**o));
        };
        // Nine failures: not yet (10 at least); a pod seen failing twice
        // counts once.
        for i in 0..9 {
            let (pending, failed) = (pod(i, PodPhase::Pending), pod(i, PodPhase::Failed));
            see(&mut c, &pending, None);
            see(&mut c, &failed, Some(&pending));
            see(&mut c, &failed, Some(&failed));
        }
        assert!(!c.replaces_failures_forever(7, 1));
        let failed = pod(9, PodPhase::Failed);
        see(&mut c, &failed, None);
        assert!(c.replaces_failures_forever(7, 1));
        // Not for a controller wanting more replicas than that, nor another.
        assert!(!c.replaces_failures_forever(7, 11));
        assert!(!c.replaces_failures_forever(8, 1));
        // One pod running forgets them.
        let (pending, running) = (pod(10, PodPhase::Pending), pod(10, PodPhase::Running));
        see(&mut c, &running, Some(&pending));
        assert!(!c.replaces_failures_forever(7, 1));
    }

    #[test]
    fn the_cache_knows_a_replicasets_deployment_by_uid_and_a_changes_controller() {
        let mut c = Cache::default();
        let rs = object(
            "kind: ReplicaSet\nmetadata: {name: rs, ownerReferences: [{kind: Deployment, name: d, uid: '5', controller: true}]}",
            7,
        );
        let (_, controller) = c.apply(EventType::Added, &rs.key(), &rs);
        assert_eq!(controller, Some(5));
        let entry = c.workload(Some(7)).unwrap();
        assert_eq!((&entry.key, entry.deployment), (&rs.key(), Some(5)));
        // A status write keeps the references: the same controller.
        let (old, controller) = c.apply(EventType::Modified, &rs.key(), &rs);
        assert!(old.is_some());
        assert_eq!(controller, Some(5));
        // Adopted by a DaemonSet (say): no Deployment any more.
        let other = object(
            "kind: ReplicaSet\nmetadata: {name: rs, ownerReferences: [{kind: DaemonSet, name: x, uid: '6', controller: true}]}",
            7,
        );
        let (_, controller) = c.apply(EventType::Modified, &other.key(), &other);
        assert_eq!(controller, Some(6));
        assert_eq!(c.workload(Some(7)).unwrap().deployment, None);
        let (_, controller) = c.apply(EventType::Deleted, &other.key(), &other);
        assert_eq!(controller, Some(6));
        assert!(c.workload(Some(7)).is_none());
        assert!(!c.has_uid(7));
    }
}
