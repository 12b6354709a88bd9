//! The node agents at upstream fidelity: container restarts and their
//! back-off, readiness probes, batch pods, graceful deletion, image pull
//! failures, endpoints that follow readiness, and the startup SLI.

use std::collections::BTreeMap;

use crate::support::*;

type Row = BTreeMap<String, String>;

/// Runs a scenario text; returns (events, pods, summary).
fn run_text(name: &str, text: &str) -> (Vec<Row>, Vec<Row>, BTreeMap<String, String>) {
    let dir = scratch(name);
    let scenario = write(&dir, "s.yaml", text);
    let out = dir.join("out");
    run_ok(&scenario, &out, &[]);
    let summary = read_csv(&out.join("summary.csv"))
        .into_iter()
        .map(|r| (r["metric"].clone(), r["value"].clone()))
        .collect();
    (
        read_csv(&out.join("events.csv")),
        read_csv(&out.join("pods.csv")),
        summary,
    )
}

fn t(row: &Row) -> f64 {
    row["time_s"].parse().unwrap()
}

fn secs(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a time: `{s}`"))
}

const ONE_NODE: &str = "cluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\n";

#[test]
fn a_crashing_container_restarts_after_10_20_40_s_of_back_off() {
    let text = format!(
        "name: crash\nduration: 200s\n{ONE_NODE}actions:\n- at: 0s\n  apply: {{kind: Pod, metadata: {{name: crash, annotations: {{kubesim.io/run-duration: 2s, kubesim.io/exit-code: '1'}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n"
    );
    let (events, pods, _) = run_text("crash", &text);
    let of = |action: &str| -> Vec<f64> {
        events
            .iter()
            .filter(|e| {
                e["component"] == "kubelet" && e["action"] == action && e["name"] == "crash"
            })
            .map(t)
            .collect()
    };
    let exits = of("container-exited");
    let restarts = of("restart-container");
    assert!(restarts.len() >= 5, "restarts: {restarts:?}");
    // Restart k follows exit k by the back-off: none for the first restart
    // (as upstream's doBackOff), then 10, 20, 40, 80 s; the kubelet notices
    // an exit at its next relist (within 1 s).
    let expected = [0.0, 10.0, 20.0, 40.0, 80.0];
    for (k, want) in expected.iter().enumerate() {
        let waited = restarts[k] - exits[k];
        assert!(
            waited >= *want - 1e-6 && waited <= want + 1.0,
            "restart {k}: waited {waited} s after the exit, want {want} s (exits {exits:?}, restarts {restarts:?})"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "status" && e["detail"].contains("c=CrashLoopBackOff")),
        "the status shows CrashLoopBackOff"
    );
    // Restarting containers keep the pod Running (restartPolicy Always).
    assert_eq!(pods[0]["phase"], "Running");
}

#[test]
fn the_back_off_is_capped_at_300_s() {
    let text = format!(
        "name: cap\nduration: 30m\n{ONE_NODE}actions:\n- at: 0s\n  apply: {{kind: Pod, metadata: {{name: crash, annotations: {{kubesim.io/run-duration: 1s, kubesim.io/exit-code: '2'}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n"
    );
    let (events, _, _) = run_text("cap", &text);
    let times = |action: &str| -> Vec<f64> {
        events
            .iter()
            .filter(|e| e["action"] == action && e["name"] == "crash")
            .map(t)
            .collect()
    };
    let (exits, restarts) = (times("container-exited"), times("restart-container"));
    let waits: Vec<f64> = restarts.iter().zip(&exits).map(|(r, e)| r - e).collect();
    let max = waits.iter().cloned().fold(0.0, f64::max);
    assert!((300.0..=301.0).contains(&max), "waits {waits:?}");
    assert!(waits.len() >= 8);
}

#[test]
fn a_crash_loop_or_a_pull_that_never_succeeds_does_not_make_a_run_without_duration_endless() {
    // Without `duration`, the run stops once the back-offs reach their cap
    // (300 s) and nothing else is left; the pods stay as they are.
    let text = "name: endless\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi, missing:1: {size: 10Mi, missing: true}}\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: crash, annotations: {kubesim.io/run-duration: 1s, kubesim.io/exit-code: '2'}}, spec: {containers: [{name: c, image: 'app:1'}]}}\n  - {kind: Pod, metadata: {name: nopull}, spec: {containers: [{name: c, image: 'missing:1', imagePullPolicy: Always}]}}\n";
    let (events, pods, summary) = run_text("endless", text);
    assert_eq!(summary["stopped_by"], "idle");
    let virtual_s = secs(&summary["virtual_time_s"]);
    // 10 + 20 + 40 + 80 + 160 s of back-off, then the capped one is left.
    assert!((300.0..700.0).contains(&virtual_s), "{virtual_s}");
    let backoffs: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "back-off" && e["name"] == "crash")
        .map(|e| e["detail"].as_str())
        .collect();
    assert!(
        backoffs.last().unwrap().contains("back-off 300s"),
        "{backoffs:?}"
    );
    assert!(events.iter().any(|e| e["action"] == "pull-failed"
        && e["name"] == "nopull"
        && e["detail"].contains("back-off 300s")));
    let phase = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap()["phase"].clone();
    assert_eq!(
        (phase("crash").as_str(), phase("nopull").as_str()),
        ("Running", "Pending")
    );
}

