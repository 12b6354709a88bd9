//! The ReplicaSet controller (upstream `pkg/controller/replicaset/`): keeps
//! `spec.replicas` active pods for each ReplicaSet. At most 500 creations or
//! deletions per sync (`BurstReplicas`); creations go in slow-start batches
//! of 1, 2, 4, ... and an error stops the rest; expectations hold a
//! ReplicaSet's next action until the informer has seen the pods it
//! created and deleted (or 5 minutes pass); scale-down deletes pods in
//! `ActivePodsWithRanks` order; created pods carry a controller
//! ownerReference, and matching orphans are adopted.
//!
//! Simplified: one worker (upstream runs 5); a slow-start batch runs
//! asynchronously while the worker goes on with other keys; pods that stop
//! matching the selector are not released.

use crate::fasthash::{HashMap, HashSet};
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::api::workloads::{Workload, WorkloadStatus};
use crate::api::{Kind, Object, ObjectKey, Pod};
use crate::engine::{SECOND, Time};
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::msg::Response;
use crate::sim::{Cx, Dest, Msg, Verb};

use super::podutil::{self, available_at, is_active};
use super::{Cache, Client, REPLICASET, WorkQueue, log};

/// Upstream `BurstReplicas`.
pub const BURST_REPLICAS: i32 = 500;
/// Upstream `ExpectationsTimeout`.
pub const EXPECTATIONS_TIMEOUT: Time = 300 * SECOND;

pub(super) const NAME: &str = "replicaset-controller";

#[derive(Default)]
struct Expectations {
    add: i32,
    /// uids of pods whose deletion is expected.
    del: BTreeSet<u64>,
    set_at: Time,
}

struct Batch {
    rs: Arc<Object>,
    /// What the batch's pods share, built with the first of them.
    parts: Option<podutil::SharedParts>,
    remaining: i32,
    size: i32,
    outstanding: i32,
    failed: bool,
    created: i32,
    total: i32,
    /// The creates replace pods that fail forever, as far as can be told
    /// (see `Cache::replaces_failures_forever`): sent lingering.
    lingering: bool,
}

enum Pending {
    Create(ObjectKey),
    Delete(ObjectKey, u64),
    Other,
}

#[derive(Default)]
pub struct ReplicaSetController {
    pub queue: WorkQueue,
    expectations: HashMap<ObjectKey, Expectations>,
    batches: HashMap<ObjectKey, Batch>,
    pending: HashMap<u64, Pending>,
    /// ReplicaSets that may have orphans to adopt (new, or a matching
    /// orphan appeared): only these scan the namespace's orphans.
    adopt: HashSet<ObjectKey>,
}

/// What a ReplicaSet's status counts of its active pods, taken in one
/// look at each pod's Ready condition.
#[derive(Default)]
struct Tally {
    replicas: i32,
    ready: i32,
    /// Ready for at least minReadySeconds.
    available: i32,
    /// The earliest time a Ready pod that is not available yet becomes so.
    next_available: Option<Time>,
}

impl Tally {
    fn add(&mut self, p: &Pod, min_ready: i32, now: Time) {
        self.replicas += 1;
        let Some(at) = available_at(p, min_ready) else {
            return;
        };
        self.ready += 1;
        self.add_available_at(at, now);
    }

    /// Counts towards availability a Ready pod (already counted as ready)
    /// that is available from `at`.
    fn add_available_at(&mut self, at: Time, now: Time) {
        if at <= now {
            self.available += 1;
        } else if self.next_available.is_none_or(|t| at < t) {
            self.next_available = Some(at);
        }
    }
}

fn as_workload(o: &Object) -> Option<&Workload> {
    match o {
        Object::Workload(_, w) => Some(w),
        _ => None,
    }
}

impl ReplicaSetController {
    /// Whether a slow-start run of `key`'s creations is in flight.
    pub fn creating(&self, key: &ObjectKey) -> bool {
        self.batches.contains_key(key)
    }

    /// Whether some of `key`'s requests (a slow-start run, pod deletes,
    /// its status write) are unanswered: their answers decide its sync.
    pub fn waiting(&self, key: &ObjectKey) -> bool {
        self.creating(key) || self.queue.awaiting(key)
    }

