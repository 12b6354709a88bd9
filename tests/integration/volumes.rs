//! Persistent volumes and the scheduler's volume plugins, through runs of
//! scenarios written here.

use std::collections::BTreeMap;

use crate::support::{micros, read_csv, run_ok, scratch, write};

type Row = BTreeMap<String, String>;

fn node_of<'a>(pods: &'a [Row], name: &str) -> &'a str {
    let p = pods.iter().find(|p| p["name"] == name).expect(name);
    p["node"].as_str()
}

fn unschedulable<'a>(events: &'a [Row], name: &str) -> Vec<&'a str> {
    (events.iter())
        .filter(|e| e["action"] == "unschedulable" && e["name"] == name)
        .map(|e| e["detail"].as_str())
        .collect()
}

/// Zone b's nodes are far larger, so that the scores send every pod there
/// unless a filter keeps it in zone a.
const CLUSTER: &str = "cluster:\n  nodeGroups:\n    - {name: a, count: 2, capacity: {cpu: '4', memory: 8Gi}, labels: {topology.kubernetes.io/zone: zone-a}}\n    - {name: b, count: 2, capacity: {cpu: '64', memory: 256Gi}, labels: {topology.kubernetes.io/zone: zone-b}}\n";

/// A scenario of `cluster` running the `actions` ([`apply_at`]).
fn scenario(name: &str, duration: &str, cluster: &str, actions: &[String]) -> String {
    format!(
        "name: {name}\nduration: {duration}\n{cluster}actions:\n{}",
        actions.concat()
    )
}

/// An action applying `objects` at `at`.
fn apply_at(at: &str, objects: &[String]) -> String {
    let items: String = objects.iter().map(|o| format!("      - {o}\n")).collect();
    format!("  - at: {at}\n    apply:\n{items}")
}

fn pod(name: &str, claim: &str, extra: &str) -> String {
    format!(
        "{{apiVersion: v1, kind: Pod, metadata: {{name: {name}}}, spec: {{{extra}containers: [{{name: c, image: pause}}], volumes: [{{name: v, persistentVolumeClaim: {{claimName: {claim}}}}}]}}}}"
    )
}

fn claim(name: &str, volume: &str, modes: &str) -> String {
    let bound = if volume.is_empty() {
        String::new()
    } else {
        format!(", volumeName: {volume}")
    };
    let ann = if volume.is_empty() {
        ""
    } else {
        ", annotations: {pv.kubernetes.io/bind-completed: 'yes'}"
    };
    format!(
        "{{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {{name: {name}{ann}}}, spec: {{accessModes: [{modes}], resources: {{requests: {{storage: 1Gi}}}}{bound}}}}}"
    )
}

fn volume(name: &str, extra_spec: &str, labels: &str) -> String {
    format!(
        "{{apiVersion: v1, kind: PersistentVolume, metadata: {{name: {name}, labels: {{{labels}}}}}, spec: {{capacity: {{storage: 1Gi}}, accessModes: [ReadWriteOnce, ReadOnlyMany], csi: {{driver: ebs.csi.aws.com, volumeHandle: {name}}}{extra_spec}}}}}"
    )
}

