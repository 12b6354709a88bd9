//! Integration tests: the `kubesim` binary run as a user runs it, on the
//! bundled scenarios and on scenarios written here.

mod bad_input;
mod flows;
mod node_agents;
mod scheduler_perf;
mod scheduling;
mod storage;
mod support;
mod volumes;
mod workloads;
