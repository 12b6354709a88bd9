//! The cases of upstream's plugin unit tests
//! (`pkg/scheduler/framework/plugins/*/*_test.go`), with the same inputs and
//! the same expected integers, run through the scheduler's own evaluation
//! (filters, PreScore, Score, NormalizeScore) or the plugin function.

use std::sync::Arc;

use super::framework::{
    FitScoring, FitStrategy, NodeInfo, PodResources, ScorePlugin, balanced_score, fit_score,
    normalized_image_name,
};
use super::profile::Profile;
use super::topology::{LABEL_HOSTNAME, LABEL_ZONE};
use super::{Evaluation, Scheduler};
use crate::api::pod::Pod;
use crate::api::{Manifest, Node, Object};
use crate::engine::RngStreams;

pub(super) fn parse(yaml: &str) -> Object {
    let m: Manifest = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
    m.object.expect("an object")
}

pub(super) fn node(yaml: &str) -> Node {
    match parse(&format!("kind: Node\n{yaml}")) {
        Object::Node(n) => n,
        _ => unreachable!(),
    }
}

pub(super) fn pod(yaml: &str) -> Pod {
    match parse(&format!("kind: Pod\n{yaml}")) {
        Object::Pod(p) => p,
        _ => unreachable!(),
    }
}

/// A scheduler holding `nodes` and the bound `pods` (each names its node).
fn cluster(profile: Profile, nodes: &[&str], pods: &[&str]) -> Scheduler {
    let mut s = Scheduler::with_profiles(&RngStreams::new(1), vec![profile]);
    for n in nodes {
        s.add_node(&node(n));
    }
    for (k, p) in pods.iter().enumerate() {
        let mut p = pod(p);
        p.metadata.uid = 1000 + k as u64;
        if p.metadata.name.is_empty() {
            p.metadata.name = format!("existing-{k}").into();
        }
        s.add_bound_pod(Arc::new(Object::Pod(p)));
    }
    s
}

fn scores(e: &Evaluation, plugin: ScorePlugin, nodes: &[&str]) -> Vec<i64> {
    nodes.iter().map(|n| e.score(n, plugin)).collect()
}

// ---- ImageLocality (imagelocality/image_locality_test.go) ----

const MB: i64 = 1024 * 1024;

fn image_node(name: &str, images: &[(&[&str], i64)]) -> String {
    let list: Vec<String> = images
        .iter()
        .map(|(names, mb)| format!("{{names: [{}], sizeBytes: {}}}", names.join(", "), mb * MB))
        .collect();
    format!(
        "metadata: {{name: {name}}}\nstatus: {{images: [{}]}}",
        list.join(", ")
    )
}

