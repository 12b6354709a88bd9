//! The scheduler's cache of nodes (requested resources, host ports and
//! images kept up to date incrementally, like kube-scheduler's NodeInfo) and
//! the per-node plugins: the NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity, NodePorts and NodeResourcesFit filters; NodeResourcesFit
//! (LeastAllocated, MostAllocated, RequestedToCapacityRatio),
//! NodeResourcesBalancedAllocation, TaintToleration, NodeAffinity and
//! ImageLocality scores, with upstream's normalization. The plugins that
//! look at other pods (PodTopologySpread, InterPodAffinity) are in
//! `topology`.

use crate::fasthash::HashMap;
use std::sync::Arc;

use crate::api::pod::{Pod, PreferredSchedulingTerm, Taint, TaintEffect, tolerated};
use crate::api::resources::{Resources, node_allocatable, pod_nonzero_requests, pod_requests};
use crate::api::selector::map_matches;
use crate::api::{Labels, Node};

/// `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// One node as the scheduler sees it.
#[derive(Clone)]
pub struct NodeInfo {
    pub name: Arc<str>,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// TaintToleration's reason for each of `taints`, made once.
    pub taint_reasons: Vec<Arc<str>>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub requested: Resources,
    pub nonzero_cpu: i64,
    pub nonzero_memory: i64,
    pub pods: i64,
    /// Host ports in use, as (protocol, port), one entry per pod port.
    pub host_ports: Vec<(Protocol, i32)>,
    /// Images present (normalized names) and their sizes in bytes, sorted
    /// by name, one entry per name. The scheduler also keeps them by image
    /// as [`ImageColumns`], which is what ImageLocality reads.
    pub images: Vec<(String, i64)>,
}

/// A host port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    fn parse(s: Option<&str>) -> Protocol {
        match s {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }
}

/// Upstream `normalizedImageName`: a name without a tag gets `:latest`.
pub fn normalized_image_name(name: &str) -> std::borrow::Cow<'_, str> {
    let colon = name.rfind(':').map_or(-1, |i| i as i64);
    let slash = name.rfind('/').map_or(-1, |i| i as i64);
    if colon <= slash {
        std::borrow::Cow::Owned(format!("{name}:latest"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

impl NodeInfo {
    pub fn new(node: &Node) -> Self {
        let mut info = NodeInfo {
            name: Arc::from(node.metadata.name.as_str()),
            labels: Labels::new(),
            taints: Vec::new(),
            taint_reasons: Vec::new(),
            unschedulable: false,
            allocatable: Resources::default(),
            allowed_pods: 0,
            requested: Resources::default(),
            nonzero_cpu: 0,
            nonzero_memory: 0,
            pods: 0,
            host_ports: Vec::new(),
            images: Vec::new(),
        };
        info.update(node);
        info
    }

    /// Takes the node object's new labels, taints and allocatable.
    pub fn update(&mut self, node: &Node) {
        self.labels = (*node.metadata.labels).clone();
        self.taints = node.spec.taints.clone();
        self.taint_reasons = (self.taints.iter())
            .map(|t| {
                Arc::from(format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key, t.value
                ))
            })
            .collect();
        self.unschedulable = node.spec.unschedulable;
        let (alloc, pods) = node_allocatable(node);
        self.allocatable = alloc;
        self.allowed_pods = pods;
        self.images.clear();
        for image in &node.status.images {
            for name in &image.names {
                self.images
                    .push((normalized_image_name(name).into_owned(), image.size_bytes));
            }
        }
        self.images.sort();
        self.images.dedup_by(|a, b| a.0 == b.0);
    }

    pub fn add_pod(&mut self, p: &PodResources) {
        self.requested.add(&p.requests);
        self.nonzero_cpu += p.nonzero_cpu;
        self.nonzero_memory += p.nonzero_memory;
        self.pods += 1;
        self.host_ports.extend_from_slice(&p.host_ports);
    }

    pub fn remove_pod(&mut self, p: &PodResources) {
        self.requested.sub(&p.requests);
        self.nonzero_cpu -= p.nonzero_cpu;
        self.nonzero_memory -= p.nonzero_memory;
        self.pods -= 1;
        for hp in &p.host_ports {
            if let Some(k) = self.host_ports.iter().position(|x| x == hp) {
                self.host_ports.swap_remove(k);
            }
        }
    }
}

/// A pod's requests, computed once per pod.
#[derive(Clone, Debug)]
pub struct PodResources {
    pub requests: Resources,
    pub nonzero_cpu: i64,
    pub nonzero_memory: i64,
    /// The containers' host ports (hostPort > 0).
    pub host_ports: Vec<(Protocol, i32)>,
    /// The normalized image names of init containers and containers.
    pub images: Vec<String>,
}

impl PodResources {
    pub fn of(pod: &Pod) -> Self {
        let (nonzero_cpu, nonzero_memory) = pod_nonzero_requests(&pod.spec);
        let host_ports = pod_host_ports(pod).collect();
        let images = pod
            .spec
            .init_containers
            .iter()
            .chain(pod.spec.containers.iter())
            .map(|c| normalized_image_name(&c.image).into_owned())
            .collect();
        PodResources {
            requests: pod_requests(&pod.spec),
            nonzero_cpu,
            nonzero_memory,
            host_ports,
            images,
        }
    }
}

/// The containers' host ports (hostPort > 0), by protocol.
pub fn pod_host_ports(pod: &Pod) -> impl Iterator<Item = (Protocol, i32)> + '_ {
    pod.spec
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter_map(|p| {
            p.host_port
                .filter(|&hp| hp > 0)
                .map(|hp| (Protocol::parse(p.protocol.as_deref()), hp))
        })
}

/// The part of a [`NodeInfo`] the cycle's filters and default scores read
/// most, copied into a small row so that the scheduler's per-node loops
/// read one contiguous 64-byte element per node (its `rows`, indexed like
/// its nodes) and only go to the full `NodeInfo` when the row says they
/// must: a node with NoSchedule/NoExecute taints, host ports in use, a pod
/// that requests extended resources, and so on. The scheduler rebuilds a
/// node's row with [`NodeRow::of`] after every change to the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeRow {
    pub allocatable_cpu: i64,
    pub allocatable_memory: i64,
    /// Allocatable minus requested cpu (wrapping: the requested cpu is
    /// `allocatable_cpu.wrapping_sub(free_cpu)`), so that the filter's
    /// per-node test is one comparison.
    pub free_cpu: i64,
    /// Allocatable minus requested memory, like `free_cpu`.
    pub free_memory: i64,
    /// Allocatable minus requested ephemeral storage.
    pub free_ephemeral_storage: i64,
    pub nonzero_cpu: i64,
    pub nonzero_memory: i64,
    /// [`NodeRow::ROOM`] and the other bits.
    pub flags: u8,
}

// One cache line.
const _: () = assert!(std::mem::size_of::<NodeRow>() <= 64);

impl NodeRow {
    /// Fewer pods than allowed.
    pub const ROOM: u8 = 1;
    /// `spec.unschedulable`.
    pub const UNSCHEDULABLE: u8 = 2;
    /// Some NoSchedule or NoExecute taint.
    pub const HARD_TAINTS: u8 = 4;
    /// Some PreferNoSchedule taint.
    pub const SOFT_TAINTS: u8 = 8;
    /// Some host port in use.
    pub const HOST_PORTS: u8 = 16;

    pub fn of(node: &NodeInfo) -> Self {
        let mut flags = 0;
        let mut set = |bit: u8, on: bool| {
            if on {
                flags |= bit;
            }
        };
        set(Self::ROOM, node.pods < node.allowed_pods);
        set(Self::UNSCHEDULABLE, node.unschedulable);
        set(
            Self::HARD_TAINTS,
            node.taints
                .iter()
                .any(|t| t.effect != TaintEffect::PreferNoSchedule),
        );
        set(
            Self::SOFT_TAINTS,
            node.taints
                .iter()
                .any(|t| t.effect == TaintEffect::PreferNoSchedule),
        );
        set(Self::HOST_PORTS, !node.host_ports.is_empty());
        NodeRow {
            allocatable_cpu: node.allocatable.milli_cpu,
            allocatable_memory: node.allocatable.memory,
            free_cpu: node
                .allocatable
                .milli_cpu
                .wrapping_sub(node.requested.milli_cpu),
            free_memory: node.allocatable.memory.wrapping_sub(node.requested.memory),
            free_ephemeral_storage: node
                .allocatable
                .ephemeral_storage
                .wrapping_sub(node.requested.ephemeral_storage),
            nonzero_cpu: node.nonzero_cpu,
            nonzero_memory: node.nonzero_memory,
            flags,
        }
    }

