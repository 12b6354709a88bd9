//! The PodTopologySpread and InterPodAffinity test cases of
//! `benches/scheduler_perf/performance-config.yaml`, run small through
//! `kubesim::schedperf`: every pod is scheduled and the placements keep the
//! constraints (spread within maxSkew per zone, required affinity in one
//! zone, required anti-affinity one per node). Stricter variants are
//! written to scratch configurations where the bundled shape would pass
//! without the constraint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubesim::schedperf::{self, PerfResult, Placement};
use kubesim::sim::run::RunOptions;

use crate::support::*;

const ZONE: &str = "topology.kubernetes.io/zone";

fn bundled() -> PathBuf {
    repo().join("benches/scheduler_perf/performance-config.yaml")
}

fn template(name: &str) -> String {
    repo()
        .join("benches/scheduler_perf/templates")
        .join(name)
        .display()
        .to_string()
}

fn run(config: &Path, workload: &str) -> PerfResult {
    schedperf::run(config, workload, 1, &RunOptions::default())
        .unwrap_or_else(|e| panic!("{workload}: {e}"))
}

/// Runs `workload` and asserts every `createPods` pod was bound.
fn run_all_scheduled(config: &Path, workload: &str) -> PerfResult {
    let r = run(config, workload);
    assert_eq!(r.placements.len(), r.pods, "{workload}");
    let unbound: Vec<&str> = r
        .placements
        .iter()
        .filter(|p| p.node.is_none())
        .map(|p| p.name.as_str())
        .collect();
    assert!(unbound.is_empty(), "{workload}: unbound {unbound:?}");
    assert_eq!(r.scheduled, r.pods, "{workload}");
    r
}

/// The value of node label `key` where `p` runs.
fn label_of<'a>(r: &'a PerfResult, p: &Placement, key: &str) -> &'a str {
    let node = p.node.as_deref().expect("bound");
    r.node_labels[node]
        .get(key)
        .unwrap_or_else(|| panic!("node {node} has no {key}"))
}

/// Measured pods per value of node label `key`, every value of the
/// cluster's nodes present (0 where none landed).
fn measured_per(r: &PerfResult, key: &str) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = r
        .node_labels
        .values()
        .filter_map(|l| l.get(key))
        .map(|v| (v.clone(), 0))
        .collect();
    for p in r.placements.iter().filter(|p| p.measured) {
        *counts.get_mut(label_of(r, p, key)).unwrap() += 1;
    }
    counts
}

fn skew(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().max().unwrap() - counts.values().min().unwrap()
}

#[test]
fn topology_spreading_keeps_the_blue_pods_within_max_skew_per_zone() {
    let r = run_all_scheduled(&bundled(), "TopologySpreading/5Nodes");
    assert_eq!((r.nodes, r.pods, r.measured), (5, 20, 10));
    // Five nodes round-robin over three zones: 2, 2, 1.
    let mut nodes_per_zone = BTreeMap::new();
    for l in r.node_labels.values() {
        *nodes_per_zone.entry(l[ZONE].as_str()).or_insert(0) += 1;
    }
    assert_eq!(
        nodes_per_zone,
        BTreeMap::from([("moon-1", 2), ("moon-2", 2), ("moon-3", 1)])
    );
    let counts = measured_per(&r, ZONE);
    assert_eq!(counts.values().sum::<usize>(), 10);
    assert!(skew(&counts) <= 5, "{counts:?}");
    run_all_scheduled(&bundled(), "PreferredTopologySpreading/5Nodes");
}

#[test]
fn max_skew_one_evens_out_zones_of_unequal_size() {
    // Seven nodes over three zones (3, 2, 2): spreading by node alone would
    // give the first zone 9 of 21 pods; maxSkew 1 per zone allows 7 each.
    let dir = scratch("spread-skew-1");
    let pod = std::fs::read_to_string(template("pod-with-topology-spreading.yaml"))
        .unwrap()
        .replace("maxSkew: 5", "maxSkew: 1");
    assert!(pod.contains("maxSkew: 1"));
    write(&dir, "spread-1.yaml", &pod);
    let config = write(
        &dir,
        "config.yaml",
        &format!(
            "- name: Spread\n  workloadTemplate:\n  - opcode: createNodes\n    count: 7\n    labelNodePrepareStrategy: {{labelKey: {ZONE}, labelValues: [a, b, c]}}\n  - {{opcode: createPods, count: 7, podTemplatePath: {pause}}}\n  - {{opcode: createPods, count: 21, podTemplatePath: spread-1.yaml, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n",
            pause = template("pause-pod.yaml"),
        ),
    );
    let r = run_all_scheduled(&config, "Spread/w");
    let counts = measured_per(&r, ZONE);
    assert_eq!(counts.values().sum::<usize>(), 21);
    assert!(skew(&counts) <= 1, "{counts:?}");
}

#[test]
fn required_pod_affinity_puts_every_blue_pod_in_one_zone() {
    let r = run_all_scheduled(&bundled(), "SchedulingPodAffinity/5Nodes");
    assert_eq!((r.nodes, r.pods, r.measured), (5, 15, 10));
    assert!(r.node_labels.values().all(|l| l[ZONE] == "zone1"));
    // The pods of both namespaces.
    let namespaces: Vec<&str> = r.placements.iter().map(|p| p.namespace.as_str()).collect();
    assert_eq!(namespaces.iter().filter(|n| **n == "sched-0").count(), 5);
    assert_eq!(namespaces.iter().filter(|n| **n == "sched-1").count(), 10);

    // With three zones the affinity (across sched-0 and sched-1) must keep
    // all of them in the first one's zone.
    let dir = scratch("affinity-zones");
    let config = write(
        &dir,
        "config.yaml",
        &format!(
            "- name: Affinity\n  defaultPodTemplatePath: {pod}\n  workloadTemplate:\n  - opcode: createNodes\n    count: 6\n    labelNodePrepareStrategy: {{labelKey: {ZONE}, labelValues: [zone1, zone2, zone3]}}\n  - {{opcode: createNamespaces, prefix: sched, count: 2}}\n  - {{opcode: createPods, count: 5, namespace: sched-0}}\n  - {{opcode: createPods, count: 10, namespace: sched-1, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n",
            pod = template("pod-with-pod-affinity.yaml"),
        ),
    );
    let r = run_all_scheduled(&config, "Affinity/w");
    let zones: std::collections::BTreeSet<&str> =
        r.placements.iter().map(|p| label_of(&r, p, ZONE)).collect();
    assert_eq!(zones.len(), 1, "{zones:?}");
    // More than one node of that zone is used: the pods are not simply
    // stacked on one node.
    let nodes: std::collections::BTreeSet<_> = r.placements.iter().map(|p| &p.node).collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
}

#[test]
fn preferred_pod_affinity_and_anti_affinity_schedule_every_pod() {
    run_all_scheduled(&bundled(), "SchedulingPreferredPodAffinity/5Nodes");
    let r = run_all_scheduled(&bundled(), "SchedulingPreferredPodAntiAffinity/5Nodes");
    // Fifteen yellow pods preferring apart on five nodes: three each.
    let mut per_node = BTreeMap::new();
    for p in &r.placements {
        *per_node.entry(p.node.clone().unwrap()).or_insert(0) += 1;
    }
    assert_eq!(per_node.len(), 5, "{per_node:?}");
    assert!(per_node.values().all(|&n| n == 3), "{per_node:?}");
}