fn image_pod(init: &[&str], containers: &[&str]) -> String {
    let c = |v: &[&str]| {
        v.iter()
            .enumerate()
            .map(|(k, i)| format!("{{name: c{k}, image: '{i}'}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "metadata: {{name: p}}\nspec: {{initContainers: [{}], containers: [{}]}}",
        c(init),
        c(containers)
    )
}

fn image_scores(nodes: &[String], p: &str) -> Vec<i64> {
    let refs: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &refs, &[]);
    let e = s.evaluate(&pod(p)).unwrap();
    e.nodes
        .iter()
        .map(|n| n.raw[ScorePlugin::ImageLocality as usize])
        .collect()
}

#[test]
fn image_locality_upstream_cases() {
    let n403002000 = |name: &str| {
        image_node(
            name,
            &[
                (&["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40),
                (&["gcr.io/300:latest", "gcr.io/300:v1"], 300),
                (&["gcr.io/2000:latest"], 2000),
            ],
        )
    };
    let n25010 = |name: &str| {
        image_node(
            name,
            &[
                (&["gcr.io/250:latest"], 250),
                (&["gcr.io/10:latest", "gcr.io/10:v1"], 10),
            ],
        )
    };
    let n203040 = |name: &str| {
        image_node(
            name,
            &[
                (&["gcr.io/20:latest"], 20),
                (&["gcr.io/30:latest"], 30),
                (&["gcr.io/40:latest"], 40),
            ],
        )
    };
    let n400030 = |name: &str| {
        image_node(
            name,
            &[(&["gcr.io/4000:latest"], 4000), (&["gcr.io/30:latest"], 30)],
        )
    };
    let n60040900 = |name: &str| {
        image_node(
            name,
            &[
                (&["gcr.io/600:latest"], 600),
                (&["gcr.io/40:latest"], 40),
                (&["gcr.io/900:latest"], 900),
            ],
        )
    };
    let n300600900 = |name: &str| {
        image_node(
            name,
            &[
                (&["gcr.io/300:latest"], 300),
                (&["gcr.io/600:latest"], 600),
                (&["gcr.io/900:latest"], 900),
            ],
        )
    };
    let none = |name: &str| format!("metadata: {{name: {name}}}");
    // Two images spread on two nodes, prefer the larger image one.
    assert_eq!(
        image_scores(
            &[n403002000("node1"), n25010("node2")],
            &image_pod(&[], &["gcr.io/40", "gcr.io/250"])
        ),
        vec![0, 5]
    );
    // Two images on one node, prefer this node.
    assert_eq!(
        image_scores(
            &[n403002000("node1"), n25010("node2")],
            &image_pod(&[], &["gcr.io/40", "gcr.io/300"])
        ),
        vec![7, 0]
    );
    // If exceed limit, use limit.
    assert_eq!(
        image_scores(
            &[n400030("node1"), n25010("node2")],
            &image_pod(&[], &["gcr.io/4000", "gcr.io/10"])
        ),
        vec![100, 0]
    );
    // The same, with a node which has no images present.
    assert_eq!(
        image_scores(
            &[n400030("node1"), n25010("node2"), none("node3")],
            &image_pod(&[], &["gcr.io/4000", "gcr.io/10"])
        ),
        vec![66, 0, 0]
    );
    // Pod with multiple large images, node2 is preferred.
    assert_eq!(
        image_scores(
            &[n60040900("node1"), n300600900("node2"), none("node3")],
            &image_pod(&[], &["gcr.io/300", "gcr.io/600", "gcr.io/900"])
        ),
        vec![32, 36, 0]
    );
    // Pod with multiple small images.
    assert_eq!(
        image_scores(
            &[n203040("node1"), n400030("node2")],
            &image_pod(&[], &["gcr.io/30", "gcr.io/40"])
        ),
        vec![1, 0]
    );
    // Init containers count.
    assert_eq!(
        image_scores(
            &[n403002000("node1"), n203040("node2")],
            &image_pod(&["gcr.io/300"], &["gcr.io/30"])
        ),
        vec![6, 0]
    );
}

#[test]
fn normalized_image_names_follow_upstream() {
    assert_eq!(normalized_image_name("root"), "root:latest");
    assert_eq!(
        normalized_image_name("gcr.io:5000/root"),
        "gcr.io:5000/root:latest"
    );
    assert_eq!(normalized_image_name("root:tag"), "root:tag");
    assert_eq!(
        normalized_image_name("root@sha256:abcd"),
        "root@sha256:abcd"
    );
}

// ---- NodeResourcesFit scoring strategies (noderesources/*_test.go) ----

/// A node with `capacity` (a flow map) and the requests of existing pods on it.
fn info(capacity: &str, existing: &[&str]) -> NodeInfo {
    let mut n = NodeInfo::new(&node(&format!(
        "metadata: {{name: n}}\nstatus: {{capacity: {capacity}}}"
    )));
    for p in existing {
        n.add_pod(&PodResources::of(&pod(&requests_pod(p))));
    }
    n
}

/// A pod with one container per request map ("-" = a container without
/// requests); "" = no containers at all.
fn requests_pod(reqs: &str) -> String {
    if reqs.is_empty() {
        return "metadata: {name: p}\nspec: {containers: []}".into();
    }
    let containers: Vec<String> = reqs
        .split(';')
        .enumerate()
        .map(|(k, r)| {
            if r == "-" {
                format!("{{name: c{k}, image: x}}")
            } else {
                format!("{{name: c{k}, image: x, resources: {{requests: {r}}}}}")
            }
        })
        .collect();
    format!(
        "metadata: {{name: p}}\nspec: {{containers: [{}]}}",
        containers.join(", ")
    )
}

fn fit(strategy: FitStrategy, resources: &[(&str, i64)]) -> FitScoring {
    FitScoring {
        strategy,
        resources: resources.iter().map(|(n, w)| (n.to_string(), *w)).collect(),
    }
}

fn fit_of(f: &FitScoring, pod_reqs: &str, node: &NodeInfo) -> i64 {
    fit_score(f, &PodResources::of(&pod(&requests_pod(pod_reqs))), node)
}

const CPU_MEM: [(&str, i64); 2] = [("cpu", 1), ("memory", 1)];
const TWO_CONTAINERS: &str = "{cpu: '1000', memory: '2000'};{cpu: '2000', memory: '3000'}";

#[test]
fn most_allocated_upstream_cases() {
    let f = fit(FitStrategy::MostAllocated, &CPU_MEM);
    let small = info("{cpu: '4000', memory: '10000'}", &[]);
    let big = info("{cpu: '6000', memory: '10000'}", &[]);
    // Nothing scheduled, nothing requested.
    assert_eq!(fit_of(&f, "", &small), 0);
    // Nothing scheduled, resources requested, differently sized nodes.
    assert_eq!(fit_of(&f, TWO_CONTAINERS, &small), 62);
    assert_eq!(fit_of(&f, TWO_CONTAINERS, &big), 50);
    // No resources requested, pods scheduled with resources.
    let n1 = info(
        "{cpu: '10000', memory: '20000'}",
        &["{cpu: '3000', memory: '0'}", "{cpu: '3000', memory: '0'}"],
    );
    let n2 = info(
        "{cpu: '10000', memory: '20000'}",
        &[
            "{cpu: '3000', memory: '0'}",
            "{cpu: '3000', memory: '5000'}",
        ],
    );
    assert_eq!(fit_of(&f, "", &n1), 30);
    assert_eq!(fit_of(&f, "", &n2), 42);
    // Resources requested, pods scheduled with resources.
    let n1 = info(
        "{cpu: '10000', memory: '20000'}",
        &["{cpu: '3000', memory: '0'}"],
    );
    let n2 = info(
        "{cpu: '10000', memory: '20000'}",
        &["{cpu: '3000', memory: '5000'}"],
    );
    assert_eq!(fit_of(&f, TWO_CONTAINERS, &n1), 42);
    assert_eq!(fit_of(&f, TWO_CONTAINERS, &n2), 55);
    // Resources requested equal node capacity.
    let eq = "{cpu: '2000', memory: '4000'};{cpu: '3000', memory: '5000'}";
    assert_eq!(
        fit_of(&f, eq, &info("{cpu: '5000', memory: '10000'}", &[])),
        95
    );
    assert_eq!(
        fit_of(&f, eq, &info("{cpu: '10000', memory: '9000'}", &[])),
        75
    );
    // Resource weights memory 2, cpu 1.
    let w = fit(FitStrategy::MostAllocated, &[("memory", 2), ("cpu", 1)]);
    assert_eq!(fit_of(&w, TWO_CONTAINERS, &small), 58);
    assert_eq!(fit_of(&w, TWO_CONTAINERS, &big), 50);
    // No resources requested, nonzero request for resource.
    let n1 = info("{cpu: 250m, memory: 1000Mi}", &["-", "-"]);
    let n2 = info("{cpu: 250m, memory: 1000Mi}", &[]);
    assert_eq!(fit_of(&f, "-", &n1), 80);
    assert_eq!(fit_of(&f, "-", &n2), 30);
    // Extended resources: bypassed when the pod does not request them.
    let ext = fit(
        FitStrategy::MostAllocated,
        &[("cpu", 1), ("memory", 1), ("example.com/foo", 1)],
    );
    let n1 = info("{cpu: '6000', memory: '10000'}", &[]);
    let n2 = info("{cpu: '6000', memory: '10000', example.com/foo: '4'}", &[]);
    assert_eq!(fit_of(&ext, TWO_CONTAINERS, &n1), 50);
    assert_eq!(fit_of(&ext, TWO_CONTAINERS, &n2), 50);
    // ... and honoured when it does.
    let n1 = info("{cpu: '6000', memory: '10000', example.com/foo: '4'}", &[]);
    let n2 = info("{cpu: '6000', memory: '10000', example.com/foo: '10'}", &[]);
    let with_ext = "{cpu: '3000', memory: '5000', example.com/foo: '2'}";
    assert_eq!(fit_of(&ext, with_ext, &n1), 50);
    assert_eq!(fit_of(&ext, with_ext, &n2), 40);
    // If the node doesn't have a resource.
    let w = fit(
        FitStrategy::MostAllocated,
        &[("example.com/foo", 2), ("cpu", 1), ("memory", 1)],
    );
    let req = "{cpu: '3000', memory: '4000'}";
    assert_eq!(
        fit_of(&w, req, &info("{cpu: '6000', memory: '10000'}", &[])),
        45
    );
    assert_eq!(
        fit_of(
            &w,
            req,
            &info("{cpu: '6000', memory: '10000', example.com/foo: '4'}", &[])
        ),
        45
    );
}

#[test]
fn least_allocated_upstream_cases() {
    let f = FitScoring::default();
    // Nothing scheduled, resources requested, differently sized nodes.
    assert_eq!(
        fit_of(
            &f,
            TWO_CONTAINERS,
            &info("{cpu: '4000', memory: '10000'}", &[])
        ),
        37
    );
    assert_eq!(
        fit_of(
            &f,
            TWO_CONTAINERS,
            &info("{cpu: '6000', memory: '10000'}", &[])
        ),
        50
    );
}

#[test]
fn requested_to_capacity_ratio_upstream_cases() {
    // Shape {0: 10, 100: 0}, scaled by 10.
    let f = fit(
        FitStrategy::RequestedToCapacityRatio(vec![(0, 100), (100, 0)]),
        &CPU_MEM,
    );
    let n1 = info("{cpu: '4000', memory: '10000'}", &["", ""]);
    let n2 = info("{cpu: '4000', memory: '10000'}", &[]);
    assert_eq!(fit_of(&f, "", &n1), 100);
    assert_eq!(fit_of(&f, "", &n2), 100);
    let n2 = info("{cpu: '6000', memory: '10000'}", &[]);
    assert_eq!(fit_of(&f, TWO_CONTAINERS, &n1), 38);
    assert_eq!(fit_of(&f, TWO_CONTAINERS, &n2), 50);
    let n1 = info(
        "{cpu: '4000', memory: '10000'}",
        &["{cpu: '3000', memory: '5000'}"],
    );
    let n2 = info(
        "{cpu: '6000', memory: '10000'}",
        &["{cpu: '3000', memory: '5000'}"],
    );
    assert_eq!(fit_of(&f, "", &n1), 38);
    assert_eq!(fit_of(&f, "", &n2), 50);
    // Bin packing on one extended resource, shape {0: 0, 100: 1}.
    let ext = fit(
        FitStrategy::RequestedToCapacityRatio(vec![(0, 0), (100, 10)]),
        &[("intel.com/foo", 1)],
    );
    let cap = |foo: i64| format!("{{cpu: '4000', memory: 10000Mi, intel.com/foo: '{foo}'}}");
    assert_eq!(fit_of(&ext, "", &info(&cap(8), &[])), 0);
    assert_eq!(fit_of(&ext, "", &info(&cap(4), &[])), 0);
    let two = "{intel.com/foo: '2'}";
    assert_eq!(fit_of(&ext, two, &info(&cap(8), &[""])), 2);
    assert_eq!(fit_of(&ext, two, &info(&cap(4), &[""])), 5);
    assert_eq!(fit_of(&ext, two, &info(&cap(4), &[two])), 10);
    let four = "{intel.com/foo: '4'}";
    assert_eq!(fit_of(&ext, four, &info(&cap(8), &[])), 5);
    assert_eq!(fit_of(&ext, four, &info(&cap(4), &[])), 10);
}

#[test]
fn balanced_allocation_upstream_cases() {
    let ba =
        |reqs: &str, n: &NodeInfo| balanced_score(&PodResources::of(&pod(&requests_pod(reqs))), n);
    let cpu_and_memory = "{cpu: 1000m, memory: '2000'};{cpu: 2000m, memory: '3000'}";
    let cpu_only = "{cpu: 1000m, memory: '0'};{cpu: 2000m, memory: '0'}";
    // Nothing scheduled, resources requested, differently sized machines.
    assert_eq!(
        ba(cpu_and_memory, &info("{cpu: 4000m, memory: '10000'}", &[])),
        87
    );
    assert_eq!(
        ba(cpu_and_memory, &info("{cpu: 6000m, memory: '10000'}", &[])),
        100
    );
    // Resources requested, pods scheduled with resources.
    assert_eq!(
        ba(
            cpu_and_memory,
            &info("{cpu: 10000m, memory: '20000'}", &[cpu_only])
        ),
        82
    );
    assert_eq!(
        ba(
            cpu_and_memory,
            &info("{cpu: 10000m, memory: '20000'}", &[cpu_and_memory])
        ),
        95
    );
    // Differently sized machines.
    assert_eq!(
        ba(
            cpu_and_memory,
            &info("{cpu: 10000m, memory: '50000'}", &[cpu_and_memory])
        ),
        80
    );
    // A best-effort pod is not scored.
    assert_eq!(ba("", &info("{cpu: 4000m, memory: '10000'}", &[])), 0);
}

// ---- PodTopologySpread (podtopologyspread/scoring_test.go, filtering_test.go) ----

fn labelled(name: &str, labels: &str) -> String {
    format!("metadata: {{name: {name}, labels: {{{labels}}}}}")
}

fn foo_pod(name: &str, node: &str) -> String {
    format!("metadata: {{name: {name}, labels: {{foo: ''}}}}\nspec: {{nodeName: {node}}}")
}

fn spread_pod(constraints: &[(i32, &str, &str, &str)]) -> String {
    let cs: Vec<String> = constraints
        .iter()
        .map(|(skew, key, when, sel)| {
            format!(
                "{{maxSkew: {skew}, topologyKey: {key}, whenUnsatisfiable: {when}, labelSelector: {{matchExpressions: [{{key: {sel}, operator: Exists}}]}}}}"
            )
        })
        .collect();
    format!(
        "metadata: {{name: p, labels: {{foo: '', bar: ''}}}}\nspec: {{topologySpreadConstraints: [{}]}}",
        cs.join(", ")
    )
}

/// A node the filters reject (upstream's failedNodes).
fn failed(name: &str, labels: &str) -> String {
    format!(
        "metadata: {{name: {name}, labels: {{{labels}}}}}\nspec: {{taints: [{{key: x, effect: NoSchedule}}]}}"
    )
}

fn hostname_nodes(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| labelled(n, &format!("kubernetes.io/hostname: {n}")))
        .collect()
}

fn spread_scores(nodes: &[String], pods: &[String], p: &str, names: &[&str]) -> Vec<i64> {
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let ps: Vec<&str> = pods.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &ps);
    let e = s.evaluate(&pod(p)).unwrap();
    scores(&e, ScorePlugin::PodTopologySpread, names)
}

fn foo_pods(spec: &[(&str, usize)]) -> Vec<String> {
    spec.iter()
        .flat_map(|(node, count)| (0..*count).map(move |k| foo_pod(&format!("p-{node}{k}"), node)))
        .collect()
}

#[test]
fn pod_topology_spread_scoring_upstream_cases() {
    let abcd = ["node-a", "node-b", "node-c", "node-d"];
    // One constraint on node, all 4 nodes are candidates, maxSkew 1, 2/1/0/3.
    let pods = foo_pods(&[("node-a", 2), ("node-b", 1), ("node-d", 3)]);
    let nodes = hostname_nodes(&abcd);
    let p = |skew| spread_pod(&[(skew, "kubernetes.io/hostname", "ScheduleAnyway", "foo")]);
    assert_eq!(
        spread_scores(&nodes, &pods, &p(1), &abcd),
        vec![20, 60, 100, 0]
    );
    // maxSkew 2.
    assert_eq!(
        spread_scores(&nodes, &pods, &p(2), &abcd),
        vec![33, 66, 100, 16]
    );
    // maxSkew 3, 4/3/2/1.
    let pods = foo_pods(&[("node-a", 4), ("node-b", 3), ("node-c", 2), ("node-d", 1)]);
    assert_eq!(
        spread_scores(&nodes, &pods, &p(3), &abcd),
        vec![44, 66, 77, 100]
    );
    // One constraint on node, 3 out of 4 nodes are candidates.
    let pods = foo_pods(&[("node-a", 4), ("node-b", 2), ("node-x", 1), ("node-y", 3)]);
    let mut nodes = hostname_nodes(&["node-a", "node-b", "node-x"]);
    nodes.push(failed("node-y", "kubernetes.io/hostname: node-y"));
    let abx = ["node-a", "node-b", "node-x"];
    assert_eq!(spread_scores(&nodes, &pods, &p(1), &abx), vec![33, 83, 100]);
    // ... one node doesn't match the topology key.
    nodes[1] = labelled("node-b", "n: node-b");
    assert_eq!(spread_scores(&nodes, &pods, &p(1), &abx), vec![16, 0, 100]);
    // One constraint on zone, 3 out of 4 nodes are candidates.
    let zoned = |name: &str, zone: &str| {
        labelled(
            name,
            &format!("zone: {zone}, kubernetes.io/hostname: {name}"),
        )
    };
    let nodes = vec![
        zoned("node-a", "zone1"),
        zoned("node-b", "zone1"),
        zoned("node-x", "zone2"),
        failed("node-y", "zone: zone2, kubernetes.io/hostname: node-y"),
    ];
    let zone = spread_pod(&[(1, "zone", "ScheduleAnyway", "foo")]);
    assert_eq!(spread_scores(&nodes, &pods, &zone, &abx), vec![75, 75, 100]);
    // Two constraints on zone and node, with different label selectors.
    let nodes = vec![
        zoned("node-a", "zone1"),
        zoned("node-b", "zone1"),
        zoned("node-x", "zone2"),
        zoned("node-y", "zone2"),
    ];
    let two = spread_pod(&[
        (1, "zone", "ScheduleAnyway", "foo"),
        (1, "kubernetes.io/hostname", "ScheduleAnyway", "bar"),
    ]);
    let pods = vec![
        "metadata: {name: p-a1, labels: {foo: ''}}\nspec: {nodeName: node-a}".to_string(),
        "metadata: {name: p-b1, labels: {foo: '', bar: ''}}\nspec: {nodeName: node-b}".into(),
        "metadata: {name: p-y1, labels: {foo: ''}}\nspec: {nodeName: node-y}".into(),
        "metadata: {name: p-y2, labels: {bar: ''}}\nspec: {nodeName: node-y}".into(),
    ];
    let abxy = ["node-a", "node-b", "node-x", "node-y"];
    assert_eq!(
        spread_scores(&nodes, &pods, &two, &abxy),
        vec![60, 20, 100, 60]
    );
}

/// Four nodes by hostname holding 4, 3, 2 and 1 pods labelled `foo`,
/// under the default profile.
fn foo_spread_cluster() -> Scheduler {
    let nodes = hostname_nodes(&ABCD);
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let pods = foo_pods(&[("node-a", 4), ("node-b", 3), ("node-c", 2), ("node-d", 1)]);
    let ps: Vec<&str> = pods.iter().map(String::as_str).collect();
    cluster(Profile::default(), &n, &ps)
}

const ABCD: [&str; 4] = ["node-a", "node-b", "node-c", "node-d"];

#[test]
fn pod_topology_spread_system_defaults_use_the_service_selector() {
    // System defaulting, nodes don't have zone, pods match a Service: the
    // same scores as one hostname constraint with maxSkew 3.
    let abcd = ABCD;
    let mut s = foo_spread_cluster();
    s.add_object(&parse(
        "kind: Service\nmetadata: {name: svc}\nspec: {selector: {foo: ''}}",
    ));
    let e = s
        .evaluate(&pod("metadata: {name: p, labels: {foo: ''}}"))
        .unwrap();
    assert_eq!(
        scores(&e, ScorePlugin::PodTopologySpread, &abcd),
        vec![44, 66, 77, 100]
    );
    // Without the Service, no constraint applies: all 0 weighted.
    let mut s = foo_spread_cluster();
    let e = s
        .evaluate(&pod("metadata: {name: p, labels: {foo: ''}}"))
        .unwrap();
    assert_eq!(
        scores(&e, ScorePlugin::PodTopologySpread, &abcd),
        vec![0, 0, 0, 0]
    );
}

/// Under the system defaults (hostname, then zone), every node's raw and
/// normalized PodTopologySpread score is upstream's sum for that node
/// alone, wherever a node's score is reused from the node before it (same
/// zone, no pod of the kind): nodes of one zone in runs and apart, nodes
/// holding pods between them, a node without a hostname, one without a
/// zone.
#[test]
fn pod_topology_spread_system_defaults_score_every_node_as_its_own() {
    // (zone, hostname label, foo pods on it)
    let layout: [(Option<u32>, bool, usize); 16] = [
        (Some(0), true, 0),
        (Some(0), true, 0),
        (Some(0), true, 2),
        (Some(0), true, 0),
        (Some(1), true, 0),
        (Some(1), false, 0),
        (Some(1), true, 0),
        (Some(0), true, 0),
        (Some(2), true, 3),
        (Some(2), true, 0),
        (Some(2), true, 0),
        (None, true, 0),
        (None, true, 1),
        (Some(1), true, 0),
        (Some(1), true, 1),
        (Some(1), true, 0),
    ];
    let names: Vec<String> = (0..layout.len()).map(|i| format!("node-{i:02}")).collect();
    let nodes: Vec<String> = layout
        .iter()
        .zip(&names)
        .map(|(&(zone, host, _), name)| {
            let mut labels = vec![];
            if let Some(z) = zone {
                labels.push(format!("{LABEL_ZONE}: zone-{z}"));
            }
            if host {
                labels.push(format!("{LABEL_HOSTNAME}: {name}"));
            }
            labelled(name, &labels.join(", "))
        })
        .collect();
    let spec: Vec<(&str, usize)> = (names.iter().zip(&layout))
        .map(|(n, &(_, _, pods))| (n.as_str(), pods))
        .collect();
    let mut pods = foo_pods(&spec);
    // Not the Service's: counted nowhere.
    pods.push(labelled("other", "bar: ''") + "\nspec: {nodeName: node-01}");
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let ps: Vec<&str> = pods.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &ps);
    s.add_object(&parse(
        "kind: Service\nmetadata: {name: svc}\nspec: {selector: {foo: ''}}",
    ));
    let e = s
        .evaluate(&pod("metadata: {name: p, labels: {foo: ''}}"))
        .unwrap();
    // Upstream's sum per node: for each constraint whose key the node
    // has, the count of its domain times ln(domains + 2), plus maxSkew - 1.
    let hosts = layout.iter().filter(|l| l.1).count();
    let zones = 3;
    let zone_count = |z: u32| -> usize {
        (layout.iter())
            .filter(|l| l.0 == Some(z))
            .map(|l| l.2)
            .sum()
    };
    let want_raw: Vec<i64> = layout
        .iter()
        .map(|&(zone, host, pods)| {
            let mut score = 0.0;
            if host {
                score += pods as f64 * ((hosts + 2) as f64).ln() + 2.0;
            }
            if let Some(z) = zone {
                score += zone_count(z) as f64 * ((zones + 2) as f64).ln() + 4.0;
            }
            score.round() as i64
        })
        .collect();
    let (min, max) = (
        *want_raw.iter().min().unwrap(),
        *want_raw.iter().max().unwrap(),
    );
    let col = ScorePlugin::PodTopologySpread as usize;
    for (k, name) in names.iter().enumerate() {
        let got = e.get(name).unwrap();
        assert_eq!(got.raw[col], want_raw[k], "raw score of {name}");
        assert_eq!(
            got.normalized[col],
            100 * (max + min - want_raw[k]) / max,
            "normalized score of {name}"
        );
    }
    // Not all alike: the reuse had something to tell apart.
    assert!(want_raw.iter().any(|&r| r != want_raw[0]));
}