#[test]
fn staggered_crash_loops_and_long_runs_between_crashes_do_not_make_a_run_endless() {
    // Three crash loops started 170 s apart: each one's exits used to keep
    // the others' capped retries going. And a container that runs 11 min
    // between crashes: its back-off is forgotten each time (10 min) and
    // never reaches the cap. From the seventh restart on, a container's own
    // exit keeps only a run with `duration` going. Before, this run did not
    // end.
    let pod = |name: &str, at: &str, run: &str| {
        format!(
            "- at: {at}\n  apply: {{kind: Pod, metadata: {{name: {name}, annotations: {{kubesim.io/run-duration: {run}, kubesim.io/exit-code: '2'}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n"
        )
    };
    let text = format!(
        "name: loops\n{ONE_NODE}actions:\n{}{}{}{}",
        pod("a", "0s", "200s"),
        pod("b", "170s", "200s"),
        pod("c", "340s", "200s"),
        pod("long", "0s", "11m"),
    );
    let (events, _, summary) = run_text("loops", &text);
    assert_eq!(summary["stopped_by"], "idle");
    let exits = |n: &str| {
        events
            .iter()
            .filter(|e| e["action"] == "container-exited" && e["name"] == n)
            .count()
    };
    // The long-running container's seven runs of 11 min (the first and
    // six restarts) bound the run; the others go on in the meantime.
    let virtual_s = secs(&summary["virtual_time_s"]);
    assert!(
        (7.0 * 660.0..8.0 * 660.0).contains(&virtual_s),
        "{virtual_s}"
    );
    assert_eq!(exits("long"), 7);
    for n in ["a", "b", "c"] {
        assert!(exits(n) >= 7, "{n}: {} exits", exits(n));
    }
    // The long-running container's back-off is forgotten before each
    // exit: it restarts at once, every time.
    assert!(
        !events
            .iter()
            .any(|e| e["action"] == "back-off" && e["name"] == "long")
    );
}

#[test]
fn the_pod_gc_deletes_the_oldest_terminated_pods_beyond_its_threshold() {
    // 30 pods that complete at once, created at 0, 5 and 10 s; the pod GC's
    // pass at 20 s finds 30 terminated pods, 20 over the threshold of 10,
    // and force deletes the 20 oldest.
    let batch = |at: &str, group: &str| {
        let pods: String = (0..10)
            .map(|i| format!("  - {{kind: Pod, metadata: {{name: {group}-{i}, annotations: {{kubesim.io/run-duration: 1s}}}}, spec: {{restartPolicy: Never, containers: [{{name: c, image: 'app:1'}}]}}}}\n"))
            .collect();
        format!("- at: {at}\n  apply:\n{pods}")
    };
    // The pod GC's pass is a background timer: a pod that runs 30 s keeps
    // the run going past it.
    let keeper = "- at: 0s\n  apply: {kind: Pod, metadata: {name: keeper, annotations: {kubesim.io/run-duration: 30s}}, spec: {restartPolicy: Never, containers: [{name: c, image: 'app:1'}]}}\n";
    let text = format!(
        "name: podgc\n{ONE_NODE}controllerManager: {{terminatedPodGCThreshold: 10}}\nactions:\n{}{}{}{keeper}",
        batch("0s", "a"),
        batch("5s", "b"),
        batch("10s", "c"),
    );
    let (events, pods, _) = run_text("podgc", &text);
    let gc: Vec<&Row> = events
        .iter()
        .filter(|e| e["action"] == "gc-terminated")
        .collect();
    assert_eq!(gc.len(), 20);
    assert!(
        gc.iter().all(|e| t(e) == 20.0
            && e["detail"] == "pod GC: 30 terminated pods, over the threshold of 10")
    );
    for p in &pods {
        let name = &p["name"];
        assert_eq!(p["phase"], "Succeeded", "{name}");
        let kept = name.starts_with("c-") || name == "keeper";
        assert_eq!(p["deleted_s"].is_empty(), kept, "{name}");
    }
    // Off with 0: nothing is collected.
    let off = text.replace(
        "terminatedPodGCThreshold: 10",
        "terminatedPodGCThreshold: 0",
    );
    let (events, pods, _) = run_text("podgc", &off);
    assert!(!events.iter().any(|e| e["action"] == "gc-terminated"));
    assert!(pods.iter().all(|p| p["deleted_s"].is_empty()));
}

#[test]
fn batch_pods_complete_and_crashing_pods_fail_by_restart_policy() {
    let pod = |name: &str, policy: &str, code: u8| {
        format!(
            "  - {{kind: Pod, metadata: {{name: {name}, annotations: {{kubesim.io/run-duration: 5s, kubesim.io/exit-code: '{code}'}}}}, spec: {{restartPolicy: {policy}, containers: [{{name: c, image: 'app:1'}}]}}}}\n"
        )
    };
    let text = format!(
        "name: batch\nduration: 120s\n{ONE_NODE}actions:\n- at: 0s\n  apply:\n{}{}{}{}",
        pod("ok-never", "Never", 0),
        pod("bad-never", "Never", 3),
        pod("ok-onfailure", "OnFailure", 0),
        pod("bad-onfailure", "OnFailure", 1),
    );
    let (events, pods, summary) = run_text("batch", &text);
    let phase = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap()["phase"].clone();
    assert_eq!(phase("ok-never"), "Succeeded");
    assert_eq!(phase("bad-never"), "Failed");
    assert_eq!(phase("ok-onfailure"), "Succeeded");
    // OnFailure restarts a failing container: still Running, restarting.
    assert_eq!(phase("bad-onfailure"), "Running");
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "bad-onfailure" && e["action"] == "restart-container")
    );
    assert!(
        !events
            .iter()
            .any(|e| e["name"] == "bad-never" && e["action"] == "restart-container")
    );
    assert_eq!(summary["pods_succeeded"], "2");
    assert_eq!(summary["pods_failed"], "1");
}

#[test]
fn init_containers_run_to_completion_before_the_containers_start() {
    let text = format!(
        "name: init\n{ONE_NODE}actions:\n- at: 0s\n  apply: {{kind: Pod, metadata: {{name: p, annotations: {{kubesim.io/init-run-duration: 4s}}}}, spec: {{initContainers: [{{name: i1, image: 'app:1'}}, {{name: i2, image: 'app:1'}}], containers: [{{name: c, image: 'app:1'}}]}}}}\n"
    );
    let (events, pods, _) = run_text("init", &text);
    let docker: Vec<&Row> = events
        .iter()
        .filter(|e| e["component"] == "docker" && e["name"] == "p")
        .collect();
    let starts: Vec<(&str, f64)> = docker
        .iter()
        .filter(|e| e["action"] == "start-container")
        .map(|e| (e["detail"].as_str(), t(e)))
        .collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert_eq!(starts[0].0, "container=0");
    assert_eq!(starts[1].0, "container=1");
    assert_eq!(starts[2].0, "container=2");
    // Each init container runs its 4 s before the next one starts.
    assert!(starts[1].1 - starts[0].1 >= 4.0);
    assert!(starts[2].1 - starts[1].1 >= 4.0);
    assert_eq!(pods[0]["phase"], "Running");
    // The startup latency includes the 8 s of init containers; the SLI does not.
    assert!(secs(&pods[0]["startup_latency_s"]) > 8.0);
}

