//! The Deployment flow and the workload controllers: rollout invariants at
//! every step, the controller manager's rate limit, the garbage collector,
//! and workload actions on bad input.

use std::collections::BTreeMap;

use crate::support::*;

type Row = BTreeMap<String, String>;

/// A Deployment manifest (flow style) with an optional strategy.
fn deployment(name: &str, replicas: u32, image: &str, strategy: &str) -> String {
    format!(
        "{{apiVersion: apps/v1, kind: Deployment, metadata: {{name: {name}}}, spec: {{replicas: {replicas}, {strategy} selector: {{matchLabels: {{app: {name}}}}}, template: {{metadata: {{labels: {{app: {name}}}}}, spec: {{containers: [{{name: c, image: '{image}', resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}}}]}}}}}}}}"
    )
}

fn cluster(nodes: u32) -> String {
    format!(
        "cluster:\n  nodeGroups: [{{name: n, count: {nodes}, capacity: {{cpu: '64', memory: 256Gi, pods: 110}}, images: ['app:1', 'app:2']}}]\n"
    )
}

/// The pods of a Deployment (owned by one of its ReplicaSets).
fn pods_of<'a>(pods: &'a [Row], deployment: &str) -> Vec<&'a Row> {
    let prefix = format!("ReplicaSet/{deployment}-");
    pods.iter()
        .filter(|p| p["owner"].starts_with(&prefix))
        .collect()
}

/// When the apiserver handled each pod's DELETE: from then on the pod is
/// terminating (upstream sets its deletionTimestamp there), so no longer
/// active, even though the store removes it a write later.
fn delete_requests(events: &[Row]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for e in events {
        if e["component"] == "kube-apiserver" && e["action"] == "delete" && e["kind"] == "Pod" {
            m.entry(e["name"].clone())
                .or_insert_with(|| micros(&e["time_s"]).unwrap());
        }
    }
    m
}

/// (time in µs, change in active pods, change in available pods), in time
/// order; at equal times removals come first.
fn steps(pods: &[&Row], deletes: &BTreeMap<String, u64>) -> Vec<(u64, i64, i64)> {
    let mut v = Vec::new();
    for p in pods {
        let created = micros(&p["created_s"]).unwrap();
        let ready = micros(&p["ready_s"]);
        let deleted = deletes
            .get(&p["name"])
            .copied()
            .or_else(|| micros(&p["deleted_s"]));
        v.push((created, 1, 0));
        if let Some(r) = ready
            && deleted.is_none_or(|d| r < d)
        {
            v.push((r, 0, 1));
        }
        if let Some(d) = deleted {
            let was_ready = ready.is_some_and(|r| r < d);
            v.push((d, -1, -i64::from(was_ready)));
        }
    }
    v.sort_by_key(|&(t, dp, da)| (t, dp + da));
    v
}

/// The replicas the Deployment controller set on each ReplicaSet, in time
/// order: (time in µs, ReplicaSet, replicas), from its ScalingReplicaSet
/// rows ("Scaled up replica set web-x from 5 to 10"), written once a write
/// succeeded.
fn scalings(events: &[Row]) -> Vec<(u64, String, i64)> {
    let mut v = Vec::new();
    for e in events {
        let Some(rest) =
            e["detail"].strip_prefix("deployment-controller: ScalingReplicaSet: Scaled ")
        else {
            continue;
        };
        let words: Vec<&str> = rest.split(' ').collect();
        // up|down replica set NAME from A to B [(revision N)]
        assert_eq!(&words[1..3], ["replica", "set"], "{rest}");
        assert_eq!((words[4], words[6]), ("from", "to"), "{rest}");
        let to: i64 = words[7].parse().unwrap();
        v.push((micros(&e["time_s"]).unwrap(), words[3].to_string(), to));
    }
    v
}

/// Runs a rollout of a `replicas`-pod Deployment with `strategy` and checks
/// upstream's guarantees at every step of the rollout:
/// - the ReplicaSets' replicas add up to at most replicas + surge (the
///   Deployment controller's `NewRSNewReplicas` bounds their sum);
/// - the new ReplicaSet never has more pods than its replicas;
/// - at least replicas - unavailable pods are available.
///
/// Live pods are not bounded by replicas + surge: the ReplicaSet controller
/// may create the new ReplicaSet's pods before it deletes the old one's, as
/// upstream's concurrent workers may.
fn check_rollout(tag: &str, replicas: u32, strategy: &str, surge: i64, unavailable: i64) {
    let dir = scratch(tag);
    let text = format!(
        "name: {tag}\n{}actions:\n- at: 0s\n  apply: {}\n- at: 30s\n  setImage: {{kind: Deployment, name: web, container: c, image: 'app:2'}}\n",
        cluster(4),
        deployment("web", replicas, "app:1", strategy)
    );
    let scenario = write(&dir, "s.yaml", &text);
    let out = dir.join("out");
    run_ok(&scenario, &out, &[]);
    let rollouts = read_csv(&out.join("rollouts.csv"));
    let r2 = rollouts
        .iter()
        .find(|r| r["name"] == "web" && r["revision"] == "2")
        .unwrap_or_else(|| panic!("{tag}: no revision 2 in {rollouts:?}"));
    let start = micros(&r2["started_s"]).unwrap();
    let end = micros(&r2["completed_s"]).unwrap_or_else(|| panic!("{tag}: rollout incomplete"));
    let r = i64::from(replicas);
    let events = read_csv(&out.join("events.csv"));

    // The ReplicaSets' replicas, as the Deployment controller set them.
    let mut spec: BTreeMap<String, i64> = BTreeMap::new();
    let mut new_rs_spec = Vec::new();
    let mut max_sum = 0;
    for (t, rs, to) in scalings(&events) {
        spec.insert(rs.clone(), to);
        let sum: i64 = spec.values().sum();
        if t >= start && t <= end {
            assert!(
                sum <= r + surge,
                "{tag}: replicas add up to {sum} at {t} µs > {r} + maxSurge {surge}"
            );
            max_sum = max_sum.max(sum);
        }
        if t >= start {
            new_rs_spec.push((t, rs, to));
        }
    }
    // The first ReplicaSet scaled in the rollout is the new one (created
    // from 0).
    let new_rs = new_rs_spec
        .first()
        .unwrap_or_else(|| panic!("{tag}: no new ReplicaSet"))
        .1
        .clone();
    new_rs_spec.retain(|(_, rs, _)| *rs == new_rs);

    let pods = read_csv(&out.join("pods.csv"));
    let mine = pods_of(&pods, "web");
    let deletes = delete_requests(&events);
    let owner = format!("ReplicaSet/{new_rs}");
    let new_pods: Vec<&Row> = mine
        .iter()
        .copied()
        .filter(|p| p["owner"] == owner)
        .collect();
    // The new ReplicaSet's pods against its replicas at the time. (The
    // rows are written when the Deployment controller's write is answered;
    // that comes before the ReplicaSet controller, which learns of the
    // write by its watch, creates pods. The run is deterministic, so this
    // ordering is fixed for these scenarios.)
    let mut n_new = 0i64;
    for (t, dp, _) in steps(&new_pods, &deletes) {
        n_new += dp;
        let allowed = new_rs_spec
            .iter()
            .filter(|(at, _, _)| *at <= t)
            .map(|&(_, _, to)| to)
            .next_back()
            .unwrap_or(0);
        assert!(
            n_new <= allowed,
            "{tag}: {n_new} pods of {new_rs} at {t} µs > its {allowed} replicas"
        );
    }

    let (mut a, mut min_avail) = (0i64, i64::MAX);
    for (t, _, da) in steps(&mine, &deletes) {
        a += da;
        if t >= start && t <= end {
            assert!(
                a >= r - unavailable,
                "{tag}: {a} available at {t} µs < {r} - maxUnavailable {unavailable}"
            );
            min_avail = min_avail.min(a);
        }
    }
    // The bounds are reached, not only respected: the rollout used its room.
    assert!(max_sum > r || min_avail < r, "{tag}: nothing moved");
    assert!(
        surge == 0 || max_sum == r + surge,
        "{tag}: surge unused ({max_sum})"
    );
    // rollouts.csv reports what the controller manager observed: the
    // fewest available within bounds too.
    let reported_min: i64 = r2["min_available"].parse().unwrap();
    assert!(reported_min >= r - unavailable, "{tag}: {r2:?}");
    // The end state: every live pod runs the new template, exactly `replicas`.
    let live: Vec<&&Row> = mine.iter().filter(|p| p["deleted_s"].is_empty()).collect();
    assert_eq!(live.len() as i64, r, "{tag}");
    let owners: std::collections::BTreeSet<&str> =
        live.iter().map(|p| p["owner"].as_str()).collect();
    assert_eq!(owners, [owner.as_str()].into(), "{tag}");
}

