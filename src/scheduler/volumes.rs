//! The volume plugins of the default profile, in its order:
//! VolumeRestrictions, NodeVolumeLimits, VolumeBinding and VolumeZone
//! (`pkg/scheduler/framework/plugins/{volumerestrictions,
//! nodevolumelimits, volumebinding, volumezone}`), over the scheduler's
//! informer caches of PersistentVolumeClaims, PersistentVolumes and
//! CSINodes ([`VolumeCache`]).
//!
//! A cycle resolves the pod's side once ([`PodVolumes::new`], the plugins'
//! PreFilter): a claim that does not exist, is being deleted, is Lost or
//! is not bound rejects the pod on every node
//! (UnschedulableAndUnresolvable);
//! otherwise each plugin that can reject some node runs per node
//! ([`PodVolumes::filter`]):
//! - VolumeRestrictions: an inline GCE PD or AWS EBS disk a pod on the
//!   node also uses (GCE: unless both read-only), and a ReadWriteOncePod
//!   claim any placed pod uses (every node, Unschedulable);
//! - NodeVolumeLimits: the node's CSINode limit per CSI driver against the
//!   distinct volumes of its pods and the pod's new ones (CSI volumes, and
//!   in-tree EBS, GCE PD and Azure Disk volumes where the CSINode lists
//!   their plugin as migrated);
//! - VolumeBinding: each bound claim's PersistentVolume exists and its
//!   node affinity selects the node;
//! - VolumeZone: the node's zone and region labels are among the
//!   volumes' labels' (values split on `__`).
//!
//! VolumeBinding's claims that wait for their pod (WaitForFirstConsumer)
//! are matched per node ([`PodVolumes::bindings`]): a volume of their
//! class that selects the node, else provisioning there; once the pod's
//! node is chosen, `mod.rs` assumes and writes the bindings and binds the
//! pod when the claims are bound.
//!
//! Simplified: no volume is scored (StorageCapacityScoring, off by
//! default upstream), allowedTopologies and CSIStorageCapacity are not
//! read; VolumeAttachments are not counted; the inline disk conflicts of
//! RBD and iSCSI volumes are not checked; a generic ephemeral volume's
//! claim is found by name without checking that the pod owns it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::api::volume::{
    ANN_SELECTED_NODE, CsiNode, PersistentVolume, PersistentVolumeClaim, PodVolume, StorageClass,
    VolumeSources,
};
use crate::api::{Labels, Object, Pod};
use crate::fasthash::HashMap;

use super::framework::{FilterPlugin, NodeInfo, Rejection};

/// VolumeRestrictions' reasons.
pub const DISK_CONFLICT: &str = "node(s) had no available disk";
pub const READ_WRITE_ONCE_POD_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";
/// NodeVolumeLimits' reason.
pub const MAX_VOLUME_COUNT: &str = "node(s) exceed max volume count";
/// VolumeBinding's reasons.
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// VolumeZone's reason.
pub const ZONE_CONFLICT: &str = "node(s) had no available volume zone";

/// The topology labels VolumeZone reads on a volume, in its order.
const ZONE_LABELS: [&str; 4] = [
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
];

/// The GA label of a beta one, read on a node that lacks the beta one.
fn ga_label(key: &str) -> Option<&'static str> {
    match key {
        "failure-domain.beta.kubernetes.io/zone" => Some("topology.kubernetes.io/zone"),
        "failure-domain.beta.kubernetes.io/region" => Some("topology.kubernetes.io/region"),
        _ => None,
    }
}

fn claim_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The scheduler's caches of the storage objects, and how many placed
/// pods use each claim (upstream's `PVCRefCounts`, summed over nodes).
#[derive(Default)]
pub struct VolumeCache {
    /// By namespace, then name.
    claims: HashMap<String, HashMap<String, Arc<Object>>>,
    volumes: HashMap<String, Arc<Object>>,
    csi_nodes: HashMap<String, Arc<Object>>,
    classes: HashMap<String, Arc<Object>>,
    claim_users: HashMap<String, u32>,
    /// VolumeBinding's assumptions (its Reserve) until the writes of its
    /// PreBind show through the informers: volumes by name, each with the
    /// claim (`namespace/name`) it is being bound to, and claims with the
    /// node chosen for their provisioning.
    assumed_volumes: HashMap<String, String>,
    assumed_nodes: HashMap<String, String>,
    /// Bumped by every change of a claim, volume or CSINode.
    generation: u64,
    /// Per node (by index), what NodeVolumeLimits reads of it, as the
    /// storage objects were at its generation: dropped when the node's
    /// pods change ([`VolumeCache::pods_changed`]), taken again when a
    /// storage object changed since.
    nodes: RefCell<Vec<Option<NodeVolumes>>>,
}