#[test]
fn a_readiness_probe_makes_the_pod_ready_at_its_first_success_after_the_initial_delay() {
    let text = format!(
        "name: probe\nlatencies: {{containerStart: 100ms, plegRelist: 0s}}\n{ONE_NODE}actions:\n- at: 0s\n  apply: {{kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: c, image: 'app:1', readinessProbe: {{httpGet: {{path: /, port: 80}}, initialDelaySeconds: 7, periodSeconds: 5}}}}]}}}}\n"
    );
    let (events, pods, _) = run_text("probe", &text);
    let start = events
        .iter()
        .find(|e| e["action"] == "start-container")
        .map(t)
        .unwrap();
    let probe = events
        .iter()
        .find(|e| e["action"] == "probe" && e["detail"].contains("succeeded"))
        .map(t)
        .unwrap();
    // Started 100 ms after the start call; first success 7 s after that.
    assert!(
        (probe - (start + 0.1 + 7.0)).abs() < 1e-6,
        "probe at {probe}, container started at {}",
        start + 0.1
    );
    let p = &pods[0];
    let (started, ready) = (secs(&p["started_s"]), secs(&p["ready_s"]));
    assert!(
        started < probe,
        "Running is reported before the probe succeeds"
    );
    assert!(ready >= probe && ready < probe + 0.5, "ready_s {ready}");
    // Running but not ready in between.
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "status" && e["detail"] == "phase=Running")
    );
}

#[test]
fn service_endpoints_hold_a_pod_as_ready_only_while_it_is_ready() {
    let text = format!(
        "name: endpoints\nduration: 200s\n{ONE_NODE}actions:\n- at: 0s\n  apply:\n  - {{kind: Service, metadata: {{name: svc}}, spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}}}\n  - {{kind: Pod, metadata: {{name: web, labels: {{app: web}}, annotations: {{kubesim.io/readiness-fail-after: 60s}}}}, spec: {{containers: [{{name: c, image: 'app:1', readinessProbe: {{initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3}}}}]}}}}\n- at: 150s\n  delete: {{kind: Pod, name: web}}\n"
    );
    let (events, pods, _) = run_text("endpoints", &text);
    let p = &pods[0];
    let ready = secs(&p["ready_s"]);
    let unready = events
        .iter()
        .find(|e| e["action"] == "probe" && e["detail"].contains("failed"))
        .map(t)
        .expect("the probe fails after 60 s");
    // Fails from the probe at 60 s on; unready after 3 failures (80 s).
    let start = events
        .iter()
        .find(|e| e["action"] == "probe" && e["detail"].contains("succeeded"))
        .map(t)
        .unwrap()
        - 10.0;
    assert!(
        (unready - start - 80.0).abs() < 1e-6,
        "unready at {unready}"
    );
    let writes: Vec<(f64, String)> = events
        .iter()
        .filter(|e| {
            e["component"] == "kube-controller-manager"
                && e["kind"] == "EndpointSlice"
                && (e["action"] == "create" || e["action"] == "update")
        })
        .map(|e| (t(e), e["detail"].clone()))
        .collect();
    assert!(!writes.is_empty());
    for (at, detail) in &writes {
        let is_ready = detail.contains("1 endpoints, 1 ready");
        let inside = *at >= ready && *at < unready;
        assert_eq!(
            is_ready, inside,
            "slice write at {at} ({detail}); ready from {ready} to {unready}"
        );
    }
    assert!(
        writes
            .iter()
            .any(|(_, d)| d.contains("1 endpoints, 1 ready"))
    );
    assert!(
        writes
            .iter()
            .any(|(at, d)| *at > unready && d.contains("0 ready"))
    );
    // Deleted: the endpoint goes once the pod is terminal.
    assert!(
        writes.iter().any(|(at, _)| *at >= 150.0)
            || events
                .iter()
                .any(|e| e["kind"] == "EndpointSlice" && e["action"] == "delete")
    );
}

#[test]
fn deletion_waits_for_the_containers_within_the_grace_period() {
    let text = format!(
        "name: grace\n{ONE_NODE}actions:\n- at: 0s\n  apply:\n  - {{kind: Pod, metadata: {{name: quick, annotations: {{kubesim.io/shutdown-duration: 5s}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n  - {{kind: Pod, metadata: {{name: slow, annotations: {{kubesim.io/shutdown-duration: 5m}}}}, spec: {{terminationGracePeriodSeconds: 20, containers: [{{name: c, image: 'app:1'}}]}}}}\n- at: 30s\n  apply: []\n- at: 30s\n  delete: {{kind: Pod, name: quick}}\n- at: 30s\n  delete: {{kind: Pod, name: slow}}\n"
    );
    let (events, pods, _) = run_text("grace", &text);
    let gone = |name: &str| {
        events
            .iter()
            .find(|e| e["component"] == "etcd" && e["action"] == "delete" && e["name"] == name)
            .map(t)
            .unwrap_or_else(|| panic!("{name} never removed"))
    };
    // Removed from etcd once its containers stopped: 5 s, or killed at the
    // 20 s grace period.
    assert!((35.0..35.5).contains(&gone("quick")), "{}", gone("quick"));
    assert!((50.0..50.5).contains(&gone("slow")), "{}", gone("slow"));
    let phase = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap()["phase"].clone();
    assert_eq!(phase("quick"), "Succeeded");
    assert_eq!(
        phase("slow"),
        "Failed",
        "killed with SIGKILL: exit code 137"
    );
    for p in &pods {
        assert!((30.0..30.1).contains(&secs(&p["deleted_s"])), "{p:?}");
    }
}

