//! The node lifecycle controller of kube-controller-manager, with its taint
//! manager and the part of the pod GC that concerns nodes:
//! - every 5 s (`nodeMonitorPeriod`) it checks when each node's Lease was
//!   last seen renewed; after 50 s of silence (`nodeMonitorGracePeriod`)
//!   it sets the node's Ready condition to Unknown and taints it
//!   `node.kubernetes.io/unreachable` with NoSchedule and NoExecute; when
//!   renewals resume it sets Ready back to True and removes the taints;
//! - the taint manager evicts (deletes, gracefully) the pods of a node with
//!   a NoExecute taint: at once if they do not tolerate it, after their
//!   `tolerationSeconds` (300 s by the DefaultTolerationSeconds admission
//!   plugin) if they do, never if they tolerate it without a limit;
//! - the pods of a Node that is deleted are force deleted (pod GC's
//!   orphaned pods);
//! - every 20 s (`gcCheckPeriod`) the pod GC force deletes the oldest
//!   terminated (Succeeded or Failed) pods beyond
//!   `--terminated-pod-gc-threshold` (12 500), evicted ones first.
//!
//! Each of the three sends through a client of its own (node patches,
//! evictions, force deletes), rate limited as every controller's; their
//! loops are not held back while the limiter delays a request.
//!
//! Simplified: the eviction rate limits (0.1 nodes/s per zone) and the
//! zone states are not modelled.

use crate::fasthash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::api::pod::{PodPhase, PodSpec, Taint, TaintEffect, Toleration};
use crate::api::{Object, ObjectKey};
use crate::apiserver::admission::TAINT_UNREACHABLE;
use crate::engine::{SECOND, Time};
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::msg::NodePatch;
use crate::sim::{Cx, Dest, Msg, Verb};

use super::{Client, NODE_LIFECYCLE, POD_GC, TAINT_EVICTION};

/// `--node-monitor-period`.
pub const NODE_MONITOR_PERIOD: Time = 5 * SECOND;
/// `--node-monitor-grace-period` (50 s since v1.32).
pub const NODE_MONITOR_GRACE: Time = 50 * SECOND;
/// The pod GC's `gcCheckPeriod` (a multiple of the monitor's period).
pub const POD_GC_PERIOD: Time = 20 * SECOND;
const _: () = assert!(POD_GC_PERIOD.is_multiple_of(NODE_MONITOR_PERIOD));
/// `--terminated-pod-gc-threshold`'s default.
pub const TERMINATED_POD_GC_THRESHOLD: u32 = 12_500;

/// A terminated pod, as the pod GC orders them for deletion: evicted
/// ones first (none are here: the kubelet does not evict), then by
/// creation time, then by name.
struct TerminatedPod {
    evicted: bool,
    /// The creation time in whole seconds, as `creationTimestamp` has it:
    /// pods created in the same second go by name.
    created_s: Time,
    key: ObjectKey,
}
struct NodeState {
    /// When the node was first seen (its probe time until a Lease renewal
    /// is observed).
    first_seen: Time,
    /// Its name's id: the slot of [`NodeLifecycleController::renewed`].
    name_id: u32,
    /// The Ready status this controller last set or saw.
    ready: &'static str,
    /// NoExecute taints on the node, as last seen.
    no_execute: Vec<Taint>,
    /// When the current NoExecute taints appeared.
    tainted_at: Time,
}

struct PodEntry {
    key: ObjectKey,
    /// The pod's spec as first seen bound, for its node and tolerations
    /// (shared with the pod, not copied).
    spec: Arc<PodSpec>,
    terminating: bool,
}

impl PodEntry {
    fn node(&self) -> &str {
        self.spec
            .node_name()
            .expect("a pod entry is made for a bound pod")
    }
}

