//! kubesim: a deterministic discrete-event simulator of a Kubernetes cluster.
//!
//! The [`engine`] advances integer virtual time and knows nothing of
//! Kubernetes; [`sim`] wires the components (client, [`apiserver`], [`etcd`],
//! [`scheduler`], [`controllers`], [`kubelet`], [`runtime`], [`proxy`]) into
//! one world that exchanges the messages of [`sim::msg`]; [`scenario`] loads
//! the YAML a user writes and [`output`] writes the CSV timelines.

pub mod alloc;
pub mod api;
pub mod apiserver;
pub mod bench;
pub mod compare;
pub mod controllers;
pub mod cores;
pub mod engine;
pub mod etcd;
pub mod fasthash;
pub mod kubelet;
pub mod nodelease;
pub mod output;
pub mod proxy;
pub mod ratelimit;
pub mod runtime;
pub mod scenario;
pub mod schedperf;
pub mod scheduler;
pub mod sim;