#[test]
fn rolling_update_respects_max_surge_and_max_unavailable_at_every_step() {
    // Defaults: 25 % of 20 is 5 surge (rounded up) and 5 unavailable (down).
    check_rollout("ru-default", 20, "", 5, 5);
    check_rollout(
        "ru-int",
        20,
        "strategy: {rollingUpdate: {maxSurge: 3, maxUnavailable: 0}},",
        3,
        0,
    );
    check_rollout(
        "ru-int-unavail",
        20,
        "strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 4}},",
        0,
        4,
    );
    // 30 % of 15 = 4.5: surge rounds up to 5, unavailable down to 4.
    check_rollout(
        "ru-percent",
        15,
        "strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: '30%', maxUnavailable: '30%'}},",
        5,
        4,
    );
    // 10 % of 9 = 0.9: surge 1, unavailable 0.
    check_rollout(
        "ru-small-percent",
        9,
        "strategy: {rollingUpdate: {maxSurge: '10%', maxUnavailable: '10%'}},",
        1,
        0,
    );
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let text = format!(
        "name: recreate\n{}actions:\n- at: 0s\n  apply: {}\n- at: 30s\n  setImage: {{kind: Deployment, name: web, container: c, image: 'app:2'}}\n",
        cluster(2),
        deployment("web", 6, "app:1", "strategy: {type: Recreate},")
    );
    let out = run_scenario("recreate", &text);
    let pods = read_csv(&out.join("pods.csv"));
    let mine = pods_of(&pods, "web");
    let owners: std::collections::BTreeSet<&str> =
        mine.iter().map(|p| p["owner"].as_str()).collect();
    assert_eq!(owners.len(), 2);
    let last_old_deleted = mine
        .iter()
        .filter(|p| micros(&p["created_s"]).unwrap() < 30_000_000)
        .map(|p| micros(&p["deleted_s"]).expect("old pods are deleted"))
        .max()
        .unwrap();
    let first_new_created = mine
        .iter()
        .filter(|p| micros(&p["created_s"]).unwrap() >= 30_000_000)
        .map(|p| micros(&p["created_s"]).unwrap())
        .min()
        .unwrap();
    assert!(last_old_deleted < first_new_created);
    let rollouts = read_csv(&out.join("rollouts.csv"));
    assert_eq!(rollouts[1]["strategy"], "Recreate");
    assert_eq!(rollouts[1]["min_available"], "0");
    assert_eq!(rollouts[1]["max_pods"], "6");
}

/// The time from the Deployment's creation to the last of its pods'
/// creation, in µs, and the events.
fn time_to_create(tag: &str, replicas: u32, cm: &str) -> (u64, Vec<Row>) {
    let text = format!(
        "name: {tag}\n{}{cm}latencies: {{podSandbox: 1s}}\nactions:\n- at: 0s\n  apply: {}\n",
        cluster(10),
        deployment("big", replicas, "app:1", "")
    );
    let out = run_scenario(tag, &text);
    let pods = read_csv(&out.join("pods.csv"));
    assert_eq!(pods.len(), replicas as usize);
    let last = pods
        .iter()
        .map(|p| micros(&p["created_s"]).unwrap())
        .max()
        .unwrap();
    (last, read_csv(&out.join("events.csv")))
}

#[test]
fn a_1000_replica_deployment_takes_the_time_the_rate_limit_allows() {
    for (qps, burst) in [(20u64, 30u64), (50, 100)] {
        let cm = format!("controllerManager: {{qps: {qps}, burst: {burst}}}\n");
        let (last, events) = time_to_create(&format!("big-{qps}"), 1000, &cm);
        // Every pod creation is one request through the token bucket: after
        // the burst, at most `qps` per second.
        let lower = (1000 - burst) * 1_000_000 / qps;
        assert!(
            last >= lower,
            "qps {qps}: last pod at {last} µs < {lower} µs"
        );
        // Other writes (ReplicaSet and Deployment status) share the bucket,
        // so it takes longer, but not more than twice the creations' share.
        assert!(
            last <= 2 * 1000 * 1_000_000 / qps,
            "qps {qps}: last pod at {last} µs"
        );
        // Two syncs of at most 500 (BurstReplicas), each in slow-start
        // batches 1, 2, 4, ..., the last one what remains.
        let batches: Vec<u32> = events
            .iter()
            .filter(|e| e["action"] == "slow-start")
            .map(|e| {
                let d = &e["detail"];
                let rest = &d[d.find("batch of ").unwrap() + 9..];
                rest.split(' ').next().unwrap().parse().unwrap()
            })
            .collect();
        let expected = [1, 2, 4, 8, 16, 32, 64, 128, 245];
        assert_eq!(batches.len(), 18, "{batches:?}");
        assert_eq!(batches[..9], expected);
        assert_eq!(batches[9..], expected);
    }
}

