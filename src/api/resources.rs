//! Resource arithmetic: a pod's effective requests (upstream `PodRequests`),
//! the non-zero requests the scheduler scores with, and node allocatable.

use std::collections::BTreeMap;

use super::node::Node;
use super::pod::{Container, PodSpec};
use super::quantity::Quantity;

/// Requests counted as 100 mCPU by scoring when a container sets none
/// (`pkg/scheduler/util/pod_resources.go`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Likewise 200 MiB of memory.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;
/// The kubelet's default `maxPods`.
pub const DEFAULT_MAX_PODS: i64 = 110;

/// An amount of each resource: cpu in millicores, memory and ephemeral storage
/// in bytes, extended resources (e.g. `nvidia.com/gpu`) in units, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    fn from_map(map: &BTreeMap<String, Quantity>) -> Resources {
        Self::from_pairs(map.iter())
    }

    /// From (name, quantity) pairs in name order, each name once.
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a String, &'a Quantity)>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in pairs {
            match name.as_str() {
                "cpu" => r.milli_cpu = q.milli_value(),
                "memory" => r.memory = q.value(),
                "ephemeral-storage" => r.ephemeral_storage = q.value(),
                "pods" => {}
                other => r.scalar.push((other.to_string(), q.value())),
            }
        }
        r
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    fn combine(&mut self, other: &Resources, f: impl Fn(i64, i64) -> i64) {
        self.milli_cpu = f(self.milli_cpu, other.milli_cpu);
        self.memory = f(self.memory, other.memory);
        self.ephemeral_storage = f(self.ephemeral_storage, other.ephemeral_storage);
        for (name, v) in &other.scalar {
            match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                Ok(i) => self.scalar[i].1 = f(self.scalar[i].1, *v),
                Err(i) => self.scalar.insert(i, (name.clone(), f(0, *v))),
            }
        }
    }

    pub fn add(&mut self, other: &Resources) {
        self.combine(other, |a, b| a + b);
    }

    pub fn sub(&mut self, other: &Resources) {
        self.combine(other, |a, b| a - b);
    }

    fn max_with(&mut self, other: &Resources) {
        self.combine(other, i64::max);
    }
}

fn container_requests(c: &Container) -> Resources {
    let r = &c.resources;
    if r.limits.is_empty() {
        // No limit stands in for a missing request: the requests as they
        // are, without building the merged map.
        Resources::from_pairs(r.requests.iter())
    } else {
        Resources::from_map(&r.effective_requests())
    }
}

/// A container's effective request of `name` (a limit stands in for a
/// missing request), as `effective_requests().get(name)` without building
/// the merged map.
fn effective_request<'a>(c: &'a Container, name: &str) -> Option<&'a Quantity> {
    let r = &c.resources;
    r.requests.get(name).or_else(|| r.limits.get(name))
}

/// A pod's effective requests: the larger of the sum over its containers and
/// the largest init container, per resource, plus the pod overhead.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let mut sum = Resources::default();
    for c in spec.containers.iter() {
        sum.add(&container_requests(c));
    }
    for c in spec.init_containers.iter() {
        sum.max_with(&container_requests(c));
    }
    // Pod-level cpu and memory replace the containers' (upstream's
    // PodRequests with PodLevelResources; the overhead still adds).
    if let Some(r) = &spec.resources {
        if let Some(q) = r.request("cpu") {
            sum.milli_cpu = q.milli_value();
        }
        if let Some(q) = r.request("memory") {
            sum.memory = q.value();
        }
    }
    if !spec.overhead.is_empty() {
        sum.add(&Resources::from_map(&spec.overhead));
    }
    sum
}

