//! The PersistentVolume controller, the external provisioner,
//! StorageClasses and StatefulSet claims, through runs of the bundled
//! `scenarios/storage.yaml` and of scenarios written here.

use std::collections::BTreeMap;

use crate::support::{micros, read_csv, run_ok, run_scenario, scratch};

type Row = BTreeMap<String, String>;

/// The time of the first row matching `f`.
fn first(events: &[Row], f: impl Fn(&Row) -> bool) -> Option<u64> {
    events
        .iter()
        .find(|e| f(e))
        .map(|e| micros(&e["time_s"]).unwrap())
}

/// The controller manager's event rows of `name` (reason and message).
fn events_of<'a>(events: &'a [Row], name: &str) -> Vec<&'a str> {
    (events.iter())
        .filter(|e| e["action"] == "event" && e["name"] == name)
        .map(|e| e["detail"].as_str())
        .collect()
}

/// The phases the apiserver was asked to write for `name`, in order.
fn phases<'a>(events: &'a [Row], kind: &str, name: &str) -> Vec<&'a str> {
    (events.iter())
        .filter(|e| {
            e["component"] == "kube-apiserver"
                && e["action"] == "update-status"
                && e["kind"] == kind
                && e["name"] == name
        })
        .filter_map(|e| e["detail"].split("phase=").nth(1))
        .collect()
}

fn is_deleted(events: &[Row], kind: &str, name: &str) -> bool {
    events.iter().any(|e| {
        e["component"] == "etcd"
            && e["action"] == "delete"
            && e["kind"] == kind
            && e["name"] == name
    })
}

/// `scenarios/storage.yaml` shows what its header says.
#[test]
fn the_bundled_storage_scenario_provisions_binds_and_reclaims() {
    let scenario = crate::support::repo().join("scenarios/storage.yaml");
    let out = scratch("storage-bundled");
    run_ok(&scenario, &out, &[]);
    let pods = read_csv(&out.join("pods.csv"));
    let events = read_csv(&out.join("events.csv"));
    let mut volume_of = BTreeMap::new();
    for i in 0..3 {
        let claim = format!("data-web-{i}");
        let pod = format!("web-{i}");
        // The claim is created before its pod.
        let claim_made = first(&events, |e| {
            e["component"] == "etcd" && e["action"] == "put" && e["name"] == claim
        })
        .expect(&claim);
        let pod_made = first(&events, |e| {
            e["component"] == "etcd" && e["action"] == "put" && e["name"] == pod
        })
        .expect(&pod);
        assert!(claim_made < pod_made, "{claim} {pod}");
        // Provisioned, then bound, then the pod bound to a node.
        let made = events_of(&events, &claim)
            .into_iter()
            .find_map(|d| d.split("Successfully provisioned volume ").nth(1))
            .unwrap_or_else(|| panic!("{claim} provisioned: {events:?}"));
        volume_of.insert(i, made.to_string());
        assert!(made.starts_with("pvc-"), "{made}");
        assert_eq!(phases(&events, "PersistentVolume", made)[0], "Bound");
        assert_eq!(phases(&events, "PersistentVolumeClaim", &claim), ["Bound"]);
        let claim_bound = first(&events, |e| {
            e["action"] == "update-status"
                && e["name"] == claim
                && e["detail"].ends_with("phase=Bound")
        })
        .unwrap();
        let row = pods.iter().find(|p| p["name"] == pod).expect(&pod);
        assert!(
            micros(&row["bound_s"]).expect("bound") > claim_bound,
            "{row:?}"
        );
    }
    // archive binds the smallest static volume that fits it: the only
    // volume the controller writes a claim reference into.
    let referenced: Vec<&str> = (events.iter())
        .filter(|e| {
            e["component"] == "kube-apiserver"
                && e["action"] == "update"
                && e["kind"] == "PersistentVolume"
                && e["detail"] == "from kube-controller-manager"
        })
        .map(|e| e["name"].as_str())
        .collect();
    assert_eq!(referenced, ["archive-20g"]);
    // cache's claim waits for its pod; the scheduler sends the pod to the
    // local volume's node and reserves the volume (the one volume it
    // writes), and the pod is bound once the claim is.
    let cache = pods.iter().find(|p| p["name"] == "cache").expect("cache");
    assert_eq!(cache["node"], "node-2");
    let reserved: Vec<&str> = (events.iter())
        .filter(|e| e["action"] == "update" && e["detail"] == "from kube-scheduler")
        .map(|e| e["name"].as_str())
        .collect();
    assert_eq!(reserved, ["local-ssd"]);
    assert_eq!(phases(&events, "PersistentVolumeClaim", "cache"), ["Bound"]);
    let claim_bound = first(&events, |e| {
        e["action"] == "update-status"
            && e["name"] == "cache"
            && e["detail"].ends_with("phase=Bound")
    })
    .unwrap();
    assert!(micros(&cache["bound_s"]).unwrap() > claim_bound);
    assert_eq!(
        phases(&events, "PersistentVolume", "archive-5g"),
        ["Available"]
    );
    assert_eq!(
        phases(&events, "PersistentVolume", "archive-20g"),
        ["Available", "Bound", "Released"]
    );
    assert!(!is_deleted(&events, "PersistentVolume", "archive-20g"));
    // Scale-down keeps the claims; data-web-2's deletion releases its
    // volume, which its provisioner deletes (the class reclaims by Delete).
    assert!(!is_deleted(&events, "PersistentVolumeClaim", "data-web-1"));
    let v2 = &volume_of[&2];
    assert_eq!(
        phases(&events, "PersistentVolume", v2),
        ["Bound", "Released"]
    );
    assert!(is_deleted(&events, "PersistentVolume", v2));
    assert!(!is_deleted(&events, "PersistentVolume", &volume_of[&1]));
}

