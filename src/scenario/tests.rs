//! Tests of the scenario loader: a good scenario in full, the bundled
//! scenarios, and one test per kind of error, each checking the message and
//! its line and column.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::api::pod::TaintEffect;
use crate::api::quantity::Quantity;
use crate::engine::dist::Dist;
use crate::engine::{MILLISECOND, SECOND};
use crate::sim::latency::Hop;

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kubesim-scenario-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn load_text(yaml: &str) -> Scenario {
    load_str(yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

fn error(yaml: &str) -> LoadError {
    match load_str(yaml, Path::new("test.yaml")) {
        Ok(_) => panic!("loaded, but should not have:\n{yaml}"),
        Err(e) => e,
    }
}

/// Checks an error's position and that its message contains `expected`.
#[track_caller]
fn assert_error(e: &LoadError, file: &Path, line: usize, column: usize, expected: &str) {
    assert_eq!(e.file, file, "{e}");
    assert_eq!((e.line, e.column), (Some(line), Some(column)), "{e}");
    assert!(e.message.contains(expected), "{e}\nexpected: {expected}");
    assert_eq!(
        e.to_string(),
        format!("{}:{line}:{column}: {}", file.display(), e.message)
    );
}

#[track_caller]
fn assert_text_error(yaml: &str, line: usize, column: usize, expected: &str) {
    assert_error(&error(yaml), Path::new("test.yaml"), line, column, expected);
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap()
}

fn pod_names(op: &ActionOp) -> Vec<String> {
    match op {
        ActionOp::Apply(objects) => objects.iter().map(|o| o.meta().name.to_string()).collect(),
        _ => panic!("not an apply"),
    }
}

const FULL: &str = "\
seed: 7
duration: 10m
cluster:
  nodeGroups:
    - name: worker
      count: 2
      capacity: {cpu: \"4\", memory: 16Gi}
      allocatable: {cpu: 3500m, memory: 15Gi}
      labels: {topology.kubernetes.io/zone: zone-a}
      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
      images: [nginx:1.27, unknown:1]
      unschedulable: true
    - name: small
      count: 1
      capacity: {cpu: 1, pods: 10}
  nodes: nodes.yaml
  bootControlPlane: true
images:
  nginx:1.27: 70Mi
scheduler:
  policy: spread
latencies:
  etcdWrite: 2ms
  watchDelivery: {distribution: lognormal, median: 1ms, p99: 10ms}
  imagePull: {distribution: uniform, min: 1s, max: 2s}
  kubeletSync: {distribution: exponential, mean: 5ms}
  podSandbox: {distribution: normal, mean: 300ms, stddev: 50ms}
  containerStart: {distribution: constant, value: 0}
  imagePullBandwidth: 10Mi
actions:
  - at: 90s
    delete: {kind: Pod, name: a}
  - at: 1s
    apply: manifests/app.yaml
  - at: 0s
    apply:
      apiVersion: v1
      kind: Pod
      metadata: {name: a}
      spec:
        containers: [{name: c, image: nginx:1.27}]
  - at: 1s
    apply:
      - {kind: Service, metadata: {name: s, namespace: prod}, spec: {selector: {app: a}}}
      - {kind: ConfigMap, metadata: {name: cfg}}
  - at: 90s
    delete: {kind: Node, name: small-0, namespace: ignored}
";

const NODES: &str = "\
# kubectl get nodes -o yaml
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata:
    name: big-0
    namespace: nonsense
    labels: {kubernetes.io/hostname: big-0}
  status:
    capacity: {cpu: \"64\", memory: 256Gi, pods: \"250\"}
    images:
    - names: [redis:7.2]
      sizeBytes: 41943040
";

const APP: &str = "\
---
# a comment-only document, then the manifests
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: [{name: c, image: nginx:1.27}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: nginx:1.27}]}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
";

#[test]
fn a_full_scenario_loads() {
    let dir = TempDir::new("full");
    let path = dir.write("full.yaml", FULL);
    dir.write("nodes.yaml", NODES);
    let app = dir.write("manifests/app.yaml", APP);
    let s = load(&path).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(s.name, "full");
    assert_eq!(s.path, path);
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration, Some(600 * SECOND));
    assert_eq!(s.policy, "spread");
    assert!(s.boot_control_plane);
    assert_eq!(s.images["nginx:1.27"], 70 * 1024 * 1024);

    // Node groups expanded in order, then the List's node.
    let names: Vec<&str> = s.nodes.iter().map(|n| n.metadata.name.as_str()).collect();
    assert_eq!(names, ["worker-0", "worker-1", "small-0", "big-0"]);
    let w1 = &s.nodes[1];
    assert_eq!(w1.metadata.labels["kubernetes.io/hostname"], "worker-1");
    assert_eq!(w1.metadata.labels["kubernetes.io/os"], "linux");
    assert_eq!(w1.metadata.labels["topology.kubernetes.io/zone"], "zone-a");
    assert_eq!(w1.metadata.namespace, "");
    assert_eq!(w1.status.capacity["cpu"], q("4"));
    assert_eq!(w1.status.allocatable["cpu"], q("3500m"));
    assert_eq!(w1.status.allocatable["memory"], q("15Gi"));
    assert!(!w1.status.capacity.contains_key("pods"));
    assert!(w1.spec.unschedulable);
    assert_eq!(w1.spec.taints.len(), 1);
    assert_eq!(w1.spec.taints[0].key, "dedicated");
    assert_eq!(w1.spec.taints[0].value, "gpu");
    assert_eq!(w1.spec.taints[0].effect, TaintEffect::NoSchedule);
    let images: Vec<(&str, i64)> = w1
        .status
        .images
        .iter()
        .map(|i| (i.names[0].as_str(), i.size_bytes))
        .collect();
    assert_eq!(images, [("nginx:1.27", 70 * 1024 * 1024), ("unknown:1", 0)]);
    let small = &s.nodes[2];
    assert_eq!(small.status.allocatable, small.status.capacity);
    assert_eq!(small.status.capacity["pods"], q("10"));
    assert!(small.spec.taints.is_empty() && !small.spec.unschedulable);
    let big = &s.nodes[3];
    assert_eq!(big.metadata.namespace, "");
    assert_eq!(big.status.capacity["pods"], q("250"));
    assert_eq!(big.status.images[0].names, ["redis:7.2"]);

    let l = &s.latencies;
    assert_eq!(l.dist(Hop::EtcdWrite), Dist::Constant(2 * MILLISECOND));
    assert_eq!(
        l.dist(Hop::WatchDelivery),
        Dist::LogNormal {
            median: MILLISECOND,
            p99: 10 * MILLISECOND
        }
    );
    assert_eq!(
        l.dist(Hop::ImagePull),
        Dist::Uniform {
            min: SECOND,
            max: 2 * SECOND
        }
    );
    assert_eq!(
        l.dist(Hop::KubeletSync),
        Dist::Exponential {
            mean: 5 * MILLISECOND
        }
    );
    assert_eq!(
        l.dist(Hop::PodSandbox),
        Dist::Normal {
            mean: 300 * MILLISECOND,
            stddev: 50 * MILLISECOND
        }
    );
    assert_eq!(l.dist(Hop::ContainerStart), Dist::Constant(0));
    assert_eq!(l.dist(Hop::EtcdRead), Hop::EtcdRead.default_dist());
    assert_eq!(l.overrides.len(), 6);
    assert_eq!(l.image_pull_bandwidth, Some(10 * 1024 * 1024));

    // Sorted by time; file order among equal times.
    let p = path.display();
    let order: Vec<(Time, &str)> = s.actions.iter().map(|a| (a.at, a.place.as_str())).collect();
    let expected = [
        (0, format!("{p}:35:5")),
        (SECOND, format!("{p}:33:5")),
        (SECOND, format!("{p}:42:5")),
        (90 * SECOND, format!("{p}:31:5")),
        (90 * SECOND, format!("{p}:46:5")),
    ];
    let expected: Vec<(Time, &str)> = expected.iter().map(|(t, s)| (*t, s.as_str())).collect();
    assert_eq!(order, expected);

    let ActionOp::Apply(inline) = &s.actions[0].op else {
        panic!()
    };
    assert_eq!(inline.len(), 1);
    assert_eq!(inline[0].key().to_string(), "Pod/default/a");
    let ActionOp::Apply(from_file) = &s.actions[1].op else {
        panic!()
    };
    let keys: Vec<String> = from_file.iter().map(|o| o.key().to_string()).collect();
    assert_eq!(keys, ["Pod/default/b", "Deployment/prod/web"]);
    assert_eq!(pod_names(&s.actions[2].op), ["s"]);
    assert_eq!(s.actions[2].op_namespaces(), ["prod"]);
    match &s.actions[3].op {
        ActionOp::Delete {
            kind,
            namespace,
            name,
        } => assert_eq!(
            (*kind, namespace.as_str(), name.as_str()),
            (Kind::Pod, "default", "a")
        ),
        op => panic!("{op:?}"),
    }
    match &s.actions[4].op {
        ActionOp::Delete {
            kind, namespace, ..
        } => assert_eq!((*kind, namespace.as_str()), (Kind::Node, "")),
        op => panic!("{op:?}"),
    }

    assert_eq!(
        s.warnings,
        [
            format!(
                "{}:17:1: skipping ConfigMap settings: kind not modelled",
                app.display()
            ),
            format!("{p}:45:10: skipping ConfigMap cfg: kind not modelled"),
        ]
    );
}

impl Action {
    /// The namespaces of an apply's objects, for tests.
    fn op_namespaces(&self) -> Vec<String> {
        match &self.op {
            ActionOp::Apply(objects) => objects
                .iter()
                .map(|o| o.meta().namespace.to_string())
                .collect(),
            ActionOp::Delete { namespace, .. } => vec![namespace.clone()],
            _ => vec![],
        }
    }
}

#[test]
fn defaults() {
    let s = load_str("{}", Path::new("dir/my-scenario.yaml")).unwrap();
    assert_eq!(s.name, "my-scenario");
    assert_eq!(s.seed, 1);
    assert_eq!(s.duration, None);
    assert_eq!(s.policy, "default");
    assert!(!s.boot_control_plane);
    assert!(s.nodes.is_empty() && s.actions.is_empty() && s.warnings.is_empty());
    assert_eq!(s.latencies, LatencyConfig::default());

    // Keys present but empty are the same as absent.
    let s = load_text("name: n\ncluster:\nimages:\nscheduler:\nlatencies:\nactions:\nseed:\n");
    assert_eq!((s.name.as_str(), s.seed), ("n", 1));
    assert!(s.nodes.is_empty() && s.actions.is_empty());
}

#[test]
fn a_count_of_zero_makes_no_node() {
    let s = load_text("cluster: {nodeGroups: [{name: w, count: 0}]}");
    assert!(s.nodes.is_empty());
}

#[test]
fn inline_cluster_nodes_and_trailing_document_separator() {
    let s = load_text(
        "cluster:\n  nodes:\n    - {kind: Node, metadata: {name: n1}, status: {capacity: {cpu: 2}}}\n    - {kind: Node, metadata: {name: n2}}\n---\n",
    );
    let names: Vec<&str> = s.nodes.iter().map(|n| n.metadata.name.as_str()).collect();
    assert_eq!(names, ["n1", "n2"]);
    assert_eq!(s.nodes[0].status.capacity["cpu"], q("2"));
}

#[test]
fn the_same_object_twice_at_the_same_time_is_not_a_load_error() {
    let s = load_text(
        "actions:\n  - {at: 0s, apply: {kind: Pod, metadata: {name: a}, spec: {containers: [{name: c, image: x}]}}}\n  - {at: 0s, apply: {kind: Pod, metadata: {name: a}, spec: {containers: [{name: c, image: x}]}}}\n",
    );
    assert_eq!(s.actions.len(), 2);
}

#[test]
fn a_manifest_file_applied_twice_warns_once() {
    let dir = TempDir::new("twice");
    dir.write(
        "m.yaml",
        "kind: ConfigMap\nmetadata: {name: c}\n---\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n",
    );
    let path = dir.write(
        "s.yaml",
        "actions:\n  - {at: 0s, apply: m.yaml}\n  - {at: 5s, apply: m.yaml}\n",
    );
    let s = load(&path).unwrap();
    assert_eq!(pod_names(&s.actions[0].op), ["p"]);
    assert_eq!(pod_names(&s.actions[1].op), ["p"]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
}

#[test]
fn actions_after_the_end_are_a_warning() {
    let s = load_text("duration: 1m\nactions:\n  - at: 2m\n    delete: {kind: Pod, name: a}\n");
    assert_eq!(
        s.warnings,
        [
            "test.yaml:3:5: this action at 2m comes after the end of the run (duration: 1m) and will not run"
        ]
    );
}

#[test]
fn the_bundled_scenarios_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = load(&root.join("quickstart.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (s.name.as_str(), s.seed, s.duration),
        ("quickstart", 42, None)
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let zones: Vec<(&str, &str)> = s
        .nodes
        .iter()
        .map(|n| {
            (
                n.metadata.name.as_str(),
                n.metadata.labels["topology.kubernetes.io/zone"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        zones,
        [
            ("worker-a-0", "zone-a"),
            ("worker-a-1", "zone-a"),
            ("worker-b-0", "zone-b")
        ]
    );
    assert!(
        s.nodes
            .iter()
            .all(|n| n.status.capacity["pods"] == q("110"))
    );
    assert_eq!(s.nodes[0].status.images.len(), 1);
    assert!(s.nodes[2].status.images.is_empty());
    assert_eq!(s.images.len(), 3);
    let applied: Vec<String> = s
        .actions
        .iter()
        .filter(|a| matches!(a.op, ActionOp::Apply(_)))
        .flat_map(|a| pod_names(&a.op))
        .collect();
    assert_eq!(
        applied,
        [
            "web", "web-0", "web-1", "web-2", "web-3", "web-4", "web-5", "cache"
        ]
    );
    let last = s.actions.last().unwrap();
    assert_eq!(last.at, 20 * SECOND);
    assert!(matches!(&last.op, ActionOp::Delete { name, .. } if name == "web-5"));

    let s = load(&root.join("pod-flow.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.nodes.len(), 2);
    assert!(s.nodes.iter().all(|n| n.status.images.is_empty()));
    assert_eq!(s.actions.len(), 1);
    assert_eq!(pod_names(&s.actions[0].op), ["hello", "hello"]);
    assert_eq!(s.actions[0].op_namespaces(), ["default", "default"]);
}

// ---- Errors ----

#[test]
fn yaml_syntax_error() {
    assert_text_error(
        "seed: 1\ncluster:\n  nodeGroups: [worker\n",
        4,
        1,
        "YAML syntax error: did not find expected ',' or ']'",
    );
    assert_text_error(
        "a: b\n c: d\n",
        2,
        3,
        "YAML syntax error: mapping values are not allowed in this context",
    );
}

#[test]
fn unknown_keys_suggest_the_closest() {
    assert_text_error(
        "cluster:\n  nodeGroup: []\n",
        2,
        3,
        "unknown key `nodeGroup` (did you mean `nodeGroups`?); \
         expected one of `nodeGroups`, `nodes`, `bootControlPlane`",
    );
    assert_text_error(
        "seed: 1\nsed: 2\n",
        2,
        1,
        "unknown key `sed` (did you mean `seed`?)",
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - name: w\n      count: 1\n      capcity: {cpu: 1}\n",
        5,
        7,
        "unknown key `capcity` (did you mean `capacity`?)",
    );
    let e = error("whatever: 1\n");
    assert_eq!(
        e.message,
        "unknown key `whatever`; expected one of `name`, `seed`, `duration`, `cluster`, \
         `images`, `scheduler`, `latencies`, `actions`, `controllerManager`"
    );
    assert_text_error(
        "latencies:\n  etcdWrite: 1ms\n  etcdWrit: 1ms\n",
        3,
        3,
        "unknown key `etcdWrit` (did you mean `etcdWrite`?); expected one of `apiserverRequest`,",
    );
    assert!(
        error("latencies: {x: 1s}")
            .message
            .contains("`imagePullBandwidth`")
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    aply: m.yaml\n",
        3,
        5,
        "unknown key `aply` (did you mean `apply`?); \
         expected one of `at`, `apply`, `delete`, `scale`, `setImage`",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    delete: {kind: Pod, nam: a}\n",
        3,
        25,
        "unknown key `nam` (did you mean `name`?)",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: uniform, min: 1ms, maks: 2ms}\n",
        2,
        48,
        "unknown key `maks` (did you mean `max`?)",
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - {name: w, count: 1, taints: [{key: k, effect: NoSchedul}]}\n",
        3,
        53,
        "unknown value `NoSchedul` (did you mean `NoSchedule`?)",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: 1ms\n  etcdWrite: 2ms\n",
        3,
        3,
        "duplicate key `etcdWrite`",
    );
}

#[test]
fn bad_quantities() {
    let suffix = "invalid quantity `1.5K`: unknown suffix `K`";
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - name: w\n      count: 1\n      capacity: {cpu: 1.5K}\n",
        5,
        23,
        suffix,
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - name: w\n      count: 1\n      allocatable:\n        memory: abc\n",
        6,
        17,
        "invalid quantity `abc`: expected a number",
    );
    assert_text_error("images:\n  nginx:1.27: 1.5K\n", 2, 15, suffix);
    assert_text_error(
        "actions:\n  - at: 0s\n    apply:\n      kind: Pod\n      metadata: {name: p}\n      spec:\n        containers:\n          - name: c\n            resources: {requests: {cpu: 1.5K}}\n",
        9,
        41,
        suffix,
    );
    assert_text_error(
        "latencies:\n  imagePullBandwidth: fast\n",
        2,
        23,
        "invalid quantity `fast`",
    );
}

#[test]
fn numbers_and_policies_are_named_in_their_errors() {
    assert_text_error(
        "seed: abc\n",
        1,
        7,
        "seed must be an integer of 0 or more, got `abc`",
    );
    assert_text_error(
        "seed: -3\n",
        1,
        7,
        "seed must be an integer of 0 or more, got -3",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    scale: {kind: Deployment, name: web, replicas: -1}\n",
        3,
        52,
        "replicas must be an integer of 0 or more, got -1",
    );
    assert_text_error(
        "scheduler:\n  policy: binpack\n",
        2,
        3,
        "unknown scheduling policy \"binpack\"",
    );
    // A file name is read when the run starts.
    let s = load_text("seed: 9\nscheduler: {policy: my-config.yaml}\n");
    assert_eq!((s.seed, s.policy.as_str()), (9, "my-config.yaml"));
    assert!(s.queueing_hints);
    let s = load_text("scheduler:\n  featureGates: {SchedulerQueueingHints: false}\n");
    assert!(!s.queueing_hints);
    assert_text_error(
        "scheduler:\n  featureGates: {PodLevelResources: true}\n",
        2,
        18,
        "unknown key `PodLevelResources`; expected `SchedulerQueueingHints`",
    );
    assert_text_error(
        "scheduler:\n  featureGates: {SchedulerQueueingHints: maybe}\n",
        2,
        42,
        "invalid type: string \"maybe\", expected a boolean",
    );
}

#[test]
fn negative_numbers() {
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - name: worker\n      count: -1\n",
        4,
        14,
        "count must be a non-negative integer, got -1",
    );
    assert_text_error(
        "cluster: {nodeGroups: [{name: w, count: 2.5}]}",
        1,
        41,
        "count must be a non-negative integer, got 2.5",
    );
    assert_text_error(
        "cluster: {nodeGroups: [{name: w, count: 1000000000}]}",
        1,
        41,
        "count must be at most 100000, got 1000000000",
    );
    assert_text_error(
        "images:\n  nginx:1.27: -70Mi\n",
        2,
        15,
        "an image size must not be negative, got `-70Mi`",
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - name: w\n      count: 1\n      capacity: {cpu: -4}\n",
        5,
        23,
        "a node resource must not be negative, got `-4`",
    );
    assert_text_error(
        "latencies: {imagePullBandwidth: 0}",
        1,
        33,
        "imagePullBandwidth must be positive, got `0`",
    );
}

#[test]
fn bad_durations() {
    let parsecs = "invalid duration `10 parsecs`: unknown unit `parsecs` \
                   (expected ns, us, ms, s, m or h, as in 250ms or 1m30s)";
    assert_text_error("seed: 1\nduration: 10 parsecs\n", 2, 11, parsecs);
    assert_text_error("latencies:\n  etcdWrite: 10 parsecs\n", 2, 14, parsecs);
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: constant, value: 10 parsecs}\n",
        2,
        46,
        parsecs,
    );
    assert_text_error(
        "actions:\n  - at: 10 parsecs\n    delete: {kind: Pod, name: a}\n",
        2,
        9,
        parsecs,
    );
    assert_text_error(
        "actions:\n  - at: 5\n    delete: {kind: Pod, name: a}\n",
        2,
        9,
        "missing unit in duration `5`: write e.g. 5s",
    );
    assert_text_error(
        "latencies: {etcdWrite: 3}",
        1,
        24,
        "missing unit in duration `3`",
    );
    assert_text_error(
        "actions:\n  - delete: {kind: Pod, name: a}\n",
        2,
        5,
        "missing field `at`",
    );
}

#[test]
fn bad_distributions() {
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: lognormall, median: 1ms, p99: 2ms}\n",
        2,
        29,
        "unknown distribution `lognormall` (did you mean `lognormal`?); \
         expected one of `constant`, `uniform`, `exponential`, `normal`, `lognormal`",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: lognormal, median: 1ms}\n",
        2,
        14,
        "the lognormal distribution needs `median` and `p99`; `p99` is missing",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: exponential, mean: 1ms, p99: 2ms}\n",
        2,
        14,
        "the exponential distribution takes `mean`, not `p99`",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: {mean: 1ms}\n",
        2,
        14,
        "a latency distribution needs a `distribution` key",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: uniform, min: 2ms, max: 1ms}\n",
        2,
        14,
        "the uniform distribution needs min <= max, got min 2ms and max 1ms",
    );
    assert_text_error(
        "latencies:\n  etcdWrite: {distribution: lognormal, median: 2ms, p99: 1ms}\n",
        2,
        14,
        "the lognormal distribution needs p99 >= median",
    );
}