    /// The node's requested cpu (`NodeInfo::requested.milli_cpu`).
    #[inline(always)]
    pub fn requested_cpu(&self) -> i64 {
        self.allocatable_cpu.wrapping_sub(self.free_cpu)
    }

    /// The node's requested memory (`NodeInfo::requested.memory`).
    #[inline(always)]
    pub fn requested_memory(&self) -> i64 {
        self.allocatable_memory.wrapping_sub(self.free_memory)
    }

    #[inline(always)]
    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }
}

/// One reason a filter gives for rejecting a node, in upstream's words:
/// a fixed text, or the node's own (an untolerated taint's, made when the
/// node changes and shared), so that a cycle that rejects thousands of
/// nodes allocates and formats nothing for them. Compared and ordered as
/// its text.
#[derive(Clone, Debug)]
pub enum Reason {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl std::ops::Deref for Reason {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Reason::Static(s) => s,
            Reason::Shared(s) => s,
            Reason::Owned(s) => s,
        }
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Self) -> bool {
        let (a, b): (&str, &str) = (self, other);
        // The same text most often: the same fixed text or shared one.
        std::ptr::eq(a, b) || a == b
    }
}

impl Eq for Reason {}

impl PartialOrd for Reason {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Reason {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<&'static str> for Reason {
    fn from(s: &'static str) -> Self {
        Reason::Static(s)
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Self {
        Reason::Owned(s)
    }
}

/// Why a filter rejected a node, in upstream's words: its first reason
/// and any others (NodeResourcesFit names every insufficient resource).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejection {
    pub plugin: &'static str,
    pub reason: Reason,
    pub more: Vec<Reason>,
}

impl Rejection {
    pub fn new(plugin: &'static str, reason: impl Into<Reason>) -> Self {
        Rejection {
            plugin,
            reason: reason.into(),
            more: Vec::new(),
        }
    }

    /// Every reason, the first first.
    pub fn reasons(&self) -> impl Iterator<Item = &Reason> {
        std::iter::once(&self.reason).chain(&self.more)
    }

    /// The reasons joined by `sep`.
    pub fn joined(&self, sep: &str) -> String {
        let texts: Vec<&str> = self.reasons().map(|r| &**r).collect();
        texts.join(sep)
    }
}

/// The filter plugins, in the order of the default profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilterPlugin {
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    VolumeRestrictions,
    NodeVolumeLimits,
    VolumeBinding,
    VolumeZone,
    PodTopologySpread,
    InterPodAffinity,
}

impl FilterPlugin {
    pub const ALL: [FilterPlugin; 12] = [
        FilterPlugin::NodeUnschedulable,
        FilterPlugin::NodeName,
        FilterPlugin::TaintToleration,
        FilterPlugin::NodeAffinity,
        FilterPlugin::NodePorts,
        FilterPlugin::NodeResourcesFit,
        FilterPlugin::VolumeRestrictions,
        FilterPlugin::NodeVolumeLimits,
        FilterPlugin::VolumeBinding,
        FilterPlugin::VolumeZone,
        FilterPlugin::PodTopologySpread,
        FilterPlugin::InterPodAffinity,
    ];

    /// The plugins that read the scheduler's volume caches
    /// (`volumes.rs`), not the node alone.
    pub fn reads_volumes(self) -> bool {
        matches!(
            self,
            FilterPlugin::VolumeRestrictions
                | FilterPlugin::NodeVolumeLimits
                | FilterPlugin::VolumeBinding
                | FilterPlugin::VolumeZone
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            FilterPlugin::NodeUnschedulable => "NodeUnschedulable",
            FilterPlugin::NodeName => "NodeName",
            FilterPlugin::TaintToleration => "TaintToleration",
            FilterPlugin::NodeAffinity => "NodeAffinity",
            FilterPlugin::NodePorts => "NodePorts",
            FilterPlugin::NodeResourcesFit => "NodeResourcesFit",
            FilterPlugin::VolumeRestrictions => "VolumeRestrictions",
            FilterPlugin::NodeVolumeLimits => "NodeVolumeLimits",
            FilterPlugin::VolumeBinding => "VolumeBinding",
            FilterPlugin::VolumeZone => "VolumeZone",
            FilterPlugin::PodTopologySpread => "PodTopologySpread",
            FilterPlugin::InterPodAffinity => "InterPodAffinity",
        }
    }
}

/// The score plugins, in the order of the default profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScorePlugin {
    TaintToleration,
    NodeAffinity,
    NodeResourcesFit,
    PodTopologySpread,
    InterPodAffinity,
    NodeResourcesBalancedAllocation,
    ImageLocality,
}

/// How many score plugins there are (the width of a score row).
pub const NUM_SCORE_PLUGINS: usize = 7;

impl ScorePlugin {
    pub const ALL: [ScorePlugin; NUM_SCORE_PLUGINS] = [
        ScorePlugin::TaintToleration,
        ScorePlugin::NodeAffinity,
        ScorePlugin::NodeResourcesFit,
        ScorePlugin::PodTopologySpread,
        ScorePlugin::InterPodAffinity,
        ScorePlugin::NodeResourcesBalancedAllocation,
        ScorePlugin::ImageLocality,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScorePlugin::TaintToleration => "TaintToleration",
            ScorePlugin::NodeAffinity => "NodeAffinity",
            ScorePlugin::NodeResourcesFit => "NodeResourcesFit",
            ScorePlugin::PodTopologySpread => "PodTopologySpread",
            ScorePlugin::InterPodAffinity => "InterPodAffinity",
            ScorePlugin::NodeResourcesBalancedAllocation => "NodeResourcesBalancedAllocation",
            ScorePlugin::ImageLocality => "ImageLocality",
        }
    }

    /// The weight in the default profile.
    pub fn default_weight(self) -> i64 {
        match self {
            ScorePlugin::TaintToleration => 3,
            ScorePlugin::NodeAffinity
            | ScorePlugin::PodTopologySpread
            | ScorePlugin::InterPodAffinity => 2,
            _ => 1,
        }
    }
}

/// NodeResourcesFit's scoring strategy (`scoringStrategy.type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FitStrategy {
    LeastAllocated,
    MostAllocated,
    /// Utilization (0..100) to score (0..10) points, utilization increasing;
    /// scores are scaled by 10 as upstream.
    RequestedToCapacityRatio(Vec<(i64, i64)>),
}

/// `scoringStrategy`: the strategy and the resources it weighs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitScoring {
    pub strategy: FitStrategy,
    pub resources: Vec<(String, i64)>,
}

impl Default for FitScoring {
    fn default() -> Self {
        FitScoring {
            strategy: FitStrategy::LeastAllocated,
            resources: vec![("cpu".into(), 1), ("memory".into(), 1)],
        }
    }
}

const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Runs one of the per-node filters.
pub fn filter_one(
    plugin: FilterPlugin,
    pod: &Pod,
    res: &PodResources,
    node: &NodeInfo,
) -> Result<(), Rejection> {
    match plugin {
        FilterPlugin::NodeUnschedulable => {
            // Unless the pod tolerates the unschedulable taint.
            if node.unschedulable {
                let taint = Taint {
                    key: TAINT_UNSCHEDULABLE.into(),
                    value: String::new(),
                    effect: TaintEffect::NoSchedule,
                };
                if !tolerated(&pod.spec.tolerations, &taint) {
                    return Err(Rejection::new(
                        "NodeUnschedulable",
                        "node(s) were unschedulable",
                    ));
                }
            }
            Ok(())
        }
        FilterPlugin::NodeName => match pod.spec.node_name() {
            Some(name) if name != &*node.name => Err(Rejection::new(
                "NodeName",
                "node(s) didn't match the requested node name",
            )),
            _ => Ok(()),
        },
        FilterPlugin::TaintToleration => {
            // The first untolerated NoSchedule or NoExecute taint.
            match node.taints.iter().position(|t| {
                t.effect != TaintEffect::PreferNoSchedule && !tolerated(&pod.spec.tolerations, t)
            }) {
                Some(k) => Err(Rejection::new(
                    "TaintToleration",
                    Reason::Shared(node.taint_reasons[k].clone()),
                )),
                None => Ok(()),
            }
        }
        FilterPlugin::NodeAffinity => {
            if node_affinity_matches(pod, node) {
                Ok(())
            } else {
                Err(Rejection::new(
                    "NodeAffinity",
                    "node(s) didn't match Pod's node affinity/selector",
                ))
            }
        }
        FilterPlugin::NodePorts => {
            if res.host_ports.iter().any(|hp| node.host_ports.contains(hp)) {
                Err(Rejection::new(
                    "NodePorts",
                    "node(s) didn't have free ports for the requested pod ports",
                ))
            } else {
                Ok(())
            }
        }
        FilterPlugin::NodeResourcesFit => fits(res, node),
        // These look at other pods: see `topology`.
        // Decided by the scheduler from its cycle state and caches.
        FilterPlugin::PodTopologySpread
        | FilterPlugin::InterPodAffinity
        | FilterPlugin::VolumeRestrictions
        | FilterPlugin::NodeVolumeLimits
        | FilterPlugin::VolumeBinding
        | FilterPlugin::VolumeZone => Ok(()),
    }
}