const CLUSTER: &str =
    "cluster:\n  nodeGroups:\n    - {name: n, count: 2, capacity: {cpu: '8', memory: 32Gi}}\n";

fn volume(name: &str, size: &str, extra: &str) -> String {
    format!(
        "      - {{apiVersion: v1, kind: PersistentVolume, metadata: {{name: {name}}}, spec: {{capacity: {{storage: {size}}}, accessModes: [ReadWriteOnce], hostPath: {{path: /d/{name}}}{extra}}}}}\n"
    )
}

fn claim(name: &str, size: &str, extra: &str) -> String {
    format!(
        "      - {{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {{name: {name}}}, spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: {size}}}}}{extra}}}}}\n"
    )
}

/// Claims that cannot bind say why, as upstream's controller does; a
/// static volume with the Delete policy fails to be reclaimed; a bound
/// claim whose volume goes is Lost, and the scheduler refuses its pods.
#[test]
fn claims_that_cannot_bind_say_why_and_lost_claims_hold_their_pods() {
    let text = format!(
        "name: storage-failures\nduration: 60s\n{CLUSTER}actions:\n  - at: 0s\n    apply:\n{}{}{}{}{}{}{}{}{}{}  - at: 20s\n    delete: {{kind: PersistentVolumeClaim, name: temp}}\n  - at: 21s\n    delete: {{kind: PersistentVolume, name: vanish}}\n  - at: 25s\n    apply:\n      - {{apiVersion: v1, kind: Pod, metadata: {{name: orphan}}, spec: {{containers: [{{name: c, image: pause}}], volumes: [{{name: v, persistentVolumeClaim: {{claimName: gone}}}}]}}}}\n",
        claim("nothing", "100Gi", ""),
        volume("tiny", "1Gi", ""),
        claim("small", "5Gi", ", volumeName: tiny"),
        volume(
            "owned",
            "1Gi",
            ", claimRef: {namespace: default, name: owner}"
        ),
        claim("taken", "1Gi", ", volumeName: owned"),
        claim("ghost", "1Gi", ", storageClassName: missing"),
        volume(
            "static-del",
            "1Gi",
            ", persistentVolumeReclaimPolicy: Delete, claimRef: {namespace: default, name: temp}"
        ),
        claim("temp", "1Gi", ", volumeName: static-del"),
        volume(
            "vanish",
            "1Gi",
            ", claimRef: {namespace: default, name: gone}"
        ),
        claim("gone", "1Gi", ", volumeName: vanish"),
    );
    let out = run_scenario("storage-failures", &text);
    let events = read_csv(&out.join("events.csv"));
    let said = |name: &str, text: &str| {
        let rows = events_of(&events, name);
        assert!(rows.iter().any(|d| d.contains(text)), "{name}: {rows:?}");
    };
    said(
        "nothing",
        "FailedBinding: no persistent volumes available for this claim and no storage class is set",
    );
    said(
        "small",
        "VolumeMismatch: Cannot bind to requested volume \"tiny\": requested PV is too small",
    );
    said(
        "taken",
        "FailedBinding: volume \"owned\" already bound to a different claim.",
    );
    said(
        "ghost",
        "ProvisioningFailed: storageclass.storage.k8s.io \"missing\" not found",
    );
    for name in ["nothing", "small", "taken", "ghost"] {
        assert_eq!(
            phases(&events, "PersistentVolumeClaim", name),
            Vec::<&str>::new(),
            "{name}"
        );
    }
    // temp bound, then deleted: its static volume cannot be deleted.
    assert_eq!(phases(&events, "PersistentVolumeClaim", "temp"), ["Bound"]);
    said(
        "static-del",
        "VolumeFailedDelete: error getting deleter volume plugin for volume \"static-del\": no deletable volume plugin matched",
    );
    let p = phases(&events, "PersistentVolume", "static-del");
    assert_eq!(p.last(), Some(&"Failed"), "{p:?}");
    assert!(!is_deleted(&events, "PersistentVolume", "static-del"));
    // gone's volume is deleted: the claim is Lost, its pod unschedulable.
    assert_eq!(
        phases(&events, "PersistentVolumeClaim", "gone"),
        ["Bound", "Lost"]
    );
    said(
        "gone",
        "ClaimLost: Bound claim has lost its PersistentVolume. Data on the volume is lost!",
    );
    let refused = (events.iter())
        .find(|e| e["action"] == "unschedulable" && e["name"] == "orphan")
        .map(|e| e["detail"].as_str());
    assert_eq!(
        refused,
        Some(
            "0/2 nodes are available: persistentvolumeclaim \"gone\" bound to non-existent persistentvolume \"vanish\"."
        )
    );
}

