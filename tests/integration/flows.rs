//! The Pod creation flow end to end, determinism and model invariants.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;

#[test]
fn quickstart_schedules_every_pod_with_ordered_lifecycle_times() {
    let out = scratch("quickstart");
    let o = run_ok(&repo().join("scenarios/quickstart.yaml"), &out, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("speed-up"), "{stdout}");
    assert_eq!(
        header(&out.join("events.csv")),
        "time_s,seq,component,action,kind,namespace,name,node,detail"
    );
    assert_eq!(
        header(&out.join("pods.csv")),
        "namespace,name,owner,node,phase,created_s,scheduled_s,bound_s,started_s,ready_s,reachable_s,deleted_s,attempts,startup_latency_s"
    );
    assert_eq!(
        header(&out.join("nodes.csv")),
        "time_s,node,cpu_requested_m,cpu_allocatable_m,memory_requested_bytes,memory_allocatable_bytes,pods,pods_allocatable"
    );
    assert_eq!(header(&out.join("summary.csv")), "metric,value");
    let pods = read_csv(&out.join("pods.csv"));
    assert!(pods.len() >= 5, "quickstart has a few pods");
    for p in &pods {
        assert!(!p["node"].is_empty(), "pod {} has no node", p["name"]);
        let steps: Vec<u64> = [
            "created_s",
            "scheduled_s",
            "bound_s",
            "started_s",
            "ready_s",
        ]
        .iter()
        .map(|c| micros(&p[*c]).unwrap_or_else(|| panic!("pod {} lacks {c}", p["name"])))
        .collect();
        assert!(
            steps.windows(2).all(|w| w[0] <= w[1]),
            "pod {} times out of order: {steps:?}",
            p["name"]
        );
        if p["deleted_s"].is_empty() {
            assert_eq!(p["phase"], "Running");
        } else {
            // Deleted gracefully: its containers stopped (exit code 0), so
            // the kubelet reported the terminal phase before the final delete.
            assert_eq!(p["phase"], "Succeeded", "pod {}", p["name"]);
        }
    }
    // The Service's pods become reachable, after they are ready.
    let reachable: Vec<_> = pods
        .iter()
        .filter(|p| !p["reachable_s"].is_empty())
        .collect();
    assert!(!reachable.is_empty(), "some pod is behind a Service");
    for p in reachable {
        assert!(micros(&p["reachable_s"]) >= micros(&p["ready_s"]));
    }
}

