//! The plugins that look at other pods: PodTopologySpread (filter and
//! score, with the system default constraints) and InterPodAffinity
//! (required and preferred affinity and anti-affinity, and the symmetry
//! with existing pods' terms), with the incremental indexes they need.
//!
//! Four indexes keep the per-cycle work proportional to nodes, never to
//! pods: [`Domains`] interns each topology key's values per node,
//! [`MatchCache`] keeps, for every pod selector the scheduler has been asked
//! about (a constraint's or a term's namespaces and label selector), how
//! many placed pods on each node match it, updated as pods are added and
//! removed, `DomainSums` keeps those counts summed per domain of a key
//! over the live nodes, for the (selector, key) pairs PodTopologySpread's
//! PreScore asks about, and [`ExistingTerms`] groups the placed pods' own
//! affinity terms (same matcher, namespace selector, topology key and kind)
//! with their per-domain weight sums, so that applying them to an incoming
//! pod visits groups, not pods. A cycle then sums per-node counts into
//! per-domain counts, or, for PreScore when no node is left out of the
//! counts and every constraint has the default node inclusion policies,
//! reads the domain sums for the feasible nodes' domains.

use crate::fasthash::HashMap;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use crate::api::Labels;
use crate::api::pod::{Pod, PodAffinityTerm, TopologySpreadConstraint, WhenUnsatisfiable};
use crate::api::selector::LabelSelector;

use super::framework::{MAX_NODE_SCORE, NodeInfo, node_affinity_matches};

/// Whether the pod restricts nodes by nodeSelector or required node
/// affinity (else every node matches, and the check is skipped).
fn restricts_nodes(pod: &Pod) -> bool {
    !pod.spec.node_selector.is_empty() || pod.spec.required_node_affinity().is_some()
}

/// No domain: the node lacks the topology key.
pub const NONE: u32 = u32::MAX;

/// The label that names a node.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// The zone label.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// One topology key's domains: each node's value, interned.
struct KeyTable {
    key: String,
    of_node: Vec<u32>,
    by_value: HashMap<String, u32>,
    /// Per domain: how many node indices (live or not) are in it.
    owners: Vec<u32>,
    /// How many domains have more than one node index.
    shared: usize,
    /// How many node indices (live or not) have no domain.
    keyless: usize,
}

impl KeyTable {
    fn new(key: &str) -> Self {
        KeyTable {
            key: key.to_string(),
            of_node: Vec::new(),
            by_value: HashMap::default(),
            owners: Vec::new(),
            shared: 0,
            keyless: 0,
        }
    }

    fn set(&mut self, node: usize, labels: &Labels) {
        if self.of_node.len() <= node {
            self.keyless += node + 1 - self.of_node.len();
            self.of_node.resize(node + 1, NONE);
        }
        let d = match labels.get(&self.key) {
            Some(v) => {
                let next = self.by_value.len() as u32;
                *self.by_value.entry(v.clone()).or_insert(next)
            }
            None => NONE,
        };
        let old = std::mem::replace(&mut self.of_node[node], d);
        if old == d {
            return;
        }
        if old == NONE {
            self.keyless -= 1;
        } else if d == NONE {
            self.keyless += 1;
        }
        if old != NONE {
            let n = &mut self.owners[old as usize];
            *n -= 1;
            if *n == 1 {
                self.shared -= 1;
            }
        }
        if d != NONE {
            if self.owners.len() <= d as usize {
                self.owners.resize(d as usize + 1, 0);
            }
            let n = &mut self.owners[d as usize];
            *n += 1;
            if *n == 2 {
                self.shared += 1;
            }
        }
    }
}

/// Topology keys seen so far, with every node's domain for each.
#[derive(Default)]
pub struct Domains {
    ids: HashMap<String, usize>,
    tables: Vec<KeyTable>,
}

impl Domains {
    /// The id of `key`, building its table from `nodes` on first use.
    pub fn key(&mut self, key: &str, nodes: &[NodeInfo]) -> usize {
        if let Some(&k) = self.ids.get(key) {
            return k;
        }
        let mut t = KeyTable::new(key);
        for (i, n) in nodes.iter().enumerate() {
            t.set(i, &n.labels);
        }
        self.tables.push(t);
        self.ids.insert(key.to_string(), self.tables.len() - 1);
        self.tables.len() - 1
    }

    /// A node was added or its labels changed.
    pub fn set_node(&mut self, node: usize, labels: &Labels) {
        for t in &mut self.tables {
            t.set(node, labels);
        }
    }

    /// Node `node`'s domain for key `k`, or [`NONE`].
    pub fn of(&self, k: usize, node: usize) -> u32 {
        self.tables[k].of_node.get(node).copied().unwrap_or(NONE)
    }

    /// Every node's domain for key `k` (nodes past the end: [`NONE`]).
    pub fn of_nodes(&self, k: usize) -> &[u32] {
        &self.tables[k].of_node
    }

    /// How many domain ids key `k` has handed out.
    pub fn len(&self, k: usize) -> usize {
        self.tables[k].by_value.len()
    }

    /// Whether every node index key `k` has seen (at least `n` of them)
    /// has a domain: then so does every node below `n`.
    pub fn covers(&self, k: usize, n: usize) -> bool {
        let t = &self.tables[k];
        t.keyless == 0 && t.of_node.len() >= n
    }

    /// Whether no two node indices (live or removed) share a domain of
    /// key `k` (as hostnames): then a domain's count of matching pods is
    /// its one node's.
    pub fn injective(&self, k: usize) -> bool {
        self.tables[k].shared == 0
    }
}

/// The labels of the Namespaces the scheduler's informer holds, by name.
pub type NamespaceLabels = BTreeMap<crate::api::Text, Arc<Labels>>;

/// The labels of a namespace no Namespace object declares: none (upstream's
/// `GetNamespaceLabelsSnapshot` when the lister cannot find it).
static NO_LABELS: Labels = BTreeMap::new();

/// The labels of namespace `name`.
pub fn namespace_labels<'a>(known: &'a NamespaceLabels, name: &str) -> &'a Labels {
    known.get(name).map_or(&NO_LABELS, |l| &**l)
}

/// Pods in one of `namespaces` (in any namespace when `all_namespaces`)
/// whose labels `selector` matches (`None` matches nothing, as a nil
/// selector upstream).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodMatcher {
    pub namespaces: Vec<String>,
    pub all_namespaces: bool,
    pub selector: Option<LabelSelector>,
}

impl PodMatcher {
    pub fn matches(&self, namespace: &str, labels: &Labels) -> bool {
        (self.all_namespaces || self.namespaces.iter().any(|n| n == namespace))
            && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    /// Pods in `namespace` matching `selector`.
    pub fn in_namespace(namespace: &str, selector: Option<LabelSelector>) -> Self {
        PodMatcher {
            namespaces: vec![namespace.to_string()],
            all_namespaces: false,
            selector,
        }
    }

    /// An affinity term's matcher and its `namespaceSelector` when that is
    /// neither absent nor empty (upstream's `newAffinityTerm`): the term's
    /// namespaces, or the owning pod's when it names none and has no
    /// namespace selector; an empty selector matches every namespace.
    fn split_term(term: &PodAffinityTerm, owner_namespace: &str) -> (Self, Option<LabelSelector>) {
        let namespaces = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
            vec![owner_namespace.to_string()]
        } else {
            term.namespaces.clone()
        };
        let (all_namespaces, rest) = match &term.namespace_selector {
            None => (false, None),
            Some(s) if s.is_empty() => (true, None),
            Some(s) => (false, Some(s.clone())),
        };
        let m = PodMatcher {
            namespaces,
            all_namespaces,
            selector: term.label_selector.clone(),
        };
        (m, rest)
    }

    /// The matcher of a term of the pod being scheduled: its namespace
    /// selector is resolved into the namespaces it selects now, among
    /// `known` (upstream's `mergeAffinityTermNamespacesIfNotEmpty`).
    pub fn of_term(term: &PodAffinityTerm, owner_namespace: &str, known: &NamespaceLabels) -> Self {
        let (mut m, rest) = Self::split_term(term, owner_namespace);
        if let Some(s) = rest {
            m.namespaces.extend(
                (known.iter())
                    .filter(|(_, labels)| s.matches(labels))
                    .map(|(name, _)| name.to_string()),
            );
            m.namespaces.sort_unstable();
            m.namespaces.dedup();
        }
        m
    }
}

/// A conjunction of matchers: a pod matches when it matches all of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conjunction(pub Vec<PodMatcher>);

impl Conjunction {
    pub fn matches(&self, pod: &Pod) -> bool {
        self.0
            .iter()
            .all(|m| m.matches(&pod.metadata.namespace, &pod.metadata.labels))
    }
}