/// VolumeBinding: a bound claim's volume node affinity places the pod; a
/// claim not bound keeps its pod pending with upstream's message until an
/// update binds it (the claim's update moves the pod); a claim that does
/// not exist is VolumeRestrictions' PreFilter rejection. VolumeZone: a
/// volume labelled with a zone keeps its pod in that zone.
#[test]
fn claims_bind_pods_where_their_volumes_are() {
    let dir = scratch("volume-binding");
    let pinned = ", nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [b-1]}]}]}}";
    let text = scenario(
        "volume-binding",
        "60s",
        CLUSTER,
        &[
            apply_at(
                "0s",
                &[
                    volume("pv-pinned", pinned, ""),
                    volume("pv-zoned", "", "topology.kubernetes.io/zone: zone-a"),
                    claim("pinned", "pv-pinned", "ReadWriteOnce"),
                    claim("zoned", "pv-zoned", "ReadWriteOnce"),
                    claim("later", "", "ReadWriteOnce"),
                ],
            ),
            apply_at(
                "1s",
                &[
                    pod("on-pinned", "pinned", ""),
                    pod("in-zone", "zoned", ""),
                    pod("waits", "later", ""),
                ],
            ),
            apply_at("20s", &[claim("later", "pv-zoned", "ReadWriteOnce")]),
        ],
    );
    let s = write(&dir, "s.yaml", &text);
    let missing = write(
        &dir,
        "missing.yaml",
        &scenario(
            "volume-missing",
            "10s",
            CLUSTER,
            &[apply_at(
                "0s",
                &[claim("other", "", "ReadWriteOnce"), pod("lost", "nope", "")],
            )],
        ),
    );
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let events = read_csv(&out.join("events.csv"));
    assert_eq!(node_of(&pods, "on-pinned"), "b-1");
    assert!(node_of(&pods, "in-zone").starts_with("a-"), "{pods:?}");
    // Bound once the claim named its volume, zone-a's, at 20 s.
    let waits = unschedulable(&events, "waits");
    assert_eq!(
        waits.first().copied(),
        Some("0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
    );
    let row = pods.iter().find(|p| p["name"] == "waits").unwrap();
    assert!(micros(&row["bound_s"]).expect("bound") > 20_000_000);
    assert!(row["node"].starts_with("a-"), "{row:?}");
    // Without VolumeZone, the same volume's pod goes where the scores say.
    let policy = write(
        &dir,
        "no-zone.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  plugins:\n    filter:\n      disabled: [{name: VolumeZone}]\n",
    );
    let out = dir.join("out-no-zone");
    run_ok(&s, &out, &["--policy", policy.to_str().unwrap()]);
    let pods = read_csv(&out.join("pods.csv"));
    assert!(node_of(&pods, "in-zone").starts_with("b-"), "{pods:?}");
    let out = dir.join("out-missing");
    run_ok(&missing, &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    assert_eq!(
        unschedulable(&events, "lost").first().copied(),
        Some("0/4 nodes are available: persistentvolumeclaim \"nope\" not found.")
    );
}

/// NodeVolumeLimits: a CSINode's limit of one volume of the driver per
/// node; the third pod waits until a pod with a volume leaves a node,
/// which moves it (upstream's hint on an assigned pod's deletion).
#[test]
fn csinode_limits_cap_the_volumes_a_node_attaches() {
    let dir = scratch("volume-limits");
    let csinode = |n: &str| {
        format!(
            "{{apiVersion: storage.k8s.io/v1, kind: CSINode, metadata: {{name: {n}}}, spec: {{drivers: [{{name: ebs.csi.aws.com, nodeID: {n}, allocatable: {{count: 1}}}}]}}}}"
        )
    };
    let mut objects = vec![csinode("n-0"), csinode("n-1")];
    for k in 0..3 {
        objects.push(volume(&format!("pv-{k}"), "", ""));
        objects.push(claim(
            &format!("c-{k}"),
            &format!("pv-{k}"),
            "ReadWriteOnce",
        ));
    }
    let cluster =
        "cluster:\n  nodeGroups:\n    - {name: n, count: 2, capacity: {cpu: '4', memory: 8Gi}}\n";
    let text = scenario(
        "volume-limits",
        "60s",
        cluster,
        &[
            apply_at("0s", &objects),
            apply_at("1s", &[pod("p-0", "c-0", ""), pod("p-1", "c-1", "")]),
            apply_at("5s", &[pod("p-2", "c-2", "")]),
            "  - at: 20s\n    delete: {kind: Pod, name: p-0}\n".to_string(),
        ],
    );
    let s = write(&dir, "s.yaml", &text);
    // With the queueing hints, and without them (the deletion moves the
    // pods NodeVolumeLimits rejected, which registers it).
    for (k, gates) in [
        &[][..],
        &["--feature-gates", "SchedulerQueueingHints=false"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.join(format!("out-{k}"));
        run_ok(&s, &out, gates);
        let pods = read_csv(&out.join("pods.csv"));
        let events = read_csv(&out.join("events.csv"));
        assert_ne!(node_of(&pods, "p-0"), node_of(&pods, "p-1"));
        assert_eq!(
            unschedulable(&events, "p-2").first().copied(),
            Some("0/2 nodes are available: 2 node(s) exceed max volume count.")
        );
        let p2 = pods.iter().find(|p| p["name"] == "p-2").unwrap();
        assert!(micros(&p2["bound_s"]).expect("bound after p-0 left") > 20_000_000);
        assert_eq!(p2["node"], node_of(&pods, "p-0"));
    }
}

/// VolumeRestrictions: a ReadWriteOncePod claim serves one pod in the
/// cluster; a second pod of the same priority waits, one of higher
/// priority preempts the first (the dry run counts the claim's users
/// without the victim).
#[test]
fn a_read_write_once_pod_claim_serves_one_pod() {
    let dir = scratch("volume-rwop");
    let text = scenario(
        "volume-rwop",
        "60s",
        CLUSTER,
        &[
            apply_at(
                "0s",
                &[
                    volume("pv", "", ""),
                    claim("once", "pv", "ReadWriteOncePod"),
                ],
            ),
            apply_at("1s", &[pod("first", "once", "")]),
            apply_at("5s", &[pod("second", "once", "")]),
            apply_at("10s", &[pod("urgent", "once", "priority: 100, ")]),
        ],
    );
    let s = write(&dir, "s.yaml", &text);
    let out = dir.join("out");
    run_ok(&s, &out, &[]);
    let events = read_csv(&out.join("events.csv"));
    let pods = read_csv(&out.join("pods.csv"));
    let conflict = "0/4 nodes are available: 4 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.";
    assert_eq!(
        unschedulable(&events, "second").first().copied(),
        Some(conflict)
    );
    assert_eq!(
        unschedulable(&events, "urgent").first().copied(),
        Some(conflict)
    );
    // `first` is preempted; `second`, out of backoff sooner than
    // `urgent`, may take the claim meanwhile and be preempted in turn.
    let preempted: Vec<&Row> = (events.iter())
        .filter(|e| e["action"] == "preempt")
        .collect();
    assert_eq!(preempted.first().map(|e| e["name"].as_str()), Some("first"));
    assert!(
        (preempted.iter()).all(|e| e["detail"].starts_with("preempted by default/urgent")),
        "{preempted:?}"
    );
    let running: Vec<&str> = (pods.iter())
        .filter(|p| p["phase"] == "Running")
        .map(|p| p["name"].as_str())
        .collect();
    assert_eq!(running, ["urgent"]);
}

/// The apiserver's checks of the storage objects (bad input: the
/// scenario does not load), and a manifest key Kubernetes' volume types do not have (a load error
/// at its line).
#[test]
fn storage_objects_are_validated() {
    for (k, (object, message)) in [
        (
            "{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: c}, spec: {accessModes: [ReadWriteOnce]}}",
            "spec.resources[storage]: Required value",
        ),
        (
            "{apiVersion: v1, kind: PersistentVolume, metadata: {name: v}, spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOncePod, ReadOnlyMany], csi: {driver: d, volumeHandle: h}}}",
            "may not use ReadWriteOncePod with other access modes",
        ),
        (
            "{apiVersion: storage.k8s.io/v1, kind: CSINode, metadata: {name: a-0}, spec: {drivers: [{name: d, nodeID: a-0, allocatable: {count: -1}}]}}",
            "spec.drivers[0].allocatable.count: Invalid value: -1",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let e = crate::support::load_error(
            &format!("volume-invalid-{k}"),
            &scenario("t", "10s", CLUSTER, &[apply_at("0s", &[object.to_string()])]),
        );
        assert!(e.contains(message) && e.contains("422"), "{e}");
    }
    let e = crate::support::load_error(
        "volume-typo",
        &format!(
            "name: t\n{CLUSTER}actions:\n  - at: 0s\n    apply:\n      - {{apiVersion: v1, kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: c, image: x}}], volumes: [{{name: v, persistentVolumeClaim: {{claimname: c}}}}]}}}}\n"
        ),
    );
    assert!(e.contains("claimname") && e.contains("claimName"), "{e}");
}

/// `scenarios/volumes.yaml` shows what its header says: zonal volumes keep
/// their pods in their zones, the fifth cache pod waits for a volume slot,
/// the second user of a ReadWriteOncePod claim waits for the first, and
/// a claim bound late lets its pod run.
#[test]
fn the_bundled_volumes_scenario_shows_each_plugin() {
    let scenario = crate::support::repo().join("scenarios/volumes.yaml");
    let out = scratch("volumes-bundled");
    run_ok(&scenario, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let events = read_csv(&out.join("events.csv"));
    assert_eq!(node_of(&pods, "db-0"), "a-0");
    assert_eq!(node_of(&pods, "db-1"), "b-0");
    let bound = |name: &str| {
        let p = pods.iter().find(|p| p["name"] == name).expect(name);
        micros(&p["bound_s"]).expect(name)
    };
    // Two volumes per node: four cache pods at once, the fifth once
    // cache-0 is deleted at 40 s.
    let late = (0..5)
        .filter(|i| bound(&format!("cache-{i}")) > 40_000_000)
        .count();
    assert_eq!(late, 1, "{pods:?}");
    let max_count = "0/2 nodes are available: 2 node(s) exceed max volume count.";
    // (Each claim first waits for the PersistentVolume controller, which
    // binds a claim whose volume was not yet Available at its resync.)
    assert!(
        (0..5).any(|i| unschedulable(&events, &format!("cache-{i}")).contains(&max_count)),
        "{events:?}"
    );
    assert!(bound("report-0") < 6_000_000 && bound("report-1") > 50_000_000);
    // late's volume is made at 30 s; the controller binds it at its next
    // resync (every 15 s from the start).
    assert!(bound("late") > 30_000_000 && bound("late") < 50_000_000);
    assert_eq!(
        unschedulable(&events, "late").first().copied(),
        Some("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
    );
}