#[test]
fn deployment_flow_scenario_shows_each_controller_step() {
    let out = scratch("deployment-flow");
    run_ok(&repo().join("scenarios/deployment-flow.yaml"), &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let cm: Vec<&Row> = events
        .iter()
        .filter(|e| e["component"] == "kube-controller-manager")
        .collect();
    let rs_create = cm
        .iter()
        .find(|e| e["kind"] == "ReplicaSet" && e["action"] == "create")
        .expect("the deployment controller creates a ReplicaSet");
    assert!(rs_create["detail"].starts_with("deployment-controller:"));
    let rs = rs_create["name"].clone();
    assert!(rs.starts_with("web-") && rs.len() > 4);
    assert!(
        cm.iter().any(|e| e["name"] == rs
            && e["detail"].starts_with("replicaset-controller: SuccessfulCreate"))
    );
    let pods = read_csv(&out.join("pods.csv"));
    assert_eq!(pods.len(), 2);
    for p in &pods {
        assert_eq!(p["owner"], format!("ReplicaSet/{rs}"));
        assert!(p["name"].starts_with(&format!("{rs}-")));
        assert_eq!(p["phase"], "Running");
        // One SuccessfulCreate row per pod, once the apiserver has
        // answered its create, as upstream records the event.
        let detail = format!(
            "replicaset-controller: SuccessfulCreate: Created pod: {}",
            p["name"]
        );
        let created: Vec<&&Row> = cm
            .iter()
            .filter(|e| e["name"] == rs && e["detail"] == detail)
            .collect();
        assert_eq!(created.len(), 1, "{detail}");
        let stored = events
            .iter()
            .find(|e| {
                e["component"] == "kube-apiserver"
                    && e["action"] == "create"
                    && e["name"] == p["name"]
            })
            .unwrap();
        assert!(micros(&created[0]["time_s"]) > micros(&stored["time_s"]));
    }
    let rollouts = read_csv(&out.join("rollouts.csv"));
    assert_eq!(
        header(&out.join("rollouts.csv")),
        "kind,namespace,name,revision,started_s,completed_s,duration_s,max_pods,min_available,strategy"
    );
    assert_eq!(rollouts.len(), 1);
    assert_eq!(rollouts[0]["revision"], "1");
    assert!(!rollouts[0]["completed_s"].is_empty());
}

#[test]
fn deleting_a_deployment_cascades_unless_orphaned() {
    let text = format!(
        "name: gc\n{}actions:\n- at: 0s\n  apply: [{}, {}]\n- at: 20s\n  delete: {{kind: Deployment, name: gone}}\n- at: 20s\n  delete: {{kind: Deployment, name: kept, propagationPolicy: Orphan}}\n",
        cluster(2),
        deployment("gone", 3, "app:1", ""),
        deployment("kept", 3, "app:1", "")
    );
    let out = run_scenario("gc", &text);
    let pods = read_csv(&out.join("pods.csv"));
    let gone = pods_of(&pods, "gone");
    let kept = pods_of(&pods, "kept");
    assert_eq!((gone.len(), kept.len()), (3, 3));
    assert!(gone.iter().all(|p| !p["deleted_s"].is_empty()));
    assert!(kept.iter().all(|p| p["deleted_s"].is_empty()));
    let events = read_csv(&out.join("events.csv"));
    let gc = |action: &str, kind: &str| {
        events
            .iter()
            .filter(|e| {
                e["detail"].starts_with("garbage-collector")
                    && e["action"] == action
                    && e["kind"] == kind
            })
            .count()
    };
    // gone: its ReplicaSet, then its 3 pods; kept: its ReplicaSet orphaned,
    // then the Deployment itself deleted.
    assert_eq!(gc("delete", "ReplicaSet"), 1);
    assert_eq!(gc("delete", "Pod"), 3);
    assert_eq!(gc("orphan", "ReplicaSet"), 1);
    assert_eq!(gc("delete", "Deployment"), 1);
    assert!(events.iter().any(|e| e["component"] == "etcd"
        && e["action"] == "delete"
        && e["kind"] == "Deployment"
        && e["name"] == "kept"));
}

#[test]
fn refusals_that_depend_on_the_cluster_are_recorded() {
    // What the apiserver refuses only against what it stores is its answer
    // in the run (objects invalid in themselves are refused when the
    // scenario loads: bad_input.rs): a pod naming a PriorityClass the
    // cluster lacks (403), a second create of a pod (409), a scale of a
    // Deployment that does not exist (404) and a setImage of a container
    // the Deployment does not have.
    let pod = |name: &str, class: &str| {
        format!(
            "{{kind: Pod, metadata: {{name: {name}}}, spec: {{{class}containers: [{{name: c, image: 'app:1'}}]}}}}"
        )
    };
    let text = format!(
        "name: bad\n{}actions:\n- at: 0s\n  apply:\n  - {}\n  - {}\n- at: 1s\n  apply:\n  - {}\n  - {}\n- at: 1s\n  scale: {{kind: Deployment, name: nope, replicas: 3}}\n- at: 1s\n  setImage: {{kind: Deployment, name: ok, container: missing, image: 'app:2'}}\n",
        cluster(1),
        pod("p", ""),
        deployment("ok", 1, "app:1", ""),
        pod("p", ""),
        pod("q", "priorityClassName: absent, "),
    );
    let out = run_scenario("bad-workloads", &text);
    let events = read_csv(&out.join("events.csv"));
    let answered = |action: &str, name: &str, what: &str| {
        events.iter().any(|e| {
            e["component"] == "kube-apiserver"
                && e["action"] == action
                && e["name"] == name
                && e["detail"].contains(what)
        })
    };
    assert!(answered(
        "reject",
        "q",
        "403 Forbidden: pods \"q\" is forbidden: no PriorityClass with name absent was found"
    ));
    assert!(answered("error", "p", "409 AlreadyExists"));
    assert!(events.iter().any(|e| e["component"] == "client"
        && e["action"] == "error"
        && e["name"] == "nope"
        && e["detail"].contains("404")));
    assert!(events.iter().any(|e| e["component"] == "client"
        && e["action"] == "error"
        && e["name"] == "ok"
        && e["detail"].contains("unable to find container named \"missing\"")));
    let summary = read_csv(&out.join("summary.csv"));
    let get = |m: &str| summary.iter().find(|r| r["metric"] == m).unwrap()["value"].clone();
    assert_eq!(get("api_rejected"), "1");
    // The valid Deployment still rolled out, and the first pod runs.
    let pods = read_csv(&out.join("pods.csv"));
    assert_eq!(pods_of(&pods, "ok").len(), 1);
    assert!(
        pods.iter()
            .any(|p| p["name"] == "p" && !p["started_s"].is_empty())
    );
    assert!(!pods.iter().any(|p| p["name"] == "q"));
}

#[test]
fn scale_pause_resume_and_undo() {
    let text = format!(
        "name: undo\n{}actions:\n- at: 0s\n  apply: {}\n- at: 20s\n  pause: {{kind: Deployment, name: web}}\n- at: 21s\n  setImage: {{kind: Deployment, name: web, container: c, image: 'app:2'}}\n- at: 30s\n  scale: {{kind: Deployment, name: web, replicas: 6}}\n- at: 40s\n  resume: {{kind: Deployment, name: web}}\n- at: 80s\n  rolloutUndo: {{kind: Deployment, name: web}}\n",
        cluster(2),
        deployment("web", 4, "app:1", "")
    );
    let out = run_scenario("undo", &text);
    let rollouts = read_csv(&out.join("rollouts.csv"));
    let revs: Vec<(&str, u64)> = rollouts
        .iter()
        .map(|r| (r["revision"].as_str(), micros(&r["started_s"]).unwrap()))
        .collect();
    assert_eq!(revs.len(), 3, "{rollouts:?}");
    // Paused: the new template waits for the resume.
    assert_eq!(revs[1].0, "2");
    assert!(revs[1].1 >= 40_000_000);
    // The undo goes back to the first template as revision 3.
    assert_eq!(revs[2].0, "3");
    assert!(rollouts.iter().all(|r| !r["completed_s"].is_empty()));
    let pods = read_csv(&out.join("pods.csv"));
    let mine = pods_of(&pods, "web");
    let live: Vec<&&Row> = mine.iter().filter(|p| p["deleted_s"].is_empty()).collect();
    // Scaled to 6 while paused; the first ReplicaSet runs them again.
    assert_eq!(live.len(), 6);
    let first = &mine[0]["owner"];
    assert!(live.iter().all(|p| &p["owner"] == first));
}

/// Runs a bundled scenario into a scratch directory.
fn run_bundled(name: &str) -> std::path::PathBuf {
    let out = scratch(name);
    run_ok(&repo().join(format!("scenarios/{name}.yaml")), &out, &[]);
    out
}

#[test]
fn statefulset_ordered_ready_creation_reverse_scale_down_and_rolling_update() {
    let out = run_bundled("statefulset");
    let pods = read_csv(&out.join("pods.csv"));
    let events = read_csv(&out.join("events.csv"));
    let deletes = delete_requests(&events);
    let at = |p: &Row, col: &str| micros(&p[col]).unwrap();
    // The first incarnations: web-N is created only after web-(N-1) is
    // Running and Ready.
    let first: Vec<&Row> = (0..3)
        .map(|i| {
            pods.iter()
                .find(|p| p["name"] == format!("web-{i}"))
                .unwrap()
        })
        .collect();
    for w in first.windows(2) {
        assert!(
            at(w[1], "created_s") > at(w[0], "ready_s"),
            "{} created before {} was ready",
            w[1]["name"],
            w[0]["name"]
        );
        assert!(at(w[1], "created_s") > at(w[0], "started_s"));
    }
    // Scale down to 1 at 30s: web-2 goes first, and web-1 is asked to go
    // only once web-2 is gone.
    let gone_2 = at(first[2], "deleted_s");
    let asked_1 = deletes["web-1"];
    assert!(
        gone_2 >= 30_000_000 && asked_1 > gone_2,
        "{gone_2} {asked_1}"
    );
    assert!(first[0]["deleted_s"].is_empty() || at(first[0], "deleted_s") > 60_000_000);
    // The rolling update at 70s replaces web-2, web-1, web-0 in that
    // order, each replacement ready before the next deletion.
    let sts: Vec<&Row> = events
        .iter()
        .filter(|e| e["detail"].contains("SuccessfulDelete: rolling update"))
        .collect();
    let order: Vec<&str> = sts.iter().map(|e| e["name"].as_str()).collect();
    assert_eq!(order, ["web-2", "web-1", "web-0"]);
    for (i, e) in sts.iter().enumerate().skip(1) {
        let prev = order[i - 1];
        let replacement = pods
            .iter()
            .filter(|p| p["name"] == prev)
            .max_by_key(|p| at(p, "created_s"))
            .unwrap();
        assert!(micros(&e["time_s"]).unwrap() > at(replacement, "ready_s"));
    }
    let live: Vec<&Row> = pods.iter().filter(|p| p["deleted_s"].is_empty()).collect();
    assert_eq!(live.len(), 3);
    let rollouts = read_csv(&out.join("rollouts.csv"));
    assert_eq!(rollouts.len(), 2);
    assert!(
        rollouts
            .iter()
            .all(|r| r["kind"] == "StatefulSet" && !r["completed_s"].is_empty())
    );
}

#[test]
fn statefulset_parallel_and_partition() {
    let text = format!(
        "name: p\n{}actions:\n- at: 0s\n  apply: {{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{serviceName: db, replicas: 4, podManagementPolicy: Parallel, updateStrategy: {{type: RollingUpdate, rollingUpdate: {{partition: 2}}}}, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}}}}}\n- at: 30s\n  setImage: {{kind: StatefulSet, name: db, container: c, image: 'app:2'}}\n",
        cluster(2)
    );
    let out = run_scenario("sts-parallel", &text);
    let pods = read_csv(&out.join("pods.csv"));
    // Parallel: all four are created before any is ready.
    let first_ready = pods
        .iter()
        .filter_map(|p| micros(&p["ready_s"]))
        .min()
        .unwrap();
    let initial: Vec<&Row> = pods
        .iter()
        .filter(|p| micros(&p["created_s"]).unwrap() < 30_000_000)
        .collect();
    assert_eq!(initial.len(), 4);
    assert!(
        initial
            .iter()
            .all(|p| micros(&p["created_s"]).unwrap() < first_ready)
    );
    // Partition 2: only db-3 and db-2 are replaced.
    let replaced: std::collections::BTreeSet<&str> = initial
        .iter()
        .filter(|p| !p["deleted_s"].is_empty())
        .map(|p| p["name"].as_str())
        .collect();
    assert_eq!(replaced, ["db-2", "db-3"].into_iter().collect());
}

#[test]
fn statefulset_ordinals_start_numbers_the_replicas_and_moving_it_replaces_them() {
    // spec.ordinals.start numbers the replicas from it; moving it (an
    // update upstream allows) creates the new ordinals in order, then
    // deletes the old ones from the highest down; the partition counts
    // from the first replica.
    let set = |start: i32| {
        format!(
            "{{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{serviceName: db, replicas: 3, ordinals: {{start: {start}}}, updateStrategy: {{type: RollingUpdate, rollingUpdate: {{partition: 1}}}}, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}}}}}"
        )
    };
    let text = format!(
        "name: o\n{}actions:\n- at: 0s\n  apply: {}\n- at: 30s\n  apply: {}\n- at: 60s\n  setImage: {{kind: StatefulSet, name: db, container: c, image: 'app:2'}}\n",
        cluster(2),
        set(1),
        set(3)
    );
    let out = run_scenario("sts-ordinals", &text);
    let pods = read_csv(&out.join("pods.csv"));
    let events = read_csv(&out.join("events.csv"));
    let at = |p: &Row, col: &str| micros(&p[col]).unwrap();
    let created: Vec<&str> = pods.iter().map(|p| p["name"].as_str()).collect();
    // db-1, db-2, db-3 at first; db-4, db-5 after the move; db-5 and db-4
    // again in the rolling update (partition 1: db-3 stays).
    assert_eq!(
        created,
        ["db-1", "db-2", "db-3", "db-4", "db-5", "db-5", "db-4"]
    );
    for w in pods[..5].windows(2) {
        assert!(
            at(&w[1], "created_s") > at(&w[0], "ready_s"),
            "{} before {} was ready",
            w[1]["name"],
            w[0]["name"]
        );
    }
    let deleted = |detail: &str| -> Vec<&str> {
        events
            .iter()
            .filter(|e| {
                e["component"] == "kube-controller-manager" && e["detail"].ends_with(detail)
            })
            .map(|e| e["name"].as_str())
            .collect()
    };
    assert_eq!(deleted("SuccessfulDelete: scale down"), ["db-2", "db-1"]);
    assert_eq!(
        deleted("SuccessfulDelete: rolling update"),
        ["db-5", "db-4"]
    );
    // The old ordinals go once the new ones are ready.
    let gone = |name: &str| {
        at(
            pods.iter().find(|p| p["name"] == name).unwrap(),
            "deleted_s",
        )
    };
    assert!(gone("db-2") > at(&pods[4], "ready_s"));
    assert!(gone("db-2") < gone("db-1"));
    let live: Vec<&str> = pods
        .iter()
        .filter(|p| p["deleted_s"].is_empty())
        .map(|p| p["name"].as_str())
        .collect();
    assert_eq!(live, ["db-3", "db-5", "db-4"]);
}

#[test]
fn daemonset_runs_one_pod_per_eligible_node_at_every_step() {
    let out = run_bundled("daemonset");
    let pods = read_csv(&out.join("pods.csv"));
    let deletes = delete_requests(&read_csv(&out.join("events.csv")));
    // At no time two daemon pods on one node (maxSurge 0), none on gpu-0.
    let mut steps: Vec<(u64, i64, String)> = Vec::new();
    for p in &pods {
        assert_eq!(p["owner"], "DaemonSet/log-agent");
        assert_ne!(p["node"], "gpu-0");
        let node = p["node"].clone();
        steps.push((micros(&p["created_s"]).unwrap(), 1, node.clone()));
        if let Some(d) = deletes.get(&p["name"]) {
            steps.push((*d, -1, node));
        }
    }
    steps.sort_by_key(|(t, d, _)| (*t, *d));
    let mut per_node: BTreeMap<String, i64> = BTreeMap::new();
    for (t, d, node) in steps {
        let n = per_node.entry(node.clone()).or_default();
        *n += d;
        assert!(*n <= 1, "two daemon pods on {node} at {t} µs");
    }
    let live: Vec<&Row> = pods.iter().filter(|p| p["deleted_s"].is_empty()).collect();
    let nodes: std::collections::BTreeSet<&str> = live.iter().map(|p| p["node"].as_str()).collect();
    assert_eq!(live.len(), 3);
    assert_eq!(
        nodes,
        ["worker-0", "worker-1", "worker-2"].into_iter().collect()
    );
    assert!(live.iter().all(|p| p["phase"] == "Running"));
    let rollouts = read_csv(&out.join("rollouts.csv"));
    assert_eq!(rollouts.len(), 2);
    assert_eq!(rollouts[1]["min_available"], "2", "maxUnavailable 1 of 3");
}

#[test]
fn daemonset_follows_node_selector_and_tolerations() {
    let text = "name: dss\ncluster:\n  nodeGroups:\n  - {name: a, count: 2, capacity: {cpu: '4', memory: 8Gi}, labels: {disk: ssd}}\n  - {name: b, count: 2, capacity: {cpu: '4', memory: 8Gi}}\n  - {name: t, count: 1, capacity: {cpu: '4', memory: 8Gi}, labels: {disk: ssd}, taints: [{key: dedicated, value: x, effect: NoSchedule}]}\n  - {name: u, count: 1, capacity: {cpu: '4', memory: 8Gi}, labels: {disk: ssd}, taints: [{key: other, effect: NoExecute}]}\nactions:\n- at: 0s\n  apply: {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ssd}, spec: {selector: {matchLabels: {app: ssd}}, template: {metadata: {labels: {app: ssd}}, spec: {nodeSelector: {disk: ssd}, tolerations: [{key: dedicated, operator: Exists}], containers: [{name: c, image: 'app:1'}]}}}}\n";
    let out = run_scenario("ds-selector", text);
    let pods = read_csv(&out.join("pods.csv"));
    let nodes: Vec<&str> = pods.iter().map(|p| p["node"].as_str()).collect();
    // a-0, a-1 (selected), t-0 (taint tolerated); not b-* (selector) nor
    // u-0 (untolerated NoExecute).
    let mut sorted = nodes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["a-0", "a-1", "t-0"]);
}