#[test]
fn a_missing_image_gives_err_image_pull_then_image_pull_back_off() {
    let text = "name: missing\nduration: 60s\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '4', memory: 8Gi}}]\nimages:\n  nope:1: {missing: true}\nactions:\n- at: 0s\n  apply: {kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: 'nope:1'}]}}\n";
    let (events, pods, _) = run_text("missing", text);
    let details: Vec<&str> = events
        .iter()
        .filter(|e| e["component"] == "kubelet" && e["action"] == "status")
        .map(|e| e["detail"].as_str())
        .collect();
    let first_err = details.iter().position(|d| d.contains("c=ErrImagePull"));
    let first_backoff = details
        .iter()
        .position(|d| d.contains("c=ImagePullBackOff"));
    assert!(
        first_err.is_some() && first_backoff.is_some(),
        "{details:?}"
    );
    assert!(first_err < first_backoff);
    let retries = events
        .iter()
        .filter(|e| e["component"] == "kubelet" && e["action"] == "pull-failed")
        .count();
    // 60 s: failures at about 0, 10, 30 s (back-off 10 s, then 20 s).
    assert_eq!(retries, 3);
    assert_eq!(pods[0]["phase"], "Pending");
    assert!(pods[0]["started_s"].is_empty());
}

#[test]
fn a_large_image_on_a_cold_node_dominates_startup_but_not_the_sli() {
    let text = "name: cold\ncluster:\n  nodeGroups:\n  - {name: warm, count: 1, capacity: {cpu: '4', memory: 8Gi}, images: ['big:1']}\n  - {name: cold, count: 1, capacity: {cpu: '4', memory: 8Gi}}\nimages: {big:1: 1Gi}\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: on-warm}, spec: {nodeName: warm-0, containers: [{name: c, image: 'big:1'}]}}\n  - {kind: Pod, metadata: {name: on-cold}, spec: {nodeName: cold-0, containers: [{name: c, image: 'big:1'}]}}\n";
    let (_, pods, summary) = run_text("cold", text);
    let latency =
        |n: &str| secs(&pods.iter().find(|p| p["name"] == n).unwrap()["startup_latency_s"]);
    // 1 GiB at 50 MiB/s: 20.48 s of transfer on the cold node.
    assert!(latency("on-cold") > 20.48, "{}", latency("on-cold"));
    assert!(latency("on-warm") < 5.0);
    assert_eq!(summary["pod_startup_sli_pods"], "2");
    let p99 = secs(&summary["pod_startup_sli_p99_s"]);
    assert!(p99 < 5.0, "the pull is excluded from the SLI: p99 {p99}");
    assert_eq!(summary["pod_startup_slo_5s_p99_met"], "true");
}

#[test]
fn bad_kubesim_annotations_are_refused_when_the_scenario_loads() {
    let pod = |name: &str, annotation: &str| {
        format!(
            "name: badannotation\n{ONE_NODE}actions:\n- at: 0s\n  apply:\n  - {{kind: Pod, metadata: {{name: {name}, annotations: {{{annotation}}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n"
        )
    };
    let err = load_error(
        "badannotation",
        &pod("dur", "kubesim.io/run-duration: soon"),
    );
    assert!(
        err.contains("Pod `dur` is invalid") && err.contains("kubesim.io/run-duration"),
        "{err}"
    );
    let err = load_error("badannotation", &pod("code", "kubesim.io/exit-code: '300'"));
    assert!(
        err.contains("Pod `code` is invalid") && err.contains("kubesim.io/exit-code"),
        "{err}"
    );
}

#[test]
fn kube_proxy_syncs_through_a_bounded_frequency_runner() {
    // Pods become ready one every 250 ms for 10 s: each node syncs at most
    // once a second after its burst of 2, and every 30 s when idle. Syncs
    // cost a constant 10 ms here, so the logged ends are spaced like the
    // starts the limiter governs.
    let mut text = String::from(
        "name: bfr\nlatencies: {podSandbox: 10ms, containerCreate: 10ms, containerStart: 10ms, plegRelist: 0s, proxySync: 10ms, proxySyncPerEndpoint: 0s}\ncluster:\n  nodeGroups: [{name: n, count: 3, capacity: {cpu: '8', memory: 16Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply: {kind: Service, metadata: {name: svc}, spec: {selector: {app: web}, ports: [{port: 80}]}}\n- at: 0s\n  apply: {kind: Pod, metadata: {name: timer, annotations: {kubesim.io/run-duration: 100s}}, spec: {restartPolicy: Never, containers: [{name: c, image: 'app:1'}]}}\n",
    );
    for i in 0..40 {
        text.push_str(&format!(
            "- at: {}ms\n  apply: {{kind: Pod, metadata: {{name: w{i}, labels: {{app: web}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n",
            1000 + i * 250
        ));
    }
    let (events, pods, summary) = run_text("bfr", &text);
    for node in ["n-0", "n-1", "n-2"] {
        let syncs: Vec<f64> = events
            .iter()
            .filter(|e| {
                e["component"] == "kube-proxy" && e["action"] == "sync" && e["node"] == node
            })
            .map(t)
            .collect();
        let busy: Vec<f64> = syncs.iter().copied().filter(|t| *t < 12.0).collect();
        // 11 s of changes: at most 2 (burst) + 11 syncs, and they do happen.
        assert!(busy.len() <= 13 && busy.len() >= 8, "{node}: {busy:?}");
        // Four syncs take four tokens: the two of the burst and two refills,
        // so they span at least two periods (exactly two when the limiter
        // is the only constraint). Compared in whole microseconds.
        for w in busy.windows(4) {
            let span = ((w[3] - w[0]) * 1e6).round() as i64;
            assert!(span >= 2_000_000, "{node}: 4 syncs within 2 s: {w:?}");
        }
    }
    // Periodic syncs run while the run is alive (the timer pod runs 100 s)
    // but programme nothing new; they are counted, not logged.
    let syncs: u64 = summary["proxy_syncs"].parse().unwrap();
    let logged = events
        .iter()
        .filter(|e| e["component"] == "kube-proxy" && e["action"] == "sync")
        .count() as u64;
    assert!(syncs >= logged + 3 * 2, "syncs {syncs}, logged {logged}");
    // Every pod is reachable once every node programmed it.
    assert!(
        pods.iter()
            .filter(|p| p["name"].starts_with('w'))
            .all(|p| !p["reachable_s"].is_empty())
    );
    // Per (node, change): 3 samples per measured change; the latency to
    // the last node is never below the per-node one.
    let samples: u64 = summary["network_programming_samples"].parse().unwrap();
    assert!(samples > 0 && samples.is_multiple_of(3), "{samples}");
    let per_node = secs(&summary["network_programming_latency_p99_s"]);
    let last = secs(&summary["network_programming_last_node_p99_s"]);
    assert!(last >= per_node && per_node > 0.0 && per_node < 2.0);
}

