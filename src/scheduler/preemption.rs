//! DefaultPreemption (PostFilter) for a pod no node fits: on a node the
//! cycle rejected for a reason removing pods may resolve ([`resolvable`]),
//! remove every lower-priority pod; if the pod then fits, add
//! the removed pods back, most important first, keeping each that still
//! fits; the rest are the victims. The node is chosen as upstream's
//! `pickOneNodeForPreemption` (without PodDisruptionBudgets): the lowest
//! highest-victim priority, then the lowest sum of priorities (each offset
//! by 2^31, so fewer victims win), then the fewest victims, then the latest
//! start among the highest-priority victims.
//!
//! As upstream's dry run (`RunFilterPluginsWithNominatedPods`), the pods
//! nominated to a node by earlier preemptions, of the preemptor's priority
//! or higher, count on that node: a second preemptor does not pick the
//! room the first one freed.
//!
//! As upstream's `findCandidates` and `DryRunPreemption`, the nodes tried
//! are the potential ones (rejected by the cycle with upstream's status
//! Unschedulable, not UnschedulableAndUnresolvable, and still live), in
//! random order, until max(10 %, 100) of them
//! (`minCandidateNodesPercentage`, `minCandidateNodesAbsolute`, never more
//! than there are) gave a candidate: upstream's potential list comes out of
//! a Go map, in an order of its own at every call, and its 16 workers take
//! chunks of it in parallel, so the candidates it keeps are the first to
//! finish, from all over the list. A tie between equally good candidates
//! goes to one of them drawn at random (upstream's to the first in Go's
//! map order). The draws come from the scheduler's stream of its own for
//! preemption, so runs without preemption draw nothing from it.
//!
//! Simplified: the dry run re-runs the per-node filters only, on the node
//! without the victims. PodTopologySpread and InterPodAffinity are not
//! re-evaluated in it: a node they rejected for skew or anti-affinity is a
//! candidate once removing pods frees what the per-node filters need,
//! where upstream also checks them again without the victims. Victims are
//! not patched with upstream's DisruptionTarget condition: the scheduler
//! remembers which pods it preempted, for PodEligibleToPreemptOthers; a
//! victim already being deleted gets no second delete, as upstream's
//! `prepareCandidate`.

use rand_chacha::rand_core::Rng;

use super::framework::{FilterPlugin, NodeInfo, PodResources, filter_one};
use crate::api::pod::Pod;
use crate::engine::Time;

/// DefaultPreemption's default `minCandidateNodesPercentage`.
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
/// DefaultPreemption's default `minCandidateNodesAbsolute`.
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