/// The default spread matcher kept for a controller's pods follows the
/// Services and ReplicaSets that make up their default selector.
#[test]
fn pod_topology_spread_system_defaults_follow_selector_changes() {
    let abcd = ABCD;
    let mut s = foo_spread_cluster();
    let owned = pod("metadata:
  name: p
  labels: {foo: ''}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u1, controller: true}]");
    let spread = |s: &mut Scheduler| {
        let e = s.evaluate(&owned).unwrap();
        scores(&e, ScorePlugin::PodTopologySpread, &abcd)
    };
    let none = vec![0, 0, 0, 0];
    let counted = vec![44, 66, 77, 100];
    assert_eq!(spread(&mut s), none);
    let service = parse("kind: Service\nmetadata: {name: svc}\nspec: {selector: {foo: ''}}");
    s.add_object(&service);
    assert_eq!(spread(&mut s), counted, "Service added");
    s.add_object(&parse(
        "kind: Service\nmetadata: {name: svc}\nspec: {selector: {bar: ''}}",
    ));
    assert_eq!(spread(&mut s), none, "Service selector changed");
    s.add_object(&parse(
        "kind: ReplicaSet\nmetadata: {name: rs}\nspec: {selector: {matchLabels: {foo: ''}}, template: {metadata: {labels: {foo: ''}}}}",
    ));
    assert_eq!(spread(&mut s), counted, "ReplicaSet added");
    s.add_object(&parse(
        "kind: ReplicaSet\nmetadata: {name: rs}\nspec: {selector: {matchLabels: {foo: x}}, template: {metadata: {labels: {foo: x}}}}",
    ));
    // A selector no pod matches: every node counts 0.
    assert_eq!(
        spread(&mut s),
        vec![100, 100, 100, 100],
        "ReplicaSet selector changed"
    );
}

fn rejected_by(e: &Evaluation, node: &str) -> Option<(&'static str, String)> {
    e.get(node)
        .and_then(|n| n.rejection.as_ref())
        .map(|r| (r.plugin, r.joined(", ")))
}

/// nodeTaintsPolicy, nodeAffinityPolicy and matchLabelKeys decide which
/// nodes and pods a spread constraint counts (upstream's
/// matchNodeInclusionPolicies and the scheduler-side selector merge).
#[test]
fn pod_topology_spread_node_inclusion_policies_and_match_label_keys() {
    let hosts = |names: &[(&str, &str)]| -> Vec<String> {
        names
            .iter()
            .map(|(n, extra)| {
                format!(
                    "metadata: {{name: {n}, labels: {{kubernetes.io/hostname: {n}, zone: a}}}}\n{extra}"
                )
            })
            .collect()
    };
    let on = |name: &str, node: &str, labels: &str| {
        format!("metadata: {{name: {name}, labels: {{{labels}}}}}\nspec: {{nodeName: {node}}}")
    };
    let incoming = |labels: &str, extra: &str, spec: &str| {
        pod(&format!(
            "metadata: {{name: p, labels: {{{labels}}}}}\nspec: {{topologySpreadConstraints: [{{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {{matchLabels: {{app: web}}}}{extra}}}]{spec}}}"
        ))
    };
    let skewed = |e: &Evaluation, node: &str| {
        rejected_by(e, node).is_some_and(|r| r.0 == "PodTopologySpread")
    };
    let four = ["n1", "n2", "n3", "n4"];
    let all_skewed = |e: &Evaluation| four.iter().all(|n| skewed(e, n));
    let all_fit = |e: &Evaluation| four.iter().all(|n| rejected_by(e, n).is_none());
    // Four nodes with a web pod each and a tainted empty one.
    let nodes = hosts(&[
        ("n1", ""),
        ("n2", ""),
        ("n3", ""),
        ("n4", ""),
        (
            "tainted",
            "spec: {taints: [{key: dedicated, effect: NoSchedule}]}",
        ),
    ]);
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let pods: Vec<String> = (1..=4)
        .map(|i| on(&format!("w{i}"), &format!("n{i}"), "app: web"))
        .collect();
    let e: Vec<&str> = pods.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    // Ignore (the default): the tainted node's empty domain is the
    // minimum, so every other node is one over the skew.
    let ev = s.evaluate(&incoming("app: web", "", "")).unwrap();
    assert!(all_skewed(&ev));
    let ev = s
        .evaluate(&incoming("app: web", ", nodeTaintsPolicy: Honor", ""))
        .unwrap();
    assert!(all_fit(&ev));
    // A toleration makes the tainted node count again under Honor.
    let ev = s
        .evaluate(&incoming(
            "app: web",
            ", nodeTaintsPolicy: Honor",
            ", tolerations: [{key: dedicated, operator: Exists}]",
        ))
        .unwrap();
    assert!(skewed(&ev, "n1") && rejected_by(&ev, "tainted").is_none());
    // nodeAffinityPolicy: four nodes in zone a with a web pod each, one
    // empty node in zone b; the pod asks for zone a.
    let nodes: Vec<String> = (1..=5)
        .map(|i| {
            let zone = if i == 5 { "b" } else { "a" };
            format!(
                "metadata: {{name: n{i}, labels: {{kubernetes.io/hostname: n{i}, zone: {zone}}}}}"
            )
        })
        .collect();
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    let ev = s
        .evaluate(&incoming("app: web", "", ", nodeSelector: {zone: a}"))
        .unwrap();
    assert!(all_fit(&ev));
    let ev = s
        .evaluate(&incoming(
            "app: web",
            ", nodeAffinityPolicy: Ignore",
            ", nodeSelector: {zone: a}",
        ))
        .unwrap();
    assert!(all_skewed(&ev));
    // matchLabelKeys: only the pods of the incoming pod's own revision
    // count. Two old-revision web pods on n1, none elsewhere.
    let nodes = hosts(&[("n1", ""), ("n2", "")]);
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let old = [
        on("o1", "n1", "app: web, pod-template-hash: old"),
        on("o2", "n1", "app: web, pod-template-hash: old"),
    ];
    let e: Vec<&str> = old.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    let labels = "app: web, pod-template-hash: new";
    let ev = s.evaluate(&incoming(labels, "", "")).unwrap();
    assert!(skewed(&ev, "n1") && rejected_by(&ev, "n2").is_none());
    let ev = s
        .evaluate(&incoming(
            labels,
            ", matchLabelKeys: [pod-template-hash]",
            "",
        ))
        .unwrap();
    assert!(rejected_by(&ev, "n1").is_none() && rejected_by(&ev, "n2").is_none());
}

#[test]
fn pod_topology_spread_filtering_upstream_cases() {
    let zoned = |name: &str, zone: &str| labelled(name, &format!("zone: {zone}, node: {name}"));
    let nodes = [
        zoned("node-a", "zone1"),
        zoned("node-b", "zone1"),
        zoned("node-x", "zone2"),
        zoned("node-y", "zone2"),
    ];
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let p = pod(&spread_pod(&[(1, "zone", "DoNotSchedule", "foo")]));
    // Pods in other namespaces do not count.
    let pods = [
        "metadata: {name: p-a1, namespace: ns1, labels: {foo: ''}}\nspec: {nodeName: node-a}",
        "metadata: {name: p-b1, namespace: ns2, labels: {foo: ''}}\nspec: {nodeName: node-a}",
        "metadata: {name: p-x1, labels: {foo: ''}}\nspec: {nodeName: node-x}",
        "metadata: {name: p-y1, labels: {foo: ''}}\nspec: {nodeName: node-y}",
    ];
    let mut s = cluster(Profile::default(), &n, &pods);
    let e = s.evaluate(&p).unwrap();
    assert_eq!(rejected_by(&e, "node-a"), None);
    assert_eq!(rejected_by(&e, "node-b"), None);
    let skew = Some((
        "PodTopologySpread",
        "node(s) didn't match pod topology spread constraints".to_string(),
    ));
    assert_eq!(rejected_by(&e, "node-x"), skew);
    assert_eq!(rejected_by(&e, "node-y"), skew);
    // Pods spread across zones as 3/3, all nodes fit.
    let pods = foo_pods(&[("node-a", 2), ("node-b", 1), ("node-y", 3)]);
    let ps: Vec<&str> = pods.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &ps);
    let e = s.evaluate(&p).unwrap();
    assert!(e.nodes.iter().all(|n| n.rejection.is_none()));
    // A node without the topology key is unresolvable.
    let mut s = cluster(
        Profile::default(),
        &[&nodes[0], "metadata: {name: node-z}"],
        &[],
    );
    let e = s.evaluate(&p).unwrap();
    assert_eq!(
        rejected_by(&e, "node-z").unwrap().1,
        "node(s) didn't match pod topology spread constraints (missing required label)"
    );
}

// ---- InterPodAffinity (interpodaffinity/scoring_test.go, filtering_test.go) ----

const CHINA: &str = "region: China";
const INDIA: &str = "region: India";
const AZ1: &str = "az: az1";
const AZ2: &str = "az: az2";
const CHINA_AZ1: &str = "region: China, az: az1";

fn term(weight: i32, op: &str, values: &str, key: &str) -> String {
    let values = if values.is_empty() {
        String::new()
    } else {
        format!(", values: [{values}]")
    };
    format!(
        "{{weight: {weight}, podAffinityTerm: {{labelSelector: {{matchExpressions: [{{key: security, operator: {op}{values}}}]}}, topologyKey: {key}}}}}"
    )
}

fn stay_with_s1_in_region() -> String {
    format!(
        "podAffinity: {{preferredDuringSchedulingIgnoredDuringExecution: [{}]}}",
        term(5, "In", "S1", "region")
    )
}

fn stay_with_s2_in_region() -> String {
    format!(
        "podAffinity: {{preferredDuringSchedulingIgnoredDuringExecution: [{}]}}",
        term(6, "In", "S2", "region")
    )
}

fn away_from(sec: &str) -> String {
    format!(
        "podAntiAffinity: {{preferredDuringSchedulingIgnoredDuringExecution: [{}]}}",
        term(5, "In", sec, "az")
    )
}