#[test]
fn pod_flow_shows_every_hop_in_order() {
    let out = scratch("pod-flow");
    run_ok(&repo().join("scenarios/pod-flow.yaml"), &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    assert_in_time_order(&events);
    let is_pod = |e: &BTreeMap<String, String>| e["kind"] == "Pod" && e["name"] == "hello";
    // The hops of the Pod flow, each found after the previous one.
    let hops: [(&str, &str); 14] = [
        ("client", "create"),
        ("kube-apiserver", "create"),
        ("etcd", "put"),
        ("kube-scheduler", "enqueue"),
        ("kube-scheduler", "schedule"),
        ("kube-apiserver", "bind"),
        ("etcd", "put"),
        ("kubelet", "observe"),
        ("docker", "run-sandbox"),
        ("docker", "pull"),
        ("docker", "create-container"),
        ("docker", "start-container"),
        ("kubelet", "status"),
        ("kube-proxy", "reachable"),
    ];
    let mut at = 0;
    for (component, action) in hops {
        let found = events[at..]
            .iter()
            .position(|e| e["component"] == component && e["action"] == action && is_pod(e))
            .unwrap_or_else(|| panic!("no `{component} {action}` for pod hello after row {at}"));
        at += found + 1;
    }
    // The kubelet and docker rows name the node the scheduler chose.
    let pods = read_csv(&out.join("pods.csv"));
    let node = &pods[0]["node"];
    assert!(
        events
            .iter()
            .filter(|e| is_pod(e) && (e["component"] == "kubelet" || e["component"] == "docker"))
            .all(|e| &e["node"] == node)
    );
}

fn outputs(dir: &std::path::Path) -> Vec<Vec<u8>> {
    kubesim::sim::run::OUTPUT_FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
fn same_seed_gives_byte_identical_outputs_and_another_seed_differs() {
    let scenario = repo().join("scenarios/quickstart.yaml");
    let a = scratch("det-a");
    let b = scratch("det-b");
    let c = scratch("det-c");
    run_ok(&scenario, &a, &[]);
    run_ok(&scenario, &b, &[]);
    run_ok(&scenario, &c, &["--seed", "7"]);
    let (oa, ob, oc) = (outputs(&a), outputs(&b), outputs(&c));
    for (i, (x, y)) in oa.iter().zip(&ob).enumerate() {
        assert!(x == y, "output file {i} differs between identical runs");
    }
    assert_ne!(oa[0], oc[0], "a different seed changes the timeline");
    assert_ne!(oa[3], oc[3], "a different seed changes the summary");
}

/// Where the threads run is not part of the model: a run that lets the
/// operating system place every thread (`--share-cores`) writes the same
/// bytes, and prints the same run hash, as one whose model thread has a
/// core of its own (the default where there are two cores or more).
#[test]
fn thread_placement_does_not_change_outputs() {
    let scenario = repo().join("scenarios/quickstart.yaml");
    let (own, shared) = (scratch("own-core"), scratch("shared-cores"));
    let a = run_ok(&scenario, &own, &[]);
    let b = run_ok(&scenario, &shared, &["--share-cores"]);
    for (i, (x, y)) in outputs(&own).iter().zip(&outputs(&shared)).enumerate() {
        assert!(x == y, "output file {i} depends on thread placement");
    }
    let hash = |o: &std::process::Output| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split("run hash ").nth(1).map(|h| h[..16].to_string())
    };
    assert!(hash(&a).is_some(), "the run prints its hash");
    assert_eq!(hash(&a), hash(&b));
}

/// A run into a directory that holds an earlier run's outputs (here with
/// the scheduling trace, which this run does not write) leaves exactly its
/// own files there, the same as a run into an empty directory: nothing of
/// the earlier run, nothing partial.
#[test]
fn a_run_replaces_the_outputs_of_an_earlier_one() {
    let scenario = repo().join("scenarios/quickstart.yaml");
    let (again, fresh) = (scratch("rerun"), scratch("rerun-fresh"));
    run_ok(&scenario, &again, &["--seed", "7", "--trace-scheduling"]);
    assert!(again.join("scheduling.csv").exists());
    run_ok(&scenario, &again, &[]);
    run_ok(&scenario, &fresh, &[]);
    let mut names: Vec<String> = std::fs::read_dir(&again)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = kubesim::sim::run::OUTPUT_FILES
        .iter()
        .map(|f| f.to_string())
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(
        outputs(&again) == outputs(&fresh),
        "a rerun's outputs differ"
    );
}

/// An earlier run's timeline kept under another name with a hard link
/// is left as it was: only a file with no other link is written over in
/// place. The new run's outputs are those of a run into an empty
/// directory.
#[cfg(unix)]
#[test]
fn an_output_kept_with_a_hard_link_is_not_written_over() {
    let scenario = repo().join("scenarios/quickstart.yaml");
    let (dir, fresh) = (scratch("hard-link"), scratch("hard-link-fresh"));
    run_ok(&scenario, &dir, &["--seed", "7"]);
    let earlier = std::fs::read(dir.join("events.csv")).unwrap();
    let kept = dir.join("kept-events.csv");
    std::fs::hard_link(dir.join("events.csv"), &kept).unwrap();
    run_ok(&scenario, &dir, &[]);
    run_ok(&scenario, &fresh, &[]);
    assert!(
        std::fs::read(&kept).unwrap() == earlier,
        "the kept timeline changed"
    );
    assert!(
        outputs(&dir) == outputs(&fresh),
        "the new run's outputs differ from a fresh run's"
    );
    assert_ne!(
        earlier,
        outputs(&dir)[0],
        "the seeds give different timelines"
    );
}

/// A run that cannot start because of something in the way (here a
/// directory named pods.csv) leaves an earlier run's outputs where and as
/// they were: none is renamed or removed on the way.
#[test]
fn a_run_that_cannot_start_leaves_the_earlier_outputs_in_place() {
    let scenario = repo().join("scenarios/quickstart.yaml");
    let dir = scratch("blocked-rerun");
    run_ok(&scenario, &dir, &["--trace-scheduling"]);
    let earlier: Vec<(String, Vec<u8>)> = ["events.csv", "nodes.csv", "scheduling.csv"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    std::fs::remove_file(dir.join("pods.csv")).unwrap();
    std::fs::create_dir(dir.join("pods.csv")).unwrap();
    let o = kubesim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--trace-scheduling",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    for (name, bytes) in &earlier {
        assert!(
            std::fs::read(dir.join(name)).unwrap() == *bytes,
            "{name} changed"
        );
    }
    let hidden: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

/// An earlier timeline that is read-only does not stop a re-run: it is
/// written over when this process may write it (as root), else removed as
/// the other outputs are; the outputs are a fresh run's either way.
#[cfg(unix)]
#[test]
fn a_read_only_earlier_output_does_not_stop_a_rerun() {
    use std::os::unix::fs::PermissionsExt;
    let scenario = repo().join("scenarios/quickstart.yaml");
    let (dir, fresh) = (scratch("read-only"), scratch("read-only-fresh"));
    run_ok(&scenario, &dir, &["--seed", "7"]);
    for f in ["events.csv", "nodes.csv"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    run_ok(&scenario, &dir, &[]);
    run_ok(&scenario, &fresh, &[]);
    assert!(
        outputs(&dir) == outputs(&fresh),
        "the re-run's outputs differ from a fresh run's"
    );
}

/// Something that is not a file under an output's name (here a
/// directory) fails the run before it starts, as a write error, and is
/// left where and as it was.
#[test]
fn a_directory_under_an_output_name_fails_the_run_and_stays() {
    let scenario = repo().join("scenarios/quickstart.yaml");
    let dir = scratch("dir-in-the-way");
    std::fs::create_dir_all(dir.join("events.csv").join("inside")).unwrap();
    let o = kubesim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(dir.join("events.csv").join("inside").is_dir());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["events.csv"]);
}

#[test]
fn no_node_is_overcommitted_and_no_pod_is_bound_twice() {
    let dir = scratch("overcommit");
    // 3 nodes of 2 cpu; 10 pods of 700m: at most 2 fit per node, so 6 run and
    // 4 stay pending, retried on every cluster change.
    let mut text = String::from(
        "name: overcommit\nseed: 3\ncluster:\n  nodeGroups:\n  - {name: n, count: 3, capacity: {cpu: '2', memory: 8Gi, pods: 110}}\nactions:\n",
    );
    for i in 0..10 {
        text.push_str(&format!(
            "- at: {}ms\n  apply: {{apiVersion: v1, kind: Pod, metadata: {{name: p{i}}}, spec: {{containers: [{{name: c, image: 'busybox:1.36', resources: {{requests: {{cpu: 700m}}}}}}]}}}}\n",
            i * 10
        ));
    }
    text.push_str("- at: 30s\n  delete: {kind: Pod, name: p0}\n");
    let scenario = write(&dir, "s.yaml", &text);
    let out = dir.join("out");
    run_ok(&scenario, &out, &[]);
    for row in read_csv(&out.join("nodes.csv")) {
        let req: i64 = row["cpu_requested_m"].parse().unwrap();
        let alloc: i64 = row["cpu_allocatable_m"].parse().unwrap();
        assert!(req <= alloc, "node over-committed: {row:?}");
    }
    let events = read_csv(&out.join("events.csv"));
    let mut bound = BTreeSet::new();
    for e in events
        .iter()
        .filter(|e| e["component"] == "kube-apiserver" && e["action"] == "bind")
    {
        assert!(
            bound.insert(e["name"].clone()),
            "pod {} bound twice",
            e["name"]
        );
    }
    let pods = read_csv(&out.join("pods.csv"));
    let running = pods
        .iter()
        .filter(|p| p["phase"] == "Running" && p["deleted_s"].is_empty())
        .count();
    // After p0's deletion one pending pod takes its place.
    assert_eq!(running, 6);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "unschedulable" && e["detail"].contains("Insufficient cpu"))
    );
    let retried = pods
        .iter()
        .find(|p| p["attempts"].parse::<u32>().unwrap() > 1 && !p["node"].is_empty());
    assert!(
        retried.is_some(),
        "a pending pod was scheduled on retry after the delete"
    );
}