/// The cpu (millicores) and memory (bytes) requests that scoring uses: a
/// container that requests no cpu counts 100m, no memory counts 200Mi.
pub fn pod_nonzero_requests(spec: &PodSpec) -> (i64, i64) {
    let mut cpu = 0;
    let mut memory = 0;
    for c in spec.containers.iter() {
        cpu += effective_request(c, "cpu").map_or(DEFAULT_MILLI_CPU_REQUEST, |q| q.milli_value());
        memory += effective_request(c, "memory").map_or(DEFAULT_MEMORY_REQUEST, |q| q.value());
    }
    let mut init_cpu = 0;
    let mut init_memory = 0;
    for c in spec.init_containers.iter() {
        init_cpu = init_cpu.max(
            effective_request(c, "cpu").map_or(DEFAULT_MILLI_CPU_REQUEST, |q| q.milli_value()),
        );
        init_memory = init_memory
            .max(effective_request(c, "memory").map_or(DEFAULT_MEMORY_REQUEST, |q| q.value()));
    }
    // Pod-level cpu and memory replace the containers' (no default
    // applies to them).
    if let Some(r) = &spec.resources {
        if let Some(q) = r.request("cpu") {
            (cpu, init_cpu) = (q.milli_value(), 0);
        }
        if let Some(q) = r.request("memory") {
            (memory, init_memory) = (q.value(), 0);
        }
    }
    // Only the overhead's cpu and memory count here.
    let overhead_cpu = spec.overhead.get("cpu").map_or(0, |q| q.milli_value());
    let overhead_memory = spec.overhead.get("memory").map_or(0, |q| q.value());
    (
        cpu.max(init_cpu) + overhead_cpu,
        memory.max(init_memory) + overhead_memory,
    )
}

/// A node's allocatable resources and pod count: allocatable, falling back
/// to capacity for the resources only a capacity lists.
pub fn node_allocatable(node: &Node) -> (Resources, i64) {
    let merged = MergeByName {
        a: node.status.allocatable.iter().peekable(),
        b: node.status.capacity.iter().peekable(),
    };
    let pods = node
        .status
        .allocatable_or_capacity("pods")
        .map_or(DEFAULT_MAX_PODS, |q| q.value());
    (Resources::from_pairs(merged), pods)
}

/// The union of two name-ordered maps' entries in name order, `a`'s entry
/// taken where both have the name (without building the merged map).
struct MergeByName<'a, I: Iterator<Item = (&'a String, &'a Quantity)>> {
    a: std::iter::Peekable<I>,
    b: std::iter::Peekable<I>,
}

impl<'a, I: Iterator<Item = (&'a String, &'a Quantity)>> Iterator for MergeByName<'a, I> {
    type Item = (&'a String, &'a Quantity);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some((ka, _)), Some((kb, _))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => self.a.next(),
                std::cmp::Ordering::Greater => self.b.next(),
                std::cmp::Ordering::Equal => {
                    self.b.next();
                    self.a.next()
                }
            },
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn requests_take_the_larger_of_containers_and_init_containers() {
        let s = spec(
            "containers:\n- {name: a, resources: {requests: {cpu: 100m, memory: 64Mi}}}\n- {name: b, resources: {requests: {cpu: 200m}, limits: {memory: 1Gi}}}\ninitContainers:\n- {name: i, resources: {requests: {cpu: 500m, nvidia.com/gpu: 1}}}\noverhead: {cpu: 10m}",
        );
        let r = pod_requests(&s);
        assert_eq!(r.milli_cpu, 510);
        assert_eq!(r.memory, 64 * 1024 * 1024 + 1024 * 1024 * 1024);
        assert_eq!(r.scalar("nvidia.com/gpu"), 1);
    }

    #[test]
    fn allocatable_overrides_capacity_name_by_name() {
        let node: Node = serde_yaml::from_str(
            "status:\n  capacity: {cpu: '8', memory: 16Gi, pods: '110', example.com/a: '4', example.com/b: '2'}\n  allocatable: {cpu: 7500m, example.com/b: '1', example.com/c: '3', pods: '50'}",
        )
        .unwrap();
        let (r, pods) = node_allocatable(&node);
        assert_eq!(r.milli_cpu, 7500);
        assert_eq!(r.memory, 16 * 1024 * 1024 * 1024);
        assert_eq!(pods, 50);
        assert_eq!(
            r.scalar,
            vec![
                ("example.com/a".to_string(), 4),
                ("example.com/b".to_string(), 1),
                ("example.com/c".to_string(), 3),
            ]
        );
        let (_, default_pods) = node_allocatable(&Node::default());
        assert_eq!(default_pods, DEFAULT_MAX_PODS);
    }

    #[test]
    fn nonzero_requests_default_missing_requests_only() {
        let s = spec(
            "containers:\n- {name: a}\n- {name: b, resources: {requests: {cpu: '0', memory: 1Mi}}}",
        );
        assert_eq!(
            pod_nonzero_requests(&s),
            (100, DEFAULT_MEMORY_REQUEST + 1024 * 1024)
        );
    }
}