fn with_s1_away_from_s2() -> String {
    format!(
        "podAffinity: {{preferredDuringSchedulingIgnoredDuringExecution: [{}]}}, podAntiAffinity: {{preferredDuringSchedulingIgnoredDuringExecution: [{}]}}",
        term(8, "In", "S1", "region"),
        term(5, "In", "S2", "az")
    )
}

/// A pod with `security` label `sec` ("" = none), on `node` ("" = the
/// incoming pod), with `affinity` ("" = none).
fn sec_pod(name: &str, sec: &str, node: &str, affinity: &str) -> String {
    let labels = if sec.is_empty() {
        String::new()
    } else {
        format!(", labels: {{security: {sec}}}")
    };
    let mut spec = Vec::new();
    if !node.is_empty() {
        spec.push(format!("nodeName: {node}"));
    }
    if !affinity.is_empty() {
        spec.push(format!("affinity: {{{affinity}}}"));
    }
    format!(
        "metadata: {{name: {name}{labels}}}\nspec: {{{}}}",
        spec.join(", ")
    )
}

fn affinity_scores(nodes: &[(&str, &str)], existing: &[String], incoming: &str) -> Vec<i64> {
    let ns: Vec<String> = nodes.iter().map(|(n, l)| labelled(n, l)).collect();
    let nr: Vec<&str> = ns.iter().map(String::as_str).collect();
    let er: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &nr, &er);
    let e = s.evaluate(&pod(incoming)).unwrap();
    let names: Vec<&str> = nodes.iter().map(|(n, _)| *n).collect();
    scores(&e, ScorePlugin::InterPodAffinity, &names)
}

#[test]
fn inter_pod_affinity_scoring_upstream_cases() {
    let three = [("node1", CHINA), ("node2", INDIA), ("node3", AZ1)];
    // Affinity: the node matching topology key and pods gets the high score.
    let existing = vec![
        sec_pod("e1", "S1", "node1", ""),
        sec_pod("e2", "S2", "node2", ""),
        sec_pod("e3", "S1", "node3", ""),
    ];
    let incoming = sec_pod("p", "S1", "", &stay_with_s1_in_region());
    assert_eq!(
        affinity_scores(&three, &existing, &incoming),
        vec![100, 0, 0]
    );
    // All nodes in the matching topology domain get the same score.
    let nodes = [("node1", CHINA), ("node2", CHINA_AZ1), ("node3", INDIA)];
    let existing = vec![sec_pod("e1", "S1", "node1", "")];
    let incoming = sec_pod("p", "", "", &stay_with_s1_in_region());
    assert_eq!(
        affinity_scores(&nodes, &existing, &incoming),
        vec![100, 100, 0]
    );
    // The region with more matches gets the high score.
    let nodes = [
        ("node1", CHINA),
        ("node2", INDIA),
        ("node3", CHINA),
        ("node4", CHINA),
        ("node5", INDIA),
    ];
    let existing: Vec<String> = ["node1", "node1", "node2", "node3", "node4", "node5"]
        .iter()
        .enumerate()
        .map(|(k, n)| sec_pod(&format!("e{k}"), "S2", n, ""))
        .collect();
    let incoming = sec_pod("p", "S1", "", &stay_with_s2_in_region());
    assert_eq!(
        affinity_scores(&nodes, &existing, &incoming),
        vec![100, 0, 100, 100, 0]
    );
    // Different label operators and values, including match failures.
    let affinity3 = "podAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 8, podAffinityTerm: {labelSelector: {matchExpressions: [{key: security, operator: NotIn, values: [S1]}, {key: security, operator: In, values: [S2]}]}, topologyKey: region}}, {weight: 2, podAffinityTerm: {labelSelector: {matchExpressions: [{key: security, operator: Exists}, {key: wrongkey, operator: DoesNotExist}]}, topologyKey: region}}]}";
    let existing = vec![
        sec_pod("e1", "S1", "node1", ""),
        sec_pod("e2", "S2", "node2", ""),
        sec_pod("e3", "S1", "node3", ""),
    ];
    let incoming = sec_pod("p", "S1", "", affinity3);
    assert_eq!(
        affinity_scores(&three, &existing, &incoming),
        vec![20, 100, 0]
    );
    // Symmetry: existing pods' preferred affinity terms.
    let existing = vec![
        sec_pod("e1", "S1", "node1", &stay_with_s1_in_region()),
        sec_pod("e2", "S2", "node2", &stay_with_s2_in_region()),
    ];
    let incoming = sec_pod("p", "S2", "", "");
    assert_eq!(
        affinity_scores(&three, &existing, &incoming),
        vec![0, 100, 0]
    );
    // Symmetry: existing pods' required affinity terms (hardPodAffinityWeight 1).
    let hard = "podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchExpressions: [{key: security, operator: In, values: [S1, value2]}]}, topologyKey: region}, {labelSelector: {matchExpressions: [{key: security, operator: Exists}, {key: wrongkey, operator: DoesNotExist}]}, topologyKey: region}]}";
    let existing = vec![
        sec_pod("e1", "S1", "node1", hard),
        sec_pod("e2", "S2", "node2", hard),
    ];
    let incoming = sec_pod("p", "S1", "", "");
    assert_eq!(
        affinity_scores(&three, &existing, &incoming),
        vec![100, 100, 0]
    );
    // Anti-affinity: the node with more matching pods gets the low score.
    let existing = vec![
        sec_pod("e1", "S1", "node1", ""),
        sec_pod("e2", "S1", "node1", ""),
        sec_pod("e3", "S2", "node2", ""),
    ];
    let incoming = sec_pod("p", "S1", "", &away_from("S1"));
    assert_eq!(
        affinity_scores(&[("node1", AZ1), ("node2", INDIA)], &existing, &incoming),
        vec![0, 100]
    );
    // Anti-affinity symmetry.
    let existing = vec![
        sec_pod("e1", "S1", "node1", &away_from("S2")),
        sec_pod("e2", "S2", "node2", &away_from("S1")),
    ];
    let incoming = sec_pod("p", "S2", "", "");
    assert_eq!(
        affinity_scores(&[("node1", AZ1), ("node2", AZ2)], &existing, &incoming),
        vec![0, 100]
    );
    // Affinity, anti-affinity and symmetry together.
    let existing = vec![
        sec_pod("e1", "S1", "node1", ""),
        sec_pod("e2", "S2", "node2", ""),
        sec_pod("e3", "", "node3", &with_s1_away_from_s2()),
        sec_pod("e4", "", "node4", &away_from("S1")),
    ];
    let incoming = sec_pod("p", "S1", "", &with_s1_away_from_s2());
    assert_eq!(
        affinity_scores(
            &[
                ("node1", CHINA),
                ("node2", AZ1),
                ("node3", INDIA),
                ("node4", AZ2)
            ],
            &existing,
            &incoming
        ),
        vec![100, 0, 100, 0]
    );
    // Partial nodes in a topology without pods with affinity: all equal.
    let existing = vec![
        sec_pod("e1", "S1", "node1", ""),
        sec_pod("e2", "", "node2", &with_s1_away_from_s2()),
    ];
    let incoming = sec_pod("p", "S1", "", "");
    assert_eq!(
        affinity_scores(&[("node1", CHINA), ("node2", CHINA)], &existing, &incoming),
        vec![0, 0]
    );
}

#[test]
fn inter_pod_affinity_filtering() {
    let required = |kind: &str, sec: &str, key: &str| {
        format!(
            "{kind}: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {{matchExpressions: [{{key: security, operator: In, values: [{sec}]}}]}}, topologyKey: {key}}}]}}"
        )
    };
    let nodes = [labelled("node1", CHINA), labelled("node2", INDIA)];
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    // Required affinity: only the region with a matching pod.
    let existing = [sec_pod("e1", "S1", "node1", "")];
    let e: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    let ev = s
        .evaluate(&pod(&sec_pod(
            "p",
            "S2",
            "",
            &required("podAffinity", "S1", "region"),
        )))
        .unwrap();
    assert_eq!(rejected_by(&ev, "node1"), None);
    assert_eq!(
        rejected_by(&ev, "node2"),
        Some((
            "InterPodAffinity",
            "node(s) didn't match pod affinity rules".into()
        ))
    );
    // The first pod of a series with affinity to itself may go anywhere.
    let ev = s
        .evaluate(&pod(&sec_pod(
            "p",
            "S3",
            "",
            &required("podAffinity", "S3", "region"),
        )))
        .unwrap();
    assert!(ev.nodes.iter().all(|n| n.rejection.is_none()));
    // Required anti-affinity of the incoming pod.
    let ev = s
        .evaluate(&pod(&sec_pod(
            "p",
            "S2",
            "",
            &required("podAntiAffinity", "S1", "region"),
        )))
        .unwrap();
    assert_eq!(
        rejected_by(&ev, "node1").unwrap().1,
        "node(s) didn't match pod anti-affinity rules"
    );
    assert_eq!(rejected_by(&ev, "node2"), None);
    // Symmetry: an existing pod's required anti-affinity.
    let existing = [sec_pod(
        "e1",
        "S1",
        "node1",
        &required("podAntiAffinity", "S2", "region"),
    )];
    let e: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    let ev = s.evaluate(&pod(&sec_pod("p", "S2", "", ""))).unwrap();
    assert_eq!(
        rejected_by(&ev, "node1").unwrap().1,
        "node(s) didn't satisfy existing pods anti-affinity rules"
    );
    assert_eq!(rejected_by(&ev, "node2"), None);
}

/// InterPodAffinity's namespaceSelector (upstream's `AffinityTerm.Matches`
/// and `mergeAffinityTermNamespacesIfNotEmpty`): an incoming pod's
/// selector picks the labelled Namespaces the scheduler knows, an empty
/// one every namespace, and an existing pod's selector is matched against
/// the incoming pod's namespace's labels.
#[test]
fn inter_pod_affinity_namespace_selectors() {
    let nodes = [labelled("node1", CHINA), labelled("node2", INDIA)];
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let in_ns = |name: &str, ns: &str, node: &str, affinity: &str| {
        sec_pod(name, "S1", node, affinity).replacen(
            &format!("name: {name}"),
            &format!("name: {name}, namespace: {ns}"),
            1,
        )
    };
    let required = |kind: &str, ns_selector: &str| {
        format!(
            "{kind}: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {{matchLabels: {{security: S1}}}}, namespaceSelector: {ns_selector}, topologyKey: region}}]}}"
        )
    };
    let namespace = |name: &str, labels: &str| match parse(&format!(
        "kind: Namespace\n{}",
        labelled(name, labels)
    )) {
        Object::Namespace(ns) => ns,
        _ => unreachable!(),
    };
    // Matching pods in two namespaces, one labelled team=devops.
    let existing = [
        in_ns("e1", "ops", "node1", ""),
        in_ns("e2", "dev", "node2", ""),
    ];
    let e: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    let affinity_to_devops = in_ns(
        "p",
        "web",
        "",
        &required("podAffinity", "{matchLabels: {team: devops}}"),
    );
    // No Namespace known: the selector picks none, no pod matches, and
    // the pod (in `web`, outside the terms' namespaces) is not the first
    // of a series: every node fails.
    let ev = s.evaluate(&pod(&affinity_to_devops)).unwrap();
    for node in ["node1", "node2"] {
        assert_eq!(
            rejected_by(&ev, node).map(|r| r.1),
            Some("node(s) didn't match pod affinity rules".into()),
            "{node}"
        );
    }
    s.add_namespace(&namespace("ops", "team: devops"));
    s.add_namespace(&namespace("dev", "team: dev"));
    let ev = s.evaluate(&pod(&affinity_to_devops)).unwrap();
    assert_eq!(rejected_by(&ev, "node1"), None);
    assert!(rejected_by(&ev, "node2").is_some());
    // An empty selector: every namespace.
    let ev = s
        .evaluate(&pod(&in_ns("p", "web", "", &required("podAffinity", "{}"))))
        .unwrap();
    assert!(ev.nodes.iter().all(|n| n.rejection.is_none()));
    // An existing pod's anti-affinity to the devops namespaces applies to
    // a pod in `ops`, not to one in `dev` or in an undeclared namespace.
    let existing = [in_ns(
        "e1",
        "other",
        "node1",
        &required("podAntiAffinity", "{matchLabels: {team: devops}}"),
    )];
    let e: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    s.add_namespace(&namespace("ops", "team: devops"));
    s.add_namespace(&namespace("dev", "team: dev"));
    let ev = s.evaluate(&pod(&in_ns("p", "ops", "", ""))).unwrap();
    assert_eq!(
        rejected_by(&ev, "node1").unwrap().1,
        "node(s) didn't satisfy existing pods anti-affinity rules"
    );
    assert_eq!(rejected_by(&ev, "node2"), None);
    for ns in ["dev", "nowhere"] {
        let ev = s.evaluate(&pod(&in_ns("p", ns, "", ""))).unwrap();
        assert!(ev.nodes.iter().all(|n| n.rejection.is_none()), "{ns}");
    }
    // Preferred affinity to the devops namespaces scores node1's region.
    let preferred = in_ns(
        "p",
        "web",
        "",
        "podAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 5, podAffinityTerm: {labelSelector: {matchLabels: {security: S1}}, namespaceSelector: {matchLabels: {team: devops}}, topologyKey: region}}]}",
    );
    let existing = [
        in_ns("e1", "ops", "node1", ""),
        in_ns("e2", "dev", "node2", ""),
    ];
    let e: Vec<&str> = existing.iter().map(String::as_str).collect();
    let mut s = cluster(Profile::default(), &n, &e);
    s.add_namespace(&namespace("ops", "team: devops"));
    let ev = s.evaluate(&pod(&preferred)).unwrap();
    assert_eq!(
        scores(&ev, ScorePlugin::InterPodAffinity, &["node1", "node2"]),
        [100, 0]
    );
}