/// The pod's side of the per-node filters, resolved once per cycle: which
/// of them run (enabled, and able to reject some node for this pod), and
/// an exact pass check that allocates nothing. Only a node a filter
/// rejects goes through [`filter_one`], for the rejection's reasons.
pub struct PodFilter<'a> {
    pod: &'a Pod,
    res: &'a PodResources,
    tolerates_unschedulable: bool,
    node_name: Option<&'a str>,
    restricts_nodes: bool,
    /// The per-node filters that run, one bit per `FilterPlugin`.
    active: u16,
    /// Whether the filters that run are NodeResourcesFit without extended
    /// resources and maybe NodeUnschedulable, TaintToleration and
    /// NodePorts: then a node whose row has none of `slow_flags` is
    /// decided by its row's resources alone.
    row_only: bool,
    /// The row flags on which a filter that runs must look further.
    slow_flags: u8,
    /// The pod's cpu, memory and ephemeral storage requests, `i64::MIN`
    /// for one that is not positive (it fits any node).
    want: [i64; 3],
}

impl<'a> PodFilter<'a> {
    /// `enabled`: the profile's filters.
    pub fn new(pod: &'a Pod, res: &'a PodResources, enabled: &[FilterPlugin]) -> Self {
        let taint = Taint {
            key: TAINT_UNSCHEDULABLE.into(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        };
        let mut pf = PodFilter {
            pod,
            res,
            tolerates_unschedulable: tolerated(&pod.spec.tolerations, &taint),
            node_name: pod.spec.node_name(),
            restricts_nodes: !pod.spec.node_selector.is_empty()
                || pod.spec.required_node_affinity().is_some(),
            active: 0,
            row_only: false,
            slow_flags: 0,
            want: [0; 3],
        };
        for &p in enabled {
            if pf.may_reject(p) {
                pf.active |= 1 << p as u16;
            }
        }
        let r = &res.requests;
        let positive = |v: i64| if v > 0 { v } else { i64::MIN };
        pf.want = [
            positive(r.milli_cpu),
            positive(r.memory),
            positive(r.ephemeral_storage),
        ];
        let bit = |p: FilterPlugin| 1u16 << p as u16;
        let row_decidable = bit(FilterPlugin::NodeUnschedulable)
            | bit(FilterPlugin::TaintToleration)
            | bit(FilterPlugin::NodePorts)
            | bit(FilterPlugin::NodeResourcesFit);
        pf.row_only = pf.active & !row_decidable == 0
            && pf.is_active(FilterPlugin::NodeResourcesFit)
            && r.scalar.is_empty();
        for (p, flag) in [
            (FilterPlugin::NodeUnschedulable, NodeRow::UNSCHEDULABLE),
            (FilterPlugin::TaintToleration, NodeRow::HARD_TAINTS),
            (FilterPlugin::NodePorts, NodeRow::HOST_PORTS),
        ] {
            if pf.is_active(p) {
                pf.slow_flags |= flag;
            }
        }
        pf
    }

    /// Whether the per-node filter `plugin` runs for this pod.
    pub fn is_active(&self, plugin: FilterPlugin) -> bool {
        self.active & (1 << plugin as u16) != 0
    }

    /// Whether every per-node filter that runs passes `node`.
    #[inline(always)]
    pub fn passes_all(&self, node: &NodeInfo) -> bool {
        let check = |p: FilterPlugin| !self.is_active(p) || self.passes(p, node);
        check(FilterPlugin::NodeUnschedulable)
            && check(FilterPlugin::NodeName)
            && check(FilterPlugin::TaintToleration)
            && check(FilterPlugin::NodeAffinity)
            && check(FilterPlugin::NodePorts)
            && check(FilterPlugin::NodeResourcesFit)
    }

    /// Exactly `passes_all(node)`, with `row` the node's [`NodeRow`]: each
    /// filter decides from the row alone when it can, and reads `node`
    /// only when the row says it must.
    #[inline(always)]
    pub fn passes_all_row(&self, row: &NodeRow, node: &NodeInfo) -> bool {
        if self.row_only && row.flags & self.slow_flags == 0 {
            return self.passes_row(row);
        }
        let on = |p: FilterPlugin| self.is_active(p);
        (!on(FilterPlugin::NodeUnschedulable)
            || !row.has(NodeRow::UNSCHEDULABLE)
            || self.tolerates_unschedulable)
            && (!on(FilterPlugin::NodeName) || self.passes(FilterPlugin::NodeName, node))
            && (!on(FilterPlugin::TaintToleration)
                || !row.has(NodeRow::HARD_TAINTS)
                || self.passes(FilterPlugin::TaintToleration, node))
            && (!on(FilterPlugin::NodeAffinity) || self.passes(FilterPlugin::NodeAffinity, node))
            && (!on(FilterPlugin::NodePorts)
                || !row.has(NodeRow::HOST_PORTS)
                || self.passes(FilterPlugin::NodePorts, node))
            && (!on(FilterPlugin::NodeResourcesFit) || fits_row(self.res, row, node))
    }

    /// Whether every node whose row has none of the slow flags is decided
    /// by its row alone: then [`PodFilter::passes_row`] decides it.
    pub fn row_only(&self) -> bool {
        self.row_only
    }

    /// When [`PodFilter::row_only`]: exactly `passes_all_row(row, node)`
    /// for a row without the slow flags, and false for a row with some
    /// (the caller looks further).
    #[inline(always)]
    pub fn passes_row(&self, row: &NodeRow) -> bool {
        // Every filter but NodeResourcesFit passes; `fits_row` without
        // extended resources, the requests' signs resolved.
        let [cpu, memory, ephemeral] = self.want;
        // None of the slow flags, and room (never a slow flag).
        row.flags & (self.slow_flags | NodeRow::ROOM) == NodeRow::ROOM
            && cpu <= row.free_cpu
            && memory <= row.free_memory
            && ephemeral <= row.free_ephemeral_storage
    }

    /// Whether `plugin` may reject some node for this pod (false: it
    /// passes every node).
    fn may_reject(&self, plugin: FilterPlugin) -> bool {
        match plugin {
            FilterPlugin::NodeUnschedulable => !self.tolerates_unschedulable,
            FilterPlugin::NodeName => self.node_name.is_some(),
            FilterPlugin::NodeAffinity => self.restricts_nodes,
            FilterPlugin::NodePorts => !self.res.host_ports.is_empty(),
            FilterPlugin::TaintToleration | FilterPlugin::NodeResourcesFit => true,
            // Run by the scheduler from the cycle's state, not per node
            // here.
            FilterPlugin::PodTopologySpread
            | FilterPlugin::InterPodAffinity
            | FilterPlugin::VolumeRestrictions
            | FilterPlugin::NodeVolumeLimits
            | FilterPlugin::VolumeBinding
            | FilterPlugin::VolumeZone => false,
        }
    }

    /// Whether `plugin` passes `node`: exactly `filter_one(..).is_ok()`.
    #[inline(always)]
    pub fn passes(&self, plugin: FilterPlugin, node: &NodeInfo) -> bool {
        match plugin {
            FilterPlugin::NodeUnschedulable => !node.unschedulable || self.tolerates_unschedulable,
            FilterPlugin::NodeName => self.node_name.is_none_or(|n| n == &*node.name),
            FilterPlugin::TaintToleration => !node.taints.iter().any(|t| {
                t.effect != TaintEffect::PreferNoSchedule
                    && !tolerated(&self.pod.spec.tolerations, t)
            }),
            FilterPlugin::NodeAffinity => {
                !self.restricts_nodes || node_affinity_matches(self.pod, node)
            }
            FilterPlugin::NodePorts => !self
                .res
                .host_ports
                .iter()
                .any(|hp| node.host_ports.contains(hp)),
            FilterPlugin::NodeResourcesFit => fits_quick(self.res, node),
            FilterPlugin::PodTopologySpread
            | FilterPlugin::InterPodAffinity
            | FilterPlugin::VolumeRestrictions
            | FilterPlugin::NodeVolumeLimits
            | FilterPlugin::VolumeBinding
            | FilterPlugin::VolumeZone => true,
        }
    }
}

/// How many of `run`'s nodes, from the first, pass from their rows alone
/// (`pf.passes_row`, for a pod filter that is [`PodFilter::row_only`]).
#[inline(never)]
pub fn passing_run(pf: &PodFilter<'_>, rows: &[NodeRow], run: &[usize]) -> usize {
    run.iter()
        .position(|&i| !pf.passes_row(&rows[i]))
        .unwrap_or(run.len())
}

/// How many of the `len` rows from `from`, from the first, pass from
/// their rows alone: [`passing_run`] for a run of consecutive nodes, read
/// in place, a block of [`Rows::BLOCK`] at a time where the block's worst
/// row passes.
#[inline(never)]
pub fn passing_rows(pf: &PodFilter<'_>, rows: &Rows, from: usize, len: usize) -> usize {
    const B: usize = Rows::BLOCK;
    let to = from + len;
    let mut k = from;
    while k < to {
        let b = k / B;
        let end = (b + 1) * B;
        if k == b * B && end <= to && pf.passes_row(&rows.worst[b]) {
            k = end;
            continue;
        }
        let stop = end.min(to);
        if let Some(p) = rows.rows[k..stop].iter().position(|r| !pf.passes_row(r)) {
            return k + p - from;
        }
        k = stop;
    }
    len
}

/// The nodes' [`NodeRow`]s (indexed like the scheduler's nodes), and per
/// block of [`Rows::BLOCK`] consecutive rows a worst row: the least free
/// cpu, memory and ephemeral storage of the block, every slow flag some
/// row of the block has, and [`NodeRow::ROOM`] only if every row has it.
/// A pod's [`PodFilter::passes_row`] passes the worst row exactly when it
/// passes every row of the block.
#[derive(Default)]
pub struct Rows {
    rows: Vec<NodeRow>,
    worst: Vec<NodeRow>,
}

impl std::ops::Deref for Rows {
    type Target = [NodeRow];
    fn deref(&self) -> &[NodeRow] {
        &self.rows
    }
}

impl Rows {
    /// Rows in a block.
    pub const BLOCK: usize = 16;