/// A StorageClass is checked when the scenario loads: upstream's
/// validation, and a key it does not have.
#[test]
fn storage_classes_are_checked_when_the_scenario_loads() {
    let class = |fields: &str| {
        format!(
            "name: t\nduration: 10s\n{CLUSTER}actions:\n  - at: 0s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: c}}{fields}}}\n"
        )
    };
    for (i, (fields, message)) in [
        ("", "provisioner: Required value"),
        (
            ", provisioner: x.csi.io, reclaimPolicy: Recycle",
            "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
        ),
        (
            ", provisioner: x.csi.io, volumeBindingMode: Later",
            "volumeBindingMode: Unsupported value: \"Later\"",
        ),
        (", provisoner: x.csi.io", "`provisoner` is not a field of a StorageClass manifest"),
    ]
    .into_iter()
    .enumerate()
    {
        let e = crate::support::load_error(&format!("storage-class-{i}"), &class(fields));
        assert!(e.contains(message), "{e}");
    }
}

/// A StatefulSet scaled down keeps its claims; scaled up again, its pods
/// use them rather than new ones, and no claim is created twice.
#[test]
fn a_statefulset_scaled_up_again_reuses_its_claims() {
    let text = format!(
        "name: reuse\nduration: 120s\n{CLUSTER}actions:\n  - at: 0s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: fast, annotations: {{storageclass.kubernetes.io/is-default-class: 'true'}}}}, provisioner: x.csi.io}}\n      - {{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{replicas: 2, serviceName: db, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: pause}}], volumes: [{{name: data, emptyDir: {{}}}}, {{name: tmp, emptyDir: {{}}}}]}}}}, volumeClaimTemplates: [{{metadata: {{name: data, labels: {{tier: db}}}}, spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}}}]}}}}\n  - at: 40s\n    scale: {{kind: StatefulSet, name: db, replicas: 1}}\n  - at: 60s\n    scale: {{kind: StatefulSet, name: db, replicas: 2}}\n"
    );
    let out = run_scenario("storage-reuse", &text);
    let events = read_csv(&out.join("events.csv"));
    let pods = read_csv(&out.join("pods.csv"));
    for claim in ["data-db-0", "data-db-1"] {
        let creates = (events.iter())
            .filter(|e| e["component"] == "etcd" && e["action"] == "put" && e["name"] == claim)
            .count();
        assert!(creates >= 1, "{claim}");
        let made = (events.iter())
            .filter(|e| {
                e["action"] == "create"
                    && e["name"] == claim
                    && e["component"] == "kube-controller-manager"
            })
            .count();
        assert_eq!(made, 1, "{claim}");
    }
    // Two provisioned volumes in all.
    let provisioned = (events.iter())
        .filter(|e| e["detail"].contains("Successfully provisioned volume"))
        .count();
    assert_eq!(provisioned, 2);
    // The template's `data` volume became the claim's (its pod waited for
    // the claim to bind), and `tmp` stayed.
    let bound = first(&events, |e| {
        e["action"] == "update-status"
            && e["name"] == "data-db-0"
            && e["detail"].ends_with("phase=Bound")
    })
    .expect("data-db-0 bound");
    let db0 = pods.iter().find(|p| p["name"] == "db-0").unwrap();
    assert!(micros(&db0["bound_s"]).unwrap() > bound, "{db0:?}");
    // db-1 runs twice: before the scale-down and after the scale-up.
    let db1: Vec<&Row> = pods.iter().filter(|p| p["name"] == "db-1").collect();
    assert_eq!(db1.len(), 2, "{pods:?}");
    assert!(db1.iter().all(|p| p["phase"] != "Pending"), "{db1:?}");
}

