//! Scheduling policies and profiles end to end: named policies change
//! placements, KubeSchedulerConfiguration files choose profiles by
//! `schedulerName`, and bad policies are refused with their place.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::*;

/// Four equal nodes and four small pods created one after the other.
fn four_pods(dir: &Path, policy: &str, scheduler_name: &str) -> std::path::PathBuf {
    let mut text = format!(
        "name: policies\nseed: 3\nscheduler: {{policy: {policy}}}\ncluster:\n  nodeGroups:\n  - {{name: n, count: 4, capacity: {{cpu: '4', memory: 8Gi, pods: 110}}}}\nactions:\n"
    );
    for k in 0..4 {
        text.push_str(&format!(
            "- at: {k}s\n  apply: {{apiVersion: v1, kind: Pod, metadata: {{name: p{k}}}, spec: {{schedulerName: {scheduler_name}, containers: [{{name: c, image: nginx:1.27, resources: {{requests: {{cpu: 500m, memory: 512Mi}}}}}}]}}}}\n"
        ));
    }
    write(dir, "scenario.yaml", &text)
}

fn nodes_used(out: &Path) -> BTreeSet<String> {
    read_csv(&out.join("pods.csv"))
        .into_iter()
        .map(|r| r["node"].clone())
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn most_allocated_packs_where_default_spreads() {
    let dir = scratch("policies");
    let s = four_pods(&dir, "default", "default-scheduler");
    run_ok(&s, &dir.join("default"), &[]);
    assert_eq!(nodes_used(&dir.join("default")).len(), 4);
    run_ok(&s, &dir.join("packed"), &["--policy", "most-allocated"]);
    assert_eq!(nodes_used(&dir.join("packed")).len(), 1);
    // first-fit takes the first node every time.
    run_ok(&s, &dir.join("first"), &["--policy", "first-fit"]);
    assert_eq!(
        nodes_used(&dir.join("first"))
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["n-0".to_string()]
    );
}

#[test]
fn configuration_profiles_are_chosen_by_scheduler_name() {
    let dir = scratch("profiles");
    write(
        &dir,
        "sched.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n  - schedulerName: default-scheduler\n  - schedulerName: bin-packing\n    pluginConfig:\n      - name: NodeResourcesFit\n        args:\n          scoringStrategy:\n            type: MostAllocated\n",
    );
    let s = four_pods(&dir, "sched.yaml", "bin-packing");
    run_ok(&s, &dir.join("out"), &[]);
    assert_eq!(nodes_used(&dir.join("out")).len(), 1);
    // A schedulerName no profile has: the pods stay Pending and the summary
    // says so.
    let s = four_pods(&dir, "sched.yaml", "nobody");
    let o = run_ok(&s, &dir.join("orphans"), &[]);
    assert!(nodes_used(&dir.join("orphans")).is_empty());
    let summary = read_csv(&dir.join("orphans/summary.csv"));
    let orphans = summary
        .iter()
        .find(|r| r["metric"] == "pods_without_scheduler_profile")
        .expect("metric");
    assert_eq!(orphans["value"], "4");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("no scheduler profile"), "{stdout}");
}

#[test]
fn bad_policies_are_refused_with_their_place() {
    let dir = scratch("bad-policy");
    let s = four_pods(&dir, "default", "default-scheduler");
    let o = kubesim(&["run", s.to_str().unwrap(), "--policy", "binpack"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("most-allocated") && err.contains("first-fit"),
        "{err}"
    );
    write(
        &dir,
        "bad.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n  - plugins:\n      score:\n        enabled:\n          - name: ImageLocality\n            weight: 500\n",
    );
    let s = four_pods(&dir, "bad.yaml", "default-scheduler");
    for cmd in ["validate", "run"] {
        let o = kubesim(
            &[
                cmd,
                s.to_str().unwrap(),
                "--out",
                dir.join("o").to_str().unwrap(),
            ][..if cmd == "run" { 4 } else { 2 }],
        );
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("bad.yaml:8:"), "{cmd}: {err}");
        assert!(err.contains("out of range"), "{cmd}: {err}");
    }
    assert!(!dir.join("o/events.csv").exists());
}