/// Per-node counts of placed pods matching each registered conjunction.
/// Entries are indexed by one label pair every pod they match must carry
/// (the first `matchLabels` pair), so that a pod added or removed is tested
/// only against the entries it can match.
#[derive(Default)]
pub struct MatchCache {
    ids: HashMap<Conjunction, usize>,
    entries: Vec<(Conjunction, Vec<u32>)>,
    nodes: usize,
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Entries without a required label pair: tested against every pod.
    unindexed: Vec<usize>,
    /// The entries whose count the last `pod_added` or `pod_removed`
    /// changed (reused buffer).
    changed: Vec<usize>,
    /// Placed pods by label pair, so that a conjunction seen for the first
    /// time builds its counts from the pods carrying its required pair
    /// rather than from every placed pod: label key, value, then (node,
    /// uid) to the pods' namespaces and labels (a list, for equal uids).
    by_pair: HashMap<String, HashMap<String, PairPods>>,
}

/// The placed pods carrying one label pair.
type PairPods = HashMap<(usize, u64), Vec<Arc<(crate::api::Text, Arc<Labels>)>>>;

impl MatchCache {
    /// The id of `c`; on first use its counts are built from `placed`
    /// (node index, pod) pairs.
    pub fn id<'a>(
        &mut self,
        c: Conjunction,
        placed: impl Iterator<Item = (usize, &'a Pod)>,
    ) -> usize {
        // Looked up by value: this runs for every constraint of every cycle.
        if let Some(&id) = self.ids.get(&c) {
            return id;
        }
        let mut counts = vec![0u32; self.nodes];
        let mut bump = |node: usize| {
            if counts.len() <= node {
                counts.resize(node + 1, 0);
            }
            counts[node] += 1;
        };
        let pair =
            c.0.first()
                .and_then(|m| m.selector.as_ref())
                .and_then(|s| s.match_labels.iter().next())
                .map(|(k, v)| (k.clone(), v.clone()));
        match &pair {
            // Only pods carrying the pair can match: look at those alone.
            Some((k, v)) => {
                let pods = self.by_pair.get(k).and_then(|m| m.get(v));
                for ((node, _), list) in pods.into_iter().flatten() {
                    for p in list {
                        if c.0.iter().all(|m| m.matches(&p.0, &p.1)) {
                            bump(*node);
                        }
                    }
                }
            }
            None => {
                for (node, pod) in placed {
                    if c.matches(pod) {
                        bump(node);
                    }
                }
            }
        }
        let id = self.entries.len();
        match pair {
            Some((k, v)) => self
                .by_label
                .entry(k)
                .or_default()
                .entry(v)
                .or_default()
                .push(id),
            None => self.unindexed.push(id),
        }
        self.ids.insert(c.clone(), id);
        self.entries.push((c, counts));
        id
    }

    /// The entries a pod with `labels` may match, each once.
    fn candidates(&self, labels: &crate::api::Labels, out: &mut Vec<usize>) {
        out.clear();
        out.extend_from_slice(&self.unindexed);
        if !self.by_label.is_empty() {
            for (k, v) in labels {
                if let Some(ids) = self.by_label.get(k).and_then(|m| m.get(v)) {
                    out.extend_from_slice(ids);
                }
            }
        }
    }

    pub fn grow(&mut self, nodes: usize) {
        self.nodes = self.nodes.max(nodes);
        for (_, counts) in &mut self.entries {
            if counts.len() < self.nodes {
                counts.resize(self.nodes, 0);
            }
        }
    }

    /// Counts a pod placed on `node`; returns the entries it matches
    /// (their count on `node` went up by one).
    pub fn pod_added(&mut self, node: usize, pod: &Pod) -> &[usize] {
        let meta = &pod.metadata;
        let shared = Arc::new((meta.namespace.clone(), meta.labels.clone()));
        for (k, v) in meta.labels.iter() {
            // The key and value are copied only when new.
            if !self.by_pair.contains_key(k.as_str()) {
                self.by_pair.insert(k.clone(), HashMap::default());
            }
            let Some(by_value) = self.by_pair.get_mut(k.as_str()) else {
                continue;
            };
            if !by_value.contains_key(v.as_str()) {
                by_value.insert(v.clone(), PairPods::default());
            }
            if let Some(pods) = by_value.get_mut(v.as_str()) {
                pods.entry((node, meta.uid))
                    .or_default()
                    .push(shared.clone());
            }
        }
        let mut ids = std::mem::take(&mut self.changed);
        self.candidates(&pod.metadata.labels, &mut ids);
        ids.retain(|&id| {
            let (c, counts) = &mut self.entries[id];
            if !c.matches(pod) {
                return false;
            }
            if counts.len() <= node {
                counts.resize(node + 1, 0);
            }
            counts[node] += 1;
            true
        });
        self.changed = ids;
        &self.changed
    }

    /// Uncounts a pod removed from `node`; returns the entries whose count
    /// on `node` went down by one.
    pub fn pod_removed(&mut self, node: usize, pod: &Pod) -> &[usize] {
        let meta = &pod.metadata;
        for (k, v) in meta.labels.iter() {
            let Some(by_value) = self.by_pair.get_mut(k) else {
                continue;
            };
            let Some(pods) = by_value.get_mut(v) else {
                continue;
            };
            if let Some(list) = pods.get_mut(&(node, meta.uid)) {
                if let Some(i) = list
                    .iter()
                    .position(|p| p.0 == meta.namespace && p.1 == meta.labels)
                {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    pods.remove(&(node, meta.uid));
                }
            }
            if pods.is_empty() {
                by_value.remove(v);
            }
        }
        let mut ids = std::mem::take(&mut self.changed);
        self.candidates(&pod.metadata.labels, &mut ids);
        ids.retain(|&id| {
            let (c, counts) = &mut self.entries[id];
            match counts.get_mut(node) {
                Some(n) if *n > 0 && c.matches(pod) => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        });
        self.changed = ids;
        &self.changed
    }

    pub fn count(&self, id: usize, node: usize) -> i64 {
        i64::from(self.entries[id].1.get(node).copied().unwrap_or(0))
    }

    /// Every node's count for conjunction `id` (nodes past the end: 0).
    pub fn counts(&self, id: usize) -> &[u32] {
        &self.entries[id].1
    }
}

/// What an existing pod's term does to an incoming pod it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TermKind {
    /// Required affinity: scored with the profile's hardPodAffinityWeight.
    RequiredAffinity,
    /// Required anti-affinity: filters the term's domains out.
    RequiredAnti,
    /// Preferred affinity (+weight) or anti-affinity (-weight): scored.
    Preferred,
}

/// Existing pods' terms with the same matcher, namespace selector,
/// topology key and kind.
struct TermGroup {
    matcher: PodMatcher,
    /// The terms' `namespaceSelector` (neither absent nor empty): a pod
    /// in a namespace whose labels it matches is in the terms' scope too.
    namespace_selector: Option<LabelSelector>,
    key: usize,
    kind: TermKind,
    /// Per node: the terms' summed weights (preferred) or how many terms
    /// there are (required), zero entries dropped.
    per_node: BTreeMap<usize, i64>,
    /// The same, summed per domain of `key` (nodes without it left out).
    per_domain: BTreeMap<u32, i64>,
}

impl TermGroup {
    /// Whether the terms select the pod being scheduled, in `namespace`
    /// (labelled `namespace_labels`) with `labels`.
    fn selects(&self, namespace: &str, namespace_labels: &Labels, labels: &Labels) -> bool {
        selects(
            &self.matcher,
            self.namespace_selector.as_ref(),
            namespace,
            namespace_labels,
            labels,
        )
    }
}

/// Whether a term (its matcher, and its namespace selector when neither
/// absent nor empty) selects a pod in `namespace`, labelled
/// `namespace_labels`, with `labels` (upstream's `AffinityTerm.Matches`).
fn selects(
    m: &PodMatcher,
    namespace_selector: Option<&LabelSelector>,
    namespace: &str,
    namespace_labels: &Labels,
    labels: &Labels,
) -> bool {
    m.matches(namespace, labels)
        || namespace_selector
            .is_some_and(|s| s.matches(namespace_labels) && selector_matches(&m.selector, labels))
}

/// Whether `term` of a pod in `owner_namespace` selects a pod in
/// `namespace` (labelled `namespace_labels`) with `labels`.
/// What [`PodMatcher::split_term`] and [`selects`] decide, without
/// building the matcher.
pub fn term_selects(
    term: &PodAffinityTerm,
    owner_namespace: &str,
    namespace: &str,
    namespace_labels: &Labels,
    labels: &Labels,
) -> bool {
    let listed = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
        namespace == owner_namespace
    } else {
        term.namespaces.iter().any(|n| n == namespace)
    };
    let in_namespace = listed
        || term
            .namespace_selector
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.matches(namespace_labels));
    in_namespace && selector_matches(&term.label_selector, labels)
}