// ---- NodePorts, TaintToleration, NodeAffinity ----

#[test]
fn node_ports_reject_a_used_host_port() {
    let with_port = |name: &str, node: &str, port: i32, proto: &str| {
        format!(
            "metadata: {{name: {name}}}\nspec: {{nodeName: {node}, containers: [{{name: c, image: x, ports: [{{containerPort: 80, hostPort: {port}, protocol: {proto}}}]}}]}}"
        )
    };
    let mut s = cluster(
        Profile::default(),
        &["metadata: {name: m1}", "metadata: {name: m2}"],
        &[&with_port("e", "m1", 8080, "TCP")],
    );
    let ev = s
        .evaluate(&pod(
            &with_port("p", "", 8080, "TCP").replace("nodeName: , ", "")
        ))
        .unwrap();
    assert_eq!(
        rejected_by(&ev, "m1"),
        Some((
            "NodePorts",
            "node(s) didn't have free ports for the requested pod ports".into()
        ))
    );
    assert_eq!(rejected_by(&ev, "m2"), None);
    // Another protocol on the same port does not conflict.
    let ev = s
        .evaluate(&pod(
            &with_port("p", "", 8080, "UDP").replace("nodeName: , ", "")
        ))
        .unwrap();
    assert!(ev.nodes.iter().all(|n| n.rejection.is_none()));
}

#[test]
fn taint_toleration_scoring_upstream_case() {
    // Upstream taint_toleration_test.go: the node with more untolerated
    // PreferNoSchedule taints scores lower.
    let mut s = cluster(
        Profile::default(),
        &[
            "metadata: {name: nodeA}\nspec: {taints: [{key: foo, value: bar, effect: PreferNoSchedule}]}",
            "metadata: {name: nodeB}\nspec: {taints: [{key: foo, value: blah, effect: PreferNoSchedule}]}",
            "metadata: {name: nodeC}\nspec: {taints: [{key: foo, value: blah, effect: PreferNoSchedule}, {key: foo2, value: bar2, effect: PreferNoSchedule}]}",
        ],
        &[],
    );
    let p = pod(
        "metadata: {name: p}\nspec: {tolerations: [{key: foo, operator: Equal, value: bar, effect: PreferNoSchedule}]}",
    );
    let e = s.evaluate(&p).unwrap();
    assert_eq!(
        scores(
            &e,
            ScorePlugin::TaintToleration,
            &["nodeA", "nodeB", "nodeC"]
        ),
        vec![100, 50, 0]
    );
}

#[test]
fn node_affinity_scoring_upstream_case() {
    // Upstream node_affinity_test.go: preferred terms weighted 2, 4 and 5.
    let mut s = cluster(
        Profile::default(),
        &[
            "metadata: {name: node1, labels: {foo: bar}}",
            "metadata: {name: node2, labels: {foo: bar, key: value}}",
            "metadata: {name: node3, labels: {foo: bar, key: value, az: az1}}",
        ],
        &[],
    );
    let p = pod(
        "metadata: {name: p}\nspec: {affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 2, preference: {matchExpressions: [{key: foo, operator: In, values: [bar]}]}}, {weight: 4, preference: {matchExpressions: [{key: key, operator: In, values: [value]}]}}, {weight: 5, preference: {matchExpressions: [{key: foo, operator: In, values: [bar]}, {key: key, operator: In, values: [value]}, {key: az, operator: In, values: [az1]}]}}]}}}",
    );
    let e = s.evaluate(&p).unwrap();
    assert_eq!(
        scores(&e, ScorePlugin::NodeAffinity, &["node1", "node2", "node3"]),
        vec![18, 54, 100]
    );
}

#[test]
fn totals_are_the_weighted_sums_of_normalized_scores() {
    let mut s = cluster(
        Profile::default(),
        &[
            "metadata: {name: a, labels: {kubernetes.io/hostname: a}}\nstatus: {capacity: {cpu: '4', memory: 8Gi}}",
            "metadata: {name: b, labels: {kubernetes.io/hostname: b}}\nstatus: {capacity: {cpu: '8', memory: 8Gi}}",
        ],
        &[
            "metadata: {name: e, labels: {app: web}}\nspec: {nodeName: a, containers: [{name: c, image: x, resources: {requests: {cpu: '1', memory: 1Gi}}}]}",
        ],
    );
    s.add_object(&parse(
        "kind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}",
    ));
    let e = s
        .evaluate(&pod(
            "metadata: {name: p, labels: {app: web}}\nspec: {containers: [{name: c, image: x, resources: {requests: {cpu: 500m, memory: 1Gi}}}]}",
        ))
        .unwrap();
    assert!(e.scored);
    for n in &e.nodes {
        let sum: i64 = n
            .normalized
            .iter()
            .zip(&e.weights)
            .map(|(s, w)| s * w)
            .sum();
        assert_eq!(sum, n.total, "{}", n.node);
    }
    // The spread score prefers the node without the Service's pod.
    assert!(
        e.score("b", ScorePlugin::PodTopologySpread) > e.score("a", ScorePlugin::PodTopologySpread)
    );
}

/// Pods of two shapes scheduled in turn keep both shapes' memoized
/// scores (each in its own way of the memo), and a pod placed on a node
/// clears that node's scores in every way: the next evaluation of either
/// shape scores it afresh (the memo's freshness is asserted inside every
/// scoring under test) and gives what a new scheduler gives.
#[test]
fn memoized_scores_of_shapes_in_turn_are_kept_and_cleared_together() {
    let nodes: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "metadata: {{name: n{i}, labels: {{kubernetes.io/hostname: n{i}}}}}\nstatus: {{capacity: {{cpu: '{}', memory: 8Gi}}}}",
                4 + i
            )
        })
        .collect();
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let shaped = |name: &str, cpu: &str| {
        pod(&format!(
            "metadata: {{name: {name}}}\nspec: {{containers: [{{name: c, image: x, resources: {{requests: {{cpu: {cpu}, memory: 1Gi}}}}}}]}}"
        ))
    };
    let (a, b) = (shaped("a", "100m"), shaped("b", "250m"));
    let mut s = cluster(Profile::default(), &n, &[]);
    s.evaluate(&a).unwrap();
    s.evaluate(&b).unwrap();
    // Every node keeps both shapes' scores.
    let full = |s: &Scheduler| {
        (s.memo.iter())
            .filter(|m| m.shape.len() == 6 && m.shape.iter().all(|&x| x != 0))
            .count()
    };
    assert_eq!(full(&s), 2, "both shapes kept");
    let placed = "metadata: {name: e}\nspec: {nodeName: n2, containers: [{name: c, image: x, resources: {requests: {cpu: '1', memory: 1Gi}}}]}";
    let mut e = pod(placed);
    e.metadata.uid = 77;
    s.add_bound_pod(Arc::new(Object::Pod(e)));
    assert_eq!(full(&s), 0, "node n2 cleared in every way");
    let mut fresh = cluster(Profile::default(), &n, &[placed]);
    for p in [&b, &a] {
        let (got, want) = (s.evaluate(p).unwrap(), fresh.evaluate(p).unwrap());
        for (g, w) in got.nodes.iter().zip(&want.nodes) {
            assert_eq!((&g.node, g.raw, g.total), (&w.node, w.raw, w.total));
        }
    }
}

/// The scheduler's node rows follow every change to its nodes: a node
/// added, updated (taints, cordon, allocatable), deleted; a pod placed,
/// assumed by a cycle and forgotten.
#[test]
fn node_rows_follow_node_and_pod_changes() {
    use crate::etcd::EventType;
    let mut s = cluster(
        Profile::default(),
        &[
            "metadata: {name: n1}\nstatus: {allocatable: {cpu: '2', memory: 4Gi}}",
            "metadata: {name: n2}\nstatus: {allocatable: {cpu: '2', memory: 4Gi}}",
        ],
        &[
            "metadata: {name: e1}\nspec: {nodeName: n1, containers: [{name: c, image: x, resources: {requests: {cpu: '1'}}, ports: [{containerPort: 80, hostPort: 8080}]}]}",
            "metadata: {name: e2}\nspec: {nodeName: n2, containers: [{name: c, image: x}]}",
        ],
    );
    assert!(s.rows_in_sync());
    s.observe_node(
        EventType::Modified,
        &node(
            "metadata: {name: n2}\nspec: {unschedulable: true, taints: [{key: a, effect: NoSchedule}, {key: b, effect: PreferNoSchedule}]}\nstatus: {allocatable: {cpu: '3', memory: 8Gi, pods: '5'}}",
        ),
    );
    assert!(s.rows_in_sync());
    s.forget(1000);
    assert!(s.rows_in_sync());
    s.add_node(&node(
        "metadata: {name: n3}\nstatus: {allocatable: {cpu: '1', memory: 1Gi}}",
    ));
    assert!(s.rows_in_sync());
    s.observe_node(EventType::Deleted, &node("metadata: {name: n1}"));
    assert!(s.rows_in_sync());
    // A cycle (which checks the rows itself) and the pod it places.
    let mut p = pod(
        "metadata: {name: p}\nspec: {containers: [{name: c, image: x, resources: {requests: {cpu: 500m}}}]}",
    );
    p.metadata.uid = 7;
    let (decision, _) = s.decide(&p, &PodResources::of(&p), 0);
    let super::Decision::Node { node: n, .. } = decision else {
        panic!("unschedulable")
    };
    s.place(
        7,
        n,
        PodResources::of(&p),
        Arc::new(Object::Pod(p.clone())),
        true,
    );
    assert!(s.rows_in_sync());
    s.forget(7);
    assert!(s.rows_in_sync());
}

/// Two nodes of 4 cpu / 8Gi, in zones a and b.
const ZONED_PAIR: [&str; 2] = [
    "metadata: {name: n1, labels: {kubernetes.io/hostname: n1, topology.kubernetes.io/zone: a}}\nstatus: {allocatable: {cpu: '4', memory: 8Gi}}",
    "metadata: {name: n2, labels: {kubernetes.io/hostname: n2, topology.kubernetes.io/zone: b}}\nstatus: {allocatable: {cpu: '4', memory: 8Gi}}",
];

/// Pod `e` (uid 1000, labelled app=`app`, 2 cpu / 2Gi) bound to `node`.
fn bound_pod_uid_1000(node: &str, app: &str) -> Arc<Object> {
    let mut p = pod(&format!(
        "metadata: {{name: e, labels: {{app: {app}}}}}\nspec: {{nodeName: {node}, containers: [{{name: c, image: x, resources: {{requests: {{cpu: '2', memory: 2Gi}}}}}}]}}"
    ));
    p.metadata.uid = 1000;
    Arc::new(Object::Pod(p))
}

/// An app=web pod spreading app=web pods over zones (ScheduleAnyway).
fn zone_spread_web_pod() -> Pod {
    pod(
        "metadata: {name: p, labels: {app: web}}\nspec: {topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}], containers: [{name: c, image: x, resources: {requests: {cpu: 100m, memory: 100Mi}}}]}",
    )
}

/// A bound pod accounted again under the same uid (moved to another node,
/// relabelled) replaces its first accounting: resources, label counts and
/// the spreading domain sums end as if only the last version had been
/// added.
#[test]
fn a_bound_pod_seen_again_replaces_its_first_accounting() {
    let (nodes, incoming) = (ZONED_PAIR, zone_spread_web_pod());
    let bound = bound_pod_uid_1000;
    let evaluate = |versions: &[Arc<Object>]| {
        let mut s = cluster(Profile::default(), &nodes, &[]);
        // The first evaluation registers the selector, so that the later
        // versions update its counts and domain sums incrementally.
        s.evaluate(&incoming).unwrap();
        for v in versions {
            s.add_bound_pod(v.clone());
        }
        let e = s.evaluate(&incoming).unwrap();
        format!("{:?}", e.nodes)
    };
    let once = evaluate(&[bound("n2", "web")]);
    assert_eq!(
        evaluate(&[bound("n1", "web"), bound("n2", "web")]),
        once,
        "moved"
    );
    assert_eq!(
        evaluate(&[bound("n2", "db"), bound("n2", "web")]),
        once,
        "relabelled"
    );
    assert_ne!(evaluate(&[]), once);
}