#[test]
fn required_anti_affinity_keeps_green_pods_on_distinct_nodes() {
    let r = run_all_scheduled(&bundled(), "SchedulingPodAntiAffinity/5Nodes");
    assert_eq!((r.nodes, r.pods, r.measured), (5, 5, 4));
    let hosts: std::collections::BTreeSet<&str> = r
        .placements
        .iter()
        .map(|p| label_of(&r, p, "kubernetes.io/hostname"))
        .collect();
    assert_eq!(hosts.len(), 5, "{hosts:?}");

    // Five green pods, three nodes: three bound on distinct nodes, two
    // left pending.
    let dir = scratch("anti-affinity-full");
    let config = write(
        &dir,
        "config.yaml",
        &format!(
            "- name: Anti\n  defaultPodTemplatePath: {pod}\n  workloadTemplate:\n  - {{opcode: createNodes, count: 3}}\n  - {{opcode: createNamespaces, prefix: sched, count: 2}}\n  - {{opcode: createPods, count: 1, namespace: sched-0}}\n  - {{opcode: createPods, count: 4, namespace: sched-1, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n",
            pod = template("pod-with-pod-anti-affinity.yaml"),
        ),
    );
    let r = run(&config, "Anti/w");
    let bound: Vec<&str> = r
        .placements
        .iter()
        .filter_map(|p| p.node.as_deref())
        .collect();
    let distinct: std::collections::BTreeSet<&str> = bound.iter().copied().collect();
    assert_eq!(bound.len(), 3, "{bound:?}");
    assert_eq!(distinct.len(), 3, "{bound:?}");
    assert_eq!(r.scheduled, 3);

    // The command line reports the shortfall.
    let o = kubesim(&[
        "bench",
        "--scheduler-perf",
        config.to_str().unwrap(),
        "--workload",
        "Anti/w",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("only 2 of the 4 measured pods were scheduled"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn unsupported_operation_fields_are_refused_by_name() {
    let dir = scratch("perf-bad-field");
    let config = write(
        &dir,
        "config.yaml",
        "- name: Steady\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 1, steadyState: true}\n  workloads:\n  - {name: w}\n",
    );
    let o = kubesim(&[
        "bench",
        "--scheduler-perf",
        config.to_str().unwrap(),
        "--workload",
        "Steady/w",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Steady operation 1 (createPods): field `steadyState` is not supported"),
        "{err}"
    );
}

#[test]
fn a_bench_that_cannot_schedule_its_pods_reports_no_throughput() {
    // Too few nodes for the pods: an error, and no throughput figures for
    // a measured phase that did not schedule them.
    let o = kubesim(&["bench", "--nodes", "2", "--pods", "500", "--init-pods", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("measured phase"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("only 80 of 500 pods were scheduled"));
}

#[test]
fn scheduling_only_runs_upstreams_setup_and_says_so() {
    let config = bundled();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--scheduler-perf",
            config.to_str().unwrap(),
            "--workload",
            "SchedulingBasic/5Nodes",
        ];
        args.extend_from_slice(extra);
        let o = kubesim(&args);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let events = |out: &str| -> u64 {
        let at = out.find(" events)").expect("an events count");
        let digits: String = out[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().unwrap()
    };
    let only = run(&["--scheduling-only"]);
    assert!(
        only.contains("(etcd, apiserver and scheduler only, as upstream scheduler_perf)"),
        "{only}"
    );
    let whole = run(&[]);
    assert!(whole.contains("(whole simulator)"), "{whole}");
    // No kubelet, kube-proxy or controller manager: far fewer events.
    assert!(events(&only) * 2 < events(&whole), "{only}\n{whole}");
}

/// `--runs` reruns the benchmark in fresh processes: one measured-phase
/// line per run, and a median between the least and the greatest of them.
#[test]
fn runs_report_every_run_and_their_median() {
    let o = kubesim(&[
        "bench",
        "--nodes=50",
        "--init-pods=10",
        "--pods=100",
        "--scheduling-only",
        "--runs=3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let rate = |line: &str| -> f64 {
        let end = line.find(" pods/s").expect("a rate");
        let start = line[..end].rfind(' ').unwrap() + 1;
        line[start..end].parse().unwrap()
    };
    let mut runs: Vec<f64> = (1..=3)
        .map(|i| {
            let prefix = format!("run {i} of 3: measured phase: 100 pods scheduled in ");
            let line = out.lines().find(|l| l.starts_with(&prefix));
            rate(line.unwrap_or_else(|| panic!("no run {i}:\n{out}")))
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let summary = out
        .lines()
        .find(|l| l.starts_with("measured phase over 3 runs: median "))
        .unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(
        summary.ends_with(&format!(
            "median {:.0} pods/s wall-clock, least {:.0}, greatest {:.0}",
            runs[1], runs[0], runs[2]
        )),
        "{summary} against {runs:?}"
    );
    // The first run's report is printed once, without its measured phase.
    assert_eq!(out.matches("modelled scheduler: ").count(), 1, "{out}");
    assert!(
        !out.lines().any(|l| l.starts_with("measured phase: ")),
        "{out}"
    );

    // A failing run stops the series with its exit code.
    let bad = kubesim(&[
        "bench",
        "--nodes=1",
        "--init-pods=0",
        "--pods=500",
        "--runs=2",
    ]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("run 1 of 2 failed"),
        "{bad:?}"
    );
    let zero = kubesim(&["bench", "--runs=0"]);
    assert_eq!(zero.status.code(), Some(2), "{zero:?}");
}

/// A node template that names its node (upstream's `node-with-name.yaml`)
/// gives exactly that name, which pods can select by `metadata.name`; it
/// cannot make more than one node. Unmeasured pods held by scheduling
/// gates do not stop the report; `barrier`'s `stageRequirement` takes
/// upstream's two values.
#[test]
fn named_node_templates_gated_pods_and_barrier_stages() {
    let dir = scratch("perf-named");
    write(
        &dir,
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: the-node\n  labels: {kubernetes.io/hostname: the-node}\nstatus:\n  capacity: {pods: '90000', cpu: '4', memory: 32Gi}\n",
    );
    write(
        &dir,
        "pinned.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: ds-}\nspec:\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchFields: [{key: metadata.name, operator: In, values: [the-node]}]\n  containers: [{name: pause, image: pause}]\n",
    );
    write(
        &dir,
        "gated.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: g-}\nspec:\n  schedulingGates: [{name: test.k8s.io/hold}]\n  containers: [{name: pause, image: pause}]\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        "- name: Named\n  defaultPodTemplatePath: pinned.yaml\n  workloadTemplate:\n  - {opcode: createNodes, count: 1, nodeTemplatePath: node.yaml}\n  - {opcode: createNodes, countParam: $n}\n  - {opcode: createPods, count: 3, podTemplatePath: gated.yaml, skipWaitToCompletion: true}\n  - {opcode: barrier, stageRequirement: Attempted}\n  - {opcode: createPods, count: 6, collectMetrics: true}\n  workloads:\n  - {name: w, params: {n: 4}}\n\
         - name: Two\n  workloadTemplate:\n  - {opcode: createNodes, count: 2, nodeTemplatePath: node.yaml}\n  workloads:\n  - {name: w}\n\
         - name: Stage\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: barrier, stageRequirement: Bound}\n  workloads:\n  - {name: w}\n",
    );
    let r = run(&config, "Named/w");
    assert_eq!((r.nodes, r.pods, r.measured), (5, 9, 6));
    assert!(
        r.node_labels.contains_key("the-node"),
        "{:?}",
        r.node_labels.keys()
    );
    assert_eq!(
        r.node_labels["the-node"]["kubernetes.io/hostname"],
        "the-node"
    );
    let placed = |measured: bool| {
        r.placements
            .iter()
            .filter(|p| p.measured == measured)
            .map(|p| p.node.as_deref())
            .collect::<Vec<_>>()
    };
    assert_eq!(placed(true), vec![Some("the-node"); 6]);
    assert_eq!(placed(false), vec![None; 3], "the gated pods stay unbound");
    let o = kubesim(&[
        "bench",
        "--scheduler-perf",
        config.to_str().unwrap(),
        "--workload",
        "Named/w",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("measured phase: 6 pods scheduled"));
    let err = schedperf::run(&config, "Two/w", 1, &RunOptions::default()).unwrap_err();
    assert!(
        err.contains("names node 1 `the-node`, as it named an earlier one of this operation"),
        "{err}"
    );
    let err = schedperf::run(&config, "Stage/w", 1, &RunOptions::default()).unwrap_err();
    assert!(
        err.contains("`stageRequirement` must be `Scheduled` or `Attempted`, got Bound"),
        "{err}"
    );
}

/// `deletePods` deletes the pods earlier operations created in its
/// namespace that its `labelSelector` matches, `deletePodsPerSecond` apart;
/// a pod with a finalizer stays, terminating (its deletion is requested,
/// it is not removed).
#[test]
fn delete_pods_takes_the_namespace_s_matching_pods_at_its_rate() {
    let dir = scratch("perf-delete");
    write(
        &dir,
        "blue.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: blue-, labels: {color: blue}}\nspec: {terminationGracePeriodSeconds: 0, containers: [{name: pause, image: pause}]}\n",
    );
    write(
        &dir,
        "red.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: red-, labels: {color: red}}\nspec: {containers: [{name: pause, image: pause}]}\n",
    );
    write(
        &dir,
        "held.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: held-, finalizers: [test.k8s.io/finalizer]}\nspec: {containers: [{name: pause, image: pause}]}\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        "- name: Delete\n  workloadTemplate:\n  - {opcode: createNodes, count: 2}\n  - {opcode: createPods, count: 4, podTemplatePath: blue.yaml, namespace: d}\n  - {opcode: createPods, count: 2, podTemplatePath: red.yaml, namespace: d}\n  - {opcode: createPods, count: 2, podTemplatePath: blue.yaml, namespace: other}\n  - {opcode: deletePods, namespace: d, labelSelector: {color: blue}, deletePodsPerSecond: 2, skipWaitToCompletion: true}\n  - {opcode: createPods, count: 3, collectMetrics: true}\n  workloads:\n  - {name: w}\n\
         - name: Held\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 1, podTemplatePath: held.yaml, namespace: h}\n  - {opcode: deletePods, namespace: h}\n  workloads:\n  - {name: w}\n",
    );
    let r = run(&config, "Delete/w");
    let deleted: Vec<(usize, u64)> = r
        .placements
        .iter()
        .filter_map(|p| p.deleted.map(|t| (p.op, t)))
        .collect();
    // The four blue pods of namespace d (operation 1), half a second apart.
    assert_eq!(deleted.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1; 4]);
    let mut times: Vec<u64> = deleted.iter().map(|d| d.1).collect();
    times.sort_unstable();
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for g in gaps {
        assert!(
            (490_000_000..510_000_000).contains(&g),
            "{g} ns between deletes"
        );
    }
    assert_eq!(r.measured_bound, 3);
    let held = run(&config, "Held/w");
    assert!(
        held.placements[0].deleted.is_some(),
        "its deletion was requested"
    );
}

/// A node template's taints and `unschedulable` make the nodes' (the
/// tainted node still counts as a spreading domain, as upstream's default
/// `nodeTaintsPolicy: Ignore` has it); a template with Go template
/// placeholders is refused rather than taken literally.
#[test]
fn node_template_taints_count_and_placeholders_are_refused() {
    let dir = scratch("perf-taints");
    write(
        &dir,
        "tainted.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {generateName: taint-}\nspec:\n  taints: [{key: foo, effect: NoSchedule}]\nstatus: {capacity: {pods: '110', cpu: '4', memory: 32Gi}}\n",
    );
    write(
        &dir,
        "cordoned.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {generateName: off-}\nspec: {unschedulable: true}\nstatus: {capacity: {pods: '110', cpu: '4', memory: 32Gi}}\n",
    );
    write(
        &dir,
        "spread.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: s-, labels: {foo: bar}}\nspec:\n  containers: [{name: pause, image: pause}]\n  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {foo: bar}}}\n",
    );
    write(
        &dir,
        "indexed.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: 'p-{{ .Index }}'}\nspec: {containers: [{name: pause, image: pause}]}\n",
    );
    write(
        &dir,
        "modded.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: 'p-{{ Mod .Index .groups }}'}\nspec: {containers: [{name: pause, image: pause}]}\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        "- name: Taint\n  defaultPodTemplatePath: spread.yaml\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createNodes, count: 1, nodeTemplatePath: tainted.yaml}\n  - {opcode: createNodes, count: 2, nodeTemplatePath: cordoned.yaml}\n  - {opcode: createPods, count: 2, collectMetrics: true}\n  workloads:\n  - {name: w}\n\
         - name: Indexed\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 2, podTemplatePath: indexed.yaml}\n  workloads:\n  - {name: w}\n\
         - name: Modded\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 2, podTemplatePath: modded.yaml}\n  workloads:\n  - {name: w}\n",
    );
    let r = run(&config, "Taint/w");
    let nodes: Vec<Option<&str>> = r.placements.iter().map(|p| p.node.as_deref()).collect();
    // One pod on the untainted node; the second would make a skew of 2
    // against the tainted node's 0; the cordoned nodes take none either.
    assert_eq!(r.measured_bound, 1, "{nodes:?}");
    assert!(nodes.contains(&Some("node-0-0")), "{nodes:?}");
    // `{{ .Index }}` is filled in per pod; other constructs are named.
    assert_eq!(run(&config, "Indexed/w").scheduled, 2);
    let err = schedperf::run(&config, "Modded/w", 1, &RunOptions::default()).unwrap_err();
    assert!(
        err.contains("modded.yaml: `{{ Mod .Index .groups }}` is not supported"),
        "{err}"
    );
}

/// Upstream's SchedulingRequiredPodAffinityWithNSSelector, bundled: the
/// pods of every team=devops namespace (createPodSets' and the measured
/// one's) share one zone, and a stricter variant with three zones keeps
/// them there.
#[test]
fn namespace_selector_affinity_spans_the_selected_namespaces() {
    let r = run_all_scheduled(
        &bundled(),
        "SchedulingRequiredPodAffinityWithNSSelector/10Nodes",
    );
    assert_eq!((r.nodes, r.pods, r.measured), (10, 14, 10));
    let namespaces: std::collections::BTreeSet<&str> =
        r.placements.iter().map(|p| p.namespace.as_str()).collect();
    assert_eq!(
        namespaces.into_iter().collect::<Vec<_>>(),
        ["init-ns-0", "init-ns-1", "measure-ns-0"]
    );
    let dir = scratch("ns-selector-zones");
    let config = write(
        &dir,
        "config.yaml",
        &format!(
            "- name: C\n  defaultPodTemplatePath: {pod}\n  workloadTemplate:\n  - opcode: createNodes\n    count: 9\n    labelNodePrepareStrategy: {{labelKey: {ZONE}, labelValues: [zone1, zone2, zone3]}}\n  - {{opcode: createNamespaces, prefix: init-ns, count: 3, namespaceTemplatePath: {ns}}}\n  - {{opcode: createPodSets, count: 3, namespacePrefix: init-ns, createPodsOp: {{opcode: createPods, count: 3}}}}\n  - {{opcode: createPods, count: 6, namespace: init-ns-1, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n",
            pod = template("pod-with-pod-affinity-ns-selector.yaml"),
            ns = template("namespace-devops.yaml"),
        ),
    );
    let r = run_all_scheduled(&config, "C/w");
    assert_eq!(r.pods, 15);
    let zones: std::collections::BTreeSet<&str> =
        r.placements.iter().map(|p| label_of(&r, p, ZONE)).collect();
    assert_eq!(zones.len(), 1, "{zones:?}");
}

/// A second `createNamespaces` over names an earlier one made does not
/// fail and does not relabel them (upstream's namespacePreparer counts
/// AlreadyExists as done): `init-ns-0` stays unlabelled, so its pods,
/// whose affinity asks for pods of team=devops namespaces, match nothing
/// and stay pending, while those of the newly made, labelled `init-ns-1`
/// match themselves.
#[test]
fn a_namespace_made_twice_keeps_its_first_labels() {
    let dir = scratch("ns-twice");
    let case = |name: &str, ns_index: usize| {
        format!(
            "- name: {name}\n  defaultPodTemplatePath: {pod}\n  workloadTemplate:\n  - opcode: createNodes\n    count: 3\n    labelNodePrepareStrategy: {{labelKey: {ZONE}, labelValues: [zone1, zone2, zone3]}}\n  - {{opcode: createNamespaces, prefix: init-ns, count: 1}}\n  - {{opcode: createNamespaces, prefix: init-ns, count: 2, namespaceTemplatePath: {ns}}}\n  - {{opcode: createPods, count: 2, namespace: init-ns-{ns_index}, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n",
            pod = template("pod-with-pod-affinity-ns-selector.yaml"),
            ns = template("namespace-devops.yaml"),
        )
    };
    let config = write(
        &dir,
        "config.yaml",
        &(case("First", 0) + &case("Second", 1)),
    );
    let r = run(&config, "First/w");
    assert_eq!((r.measured, r.measured_bound), (2, 0));
    let r = run(&config, "Second/w");
    assert_eq!((r.measured, r.measured_bound), (2, 2));
}

/// A Namespace that `createAny` made is one a later `createPods` finds
/// made: its labels stay, so the pods, whose affinity asks for pods of
/// team=devops namespaces, match each other and are scheduled.
#[test]
fn a_namespace_made_by_create_any_keeps_its_labels() {
    let dir = scratch("ns-any");
    write(
        &dir,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: init-ns-0, labels: {team: devops}}\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        &format!(
            "- name: C\n  defaultPodTemplatePath: {pod}\n  workloadTemplate:\n  - opcode: createNodes\n    count: 3\n    labelNodePrepareStrategy: {{labelKey: {ZONE}, labelValues: [zone1, zone2, zone3]}}\n  - {{opcode: createAny, templatePath: ns.yaml}}\n  - {{opcode: createPods, count: 2, namespace: init-ns-0, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n",
            pod = template("pod-with-pod-affinity-ns-selector.yaml"),
        ),
    );
    let r = run(&config, "C/w");
    assert_eq!((r.measured, r.measured_bound), (2, 2));
}

/// Upstream's SchedulingWithMixedChurn, bundled: Nodes, 9-cpu pods and
/// Services churn while the measured pods are scheduled; every measured
/// pod is bound to a node of `createNodes` (a churned Node takes no pods).
#[test]
fn mixed_churn_schedules_every_measured_pod_on_the_created_nodes() {
    let r = run(&bundled(), "SchedulingWithMixedChurn/1000Nodes");
    assert_eq!((r.nodes, r.measured, r.measured_bound), (1000, 1000, 1000));
    for p in r.placements.iter().filter(|p| p.measured) {
        let node = p.node.as_deref().expect("bound");
        assert!(r.node_labels.contains_key(node), "{} on {node}", p.name);
    }
}

/// Upstream's SchedulingDeletedPodsWithFinalizers shape: `createPods` with
/// `skipWaitToCompletion` lets the deletes start at once, in no particular
/// order, so some pods are deleted (and held by their finalizer) before
/// they are scheduled, which the scheduler then skips; a `barrier` after a
/// skipped wait lets the pods be scheduled first.
#[test]
fn deletes_overtake_scheduling_without_a_wait_and_a_barrier_restores_it() {
    let dir = scratch("perf-skip");
    write(
        &dir,
        "held.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: held-, finalizers: [test.k8s.io/finalizer]}\nspec: {containers: [{name: pause, image: pause, resources: {requests: {cpu: 10m}}}]}\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        "- name: Skip\n  workloadTemplate:\n  - {opcode: createNodes, count: 10}\n  - {opcode: createPods, count: 400, podTemplatePath: held.yaml, skipWaitToCompletion: true}\n  - {opcode: deletePods, namespace: namespace-1, deletePodsPerSecond: 100, skipWaitToCompletion: true}\n  - {opcode: createPods, count: 10, collectMetrics: true}\n  workloads:\n  - {name: w}\n\
         - name: Barrier\n  workloadTemplate:\n  - {opcode: createNodes, count: 10}\n  - {opcode: createPods, count: 400, podTemplatePath: held.yaml, skipWaitToCompletion: true}\n  - {opcode: barrier}\n  - {opcode: deletePods, namespace: namespace-1, deletePodsPerSecond: 100, skipWaitToCompletion: true}\n  - {opcode: createPods, count: 10, collectMetrics: true}\n  workloads:\n  - {name: w}\n",
    );
    let unbound_deleted = |r: &PerfResult| {
        r.placements
            .iter()
            .filter(|p| p.op == 1 && p.node.is_none() && p.deleted.is_some())
            .count()
    };
    let r = run(&config, "Skip/w");
    assert_eq!(r.measured_bound, 10);
    assert!(
        unbound_deleted(&r) > 0,
        "no pod was deleted before its binding"
    );
    let r = run(&config, "Barrier/w");
    assert_eq!(r.measured_bound, 10);
    assert_eq!(unbound_deleted(&r), 0);
}

/// `createAny` creates objects of any modelled kind from a template before
/// the next operation: a PriorityClass the pods then name (the apiserver
/// would refuse them without it); a named template makes one object, and
/// a cluster-scoped kind takes no namespace.
#[test]
fn create_any_makes_the_objects_later_operations_need() {
    let dir = scratch("perf-any");
    write(
        &dir,
        "class.yaml",
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: batch}\nvalue: 100\n",
    );
    write(
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec: {priorityClassName: batch, containers: [{name: pause, image: pause}]}\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        "- name: Any\n  workloadTemplate:\n  - {opcode: createNodes, count: 2}\n  - {opcode: createAny, templatePath: class.yaml}\n  - {opcode: createPods, count: 4, podTemplatePath: pod.yaml, collectMetrics: true}\n  workloads:\n  - {name: w}\n\
         - name: Twice\n  workloadTemplate:\n  - {opcode: createAny, templatePath: class.yaml, count: 2}\n  workloads:\n  - {name: w}\n\
         - name: Scoped\n  workloadTemplate:\n  - {opcode: createAny, templatePath: class.yaml, namespace: a}\n  workloads:\n  - {name: w}\n",
    );
    let r = run_all_scheduled(&config, "Any/w");
    assert_eq!(r.measured_bound, 4);
    let err = |w: &str| schedperf::run(&config, w, 1, &RunOptions::default()).unwrap_err();
    assert!(
        err("Twice/w").contains("only one can be created"),
        "{}",
        err("Twice/w")
    );
    assert!(
        err("Scoped/w").contains("cluster-scoped"),
        "{}",
        err("Scoped/w")
    );
}

/// A node template of Nodes `off-0` .. (cordoned unless `on`), named by
/// `{{ .Index }}` as upstream's event-handling templates name theirs.
fn off_node(extra: &str, on: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: off-{{{{ .Index }}}}\n{extra}spec:\n  unschedulable: {}\nstatus:\n  capacity: {{pods: '110', cpu: '4', memory: 32Gi}}\n",
        !on
    )
}

/// A configuration whose case `name` creates two cordoned nodes, then
/// pods of `pod_template` that wait for them, then runs `update` (an
/// operation, or none) and waits for the pods.
fn uncordon_case(name: &str, pod_template: &str, update: &str) -> String {
    format!(
        "- name: {name}\n  workloadTemplate:\n  - {{opcode: startCollectingMetrics, namespaces: [a]}}\n  - {{opcode: createNodes, count: 2, nodeTemplatePath: off.yaml}}\n  - {{opcode: createPods, count: 4, namespace: a, podTemplatePath: {pod_template}, skipWaitToCompletion: true}}\n  - {{opcode: barrier, stageRequirement: Attempted}}\n{update}  - {{opcode: barrier}}\n  - {{opcode: stopCollectingMetrics}}\n  workloads:\n  - {{name: w, params: {{nodes: 2}}}}\n"
    )
}

/// updateAny replaces each Node with its rendering of the template; a
/// change of spec.unschedulable reaches the scheduler as a Node update,
/// which moves the pods it had found unschedulable. Without the update
/// they stay pending; with it they bind only after it, on the nodes it
/// uncordoned, at `updatePerSecond` in virtual time.
#[test]
fn update_any_uncordons_nodes_and_the_waiting_pods_bind_after_it() {
    let dir = scratch("perf-update-any");
    write(&dir, "off.yaml", &off_node("", false));
    write(&dir, "on.yaml", &off_node("", true));
    write(
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec: {containers: [{name: pause, image: pause}]}\n",
    );
    write(
        &dir,
        "pinned.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec:\n  nodeSelector: {kubernetes.io/hostname: off-1}\n  containers: [{name: pause, image: pause}]\n",
    );
    let config = write(
        &dir,
        "config.yaml",
        &[
            uncordon_case("Never", "pod.yaml", ""),
            uncordon_case(
                "One",
                "pod.yaml",
                "  - {opcode: updateAny, templatePath: on.yaml}\n",
            ),
            uncordon_case(
                "Paced",
                "pinned.yaml",
                "  - {opcode: updateAny, countParam: $nodes, templatePath: on.yaml, updatePerSecond: 1}\n",
            ),
            uncordon_case(
                "AtOnce",
                "pinned.yaml",
                "  - {opcode: updateAny, countParam: $nodes, templatePath: on.yaml}\n",
            ),
        ]
        .concat(),
    );
    let never = run(&config, "Never/w");
    assert_eq!((never.measured, never.measured_bound), (4, 0));
    // The barrier that waits for the pods to be attempted ends at 60 s.
    let one = run(&config, "One/w");
    assert_eq!(one.measured_bound, 4);
    let nodes: Vec<Option<&str>> = one.placements.iter().map(|p| p.node.as_deref()).collect();
    assert!(nodes.iter().all(|n| *n == Some("off-0")), "{nodes:?}");
    assert!(
        (60.0..61.0).contains(&one.virtual_span_s),
        "{}",
        one.virtual_span_s
    );
    // One update a second, the first a second in: off-1 is uncordoned at
    // 62 s (the pods, tried again at 61 s when off-0 was, are then backing
    // off for two seconds more); all at once, at 60 s.
    for (case, from) in [("Paced/w", 62.0), ("AtOnce/w", 60.0)] {
        let r = run(&config, case);
        assert_eq!(r.measured_bound, 4, "{case}");
        assert!(
            r.placements
                .iter()
                .all(|p| p.node.as_deref() == Some("off-1")),
            "{case}"
        );
        assert!(
            (from..from + 2.0).contains(&r.virtual_span_s),
            "{case}: {}",
            r.virtual_span_s
        );
    }
}

/// updateAny uncordons Nodes a later `createNodes` made, both through the
/// whole simulator (machines that joined) and with upstream's setup (API
/// objects with no machine): the waiting pods bind on them after it.
#[test]
fn update_any_reaches_the_nodes_of_a_later_create_nodes_in_both_setups() {
    let dir = scratch("perf-update-any-later");
    write(&dir, "off.yaml", &off_node("", false));
    write(&dir, "on.yaml", &off_node("", true));
    let config = write(
        &dir,
        "config.yaml",
        "- name: Later\n  workloadTemplate:\n  - {opcode: createPods, count: 1, namespace: z, skipWaitToCompletion: true}\n  - {opcode: createNodes, count: 2, nodeTemplatePath: off.yaml}\n  - {opcode: startCollectingMetrics, namespaces: [a]}\n  - {opcode: createPods, count: 4, namespace: a, skipWaitToCompletion: true}\n  - {opcode: barrier, stageRequirement: Attempted}\n  - {opcode: updateAny, countParam: $nodes, templatePath: on.yaml}\n  - {opcode: barrier}\n  - {opcode: stopCollectingMetrics}\n  workloads:\n  - {name: w, params: {nodes: 2}}\n",
    );
    for scheduling_only in [false, true] {
        let opts = RunOptions {
            scheduling_only,
            ..RunOptions::default()
        };
        let r = schedperf::run(&config, "Later/w", 1, &opts)
            .unwrap_or_else(|e| panic!("scheduling_only {scheduling_only}: {e}"));
        assert_eq!(
            (r.measured, r.measured_bound),
            (4, 4),
            "scheduling_only {scheduling_only}"
        );
        assert!(
            r.placements
                .iter()
                .filter(|p| p.measured)
                .all(|p| p.node.as_deref().is_some_and(|n| n.starts_with("off-"))),
            "scheduling_only {scheduling_only}: {:?}",
            r.placements
        );
    }
}

/// updateAny replaces a Node's labels and taints (a PUT of the Node) and,
/// with upstream's setup, its capacity (a PUT of its status), as
/// upstream's EventHandlingNodeUpdate does: pods that need all three (a
/// node selector, a toleration of the new taint, a cpu request the old
/// capacity refuses) stay pending after any one of them alone and bind
/// after the update that makes all three, on the updated nodes.
#[test]
fn update_any_changes_labels_taints_and_capacity_and_the_pods_bind_after_it() {
    let dir = scratch("perf-update-any-fields");
    let node = |labels: &str, taint: &str, cpu: &str| {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: off-{{{{ .Index }}}}\n{labels}spec:\n  taints: [{{key: {taint}, effect: NoSchedule}}]\nstatus:\n  capacity: {{pods: '110', cpu: '{cpu}', memory: 32Gi}}\n"
        )
    };
    write(&dir, "off.yaml", &node("", "old", "0.0001"));
    write(
        &dir,
        "labels.yaml",
        &node("  labels: {zone: a}\n", "old", "0.0001"),
    );
    write(&dir, "taint.yaml", &node("", "new", "0.0001"));
    write(&dir, "capacity.yaml", &node("", "old", "4"));
    write(&dir, "all.yaml", &node("  labels: {zone: a}\n", "new", "4"));
    write(
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec:\n  nodeSelector: {zone: a}\n  tolerations: [{key: new, operator: Exists, effect: NoSchedule}]\n  containers: [{name: pause, image: pause, resources: {requests: {cpu: 500m}}}]\n",
    );
    let update =
        |t: &str| format!("  - {{opcode: updateAny, countParam: $nodes, templatePath: {t}}}\n");
    let config = write(
        &dir,
        "config.yaml",
        &[
            uncordon_case("Labels", "pod.yaml", &update("labels.yaml")),
            uncordon_case("Taint", "pod.yaml", &update("taint.yaml")),
            uncordon_case("Capacity", "pod.yaml", &update("capacity.yaml")),
            uncordon_case("All", "pod.yaml", &update("all.yaml")),
            uncordon_case("AllHintsOff", "pod.yaml", &update("all.yaml")).replace(
                "params: {nodes: 2}}",
                "params: {nodes: 2}, featureGates: {SchedulerQueueingHints: false}}",
            ),
        ]
        .concat(),
    );
    let opts = RunOptions {
        scheduling_only: true,
        ..RunOptions::default()
    };
    for case in ["Labels/w", "Taint/w", "Capacity/w"] {
        let r = schedperf::run(&config, case, 1, &opts).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!((r.measured, r.measured_bound), (4, 0), "{case}");
    }
    // The barrier that waits for the pods to be attempted ends at 60 s;
    // the update is made then: the PUT of the Node and the PUT of its
    // status, after which the pods fit and bind. With the queueing hints
    // on, the Node's PUT makes its taint tolerated, which TaintToleration
    // (the plugin that rejected the pods) answers with Queue: they are
    // tried at once and, when the status PUT has not landed yet (it
    // depends on the latencies drawn, so on the seed),
    // NodeResourcesFit rejects them (the old capacity) and the status
    // PUT's allocatable queues them again after their 2 s backoff. With
    // the hints off, the Node's PUT moves no pod (upstream's
    // preCheckForNode: they do not fit the old capacity yet), and the
    // status PUT moves them with their backoff long over, whatever the
    // seed.
    let mut spans = BTreeMap::new();
    for seed in 1..=6 {
        for case in ["All/w", "AllHintsOff/w"] {
            let r = schedperf::run(&config, case, seed, &opts).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((r.measured, r.measured_bound), (4, 4), "{case}");
            assert!(
                r.placements
                    .iter()
                    .all(|p| p.node.as_deref().is_some_and(|n| n.starts_with("off-"))),
                "{case}: {:?}",
                r.placements
            );
            let at = r.virtual_span_s;
            let path = if (60.0..61.0).contains(&at) {
                "at once"
            } else if (62.0..63.0).contains(&at) {
                "after a backoff"
            } else {
                panic!("{case}, seed {seed}: {at}")
            };
            spans
                .entry((case, path))
                .or_insert_with(Vec::new)
                .push(seed);
        }
    }
    assert!(
        !spans.contains_key(&("AllHintsOff/w", "after a backoff")),
        "{spans:?}"
    );
    assert!(
        spans.contains_key(&("All/w", "after a backoff")),
        "{spans:?}"
    );
    assert!(spans.contains_key(&("All/w", "at once")), "{spans:?}");
}

/// What kubesim cannot update as upstream does, and malformed operations,
/// are refused with the operation, the template and the field named.
#[test]
fn update_any_refuses_what_it_cannot_update_by_name() {
    let dir = scratch("perf-update-any-bad");
    write(&dir, "off.yaml", &off_node("", false));
    write(&dir, "on.yaml", &off_node("", true));
    write(
        &dir,
        "bad-label.yaml",
        &off_node("  labels: {'not a key': a}\n", false),
    );
    write(
        &dir,
        "bad-taint.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: 'off-{{ .Index }}'}\nspec:\n  unschedulable: true\n  taints: [{key: -k, effect: NoSchedule}]\nstatus: {capacity: {pods: '110', cpu: '4', memory: 32Gi}}\n",
    );
    write(
        &dir,
        "bigger.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: 'off-{{ .Index }}'}\nspec: {unschedulable: true}\nstatus: {capacity: {pods: '110', cpu: '8', memory: 32Gi}}\n",
    );
    write(
        &dir,
        "stranger.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: 'nobody-{{ .Index }}'}\n",
    );
    write(
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: 'p-{{ .Index }}'}\nspec: {containers: [{name: pause, image: pause}]}\n",
    );
    let case = |update: &str| {
        format!(
            "- name: U\n  workloadTemplate:\n  - {{opcode: createNodes, count: 2, nodeTemplatePath: off.yaml}}\n  - {{opcode: createPods, count: 1, skipWaitToCompletion: true}}\n  - {update}\n  workloads:\n  - {{name: w, params: {{n: 2}}}}\n"
        )
    };
    for (update, wanted) in [
        (
            "{opcode: updateAny, templatePath: bad-label.yaml}",
            "U operation 2 (updateAny): template bad-label.yaml (rendered for index 0): metadata.labels: key `not a key`",
        ),
        (
            "{opcode: updateAny, countParam: $n, templatePath: bad-taint.yaml}",
            "(rendered for index 0): spec.taints[0]: key `-k`",
        ),
        // Through the whole simulator each node's kubelet owns its status.
        (
            "{opcode: updateAny, templatePath: bigger.yaml}",
            "U operation 2 (updateAny): template bigger.yaml (rendered for index 0) changes node `off-0`'s status.capacity ({cpu=4, memory=34359738368, pods=110} to {cpu=8, memory=34359738368, pods=110}): through the whole simulator",
        ),
        (
            "{opcode: updateAny, templatePath: stranger.yaml}",
            "names node `nobody-0`, which no earlier createNodes operation made",
        ),
        (
            "{opcode: updateAny, templatePath: on.yaml, namespace: a}",
            "namespace \"a\" set for on.yaml, but a Node is cluster-scoped",
        ),
        (
            "{opcode: updateAny, templatePath: pod.yaml, namespace: namespace-1}",
            "names pod `namespace-1/p-0`, which no earlier createPods operation made",
        ),
        (
            "{opcode: updateAny, templatePath: on.yaml, subresources: [resize]}",
            "template on.yaml is a Node: `subresources: [resize]` resizes a Pod",
        ),
        (
            "{opcode: updateAny, templatePath: on.yaml, updatePerSecond: -1}",
            "`updatePerSecond` must be a non-negative integer",
        ),
        (
            "{opcode: updateAny, countParam: $nope, templatePath: on.yaml}",
            "`countParam: $nope`: the workload has no param `nope`",
        ),
        ("{opcode: updateAny}", "needs a `templatePath`"),
        (
            "{opcode: updateAny, templatePath: on.yaml, patch: true}",
            "field `patch` is not supported",
        ),
        (
            "{opcode: updateAny, templatePath: missing.yaml}",
            "missing.yaml: No such file",
        ),
    ] {
        let config = write(&dir, "config.yaml", &case(update));
        let e = schedperf::run(&config, "U/w", 1, &RunOptions::default()).unwrap_err();
        assert!(e.contains(wanted), "{update}: {e}");
    }
}