/// An attachable volume, owned: (in-tree plugin, driver, handle).
type Attached = (Option<&'static str>, String, String);

/// What NodeVolumeLimits reads of a node: its CSINode, the in-tree plugins
/// that CSINode lists as migrated (a bit each, [`migrated_bit`]), and the
/// attachable volumes of its pods, without repeats, sorted by (driver,
/// handle).
pub struct NodeVolumes {
    generation: u64,
    csi_node: Option<Arc<Object>>,
    migrated: u8,
    attached: Vec<Attached>,
}

/// The bit of an in-tree `plugin` in [`NodeVolumes::migrated`].
fn migrated_bit(plugin: &str) -> u8 {
    use crate::api::volume::{AWS_EBS_PLUGIN, AZURE_DISK_PLUGIN, GCE_PD_PLUGIN};
    match plugin {
        AWS_EBS_PLUGIN => 1,
        GCE_PD_PLUGIN => 2,
        AZURE_DISK_PLUGIN => 4,
        _ => 0,
    }
}

impl NodeVolumes {
    fn csi_node(&self) -> Option<&CsiNode> {
        match self.csi_node.as_deref() {
            Some(Object::CsiNode(n)) => Some(n),
            _ => None,
        }
    }

    /// Whether a volume of in-tree `plugin` (none: a CSI volume) counts
    /// on this node.
    fn counts(&self, plugin: Option<&str>) -> bool {
        plugin.is_none_or(|p| self.migrated & migrated_bit(p) != 0)
    }

    /// Whether a counted volume of the node's pods is (driver, handle).
    fn has(&self, driver: &str, handle: &str) -> bool {
        let a = &self.attached;
        let from = a.partition_point(|(_, d, h)| (d.as_str(), h.as_str()) < (driver, handle));
        a[from..]
            .iter()
            .take_while(|(_, d, h)| d == driver && h == handle)
            .any(|(p, _, _)| self.counts(*p))
    }

    /// How many distinct counted volumes of `driver` the node's pods use.
    fn count(&self, driver: &str) -> usize {
        let a = &self.attached;
        let from = a.partition_point(|(_, d, _)| d.as_str() < driver);
        let mut last: Option<&str> = None;
        let mut n = 0;
        for (p, _, h) in a[from..].iter().take_while(|(_, d, _)| d == driver) {
            if self.counts(*p) && last != Some(h.as_str()) {
                n += 1;
                last = Some(h);
            }
        }
        n
    }
}

impl VolumeCache {
    /// Takes a PersistentVolumeClaim, PersistentVolume or CSINode change
    /// into the cache.
    pub fn observe(&mut self, deleted: bool, obj: &Arc<Object>) {
        let m = obj.meta();
        let (map, key) = match &**obj {
            Object::PersistentVolumeClaim(_) => (
                self.claims.entry(m.namespace.to_string()).or_default(),
                m.name.to_string(),
            ),
            Object::PersistentVolume(_) => (&mut self.volumes, m.name.to_string()),
            Object::CsiNode(_) => (&mut self.csi_nodes, m.name.to_string()),
            Object::StorageClass(_) => (&mut self.classes, m.name.to_string()),
            _ => return,
        };
        if deleted {
            map.remove(&key);
        } else {
            map.insert(key, obj.clone());
        }
        self.generation += 1;
    }

    /// Node `node`'s placed pods changed.
    pub fn pods_changed(&mut self, node: usize) {
        if let Some(kept) = self.nodes.get_mut().get_mut(node) {
            *kept = None;
        }
    }

    /// Calls `f` with what NodeVolumeLimits reads of the node named
    /// `name` with `pods` on it; with `index`, they are all its placed
    /// pods, and what is read is kept for the next call.
    fn with_node<'a, R>(
        &self,
        index: Option<usize>,
        name: &str,
        pods: impl Iterator<Item = &'a Pod>,
        f: impl FnOnce(&NodeVolumes) -> R,
    ) -> R {
        let take = |pods: &mut dyn Iterator<Item = &'a Pod>| -> NodeVolumes {
            let csi_node = self.csi_nodes.get(name).cloned();
            let migrated = match csi_node.as_deref() {
                Some(Object::CsiNode(n)) => {
                    let key = crate::api::volume::ANN_MIGRATED_PLUGINS;
                    (n.metadata.annotations.get(key).map(String::as_str))
                        .unwrap_or("")
                        .split(',')
                        .fold(0, |m, p| m | migrated_bit(p))
                }
                _ => 0,
            };
            let mut attached = Vec::new();
            if csi_node.is_some() {
                for other in pods {
                    for v in &other.spec.volumes {
                        let ns = &other.metadata.namespace;
                        if let Some(a) = self.attachable(ns, &other.metadata.name, v) {
                            attached.push((a.plugin, a.driver.to_string(), a.handle.to_string()));
                        }
                    }
                }
            }
            attached.sort_unstable_by(|(p, d, h), (q, e, g)| (d, h, p).cmp(&(e, g, q)));
            attached.dedup();
            NodeVolumes {
                generation: self.generation,
                csi_node,
                migrated,
                attached,
            }
        };
        let mut pods = pods;
        let Some(i) = index else {
            return f(&take(&mut pods));
        };
        let mut kept = self.nodes.borrow_mut();
        if kept.len() <= i {
            kept.resize_with(i + 1, || None);
        }
        let entry = &mut kept[i];
        if entry
            .as_ref()
            .is_none_or(|e| e.generation != self.generation)
        {
            *entry = Some(take(&mut pods));
        }
        f(entry.as_ref().expect("just taken"))
    }

    pub fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        match (self.claims.get(namespace)?.get(name)).map(|o| &**o) {
            Some(Object::PersistentVolumeClaim(c)) => Some(c),
            _ => None,
        }
    }

    pub fn volume(&self, name: &str) -> Option<&PersistentVolume> {
        match self.volumes.get(name).map(|o| &**o) {
            Some(Object::PersistentVolume(v)) => Some(v),
            _ => None,
        }
    }

    pub fn class(&self, name: &str) -> Option<&StorageClass> {
        match self.classes.get(name).map(|o| &**o) {
            Some(Object::StorageClass(c)) => Some(c),
            _ => None,
        }
    }

    /// Whether claim `pvc` waits for a pod to be scheduled before it binds
    /// (it names no volume and its class's binding mode is
    /// WaitForFirstConsumer).
    fn delays(&self, pvc: &PersistentVolumeClaim) -> bool {
        pvc.volume().is_none()
            && self
                .class(pvc.class())
                .is_some_and(|c| c.waits_for_consumer())
    }

    /// The claim `namespace/name`'s node for its provisioning: its
    /// selected-node annotation, else the scheduler's assumption.
    fn selected_node<'a>(&'a self, pvc: &'a PersistentVolumeClaim) -> Option<&'a str> {
        let m = &pvc.metadata;
        (m.annotations.get(ANN_SELECTED_NODE))
            .or_else(|| self.assumed_nodes.get(&claim_key(&m.namespace, &m.name)))
            .map(String::as_str)
    }

    /// VolumeBinding's Reserve: `bindings` are assumed made.
    pub fn assume(&mut self, b: &Bindings) {
        for (volume, claim) in &b.volumes {
            self.assumed_volumes
                .insert(volume.clone(), claim_key(&claim.0, &claim.1));
        }
        for (claim, node) in &b.provisions {
            self.assumed_nodes
                .insert(claim_key(&claim.0, &claim.1), node.clone());
        }
        self.generation += 1;
    }

    /// Its Unreserve, or the end of its PreBind: the assumptions go.
    pub fn forget_assumed(&mut self, b: &Bindings) {
        for (volume, _) in &b.volumes {
            self.assumed_volumes.remove(volume);
        }
        for (claim, _) in &b.provisions {
            self.assumed_nodes.remove(&claim_key(&claim.0, &claim.1));
        }
        self.generation += 1;
    }

    /// Whether every claim of `b` is bound (upstream's `checkBindings`).
    pub fn all_bound(&self, b: &Bindings) -> bool {
        (b.volumes.iter().map(|(_, c)| c))
            .chain(b.provisions.iter().map(|(c, _)| c))
            .all(|(ns, name)| self.claim(ns, name).is_some_and(|c| c.fully_bound()))
    }

    /// Why the bindings `b` on node `labels` can no longer be made, as
    /// upstream's `checkBindings` says it: a volume given to another claim
    /// (its claimRef reset, or the claim bound elsewhere) or whose node
    /// affinity no longer selects the node.
    pub fn broken(&self, b: &Bindings, node: &str, labels: &Labels) -> Option<String> {
        for (volume, (ns, name)) in &b.volumes {
            let Some(v) = self.volume(volume) else {
                return Some(format!("pv {volume:?} not found"));
            };
            let ours = v.spec.claim_ref.as_ref().is_none_or(|r| {
                r.namespace.as_deref() == Some(ns.as_str())
                    && r.name.as_deref() == Some(name.as_str())
            });
            let elsewhere = self
                .claim(ns, name)
                .and_then(|c| c.volume())
                .is_some_and(|bound| bound != volume);
            if !ours || elsewhere {
                return Some(format!("ClaimRef got reset for pv {volume:?}"));
            }
            if let Some(r) = v
                .spec
                .node_affinity
                .as_ref()
                .and_then(|a| a.required.as_ref())
                && !r.matches("", labels)
            {
                return Some(format!(
                    "pv {volume:?} node affinity doesn't match node {node:?}"
                ));
            }
        }
        None
    }

    /// The writes of VolumeBinding's PreBind for `b`: each volume's claim
    /// reference, then each claim's selected node (against the informer's
    /// copies; `None` for an object gone).
    pub fn prebind_writes(&self, b: &Bindings) -> Option<Vec<crate::sim::Verb>> {
        use crate::api::volume::{ANN_BOUND_BY_CONTROLLER, ClaimRef};
        let mut writes = Vec::new();
        for (volume, (ns, name)) in &b.volumes {
            let mut v = self.volume(volume)?.clone();
            let claim = self.claim(ns, name)?;
            // Upstream's `GetBindVolumeToClaim`: marked bound by a
            // controller unless a user reserved it for the claim.
            let reserved = v.reserved_for(ns, name, claim.metadata.uid);
            v.spec.claim_ref = Some(ClaimRef {
                namespace: Some(ns.clone()),
                name: Some(name.clone()),
                uid: Some(claim.metadata.uid.to_string()),
            });
            if !reserved {
                Arc::make_mut(&mut v.metadata.annotations)
                    .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
            }
            writes.push(crate::sim::Verb::Update {
                key: crate::api::ObjectKey::new(crate::api::Kind::PersistentVolume, "", volume),
                precondition: Some(v.metadata.resource_version),
                object: Object::PersistentVolume(Box::new(v)),
            });
        }
        for ((ns, name), node) in &b.provisions {
            // Written even when it already names the node, as upstream.
            let mut c = self.claim(ns, name)?.clone();
            Arc::make_mut(&mut c.metadata.annotations)
                .insert(ANN_SELECTED_NODE.into(), node.clone());
            writes.push(crate::sim::Verb::Update {
                key: crate::api::ObjectKey::new(crate::api::Kind::PersistentVolumeClaim, ns, name),
                precondition: Some(c.metadata.resource_version),
                object: Object::PersistentVolumeClaim(Box::new(c)),
            });
        }
        Some(writes)
    }

    pub fn csi_node(&self, node: &str) -> Option<&CsiNode> {
        match self.csi_nodes.get(node).map(|o| &**o) {
            Some(Object::CsiNode(n)) => Some(n),
            _ => None,
        }
    }

    /// A pod placed on a node (`delta` 1) or taken off (-1): the claims
    /// its `persistentVolumeClaim` volumes name gain or lose a user.
    pub fn pod_placed(&mut self, pod: &Pod, delta: i32) {
        for v in &pod.spec.volumes {
            let Some(c) = &v.source.persistent_volume_claim else {
                continue;
            };
            let key = claim_key(&pod.metadata.namespace, &c.claim_name);
            if delta > 0 {
                *self.claim_users.entry(key).or_default() += 1;
            } else if let Some(n) = self.claim_users.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.claim_users.remove(&key);
                }
            }
        }
    }

    fn users(&self, namespace: &str, claim: &str) -> u32 {
        if self.claim_users.is_empty() {
            return 0;
        }
        (self.claim_users.get(&claim_key(namespace, claim)).copied()).unwrap_or(0)
    }

    /// The attachable volume `v` of a pod in `namespace` reads, if any:
    /// through its claim's bound volume, or inline. `None` for a claim or
    /// volume not found, one not bound, and sources no driver attaches.
    fn attachable<'a>(
        &'a self,
        namespace: &str,
        pod_name: &str,
        v: &'a PodVolume,
    ) -> Option<Attachable<'a>> {
        // Inline: only the in-tree disks migrate (an inline CSI volume is
        // not counted).
        let Some(claim) = v.claim_name(pod_name) else {
            return Attachable::of(&v.source);
        };
        let pvc = self.claim(namespace, &claim)?;
        let pv = self.volume(pvc.spec.volume_name.as_deref().filter(|n| !n.is_empty())?)?;
        Attachable::of(&pv.spec.source)
    }
}

