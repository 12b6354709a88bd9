//! The DaemonSet controller (upstream `pkg/controller/daemon/`): one pod per
//! node that passes the daemon pod's node name, node selector and required
//! node affinity, and whose NoSchedule/NoExecute taints it tolerates. Each
//! pod is pinned with a required node affinity on `metadata.name`
//! (`matchFields`) and bound by the default scheduler; it tolerates the
//! not-ready, unreachable, pressure and unschedulable taints as upstream
//! adds them. At most 250 creations per sync, in slow-start batches, with
//! expectations. A rolling update replaces pods whose
//! `controller-revision-hash` is not the template's, deleting at most
//! `maxUnavailable` (default 1) unavailable pods at a time.
//!
//! With `maxSurge` > 0 the new pod starts beside the old one, which goes
//! once the new one is available, at most `maxSurge` nodes at a time.
//!
//! Simplified: the revision hash is the template hash (no
//! ControllerRevision objects).

use crate::fasthash::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::pod::{TaintEffect, Toleration, TolerationOperator};
use crate::api::selector::{
    NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
};
use crate::api::workloads::Workload;
use crate::api::{Kind, Node, Object, ObjectKey, Pod};
use crate::engine::Time;
use crate::etcd::EventType;
use crate::output::{RolloutRecord, Subject};
use crate::sim::msg::Response;
use crate::sim::{Cx, Dest, Msg, Verb};

use super::deployment::{pod_template_hash, scaled_value};
use super::podutil::{self, available_at, is_active, is_available};
use super::slowstart::SlowStart;
use super::{Cache, Client, DAEMONSET, WorkQueue, log};

/// Upstream `BurstReplicas` of the DaemonSet controller.
pub const BURST_REPLICAS: usize = 250;
pub const REVISION_LABEL: &str = "controller-revision-hash";
pub(super) const NAME: &str = "daemonset-controller";

fn as_workload(o: &Object) -> Option<&Workload> {
    match o {
        Object::Workload(_, w) => Some(w),
        _ => None,
    }
}

/// The node a daemon pod is for: its `spec.nodeName` or its `matchFields`
/// affinity on `metadata.name`.
pub fn target_node(p: &Pod) -> Option<&str> {
    if let Some(n) = p.spec.node_name() {
        return Some(n);
    }
    p.spec
        .required_node_affinity()?
        .node_selector_terms
        .iter()
        .flat_map(|t| &t.match_fields)
        .find(|r| r.key == "metadata.name" && r.operator == NodeSelectorOperator::In)
        .and_then(|r| r.values.first())
        .map(String::as_str)
}

/// The tolerations upstream adds to every daemon pod
/// (`util.AddOrUpdateDaemonPodTolerations`).
fn daemon_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect| Toleration {
        key: key.into(),
        operator: TolerationOperator::Exists,
        value: String::new(),
        effect: Some(effect),
        toleration_seconds: None,
    };
    vec![
        t("node.kubernetes.io/not-ready", TaintEffect::NoExecute),
        t("node.kubernetes.io/unreachable", TaintEffect::NoExecute),
        t("node.kubernetes.io/disk-pressure", TaintEffect::NoSchedule),
        t(
            "node.kubernetes.io/memory-pressure",
            TaintEffect::NoSchedule,
        ),
        t("node.kubernetes.io/pid-pressure", TaintEffect::NoSchedule),
        t("node.kubernetes.io/unschedulable", TaintEffect::NoSchedule),
    ]
}

/// A daemon pod's tolerations: the template's and upstream's additions.
fn tolerations(ds: &Workload) -> Vec<Toleration> {
    let mut v = ds.spec.template.spec.tolerations.to_vec();
    for t in daemon_tolerations() {
        if !v.iter().any(|x| x.key == t.key && x.effect == t.effect) {
            v.push(t);
        }
    }
    v
}

/// upstream `NodeShouldRunDaemonPod`: whether a new daemon pod may go to
/// `node`, and whether one already there may stay (an untolerated
/// NoSchedule taint keeps it, an untolerated NoExecute taint does not).
pub fn should_run(ds: &Workload, node: &Node) -> (bool, bool) {
    let spec = &ds.spec.template.spec;
    let name = node.metadata.name.as_str();
    if spec.node_name().is_some_and(|n| n != name) {
        return (false, false);
    }
    let labels = &node.metadata.labels;
    if !spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return (false, false);
    }
    if let Some(aff) = spec.required_node_affinity()
        && !aff.matches(name, labels)
    {
        return (false, false);
    }
    let tol = tolerations(ds);
    let untolerated = |effect: TaintEffect| {
        node.spec
            .taints
            .iter()
            .any(|t| t.effect == effect && !crate::api::pod::tolerated(&tol, t))
    };
    if untolerated(TaintEffect::NoExecute) {
        return (false, false);
    }
    (!untolerated(TaintEffect::NoSchedule), true)
}