/// A configuration of pods that bound pods block, each kind freed by an
/// `updateAny` of the blockers (`updates`) or of the waiting pods
/// themselves: three blockers on node `solo` use 900Mi of its 1000Mi and
/// carry labels `app: b-N`; `shy` pods refuse to share a node with them
/// (required anti-affinity), `big` pods want 200Mi each, and `tol` pods
/// are pinned to the tainted node `spot` without tolerating its taint.
fn pod_update_config(dir: &Path, updates: &str) -> PathBuf {
    write(
        dir,
        "solo.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: solo}\nstatus:\n  capacity: {pods: '110', cpu: '4', memory: 1000Mi}\n",
    );
    write(
        dir,
        "spot.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: spot}\nspec:\n  taints: [{key: spot, effect: NoSchedule}]\nstatus:\n  capacity: {pods: '110', cpu: '4', memory: 1000Mi}\n",
    );
    let blocker = |labels: &str, image: &str, memory: &str, node: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: blocker-{{{{ .Index }}}}\n{labels}spec:\n{node}  containers: [{{name: c, image: {image}, resources: {{requests: {{cpu: 10m, memory: {memory}}}}}}}]\n"
        )
    };
    write(
        dir,
        "blocker.yaml",
        &blocker("  labels: {app: b-{{ .Index }}}\n", "pause:1", "300Mi", ""),
    );
    let pinned = "  nodeName: solo\n";
    write(
        dir,
        "relabel.yaml",
        &blocker("", "pause:2", "300Mi", pinned),
    );
    write(dir, "shrink.yaml", &blocker("", "pause:1", "10Mi", pinned));
    write(dir, "grow.yaml", &blocker("", "pause:2", "900Mi", pinned));
    write(
        dir,
        "shy.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: shy-}\nspec:\n  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: 'b-{{ .Index }}'}}\n        topologyKey: kubernetes.io/hostname\n        namespaces: [blockers]\n  containers: [{name: c, image: pause}]\n",
    );
    write(
        dir,
        "big.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: big-}\nspec:\n  nodeSelector: {kubernetes.io/hostname: solo}\n  containers: [{name: c, image: pause, resources: {requests: {memory: 200Mi}}}]\n",
    );
    let tol = |extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: 'tol-{{{{ .Index }}}}'}}\nspec:\n  nodeSelector: {{kubernetes.io/hostname: spot}}\n{extra}  containers: [{{name: c, image: pause}}]\n"
        )
    };
    write(dir, "tol.yaml", &tol(""));
    write(
        dir,
        "tolerate.yaml",
        &tol("  tolerations: [{key: spot, operator: Exists, effect: NoSchedule}]\n"),
    );
    write(
        dir,
        "config.yaml",
        &format!(
            "- name: PodUpdates\n  workloadTemplate:\n  - {{opcode: createNodes, count: 1, nodeTemplatePath: solo.yaml}}\n  - {{opcode: createNodes, count: 1, nodeTemplatePath: spot.yaml}}\n  - {{opcode: createPods, count: 3, namespace: blockers, podTemplatePath: blocker.yaml}}\n  - {{opcode: startCollectingMetrics, namespaces: [waiting]}}\n  - {{opcode: createPods, count: 3, namespace: waiting, podTemplatePath: shy.yaml, skipWaitToCompletion: true}}\n  - {{opcode: createPods, count: 3, namespace: waiting, podTemplatePath: big.yaml, skipWaitToCompletion: true}}\n  - {{opcode: createPods, count: 3, namespace: waiting, podTemplatePath: tol.yaml, skipWaitToCompletion: true}}\n  - {{opcode: barrier, stageRequirement: Attempted}}\n{updates}  - {{opcode: barrier}}\n  - {{opcode: stopCollectingMetrics}}\n  workloads:\n  - {{name: w, params: {{n: 3}}}}\n"
        ),
    )
}

