//! `kubesim bench`: scheduler throughput through the whole simulator, on a
//! workload shaped like upstream scheduler_perf's SchedulingBasic: N nodes
//! of 4 cpu / 32Gi / 110 pods, some initial pods, then the measured pause
//! pods, each requesting 100m / 500Mi.

use std::path::Path;
use std::time::Instant;

use crate::api::pod::{Container, Pod};
use crate::api::{Object, Quantity};
use crate::engine::SECOND;
use crate::scenario::{self, Action, ActionOp, Scenario};
use crate::sim::run::{RunOptions, simulate_discarding};

/// The shape of one benchmark run.
#[derive(Clone, Debug)]
pub struct BenchSpec {
    pub nodes: usize,
    /// Pods created (and scheduled) before the measured ones.
    pub init_pods: usize,
    /// The measured pods.
    pub pods: usize,
    pub seed: u64,
}

/// What one run measured. Wall-clock figures are the simulator's, not the
/// model's.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub spec: BenchSpec,
    pub wall_s: f64,
    pub scheduled: usize,
    /// Virtual seconds from the first measured pod's creation to the last bind.
    pub virtual_span_s: f64,
    /// Wall-clock seconds the simulator took over that span (the measured
    /// phase, as upstream's scheduler_perf measures its `collectMetrics`
    /// operation), whole simulator included.
    pub measured_wall_s: f64,
    pub events: u64,
}

impl BenchResult {
    /// Pods scheduled (initial and measured) per wall-clock second.
    pub fn pods_per_wall_second(&self) -> f64 {
        self.scheduled as f64 / self.wall_s.max(1e-9)
    }

    /// Measured pods scheduled per wall-clock second of the measured phase.
    pub fn measured_pods_per_wall_second(&self) -> f64 {
        self.spec.pods as f64 / self.measured_wall_s.max(1e-9)
    }

    /// Measured pods bound per virtual second: the modelled scheduler's
    /// throughput, set by the scheduling cycle's modelled cost.
    pub fn pods_per_virtual_second(&self) -> f64 {
        self.spec.pods as f64 / self.virtual_span_s.max(1e-9)
    }

    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.wall_s.max(1e-9)
    }
}

/// When the measured pods are created: after the initial ones have settled.
const MEASURE_AT: u64 = 600 * SECOND;

/// How often (virtual time) the measured phase reads the wall clock.
pub const WALL_MARK_STEP: u64 = 10 * crate::engine::MILLISECOND;

/// The wall-clock seconds between virtual times `from` and `to`, from a
/// run's wall marks: the first mark at or after each.
pub fn wall_between(marks: &[(u64, std::time::Duration)], from: u64, to: u64) -> f64 {
    let at = |t: u64| {
        marks
            .iter()
            .find(|(m, _)| *m >= t)
            .or(marks.last())
            .map_or(0.0, |(_, d)| d.as_secs_f64())
    };
    at(to) - at(from)
}

/// Upstream scheduler_perf's default pod: a pause container requesting
/// 100m / 500Mi, named `name` in `default`.
pub fn pause_pod(name: String) -> Object {
    let mut pod = Pod::default();
    pod.metadata.name = name.into();
    pod.metadata.namespace = "default".into();
    let mut c = Container {
        name: "pause".into(),
        image: "registry.k8s.io/pause:3.10".into(),
        ..Default::default()
    };
    let q = |s: &str| Quantity::parse(s).expect("valid quantity");
    c.resources.requests.insert("cpu".into(), q("100m"));
    c.resources.requests.insert("memory".into(), q("500Mi"));
    std::sync::Arc::make_mut(&mut std::sync::Arc::make_mut(&mut pod.spec).containers).push(c);
    Object::Pod(pod)
}