    /// A pod change: counts towards its owner's expectations and queues it;
    /// an orphan queues the ReplicaSets that may adopt it.
    pub fn observe_pod(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        old: Option<&Object>,
        owner: Option<&ObjectKey>,
        cache: &Cache,
    ) {
        let Some(pod) = obj.as_pod() else { return };
        match owner {
            Some(owner) if owner.kind == Kind::ReplicaSet => {
                let owner = owner.clone();
                if let Some(e) = self.expectations.get_mut(&owner) {
                    match kind {
                        EventType::Added if old.is_none() => e.add = (e.add - 1).max(0),
                        // As upstream's updatePod, a pod given its
                        // deletionTimestamp counts as deleted already: the
                        // ReplicaSet does not wait out its grace period.
                        EventType::Deleted => {
                            e.del.remove(&pod.metadata.uid);
                        }
                        EventType::Modified if pod.metadata.deletion_timestamp.is_some() => {
                            e.del.remove(&pod.metadata.uid);
                        }
                        _ => {}
                    }
                }
                self.queue.add(owner);
            }
            Some(_) => {}
            None => {
                if kind == EventType::Deleted
                    || pod.metadata.controller_ref().is_some()
                    || cache.count_of_kind(Kind::ReplicaSet) == 0
                {
                    // No ReplicaSet to adopt it (bare pods in a cluster
                    // without any: no key to build, no search).
                    return;
                }
                let ns = &pod.metadata.namespace;
                let lo = ObjectKey::new(Kind::ReplicaSet, ns, "");
                for (k, rs) in cache.range_from(&lo) {
                    if k.kind != Kind::ReplicaSet || k.namespace() != ns {
                        break;
                    }
                    if as_workload(rs)
                        .and_then(|w| w.spec.selector.as_ref())
                        .is_some_and(|s| s.matches(&pod.metadata.labels))
                    {
                        self.adopt.insert(k.clone());
                        self.queue.add(k.clone());
                    }
                }
            }
        }
    }

    /// A ReplicaSet appeared or changed (queued under the cache's copy of
    /// its key, as its pods' events are).
    pub fn observe_rs(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        old: Option<&Object>,
        cache: &Cache,
    ) {
        let key = match cache.workload(Some(obj.meta().uid)) {
            Some(w) => w.key.clone(),
            None => obj.key(),
        };
        if kind == EventType::Deleted {
            self.adopt.remove(&key);
            return;
        }
        fn selector(o: &Object) -> Option<&crate::api::selector::LabelSelector> {
            as_workload(o).and_then(|w| w.spec.selector.as_ref())
        }
        if old.is_none_or(|o| selector(o) != selector(obj)) {
            self.adopt.insert(key.clone());
        }
        self.queue.add(key);
    }

    fn satisfied(&self, key: &ObjectKey, now: Time) -> bool {
        match self.expectations.get(key) {
            None => true,
            Some(e) => (e.add <= 0 && e.del.is_empty()) || now >= e.set_at + EXPECTATIONS_TIMEOUT,
        }
    }