/// Adds `v` to `map[k]`, dropping the entry when it comes to 0.
fn bump<K: Ord>(map: &mut BTreeMap<K, i64>, k: K, v: i64) {
    match map.entry(k) {
        Entry::Occupied(mut o) => {
            *o.get_mut() += v;
            if *o.get() == 0 {
                o.remove();
            }
        }
        Entry::Vacant(e) => {
            if v != 0 {
                e.insert(v);
            }
        }
    }
}

/// The pod (anti-)affinity terms of the placed pods, grouped by matcher,
/// topology key and kind, with per-domain sums kept up to date as pods are
/// placed and removed and nodes relabelled: a cycle applies the existing
/// pods' terms to the incoming pod (the symmetry of InterPodAffinity) by
/// visiting the groups, not the pods.
#[derive(Default)]
pub struct ExistingTerms {
    ids: HashMap<(PodMatcher, Option<LabelSelector>, String, TermKind), usize>,
    groups: Vec<TermGroup>,
}

/// Every pod (anti-)affinity term of `pod` that acts on other pods, with
/// its kind and weight.
fn existing_terms(pod: &Pod) -> Vec<(&PodAffinityTerm, TermKind, i64)> {
    let mut out = Vec::new();
    let Some(a) = pod.spec.affinity.as_ref() else {
        return out;
    };
    if let Some(pa) = &a.pod_affinity {
        for t in &pa.required_during_scheduling_ignored_during_execution {
            out.push((t, TermKind::RequiredAffinity, 1));
        }
        for wt in &pa.preferred_during_scheduling_ignored_during_execution {
            out.push((
                &wt.pod_affinity_term,
                TermKind::Preferred,
                i64::from(wt.weight),
            ));
        }
    }
    if let Some(pa) = &a.pod_anti_affinity {
        for t in &pa.required_during_scheduling_ignored_during_execution {
            out.push((t, TermKind::RequiredAnti, 1));
        }
        for wt in &pa.preferred_during_scheduling_ignored_during_execution {
            out.push((
                &wt.pod_affinity_term,
                TermKind::Preferred,
                -i64::from(wt.weight),
            ));
        }
    }
    out
}

/// What the topology plugins read of the scheduler's cache.
pub struct View<'a> {
    pub nodes: &'a [NodeInfo],
    /// Live node indices, in visiting order.
    pub order: &'a [usize],
    /// The matcher ([`Indexes::default_matcher`]) of the selector of the
    /// Services, ReplicaSets and StatefulSets that select the pod
    /// (upstream `DefaultSelector`), if any, and whether the pod matches
    /// it: PodTopologySpread's system default constraints count it.
    pub default_matcher: Option<(usize, bool)>,
    /// The Namespaces' labels, for InterPodAffinity's namespace selectors.
    pub namespaces: &'a NamespaceLabels,
}

/// One spread constraint, resolved against the indexes.
#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i64,
    min_domains: i64,
    key: usize,
    matcher: usize,
    self_match: bool,
    /// nodeAffinityPolicy Honor: nodes the pod's required node affinity
    /// rejects are not counted.
    affinity_honor: bool,
    /// nodeTaintsPolicy Honor: nodes with a NoSchedule or NoExecute taint
    /// the pod does not tolerate are not counted.
    taints_honor: bool,
}

impl Constraint {
    /// The default policies (Honor, Ignore): the counted nodes are the
    /// same for every such constraint.
    fn default_policies(&self) -> bool {
        self.affinity_honor && !self.taints_honor
    }
}

/// Whether `node` has a NoSchedule or NoExecute taint the pod does not
/// tolerate (upstream's FindMatchingUntoleratedTaint with
/// DoNotScheduleTaintsFilterFunc).
fn untolerated(pod: &Pod, node: &NodeInfo) -> bool {
    use crate::api::pod::TaintEffect;
    node.taints.iter().any(|t| {
        matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
            && !crate::api::pod::tolerated(&pod.spec.tolerations, t)
    })
}

/// Whether constraint `c` counts a node, given whether the pod's node
/// affinity accepts it and whether it has an untolerated taint.
fn counts_node(c: &Constraint, affinity_ok: bool, untolerated: bool) -> bool {
    (!c.affinity_honor || affinity_ok) && (!c.taints_honor || !untolerated)
}

/// The per-cycle state of PodTopologySpread and InterPodAffinity.
#[derive(Default)]
pub struct CycleState {
    // PodTopologySpread filter (DoNotSchedule).
    hard: Vec<Constraint>,
    /// Per hard constraint: matching pods per domain, and whether the
    /// domain has an eligible node.
    hard_counts: Vec<Vec<i64>>,
    hard_present: Vec<Vec<bool>>,
    hard_min: Vec<i64>,
    // PodTopologySpread score (ScheduleAnyway, or the system defaults).
    soft: Vec<Constraint>,
    soft_require_all: bool,
    // InterPodAffinity filter.
    affinity_keys: Vec<usize>,
    affinity_counts: Vec<Vec<i64>>,
    any_affinity: bool,
    self_affinity: bool,
    anti_keys: Vec<usize>,
    anti_counts: Vec<Vec<i64>>,
    /// Per topology key, the domains existing pods' required
    /// anti-affinity keeps the pod out of (only keys with at least one).
    existing_anti: Vec<(usize, Vec<bool>)>,
    // InterPodAffinity score: per key id, per domain, the score.
    topo_score: Vec<Vec<i64>>,
    score_keys: Vec<usize>,
}

impl CycleState {
    /// Adds `v` to InterPodAffinity's score of domain `d` of key `k`.
    fn add_topo_score(&mut self, k: usize, d: u32, v: i64) {
        if self.topo_score.len() <= k {
            self.topo_score.resize_with(k + 1, Vec::new);
        }
        let row = &mut self.topo_score[k];
        let d = d as usize;
        if row.len() <= d {
            row.resize(d + 1, 0);
        }
        row[d] += v;
    }
}

fn selector_matches(sel: &Option<LabelSelector>, labels: &Labels) -> bool {
    sel.as_ref().is_some_and(|s| s.matches(labels))
}

/// The pod's required pod affinity terms (not its anti-affinity's).
pub fn required_affinity_terms(pod: &Pod) -> &[PodAffinityTerm] {
    pod_affinity_terms(pod).0
}

pub fn pod_affinity_terms(pod: &Pod) -> (&[PodAffinityTerm], &[PodAffinityTerm]) {
    let a = pod.spec.affinity.as_ref();
    let aff = a
        .and_then(|a| a.pod_affinity.as_ref())
        .map_or(&[][..], |p| {
            &p.required_during_scheduling_ignored_during_execution
        });
    let anti = a
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .map_or(&[][..], |p| {
            &p.required_during_scheduling_ignored_during_execution
        });
    (aff, anti)
}

/// Whether a pod has any pod affinity or anti-affinity term.
pub fn has_pod_affinity(pod: &Pod) -> bool {
    pod.spec.affinity.as_ref().is_some_and(|a| {
        [&a.pod_affinity, &a.pod_anti_affinity]
            .into_iter()
            .flatten()
            .any(|p| {
                !p.required_during_scheduling_ignored_during_execution
                    .is_empty()
                    || !p
                        .preferred_during_scheduling_ignored_during_execution
                        .is_empty()
            })
    })
}

/// Per (matcher of [`MatchCache`], topology key) asked about: the
/// matcher's per-node counts summed per domain of the key over the live
/// nodes, zero entries dropped, kept up to date as pods are placed and
/// removed and nodes are added, relabelled and removed. PodTopologySpread's
/// PreScore reads a domain's count here instead of summing every node.
#[derive(Default)]
struct DomainSums {
    ids: HashMap<(usize, usize), usize>,
    /// Per matcher id: its tables, as (key, table id).
    by_matcher: Vec<Vec<(usize, usize)>>,
    tables: Vec<SumTable>,
}

struct SumTable {
    matcher: usize,
    key: usize,
    /// By domain id (domains past the end: 0).
    per_domain: Vec<i64>,
}

impl SumTable {
    /// Adds `v` to domain `d`'s sum.
    fn add(&mut self, d: u32, v: i64) {
        let d = d as usize;
        if self.per_domain.len() <= d {
            self.per_domain.resize(d + 1, 0);
        }
        self.per_domain[d] += v;
    }
}