/// A bound pod seen again on its node with other labels replaces the
/// version accounted (upstream's cache `updatePod`: the old removed, the
/// new added), so that the label counts PodTopologySpread reads follow
/// it; a version with only its status changed leaves them alone.
#[test]
fn a_bound_pod_relabelled_on_its_node_is_recounted() {
    let (nodes, incoming) = (ZONED_PAIR, zone_spread_web_pod());
    let bound = |app: &str| bound_pod_uid_1000("n2", app);
    let cluster_with = |first: &Arc<Object>| {
        let mut s = cluster(Profile::default(), &nodes, &[]);
        // Registers the selector, so that later versions update its counts.
        s.evaluate(&incoming).unwrap();
        s.add_bound_pod(first.clone());
        s
    };
    let web = bound("web");
    let mut s = cluster_with(&web);
    let once = format!("{:?}", s.evaluate(&incoming).unwrap().nodes);
    // The same pod with a new status only: nothing to recount.
    let mut running = match &*web {
        Object::Pod(p) => p.clone(),
        _ => unreachable!(),
    };
    running.status.start_time = Some(5);
    s.observe_bound(
        1000,
        &Arc::new(Object::Pod(running.clone())),
        &running,
        "n2",
    );
    assert_eq!(format!("{:?}", s.evaluate(&incoming).unwrap().nodes), once);
    // First seen as app=db, then relabelled app=web on the same node.
    let mut s = cluster_with(&bound("db"));
    assert_ne!(format!("{:?}", s.evaluate(&incoming).unwrap().nodes), once);
    let Object::Pod(p) = &*web else {
        unreachable!()
    };
    s.observe_bound(1000, &web, p, "n2");
    assert_eq!(
        format!("{:?}", s.evaluate(&incoming).unwrap().nodes),
        once,
        "relabelled"
    );
}

/// The memo's runs of nodes: a feasible list is a range only when every
/// node is in `order` and the list does not wrap around.
#[test]
fn feasible_nodes_as_a_range() {
    use super::as_range;
    assert_eq!(as_range(&[3, 4, 5], true), Some(3..6));
    assert_eq!(as_range(&[7], true), Some(7..8));
    assert_eq!(as_range(&[], true), None);
    // A node deleted: indices may skip.
    assert_eq!(as_range(&[3, 4, 5], false), None);
    // Gaps, and a wrap to index 0.
    assert_eq!(as_range(&[3, 5, 6], true), None);
    assert_eq!(as_range(&[8, 9, 0, 1], true), None);
}

// ---- Binding failures (schedule_one.go, handleBindingCycleError) ----

/// A scheduler alone, with this world as its apiserver: watches get the
/// given nodes and pods; the first `failures` bindings fail with 409.
struct AloneWithApi {
    s: Scheduler,
    rec: crate::output::Recorder,
    lat: crate::sim::Latencies,
    names: Vec<Arc<str>>,
    nodes: Vec<Arc<Object>>,
    pods: Vec<Arc<Object>>,
    failures: usize,
    /// Whether the pod list comes before the node list (after it, by
    /// default).
    pods_first: bool,
    /// (time, pod name, node) of every bind request.
    binds: Vec<(crate::engine::Time, String, String)>,
}

impl AloneWithApi {
    /// The default profile's scheduler, with `nodes` (each named) and
    /// `pods` listed to its watches.
    fn new(nodes: Vec<Node>, pods: Vec<Pod>, failures: usize) -> Self {
        let rng = RngStreams::new(1);
        AloneWithApi {
            s: Scheduler::with_profiles(&rng, vec![Profile::default()]),
            rec: crate::output::Recorder::discarding(),
            lat: crate::sim::Latencies::new(&crate::sim::LatencyConfig::default(), &rng),
            names: nodes.iter().map(|n| (&*n.metadata.name).into()).collect(),
            nodes: nodes
                .into_iter()
                .map(|n| Arc::new(Object::Node(n)))
                .collect(),
            pods: pods.into_iter().map(|p| Arc::new(Object::Pod(p))).collect(),
            failures,
            pods_first: false,
            binds: Vec::new(),
        }
    }

    /// A watch event of `kind` on the scheduler's watch `tag`, at revision 2.
    fn event(
        tag: u32,
        kind: crate::etcd::EventType,
        object: Object,
        prev: Object,
    ) -> crate::sim::Msg {
        let object = Arc::new(object);
        let change = crate::etcd::Change {
            revision: 2,
            kind,
            key: object.key(),
            object,
            prev: Some(Arc::new(prev)),
        };
        crate::sim::Msg::WatchEvent {
            tag,
            kind,
            change: Arc::new(change),
        }
    }

    /// Starts the scheduler at 0, delivers each `(time, message)`, and runs
    /// for 60 virtual seconds.
    fn run(&mut self, also: Vec<(crate::engine::Time, crate::sim::Msg)>) {
        use crate::sim::{Dest, Msg};
        let mut engine = crate::engine::Engine::new();
        engine.schedule(0, Dest::Scheduler, Msg::Start);
        for (at, msg) in also {
            engine.schedule(at, Dest::Scheduler, msg);
        }
        engine.run(self, Some(60 * crate::engine::SECOND));
    }
}

impl crate::engine::World for AloneWithApi {
    type Dest = crate::sim::Dest;
    type Msg = crate::sim::Msg;
    fn handle(
        &mut self,
        ctx: &mut crate::engine::Ctx<Self::Dest, Self::Msg>,
        dest: Self::Dest,
        msg: Self::Msg,
    ) {
        use crate::api::Kind;
        use crate::sim::msg::{ApiError, Response};
        use crate::sim::{Cx, Dest, Msg, Verb};
        match (dest, msg) {
            (Dest::Scheduler, msg) => {
                let mut cx = Cx::new(ctx, &mut self.rec, &mut self.lat, &self.names);
                self.s.handle(msg, &mut cx);
            }
            (Dest::ApiServer, Msg::Request(req)) => match req.verb {
                Verb::Watch(spec) => {
                    let objects = match spec.kind {
                        Kind::Node => self.nodes.clone(),
                        Kind::Pod => self.pods.clone(),
                        _ => Vec::new(),
                    };
                    let list = Msg::WatchList {
                        tag: spec.tag,
                        revision: 1,
                        objects: Box::new(objects),
                    };
                    // Pods are listed after the nodes unless `pods_first`.
                    let after = match (spec.kind, self.pods_first) {
                        (Kind::Pod, false) | (Kind::Node, true) => crate::engine::MILLISECOND,
                        _ => 0,
                    };
                    ctx.send(Dest::Scheduler, after, list);
                }
                Verb::Bind { key, node } => {
                    self.binds.push((ctx.now(), key.name().to_string(), node));
                    let result = if self.failures > 0 {
                        self.failures -= 1;
                        Err(ApiError {
                            code: 409,
                            reason: "Conflict",
                            message: "the object has been modified".into(),
                        })
                    } else {
                        Ok(self.pods[0].clone())
                    };
                    let resp = Response {
                        tag: req.tag,
                        verb: "bind",
                        key,
                        result,
                    };
                    ctx.send(req.from, 0, Msg::Response(Box::new(resp)));
                }
                _ => {}
            },
            _ => {}
        }
    }
}

fn bind_attempts(failures: usize) -> Vec<(crate::engine::Time, String, String)> {
    let mut p = pod(
        "metadata: {name: web, namespace: default}\nspec: {containers: [{name: c, image: nginx}]}",
    );
    p.metadata.uid = 7;
    let n =
        node("metadata: {name: n1}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}");
    let mut world = AloneWithApi::new(vec![n], vec![p], failures);
    world.run(Vec::new());
    world.binds
}

#[test]
fn a_failed_binding_is_retried_after_its_backoff() {
    use crate::engine::SECOND;
    let once = bind_attempts(0);
    assert_eq!(once.len(), 1, "{once:?}");
    assert_eq!((once[0].1.as_str(), once[0].2.as_str()), ("web", "n1"));
    // Two failures: the pod is retried after 1 s, then after 2 s (its
    // attempts so far: 1, then 2), and bound at the third try.
    let thrice = bind_attempts(2);
    assert_eq!(thrice.len(), 3, "{thrice:?}");
    let gap = |i: usize| thrice[i + 1].0 - thrice[i].0;
    assert!((SECOND..2 * SECOND).contains(&gap(0)), "{thrice:?}");
    assert!((2 * SECOND..3 * SECOND).contains(&gap(1)), "{thrice:?}");
}

/// With the queueing hints off, upstream's moveRequestCycle, end to end:
/// a bound pod relabelled while an unschedulable pod's cycle runs
/// (upstream's AssignedPodUpdated with UpdatePodLabel, which
/// InterPodAffinity and PodTopologySpread register) sends that pod to
/// backoffQ, so it is tried again after its 1 s backoff; otherwise it
/// waits among the unschedulable pods (5 min at most). A status-only
/// update (UpdatePodOther, which no plugin registers) is no move request.
/// With the hints on, the events of the cycle go to the hints of the
/// plugin that rejected the pod, NodeResourcesFit: a relabel cannot help
/// it and the pod waits, a bound pod's deletion can and it is retried.
#[test]
fn a_relabel_during_a_failing_cycle_retries_the_pod_after_its_backoff() {
    use crate::api::pod::PodPhase;
    use crate::engine::{MICROSECOND, SECOND, Time};
    use crate::etcd::EventType;
    #[derive(Clone, Copy)]
    enum Update {
        Relabel,
        Status,
        Delete,
    }
    let attempts = |hints: bool, update: Option<(Time, Update)>| {
        let mut big = pod(
            "metadata: {name: big, namespace: default}\nspec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: '8'}}}]}",
        );
        big.metadata.uid = 7;
        let mut bound = pod(
            "metadata: {name: small, namespace: default, labels: {app: a}}\nspec: {nodeName: n1, containers: [{name: c, image: nginx}]}",
        );
        bound.metadata.uid = 8;
        let n = node(
            "metadata: {name: n1}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}",
        );
        let mut world = AloneWithApi::new(vec![n], vec![big, bound.clone()], 0);
        world.s.set_queueing_hints(hints);
        let update = update.map(|(at, how)| {
            let mut next = bound.clone();
            let mut kind = EventType::Modified;
            match how {
                Update::Relabel => {
                    let labels = pod("metadata: {name: x, labels: {app: b}}\nspec: {}")
                        .metadata
                        .labels;
                    next.metadata.labels = labels;
                }
                Update::Status => next.status.phase = PodPhase::Running,
                Update::Delete => kind = EventType::Deleted,
            }
            let (now, before) = (Object::Pod(next), Object::Pod(bound));
            let event = AloneWithApi::event(super::WATCH_PODS, kind, now, before);
            (at, event)
        });
        world.run(update.into_iter().collect());
        assert!(world.binds.is_empty());
        world.s.queue.attempts(7)
    };
    // The lists arrive about 1.25 ms in, and the pod's cycle then runs
    // until about 1.5 ms.
    let during = 1_400 * MICROSECOND;
    for hints in [false, true] {
        assert_eq!(attempts(hints, None), 1);
        assert_eq!(attempts(hints, Some((during, Update::Status))), 1);
        assert_eq!(attempts(hints, Some((during, Update::Delete))), 2);
        // After the cycle the relabel does not count: the pod was rejected
        // by NodeResourcesFit, which a relabel cannot help.
        assert_eq!(attempts(hints, Some((SECOND / 2, Update::Relabel))), 1);
    }
    assert_eq!(attempts(false, Some((during, Update::Relabel))), 2);
    assert_eq!(attempts(true, Some((during, Update::Relabel))), 1);
}

