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
/// controller writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub address: Arc<str>,
    /// The pod's uid, to follow one pod through the slices.
    pub pod_uid: u64,
    pub pod_name: Arc<str>,
    pub node_name: Arc<str>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
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