const RELABEL: &str = "  - {opcode: updateAny, countParam: $n, namespace: blockers, templatePath: relabel.yaml, updatePerSecond: 100}\n";
const SHRINK: &str = "  - {opcode: updateAny, countParam: $n, namespace: blockers, templatePath: shrink.yaml, updatePerSecond: 100, subresources: [resize]}\n";
const TOLERATE: &str =
    "  - {opcode: updateAny, countParam: $n, namespace: waiting, templatePath: tolerate.yaml}\n";

fn pod_update_run(config: &Path, hints: bool) -> PerfResult {
    let opts = RunOptions {
        scheduling_only: true,
        queueing_hints: Some(hints),
        ..RunOptions::default()
    };
    schedperf::run(config, "PodUpdates/w", 1, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// The measured pods bound, by the prefix of their template's name.
fn bound_by_kind(r: &PerfResult) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for p in r.placements.iter().filter(|p| p.node.is_some()) {
        for kind in ["shy", "big", "tol"] {
            if p.name.contains(&format!("-{kind}-")) {
                *out.entry(kind).or_insert(0) += 1;
            }
        }
    }
    out
}

/// updateAny of Pods (upstream's EventHandlingPodUpdate shape): relabelled
/// blockers free the pods that shunned their labels, blockers resized
/// through the `resize` subresource free the room the big pods want, and
/// tolerations added to the pinned pods let them onto the tainted node.
/// Without the updates none binds. With the queueing hints off, a
/// relabel moves only the pods whose affinity terms select the new
/// labels (upstream's getUnschedulablePodsWithCrossTopologyTerm), so the
/// shy pods wait for the five-minute flush, past the run.
#[test]
fn update_any_of_pods_relabels_resizes_and_tolerates() {
    let dir = scratch("perf-pod-updates");
    let none = pod_update_run(&pod_update_config(&dir, ""), true);
    assert_eq!((none.measured, none.measured_bound), (9, 0));
    let config = pod_update_config(&dir, &[RELABEL, SHRINK, TOLERATE].concat());
    let on = pod_update_run(&config, true);
    assert_eq!(on.measured_bound, 9);
    let all = BTreeMap::from([("big", 3), ("shy", 3), ("tol", 3)]);
    assert_eq!(bound_by_kind(&on), all);
    let off = pod_update_run(&config, false);
    assert_eq!(
        bound_by_kind(&off),
        BTreeMap::from([("big", 3), ("tol", 3)])
    );
    // Relabelled but not resized: the big pods still find no room.
    let relabel_only = pod_update_run(&pod_update_config(&dir, RELABEL), true);
    assert_eq!(bound_by_kind(&relabel_only), BTreeMap::from([("shy", 3)]));
}

/// An update the apiserver would refuse is refused when the configuration
/// is read, with the operation, template and index named: a plain update
/// changing resources (which only the resize subresource changes) and a
/// resize through the whole simulator, where no kubelet actuates it; so
/// are a pod no createPods made, a Pod update without a namespace and a
/// subresource other than `resize`.
#[test]
fn update_any_of_pods_refuses_what_the_apiserver_would() {
    let dir = scratch("perf-pod-update-refusals");
    let refused = |updates: &str, scheduling_only: bool| {
        let config = pod_update_config(&dir, updates);
        let opts = RunOptions {
            scheduling_only,
            ..RunOptions::default()
        };
        match schedperf::run(&config, "PodUpdates/w", 1, &opts) {
            Ok(_) => panic!("{updates}: accepted"),
            Err(e) => e,
        }
    };
    let e = refused(
        "  - {opcode: updateAny, countParam: $n, namespace: blockers, templatePath: grow.yaml}\n",
        true,
    );
    assert!(
        e.contains("operation 8 (updateAny): template grow.yaml (rendered for index 0)")
            && e.contains("is invalid")
            && e.contains("resize subresource"),
        "{e}"
    );
    let e = refused(SHRINK, false);
    assert!(
        e.contains("template shrink.yaml") && e.contains("needs --scheduling-only"),
        "{e}"
    );
    let e = refused(
        "  - {opcode: updateAny, countParam: $n, namespace: waiting, templatePath: relabel.yaml}\n",
        true,
    );
    assert!(
        e.contains("names pod `waiting/blocker-0`, which no earlier createPods operation made"),
        "{e}"
    );
    let e = refused(
        "  - {opcode: updateAny, countParam: $n, templatePath: relabel.yaml}\n",
        true,
    );
    assert!(e.contains("namespace not set for relabel.yaml"), "{e}");
    let e = refused(
        "  - {opcode: updateAny, countParam: $n, namespace: blockers, templatePath: relabel.yaml, subresources: [status]}\n",
        true,
    );
    assert!(
        e.contains("`subresources: [status]` is not supported"),
        "{e}"
    );
    // A resize must list the pod's containers.
    write(
        &dir,
        "rename.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: 'blocker-{{ .Index }}'}\nspec:\n  nodeName: solo\n  containers: [{name: other, image: pause:1, resources: {requests: {cpu: 10m, memory: 10Mi}}}]\n",
    );
    let e = refused(
        "  - {opcode: updateAny, countParam: $n, namespace: blockers, templatePath: rename.yaml, subresources: [resize]}\n",
        true,
    );
    assert!(e.contains("a resize must list the pod's containers"), "{e}");
    // Where the scheduler binds a pod is known only in the run: an update
    // that leaves out the bound blockers' nodeName passes the check when
    // the configuration is read, the apiserver refuses it in the run, and
    // the run fails, as upstream's test does.
    write(
        &dir,
        "unpinned.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: 'blocker-{{ .Index }}'}\nspec:\n  containers: [{name: c, image: pause:2, resources: {requests: {cpu: 10m, memory: 300Mi}}}]\n",
    );
    let e = refused(
        "  - {opcode: updateAny, countParam: $n, namespace: blockers, templatePath: unpinned.yaml}\n",
        true,
    );
    assert!(
        e.contains(
            "PodUpdates/w: 3 pod update(s) of updateAny refused by the apiserver in the run"
        ) && e.contains("422 Invalid"),
        "{e}"
    );
}

/// The bundled preemption cases: in PreemptionBasic each preemptor needs a
/// node of its own (all four low-priority pods there gone), so the five are
/// bound on five nodes; in PreemptionAsync the measured pods are all bound
/// while preemptors keep coming.
#[test]
fn bundled_preemption_cases_bind_every_preemptor_on_a_node_of_its_own() {
    let r = run_all_scheduled(&bundled(), "PreemptionBasic/5Nodes");
    let high: Vec<&Placement> = r.placements.iter().filter(|p| p.measured).collect();
    assert_eq!(high.len(), 5);
    let nodes: std::collections::BTreeSet<&str> =
        high.iter().map(|p| p.node.as_deref().unwrap()).collect();
    assert_eq!(nodes.len(), 5, "{nodes:?}");
    let r = run(&bundled(), "PreemptionAsync/5Nodes");
    assert_eq!(r.measured_bound, r.measured);
    assert_eq!(r.measured, 5);
}

/// Pods per node of the `createPods` operations `ops` (each such pod
/// reads one volume of its own).
fn pods_per_node(r: &PerfResult, ops: &[usize]) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for p in r.placements.iter().filter(|p| ops.contains(&p.op)) {
        if let Some(node) = &p.node {
            *per.entry(node.clone()).or_insert(0) += 1;
        }
    }
    per
}