    pub fn sync(&mut self, key: &ObjectKey, cache: &Cache, client: &mut Client, cx: &mut Cx) {
        let now = cx.now();
        let Some(obj) = cache.get(key).cloned() else {
            self.expectations.remove(key);
            return;
        };
        let Some(rs) = as_workload(&obj) else { return };
        // The cache's copy of the key (the one pod events name the owner
        // by), so that the expectations and batches kept under it are found
        // by pointer, without comparing names.
        let key = cache
            .workload(Some(rs.metadata.uid))
            .map_or(key, |w| &w.key);
        let Some(selector) = rs.spec.selector.as_ref() else {
            return;
        };
        // The cache keeps the counts of the active pods and when each Ready
        // one became Ready; nothing depends on their order (counts, and a
        // deletion order that is total), so they are taken in slot order,
        // and the pods listed only to pick pods to delete.
        let uid = rs.metadata.uid;
        let active = || {
            cache
                .controlled_pods_unordered(uid)
                .filter(|p| is_active(p))
        };
        let min_ready = rs.min_ready_seconds();
        let counts = cache.controlled_pod_counts(uid);
        let mut tally = Tally {
            replicas: counts.active,
            ready: counts.ready,
            ..Tally::default()
        };
        if counts.ready > 0 {
            let delay = Time::from(min_ready.max(0) as u32) * SECOND;
            if counts.ready_bound + delay <= now {
                // Every Ready pod has been so for minReadySeconds.
                tally.available = counts.ready;
            } else {
                for since in cache.controlled_ready_since(uid) {
                    tally.add_available_at(since + delay, now);
                }
            }
        }
        let mut claimed: Vec<&Pod> = Vec::new();
        // Adopt matching orphans (upstream claimPods), counting them now.
        if rs.metadata.deletion_timestamp.is_none() && self.adopt.remove(key) {
            for o in cache.orphans(Kind::Pod, key.namespace()) {
                let Some(p) = o.as_pod() else { continue };
                if !is_active(p) || !selector.matches(&p.metadata.labels) {
                    continue;
                }
                let mut adopted = p.clone();
                std::sync::Arc::make_mut(&mut adopted.metadata.owner_references)
                    .push(podutil::controller_ref(Kind::ReplicaSet, &rs.metadata));
                log(cx, "adopt", Subject::from(&**o), NAME, &format!("by {key}"));
                let rv = p.metadata.resource_version;
                let tag = client.send(
                    REPLICASET,
                    cx,
                    Verb::Update {
                        key: o.key(),
                        object: Object::Pod(adopted),
                        precondition: Some(rv),
                    },
                );
                self.pending.insert(tag, Pending::Other);
                tally.add(p, min_ready, now);
                claimed.push(p);
            }
        }
        let needs_sync = self.satisfied(key, now) && !self.batches.contains_key(key);
        if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            let pods = || active().chain(claimed.iter().copied());
            let lingering = cache.replaces_failures_forever(uid, rs.replicas());
            self.manage(key, &obj, rs, tally.replicas, pods, lingering, client, cx);
        }
        self.update_status(key, rs, &tally, client, cx);
    }

    /// Creates or deletes pods towards `spec.replicas`, given the number of
    /// active pods and (for a scale-down) a way to list them.
    #[allow(clippy::too_many_arguments)]
    fn manage<'a, I: Iterator<Item = &'a Pod>>(
        &mut self,
        key: &ObjectKey,
        obj: &Arc<Object>,
        rs: &Workload,
        have: i32,
        pods: impl Fn() -> I,
        lingering: bool,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let diff = have - rs.replicas();
        if diff < 0 {
            let n = (-diff).min(BURST_REPLICAS);
            self.expectations.insert(
                key.clone(),
                Expectations {
                    add: n,
                    del: BTreeSet::new(),
                    set_at: cx.now(),
                },
            );
            log(
                cx,
                "scale-up",
                Subject::from(key),
                NAME,
                &format!(
                    "too few replicas: have {have}, need {}, creating {n}",
                    rs.replicas()
                ),
            );
            self.batches.insert(
                key.clone(),
                Batch {
                    rs: obj.clone(),
                    parts: None,
                    remaining: n,
                    size: 1,
                    outstanding: 0,
                    failed: false,
                    created: 0,
                    total: n,
                    lingering,
                },
            );
            self.next_batch(key, client, cx);
        } else if diff > 0 {
            let n = diff.min(BURST_REPLICAS) as usize;
            let mut order: Vec<&Pod> = pods().collect();
            podutil::sort_first_for_deletion(&mut order, n);
            let victims: Vec<&Pod> = order.into_iter().take(n).collect();
            log(
                cx,
                "scale-down",
                Subject::from(key),
                NAME,
                &format!(
                    "too many replicas: have {have}, need {}, deleting {n}",
                    rs.replicas()
                ),
            );
            self.expectations.insert(
                key.clone(),
                Expectations {
                    add: 0,
                    del: victims.iter().map(|p| p.metadata.uid).collect(),
                    set_at: cx.now(),
                },
            );
            for p in victims {
                let pk = ObjectKey::new(Kind::Pod, &p.metadata.namespace, &p.metadata.name);
                let uid = p.metadata.uid;
                let tag = client.send(
                    REPLICASET,
                    cx,
                    Verb::Delete {
                        key: pk,
                        precondition: None,
                    },
                );
                self.pending.insert(tag, Pending::Delete(key.clone(), uid));
                self.queue.await_answer(key);
            }
        }
    }

    /// Sends the next slow-start batch of `key`'s creations.
    fn next_batch(&mut self, key: &ObjectKey, client: &mut Client, cx: &mut Cx) {
        let Some(b) = self.batches.get_mut(key) else {
            return;
        };
        let n = b.size.min(b.remaining);
        let Some(rs) = as_workload(&b.rs) else { return };
        let template = &rs.spec.template;
        let parts = b.parts.get_or_insert_with(|| {
            podutil::SharedParts::new(template, Kind::ReplicaSet, &rs.metadata)
        });
        for _ in 0..n {
            let pod = podutil::pod_with_parts(template, parts, &rs.metadata, "");
            let tag = client.send_as(REPLICASET, cx, Verb::Create(Object::Pod(pod)), b.lingering);
            self.pending.insert(tag, Pending::Create(key.clone()));
        }
        log(
            cx,
            "slow-start",
            Subject::from(key),
            NAME,
            &format!(
                "batch of {n} {} ({} of {} sent)",
                if n == 1 { "pod" } else { "pods" },
                b.total - b.remaining + n,
                b.total
            ),
        );
        b.remaining -= n;
        b.outstanding = n;
    }

    pub fn on_response(&mut self, resp: &Response, client: &mut Client, cx: &mut Cx) {
        let Some(p) = self.pending.remove(&resp.tag) else {
            return;
        };
        if let Err(e) = &resp.result {
            let detail = format!(
                "{} failed: {} {}: {}",
                resp.verb, e.code, e.reason, e.message
            );
            log(cx, "error", Subject::from(&resp.key), NAME, &detail);
        }
        match p {
            Pending::Create(key) => {
                super::log_pod_done(cx, &key, NAME, resp);
                let Some(b) = self.batches.get_mut(&key) else {
                    return;
                };
                b.outstanding -= 1;
                if resp.result.is_err() {
                    b.failed = true;
                    if let Some(e) = self.expectations.get_mut(&key) {
                        e.add = (e.add - 1).max(0);
                    }
                } else {
                    b.created += 1;
                }
                if b.outstanding > 0 {
                    return;
                }
                if b.failed || b.remaining == 0 {
                    let (skipped, failed) = (b.remaining, b.failed);
                    self.batches.remove(&key);
                    if let Some(e) = self.expectations.get_mut(&key) {
                        e.add = (e.add - skipped).max(0);
                    }
                    // A failed creation fails the sync: retried after the
                    // queue's backoff.
                    if failed {
                        self.queue.add_rate_limited(REPLICASET, key, cx);
                    } else {
                        if !self.queue.awaiting(&key) {
                            self.queue.forget(&key);
                        }
                        self.queue.add(key);
                    }
                } else {
                    b.size = (b.size * 2).min(b.remaining);
                    self.next_batch(&key, client, cx);
                }
            }
            Pending::Delete(key, uid) => {
                super::log_pod_done(cx, &key, NAME, resp);
                self.queue.answer_came(&key);
                if resp.result.is_ok() && !self.waiting(&key) {
                    // The last answer of the sync's requests.
                    self.queue.forget(&key);
                }
                if let Err(e) = &resp.result {
                    // The watch will not show this deletion: the
                    // expectation is lowered (upstream's DeletionObserved);
                    // a pod already gone (NotFound) does not fail the sync.
                    if let Some(x) = self.expectations.get_mut(&key) {
                        x.del.remove(&uid);
                    }
                    if e.reason != "NotFound" {
                        self.queue.add_rate_limited(REPLICASET, key, cx);
                    }
                }
            }
            // The ReplicaSet's status write: a refusal fails the sync; a
            // success ends it unless a slow-start run is still in flight
            // (its answers decide).
            Pending::Other if resp.key.kind == Kind::ReplicaSet => {
                self.queue.answer_came(&resp.key);
                let busy = self.waiting(&resp.key);
                self.queue.status_answered(REPLICASET, resp, busy, cx)
            }
            Pending::Other => {}
        }
    }

    fn update_status(
        &mut self,
        key: &ObjectKey,
        rs: &Workload,
        tally: &Tally,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let mut st = rs.status.clone();
        st.replicas = tally.replicas;
        st.ready_replicas = tally.ready;
        st.available_replicas = tally.available;
        st.observed_generation = rs.metadata.generation;
        if rs.min_ready_seconds() > 0 {
            // Upstream requeues after minReadySeconds to see pods become
            // available.
            if let Some(t) = tally.next_available {
                cx.send_at(
                    Dest::ControllerManager,
                    t,
                    Msg::ControllerRequeue {
                        controller: REPLICASET,
                        key: key.clone(),
                    },
                );
            }
        }
        if st != rs.status {
            self.send_status(key, st, client, cx);
        }
    }

    fn send_status(
        &mut self,
        key: &ObjectKey,
        st: WorkloadStatus,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let tag = client.send(
            REPLICASET,
            cx,
            Verb::UpdateWorkloadStatus {
                key: key.clone(),
                status: st,
            },
        );
        self.pending.insert(tag, Pending::Other);
        self.queue.await_answer(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pod::PodConditionType;

    fn pod(ready_at: Option<Time>) -> Pod {
        let mut p = Pod::default();
        if let Some(t) = ready_at {
            p.status.set_condition(PodConditionType::Ready, true, t, "");
        }
        p
    }

    #[test]
    fn a_tally_counts_ready_and_available_pods_and_the_next_to_become_available() {
        let pods = [
            pod(None),
            pod(Some(SECOND)),
            pod(Some(8 * SECOND)),
            pod(Some(6 * SECOND)),
        ];
        // minReadySeconds 3 at 10 s: the pod Ready since 1 s is available,
        // those Ready since 6 s and 8 s become so at 9 s (past) and 11 s.
        let mut t = Tally::default();
        for p in &pods {
            t.add(p, 3, 10 * SECOND);
        }
        assert_eq!((t.replicas, t.ready, t.available), (4, 3, 2));
        assert_eq!(t.next_available, Some(11 * SECOND));
        // Without minReadySeconds every Ready pod is available.
        let mut t = Tally::default();
        for p in &pods {
            t.add(p, 0, 10 * SECOND);
        }
        assert_eq!((t.replicas, t.ready, t.available), (4, 3, 3));
        assert_eq!(t.next_available, None);
    }
}