#[test]
fn workload_scenarios_are_deterministic() {
    for name in ["deployment-flow", "statefulset", "daemonset"] {
        let a = run_bundled(name);
        let b = run_bundled(name);
        for f in kubesim::sim::run::OUTPUT_FILES {
            let x = std::fs::read(a.join(f)).unwrap();
            let y = std::fs::read(b.join(f)).unwrap();
            assert!(x == y, "{name}: {f} differs between identical runs");
        }
    }
}

/// A run that discards its timelines (the benchmarks, `explain`) keeps
/// the same records, counters and summary as one that writes them, and
/// formats no row.
#[test]
fn a_run_discarding_its_timelines_keeps_the_same_records() {
    use kubesim::sim::run::{RunOptions, simulate_discarding, simulate_with};
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let s = kubesim::scenario::load(&repo().join("scenarios/rolling-update.yaml")).unwrap();
    let opts = RunOptions::default();
    let (events, nodes) = (Buf::default(), Buf::default());
    let mut written = simulate_with(
        &s,
        s.seed,
        Box::new(events.clone()),
        Box::new(nodes.clone()),
        &opts,
    );
    written.recorder.finish().unwrap();
    let mut discarded = simulate_discarding(&s, s.seed, &opts, None);
    discarded.recorder.finish().unwrap();
    let rows = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    assert!(rows > 100 && nodes.0.lock().unwrap().len() > 100);
    assert_eq!(
        written.recorder.counters.timeline_rows + 1,
        rows,
        "rows and the header"
    );
    assert_eq!(discarded.recorder.counters.timeline_rows + 1, rows);
    assert_eq!(
        (written.events, written.hash),
        (discarded.events, discarded.hash)
    );
    let csv = |o: &kubesim::sim::run::Outcome| {
        let (mut pods, mut summary) = (Vec::new(), Vec::new());
        o.recorder.write_pods(&mut pods).unwrap();
        o.summary.write_csv(&mut summary).unwrap();
        (pods, summary)
    };
    assert!(csv(&written) == csv(&discarded));
}