/// WaitForFirstConsumer: the scheduler picks the node first. A local
/// volume (class without a provisioner) draws its pod to its node; a
/// provisioned volume is made for the chosen node's zone (the claim's
/// `selected-node`), and the pod is bound once its claim is; a replica
/// recreated later goes back to its volume's zone; a claim no volume can
/// serve keeps its pod pending with upstream's reason.
#[test]
fn wait_for_first_consumer_claims_bind_where_their_pods_go() {
    let zoned = "    - {name: a, count: 2, capacity: {cpu: '4', memory: 16Gi}, labels: {topology.kubernetes.io/zone: zone-a}}\n    - {name: b, count: 2, capacity: {cpu: '4', memory: 16Gi}, labels: {topology.kubernetes.io/zone: zone-b}}\n";
    let local_claim = |name: &str| {
        format!(
            "      - {{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {{name: {name}}}, spec: {{storageClassName: local, accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 50Gi}}}}}}}}\n"
        )
    };
    let pod = |name: &str, claim: &str| {
        format!(
            "      - {{apiVersion: v1, kind: Pod, metadata: {{name: {name}}}, spec: {{containers: [{{name: c, image: nginx}}], volumes: [{{name: d, persistentVolumeClaim: {{claimName: {claim}}}}}]}}}}\n"
        )
    };
    let text = format!(
        "name: wffc\nduration: 100s\ncluster:\n  nodeGroups:\n{zoned}actions:\n  - at: 0s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: gp3, annotations: {{storageclass.kubernetes.io/is-default-class: 'true'}}}}, provisioner: ebs.csi.aws.com, volumeBindingMode: WaitForFirstConsumer}}\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: local}}, provisioner: kubernetes.io/no-provisioner, volumeBindingMode: WaitForFirstConsumer}}\n      - {{apiVersion: v1, kind: PersistentVolume, metadata: {{name: local-b1}}, spec: {{capacity: {{storage: 100Gi}}, accessModes: [ReadWriteOnce], storageClassName: local, local: {{path: /mnt/disk}}, nodeAffinity: {{required: {{nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [b-1]}}]}}]}}}}}}}}\n{}{}      - {{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{replicas: 2, serviceName: db, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: postgres}}]}}}}, volumeClaimTemplates: [{{metadata: {{name: data}}, spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}}}]}}}}\n  - at: 30s\n    apply:\n{}{}  - at: 60s\n    delete: {{kind: Pod, name: db-1}}\n",
        local_claim("fast"),
        pod("uses-local", "fast"),
        local_claim("fast2"),
        pod("no-local-left", "fast2"),
    );
    let out = run_scenario("storage-wffc", &text);
    let events = read_csv(&out.join("events.csv"));
    let pods = read_csv(&out.join("pods.csv"));
    let node = |name: &str| {
        let rows: Vec<&Row> = pods.iter().filter(|p| p["name"] == name).collect();
        rows.iter().map(|p| p["node"].clone()).collect::<Vec<_>>()
    };
    // The claim waits for its pod; the pod goes to the local volume's node.
    assert!(events_of(&events, "fast").iter().any(|d| d.contains(
        "WaitForFirstConsumer: waiting for first consumer to be created before binding"
    )));
    assert_eq!(node("uses-local"), ["b-1"]);
    // The scheduler reserved the volume for the claim; the controller
    // bound the two; then the pod was bound.
    let reserved = first(&events, |e| {
        e["component"] == "kube-apiserver"
            && e["action"] == "update"
            && e["name"] == "local-b1"
            && e["detail"] == "from kube-scheduler"
    })
    .expect("the scheduler's claimRef write");
    let claim_bound = first(&events, |e| {
        e["action"] == "update-status"
            && e["name"] == "fast"
            && e["detail"].ends_with("phase=Bound")
    })
    .expect("fast bound");
    let pod_bound = first(&events, |e| {
        e["component"] == "kube-apiserver" && e["action"] == "bind" && e["name"] == "uses-local"
    })
    .expect("uses-local bound");
    assert!(reserved < claim_bound && claim_bound < pod_bound);
    // Provisioned for the chosen node: the claim names it, and the
    // replica's pod is bound after its claim.
    for (claim, pod_name) in [("data-db-0", "db-0"), ("data-db-1", "db-1")] {
        let selected = first(&events, |e| {
            e["component"] == "kube-apiserver"
                && e["action"] == "update"
                && e["name"] == claim
                && e["detail"] == "from kube-scheduler"
        })
        .expect("selected-node write");
        let provisioned = first(&events, |e| {
            e["name"] == claim && e["detail"].contains("Successfully provisioned volume")
        })
        .expect("provisioned");
        let bound = first(&events, |e| {
            e["component"] == "kube-apiserver" && e["action"] == "bind" && e["name"] == pod_name
        })
        .unwrap();
        assert!(selected < provisioned && provisioned < bound, "{claim}");
    }
    // db-1, recreated at 60 s, goes back to its volume's zone.
    let db1 = node("db-1");
    assert_eq!(db1.len(), 2, "{pods:?}");
    assert_eq!(db1[0][..2], db1[1][..2], "{db1:?}");
    // No local volume is left for the second claim.
    let refused = (events.iter())
        .filter(|e| e["action"] == "unschedulable" && e["name"] == "no-local-left")
        .map(|e| e["detail"].as_str())
        .collect::<Vec<_>>();
    assert!(
        refused.contains(
            &"0/4 nodes are available: 4 node(s) didn't find available persistent volumes to bind."
        ),
        "{refused:?}"
    );
    assert_eq!(node("no-local-left"), [""]);
}