/// Upstream's NodeDelete moves the pods PodTopologySpread rejected: with
/// zone b's only node gone, zone a alone counts, so the pod that zone a's
/// skew kept out fits there at once, not after the 5-minute flush.
#[test]
fn a_node_deleted_moves_the_pods_spreading_kept_out() {
    use crate::engine::{SECOND, Time};
    use crate::etcd::EventType;
    let binds = |hints: bool, delete_at: Option<Time>| {
        let n1 = node(
            "metadata: {name: n1, labels: {zone: a}}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}",
        );
        let n2 = node(
            "metadata: {name: n2, labels: {zone: b}}\nstatus: {allocatable: {cpu: '1', memory: 8Gi, pods: '110'}}",
        );
        let mut pods = Vec::new();
        for (uid, name, on, labels, cpu) in [
            (1, "web-1", "n1", "{app: web}", "100m"),
            (2, "web-2", "n1", "{app: web}", "100m"),
            (3, "other", "n2", "{}", "1"),
        ] {
            let mut p = pod(&format!(
                "metadata: {{name: {name}, namespace: default, labels: {labels}}}\nspec: {{nodeName: {on}, containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '{cpu}'}}}}}}]}}"
            ));
            p.metadata.uid = uid;
            pods.push(p);
        }
        let mut pending = pod(
            "metadata: {name: web-3, namespace: default, labels: {app: web}}\nspec: {topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}], containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m}}}]}",
        );
        pending.metadata.uid = 7;
        pods.push(pending);
        let mut world = AloneWithApi::new(vec![n1, n2.clone()], pods, 0);
        world.s.set_queueing_hints(hints);
        let delete = delete_at.map(|at| {
            let (gone, before) = (Object::Node(n2.clone()), Object::Node(n2));
            let event = AloneWithApi::event(super::WATCH_NODES, EventType::Deleted, gone, before);
            (at, event)
        });
        world.run(delete.into_iter().collect());
        world.binds
    };
    for hints in [false, true] {
        assert!(binds(hints, None).is_empty());
        let after = binds(hints, Some(5 * SECOND));
        assert_eq!(after.len(), 1, "hints {hints}: {after:?}");
        assert_eq!((after[0].1.as_str(), after[0].2.as_str()), ("web-3", "n1"));
        assert!((5 * SECOND..6 * SECOND).contains(&after[0].0), "{after:?}");
    }
}

/// A pending pod that holds a nomination and is deleted, or nominated to
/// another node, no longer holds room on its nominated node: as upstream
/// (deletePodFromSchedulingQueue, updatePodInSchedulingQueue), the
/// unschedulable pods of its priority or lower are moved back and tried
/// again at once; one of higher priority waits for another event.
#[test]
fn a_released_nomination_moves_the_pods_of_its_priority_or_lower() {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    // How often the 2-cpu pod of `waiting_priority` was tried when the
    // nominated pod (priority 100) is deleted (`renominate` false) or
    // nominated elsewhere at 5 s.
    let attempts = |hints: bool, waiting_priority: i32, renominate: bool| {
        let n1 = node(
            "metadata: {name: n1}\nstatus: {allocatable: {cpu: '1', memory: 8Gi, pods: '110'}}",
        );
        let mut waiting = pod(&format!(
            "metadata: {{name: big, namespace: default}}\nspec: {{priority: {waiting_priority}, containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '2'}}}}}}]}}"
        ));
        waiting.metadata.uid = 7;
        let nominated = |on: &str| {
            let mut p = pod(
                "metadata: {name: nom, namespace: default}\nspec: {priority: 100, containers: [{name: c, image: nginx, resources: {requests: {cpu: '5'}}}]}",
            );
            p.metadata.uid = 9;
            p.status.nominated_node_name = Some(on.to_string());
            p
        };
        let mut world = AloneWithApi::new(vec![n1], vec![waiting, nominated("n1")], 0);
        world.s.set_queueing_hints(hints);
        let (kind, now) = if renominate {
            (EventType::Modified, nominated("n2"))
        } else {
            (EventType::Deleted, nominated("n1"))
        };
        let event = AloneWithApi::event(
            super::WATCH_PODS,
            kind,
            Object::Pod(now),
            Object::Pod(nominated("n1")),
        );
        world.run(vec![(5 * SECOND, event)]);
        world.s.queue.attempts(7)
    };
    for hints in [false, true] {
        for renominate in [false, true] {
            let what = format!("hints {hints}, renominate {renominate}");
            assert_eq!(attempts(hints, 100, renominate), 2, "{what}");
            assert_eq!(attempts(hints, -3, renominate), 2, "{what}");
            assert_eq!(attempts(hints, 101, renominate), 1, "{what}");
        }
    }
}

/// A nominated pod seen bound leaves the unscheduled pods' informer, and
/// upstream's deletePodFromSchedulingQueue releases its nomination: the
/// unschedulable pods of its priority or lower that NodeResourcesFit
/// rejected are tried again, with the queueing hints on or off.
#[test]
fn a_nominated_pod_seen_bound_releases_its_nomination() {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    let attempts = |hints: bool, waiting_priority: i32| {
        let n1 = node(
            "metadata: {name: n1}\nstatus: {allocatable: {cpu: '1', memory: 8Gi, pods: '110'}}",
        );
        let mut waiting = pod(&format!(
            "metadata: {{name: big, namespace: default}}\nspec: {{priority: {waiting_priority}, containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '2'}}}}}}]}}"
        ));
        waiting.metadata.uid = 7;
        let mut nominated = pod(
            "metadata: {name: nom, namespace: default}\nspec: {priority: 100, containers: [{name: c, image: nginx, resources: {requests: {cpu: 100m}}}]}",
        );
        nominated.metadata.uid = 9;
        nominated.status.nominated_node_name = Some("n2".to_string());
        let mut bound = nominated.clone();
        Arc::make_mut(&mut bound.spec).node_name = Some("n1".to_string());
        let mut world = AloneWithApi::new(vec![n1], vec![waiting], 0);
        world.s.set_queueing_hints(hints);
        let event = AloneWithApi::event(
            super::WATCH_PODS,
            EventType::Modified,
            Object::Pod(bound),
            Object::Pod(nominated),
        );
        world.run(vec![(5 * SECOND, event)]);
        world.s.queue.attempts(7)
    };
    for hints in [false, true] {
        assert_eq!(attempts(hints, 100), 2, "hints {hints}");
        assert_eq!(attempts(hints, 101), 1, "hints {hints}");
    }
}

/// A pending pod's own update: with the queueing hints off, any change
/// beyond its status moves it (upstream's isPodUpdated), an annotation
/// too; with them on, only a change a rejecting plugin's hint reads: a
/// toleration added for the taint that TaintToleration rejected it for.
#[test]
fn a_pending_pods_own_update_moves_it_as_the_hints_say() {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    let tainted = node(
        "metadata: {name: n1}\nspec: {taints: [{key: k, effect: NoSchedule}]}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}",
    );
    let waiting = |extra: &str| {
        let mut p = pod(&format!(
            "metadata: {{name: w, namespace: default{extra}}}\nspec: {{containers: [{{name: c, image: nginx}}]}}"
        ));
        p.metadata.uid = 7;
        p
    };
    // (attempts, bound) after the update at 5 s.
    let run = |hints: bool, now: Pod| {
        let mut world = AloneWithApi::new(vec![tainted.clone()], vec![waiting("")], 0);
        world.s.set_queueing_hints(hints);
        let event = AloneWithApi::event(
            super::WATCH_PODS,
            EventType::Modified,
            Object::Pod(now),
            Object::Pod(waiting("")),
        );
        world.run(vec![(5 * SECOND, event)]);
        (world.s.queue.attempts(7), !world.binds.is_empty())
    };
    let mut tolerant = waiting("");
    Arc::make_mut(&mut tolerant.spec).tolerations = pod(
        "metadata: {name: x}\nspec: {tolerations: [{key: k, operator: Exists, effect: NoSchedule}], containers: []}",
    )
    .spec
    .tolerations
    .clone();
    let annotated = waiting(", annotations: {a: b}");
    for hints in [false, true] {
        assert!(run(hints, tolerant.clone()).1, "hints {hints}");
    }
    assert_eq!(run(false, annotated.clone()), (2, false));
    assert_eq!(run(true, annotated), (1, false));
}

/// A Node added or changed moves only the unschedulable pods that pass
/// upstream's preCheckForNode on it (queueing hints off), and a Node
/// update moves none unless it changes what scheduling reads
/// (nodeSchedulingPropertiesChange): a 2-cpu pod on a 1-cpu cluster is
/// not tried again when a node is cordoned, relabelled while still too
/// small, or joined by a node too small or tainted; it is when a node
/// with room joins, or one gets room. With the hints on, NodeResourcesFit
/// alone (the plugin that rejected the pod) decides: the tainted node
/// with room is worth a try, since no precheck runs.
#[test]
fn node_events_move_only_the_pods_that_fit_the_node() {
    for hints in [false, true] {
        node_events_move(hints);
    }
}

fn node_events_move(hints: bool) {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    let small = |labels: &str, unschedulable: bool, cpu: &str| {
        node(&format!(
            "metadata: {{name: n1, labels: {{{labels}}}}}\nspec: {{unschedulable: {unschedulable}}}\nstatus: {{allocatable: {{cpu: '{cpu}', memory: 8Gi, pods: '110'}}}}"
        ))
    };
    let other = |spec: &str, cpu: &str| {
        node(&format!(
            "metadata: {{name: n2}}\nspec: {spec}\nstatus: {{allocatable: {{cpu: '{cpu}', memory: 8Gi, pods: '110'}}}}"
        ))
    };
    // Whether the pending pod was tried again after `kind` of `now` at
    // 5 s (`before`: the Node as it was, for an update), and whether it
    // was bound then.
    let attempts = |kind: EventType, now: Node, before: Node| {
        let mut waiting = pod(
            "metadata: {name: big, namespace: default}\nspec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: '2'}}}]}",
        );
        waiting.metadata.uid = 7;
        let mut world = AloneWithApi::new(vec![small("", false, "1")], vec![waiting], 0);
        world.s.set_queueing_hints(hints);
        let event = AloneWithApi::event(
            super::WATCH_NODES,
            kind,
            Object::Node(now),
            Object::Node(before),
        );
        world.run(vec![(5 * SECOND, event)]);
        let bound = world.binds.iter().any(|b| b.0 >= 5 * SECOND);
        (world.s.queue.attempts(7) == 2 || bound, bound)
    };
    let n1 = small("", false, "1");
    let modified = EventType::Modified;
    // Updates of n1.
    assert_eq!(
        attempts(modified, small("", true, "1"), n1.clone()),
        (false, false),
        "cordoned"
    );
    assert_eq!(
        attempts(modified, small("a: b", false, "1"), n1.clone()),
        (false, false),
        "relabelled, still small"
    );
    assert_eq!(
        attempts(modified, small("", false, "1"), n1.clone()),
        (false, false),
        "unchanged"
    );
    assert_eq!(
        attempts(modified, small("", false, "4"), n1.clone()),
        (true, true),
        "room"
    );
    // A new node.
    let added = EventType::Added;
    assert_eq!(
        attempts(added, other("{}", "1"), other("{}", "1")),
        (false, false),
        "too small"
    );
    let tainted = "{taints: [{key: k, effect: NoSchedule}]}";
    assert_eq!(
        attempts(added, other(tainted, "4"), other(tainted, "4")),
        (hints, false),
        "tainted"
    );
    // NoExecute taints are not in the check (the filter still rejects).
    let no_execute = "{taints: [{key: k, effect: NoExecute}]}";
    assert_eq!(
        attempts(added, other(no_execute, "4"), other(no_execute, "4")),
        (true, false),
        "NoExecute"
    );
    assert_eq!(
        attempts(added, other("{}", "4"), other("{}", "4")),
        (true, true),
        "room"
    );
}

/// A bound pod's deletion moves only the unschedulable pods that a
/// plugin registering pod deletions rejected (upstream's
/// `podMatchesEvent`): the pod NodeResourcesFit rejected is tried again
/// (and binds in the room freed), the one NodeAffinity rejected is not.
/// With the queueing hints on, that plugin's hint must also say Queue:
/// the pod NodePorts rejected stays, since the deleted pod held no port;
/// with them off it is tried again.
#[test]
fn a_pod_deletion_moves_only_the_pods_it_may_help() {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    let n1 =
        node("metadata: {name: n1}\nstatus: {allocatable: {cpu: '2', memory: 8Gi, pods: '110'}}");
    let with = |name: &str, uid: u64, spec: &str, port: &str| {
        let mut p = pod(&format!(
            "metadata: {{name: {name}, namespace: default}}\nspec: {{{spec}containers: [{{name: c, image: nginx, {port}resources: {{requests: {{cpu: '1'}}}}}}]}}"
        ));
        p.metadata.uid = uid;
        p
    };
    let port = "ports: [{containerPort: 80, hostPort: 80}], ";
    let holder = with("holder", 1, "nodeName: n1, ", "");
    let porter = with("porter", 2, "nodeName: n1, ", port);
    let fit = with("fit", 7, "", "");
    let picky = with("picky", 9, "nodeSelector: {disk: ssd}, ", "");
    let ports = with("ports", 11, "", port);
    for hints in [false, true] {
        let pods = vec![
            holder.clone(),
            porter.clone(),
            fit.clone(),
            picky.clone(),
            ports.clone(),
        ];
        let mut world = AloneWithApi::new(vec![n1.clone()], pods, 0);
        world.s.set_queueing_hints(hints);
        let gone = AloneWithApi::event(
            super::WATCH_PODS,
            EventType::Deleted,
            Object::Pod(holder.clone()),
            Object::Pod(holder.clone()),
        );
        world.run(vec![(5 * SECOND, gone)]);
        assert!(
            world
                .binds
                .iter()
                .any(|b| b.1 == "fit" && b.0 >= 5 * SECOND),
            "hints {hints}: {:?}",
            world.binds
        );
        assert_eq!(world.s.queue.attempts(9), 1, "hints {hints}");
        let retried = if hints { 1 } else { 2 };
        assert_eq!(world.s.queue.attempts(11), retried, "hints {hints}");
    }
}