#[test]
fn duplicate_names_at_the_same_time_are_a_recorded_conflict() {
    let dir = scratch("dup");
    let scenario = write(
        &dir,
        "s.yaml",
        "name: dup\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '2', memory: 4Gi}}]\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: same}, spec: {containers: [{name: c, image: 'x:1'}]}}\n  - {kind: Pod, metadata: {name: same}, spec: {containers: [{name: c, image: 'x:2'}]}}\n",
    );
    let out = dir.join("out");
    run_ok(&scenario, &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    assert!(events.iter().any(|e| e["component"] == "client"
        && e["action"] == "error"
        && e["detail"].contains("AlreadyExists")));
    let summary = read_csv(&out.join("summary.csv"));
    let get = |m: &str| summary.iter().find(|r| r["metric"] == m).unwrap()["value"].clone();
    assert_eq!(get("api_conflicts"), "1");
    assert_eq!(get("pods_created"), "1");
}

#[test]
fn a_pod_without_containers_does_not_load() {
    // The apiserver's validation, when the scenario loads: the error is at
    // the manifest (line 7), not a 422 row after a run.
    let err = load_error(
        "invalid",
        "name: invalid\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '2', memory: 4Gi}}]\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: no-containers}, spec: {containers: []}}\n  - {kind: Pod, metadata: {name: fine}, spec: {containers: [{name: c, image: 'x:1'}]}}\n",
    );
    assert!(
        err.contains("s.yaml:7:6: Pod `no-containers` is invalid")
            && err.contains("spec.containers: Required value"),
        "{err}"
    );
}

#[test]
fn a_duration_limit_stops_the_run_there() {
    let dir = scratch("limit");
    let scenario = write(
        &dir,
        "s.yaml",
        "name: limit\nduration: 50ms\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '2', memory: 4Gi}}]\nactions:\n- at: 0s\n  apply: {kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: 'x:1'}]}}\n",
    );
    let out = dir.join("out");
    run_ok(&scenario, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"));
    let get = |m: &str| summary.iter().find(|r| r["metric"] == m).unwrap()["value"].clone();
    assert_eq!(get("virtual_time_s"), "0.050000");
    assert_eq!(get("stopped_by"), "duration");
    let events = read_csv(&out.join("events.csv"));
    assert!(
        events
            .iter()
            .all(|e| micros(&e["time_s"]).unwrap() <= 50_000)
    );
}

#[test]
fn every_bundled_scenario_is_byte_identical_across_runs() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    entries.sort();
    for scenario in entries {
        let name = scenario.file_stem().unwrap().to_string_lossy().to_string();
        // The scale scenarios are measured in results/, not run in tests.
        if name.starts_with("scale-") || name.starts_with("churn-") {
            continue;
        }
        let (a, b) = (scratch(&format!("{name}-a")), scratch(&format!("{name}-b")));
        run_ok(&scenario, &a, &[]);
        run_ok(&scenario, &b, &[]);
        let mut files: Vec<_> = std::fs::read_dir(&a)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        files.sort();
        assert!(files.len() >= 5, "{name}: {files:?}");
        for f in files {
            let x = std::fs::read(a.join(&f)).unwrap();
            let y = std::fs::read(b.join(&f)).unwrap();
            assert!(x == y, "{name}: {f:?} differs between identical runs");
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} scenarios checked");
}

/// A delete of an object that carries a finalizer (other than the
/// garbage collector's `orphan`) leaves it terminating, as upstream's
/// registry does: a running pod is stopped and stays in etcd with its
/// finalizer after the kubelet's final delete; a pending one is no longer
/// scheduled; a pod without finalizers is removed. Removing the finalizer
/// (`removeFinalizers`) lets the delete finish.
#[test]
fn finalizers_hold_deleted_pods() {
    let dir = scratch("finalizers");
    let s = write(
        &dir,
        "s.yaml",
        "name: finalizers\ncluster:\n  nodeGroups:\n    - {name: n, count: 1, capacity: {cpu: '1', memory: 16Gi, pods: 110}}\n\
         actions:\n  - at: 0s\n    apply:\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: held, finalizers: [example.com/keep]}, spec: {containers: [{name: c, image: pause}]}}\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: big, finalizers: [example.com/keep]}, spec: {containers: [{name: c, image: pause, resources: {requests: {cpu: '2'}}}]}}\n\
         \x20     - {apiVersion: v1, kind: Pod, metadata: {name: plain}, spec: {containers: [{name: c, image: pause}]}}\n\
         \x20 - {at: 30s, delete: {kind: Pod, name: held}}\n\
         \x20 - {at: 31s, delete: {kind: Pod, name: big}}\n\
         \x20 - {at: 32s, delete: {kind: Pod, name: plain}}\n\
         \x20 - {at: 40s, removeFinalizers: {kind: Pod, name: held}}\n\
         \x20 - {at: 41s, removeFinalizers: {kind: Pod, name: big, finalizers: [example.com/other]}}\n",
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let etcd = |name: &str, action: &str| {
        events
            .iter()
            .filter(|e| e["component"] == "etcd" && e["name"] == name && e["action"] == action)
            .map(|e| micros(&e["time_s"]).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(etcd("plain", "delete").len(), 1);
    // The finalizer kept the pod until it was removed at 40 s.
    let held_gone = etcd("held", "delete");
    assert_eq!(held_gone.len(), 1);
    assert!(held_gone[0] > 40_000_000, "{held_gone:?}");
    // Removing a finalizer it does not have changes nothing.
    assert!(etcd("big", "delete").is_empty());
    // The held pod was stopped, and the kubelet's final delete was a write
    // that kept it (deletion requested, status, final delete: three puts
    // after 30 s).
    let after = |name: &str, t: u64| {
        events
            .iter()
            .filter(|e| e["name"] == name && micros(&e["time_s"]).unwrap() >= t)
            .map(|e| format!("{},{}", e["component"], e["action"]))
            .collect::<Vec<_>>()
    };
    let held: Vec<String> = after("held", 30_000_000)
        .into_iter()
        .filter(|a| !a.starts_with("client"))
        .take_while(|a| a != "etcd,delete")
        .collect();
    assert!(held.contains(&"kubelet,kill-pod".to_string()), "{held:?}");
    assert_eq!(
        held.iter().filter(|a| *a == "etcd,put").count(),
        3,
        "{held:?}"
    );
    // The pending pod is no longer tried once its deletion is requested.
    let big = after("big", 31_000_000);
    assert!(
        big.iter().all(|a| !a.starts_with("kube-scheduler")),
        "{big:?}"
    );
}