/// A volume a CSI driver attaches to the node: a CSI volume (`plugin`
/// none), or an in-tree disk counted as its driver's where the node's
/// CSINode lists `plugin` as migrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Attachable<'a> {
    plugin: Option<&'static str>,
    driver: &'a str,
    handle: &'a str,
}

impl<'a> Attachable<'a> {
    fn of(source: &'a VolumeSources) -> Option<Attachable<'a>> {
        if let Some(csi) = &source.csi {
            return Some(Attachable {
                plugin: None,
                driver: &csi.driver,
                handle: &csi.volume_handle,
            });
        }
        let (plugin, driver, handle) = source.in_tree_disk()?;
        Some(Attachable {
            plugin: Some(plugin),
            driver,
            handle,
        })
    }
}

/// An inline disk of a pod, for VolumeRestrictions' conflicts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum InlineDisk {
    Gce { name: String, read_only: bool },
    Ebs { id: String },
}

fn inline_disks(pod: &Pod) -> Vec<InlineDisk> {
    let mut out = Vec::new();
    for v in &pod.spec.volumes {
        if let Some(g) = &v.source.gce_persistent_disk {
            out.push(InlineDisk::Gce {
                name: g.pd_name.clone(),
                read_only: g.read_only,
            });
        }
        if let Some(e) = &v.source.aws_elastic_block_store {
            out.push(InlineDisk::Ebs {
                id: e.volume_id.clone(),
            });
        }
    }
    out
}

