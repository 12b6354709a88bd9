//! Upstream's queueing hints (the SchedulerQueueingHints feature, on by
//! default since v1.32): the cluster events each filter plugin of the
//! default profile registers (`EventsToRegister`) and, for a pod the
//! plugin rejected, whether an event may make that pod schedulable
//! (Queue) or cannot (QueueSkip). With the hints on, an event moves an
//! unschedulable pod only when one of the plugins that rejected it says
//! Queue, and the events that came while a pod was in its scheduling
//! cycle are put to the same test when the cycle fails.
//!
//! Node events are read through fresh [`NodeInfo`]s of the old and new
//! Node (no pods on them, as upstream's hints build them). Where a plugin
//! registers a Node addition but not `UpdateNodeTaint`, the scheduler
//! registers that too for it with a hint that always says Queue, as
//! upstream's `buildQueueingHintMap` does (kubernetes#109437).

use std::cell::OnceCell;

use crate::api::Labels;
use crate::api::Node;
use crate::api::Object;
use crate::api::pod::{
    Pod, PodAffinityTerm, Taint, TaintEffect, TopologySpreadConstraint, WhenUnsatisfiable,
    tolerated,
};
use crate::api::resources::{Resources, pod_requests};
use crate::api::volume::PersistentVolumeClaim;

use super::framework::{
    FilterPlugin, NodeInfo, fits_requests, node_affinity_matches, pod_host_ports,
};
use super::topology;
use super::volumes;

/// The plugins that rejected a pod in its last scheduling cycle, one bit
/// per [`FilterPlugin`] ([`bit`]), or [`NO_REJECTOR`].
pub type Rejectors = u16;

/// No plugin rejected the pod: the cluster had no node (upstream's
/// ErrNoNodesAvailable). Upstream sends such a pod to backoffQ, not among
/// the unschedulable pods, since no event is known to help it.
pub const NO_REJECTOR: Rejectors = 0x8000;

/// The bit of `plugin` in a [`Rejectors`].
pub const fn bit(plugin: FilterPlugin) -> Rejectors {
    1 << plugin as u16
}

/// One kind of change of a Node update (upstream's ActionTypes, as
/// `NodeSchedulingPropertiesChange` finds them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    /// `UpdateNodeTaint`: the taints changed, or the node became
    /// schedulable (`spec.unschedulable` went to false).
    Taint,
    Allocatable,
    Label,
    /// `UpdateNodeCondition`: no plugin of the default profile registers it.
    Condition,
}

/// The kinds of change between two versions of a Node, in upstream's
/// order (a node uncordoned and retainted gives `Taint` twice, as
/// upstream sends the event twice).
pub fn node_changes(old: &Node, new: &Node) -> Vec<NodeChange> {
    let mut out = Vec::new();
    if old.spec.unschedulable && !new.spec.unschedulable {
        out.push(NodeChange::Taint);
    }
    if crate::api::resources::node_allocatable(old) != crate::api::resources::node_allocatable(new)
    {
        out.push(NodeChange::Allocatable);
    }
    if old.metadata.labels != new.metadata.labels {
        out.push(NodeChange::Label);
    }
    if old.spec.taints != new.spec.taints {
        out.push(NodeChange::Taint);
    }
    if old.status.ready.as_ref().map(|r| r.status) != new.status.ready.as_ref().map(|r| r.status) {
        out.push(NodeChange::Condition);
    }
    out
}

/// One kind of change of a Pod update (upstream's
/// `PodSchedulingPropertiesChange`); `Other` is the generic update, which
/// no plugin of the default profile registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodChange {
    Label,
    /// `UpdatePodScaleDown`: a request removed or lowered.
    ScaleDown,
    /// `UpdatePodToleration`: the number of tolerations changed.
    Toleration,
    Other,
}

/// The kinds of change between two versions of a Pod, in upstream's order.
pub fn pod_changes(old: &Pod, new: &Pod) -> Vec<PodChange> {
    let mut out = Vec::new();
    if old.metadata.labels != new.metadata.labels {
        out.push(PodChange::Label);
    }
    if scaled_down(&pod_requests(&old.spec), &pod_requests(&new.spec)) {
        out.push(PodChange::ScaleDown);
    }
    if old.spec.tolerations.len() != new.spec.tolerations.len() {
        out.push(PodChange::Toleration);
    }
    if out.is_empty() {
        out.push(PodChange::Other);
    }
    out
}

/// [`pod_changes`] but the generic update: the kinds of change a plugin
/// of the default profile registers.
pub fn registered_pod_changes(old: &Pod, new: &Pod) -> Vec<PodChange> {
    let mut changes = pod_changes(old, new);
    changes.retain(|&c| c != PodChange::Other);
    changes
}

/// Whether some request of `old` is gone or lower in `new`.
fn scaled_down(old: &Resources, new: &Resources) -> bool {
    let lower = |o: i64, n: i64| o > 0 && n < o;
    lower(old.milli_cpu, new.milli_cpu)
        || lower(old.memory, new.memory)
        || lower(old.ephemeral_storage, new.ephemeral_storage)
        || old.scalar.iter().any(|(k, v)| lower(*v, new.scalar(k)))
}