#[derive(Default)]
pub struct DaemonSetController {
    pub queue: WorkQueue,
    creator: SlowStart,
    /// DaemonSet uid -> (revision number, template hash) of its rollout.
    revisions: HashMap<u64, (i64, String)>,
    /// Pod deletes (the DaemonSet and the pod's uid) and status writes in
    /// flight, by tag (creations are the slow-start runner's).
    pending: HashMap<u64, (ObjectKey, Option<u64>)>,
}

impl DaemonSetController {
    /// Whether a slow-start run of `key`'s creations is in flight.
    pub fn creating(&self, key: &ObjectKey) -> bool {
        self.creator.running(key)
    }

    /// Whether some of `key`'s requests (a slow-start run, pod deletes,
    /// its status write) are unanswered: their answers decide its sync.
    pub fn waiting(&self, key: &ObjectKey) -> bool {
        self.creating(key) || self.queue.awaiting(key)
    }

    pub fn observe_pod(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        old: Option<&Object>,
        owner: Option<&ObjectKey>,
    ) {
        let Some(owner) = owner else {
            return;
        };
        if owner.kind != Kind::DaemonSet {
            return;
        }
        let owner = owner.clone();
        match kind {
            EventType::Added if old.is_none() => {
                self.creator.observed(&owner, true, obj.meta().uid)
            }
            EventType::Deleted => self.creator.observed(&owner, false, obj.meta().uid),
            _ => {}
        }
        self.queue.add(owner);
    }

    /// A node appeared, went, or changed what daemon placement depends on
    /// (labels, taints): every DaemonSet is checked against it. Status-only
    /// changes (heartbeats) cost nothing.
    pub fn observe_node(&mut self, obj: &Arc<Object>, old: Option<&Object>, cache: &Cache) {
        let placement = |o: &Object| {
            o.as_node()
                .map(|n| (n.metadata.labels.clone(), n.spec.taints.clone()))
        };
        if let Some(old) = old
            && cache.get(&obj.key()).is_some()
            && placement(old) == placement(obj)
        {
            return;
        }
        let lo = ObjectKey::new(Kind::DaemonSet, "", "");
        for (k, _) in cache.range_from(&lo) {
            if k.kind != Kind::DaemonSet {
                break;
            }
            self.queue.add(k.clone());
        }
    }

    pub fn on_response(&mut self, resp: &Response, client: &mut Client, cx: &mut Cx) {
        if let Err(e) = &resp.result {
            let detail = format!(
                "{} failed: {} {}: {}",
                resp.verb, e.code, e.reason, e.message
            );
            log(cx, "error", Subject::from(&resp.key), NAME, &detail);
        }
        if let Some((key, pod)) = self.pending.remove(&resp.tag) {
            self.queue.answer_came(&key);
            if pod.is_some() {
                super::log_pod_done(cx, &key, NAME, resp);
            }
            match (pod, &resp.result) {
                // A delete that failed will not be observed: the
                // expectation is lowered (upstream's DeletionObserved), and
                // the sync fails unless the pod was already gone.
                (Some(uid), Err(e)) => {
                    self.creator.observed(&key, false, uid);
                    if e.reason != "NotFound" {
                        self.queue.add_rate_limited(DAEMONSET, key, cx);
                    }
                }
                // The last answer of the sync's requests.
                (Some(_), Ok(_)) if !self.waiting(&key) => self.queue.forget(&key),
                (Some(_), Ok(_)) => {}
                // The status write: a refusal fails the sync; a success
                // ends it unless a slow-start run is still in flight (its
                // answers decide).
                (None, _) => {
                    let busy = self.waiting(&key);
                    self.queue.status_answered(DAEMONSET, resp, busy, cx);
                }
            }
            return;
        }
        match self.creator.on_response(DAEMONSET, NAME, resp, client, cx) {
            Some(Some((key, true))) => self.queue.add_rate_limited(DAEMONSET, key, cx),
            Some(Some((key, false))) => {
                if !self.queue.awaiting(&key) {
                    self.queue.forget(&key);
                }
                self.queue.add(key);
            }
            _ => {}
        }
    }