/// A test case of `nodes` nodes whose CSINodes let driver ebs.csi.aws.com
/// attach `count` volumes (with `migrated`, the in-tree AWS EBS plugin
/// counted as migrated to it), then `pods` measured pods each with a claim
/// and a volume of its own from `pv` (a bundled template): test case
/// `Limit`, and `Packed`, the same scheduled by the scheduler
/// configuration `most.yaml` beside the configuration.
fn volume_limit_case(nodes: usize, count: u32, migrated: bool, pods: usize, pv: &str) -> String {
    let migrated = if migrated {
        ", migratedPlugins: [kubernetes.io/aws-ebs]"
    } else {
        ""
    };
    format!(
        "- name: Limit\n  workloadTemplate:\n  - opcode: createNodes\n    count: {nodes}\n    nodeAllocatableStrategy: {{csiNodeAllocatable: {{ebs.csi.aws.com: {{count: {count}}}}}{migrated}}}\n  - opcode: createPods\n    count: {pods}\n    persistentVolumeTemplatePath: {pv}\n    persistentVolumeClaimTemplatePath: {pvc}\n    collectMetrics: true\n  workloads:\n  - {{name: w}}\n\
         - name: Packed\n  schedulerConfigPath: most.yaml\n  workloadTemplate:\n  - opcode: createNodes\n    count: {nodes}\n    nodeAllocatableStrategy: {{csiNodeAllocatable: {{ebs.csi.aws.com: {{count: {count}}}}}{migrated}}}\n  - opcode: createPods\n    count: {pods}\n    persistentVolumeTemplatePath: {pv}\n    persistentVolumeClaimTemplatePath: {pvc}\n    collectMetrics: true\n  workloads:\n  - {{name: w}}\n",
        pv = template(pv),
        pvc = template("pvc.yaml"),
    )
}