/// A cluster event with its objects, as a hint reads it.
#[derive(Clone, Copy)]
pub enum Event<'a> {
    NodeAdded(&'a NodeInfo),
    NodeUpdated(&'a NodeInfo, &'a NodeInfo, NodeChange),
    NodeDeleted(&'a NodeInfo),
    /// A pod seen bound for the first time (upstream's AssignedPod/Add).
    PodAdded(&'a Pod),
    /// A pod updated (old, new): a bound pod, or the pending pod itself.
    PodUpdated(&'a Pod, &'a Pod, PodChange),
    /// A pod gone: `true` when it was bound or assumed (upstream's assumed
    /// copy carries the node's name), `false` for a pending pod that held
    /// a nomination (its `status.nominatedNodeName` is read).
    PodDeleted(&'a Pod, bool),
    /// A PersistentVolumeClaim, PersistentVolume or CSINode added (old
    /// `None`) or updated (old, new).
    Storage(Option<&'a Object>, &'a Object),
}

/// An [`Event`] kept while a pod is in flight, to be put to the hints
/// when its cycle fails.
pub enum Recorded {
    NodeAdded(Box<NodeInfo>),
    /// The old and new Node, and the update's kinds of change.
    NodeUpdated(Box<(NodeInfo, NodeInfo)>, Vec<NodeChange>),
    NodeDeleted(Box<NodeInfo>),
    PodAdded(std::sync::Arc<crate::api::Object>),
    PodUpdated(
        std::sync::Arc<crate::api::Object>,
        std::sync::Arc<crate::api::Object>,
        Vec<PodChange>,
    ),
    PodDeleted(std::sync::Arc<crate::api::Object>, bool),
    Storage(
        Option<std::sync::Arc<crate::api::Object>>,
        std::sync::Arc<crate::api::Object>,
    ),
}

impl Recorded {
    /// Its events, in order (a Node or Pod update gives one per change).
    pub fn for_each_event(&self, mut f: impl FnMut(Event<'_>) -> bool) -> bool {
        match self {
            Recorded::NodeAdded(n) => f(Event::NodeAdded(n)),
            Recorded::NodeUpdated(nodes, changes) => changes
                .iter()
                .any(|&c| f(Event::NodeUpdated(&nodes.0, &nodes.1, c))),
            Recorded::NodeDeleted(n) => f(Event::NodeDeleted(n)),
            Recorded::PodAdded(p) => p.as_pod().is_some_and(|p| f(Event::PodAdded(p))),
            Recorded::PodUpdated(o, n, changes) => match (o.as_pod(), n.as_pod()) {
                (Some(o), Some(n)) => changes.iter().any(|&c| f(Event::PodUpdated(o, n, c))),
                _ => false,
            },
            Recorded::PodDeleted(p, assigned) => p
                .as_pod()
                .is_some_and(|p| f(Event::PodDeleted(p, *assigned))),
            Recorded::Storage(old, new) => f(Event::Storage(old.as_deref(), new)),
        }
    }
}

/// Upstream's `isPodWorthRequeuing` for a pod rejected by `rejectors`:
/// true (queueAfterBackoff) when no plugin rejected it, or when a plugin
/// that did registers `event` and its hint says Queue.
pub fn worth_requeuing(pod: &Pod, rejectors: Rejectors, event: Event<'_>) -> bool {
    some_rejector(pod, rejectors, event, |h| h == Some(true))
}

/// With the queueing hints off: whether a plugin that rejected `pod`
/// registers `event` (then it moves, whatever the hint would say).
pub fn registered(pod: &Pod, rejectors: Rejectors, event: Event<'_>) -> bool {
    some_rejector(pod, rejectors, event, |h| h.is_some())
}

/// True when no plugin rejected `pod`, or when `says` holds of the hint
/// of one that did.
fn some_rejector(
    pod: &Pod,
    rejectors: Rejectors,
    event: Event<'_>,
    says: impl Fn(Option<bool>) -> bool,
) -> bool {
    if rejectors == 0 || rejectors & NO_REJECTOR != 0 {
        return true;
    }
    // The pod's requests, computed if a hint reads them.
    let requests = OnceCell::new();
    FilterPlugin::ALL
        .into_iter()
        .filter(|&p| rejectors & bit(p) != 0)
        .any(|p| says(hint(p, pod, &requests, event)))
}

/// `plugin`'s hint for `pod` on `event`: `None` when the plugin does not
/// register the event, else whether it says Queue.
pub fn hint(
    plugin: FilterPlugin,
    pod: &Pod,
    requests: &OnceCell<Resources>,
    event: Event<'_>,
) -> Option<bool> {
    use Event::*;
    use FilterPlugin as P;
    let res = || requests.get_or_init(|| pod_requests(&pod.spec));
    // A deleted pod was bound (or assumed, whose copy here lacks the
    // node's name) or nominated to a node.
    let placed_gone =
        |gone: &Pod, assigned: bool| assigned || gone.spec.node_name().is_some() || nominated(gone);
    match (plugin, event) {
        // Registered for a Node addition without UpdateNodeTaint of their
        // own: the taint event always queues.
        (
            P::NodeName
            | P::NodePorts
            | P::NodeResourcesFit
            | P::NodeAffinity
            | P::InterPodAffinity
            | P::VolumeRestrictions
            | P::VolumeBinding
            | P::VolumeZone,
            NodeUpdated(_, _, NodeChange::Taint),
        ) => Some(true),
        (
            P::NodeName | P::NodePorts | P::VolumeRestrictions | P::VolumeBinding | P::VolumeZone,
            NodeAdded(_),
        ) => Some(true),
        (P::VolumeBinding | P::VolumeZone, NodeUpdated(_, _, NodeChange::Label)) => Some(true),

        // A claim of the pod's added (or, for VolumeBinding and
        // VolumeZone, updated).
        (
            P::VolumeRestrictions | P::NodeVolumeLimits,
            Storage(None, Object::PersistentVolumeClaim(c)),
        ) => Some(names_claim(pod, c, plugin == P::NodeVolumeLimits)),
        (P::VolumeBinding | P::VolumeZone, Storage(_, Object::PersistentVolumeClaim(c))) => {
            Some(names_claim(pod, c, plugin == P::VolumeBinding))
        }
        (P::VolumeRestrictions, PodDeleted(gone, assigned)) => {
            Some(placed_gone(gone, assigned) && volumes::shares_with(pod, gone))
        }
        (P::NodeVolumeLimits, PodDeleted(gone, assigned)) => {
            Some((assigned || gone.spec.node_name().is_some()) && volumes::reads_volumes(gone))
        }
        (P::NodeVolumeLimits, Storage(None, Object::CsiNode(_))) => Some(true),
        (P::NodeVolumeLimits, Storage(Some(Object::CsiNode(o)), Object::CsiNode(n))) => {
            Some(volumes::limits_rose(o, n))
        }
        (P::VolumeBinding, Storage(_, Object::PersistentVolume(_))) => Some(true),
        // A class added may make a waiting claim's volume provisionable
        // (an update changes nothing the model reads).
        (P::VolumeBinding, Storage(None, Object::StorageClass(_))) => Some(true),
        (P::VolumeBinding, Storage(Some(_), Object::StorageClass(_))) => Some(false),
        (P::VolumeBinding, Storage(None, Object::CsiNode(_))) => Some(true),
        (P::VolumeBinding, Storage(Some(Object::CsiNode(o)), Object::CsiNode(n))) => {
            Some(volumes::migration_changed(o, n))
        }
        (P::VolumeZone, Storage(None, Object::PersistentVolume(_))) => Some(true),
        (
            P::VolumeZone,
            Storage(Some(Object::PersistentVolume(o)), Object::PersistentVolume(n)),
        ) => Some(volumes::zones_changed(o, n)),

        (P::NodeUnschedulable, NodeAdded(n)) => Some(!n.unschedulable),
        (P::NodeUnschedulable, NodeUpdated(o, n, NodeChange::Taint)) => {
            Some(o.unschedulable && !n.unschedulable)
        }
        (P::NodeUnschedulable, PodUpdated(_, new, PodChange::Toleration)) => {
            Some(same_pod(new, pod) && tolerates_unschedulable(new))
        }

        (P::TaintToleration, NodeAdded(n)) => Some(!untolerated(pod, n)),
        (P::TaintToleration, NodeUpdated(o, n, NodeChange::Taint)) => {
            Some(untolerated(pod, o) && !untolerated(pod, n))
        }
        (P::TaintToleration, PodUpdated(_, new, PodChange::Toleration)) => Some(same_pod(new, pod)),

        (P::NodeAffinity, NodeAdded(n)) => Some(node_affinity_matches(pod, n)),
        (P::NodeAffinity, NodeUpdated(o, n, NodeChange::Label)) => {
            Some(node_affinity_matches(pod, n) && !node_affinity_matches(pod, o))
        }

        (P::NodePorts, PodDeleted(gone, assigned)) => Some(
            placed_gone(gone, assigned)
                && pod_host_ports(gone).any(|hp| pod_host_ports(pod).any(|want| want == hp)),
        ),

        (P::NodeResourcesFit, NodeAdded(n)) => Some(fits_requests(res(), n)),
        (P::NodeResourcesFit, NodeUpdated(o, n, NodeChange::Allocatable)) => {
            Some(fits_requests(res(), n) && requested_resources_increased(res(), o, n))
        }
        (P::NodeResourcesFit, PodDeleted(gone, assigned)) => Some(placed_gone(gone, assigned)),
        (P::NodeResourcesFit, PodUpdated(old, new, PodChange::ScaleDown)) => Some(
            same_pod(new, pod)
                || (new.spec.node_name().is_some()
                    && requested_scaled_down(
                        res(),
                        &pod_requests(&old.spec),
                        &pod_requests(&new.spec),
                    )),
        ),

        (P::InterPodAffinity, PodAdded(new)) => {
            Some(affinity_after_pod(pod, None, placed(new).then_some(new)))
        }
        (P::InterPodAffinity, PodUpdated(old, new, PodChange::Label)) => Some(affinity_after_pod(
            pod,
            placed(old).then_some(old),
            placed(new).then_some(new),
        )),
        (P::InterPodAffinity, PodDeleted(gone, assigned)) => Some(affinity_after_pod(
            pod,
            placed_gone(gone, assigned).then_some(gone),
            None,
        )),
        (P::InterPodAffinity, NodeAdded(n)) => Some(affinity_after_node(pod, None, n)),
        (P::InterPodAffinity, NodeUpdated(o, n, NodeChange::Label)) => {
            Some(affinity_after_node(pod, Some(o), n))
        }

        (P::PodTopologySpread, PodAdded(new)) => Some(
            involved(pod, new, new.spec.node_name().is_some())
                && spread_constraints(pod).any(|c| c.selects(&new.metadata.labels)),
        ),
        (P::PodTopologySpread, PodUpdated(old, new, PodChange::Label | PodChange::Toleration)) => {
            Some(spread_after_update(pod, old, new))
        }
        (P::PodTopologySpread, PodDeleted(gone, assigned)) => Some(
            involved(pod, gone, assigned || gone.spec.node_name().is_some())
                && spread_constraints(pod).any(|c| c.selects(&gone.metadata.labels)),
        ),
        (P::PodTopologySpread, NodeAdded(n)) => Some(has_all_keys(pod, n)),
        (P::PodTopologySpread, NodeDeleted(o)) => Some(has_all_keys(pod, o)),
        (P::PodTopologySpread, NodeUpdated(o, n, NodeChange::Label | NodeChange::Taint)) => {
            let (was, is) = (has_all_keys(pod, o), has_all_keys(pod, n));
            Some(
                was != is
                    || (is
                        && (spread_constraints(pod)
                            .any(|c| o.labels.get(c.key()) != n.labels.get(c.key()))
                            || o.taints != n.taints)),
            )
        }
        _ => None,
    }
}

/// Whether `claim` is one `pod` reads: by a `persistentVolumeClaim`
/// volume, or with `ephemeral`, also as a generic ephemeral volume's.
fn names_claim(pod: &Pod, claim: &PersistentVolumeClaim, ephemeral: bool) -> bool {
    claim.metadata.namespace == pod.metadata.namespace
        && pod.spec.volumes.iter().any(|v| {
            let name = if ephemeral {
                v.claim_name(&pod.metadata.name)
            } else {
                (v.source.persistent_volume_claim.as_ref()).map(|c| c.claim_name.as_str().into())
            };
            name.is_some_and(|n| n == claim.metadata.name.as_str())
        })
}

fn same_pod(a: &Pod, b: &Pod) -> bool {
    a.metadata.uid == b.metadata.uid
}

fn nominated(pod: &Pod) -> bool {
    pod.status
        .nominated_node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty())
}

/// Bound, or nominated to a node (InterPodAffinity counts both).
fn placed(pod: &Pod) -> bool {
    pod.spec.node_name().is_some() || nominated(pod)
}

fn tolerates_unschedulable(pod: &Pod) -> bool {
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    };
    tolerated(&pod.spec.tolerations, &taint)
}

/// Whether `node` has a NoSchedule or NoExecute taint `pod` does not
/// tolerate.
fn untolerated(pod: &Pod, node: &NodeInfo) -> bool {
    node.taints
        .iter()
        .any(|t| t.effect != TaintEffect::PreferNoSchedule && !tolerated(&pod.spec.tolerations, t))
}

/// NodeResourcesFit: the node allows more pods, or more of a resource
/// the pod requests.
fn requested_resources_increased(r: &Resources, old: &NodeInfo, new: &NodeInfo) -> bool {
    if new.allowed_pods > old.allowed_pods {
        return true;
    }
    let (a, b) = (&old.allocatable, &new.allocatable);
    (r.milli_cpu > 0 && b.milli_cpu > a.milli_cpu)
        || (r.memory > 0 && b.memory > a.memory)
        || (r.ephemeral_storage > 0 && b.ephemeral_storage > a.ephemeral_storage)
        || r.scalar
            .iter()
            .any(|(k, v)| *v > 0 && b.scalar(k) > a.scalar(k))
}

/// NodeResourcesFit: a bound pod gave back some of a resource the
/// pending pod requests.
fn requested_scaled_down(r: &Resources, old: &Resources, new: &Resources) -> bool {
    (r.milli_cpu > 0 && old.milli_cpu > new.milli_cpu)
        || (r.memory > 0 && old.memory > new.memory)
        || (r.ephemeral_storage > 0 && old.ephemeral_storage > new.ephemeral_storage)
        || r.scalar
            .iter()
            .any(|(k, v)| *v > 0 && old.scalar(k) > new.scalar(k))
}

/// Whether every term selects `other` (false for no terms), reading no
/// namespace labels (upstream's `podMatchesAllAffinityTerms`: a term's
/// namespace selector sees none).
fn all_select(terms: &[PodAffinityTerm], pod: &Pod, other: &Pod) -> bool {
    let none = Labels::new();
    !terms.is_empty()
        && terms.iter().all(|t| {
            topology::term_selects(
                t,
                &pod.metadata.namespace,
                &other.metadata.namespace,
                &none,
                &other.metadata.labels,
            )
        })
}

/// InterPodAffinity's hint on a pod added, updated or deleted (`old`,
/// `new`: the versions that are bound or nominated, the others `None`).
fn affinity_after_pod(pod: &Pod, old: Option<&Pod>, new: Option<&Pod>) -> bool {
    let (terms, anti) = topology::pod_affinity_terms(pod);
    match (old, new) {
        (None, None) => false,
        (Some(old), Some(new)) => {
            (!all_select(terms, pod, old) && all_select(terms, pod, new))
                || (all_select(anti, pod, old) && !all_select(anti, pod, new))
        }
        (None, Some(new)) => all_select(terms, pod, new),
        (Some(old), None) => all_select(anti, pod, old),
    }
}

/// InterPodAffinity's hint on a Node added (`old` None) or relabelled:
/// an affinity term's topology key appears or changes value, or (for an
/// anti-affinity term) a node is added, or its key disappears or changes
/// value.
fn affinity_after_node(pod: &Pod, old: Option<&NodeInfo>, new: &NodeInfo) -> bool {
    let (terms, anti) = topology::pod_affinity_terms(pod);
    let Some(old) = old else {
        return !anti.is_empty()
            || terms
                .iter()
                .any(|t| new.labels.contains_key(&t.topology_key));
    };
    let key = |n: &NodeInfo, t: &PodAffinityTerm| n.labels.get(&t.topology_key).cloned();
    terms.iter().any(|t| match (key(old, t), key(new, t)) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a != b,
        _ => false,
    }) || anti.iter().any(|t| match (key(old, t), key(new, t)) {
        (Some(_), None) => true,
        (Some(a), Some(b)) => a != b,
        _ => false,
    })
}

/// One of a pod's DoNotSchedule spread constraints.
struct Spread<'a> {
    pod: &'a Pod,
    c: &'a TopologySpreadConstraint,
}