/// The benchmark's scenario: the cluster from YAML, the pods built directly.
pub fn scheduling_basic(spec: &BenchSpec) -> Scenario {
    let yaml = format!(
        "name: bench-{n}-nodes-{p}-pods\nseed: {seed}\ncluster:\n  nodeGroups:\n  - name: node\n    count: {n}\n    capacity: {{cpu: '4', memory: 32Gi, pods: 110}}\n    images: ['registry.k8s.io/pause:3.10']\nimages:\n  registry.k8s.io/pause:3.10: 300Ki\n",
        n = spec.nodes,
        p = spec.pods,
        seed = spec.seed
    );
    let mut s =
        scenario::load_str(&yaml, Path::new("<bench>")).expect("the bench scenario is valid");
    // The scheduler's client as upstream scheduler_perf sets it up (QPS
    // and burst 5000), unless a `--policy` file sets one.
    s.scheduler_client = crate::scheduler::ClientConnection::SCHEDULER_PERF;
    // Copies of one pod, as upstream's createPods makes from its template:
    // they share the spec (copied by the first write that changes it).
    let template = pause_pod(String::new());
    let named = |name: String| {
        let mut pod = template.clone();
        pod.meta_mut().name = name.into();
        pod
    };
    let init = (0..spec.init_pods)
        .map(|i| named(format!("init-{i}")))
        .collect();
    let measured = (0..spec.pods).map(|i| named(format!("pod-{i}"))).collect();
    s.actions.push(Action {
        at: 0,
        place: "<bench>".into(),
        op: ActionOp::Apply(init),
    });
    s.actions.push(Action {
        at: MEASURE_AT,
        place: "<bench>".into(),
        op: ActionOp::Apply(measured),
    });
    s
}

/// Runs one benchmark with the default profile, discarding the timelines.
pub fn run(spec: &BenchSpec) -> BenchResult {
    run_with(spec, &RunOptions::default())
}

/// Runs one benchmark with `opts` (e.g. a `--policy`'s profiles).
pub fn run_with(spec: &BenchSpec, opts: &RunOptions) -> BenchResult {
    let scenario = scheduling_basic(spec);
    let opts = RunOptions {
        wall_marks: Some((MEASURE_AT, WALL_MARK_STEP)),
        ..opts.clone()
    };
    let started = Instant::now();
    let outcome = simulate_discarding(&scenario, spec.seed, &opts, None);
    let wall_s = started.elapsed().as_secs_f64();
    let pods = outcome.recorder.pods();
    let scheduled = pods.iter().filter(|p| p.bound.is_some()).count();
    let last_bind = pods
        .iter()
        .filter(|p| p.name.starts_with("pod-"))
        .filter_map(|p| p.bound)
        .max()
        .unwrap_or(MEASURE_AT);
    BenchResult {
        spec: spec.clone(),
        wall_s,
        scheduled,
        virtual_span_s: last_bind.saturating_sub(MEASURE_AT) as f64 / SECOND as f64,
        measured_wall_s: wall_between(&outcome.wall_marks, MEASURE_AT, last_bind),
        events: outcome.events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_bench_schedules_every_pod() {
        let r = run(&BenchSpec {
            nodes: 5,
            init_pods: 5,
            pods: 20,
            seed: 1,
        });
        assert_eq!(r.scheduled, 25);
        assert!(r.virtual_span_s > 0.0);
    }

    /// With only etcd, the apiserver and the scheduler, every pod is bound
    /// and none starts: no kubelet runs them, as in upstream's
    /// scheduler_perf. The whole cluster starts them all.
    #[test]
    fn scheduling_only_binds_every_pod_and_starts_none() {
        let spec = BenchSpec {
            nodes: 5,
            init_pods: 5,
            pods: 20,
            seed: 1,
        };
        let outcome = |scheduling_only| {
            let opts = RunOptions {
                scheduling_only,
                ..Default::default()
            };
            simulate_discarding(&scheduling_basic(&spec), spec.seed, &opts, None)
        };
        let only = outcome(true);
        let pods = only.recorder.pods();
        assert_eq!(pods.len(), 25);
        assert!(pods.iter().all(|p| p.bound.is_some() && !p.node.is_empty()));
        assert!(pods.iter().all(|p| p.started.is_none()));
        let whole = outcome(false);
        assert!(whole.recorder.pods().iter().all(|p| p.started.is_some()));
        assert!(only.events < whole.events);
    }
}