#[test]
fn manifests_without_kind_or_name() {
    assert_text_error(
        "actions:\n  - at: 0s\n    apply:\n      apiVersion: v1\n      metadata: {name: a}\n",
        4,
        7,
        "manifest has no `kind` (expected e.g. `kind: Pod`)",
    );
    assert_text_error(
        "actions:\n  - at: 0s\n    apply:\n      - {kind: Pod, metadata: {name: a}}\n      - {kind: Pod, metadata: {labels: {a: b}}}\n",
        5,
        9,
        "Pod manifest has no `metadata.name`",
    );

    let dir = TempDir::new("nokind");
    let manifest = dir.write(
        "m.yaml",
        "kind: Pod\nmetadata: {name: ok}\n---\n# second\napiVersion: v1\nmetadata:\n  name: x\n",
    );
    let path = dir.write("s.yaml", "actions:\n  - {at: 0s, apply: m.yaml}\n");
    let e = load(&path).unwrap_err();
    assert_error(&e, &manifest, 5, 1, "manifest has no `kind`");

    let manifest = dir.write(
        "bad.yaml",
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources:\n      requests: {memory: 12XB}\n",
    );
    let path = dir.write("s2.yaml", "actions:\n  - {at: 0s, apply: bad.yaml}\n");
    let e = load(&path).unwrap_err();
    assert_error(&e, &manifest, 7, 26, "invalid quantity `12XB`");

    let manifest = dir.write("syntax.yaml", "kind: Pod\nmetadata: {name: p\n");
    let path = dir.write("s3.yaml", "actions:\n  - {at: 0s, apply: syntax.yaml}\n");
    let e = load(&path).unwrap_err();
    assert_eq!(e.file, manifest);
    assert!(e.message.starts_with("YAML syntax error"), "{e}");
}