/// The indexes the plugins keep between cycles.
#[derive(Default)]
pub struct Indexes {
    pub domains: Domains,
    pub matches: MatchCache,
    existing: ExistingTerms,
    sums: DomainSums,
    /// Per node index: live (added and not removed).
    live: Vec<bool>,
    /// PodTopologySpread's PreScore buffers, one per soft constraint of
    /// the current cycle.
    spread: Vec<SpreadScratch>,
    /// The key ids of [`SYSTEM_DEFAULTS`], once asked for.
    system_keys: [Option<usize>; 2],
}

/// One soft spread constraint's per-domain buffers, reused from cycle to
/// cycle: whether a feasible node is in the domain (its `seen` entry is
/// the current `stamp`), the domain's count of matching pods (when the
/// domain sums do not give it) and its term of a node's score. Only the domains listed in `touched` are set (their
/// count cleared when first seen), so that a cycle costs the feasible
/// nodes, not the domains.
#[derive(Default)]
struct SpreadScratch {
    seen: Vec<u32>,
    stamp: u32,
    counts: Vec<i64>,
    /// The domain's term of a feasible node's score.
    part: Vec<f64>,
    touched: Vec<u32>,
    /// For a constraint whose key gives every node its own domain (see
    /// [`Domains::injective`]) and a pod that does not restrict nodes:
    /// the weight and `maxSkew - 1` of its term, which is then computed
    /// from the node's own count (the domain buffers are not used).
    direct: Option<(f64, f64)>,
}