/// MostAllocated: without a volume limit, every pod would go to one node.
const MOST_ALLOCATED: &str = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {type: MostAllocated}}\n";

/// SchedulingCSIPVs binds every measured pod within its nodes' CSI
/// volume limit (39); packed by MostAllocated onto as few nodes as the
/// limit lets them, pods with CSI volumes fill each node up to its
/// CSINode's count and no further.
#[test]
fn csi_volumes_bind_every_measured_pod_within_the_node_limit() {
    let r = run(&bundled(), "SchedulingCSIPVs/5Nodes");
    assert_eq!((r.measured, r.measured_bound), (10, 10));
    assert_eq!(r.scheduled, r.pods);
    let per = pods_per_node(&r, &[1, 2]);
    assert_eq!(per.values().sum::<usize>(), 15);
    assert!(per.values().all(|&n| n <= 39), "{per:?}");

    let dir = scratch("perf-csi-limit");
    write(&dir, "most.yaml", MOST_ALLOCATED);
    let config = write(
        &dir,
        "config.yaml",
        &volume_limit_case(5, 3, false, 15, "pv-csi.yaml"),
    );
    let r = run(&config, "Packed/w");
    assert_eq!((r.measured, r.measured_bound), (15, 15));
    let per = pods_per_node(&r, &[1]);
    assert_eq!(per.len(), 5, "{per:?}");
    assert!(per.values().all(|&n| n == 3), "{per:?}");
}