#[test]
fn missing_manifest_file() {
    let dir = TempDir::new("missing");
    let path = dir.write(
        "s.yaml",
        "actions:\n  - at: 0s\n    delete: {kind: Pod, name: a}\n  - at: 1s\n    apply: manifests/nope.yaml\n",
    );
    let e = load(&path).unwrap_err();
    let missing = dir.0.join("manifests/nope.yaml");
    assert_error(
        &e,
        &path,
        5,
        12,
        &format!(
            "cannot read manifest file `{}`: No such file or directory (os error 2)",
            missing.display()
        ),
    );

    let path = dir.write("s2.yaml", "cluster:\n  nodes: nodes.yaml\n");
    let e = load(&path).unwrap_err();
    assert_error(&e, &path, 2, 10, "cannot read manifest file");
}

#[test]
fn missing_scenario_file() {
    let path = std::env::temp_dir().join("kubesim-no-such-scenario.yaml");
    let e = load(&path).unwrap_err();
    assert_eq!((e.line, e.column), (None, None));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read scenario: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn action_operations() {
    assert_text_error(
        "actions:\n  - at: 1s\n",
        2,
        5,
        "this action does nothing: add one of `apply`, `delete`, `scale`, `setImage`, \
         `rolloutUndo`, `pause`, `resume`, `removeSchedulingGates` or `removeFinalizers`",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    removeSchedulingGates: {name: a, gate: [x]}\n",
        3,
        38,
        "actions[0].removeSchedulingGates: unknown key `gate` (did you mean `gates`?); expected one of `name`, `selector`, `namespace`, `gates`",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    delete: {kind: Pod, name: a}\n    apply: []\n",
        2,
        5,
        "this action has both `apply` and `delete`: write one operation per action",
    );
    // The workload operations load, with their namespace defaulted.
    let s = load_text(
        "actions:\n  - at: 30s\n    scale: {kind: Deployment, name: web, replicas: 10}\n  - at: 60s\n    setImage: {kind: Deployment, name: web, container: nginx, image: nginx:1.28}\n  - at: 70s\n    rolloutUndo: {kind: Deployment, name: web, toRevision: 1}\n  - at: 80s\n    pause: {kind: Deployment, name: web}\n  - at: 90s\n    resume: {kind: Deployment, name: web, namespace: prod}\n  - at: 99s\n    delete: {kind: Deployment, name: web, propagationPolicy: Orphan}\ncontrollerManager: {qps: 5, burst: 7, terminatedPodGCThreshold: 0}\n",
    );
    assert!(
        matches!(&s.actions[0].op, ActionOp::Scale { replicas: 10, namespace, .. } if namespace == "default")
    );
    assert!(
        matches!(&s.actions[1].op, ActionOp::SetImage { container, image, .. } if container == "nginx" && image == "nginx:1.28")
    );
    assert!(matches!(
        &s.actions[2].op,
        ActionOp::RolloutUndo {
            to_revision: Some(1),
            ..
        }
    ));
    assert!(matches!(
        &s.actions[3].op,
        ActionOp::Pause { paused: true, .. }
    ));
    assert!(
        matches!(&s.actions[4].op, ActionOp::Pause { paused: false, namespace, .. } if namespace == "prod")
    );
    assert!(matches!(
        &s.actions[5].op,
        ActionOp::DeleteOrphan {
            kind: Kind::Deployment,
            ..
        }
    ));
    assert_eq!(
        (
            s.controller_manager.qps,
            s.controller_manager.burst,
            s.controller_manager.terminated_pod_gc_threshold
        ),
        (5.0, 7, 0)
    );
    assert_text_error(
        "controllerManager: {terminatedPodGCThreshold: -5}\n",
        1,
        47,
        "terminatedPodGCThreshold must be a number of pods (0 or more), got -5",
    );
    assert_text_error(
        "actions:\n  - at: 30s\n    scale: {kind: Pod, name: web, replicas: 10}\n",
        2,
        5,
        "`scale` does not apply to a Pod: expected Deployment, ReplicaSet, StatefulSet",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    delete: {kind: Deployment, name: a, propagationPolicy: Foreground}\n",
        3,
        60,
        "actions[0].delete.propagationPolicy: unknown value `Foreground`; expected one of `Background`, `Orphan`",
    );
    assert_text_error(
        "controllerManager: {qps: 0}\n",
        1,
        26,
        "qps must be a positive number, got 0",
    );
    // The shape of an operation is checked first.
    assert_text_error(
        "actions:\n  - at: 30s\n    scale: {kind: Deployment, name: web, replica: 10}\n",
        3,
        42,
        "unknown key `replica` (did you mean `replicas`?)",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    delete: {kind: Deploymnet, name: a}\n",
        3,
        20,
        "unknown kind `Deploymnet` (did you mean `Deployment`?)",
    );
    assert_text_error(
        "actions:\n  - at: 1s\n    apply: 5\n",
        3,
        12,
        "expected a manifest file name, an inline manifest, or a list of inline manifests",
    );
}

#[test]
fn node_errors() {
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - {name: w, count: 2}\n    - {name: w, count: 1}\n",
        4,
        8,
        "duplicate node name `w-0`: already defined at test.yaml:3:8",
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - {name: w, count: 1}\n  nodes:\n    - {kind: Node, metadata: {name: w-0}}\n",
        5,
        8,
        "duplicate node name `w-0`",
    );
    assert_text_error(
        "cluster:\n  nodes:\n    - kind: Pod\n      metadata: {name: p}\n",
        3,
        7,
        "cluster.nodes holds Node manifests, but this is a Pod (`p`)",
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - name: Big_Nodes\n      count: 1\n",
        3,
        13,
        "invalid node group name `Big_Nodes`",
    );
    assert_text_error(
        "cluster:\n  nodeGroups:\n    - count: 1\n",
        3,
        7,
        "missing field `name`",
    );
}