#[derive(Default)]
pub struct NodeLifecycleController {
    nodes: BTreeMap<String, NodeState>,
    /// How many of `nodes` have NoExecute taints: while none has, a new
    /// pod's node is not looked up.
    tainted: usize,
    pods: HashMap<u64, PodEntry>,
    pods_by_node: HashMap<String, BTreeSet<u64>>,
    /// Evictions scheduled: pod -> when.
    evictions: HashMap<u64, Time>,
    /// Node names by id: an id is handed out when a name is first met (as
    /// a Node or a machine) and kept for good.
    name_ids: HashMap<Arc<str>, u32>,
    /// The name id of each machine (node index) met so far.
    machine_names: Vec<u32>,
    /// When a Lease renewal of a machine with this name (by name id) was
    /// last observed. A node's probe is the later of this and when it was
    /// first seen: the time of the last of these events, as if each set it
    /// (a renewal observed while the node was absent is older than its
    /// return).
    renewed: Vec<Time>,
    /// Terminated pods not yet deleted nor sent for deletion by the pod GC.
    terminated: HashMap<u64, TerminatedPod>,
    /// `--terminated-pod-gc-threshold` (0: off).
    gc_threshold: u32,
    /// Monitor passes so far.
    monitor_ticks: u64,
    /// How many of `nodes` are Ready=Unknown.
    unknown: usize,
    /// No node's probe (see `renewed`) is earlier: the least probe at the
    /// last whole pass, or the first sight of a node added since, if
    /// earlier. Probes only move on, so while it is within the grace
    /// period of now and no node is Unknown, a pass would find nothing to
    /// change and the monitor skips it.
    earliest_probe: Time,
}

fn unreachable_taints() -> [Taint; 2] {
    [TaintEffect::NoSchedule, TaintEffect::NoExecute].map(|effect| Taint {
        key: TAINT_UNREACHABLE.into(),
        value: String::new(),
        effect,
    })
}

impl NodeLifecycleController {
    pub fn new(terminated_pod_gc_threshold: u32) -> Self {
        NodeLifecycleController {
            gc_threshold: terminated_pod_gc_threshold,
            ..Self::default()
        }
    }

