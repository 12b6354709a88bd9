//! The run's outputs: the event timeline (`events.csv`), per-pod lifecycle
//! records (`pods.csv`), node allocation samples (`nodes.csv`) and the summary
//! (`summary.csv`), and the rollouts of workloads (`rollouts.csv`). Files hold virtual-time results only, so that the same
//! scenario and seed give byte-identical files.
//!
//! The recorder is an observer: components tell it what happened, it never
//! feeds anything back into the model.

mod background;
pub mod cpu;
pub mod direct;
pub mod netprog;
mod recorder;
pub mod rollouts;
pub(crate) mod rowlog;
pub(crate) mod rows;
mod summary;

pub use background::BackgroundWriter;
pub use direct::DirectFile;
pub use recorder::{Counters, EventsOut, PodRecord, Recorder, Subject};
pub use rollouts::{ROLLOUTS_HEADER, RolloutRecord, Rollouts};
pub use rows::{FieldTemplate, FixedFields, HeldRows, Part, RowWriter};
pub use summary::{RunFacts, Summary, percentile};

/// The column headers, as documented in the README.
pub const EVENTS_HEADER: [&str; 9] = [
    "time_s",
    "seq",
    "component",
    "action",
    "kind",
    "namespace",
    "name",
    "node",
    "detail",
];
pub const PODS_HEADER: [&str; 14] = [
    "namespace",
    "name",
    "owner",
    "node",
    "phase",
    "created_s",
    "scheduled_s",
    "bound_s",
    "started_s",
    "ready_s",
    "reachable_s",
    "deleted_s",
    "attempts",
    "startup_latency_s",
];
pub const NODES_HEADER: [&str; 8] = [
    "time_s",
    "node",
    "cpu_requested_m",
    "cpu_allocatable_m",
    "memory_requested_bytes",
    "memory_allocatable_bytes",
    "pods",
    "pods_allocatable",
];