#[test]
fn whole_file_errors() {
    let e = error("");
    assert_eq!(
        e.to_string(),
        "test.yaml: the scenario is empty: expected a mapping with keys such as `cluster` and `actions`"
    );
    assert_eq!(error("# nothing\n").line, None);
    assert!(
        error("seed: 1\n---\nseed: 2\n")
            .message
            .contains("one YAML document")
    );
    assert_text_error("- a\n", 1, 1, "invalid type: sequence, expected a scenario");
    assert_text_error("name: a/b\n", 1, 7, "invalid scenario name `a/b`");
}

/// No input makes the loader panic: every prefix of a scenario using every
/// feature, and a few odd documents.
#[test]
fn never_panics() {
    let dir = TempDir::new("prefixes");
    dir.write("nodes.yaml", NODES);
    dir.write("manifests/app.yaml", APP);
    let path = dir.0.join("full.yaml");
    for end in (0..=FULL.len()).filter(|i| FULL.is_char_boundary(*i)) {
        let _ = load_str(&FULL[..end], &path);
    }
    for odd in [
        "~",
        "[]",
        "{",
        "}",
        "- - -",
        "&a [*a]",
        "a: *b",
        "!!binary xx",
        "? [a]\n: b",
        "cluster: {nodeGroups: [~]}",
        "actions: [{at: 0s, apply: [~]}]",
        "actions: [{at: 0s, apply: {kind: List, items: [~, 3]}}]",
        "actions: [{? [a]: 1}]",
        "latencies: {? [a]: 1}",
        "latencies: {etcdWrite: [1]}",
        "images: {a: .inf}",
        "cluster: {nodeGroups: [{name: w, count: .nan}]}",
        "actions: [{at: 0s, apply: \"\"}]",
    ] {
        let _ = load_str(odd, &path);
    }
}