/// Two nodes whose CSINodes allow one volume each, three pods with a CSI
/// volume each: two bind, the third stays unschedulable, and the run's
/// timeline says why.
#[test]
fn a_pod_past_every_node_s_volume_limit_stays_unschedulable() {
    let dir = scratch("perf-volume-limit");
    let config = write(
        &dir,
        "config.yaml",
        &volume_limit_case(2, 1, false, 3, "pv-csi.yaml"),
    );
    let out = dir.join("out");
    let r = schedperf::run_to_dir(&config, "Limit/w", 1, &RunOptions::default(), &out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.measured, r.measured_bound), (3, 2));
    let per = pods_per_node(&r, &[1]);
    assert_eq!(per.values().copied().collect::<Vec<_>>(), [1, 1], "{per:?}");
    let events = std::fs::read_to_string(out.join("events.csv")).unwrap();
    let unbound = r
        .placements
        .iter()
        .find(|p| p.node.is_none())
        .expect("an unbound pod");
    assert!(
        events
            .lines()
            .any(|l| l.contains(unbound.name.as_str())
                && l.contains("node(s) exceed max volume count")),
        "no 'exceed max volume count' for {} in events.csv:\n{events}",
        unbound.name
    );
}

/// SchedulingMigratedInTreePVs runs and binds its measured pods; an
/// in-tree EBS volume counts against the EBS CSI driver's limit only where
/// the CSINode lists the plugin as migrated.
#[test]
fn migrated_in_tree_volumes_count_only_where_migrated() {
    let r = run(&bundled(), "SchedulingMigratedInTreePVs/5Nodes");
    assert_eq!((r.measured, r.measured_bound), (10, 10));
    assert_eq!(r.scheduled, r.pods);
    let dir = scratch("perf-migrated");
    let migrated = write(
        &dir,
        "migrated.yaml",
        &volume_limit_case(2, 1, true, 3, "pv-aws.yaml"),
    );
    let r = run(&migrated, "Limit/w");
    assert_eq!((r.measured, r.measured_bound), (3, 2));
    let in_tree = write(
        &dir,
        "in-tree.yaml",
        &volume_limit_case(2, 1, false, 3, "pv-aws.yaml"),
    );
    let r = run(&in_tree, "Limit/w");
    assert_eq!((r.measured, r.measured_bound), (3, 3));
}

