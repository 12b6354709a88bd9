//! The object model: Kubernetes objects as the simulator stores them, parsed
//! from real manifests, with exact quantities and label selectors.

pub mod fields;
pub mod keyed;
pub mod meta;
pub mod namespace;
pub mod node;
pub mod object;
pub mod pod;
pub mod priority;
pub mod quantity;
pub mod resources;
pub mod selector;
pub mod service;
pub mod text;
pub mod volume;
pub mod workloads;

pub use meta::{Kind, Labels, ObjectKey, ObjectMeta};
pub use node::Node;
pub use object::{Manifest, Object};
pub use pod::{Pod, PodPhase};
pub use quantity::Quantity;
pub use service::{EndpointSlice, Service};
pub use text::Text;