#[test]
fn scaling_in_the_middle_of_a_rollout_is_proportional() {
    // An `apply` of the Deployment with a template whose pods fit no node
    // (an update, as kubectl apply): the rollout stalls with the new pods
    // Pending. Scaling 10 -> 20 then spreads the 10 more replicas over
    // both ReplicaSets, in proportion to their sizes.
    let strategy = "strategy: {rollingUpdate: {maxSurge: 3, maxUnavailable: 2}},";
    let stuck = deployment("web", 10, "app:1", strategy).replace(
        "spec: {containers",
        "spec: {nodeSelector: {pool: none}, containers",
    );
    let text = format!(
        "name: prop\n{}actions:\n- at: 0s\n  apply: {}\n- at: 30s\n  apply: {stuck}\n- at: 40s\n  scale: {{kind: Deployment, name: web, replicas: 20}}\n",
        cluster(2),
        deployment("web", 10, "app:1", strategy)
    );
    let out = run_scenario("proportional", &text);
    let events = read_csv(&out.join("events.csv"));
    // Before the scale: old 10 -> 8, new 0 -> 5 (replicas + maxSurge = 13
    // in all). After: 20 + 3 = 23, the 10 added split 8:5 by size (the
    // max-replicas annotation, 13): old 8 * 23 / 13 = 14, new 5 -> 9.
    let scalings: Vec<&str> = events
        .iter()
        .filter(|e| e["detail"].contains("ScalingReplicaSet"))
        .map(|e| e["detail"].as_str())
        .collect();
    let at = |s: &str| scalings.iter().position(|d| d.ends_with(s));
    let (down, up) = (at("from 10 to 8"), at("from 3 to 5"));
    let (old, new) = (at("from 8 to 14"), at("from 5 to 9"));
    assert!(down.is_some() && up.is_some(), "{scalings:?}");
    assert!(old.is_some() && new.is_some(), "{scalings:?}");
    assert!(old.max(new) < Some(scalings.len()) && down < old && up < new);
}