#[test]
fn an_idle_cluster_stops_despite_periodic_proxy_syncs() {
    let text = format!(
        "name: idle\n{ONE_NODE}actions:\n- at: 0s\n  apply:\n  - {{kind: Service, metadata: {{name: svc}}, spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}}}\n  - {{kind: Pod, metadata: {{name: web, labels: {{app: web}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n"
    );
    let (_, pods, summary) = run_text("idle", &text);
    assert_eq!(summary["stopped_by"], "idle");
    assert!(secs(&summary["virtual_time_s"]) < 30.0);
    assert!(!pods[0]["reachable_s"].is_empty());
}

#[test]
fn a_failed_node_is_marked_unreachable_and_its_pods_evicted_after_their_toleration() {
    let text = "name: fail\ncluster:\n  nodeGroups: [{name: w, count: 3, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: a}, spec: {nodeName: w-1, containers: [{name: c, image: 'app:1'}]}}\n  - {kind: Pod, metadata: {name: short}, spec: {nodeName: w-1, tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 60}], containers: [{name: c, image: 'app:1'}]}}\n  - {kind: Pod, metadata: {name: forever}, spec: {nodeName: w-1, tolerations: [{operator: Exists}], containers: [{name: c, image: 'app:1'}]}}\n  - {kind: Pod, metadata: {name: elsewhere}, spec: {nodeName: w-0, containers: [{name: c, image: 'app:1'}]}}\n- at: 20s\n  failNode: w-1\n- at: 20s\n  apply: {kind: Pod, metadata: {name: late}, spec: {containers: [{name: c, image: 'app:1'}]}}\n- at: 100s\n  apply: {kind: Pod, metadata: {name: after}, spec: {containers: [{name: c, image: 'app:1'}]}}\n";
    let (events, pods, _) = run_text("fail", text);
    let unreachable = events
        .iter()
        .find(|e| e["action"] == "node-unreachable" && e["name"] == "w-1")
        .map(t)
        .expect("w-1 is marked unreachable");
    // Last Lease renewal at or before 20 s, 50 s of grace, 5 s monitor passes.
    assert!((70.0..=80.0).contains(&unreachable), "{unreachable}");
    let evicted = |name: &str| {
        events
            .iter()
            .find(|e| e["action"] == "evict" && e["name"] == name)
            .map(t)
    };
    // Default toleration: 300 s after the taint; 60 s for `short`; never
    // for a pod tolerating every taint; never for pods on healthy nodes.
    let a = evicted("a").expect("a is evicted");
    assert!((a - unreachable - 300.0).abs() < 0.5, "a evicted at {a}");
    let short = evicted("short").expect("short is evicted");
    assert!((short - unreachable - 60.0).abs() < 0.5, "short at {short}");
    assert!(evicted("forever").is_none());
    assert!(evicted("elsewhere").is_none());
    let row = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    // About 50 s + 300 s after the failure, the pod is deleted (terminating:
    // its kubelet is gone, so it stays until the node returns).
    let deleted = secs(&row("a")["deleted_s"]);
    assert!((340.0..=365.0).contains(&(deleted - 20.0)), "{deleted}");
    assert!(row("elsewhere")["deleted_s"].is_empty());
    // The unreachable node takes no new pods.
    assert_ne!(row("after")["node"], "w-1");
    assert!(!row("after")["node"].is_empty());
}

#[test]
fn a_recovered_node_is_ready_again_and_cordon_and_drain_work() {
    let text = "name: recover\ncluster:\n  nodeGroups: [{name: w, count: 2, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: a}, spec: {nodeName: w-0, containers: [{name: c, image: 'app:1'}]}}\n  - {kind: Pod, metadata: {name: b}, spec: {nodeName: w-0, containers: [{name: c, image: 'app:1'}]}}\n- at: 5s\n  failNode: w-1\n- at: 100s\n  recoverNode: w-1\n- at: 150s\n  drain: w-0\n- at: 160s\n  apply: {kind: Pod, metadata: {name: c}, spec: {containers: [{name: c, image: 'app:1'}]}}\n- at: 170s\n  uncordon: w-0\n- at: 170s\n  cordon: w-1\n- at: 180s\n  apply: {kind: Pod, metadata: {name: d}, spec: {containers: [{name: c, image: 'app:1'}]}}\n";
    let (events, pods, _) = run_text("recover", text);
    let ready = events
        .iter()
        .find(|e| e["action"] == "node-ready" && e["name"] == "w-1")
        .map(t)
        .expect("w-1 is Ready again");
    assert!((100.0..=120.0).contains(&ready), "{ready}");
    let row = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    // Drained: both pods deleted gracefully at about 150 s.
    for n in ["a", "b"] {
        let d = secs(&row(n)["deleted_s"]);
        assert!((150.0..151.0).contains(&d), "{n}: {d}");
    }
    // While w-0 is cordoned, c goes to w-1; d to w-0 once w-1 is cordoned.
    assert_eq!(row("c")["node"], "w-1");
    assert_eq!(row("d")["node"], "w-0");
}