    /// Adds a row at the end.
    pub fn push(&mut self, row: NodeRow) {
        if self.rows.len().is_multiple_of(Self::BLOCK) {
            self.worst.push(Self::worst_of(&[row]));
        } else {
            Self::merge(self.worst.last_mut().expect("a block"), &row);
        }
        self.rows.push(row);
    }

    /// Replaces row `i`.
    pub fn set(&mut self, i: usize, row: NodeRow) {
        let old = std::mem::replace(&mut self.rows[i], row);
        let b = i / Self::BLOCK;
        let w = &mut self.worst[b];
        // A free amount that rises from the block's least: the least is
        // found again (as are the flags when they change).
        let rises = |new: i64, old: i64, least: i64| new > old && old == least;
        if row.flags != old.flags
            || rises(row.free_cpu, old.free_cpu, w.free_cpu)
            || rises(row.free_memory, old.free_memory, w.free_memory)
            || rises(
                row.free_ephemeral_storage,
                old.free_ephemeral_storage,
                w.free_ephemeral_storage,
            )
        {
            let block = &self.rows[b * Self::BLOCK..((b + 1) * Self::BLOCK).min(self.rows.len())];
            *w = Self::worst_of(block);
        } else {
            Self::merge(w, &row);
        }
    }

    /// Takes `row` into the worst row `w`.
    fn merge(w: &mut NodeRow, row: &NodeRow) {
        w.free_cpu = w.free_cpu.min(row.free_cpu);
        w.free_memory = w.free_memory.min(row.free_memory);
        w.free_ephemeral_storage = w.free_ephemeral_storage.min(row.free_ephemeral_storage);
        let room = w.flags & row.flags & NodeRow::ROOM;
        w.flags = ((w.flags | row.flags) & !NodeRow::ROOM) | room;
    }

    /// The worst row of `rows` (its other fields 0).
    fn worst_of(rows: &[NodeRow]) -> NodeRow {
        let mut w = NodeRow {
            free_cpu: i64::MAX,
            free_memory: i64::MAX,
            free_ephemeral_storage: i64::MAX,
            flags: NodeRow::ROOM,
            ..NodeRow::default()
        };
        for row in rows {
            Self::merge(&mut w, row);
        }
        w
    }

    /// Whether every block's worst row is the worst of its rows.
    #[cfg(test)]
    pub fn worst_in_sync(&self) -> bool {
        self.worst.len() == self.rows.len().div_ceil(Self::BLOCK)
            && self
                .rows
                .chunks(Self::BLOCK)
                .zip(&self.worst)
                .all(|(block, w)| Self::worst_of(block) == *w)
    }
}

/// Whether NodeResourcesFit's filter passes: `fits(..).is_ok()` without
/// collecting reasons.
#[inline(always)]
pub fn fits_quick(res: &PodResources, node: &NodeInfo) -> bool {
    fits_requests(&res.requests, node)
}

/// Whether requests `r` fit `node` beside its pods, one more pod
/// included.
pub fn fits_requests(r: &Resources, node: &NodeInfo) -> bool {
    let a = &node.allocatable;
    let u = &node.requested;
    let ok = |want: i64, alloc: i64, used: i64| want <= 0 || want <= alloc - used;
    node.pods < node.allowed_pods
        && ok(r.milli_cpu, a.milli_cpu, u.milli_cpu)
        && ok(r.memory, a.memory, u.memory)
        && ok(
            r.ephemeral_storage,
            a.ephemeral_storage,
            u.ephemeral_storage,
        )
        && r.scalar
            .iter()
            .all(|(name, want)| ok(*want, a.scalar(name), u.scalar(name)))
}

/// Exactly `fits_quick(res, node)`, with `row` the node's [`NodeRow`]:
/// `node` is read only for the extended resources the pod requests.
#[inline(always)]
fn fits_row(res: &PodResources, row: &NodeRow, node: &NodeInfo) -> bool {
    let r = &res.requests;
    let ok = |want: i64, alloc: i64, used: i64| want <= 0 || want <= alloc - used;
    row.has(NodeRow::ROOM)
        && (r.milli_cpu <= 0 || r.milli_cpu <= row.free_cpu)
        && (r.memory <= 0 || r.memory <= row.free_memory)
        && (r.ephemeral_storage <= 0 || r.ephemeral_storage <= row.free_ephemeral_storage)
        && r.scalar.iter().all(|(name, want)| {
            ok(
                *want,
                node.allocatable.scalar(name),
                node.requested.scalar(name),
            )
        })
}

/// nodeSelector and required node affinity (upstream
/// `GetRequiredNodeAffinity(pod).Match(node)`).
pub fn node_affinity_matches(pod: &Pod, node: &NodeInfo) -> bool {
    map_matches(&pod.spec.node_selector, &node.labels)
        && pod
            .spec
            .required_node_affinity()
            .is_none_or(|s| s.matches(&node.name, &node.labels))
}

/// NodeResourcesFit's filter: every insufficient resource is a reason.
fn fits(res: &PodResources, node: &NodeInfo) -> Result<(), Rejection> {
    // The first reason apart: one reason allocates nothing.
    let mut first: Option<Reason> = None;
    let mut more: Vec<Reason> = Vec::new();
    let mut push = |r: Reason| match first {
        None => first = Some(r),
        Some(_) => more.push(r),
    };
    if node.pods + 1 > node.allowed_pods {
        push("Too many pods".into());
    }
    let r = &res.requests;
    let free = |alloc: i64, used: i64| alloc - used;
    if r.milli_cpu > 0 && r.milli_cpu > free(node.allocatable.milli_cpu, node.requested.milli_cpu) {
        push("Insufficient cpu".into());
    }
    if r.memory > 0 && r.memory > free(node.allocatable.memory, node.requested.memory) {
        push("Insufficient memory".into());
    }
    if r.ephemeral_storage > 0
        && r.ephemeral_storage
            > free(
                node.allocatable.ephemeral_storage,
                node.requested.ephemeral_storage,
            )
    {
        push("Insufficient ephemeral-storage".into());
    }
    for (name, want) in &r.scalar {
        if *want > 0 && *want > free(node.allocatable.scalar(name), node.requested.scalar(name)) {
            push(format!("Insufficient {name}").into());
        }
    }
    match first {
        None => Ok(()),
        Some(reason) => Err(Rejection {
            plugin: "NodeResourcesFit",
            reason,
            more,
        }),
    }
}

/// Runs the per-node filters of the default profile in order; the first
/// that fails rejects the node.
pub fn filter(pod: &Pod, res: &PodResources, node: &NodeInfo) -> Result<(), Rejection> {
    for plugin in FilterPlugin::ALL {
        filter_one(plugin, pod, res, node)?;
    }
    Ok(())
}

/// LeastAllocated for one resource: `(alloc - req) * 100 / alloc`, 0 when
/// the request exceeds the allocatable.
fn least_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_NODE_SCORE / allocatable
}

