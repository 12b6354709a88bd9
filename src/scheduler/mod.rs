//! kube-scheduler: watches pods and nodes, keeps its own cache of node
//! allocations (assumed pods included), runs one scheduling cycle at a time
//! for the pod at the head of its queue, and binds through the apiserver
//! asynchronously.
//!
//! Pods choose a profile by `spec.schedulerName`; a pod naming no profile
//! of this scheduler is left alone (it stays Pending). Besides pods and
//! nodes the scheduler watches Services, ReplicaSets and StatefulSets, for
//! PodTopologySpread's system default constraints, and, in a run whose
//! scenario creates Namespaces, Namespaces, for InterPodAffinity's
//! namespace selectors.
//!
//! Nodes are visited in upstream's node tree order, one node of each
//! zone in turn ([`nodetree`]). See `preemption` for what is simplified there.

pub mod config;
pub mod explain;
pub mod framework;
pub mod hints;
pub mod nodetree;
pub mod preemption;
pub mod profile;
pub mod queue;
pub mod ties;
pub mod topology;
pub mod trace;
pub mod volumes;

/// PreFilter: the cycle state of the plugins that look at other pods, and
/// the profile's filters that can reject a node for `pod`, in order.
fn prefilter<'a>(
    idx: &mut Indexes,
    view: &View<'_>,
    placed: &HashMap<u64, Placed>,
    volume_cache: &volumes::VolumeCache,
    pod: &'a Pod,
    res: &'a PodResources,
    prof: &profile::Profile,
) -> (topology::CycleState, CycleFilters<'a>) {
    let all_placed = || {
        placed
            .values()
            .filter_map(|p| p.obj.as_pod().map(|pod| (p.node, pod)))
    };
    let st = idx.prepare(view, pod, all_placed, prof.system_default_spreading);
    let pf = framework::PodFilter::new(pod, res, &prof.filters);
    let vols = volumes::PodVolumes::new(pod, &prof.filters, volume_cache);
    let looks_at_pods = |p: FilterPlugin| match p {
        FilterPlugin::PodTopologySpread => Indexes::has_spread_filter(&st),
        FilterPlugin::InterPodAffinity => Indexes::has_affinity_filter(&st),
        p if p.reads_volumes() => vols.active.contains(&p),
        _ => false,
    };
    let plugins = prof
        .filters
        .iter()
        .copied()
        .filter(|&p| looks_at_pods(p) || pf.is_active(p))
        .collect();
    let topology = prof
        .filters
        .iter()
        .copied()
        .filter(|&p| looks_at_pods(p))
        .collect();
    let cf = CycleFilters {
        plugins,
        topology,
        pod: pf,
        pod_obj: pod,
        res,
        vols,
    };
    (st, cf)
}

/// A cycle's filters for one pod: the profile's plugins that can reject a
/// node for it, in the profile's order, and the pod's side of them.
struct CycleFilters<'a> {
    plugins: Vec<FilterPlugin>,
    /// The subset of `plugins` that look beyond the node: at other pods
    /// (PodTopologySpread, InterPodAffinity) or at storage objects (the
    /// volume plugins).
    topology: Vec<FilterPlugin>,
    pod: framework::PodFilter<'a>,
    pod_obj: &'a Pod,
    res: &'a PodResources,
    /// The volume plugins' side of the pod (their PreFilter).
    vols: volumes::PodVolumes,
}

#[cfg(test)]
mod tests;

use crate::fasthash::{HashMap, HashSet};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::api::pod::{Pod, PodConditionType};
use crate::api::selector::{LabelSelector, map_matches};
use crate::api::{Kind, Labels, Object, Text};
use crate::engine::{RngStreams, Time};
use crate::etcd::EventType;
use crate::output::{Part, Subject};
use crate::sim::msg::WatchSpec;
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

use framework::{
    FilterPlugin, FitPlan, ImageColumns, ImageLocality, MAX_NODE_SCORE, NUM_SCORE_PLUGINS,
    NodeInfo, NodeRow, PodResources, ScorePlugin, balanced_score_row, default_normalize,
    filter_one, preferred_affinity_score, preferred_node_affinity, taint_score_row,
};
use profile::{Profile, Select};
use queue::SchedulingQueue;
use topology::{Indexes, View, has_pod_affinity, normalize_affinity, normalize_spread};

const WATCH_PODS: u32 = 1;
const WATCH_NODES: u32 = 2;
const WATCH_SERVICES: u32 = 3;
const WATCH_REPLICASETS: u32 = 4;
const WATCH_STATEFULSETS: u32 = 5;
const WATCH_NAMESPACES: u32 = 6;
const WATCH_CLAIMS: u32 = 7;
const WATCH_VOLUMES: u32 = 8;
const WATCH_CSI_NODES: u32 = 9;
const WATCH_CLASSES: u32 = 10;

/// VolumeBinding's PreBind polls the claims it waits for this often
/// (upstream's `wait.PollUntilContextTimeout` interval)...
const VOLUME_POLL: Time = crate::engine::SECOND;
/// ...and gives up after its `bindTimeoutSeconds`' default.
const VOLUME_BIND_TIMEOUT: Time = 600 * crate::engine::SECOND;

/// A pod's VolumeBinding PreBind in progress: its writes, then its wait
/// for the claims to be bound, before the pod's Bind.
struct VolumeBind {
    bindings: volumes::Bindings,
    node: Arc<str>,
    attempts: u32,
    started: Time,
    /// The write in flight (its tag), and those still to send after it,
    /// one at a time, as upstream's `BindPodVolumes`.
    writing: Option<u64>,
    writes: std::collections::VecDeque<Verb>,
}

/// What DefaultPreemption (PostFilter) made of a pod no node fits.
enum Preemption {
    /// The pod may not preempt (`preemptionPolicy: Never`, or a
    /// lower-priority pod the scheduler preempted still terminating on its
    /// nominated node): its nomination stays.
    NotEligible,
    /// No node would fit it whatever lower-priority pods went: a
    /// nomination it had is cleared.
    NoCandidate,
    Candidate(preemption::Candidate),
}

/// A pod's nomination by a preemption: its node, and its requests as its
/// spec gives them (reused while the waiting version keeps that spec: the
/// nominated pods count in every cycle of pods of their priority or lower).
struct Nomination {
    node: usize,
    spec: Arc<crate::api::pod::PodSpec>,
    res: Arc<PodResources>,
}

/// A pod the scheduler accounts on a node.
struct Placed {
    node: usize,
    res: PodResources,
    obj: Arc<Object>,
    /// Assumed by this scheduler, not yet seen bound through the watch.
    assumed: bool,
}

/// One node's verdict and scores in an [`Evaluation`].
#[derive(Clone, Debug)]
pub struct NodeEvaluation {
    pub node: Arc<str>,
    pub rejection: Option<framework::Rejection>,
    /// Indexed like [`ScorePlugin::ALL`].
    pub raw: [i64; NUM_SCORE_PLUGINS],
    pub normalized: [i64; NUM_SCORE_PLUGINS],
    pub total: i64,
}

/// Every node's verdict and scores for one pod.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub weights: [i64; NUM_SCORE_PLUGINS],
    /// False when scoring is skipped (one feasible node, or a profile that
    /// does not score).
    pub scored: bool,
    /// In the scheduler's node order.
    pub nodes: Vec<NodeEvaluation>,
}

impl Evaluation {
    pub fn get(&self, node: &str) -> Option<&NodeEvaluation> {
        self.nodes.iter().find(|n| &*n.node == node)
    }

    /// A plugin's normalized score on `node`.
    pub fn score(&self, node: &str, p: ScorePlugin) -> i64 {
        self.get(node).map_or(-1, |n| n.normalized[p as usize])
    }
}

/// Reusable buffers of a scheduling cycle, so that scoring allocates
/// nothing per node.
#[derive(Default)]
struct Scratch {
    feasible: Vec<usize>,
    raw: Vec<[i64; NUM_SCORE_PLUGINS]>,
    /// Filled only for the decision trace and `evaluate`; the decision
    /// needs only the totals.
    normalized: Vec<[i64; NUM_SCORE_PLUGINS]>,
    /// Whether the last cycle scored (the rows above are its).
    scored: bool,
    spread: Vec<Option<i64>>,
    /// Per score plugin that normalizes: its column of raw scores, then
    /// of normalized scores.
    columns: [Vec<i64>; NUM_SCORE_PLUGINS],
    /// Per feasible node, its total score; left empty when `ranked`.
    totals: Vec<i64>,
    /// When the feasible nodes are a range of node indices whose totals
    /// are `ScoreMemo::weighted` plus a base (and the memo's block
    /// summaries are up to date over it): the range, the base and the
    /// memo (its way, see `Scheduler::memo`).
    ranked: Option<(std::ops::Range<usize>, i64, usize)>,
    /// The last cycle's rejected nodes in visiting order, each with
    /// whether upstream's status for it is Unschedulable (removing pods
    /// may help) rather than UnschedulableAndUnresolvable: preemption's
    /// potential nodes.
    failed: Vec<(usize, bool)>,
}

/// One node's NodeResourcesFit, BalancedAllocation and ImageLocality raw
/// scores for one pod shape (see `Scheduler::shapes`), and their sum
/// weighted by the shape's plugin weights: they depend only on the node's
/// row, the shape and the nodes' images, so they stay valid until the
/// node's row changes (the shapes are renumbered when the images change).
#[derive(Clone, Copy, Default)]
struct Memoized {
    fit: i64,
    balanced: i64,
    image: i64,
    weighted: i64,
}

/// Per node (indexed like `Scheduler::nodes`): its last [`Memoized`]
/// scores and their shape, in columns, so that a run of consecutive nodes
/// is checked and summed by plain passes over slices; and per block of
/// [`ties::BLOCK`] nodes, the summary of their weighted sums that the
/// tie-break reads whole blocks by.
#[derive(Default)]
struct ScoreMemo {
    /// The shape of the node's scores; 0: nothing kept.
    shape: Vec<u64>,
    /// `Memoized::weighted`.
    weighted: Vec<i64>,
    /// The raw scores: fit, balanced, image.
    raw: Vec<[i64; 3]>,
    /// Per block of nodes: the shape every node of the block holds and
    /// `tops` summarizes; 0: not known (reset whenever a node's scores
    /// are set or cleared).
    block_shape: Vec<u64>,
    /// Per block of nodes: `ties::BlockTop::of` its `weighted`, when
    /// `block_shape` is not 0.
    tops: Vec<ties::BlockTop>,
}

impl ScoreMemo {
    /// Forgets node `i`'s scores (making room for it).
    fn clear(&mut self, i: usize) {
        if self.shape.len() <= i {
            self.shape.resize(i + 1, 0);
            self.weighted.resize(i + 1, 0);
            self.raw.resize(i + 1, [0; 3]);
            let blocks = (i + 1).div_ceil(ties::BLOCK);
            self.block_shape.resize(blocks, 0);
            self.tops.resize(blocks, ties::BlockTop::default());
        }
        self.shape[i] = 0;
        self.block_shape[i / ties::BLOCK] = 0;
    }

    fn set(&mut self, i: usize, shape: u64, m: Memoized) {
        self.shape[i] = shape;
        self.weighted[i] = m.weighted;
        self.raw[i] = [m.fit, m.balanced, m.image];
        self.block_shape[i / ties::BLOCK] = 0;
    }

    fn get(&self, i: usize) -> Memoized {
        let [fit, balanced, image] = self.raw[i];
        Memoized {
            fit,
            balanced,
            image,
            weighted: self.weighted[i],
        }
    }
}

/// The node a pod is nominated to (`status.nominatedNodeName`), if any.
fn nominated_node(pod: &Pod) -> Option<&str> {
    pod.status
        .nominated_node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// How many shapes' scores a node keeps at once, one per way.
const MEMO_WAYS: usize = 8;

/// kube-scheduler's API client rate limit (KubeSchedulerConfiguration's
/// `clientConnection.qps` and `burst`): every call it makes (its lists and
/// watches, binds, preemption's deletes and nominations) waits for a token
/// of one bucket, in the order made, as client-go's token bucket limiter
/// reserves them. A call that waits does not hold up the scheduling
/// cycles (upstream binds in a goroutine per pod and, with
/// SchedulerAsyncAPICalls, sends status updates through its API
/// dispatcher). A `qps` of 0 or less means no limit, as client-go makes
/// no limiter then.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientConnection {
    pub qps: f64,
    pub burst: u32,
}

impl ClientConnection {
    /// Upstream's defaults (`SetDefaults_KubeSchedulerConfiguration`).
    pub const DEFAULT: ClientConnection = ClientConnection {
        qps: 50.0,
        burst: 100,
    };
    /// upstream scheduler_perf's scheduler client, unless a test case or
    /// workload sets `schedulerApiClientQPS` / `schedulerApiClientBurst`.
    pub const SCHEDULER_PERF: ClientConnection = ClientConnection {
        qps: 5000.0,
        burst: 5000,
    };
}