/// `label` and `taint` load into Node PATCHes with kubectl's meaning;
/// what they would write wrong is refused where it is written.
#[test]
fn label_and_taint_actions() {
    use crate::api::pod::TaintEffect;
    use crate::sim::msg::NodePatch;
    let nodes =
        "cluster:\n  nodeGroups: [{name: w, count: 2, capacity: {cpu: '4', memory: 8Gi}}]\n";
    let s = load_text(&format!(
        "{nodes}actions:\n  - at: 1s\n    label: {{node: w-1, labels: {{disktype: ssd, example.com/old: null, empty: ''}}}}\n  - at: 2s\n    taint: {{node: w-0, add: [{{key: dedicated, value: gpu, effect: NoExecute}}], remove: [{{key: a}}, {{key: b, effect: NoSchedule}}]}}\n"
    ));
    match &s.actions[0].op {
        ActionOp::PatchNode {
            action: "label",
            node,
            patch: NodePatch::Labels { set, remove },
        } => {
            assert_eq!(node, "w-1");
            let set: Vec<(&str, &str)> =
                set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(set, [("disktype", "ssd"), ("empty", "")]);
            assert_eq!(remove, &["example.com/old".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    match &s.actions[1].op {
        ActionOp::PatchNode {
            action: "taint",
            node,
            patch: NodePatch::Taint { add, remove },
        } => {
            assert_eq!(node, "w-0");
            assert_eq!(add.len(), 1);
            assert_eq!(
                (add[0].key.as_str(), add[0].value.as_str(), add[0].effect),
                ("dedicated", "gpu", TaintEffect::NoExecute)
            );
            assert_eq!(
                remove,
                &[
                    ("a".to_string(), None),
                    ("b".to_string(), Some(TaintEffect::NoSchedule))
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    for (action, (line, column), wanted) in [
        (
            "label: {node: w-9, labels: {a: b}}",
            (4, 5),
            "`label` names node `w-9`, which the cluster does not have (did you mean `w-0`?)",
        ),
        (
            "label: {node: w-0, labels: {}}",
            (4, 5),
            "`label` sets or removes no label: give `labels`",
        ),
        (
            "label: {node: w-0, labels: {'bad key': b}}",
            (4, 5),
            "`label`: key `bad key`: a qualified name must consist of",
        ),
        (
            "label: {node: w-0, labels: {a: '-b'}}",
            (4, 5),
            "`label`: value `-b` of `a`: a valid label must be an empty string",
        ),
        (
            "taint: {node: w-0}",
            (4, 5),
            "`taint` adds or removes no taint: give `add` or `remove`",
        ),
        (
            "taint: {node: w-0, add: [{key: k, effect: NoSchedule}, {key: k, value: v, effect: NoSchedule}]}",
            (4, 5),
            "`taint`: add[1]: a second taint `k:NoSchedule`",
        ),
        (
            "taint: {node: w-0, add: [{key: k, value: 'a b', effect: NoSchedule}]}",
            (4, 5),
            "`taint`: add[0]: value `a b` of `k`",
        ),
        (
            "taint: {node: w-0, remove: [{key: k, effect: Never}]}",
            (5, 50),
            "actions[0].taint.remove[0].effect: unknown value `Never`; expected one of `NoSchedule`,",
        ),
        (
            "taint: {node: w-0, add: [{key: k, effect: NoSchedule}], drop: []}",
            (5, 61),
            "actions[0].taint: unknown key `drop`; expected one of `node`, `add`, `remove`",
        ),
    ] {
        assert_text_error(
            &format!("{nodes}actions:\n  - at: 1s\n    {action}\n"),
            line,
            column,
            wanted,
        );
    }
}