/// MostAllocated for one resource: `min(req, alloc) * 100 / alloc`.
fn most_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 {
        return 0;
    }
    if requested > allocatable {
        return MAX_NODE_SCORE;
    }
    requested * MAX_NODE_SCORE / allocatable
}

/// Upstream `BuildBrokenLinearFunction` over a shape whose scores are
/// already scaled to [0, 100].
fn broken_linear(shape: &[(i64, i64)], p: i64) -> i64 {
    for (i, &(u, s)) in shape.iter().enumerate() {
        if p <= u {
            if i == 0 {
                return s;
            }
            let (u0, s0) = shape[i - 1];
            return s0 + (s - s0) * (p - u0) / (u - u0);
        }
    }
    shape.last().map_or(0, |&(_, s)| s)
}

/// One resource NodeResourcesFit's scoring weighs, resolved for the pod.
#[derive(Clone, Copy)]
enum FitResource<'a> {
    /// cpu and memory count with the non-zero defaults.
    Cpu,
    Memory,
    EphemeralStorage,
    /// An extended resource the pod requests, with the request.
    Scalar(&'a str, i64),
}

/// A [`FitStrategy`], borrowed.
#[derive(Clone, Copy)]
enum FitKind<'a> {
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio(&'a [(i64, i64)]),
}

/// NodeResourcesFit's scoring for one pod, resolved once per cycle: the
/// resources it weighs (extended resources the pod does not request are
/// left out, as upstream) and their weights.
pub struct FitPlan<'a> {
    strategy: FitKind<'a>,
    res: &'a PodResources,
    resources: Vec<(FitResource<'a>, i64)>,
    /// The weights of cpu and memory when the plan is LeastAllocated over
    /// exactly cpu then memory (the default): scored by straight-line code.
    least_cpu_memory: Option<(i64, i64)>,
}

impl<'a> FitPlan<'a> {
    pub fn new(fit: &'a FitScoring, res: &'a PodResources) -> Self {
        let resources = fit
            .resources
            .iter()
            .filter_map(|(name, weight)| {
                let r = match name.as_str() {
                    "cpu" => FitResource::Cpu,
                    "memory" => FitResource::Memory,
                    "ephemeral-storage" => FitResource::EphemeralStorage,
                    other => match res.requests.scalar(other) {
                        0 => return None,
                        want => FitResource::Scalar(other, want),
                    },
                };
                Some((r, *weight))
            })
            .collect::<Vec<_>>();
        let least_cpu_memory = match (&fit.strategy, &resources[..]) {
            (
                FitStrategy::LeastAllocated,
                &[(FitResource::Cpu, cpu), (FitResource::Memory, memory)],
            ) => Some((cpu, memory)),
            _ => None,
        };
        FitPlan {
            least_cpu_memory,
            strategy: match &fit.strategy {
                FitStrategy::LeastAllocated => FitKind::LeastAllocated,
                FitStrategy::MostAllocated => FitKind::MostAllocated,
                FitStrategy::RequestedToCapacityRatio(shape) => {
                    FitKind::RequestedToCapacityRatio(shape)
                }
            },
            res,
            resources,
        }
    }

    /// The requested (after adding the pod) and allocatable amounts of one
    /// resource on `node`.
    #[inline]
    fn amounts(&self, r: FitResource<'_>, node: &NodeInfo) -> (i64, i64) {
        let res = self.res;
        match r {
            FitResource::Cpu => (
                node.nonzero_cpu + res.nonzero_cpu,
                node.allocatable.milli_cpu,
            ),
            FitResource::Memory => (
                node.nonzero_memory + res.nonzero_memory,
                node.allocatable.memory,
            ),
            FitResource::EphemeralStorage => (
                node.requested.ephemeral_storage + res.requests.ephemeral_storage,
                node.allocatable.ephemeral_storage,
            ),
            FitResource::Scalar(name, want) => (
                node.requested.scalar(name) + want,
                node.allocatable.scalar(name),
            ),
        }
    }

    /// Whether the score reads nothing but the node's [`NodeRow`] and the
    /// pod's cpu and memory (non-zero) requests and the plan's weights,
    /// which [`FitPlan::least_cpu_memory_weights`] gives.
    pub fn least_cpu_memory_weights(&self) -> Option<(i64, i64)> {
        self.least_cpu_memory
    }

    /// NodeResourcesFit's score of `node`.
    #[inline(always)]
    pub fn score(&self, node: &NodeInfo) -> i64 {
        self.score_with(|r| self.amounts(r, node))
    }

    /// Exactly `score(node)`, with `row` the node's [`NodeRow`]: cpu and
    /// memory come from the row, the other resources from `node`.
    #[inline(always)]
    pub fn score_row(&self, row: &NodeRow, node: &NodeInfo) -> i64 {
        let res = self.res;
        if let Some((cpu_weight, memory_weight)) = self.least_cpu_memory {
            // `score_with` unrolled for its two resources.
            let mut sum = 0;
            let mut weights = 0;
            if row.allocatable_cpu != 0 {
                let req = row.nonzero_cpu + res.nonzero_cpu;
                sum += least_allocated(req, row.allocatable_cpu) * cpu_weight;
                weights += cpu_weight;
            }
            if row.allocatable_memory != 0 {
                let req = row.nonzero_memory + res.nonzero_memory;
                sum += least_allocated(req, row.allocatable_memory) * memory_weight;
                weights += memory_weight;
            }
            return if weights == 0 { 0 } else { sum / weights };
        }
        self.score_with(|r| match r {
            FitResource::Cpu => (row.nonzero_cpu + res.nonzero_cpu, row.allocatable_cpu),
            FitResource::Memory => (
                row.nonzero_memory + res.nonzero_memory,
                row.allocatable_memory,
            ),
            _ => self.amounts(r, node),
        })
    }