/// `label` and `taint` are Node updates every component sees: a pod
/// whose node selector no node matched binds once a node is labelled; a
/// NoExecute taint evicts the pods that do not tolerate it (not those
/// that do) and keeps new pods off the node until it is removed; a label
/// removed leaves the next such pod pending.
#[test]
fn label_and_taint_actions_move_pods_as_kubectl_label_and_taint_do() {
    let pod = |name: &str, spec: &str| {
        format!(
            "  - {{kind: Pod, metadata: {{name: {name}}}, spec: {{{spec}containers: [{{name: c, image: 'app:1'}}]}}}}\n"
        )
    };
    let text = [
        "name: label-taint\ncluster:\n  nodeGroups: [{name: w, count: 2, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply:\n",
        &pod("picky", "nodeSelector: {disktype: ssd}, "),
        &pod("plain", "nodeName: w-0, "),
        &pod(
            "tolerant",
            "nodeName: w-0, tolerations: [{key: maintenance, operator: Exists, effect: NoExecute}], ",
        ),
        "- at: 10s\n  label: {node: w-1, labels: {disktype: ssd}}\n",
        "- at: 20s\n  taint: {node: w-0, add: [{key: maintenance, value: 'yes', effect: NoExecute}]}\n",
        "- at: 30s\n  apply:\n",
        &pod("pinned-later", "nodeSelector: {kubernetes.io/hostname: w-0}, "),
        "- at: 40s\n  taint: {node: w-0, remove: [{key: maintenance}]}\n",
        "- at: 40s\n  label: {node: w-1, labels: {disktype: null}}\n",
        "- at: 45s\n  apply:\n",
        &pod("picky-later", "nodeSelector: {disktype: ssd}, "),
        "duration: 60s\n",
    ]
    .concat();
    let (events, pods, _) = run_text("label-taint", &text);
    let row = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    // Pending until w-1 is labelled at 10 s, then bound there.
    assert_eq!(row("picky")["node"], "w-1");
    let bound = secs(&row("picky")["bound_s"]);
    assert!((10.0..10.5).contains(&bound), "{bound}");
    // The taint evicts the pod that does not tolerate it, at once.
    let deleted = secs(&row("plain")["deleted_s"]);
    assert!((20.0..20.5).contains(&deleted), "{deleted}");
    assert!(row("tolerant")["deleted_s"].is_empty());
    assert!(events.iter().any(|e| e["action"] == "evict"
        && e["name"] == "plain"
        && e["detail"] == "taint manager: the pod does not tolerate NoExecute taint maintenance"));
    // A pod that can only go to w-0 waits until the taint is removed.
    let bound = secs(&row("pinned-later")["bound_s"]);
    assert!((40.0..42.5).contains(&bound), "{bound}");
    // No node has the label any more.
    assert!(row("picky-later")["node"].is_empty());
    // The client's rows say what it did, as kubectl's arguments.
    let client = |action: &str| {
        events
            .iter()
            .filter(|e| e["component"] == "client" && e["action"] == action)
            .map(|e| format!("{} {}", e["name"], e["detail"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(client("label"), ["w-1 disktype=ssd", "w-1 disktype-"]);
    assert_eq!(
        client("taint"),
        ["w-0 maintenance=yes:NoExecute", "w-0 maintenance-"]
    );
}

#[test]
fn added_nodes_register_and_take_pods_and_a_removed_nodes_pods_are_collected() {
    let text = "name: grow\ncluster:\n  nodeGroups: [{name: w, count: 1, capacity: {cpu: '1', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: a}, spec: {containers: [{name: c, image: 'app:1', resources: {requests: {cpu: 800m}}}]}}\n  - {kind: Pod, metadata: {name: b}, spec: {containers: [{name: c, image: 'app:1', resources: {requests: {cpu: 800m}}}]}}\n- at: 10s\n  addNodes: {name: extra, count: 1, capacity: {cpu: '1', memory: 8Gi}}\n- at: 60s\n  removeNode: w-0\n- at: 70s\n  failNode: extra-0\n";
    let (events, pods, _) = run_text("grow", text);
    let row = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap().clone();
    let (first, second) = if row("a")["node"] == "w-0" {
        (row("a"), row("b"))
    } else {
        (row("b"), row("a"))
    };
    // One pod waits for room until extra-0 registers at 10 s.
    assert_eq!(second["node"], "extra-0");
    assert!(secs(&second["bound_s"]) >= 10.0);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "register-node" && e["name"] == "extra-0")
    );
    // The pod of the removed node is garbage collected at once.
    let d = secs(&first["deleted_s"]);
    assert!((60.0..60.1).contains(&d), "{d}");
    // An added node can be named by later node actions.
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "node-unreachable" && e["name"] == "extra-0")
    );
}

#[test]
fn boot_yaml_starts_the_static_pods_before_any_workload_is_scheduled() {
    let out = scratch("boot");
    run_ok(&repo().join("scenarios/boot.yaml"), &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let first = |component: &str, action: &str| {
        events
            .iter()
            .position(|e| e["component"] == component && e["action"] == action)
            .unwrap_or_else(|| panic!("no {component} {action}"))
    };
    let scheduled = first("kube-scheduler", "schedule");
    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let up = events
            .iter()
            .position(|e| {
                e["action"] == "component-up" && e["detail"] == format!("{component} is up")
            })
            .unwrap_or_else(|| panic!("{component} never up"));
        assert!(up < scheduled, "{component} up after the first scheduling");
    }
    assert!(first("kube-apiserver", "serving") < first("kubelet", "register-node") + 20);
    // The overridden apiserver image is pulled during the boot.
    assert!(events.iter().any(|e| e["component"] == "docker"
        && e["action"] == "pull"
        && e["detail"].contains("kube-apiserver:v1.31.1")));
    let registered: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "register-node")
        .map(|e| e["name"].as_str())
        .collect();
    assert_eq!(registered.len(), 4, "{registered:?}");
    let pods = read_csv(&out.join("pods.csv"));
    let mirrors: Vec<_> = pods
        .iter()
        .filter(|p| p["owner"] == "Node/control-plane")
        .collect();
    assert_eq!(mirrors.len(), 4);
    assert!(
        mirrors
            .iter()
            .all(|p| p["namespace"] == "kube-system" && p["phase"] == "Running")
    );
    // Workloads stay off the tainted control-plane node.
    assert!(
        pods.iter()
            .filter(|p| p["namespace"] == "default")
            .all(|p| p["node"].starts_with("worker-"))
    );
    let summary: BTreeMap<String, String> = read_csv(&out.join("summary.csv"))
        .into_iter()
        .map(|r| (r["metric"].clone(), r["value"].clone()))
        .collect();
    let ready = secs(&summary["cluster_ready_s"]);
    assert!(ready > 1.0 && ready < 15.0, "{ready}");
    // The SLI counts the workload pods, not the mirror pods.
    assert_eq!(summary["pod_startup_sli_pods"], "3");
}