impl Spread<'_> {
    fn key(&self) -> &str {
        &self.c.topology_key
    }

    /// Whether its selector, with the pod's own values of
    /// `matchLabelKeys` merged in, selects `labels`.
    fn selects(&self, labels: &Labels) -> bool {
        if self.c.match_label_keys.is_empty() {
            return self
                .c
                .label_selector
                .as_ref()
                .is_some_and(|s| s.matches(labels));
        }
        let mut selector = self.c.label_selector.clone();
        if let Some(sel) = selector.as_mut() {
            for k in &self.c.match_label_keys {
                if let Some(v) = self.pod.metadata.labels.get(k) {
                    sel.match_labels.insert(k.clone(), v.clone());
                }
            }
        }
        selector.is_some_and(|s| s.matches(labels))
    }
}

/// The pod's DoNotSchedule constraints: the ones that can reject a node
/// (the system defaults are ScheduleAnyway).
fn spread_constraints(pod: &Pod) -> impl Iterator<Item = Spread<'_>> {
    pod.spec
        .topology_spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable != WhenUnsatisfiable::ScheduleAnyway)
        .map(move |c| Spread { pod, c })
}

/// Whether `node` has the topology key of every DoNotSchedule
/// constraint of `pod`.
fn has_all_keys(pod: &Pod, node: &NodeInfo) -> bool {
    spread_constraints(pod).all(|c| node.labels.contains_key(c.key()))
}