/// PreemptionPVs: each preemptor with a claim and a volume evicts
/// low-priority pods and binds.
#[test]
fn preemptors_with_volumes_bind_every_measured_pod() {
    let r = run(&bundled(), "PreemptionPVs/5Nodes");
    assert_eq!((r.measured, r.measured_bound), (5, 5));
    assert!(
        r.placements
            .iter()
            .filter(|p| p.measured)
            .all(|p| p.node.is_some()),
        "{:?}",
        r.placements
    );
    assert!(
        r.placements
            .iter()
            .any(|p| p.op == 1 && p.deleted.is_some()),
        "no low-priority pod was preempted: {:?}",
        r.placements
    );
}

/// EventHandlingPodDelete: every measured pod, each held by one plugin
/// until the blockers are deleted, binds once they are.
#[test]
fn pods_held_by_blockers_bind_once_the_blockers_are_deleted() {
    let r = run(&bundled(), "EventHandlingPodDelete/2Nodes_20Pods");
    assert_eq!((r.measured, r.measured_bound), (110, 110));
    let deleted = r.placements.iter().filter(|p| p.deleted.is_some()).count();
    assert_eq!(deleted, 30, "the blockers of two namespaces");
    // Held until the deletes, after the Attempted barrier's minute.
    assert!(r.virtual_span_s >= 60.0, "{}", r.virtual_span_s);
}