/// How many candidates the dry run looks for among `potential` nodes
/// (upstream's `calculateNumCandidates`).
pub fn num_candidates(potential: usize) -> usize {
    (potential * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(potential)
}

/// A pod on a node that could be preempted.
pub struct Running {
    pub uid: u64,
    pub priority: i32,
    pub start: Time,
    pub res: PodResources,
}

/// The victims chosen on one node.
pub struct Candidate {
    pub node: usize,
    /// Victim uids, most important first.
    pub victims: Vec<u64>,
    key: (i64, i64, usize, i64),
}

/// Whether upstream's status for a node `plugin` rejects with `reason`
/// is Unschedulable, which removing pods may resolve, rather than
/// UnschedulableAndUnresolvable: NodeResourcesFit and NodePorts;
/// PodTopologySpread but for a node without a constraint's topology
/// label; InterPodAffinity for anti-affinity (the pod's own or existing
/// pods'), not for a required affinity no node domain meets.
pub fn resolvable(plugin: FilterPlugin, reason: &str) -> bool {
    match plugin {
        FilterPlugin::NodeResourcesFit
        | FilterPlugin::NodePorts
        | FilterPlugin::VolumeRestrictions
        | FilterPlugin::NodeVolumeLimits => true,
        FilterPlugin::PodTopologySpread => !reason.ends_with("(missing required label)"),
        FilterPlugin::InterPodAffinity => reason != "node(s) didn't match pod affinity rules",
        _ => false,
    }
}

fn fits(filters: &[FilterPlugin], pod: &Pod, res: &PodResources, node: &NodeInfo) -> bool {
    filters
        .iter()
        .filter(|p| {
            !matches!(
                p,
                FilterPlugin::PodTopologySpread | FilterPlugin::InterPodAffinity
            ) && !p.reads_volumes()
        })
        .all(|&p| filter_one(p, pod, res, node).is_ok())
}

/// The victims on `node` (a potential one: see [`resolvable`]) for `pod`,
/// if preempting can make it fit there. `pods` are the pods placed on the
/// node; `nominated`, the requests of the pods nominated to it that count
/// against the preemptor; `volumes_fit`, whether the volume filters pass
/// with the pods of the given uids removed.
#[allow(clippy::too_many_arguments)]
pub fn select_victims(
    filters: &[FilterPlugin],
    pod: &Pod,
    res: &PodResources,
    node_index: usize,
    node: &NodeInfo,
    mut pods: Vec<Running>,
    nominated: &[std::sync::Arc<PodResources>],
    volumes_fit: &mut dyn FnMut(&[u64]) -> bool,
) -> Option<Candidate> {
    let priority = pod.spec.priority();
    pods.retain(|p| p.priority < priority);
    if pods.is_empty() {
        return None;
    }
    let mut info = node.clone();
    for p in &pods {
        info.remove_pod(&p.res);
    }
    for r in nominated {
        info.add_pod(r);
    }
    let mut removed: Vec<u64> = pods.iter().map(|p| p.uid).collect();
    if !fits(filters, pod, res, &info) || !volumes_fit(&removed) {
        return None;
    }
    // Most important first: higher priority, then earlier start.
    pods.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.start.cmp(&b.start))
            .then(a.uid.cmp(&b.uid))
    });
    let mut victims: Vec<&Running> = Vec::new();
    for p in &pods {
        info.add_pod(&p.res);
        removed.retain(|&u| u != p.uid);
        if !fits(filters, pod, res, &info) || !volumes_fit(&removed) {
            info.remove_pod(&p.res);
            removed.push(p.uid);
            victims.push(p);
        }
    }
    if victims.is_empty() {
        return None;
    }
    let highest = victims.iter().map(|v| v.priority).max().unwrap_or(0);
    let sum: i64 = victims
        .iter()
        .map(|v| i64::from(v.priority) + (1i64 << 31))
        .sum();
    let earliest_of_highest = victims
        .iter()
        .filter(|v| v.priority == highest)
        .map(|v| v.start)
        .min()
        .unwrap_or(0);
    Some(Candidate {
        node: node_index,
        victims: victims.iter().map(|v| v.uid).collect(),
        // Smaller is better; a later start of the highest-priority victims
        // is better, hence the negation.
        key: (
            i64::from(highest),
            sum,
            victims.len(),
            -(earliest_of_highest as i64),
        ),
    })
}