/// A pod nominated to a node by its preemption holds the room it freed
/// against pods of lower priority, as upstream's filters count nominated
/// pods (RunFilterPluginsWithNominatedPods): the victim goes while the
/// preemptor backs off, and a lower-priority pod created then does not
/// take the node; the preemptor binds there once its backoff ends.
#[test]
fn a_nominated_pod_holds_its_node_against_lower_priority_pods() {
    use crate::engine::{MILLISECOND, SECOND};
    use crate::etcd::EventType;
    let n1 =
        node("metadata: {name: n1}\nstatus: {allocatable: {cpu: '1', memory: 8Gi, pods: '110'}}");
    let with = |name: &str, uid: u64, spec: &str| {
        let mut p = pod(&format!(
            "metadata: {{name: {name}, namespace: default}}\nspec: {{{spec}containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '1'}}}}}}]}}"
        ));
        p.metadata.uid = uid;
        p
    };
    let victim = with("victim", 1, "nodeName: n1, priority: 0, ");
    let preemptor = with("preemptor", 7, "priority: 100, ");
    let low = with("low", 8, "priority: 10, ");
    let mut world = AloneWithApi::new(vec![n1], vec![victim.clone(), preemptor], 0);
    let gone = AloneWithApi::event(
        super::WATCH_PODS,
        EventType::Deleted,
        Object::Pod(victim.clone()),
        Object::Pod(victim),
    );
    let arrives = AloneWithApi::event(
        super::WATCH_PODS,
        EventType::Added,
        Object::Pod(low.clone()),
        Object::Pod(low),
    );
    world.run(vec![
        (200 * MILLISECOND, gone),
        (300 * MILLISECOND, arrives),
    ]);
    let binds: Vec<(&str, &str)> = (world.binds.iter())
        .map(|(_, pod, node)| (pod.as_str(), node.as_str()))
        .collect();
    assert_eq!(binds, [("preemptor", "n1")], "{:?}", world.binds);
    assert!(world.binds[0].0 >= SECOND, "{:?}", world.binds);
}

/// A bound pod listed before its Node is kept until the Node comes, as
/// upstream's cache keeps it under a placeholder NodeInfo: its 3 cpu are
/// counted, so a 2-cpu pod does not fit on the 4-cpu node.
#[test]
fn a_bound_pod_listed_before_its_node_is_counted_on_it() {
    let binds = |pods_first: bool| {
        let n = node(
            "metadata: {name: n1}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}",
        );
        let mut bound = pod(
            "metadata: {name: big, namespace: default}\nspec: {nodeName: n1, containers: [{name: c, image: nginx, resources: {requests: {cpu: '3'}}}]}",
        );
        bound.metadata.uid = 8;
        let mut pending = pod(
            "metadata: {name: web, namespace: default}\nspec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: '2'}}}]}",
        );
        pending.metadata.uid = 7;
        let mut world = AloneWithApi::new(vec![n], vec![bound, pending], 0);
        world.pods_first = pods_first;
        world.run(Vec::new());
        assert!(world.s.placed.contains_key(&8));
        assert!(world.s.unplaced.is_empty());
        world.binds.len()
    };
    assert_eq!(binds(false), 0);
    assert_eq!(binds(true), 0);
}

/// A Node deleted and added again under its name finds the pods still
/// bound to it counted on it, as upstream's cache keeps them under a
/// placeholder NodeInfo: the pending 2-cpu pod does not fit beside the
/// 3-cpu one, where a Node of another name takes it. The bound pod's
/// deletion then moves the pending pod back, which binds.
#[test]
fn a_node_back_under_its_name_counts_the_pods_still_bound_to_it() {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    let binds = |back_as: &str, delete_bound: bool| {
        let n = |name: &str| {
            node(&format!(
                "metadata: {{name: {name}}}\nstatus: {{allocatable: {{cpu: '4', memory: 8Gi, pods: '110'}}}}"
            ))
        };
        let mut bound = pod(
            "metadata: {name: big, namespace: default}\nspec: {nodeName: n1, containers: [{name: c, image: nginx, resources: {requests: {cpu: '3'}}}]}",
        );
        bound.metadata.uid = 8;
        let mut pending = pod(
            "metadata: {name: web, namespace: default}\nspec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: '2'}}}]}",
        );
        pending.metadata.uid = 7;
        let mut world = AloneWithApi::new(vec![n("n1")], vec![bound.clone(), pending], 0);
        let node_event = |kind, at: &str| {
            AloneWithApi::event(
                super::WATCH_NODES,
                kind,
                Object::Node(n(at)),
                Object::Node(n(at)),
            )
        };
        let mut events = vec![
            (5 * SECOND, node_event(EventType::Deleted, "n1")),
            (6 * SECOND, node_event(EventType::Added, back_as)),
        ];
        if delete_bound {
            let gone = Object::Pod(bound.clone());
            let event = AloneWithApi::event(
                super::WATCH_PODS,
                EventType::Deleted,
                gone,
                Object::Pod(bound),
            );
            events.push((20 * SECOND, event));
        }
        world.run(events);
        world.binds
    };
    assert!(binds("n1", false).is_empty());
    let elsewhere = binds("n2", false);
    assert_eq!(elsewhere.len(), 1, "{elsewhere:?}");
    assert_eq!(elsewhere[0].2, "n2");
    let freed = binds("n1", true);
    assert_eq!(freed.len(), 1, "{freed:?}");
    assert_eq!(freed[0].2, "n1");
    assert!(
        (20 * SECOND..21 * SECOND).contains(&freed[0].0),
        "{freed:?}"
    );
}

/// A pod still assumed (its binding not yet seen) when its Node is deleted
/// counts on a Node that comes back under the name, as upstream's
/// placeholder NodeInfo keeps assumed pods too; and a bound pod deleted
/// while its Node is gone is an AssignedPodDelete, which moves the
/// unschedulable pods back.
#[test]
fn pods_of_a_gone_node_count_when_it_returns_and_move_others_when_deleted() {
    use crate::engine::SECOND;
    use crate::etcd::EventType;
    let n1 =
        node("metadata: {name: n1}\nstatus: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}");
    let node_event = |kind| {
        let n = Object::Node(n1.clone());
        AloneWithApi::event(super::WATCH_NODES, kind, n.clone(), n)
    };
    let pending = |name: &str, uid: u64, cpu: &str| {
        let mut p = pod(&format!(
            "metadata: {{name: {name}, namespace: default}}\nspec: {{containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '{cpu}'}}}}}}]}}"
        ));
        p.metadata.uid = uid;
        p
    };
    // `first` binds and stays assumed (this world never shows the pod
    // bound); `second` does not fit beside it, before or after n1 returns.
    let mut world = AloneWithApi::new(
        vec![n1.clone()],
        vec![pending("first", 7, "3"), pending("second", 8, "2")],
        0,
    );
    world.run(vec![
        (5 * SECOND, node_event(EventType::Deleted)),
        (6 * SECOND, node_event(EventType::Added)),
    ]);
    let names: Vec<&str> = world.binds.iter().map(|b| b.1.as_str()).collect();
    assert_eq!(names, ["first"], "{:?}", world.binds);
    assert!(
        world
            .s
            .placed
            .get(&7)
            .is_some_and(|p| p.assumed && world.s.live[p.node])
    );
    // A bound 3-cpu pod deleted at 5.5 s, while n1 is gone: the pending
    // 2-cpu pod is tried again then (and keeps being retried with no node
    // to go to), where it waits for the 5-minute flush otherwise.
    let attempts = |delete_bound: bool| {
        let mut bound = pending("big", 9, "3");
        bound.spec = Arc::new({
            let mut spec = (*bound.spec).clone();
            spec.node_name = Some("n1".into());
            spec
        });
        let mut world = AloneWithApi::new(
            vec![n1.clone()],
            vec![bound.clone(), pending("web", 8, "2")],
            0,
        );
        let mut events = vec![(5 * SECOND, node_event(EventType::Deleted))];
        if delete_bound {
            let gone = Object::Pod(bound.clone());
            let event = AloneWithApi::event(
                super::WATCH_PODS,
                EventType::Deleted,
                gone,
                Object::Pod(bound),
            );
            events.push((5 * SECOND + SECOND / 2, event));
        }
        world.run(events);
        assert!(world.binds.is_empty(), "{:?}", world.binds);
        world.s.queue.attempts(8)
    };
    assert_eq!(attempts(false), 1);
    assert!(attempts(true) > 2, "{}", attempts(true));
}

/// With no node at all, upstream's ErrNoNodesAvailable names no rejecting
/// plugin, so the pod goes to backoffQ and is retried as its backoff
/// doubles to 10 s (not left for the 5-minute flush).
#[test]
fn a_pod_with_no_node_to_go_to_is_retried_by_backoff() {
    let mut p = pod(
        "metadata: {name: web, namespace: default}\nspec: {containers: [{name: c, image: nginx}]}",
    );
    p.metadata.uid = 7;
    let mut world = AloneWithApi::new(Vec::new(), vec![p], 0);
    world.run(Vec::new());
    // Tried at 0, then after 1, 2, 4, 8, 10, 10, 10 and 10 s: at 55 s.
    assert_eq!(world.s.queue.attempts(7), 9);
}

/// Nodes are visited in upstream's node tree order: one node of each zone
/// in turn, zones in the order their first node came. A node's new zone
/// moves it in the order only once a node is added or removed, as
/// upstream's snapshot rebuilds its list only then.
#[test]
fn nodes_are_visited_one_zone_after_the_other() {
    let zoned = |name: &str, zone: &str| {
        format!(
            "metadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}, topology.kubernetes.io/zone: {zone}}}}}\nstatus: {{allocatable: {{cpu: '4', memory: 8Gi}}}}"
        )
    };
    let mut s = Scheduler::new(&RngStreams::new(1));
    for (name, zone) in [
        ("a-0", "a"),
        ("a-1", "a"),
        ("b-0", "b"),
        ("a-2", "a"),
        ("c-0", "c"),
    ] {
        s.add_node(&node(&zoned(name, zone)));
    }
    let p = pod("metadata: {name: p}\nspec: {containers: [{name: c, image: x}]}");
    let visited = |s: &mut Scheduler| -> Vec<String> {
        let e = s.evaluate(&p).unwrap();
        e.nodes.iter().map(|n| n.node.to_string()).collect()
    };
    assert_eq!(visited(&mut s), ["a-0", "b-0", "c-0", "a-1", "a-2"]);
    // a-2 moves to zone c: the tree changes, the order not yet.
    s.add_node(&node(&zoned("a-2", "c")));
    assert_eq!(visited(&mut s), ["a-0", "b-0", "c-0", "a-1", "a-2"]);
    // A node added (or removed) takes the order from the tree again.
    s.add_node(&node(&zoned("b-1", "b")));
    assert_eq!(visited(&mut s), ["a-0", "b-0", "c-0", "a-1", "b-1", "a-2"]);
    s.observe_node(
        crate::etcd::EventType::Deleted,
        &node("metadata: {name: b-0}"),
    );
    assert_eq!(visited(&mut s), ["a-0", "b-1", "c-0", "a-1", "a-2"]);
    // A node removed and added again under its name before the next
    // cycle keeps its place (the set of names is the same), though the
    // tree now has it last in its zone.
    s.observe_node(
        crate::etcd::EventType::Deleted,
        &node("metadata: {name: a-0}"),
    );
    s.add_node(&node(&zoned("a-0", "a")));
    assert_eq!(visited(&mut s), ["a-0", "b-1", "c-0", "a-1", "a-2"]);
    s.add_node(&node(&zoned("d-0", "d")));
    assert_eq!(visited(&mut s), ["a-1", "b-1", "c-0", "d-0", "a-0", "a-2"]);
    // A cycle over a visiting order that is not the index order: a pod
    // only c-0 takes lands there.
    let mut q = pod(
        "metadata: {name: q}\nspec: {nodeSelector: {kubernetes.io/hostname: c-0}, containers: [{name: c, image: x}]}",
    );
    q.metadata.uid = 9;
    let (decision, evaluated) = s.decide(&q, &PodResources::of(&q), 0);
    let super::Decision::Node { node: n, .. } = decision else {
        panic!("unschedulable")
    };
    assert_eq!(&*s.nodes[n].name, "c-0");
    assert_eq!(evaluated, 6);
}