impl Default for ClientConnection {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The way of [`Scheduler::memo`] that keeps the scores of `shape`.
fn memo_way(shape: u64) -> usize {
    (shape % MEMO_WAYS as u64) as usize
}

/// `feasible` as a range of node indices, when it is one (the nodes are
/// visited in index order while `order` is `0..nodes.len()`).
fn as_range(feasible: &[usize], every_node: bool) -> Option<std::ops::Range<usize>> {
    let (&first, &last) = (feasible.first()?, feasible.last()?);
    // The nodes are distinct and visited in increasing index but for one
    // wrap to index 0, after which every node is below the first.
    (every_node && last >= first && last - first == feasible.len() - 1).then_some(first..last + 1)
}

/// Appends to `totals`, per node of `feasible`, `base` plus its weighted
/// NodeResourcesFit, BalancedAllocation and ImageLocality scores, from
/// `memo` where it holds the scores of `shape` and else from `miss` (which
/// the memo then keeps). `range`: `feasible` as a range of indices, if it
/// is one; then the memo's summary of every block inside it is brought up
/// to date too, and `totals` may be `None` (the caller reads the memo).
#[inline(never)]
fn memo_totals(
    memo: &mut ScoreMemo,
    feasible: &[usize],
    range: Option<std::ops::Range<usize>>,
    shape: u64,
    base: i64,
    totals: Option<&mut Vec<i64>>,
    miss: &mut dyn FnMut(usize) -> Memoized,
) {
    #[cfg(test)]
    if let Some(r) = &range {
        assert!(feasible.iter().copied().eq(r.clone()), "not a range");
    }
    let Some(range) = range else {
        let totals = totals.expect("totals");
        totals.extend(feasible.iter().map(|&i| {
            if memo.shape[i] != shape {
                memo.set(i, shape, miss(i));
            }
            base + memo.weighted[i]
        }));
        return;
    };
    // A block at a time: a block whose summary is of `shape` holds no
    // miss; in another, the misses are found after one test of the whole
    // block (or-ing the differences, without a branch per node), and the
    // summary is made again if the block is inside the range.
    const B: usize = ties::BLOCK;
    let mut from = range.start;
    while from < range.end {
        let b = from / B;
        let to = ((b + 1) * B).min(range.end);
        let whole = from == b * B && to == (b + 1) * B;
        if whole && memo.block_shape[b] == shape {
            from = to;
            continue;
        }
        let stale = match <&[u64; B]>::try_from(&memo.shape[from..to]) {
            Ok(chunk) => chunk.iter().fold(0, |any, &s| any | (s ^ shape)) != 0,
            Err(_) => memo.shape[from..to].iter().any(|&s| s != shape),
        };
        if stale {
            for i in from..to {
                if memo.shape[i] != shape {
                    memo.set(i, shape, miss(i));
                }
            }
        }
        if whole {
            memo.tops[b] = ties::BlockTop::of(&memo.weighted[from..to]);
            memo.block_shape[b] = shape;
        }
        from = to;
    }
    #[cfg(test)]
    for b in range.start.div_ceil(B)..range.end / B {
        let block = &memo.weighted[b * B..(b + 1) * B];
        assert_eq!(memo.block_shape[b], shape, "block not summarized");
        assert_eq!(
            memo.tops[b],
            ties::BlockTop::of(block),
            "stale block summary"
        );
    }
    if let Some(totals) = totals {
        totals.extend(memo.weighted[range].iter().map(|&w| base + w));
    }
}

/// A pod's system default spread matcher, kept for the other pods of its
/// controller (see `Scheduler::default_spread`).
struct DefaultSpread {
    /// The controller's kind, as the owner reference names it.
    kind: String,
    /// The labels of the pod it was found for; a pod with other labels
    /// (Services select by labels) looks its own up.
    labels: Arc<Labels>,
    /// The matcher id and whether the pod matches it; `None`: no default
    /// selector.
    matcher: Option<(usize, bool)>,
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
    /// The version of the pod the cycle decided for, and its requests.
    obj: Arc<Object>,
    res: PodResources,
}

pub struct Scheduler {
    nodes: Vec<NodeInfo>,
    /// One shared copy of each text the nodes' taints give as a filter
    /// reason: nodes tainted alike share it, so that counting a cycle's
    /// reasons compares pointers, not texts.
    taint_reasons: HashSet<Arc<str>>,
    /// Per node (indexed like `nodes`): what the filters and default
    /// scores read most, compact and contiguous; rebuilt by `refresh_row`
    /// after every change to the node.
    rows: framework::Rows,
    /// How many of `rows` have a PreferNoSchedule taint.
    soft_tainted: usize,
    live: Vec<bool>,
    /// Live node indices, in the order the nodes are visited: the node
    /// tree's list as the last cycle's snapshot took it.
    order: Vec<usize>,
    /// `order` is `0..nodes.len()`: every node is live and the tree lists
    /// them in index order (the fast paths read nodes by index ranges).
    order_identity: bool,
    /// A node was added or removed since `order` was taken from `tree`.
    order_stale: bool,
    /// The names of `order`'s nodes when it was taken: a node removed and
    /// added again under its name keeps its place (upstream's snapshot
    /// rebuilds its list only when the set of names changes).
    order_names: Vec<Arc<str>>,
    /// The live nodes by zone, in upstream's node tree order.
    tree: nodetree::NodeTree<usize>,
    /// Each node's zone key, as the tree holds it.
    zone_of: Vec<String>,
    node_index: HashMap<Arc<str>, usize>,
    placed: HashMap<u64, Placed>,
    /// The uids of `placed` by node index, in no order: preemption's dry
    /// run reads the pods of the nodes it tries only.
    on_node: Vec<Vec<u64>>,
    /// Bound pods whose Node the cache does not hold (yet or any more: a
    /// pod list that came before the node list, or their Node deleted):
    /// upstream keeps them under a placeholder NodeInfo; here they are
    /// placed when a Node of that name comes.
    unplaced: BTreeMap<u64, Arc<Object>>,
    queue: SchedulingQueue,
    /// The latest version of every pod waiting to be scheduled.
    waiting: HashMap<u64, Arc<Object>>,
    in_flight: Option<InFlight>,
    next_start: usize,
    rng: ties::HostRng,
    /// Preemption's draws: the order its dry run tries the potential
    /// nodes in, and which of equally good candidates it takes.
    preempt_rng: ChaCha8Rng,
    next_tag: u64,
    /// Bind requests in flight: tag to (pod uid, attempts so far).
    binds: HashMap<u64, (u64, u32)>,
    /// VolumeBinding's PreBinds in progress, by pod uid, and their writes
    /// in flight, by tag (to the pod's uid).
    volume_binds: HashMap<u64, VolumeBind>,
    volume_writes: HashMap<u64, u64>,
    synced_pods: bool,
    synced_nodes: bool,
    /// Whether the scheduler runs a Namespace informer (see
    /// [`Scheduler::watch_namespaces`]), and whether its list has come.
    namespace_informer: bool,
    synced_namespaces: bool,
    /// Whether the scheduler runs PersistentVolumeClaim, PersistentVolume
    /// and CSINode informers (see [`Scheduler::watch_volumes`]), and how
    /// many of their lists are still to come.
    volume_informers: bool,
    volume_lists_due: u8,
    /// Their caches, for the volume plugins.
    volume_cache: volumes::VolumeCache,
    /// The Namespaces' labels, by name.
    namespaces: topology::NamespaceLabels,
    /// When a flush of backoffQ is already scheduled.
    flush_at: BTreeMap<Time, ()>,
    profiles: Vec<Profile>,
    idx: Indexes,
    /// Placed pods with pod (anti-)affinity terms, by uid.
    with_affinity: BTreeMap<u64, (usize, Arc<Object>)>,
    /// The nodes' images by image: per node size, and how many live
    /// nodes have each.
    images: ImageColumns,
    /// Service selectors by (namespace, name).
    services: BTreeMap<(Text, Text), Labels>,
    /// Services by (namespace, first selector pair): the only Services a
    /// pod without that label pair cannot match are skipped.
    services_by_pair: HashMap<(Text, String, String), BTreeSet<Text>>,
    /// ReplicaSet and StatefulSet selectors by (kind, namespace, name).
    owners: HashMap<(Kind, Text, Text), LabelSelector>,
    /// PodTopologySpread's system default matcher for the pods of one
    /// controller, by namespace and controller name: what
    /// `Indexes::default_matcher` gave for the last such pod. Entries
    /// are dropped when a Service of the namespace, or a ReplicaSet or
    /// StatefulSet of the name, changes selector.
    default_spread: HashMap<String, HashMap<String, DefaultSpread>>,
    scratch: Scratch,
    /// Per node (indexed like `nodes`): its last scores for a pod shape,
    /// in the memo of the shape's way (its id modulo [`MEMO_WAYS`]), so
    /// that pods of shapes scheduled in turn (Deployments rolling out side
    /// by side) do not evict each other's scores; cleared in every way by
    /// `refresh_row`.
    memo: Vec<ScoreMemo>,
    /// Pod shapes by id: the weights of a LeastAllocated cpu-and-memory
    /// NodeResourcesFit plan, the pod's non-zero cpu and memory requests,
    /// its cpu and memory requests, the weights of NodeResourcesFit,
    /// BalancedAllocation and ImageLocality in the total, and its list of
    /// images (by id in `image_lists`): everything a [`Memoized`] reads
    /// besides the node's row and the nodes' images. Emptied when the
    /// nodes' images change (`images_changed`); ids are never reused.
    shapes: HashMap<([i64; 9], u32), u64>,
    /// The last shape id given.
    last_shape: u64,
    /// The pods' lists of (normalized) images, by id.
    image_lists: HashMap<Vec<String>, u32>,
    /// The key, images and id of the last shape looked up in `shapes`
    /// (dropped with them).
    last_lookup: Option<([i64; 9], Vec<String>, u64)>,
    /// Set when a node's images are counted in or out (which changes
    /// ImageLocality's scores everywhere); cleared with `shapes`.
    images_changed: bool,
    /// Pods skipped because no profile has their schedulerName.
    pub unknown_scheduler: BTreeMap<u64, String>,
    /// The plugins that rejected a node in the last cycle's filters.
    rejected_by: hints::Rejectors,
    /// Whether the queue runs upstream's queueing hints (the
    /// SchedulerQueueingHints feature gate, on by default since v1.32).
    queueing_hints: bool,
    /// The API client's token bucket; `None`: no limit.
    client: Option<crate::ratelimit::TokenBucket>,
    /// With the hints on, the events that came while the pod in flight
    /// was in its cycle, for the hints to read if the cycle fails.
    in_flight_events: Vec<hints::Recorded>,
    /// Pods held back by their scheduling gates (not queued).
    gated: HashSet<u64>,
    /// Pods that preempted others, and the node nominated for each.
    nominated: HashMap<u64, Nomination>,
    /// The pods this scheduler chose as victims, until they are gone:
    /// upstream marks them with a DisruptionTarget condition, reason
    /// PreemptionByScheduler, which its PodEligibleToPreemptOthers reads.
    preempted: HashSet<u64>,
    /// The decision trace, when asked for.
    trace: Option<trace::Trace>,
    /// The last cycle's filter verdicts, kept only when tracing.
    trace_verdicts: Vec<(usize, Option<framework::Rejection>)>,
}

impl Scheduler {
    pub fn new(rng: &RngStreams) -> Self {
        Self::with_profiles(rng, vec![Profile::default()])
    }

    /// A scheduler running `profiles` (at least one).
    pub fn with_profiles(rng: &RngStreams, profiles: Vec<Profile>) -> Self {
        Scheduler {
            nodes: Vec::new(),
            taint_reasons: HashSet::default(),
            rows: framework::Rows::default(),
            soft_tainted: 0,
            live: Vec::new(),
            order: Vec::new(),
            order_identity: true,
            order_stale: false,
            order_names: Vec::new(),
            tree: nodetree::NodeTree::default(),
            zone_of: Vec::new(),
            node_index: HashMap::default(),
            placed: HashMap::default(),
            on_node: Vec::new(),
            unplaced: BTreeMap::new(),
            queue: SchedulingQueue::default(),
            waiting: HashMap::default(),
            in_flight: None,
            next_start: 0,
            rng: ties::HostRng::new(rng.stream("kube-scheduler/select-host")),
            preempt_rng: rng.stream("kube-scheduler/preemption"),
            next_tag: 0,
            binds: HashMap::default(),
            volume_binds: HashMap::default(),
            volume_writes: HashMap::default(),
            synced_pods: false,
            synced_nodes: false,
            rejected_by: 0,
            queueing_hints: true,
            client: Some(Self::bucket(ClientConnection::DEFAULT)),
            in_flight_events: Vec::new(),
            namespace_informer: false,
            synced_namespaces: true,
            volume_informers: false,
            volume_lists_due: 0,
            volume_cache: volumes::VolumeCache::default(),
            namespaces: BTreeMap::new(),
            flush_at: BTreeMap::new(),
            profiles,
            idx: Indexes::default(),
            with_affinity: BTreeMap::new(),
            images: ImageColumns::default(),
            services: BTreeMap::new(),
            services_by_pair: HashMap::default(),
            owners: HashMap::default(),
            default_spread: HashMap::default(),
            scratch: Scratch::default(),
            memo: (0..MEMO_WAYS).map(|_| ScoreMemo::default()).collect(),
            shapes: HashMap::default(),
            last_shape: 0,
            image_lists: HashMap::default(),
            last_lookup: None,
            images_changed: false,
            unknown_scheduler: BTreeMap::new(),
            gated: HashSet::default(),
            nominated: HashMap::default(),
            preempted: HashSet::default(),
            trace: None,
            trace_verdicts: Vec::new(),
        }
    }

    /// Runs a Namespace informer, for InterPodAffinity's namespace
    /// selectors; the scheduler then waits for its list before its first
    /// cycle, as for pods and nodes. Without one every namespace reads as
    /// unlabelled, as it would with no Namespace objects: a run sets this
    /// when its scenario creates any, so that a cluster without them keeps
    /// the requests (and random draws) it had before Namespaces existed.
    pub fn watch_namespaces(&mut self) {
        self.namespace_informer = true;
        self.synced_namespaces = false;
    }

    /// Runs the informers of PersistentVolumeClaims, PersistentVolumes
    /// and CSINodes, which the volume plugins read (upstream's scheduler
    /// always does): called for a run whose scenario creates any of them,
    /// so that a cluster without them keeps the requests it had before
    /// volumes existed. Without them the caches stay empty, as the
    /// cluster's stores are.
    pub fn watch_volumes(&mut self) {
        self.volume_informers = true;
        self.volume_lists_due = 4;
    }

    /// Sets the scheduling queue's backoff (a KubeSchedulerConfiguration's
    /// `podInitialBackoffSeconds` and `podMaxBackoffSeconds`); the default
    /// is upstream's, 1 s doubling up to 10 s.
    pub fn set_pod_backoff(&mut self, initial: Time, max: Time) {
        self.queue.set_backoff(initial, max);
    }

    /// Sets the API client's rate limit (see [`ClientConnection`]); the
    /// default is upstream's, QPS 50 and burst 100.
    pub fn set_client_connection(&mut self, c: ClientConnection) {
        self.client = (c.qps > 0.0).then(|| Self::bucket(c));
    }

    fn bucket(c: ClientConnection) -> crate::ratelimit::TokenBucket {
        crate::ratelimit::TokenBucket::new(c.qps, c.burst.max(1))
    }

    /// Makes an API call through the client's rate limiter: now if a
    /// token is free, else when its reserved token is (the call comes
    /// back here as [`Msg::SchedulerCall`] and is made then).
    fn call(&mut self, tag: u64, verb: Verb, cx: &mut Cx) {
        let wait = match &mut self.client {
            Some(bucket) => bucket.reserve(cx.now()),
            None => 0,
        };
        if wait == 0 {
            cx.api(Dest::Scheduler, tag, verb);
        } else {
            let req = crate::sim::msg::Request {
                from: Dest::Scheduler,
                tag,
                verb,
            };
            cx.send(Dest::Scheduler, wait, Msg::SchedulerCall(Box::new(req)));
        }
    }

    /// Turns upstream's queueing hints (the SchedulerQueueingHints feature
    /// gate) on or off: with them off, the queue moves pods as upstream's
    /// did before v1.32 (`preCheckForNode`, `moveRequestCycle`).
    pub fn set_queueing_hints(&mut self, on: bool) {
        self.queueing_hints = on;
    }

    /// Writes the decision trace (`scheduling.csv`) into `w`.
    pub fn set_trace(&mut self, w: Box<dyn std::io::Write>) {
        self.trace = Some(trace::Trace::new(w));
    }

    /// Flushes the decision trace, if any.
    pub fn finish_trace(&mut self) -> std::io::Result<()> {
        match &mut self.trace {
            Some(t) => t.finish(),
            None => Ok(()),
        }
    }