#[test]
fn requests_before_the_apiserver_serves_get_503() {
    let text = "name: early\ncluster:\n  bootControlPlane: true\n  nodeGroups: [{name: w, count: 1, capacity: {cpu: '4', memory: 8Gi}}]\nactions:\n- at: 1s\n  apply: {kind: Pod, metadata: {name: early}, spec: {containers: [{name: c, image: 'app:1'}]}}\n";
    let (events, pods, summary) = run_text("early", text);
    assert!(events.iter().any(|e| e["component"] == "client"
        && e["action"] == "error"
        && e["detail"].contains("503 ServiceUnavailable")));
    assert!(pods.iter().all(|p| p["name"] != "early"));
    assert!(!summary["cluster_ready_s"].is_empty());
}

#[test]
fn node_failure_and_boot_scenarios_are_deterministic() {
    for name in ["node-failure", "boot"] {
        let scenario = repo().join(format!("scenarios/{name}.yaml"));
        let (a, b) = (scratch(&format!("{name}-a")), scratch(&format!("{name}-b")));
        run_ok(&scenario, &a, &[]);
        run_ok(&scenario, &b, &[]);
        for f in ["events.csv", "pods.csv", "nodes.csv", "summary.csv"] {
            let (x, y) = (
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
            );
            assert!(x == y, "{name}: {f} differs between identical runs");
        }
    }
}

#[test]
fn a_terminating_pod_stays_in_the_slice_as_serving_but_not_ready_until_it_stops() {
    let text = format!(
        "name: terminating\n{ONE_NODE}actions:\n- at: 0s\n  apply:\n  - {{kind: Service, metadata: {{name: svc}}, spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}}}\n  - {{kind: Pod, metadata: {{name: web, labels: {{app: web}}, annotations: {{kubesim.io/shutdown-duration: 10s}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n- at: 30s\n  delete: {{kind: Pod, name: web}}\n"
    );
    let (events, _, _) = run_text("terminating", &text);
    let writes: Vec<(f64, String)> = events
        .iter()
        .filter(|e| e["component"] == "kube-controller-manager" && e["kind"] == "EndpointSlice")
        .map(|e| (t(e), format!("{} {}", e["action"], e["detail"])))
        .collect();
    let during = writes
        .iter()
        .find(|(at, _)| (30.0..40.0).contains(at))
        .unwrap_or_else(|| panic!("no slice write while terminating: {writes:?}"));
    assert!(
        during
            .1
            .contains("1 endpoints, 0 ready, 1 serving, 1 terminating"),
        "{during:?}"
    );
    // Once its containers stopped (10 s) the pod is terminal: the slice
    // loses the endpoint.
    let after = writes
        .iter()
        .find(|(at, _)| *at >= 40.0)
        .unwrap_or_else(|| panic!("no slice write after the stop: {writes:?}"));
    assert!(
        after.1.starts_with("delete") || after.1.contains("0 endpoints"),
        "{after:?}"
    );
}

#[test]
fn the_kubelet_reports_status_under_its_client_rate_limit() {
    // 200 pods bound to one node at once: up to 3 status changes each
    // (admitted, sandbox ready, running); queued syncs send the latest
    // status, so some merge; burst 100, then 50 a second.
    let mut text = String::from(
        "name: qps\nlatencies: {podSandbox: 1ms, containerCreate: 1ms, containerStart: 1ms, plegRelist: 0s, kubeletSync: 1ms}\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '64', memory: 256Gi, pods: 250}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply:\n",
    );
    for i in 0..200 {
        text.push_str(&format!(
            "  - {{kind: Pod, metadata: {{name: p{i}}}, spec: {{nodeName: n-0, containers: [{{name: c, image: 'app:1'}}]}}}}\n"
        ));
    }
    let (events, pods, _) = run_text("qps", &text);
    let sent: Vec<f64> = events
        .iter()
        .filter(|e| e["component"] == "kubelet" && e["action"] == "status")
        .map(t)
        .collect();
    assert!(sent.len() > 200, "{}", sent.len());
    let span = sent.last().unwrap() - sent.first().unwrap();
    let floor = (sent.len() - 100) as f64 / 50.0;
    assert!(span >= floor - 0.05, "{} writes in {span} s", sent.len());
    // In any second, at most the burst plus 50.
    for (i, &at) in sent.iter().enumerate() {
        let within = sent[i..].iter().take_while(|&&x| x < at + 1.0).count();
        assert!(within <= 150, "{within} writes in the second from {at}");
    }
    assert!(pods.iter().all(|p| p["phase"] == "Running"));
}

#[test]
fn a_restarted_kube_proxy_does_not_measure_changes_from_before_it_started() {
    let text = "name: np\ncluster:\n  nodeGroups: [{name: w, count: 2, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1']}]\nimages: {app:1: 10Mi}\nactions:\n- at: 0s\n  apply: {kind: Service, metadata: {name: svc}, spec: {selector: {app: web}, ports: [{port: 80}]}}\n- at: 5s\n  failNode: w-1\n- at: 20s\n  apply: {kind: Pod, metadata: {name: p, labels: {app: web}}, spec: {nodeName: w-0, containers: [{name: c, image: 'app:1'}]}}\n- at: 100s\n  recoverNode: w-1\n";
    let (events, pods, summary) = run_text("np", text);
    // Reachable once the live node programmed it; w-1 was down.
    let reachable = secs(&pods[0]["reachable_s"]);
    assert!(reachable < 25.0, "{reachable}");
    // w-1 programs the change at 100 s, but its first sync after the
    // restart does not count a change triggered before it started.
    assert!(
        events
            .iter()
            .any(|e| e["component"] == "kube-proxy" && e["node"] == "w-1" && t(e) >= 100.0)
    );
    assert_eq!(summary["network_programming_samples"], "1");
    assert!(secs(&summary["network_programming_latency_p99_s"]) < 2.0);
}

