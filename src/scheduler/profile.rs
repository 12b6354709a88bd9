//! Scheduler profiles: which filter and score plugins run, with which
//! weights and arguments, and how the node is picked among the feasible
//! ones; and the named policies (`--policy`, `scheduler.policy`) built on
//! them.

use super::framework::{FilterPlugin, FitScoring, FitStrategy, NUM_SCORE_PLUGINS, ScorePlugin};
use crate::api::pod::DEFAULT_SCHEDULER;

/// How the node is chosen among the feasible ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// Upstream: the highest total score, ties broken by reservoir sampling.
    Best,
    /// Every node is filtered; a feasible one is picked uniformly at random.
    Random,
    /// Nodes are filtered in their order from the first; the first feasible
    /// one is taken.
    FirstFit,
}

/// One scheduler profile (`profiles[]` of a KubeSchedulerConfiguration).
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The `schedulerName` pods use to choose it.
    pub scheduler_name: String,
    /// Enabled filters, in the order they run.
    pub filters: Vec<FilterPlugin>,
    /// Score weights, indexed like [`ScorePlugin::ALL`]; 0 = disabled.
    pub weights: [i64; NUM_SCORE_PLUGINS],
    /// NodeResourcesFit `scoringStrategy`.
    pub fit: FitScoring,
    /// PodTopologySpread `defaultingType: System` (the system defaults).
    pub system_default_spreading: bool,
    /// InterPodAffinity `hardPodAffinityWeight`.
    pub hard_pod_affinity_weight: i64,
    pub select: Select,
    /// `percentageOfNodesToScore`; 0 = adaptive.
    pub percentage_of_nodes_to_score: u32,
    /// The KubeSchedulerConfiguration's `clientConnection` (the same on
    /// every profile of a file), when it sets `qps` or `burst`.
    pub client_connection: Option<super::ClientConnection>,
    /// The KubeSchedulerConfiguration's `podInitialBackoffSeconds` and
    /// `podMaxBackoffSeconds` (as durations), when it sets either.
    pub pod_backoff: Option<(crate::engine::Time, crate::engine::Time)>,
}

impl Default for Profile {
    fn default() -> Self {
        let mut weights = [0; NUM_SCORE_PLUGINS];
        for (k, p) in ScorePlugin::ALL.iter().enumerate() {
            weights[k] = p.default_weight();
        }
        Profile {
            scheduler_name: DEFAULT_SCHEDULER.to_string(),
            filters: FilterPlugin::ALL.to_vec(),
            weights,
            fit: FitScoring::default(),
            system_default_spreading: true,
            hard_pod_affinity_weight: 1,
            select: Select::Best,
            percentage_of_nodes_to_score: 0,
            client_connection: None,
            pod_backoff: None,
        }
    }
}

impl Profile {
    pub fn weight(&self, p: ScorePlugin) -> i64 {
        self.weights[p as usize]
    }

    pub fn set_weight(&mut self, p: ScorePlugin, w: i64) {
        self.weights[p as usize] = w;
    }

    pub fn filter_enabled(&self, p: FilterPlugin) -> bool {
        self.filters.contains(&p)
    }

    /// How many feasible nodes a cycle looks for among `n`.
    pub fn num_feasible_nodes_to_find(&self, n: usize) -> usize {
        match self.select {
            Select::Random => n,
            Select::FirstFit => 1.min(n),
            Select::Best => {
                if self.percentage_of_nodes_to_score == 0 || n < 100 {
                    return super::framework::num_feasible_nodes_to_find(n);
                }
                let pct = self.percentage_of_nodes_to_score.min(100) as usize;
                (n * pct / 100).max(100)
            }
        }
    }
}

/// The named policies, with one line each.
pub const POLICIES: [(&str, &str); 6] = [
    (
        "default",
        "the default profile: every plugin with upstream's weights, NodeResourcesFit LeastAllocated",
    ),
    (
        "most-allocated",
        "bin packing: NodeResourcesFit MostAllocated (cpu 1, memory 1), other plugins as default",
    ),
    (
        "balanced",
        "NodeResourcesBalancedAllocation weight 10 (default 1), other plugins as default",
    ),
    (
        "spread",
        "topology spread preferred: PodTopologySpread weight 10 (default 2), other plugins as default",
    ),
    (
        "random",
        "every node filtered, a feasible node picked uniformly at random (no scoring)",
    ),
    (
        "first-fit",
        "nodes filtered in order from the first, the first feasible node taken (no scoring)",
    ),
];

/// The profile of a named policy.
pub fn named(policy: &str) -> Option<Profile> {
    let mut p = Profile::default();
    match policy {
        "default" => {}
        "most-allocated" => p.fit.strategy = FitStrategy::MostAllocated,
        "balanced" => p.set_weight(ScorePlugin::NodeResourcesBalancedAllocation, 10),
        "spread" => p.set_weight(ScorePlugin::PodTopologySpread, 10),
        "random" => p.select = Select::Random,
        "first-fit" => p.select = Select::FirstFit,
        _ => return None,
    }
    Some(p)
}

/// The error for an unknown policy name: lists the valid ones.
pub fn unknown_policy(policy: &str) -> String {
    let names: Vec<&str> = POLICIES.iter().map(|(n, _)| *n).collect();
    format!(
        "unknown scheduling policy {policy:?}: valid policies are {}, or a KubeSchedulerConfiguration file (.yaml)",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_has_upstream_weights() {
        let p = Profile::default();
        assert_eq!(p.weight(ScorePlugin::TaintToleration), 3);
        assert_eq!(p.weight(ScorePlugin::NodeAffinity), 2);
        assert_eq!(p.weight(ScorePlugin::PodTopologySpread), 2);
        assert_eq!(p.weight(ScorePlugin::InterPodAffinity), 2);
        assert_eq!(p.weight(ScorePlugin::NodeResourcesFit), 1);
        assert_eq!(p.weight(ScorePlugin::NodeResourcesBalancedAllocation), 1);
        assert_eq!(p.weight(ScorePlugin::ImageLocality), 1);
        assert_eq!(p.filters.len(), 12);
    }

    #[test]
    fn every_listed_policy_resolves_and_others_are_refused() {
        for (name, _) in POLICIES {
            assert!(named(name).is_some(), "{name}");
        }
        assert!(named("bin-packing").is_none());
        let e = unknown_policy("bin-packing");
        assert!(
            e.contains("most-allocated") && e.contains("first-fit"),
            "{e}"
        );
    }
}