fn disks_conflict(a: &InlineDisk, b: &InlineDisk) -> bool {
    match (a, b) {
        (
            InlineDisk::Gce {
                name: x,
                read_only: rx,
            },
            InlineDisk::Gce {
                name: y,
                read_only: ry,
            },
        ) => x == y && !(*rx && *ry),
        (InlineDisk::Ebs { id: x }, InlineDisk::Ebs { id: y }) => x == y,
        _ => false,
    }
}

/// A pod's side of the volume plugins for one cycle (their PreFilter).
#[derive(Default)]
pub struct PodVolumes {
    /// The first PreFilter rejection: plugin and message
    /// (UnschedulableAndUnresolvable on every node).
    pub rejected: Option<(FilterPlugin, String)>,
    /// The volume filters that may reject some node, in profile order.
    pub active: Vec<FilterPlugin>,
    namespace: String,
    /// VolumeRestrictions: the pod's inline disks, its ReadWriteOncePod
    /// claims, and how many of those placed pods use.
    inline: Vec<InlineDisk>,
    rwop: Vec<String>,
    rwop_in_use: u32,
    /// NodeVolumeLimits: the pod's attachable volumes (plugin, driver,
    /// handle).
    attach: Vec<(Option<&'static str>, String, String)>,
    /// VolumeBinding: the volumes of the bound claims (`None`: missing),
    /// and the claims that wait for a pod to be scheduled.
    bound: Vec<Option<Arc<Object>>>,
    delayed: Vec<Arc<Object>>,
    /// VolumeZone: each (label, values) of the volumes' topology.
    zones: Vec<(&'static str, BTreeSet<String>)>,
}

impl PodVolumes {
    /// Runs the enabled volume plugins' PreFilter for `pod`, in order.
    pub fn new(pod: &Pod, enabled: &[FilterPlugin], cache: &VolumeCache) -> PodVolumes {
        let mut pv = PodVolumes::default();
        if pod.spec.volumes.is_empty() || !enabled.iter().any(|p| p.reads_volumes()) {
            return pv;
        }
        let ns = pod.metadata.namespace.as_str();
        let pod_name = pod.metadata.name.as_str();
        pv.namespace = ns.to_string();
        let not_found = |claim: &str| format!("persistentvolumeclaim \"{claim}\" not found");
        for &plugin in enabled.iter().filter(|p| p.reads_volumes()) {
            let active = match plugin {
                FilterPlugin::VolumeRestrictions => {
                    for v in &pod.spec.volumes {
                        let Some(c) = &v.source.persistent_volume_claim else {
                            continue;
                        };
                        let Some(pvc) = cache.claim(ns, &c.claim_name) else {
                            pv.rejected = Some((plugin, not_found(&c.claim_name)));
                            return pv;
                        };
                        if pvc.read_write_once_pod() {
                            pv.rwop.push(c.claim_name.clone());
                        }
                    }
                    pv.rwop_in_use =
                        (pv.rwop.iter()).filter(|c| cache.users(ns, c) > 0).count() as u32;
                    pv.inline = inline_disks(pod);
                    !pv.inline.is_empty() || pv.rwop_in_use > 0
                }
                FilterPlugin::NodeVolumeLimits => {
                    pv.attach = (pod.spec.volumes.iter())
                        .filter_map(|v| cache.attachable(ns, pod_name, v))
                        .map(|a| (a.plugin, a.driver.to_string(), a.handle.to_string()))
                        .collect();
                    !pv.attach.is_empty()
                }
                FilterPlugin::VolumeBinding => {
                    let mut unbound = false;
                    for v in &pod.spec.volumes {
                        let Some(claim) = v.claim_name(pod_name) else {
                            continue;
                        };
                        let Some(pvc) = cache.claim(ns, &claim) else {
                            let message = if v.source.ephemeral.is_some() {
                                format!(
                                    "waiting for ephemeral volume controller to create the persistentvolumeclaim \"{claim}\""
                                )
                            } else {
                                not_found(&claim)
                            };
                            pv.rejected = Some((plugin, message));
                            return pv;
                        };
                        if pvc.status.phase == crate::api::volume::ClaimPhase::Lost {
                            pv.rejected = Some((
                                plugin,
                                format!(
                                    "persistentvolumeclaim \"{claim}\" bound to non-existent persistentvolume \"{}\"",
                                    pvc.spec.volume_name.as_deref().unwrap_or("")
                                ),
                            ));
                            return pv;
                        }
                        if pvc.metadata.deletion_timestamp.is_some() {
                            pv.rejected = Some((
                                plugin,
                                format!("persistentvolumeclaim \"{claim}\" is being deleted"),
                            ));
                            return pv;
                        }
                        if pvc.fully_bound() {
                            let name = pvc.spec.volume_name.as_deref().unwrap_or("");
                            pv.bound.push(cache.volumes.get(name).cloned());
                        } else if cache.delays(pvc) {
                            let c = cache.claims.get(ns).and_then(|m| m.get(&*claim));
                            pv.delayed.extend(c.cloned());
                        } else {
                            unbound = true;
                        }
                    }
                    if unbound {
                        pv.rejected = Some((plugin, UNBOUND_IMMEDIATE.to_string()));
                        return pv;
                    }
                    !pv.bound.is_empty() || !pv.delayed.is_empty()
                }
                FilterPlugin::VolumeZone => {
                    for v in &pod.spec.volumes {
                        let Some(c) = &v.source.persistent_volume_claim else {
                            continue;
                        };
                        let message = if c.claim_name.is_empty() {
                            Some("PersistentVolumeClaim had no name".to_string())
                        } else {
                            match cache.claim(ns, &c.claim_name) {
                                None => Some(not_found(&c.claim_name)),
                                Some(pvc) => {
                                    match pvc.spec.volume_name.as_deref().filter(|n| !n.is_empty())
                                    {
                                        None => match pvc.spec.storage_class_name.as_deref() {
                                            None | Some("") => Some("PersistentVolumeClaim had no pv name and storageClass name".to_string()),
                                            Some(class) => match cache.class(class) {
                                                None => Some(format!(
                                                    "storageclass.storage.k8s.io \"{class}\" not found"
                                                )),
                                                // Skipped: bound once scheduled.
                                                Some(c) if c.waits_for_consumer() => None,
                                                Some(_) => Some("PersistentVolume had no name".to_string()),
                                            },
                                        },
                                        Some(name) => match cache.volume(name) {
                                            None => Some(format!(
                                                "persistentvolume \"{name}\" not found"
                                            )),
                                            Some(vol) => {
                                                pv.zones.extend(zones_of(&vol.metadata.labels));
                                                None
                                            }
                                        },
                                    }
                                }
                            }
                        };
                        if let Some(message) = message {
                            pv.rejected = Some((plugin, message));
                            return pv;
                        }
                    }
                    !pv.zones.is_empty()
                }
                _ => false,
            };
            if active {
                pv.active.push(plugin);
            }
        }
        pv
    }

    /// Whether any volume filter runs per node.
    pub fn any(&self) -> bool {
        !self.active.is_empty()
    }

    /// `plugin`'s verdict on `node`, whose placed pods are `on_node`,
    /// less those in `removed` (a preemption's dry run); `index`, the
    /// node's index when `on_node` are all its placed pods (then what
    /// they attach is kept in the cache).
    pub fn filter<'a>(
        &self,
        plugin: FilterPlugin,
        node: &NodeInfo,
        index: Option<usize>,
        on_node: impl Iterator<Item = &'a Pod> + Clone,
        removed: &[&Pod],
        cache: &VolumeCache,
    ) -> Result<(), Rejection> {
        let reject = |reason: &'static str| Err(Rejection::new(plugin.name(), reason));
        match plugin {
            FilterPlugin::VolumeRestrictions => {
                if !self.inline.is_empty() {
                    for other in on_node.clone() {
                        let theirs = inline_disks(other);
                        if (self.inline.iter()).any(|a| theirs.iter().any(|b| disks_conflict(a, b)))
                        {
                            return reject(DISK_CONFLICT);
                        }
                    }
                }
                if self.rwop_in_use > 0 && self.rwop_conflict(removed, cache) {
                    return reject(READ_WRITE_ONCE_POD_CONFLICT);
                }
                Ok(())
            }
            FilterPlugin::NodeVolumeLimits => cache.with_node(index, &node.name, on_node, |nv| {
                // Without a CSINode, no limit.
                let Some(csi_node) = nv.csi_node() else {
                    return Ok(());
                };
                let new = &self.attach;
                // The pod's volume `k` is new here: counted, not an
                // earlier one of its own, not one the node's pods use.
                let fresh = |k: usize| {
                    let (p, d, h) = &new[k];
                    nv.counts(*p)
                        && !(new[..k].iter()).any(|(q, e, g)| nv.counts(*q) && e == d && g == h)
                        && !nv.has(d, h)
                };
                for k in 0..new.len() {
                    let driver = &new[k].1;
                    // Each driver once, at its first new volume.
                    if !fresh(k) || (0..k).any(|j| new[j].1 == *driver && fresh(j)) {
                        continue;
                    }
                    let Some(limit) = csi_node.limit(driver) else {
                        continue;
                    };
                    let wanted = (k..new.len())
                        .filter(|&j| new[j].1 == *driver && fresh(j))
                        .count();
                    if (nv.count(driver) + wanted) as i64 > limit {
                        return reject(MAX_VOLUME_COUNT);
                    }
                }
                Ok(())
            }),
            FilterPlugin::VolumeBinding => {
                // Upstream's `FindPodVolumes`: the bound claims' verdict
                // (the first volume missing or not selecting the node),
                // then the waiting claims', every reason reported.
                let mut bound_reason = None;
                for v in &self.bound {
                    let Some(Object::PersistentVolume(vol)) = v.as_deref() else {
                        bound_reason = Some(PV_NOT_EXIST);
                        break;
                    };
                    if let Some(required) = vol
                        .spec
                        .node_affinity
                        .as_ref()
                        .and_then(|a| a.required.as_ref())
                        // Upstream's CheckNodeAffinity matches a node of
                        // the labels alone, its name empty.
                        && !required.matches("", &node.labels)
                    {
                        bound_reason = Some(NODE_CONFLICT);
                        break;
                    }
                }
                let unbound_reason = (!self.delayed.is_empty())
                    .then(|| self.bindings(&node.name, &node.labels, cache).err())
                    .flatten();
                // In upstream's order: node conflict, bind conflict, PV
                // missing.
                let mut reasons: Vec<&'static str> = Vec::new();
                reasons.extend(bound_reason.filter(|r| *r == NODE_CONFLICT));
                reasons.extend(unbound_reason);
                reasons.extend(bound_reason.filter(|r| *r == PV_NOT_EXIST));
                match reasons.split_first() {
                    None => Ok(()),
                    Some((first, rest)) => {
                        let mut r = Rejection::new(plugin.name(), *first);
                        r.more.extend(rest.iter().map(|&m| m.into()));
                        Err(r)
                    }
                }
            }
            FilterPlugin::VolumeZone => {
                let labels = &node.labels;
                if !ZONE_LABELS.iter().any(|k| labels.contains_key(*k)) {
                    return Ok(());
                }
                for (key, values) in &self.zones {
                    let value = labels
                        .get(*key)
                        .or_else(|| ga_label(key).and_then(|g| labels.get(g)));
                    if !value.is_some_and(|v| values.contains(v)) {
                        return reject(ZONE_CONFLICT);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether some of the pod's claims wait for it to be scheduled.
    pub fn has_delayed(&self) -> bool {
        !self.delayed.is_empty()
    }

    /// VolumeBinding's `FindPodVolumes` for the pod's claims that wait for
    /// it, on node `node_name` with `labels`: a claim whose provisioning
    /// chose a node goes to that node only; the others, smallest request
    /// first, each take the smallest Available volume of their class that
    /// selects the node (one reserved for the claim first), no volume twice,
    /// or else are provisioned there if their class has a provisioner.
    pub fn bindings(
        &self,
        node_name: &str,
        labels: &Labels,
        cache: &VolumeCache,
    ) -> Result<Bindings, &'static str> {
        use crate::controllers::persistentvolume::{NO_PROVISIONER, find_matching};
        let mut b = Bindings::default();
        let mut rest: Vec<&PersistentVolumeClaim> = Vec::new();
        let id = |c: &PersistentVolumeClaim| {
            (
                c.metadata.namespace.to_string(),
                c.metadata.name.to_string(),
            )
        };
        for o in &self.delayed {
            let Object::PersistentVolumeClaim(c) = &**o else {
                continue;
            };
            match cache.selected_node(c) {
                Some(n) if n != node_name => return Err(BIND_CONFLICT),
                Some(_) => b.provisions.push((id(c), node_name.to_string())),
                None => rest.push(c),
            }
        }
        rest.sort_by_key(|c| c.request().map_or(0, |q| q.value()));
        for c in rest {
            let key = claim_key(&c.metadata.namespace, &c.metadata.name);
            let chosen = &b.volumes;
            let excluded = |name: &str| {
                chosen.iter().any(|(v, _)| v == name)
                    || cache.assumed_volumes.get(name).is_some_and(|k| *k != key)
            };
            // A volume assumed for this claim (by another pod's binding in
            // flight) reads as reserved for it, as upstream's assume cache
            // shows it: it then wins, or fails the node.
            let mut assumed: Vec<&String> = (cache.assumed_volumes.iter())
                .filter(|(_, k)| **k == key)
                .map(|(v, _)| v)
                .collect();
            assumed.sort_unstable();
            let reserved = assumed.first().and_then(|v| cache.volume(v)).map(|v| {
                let mut v = v.clone();
                v.spec.claim_ref = Some(crate::api::volume::ClaimRef {
                    namespace: Some(c.metadata.namespace.to_string()),
                    name: Some(c.metadata.name.to_string()),
                    uid: Some(c.metadata.uid.to_string()),
                });
                v
            });
            let volumes = reserved.iter().chain(
                cache
                    .volumes
                    .values()
                    .filter_map(|o| match &**o {
                        Object::PersistentVolume(v) => Some(&**v),
                        _ => None,
                    })
                    .filter(|v| {
                        reserved
                            .as_ref()
                            .is_none_or(|r| r.metadata.name != v.metadata.name)
                    }),
            );
            match find_matching(c, volumes, Some(labels), true, &excluded) {
                Some(v) => {
                    let name = v.metadata.name.to_string();
                    b.volumes.push((name, id(c)));
                }
                None => b.provisions.push((id(c), node_name.to_string())),
            }
        }
        for ((ns, name), _) in &b.provisions {
            let provisionable = (cache.claim(ns, name))
                .and_then(|c| cache.class(c.class()))
                .is_some_and(|sc| {
                    !sc.class.provisioner.is_empty() && sc.class.provisioner != NO_PROVISIONER
                });
            if !provisionable {
                return Err(BIND_CONFLICT);
            }
        }
        Ok(b)
    }

    /// Whether one of the pod's ReadWriteOncePod claims is in use by a
    /// placed pod not in `removed` (upstream's count, less the victims'
    /// uses in a dry run).
    fn rwop_conflict(&self, removed: &[&Pod], cache: &VolumeCache) -> bool {
        self.rwop.iter().any(|c| {
            let gone = (removed.iter())
                .filter(|p| p.metadata.namespace == self.namespace)
                .flat_map(|p| &p.spec.volumes)
                .filter(|v| {
                    (v.source.persistent_volume_claim.as_ref()).is_some_and(|s| s.claim_name == *c)
                })
                .count() as u32;
            cache.users(&self.namespace, c) > gone
        })
    }
}

/// What VolumeBinding's Reserve assumes and its PreBind writes for a pod
/// on a node: volumes bound to claims (volume, (namespace, claim)), and
/// claims to provision there ((namespace, claim), node).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bindings {
    pub volumes: Vec<(String, (String, String))>,
    pub provisions: Vec<((String, String), String)>,
}

/// VolumeZone: a volume's topology labels, each value a set split on
/// `__` (a value with an empty part is ignored).
fn zones_of(labels: &Labels) -> Vec<(&'static str, BTreeSet<String>)> {
    let mut out = Vec::new();
    for key in ZONE_LABELS {
        let Some(value) = labels.get(key) else {
            continue;
        };
        let parts: Vec<&str> = value.split("__").map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            continue;
        }
        out.push((key, parts.into_iter().map(str::to_string).collect()));
    }
    out
}

/// Whether `pod` has a volume any of the volume plugins reads.
pub fn reads_volumes(pod: &Pod) -> bool {
    pod.spec.volumes.iter().any(|v| {
        v.source.persistent_volume_claim.is_some()
            || v.source.ephemeral.is_some()
            || v.source.in_tree_disk().is_some()
    })
}

/// VolumeRestrictions' hint on a placed pod deleted: it shared a claim
/// or conflicted on an inline disk.
pub fn shares_with(pod: &Pod, gone: &Pod) -> bool {
    if gone.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let mine: Vec<&str> = (pod.spec.volumes.iter())
        .filter_map(|v| v.source.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
        .collect();
    let theirs = (gone.spec.volumes.iter())
        .filter_map(|v| v.source.persistent_volume_claim.as_ref())
        .any(|c| mine.contains(&c.claim_name.as_str()));
    let (a, b) = (inline_disks(pod), inline_disks(gone));
    theirs || a.iter().any(|x| b.iter().any(|y| disks_conflict(x, y)))
}

/// VolumeZone's hint on a PersistentVolume updated: its topology changed.
pub fn zones_changed(old: &PersistentVolume, new: &PersistentVolume) -> bool {
    zones_of(&old.metadata.labels) != zones_of(&new.metadata.labels)
}

/// NodeVolumeLimits' hint on a CSINode updated: some driver may attach
/// more volumes.
pub fn limits_rose(old: &CsiNode, new: &CsiNode) -> bool {
    // A driver's limit raised or gone (with its entry, or its count).
    old.spec.drivers.iter().any(|d| {
        let Some(was) = old.limit(&d.name) else {
            return false;
        };
        new.limit(&d.name).is_none_or(|is| is > was)
    })
}

/// VolumeBinding's hint on a CSINode updated: its migrated plugins changed.
pub fn migration_changed(old: &CsiNode, new: &CsiNode) -> bool {
    let key = crate::api::volume::ANN_MIGRATED_PLUGINS;
    old.metadata.annotations.get(key) != new.metadata.annotations.get(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Manifest;

    fn object(yaml: &str) -> Arc<Object> {
        Arc::new(
            serde_yaml::from_str::<Manifest>(yaml)
                .unwrap()
                .object
                .unwrap(),
        )
    }

    fn handles(cache: &VolumeCache, node: Option<usize>, pods: &[&Pod]) -> Vec<String> {
        cache.with_node(node, "n", pods.iter().copied(), |nv| {
            (nv.attached.iter())
                .map(|(_, d, h)| format!("{d}/{h}"))
                .collect()
        })
    }

    /// NodeVolumeLimits' hint on a CSINode update: a limit raised or
    /// removed may let a pod fit; one lowered or added may not.
    #[test]
    fn csinode_updates_queue_when_a_limit_rises_or_goes() {
        let node = |drivers: &str| match &*object(&format!(
            "kind: CSINode\nmetadata: {{name: n}}\nspec: {{drivers: [{drivers}]}}\n"
        )) {
            Object::CsiNode(n) => (**n).clone(),
            _ => unreachable!(),
        };
        let two = node("{name: d, nodeID: n, allocatable: {count: 2}}");
        let three = node("{name: d, nodeID: n, allocatable: {count: 3}}");
        let unlimited = node("{name: d, nodeID: n}");
        let none = node("");
        assert!(limits_rose(&two, &three));
        assert!(!limits_rose(&three, &two));
        assert!(limits_rose(&two, &unlimited));
        assert!(limits_rose(&two, &none));
        assert!(!limits_rose(&none, &two));
        assert!(!limits_rose(&two, &two));
    }

    /// A node's attachable volumes are kept until its pods change or a
    /// claim or volume does: a volume created after its pod was placed
    /// counts from then on.
    #[test]
    fn a_nodes_attached_volumes_follow_claims_volumes_and_pods() {
        let mut cache = VolumeCache::default();
        cache.observe(
            false,
            &object(
                "kind: CSINode\nmetadata: {name: n}\nspec: {drivers: [{name: d, nodeID: n}]}\n",
            ),
        );
        let claim = |n: &str| {
            object(&format!(
                "kind: PersistentVolumeClaim\nmetadata: {{name: c{n}, annotations: {{pv.kubernetes.io/bind-completed: 'yes'}}}}\nspec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}, volumeName: v{n}}}\n"
            ))
        };
        let volume = |n: &str| {
            object(&format!(
                "kind: PersistentVolume\nmetadata: {{name: v{n}}}\nspec: {{capacity: {{storage: 1Gi}}, accessModes: [ReadWriteOnce], csi: {{driver: d, volumeHandle: h{n}}}}}\n"
            ))
        };
        let pod = |n: &str| {
            object(&format!(
                "kind: Pod\nmetadata: {{name: p{n}}}\nspec: {{containers: [{{name: c, image: x}}], volumes: [{{name: v, persistentVolumeClaim: {{claimName: c{n}}}}}]}}\n"
            ))
        };
        let (p1, p2) = (pod("1"), pod("2"));
        let (p1, p2) = (p1.as_pod().unwrap(), p2.as_pod().unwrap());
        cache.observe(false, &claim("1"));
        cache.observe(false, &claim("2"));
        assert!(handles(&cache, Some(0), &[p1]).is_empty(), "no volume yet");
        cache.observe(false, &volume("1"));
        assert_eq!(handles(&cache, Some(0), &[p1]), ["d/h1"]);
        cache.observe(false, &volume("2"));
        cache.pods_changed(0);
        assert_eq!(handles(&cache, Some(0), &[p1, p2]), ["d/h1", "d/h2"]);
        // Another node, and a dry run's list, are their own.
        assert_eq!(handles(&cache, Some(1), &[p2]), ["d/h2"]);
        assert_eq!(handles(&cache, None, &[]), Vec::<String>::new());
        cache.observe(true, &volume("1"));
        assert_eq!(handles(&cache, Some(0), &[p1, p2]), ["d/h2"]);
    }
}