#[test]
fn pull_policies_never_always_and_if_not_present() {
    let text = "name: policies\nduration: 30s\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1', 'app:latest']}]\nimages: {app:1: 10Mi, app:latest: 10Mi, other:1: 10Mi}\nactions:\n- at: 0s\n  apply:\n  - {kind: Pod, metadata: {name: present}, spec: {containers: [{name: c, image: 'app:1'}]}}\n  - {kind: Pod, metadata: {name: latest}, spec: {containers: [{name: c, image: 'app:latest'}]}}\n  - {kind: Pod, metadata: {name: never}, spec: {containers: [{name: c, image: 'other:1', imagePullPolicy: Never}]}}\n";
    let (events, pods, _) = run_text("policies", text);
    let docker = |name: &str, action: &str| {
        events
            .iter()
            .any(|e| e["component"] == "docker" && e["action"] == action && e["name"] == name)
    };
    // IfNotPresent (a tag): the present image is used.
    assert!(docker("present", "image-present"));
    assert!(!docker("present", "pull"));
    // `latest` defaults to Always: pulled (a manifest check) although present.
    assert!(docker("latest", "pull"));
    // Never and absent: ErrImageNeverPull, no pull, the pod stays Pending.
    assert!(docker("never", "image-absent"));
    assert!(!docker("never", "pull"));
    assert!(events.iter().any(|e| e["name"] == "never"
        && e["action"] == "status"
        && e["detail"].contains("c=ErrImageNeverPull")));
    let phase = |n: &str| pods.iter().find(|p| p["name"] == n).unwrap()["phase"].clone();
    assert_eq!(phase("never"), "Pending");
    assert_eq!(phase("present"), "Running");
    assert_eq!(phase("latest"), "Running");
}

#[test]
fn a_failed_nodes_deployment_pods_are_recreated_elsewhere_after_grace_and_toleration() {
    let out = scratch("node-failure-recreate");
    run_ok(&repo().join("scenarios/node-failure.yaml"), &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let web: Vec<_> = pods
        .iter()
        .filter(|p| p["owner"].starts_with("ReplicaSet/web-"))
        .collect();
    // The Deployment's pod on worker-1 (failed at 30 s) is evicted after the
    // 50 s grace period and its 300 s toleration, and its ReplicaSet
    // replaces it on another node at once.
    let evicted: Vec<_> = web.iter().filter(|p| p["node"] == "worker-1").collect();
    assert_eq!(evicted.len(), 1, "{web:?}");
    let gone = secs(&evicted[0]["deleted_s"]);
    assert!((380.0..395.0).contains(&gone), "evicted at {gone}");
    let replacements: Vec<_> = web
        .iter()
        .filter(|p| secs(&p["created_s"]) >= gone)
        .collect();
    assert_eq!(replacements.len(), 1, "{web:?}");
    let r = replacements[0];
    assert_ne!(r["node"], "worker-1");
    assert_eq!(r["phase"], "Running");
    assert!(secs(&r["created_s"]) - gone < 1.0);
    // The Deployment is back to its replicas on live nodes.
    let live = web.iter().filter(|p| p["deleted_s"].is_empty()).count();
    assert_eq!(live, 6);
    // The node comes back at 10 min, and the run lasts until the node
    // lifecycle controller has seen it (the scenario says to look for it):
    // its next Lease renewal and monitor pass.
    let events = read_csv(&out.join("events.csv"));
    let ready = events
        .iter()
        .find(|e| e["action"] == "node-ready" && e["name"] == "worker-1")
        .expect("worker-1 is Ready again");
    assert!((600.0..620.0).contains(&secs(&ready["time_s"])));
}

#[test]
fn kube_proxy_rows_run_beside_the_model_and_merge_in_time_order() {
    // Enough events for many hand-overs to kube-proxy's thread (one per
    // 4 096 main events): pods behind a Service on 30 nodes, scaled
    // between 30 and 90 every 20 s and rolled out, for 5 minutes.
    let mut text = String::from(
        "name: beside\nduration: 300s\ncluster:\n  nodeGroups: [{name: n, count: 30, capacity: {cpu: '8', memory: 16Gi}, images: ['app:1', 'app:2']}]\nimages: {app:1: 10Mi, app:2: 10Mi}\nactions:\n- at: 0s\n  apply:\n  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: 40, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: 'app:1'}]}}}}\n  - {kind: Service, metadata: {name: web}, spec: {selector: {app: web}, ports: [{port: 80}]}}\n- at: 130s\n  setImage: {kind: Deployment, name: web, container: c, image: 'app:2'}\n",
    );
    for (i, at) in (20..300).step_by(20).enumerate() {
        let replicas = if i % 2 == 0 { 90 } else { 30 };
        text.push_str(&format!(
            "- at: {at}s\n  scale: {{kind: Deployment, name: web, replicas: {replicas}}}\n"
        ));
    }
    let dir = scratch("beside");
    let scenario = write(&dir, "s.yaml", &text);
    let (a, b) = (dir.join("a"), dir.join("b"));
    run_ok(&scenario, &a, &[]);
    run_ok(&scenario, &b, &[]);
    for f in ["events.csv", "pods.csv", "summary.csv"] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between two runs");
    }
    let events = read_csv(&a.join("events.csv"));
    let summary: BTreeMap<String, String> = read_csv(&a.join("summary.csv"))
        .into_iter()
        .map(|r| (r["metric"].clone(), r["value"].clone()))
        .collect();
    let events_processed: u64 = summary["events_processed"].parse().unwrap();
    assert!(events_processed > 10 * 4096, "{events_processed} events");
    assert_in_time_order(&events);
    // kube-proxy's rows are spread over the run among the others': every
    // minute holds syncs and rows of other components.
    for minute in 0..5u64 {
        let span = |e: &&Row| t(e) >= (minute * 60) as f64 && t(e) < ((minute + 1) * 60) as f64;
        let rows: Vec<&Row> = events.iter().filter(span).collect();
        assert!(
            rows.iter()
                .any(|e| e["component"] == "kube-proxy" && e["action"] == "sync")
        );
        assert!(rows.iter().any(|e| e["component"] != "kube-proxy"));
    }
    // A pod is reachable when the last node programmed it: after it was
    // ready, and with its `reachable` row at that time.
    let pods = read_csv(&a.join("pods.csv"));
    let mut reachable = 0;
    for p in pods.iter().filter(|p| !p["reachable_s"].is_empty()) {
        reachable += 1;
        assert!(micros(&p["reachable_s"]) >= micros(&p["ready_s"]));
        assert!(events.iter().any(|e| e["action"] == "reachable"
            && e["name"] == p["name"]
            && e["time_s"] == p["reachable_s"]));
    }
    assert!(reachable >= 80, "{reachable} pods reachable");
}
