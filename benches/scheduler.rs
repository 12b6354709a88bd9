//! Scheduling throughput through the whole simulator on SchedulingBasic-
//! shaped workloads (see `kubesim::bench`): pods scheduled per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubesim::bench::{BenchSpec, run};

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

criterion_group!(benches, scheduler);
criterion_main!(benches);