#[test]
fn a_stalled_rollout_exceeds_its_progress_deadline() {
    // The deadline check is a background timer: the pause at 70s keeps
    // the run going past it.
    let strategy = "progressDeadlineSeconds: 20,";
    let stuck = deployment("web", 4, "app:1", strategy).replace(
        "spec: {containers",
        "spec: {nodeSelector: {pool: none}, containers",
    );
    let text = format!(
        "name: deadline\n{}actions:\n- at: 0s\n  apply: {}\n- at: 30s\n  apply: {stuck}\n- at: 70s\n  pause: {{kind: Deployment, name: web}}\n",
        cluster(1),
        deployment("web", 4, "app:1", strategy)
    );
    let out = run_scenario("deadline", &text);
    let events = read_csv(&out.join("events.csv"));
    let exceeded: Vec<u64> = events
        .iter()
        .filter(|e| e["action"] == "progress-deadline-exceeded")
        .map(|e| micros(&e["time_s"]).unwrap())
        .collect();
    assert_eq!(exceeded.len(), 1, "reported once");
    // The last progress was right after 30s; the deadline is 20 s later
    // (plus the one-second requeue slack upstream adds).
    assert!(
        (50_000_000..53_000_000).contains(&exceeded[0]),
        "{exceeded:?}"
    );
    let rollouts = read_csv(&out.join("rollouts.csv"));
    assert!(rollouts[1]["completed_s"].is_empty());
}

#[test]
fn daemonset_covers_nodes_added_later_and_not_tainted_ones() {
    let text = "name: grow\ncluster:\n  nodeGroups: [{name: w, count: 2, capacity: {cpu: '4', memory: 8Gi}}]\nactions:\n- at: 0s\n  apply: {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent}, spec: {selector: {matchLabels: {app: agent}}, template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: c, image: 'app:1'}]}}}}\n- at: 20s\n  addNodes: {name: extra, count: 2, capacity: {cpu: '4', memory: 8Gi}}\n- at: 25s\n  addNodes: {name: gpu, count: 1, capacity: {cpu: '4', memory: 8Gi}, taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}\n- at: 60s\n  removeNode: w-1\n";
    let out = run_scenario("ds-grow", text);
    let pods = read_csv(&out.join("pods.csv"));
    let on = |node: &str| -> Vec<&Row> { pods.iter().filter(|p| p["node"] == node).collect() };
    for node in ["w-0", "extra-0", "extra-1"] {
        let here = on(node);
        assert_eq!(here.len(), 1, "{node}: {here:?}");
        assert!(here[0]["deleted_s"].is_empty() && here[0]["phase"] == "Running");
    }
    // The new nodes got theirs after they joined.
    for node in ["extra-0", "extra-1"] {
        assert!(micros(&on(node)[0]["created_s"]).unwrap() >= 20_000_000);
    }
    assert!(on("gpu-0").is_empty(), "the untolerated taint keeps it off");
    // The removed node's pod is gone, and not replaced elsewhere.
    let w1 = on("w-1");
    assert_eq!(w1.len(), 1);
    assert!(!w1[0]["deleted_s"].is_empty());
    let live = pods.iter().filter(|p| p["deleted_s"].is_empty()).count();
    assert_eq!(live, 3);
}

#[test]
fn deleting_a_deployment_while_it_creates_pods_leaves_none() {
    // Deleted 2 s in: the ReplicaSet is still creating its 300 pods (the
    // rate limit allows about 20 a second), so some creations land after
    // their owner is gone; the garbage collector collects those too.
    let text = format!(
        "name: gcrace\n{}actions:\n- at: 0s\n  apply: {}\n- at: 2s\n  delete: {{kind: Deployment, name: web}}\n",
        cluster(4),
        deployment("web", 300, "app:1", "")
    );
    let out = run_scenario("gc-race", &text);
    let pods = read_csv(&out.join("pods.csv"));
    assert!(!pods.is_empty());
    let left: Vec<&Row> = pods.iter().filter(|p| p["deleted_s"].is_empty()).collect();
    assert!(
        left.is_empty(),
        "{} pods left: {:?}",
        left.len(),
        left.first()
    );
}

#[test]
fn daemonset_surge_update_starts_the_new_pod_before_the_old_goes() {
    let text = "name: surge\ncluster:\n  nodeGroups: [{name: w, count: 3, capacity: {cpu: '4', memory: 8Gi}, images: ['app:1', 'app:2']}]\nactions:\n- at: 0s\n  apply: {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent}, spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}, selector: {matchLabels: {app: agent}}, template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: c, image: 'app:1'}]}}}}\n- at: 20s\n  setImage: {kind: DaemonSet, name: agent, container: c, image: 'app:2'}\n";
    let out = run_scenario("ds-surge", text);
    let pods = read_csv(&out.join("pods.csv"));
    let deletes = delete_requests(&read_csv(&out.join("events.csv")));
    let all: Vec<&Row> = pods.iter().collect();
    let (mut n, mut a, mut max_n, mut min_a) = (0i64, 0i64, 0i64, i64::MAX);
    for (t, dp, da) in steps(&all, &deletes) {
        n += dp;
        a += da;
        if t >= 20_000_000 {
            max_n = max_n.max(n);
            min_a = min_a.min(a);
        }
    }
    // One node at a time runs two pods; none is ever short of one.
    assert_eq!(max_n, 4);
    assert_eq!(min_a, 3);
    assert_eq!(pods.len(), 6);
    let live: Vec<&Row> = pods.iter().filter(|p| p["deleted_s"].is_empty()).collect();
    assert_eq!(live.len(), 3);
    assert!(
        live.iter()
            .all(|p| micros(&p["created_s"]).unwrap() >= 20_000_000)
    );
}

/// A ReplicaSet created over bare pods its selector matches adopts them
/// (upstream claimPods), in name order, and creates only the pods missing;
/// a pod it does not select, or one of another namespace, stays an orphan.
#[test]
fn a_replicaset_adopts_the_matching_orphans_in_name_order() {
    let dir = scratch("adopt-orphans");
    let pod = |name: &str, ns: &str, app: &str| {
        format!(
            "      - {{apiVersion: v1, kind: Pod, metadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}\n"
        )
    };
    // Eight matching pods applied out of name order, an unselected one,
    // and one in another namespace.
    let names = [
        "web-f", "web-c", "web-h", "web-a", "web-e", "web-b", "web-g", "web-d",
    ];
    let mut pods: String = names.iter().map(|n| pod(n, "default", "web")).collect();
    pods.push_str(&pod("other", "default", "db"));
    pods.push_str(&pod("web-x", "team", "web"));
    let scenario = format!(
        "name: adopt\nseed: 1\n{}actions:\n  - at: 0s\n    apply:\n{pods}  - at: 10s\n    apply:\n      - {{apiVersion: apps/v1, kind: ReplicaSet, metadata: {{name: web}}, spec: {{replicas: 9, selector: {{matchLabels: {{app: web}}}}, template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}}}}}\n",
        cluster(2),
    );
    let path = write(&dir, "adopt.yaml", &scenario);
    run_ok(&path, &dir.join("out"), &[]);
    let events = read_csv(&dir.join("out/events.csv"));
    let adopted: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["action"] == "adopt")
        .map(|e| (e["namespace"].as_str(), e["name"].as_str()))
        .collect();
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let want: Vec<(&str, &str)> = sorted.iter().map(|n| ("default", *n)).collect();
    assert_eq!(adopted, want);
    // One pod created for the ninth replica.
    let pods = read_csv(&dir.join("out/pods.csv"));
    let created: Vec<&str> = pods
        .iter()
        .filter(|p| p["owner"] == "ReplicaSet/web")
        .map(|p| p["name"].as_str())
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(created[0].starts_with("web-"), "{created:?}");
}

