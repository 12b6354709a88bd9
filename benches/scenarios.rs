//! End-to-end runs of bundled scenarios through the whole simulator, the
//! timelines discarded: simulation events per second.

use std::io;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubesim::scenario;
use kubesim::sim::run::simulate;

/// The allocator the `kubesim` binary uses, so that figures match it.
#[global_allocator]
static GLOBAL: kubesim::alloc::MiMalloc = kubesim::alloc::MiMalloc;

fn scenarios(c: &mut Criterion) {
    let mut group = c.benchmark_group("scenarios");
    group.sample_size(10);
    for name in [
        "quickstart",
        "deployment-flow",
        "rolling-update",
        "node-failure",
        "scale-1k",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.yaml"));
        let s = scenario::load(&path).expect("bundled scenarios load");
        // Events per run, to report throughput in events.
        let events = simulate(&s, s.seed, Box::new(io::sink()), Box::new(io::sink())).events;
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::from_parameter(name), &s, |b, s| {
            b.iter(|| simulate(s, s.seed, Box::new(io::sink()), Box::new(io::sink())).events)
        });
    }
    group.finish();
}

criterion_group!(benches, scenarios);
criterion_main!(benches);