/// A claim whose class comes later is provisioned at the controller's
/// next resync (the run goes on to it); a class of the in-tree AWS EBS
/// provisioner is served by its CSI driver, as upstream's migration does;
/// a StatefulSet whose replica's claim is being deleted retries until the
/// claim is gone and then makes both.
#[test]
fn late_classes_migrated_provisioners_and_claims_being_deleted() {
    let text = format!(
        "name: late\nduration: 120s\n{CLUSTER}actions:\n  - at: 0s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: gp2}}, provisioner: kubernetes.io/aws-ebs}}\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: std, annotations: {{storageclass.kubernetes.io/is-default-class: 'true'}}}}, provisioner: csi.example.com}}\n{}{}      - {{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {{name: data-db-1, finalizers: [example.com/hold]}}, spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}}}\n  - at: 5s\n    delete: {{kind: PersistentVolumeClaim, name: data-db-1}}\n  - at: 6s\n    apply:\n      - {{apiVersion: apps/v1, kind: StatefulSet, metadata: {{name: db}}, spec: {{replicas: 2, serviceName: db, selector: {{matchLabels: {{app: db}}}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: c, image: pause}}]}}}}, volumeClaimTemplates: [{{metadata: {{name: data}}, spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}}}]}}}}\n  - at: 30s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: later}}, provisioner: late.csi.io}}\n  - at: 31s\n    removeFinalizers: {{kind: PersistentVolumeClaim, name: data-db-1}}\n",
        claim("waits", "1Gi", ", storageClassName: later"),
        claim("ebs", "1Gi", ", storageClassName: gp2"),
    );
    let out = run_scenario("storage-late", &text);
    let events = read_csv(&out.join("events.csv"));
    let pods = read_csv(&out.join("pods.csv"));
    let provisioned = |claim: &str| {
        first(&events, |e| {
            e["name"] == claim && e["detail"].contains("Successfully provisioned volume")
        })
    };
    // The class came at 30 s; the controller's resync at 45 s found it.
    let t = provisioned("waits").expect("waits provisioned");
    assert!(t > 45_000_000, "{t}");
    assert!(events_of(&events, "waits").iter().any(|d| {
        d.contains("ProvisioningFailed: storageclass.storage.k8s.io \"later\" not found")
    }));
    // kubernetes.io/aws-ebs is provisioned by ebs.csi.aws.com.
    assert!(provisioned("ebs").is_some());
    assert!(
        events_of(&events, "ebs")
            .iter()
            .any(|d| d.contains("the external provisioner 'ebs.csi.aws.com'"))
    );
    // db-1 waits for its old claim to go (finalizer removed at 31 s),
    // then gets a new one and runs.
    assert!(
        events
            .iter()
            .any(|e| e["detail"].contains("pvc data-db-1 is being deleted")),
        "{events:?}"
    );
    let remade = first(&events, |e| {
        e["action"] == "create"
            && e["name"] == "data-db-1"
            && e["component"] == "kube-controller-manager"
    })
    .expect("data-db-1 created again");
    assert!(remade > 31_000_000, "{remade}");
    let db1 = pods.iter().find(|p| p["name"] == "db-1").expect("db-1");
    assert_eq!(db1["phase"], "Running", "{db1:?}");
}

