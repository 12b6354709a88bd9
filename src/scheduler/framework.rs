//! The scheduler's cache of nodes (requested resources kept up to date
//! incrementally, like kube-scheduler's NodeInfo) and the plugins of this
//! version's profile: the NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity and NodeResourcesFit filters; NodeResourcesFit
//! (LeastAllocated), NodeResourcesBalancedAllocation, TaintToleration and
//! NodeAffinity scores, normalized and weighted as upstream.

use std::sync::Arc;

use crate::api::pod::{Pod, Taint, TaintEffect, tolerated};
use crate::api::resources::{Resources, node_allocatable, pod_nonzero_requests, pod_requests};
use crate::api::selector::map_matches;
use crate::api::{Labels, Node};

/// `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// One node as the scheduler sees it.
pub struct NodeInfo {
    pub name: Arc<str>,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub requested: Resources,
    pub nonzero_cpu: i64,
    pub nonzero_memory: i64,
    pub pods: i64,
}

impl NodeInfo {
    pub fn new(node: &Node) -> Self {
        let mut info = NodeInfo {
            name: Arc::from(node.metadata.name.as_str()),
            labels: Labels::new(),
            taints: Vec::new(),
            unschedulable: false,
            allocatable: Resources::default(),
            allowed_pods: 0,
            requested: Resources::default(),
            nonzero_cpu: 0,
            nonzero_memory: 0,
            pods: 0,
        };
        info.update(node);
        info
    }

    /// Takes the node object's new labels, taints and allocatable.
    pub fn update(&mut self, node: &Node) {
        self.labels = node.metadata.labels.clone();
        self.taints = node.spec.taints.clone();
        self.unschedulable = node.spec.unschedulable;
        let (alloc, pods) = node_allocatable(node);
        self.allocatable = alloc;
        self.allowed_pods = pods;
    }

    pub fn add_pod(&mut self, p: &PodResources) {
        self.requested.add(&p.requests);
        self.nonzero_cpu += p.nonzero_cpu;
        self.nonzero_memory += p.nonzero_memory;
        self.pods += 1;
    }

    pub fn remove_pod(&mut self, p: &PodResources) {
        self.requested.sub(&p.requests);
        self.nonzero_cpu -= p.nonzero_cpu;
        self.nonzero_memory -= p.nonzero_memory;
        self.pods -= 1;
    }
}

/// A pod's requests, computed once per pod.
#[derive(Clone, Debug)]
pub struct PodResources {
    pub requests: Resources,
    pub nonzero_cpu: i64,
    pub nonzero_memory: i64,
}

impl PodResources {
    pub fn of(pod: &Pod) -> Self {
        let (nonzero_cpu, nonzero_memory) = pod_nonzero_requests(&pod.spec);
        PodResources {
            requests: pod_requests(&pod.spec),
            nonzero_cpu,
            nonzero_memory,
        }
    }
}

/// Why a filter rejected a node, in upstream's words.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejection {
    pub plugin: &'static str,
    pub reasons: Vec<String>,
}

const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Runs the filters in the default profile's order; the first that fails
/// rejects the node.
pub fn filter(pod: &Pod, res: &PodResources, node: &NodeInfo) -> Result<(), Rejection> {
    let reject = |plugin: &'static str, reason: String| {
        Err(Rejection {
            plugin,
            reasons: vec![reason],
        })
    };
    // NodeUnschedulable: unless the pod tolerates the unschedulable taint.
    if node.unschedulable {
        let taint = Taint {
            key: TAINT_UNSCHEDULABLE.into(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        };
        if !tolerated(&pod.spec.tolerations, &taint) {
            return reject("NodeUnschedulable", "node(s) were unschedulable".into());
        }
    }
    // NodeName.
    if let Some(name) = pod.spec.node_name()
        && name != &*node.name
    {
        return reject(
            "NodeName",
            "node(s) didn't match the requested node name".into(),
        );
    }
    // TaintToleration: the first untolerated NoSchedule or NoExecute taint.
    if let Some(t) = node
        .taints
        .iter()
        .find(|t| t.effect != TaintEffect::PreferNoSchedule && !tolerated(&pod.spec.tolerations, t))
    {
        return reject(
            "TaintToleration",
            format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value),
        );
    }
    // NodeAffinity: nodeSelector and required terms.
    let selector_ok = map_matches(&pod.spec.node_selector, &node.labels);
    let affinity_ok = pod
        .spec
        .required_node_affinity()
        .is_none_or(|s| s.matches(&node.name, &node.labels));
    if !selector_ok || !affinity_ok {
        return reject(
            "NodeAffinity",
            "node(s) didn't match Pod's node affinity/selector".into(),
        );
    }
    // NodeResourcesFit.
    let mut reasons = Vec::new();
    if node.pods + 1 > node.allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    let r = &res.requests;
    let free = |alloc: i64, used: i64| alloc - used;
    if r.milli_cpu > 0 && r.milli_cpu > free(node.allocatable.milli_cpu, node.requested.milli_cpu) {
        reasons.push("Insufficient cpu".into());
    }
    if r.memory > 0 && r.memory > free(node.allocatable.memory, node.requested.memory) {
        reasons.push("Insufficient memory".into());
    }
    if r.ephemeral_storage > 0
        && r.ephemeral_storage
            > free(
                node.allocatable.ephemeral_storage,
                node.requested.ephemeral_storage,
            )
    {
        reasons.push("Insufficient ephemeral-storage".into());
    }
    for (name, want) in &r.scalar {
        if *want > 0 && *want > free(node.allocatable.scalar(name), node.requested.scalar(name)) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Rejection {
            plugin: "NodeResourcesFit",
            reasons,
        })
    }
}