/// Runs `manifest`, whose pods are always refused (no such PriorityClass),
/// and checks that `controller` retries with a doubling backoff and that
/// the run, without a duration, still stops when nothing else is left.
fn check_always_refused(tag: &str, manifest: &str, controller: &str) {
    let text = format!(
        "name: {tag}\n{}actions:\n- at: 0s\n  apply: {manifest}\n",
        cluster(2)
    );
    let out = run_scenario(tag, &text);
    let events = read_csv(&out.join("events.csv"));
    let failed: Vec<u64> = events
        .iter()
        .filter(|e| {
            e["component"] == "kube-controller-manager"
                && e["action"] == "error"
                && e["detail"].starts_with(controller)
                && e["detail"].contains("no PriorityClass with name hihg")
        })
        .map(|e| micros(&e["time_s"]).unwrap())
        .collect();
    assert!((8..=20).contains(&failed.len()), "{tag}: {failed:?}");
    let gaps: Vec<u64> = failed.windows(2).map(|w| w[1] - w[0]).collect();
    // Past the request latencies the gap doubles with each failure.
    for w in gaps[5..].windows(2) {
        assert!(w[1] * 2 >= w[0] * 3, "{tag}: {gaps:?}");
    }
    let summary = read_csv(&out.join("summary.csv"));
    let virtual_s: f64 = summary
        .iter()
        .find(|r| r["metric"] == "virtual_time_s")
        .unwrap()["value"]
        .parse()
        .unwrap();
    assert!(virtual_s < 60.0, "{tag}: {virtual_s}");
    assert!(events.iter().all(|e| e["kind"] != "Pod"
        || e["action"] != "create"
        || e["component"] != "kube-apiserver"));
}

#[test]
fn a_sync_that_always_fails_is_retried_with_a_doubling_backoff_and_the_run_ends() {
    // The ReplicaSet controller retries after 5 ms, 10 ms, 20 ms ...; so
    // does the StatefulSet controller.
    let d = deployment("web", 3, "app:1", "").replace(
        "spec: {containers",
        "spec: {priorityClassName: hihg, containers",
    );
    check_always_refused("always-refused-rs", &d, "replicaset-controller:");
    let sts = "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: db}, spec: {serviceName: db, replicas: 2, selector: {matchLabels: {app: db}}, template: {metadata: {labels: {app: db}}, spec: {priorityClassName: hihg, containers: [{name: c, image: 'app:1'}]}}}}";
    check_always_refused("always-refused-sts", sts, "statefulset-controller:");
}

/// Runs `manifest` (workload pods pinned with `nodeName` to a node they do
/// not fit: the kubelet refuses each one, and the controller replaces it)
/// with `extra` scenario lines; returns the pods created and the summary's
/// stop reason.
fn run_pinned(tag: &str, manifest: &str, extra: &str) -> (usize, String) {
    let text = format!(
        "name: {tag}\n{extra}cluster:\n  nodeGroups: [{{name: n, count: 1, capacity: {{cpu: '1', memory: 8Gi}}, images: ['app:1']}}]\nactions:\n- at: 0s\n  apply: {manifest}\n"
    );
    let out = run_scenario(tag, &text);
    let events = read_csv(&out.join("events.csv"));
    let rejected = events.iter().filter(|e| e["action"] == "reject").count();
    let pods = read_csv(&out.join("pods.csv"));
    assert_eq!(rejected, pods.len(), "{tag}: every pod is refused");
    let summary = read_csv(&out.join("summary.csv"));
    let stop = summary
        .iter()
        .find(|r| r["metric"] == "stopped_by")
        .unwrap()["value"]
        .clone();
    (pods.len(), stop)
}

#[test]
fn pods_a_node_always_refuses_are_replaced_but_the_run_ends() {
    // Upstream replaces such pods forever. From the tenth failure in a row
    // (or the replica count, if more) on, the replacements keep only a run
    // with `duration` going; before, this run did not end.
    let spec = "spec: {nodeName: n-0, containers: [{name: c, image: 'app:1', resources: {requests: {cpu: '2'}}}]}";
    let rs = format!(
        "{{apiVersion: apps/v1, kind: ReplicaSet, metadata: {{name: big}}, spec: {{replicas: 1, selector: {{matchLabels: {{app: big}}}}, template: {{metadata: {{labels: {{app: big}}}}, {spec}}}}}}}"
    );
    let sts = format!(
        "{{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{replicas: 2, serviceName: db, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, {spec}}}}}}}"
    );
    for (tag, manifest) in [("pinned-rs", &rs), ("pinned-sts", &sts)] {
        let (created, stop) = run_pinned(tag, manifest, "");
        assert_eq!(stop, "idle", "{tag}");
        // Ten failures in the foreground; replacements already in flight
        // may add a few.
        assert!((10..=15).contains(&created), "{tag}: {created} pods");
        // With a duration the loop goes on to its end.
        let (created, stop) = run_pinned(tag, manifest, "duration: 30s\n");
        assert_eq!(stop, "duration", "{tag}");
        assert!(created > 100, "{tag}: {created} pods");
    }
}

#[test]
fn replacements_go_on_once_a_refusing_node_frees_room() {
    // The node is full until a bare pod ends at 60 s: the ReplicaSet's
    // pods are refused hundreds of times, so its creates linger by then.
    // The pod's end starts the counts again, and the create in flight is
    // awaited: the run ends with the ReplicaSet's pod running.
    let text = "name: freed\ncluster:\n  nodeGroups: [{name: n, count: 1, capacity: {cpu: '1', memory: 8Gi}, images: ['app:1']}]\nactions:\n- at: 0s\n  apply: {kind: Pod, metadata: {name: blocker, annotations: {kubesim.io/run-duration: 60s}}, spec: {restartPolicy: Never, nodeName: n-0, containers: [{name: c, image: 'app:1', resources: {requests: {cpu: '1'}}}]}}\n- at: 1s\n  apply: {apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: rs}, spec: {replicas: 1, selector: {matchLabels: {app: rs}}, template: {metadata: {labels: {app: rs}}, spec: {nodeName: n-0, containers: [{name: c, image: 'app:1', resources: {requests: {cpu: '1'}}}]}}}}\n";
    let out = run_scenario("freed-room", text);
    let pods = read_csv(&out.join("pods.csv"));
    let running: Vec<&Row> = pods.iter().filter(|p| p["phase"] == "Running").collect();
    assert_eq!(running.len(), 1, "no ReplicaSet pod runs");
    assert_eq!(running[0]["owner"], "ReplicaSet/rs");
    let failed = pods.iter().filter(|p| p["phase"] == "Failed").count();
    assert!(failed > 100, "{failed} refused");
}