impl SpreadScratch {
    /// Forgets the domains of the last use, and makes room for `domains`
    /// domains.
    fn reset(&mut self, domains: usize) {
        self.touched.clear();
        if self.seen.len() < domains {
            self.seen.resize(domains, 0);
            self.counts.resize(domains, 0);
            self.part.resize(domains, 0.0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
    }

    /// Whether a feasible node is in domain `d`.
    #[inline]
    fn present(&self, d: u32) -> bool {
        self.seen[d as usize] == self.stamp
    }

    /// A feasible node is in domain `d` (maybe [`NONE`]).
    #[inline]
    fn mark(&mut self, d: u32) {
        if d != NONE && self.seen[d as usize] != self.stamp {
            self.seen[d as usize] = self.stamp;
            self.counts[d as usize] = 0;
            self.touched.push(d);
        }
    }
}

/// `x.round() as i64` (halves away from zero), without the library call
/// `f64::round` compiles to on the baseline x86-64 target.
#[inline]
fn round_to_i64(x: f64) -> i64 {
    // Below 2^52 in magnitude, truncating and the fraction are exact.
    if x.is_nan() || x.abs() >= 4_503_599_627_370_496.0 {
        return x.round() as i64;
    }
    let t = x as i64;
    let frac = x - t as f64;
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// The system default constraints (`defaultingType: System`).
const SYSTEM_DEFAULTS: [(&str, i64); 2] = [(LABEL_HOSTNAME, 3), (LABEL_ZONE, 5)];

/// Node `i`'s domain in a table of [`Domains::of_nodes`].
#[inline]
fn domain_of(table: &[u32], i: usize) -> u32 {
    table.get(i).copied().unwrap_or(NONE)
}

/// Node `i`'s count in a table of [`MatchCache::counts`].
#[inline]
fn count_of(counts: &[u32], i: usize) -> i64 {
    i64::from(counts.get(i).copied().unwrap_or(0))
}

impl Indexes {
    /// A node was added or its labels changed: its domains, and the
    /// existing pods' terms and the domain sums of the pods on it moved to
    /// its new domains.
    pub fn set_node(&mut self, node: usize, labels: &Labels) {
        let old: Vec<u32> = (0..self.domains.tables.len())
            .map(|k| self.domains.of(k, node))
            .collect();
        self.domains.set_node(node, labels);
        if self.live.len() <= node {
            self.live.resize(node + 1, false);
        }
        let was_live = std::mem::replace(&mut self.live[node], true);
        let moved = |k: usize| old[k] != self.domains.of(k, node);
        if was_live && !(0..old.len()).any(moved) {
            return;
        }
        for t in &mut self.sums.tables {
            let (from, to) = (old[t.key], self.domains.of(t.key, node));
            let from = if was_live { from } else { NONE };
            let n = self.matches.count(t.matcher, node);
            if from == to || n == 0 {
                continue;
            }
            if from != NONE {
                t.add(from, -n);
            }
            if to != NONE {
                t.add(to, n);
            }
        }
        for g in &mut self.existing.groups {
            let Some(&v) = g.per_node.get(&node) else {
                continue;
            };
            let (from, to) = (old[g.key], self.domains.of(g.key, node));
            if from != to {
                if from != NONE {
                    bump(&mut g.per_domain, from, -v);
                }
                if to != NONE {
                    bump(&mut g.per_domain, to, v);
                }
            }
        }
    }

    /// Node `node` was removed: the pods still accounted on it leave the
    /// domain sums.
    pub fn remove_node(&mut self, node: usize) {
        if !self.live.get(node).copied().unwrap_or(false) {
            return;
        }
        self.live[node] = false;
        for t in &mut self.sums.tables {
            let d = self.domains.of(t.key, node);
            let n = self.matches.count(t.matcher, node);
            if d != NONE && n != 0 {
                t.add(d, -n);
            }
        }
    }

    /// A pod was placed on `node`: the per-node counts and domain sums of
    /// the selectors it matches.
    pub fn pod_added(&mut self, node: usize, pod: &Pod) {
        let changed = self.matches.pod_added(node, pod);
        Self::sums_changed(&mut self.sums, &self.domains, &self.live, node, changed, 1);
    }

    /// A pod was removed from `node`.
    pub fn pod_removed(&mut self, node: usize, pod: &Pod) {
        let changed = self.matches.pod_removed(node, pod);
        Self::sums_changed(&mut self.sums, &self.domains, &self.live, node, changed, -1);
    }

    /// Matchers `changed` counted `delta` more pods on `node`.
    fn sums_changed(
        sums: &mut DomainSums,
        domains: &Domains,
        live: &[bool],
        node: usize,
        changed: &[usize],
        delta: i64,
    ) {
        if sums.tables.is_empty() || !live.get(node).copied().unwrap_or(false) {
            return;
        }
        for &m in changed {
            for &(k, t) in sums.by_matcher.get(m).map_or(&[][..], |v| v) {
                let d = domains.of(k, node);
                if d != NONE {
                    sums.tables[t].add(d, delta);
                }
            }
        }
    }

    /// The id of the domain sums of `matcher` over `key`, built from the
    /// live nodes on first use.
    fn sum_table(&mut self, matcher: usize, key: usize) -> usize {
        if let Some(&t) = self.sums.ids.get(&(matcher, key)) {
            return t;
        }
        let mut sums = SumTable {
            matcher,
            key,
            per_domain: Vec::new(),
        };
        let (table, counts) = (self.domains.of_nodes(key), self.matches.counts(matcher));
        for (i, _) in self.live.iter().enumerate().filter(|(_, l)| **l) {
            let d = domain_of(table, i);
            if d != NONE {
                sums.add(d, count_of(counts, i));
            }
        }
        let t = self.sums.tables.len();
        self.sums.tables.push(sums);
        self.sums.ids.insert((matcher, key), t);
        if self.sums.by_matcher.len() <= matcher {
            self.sums.by_matcher.resize_with(matcher + 1, Vec::new);
        }
        self.sums.by_matcher[matcher].push((key, t));
        t
    }

    /// Takes the terms of a pod placed on `node` (`sign` 1) or removed
    /// from it (`sign` -1) into the existing pods' term groups.
    pub fn existing_pod(&mut self, node: usize, pod: &Pod, sign: i64, nodes: &[NodeInfo]) {
        let ns = pod.metadata.namespace.as_str();
        for (t, kind, w) in existing_terms(pod) {
            let (matcher, namespace_selector) = PodMatcher::split_term(t, ns);
            let group = (matcher, namespace_selector, t.topology_key.clone(), kind);
            let id = match self.existing.ids.get(&group) {
                Some(&id) => id,
                None => {
                    let id = self.existing.groups.len();
                    self.existing.groups.push(TermGroup {
                        matcher: group.0.clone(),
                        namespace_selector: group.1.clone(),
                        key: self.domains.key(&t.topology_key, nodes),
                        kind,
                        per_node: BTreeMap::new(),
                        per_domain: BTreeMap::new(),
                    });
                    self.existing.ids.insert(group, id);
                    id
                }
            };
            let g = &mut self.existing.groups[id];
            bump(&mut g.per_node, node, sign * w);
            let d = self.domains.of(g.key, node);
            if d != NONE {
                bump(&mut g.per_domain, d, sign * w);
            }
        }
    }

    /// Per constraint, every node's domain and matching pods, looked up
    /// once for a pass over the nodes.
    fn node_tables(&self, constraints: &[Constraint]) -> Vec<(&[u32], &[u32])> {
        constraints
            .iter()
            .map(|c| (self.domains.of_nodes(c.key), self.matches.counts(c.matcher)))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn constraint<'a>(
        &mut self,
        view: &View<'_>,
        pod: &Pod,
        c: &TopologySpreadConstraint,
        placed: impl Iterator<Item = (usize, &'a Pod)>,
    ) -> Constraint {
        let mut selector = c.label_selector.clone();
        // matchLabelKeys: the pod's own values of those labels join the
        // selector (upstream's mergeLabelSetWithSelector).
        if let Some(sel) = selector.as_mut() {
            for k in &c.match_label_keys {
                if let Some(v) = pod.metadata.labels.get(k) {
                    sel.match_labels.insert(k.clone(), v.clone());
                }
            }
        }
        let self_match = selector_matches(&selector, &pod.metadata.labels);
        let key = self.domains.key(&c.topology_key, view.nodes);
        let matcher = self.matches.id(
            Conjunction(vec![PodMatcher::in_namespace(
                &pod.metadata.namespace,
                selector,
            )]),
            placed,
        );
        Constraint {
            max_skew: i64::from(c.max_skew),
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            key,
            matcher,
            self_match,
            affinity_honor: c.honors_node_affinity(),
            taints_honor: c.honors_node_taints(),
        }
    }

    /// The matcher of PodTopologySpread's system default constraints for
    /// a pod in `namespace` with `labels`, whose default selector is
    /// `selector`, and whether the pod matches it. Matcher ids are never
    /// reused, so the scheduler keeps the answer for the pods of one
    /// controller while the selector stays the same.
    pub fn default_matcher<'a>(
        &mut self,
        namespace: &str,
        labels: &Labels,
        selector: LabelSelector,
        placed: impl Iterator<Item = (usize, &'a Pod)>,
    ) -> (usize, bool) {
        let self_match = selector.matches(labels);
        let matcher = self.matches.id(
            Conjunction(vec![PodMatcher::in_namespace(namespace, Some(selector))]),
            placed,
        );
        (matcher, self_match)
    }

    /// PreFilter and PreScore of both plugins: resolves the pod's
    /// constraints and terms and sums per-domain counts over all nodes.
    /// `placed` lists every placed pod (used only to build a selector's
    /// counts the first time it is seen). `system_defaults`: whether
    /// PodTopologySpread adds the system default constraints.
    pub fn prepare<'a, I>(
        &mut self,
        view: &View<'_>,
        pod: &Pod,
        placed: impl Fn() -> I,
        system_defaults: bool,
    ) -> CycleState
    where
        I: Iterator<Item = (usize, &'a Pod)>,
    {
        let mut st = CycleState::default();
        let ns = pod.metadata.namespace.as_str();
        // PodTopologySpread.
        let constraints = &pod.spec.topology_spread_constraints;
        for c in constraints {
            let hard = c.when_unsatisfiable != WhenUnsatisfiable::ScheduleAnyway;
            let resolved = self.constraint(view, pod, c, placed());
            if hard {
                st.hard.push(resolved);
            } else {
                st.soft.push(resolved);
            }
        }
        if constraints.is_empty()
            && system_defaults
            && let Some((matcher, self_match)) = view.default_matcher
        {
            for (k, (key, skew)) in SYSTEM_DEFAULTS.into_iter().enumerate() {
                let key = match self.system_keys[k] {
                    Some(key) => key,
                    None => {
                        let key = self.domains.key(key, view.nodes);
                        self.system_keys[k] = Some(key);
                        key
                    }
                };
                st.soft.push(Constraint {
                    max_skew: skew,
                    min_domains: 1,
                    key,
                    matcher,
                    self_match,
                    affinity_honor: true,
                    taints_honor: false,
                });
            }
        }
        st.soft_require_all = !constraints.is_empty();
        if !st.hard.is_empty() {
            st.hard_counts = st
                .hard
                .iter()
                .map(|c| vec![0; self.domains.len(c.key)])
                .collect();
            st.hard_present = st
                .hard
                .iter()
                .map(|c| vec![false; self.domains.len(c.key)])
                .collect();
            let restricts = restricts_nodes(pod);
            // With the default node inclusion policies every constraint
            // counts the nodes the pod's node affinity accepts.
            let uniform = st.hard.iter().all(Constraint::default_policies);
            let tables = self.node_tables(&st.hard);
            for &i in view.order {
                let affinity_ok = !restricts || node_affinity_matches(pod, &view.nodes[i]);
                if uniform && !affinity_ok {
                    continue;
                }
                if tables.iter().any(|(t, _)| domain_of(t, i) == NONE) {
                    continue;
                }
                let untolerated = !uniform && untolerated(pod, &view.nodes[i]);
                for (k, (t, counts)) in tables.iter().enumerate() {
                    if !uniform && !counts_node(&st.hard[k], affinity_ok, untolerated) {
                        continue;
                    }
                    let d = domain_of(t, i) as usize;
                    st.hard_present[k][d] = true;
                    st.hard_counts[k][d] += count_of(counts, i);
                }
            }
            st.hard_min = st
                .hard
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let present: Vec<i64> = st.hard_counts[k]
                        .iter()
                        .zip(&st.hard_present[k])
                        .filter(|(_, p)| **p)
                        .map(|(n, _)| *n)
                        .collect();
                    if (present.len() as i64) < c.min_domains {
                        0
                    } else {
                        present.iter().copied().min().unwrap_or(0)
                    }
                })
                .collect();
        }
        // InterPodAffinity filter.
        let (aff, anti) = pod_affinity_terms(pod);
        if !aff.is_empty() {
            let all = Conjunction(
                aff.iter()
                    .map(|t| PodMatcher::of_term(t, ns, view.namespaces))
                    .collect(),
            );
            st.self_affinity = all.matches(pod);
            let id = self.matches.id(all, placed());
            for t in aff {
                let k = self.domains.key(&t.topology_key, view.nodes);
                let mut counts = vec![0i64; self.domains.len(k)];
                for &i in view.order {
                    let d = self.domains.of(k, i);
                    if d != NONE {
                        let n = self.matches.count(id, i);
                        counts[d as usize] += n;
                        st.any_affinity |= n > 0;
                    }
                }
                st.affinity_keys.push(k);
                st.affinity_counts.push(counts);
            }
        }
        for t in anti {
            let id = self.matches.id(
                Conjunction(vec![PodMatcher::of_term(t, ns, view.namespaces)]),
                placed(),
            );
            let k = self.domains.key(&t.topology_key, view.nodes);
            let mut counts = vec![0i64; self.domains.len(k)];
            for &i in view.order {
                let d = self.domains.of(k, i);
                if d != NONE {
                    counts[d as usize] += self.matches.count(id, i);
                }
            }
            st.anti_keys.push(k);
            st.anti_counts.push(counts);
        }
        let ns_labels = namespace_labels(view.namespaces, ns);
        for g in &self.existing.groups {
            if g.kind == TermKind::RequiredAnti
                && !g.per_domain.is_empty()
                && g.selects(ns, ns_labels, &pod.metadata.labels)
            {
                let j = match st.existing_anti.iter().position(|(k, _)| *k == g.key) {
                    Some(j) => j,
                    None => {
                        let row = vec![false; self.domains.len(g.key)];
                        st.existing_anti.push((g.key, row));
                        st.existing_anti.len() - 1
                    }
                };
                let row = &mut st.existing_anti[j].1;
                for &d in g.per_domain.keys() {
                    let d = d as usize;
                    if row.len() <= d {
                        row.resize(d + 1, false);
                    }
                    row[d] = true;
                }
            }
        }
        st
    }

    /// PreScore: the PodTopologySpread counts over the feasible nodes'
    /// domains, and InterPodAffinity's topology scores.
    pub fn prescore<'a, I>(
        &mut self,
        st: &mut CycleState,
        view: &View<'_>,
        pod: &Pod,
        feasible: &[usize],
        placed: impl Fn() -> I,
        hard_pod_affinity_weight: i64,
    ) where
        I: Iterator<Item = (usize, &'a Pod)>,
    {
        let ns = pod.metadata.namespace.as_str();
        if !st.soft.is_empty() {
            let restricts = restricts_nodes(pod);
            let require_all = st.soft_require_all;
            // Per constraint: whether its key gives every node its own
            // domain, the pod not restricting nodes. Then a feasible
            // node's domain count is the node's own count (the node is
            // live, and no other node is in its domain), and the feasible
            // domains are as many as the feasible nodes counted that have
            // the key: no domain buffers, no domain sums.
            // Constraints with other node inclusion policies than the
            // defaults count node by node.
            let uniform = st.soft.iter().all(Constraint::default_policies);
            let direct: Vec<bool> = (st.soft.iter())
                .map(|c| uniform && !restricts && self.domains.injective(c.key))
                .collect();
            // Every live node counts (none is left out by the pod's node
            // affinity or for lacking a key): the domain sums give the
            // counts without a pass over the nodes.
            let sum_ids: Option<Vec<usize>> = (uniform && !restricts && !require_all).then(|| {
                (st.soft.iter().zip(&direct))
                    .map(|(c, &direct)| {
                        if direct {
                            usize::MAX
                        } else {
                            self.sum_table(c.matcher, c.key)
                        }
                    })
                    .collect()
            });
            let tables: Vec<(&[u32], &[u32])> = (st.soft.iter())
                .map(|c| (self.domains.of_nodes(c.key), self.matches.counts(c.matcher)))
                .collect();
            let ignored =
                |i: usize| require_all && tables.iter().any(|(t, _)| domain_of(t, i) == NONE);
            if self.spread.len() < st.soft.len() {
                self.spread
                    .resize_with(st.soft.len(), SpreadScratch::default);
            }
            let scratch = &mut self.spread[..st.soft.len()];
            for ((c, s), &direct) in st.soft.iter().zip(scratch.iter_mut()).zip(&direct) {
                if !direct {
                    s.reset(self.domains.len(c.key));
                }
            }
            // The feasible nodes' domains, in node order per constraint.
            if require_all {
                for &i in feasible {
                    if ignored(i) {
                        continue;
                    }
                    for (((t, _), s), _) in (tables.iter().zip(scratch.iter_mut()))
                        .zip(&direct)
                        .filter(|(_, direct)| !**direct)
                    {
                        s.mark(domain_of(t, i));
                    }
                }
            } else {
                // No node is ignored: one constraint at a time. A key of
                // at most 64 domains (zones, regions) notes them in a
                // word, marked once each after the pass (the order of
                // `touched` matters nowhere).
                for ((((t, _), s), _), c) in (tables.iter().zip(scratch.iter_mut()))
                    .zip(&direct)
                    .zip(&st.soft)
                    .filter(|((_, direct), _)| !**direct)
                {
                    if self.domains.len(c.key) <= 64 {
                        let mut seen = 0u64;
                        for &i in feasible {
                            let d = domain_of(t, i);
                            if d != NONE {
                                seen |= 1 << d;
                            }
                        }
                        while seen != 0 {
                            s.mark(seen.trailing_zeros());
                            seen &= seen - 1;
                        }
                    } else {
                        for &i in feasible {
                            s.mark(domain_of(t, i));
                        }
                    }
                }
            }
            // Without domain sums, the counts of the feasible domains from
            // every node that counts.
            let every_node = if sum_ids.is_some() || direct.iter().all(|&d| d) {
                &[][..]
            } else {
                view.order
            };
            for &i in every_node {
                let affinity_ok = !restricts || node_affinity_matches(pod, &view.nodes[i]);
                if uniform && !affinity_ok {
                    continue;
                }
                if ignored(i) {
                    continue;
                }
                let untolerated = !uniform && untolerated(pod, &view.nodes[i]);
                for ((((t, counts), s), _), c) in (tables.iter().zip(scratch.iter_mut()))
                    .zip(&direct)
                    .zip(&st.soft)
                    .filter(|((_, direct), _)| !**direct)
                {
                    if !uniform && !counts_node(c, affinity_ok, untolerated) {
                        continue;
                    }
                    let d = domain_of(t, i);
                    if d != NONE && s.present(d) {
                        s.counts[d as usize] += count_of(counts, i);
                    }
                }
            }
            // Each domain's term of a node's score: its count weighted by
            // the log of the number of feasible domains (plus 2), plus
            // maxSkew - 1.
            for (k, (c, s)) in st.soft.iter().zip(scratch.iter_mut()).enumerate() {
                let skew = (c.max_skew - 1) as f64;
                if direct[k] {
                    let t = tables[k].0;
                    // Every feasible node counts when every node has the
                    // key and none is ignored.
                    let domains = if !require_all && self.domains.covers(c.key, view.nodes.len()) {
                        feasible.len()
                    } else {
                        (feasible.iter())
                            .filter(|&&i| domain_of(t, i) != NONE && !ignored(i))
                            .count()
                    };
                    s.direct = Some((((domains + 2) as f64).ln(), skew));
                    continue;
                }
                s.direct = None;
                let weight = ((s.touched.len() + 2) as f64).ln();
                let counts = match &sum_ids {
                    Some(ids) => &self.sums.tables[ids[k]].per_domain,
                    None => &s.counts,
                };
                for &d in &s.touched {
                    let d = d as usize;
                    let count = counts.get(d).copied().unwrap_or(0);
                    s.part[d] = count as f64 * weight + skew;
                }
            }
        }
        // InterPodAffinity.
        let a = pod.spec.affinity.as_ref();
        let preferred = |anti: bool| {
            a.and_then(|a| {
                if anti {
                    a.pod_anti_affinity.as_ref()
                } else {
                    a.pod_affinity.as_ref()
                }
            })
            .map_or(&[][..], |p| {
                &p.preferred_during_scheduling_ignored_during_execution
            })
        };
        for (anti, sign) in [(false, 1i64), (true, -1i64)] {
            for wt in preferred(anti) {
                let t = &wt.pod_affinity_term;
                let id = self.matches.id(
                    Conjunction(vec![PodMatcher::of_term(t, ns, view.namespaces)]),
                    placed(),
                );
                let k = self.domains.key(&t.topology_key, view.nodes);
                let (table, counts) = (self.domains.of_nodes(k), self.matches.counts(id));
                let w = sign * i64::from(wt.weight);
                for &i in view.order {
                    let d = domain_of(table, i);
                    if d == NONE || view.nodes[i].labels.is_empty() {
                        continue;
                    }
                    let n = count_of(counts, i);
                    if n > 0 {
                        st.add_topo_score(k, d, w * n);
                    }
                }
            }
        }
        let ns_labels = namespace_labels(view.namespaces, ns);
        for g in &self.existing.groups {
            let factor = match g.kind {
                TermKind::Preferred => 1,
                TermKind::RequiredAffinity if hard_pod_affinity_weight > 0 => {
                    hard_pod_affinity_weight
                }
                _ => continue,
            };
            if g.per_domain.is_empty() || !g.selects(ns, ns_labels, &pod.metadata.labels) {
                continue;
            }
            for (&d, &v) in &g.per_domain {
                st.add_topo_score(g.key, d, factor * v);
            }
        }
        st.score_keys = (st.topo_score.iter().enumerate())
            .filter(|(_, row)| row.iter().any(|&v| v != 0))
            .map(|(k, _)| k)
            .collect();
    }

    /// PodTopologySpread's filter for node `i`.
    pub fn spread_filter(&self, st: &CycleState, i: usize) -> Result<(), &'static str> {
        if st.hard.iter().any(|c| self.domains.of(c.key, i) == NONE) {
            return Err(
                "node(s) didn't match pod topology spread constraints (missing required label)",
            );
        }
        for (k, c) in st.hard.iter().enumerate() {
            let d = self.domains.of(c.key, i) as usize;
            let matched = st.hard_counts[k].get(d).copied().unwrap_or(0);
            let skew = matched + i64::from(c.self_match) - st.hard_min[k];
            if skew > c.max_skew {
                return Err("node(s) didn't match pod topology spread constraints");
            }
        }
        Ok(())
    }

    /// InterPodAffinity's filter for node `i`.
    pub fn affinity_filter(&self, st: &CycleState, i: usize) -> Result<(), &'static str> {
        let mut pods_exist = true;
        for (k, counts) in st.affinity_keys.iter().zip(&st.affinity_counts) {
            let d = self.domains.of(*k, i);
            if d == NONE {
                return Err("node(s) didn't match pod affinity rules");
            }
            if counts[d as usize] <= 0 {
                pods_exist = false;
            }
        }
        if !pods_exist && (st.any_affinity || !st.self_affinity) {
            return Err("node(s) didn't match pod affinity rules");
        }
        for (k, counts) in st.anti_keys.iter().zip(&st.anti_counts) {
            let d = self.domains.of(*k, i);
            if d != NONE && counts[d as usize] > 0 {
                return Err("node(s) didn't match pod anti-affinity rules");
            }
        }
        if st.existing_anti.iter().any(|(k, blocked)| {
            blocked
                .get(self.domains.of(*k, i) as usize)
                .copied()
                .unwrap_or(false)
        }) {
            return Err("node(s) didn't satisfy existing pods anti-affinity rules");
        }
        Ok(())
    }

