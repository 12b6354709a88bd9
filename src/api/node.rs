//! Nodes: capacity, labels, taints and the images already present.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::meta::ObjectMeta;
use super::pod::Taint;
use super::quantity::Quantity;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(default)]
    pub unschedulable: bool,
    #[serde(default)]
    pub taints: Vec<Taint>,
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default)]
    pub capacity: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub allocatable: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub images: Vec<ContainerImage>,
    /// The Ready condition as the kubelet and the node lifecycle controller
    /// write it (a manifest's conditions are ignored).
    #[serde(skip)]
    pub ready: Option<NodeReady>,
}

/// The node's `Ready` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReady {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    pub reason: String,
    pub last_transition: crate::engine::Time,
}

impl NodeStatus {
    /// Allocatable, falling back to capacity for resources that only list
    /// a capacity (as the kubelet reports when nothing is reserved).
    pub fn allocatable_or_capacity(&self, resource: &str) -> Option<Quantity> {
        self.allocatable
            .get(resource)
            .or_else(|| self.capacity.get(resource))
            .copied()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub size_bytes: i64,
}