    pub fn sync(&mut self, key: &ObjectKey, cache: &Cache, client: &mut Client, cx: &mut Cx) {
        let now = cx.now();
        let Some(obj) = cache.get(key).cloned() else {
            self.creator.forget(key);
            return;
        };
        let Some(ds) = as_workload(&obj) else { return };
        if ds.metadata.deletion_timestamp.is_some() {
            return;
        }
        let hash = pod_template_hash(&ds.spec.template, 0);
        let uid = ds.metadata.uid;
        match self.revisions.get(&uid) {
            Some((_, h)) if *h == hash => {}
            other => {
                let r = other.map_or(1, |(r, _)| r + 1);
                self.revisions.insert(uid, (r, hash.clone()));
                log(
                    cx,
                    "rollout-start",
                    Subject::from(key),
                    NAME,
                    &format!("revision {r} ({REVISION_LABEL}={hash})"),
                );
                cx.rec.rollouts.start(
                    uid,
                    RolloutRecord {
                        kind: "DaemonSet".into(),
                        namespace: key.namespace().to_string(),
                        name: key.name().to_string(),
                        revision: r,
                        started: now,
                        completed: None,
                        max_pods: 0,
                        min_available: 0,
                        strategy: ds
                            .spec
                            .update_strategy
                            .as_ref()
                            .and_then(|s| s.strategy_type.clone())
                            .unwrap_or_else(|| "RollingUpdate".into()),
                    },
                );
            }
        }
        // The daemon pods by node.
        let mut by_node: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
        let mut orphaned: Vec<&Pod> = Vec::new();
        for o in cache.controlled(uid, Kind::Pod) {
            let Some(p) = o.as_pod() else { continue };
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match target_node(p) {
                Some(n) => by_node.entry(n).or_default().push(p),
                None => orphaned.push(p),
            }
        }
        let nodes: Vec<&Node> = cache
            .of_kind(Kind::Node)
            .filter_map(|(_, o)| o.as_node())
            .collect();
        let min_ready = ds.min_ready_seconds();
        let rolling = ds.spec.update_strategy.as_ref();
        let on_delete = rolling.and_then(|s| s.strategy_type.as_deref()) == Some("OnDelete");
        let ru = rolling.and_then(|s| s.rolling_update.as_ref());
        let eligible = nodes.iter().filter(|n| should_run(ds, n).0).count() as i32;
        // maxSurge > 0: a new pod goes up beside the old one, which is
        // deleted once the new one is available (upstream's surge mode).
        let max_surge = if on_delete {
            0
        } else {
            ru.and_then(|r| r.max_surge.as_ref())
                .map_or(0, |v| scaled_value(v, eligible, true))
                .max(0) as usize
        };
        let mut desired = 0;
        let mut create: Vec<Pod> = Vec::new();
        let mut delete: Vec<&Pod> = Vec::new();
        let mut live: Vec<&Pod> = Vec::new();
        // Surge mode: nodes with an available old pod and no new one, and
        // how many nodes run both already.
        let mut surge_candidates: Vec<&str> = Vec::new();
        let mut surging = 0usize;
        for node in &nodes {
            let name = node.metadata.name.as_str();
            let pods = by_node.remove(name).unwrap_or_default();
            let (run, stay) = should_run(ds, node);
            if run {
                desired += 1;
            }
            // Failed daemon pods are deleted (and replaced next sync).
            let (failed, active): (Vec<&Pod>, Vec<&Pod>) =
                pods.into_iter().partition(|p| !is_active(p));
            delete.extend(failed);
            if run && max_surge > 0 {
                let (new, old): (Vec<&Pod>, Vec<&Pod>) = active
                    .into_iter()
                    .partition(|p| p.metadata.labels.get(REVISION_LABEL) == Some(&hash));
                match (new.as_slice(), old.as_slice()) {
                    ([], []) => create.push(self.daemon_pod(ds, name, &hash)),
                    ([], [keep, extra @ ..]) => {
                        delete.extend(extra);
                        live.push(keep);
                        if is_available(keep, min_ready, now) {
                            surge_candidates.push(name);
                        } else {
                            // An unavailable old pod costs nothing to replace.
                            create.push(self.daemon_pod(ds, name, &hash));
                        }
                    }
                    ([keep, extra @ ..], old) => {
                        delete.extend(extra);
                        live.push(keep);
                        if is_available(keep, min_ready, now) {
                            delete.extend(old);
                        } else if !old.is_empty() {
                            surging += 1;
                            live.extend(old.iter().take(1));
                            delete.extend(old.iter().skip(1));
                        }
                    }
                }
            } else if run {
                match active.as_slice() {
                    [] => create.push(self.daemon_pod(ds, name, &hash)),
                    [keep, extra @ ..] => {
                        delete.extend(extra);
                        live.push(keep);
                    }
                }
            } else if stay {
                live.extend(active);
            } else {
                delete.extend(active);
            }
        }
        // Pods for nodes that no longer exist.
        for pods in by_node.into_values() {
            delete.extend(pods);
        }
        if self.creator.ready(key, now) {
            for name in surge_candidates
                .into_iter()
                .take(max_surge.saturating_sub(surging))
            {
                create.push(self.daemon_pod(ds, name, &hash));
            }
            // Rolling update: replace old-revision pods, at most
            // maxUnavailable unavailable at a time.
            if !on_delete && max_surge == 0 && delete.is_empty() {
                let max_unavailable = ru
                    .and_then(|r| r.max_unavailable.as_ref())
                    .map_or(1, |v| scaled_value(v, desired, true))
                    .max(1) as usize;
                let unavailable = live
                    .iter()
                    .filter(|p| !is_available(p, min_ready, now))
                    .count()
                    + create.len();
                let mut budget = max_unavailable.saturating_sub(unavailable);
                let mut old: Vec<&Pod> = live
                    .iter()
                    .copied()
                    .filter(|p| p.metadata.labels.get(REVISION_LABEL) != Some(&hash))
                    .collect();
                // Unavailable old pods go first: they cost no availability.
                old.sort_by_key(|p| (is_available(p, min_ready, now), p.metadata.name.clone()));
                for p in old {
                    if !is_available(p, min_ready, now) {
                        delete.push(p);
                    } else if budget > 0 {
                        budget -= 1;
                        delete.push(p);
                    }
                }
            }
            if !delete.is_empty() {
                self.creator
                    .expect_deletions(key, delete.iter().map(|p| p.metadata.uid), now);
                for p in &delete {
                    let pk = ObjectKey::new(Kind::Pod, &p.metadata.namespace, &p.metadata.name);
                    let tag = client.send(
                        DAEMONSET,
                        cx,
                        Verb::Delete {
                            key: pk,
                            precondition: None,
                        },
                    );
                    self.pending
                        .insert(tag, (key.clone(), Some(p.metadata.uid)));
                    self.queue.await_answer(key);
                }
            }
            create.truncate(BURST_REPLICAS);
            self.creator.start(DAEMONSET, NAME, key, create, client, cx);
        }
        // Status.
        let mut st = ds.status.clone();
        st.observed_generation = ds.metadata.generation;
        st.desired_number_scheduled = desired;
        st.replicas = live.len() as i32;
        st.ready_replicas = live.iter().filter(|p| p.status.is_ready()).count() as i32;
        st.available_replicas = live
            .iter()
            .filter(|p| is_available(p, min_ready, now))
            .count() as i32;
        st.updated_replicas = live
            .iter()
            .filter(|p| p.metadata.labels.get(REVISION_LABEL) == Some(&hash))
            .count() as i32;
        st.update_revision = hash.clone();
        let updated_available = live
            .iter()
            .filter(|p| {
                p.metadata.labels.get(REVISION_LABEL) == Some(&hash)
                    && is_available(p, min_ready, now)
            })
            .count() as i32;
        if updated_available == desired && st.replicas == desired && cx.rec.rollouts.is_open(uid) {
            cx.rec.rollouts.complete(uid, now);
            log(cx, "rollout-complete", Subject::from(key), NAME, "");
        }
        if min_ready > 0
            && let Some(t) = live
                .iter()
                .filter_map(|p| available_at(p, min_ready))
                .filter(|t| *t > now)
                .min()
        {
            requeue(cx, key, t);
        }
        if st != ds.status {
            let tag = client.send(
                DAEMONSET,
                cx,
                Verb::UpdateWorkloadStatus {
                    key: key.clone(),
                    status: st,
                },
            );
            self.pending.insert(tag, (key.clone(), None));
            self.queue.await_answer(key);
        }
    }

    fn daemon_pod(&self, ds: &Workload, node: &str, hash: &str) -> Pod {
        let mut pod =
            podutil::pod_from_template(&ds.spec.template, Kind::DaemonSet, &ds.metadata, "");
        std::sync::Arc::make_mut(&mut pod.metadata.labels)
            .insert(REVISION_LABEL.into(), hash.into());
        let spec = std::sync::Arc::make_mut(&mut pod.spec);
        spec.tolerations = tolerations(ds).into();
        let term = NodeSelectorTerm {
            match_expressions: Vec::new(),
            match_fields: vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: NodeSelectorOperator::In,
                values: vec![node.to_string()],
            }],
        };
        let mut affinity = spec.affinity.take().unwrap_or_default();
        let mut na = affinity.node_affinity.take().unwrap_or_default();
        na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: vec![term],
        });
        affinity.node_affinity = Some(na);
        spec.affinity = Some(affinity);
        pod
    }
}

fn requeue(cx: &mut Cx, key: &ObjectKey, at: Time) {
    cx.send_at(
        Dest::ControllerManager,
        at,
        Msg::ControllerRequeue {
            controller: DAEMONSET,
            key: key.clone(),
        },
    );
}
