//! Raw event-loop throughput: a world that answers every event with one new
//! event at a pseudo-random later time, so the number of pending events stays
//! constant, for 1 000, 100 000 and 1 000 000 pending events.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubesim::engine::{Address, Ctx, Engine, MessageKind, World};

#[derive(Clone, Copy)]
struct Dest(u32);
impl Address for Dest {
    fn address_id(&self) -> u64 {
        u64::from(self.0)
    }
}

struct Msg(u64);
impl MessageKind for Msg {
    fn kind_id(&self) -> u32 {
        1
    }
}

/// Re-sends each message after a delay drawn from a cheap LCG, until the
/// budget of handled events is spent.
struct Echo {
    budget: u64,
}

impl World for Echo {
    type Dest = Dest;
    type Msg = Msg;
    fn handle(&mut self, ctx: &mut Ctx<Dest, Msg>, dest: Dest, msg: Msg) {
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        let next = msg
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ctx.send(dest, 1 + (next >> 44), Msg(next));
    }
}

fn engine(c: &mut Criterion) {
    const EVENTS: u64 = 1_000_000;
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS));
    for pending in [1_000u64, 100_000, 1_000_000] {
        group.bench_with_input(
            BenchmarkId::from_parameter(pending),
            &pending,
            |b, &pending| {
                b.iter_batched(
                    || {
                        let mut e: Engine<Dest, Msg> = Engine::new();
                        for i in 0..pending {
                            e.schedule(i, Dest(i as u32), Msg(i));
                        }
                        e
                    },
                    |mut e| {
                        let mut w = Echo { budget: EVENTS };
                        e.run(&mut w, None);
                        e.processed()
                    },
                    criterion::BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
