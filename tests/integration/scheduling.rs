//! Scheduling policies and profiles end to end: named policies change
//! placements, KubeSchedulerConfiguration files choose profiles by
//! `schedulerName`, and bad policies are refused with their place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

#[test]
fn the_trace_adds_up_and_explain_agrees() {
    let dir = scratch("trace");
    let s = four_pods(&dir, "default", "default-scheduler");
    let out = dir.join("out");
    run_ok(&s, &out, &["--trace-scheduling"]);
    assert_eq!(
        header(&out.join("scheduling.csv")),
        "time_s,pod,attempt,node,plugin,stage,verdict,raw,normalized,weighted"
    );
    let rows = read_csv(&out.join("scheduling.csv"));
    let selects: Vec<_> = rows.iter().filter(|r| r["stage"] == "select").collect();
    assert_eq!(selects.len(), 4);
    let mut checked = 0;
    for sel in &selects {
        let weighted: i64 = rows
            .iter()
            .filter(|r| {
                r["stage"] == "score"
                    && r["pod"] == sel["pod"]
                    && r["attempt"] == sel["attempt"]
                    && r["node"] == sel["node"]
            })
            .map(|r| r["weighted"].parse::<i64>().unwrap())
            .sum();
        if rows
            .iter()
            .any(|r| r["stage"] == "score" && r["pod"] == sel["pod"])
        {
            assert_eq!(weighted.to_string(), sel["raw"], "{sel:?}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "scored decisions: {checked}");
    // The pods.csv node is the selected one.
    for p in read_csv(&out.join("pods.csv")) {
        let key = format!("default/{}", p["name"]);
        let sel = selects.iter().find(|r| r["pod"] == key).unwrap();
        assert_eq!(sel["node"], p["node"]);
    }
    // explain prints the same total for the chosen node.
    let o = kubesim(&["explain", s.to_str().unwrap(), "--pod", "default/p3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let sel = selects.iter().find(|r| r["pod"] == "default/p3").unwrap();
    assert!(
        text.contains(&format!(
            "scheduled on {} (total score {})",
            sel["node"], sel["raw"]
        )),
        "{text}"
    );
    let chosen_line = text
        .lines()
        .find(|l| l.starts_with(&format!("{}*", sel["node"])))
        .expect("chosen row");
    assert!(
        chosen_line.contains(&format!(" {} ", sel["raw"])),
        "{chosen_line}"
    );
    // Without the flag no trace is left behind.
    run_ok(&s, &out, &[]);
    assert!(!out.join("scheduling.csv").exists());
}

#[test]
fn explain_shows_upstream_rejection_reasons() {
    let dir = scratch("explain");
    let text = "name: explain\ncluster:\n  nodeGroups:\n  - {name: small, count: 1, capacity: {cpu: '1', memory: 1Gi}}\n  - {name: tainted, count: 1, capacity: {cpu: '8', memory: 8Gi}, taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}\n  - {name: big, count: 1, capacity: {cpu: '8', memory: 8Gi}}\nactions:\n- at: 0s\n  apply: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: x:1, resources: {requests: {cpu: '2'}}}]}}\n";
    let s = write(&dir, "scenario.yaml", text);
    let o = kubesim(&["explain", s.to_str().unwrap(), "--pod", "default/p"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("scheduled on big-0"), "{out}");
    assert!(
        out.contains("small-0: NodeResourcesFit: Insufficient cpu"),
        "{out}"
    );
    assert!(
        out.contains("tainted-0: TaintToleration: node(s) had untolerated taint {dedicated: gpu}"),
        "{out}"
    );
}

#[test]
fn compare_packs_with_most_allocated_and_the_table_matches_the_csv() {
    let dir = scratch("compare");
    let scenario = repo().join("scenarios/policy-comparison.yaml");
    let o = kubesim(&[
        "compare",
        scenario.to_str().unwrap(),
        "--policies",
        "default,most-allocated",
        "--seeds",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_csv(&dir.join("comparison.csv"));
    assert_eq!(rows.len(), 4);
    let nodes = |policy: &str| -> f64 {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r["policy"] == policy)
            .map(|r| r["nodes_in_use"].parse().unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(nodes("most-allocated") < nodes("default"), "{rows:?}");
    // The table's mean nodes in use is the CSV's mean.
    let table = String::from_utf8_lossy(&o.stdout);
    for policy in ["default", "most-allocated"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{policy} ")))
            .expect("a row per policy");
        let mean = nodes(policy);
        let shown = if mean.fract() == 0.0 {
            format!("{}", mean as i64)
        } else {
            format!("{mean:.2}")
        };
        assert!(
            line.contains(&format!(" {shown}±")) || line.contains(&format!(" {shown} ")),
            "{line} vs {mean}"
        );
    }
    // Each cell has its usual outputs.
    assert!(dir.join("most-allocated/seed-2/pods.csv").exists());
    // Unknown policies fail before any run.
    let o = kubesim(&[
        "compare",
        scenario.to_str().unwrap(),
        "--policies",
        "default,packed",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // So does a policy given twice (its runs would be pooled as seeds).
    let o = kubesim(&[
        "compare",
        scenario.to_str().unwrap(),
        "--policies",
        "default,default",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("names `default` twice"), "{err}");
    // And two policies whose cells would share a directory.
    let ksc = write(
        &dir,
        "x.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n  - schedulerName: default-scheduler\n",
    );
    let ksc = ksc.to_str().unwrap();
    let both = format!("{ksc},{}", ksc.replace("x.yaml", "x_yaml"));
    let o = kubesim(&["compare", scenario.to_str().unwrap(), "--policies", &both]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("would share the directory"), "{err}");
}

#[test]
fn generate_makes_pods_with_drawn_requests_and_lifetimes() {
    let dir = scratch("generate");
    let text = "name: gen\nseed: 7\ncluster:\n  nodeGroups:\n  - {name: n, count: 2, capacity: {cpu: '8', memory: 16Gi}}\nactions:\n- at: 1s\n  generate:\n    template: {apiVersion: v1, kind: Pod, metadata: {name: job}, spec: {containers: [{name: c, image: x:1}]}}\n    count: 20\n    every: 100ms\n    requests:\n      cpu: [100m, 200m]\n    lifetime: 30s\n";
    let s = write(&dir, "scenario.yaml", text);
    // validate counts the generated pods among the objects to apply.
    let o = kubesim(&["validate", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("20 objects to apply (20 generated)"),
        "{said}"
    );
    run_ok(&s, &dir.join("out"), &[]);
    let pods = read_csv(&dir.join("out/pods.csv"));
    assert_eq!(pods.len(), 20);
    let created: Vec<u64> = pods
        .iter()
        .map(|p| micros(&p["created_s"]).unwrap())
        .collect();
    // One every 100 ms from 1 s (plus the request's trip to etcd).
    for (k, w) in created.windows(2).enumerate() {
        let gap = w[1] as i64 - w[0] as i64;
        assert!((gap - 100_000).abs() < 50_000, "pod {k}: gap {gap} us");
    }
    assert!(pods.iter().any(|p| p["name"] == "job-19"));
    // A poisson arrival with a bad rate is a located error.
    let bad = text.replace("every: 100ms", "poisson: {rate: fast}");
    let s = write(&dir, "bad.yaml", &bad);
    let o = kubesim(&["validate", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:") && err.contains("invalid rate `fast`"),
        "{err}"
    );
}

#[test]
fn pods_moved_to_backoff_together_are_all_retried() {
    // 100 pods of 250m to 2 cpu arrive faster than they finish on 3 nodes
    // of 8 cpu: many wait unschedulable, and a pod's end moves them all to
    // backoffQ at once, each until its own backoff expires. Every one of
    // them must be retried when its backoff is over (only the first was,
    // and the rest stayed Pending on an empty cluster).
    let dir = scratch("backoff-flush");
    let text = "name: burst\ncluster:\n  nodeGroups:\n  - {name: w, count: 3, capacity: {cpu: '8', memory: 32Gi, pods: 110}}\nactions:\n- at: 1s\n  generate:\n    template: {apiVersion: v1, kind: Pod, metadata: {name: batch}, spec: {containers: [{name: c, image: 'busybox:1.36'}]}}\n    count: 100\n    poisson: {rate: 4/s}\n    requests:\n      cpu: [250m, 500m, '1', '2']\n      memory: {distribution: uniform, min: 256Mi, max: 2Gi}\n    lifetime: {distribution: exponential, mean: 20s}\n";
    let s = write(&dir, "scenario.yaml", text);
    run_ok(&s, &dir.join("out"), &[]);
    let pods = read_csv(&dir.join("out/pods.csv"));
    assert_eq!(pods.len(), 100);
    let left: Vec<&str> = pods
        .iter()
        .filter(|p| p["phase"] != "Succeeded")
        .map(|p| p["name"].as_str())
        .collect();
    assert!(left.is_empty(), "never scheduled: {left:?}");
    let events = read_csv(&dir.join("out/events.csv"));
    assert!(
        events
            .iter()
            .filter(|e| e["component"] == "kube-scheduler" && e["action"] == "unschedulable")
            .count()
            > 100,
        "the scenario must make pods wait"
    );
}

#[test]
fn a_higher_priority_pod_preempts_the_fewest_lower_priority_pods() {
    let dir = scratch("preempt");
    let pod = |name: &str, prio: i32, cpu: &str| {
        format!(
            "{{apiVersion: v1, kind: Pod, metadata: {{name: {name}}}, spec: {{priority: {prio}, containers: [{{name: c, image: x:1, resources: {{requests: {{cpu: {cpu}}}}}}}]}}}}"
        )
    };
    let text = format!(
        "name: preempt\ncluster:\n  nodeGroups:\n  - {{name: n, count: 1, capacity: {{cpu: '2', memory: 4Gi}}}}\nactions:\n- at: 0s\n  apply: {}\n- at: 1s\n  apply: {}\n- at: 2s\n  apply: {}\n- at: 5s\n  apply: {}\n",
        pod("low-0", 0, "500m"),
        pod("low-1", 0, "500m"),
        pod("low-2", 0, "500m"),
        pod("high", 100, "1"),
    );
    let s = write(&dir, "scenario.yaml", &text);
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let get = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    assert_eq!(get("high")["node"], "n-0");
    assert!(!get("high")["bound_s"].is_empty());
    // low-2 started last: it is the one victim; the other two fit again.
    assert!(!get("low-2")["deleted_s"].is_empty(), "{:?}", get("low-2"));
    assert!(get("low-0")["deleted_s"].is_empty());
    assert!(get("low-1")["deleted_s"].is_empty());
    let summary = read_csv(&out.join("summary.csv"));
    let preemptions = summary
        .iter()
        .find(|r| r["metric"] == "preemptions")
        .unwrap();
    assert_eq!(preemptions["value"], "1");
    let events = std::fs::read_to_string(out.join("events.csv")).unwrap();
    assert!(
        events.contains("preempted by default/high on n-0"),
        "{events}"
    );
}

#[test]
fn priority_classes_set_pod_priorities_and_drive_preemption() {
    let dir = scratch("priority-classes");
    let pod = |name: &str, class: Option<&str>| {
        let class = class.map_or(String::new(), |c| format!("priorityClassName: {c}, "));
        format!(
            "{{kind: Pod, metadata: {{name: {name}}}, spec: {{{class}containers: [{{name: c, image: 'x:1', resources: {{requests: {{cpu: 800m}}}}}}]}}}}"
        )
    };
    let text = format!(
        "name: classes\ncluster:\n  nodeGroups:\n  - {{name: n, count: 1, capacity: {{cpu: '1', memory: 4Gi}}}}\nactions:\n- at: 0s\n  apply:\n  - {{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {{name: high}}, value: 1000}}\n  - {{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {{name: low}}, value: 10, globalDefault: true}}\n  - {{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {{name: polite}}, value: 2000, preemptionPolicy: Never}}\n- at: 1s\n  apply: {}\n- at: 5s\n  apply: {}\n- at: 6s\n  apply: {}\n- at: 7s\n  apply: {}\n",
        pod("plain", None),
        pod("urgent", Some("high")),
        pod("typo", Some("hihg")),
        pod("waits", Some("polite"))
    );
    let scenario = write(&dir, "s.yaml", &text);
    let out = dir.join("out");
    run_ok(&scenario, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let row = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap();
    // `plain` got the global default (10), so `urgent` (1000) preempts it.
    assert!(!row("plain")["deleted_s"].is_empty(), "{pods:?}");
    assert_eq!(row("urgent")["phase"], "Running");
    // `polite` outranks `urgent` but may not preempt: it stays Pending.
    assert!(row("waits")["node"].is_empty() && row("urgent")["deleted_s"].is_empty());
    assert!(pods.iter().all(|p| p["name"] != "typo"));
    let events = read_csv(&out.join("events.csv"));
    assert!(events.iter().any(|e| e["name"] == "typo"
        && e["action"] == "reject"
        && e["detail"].contains("403 Forbidden")
        && e["detail"].contains("no PriorityClass with name hihg was found")));
    // A class named with the reserved prefix does not load.
    let err = load_error(
        "priority-classes-system",
        "name: classes\ncluster:\n  nodeGroups: [{name: n, count: 1}]\nactions:\n- at: 0s\n  apply: {apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {name: system-mine}, value: 5}\n",
    );
    assert!(err.contains("reserved for system use only"), "{err}");
}

/// A pod with scheduling gates is not scheduled until an update clears the
/// last of them (upstream's SchedulingGates PreEnqueue plugin); removing
/// some leaves it waiting; the apiserver's validation refuses a gated pod
/// that names its node, and duplicate gate names (when the scenario loads).
#[test]
fn gated_pods_wait_until_their_last_gate_is_removed() {
    let dir = scratch("gates");
    let s = write(
        &dir,
        "s.yaml",
        "name: gates\ncluster:\n  nodeGroups:\n    - {name: n, count: 2, capacity: {cpu: '4', memory: 16Gi, pods: 110}}\n\
         actions:\n  - at: 0s\n    apply:\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: job}, spec: {schedulingGates: [{name: example.com/quota}, {name: example.com/arch}], containers: [{name: c, image: nginx}]}}\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: free}, spec: {containers: [{name: c, image: nginx}]}}\n\
         \x20 - at: 30s\n    removeSchedulingGates: {name: job, gates: [example.com/quota]}\n\
         \x20 - at: 60s\n    removeSchedulingGates: {name: job}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let pod = |name: &str| pods.iter().find(|p| p["name"] == name);
    let job = pod("job").expect("the gated pod was created");
    let scheduled = micros(&job["scheduled_s"]).expect("scheduled in the end");
    assert!(
        scheduled >= 60_000_000,
        "scheduled at {scheduled} us, before its last gate was removed at 60 s"
    );
    assert_eq!(job["attempts"], "1", "no attempt while gated");
    assert!(micros(&pod("free").expect("free")["scheduled_s"]).unwrap() < 1_000_000);
    let events = read_csv(&out.join("events.csv"));
    let rows = |action: &str, name: &str| {
        events
            .iter()
            .filter(|e| e["action"] == action && e["name"] == name)
            .map(|e| e["detail"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows("gated", "job"),
        vec!["waiting for scheduling gates: [example.com/quota example.com/arch]"]
    );
    let refused = |pod: &str| {
        load_error(
            "gates-refused",
            &format!(
                "name: gates\ncluster:\n  nodeGroups: [{{name: n, count: 1}}]\nactions:\n- at: 0s\n  apply: {pod}\n"
            ),
        )
    };
    let err = refused(
        "{kind: Pod, metadata: {name: pinned}, spec: {nodeName: n-0, schedulingGates: [{name: x}], containers: [{name: c, image: nginx}]}}",
    );
    assert!(
        err.contains(
            "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"
        ),
        "{err}"
    );
    let err = refused(
        "{kind: Pod, metadata: {name: twice}, spec: {schedulingGates: [{name: x}, {name: x}], containers: [{name: c, image: nginx}]}}",
    );
    assert!(
        err.contains("spec.schedulingGates[1]: Duplicate value: \"x\""),
        "{err}"
    );
    // The first removal left a gate: the update went through, and the
    // scheduler did not queue the pod until the second.
    let enqueued: Vec<u64> = events
        .iter()
        .filter(|e| e["action"] == "enqueue" && e["name"] == "job")
        .map(|e| micros(&e["time_s"]).unwrap())
        .collect();
    assert_eq!(enqueued.len(), 1);
    assert!(enqueued[0] >= 60_000_000);
    assert_eq!(
        rows("update", "job").len(),
        4,
        "two updates, each by the client and the apiserver"
    );
}

/// Five high-priority pods that each need a whole node's worth of
/// low-priority pods gone: as upstream's dry run counts the pods nominated
/// by earlier preemptions, each preemptor takes its own node and its own
/// victims, and all five are bound after one back-off.
#[test]
fn preemptors_do_not_pick_the_room_another_was_nominated_for() {
    let dir = scratch("preemptors");
    let s = write(
        &dir,
        "s.yaml",
        "name: preemptors\ncluster:\n  nodeGroups:\n    - {name: n, count: 5, capacity: {cpu: '4', memory: 32Gi, pods: 110}}\n\
         actions:\n\
         \x20 - at: 0s\n    generate: {count: 20, template: {apiVersion: v1, kind: Pod, metadata: {name: low}, spec: {terminationGracePeriodSeconds: 0, containers: [{name: c, image: pause, resources: {requests: {cpu: 900m}}}]}}}\n\
         \x20 - at: 60s\n    generate: {count: 5, template: {apiVersion: v1, kind: Pod, metadata: {name: high}, spec: {priority: 10, containers: [{name: c, image: pause, resources: {requests: {cpu: '3'}}}]}}}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let high: Vec<_> = pods
        .iter()
        .filter(|p| p["name"].starts_with("high-"))
        .collect();
    assert_eq!(high.len(), 5);
    let nodes: BTreeSet<&str> = high.iter().map(|p| p["node"].as_str()).collect();
    assert_eq!(nodes.len(), 5, "one node each: {nodes:?}");
    for p in &high {
        let bound = micros(&p["bound_s"]).expect("bound");
        assert!(bound < 63_000_000, "{} bound at {bound} us", p["name"]);
    }
    let events = read_csv(&out.join("events.csv"));
    let mut preempted = BTreeSet::new();
    for e in events.iter().filter(|e| e["action"] == "preempt") {
        assert!(
            preempted.insert(e["name"].clone()),
            "{} preempted twice",
            e["name"]
        );
    }
    assert_eq!(
        preempted.len(),
        15,
        "three 900m pods per node make room for 3 cpus"
    );
}

/// 300 nodes each running one 600m pod of priority 5, but for one node whose
/// pod has priority 1: a preemptor that needs one node's room finds its
/// best victim there. As upstream's dry run, it tries the nodes in random
/// order and stops at 100 candidates, so under most seeds it never sees
/// that node and takes a priority-5 victim; the seed alone decides which.
#[test]
fn the_preemption_dry_run_stops_at_100_candidates_tried_in_random_order() {
    let dir = scratch("preempt-sample");
    let s = write(
        &dir,
        "s.yaml",
        "name: preempt-sample\ncluster:\n  nodeGroups:\n    - {name: n, count: 300, capacity: {cpu: '1', memory: 4Gi, pods: 110}}\n\
         actions:\n\
         \x20 - at: 0s\n    generate: {count: 299, template: {apiVersion: v1, kind: Pod, metadata: {name: mid}, spec: {priority: 5, containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}}\n\
         \x20 - at: 0s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: lowest}, spec: {priority: 1, containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}\n\
         \x20 - at: 60s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: high}, spec: {priority: 10, containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}\n",
    );
    let victim = |seed: &str| {
        let out = dir.join(format!("out-{seed}"));
        run_ok(&s, &out, &["--seed", seed]);
        let events = read_csv(&out.join("events.csv"));
        let victims: Vec<String> = events
            .iter()
            .filter(|e| e["action"] == "preempt")
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(victims.len(), 1, "seed {seed}: {victims:?}");
        victims[0].clone()
    };
    let seeds = ["1", "2", "3", "4", "5", "6"];
    let chosen: Vec<String> = seeds.iter().map(|s| victim(s)).collect();
    assert!(
        chosen.iter().any(|v| v != "lowest"),
        "every seed found the one best node: {chosen:?}"
    );
    let distinct: BTreeSet<&String> = chosen.iter().collect();
    assert!(distinct.len() >= 3, "the start is drawn: {chosen:?}");
    // The same seed, the same victim.
    assert_eq!(victim("1"), chosen[0]);
}

/// A preemptor whose victim takes 20 s to stop (it ignores SIGTERM that
/// long) is tried again meanwhile (a pod deleted elsewhere frees some
/// room, not enough); as upstream's PodEligibleToPreemptOthers, it waits
/// for its victim rather than preempting again, and is bound on its
/// nominated node once the victim is gone.
#[test]
fn a_preemptor_waits_for_its_terminating_victim_rather_than_preempting_again() {
    let dir = scratch("preempt-wait");
    let s = write(
        &dir,
        "s.yaml",
        "name: preempt-wait\ncluster:\n  nodeGroups:\n    - {name: n, count: 3, capacity: {cpu: '1', memory: 4Gi, pods: 110}}\n\
         actions:\n\
         \x20 - at: 0s\n    generate: {count: 3, template: {apiVersion: v1, kind: Pod, metadata: {name: low, annotations: {kubesim.io/shutdown-duration: 20s}}, spec: {containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}}\n\
         \x20 - at: 1s\n    generate: {count: 3, template: {apiVersion: v1, kind: Pod, metadata: {name: filler}, spec: {containers: [{name: c, image: pause, resources: {requests: {cpu: 300m}}}]}}}\n\
         \x20 - at: 30s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: high}, spec: {priority: 10, containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}\n\
         \x20 - at: 40s\n    delete: {kind: Pod, name: filler-0}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let victims: Vec<&BTreeMap<String, String>> =
        events.iter().filter(|e| e["action"] == "preempt").collect();
    assert_eq!(victims.len(), 1, "{victims:?}");
    let attempts = events
        .iter()
        .filter(|e| e["action"] == "unschedulable" && e["name"] == "high")
        .count();
    assert!(
        attempts >= 2,
        "it tried again while the victim stopped: {attempts}"
    );
    let pods = read_csv(&out.join("pods.csv"));
    let get = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    let victim = get(&victims[0]["name"]);
    let high = get("high");
    assert_eq!(high["node"], victim["node"]);
    let bound = micros(&high["bound_s"]).expect("bound");
    assert!(
        bound > 50_000_000,
        "bound at {bound} us, before the victim stopped"
    );
}

/// A preemptor nominated to a node loses the nomination when a pod of
/// higher priority preempts on that node (upstream's
/// getLowerPriorityNominatedPods): `mid` preempted `low`, which takes 20 s
/// to stop; `high` comes meanwhile and takes the node. Its victim already
/// terminating, it deletes nothing; it clears `mid`'s nomination at once,
/// and is bound there when `low` is gone while `mid` waits.
#[test]
fn a_higher_priority_preemptor_clears_the_nomination_of_a_lower_one() {
    let dir = scratch("preempt-renominate");
    let s = write(
        &dir,
        "s.yaml",
        "name: preempt-renominate\ncluster:\n  nodeGroups:\n    - {name: n, count: 1, capacity: {cpu: '1', memory: 4Gi}}\n\
         actions:\n\
         \x20 - at: 0s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: low, annotations: {kubesim.io/shutdown-duration: 20s}}, spec: {containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}\n\
         \x20 - at: 5s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: mid}, spec: {priority: 5, containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}\n\
         \x20 - at: 8s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: high}, spec: {priority: 10, containers: [{name: c, image: pause, resources: {requests: {cpu: 600m}}}]}}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let preempted: Vec<&str> = (events.iter())
        .filter(|e| e["action"] == "preempt")
        .map(|e| e["name"].as_str())
        .collect();
    assert_eq!(preempted, ["low"], "low is preempted once");
    // The scheduler's status writes for mid: its nomination at 5 s, its
    // clearing within the cycle that nominated high at 8 s.
    let mid_writes: Vec<u64> = (events.iter())
        .filter(|e| {
            e["action"] == "update-status"
                && e["name"] == "mid"
                && e["detail"].starts_with("from kube-scheduler")
        })
        .filter_map(|e| micros(&e["time_s"]))
        .collect();
    assert!(
        mid_writes
            .iter()
            .any(|&t| (8_000_000..8_100_000).contains(&t)),
        "{mid_writes:?}"
    );
    let pods = read_csv(&out.join("pods.csv"));
    let get = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    assert_eq!(get("high")["node"], "n-0");
    assert!(get("mid")["bound_s"].is_empty());
}

/// A Deployment whose template carries a gate makes gated pods; a
/// `removeSchedulingGates` by label selector lists them and ungates each,
/// as a queueing controller would, and they are scheduled then. An action
/// that names its pods both ways is refused at load.
#[test]
fn a_selector_ungates_a_deployment_s_pods() {
    let dir = scratch("gates-selector");
    let s = write(
        &dir,
        "s.yaml",
        "name: gates-selector\ncluster:\n  nodeGroups:\n    - {name: n, count: 2, capacity: {cpu: '4', memory: 16Gi, pods: 110}}\n\
         actions:\n  - at: 0s\n    apply:\n\
         \x20     - {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: 3, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {schedulingGates: [{name: example.com/quota}], containers: [{name: c, image: nginx}]}}}}\n\
         \x20 - at: 30s\n    removeSchedulingGates: {selector: {matchLabels: {app: web}}}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let scheduled = micros(&p["scheduled_s"]).expect("scheduled in the end");
        assert!(
            scheduled >= 30_000_000,
            "{} scheduled at {scheduled} us",
            p["name"]
        );
    }
    let events = read_csv(&out.join("events.csv"));
    let gated = events.iter().filter(|e| e["action"] == "gated").count();
    assert_eq!(gated, 3);
    // A LIST alone, as kubectl reads: no watch is left open.
    let lists: Vec<&str> = events
        .iter()
        .filter(|e| e["component"] == "kube-apiserver" && e["action"] == "list")
        .map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert!(lists[0].starts_with("list Pod"), "{lists:?}");
    let both = write(
        &dir,
        "both.yaml",
        "actions:\n  - at: 1s\n    removeSchedulingGates: {name: a, selector: {matchLabels: {app: web}}}\n",
    );
    let o = kubesim(&["validate", both.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("by `name` or by `selector`: give one of them"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Pod-level `spec.resources` (upstream's PodLevelResources): its cpu and
/// memory replace the containers' sum for the scheduler, the kubelet and
/// nodes.csv; a pod-level resource other than cpu and memory is refused.
#[test]
fn pod_level_requests_replace_the_containers_sum() {
    let dir = scratch("pod-level");
    let s = write(
        &dir,
        "s.yaml",
        "name: pod-level\ncluster:\n  nodeGroups:\n    - {name: n, count: 1, capacity: {cpu: '4', memory: 16Gi, pods: 110}}\n\
         actions:\n  - at: 0s\n    apply:\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {resources: {requests: {cpu: '3'}}, containers: [{name: c, image: pause}]}}\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {resources: {limits: {cpu: '3'}}, containers: [{name: c, image: pause}]}}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let bound: Vec<&str> = pods
        .iter()
        .filter(|p| !p["bound_s"].is_empty())
        .map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        bound.len(),
        1,
        "3 of 4 cpus each (b's from its limit): {bound:?}"
    );
    let nodes = read_csv(&out.join("nodes.csv"));
    let most = nodes
        .iter()
        .map(|r| r["cpu_requested_m"].parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(most, 3000);
    // Pod-level resources name cpu and memory only: this does not load.
    let err = load_error(
        "pod-level-odd",
        "name: odd\ncluster:\n  nodeGroups: [{name: n, count: 1}]\nactions:\n- at: 0s\n  apply: {apiVersion: v1, kind: Pod, metadata: {name: odd}, spec: {resources: {requests: {ephemeral-storage: 1Gi}}, containers: [{name: c, image: pause}]}}\n",
    );
    assert!(
        err.contains("spec.resources.requests[ephemeral-storage]: Unsupported value"),
        "{err}"
    );
}

/// InterPodAffinity's namespaceSelector through the whole flow: the
/// scheduler's Namespace informer gives it the Namespaces' labels, the
/// apiserver's `kubernetes.io/metadata.name` label among them, and an
/// invalid Namespace name is refused.
#[test]
fn namespace_selectors_pick_the_labelled_namespaces() {
    let dir = scratch("nsselector");
    let affinity = |ns_selector: &str| {
        format!(
            "affinity: {{podAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {{matchLabels: {{app: db}}}}, namespaceSelector: {ns_selector}, topologyKey: zone}}]}}}}"
        )
    };
    let s = write(
        &dir,
        "s.yaml",
        &format!(
            "name: nsselector\nduration: 60s\ncluster:\n  nodeGroups:\n    - {{name: a, count: 2, labels: {{zone: a}}, capacity: {{cpu: '4', memory: 16Gi, pods: 110}}}}\n\
             \x20   - {{name: b, count: 2, labels: {{zone: b}}, capacity: {{cpu: '4', memory: 16Gi, pods: 110}}}}\n\
             actions:\n  - at: 0s\n    apply:\n\
             \x20     - {{apiVersion: v1, kind: Namespace, metadata: {{name: ops, labels: {{team: devops}}}}}}\n\
             \x20     - {{apiVersion: v1, kind: Namespace, metadata: {{name: dev}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: db, namespace: ops, labels: {{app: db}}}}, spec: {{nodeName: a-1, containers: [{{name: c, image: pg}}]}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: db, namespace: dev, labels: {{app: db}}}}, spec: {{nodeName: b-0, containers: [{{name: c, image: pg}}]}}}}\n\
             \x20 - at: 5s\n    apply:\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: web-ops-0}}, spec: {{{ops}, containers: [{{name: c, image: nginx}}]}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: web-ops-1}}, spec: {{{ops}, containers: [{{name: c, image: nginx}}]}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: web-dev-0}}, spec: {{{dev}, containers: [{{name: c, image: nginx}}]}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: web-dev-1}}, spec: {{{dev}, containers: [{{name: c, image: nginx}}]}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: web-none}}, spec: {{{none}, containers: [{{name: c, image: nginx}}]}}}}\n",
            ops = affinity("{matchLabels: {team: devops}}"),
            dev = affinity("{matchLabels: {kubernetes.io/metadata.name: dev}}"),
            none = affinity("{matchLabels: {team: nobody}}"),
        ),
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let node = |name: &str| {
        let p = pods.iter().find(|p| p["name"] == name).unwrap();
        p["node"].clone()
    };
    for p in ["web-ops-0", "web-ops-1"] {
        assert!(node(p).starts_with("a-"), "{p} on {:?}", node(p));
    }
    for p in ["web-dev-0", "web-dev-1"] {
        assert!(node(p).starts_with("b-"), "{p} on {:?}", node(p));
    }
    assert_eq!(node("web-none"), "", "no namespace is labelled team=nobody");
    // A Namespace whose name is not a DNS label does not load.
    let err = load_error(
        "nsselector-bad",
        "name: ns\ncluster:\n  nodeGroups: [{name: n, count: 1}]\nactions:\n- at: 0s\n  apply: {apiVersion: v1, kind: Namespace, metadata: {name: Bad_Name}}\n",
    );
    assert!(
        err.contains("Namespace `Bad_Name` is invalid")
            && err.contains("a lowercase RFC 1123 label"),
        "{err}"
    );
}

/// A pod that InterPodAffinity rejected goes back to the queue when a pod
/// its required affinity term selects is bound (upstream's
/// AssignedPodAdded), not after the 5-minute flush; a pod that only
/// NodeResourcesFit rejected stays where it is.
#[test]
fn a_bound_pod_moves_the_pods_waiting_for_it() {
    let dir = scratch("assigned-add");
    let affinity = "affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: db}}, topologyKey: kubernetes.io/hostname}]}}";
    let s = write(
        &dir,
        "s.yaml",
        &format!(
            "name: assigned-add\nduration: 120s\ncluster:\n  nodeGroups:\n    - {{name: n, count: 2, capacity: {{cpu: '4', memory: 16Gi, pods: 110}}}}\n\
             actions:\n  - at: 0s\n    apply:\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: web}}, spec: {{{affinity}, containers: [{{name: c, image: nginx}}]}}}}\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: huge}}, spec: {{{affinity}, containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '64'}}}}}}]}}}}\n\
             \x20 - at: 20s\n    apply:\n\
             \x20     - {{apiVersion: v1, kind: Pod, metadata: {{name: db, labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: postgres}}]}}}}\n"
        ),
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let pod = |name: &str| pods.iter().find(|p| p["name"] == name).unwrap();
    let db = micros(&pod("db")["scheduled_s"]).expect("db scheduled");
    let web = micros(&pod("web")["scheduled_s"]).expect("web scheduled once db is bound");
    assert!(
        web > db && web < db + 2_000_000,
        "web scheduled at {web} us, db at {db} us"
    );
    assert_eq!(pod("web")["node"], pod("db")["node"]);
    assert_eq!(pod("web")["attempts"], "2");
    assert_eq!(pod("huge")["node"], "");
    assert_eq!(pod("huge")["attempts"], "1", "NodeResourcesFit rejected it");
}

/// The queueing hints end to end: a pod NodePorts rejected (the one node's
/// host port is taken) is tried again when an unrelated pod is deleted
/// only with the hints off (`--feature-gates
/// SchedulerQueueingHints=false`, or the scenario's
/// `scheduler.featureGates`): with them on (the default), NodePorts' hint
/// sees that the deleted pod held no port. Deleting the pod that holds
/// the port lets it bind either way. An unknown gate is refused.
#[test]
fn queueing_hints_decide_which_deletions_retry_a_pod() {
    let dir = scratch("queueing-hints");
    let pod = |name: &str, port: bool| {
        let ports = if port {
            ", ports: [{containerPort: 80, hostPort: 80}]"
        } else {
            ""
        };
        format!(
            "{{apiVersion: v1, kind: Pod, metadata: {{name: {name}}}, spec: {{containers: [{{name: c, image: nginx:1.27{ports}, resources: {{requests: {{cpu: 100m}}}}}}]}}}}"
        )
    };
    let scenario = |gates: &str| {
        format!(
            "name: hints\nduration: 60s\n{gates}cluster:\n  nodeGroups:\n  - {{name: n, count: 1, capacity: {{cpu: '4', memory: 8Gi, pods: 110}}}}\nactions:\n- at: 0s\n  apply: [{}, {}]\n- at: 5s\n  apply: {}\n- at: 20s\n  delete: {{kind: Pod, name: other}}\n- at: 40s\n  delete: {{kind: Pod, name: holder}}\n",
            pod("holder", true),
            pod("other", false),
            pod("waiting", true)
        )
    };
    let on = write(&dir, "on.yaml", &scenario(""));
    let off = write(
        &dir,
        "off.yaml",
        &scenario("scheduler: {featureGates: {SchedulerQueueingHints: false}}\n"),
    );
    // (tries of `waiting` that failed, whether it bound after 40 s)
    let tries = |scenario: &Path, name: &str, extra: &[&str]| {
        let out = dir.join(name);
        run_ok(scenario, &out, extra);
        let events = read_csv(&out.join("events.csv"));
        let failed = events
            .iter()
            .filter(|e| e["action"] == "unschedulable" && e["name"] == "waiting")
            .count();
        let bound = events.iter().any(|e| {
            e["component"] == "kube-scheduler"
                && e["action"] == "schedule"
                && e["name"] == "waiting"
                && micros(&e["time_s"]).is_some_and(|t| t >= 40_000_000)
        });
        (failed, bound)
    };
    assert_eq!(tries(&on, "on", &[]), (1, true));
    assert_eq!(tries(&off, "off", &[]), (2, true));
    let flag = ["--feature-gates", "SchedulerQueueingHints=false"];
    assert_eq!(tries(&on, "on-flag", &flag), (2, true));
    let flag = ["--feature-gates", "SchedulerQueueingHints=true"];
    assert_eq!(tries(&off, "off-flag", &flag), (1, true));
    let o = kubesim(&["run", on.to_str().unwrap(), "--feature-gates", "Foo=true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("unknown feature gate `Foo`: the model has SchedulerQueueingHints only"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A scenario (file `name`) of 20 nodes and 300 pods created at once,
/// with `scheduler` settings `settings` (YAML lines under `scheduler:`, or
/// none).
fn burst_of_pods(dir: &Path, name: &str, settings: &str) -> PathBuf {
    let pods: String = (0..300)
        .map(|i| {
            format!(
                "      - {{apiVersion: v1, kind: Pod, metadata: {{name: p-{i}}}, spec: {{containers: [{{name: c, image: pause, resources: {{requests: {{cpu: 10m}}}}}}]}}}}\n"
            )
        })
        .collect();
    write(
        dir,
        name,
        &format!(
            "name: burst\ncluster:\n  nodeGroups:\n    - {{name: n, count: 20, capacity: {{cpu: '8', memory: 32Gi, pods: 110}}}}\nimages: {{pause: 1Mi}}\nscheduler:\n  policy: default\n{settings}actions:\n  - at: 0s\n    apply:\n{pods}"
        ),
    )
}

/// Every pod's bind, in seconds, sorted.
fn binds(out: &Path) -> Vec<f64> {
    let mut b: Vec<f64> = read_csv(&out.join("pods.csv"))
        .iter()
        .map(|p| p["bound_s"].parse::<f64>().unwrap())
        .collect();
    b.sort_by(f64::total_cmp);
    b
}

/// kube-scheduler's API client is rate-limited as upstream's (QPS 50,
/// burst 100 by default): 300 pods at once bind 100 at once and then 50 a
/// second, so the last binds about 4 s in, where a raised limit
/// (`scheduler.clientConnection`, or a KubeSchedulerConfiguration's
/// `clientConnection`, which wins over the scenario's) leaves the
/// scheduler's own pace, well under a second.
#[test]
fn the_schedulers_client_rate_limit_paces_its_binds() {
    let dir = scratch("scheduler-qps");
    let default = burst_of_pods(&dir, "default.yaml", "");
    run_ok(&default, &dir.join("default"), &[]);
    let b = binds(&dir.join("default"));
    assert_eq!(b.len(), 300);
    // The 101st bind waits for a token: 20 ms after the bucket emptied at
    // least; the last about (300 - 100) / 50 = 4 s after the first.
    assert!(b[99] < 1.0, "{}", b[99]);
    assert!((3.9..4.6).contains(&(b[299] - b[0])), "{} {}", b[0], b[299]);
    let raised = burst_of_pods(
        &dir,
        "raised.yaml",
        "  clientConnection: {qps: 1000, burst: 2000}\n",
    );
    run_ok(&raised, &dir.join("raised"), &[]);
    let r = binds(&dir.join("raised"));
    assert!(r[299] - r[0] < 1.0, "{} {}", r[0], r[299]);
    // A KubeSchedulerConfiguration's clientConnection: qps 100, burst 0
    // (upstream's default burst, 100): 200 more binds take 2 s.
    let sched = write(
        &dir,
        "sched.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  qps: 100\n  contentType: application/vnd.kubernetes.protobuf\n",
    );
    run_ok(
        &raised,
        &dir.join("file"),
        &["--policy", sched.to_str().unwrap()],
    );
    let f = binds(&dir.join("file"));
    assert!((1.9..2.6).contains(&(f[299] - f[0])), "{} {}", f[0], f[299]);
    // Bad settings are refused with their place.
    let bad = burst_of_pods(&dir, "bad.yaml", "  clientConnection: {qps: -1}\n");
    let o = kubesim(&["run", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:") && err.contains("qps must be a positive number"),
        "{err}"
    );
    let bad_sched = write(
        &dir,
        "bad-sched.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  burst: -3\n",
    );
    let o = kubesim(&[
        "run",
        raised.to_str().unwrap(),
        "--policy",
        bad_sched.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad-sched.yaml") && err.contains("clientConnection.burst: Invalid value: -3"),
        "{err}"
    );
}

/// A scheduling failure patches the pod's status with PodScheduled=False,
/// reason Unschedulable, as upstream's scheduler does, once: a later
/// failure that changes nothing patches nothing (here the pod is tried
/// again when a small pod's deletion frees cpu, still too little).
#[test]
fn a_failure_patches_the_pods_status_once() {
    let dir = scratch("unschedulable-condition");
    let s = write(
        &dir,
        "s.yaml",
        "name: too-big\ncluster:\n  nodeGroups:\n    - {name: n, count: 1, capacity: {cpu: '1', memory: 1Gi, pods: 10}}\nimages: {pause: 1Mi}\nactions:\n  - at: 0s\n    apply:\n      - {apiVersion: v1, kind: Pod, metadata: {name: small}, spec: {containers: [{name: c, image: pause, resources: {requests: {cpu: 100m}}}]}}\n      - {apiVersion: v1, kind: Pod, metadata: {name: big}, spec: {containers: [{name: c, image: pause, resources: {requests: {cpu: '2'}}}]}}\n  - at: 10s\n    delete: {kind: Pod, name: small}\n",
    );
    run_ok(&s, &dir.join("out"), &[]);
    let events = read_csv(&dir.join("out/events.csv"));
    let of_big = |component: &str, action: &str| {
        events
            .iter()
            .filter(|e| e["component"] == component && e["action"] == action && e["name"] == "big")
            .count()
    };
    assert_eq!(of_big("kube-scheduler", "unschedulable"), 2);
    let patches: Vec<&BTreeMap<String, String>> = events
        .iter()
        .filter(|e| {
            e["component"] == "kube-apiserver"
                && e["name"] == "big"
                && e["detail"].starts_with("from kube-scheduler")
        })
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(
        patches[0]["detail"].contains("phase=Pending"),
        "{patches:?}"
    );
}

/// A KubeSchedulerConfiguration's `podInitialBackoffSeconds` sets the
/// backoff a pod waits out after a failed attempt: a pod that fails on a
/// cordoned node at 1 s and is moved by the uncordon at 1.5 s is tried
/// again when its backoff from the failure ends, after 1 s by default, 5 s
/// here.
#[test]
fn the_configurations_backoff_delays_the_next_attempt() {
    let dir = scratch("pod-backoff");
    let s = write(
        &dir,
        "s.yaml",
        "name: backoff\ncluster:\n  nodeGroups:\n    - {name: n, count: 1, capacity: {cpu: '4', memory: 8Gi, pods: 10}}\nimages: {pause: 1Mi}\nactions:\n  - at: 0s\n    cordon: n-0\n  - at: 1s\n    apply: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: pause}]}}\n  - at: 1500ms\n    uncordon: n-0\n",
    );
    let policy = write(
        &dir,
        "sched.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npodInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 20\n",
    );
    let bound = |out: &str, extra: &[&str]| {
        run_ok(&s, &dir.join(out), extra);
        let pods = read_csv(&dir.join(out).join("pods.csv"));
        pods[0]["bound_s"].parse::<f64>().unwrap()
    };
    let default = bound("default", &[]);
    assert!((2.0..2.2).contains(&default), "{default}");
    let slow = bound("slow", &["--policy", policy.to_str().unwrap()]);
    assert!((6.0..6.2).contains(&slow), "{slow}");
}

/// upstream's FitError sorts its "N reason" parts as strings, so "10 ..."
/// comes before "2 ...", whatever the reasons.
#[test]
fn the_unschedulable_message_sorts_its_parts_as_strings() {
    let text = "name: fit-error-order\nduration: 5s\ncluster:\n  nodeGroups:\n    - {name: a, count: 2, labels: {pool: a}, capacity: {cpu: '1', memory: 16Gi, pods: 110}}\n\
                \x20   - {name: b, count: 10, labels: {pool: b}, capacity: {cpu: '8', memory: 16Gi, pods: 110}}\n\
                actions:\n  - at: 0s\n    apply:\n\
                \x20     - {apiVersion: v1, kind: Pod, metadata: {name: big}, spec: {nodeSelector: {pool: a}, containers: [{name: c, image: nginx, resources: {requests: {cpu: '2'}}}]}}\n";
    let out = run_scenario("fit-error-order", text);
    let events = read_csv(&out.join("events.csv"));
    let said = events
        .iter()
        .find(|e| e["action"] == "unschedulable" && e["name"] == "big")
        .map(|e| e["detail"].clone())
        .expect("the pod is unschedulable");
    assert!(
        said.starts_with(
            "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
        ),
        "{said}"
    );
}