    /// The id of node name `name`, handing out a new one if unseen.
    fn name_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.renewed.len()).expect("fewer than 2^32 node names");
        self.name_ids.insert(Arc::from(name), id);
        self.renewed.push(0);
        id
    }

    /// Starts the monitor loop. The controller manager's Node and Pod
    /// informers feed [`Self::observe`].
    pub fn start(&mut self, cx: &mut Cx) {
        cx.send_background(
            Dest::ControllerManager,
            NODE_MONITOR_PERIOD,
            Msg::NodeMonitor,
        );
    }

    pub fn handle(&mut self, msg: Msg, client: &mut Client, cx: &mut Cx) {
        match msg {
            Msg::NodeMonitor => {
                self.monitor(client, cx);
                // The pod GC's loop runs on the monitor's ticks: every
                // fourth is a multiple of its period.
                self.monitor_ticks += 1;
                if self.gc_threshold > 0
                    && self
                        .monitor_ticks
                        .is_multiple_of(POD_GC_PERIOD / NODE_MONITOR_PERIOD)
                {
                    self.gc_terminated(client, cx);
                }
                cx.send_background(
                    Dest::ControllerManager,
                    NODE_MONITOR_PERIOD,
                    Msg::NodeMonitor,
                );
            }
            Msg::LeasesRenewed { nodes, .. } => {
                let now = cx.now();
                for &i in nodes.iter() {
                    while self.machine_names.len() <= i as usize {
                        let name = cx.node_name(self.machine_names.len() as u32).clone();
                        let id = self.name_id(&name);
                        self.machine_names.push(id);
                    }
                    let id = self.machine_names[i as usize];
                    self.renewed[id as usize] = now;
                }
            }
            Msg::TaintEviction { pod } => self.evict_if_due(pod, client, cx),
            _ => {}
        }
    }

    /// Pod and Node watch events (the controller manager passes all).
    pub fn observe(
        &mut self,
        kind: EventType,
        key: &ObjectKey,
        obj: &Arc<Object>,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        match &**obj {
            Object::Node(node) => {
                let name = node.metadata.name.clone();
                if kind == EventType::Deleted {
                    if let Some(n) = self.nodes.remove(name.as_str()) {
                        self.tainted -= usize::from(!n.no_execute.is_empty());
                        self.unknown -= usize::from(n.ready == "Unknown");
                    }
                    self.gc_orphans(&name, client, cx);
                    return;
                }
                let now = cx.now();
                let no_execute: Vec<Taint> = node
                    .spec
                    .taints
                    .iter()
                    .filter(|t| t.effect == TaintEffect::NoExecute)
                    .cloned()
                    .collect();
                let ready = node.status.ready.as_ref().map_or("True", |r| r.status);
                let name_id = self.name_id(&name);
                let state = self.nodes.entry(name.to_string()).or_insert_with(|| {
                    self.earliest_probe = self.earliest_probe.min(now);
                    NodeState {
                        first_seen: now,
                        name_id,
                        ready: "",
                        no_execute: Vec::new(),
                        tainted_at: now,
                    }
                });
                self.unknown -= usize::from(state.ready == "Unknown");
                self.unknown += usize::from(ready == "Unknown");
                state.ready = ready;
                if state.no_execute != no_execute {
                    match (state.no_execute.is_empty(), no_execute.is_empty()) {
                        (true, false) => self.tainted += 1,
                        (false, true) => self.tainted -= 1,
                        _ => {}
                    }
                    state.no_execute = no_execute;
                    state.tainted_at = now;
                    let uids: Vec<u64> = self
                        .pods_by_node
                        .get(name.as_str())
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default();
                    for uid in uids {
                        self.schedule_eviction(uid, cx);
                    }
                }
            }
            Object::Pod(pod) => {
                let uid = pod.metadata.uid;
                if kind == EventType::Deleted {
                    self.terminated.remove(&uid);
                } else if self.gc_threshold > 0
                    && pod.status.phase.is_terminal()
                    && !self.terminated.contains_key(&uid)
                {
                    self.terminated.insert(
                        uid,
                        TerminatedPod {
                            evicted: pod.status.phase == PodPhase::Failed
                                && pod.status.reason == "Evicted",
                            created_s: pod.metadata.creation_timestamp.unwrap_or(0) / SECOND,
                            key: key.clone(),
                        },
                    );
                }
                let node = pod.spec.node_name();
                let gone = kind == EventType::Deleted || pod.status.phase.is_terminal();
                let terminating = pod.metadata.deletion_timestamp.is_some();
                if let Some(old) = self.pods.get_mut(&uid) {
                    // The same spec (a status change shares it) is the same
                    // node without comparing the names.
                    if !gone && (Arc::ptr_eq(&old.spec, &pod.spec) || node == Some(old.node())) {
                        // Only the deletion can change what matters here.
                        old.terminating = terminating;
                        return;
                    }
                    if let Some(set) = self.pods_by_node.get_mut(old.node()) {
                        set.remove(&uid);
                    }
                    self.pods.remove(&uid);
                    self.evictions.remove(&uid);
                }
                let (Some(node), false) = (node, gone) else {
                    return;
                };
                self.pods.insert(
                    uid,
                    PodEntry {
                        key: key.clone(),
                        spec: pod.spec.clone(),
                        terminating,
                    },
                );
                {
                    match self.pods_by_node.get_mut(node) {
                        Some(set) => {
                            set.insert(uid);
                        }
                        None => {
                            self.pods_by_node
                                .insert(node.to_string(), BTreeSet::from([uid]));
                        }
                    }
                    if self.tainted > 0
                        && self
                            .nodes
                            .get(node)
                            .is_some_and(|n| !n.no_execute.is_empty())
                    {
                        self.schedule_eviction(uid, cx);
                    }
                }
            }
            _ => {}
        }
    }

    fn monitor(&mut self, client: &mut Client, cx: &mut Cx) {
        let now = cx.now();
        if self.unknown == 0 && now.saturating_sub(self.earliest_probe) <= NODE_MONITOR_GRACE {
            // No node can be silent, and none is Unknown.
            return;
        }
        let mut patches = Vec::new();
        let renewed = &self.renewed;
        let mut earliest = Time::MAX;
        for (name, n) in &mut self.nodes {
            let probe = n.first_seen.max(renewed[n.name_id as usize]);
            earliest = earliest.min(probe);
            let silent = now.saturating_sub(probe) > NODE_MONITOR_GRACE;
            if silent && n.ready != "Unknown" {
                n.ready = "Unknown";
                self.unknown += 1;
                patches.push((name.clone(), false));
            } else if !silent && n.ready == "Unknown" {
                n.ready = "True";
                self.unknown -= 1;
                patches.push((name.clone(), true));
            }
        }
        self.earliest_probe = earliest;
        for (name, healthy) in patches {
            let key = ObjectKey::new(crate::api::Kind::Node, "", &name);
            let (status, reason, taints) = if healthy {
                (
                    "True",
                    "KubeletReady",
                    NodePatch::Taints {
                        add: Vec::new(),
                        remove: vec![TAINT_UNREACHABLE.into()],
                    },
                )
            } else {
                (
                    "Unknown",
                    "NodeStatusUnknown",
                    NodePatch::Taints {
                        add: unreachable_taints().to_vec(),
                        remove: Vec::new(),
                    },
                )
            };
            let detail = if healthy {
                "Lease renewed again: Ready=True, unreachable taints removed".to_string()
            } else {
                format!(
                    "Kubelet stopped posting node status (no Lease renewal for {} s): Ready=Unknown, tainted {TAINT_UNREACHABLE}",
                    NODE_MONITOR_GRACE / SECOND
                )
            };
            cx.log_on(
                Dest::ControllerManager,
                if healthy {
                    "node-ready"
                } else {
                    "node-unreachable"
                },
                Subject::from(&key),
                &name,
                &detail,
            );
            client.send(
                NODE_LIFECYCLE,
                cx,
                Verb::PatchNode {
                    key: key.clone(),
                    patch: NodePatch::Ready {
                        status,
                        reason: reason.into(),
                    },
                },
            );
            client.send(NODE_LIFECYCLE, cx, Verb::PatchNode { key, patch: taints });
        }
    }

    /// When pod `uid` must go given its node's NoExecute taints: `None`
    /// when it tolerates them all without a limit (or there are none).
    fn eviction_time(&self, uid: u64) -> Option<Time> {
        let p = self.pods.get(&uid)?;
        let n = self.nodes.get(p.node())?;
        if n.no_execute.is_empty() || p.terminating {
            return None;
        }
        let mut limit: Option<i64> = None;
        for taint in &n.no_execute {
            let matching: Vec<&Toleration> = p
                .spec
                .tolerations
                .iter()
                .filter(|t| t.tolerates(taint))
                .collect();
            if matching.is_empty() {
                return Some(n.tainted_at);
            }
            // Upstream takes the smallest tolerationSeconds of the matches;
            // a match without one tolerates forever.
            if matching.iter().all(|t| t.toleration_seconds.is_some()) {
                let secs = matching
                    .iter()
                    .filter_map(|t| t.toleration_seconds)
                    .min()
                    .unwrap_or(0)
                    .max(0);
                limit = Some(limit.map_or(secs, |l| l.min(secs)));
            }
        }
        limit.map(|s| n.tainted_at + s as Time * SECOND)
    }

    fn schedule_eviction(&mut self, uid: u64, cx: &mut Cx) {
        match self.eviction_time(uid) {
            Some(at) => {
                self.evictions.insert(uid, at);
                cx.send_at(Dest::ControllerManager, at, Msg::TaintEviction { pod: uid });
            }
            None => {
                self.evictions.remove(&uid);
            }
        }
    }

    fn evict_if_due(&mut self, uid: u64, client: &mut Client, cx: &mut Cx) {
        let now = cx.now();
        let Some(&at) = self.evictions.get(&uid) else {
            return;
        };
        if at > now || self.eviction_time(uid) != Some(at) {
            return;
        }
        self.evictions.remove(&uid);
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        p.terminating = true;
        let key = p.key.clone();
        let node = p.node().to_string();
        // A taint the pod does not tolerate at all, else the toleration
        // that ran out.
        let untolerated = (self.nodes.get(&node).into_iter())
            .flat_map(|n| &n.no_execute)
            .find(|taint| !p.spec.tolerations.iter().any(|t| t.tolerates(taint)));
        let detail = match untolerated {
            Some(taint) => format!(
                "taint manager: the pod does not tolerate NoExecute taint {}",
                taint.key
            ),
            None => "taint manager: NoExecute taint outlived the pod's toleration".to_string(),
        };
        cx.log_on(
            Dest::ControllerManager,
            "evict",
            Subject::from(&key),
            &node,
            &detail,
        );
        client.send(
            TAINT_EVICTION,
            cx,
            Verb::Delete {
                key,
                precondition: None,
            },
        );
    }

    /// The pod GC's pass over terminated pods: beyond the threshold, the
    /// oldest are force deleted (evicted ones first). A pod sent for
    /// deletion leaves the count; it comes back if it changes before its
    /// delete lands (a second delete is then answered NotFound), and one
    /// whose delete fails comes back when it next changes.
    fn gc_terminated(&mut self, client: &mut Client, cx: &mut Cx) {
        let over = self
            .terminated
            .len()
            .saturating_sub(self.gc_threshold as usize);
        if over == 0 {
            return;
        }
        let mut order: Vec<(bool, Time, &ObjectKey, u64)> = self
            .terminated
            .iter()
            .map(|(&uid, t)| (!t.evicted, t.created_s, &t.key, uid))
            .collect();
        order.sort_unstable_by(|a, b| {
            (a.0, a.1, &a.2.name(), &a.2.namespace(), a.3).cmp(&(
                b.0,
                b.1,
                &b.2.name(),
                &b.2.namespace(),
                b.3,
            ))
        });
        let uids: Vec<u64> = order[..over].iter().map(|t| t.3).collect();
        let detail = format!(
            "pod GC: {} terminated pods, over the threshold of {}",
            self.terminated.len(),
            self.gc_threshold
        );
        for uid in uids {
            let t = self.terminated.remove(&uid).expect("listed above");
            cx.log(
                Dest::ControllerManager,
                "gc-terminated",
                Subject::from(&t.key),
                &detail,
            );
            client.send(POD_GC, cx, Verb::ForceDelete { key: t.key });
        }
    }

    /// The Node is gone: its pods cannot run anywhere; delete them now.
    fn gc_orphans(&mut self, node: &str, client: &mut Client, cx: &mut Cx) {
        let Some(uids) = self.pods_by_node.remove(node) else {
            return;
        };
        for uid in uids {
            if let Some(p) = self.pods.remove(&uid) {
                self.evictions.remove(&uid);
                cx.log_on(
                    Dest::ControllerManager,
                    "gc-orphan",
                    Subject::from(&p.key),
                    node,
                    "pod GC: the pod's node no longer exists",
                );
                client.send(POD_GC, cx, Verb::ForceDelete { key: p.key });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_name_keeps_its_id_and_renewal_slot() {
        let mut c = NodeLifecycleController::default();
        let a = c.name_id("node-a");
        let b = c.name_id("node-b");
        assert_ne!(a, b);
        assert_eq!(c.name_id("node-a"), a);
        assert_eq!(c.renewed.len(), 2);
        c.renewed[b as usize] = 7;
        let again = c.name_id("node-b");
        assert_eq!(c.renewed[again as usize], 7);
        assert_eq!(c.renewed[a as usize], 0);
    }
}