/// The raw scores of one node, before normalization.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawScores {
    pub least_allocated: i64,
    pub balanced: i64,
    pub taint: i64,
    pub affinity: i64,
}

/// LeastAllocated for one resource: `(alloc - req) * 100 / alloc`, 0 when
/// the request exceeds the allocatable.
fn least_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_NODE_SCORE / allocatable
}

pub fn raw_scores(pod: &Pod, res: &PodResources, node: &NodeInfo) -> RawScores {
    // NodeResourcesFit, LeastAllocated over cpu and memory, weight 1 each;
    // resources a node has none of are skipped.
    let mut sum = 0;
    let mut weights = 0;
    for (req, alloc) in [
        (
            node.nonzero_cpu + res.nonzero_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.nonzero_memory + res.nonzero_memory,
            node.allocatable.memory,
        ),
    ] {
        if alloc == 0 {
            continue;
        }
        sum += least_allocated(req, alloc);
        weights += 1;
    }
    let least = if weights == 0 { 0 } else { sum / weights };

    // NodeResourcesBalancedAllocation: real requests, fractions capped at 1,
    // score (1 - |f_cpu - f_mem| / 2) * 100.
    let fraction = |req: i64, alloc: i64| {
        if alloc == 0 {
            None
        } else {
            Some((req as f64 / alloc as f64).min(1.0))
        }
    };
    let cpu = fraction(
        node.requested.milli_cpu + res.requests.milli_cpu,
        node.allocatable.milli_cpu,
    );
    let memory = fraction(
        node.requested.memory + res.requests.memory,
        node.allocatable.memory,
    );
    let std = match (cpu, memory) {
        (Some(a), Some(b)) => (a - b).abs() / 2.0,
        _ => 0.0,
    };
    let balanced = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;

    // TaintToleration: untolerated PreferNoSchedule taints, counting only
    // tolerations that apply to PreferNoSchedule.
    let taint = node
        .taints
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
        .count() as i64;

    // NodeAffinity: the weights of the preferred terms the node matches.
    let affinity = pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .map_or(0, |na| {
            na.preferred_during_scheduling_ignored_during_execution
                .iter()
                .filter(|t| t.weight != 0 && t.preference.matches(&node.name, &node.labels))
                .map(|t| i64::from(t.weight))
                .sum()
        });

    RawScores {
        least_allocated: least,
        balanced,
        taint,
        affinity,
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

/// The weights of the default profile's score plugins modelled here.
pub const WEIGHT_FIT: i64 = 1;
pub const WEIGHT_BALANCED: i64 = 1;
pub const WEIGHT_TAINT: i64 = 3;
pub const WEIGHT_AFFINITY: i64 = 2;

/// Normalizes and weighs the raw scores of the feasible nodes; returns each
/// node's total.
pub fn totals(raw: &[RawScores]) -> Vec<i64> {
    let mut taint: Vec<i64> = raw.iter().map(|r| r.taint).collect();
    default_normalize(&mut taint, true);
    let mut affinity: Vec<i64> = raw.iter().map(|r| r.affinity).collect();
    default_normalize(&mut affinity, false);
    raw.iter()
        .zip(taint.iter().zip(&affinity))
        .map(|(r, (t, a))| {
            r.least_allocated * WEIGHT_FIT
                + r.balanced * WEIGHT_BALANCED
                + t * WEIGHT_TAINT
                + a * WEIGHT_AFFINITY
        })
        .collect()
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
        assert_eq!(raw_scores(&p, &res, &n1).least_allocated, 37);
        assert_eq!(raw_scores(&p, &res, &n2).least_allocated, 50);
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
            err.reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {tolerations: [{key: dedicated, operator: Exists}], containers: [{name: a, image: x, resources: {requests: {cpu: '2', memory: 2Gi}}}]}",
        );
        let err = filter(&p, &PodResources::of(&p), &n).unwrap_err();
        assert_eq!(err.plugin, "NodeResourcesFit");
        assert_eq!(err.reasons, vec!["Insufficient cpu", "Insufficient memory"]);
        let p = pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {nodeSelector: {disk: ssd}, tolerations: [{operator: Exists}], containers: [{name: a, image: x}]}",
        );
        assert_eq!(
            filter(&p, &PodResources::of(&p), &n).unwrap_err().plugin,
            "NodeAffinity"
        );
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
}
