//! Services and the EndpointSlices that list their endpoints.

use std::sync::Arc;

use serde::Deserialize;

use super::meta::{Labels, ObjectMeta};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Service {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// A Service without a selector gets no endpoints from the controller.
    #[serde(default)]
    pub selector: Labels,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    #[serde(default, rename = "type")]
    pub service_type: Option<String>,
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(default)]
    pub name: Option<String>,
    pub port: i32,
    #[serde(default)]
    pub protocol: Option<String>,
}

/// One endpoint: a pod's address and its conditions, as the EndpointSlice
/// controller writes them. What does not change while the pod lives is
/// shared between the versions of a slice (16 bytes an endpoint, one
/// reference count to bump when a slice is copied for a write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub target: Arc<EndpointTarget>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// An endpoint's pod: its address, uid, name and node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointTarget {
    pub address: String,
    /// The pod's uid, to follow one pod through the slices.
    pub pod_uid: u64,
    pub pod_name: String,
    pub node_name: String,
}

impl Endpoint {
    /// The pod's uid.
    pub fn pod_uid(&self) -> u64 {
        self.target.pod_uid
    }
}

/// At most [`MAX_ENDPOINTS_PER_SLICE`] endpoints of one Service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointSlice {
    pub metadata: ObjectMeta,
    pub endpoints: Vec<Endpoint>,
}

/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The annotation carrying the time of the pod change that triggered a write.
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