/// The best candidate; among equally good ones, one drawn from `rng`
/// (nothing is drawn without a tie).
pub fn pick(mut candidates: Vec<Candidate>, rng: &mut impl Rng) -> Option<Candidate> {
    let best = candidates.iter().map(|c| c.key).min()?;
    let tied: Vec<usize> = (0..candidates.len())
        .filter(|&k| candidates[k].key == best)
        .collect();
    let k = match tied.len() {
        1 => tied[0],
        n => tied[(rng.next_u64() % n as u64) as usize],
    };
    Some(candidates.swap_remove(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Manifest, Object};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn pod(yaml: &str) -> Pod {
        match serde_yaml::from_str::<Manifest>(yaml).unwrap().object {
            Some(Object::Pod(p)) => p,
            _ => unreachable!(),
        }
    }

    fn node(cpu: &str) -> NodeInfo {
        match serde_yaml::from_str::<Manifest>(&format!(
            "kind: Node\nmetadata: {{name: n}}\nstatus: {{capacity: {{cpu: '{cpu}', memory: 4Gi}}}}"
        ))
        .unwrap()
        .object
        {
            Some(Object::Node(n)) => NodeInfo::new(&n),
            _ => unreachable!(),
        }
    }

    fn running(uid: u64, priority: i32, start: Time, cpu: &str) -> Running {
        let p = pod(&format!(
            "kind: Pod\nmetadata: {{name: p{uid}}}\nspec: {{containers: [{{name: c, image: x, resources: {{requests: {{cpu: {cpu}}}}}}}]}}"
        ));
        Running {
            uid,
            priority,
            start,
            res: PodResources::of(&p),
        }
    }

    #[test]
    fn victims_are_the_least_important_pods_that_must_go() {
        let preemptor = pod(
            "kind: Pod\nmetadata: {name: high}\nspec: {priority: 10, containers: [{name: c, image: x, resources: {requests: {cpu: '1'}}}]}",
        );
        let res = PodResources::of(&preemptor);
        let victims = |n: &NodeInfo, pods| {
            let all = &FilterPlugin::ALL;
            select_victims(all, &preemptor, &res, 0, n, pods, &[], &mut |_| true).unwrap()
        };
        let pods = vec![
            running(1, 5, 10, "500m"),
            running(2, 1, 20, "500m"),
            running(3, 1, 30, "500m"),
            running(4, 20, 5, "500m"),
        ];
        let mut n = node("2");
        for p in &pods {
            n.add_pod(&p.res);
        }
        let c = victims(&n, pods);
        // Pod 4 outranks the preemptor and stays; with it and the
        // preemptor 1.5 of 2 cpus are used: pod 1 (the most important of
        // the others) is reprieved, pods 2 and 3 must go.
        assert_eq!(c.victims, vec![2, 3]);
        // With 2.5 cpus, pod 2 (earlier start than pod 3) is reprieved too.
        let pods = vec![
            running(1, 5, 10, "500m"),
            running(2, 1, 20, "500m"),
            running(3, 1, 30, "500m"),
            running(4, 20, 5, "500m"),
        ];
        let mut n = node("2500m");
        for p in &pods {
            n.add_pod(&p.res);
        }
        let c = victims(&n, pods);
        assert_eq!(c.victims, vec![3]);
    }

    #[test]
    fn the_node_with_the_lowest_highest_victim_priority_wins() {
        let c = |node, key| Candidate {
            node,
            victims: vec![],
            key,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let before = rng.clone();
        let best = pick(
            vec![
                c(0, (5, 10, 1, 0)),
                c(1, (3, 20, 2, 0)),
                c(2, (3, 20, 2, -5)),
                c(3, (3, 30, 1, -9)),
            ],
            &mut rng,
        )
        .unwrap();
        assert_eq!(best.node, 2);
        // Without a tie nothing is drawn.
        assert_eq!(rng, before);
    }

    /// Equally good candidates are each taken under some draw, whatever
    /// their place in the list, and a worse one under none.
    #[test]
    fn a_tie_goes_to_a_candidate_drawn_at_random() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut taken = [0; 4];
        for _ in 0..400 {
            let c = |node, key| Candidate {
                node,
                victims: vec![],
                key,
            };
            let list = vec![
                c(0, (3, 20, 2, 0)),
                c(1, (1, 20, 2, 0)),
                c(2, (4, 20, 2, 0)),
                c(3, (1, 20, 2, 0)),
            ];
            taken[pick(list, &mut rng).unwrap().node] += 1;
        }
        assert_eq!((taken[0], taken[2]), (0, 0));
        assert!(taken[1] > 150 && taken[3] > 150, "{taken:?}");
    }

    /// Upstream's codes: removing pods may help against room, ports, skew
    /// and anti-affinity, not against a missing topology label, an unmet
    /// required affinity or a node-level rule.
    #[test]
    fn only_rejections_removing_pods_may_resolve_make_a_potential_node() {
        let r = |plugin: FilterPlugin, reason: &'static str| (plugin, reason);
        let resolvable = |(plugin, reason): &(FilterPlugin, &str)| resolvable(*plugin, reason);
        use FilterPlugin::*;
        assert!(resolvable(&r(NodeResourcesFit, "Insufficient cpu")));
        assert!(resolvable(&r(
            NodePorts,
            "node(s) didn't have free ports for the requested pod ports"
        )));
        assert!(resolvable(&r(
            PodTopologySpread,
            "node(s) didn't match pod topology spread constraints"
        )));
        assert!(!resolvable(&r(
            PodTopologySpread,
            "node(s) didn't match pod topology spread constraints (missing required label)"
        )));
        assert!(resolvable(&r(
            InterPodAffinity,
            "node(s) didn't match pod anti-affinity rules"
        )));
        assert!(resolvable(&r(
            InterPodAffinity,
            "node(s) didn't satisfy existing pods anti-affinity rules"
        )));
        assert!(!resolvable(&r(
            InterPodAffinity,
            "node(s) didn't match pod affinity rules"
        )));
        assert!(!resolvable(&r(
            TaintToleration,
            "node(s) had untolerated taint {k: v}"
        )));
        assert!(!resolvable(&r(
            NodeAffinity,
            "node(s) didn't match Pod's node affinity/selector"
        )));
    }

    #[test]
    fn the_dry_run_wants_a_tenth_of_the_potential_nodes_and_at_least_100() {
        assert_eq!(num_candidates(5), 5);
        assert_eq!(num_candidates(100), 100);
        assert_eq!(num_candidates(999), 100);
        assert_eq!(num_candidates(1000), 100);
        assert_eq!(num_candidates(1010), 101);
        assert_eq!(num_candidates(5000), 500);
    }
}
