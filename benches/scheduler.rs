//! Scheduling throughput through the whole simulator: SchedulingBasic-
//! shaped workloads (see `kubesim::bench`), and the PodTopologySpread and
//! InterPodAffinity workloads of `benches/scheduler_perf/performance-config.yaml`
//! run through `kubesim::schedperf`; pods scheduled per second.

use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubesim::bench::{BenchSpec, run};
use kubesim::schedperf;
use kubesim::sim::run::RunOptions;

/// The allocator the `kubesim` binary uses, so that figures match it.
#[global_allocator]
static GLOBAL: kubesim::alloc::MiMalloc = kubesim::alloc::MiMalloc;

fn scheduler(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduling_basic");
    group.sample_size(10);
    for (nodes, init_pods, pods) in [(500, 500, 1000), (5000, 1000, 10_000)] {
        let spec = BenchSpec {
            nodes,
            init_pods,
            pods,
            seed: 1,
        };
        group.throughput(Throughput::Elements((init_pods + pods) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{nodes}nodes_{pods}pods")),
            &spec,
            |b, spec| b.iter(|| run(spec).scheduled),
        );
    }
    group.finish();
}

/// Workloads of the bundled scheduler_perf config, with the pods their
/// `createPods` operations create (checked on every run).
const PERF_WORKLOADS: [(&str, &str, usize); 4] = [
    ("topology_spreading", "TopologySpreading/500Nodes", 2000),
    (
        "topology_spreading",
        "TopologySpreading/5000Nodes_5000Pods",
        10_000,
    ),
    ("pod_affinity", "SchedulingPodAffinity/500Nodes", 1500),
    ("pod_affinity", "SchedulingPodAntiAffinity/500Nodes", 500),
];

fn scheduler_perf(c: &mut Criterion) {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/scheduler_perf/performance-config.yaml");
    let opts = RunOptions::default();
    for name in ["topology_spreading", "pod_affinity"] {
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        for (_, workload, pods) in PERF_WORKLOADS.iter().filter(|w| w.0 == name) {
            group.throughput(Throughput::Elements(*pods as u64));
            group.bench_with_input(
                BenchmarkId::from_parameter(workload),
                workload,
                |b, workload| {
                    b.iter(|| {
                        let r = schedperf::run(&config, workload, 1, &opts)
                            .unwrap_or_else(|e| panic!("{workload}: {e}"));
                        assert_eq!((r.pods, r.scheduled), (*pods, *pods), "{workload}");
                        r.scheduled
                    })
                },
            );
        }
        group.finish();
    }
}

criterion_group!(benches, scheduler, scheduler_perf);
criterion_main!(benches);