/// Two pods of one WaitForFirstConsumer claim, kept apart by
/// anti-affinity: the first's binding reserves a local volume for the
/// claim, and the second, which reads that volume as the claim's, cannot
/// go elsewhere (upstream's assume cache), rather than reserving the
/// other node's volume for the same claim.
#[test]
fn a_claim_reserved_by_one_pods_binding_holds_its_other_pods_to_that_volume() {
    let local = |name: &str, node: &str| {
        format!(
            "      - {{apiVersion: v1, kind: PersistentVolume, metadata: {{name: {name}}}, spec: {{capacity: {{storage: 100Gi}}, accessModes: [ReadWriteOnce], storageClassName: local, local: {{path: /mnt/{name}}}, nodeAffinity: {{required: {{nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{node}]}}]}}]}}}}}}}}\n"
        )
    };
    let pod = |name: &str| {
        format!(
            "      - {{apiVersion: v1, kind: Pod, metadata: {{name: {name}, labels: {{app: x}}}}, spec: {{affinity: {{podAntiAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {{matchLabels: {{app: x}}}}, topologyKey: kubernetes.io/hostname}}]}}}}, containers: [{{name: c, image: nginx}}], volumes: [{{name: d, persistentVolumeClaim: {{claimName: c1}}}}]}}}}\n"
        )
    };
    let text = format!(
        "name: shared\nduration: 60s\nlatencies: {{etcdWrite: 50ms}}\ncluster:\n  nodeGroups:\n    - {{name: node, count: 3, capacity: {{cpu: '8', memory: 32Gi}}}}\nactions:\n  - at: 0s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: local}}, provisioner: kubernetes.io/no-provisioner, volumeBindingMode: WaitForFirstConsumer}}\n{}{}{}  - at: 1s\n    apply:\n{}{}",
        local("lv-1", "node-1"),
        local("lv-2", "node-2"),
        claim("c1", "10Gi", ", storageClassName: local"),
        pod("p1"),
        pod("p2"),
    );
    let out = run_scenario("storage-shared", &text);
    let events = read_csv(&out.join("events.csv"));
    let pods = read_csv(&out.join("pods.csv"));
    let reserved: Vec<&str> = (events.iter())
        .filter(|e| e["action"] == "update" && e["detail"] == "from kube-scheduler")
        .map(|e| e["name"].as_str())
        .collect();
    assert_eq!(reserved.len(), 1, "one volume reserved: {reserved:?}");
    let running: Vec<&str> = (pods.iter())
        .filter(|p| p["phase"] == "Running")
        .map(|p| p["node"].as_str())
        .collect();
    assert_eq!(running.len(), 1, "{pods:?}");
    let volume_node = if reserved[0] == "lv-1" {
        "node-1"
    } else {
        "node-2"
    };
    assert_eq!(running[0], volume_node);
}