    /// The score, with `amounts` giving a resource's requested (after
    /// adding the pod) and allocatable amounts.
    #[inline(always)]
    fn score_with(&self, amounts: impl Fn(FitResource<'_>) -> (i64, i64)) -> i64 {
        let mut sum = 0;
        let mut weights = 0;
        for &(r, weight) in &self.resources {
            let (req, alloc) = amounts(r);
            if alloc == 0 {
                continue;
            }
            let score = match self.strategy {
                FitKind::LeastAllocated => least_allocated(req, alloc),
                FitKind::MostAllocated => most_allocated(req, alloc),
                FitKind::RequestedToCapacityRatio(shape) => {
                    let utilization = if req > alloc {
                        MAX_NODE_SCORE
                    } else {
                        req * MAX_NODE_SCORE / alloc
                    };
                    let s = broken_linear(shape, utilization);
                    if s <= 0 {
                        // Upstream leaves resources scoring 0 out of the mean.
                        continue;
                    }
                    s
                }
            };
            sum += score * weight;
            weights += weight;
        }
        if weights == 0 {
            return 0;
        }
        match self.strategy {
            FitKind::RequestedToCapacityRatio(_) => (sum as f64 / weights as f64).round() as i64,
            _ => sum / weights,
        }
    }
}

/// NodeResourcesFit's score of a node.
pub fn fit_score(fit: &FitScoring, res: &PodResources, node: &NodeInfo) -> i64 {
    FitPlan::new(fit, res).score(node)
}

/// NodeResourcesBalancedAllocation over cpu and memory: real requests,
/// fractions capped at 1; two resources: `(1 - |f1 - f2| / 2) * 100`.
/// A pod requesting neither (best effort) is not scored (0 everywhere).
#[inline]
pub fn balanced_score(res: &PodResources, node: &NodeInfo) -> i64 {
    balanced_of(
        res,
        (node.requested.milli_cpu, node.allocatable.milli_cpu),
        (node.requested.memory, node.allocatable.memory),
    )
}

/// Exactly `balanced_score(res, node)` for the node of `row`.
#[inline]
pub fn balanced_score_row(res: &PodResources, row: &NodeRow) -> i64 {
    balanced_of(
        res,
        (row.requested_cpu(), row.allocatable_cpu),
        (row.requested_memory(), row.allocatable_memory),
    )
}

/// NodeResourcesBalancedAllocation from the node's requested and
/// allocatable cpu and memory.
#[inline(always)]
fn balanced_of(res: &PodResources, cpu: (i64, i64), memory: (i64, i64)) -> i64 {
    if res.requests.milli_cpu == 0 && res.requests.memory == 0 {
        return 0;
    }
    let mut fractions = [0.0f64; 2];
    let mut n = 0;
    for (req, alloc) in [
        (cpu.0 + res.requests.milli_cpu, cpu.1),
        (memory.0 + res.requests.memory, memory.1),
    ] {
        if alloc == 0 {
            continue;
        }
        fractions[n] = (req as f64 / alloc as f64).min(1.0);
        n += 1;
    }
    let std = if n == 2 {
        (fractions[0] - fractions[1]).abs() / 2.0
    } else {
        0.0
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// TaintToleration's raw score: untolerated PreferNoSchedule taints,
/// counting only tolerations that apply to PreferNoSchedule.
pub fn taint_score(pod: &Pod, node: &NodeInfo) -> i64 {
    node.taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| {
            !pod.spec
                .tolerations
                .iter()
                .filter(|tol| {
                    tol.effect
                        .is_none_or(|e| e == TaintEffect::PreferNoSchedule)
                })
                .any(|tol| tol.tolerates(t))
        })
        .count() as i64
}

/// Exactly `taint_score(pod, node)`, with `row` the node's [`NodeRow`]:
/// 0 without reading `node` when it has no PreferNoSchedule taint.
#[inline]
pub fn taint_score_row(pod: &Pod, row: &NodeRow, node: &NodeInfo) -> i64 {
    if row.has(NodeRow::SOFT_TAINTS) {
        taint_score(pod, node)
    } else {
        0
    }
}

/// The pod's preferred node affinity terms.
pub fn preferred_node_affinity(pod: &Pod) -> &[PreferredSchedulingTerm] {
    pod.spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .map_or(&[], |na| {
            &na.preferred_during_scheduling_ignored_during_execution
        })
}

/// NodeAffinity's raw score: the weights of the pod's preferred terms
/// (from [`preferred_node_affinity`]) the node matches.
#[inline]
pub fn preferred_affinity_score(terms: &[PreferredSchedulingTerm], node: &NodeInfo) -> i64 {
    terms
        .iter()
        .filter(|t| t.weight != 0 && t.preference.matches(&node.name, &node.labels))
        .map(|t| i64::from(t.weight))
        .sum()
}

const MB: i64 = 1024 * 1024;
/// ImageLocality's bounds: 23 MiB, and 1000 MiB per container.
const IMAGE_MIN_THRESHOLD: i64 = 23 * MB;
const IMAGE_MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The nodes' images by image: each image name interned to a small id,
/// and per id a column of its size on every node (by node index,
/// [`ImageColumns::ABSENT`] where the node does not have it) and how many
/// live nodes have it. Kept up to date as nodes are added, changed and
/// removed, so that ImageLocality reads one array element per image and
/// node instead of searching each node's own list.
#[derive(Default)]
pub struct ImageColumns {
    ids: HashMap<String, u32>,
    /// Per id: the size on each node (nodes past the end: absent).
    sizes: Vec<Vec<i64>>,
    /// Per id: how many live nodes have the image.
    nodes_with: Vec<usize>,
}

impl ImageColumns {
    /// No such image on the node.
    pub const ABSENT: i64 = i64::MIN;

    /// Takes node `i`'s images in (`delta` 1: the node was added or has
    /// these images now) or out (`delta` -1: removed, or about to change).
    pub fn count(&mut self, i: usize, images: &[(String, i64)], delta: i64) {
        for (name, size) in images {
            let id = match self.ids.get(name.as_str()) {
                Some(&id) => id as usize,
                None => {
                    let id = self.sizes.len();
                    self.ids.insert(name.clone(), id as u32);
                    self.sizes.push(Vec::new());
                    self.nodes_with.push(0);
                    id
                }
            };
            let n = &mut self.nodes_with[id];
            *n = (*n as i64 + delta).max(0) as usize;
            let col = &mut self.sizes[id];
            if col.len() <= i {
                col.resize(i + 1, Self::ABSENT);
            }
            col[i] = if delta > 0 { *size } else { Self::ABSENT };
        }
    }

    /// The id of `image` (a normalized name), if some node ever had it.
    pub fn id(&self, image: &str) -> Option<usize> {
        self.ids.get(image).map(|&id| id as usize)
    }

    /// How many live nodes have image `id`.
    pub fn nodes_with(&self, id: usize) -> usize {
        self.nodes_with[id]
    }

    /// Image `id`'s size per node index.
    pub fn sizes(&self, id: usize) -> &[i64] {
        &self.sizes[id]
    }

    /// The size of `image` on node `i`, if the node has it.
    pub fn size(&self, image: &str, i: usize) -> Option<i64> {
        let id = self.id(image)?;
        let s = self.sizes[id].get(i).copied().unwrap_or(Self::ABSENT);
        (s != Self::ABSENT).then_some(s)
    }
}

/// ImageLocality for one pod, resolved once per cycle: each of the pod's
/// images present on the node adds its size scaled by the share of nodes
/// that have it; the sum is clamped to [23 MiB, 1000 MiB * containers] and
/// scaled to [0, 100].
pub struct ImageLocality<'a> {
    /// Per image of the pod that some node has: its column of
    /// [`ImageColumns`] and the share of nodes that have it.
    images: Vec<(&'a [i64], f64)>,
    /// The clamp's upper bound (0: the pod has no image, no score).
    max: i64,
}

impl<'a> ImageLocality<'a> {
    /// For the pod of `res`, with the nodes' images in `cols` and
    /// `total_nodes` live nodes.
    pub fn new(res: &PodResources, cols: &'a ImageColumns, total_nodes: usize) -> Self {
        let images = res
            .images
            .iter()
            .filter_map(|image| cols.id(image))
            .filter(|&id| cols.nodes_with(id) != 0)
            .map(|id| {
                let share = cols.nodes_with(id) as f64 / total_nodes.max(1) as f64;
                (cols.sizes(id), share)
            })
            .collect();
        let max = IMAGE_MAX_CONTAINER_THRESHOLD * res.images.len() as i64;
        ImageLocality {
            images,
            max: if max <= IMAGE_MIN_THRESHOLD { 0 } else { max },
        }
    }

    /// The score of node `i` (its index in the scheduler's node cache).
    #[inline(always)]
    pub fn score(&self, i: usize) -> i64 {
        if self.max == 0 {
            return 0;
        }
        let mut sum: i64 = 0;
        for &(sizes, share) in &self.images {
            let size = sizes.get(i).copied().unwrap_or(ImageColumns::ABSENT);
            if size != ImageColumns::ABSENT {
                sum += (size as f64 * share) as i64;
            }
        }
        let sum = sum.clamp(IMAGE_MIN_THRESHOLD, self.max);
        MAX_NODE_SCORE * (sum - IMAGE_MIN_THRESHOLD) / (self.max - IMAGE_MIN_THRESHOLD)
    }
}

/// `DefaultNormalizeScore`: scales to [0, 100] by the maximum; `reverse`
/// turns high raw scores into low ones.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

/// `numFeasibleNodesToFind` with percentageOfNodesToScore unset (adaptive):
/// all nodes below 100, else max(50 - n/125, 5) percent, at least 100.
pub fn num_feasible_nodes_to_find(n: usize) -> usize {
    if n < 100 {
        return n;
    }
    let pct = (50 - (n / 125) as i64).max(5) as usize;
    (n * pct / 100).max(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> NodeInfo {
        let m: crate::api::Manifest = serde_yaml::from_str(yaml).unwrap();
        let Some(crate::api::Object::Node(n)) = m.object else {
            panic!()
        };
        NodeInfo::new(&n)
    }

    fn pod(yaml: &str) -> Pod {
        let m: crate::api::Manifest = serde_yaml::from_str(yaml).unwrap();
        let Some(crate::api::Object::Pod(p)) = m.object else {
            panic!()
        };
        p
    }

    #[test]
    fn adaptive_percentage_of_nodes_to_score() {
        assert_eq!(num_feasible_nodes_to_find(50), 50);
        assert_eq!(num_feasible_nodes_to_find(100), 100);
        assert_eq!(num_feasible_nodes_to_find(500), 500 * 46 / 100);
        assert_eq!(num_feasible_nodes_to_find(5000), 500);
        assert_eq!(num_feasible_nodes_to_find(15000), 750);
    }

    /// The cases of upstream's least_allocated_test.go "nothing scheduled,
    /// resources requested, differently sized nodes": node1 4000m/10000,
    /// node2 6000m/10000, pod 3000m/5000 -> 37 and 50.
    #[test]
    fn least_allocated_matches_upstream_integers() {
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x, resources: {requests: {cpu: 1000m, memory: '2000'}}}, {name: b, image: x, resources: {requests: {cpu: 2000m, memory: '3000'}}}]}",
        );
        let res = PodResources::of(&p);
        let n1 = node(
            "kind: Node\nmetadata: {name: node1}\nstatus: {allocatable: {cpu: 4000m, memory: '10000'}}",
        );
        let n2 = node(
            "kind: Node\nmetadata: {name: node2}\nstatus: {allocatable: {cpu: 6000m, memory: '10000'}}",
        );
        let fit = FitScoring::default();
        assert_eq!(fit_score(&fit, &res, &n1), 37);
        assert_eq!(fit_score(&fit, &res, &n2), 50);
    }

    #[test]
    fn filters_give_upstream_reasons() {
        let n = node(
            "kind: Node\nmetadata: {name: n}\nspec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}\nstatus: {allocatable: {cpu: '1', memory: 1Gi, pods: '1'}}",
        );
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x, resources: {requests: {cpu: '2'}}}]}",
        );
        let err = filter(&p, &PodResources::of(&p), &n).unwrap_err();
        assert_eq!(
            err.reasons().map(|r| &**r).collect::<Vec<&str>>(),
            ["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {tolerations: [{key: dedicated, operator: Exists}], containers: [{name: a, image: x, resources: {requests: {cpu: '2', memory: 2Gi}}}]}",
        );
        let err = filter(&p, &PodResources::of(&p), &n).unwrap_err();
        assert_eq!(err.plugin, "NodeResourcesFit");
        assert_eq!(
            err.reasons().map(|r| &**r).collect::<Vec<&str>>(),
            ["Insufficient cpu", "Insufficient memory"]
        );
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {nodeSelector: {disk: ssd}, tolerations: [{operator: Exists}], containers: [{name: a, image: x}]}",
        );
        assert_eq!(
            filter(&p, &PodResources::of(&p), &n).unwrap_err().plugin,
            "NodeAffinity"
        );
    }

    /// The image columns agree with the nodes' own image lists after
    /// nodes are added, change images and are removed (a change is taken
    /// out with the old list and in with the new, as the scheduler does).
    #[test]
    fn image_columns_follow_node_changes() {
        let img = |names: &[(&str, i64)]| -> Vec<(String, i64)> {
            names.iter().map(|(n, s)| (n.to_string(), *s)).collect()
        };
        let mut lists = vec![
            img(&[("a:1", 10), ("b:1", 20)]),
            img(&[("b:1", 21)]),
            img(&[]),
        ];
        let mut live = vec![true; 3];
        let mut cols = ImageColumns::default();
        for (i, l) in lists.iter().enumerate() {
            cols.count(i, l, 1);
        }
        cols.count(1, &lists[1], -1);
        lists[1] = img(&[("a:1", 11), ("c:1", 30)]);
        cols.count(1, &lists[1], 1);
        cols.count(0, &lists[0], -1);
        live[0] = false;
        lists.push(img(&[("c:1", 31)]));
        live.push(true);
        cols.count(3, &lists[3], 1);
        for name in ["a:1", "b:1", "c:1", "d:1"] {
            let mut with = 0;
            for (i, l) in lists.iter().enumerate() {
                let own = l.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
                let own = own.filter(|_| live[i]);
                with += usize::from(own.is_some());
                assert_eq!(cols.size(name, i), own, "{name} on {i}");
            }
            assert_eq!(cols.id(name).map_or(0, |id| cols.nodes_with(id)), with);
        }
    }

    /// A block's worst row follows every change to the block's rows
    /// (free amounts rising and falling, flags set and cleared, the last
    /// block partial), and the block-wise count of passing rows is the
    /// row-by-row one from every start.
    #[test]
    fn worst_rows_follow_changes_and_passing_rows_counts_as_row_by_row() {
        use rand_chacha::ChaCha8Rng;
        use rand_chacha::rand_core::{Rng, SeedableRng};
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x, resources: {requests: {cpu: 100m, memory: 1Gi}}}]}",
        );
        let res = PodResources::of(&p);
        let pf = PodFilter::new(&p, &res, &FilterPlugin::ALL);
        assert!(pf.row_only());
        let mut src = ChaCha8Rng::seed_from_u64(9);
        let row = |src: &mut ChaCha8Rng| {
            let x = src.next_u64();
            // Mostly rows that pass; now and then one that does not.
            let flags = if x.is_multiple_of(211) {
                NodeRow::HARD_TAINTS | NodeRow::ROOM
            } else if x.is_multiple_of(223) {
                0
            } else {
                NodeRow::ROOM | ((x % 2) as u8 * NodeRow::SOFT_TAINTS)
            };
            let cpu = if x.is_multiple_of(227) {
                50
            } else {
                200 + (x >> 8) as i64 % 4000
            };
            NodeRow {
                free_cpu: cpu,
                free_memory: (1 << 30) - 10 + ((x >> 20) % 400) as i64 * (1 << 28),
                free_ephemeral_storage: (x >> 40) as i64 % 7 - 3,
                flags,
                ..NodeRow::default()
            }
        };
        let mut rows = Rows::default();
        let (mut whole, mut stopped) = (0, 0);
        for step in 0..3000 {
            if rows.len() < 150 && step % 3 == 0 {
                rows.push(row(&mut src));
            } else {
                let i = (src.next_u64() % rows.len() as u64) as usize;
                rows.set(i, row(&mut src));
            }
            assert!(rows.worst_in_sync(), "step {step}");
            let from = (src.next_u64() % rows.len() as u64) as usize;
            let len = (src.next_u64() % (rows.len() - from + 1) as u64) as usize;
            let want = passing_run(&pf, &rows, &Vec::from_iter(from..from + len));
            assert_eq!(passing_rows(&pf, &rows, from, len), want, "step {step}");
            whole += usize::from(want >= 2 * Rows::BLOCK);
            stopped += usize::from(want < len);
        }
        assert!(whole > 100 && stopped > 100, "{whole} {stopped}");
    }

    #[test]
    fn default_normalize_follows_upstream() {
        let mut s = vec![0, 1, 2];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
        let mut s = vec![2, 8];
        default_normalize(&mut s, false);
        assert_eq!(s, vec![25, 100]);
    }

    /// The cycle's quick pass check and the filter that gives reasons agree
    /// on every per-node plugin, for pods and nodes that each filter
    /// accepts and rejects, and a plugin `PodFilter` leaves out passes
    /// every node.
    #[test]
    fn the_quick_pass_check_agrees_with_filter_one() {
        let nodes = [
            node(
                "kind: Node\nmetadata: {name: plain}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '10'}}",
            ),
            node(
                "kind: Node\nmetadata: {name: cordoned, labels: {disk: ssd}}\nspec: {unschedulable: true}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '10'}}",
            ),
            node(
                "kind: Node\nmetadata: {name: tainted, labels: {disk: hdd}}\nspec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}, {key: soft, effect: PreferNoSchedule}]}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '10'}}",
            ),
            node(
                "kind: Node\nmetadata: {name: small, labels: {disk: ssd}}\nstatus: {allocatable: {cpu: 500m, memory: 1Gi, pods: '1', example.com/gpu: '1'}}",
            ),
        ];
        let mut busy = node(
            "kind: Node\nmetadata: {name: busy}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '10'}}",
        );
        let port_pod = pod(
            "kind: Pod\nmetadata: {name: h}\nspec: {containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 8080}]}]}",
        );
        busy.add_pod(&PodResources::of(&port_pod));
        let pods = [
            "{containers: [{name: a, image: x}]}",
            "{containers: [{name: a, image: x, resources: {requests: {cpu: '1', memory: 2Gi}}}]}",
            "{containers: [{name: a, image: x, resources: {requests: {example.com/gpu: '1'}}}]}",
            "{nodeName: small, containers: [{name: a, image: x}]}",
            "{nodeSelector: {disk: ssd}, containers: [{name: a, image: x}]}",
            "{tolerations: [{operator: Exists}], containers: [{name: a, image: x}]}",
            "{tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoSchedule}], containers: [{name: a, image: x}]}",
            "{containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 8080}]}]}",
            "{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: disk, operator: In, values: [hdd]}]}]}}}, containers: [{name: a, image: x}]}",
        ];
        let mut rejected = std::collections::BTreeSet::new();
        for spec in pods {
            let p = pod(&format!("kind: Pod\nmetadata: {{name: p}}\nspec: {spec}"));
            let res = PodResources::of(&p);
            let pf = PodFilter::new(&p, &res, &FilterPlugin::ALL);
            for n in nodes.iter().chain([&busy]) {
                for plugin in FilterPlugin::ALL {
                    if matches!(
                        plugin,
                        FilterPlugin::PodTopologySpread | FilterPlugin::InterPodAffinity
                    ) {
                        continue;
                    }
                    let ok = filter_one(plugin, &p, &res, n).is_ok();
                    if !ok {
                        rejected.insert(plugin as u8);
                    }
                    assert_eq!(
                        pf.passes(plugin, n),
                        ok,
                        "{plugin:?} on {} for {spec}",
                        n.name
                    );
                    assert!(
                        pf.is_active(plugin) || ok,
                        "{plugin:?} left out but rejects"
                    );
                }
                let all_ok = FilterPlugin::ALL
                    .iter()
                    .all(|&pl| filter_one(pl, &p, &res, n).is_ok());
                assert_eq!(pf.passes_all(n), all_ok, "{} for {spec}", n.name);
            }
        }
        // Every per-node filter rejected some node in this set.
        assert_eq!(rejected.len(), 6, "{rejected:?}");
    }

    /// Nodes that take each branch of the row-based fast paths: without
    /// and with taints (hard, soft), extended resources, host ports,
    /// cordoned, full of pods, nearly full of cpu, memory and ephemeral
    /// storage.
    fn row_nodes() -> Vec<NodeInfo> {
        let alloc = "{cpu: '4', memory: 8Gi, ephemeral-storage: 10Gi, pods: '3'}";
        let mut nodes: Vec<NodeInfo> = [
            "metadata: {name: plain}",
            "metadata: {name: cordoned}\nspec: {unschedulable: true}",
            "metadata: {name: hard}\nspec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}",
            "metadata: {name: evict}\nspec: {taints: [{key: gone, effect: NoExecute}]}",
            "metadata: {name: soft}\nspec: {taints: [{key: soft, effect: PreferNoSchedule}]}",
            "metadata: {name: both, labels: {disk: ssd}}\nspec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}, {key: soft, effect: PreferNoSchedule}]}",
        ]
        .iter()
        .map(|m| node(&format!("kind: Node\n{m}\nstatus: {{allocatable: {alloc}}}")))
        .collect();
        nodes.push(node(
            "kind: Node\nmetadata: {name: gpu}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '3', example.com/gpu: '1'}}",
        ));
        let with = |name: &str, pods: &[&str]| {
            let mut n = node(&format!(
                "kind: Node\nmetadata: {{name: {name}}}\nstatus: {{allocatable: {alloc}}}"
            ));
            for spec in pods {
                let p = pod(&format!("kind: Pod\nmetadata: {{name: e}}\nspec: {spec}"));
                n.add_pod(&PodResources::of(&p));
            }
            n
        };
        let plain = "{containers: [{name: a, image: x}]}";
        nodes.push(with(
            "ports",
            &["{containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 8080}]}]}"],
        ));
        nodes.push(with("full", &[plain, plain, plain]));
        nodes.push(with(
            "nearly-full",
            &["{containers: [{name: a, image: x, resources: {requests: {cpu: 3500m, memory: 7Gi, ephemeral-storage: 9Gi}}}]}"],
        ));
        nodes.push(with(
            "gpu-used",
            &["{containers: [{name: a, image: x, resources: {requests: {example.com/gpu: '1'}}}]}"],
        ));
        // A pod came and went: the requested scalar stays, at 0.
        let mut n = with("came-and-went", &[]);
        let p = pod(
            "kind: Pod\nmetadata: {name: e}\nspec: {containers: [{name: a, image: x, resources: {requests: {example.com/gpu: '1', cpu: '1'}}, ports: [{containerPort: 80, hostPort: 9090}]}]}",
        );
        n.add_pod(&PodResources::of(&p));
        n.remove_pod(&PodResources::of(&p));
        nodes.push(n);
        nodes
    }

    fn row_pods() -> Vec<Pod> {
        [
            "{containers: [{name: a, image: x}]}",
            "{containers: [{name: a, image: x, resources: {requests: {cpu: 500m, memory: 1Gi}}}]}",
            "{containers: [{name: a, image: x, resources: {requests: {cpu: 600m}}}]}",
            "{containers: [{name: a, image: x, resources: {requests: {memory: 1500Mi}}}]}",
            "{containers: [{name: a, image: x, resources: {requests: {ephemeral-storage: 2Gi}}}]}",
            "{containers: [{name: a, image: x, resources: {requests: {ephemeral-storage: 1Gi}}}]}",
            "{containers: [{name: a, image: x, resources: {requests: {example.com/gpu: '1'}}}]}",
            "{nodeName: soft, containers: [{name: a, image: x}]}",
            "{nodeSelector: {disk: ssd}, containers: [{name: a, image: x}]}",
            "{tolerations: [{operator: Exists}], containers: [{name: a, image: x}]}",
            "{tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}], containers: [{name: a, image: x}]}",
            "{tolerations: [{key: soft, operator: Exists, effect: PreferNoSchedule}], containers: [{name: a, image: x}]}",
            "{tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoSchedule}], containers: [{name: a, image: x}]}",
            "{containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 8080}]}]}",
            "{containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 9090}]}]}",
        ]
        .iter()
        .map(|spec| pod(&format!("kind: Pod\nmetadata: {{name: p}}\nspec: {spec}")))
        .collect()
    }

    /// Whether the row-based paths (filters, NodeResourcesFit under each
    /// strategy, BalancedAllocation, TaintToleration's score) agree with
    /// the full ones for `p` on `n`, reading `row` as `n`'s row.
    fn row_paths_agree(p: &Pod, n: &NodeInfo, row: &NodeRow) -> bool {
        let res = PodResources::of(p);
        let pf = PodFilter::new(p, &res, &FilterPlugin::ALL);
        let fits = [
            FitScoring::default(),
            FitScoring {
                strategy: FitStrategy::MostAllocated,
                resources: vec![
                    ("cpu".into(), 1),
                    ("memory".into(), 2),
                    ("ephemeral-storage".into(), 1),
                    ("example.com/gpu".into(), 3),
                ],
            },
            FitScoring {
                strategy: FitStrategy::RequestedToCapacityRatio(vec![(0, 0), (100, 100)]),
                resources: vec![("cpu".into(), 2), ("memory".into(), 1)],
            },
        ];
        pf.passes_all_row(row, n) == pf.passes_all(n)
            && fits.iter().all(|f| {
                let plan = FitPlan::new(f, &res);
                plan.score_row(row, n) == plan.score(n)
            })
            && balanced_score_row(&res, row) == balanced_score(&res, n)
            && taint_score_row(p, row, n) == taint_score(p, n)
    }

    /// The row-based fast paths decide exactly as the full ones, on nodes
    /// that take each of their branches; and a stale row (a pod added to
    /// the node after the row was taken) is caught.
    #[test]
    fn the_row_fast_paths_agree_with_the_full_ones() {
        let nodes = row_nodes();
        let pods = row_pods();
        let mut passed = 0;
        let mut failed = 0;
        for n in &nodes {
            let row = NodeRow::of(n);
            for p in &pods {
                let res = PodResources::of(p);
                let all_ok = FilterPlugin::ALL
                    .iter()
                    .all(|&pl| filter_one(pl, p, &res, n).is_ok());
                assert_eq!(
                    PodFilter::new(p, &res, &FilterPlugin::ALL).passes_all_row(&row, n),
                    all_ok,
                    "{} for {:?}",
                    n.name,
                    p.spec
                );
                if all_ok {
                    passed += 1;
                } else {
                    failed += 1;
                }
                assert!(row_paths_agree(p, n, &row), "{} for {:?}", n.name, p.spec);
            }
        }
        assert!(passed > 0 && failed > 0);
        // Stale rows: each node's row taken before one more pod lands on
        // it disagrees somewhere.
        let big = pod(
            "kind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: a, image: x, resources: {requests: {cpu: 3500m, memory: 7Gi, ephemeral-storage: 9Gi}}, ports: [{containerPort: 80, hostPort: 8080}]}]}",
        );
        for name in ["plain", "soft", "gpu"] {
            let mut n = nodes.iter().find(|n| &*n.name == name).unwrap().clone();
            let stale = NodeRow::of(&n);
            n.add_pod(&PodResources::of(&big));
            assert!(
                pods.iter().any(|p| !row_paths_agree(p, &n, &stale)),
                "stale row of {name} not caught"
            );
            let fresh = NodeRow::of(&n);
            assert!(pods.iter().all(|p| row_paths_agree(p, &n, &fresh)));
        }
    }
}