/// PodTopologySpread looks at the pod itself, or at bound pods of its
/// namespace.
fn involved(pod: &Pod, other: &Pod, bound: bool) -> bool {
    same_pod(pod, other) || (bound && other.metadata.namespace == pod.metadata.namespace)
}

/// PodTopologySpread's hint on a pod update: the pod's own tolerations
/// changed under a constraint that honours taints, or a selector's
/// verdict on the pod's labels changed.
fn spread_after_update(pod: &Pod, old: &Pod, new: &Pod) -> bool {
    if !involved(pod, new, new.spec.node_name().is_some())
        || !involved(pod, old, old.spec.node_name().is_some())
    {
        return false;
    }
    if same_pod(new, pod)
        && old.spec.tolerations != new.spec.tolerations
        && spread_constraints(pod).any(|c| c.c.honors_node_taints())
    {
        return true;
    }
    if old.metadata.labels == new.metadata.labels {
        return false;
    }
    spread_constraints(pod)
        .any(|c| c.selects(&old.metadata.labels) != c.selects(&new.metadata.labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;
    use crate::scheduler::tests::{parse, pod};
    use std::sync::Arc;

    fn node(yaml: &str) -> NodeInfo {
        NodeInfo::new(&crate::scheduler::tests::node(yaml))
    }

    /// A pending pod (uid 1) in namespace `default`, `spec` its spec's
    /// fields beside one container requesting `cpu`.
    fn pending(labels: &str, spec: &str, cpu: &str) -> Pod {
        let mut p = pod(&format!(
            "metadata: {{name: p, namespace: default, labels: {{{labels}}}}}\nspec: {{{spec}containers: [{{name: c, image: i, resources: {{requests: {{cpu: '{cpu}'}}}}}}]}}"
        ));
        p.metadata.uid = 1;
        p
    }

    /// Another pod (uid 2) in `ns`, bound to `node` unless it is empty.
    fn other(ns: &str, labels: &str, node: &str, extra: &str) -> Pod {
        let bound = if node.is_empty() {
            String::new()
        } else {
            format!("nodeName: {node}, ")
        };
        let mut p = pod(&format!(
            "metadata: {{name: o, namespace: {ns}, labels: {{{labels}}}}}\nspec: {{{bound}{extra}containers: [{{name: c, image: i, resources: {{requests: {{cpu: 500m}}}}}}]}}"
        ));
        p.metadata.uid = 2;
        p
    }

    fn hint_of(plugin: FilterPlugin, pod: &Pod, event: Event<'_>) -> Option<bool> {
        hint(plugin, pod, &OnceCell::new(), event)
    }

    const ALLOC: &str = "status: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}";

    /// NodeResourcesFit (upstream's fit_test.go hint cases): a node added
    /// that fits queues; an update only when the node fits and gives more
    /// of what the pod asks; a bound or nominated pod's deletion queues,
    /// an unbound one's does not; a relabel is not its event.
    #[test]
    fn fit_queues_for_room_it_can_use() {
        use FilterPlugin::NodeResourcesFit as Fit;
        let p = pending("", "", "2");
        let small = node(&format!(
            "metadata: {{name: n}}\n{}",
            ALLOC.replace("'4'", "'1'")
        ));
        let big = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        let bigger = node(&format!(
            "metadata: {{name: n}}\n{}",
            ALLOC.replace("'4'", "'8'")
        ));
        let more_memory = node(&format!(
            "metadata: {{name: n}}\n{}",
            ALLOC.replace("8Gi", "16Gi")
        ));
        assert_eq!(hint_of(Fit, &p, Event::NodeAdded(&small)), Some(false));
        assert_eq!(hint_of(Fit, &p, Event::NodeAdded(&big)), Some(true));
        let up = |o, n| hint_of(Fit, &p, Event::NodeUpdated(o, n, NodeChange::Allocatable));
        assert_eq!(up(&small, &big), Some(true));
        assert_eq!(up(&big, &bigger), Some(true));
        // More memory, which the pod does not ask for.
        assert_eq!(up(&big, &more_memory), Some(false));
        assert_eq!(up(&big, &small), Some(false));
        assert_eq!(
            hint_of(Fit, &p, Event::NodeUpdated(&big, &big, NodeChange::Label)),
            None
        );
        assert_eq!(
            hint_of(Fit, &p, Event::NodeUpdated(&big, &big, NodeChange::Taint)),
            Some(true)
        );
        let bound = other("default", "", "n", "");
        let unbound = other("default", "", "", "");
        assert_eq!(
            hint_of(Fit, &p, Event::PodDeleted(&bound, true)),
            Some(true)
        );
        assert_eq!(
            hint_of(Fit, &p, Event::PodDeleted(&unbound, false)),
            Some(false)
        );
        let mut nominated = unbound.clone();
        nominated.status.nominated_node_name = Some("n".into());
        assert_eq!(
            hint_of(Fit, &p, Event::PodDeleted(&nominated, false)),
            Some(true)
        );
        assert_eq!(hint_of(Fit, &p, Event::PodAdded(&bound)), None);
    }

    /// NodePorts: only the deletion of a placed pod holding a port the
    /// pending pod wants.
    #[test]
    fn node_ports_queue_for_a_freed_port() {
        use FilterPlugin::NodePorts as Ports;
        let port = |n: i32| format!("ports: [{{containerPort: 80, hostPort: {n}}}], ");
        let p = pod(&format!(
            "metadata: {{name: p, namespace: default}}\nspec: {{containers: [{{name: c, image: i, {}}}]}}",
            port(8080)
        ));
        let on = |node: &str, n: i32| {
            pod(&format!(
                "metadata: {{name: o, namespace: x}}\nspec: {{{node}containers: [{{name: c, image: i, {}}}]}}",
                port(n)
            ))
        };
        let holder = |n: i32| on("nodeName: n, ", n);
        assert_eq!(
            hint_of(Ports, &p, Event::PodDeleted(&holder(8080), true)),
            Some(true)
        );
        assert_eq!(
            hint_of(Ports, &p, Event::PodDeleted(&holder(9090), true)),
            Some(false)
        );
        // A pod's node name makes it bound whatever the flag says; a
        // pending pod without a nomination holds no port.
        assert_eq!(
            hint_of(Ports, &p, Event::PodDeleted(&holder(8080), false)),
            Some(true)
        );
        assert_eq!(
            hint_of(Ports, &p, Event::PodDeleted(&on("", 8080), false)),
            Some(false)
        );
        let n = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        assert_eq!(hint_of(Ports, &p, Event::NodeAdded(&n)), Some(true));
    }

    /// TaintToleration, NodeUnschedulable and NodeAffinity on Node
    /// events: only a change from rejecting to accepting queues.
    #[test]
    fn node_filters_queue_when_the_node_starts_to_accept() {
        use FilterPlugin as P;
        let p = pending("", "nodeSelector: {disk: ssd}, ", "1");
        let plain = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        let ssd = node(&format!(
            "metadata: {{name: n, labels: {{disk: ssd}}}}\n{ALLOC}"
        ));
        let tainted = node(&format!(
            "metadata: {{name: n}}\nspec: {{taints: [{{key: k, effect: NoExecute}}]}}\n{ALLOC}"
        ));
        let cordoned = node(&format!(
            "metadata: {{name: n}}\nspec: {{unschedulable: true}}\n{ALLOC}"
        ));
        let label = |o, n| {
            hint_of(
                P::NodeAffinity,
                &p,
                Event::NodeUpdated(o, n, NodeChange::Label),
            )
        };
        assert_eq!(label(&plain, &ssd), Some(true));
        assert_eq!(label(&ssd, &ssd), Some(false));
        assert_eq!(label(&ssd, &plain), Some(false));
        assert_eq!(
            hint_of(P::NodeAffinity, &p, Event::NodeAdded(&plain)),
            Some(false)
        );
        let taint = |o, n| {
            hint_of(
                P::TaintToleration,
                &p,
                Event::NodeUpdated(o, n, NodeChange::Taint),
            )
        };
        assert_eq!(taint(&tainted, &plain), Some(true));
        assert_eq!(taint(&plain, &tainted), Some(false));
        assert_eq!(
            hint_of(P::TaintToleration, &p, Event::NodeAdded(&tainted)),
            Some(false)
        );
        let uncordon = |o, n| {
            hint_of(
                P::NodeUnschedulable,
                &p,
                Event::NodeUpdated(o, n, NodeChange::Taint),
            )
        };
        assert_eq!(uncordon(&cordoned, &plain), Some(true));
        assert_eq!(uncordon(&plain, &cordoned), Some(false));
        assert_eq!(
            hint_of(P::NodeUnschedulable, &p, Event::NodeAdded(&cordoned)),
            Some(false)
        );
        // A Node deletion is PodTopologySpread's alone.
        assert_eq!(hint_of(P::NodeAffinity, &p, Event::NodeDeleted(&ssd)), None);
    }

    /// InterPodAffinity: a placed pod added that every affinity term
    /// selects, or deleted that every anti-affinity term selects; a node
    /// that gains an affinity term's topology key.
    #[test]
    fn inter_pod_affinity_queues_for_matching_pods_and_keys() {
        use FilterPlugin::InterPodAffinity as Ipa;
        let term = "{labelSelector: {matchLabels: {app: db}}, topologyKey: zone}";
        let wants = pending(
            "",
            &format!(
                "affinity: {{podAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{term}]}}}}, "
            ),
            "1",
        );
        let shuns = pending(
            "",
            &format!(
                "affinity: {{podAntiAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{term}]}}}}, "
            ),
            "1",
        );
        let db = other("default", "app: db", "n", "");
        let web = other("default", "app: web", "n", "");
        let db_elsewhere = other("x", "app: db", "n", "");
        let db_pending = other("default", "app: db", "", "");
        assert_eq!(hint_of(Ipa, &wants, Event::PodAdded(&db)), Some(true));
        assert_eq!(hint_of(Ipa, &wants, Event::PodAdded(&web)), Some(false));
        assert_eq!(
            hint_of(Ipa, &wants, Event::PodAdded(&db_elsewhere)),
            Some(false)
        );
        assert_eq!(
            hint_of(Ipa, &wants, Event::PodAdded(&db_pending)),
            Some(false)
        );
        assert_eq!(
            hint_of(Ipa, &wants, Event::PodDeleted(&db, true)),
            Some(false)
        );
        assert_eq!(
            hint_of(Ipa, &shuns, Event::PodDeleted(&db, true)),
            Some(true)
        );
        assert_eq!(
            hint_of(Ipa, &shuns, Event::PodDeleted(&web, true)),
            Some(false)
        );
        let relabel =
            |p: &Pod, o: &Pod, n: &Pod| hint_of(Ipa, p, Event::PodUpdated(o, n, PodChange::Label));
        assert_eq!(relabel(&wants, &web, &db), Some(true));
        assert_eq!(relabel(&wants, &db, &web), Some(false));
        assert_eq!(relabel(&shuns, &db, &web), Some(true));
        let zoned = node(&format!(
            "metadata: {{name: n, labels: {{zone: a}}}}\n{ALLOC}"
        ));
        let moved = node(&format!(
            "metadata: {{name: n, labels: {{zone: b}}}}\n{ALLOC}"
        ));
        let plain = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        assert_eq!(hint_of(Ipa, &wants, Event::NodeAdded(&zoned)), Some(true));
        assert_eq!(hint_of(Ipa, &wants, Event::NodeAdded(&plain)), Some(false));
        // Any node added may take a pod with anti-affinity.
        assert_eq!(hint_of(Ipa, &shuns, Event::NodeAdded(&plain)), Some(true));
        let label = |p: &Pod, o, n| hint_of(Ipa, p, Event::NodeUpdated(o, n, NodeChange::Label));
        assert_eq!(label(&wants, &plain, &zoned), Some(true));
        assert_eq!(label(&wants, &zoned, &moved), Some(true));
        assert_eq!(label(&wants, &zoned, &plain), Some(false));
        assert_eq!(label(&shuns, &zoned, &plain), Some(true));
        assert_eq!(label(&shuns, &plain, &zoned), Some(false));
    }

    /// PodTopologySpread: bound pods of the pending pod's namespace that
    /// a DoNotSchedule constraint selects; nodes with every topology key.
    #[test]
    fn topology_spread_queues_for_selected_pods_and_keyed_nodes() {
        use FilterPlugin::PodTopologySpread as Pts;
        let p = pending(
            "app: web",
            "topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}], ",
            "1",
        );
        let web = other("default", "app: web", "n", "");
        let db = other("default", "app: db", "n", "");
        let web_elsewhere = other("x", "app: web", "n", "");
        let web_pending = other("default", "app: web", "", "");
        assert_eq!(hint_of(Pts, &p, Event::PodAdded(&web)), Some(true));
        assert_eq!(hint_of(Pts, &p, Event::PodAdded(&db)), Some(false));
        assert_eq!(
            hint_of(Pts, &p, Event::PodAdded(&web_elsewhere)),
            Some(false)
        );
        assert_eq!(hint_of(Pts, &p, Event::PodDeleted(&web, true)), Some(true));
        assert_eq!(
            hint_of(Pts, &p, Event::PodDeleted(&web_pending, false)),
            Some(false)
        );
        let relabel =
            |o: &Pod, n: &Pod| hint_of(Pts, &p, Event::PodUpdated(o, n, PodChange::Label));
        assert_eq!(relabel(&db, &web), Some(true));
        assert_eq!(relabel(&web, &web), Some(false));
        let zoned = node(&format!(
            "metadata: {{name: n, labels: {{zone: a}}}}\n{ALLOC}"
        ));
        let moved = node(&format!(
            "metadata: {{name: n, labels: {{zone: b}}}}\n{ALLOC}"
        ));
        let plain = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        assert_eq!(hint_of(Pts, &p, Event::NodeAdded(&zoned)), Some(true));
        assert_eq!(hint_of(Pts, &p, Event::NodeAdded(&plain)), Some(false));
        assert_eq!(hint_of(Pts, &p, Event::NodeDeleted(&zoned)), Some(true));
        let label = |o, n| hint_of(Pts, &p, Event::NodeUpdated(o, n, NodeChange::Label));
        assert_eq!(label(&zoned, &moved), Some(true));
        assert_eq!(label(&plain, &zoned), Some(true));
        assert_eq!(label(&plain, &plain), Some(false));
    }

    /// Pod updates: a bound pod that lowers a request the pending pod
    /// asks for (NodeResourcesFit), and the pending pod's own tolerations
    /// (TaintToleration, NodeUnschedulable, and PodTopologySpread when a
    /// constraint honours taints).
    #[test]
    fn pod_updates_queue_for_room_and_own_tolerations() {
        use FilterPlugin as P;
        let p = pending("", "", "1");
        let big = other("x", "", "n", "").clone();
        let mut small = big.clone();
        Arc::make_mut(&mut small.spec).containers = pending("", "", "100m").spec.containers.clone();
        let scale = |target: &Pod, o: &Pod, n: &Pod| {
            hint_of(
                P::NodeResourcesFit,
                target,
                Event::PodUpdated(o, n, PodChange::ScaleDown),
            )
        };
        // 500m to 100m: cpu the pending pod asks for.
        assert_eq!(scale(&p, &big, &small), Some(true));
        let no_cpu = pod(
            "metadata: {name: p, namespace: default}\nspec: {containers: [{name: c, image: i, resources: {requests: {memory: 1Gi}}}]}",
        );
        assert_eq!(scale(&no_cpu, &big, &small), Some(false));
        // The pending pod itself scaled down.
        let smaller = pending("", "", "500m");
        assert_eq!(scale(&smaller, &p, &smaller), Some(true));
        let tolerant = pending(
            "",
            "tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoSchedule}], ",
            "1",
        );
        let own = |plugin, target: &Pod| {
            hint_of(
                plugin,
                target,
                Event::PodUpdated(&p, target, PodChange::Toleration),
            )
        };
        assert_eq!(own(P::TaintToleration, &tolerant), Some(true));
        assert_eq!(own(P::NodeUnschedulable, &tolerant), Some(true));
        let other_taint = pending("", "tolerations: [{key: k, operator: Exists}], ", "1");
        assert_eq!(own(P::NodeUnschedulable, &other_taint), Some(false));
        // Another pod's tolerations are none of the pending pod's business.
        assert_eq!(
            hint_of(
                P::TaintToleration,
                &p,
                Event::PodUpdated(&big, &small, PodChange::Toleration)
            ),
            Some(false)
        );
        let spread = |policy: &str, tolerations: &str| {
            pending(
                "app: web",
                &format!(
                    "{tolerations}topologySpreadConstraints: [{{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {{matchLabels: {{app: web}}}}{policy}}}], "
                ),
                "1",
            )
        };
        let before = spread(", nodeTaintsPolicy: Honor", "");
        let after = spread(
            ", nodeTaintsPolicy: Honor",
            "tolerations: [{key: k, operator: Exists}], ",
        );
        let pts = |o: &Pod, n: &Pod| {
            hint_of(
                P::PodTopologySpread,
                n,
                Event::PodUpdated(o, n, PodChange::Toleration),
            )
        };
        assert_eq!(pts(&before, &after), Some(true));
        let (before, after) = (
            spread("", ""),
            spread("", "tolerations: [{key: k, operator: Exists}], "),
        );
        assert_eq!(pts(&before, &after), Some(false));
    }

    /// Node updates the first tests leave out: more pods allowed, a
    /// spread domain's taints changed, a condition changed.
    #[test]
    fn more_node_updates() {
        use FilterPlugin as P;
        let p = pending(
            "app: web",
            "topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}], ",
            "1",
        );
        let few = node(&format!(
            "metadata: {{name: n}}\n{}",
            ALLOC.replace("'110'", "'1'")
        ));
        let many = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        assert_eq!(
            hint_of(
                P::NodeResourcesFit,
                &p,
                Event::NodeUpdated(&few, &many, NodeChange::Allocatable)
            ),
            Some(true)
        );
        let zoned = node(&format!(
            "metadata: {{name: n, labels: {{zone: a}}}}\n{ALLOC}"
        ));
        let tainted = node(&format!(
            "metadata: {{name: n, labels: {{zone: a}}}}\nspec: {{taints: [{{key: k, effect: NoSchedule}}]}}\n{ALLOC}"
        ));
        let taint = |o, n| {
            hint_of(
                P::PodTopologySpread,
                &p,
                Event::NodeUpdated(o, n, NodeChange::Taint),
            )
        };
        assert_eq!(taint(&zoned, &tainted), Some(true));
        assert_eq!(taint(&many, &many), Some(false));
        // No plugin of the profile registers a change of conditions.
        for plugin in FilterPlugin::ALL {
            assert_eq!(
                hint_of(
                    plugin,
                    &p,
                    Event::NodeUpdated(&many, &many, NodeChange::Condition)
                ),
                None,
                "{plugin:?}"
            );
        }
        let ready = |status: &'static str| {
            let Object::Node(mut n) = parse("kind: Node\nmetadata: {name: n}") else {
                unreachable!()
            };
            n.status.ready = Some(crate::api::node::NodeReady {
                status,
                reason: String::new(),
                last_transition: 0,
            });
            n
        };
        assert_eq!(
            node_changes(&ready("True"), &ready("False")),
            [NodeChange::Condition]
        );
    }

    /// InterPodAffinity's hints read no namespace labels: a term with a
    /// namespace selector that asks for a label selects no pod outside the
    /// term's own namespaces, an empty one selects every namespace.
    #[test]
    fn affinity_hints_read_no_namespace_labels() {
        use FilterPlugin::InterPodAffinity as Ipa;
        let wants = |ns_selector: &str| {
            pending(
                "",
                &format!(
                    "affinity: {{podAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {{matchLabels: {{app: db}}}}, topologyKey: zone, namespaceSelector: {ns_selector}}}]}}}}, "
                ),
                "1",
            )
        };
        let db_elsewhere = other("x", "app: db", "n", "");
        assert_eq!(
            hint_of(
                Ipa,
                &wants("{matchLabels: {team: a}}"),
                Event::PodAdded(&db_elsewhere)
            ),
            Some(false)
        );
        assert_eq!(
            hint_of(Ipa, &wants("{}"), Event::PodAdded(&db_elsewhere)),
            Some(true)
        );
    }

    /// The rejectors decide: a pod no plugin rejected is always worth a
    /// try; otherwise one rejecting plugin's Queue suffices.
    #[test]
    fn a_pod_is_worth_requeuing_when_a_plugin_that_rejected_it_says_queue() {
        let p = pending("", "nodeSelector: {disk: ssd}, ", "2");
        let big = node(&format!("metadata: {{name: n}}\n{ALLOC}"));
        let event = Event::NodeAdded(&big);
        assert!(worth_requeuing(&p, 0, event));
        assert!(worth_requeuing(&p, NO_REJECTOR, event));
        assert!(worth_requeuing(
            &p,
            bit(FilterPlugin::NodeResourcesFit),
            event
        ));
        assert!(!worth_requeuing(&p, bit(FilterPlugin::NodeAffinity), event));
        assert!(worth_requeuing(
            &p,
            bit(FilterPlugin::NodeAffinity) | bit(FilterPlugin::NodeResourcesFit),
            event
        ));
    }

    #[test]
    fn updates_are_split_by_kind_in_upstream_order() {
        let a = match parse(
            "kind: Node\nmetadata: {name: n}\nspec: {unschedulable: true}\nstatus: {allocatable: {cpu: '1'}}",
        ) {
            Object::Node(n) => n,
            _ => unreachable!(),
        };
        let b = match parse(
            "kind: Node\nmetadata: {name: n, labels: {a: b}}\nspec: {taints: [{key: k, effect: NoSchedule}]}\nstatus: {allocatable: {cpu: '2'}}",
        ) {
            Object::Node(n) => n,
            _ => unreachable!(),
        };
        use NodeChange::*;
        assert_eq!(node_changes(&a, &b), [Taint, Allocatable, Label, Taint]);
        // Cordoning is no event.
        assert_eq!(node_changes(&b, &b), []);
        let mut c = b.clone();
        c.spec.unschedulable = true;
        assert_eq!(node_changes(&b, &c), []);
        let web = other("default", "app: web", "n", "");
        let db = other("default", "app: db", "n", "");
        assert_eq!(pod_changes(&web, &db), [PodChange::Label]);
        assert_eq!(pod_changes(&web, &web), [PodChange::Other]);
        let big = pending("", "", "2");
        let small = pending("", "", "1");
        assert_eq!(pod_changes(&big, &small), [PodChange::ScaleDown]);
        assert_eq!(pod_changes(&small, &big), [PodChange::Other]);
    }
}