    /// Whether the pod has hard spread constraints to filter with.
    pub fn has_spread_filter(st: &CycleState) -> bool {
        !st.hard.is_empty()
    }

    pub fn has_affinity_filter(st: &CycleState) -> bool {
        !st.affinity_keys.is_empty() || !st.anti_keys.is_empty() || !st.existing_anti.is_empty()
    }

    /// PodTopologySpread's raw scores of `nodes` (the feasible nodes the
    /// last [`Indexes::prescore`] was given), appended to `out`; `None`
    /// for a node ignored (missing a topology key the pod's own
    /// constraints use).
    pub fn spread_scores(&self, st: &CycleState, nodes: &[usize], out: &mut Vec<Option<i64>>) {
        // Per constraint: every node's domain, and each feasible domain's
        // term of the score (from `prescore`), or the weight and skew of
        // the term and every node's count.
        type Part<'a> = (&'a [u32], &'a [f64], Option<(f64, f64)>, &'a [u32]);
        let parts: Vec<Part<'_>> = (st.soft.iter().zip(&self.spread))
            .map(|(c, s)| {
                let counts = match s.direct {
                    Some(_) => self.matches.counts(c.matcher),
                    None => &[][..],
                };
                (self.domains.of_nodes(c.key), &s.part[..], s.direct, counts)
            })
            .collect();
        let require_all = st.soft_require_all;
        let score_of = |i: usize| {
            let mut score = 0.0;
            for &(t, part, direct, counts) in &parts {
                let d = domain_of(t, i);
                if d == NONE {
                    // Ignored when the pod's own constraints use the key.
                    if require_all {
                        return None;
                    }
                    continue;
                }
                score += match direct {
                    Some((weight, skew)) => count_of(counts, i) as f64 * weight + skew,
                    None => part[d as usize],
                };
            }
            Some(round_to_i64(score))
        };
        // A node whose own count is 0 under every direct constraint (and
        // that has their keys) scores by its domain of the one constraint
        // that is not direct alone (or the same as every such node, when
        // all are direct): the system defaults' hostname and zone, where
        // most feasible nodes hold none of the pod's kind. The score of
        // each such domain is worked out once (the visiting order
        // alternates zones) and reused: the same value by the same sum.
        let mut keyed = parts.iter().filter(|p| p.2.is_none());
        let key_table = match (keyed.next(), keyed.next()) {
            (None, _) => Some(&[][..]),
            (Some(p), None) => Some(p.0),
            _ => None,
        };
        let Some(key_table) = key_table else {
            out.extend(nodes.iter().map(|&i| score_of(i)));
            return;
        };
        let zero_counts = |i: usize| {
            parts.iter().all(|&(t, _, direct, counts)| {
                direct.is_none() || (domain_of(t, i) != NONE && count_of(counts, i) == 0)
            })
        };
        // By domain of the keyed constraint, slot 0 for none.
        let mut by_domain: Vec<Option<Option<i64>>> = Vec::new();
        out.extend(nodes.iter().map(|&i| {
            if !zero_counts(i) {
                return score_of(i);
            }
            let key = domain_of(key_table, i);
            let slot = if key == NONE { 0 } else { key as usize + 1 };
            if slot >= by_domain.len() {
                by_domain.resize(slot + 1, None);
            }
            *by_domain[slot].get_or_insert_with(|| score_of(i))
        }));
    }

    pub fn has_spread_score(st: &CycleState) -> bool {
        !st.soft.is_empty()
    }

    /// InterPodAffinity's raw score for node `i`.
    pub fn affinity_score(&self, st: &CycleState, i: usize) -> i64 {
        st.score_keys
            .iter()
            .map(|&k| {
                let d = self.domains.of(k, i);
                st.topo_score[k].get(d as usize).copied().unwrap_or(0)
            })
            .sum()
    }

    pub fn has_affinity_score(st: &CycleState) -> bool {
        !st.score_keys.is_empty()
    }
}