#[test]
fn an_orphaning_refused_by_a_conflict_is_retried_before_the_owner_goes() {
    // Deleted with the Orphan policy in the middle of a rollout: the
    // ReplicaSets' status writes race the garbage collector's updates, and
    // at some moments one of those is refused (409). The race depends on
    // every latency of the run, so the delete is tried at 20 moments of
    // the rollout; in each run where an orphaning is refused, the owner
    // goes only once every ReplicaSet has lost its reference, and both
    // ReplicaSets stay.
    let mut raced = 0;
    for step in 0..20 {
        let at = 10.0 + 0.05 * f64::from(step);
        let text = format!(
            "name: orphan\n{}actions:\n- at: 0s\n  apply: {}\n- at: 10s\n  setImage: {{kind: Deployment, name: web, container: c, image: 'app:2'}}\n- at: {at:.2}s\n  delete: {{kind: Deployment, name: web, propagationPolicy: Orphan}}\n",
            cluster(5),
            deployment("web", 50, "app:1", "")
        );
        let out = run_scenario(&format!("orphan-conflict-{step}"), &text);
        let events = read_csv(&out.join("events.csv"));
        let gc: Vec<&Row> = events
            .iter()
            .filter(|e| e["detail"].starts_with("garbage-collector:"))
            .collect();
        let finalizer = gc
            .iter()
            .position(|e| e["detail"].ends_with("orphan finalizer removed"))
            .expect("the Deployment goes");
        // Neither ReplicaSet nor any of their pods is deleted.
        assert!(
            !gc.iter()
                .any(|e| e["action"] == "delete"
                    && (e["kind"] == "ReplicaSet" || e["kind"] == "Pod")),
            "{at}: {gc:?}"
        );
        let Some(refused) = gc
            .iter()
            .position(|e| e["action"] == "error" && e["detail"].contains("409 Conflict"))
        else {
            continue;
        };
        raced += 1;
        let conflicted = &gc[refused]["name"];
        // The refused ReplicaSet is orphaned again before the owner goes.
        assert!(
            gc[refused..finalizer]
                .iter()
                .any(|e| e["action"] == "orphan" && &e["name"] == conflicted),
            "{at}: {gc:?}"
        );
    }
    assert!(
        raced > 0,
        "no orphaning was refused at any of the 20 moments"
    );
}

/// The timeline is written by kube-proxy's thread (see
/// `proxy::link`): a write that fails there is the run's write error all
/// the same.
#[test]
fn a_timeline_write_that_fails_is_the_runs_error() {
    use kubesim::sim::run::{RunOptions, simulate_with};
    use std::io::{self, Write};
    /// Accepts its field's number of bytes more, then fails.
    struct Full(usize);
    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if b.len() > self.0 {
                return Err(io::Error::other("disk full"));
            }
            self.0 -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let s = kubesim::scenario::load(&repo().join("scenarios/rolling-update.yaml")).unwrap();
    let opts = RunOptions::default();
    for room in [10, 100_000] {
        let mut outcome = simulate_with(
            &s,
            s.seed,
            Box::new(Full(room)),
            Box::new(io::sink()),
            &opts,
        );
        let err = outcome
            .recorder
            .finish()
            .expect_err("the timeline did not fit");
        assert_eq!(err.to_string(), "disk full", "room {room}");
    }
    // With room enough, no error.
    let mut outcome = simulate_with(
        &s,
        s.seed,
        Box::new(Full(usize::MAX)),
        Box::new(io::sink()),
        &opts,
    );
    outcome.recorder.finish().unwrap();
}

#[test]
fn a_workloads_selector_cannot_change() {
    // apps/v1: a Deployment's selector is immutable, and of a StatefulSet's
    // spec only replicas, template, updateStrategy, revisionHistoryLimit and
    // minReadySeconds may change. The refused apply leaves the workload as
    // it was; an allowed change (a StatefulSet's replicas) goes through.
    let sts = |service: &str, replicas: u32| {
        format!(
            "{{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{serviceName: {service}, replicas: {replicas}, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: 'app:1'}}]}}}}}}}}"
        )
    };
    let text = format!(
        "name: immutable\n{}actions:\n- at: 0s\n  apply:\n  - {}\n  - {}\n- at: 10s\n  apply:\n  - {}\n  - {}\n- at: 20s\n  apply: {}\n",
        cluster(1),
        deployment("web", 2, "app:1", ""),
        sts("db", 1),
        deployment("web", 2, "app:1", "")
            .replace(
                "selector: {matchLabels: {app: web}}",
                "selector: {matchLabels: {app: web, tier: front}}"
            )
            .replace(
                "labels: {app: web}}, spec",
                "labels: {app: web, tier: front}}, spec"
            ),
        sts("db-headless", 1),
        sts("db", 2),
    );
    let out = run_scenario("immutable", &text);
    let events = read_csv(&out.join("events.csv"));
    let rejected = |kind: &str, what: &str| {
        events.iter().any(|e| {
            e["component"] == "kube-apiserver"
                && e["action"] == "error"
                && e["kind"] == kind
                && e["detail"].contains("422")
                && e["detail"].contains(what)
        })
    };
    assert!(
        rejected(
            "Deployment",
            "spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"front\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ),
        "{events:?}"
    );
    assert!(rejected(
        "StatefulSet",
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"
    ));
    let summary = read_csv(&out.join("summary.csv"));
    let get = |m: &str| summary.iter().find(|r| r["metric"] == m).unwrap()["value"].clone();
    assert_eq!(get("api_rejected"), "2");
    // No rollout: the Deployment kept its one ReplicaSet and its pods.
    let rollouts = read_csv(&out.join("rollouts.csv"));
    assert_eq!(
        rollouts.iter().filter(|r| r["name"] == "web").count(),
        1,
        "{rollouts:?}"
    );
    let pods = read_csv(&out.join("pods.csv"));
    assert_eq!(pods_of(&pods, "web").len(), 2);
    // The StatefulSet's scale-up at 20 s went through: db-0 and db-1.
    let mut db: Vec<&str> = pods
        .iter()
        .filter(|p| p["name"].starts_with("db-"))
        .map(|p| p["name"].as_str())
        .collect();
    db.sort();
    assert_eq!(db, ["db-0", "db-1"]);
}

#[test]
fn a_stale_replicaset_status_does_not_fail_a_rollouts_sync() {
    // During a rollout an old ReplicaSet often reads more available pods
    // than its replicas (scaled down, its status not yet updated).
    // upstream's cleanupUnhealthyReplicas refuses that scale ("got invalid
    // request to scale down"), and reconcileOldReplicaSets drops the error:
    // the sync goes on to the status, with no error logged and no retry.
    // The bundled rolling update meets that case hundreds of times.
    let dir = scratch("stale-rs-status");
    let out = dir.join("out");
    run_ok(&repo().join("scenarios/rolling-update.yaml"), &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let failed: Vec<&str> = events
        .iter()
        .filter(|e| e["component"] == "kube-controller-manager" && e["action"] == "error")
        .map(|e| e["detail"].as_str())
        .filter(|d| d.starts_with("deployment-controller: sync failed"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed syncs: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let rollouts = read_csv(&out.join("rollouts.csv"));
    let second: Vec<_> = rollouts.iter().filter(|r| r["revision"] == "2").collect();
    assert_eq!(second.len(), 2, "{rollouts:?}");
    assert!(
        second.iter().all(|r| !r["completed_s"].is_empty()),
        "{rollouts:?}"
    );
}