    /// The trace rows of one decision: every visited node's filter
    /// verdicts (plugins in order up to the first that rejects), every
    /// feasible node's scores when the cycle scored, and the selection.
    fn write_trace(&mut self, now: Time, pod: &Pod, attempt: u32, profile: usize, d: &Decision) {
        let Some(tr) = self.trace.as_mut() else {
            return;
        };
        let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
        tr.begin(now, &key, attempt);
        let prof = &self.profiles[profile];
        for (i, rej) in &self.trace_verdicts {
            let node = &*self.nodes[*i].name;
            for plugin in &prof.filters {
                match rej {
                    Some(r) if r.plugin == plugin.name() => {
                        let reason = r.joined("; ");
                        tr.row(trace::Row {
                            node,
                            plugin: plugin.name(),
                            stage: "filter",
                            verdict: &reason,
                            raw: None,
                            normalized: None,
                            weighted: None,
                        });
                        break;
                    }
                    _ => tr.row(trace::Row {
                        node,
                        plugin: plugin.name(),
                        stage: "filter",
                        verdict: "pass",
                        raw: None,
                        normalized: None,
                        weighted: None,
                    }),
                }
            }
        }
        let sc = &self.scratch;
        if sc.scored {
            for (k, &i) in sc.feasible.iter().enumerate() {
                let node = &*self.nodes[i].name;
                for p in ScorePlugin::ALL {
                    let w = prof.weight(p);
                    if w == 0 {
                        continue;
                    }
                    let col = p as usize;
                    let raw = if p == ScorePlugin::PodTopologySpread {
                        sc.spread[k]
                    } else {
                        Some(sc.raw[k][col])
                    };
                    let norm = sc.normalized[k][col];
                    tr.row(trace::Row {
                        node,
                        plugin: p.name(),
                        stage: "score",
                        verdict: "",
                        raw,
                        normalized: Some(norm),
                        weighted: Some(norm * w),
                    });
                }
            }
        }
        match d {
            Decision::Node { node, score, .. } => tr.row(trace::Row {
                node: &self.nodes[*node].name,
                plugin: "",
                stage: "select",
                verdict: "selected",
                raw: Some(*score),
                normalized: None,
                weighted: None,
            }),
            Decision::Unschedulable(msg) => tr.row(trace::Row {
                node: "",
                plugin: "",
                stage: "select",
                verdict: msg,
                raw: None,
                normalized: None,
                weighted: None,
            }),
        }
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => {
                for (tag, kind) in [
                    (WATCH_SERVICES, Kind::Service),
                    (WATCH_REPLICASETS, Kind::ReplicaSet),
                    (WATCH_STATEFULSETS, Kind::StatefulSet),
                    (WATCH_NODES, Kind::Node),
                    (WATCH_PODS, Kind::Pod),
                ] {
                    let spec = WatchSpec::all(tag, kind);
                    self.call(0, Verb::Watch(spec), cx);
                }
                if self.namespace_informer {
                    let spec = WatchSpec::all(WATCH_NAMESPACES, Kind::Namespace);
                    self.call(0, Verb::Watch(spec), cx);
                }
                if self.volume_informers {
                    for (tag, kind) in [
                        (WATCH_CLAIMS, Kind::PersistentVolumeClaim),
                        (WATCH_VOLUMES, Kind::PersistentVolume),
                        (WATCH_CSI_NODES, Kind::CSINode),
                        (WATCH_CLASSES, Kind::StorageClass),
                    ] {
                        self.call(0, Verb::Watch(WatchSpec::all(tag, kind)), cx);
                    }
                }
            }
            Msg::WatchList { tag, objects, .. } => {
                // The nodes of the list, in the order the node tree visits
                // them, take node indices in that order: the tree is the
                // same, and its list is the nodes in index order.
                let objects = if tag == WATCH_NODES {
                    nodetree::in_tree_order(*objects, |o| match &**o {
                        Object::Node(n) => nodetree::zone_key(n),
                        _ => String::new(),
                    })
                } else {
                    *objects
                };
                for obj in objects {
                    self.observe(EventType::Added, &obj, None, cx);
                }
                match tag {
                    WATCH_PODS => self.synced_pods = true,
                    WATCH_NODES => self.synced_nodes = true,
                    WATCH_NAMESPACES => self.synced_namespaces = true,
                    WATCH_CLAIMS | WATCH_VOLUMES | WATCH_CSI_NODES | WATCH_CLASSES => {
                        self.volume_lists_due = self.volume_lists_due.saturating_sub(1);
                    }
                    _ => {}
                }
            }
            Msg::WatchEvent { kind, change, .. } => {
                self.observe(kind, &change.object, change.prev.as_deref(), cx);
            }
            Msg::SchedulingCycleDone => self.finish_cycle(cx),
            // A call whose token was reserved for now.
            Msg::SchedulerCall(req) => cx.api(Dest::Scheduler, req.tag, req.verb),
            Msg::SchedulerFlush => {
                let now = cx.now();
                self.flush_at = self.flush_at.split_off(&(now + 1));
                self.queue.flush(now);
                // The pods still backing off (a cluster event moved several
                // at once, with one flush for the earliest) are flushed
                // when the next of them is due.
                if let Some(until) = self.queue.next_backoff() {
                    self.schedule_flush(until, false, cx);
                }
            }
            Msg::VolumeBindPoll { uid } => self.poll_volume_bind(uid, cx),
            Msg::Response(resp) if self.volume_writes.contains_key(&resp.tag) => {
                let uid = self.volume_writes.remove(&resp.tag).expect("checked");
                self.volume_write_answered(uid, &resp, cx);
            }
            Msg::Response(resp) => {
                if let Some((uid, attempts)) = self.binds.remove(&resp.tag)
                    && let Err(e) = &resp.result
                {
                    let detail = format!("{} {}: {}", e.code, e.reason, e.message);
                    cx.log(
                        Dest::Scheduler,
                        "bind-failed",
                        Subject::from(&resp.key),
                        &detail,
                    );
                    self.bind_failed(uid, attempts, cx);
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
            Object::Node(node)
                if kind == EventType::Deleted
                    && self.node_index.contains_key(node.metadata.name.as_str()) =>
            {
                self.observe_node(kind, node);
                if self.queueing_hints {
                    self.hinted_node_event(Some(node), None, cx);
                } else {
                    self.node_deleted(cx);
                }
            }
            Object::Node(_) if kind == EventType::Deleted => {}
            Object::Node(node) => {
                let prev = prev.and_then(|o| match o {
                    Object::Node(n) => Some(n),
                    _ => None,
                });
                if self.queueing_hints {
                    // Upstream's addNodeToCache and updateNodeInCache: an
                    // addition, or each kind of change an update makes, is
                    // an event for the hints.
                    if self.observe_node(kind, node) {
                        let old = prev.filter(|_| kind != EventType::Added);
                        self.hinted_node_event(old, Some(node), cx);
                    }
                    return;
                }
                // Upstream's addNodeToCache and updateNodeInCache, with the
                // queueing hints off: an update moves pods only when it
                // changes what scheduling reads (nodeSchedulingPropertiesChange).
                let event = kind == EventType::Added
                    || prev.is_none_or(|old| scheduling_properties_changed(old, node));
                if self.observe_node(kind, node) && event {
                    let i = self.node_index[node.metadata.name.as_str()];
                    self.node_event(i, cx);
                }
            }
            Object::Pod(pod) => self.observe_pod(kind, obj, pod, prev, cx),
            // No cluster event: upstream's InterPodAffinity registers none
            // for Namespaces, so a pod waits for another event (or the
            // unschedulable pods' periodic flush) to see new labels.
            Object::Namespace(ns) if kind == EventType::Deleted => {
                self.namespaces.remove(ns.metadata.name.as_str());
            }
            Object::Namespace(ns) => self.add_namespace(ns),
            Object::PersistentVolumeClaim(_)
            | Object::PersistentVolume(_)
            | Object::CsiNode(_)
            | Object::StorageClass(_) => {
                let old = prev.map(|o| Arc::new(o.clone()));
                self.volume_cache.observe(kind == EventType::Deleted, obj);
                if kind != EventType::Deleted {
                    let old = old.filter(|_| kind == EventType::Modified);
                    self.storage_event(old, obj.clone(), cx);
                }
            }
            Object::Service(svc) => {
                let key = (svc.metadata.namespace.clone(), svc.metadata.name.clone());
                if kind == EventType::Deleted {
                    self.service_unset(&key);
                } else if self.services.get(&key) != Some(&svc.spec.selector) {
                    self.service_set(key, svc.spec.selector.clone());
                }
            }
            Object::Workload(k @ (Kind::ReplicaSet | Kind::StatefulSet), w) => {
                let key = (*k, w.metadata.namespace.clone(), w.metadata.name.clone());
                match (&w.spec.selector, kind) {
                    (Some(sel), EventType::Added | EventType::Modified) => {
                        self.owner_set(key, sel);
                    }
                    _ => {
                        if self.owners.remove(&key).is_some() {
                            self.default_spread_changed(&key.1, Some(&key.2));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Takes a node change into the cache; true when it may make pods fit.
    fn observe_node(&mut self, kind: EventType, node: &crate::api::Node) -> bool {
        let name: Arc<str> = Arc::from(node.metadata.name.as_str());
        match (kind, self.node_index.get(&name).copied()) {
            (EventType::Deleted, Some(i)) => {
                // Its bound pods wait, as under upstream's placeholder
                // NodeInfo, for a Node of that name to come back (pod GC
                // deletes them before long otherwise). Assumed pods stay:
                // their bindings are in flight.
                let mut bound: Vec<u64> = (self.on_node[i].iter().copied())
                    .filter(|uid| !self.placed[uid].assumed)
                    .collect();
                bound.sort_unstable();
                for uid in bound {
                    let obj = self.placed[&uid].obj.clone();
                    self.forget(uid);
                    self.unplaced.insert(uid, obj);
                }
                self.count_images(i, -1);
                self.idx.remove_node(i);
                self.live[i] = false;
                self.tree.remove(&self.zone_of[i], i);
                self.order_stale = true;
                self.node_index.remove(&name);
                false
            }
            (EventType::Deleted, None) => false,
            (_, Some(i)) => {
                // A new zone moves the node in the tree (upstream's
                // updateNode), and in the visiting order once a node is
                // added or removed.
                let zone = nodetree::zone_key(node);
                if zone != self.zone_of[i] {
                    self.tree.remove(&self.zone_of[i], i);
                    self.tree.add(&zone, i);
                    self.zone_of[i] = zone;
                }
                self.count_images(i, -1);
                self.nodes[i].update(node);
                self.share_taint_reasons(i);
                self.refresh_row(i);
                self.count_images(i, 1);
                self.idx.set_node(i, &node.metadata.labels);
                true
            }
            (_, None) => {
                let i = self.nodes.len();
                self.nodes.push(NodeInfo::new(node));
                self.on_node.push(Vec::new());
                self.share_taint_reasons(i);
                self.rows.push(NodeRow::default());
                self.refresh_row(i);
                self.live.push(true);
                let zone = nodetree::zone_key(node);
                self.tree.add(&zone, i);
                self.zone_of.push(zone);
                self.order_stale = true;
                self.node_index.insert(name, i);
                self.count_images(i, 1);
                self.idx.set_node(i, &node.metadata.labels);
                self.idx.matches.grow(self.nodes.len());
                if !self.unplaced.is_empty() {
                    self.place_unplaced(i);
                }
                self.move_assumed_from_gone(i);
                true
            }
        }
    }

    /// Node `i`'s taint reasons become the shared copies of their texts.
    fn share_taint_reasons(&mut self, i: usize) {
        for r in &mut self.nodes[i].taint_reasons {
            match self.taint_reasons.get(r) {
                Some(shared) => *r = shared.clone(),
                None => {
                    self.taint_reasons.insert(r.clone());
                }
            }
        }
    }

    /// The pods assumed on a deleted Node of node `i`'s name (their
    /// bindings were in flight when it went) count on node `i`, as under
    /// upstream's placeholder NodeInfo, which keeps assumed pods too.
    fn move_assumed_from_gone(&mut self, i: usize) {
        // Most Nodes are new names: the pods are looked through only when
        // a deleted node had this one (and the nodes only when some node
        // was deleted: the tree holds the live ones).
        if self.tree.len() == self.nodes.len() {
            return;
        }
        let name = self.nodes[i].name.clone();
        let gone: Vec<usize> = (0..self.nodes.len())
            .filter(|&j| !self.live[j] && *self.nodes[j].name == *name)
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut stale: Vec<u64> = (gone.iter())
            .flat_map(|&j| self.on_node[j].iter().copied())
            .collect();
        if stale.is_empty() {
            return;
        }
        stale.sort_unstable();
        for uid in stale {
            let p = &self.placed[&uid];
            let (res, obj, assumed) = (p.res.clone(), p.obj.clone(), p.assumed);
            self.forget(uid);
            self.place(uid, i, res, obj, assumed);
        }
    }

    /// Places the bound pods that waited for node `i` to be known.
    fn place_unplaced(&mut self, i: usize) {
        let name = self.nodes[i].name.clone();
        let on_it: Vec<u64> = (self.unplaced.iter())
            .filter(|(_, o)| {
                o.as_pod()
                    .and_then(|p| p.spec.node_name())
                    .is_some_and(|n| *n == *name)
            })
            .map(|(&uid, _)| uid)
            .collect();
        for uid in on_it {
            let obj = self.unplaced.remove(&uid).expect("listed above");
            if let Some(pod) = obj.as_pod() {
                let res = PodResources::of(pod);
                self.place(uid, i, res, obj.clone(), false);
            }
        }
    }

    /// Rebuilds node `i`'s row from its `NodeInfo`: after every change.
    fn refresh_row(&mut self, i: usize) {
        let row = NodeRow::of(&self.nodes[i]);
        let soft = |r: &NodeRow| usize::from(r.has(NodeRow::SOFT_TAINTS));
        self.soft_tainted = self.soft_tainted + soft(&row) - soft(&self.rows[i]);
        self.rows.set(i, row);
        for memo in &mut self.memo {
            memo.clear(i);
        }
    }

    /// Whether every node's row agrees with its `NodeInfo`.
    #[cfg(test)]
    fn rows_in_sync(&self) -> bool {
        self.rows.len() == self.nodes.len()
            && self.rows.worst_in_sync()
            && self
                .nodes
                .iter()
                .zip(self.rows.iter())
                .all(|(n, r)| NodeRow::of(n) == *r)
            && self.soft_tainted
                == (self.rows.iter())
                    .filter(|r| r.has(NodeRow::SOFT_TAINTS))
                    .count()
            && self.on_node.len() == self.nodes.len()
            && self.on_node.iter().map(Vec::len).sum::<usize>() == self.placed.len()
            && (self.on_node.iter().enumerate()).all(|(n, uids)| {
                uids.iter()
                    .all(|u| self.placed.get(u).is_some_and(|p| p.node == n))
            })
    }

    fn count_images(&mut self, i: usize, delta: i64) {
        self.images_changed = true;
        self.images.count(i, &self.nodes[i].images, delta);
    }

    /// DefaultPreemption for a pod no node fits: the node and victims, if
    /// removing lower-priority pods can make room. As upstream's
    /// `findCandidates`: the potential nodes are the cycle's rejected
    /// nodes, still live, whose status was Unschedulable (not
    /// UnschedulableAndUnresolvable); the dry run tries them
    /// in random order (upstream's list comes out of a Go map, and its
    /// workers take chunks of it in parallel) until it has max(10 %, 100)
    /// candidates (`minCandidateNodesPercentage`,
    /// `minCandidateNodesAbsolute`).
    fn preempt(&mut self, pod: &Pod, profile: usize) -> Preemption {
        // `preemptionPolicy: Never`: the pod waits instead (upstream's
        // PodEligibleToPreemptOthers).
        if pod.spec.preemption_policy.as_deref() == Some("Never") {
            return Preemption::NotEligible;
        }
        let priority = pod.spec.priority();
        let res = PodResources::of(pod);
        let filters = &self.profiles[profile].filters;
        let failed = &self.scratch.failed;
        // Nor while a lower-priority pod preempted by this scheduler is
        // still terminating on its nominated node, unless the cycle found
        // that node unable to take it whatever is removed.
        if let Some(&nn) = nominated_node(pod).and_then(|n| self.node_index.get(n))
            && !failed.iter().any(|&(i, resolvable)| i == nn && !resolvable)
            && self.on_node[nn].iter().any(|uid| {
                self.preempted.contains(uid)
                    && self.placed[uid].obj.as_pod().is_some_and(|p| {
                        p.metadata.deletion_timestamp.is_some() && p.spec.priority() < priority
                    })
            })
        {
            return Preemption::NotEligible;
        }
        let mut potential: Vec<usize> = (failed.iter())
            .filter(|&&(i, resolvable)| resolvable && self.live[i])
            .map(|&(i, _)| i)
            .collect();
        if potential.is_empty() {
            return Preemption::NoCandidate;
        }
        // The pods nominated by earlier preemptions, of this priority or
        // higher, hold their room on their node.
        let mut nominated: BTreeMap<usize, Vec<Arc<PodResources>>> = BTreeMap::new();
        for (n, _, res) in self.nominated_for(pod) {
            nominated.entry(n).or_default().push(res);
        }
        let wanted = preemption::num_candidates(potential.len());
        let mut candidates = Vec::new();
        // The volume filters' side of the pod, re-run on each node without
        // the pods the dry run removes.
        let vols = volumes::PodVolumes::new(pod, filters, &self.volume_cache);
        for k in 0..potential.len() {
            // A shuffle drawn as far as the run goes.
            let j = k + (self.preempt_rng.next_u64() % (potential.len() - k) as u64) as usize;
            potential.swap(k, j);
            let i = potential[k];
            let mut pods: Vec<preemption::Running> = (self.on_node[i].iter())
                .filter_map(|uid| {
                    let p = &self.placed[uid];
                    let other = p.obj.as_pod()?;
                    (other.spec.priority() < priority).then(|| preemption::Running {
                        uid: *uid,
                        priority: other.spec.priority(),
                        start: (other.status.start_time)
                            .or(other.metadata.creation_timestamp)
                            .unwrap_or(0),
                        res: p.res.clone(),
                    })
                })
                .collect();
            if pods.is_empty() {
                continue;
            }
            // The list is in no order: fix it before anything ranks ties.
            pods.sort_unstable_by_key(|r| r.uid);
            let held = nominated.get(&i).map_or(&[][..], Vec::as_slice);
            let (placed, on_node, cache) = (&self.placed, &self.on_node[i], &self.volume_cache);
            let node = &self.nodes[i];
            let mut volumes_fit = |removed: &[u64]| {
                if !vols.any() {
                    return true;
                }
                let pod_of = |uid: &u64| placed.get(uid)?.obj.as_pod();
                let gone: Vec<&Pod> = removed.iter().filter_map(pod_of).collect();
                let left = (on_node.iter())
                    .filter(|uid| !removed.contains(uid))
                    .filter_map(pod_of);
                (vols.active.iter()).all(|&p| {
                    vols.filter(p, node, None, left.clone(), &gone, cache)
                        .is_ok()
                })
            };
            if let Some(c) = preemption::select_victims(
                filters,
                pod,
                &res,
                i,
                node,
                pods,
                held,
                &mut volumes_fit,
            ) {
                candidates.push(c);
                if candidates.len() >= wanted {
                    break;
                }
            }
        }
        match preemption::pick(candidates, &mut self.preempt_rng) {
            Some(c) => Preemption::Candidate(c),
            None => Preemption::NoCandidate,
        }
    }

    /// The pods this scheduler's preemptions nominated to live nodes, of
    /// `pod`'s priority or higher (itself excepted), by (node, uid), with
    /// their requests: upstream counts them on their nodes for `pod`.
    fn nominated_for(&self, pod: &Pod) -> Vec<(usize, u64, Arc<PodResources>)> {
        if self.nominated.is_empty() {
            return Vec::new();
        }
        let priority = pod.spec.priority();
        let mut pods: Vec<(usize, u64, Arc<PodResources>)> = (self.nominated.iter())
            .filter(|&(&uid, nom)| {
                uid != pod.metadata.uid && self.live.get(nom.node) == Some(&true)
            })
            .filter_map(|(&uid, nom)| {
                let other = self.waiting.get(&uid)?.as_pod()?;
                (other.spec.priority() >= priority).then(|| {
                    let res = if Arc::ptr_eq(&other.spec, &nom.spec) {
                        nom.res.clone()
                    } else {
                        Arc::new(PodResources::of(other))
                    };
                    (nom.node, uid, res)
                })
            })
            .collect();
        // `nominated` is a hash map: a fixed order.
        pods.sort_unstable_by_key(|&(n, uid, _)| (n, uid));
        pods
    }

    /// Adds [`Self::nominated_for`] `pod` to their nodes' accounts;
    /// returns them for [`Self::release_nominated`].
    fn hold_nominated(&mut self, pod: &Pod) -> Vec<(usize, u64, Arc<PodResources>)> {
        let held = self.nominated_for(pod);
        for (n, _, res) in &held {
            self.nodes[*n].add_pod(res);
            self.refresh_row(*n);
        }
        held
    }

    /// Takes the pods [`Self::hold_nominated`] added off their nodes.
    fn release_nominated(&mut self, held: Vec<(usize, u64, Arc<PodResources>)>) {
        for (n, _, res) in held.iter().rev() {
            self.nodes[*n].remove_pod(res);
            self.refresh_row(*n);
        }
    }

    /// Accounts a pod on node `n`.
    fn place(&mut self, uid: u64, n: usize, res: PodResources, obj: Arc<Object>, assumed: bool) {
        self.nominated.remove(&uid);
        self.nodes[n].add_pod(&res);
        self.refresh_row(n);
        if let Some(pod) = obj.as_pod() {
            self.idx.pod_added(n, pod);
            if !pod.spec.volumes.is_empty() {
                self.volume_cache.pod_placed(pod, 1);
            }
            if has_pod_affinity(pod) {
                self.idx.existing_pod(n, pod, 1, &self.nodes);
                if let Some((old_n, old)) = self.with_affinity.insert(uid, (n, obj.clone()))
                    && let Some(old) = old.as_pod()
                {
                    self.idx.existing_pod(old_n, old, -1, &self.nodes);
                }
            }
        }
        let before = self.placed.insert(
            uid,
            Placed {
                node: n,
                res,
                obj,
                assumed,
            },
        );
        if let Some(before) = before {
            self.unlist(uid, before.node);
            if let Some(pod) = before.obj.as_pod().filter(|p| !p.spec.volumes.is_empty()) {
                self.volume_cache.pod_placed(pod, -1);
            }
        }
        self.on_node[n].push(uid);
        self.volume_cache.pods_changed(n);
    }

    /// The pods placed on node `i` (bound or assumed).
    fn pods_on(&self, i: usize) -> impl Iterator<Item = &Pod> + Clone {
        (self.on_node[i].iter()).filter_map(|uid| self.placed.get(uid)?.obj.as_pod())
    }

    /// Takes `uid` out of node `n`'s list of placed pods.
    fn unlist(&mut self, uid: u64, n: usize) {
        self.volume_cache.pods_changed(n);
        let on = &mut self.on_node[n];
        if let Some(k) = on.iter().position(|&u| u == uid) {
            on.swap_remove(k);
        }
    }

    /// Records a ReplicaSet's or StatefulSet's selector.
    fn owner_set(&mut self, key: (Kind, Text, Text), selector: &LabelSelector) {
        if self.owners.get(&key) != Some(selector) {
            self.default_spread_changed(&key.1, Some(&key.2));
            self.owners.insert(key, selector.clone());
        }
    }

    /// A selector that default selectors are made of changed: the kept
    /// system default matchers of namespace `ns` are dropped, only the
    /// one of the controller named `owner` when given.
    fn default_spread_changed(&mut self, ns: &str, owner: Option<&str>) {
        match owner {
            Some(name) => {
                if let Some(m) = self.default_spread.get_mut(ns) {
                    m.remove(name);
                }
            }
            None => {
                self.default_spread.remove(ns);
            }
        }
    }

    /// Records a Service's selector (indexed by its first pair).
    fn service_set(&mut self, key: (Text, Text), selector: Labels) {
        self.service_unset(&key);
        self.default_spread_changed(&key.0, None);
        if let Some((k, v)) = selector.iter().next() {
            self.services_by_pair
                .entry((key.0.clone(), k.clone(), v.clone()))
                .or_default()
                .insert(key.1.clone());
        }
        self.services.insert(key, selector);
    }

    fn service_unset(&mut self, key: &(Text, Text)) {
        let Some(old) = self.services.remove(key) else {
            return;
        };
        self.default_spread_changed(&key.0, None);
        if let Some((k, v)) = old.iter().next() {
            let pair = (key.0.clone(), k.clone(), v.clone());
            if let Some(names) = self.services_by_pair.get_mut(&pair) {
                names.remove(&key.1);
                if names.is_empty() {
                    self.services_by_pair.remove(&pair);
                }
            }
        }
    }

    /// Upstream `DefaultSelector`: the selectors of the Services selecting
    /// the pod merged, plus its controlling ReplicaSet's or StatefulSet's.
    fn default_selector(&self, pod: &Pod) -> Option<LabelSelector> {
        let ns = &pod.metadata.namespace;
        let mut sel = LabelSelector::default();
        // Only Services whose first selector pair the pod carries can
        // select it; visited in name order, as the full scan would.
        let mut names: BTreeSet<&Text> = BTreeSet::new();
        for (k, v) in pod.metadata.labels.iter() {
            if let Some(n) = self
                .services_by_pair
                .get(&(ns.clone(), k.clone(), v.clone()))
            {
                names.extend(n.iter());
            }
        }
        for name in names {
            let Some(selector) = self.services.get(&(ns.clone(), (*name).clone())) else {
                continue;
            };
            if !selector.is_empty() && map_matches(selector, &pod.metadata.labels) {
                for (k, v) in selector {
                    sel.match_labels.insert(k.clone(), v.clone());
                }
            }
        }
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true));
        if let Some(o) = owner
            && let Some(kind @ (Kind::ReplicaSet | Kind::StatefulSet)) = Kind::parse(&o.kind)
            && let Some(os) = self.owners.get(&(kind, ns.clone(), Text::from(&o.name)))
        {
            for (k, v) in &os.match_labels {
                sel.match_labels.insert(k.clone(), v.clone());
            }
            sel.match_expressions
                .extend(os.match_expressions.iter().cloned());
        }
        (!sel.is_empty()).then_some(sel)
    }

    /// PodTopologySpread's system default matcher for `pod` and whether
    /// the pod matches it (`Indexes::default_matcher` of its
    /// `default_selector`), kept per controller for its other pods with
    /// the same labels.
    fn default_matcher(&mut self, pod: &Pod) -> Option<(usize, bool)> {
        let meta = &pod.metadata;
        let owner = meta
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true));
        if let Some(o) = owner
            && let Some(e) = (self.default_spread.get(meta.namespace.as_str()))
                .and_then(|m| m.get(o.name.as_str()))
            && e.kind == o.kind
            && (Arc::ptr_eq(&e.labels, &meta.labels) || e.labels == meta.labels)
        {
            return e.matcher;
        }
        let selector = self.default_selector(pod);
        let placed = &self.placed;
        let all_placed = placed
            .values()
            .filter_map(|p| p.obj.as_pod().map(|pod| (p.node, pod)));
        let matcher = selector.map(|sel| {
            self.idx
                .default_matcher(&meta.namespace, &meta.labels, sel, all_placed)
        });
        if let Some(o) = owner {
            let kept = DefaultSpread {
                kind: o.kind.clone(),
                labels: meta.labels.clone(),
                matcher,
            };
            match self.default_spread.get_mut(meta.namespace.as_str()) {
                Some(m) => {
                    m.insert(o.name.clone(), kept);
                }
                None => {
                    let m = HashMap::from_iter([(o.name.clone(), kept)]);
                    self.default_spread.insert(meta.namespace.to_string(), m);
                }
            }
        }
        matcher
    }

    /// With the hints off, a pod deletion (upstream's AssignedPodDelete)
    /// moves the unschedulable pods of at most `priority` that a plugin
    /// registering pod deletions rejected (upstream's `podMatchesEvent`:
    /// NodeResourcesFit, NodePorts, InterPodAffinity and
    /// PodTopologySpread; a pod that NodeAffinity alone rejected, say,
    /// stays), and is a move request for the pod in flight.
    fn pod_deleted_without_hints(&mut self, priority: Option<i32>, cx: &mut Cx) {
        use FilterPlugin as P;
        let registered = hints::bit(P::NodeResourcesFit)
            | hints::bit(P::NodePorts)
            | hints::bit(P::InterPodAffinity)
            | hints::bit(P::PodTopologySpread)
            | hints::bit(P::VolumeRestrictions)
            | hints::bit(P::NodeVolumeLimits)
            | hints::NO_REJECTOR;
        let until =
            self.queue
                .move_some_up_to(cx.now(), priority.unwrap_or(i32::MAX), |_, rejectors| {
                    rejectors == 0 || rejectors & registered != 0
                });
        if let Some(until) = until {
            self.schedule_flush(until, false, cx);
        }
    }

    /// A Node added or changed in what scheduling reads (node `i` now):
    /// the unschedulable pods that pass upstream's `preCheckForNode` on it
    /// move (the kubelet's admission checks, NodeResourcesFit, NodeName,
    /// NodePorts and required node affinity, and no untolerated NoSchedule
    /// taint); the others stay, as no change of this node can help them.
    /// The pod in flight sees a move request either way.
    fn node_event(&mut self, i: usize, cx: &mut Cx) {
        let node = &self.nodes[i];
        let waiting = &self.waiting;
        // Every filter plugin but NodeVolumeLimits registers Node events:
        // a pod it alone rejected stays.
        let limits_only = hints::bit(FilterPlugin::NodeVolumeLimits);
        let until = self.queue.move_some(cx.now(), |uid, rejectors| {
            rejectors != limits_only
                && waiting
                    .get(&uid)
                    .and_then(|o| o.as_pod())
                    .is_none_or(|pod| admits(pod, node))
        });
        if let Some(until) = until {
            self.schedule_flush(until, false, cx);
        }
    }

    /// VolumeBinding's Reserve and PreBind for `pod`, placed on `node`:
    /// with claims that wait for it, their volumes and provisioning are
    /// assumed and written (each volume's claim reference, each claim's
    /// selected node), and the pod's Bind waits until the claims are bound
    /// ([`Self::poll_volume_bind`]). Returns whether it does.
    fn prebind_volumes(
        &mut self,
        uid: u64,
        pod: &Pod,
        node: &Arc<str>,
        attempts: u32,
        cx: &mut Cx,
    ) -> bool {
        if !self.volume_informers || pod.spec.volumes.is_empty() {
            return false;
        }
        let profile = self.profile_index(pod).unwrap_or(0);
        let filters = &self.profiles[profile].filters;
        if !filters.contains(&FilterPlugin::VolumeBinding) {
            return false;
        }
        let vols = volumes::PodVolumes::new(pod, filters, &self.volume_cache);
        if !vols.has_delayed() {
            return false;
        }
        let Some(&i) = self.node_index.get(&**node) else {
            return false;
        };
        let found = vols.bindings(node, &self.nodes[i].labels, &self.volume_cache);
        let writes = found
            .as_ref()
            .ok()
            .and_then(|b| self.volume_cache.prebind_writes(b));
        let (Ok(bindings), Some(writes)) = (found, writes) else {
            // The volumes it found in its cycle are gone since.
            let detail = "binding volumes: the pod's volumes no longer fit the node";
            let key =
                crate::api::ObjectKey::new(Kind::Pod, &pod.metadata.namespace, &pod.metadata.name);
            cx.log(Dest::Scheduler, "bind-failed", Subject::from(&key), detail);
            self.bind_failed(uid, attempts, cx);
            return true;
        };
        self.volume_cache.assume(&bindings);
        let now = cx.now();
        self.volume_binds.insert(
            uid,
            VolumeBind {
                bindings,
                node: node.clone(),
                attempts,
                started: now,
                writing: None,
                writes: writes.into(),
            },
        );
        self.next_volume_write(uid, cx);
        true
    }

    /// Sends pod `uid`'s next PreBind write, or, with none left, starts
    /// the wait for its claims.
    fn next_volume_write(&mut self, uid: u64, cx: &mut Cx) {
        let Some(vb) = self.volume_binds.get_mut(&uid) else {
            return;
        };
        match vb.writes.pop_front() {
            Some(verb) => {
                self.next_tag += 1;
                vb.writing = Some(self.next_tag);
                self.volume_writes.insert(self.next_tag, uid);
                self.call(self.next_tag, verb, cx);
            }
            None => {
                vb.writing = None;
                cx.send(Dest::Scheduler, VOLUME_POLL, Msg::VolumeBindPoll { uid });
            }
        }
    }

    /// A `bind-failed` row of pod `uid`'s binding.
    fn log_bind_failed(&self, uid: u64, detail: &str, cx: &mut Cx) {
        if let Some(obj) = self.placed.get(&uid).map(|p| &p.obj) {
            cx.log(
                Dest::Scheduler,
                "bind-failed",
                Subject::from(&**obj),
                detail,
            );
        }
    }

    /// An answer to one of a PreBind's writes: a refusal fails the
    /// binding; the last success starts the wait.
    fn volume_write_answered(&mut self, uid: u64, resp: &crate::sim::msg::Response, cx: &mut Cx) {
        // An answer to an earlier attempt's write is no news.
        if self.volume_binds.get(&uid).and_then(|vb| vb.writing) != Some(resp.tag) {
            return;
        }
        if let Err(e) = &resp.result {
            let detail = format!(
                "binding volumes: {}: {} {}: {}",
                resp.key, e.code, e.reason, e.message
            );
            self.log_bind_failed(uid, &detail, cx);
            self.volume_bind_failed(uid, cx);
        } else {
            self.next_volume_write(uid, cx);
        }
    }

    /// PreBind's poll: once every claim is bound the pod's Bind goes; past
    /// the timeout the binding fails.
    fn poll_volume_bind(&mut self, uid: u64, cx: &mut Cx) {
        let Some(vb) = self.volume_binds.get(&uid) else {
            return;
        };
        if vb.writing.is_some() || !vb.writes.is_empty() {
            return;
        }
        if !self.placed.contains_key(&uid) {
            // Deleted while it waited.
            let vb = self.volume_binds.remove(&uid).expect("present");
            self.volume_cache.forget_assumed(&vb.bindings);
            return;
        }
        let now = cx.now();
        // Upstream's `checkBindings`: the node, then each volume's claim
        // and node affinity.
        let broken = match self.node_index.get(&*vb.node) {
            None => Some(format!(
                "failed to get node {:?}: node {:?} not found",
                vb.node, vb.node
            )),
            Some(&i) => self
                .volume_cache
                .broken(&vb.bindings, &vb.node, &self.nodes[i].labels),
        };
        if let Some(why) = broken {
            self.log_bind_failed(uid, &format!("binding volumes: {why}"), cx);
            return self.volume_bind_failed(uid, cx);
        }
        if self.volume_cache.all_bound(&vb.bindings) {
            let vb = self.volume_binds.remove(&uid).expect("present");
            self.volume_cache.forget_assumed(&vb.bindings);
            let Some(obj) = self.placed.get(&uid).map(|p| p.obj.clone()) else {
                return;
            };
            self.next_tag += 1;
            self.binds.insert(self.next_tag, (uid, vb.attempts));
            let verb = Verb::Bind {
                key: obj.key(),
                node: vb.node.to_string(),
            };
            self.call(self.next_tag, verb, cx);
        } else if now.saturating_sub(vb.started) >= VOLUME_BIND_TIMEOUT {
            self.log_bind_failed(uid, "binding volumes: context deadline exceeded", cx);
            self.volume_bind_failed(uid, cx);
        } else {
            cx.send(Dest::Scheduler, VOLUME_POLL, Msg::VolumeBindPoll { uid });
        }
    }

    /// A PreBind failed: its assumptions go (Unreserve) and the pod is
    /// retried, as a failed binding.
    fn volume_bind_failed(&mut self, uid: u64, cx: &mut Cx) {
        let Some(vb) = self.volume_binds.remove(&uid) else {
            return;
        };
        self.volume_cache.forget_assumed(&vb.bindings);
        self.bind_failed(uid, vb.attempts, cx);
    }

    /// A binding failed (upstream `handleBindingCycleError`): the assumed
    /// pod is forgotten, which frees its node for the unschedulable pods
    /// (a cluster event), and the pod, unless deleted or seen bound since,
    /// goes back to the queue to back off by its attempts so far.
    fn bind_failed(&mut self, uid: u64, attempts: u32, cx: &mut Cx) {
        let Some(p) = self.placed.get(&uid) else {
            // Deleted since: nothing to retry.
            return;
        };
        if !p.assumed {
            // Seen bound through the watch since: only an assumed pod is
            // forgotten (upstream's cache refuses the rest).
            return;
        }
        let assumed = p.obj.clone();
        self.forget(uid);
        self.assigned_pod_deleted(&assumed, cx);
        // The latest version the watch delivered, as upstream requeues the
        // informer's copy.
        let obj = self.waiting.entry(uid).or_insert(assumed).clone();
        let Some(pod) = obj.as_pod() else { return };
        if pod.metadata.deletion_timestamp.is_some() {
            self.waiting.remove(&uid);
            return;
        }
        let until = self
            .queue
            .requeue_failed(uid, pod.spec.priority(), attempts, cx.now());
        cx.log(Dest::Scheduler, "enqueue", Subject::from(&*obj), "backoffQ");
        self.schedule_flush(until, false, cx);
    }

    fn forget(&mut self, uid: u64) {
        if let Some(p) = self.placed.remove(&uid) {
            self.unlist(uid, p.node);
            self.nodes[p.node].remove_pod(&p.res);
            self.refresh_row(p.node);
            if let Some(pod) = p.obj.as_pod() {
                self.idx.pod_removed(p.node, pod);
                if !pod.spec.volumes.is_empty() {
                    self.volume_cache.pod_placed(pod, -1);
                }
            }
            if let Some((n, obj)) = self.with_affinity.remove(&uid)
                && let Some(pod) = obj.as_pod()
            {
                self.idx.existing_pod(n, pod, -1, &self.nodes);
            }
        }
    }

    fn observe_pod(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        pod: &Pod,
        prev: Option<&Object>,
        cx: &mut Cx,
    ) {
        let uid = pod.metadata.uid;
        let gone = kind == EventType::Deleted || pod.status.phase.is_terminal();
        if gone {
            self.unknown_scheduler.remove(&uid);
            if !self.gated.is_empty() {
                self.gated.remove(&uid);
            }
            self.nominated.remove(&uid);
            if !self.preempted.is_empty() {
                self.preempted.remove(&uid);
            }
            self.queue.remove(uid);
            self.waiting.remove(&uid);
            // A bound pod gone, counted on a node or waiting for its Node:
            // upstream's AssignedPodDelete either way.
            let unplaced = !self.unplaced.is_empty() && self.unplaced.remove(&uid).is_some();
            if self.placed.contains_key(&uid) {
                self.forget(uid);
                self.assigned_pod_deleted(obj, cx);
            } else if unplaced {
                self.assigned_pod_deleted(obj, cx);
            } else if nominated_node(pod).is_some() && self.profile_index(pod).is_some() {
                // Upstream's deletePodFromSchedulingQueue: a pod that held
                // a nomination (and was not assumed) is gone (deleted, or
                // terminal, which upstream's informer sees as deleted).
                self.nomination_released(obj, cx);
            }
            return;
        }
        if let Some(node_name) = pod.spec.node_name() {
            // Any other update of a bound pod (its status, say) is
            // upstream's UpdatePodOther, which no plugin of the profile
            // registers: it moves nothing and is no move request either.
            // The version the cache held tells an addition (none, or an
            // assumed one) from an update, whose kinds of change decide
            // what moves (with the hints off, always read: a change no
            // plugin registers is no move request either).
            let before = (!self.queueing_hints
                || self.queue.has_unschedulable()
                || self.in_flight.is_some())
            .then(|| {
                self.placed
                    .get(&uid)
                    .filter(|p| !p.assumed)
                    .map(|p| p.obj.clone())
            })
            .flatten();
            if self.observe_bound(uid, obj, pod, node_name) {
                if !self.queueing_hints {
                    match before.as_ref().and_then(|o| o.as_pod()) {
                        Some(old) => self.assigned_pod_updated(old, pod, cx),
                        None => self.assigned_pod_event(pod, cx),
                    }
                } else if let Some(old) = before {
                    self.hinted_pod_updated(&old, obj, cx);
                } else {
                    self.hinted_pod_added(obj, cx);
                }
            }
            // A pod that held a nomination, seen bound: upstream's
            // unscheduled-pod informer sees it go (its filter no longer
            // passes), and deletePodFromSchedulingQueue releases the
            // nomination for the pods of its priority or lower.
            if let Some(old) = prev.filter(|o| {
                o.as_pod()
                    .is_some_and(|p| p.spec.node_name().is_none() && nominated_node(p).is_some())
            }) && self.profile_index(pod).is_some()
            {
                self.nomination_released(&Arc::new(old.clone()), cx);
            }
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            // Being deleted (its finalizers hold it): never scheduled, as
            // upstream's skipPodSchedule.
            self.queue.remove(uid);
            self.waiting.remove(&uid);
            return;
        }
        if self.profile_index(pod).is_none() {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.unknown_scheduler.entry(uid)
            {
                let name = pod.spec.scheduler_name().to_string();
                cx.log(
                    Dest::Scheduler,
                    "ignored",
                    Subject::from(&**obj),
                    &format!("no profile has schedulerName {name}"),
                );
                slot.insert(name);
                cx.rec.counters.pods_without_profile += 1;
            }
            return;
        }
        // Upstream's updatePodInSchedulingQueue: a pod whose nomination
        // changed (not an assumed one) no longer holds room on the node it
        // was nominated to, after the update is queued.
        let released = prev
            .filter(|old| {
                old.as_pod().is_some_and(|old| {
                    nominated_node(old).is_some_and(|n| Some(n) != nominated_node(pod))
                        && !self.placed.contains_key(&uid)
                })
            })
            .map(|old| Arc::new(old.clone()));
        // PreEnqueue (upstream's SchedulingGates): a gated pod is not
        // queued, and waits for an update that clears its gates.
        if !pod.spec.scheduling_gates.is_empty() {
            if self.gated.insert(uid) {
                let names: Vec<&str> = pod
                    .spec
                    .scheduling_gates
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect();
                cx.log(
                    Dest::Scheduler,
                    "gated",
                    Subject::from(&**obj),
                    &format!("waiting for scheduling gates: [{}]", names.join(" ")),
                );
            }
            if let Some(old) = released {
                self.nomination_released(&old, cx);
            }
            return;
        }
        if !self.gated.is_empty() {
            self.gated.remove(&uid);
        }
        let before = self.waiting.insert(uid, obj.clone());
        let fresh = before.is_none();
        let in_flight = self.in_flight.as_ref().is_some_and(|f| f.uid == uid);
        if fresh && !in_flight && !self.placed.contains_key(&uid) {
            self.queue.add(uid, pod.spec.priority());
            cx.log(Dest::Scheduler, "enqueue", Subject::from(&**obj), "activeQ");
        }
        if let Some(old) = before {
            if self.queueing_hints {
                self.pending_pod_updated(uid, &old, obj, in_flight, cx);
            } else if !in_flight
                && pod_updated(&old, obj)
                && let Some(until) = self.queue.move_one(uid, cx.now())
            {
                // Upstream's Update with the hints off: an unschedulable
                // pod changed in more than its status may now fit.
                self.schedule_flush(until, false, cx);
            }
        }
        if let Some(old) = released {
            self.nomination_released(&old, cx);
        }
    }

    /// A pod no longer holds its nomination (gone, nominated elsewhere, or
    /// seen bound): upstream's filters count a nominated pod on its node
    /// for the pods of its priority or lower, so it treats this as that
    /// pod's deletion (AssignedPodDelete) for them alone
    /// (`getLEPriorityPreCheck`). With the hints on, they put the deletion
    /// of `old` (the version that held the nomination) to their hints;
    /// with them off, those a plugin registering pod deletions rejected
    /// move back, and the pod in flight sees a move request.
    fn nomination_released(&mut self, old: &Arc<Object>, cx: &mut Cx) {
        let Some(priority) = old.as_pod().map(|p| p.spec.priority()) else {
            return;
        };
        if self.queueing_hints {
            self.hinted_pod_deleted(old, false, |p| p.spec.priority() <= priority, cx);
        } else {
            self.pod_deleted_without_hints(Some(priority), cx);
        }
    }

    /// A bound or assumed pod gone (upstream's AssignedPodDelete).
    fn assigned_pod_deleted(&mut self, obj: &Arc<Object>, cx: &mut Cx) {
        if self.queueing_hints {
            self.hinted_pod_deleted(obj, true, |_| true, cx);
        } else {
            self.pod_deleted_without_hints(None, cx);
        }
    }

    /// With the hints on: `event` moves the unschedulable pods that
    /// `pre` lets through and for which a plugin that rejected them says
    /// Queue (upstream's `movePodsToActiveOrBackoffQueue`).
    fn hinted_move(&mut self, event: hints::Event<'_>, pre: impl Fn(&Pod) -> bool, cx: &mut Cx) {
        if !self.queue.has_unschedulable() {
            return;
        }
        let waiting = &self.waiting;
        let until = self.queue.move_some(cx.now(), |uid, rejectors| {
            waiting
                .get(&uid)
                .and_then(|o| o.as_pod())
                .is_some_and(|pod| pre(pod) && hints::worth_requeuing(pod, rejectors, event))
        });
        if let Some(until) = until {
            self.schedule_flush(until, false, cx);
        }
    }

    /// With the hints on: keeps an event for the pod in flight, whose
    /// cycle, if it fails, puts them to its hints (upstream's
    /// `inFlightEvents`).
    fn record(&mut self, event: impl FnOnce() -> hints::Recorded) {
        if self.in_flight.is_some() {
            self.in_flight_events.push(event());
        }
    }

    /// With the hints on: a Node added (`old` none), updated, or deleted
    /// (`new` none). An update is an event per kind of change
    /// (`NodeSchedulingPropertiesChange`); a change of conditions alone
    /// is none that a plugin of the profile registers.
    fn hinted_node_event(
        &mut self,
        old: Option<&crate::api::Node>,
        new: Option<&crate::api::Node>,
        cx: &mut Cx,
    ) {
        use hints::{Event, NodeChange, Recorded};
        if !self.queue.has_unschedulable() && self.in_flight.is_none() {
            return;
        }
        match (old, new) {
            (None, Some(n)) => {
                let info = NodeInfo::new(n);
                self.hinted_move(Event::NodeAdded(&info), |_| true, cx);
                self.record(|| Recorded::NodeAdded(Box::new(info)));
            }
            (Some(o), Some(n)) => {
                let mut changes = hints::node_changes(o, n);
                changes.retain(|&c| c != NodeChange::Condition);
                if changes.is_empty() {
                    return;
                }
                let (was, is) = (NodeInfo::new(o), NodeInfo::new(n));
                for &c in &changes {
                    self.hinted_move(Event::NodeUpdated(&was, &is, c), |_| true, cx);
                }
                self.record(|| Recorded::NodeUpdated(Box::new((was, is)), changes));
            }
            (Some(o), None) => {
                let info = NodeInfo::new(o);
                self.hinted_move(Event::NodeDeleted(&info), |_| true, cx);
                self.record(|| Recorded::NodeDeleted(Box::new(info)));
            }
            (None, None) => {}
        }
    }

    /// A PersistentVolumeClaim, PersistentVolume or CSINode added (`old`
    /// none) or updated: with the hints on, the pods a plugin that
    /// rejected them says Queue to move; with them off, those a plugin
    /// that rejected them registers the event for.
    fn storage_event(&mut self, old: Option<Arc<Object>>, new: Arc<Object>, cx: &mut Cx) {
        if self.queueing_hints {
            if !self.queue.has_unschedulable() && self.in_flight.is_none() {
                return;
            }
            self.hinted_move(hints::Event::Storage(old.as_deref(), &new), |_| true, cx);
            self.record(|| hints::Recorded::Storage(old, new));
            return;
        }
        let waiting = &self.waiting;
        let event = hints::Event::Storage(old.as_deref(), &new);
        let until = self.queue.move_some(cx.now(), |uid, rejectors| {
            (waiting.get(&uid).and_then(|o| o.as_pod()))
                .is_some_and(|pod| hints::registered(pod, rejectors, event))
        });
        if let Some(until) = until {
            self.schedule_flush(until, false, cx);
        }
    }

    /// With the hints on: a pod seen bound for the first time (upstream's
    /// AssignedPod/Add).
    fn hinted_pod_added(&mut self, obj: &Arc<Object>, cx: &mut Cx) {
        let Some(pod) = obj.as_pod() else { return };
        self.hinted_move(hints::Event::PodAdded(pod), |_| true, cx);
        self.record(|| hints::Recorded::PodAdded(obj.clone()));
    }

    /// With the hints on: a bound pod changed, an event per kind of
    /// change (`PodSchedulingPropertiesChange`; the generic update no
    /// plugin of the profile registers).
    fn hinted_pod_updated(&mut self, old: &Arc<Object>, new: &Arc<Object>, cx: &mut Cx) {
        let (Some(o), Some(n)) = (old.as_pod(), new.as_pod()) else {
            return;
        };
        let changes = hints::registered_pod_changes(o, n);
        if changes.is_empty() {
            return;
        }
        for &c in &changes {
            self.hinted_move(hints::Event::PodUpdated(o, n, c), |_| true, cx);
        }
        self.record(|| hints::Recorded::PodUpdated(old.clone(), new.clone(), changes));
    }

    /// With the hints on: a pod gone, bound or assumed (`assigned`), or a
    /// pending pod whose nomination is released; `pre` picks the pods
    /// that hear of it.
    fn hinted_pod_deleted(
        &mut self,
        obj: &Arc<Object>,
        assigned: bool,
        pre: impl Fn(&Pod) -> bool,
        cx: &mut Cx,
    ) {
        let Some(pod) = obj.as_pod() else { return };
        self.hinted_move(hints::Event::PodDeleted(pod, assigned), pre, cx);
        self.record(|| hints::Recorded::PodDeleted(obj.clone(), assigned));
    }

    /// With the hints on: a pending pod updated (upstream's
    /// `PriorityQueue.Update`). In flight, the update is kept for its
    /// hints; among the unschedulable pods, it moves if a plugin that
    /// rejected it says Queue to one of the update's kinds of change.
    fn pending_pod_updated(
        &mut self,
        uid: u64,
        old: &Arc<Object>,
        new: &Arc<Object>,
        in_flight: bool,
        cx: &mut Cx,
    ) {
        let (Some(o), Some(n)) = (old.as_pod(), new.as_pod()) else {
            return;
        };
        let changes = hints::registered_pod_changes(o, n);
        if changes.is_empty() {
            return;
        }
        if in_flight {
            self.record(|| hints::Recorded::PodUpdated(old.clone(), new.clone(), changes));
            return;
        }
        let Some(rejectors) = self.queue.unschedulable_rejectors(uid) else {
            return;
        };
        if changes
            .iter()
            .any(|&c| hints::worth_requeuing(n, rejectors, hints::Event::PodUpdated(o, n, c)))
            && let Some(until) = self.queue.move_one(uid, cx.now())
        {
            self.schedule_flush(until, false, cx);
        }
    }

    /// A pod seen bound to `node_name`: confirms an assumed pod, or
    /// accounts one bound by others. As upstream's cache (`updatePod`),
    /// the new version replaces the one accounted: the old is removed and
    /// the new added, so that changed labels reach the label counts and
    /// changed terms the existing pods' terms. When nothing the cache
    /// keeps of it changed (requests, namespace, labels, affinity terms),
    /// only the object is swapped: the removal and addition would cancel
    /// out. Returns true when the pod is an assigned pod event for the
    /// unschedulable pods ([`Self::assigned_pod_event`]): seen bound for
    /// the first time, or changed while bound.
    fn observe_bound(&mut self, uid: u64, obj: &Arc<Object>, pod: &Pod, node_name: &str) -> bool {
        // Seen bound for the first time (an assumed pod confirmed, or a pod
        // another scheduler or the client bound): upstream's AssignedPodAdd.
        let added = self.placed.get(&uid).is_none_or(|p| p.assumed);
        if !self.unplaced.is_empty() {
            self.unplaced.remove(&uid);
        }
        self.queue.remove(uid);
        self.waiting.remove(&uid);
        // A status change shares the cached version's spec and labels: the
        // same node (still live, so still the one its name gives) and
        // nothing the cache keeps changed, known without looking up the
        // node's name or comparing the containers.
        if let Some(p) = self.placed.get_mut(&uid)
            && self.live[p.node]
            && p.obj.as_pod().is_some_and(|old| {
                Arc::ptr_eq(&old.spec, &pod.spec)
                    && Arc::ptr_eq(&old.metadata.labels, &pod.metadata.labels)
                    && old.metadata.namespace == pod.metadata.namespace
            })
        {
            p.assumed = false;
            p.obj = obj.clone();
            if let Some(kept) = self.with_affinity.get_mut(&uid) {
                kept.1 = obj.clone();
            }
            return added;
        }
        let node = self.node_index.get(node_name).copied();
        let unchanged = |p: &Placed| {
            p.obj.as_pod().is_some_and(|old| {
                old.metadata.namespace == pod.metadata.namespace
                    && (Arc::ptr_eq(&old.metadata.labels, &pod.metadata.labels)
                        || old.metadata.labels == pod.metadata.labels)
                    && (Arc::ptr_eq(&old.spec, &pod.spec)
                        || (old.spec.affinity == pod.spec.affinity
                            // What `PodResources::of` reads.
                            && old.spec.containers == pod.spec.containers
                            && old.spec.init_containers == pod.spec.init_containers
                            && old.spec.overhead == pod.spec.overhead))
            })
        };
        match (self.placed.get_mut(&uid), node) {
            (Some(p), Some(n)) if p.node == n && unchanged(p) => {
                p.assumed = false;
                p.obj = obj.clone();
                if let Some(kept) = self.with_affinity.get_mut(&uid) {
                    kept.1 = obj.clone();
                }
                added
            }
            (_, Some(n)) => {
                self.forget(uid);
                let res = PodResources::of(pod);
                self.place(uid, n, res, obj.clone(), false);
                // Added, or changed (relabelled, say) while bound.
                true
            }
            (_, None) => {
                self.forget(uid);
                self.unplaced.insert(uid, obj.clone());
                false
            }
        }
    }

    /// A pod seen bound for the first time, or changed while bound
    /// (upstream's AssignedPodAdded and AssignedPodUpdated, with the
    /// queueing hints off), moves back the unschedulable pods it may help,
    /// among those InterPodAffinity or PodTopologySpread rejected: the ones
    /// of its namespace that PodTopologySpread rejected, and the ones with
    /// a required pod affinity term that selects it (upstream's
    /// `getUnschedulablePodsWithCrossTopologyTerm`).
    fn assigned_pod_event(&mut self, pod: &Pod, cx: &mut Cx) {
        if !self.queue.has_unschedulable() {
            self.queue.move_requested();
            return;
        }
        let ns = pod.metadata.namespace.as_str();
        let ns_labels = topology::namespace_labels(&self.namespaces, ns);
        let waiting = &self.waiting;
        let until = self.queue.move_some(cx.now(), |uid, plugins| {
            let cross =
                queue::REJECTED_BY_INTER_POD_AFFINITY | queue::REJECTED_BY_POD_TOPOLOGY_SPREAD;
            if plugins & cross == 0 {
                return false;
            }
            let Some(pending) = waiting.get(&uid).and_then(|o| o.as_pod()) else {
                return false;
            };
            if plugins & queue::REJECTED_BY_POD_TOPOLOGY_SPREAD != 0
                && pending.metadata.namespace == ns
            {
                return true;
            }
            topology::required_affinity_terms(pending).iter().any(|t| {
                topology::term_selects(
                    t,
                    &pending.metadata.namespace,
                    ns,
                    ns_labels,
                    &pod.metadata.labels,
                )
            })
        });
        if let Some(until) = until {
            self.schedule_flush(until, false, cx);
        }
    }

    /// A bound pod changed (upstream's `AssignedPodUpdated` per kind of
    /// change, with the queueing hints off): a relabel moves the pods a
    /// new bound pod would ([`Scheduler::assigned_pod_event`]); a scale
    /// down of its requests (in-place resize) moves every unschedulable
    /// pod that NodeResourcesFit, the plugin registering it, rejected (or
    /// that no plugin rejected); other changes move nothing.
    fn assigned_pod_updated(&mut self, old: &Pod, new: &Pod, cx: &mut Cx) {
        for change in hints::pod_changes(old, new) {
            match change {
                hints::PodChange::Label => self.assigned_pod_event(new, cx),
                hints::PodChange::ScaleDown => {
                    let fit = hints::bit(FilterPlugin::NodeResourcesFit) | hints::NO_REJECTOR;
                    let until = self.queue.move_some(cx.now(), |_, rejectors| {
                        rejectors == 0 || rejectors & fit != 0
                    });
                    if let Some(until) = until {
                        self.schedule_flush(until, false, cx);
                    }
                }
                hints::PodChange::Toleration | hints::PodChange::Other => {}
            }
        }
    }

    /// A Node deleted (upstream's NodeDelete, which PodTopologySpread
    /// alone registers in the default profile): the pods it rejected move
    /// back, as one domain fewer may lower their skew, and the pod in
    /// flight sees a move request.
    fn node_deleted(&mut self, cx: &mut Cx) {
        let until = self.queue.move_some(cx.now(), |_, plugins| {
            plugins & queue::REJECTED_BY_POD_TOPOLOGY_SPREAD != 0
        });
        if let Some(until) = until {
            self.schedule_flush(until, false, cx);
        }
    }

    fn maybe_start_cycle(&mut self, cx: &mut Cx) {
        if self.in_flight.is_some()
            || !self.synced_pods
            || !self.synced_nodes
            || !self.synced_namespaces
            || self.volume_lists_due > 0
        {
            return;
        }
        let Some(uid) = self.queue.pop() else { return };
        let Some(obj) = self.waiting.get(&uid).cloned() else {
            self.queue.remove(uid);
            return;
        };
        let Some(pod) = obj.as_pod() else { return };
        let profile = self.profile_index(pod).unwrap_or(0);
        self.scratch.scored = false;
        self.trace_verdicts.clear();
        let res = PodResources::of(pod);
        let (decision, evaluated) = self.decide(pod, &res, profile);
        if self.trace.is_some() {
            let attempt = self.queue.attempts(uid);
            self.write_trace(cx.now(), pod, attempt, profile, &decision);
        }
        let cost = cx.lat.sample(Hop::SchedulingCycle)
            + cx.lat.sample(Hop::SchedulingPerNode) * evaluated as Time;
        self.in_flight = Some(InFlight {
            uid,
            decision,
            evaluated,
            obj: obj.clone(),
            res,
        });
        cx.send(Dest::Scheduler, cost, Msg::SchedulingCycleDone);
    }

    /// The system default spread matcher of `pod` when its profile adds
    /// the system default constraints (scores PodTopologySpread, default
    /// constraints on) and the pod has none of its own.
    fn system_default_matcher(&mut self, pod: &Pod, profile: usize) -> Option<(usize, bool)> {
        let prof = &self.profiles[profile];
        let spread_on = prof.weight(ScorePlugin::PodTopologySpread) > 0;
        if spread_on
            && prof.system_default_spreading
            && pod.spec.topology_spread_constraints.is_empty()
        {
            self.default_matcher(pod)
        } else {
            None
        }
    }

    /// The profile a pod asks for by `spec.schedulerName`.
    fn profile_index(&self, pod: &Pod) -> Option<usize> {
        let name = pod.spec.scheduler_name();
        self.profiles.iter().position(|p| p.scheduler_name == name)
    }

    /// Filters from the round-robin start until enough feasible nodes are
    /// found, scores them, and picks one as the profile says (the best,
    /// ties by reservoir sampling, for upstream's behaviour).
    fn decide(&mut self, pod: &Pod, res: &PodResources, profile: usize) -> (Decision, usize) {
        self.rejected_by = 0;
        self.scratch.failed.clear();
        self.refresh_order();
        let n = self.order.len();
        if n == 0 {
            self.rejected_by = queue::NO_REJECTOR;
            return (
                Decision::Unschedulable(
                    "0/0 nodes are available: no nodes available to schedule pods.".into(),
                ),
                0,
            );
        }
        #[cfg(test)]
        assert!(self.rows_in_sync(), "a node's row is stale");
        let default_matcher = self.system_default_matcher(pod, profile);
        let prof = &self.profiles[profile];
        let want = prof.num_feasible_nodes_to_find(n);
        let start = if prof.select == Select::FirstFit {
            0
        } else {
            self.next_start
        };
        // The pods nominated to a node, of this pod's priority or higher,
        // count on it while the filters run (upstream's
        // RunFilterPluginsWithNominatedPods): a lower-priority pod does not
        // take the room a preemption freed. They are taken off again
        // before scoring, which upstream runs without them.
        let held = self.hold_nominated(pod);
        let (mut st, cf) = self.prefilter(pod, res, profile, default_matcher);
        // A volume plugin's PreFilter rejected the pod (upstream's status
        // UnschedulableAndUnresolvable): every node with its message.
        if let Some((plugin, message)) = &cf.vols.rejected {
            self.release_nominated(held);
            self.rejected_by = hints::bit(*plugin);
            let live = self.order.iter().map(|&i| (i, false));
            self.scratch.failed.extend(live);
            return (
                Decision::Unschedulable(format!("0/{n} nodes are available: {message}.")),
                0,
            );
        }
        // A pod that preempted others tries its nominated node first.
        if let Some(nn) = self.nominated.get(&pod.metadata.uid).map(|nom| nom.node)
            && self.live.get(nn).copied().unwrap_or(false)
            && self.run_filters(&cf, &st, nn).is_ok()
        {
            self.release_nominated(held);
            self.scratch.feasible.clear();
            self.scratch.feasible.push(nn);
            if self.trace.is_some() {
                self.trace_verdicts.push((nn, None));
            }
            return (
                Decision::Node {
                    node: nn,
                    score: 0,
                    feasible: 1,
                },
                1,
            );
        }
        let mut feasible = std::mem::take(&mut self.scratch.feasible);
        feasible.clear();
        // Each distinct reason and its count (few kinds; most rejections
        // repeat the last one's reason, tried first).
        let mut reasons: Vec<(framework::Reason, usize)> = Vec::new();
        let mut last_reason = 0;
        // Nodes are visited as `order[(start + k) % n]` for k from 0 (without
        // the division): `processed` of them, stopping at the `want`th
        // feasible one.
        let mut pos = start % n;
        let mut processed = 0;
        // Whether a node whose row has none of the slow flags is decided
        // by its row (no filter looks at other pods, no trace to write):
        // then runs of such nodes that pass are taken in a tight loop, and
        // every other node goes through `run_filters`.
        let rows_decide = self.trace.is_none() && cf.topology.is_empty() && cf.pod.row_only();
        let every_node = self.order_identity;
        while processed < n {
            if rows_decide {
                // Up to the end of `order` (or of the visit) at most.
                let run = &self.order[pos..(pos + n - processed).min(n)];
                let room = want.saturating_sub(feasible.len());
                let run = &run[..run.len().min(room)];
                // While every node is in `order`, `order[k] == k`.
                let taken = if every_node {
                    framework::passing_rows(&cf.pod, &self.rows, pos, run.len())
                } else {
                    framework::passing_run(&cf.pod, &self.rows, run)
                };
                feasible.extend_from_slice(&run[..taken]);
                let enough = taken != 0 && taken == room;
                processed += taken;
                pos += taken;
                if pos == n {
                    pos = 0;
                }
                if enough || processed == n {
                    break;
                }
                if taken == run.len() {
                    continue;
                }
            }
            let i = self.order[pos];
            pos += 1;
            if pos == n {
                pos = 0;
            }
            processed += 1;
            let verdict = self.run_filters(&cf, &st, i);
            if self.trace.is_some() {
                self.trace_verdicts.push((i, verdict.clone().err()));
            }
            match verdict {
                Ok(()) => {
                    feasible.push(i);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(rej) => {
                    let plugin = FilterPlugin::ALL
                        .into_iter()
                        .find(|p| p.name() == rej.plugin);
                    if let Some(p) = plugin {
                        self.rejected_by |= hints::bit(p);
                    }
                    let resolvable = plugin.is_some_and(|p| preemption::resolvable(p, &rej.reason));
                    self.scratch.failed.push((i, resolvable));
                    for r in std::iter::once(rej.reason).chain(rej.more) {
                        let k = match reasons.get(last_reason) {
                            Some((seen, _)) if *seen == r => last_reason,
                            _ => match reasons.iter().position(|(seen, _)| *seen == r) {
                                Some(k) => k,
                                None => {
                                    reasons.push((r, 0));
                                    reasons.len() - 1
                                }
                            },
                        };
                        reasons[k].1 += 1;
                        last_reason = k;
                    }
                }
            }
        }
        self.release_nominated(held);
        let prof = &self.profiles[profile];
        if prof.select != Select::FirstFit {
            self.next_start = (self.next_start + processed) % n;
        }
        self.scratch.feasible = feasible;
        let feasible = &self.scratch.feasible;
        if feasible.is_empty() {
            // As upstream's FitError, the "N reason" strings sorted as
            // strings ("10 ..." before "2 ...").
            let mut parts: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            parts.sort_unstable();
            return (
                Decision::Unschedulable(format!(
                    "0/{n} nodes are available: {}.",
                    parts.join(", ")
                )),
                processed,
            );
        }
        if prof.select == Select::Random {
            let k = (self.rng.next_u64() % feasible.len() as u64) as usize;
            let node = feasible[k];
            let count = feasible.len();
            return (
                Decision::Node {
                    node,
                    score: 0,
                    feasible: count,
                },
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
        let feasible = std::mem::take(&mut self.scratch.feasible);
        let keep_rows = self.trace.is_some();
        self.score_feasible(pod, res, profile, &mut st, &feasible, keep_rows);
        let (best, score) = match &self.scratch.ranked {
            Some((range, base, way)) => {
                let memo = &self.memo[*way];
                let (all, tops) = (&memo.weighted, &memo.tops);
                #[cfg(test)]
                let mut naive = self.rng.clone();
                let best = self.rng.select_best_blocked(all, range.clone(), tops);
                #[cfg(test)]
                {
                    let totals: Vec<i64> = all[range.clone()].iter().map(|w| base + w).collect();
                    assert_eq!(naive.select_best(&totals), best, "blocks chose otherwise");
                    assert!(naive.same_place(&self.rng), "blocks drew otherwise");
                }
                (best, base + all[range.start + best])
            }
            None => {
                let scores = &self.scratch.totals;
                let best = self.rng.select_best(scores);
                (best, scores[best])
            }
        };
        let decision = Decision::Node {
            node: feasible[best],
            score,
            feasible: feasible.len(),
        };
        self.scratch.feasible = feasible;
        (decision, processed)
    }

    /// Takes the visiting order from the node tree when the set of live
    /// nodes' names changed since it was last taken, as upstream's
    /// snapshot does at the start of a cycle; a node removed and added
    /// again under its name takes its old place.
    fn refresh_order(&mut self) {
        if !self.order_stale {
            return;
        }
        self.order_stale = false;
        let same_names = self.order_names.len() == self.tree.len()
            && (self.order_names.iter()).all(|n| self.node_index.contains_key(n));
        if same_names {
            for (k, name) in self.order_names.iter().enumerate() {
                self.order[k] = self.node_index[name];
            }
        } else {
            self.order = self.tree.list();
            self.order_names = (self.order.iter())
                .map(|&i| self.nodes[i].name.clone())
                .collect();
        }
        self.order_identity = self.order.len() == self.nodes.len()
            && self.order.iter().enumerate().all(|(k, &i)| k == i);
    }

    /// Takes a node into the cache without a watch (explain, tests).
    pub fn add_node(&mut self, node: &crate::api::Node) {
        self.observe_node(EventType::Added, node);
    }

    /// Takes a Namespace's labels into the cache (its informer, tests).
    pub fn add_namespace(&mut self, ns: &crate::api::namespace::Namespace) {
        (self.namespaces).insert(ns.metadata.name.clone(), ns.metadata.labels.clone());
    }

    /// Accounts a pod bound to its `spec.nodeName` without a watch. A pod
    /// already accounted (under the same uid) is taken out first, as the
    /// watch does for a bound pod it sees again.
    pub fn add_bound_pod(&mut self, obj: Arc<Object>) {
        let Some(pod) = obj.as_pod() else { return };
        let Some(n) = pod
            .spec
            .node_name()
            .and_then(|n| self.node_index.get(n).copied())
        else {
            return;
        };
        self.forget(pod.metadata.uid);
        let res = PodResources::of(pod);
        self.place(pod.metadata.uid, n, res, obj.clone(), false);
    }

    /// Takes a Service, ReplicaSet or StatefulSet without a watch.
    pub fn add_object(&mut self, obj: &Object) {
        if matches!(obj, Object::Service(_) | Object::Workload(..)) {
            let fake = Arc::new(obj.clone());
            match &*fake {
                Object::Service(svc) => {
                    let key = (svc.metadata.namespace.clone(), svc.metadata.name.clone());
                    self.service_set(key, svc.spec.selector.clone());
                }
                Object::Workload(k @ (Kind::ReplicaSet | Kind::StatefulSet), w) => {
                    if let Some(sel) = &w.spec.selector {
                        let key = (*k, w.metadata.namespace.clone(), w.metadata.name.clone());
                        self.owner_set(key, sel);
                    }
                }
                _ => {}
            }
        }
    }

    /// Evaluates every node for `pod` as a cycle of its profile would,
    /// without the early stop or any side effect on the queue or the
    /// round-robin index: each node's filter verdict and, for the feasible
    /// ones, each plugin's raw, normalized and weighted score. `None` when
    /// no profile has the pod's schedulerName.
    pub fn evaluate(&mut self, pod: &Pod) -> Option<Evaluation> {
        #[cfg(test)]
        assert!(self.rows_in_sync(), "a node's row is stale");
        self.refresh_order();
        let profile = self.profile_index(pod)?;
        let res = PodResources::of(pod);
        let default_matcher = self.system_default_matcher(pod, profile);
        let (mut st, cf) = self.prefilter(pod, &res, profile, default_matcher);
        let prof = &self.profiles[profile];
        let mut verdicts = Vec::with_capacity(self.order.len());
        let mut feasible = Vec::new();
        for &i in &self.order {
            let v = match &cf.vols.rejected {
                Some((plugin, message)) => Err(framework::Rejection::new(
                    plugin.name(),
                    framework::Reason::Owned(message.clone()),
                )),
                None => self.run_filters(&cf, &st, i),
            };
            if v.is_ok() {
                feasible.push(i);
            }
            verdicts.push((i, v));
        }
        let weights = prof.weights;
        let scored = prof.select == Select::Best && feasible.len() > 1;
        if scored {
            self.score_feasible(pod, &res, profile, &mut st, &feasible, true);
        }
        let mut nodes = Vec::with_capacity(verdicts.len());
        let mut k = 0;
        for (i, v) in verdicts {
            let mut e = NodeEvaluation {
                node: self.nodes[i].name.clone(),
                rejection: v.err(),
                raw: [0; NUM_SCORE_PLUGINS],
                normalized: [0; NUM_SCORE_PLUGINS],
                total: 0,
            };
            if e.rejection.is_none() {
                if scored {
                    e.raw = self.scratch.raw[k];
                    if let Some(Some(s)) = self.scratch.spread.get(k) {
                        e.raw[ScorePlugin::PodTopologySpread as usize] = *s;
                    }
                    e.normalized = self.scratch.normalized[k];
                    e.total = self.scratch.totals[k];
                }
                k += 1;
            }
            nodes.push(e);
        }
        Some(Evaluation {
            weights,
            scored,
            nodes,
        })
    }

    /// PreFilter for `pod` under profile `profile` (see [`prefilter`]).
    fn prefilter<'a>(
        &mut self,
        pod: &'a Pod,
        res: &'a PodResources,
        profile: usize,
        default_matcher: Option<(usize, bool)>,
    ) -> (topology::CycleState, CycleFilters<'a>) {
        let view = View {
            nodes: &self.nodes,
            order: &self.order,
            default_matcher,
            namespaces: &self.namespaces,
        };
        prefilter(
            &mut self.idx,
            &view,
            &self.placed,
            &self.volume_cache,
            pod,
            res,
            &self.profiles[profile],
        )
    }

    /// Runs the cycle's filters on node `i` in order; the first failure
    /// rejects it. When every per-node filter passes, only the topology
    /// filters can reject, and the first of them to fail is the first
    /// failure.
    #[inline(always)]
    fn run_filters(
        &self,
        cf: &CycleFilters<'_>,
        st: &topology::CycleState,
        i: usize,
    ) -> Result<(), framework::Rejection> {
        let node = &self.nodes[i];
        let plugins = if cf.pod.passes_all_row(&self.rows[i], node) {
            &cf.topology
        } else {
            &cf.plugins
        };
        for &plugin in plugins {
            match plugin {
                FilterPlugin::PodTopologySpread => self
                    .idx
                    .spread_filter(st, i)
                    .map_err(|r| framework::Rejection::new(plugin.name(), r))?,
                FilterPlugin::InterPodAffinity => self
                    .idx
                    .affinity_filter(st, i)
                    .map_err(|r| framework::Rejection::new(plugin.name(), r))?,
                p if p.reads_volumes() => {
                    cf.vols
                        .filter(p, node, Some(i), self.pods_on(i), &[], &self.volume_cache)?
                }
                _ if cf.pod.passes(plugin, node) => {}
                _ => filter_one(plugin, cf.pod_obj, cf.res, node)?,
            }
        }
        Ok(())
    }

    /// PreScore, Score, NormalizeScore and weights over `feasible`: fills
    /// the scratch rows of raw scores and the totals, and the rows of
    /// normalized scores when `keep_rows`.
    fn score_feasible(
        &mut self,
        pod: &Pod,
        res: &PodResources,
        profile: usize,
        st: &mut topology::CycleState,
        feasible: &[usize],
        keep_rows: bool,
    ) {
        let prof = &self.profiles[profile];
        let spread_on = prof.weight(ScorePlugin::PodTopologySpread) > 0;
        let n = self.order.len();
        let view = View {
            nodes: &self.nodes,
            order: &self.order,
            default_matcher: None,
            namespaces: &self.namespaces,
        };
        let placed = &self.placed;
        let all_placed = || {
            placed
                .values()
                .filter_map(|p| p.obj.as_pod().map(|pod| (p.node, pod)))
        };
        // PreScore.
        if spread_on || prof.weight(ScorePlugin::InterPodAffinity) > 0 {
            self.idx.prescore(
                st,
                &view,
                pod,
                feasible,
                all_placed,
                prof.hard_pod_affinity_weight,
            );
        }
        // Score: one row of raw scores per feasible node, with what does
        // not depend on the node resolved once, and each node's sum of the
        // weighted scores that need no normalizing.
        let sc = &mut self.scratch;
        sc.raw.clear();
        sc.spread.clear();
        sc.totals.clear();
        sc.ranked = None;
        let weights = prof.weights;
        let on = |p: ScorePlugin| weights[p as usize] > 0;
        let spread_score = spread_on && Indexes::has_spread_score(st);
        let affinity_score = on(ScorePlugin::InterPodAffinity) && Indexes::has_affinity_score(st);
        let normalizes = |p: ScorePlugin| match p {
            ScorePlugin::TaintToleration | ScorePlugin::NodeAffinity => true,
            ScorePlugin::PodTopologySpread => spread_score,
            ScorePlugin::InterPodAffinity => affinity_score,
            _ => false,
        };
        let mut plain = weights;
        for p in ScorePlugin::ALL {
            if normalizes(p) {
                plain[p as usize] = 0;
            }
        }
        let fit = FitPlan::new(&prof.fit, res);
        let images = ImageLocality::new(res, &self.images, n);
        let preferred = preferred_node_affinity(pod);
        let taint_on = on(ScorePlugin::TaintToleration);
        // Without preferred terms every node scores 0.
        let node_affinity_on = on(ScorePlugin::NodeAffinity) && !preferred.is_empty();
        let fit_on = on(ScorePlugin::NodeResourcesFit);
        let balanced_on = on(ScorePlugin::NodeResourcesBalancedAllocation);
        let images_on = on(ScorePlugin::ImageLocality);
        // The pod's shape, when the memoized scores read only the row,
        // it and the nodes' images.
        let weight_if = |on: bool, p: ScorePlugin| if on { plain[p as usize] } else { 0 };
        let w_fit = weight_if(fit_on, ScorePlugin::NodeResourcesFit);
        let w_balanced = weight_if(balanced_on, ScorePlugin::NodeResourcesBalancedAllocation);
        let w_image = weight_if(images_on, ScorePlugin::ImageLocality);
        let shape = match fit.least_cpu_memory_weights() {
            Some((cpu_w, memory_w)) if fit_on || balanced_on || images_on => {
                if std::mem::take(&mut self.images_changed) {
                    self.shapes.clear();
                    self.last_lookup = None;
                }
                let key = [
                    cpu_w,
                    memory_w,
                    res.nonzero_cpu,
                    res.nonzero_memory,
                    res.requests.milli_cpu,
                    res.requests.memory,
                    w_fit,
                    w_balanced,
                    w_image,
                ];
                match &self.last_lookup {
                    // The last cycle's shape again: no hashing.
                    Some((k, images, id)) if *k == key && *images == res.images => *id,
                    _ => {
                        let next_list = self.image_lists.len() as u32;
                        let list = match self.image_lists.get(res.images.as_slice()) {
                            Some(&id) => id,
                            None => *self
                                .image_lists
                                .entry(res.images.clone())
                                .or_insert(next_list),
                        };
                        let next = self.last_shape + 1;
                        let id = *self.shapes.entry((key, list)).or_insert(next);
                        self.last_shape = self.last_shape.max(id);
                        self.last_lookup = Some((key, res.images.clone(), id));
                        id
                    }
                }
            }
            _ => 0,
        };
        let memo = &mut self.memo[memo_way(shape)];
        let rows = &self.rows;
        let nodes = &self.nodes;
        let len = feasible.len();
        // The raw columns of the plugins that normalize (but
        // PodTopologySpread's, kept apart), for NormalizeScore.
        let kept = |p: ScorePlugin| match p {
            ScorePlugin::TaintToleration => taint_on,
            ScorePlugin::NodeAffinity => node_affinity_on,
            ScorePlugin::InterPodAffinity => affinity_score,
            _ => false,
        };
        for p in ScorePlugin::ALL {
            sc.columns[p as usize].clear();
        }
        if keep_rows {
            sc.raw.resize(len, [0; NUM_SCORE_PLUGINS]);
        }
        // Whether some node's TaintToleration or NodeAffinity score is not
        // 0 (else the column normalizes to a constant).
        let mut any_taint = false;
        let mut any_node_affinity = false;
        // A TaintToleration or NodeAffinity column is only kept from its
        // first score that is not 0, with the zeros before it filled in.
        let keep_from = |column: &mut Vec<i64>, s: i64, any: &mut bool, k: usize| {
            if s != 0 && !*any {
                *any = true;
                column.clear();
                column.resize(k, 0);
            }
            if *any {
                column.push(s);
            }
        };
        // Score, one plugin at a time over the feasible nodes. A node
        // without a PreferNoSchedule taint scores 0 for TaintToleration.
        if taint_on && self.soft_tainted > 0 {
            let col = ScorePlugin::TaintToleration as usize;
            let first = feasible
                .iter()
                .position(|&i| rows[i].has(NodeRow::SOFT_TAINTS))
                .unwrap_or(len);
            for (k, &i) in feasible.iter().enumerate().skip(first) {
                let s = taint_score_row(pod, &rows[i], &nodes[i]);
                keep_from(&mut sc.columns[col], s, &mut any_taint, k);
                if keep_rows {
                    sc.raw[k][col] = s;
                }
            }
        }
        if node_affinity_on {
            let col = ScorePlugin::NodeAffinity as usize;
            for (k, &i) in feasible.iter().enumerate() {
                let s = preferred_affinity_score(preferred, &nodes[i]);
                keep_from(&mut sc.columns[col], s, &mut any_node_affinity, k);
                if keep_rows {
                    sc.raw[k][col] = s;
                }
            }
        }
        // A TaintToleration or NodeAffinity column of zeros normalizes to
        // all 100 (TaintToleration, reversed) or stays all 0
        // (NodeAffinity): `default_normalize` without the pass.
        let constant = |p: ScorePlugin| match p {
            ScorePlugin::TaintToleration if !any_taint => Some(MAX_NODE_SCORE),
            ScorePlugin::NodeAffinity if !any_node_affinity => Some(0),
            _ => None,
        };
        // Every node's share of the normalized constant columns.
        let mut base = 0;
        for p in [ScorePlugin::TaintToleration, ScorePlugin::NodeAffinity] {
            let w = weights[p as usize];
            if w != 0
                && let Some(c) = constant(p)
            {
                base += c * w;
            }
        }
        // Each node's total starts as the base plus the weighted scores
        // that need no normalizing: NodeResourcesFit, BalancedAllocation
        // and ImageLocality (PodTopologySpread and InterPodAffinity score
        // 0 when they do not normalize).
        let (c_fit, c_balanced, c_image) = (
            ScorePlugin::NodeResourcesFit as usize,
            ScorePlugin::NodeResourcesBalancedAllocation as usize,
            ScorePlugin::ImageLocality as usize,
        );
        if shape != 0 {
            let mut miss = |i: usize| {
                let node_row = &rows[i];
                let fit = fit.score_row(node_row, &nodes[i]);
                let balanced = balanced_score_row(res, node_row);
                let image = images.score(i);
                Memoized {
                    fit,
                    balanced,
                    image,
                    weighted: fit * w_fit + balanced * w_balanced + image * w_image,
                }
            };
            let range = as_range(feasible, self.order_identity);
            // Whether the totals are the memo's sums plus `base` (every
            // plugin that normalizes gives a constant column): then the
            // tie-break reads the memo, by blocks, unless the totals are
            // wanted.
            let memo_only = ScorePlugin::ALL
                .into_iter()
                .all(|p| weights[p as usize] == 0 || !normalizes(p) || constant(p).is_some());
            sc.ranked = match &range {
                Some(r) if memo_only && !keep_rows => Some((r.clone(), base, memo_way(shape))),
                _ => None,
            };
            let totals = sc.ranked.is_none().then_some(&mut sc.totals);
            memo_totals(memo, feasible, range, shape, base, totals, &mut miss);
            #[cfg(test)]
            for &i in feasible {
                let (m, node_row, node) = (&memo.get(i), &rows[i], &nodes[i]);
                assert_eq!(memo.shape[i], shape);
                assert_eq!(m.fit, fit.score_row(node_row, node), "stale fit memo");
                assert_eq!(m.balanced, balanced_score_row(res, node_row));
                assert_eq!(m.image, images.score(i), "stale image memo");
                assert_eq!(
                    m.weighted,
                    m.fit * w_fit + m.balanced * w_balanced + m.image * w_image
                );
            }
        }
        // Without a shape, or for the rows of raw scores.
        let unmemoized = shape == 0;
        let per_node = if unmemoized || keep_rows {
            feasible
        } else {
            &[]
        };
        for (k, &i) in per_node.iter().enumerate() {
            let node_row = &rows[i];
            let (fit_s, balanced_s, image_s) = if !unmemoized {
                let m = memo.get(i);
                (m.fit, m.balanced, m.image)
            } else {
                (
                    if fit_on {
                        fit.score_row(node_row, &nodes[i])
                    } else {
                        0
                    },
                    if balanced_on {
                        balanced_score_row(res, node_row)
                    } else {
                        0
                    },
                    if images_on { images.score(i) } else { 0 },
                )
            };
            if unmemoized {
                sc.totals
                    .push(base + fit_s * w_fit + balanced_s * w_balanced + image_s * w_image);
            }
            if keep_rows {
                let raw = &mut sc.raw[k];
                if fit_on {
                    raw[c_fit] = fit_s;
                }
                if balanced_on {
                    raw[c_balanced] = balanced_s;
                }
                if images_on {
                    raw[c_image] = image_s;
                }
            }
        }
        if affinity_score {
            let col = ScorePlugin::InterPodAffinity as usize;
            for (k, &i) in feasible.iter().enumerate() {
                let s = self.idx.affinity_score(st, i);
                sc.columns[col].push(s);
                if keep_rows {
                    sc.raw[k][col] = s;
                }
            }
        }
        if spread_score {
            self.idx.spread_scores(st, feasible, &mut sc.spread);
        } else if keep_rows {
            sc.spread.resize(len, Some(0));
        }
        // NormalizeScore (only four plugins normalize; the column of a
        // plugin without weight is all 0), then weights and the sum: each
        // normalized column is added into the totals. The rows of
        // normalized scores are only kept when asked for.
        sc.scored = true;
        sc.normalized.clear();
        if keep_rows {
            sc.normalized.extend_from_slice(&sc.raw);
        }
        for p in ScorePlugin::ALL {
            let w = weights[p as usize];
            if w == 0 || !normalizes(p) {
                continue;
            }
            let col = p as usize;
            if let Some(c) = constant(p) {
                // Already in the totals (`base`).
                if c != 0 {
                    for row in sc.normalized.iter_mut() {
                        row[col] = c;
                    }
                }
                continue;
            }
            let column = &mut sc.columns[col];
            if !kept(p) {
                // PodTopologySpread's, from its raw scores.
                column.clear();
                column.resize(feasible.len(), 0);
            }
            match p {
                ScorePlugin::TaintToleration => default_normalize(column, true),
                ScorePlugin::NodeAffinity => default_normalize(column, false),
                ScorePlugin::PodTopologySpread => normalize_spread(&sc.spread, column),
                _ => normalize_affinity(column),
            }
            for (total, s) in sc.totals.iter_mut().zip(column.iter()) {
                *total += s * w;
            }
            for (row, s) in sc.normalized.iter_mut().zip(column.iter()) {
                row[col] = *s;
            }
        }
    }

    fn finish_cycle(&mut self, cx: &mut Cx) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        // The events of its cycle, for the hints if it failed.
        let events = std::mem::take(&mut self.in_flight_events);
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
                // The cycle's requests, unless the pod changed since.
                let res = if Arc::ptr_eq(&f.obj, &obj) {
                    f.res
                } else {
                    PodResources::of(pod)
                };
                self.place(f.uid, node, res, obj.clone(), true);
                self.queue.remove(f.uid);
                self.waiting.remove(&f.uid);
                let name = self.nodes[node].name.clone();
                // From parts: a row per pod.
                cx.log_parts(
                    Dest::Scheduler,
                    "schedule",
                    Subject::from(&*obj),
                    &[
                        Part::Text("node="),
                        Part::Text(&name),
                        Part::Text(" score="),
                        Part::Int(score),
                        Part::Text(" feasible="),
                        Part::Num(feasible as u64),
                        Part::Text(" evaluated="),
                        Part::Num(f.evaluated as u64),
                        Part::Text(" attempt="),
                        Part::Num(u64::from(attempts)),
                    ],
                );
                if !self.prebind_volumes(f.uid, pod, &name, attempts, cx) {
                    self.next_tag += 1;
                    self.binds.insert(self.next_tag, (f.uid, attempts));
                    let verb = Verb::Bind {
                        key: obj.key(),
                        node: name.to_string(),
                    };
                    self.call(self.next_tag, verb, cx);
                }
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
                let profile = self.profile_index(pod).unwrap_or(0);
                let rejected_by = self.rejected_by;
                // Upstream's updatePod: the pod's status is patched with
                // PodScheduled=False, reason Unschedulable (and the node
                // preemption nominated), when that changes it.
                let mut patch = pod
                    .status
                    .condition(PodConditionType::PodScheduled)
                    .is_none_or(|c| c.status || c.reason != UNSCHEDULABLE)
                    .then(|| unschedulable_status(&pod.status, now));
                match self.preempt(pod, profile) {
                    Preemption::NotEligible => {}
                    Preemption::NoCandidate => {
                        // Upstream's PostFilter result clears a nomination
                        // the pod had.
                        if self.nominated.remove(&f.uid).is_some() || nominated_node(pod).is_some()
                        {
                            let status = patch.get_or_insert_with(|| pod.status.clone());
                            status.nominated_node_name = None;
                        }
                    }
                    Preemption::Candidate(c) => {
                        let node = self.nodes[c.node].name.clone();
                        for v in &c.victims {
                            let Some(victim) = self.placed.get(v).map(|p| p.obj.clone()) else {
                                continue;
                            };
                            // Already being deleted: upstream's prepareCandidate
                            // makes no second call for it.
                            if victim.meta().deletion_timestamp.is_some() {
                                continue;
                            }
                            let detail = format!(
                                "preempted by {}/{} on {node}",
                                pod.metadata.namespace, pod.metadata.name
                            );
                            cx.log(Dest::Scheduler, "preempt", Subject::from(&*victim), &detail);
                            cx.rec.counters.preemptions += 1;
                            self.preempted.insert(*v);
                            self.next_tag += 1;
                            let verb = Verb::Delete {
                                key: victim.key(),
                                precondition: None,
                            };
                            self.call(self.next_tag, verb, cx);
                        }
                        // The lower-priority pods nominated to that node
                        // may no longer fit there: their nominations are
                        // cleared (upstream's getLowerPriorityNominatedPods).
                        let priority = pod.spec.priority();
                        let mut lower: Vec<u64> = (self.nominated.iter())
                            .filter(|&(&uid, nom)| {
                                nom.node == c.node && uid != f.uid && nom.spec.priority() < priority
                            })
                            .map(|(&uid, _)| uid)
                            .collect();
                        lower.sort_unstable();
                        for uid in lower {
                            self.nominated.remove(&uid);
                            let Some(other) = self.waiting.get(&uid).cloned() else {
                                continue;
                            };
                            let Some(other_pod) = other.as_pod() else {
                                continue;
                            };
                            let mut status = other_pod.status.clone();
                            status.nominated_node_name = None;
                            self.next_tag += 1;
                            let verb = Verb::UpdatePodStatus {
                                key: other.key(),
                                status,
                            };
                            self.call(self.next_tag, verb, cx);
                        }
                        let status = patch.get_or_insert_with(|| pod.status.clone());
                        status.nominated_node_name = Some(node.to_string());
                        let nomination = Nomination {
                            node: c.node,
                            spec: pod.spec.clone(),
                            res: Arc::new(PodResources::of(pod)),
                        };
                        self.nominated.insert(f.uid, nomination);
                    }
                }
                if let Some(status) = patch {
                    self.next_tag += 1;
                    let verb = Verb::UpdatePodStatus {
                        key: obj.key(),
                        status,
                    };
                    self.call(self.next_tag, verb, cx);
                }
                let worth = self
                    .queueing_hints
                    .then(|| in_flight_worth(pod, rejected_by, &events));
                match self
                    .queue
                    .failed_unschedulable(f.uid, now, rejected_by, worth)
                {
                    queue::Requeued::Unschedulable(flush) => self.schedule_flush(flush, true, cx),
                    queue::Requeued::Backoff(until) => self.schedule_flush(until, false, cx),
                }
            }
        }
    }
}

/// Upstream's `isPodUpdated`: whether a pending pod changed in more than
/// its status (and bookkeeping: resourceVersion, generation, finalizers).
fn pod_updated(old: &Object, new: &Object) -> bool {
    let (Some(o), Some(n)) = (old.as_pod(), new.as_pod()) else {
        return false;
    };
    let (a, b) = (&o.metadata, &n.metadata);
    !(Arc::ptr_eq(&o.spec, &n.spec) || o.spec == n.spec)
        || a.labels != b.labels
        || a.annotations != b.annotations
        || a.owner_references != b.owner_references
        || a.deletion_timestamp != b.deletion_timestamp
}

/// The PodScheduled condition's reason after a failed scheduling cycle.
const UNSCHEDULABLE: &str = "Unschedulable";

/// `status` with PodScheduled=False, reason Unschedulable (its transition
/// time kept while it was False already). Upstream's condition carries
/// the failure's message too, which the model's conditions do not keep:
/// a later failure with another message patches nothing here.
fn unschedulable_status(
    status: &crate::api::pod::PodStatus,
    now: Time,
) -> crate::api::pod::PodStatus {
    let mut s = status.clone();
    s.set_condition(PodConditionType::PodScheduled, false, now, UNSCHEDULABLE);
    // set_condition keeps the reason of a condition already False (a
    // gated pod's SchedulingGated).
    if let Some(c) = s
        .conditions
        .iter_mut()
        .find(|c| c.kind == PodConditionType::PodScheduled)
    {
        c.reason = UNSCHEDULABLE;
    }
    s
}

/// Upstream's `determineSchedulingHintForInFlightPod`: whether a pod that
/// failed, rejected by `rejectors`, is worth trying again after its
/// backoff: no plugin rejected it, or an event that came during its cycle
/// makes the hint of a plugin that rejected it say Queue.
fn in_flight_worth(pod: &Pod, rejectors: hints::Rejectors, events: &[hints::Recorded]) -> bool {
    rejectors == 0
        || rejectors & hints::NO_REJECTOR != 0
        || events
            .iter()
            .any(|e| e.for_each_event(|ev| hints::worth_requeuing(pod, rejectors, ev)))
}

/// Upstream's `nodeSchedulingPropertiesChange`: whether a Node update
/// changes what scheduling reads, so that unschedulable pods may fit: it
/// became schedulable, or its allocatable, labels, taints or conditions
/// (here the Ready condition, the one the model keeps) changed.
fn scheduling_properties_changed(old: &crate::api::Node, new: &crate::api::Node) -> bool {
    (old.spec.unschedulable && !new.spec.unschedulable)
        || crate::api::resources::node_allocatable(old)
            != crate::api::resources::node_allocatable(new)
        || old.metadata.labels != new.metadata.labels
        || old.spec.taints != new.spec.taints
        || old.status.ready.as_ref().map(|r| r.status)
            != new.status.ready.as_ref().map(|r| r.status)
}

/// Upstream's `preCheckForNode` (queueing hints off): whether `pod` passes
/// the kubelet's admission checks on `node` (`AdmissionCheck`:
/// NodeResourcesFit, NodeName, NodePorts, required node affinity) and the
/// node has no NoSchedule taint it does not tolerate.
fn admits(pod: &crate::api::Pod, node: &NodeInfo) -> bool {
    let res = PodResources::of(pod);
    [
        FilterPlugin::NodeResourcesFit,
        FilterPlugin::NodeName,
        FilterPlugin::NodePorts,
        FilterPlugin::NodeAffinity,
    ]
    .into_iter()
    .all(|plugin| filter_one(plugin, pod, &res, node).is_ok())
        && !node.taints.iter().any(|t| {
            t.effect == crate::api::pod::TaintEffect::NoSchedule
                && !crate::api::pod::tolerated(&pod.spec.tolerations, t)
        })
}