/// VolumeBinding reports every reason of a node, in upstream's order: a
/// bound volume on another node ("volume node affinity conflict") and a
/// waiting claim no volume serves ("didn't find available persistent
/// volumes to bind") count the node under both.
#[test]
fn volume_binding_reports_each_reason_of_a_node() {
    let text = format!(
        "name: reasons\nduration: 20s\n{CLUSTER}actions:\n  - at: 0s\n    apply:\n      - {{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {{name: local}}, provisioner: kubernetes.io/no-provisioner, volumeBindingMode: WaitForFirstConsumer}}\n{}{}{}  - at: 1s\n    apply:\n      - {{apiVersion: v1, kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: c, image: pause}}], volumes: [{{name: a, persistentVolumeClaim: {{claimName: pinned}}}}, {{name: b, persistentVolumeClaim: {{claimName: waits}}}}]}}}}\n",
        volume(
            "elsewhere",
            "1Gi",
            ", nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n-9]}]}]}}, claimRef: {namespace: default, name: pinned}"
        ),
        claim("pinned", "1Gi", ", volumeName: elsewhere"),
        claim("waits", "1Gi", ", storageClassName: local"),
    );
    let out = run_scenario("storage-reasons", &text);
    let events = read_csv(&out.join("events.csv"));
    let said: Vec<&str> = (events.iter())
        .filter(|e| e["action"] == "unschedulable" && e["name"] == "p")
        .map(|e| e["detail"].as_str())
        .collect();
    assert!(
        said.contains(&"0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind, 2 node(s) had volume node affinity conflict."),
        "{said:?}"
    );
}