/// PodTopologySpread's NormalizeScore: ignored nodes (`None`) score 0; the
/// others `100 * (max + min - s) / max`, or 100 when max is 0.
pub fn normalize_spread(raw: &[Option<i64>], out: &mut [i64]) {
    let mut min = i64::MAX;
    let mut max = 0;
    for s in raw.iter().flatten() {
        min = min.min(*s);
        max = max.max(*s);
    }
    // Raw scores repeat from node to node (see `spread_scores`): the last
    // one's quotient is reused rather than divided again.
    let mut last = None;
    for (o, s) in out.iter_mut().zip(raw) {
        *o = match *s {
            None => 0,
            Some(_) if max == 0 => MAX_NODE_SCORE,
            Some(s) => match last {
                Some((l, q)) if l == s => q,
                _ => {
                    let q = MAX_NODE_SCORE * (max + min - s) / max;
                    last = Some((s, q));
                    q
                }
            },
        };
    }
}

/// InterPodAffinity's NormalizeScore: `100 * (s - min) / (max - min)` in
/// floating point, truncated; all 0 when max = min.
pub fn normalize_affinity(scores: &mut [i64]) {
    let min = scores.iter().copied().min().unwrap_or(0);
    let max = scores.iter().copied().max().unwrap_or(0);
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, labels: &[(&str, &str)]) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = ns.into();
        for (k, v) in labels {
            std::sync::Arc::make_mut(&mut p.metadata.labels).insert(k.to_string(), v.to_string());
        }
        p
    }

    fn matcher(ns: &str, labels: &[(&str, &str)], exists: Option<&str>) -> Conjunction {
        let mut sel = LabelSelector::default();
        for (k, v) in labels {
            sel.match_labels.insert(k.to_string(), v.to_string());
        }
        if let Some(key) = exists {
            sel.match_expressions
                .push(serde_yaml::from_str(&format!("{{key: {key}, operator: Exists}}")).unwrap());
        }
        Conjunction(vec![PodMatcher::in_namespace(ns, Some(sel))])
    }

    #[test]
    fn round_to_i64_is_round() {
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4_503_599_627_370_495.5,
            4_503_599_627_370_497.0,
            -4_503_599_627_370_497.0,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for k in 0..20_000 {
            let x = (k as f64 - 10_000.0) * 0.0625;
            xs.extend([x, x * 1.1, (k as f64).ln() * 3.7, x + 1e-9, x - 1e-9]);
        }
        for x in xs {
            assert_eq!(round_to_i64(x), x.round() as i64, "{x}");
        }
    }

    /// The existing pods' term groups keep per-domain sums equal to a
    /// recount from their per-node sums and the nodes' current domains, as
    /// pods come and go and nodes change zone.
    #[test]
    fn existing_terms_follow_pods_and_node_labels() {
        let zone = |z: Option<&str>| {
            let mut l = Labels::new();
            if let Some(z) = z {
                l.insert(LABEL_ZONE.into(), z.into());
            }
            l
        };
        let mut idx = Indexes::default();
        idx.domains.key(LABEL_ZONE, &[]);
        for (i, z) in ["a", "a", "b"].into_iter().enumerate() {
            idx.set_node(i, &zone(Some(z)));
        }
        let mut owner = pod("ns", &[("app", "db")]);
        let aff: crate::api::pod::Affinity = serde_yaml::from_str(
            "podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: web}}}
  preferredDuringSchedulingIgnoredDuringExecution:
    - {weight: 5, podAffinityTerm: {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: web}}}}",
        )
        .unwrap();
        Arc::make_mut(&mut owner.spec).affinity = Some(aff);
        for n in [0, 1, 2, 2] {
            idx.existing_pod(n, &owner, 1, &[]);
        }
        idx.existing_pod(2, &owner, -1, &[]);
        idx.set_node(1, &zone(Some("b")));
        idx.set_node(2, &zone(None));
        assert_eq!(idx.existing.groups.len(), 2);
        for g in &idx.existing.groups {
            let mut recount = BTreeMap::new();
            for (&n, &v) in &g.per_node {
                let d = idx.domains.of(g.key, n);
                if d != NONE {
                    bump(&mut recount, d, v);
                }
            }
            assert_eq!(g.per_domain, recount, "{:?}", g.kind);
            let w = if g.kind == TermKind::Preferred { -5 } else { 1 };
            assert_eq!(g.per_domain, BTreeMap::from([(0, w), (1, w)]));
        }
        idx.set_node(2, &zone(Some("a")));
        for g in &idx.existing.groups {
            let w = if g.kind == TermKind::Preferred { -5 } else { 1 };
            assert_eq!(g.per_domain, BTreeMap::from([(0, 2 * w), (1, w)]));
        }
    }

    /// The domain sums stay equal to a recount over the live nodes (per
    /// node counts of the matcher, summed by the node's current domain) as
    /// pods are placed and removed and nodes are added, relabelled and
    /// removed, whenever the sums were first asked for.
    #[test]
    fn domain_sums_stay_equal_to_a_recount() {
        let labels = |host: &str, zone: Option<&str>| {
            let mut l = Labels::new();
            l.insert(LABEL_HOSTNAME.into(), host.into());
            if let Some(z) = zone {
                l.insert(LABEL_ZONE.into(), z.into());
            }
            l
        };
        let mut idx = Indexes::default();
        let host = idx.domains.key(LABEL_HOSTNAME, &[]);
        let zone = idx.domains.key(LABEL_ZONE, &[]);
        for (i, z) in [Some("a"), Some("a"), Some("b"), None]
            .into_iter()
            .enumerate()
        {
            idx.set_node(i, &labels(&format!("n{i}"), z));
        }
        idx.matches.grow(4);
        let web = pod("ns", &[("app", "web")]);
        let db = pod("ns", &[("app", "db")]);
        let sel = matcher("ns", &[("app", "web")], None);
        let m = idx.matches.id(sel, std::iter::empty());
        let recount = |idx: &Indexes, t: usize| {
            let tab = &idx.sums.tables[t];
            let mut sums = BTreeMap::new();
            for (i, _) in idx.live.iter().enumerate().filter(|(_, l)| **l) {
                let d = idx.domains.of(tab.key, i);
                if d != NONE {
                    bump(&mut sums, d, idx.matches.count(tab.matcher, i));
                }
            }
            sums
        };
        // A table's sums that are not 0.
        let nonzero = |idx: &Indexes, t: usize| {
            let per_domain = &idx.sums.tables[t].per_domain;
            (per_domain.iter().enumerate())
                .filter(|(_, n)| **n != 0)
                .map(|(d, n)| (d as u32, *n))
                .collect::<BTreeMap<u32, i64>>()
        };
        let check = |idx: &Indexes, step: &str| {
            assert_eq!(idx.sums.tables.len(), 2);
            for t in 0..idx.sums.tables.len() {
                assert_eq!(nonzero(idx, t), recount(idx, t), "{step}");
            }
        };
        for n in [0, 1, 2, 2, 3] {
            idx.pod_added(n, &web);
        }
        idx.pod_added(1, &db);
        // Zone sums asked for now, hostname sums later.
        let z = idx.sum_table(m, zone);
        assert_eq!(nonzero(&idx, z), BTreeMap::from([(0, 2), (1, 2)]));
        idx.pod_added(0, &web);
        idx.pod_removed(2, &web);
        idx.pod_removed(1, &db);
        let h = idx.sum_table(m, host);
        assert_ne!(h, z);
        assert_eq!(idx.sum_table(m, zone), z);
        check(&idx, "pods");
        // Node 1 moves to zone b, node 3 gets a zone, node 2 loses its own.
        idx.set_node(1, &labels("n1", Some("b")));
        idx.set_node(3, &labels("n3", Some("c")));
        idx.set_node(2, &labels("n2", None));
        check(&idx, "relabel");
        assert_eq!(nonzero(&idx, z), BTreeMap::from([(0, 2), (1, 1), (2, 1)]));
        // A removed node's pods leave the sums, and changes to them later
        // do not come back in; a node added later counts its pods.
        idx.remove_node(0);
        idx.pod_removed(0, &web);
        idx.set_node(4, &labels("n4", Some("a")));
        idx.matches.grow(5);
        idx.pod_added(4, &web);
        check(&idx, "nodes");
        assert_eq!(nonzero(&idx, z), BTreeMap::from([(0, 1), (1, 1), (2, 1)]));
    }

    /// A key is injective while no two node indices share a domain,
    /// removed nodes included (their index keeps its domain).
    #[test]
    fn injective_keys_follow_node_labels() {
        let host = |h: &str| Labels::from_iter([(LABEL_HOSTNAME.to_string(), h.to_string())]);
        let mut idx = Indexes::default();
        let k = idx.domains.key(LABEL_HOSTNAME, &[]);
        for i in 0..3 {
            idx.set_node(i, &host(&format!("n{i}")));
        }
        assert!(idx.domains.injective(k));
        // Node 1 takes node 0's hostname, then its own back.
        idx.set_node(1, &host("n0"));
        assert!(!idx.domains.injective(k));
        idx.set_node(2, &Labels::new());
        idx.set_node(1, &host("n1"));
        assert!(idx.domains.injective(k));
        // Node 2 gets a new name; a node added later with a removed
        // node's name shares its domain.
        idx.set_node(2, &host("n2b"));
        idx.remove_node(0);
        assert!(idx.domains.injective(k));
        idx.set_node(3, &host("n0"));
        assert!(!idx.domains.injective(k));
        idx.set_node(3, &host("n3"));
        assert!(idx.domains.injective(k));
        let zone = |z: &str| Labels::from_iter([(LABEL_ZONE.to_string(), z.to_string())]);
        let z = idx.domains.key(LABEL_ZONE, &[]);
        idx.set_node(0, &zone("a"));
        idx.set_node(1, &zone("b"));
        assert!(idx.domains.injective(z));
        idx.set_node(2, &zone("a"));
        assert!(!idx.domains.injective(z));
    }

    /// A key covers the first `n` node indices while each has a domain:
    /// not while one lacks the label, nor past the nodes it has seen.
    #[test]
    fn keys_know_whether_every_node_has_them() {
        let host = |h: &str| Labels::from_iter([(LABEL_HOSTNAME.to_string(), h.to_string())]);
        let mut idx = Indexes::default();
        let k = idx.domains.key(LABEL_HOSTNAME, &[]);
        assert!(idx.domains.covers(k, 0));
        assert!(!idx.domains.covers(k, 1));
        for i in 0..3 {
            idx.set_node(i, &host(&format!("n{i}")));
        }
        assert!(idx.domains.covers(k, 3));
        assert!(!idx.domains.covers(k, 4));
        idx.set_node(1, &Labels::new());
        assert!(!idx.domains.covers(k, 3));
        idx.set_node(1, &host("n1"));
        assert!(idx.domains.covers(k, 3));
        // Node 5 added before node 4: index 4 has no domain yet.
        idx.set_node(5, &host("n5"));
        assert!(!idx.domains.covers(k, 6));
        idx.set_node(4, &host("n4"));
        idx.set_node(3, &host("n3"));
        assert!(idx.domains.covers(k, 6));
        // A key first used after the nodes: its table is built from them.
        let mut nodes: Vec<NodeInfo> = (0..2)
            .map(|i| {
                let mut n = NodeInfo::new(&crate::api::Node::default());
                n.labels = host(&format!("m{i}"));
                n
            })
            .collect();
        let mut d = Domains::default();
        let h = d.key(LABEL_HOSTNAME, &nodes);
        assert!(d.covers(h, 2));
        assert!(!d.covers(h, 3));
        nodes[1].labels = Labels::new();
        let mut d = Domains::default();
        let h = d.key(LABEL_HOSTNAME, &nodes);
        assert!(!d.covers(h, 2));
    }

    /// The incremental counts equal a recount from scratch, whenever the
    /// selector was registered and whatever was added and removed since.
    #[test]
    fn match_counts_stay_equal_to_a_recount() {
        let pods = [
            (0, pod("a", &[("app", "web"), ("tier", "1")])),
            (1, pod("a", &[("app", "web")])),
            (1, pod("b", &[("app", "web"), ("tier", "1")])),
            (2, pod("a", &[("app", "db"), ("tier", "1")])),
            (2, pod("a", &[("tier", "2")])),
        ];
        let selectors = [
            matcher("a", &[("app", "web")], None),
            matcher("a", &[], Some("tier")),
            matcher("b", &[("app", "web"), ("tier", "1")], None),
        ];
        let mut cache = MatchCache::default();
        cache.grow(3);
        let mut placed: Vec<(usize, &Pod)> = Vec::new();
        let first = cache.id(selectors[0].clone(), placed.iter().copied());
        for (n, p) in &pods[..3] {
            cache.pod_added(*n, p);
            placed.push((*n, p));
        }
        let second = cache.id(selectors[1].clone(), placed.iter().copied());
        let third = cache.id(selectors[2].clone(), placed.iter().copied());
        for (n, p) in &pods[3..] {
            cache.pod_added(*n, p);
            placed.push((*n, p));
        }
        cache.pod_removed(0, &pods[0].1);
        placed.remove(0);
        for (id, sel) in [
            (first, &selectors[0]),
            (second, &selectors[1]),
            (third, &selectors[2]),
        ] {
            for node in 0..3 {
                let expected = placed
                    .iter()
                    .filter(|(n, p)| *n == node && sel.matches(p))
                    .count() as i64;
                assert_eq!(cache.count(id, node), expected, "selector {id} node {node}");
            }
        }
        // Registering the same selector again gives the same id.
        assert_eq!(
            cache.id(selectors[1].clone(), placed.iter().copied()),
            second
        );
    }
}
