//! Bad input: every case exits non-zero with a message naming the file, the
//! place and what was expected, and leaves no output that looks complete.

use std::path::Path;

use crate::support::*;

const GOOD_HEAD: &str = "name: bad\ncluster:\n  nodeGroups:\n  - {name: n, count: 1, capacity: {cpu: '2', memory: 4Gi}}\n";

/// Runs `validate` and `run` on a scenario; both must fail with exit code 2
/// and a message containing every `expect` fragment; no output is written.
fn rejects(dir: &Path, text: &str, expect: &[&str]) -> String {
    let scenario = write(dir, "scenario.yaml", text);
    let s = scenario.to_str().unwrap();
    let v = kubesim(&["validate", s]);
    let out = dir.join("out");
    let r = kubesim(&["run", s, "--out", out.to_str().unwrap()]);
    for (what, o) in [("validate", &v), ("run", &r)] {
        assert_eq!(
            o.status.code(),
            Some(2),
            "{what} exit code; stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{what} panicked: {err}");
        assert!(
            err.contains("scenario.yaml"),
            "{what} names the file: {err}"
        );
        for e in expect {
            assert!(err.contains(e), "{what}: expected `{e}` in: {err}");
        }
    }
    assert!(!out.join("events.csv").exists() && !out.join("summary.csv").exists());
    String::from_utf8_lossy(&v.stderr).into_owned()
}

/// `kubesim validate`'s message for a scenario that applies the manifest
/// file `file` (written beside it) and must not load: exit code 2.
fn refused_applying(dir: &Path, file: &str) -> String {
    let s = write(
        dir,
        "scenario.yaml",
        &format!("{GOOD_HEAD}actions:\n- at: 0s\n  apply: {file}\n"),
    );
    let o = kubesim(&["validate", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn yaml_syntax_error() {
    let dir = scratch("syntax");
    rejects(&dir, "name: bad\ncluster: [\n", &["scenario.yaml:", "YAML"]);
}

#[test]
fn unknown_key_suggests_the_closest() {
    let dir = scratch("unknown-key");
    let err = rejects(
        &dir,
        "name: bad\ncluster:\n  nodeGroup:\n  - {name: n, count: 1}\n",
        &["scenario.yaml:3:", "nodeGroup", "did you mean `nodeGroups`"],
    );
    assert!(err.contains(":3:3:"), "line and column: {err}");
}

#[test]
fn bad_quantities() {
    let dir = scratch("quantity");
    rejects(
        &dir,
        "name: bad\ncluster:\n  nodeGroups:\n  - {name: n, count: 1, capacity: {cpu: 1.5K, memory: 4Gi}}\n",
        &["scenario.yaml:4:", "1.5K"],
    );
    rejects(
        &dir,
        &format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  apply: {{kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: c, image: x, resources: {{requests: {{memory: abc}}}}}}]}}}}\n"
        ),
        &["scenario.yaml:7:", "abc"],
    );
}

#[test]
fn negative_count() {
    let dir = scratch("negative");
    rejects(
        &dir,
        "name: bad\ncluster:\n  nodeGroups:\n  - {name: n, count: -1, capacity: {cpu: '2'}}\n",
        &["scenario.yaml:4:", "-1", "non-negative"],
    );
}

#[test]
fn bad_durations() {
    let dir = scratch("duration");
    rejects(
        &dir,
        &format!("{GOOD_HEAD}duration: 10 parsecs\n"),
        &["scenario.yaml:5:", "10 parsecs"],
    );
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: soon\n  delete: {{kind: Pod, name: p}}\n"),
        &["scenario.yaml:6:", "soon"],
    );
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: 5\n  delete: {{kind: Pod, name: p}}\n"),
        &["scenario.yaml:6:", "unit"],
    );
}

#[test]
fn missing_manifest_file() {
    let dir = scratch("missing");
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: 0s\n  apply: nowhere/web.yaml\n"),
        &["scenario.yaml:", "nowhere/web.yaml"],
    );
}

#[test]
fn manifest_without_kind_or_name() {
    let dir = scratch("no-kind");
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: 0s\n  apply: {{metadata: {{name: p}}}}\n"),
        &["scenario.yaml:7:", "kind"],
    );
    rejects(
        &dir,
        &format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  apply: {{kind: Pod, metadata: {{}}, spec: {{containers: []}}}}\n"
        ),
        &["scenario.yaml:7:", "metadata.name"],
    );
}

#[test]
fn errors_in_a_manifest_file_name_that_file() {
    let dir = scratch("manifest-file");
    write(
        &dir,
        "web.yaml",
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: 1.5K}}\n",
    );
    let scenario = write(
        &dir,
        "scenario.yaml",
        &format!("{GOOD_HEAD}actions:\n- at: 0s\n  apply: web.yaml\n"),
    );
    let o = kubesim(&["validate", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("web.yaml:6:") && err.contains("1.5K"), "{err}");
}

#[test]
fn missing_scenario_file() {
    let o = kubesim(&["run", "no/such/scenario.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/scenario.yaml"));
}

#[test]
fn a_node_action_naming_an_unknown_node() {
    let dir = scratch("bad-node");
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: 5s\n  failNode: n-7\n"),
        &[
            "scenario.yaml:6:3",
            "`failNode` names node `n-7`, which the cluster does not have",
            "n-0",
        ],
    );
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: 5s\n  drain: n0\n"),
        &["did you mean `n-0`"],
    );
}

#[test]
fn an_image_without_a_size() {
    let dir = scratch("bad-image");
    rejects(
        &dir,
        &format!("{GOOD_HEAD}images:\n  app:1: {{missing: false}}\n"),
        &["scenario.yaml:6", "needs a `size`"],
    );
    rejects(
        &dir,
        &format!("{GOOD_HEAD}images:\n  app:1: {{size: 1Mi, mising: true}}\n"),
        &["mising"],
    );
}

#[test]
fn add_nodes_with_a_name_that_exists() {
    let dir = scratch("bad-add");
    rejects(
        &dir,
        &format!("{GOOD_HEAD}actions:\n- at: 5s\n  addNodes: {{name: n, count: 2}}\n"),
        &["addNodes: duplicate node name `n-0`"],
    );
}

#[test]
fn a_static_pod_override_for_an_unknown_component() {
    let dir = scratch("bad-static");
    rejects(
        &dir,
        "name: bad\ncluster:\n  bootControlPlane: true\n  staticPods:\n    kube-proxy: {startup: 1s}\n",
        &["scenario.yaml:5", "kube-proxy", "kube-scheduler"],
    );
}

#[test]
fn a_probe_with_a_negative_period() {
    let dir = scratch("bad-probe");
    rejects(
        &dir,
        &format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  apply:\n  - {{kind: Pod, metadata: {{name: neg}}, spec: {{containers: [{{name: c, image: 'app:1', readinessProbe: {{periodSeconds: -1}}}}]}}}}\n"
        ),
        &[
            "scenario.yaml:8:102",
            "spec.containers[0].readinessProbe: periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        ],
    );
    // In a manifest file, the place is the probe's own line.
    write(
        &dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: app:1\n    readinessProbe:\n      initialDelaySeconds: -3\n",
    );
    let err = refused_applying(&dir, "pod.yaml");
    assert!(
        err.contains("pod.yaml:9:7: ")
            && err.contains(
                "initialDelaySeconds: Invalid value: -3: must be greater than or equal to 0"
            ),
        "{err}"
    );
}

#[test]
fn objects_the_apiserver_would_refuse_are_refused_when_the_scenario_loads() {
    // Each invalid in itself, whatever the cluster holds: an error at the
    // manifest naming the field, not a 422 row found after a run.
    let dir = scratch("invalid-objects");
    let deployment = |name: &str, extra: &str, labels: &str| {
        format!(
            "{{apiVersion: apps/v1, kind: Deployment, metadata: {{name: {name}}}, spec: {{{extra}selector: {{matchLabels: {{app: {name}}}}}, template: {{metadata: {{labels: {{app: {labels}}}}}, spec: {{containers: [{{name: c, image: x}}]}}}}}}}}"
        )
    };
    for (object, expect) in [
        (
            deployment("neg", "replicas: -3, ", "neg"),
            "Deployment `neg` is invalid (the apiserver would refuse it: 422): spec.replicas: Invalid value: -3: must be greater than or equal to 0",
        ),
        (
            deployment("mismatch", "", "other"),
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
        ),
        (
            deployment(
                "zero",
                "strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}, ",
                "zero",
            ),
            "may not be 0 when `maxSurge` is 0",
        ),
        (
            deployment("db", "", "db").replace("kind: Deployment", "kind: StatefulSet"),
            "StatefulSet `db` is invalid (the apiserver would refuse it: 422): spec.serviceName: Required value",
        ),
        (
            deployment("never", "", "never").replace("spec: {containers", "spec: {restartPolicy: Never, containers"),
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\"",
        ),
        (
            "{kind: Pod, metadata: {name: Bad_Name}, spec: {containers: [{name: c, image: x}]}}".to_string(),
            "Pod `Bad_Name` is invalid (the apiserver would refuse it: 422): metadata.name: Invalid value: \"Bad_Name\"",
        ),
        (
            "{kind: Service, metadata: {name: s}, spec: {selector: {a: b}, ports: [{port: 70000}]}}".to_string(),
            "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535",
        ),
    ] {
        // A valid object first: the place is the invalid one's.
        rejects(
            &dir,
            &format!(
                "{GOOD_HEAD}actions:\n- at: 0s\n  apply:\n  - {{kind: Pod, metadata: {{generateName: ok-}}, spec: {{containers: [{{name: c, image: x}}]}}}}\n  - {object}\n"
            ),
            &["scenario.yaml:9:6: ", expect],
        );
    }
    // In a manifest file, its place; in a generate template, the same.
    write(
        &dir,
        "web.yaml",
        &format!(
            "# web\n---\n{}\n",
            deployment("web", "replicas: -1, ", "web")
        ),
    );
    let err = refused_applying(&dir, "web.yaml");
    assert!(
        err.contains("web.yaml:3:2: Deployment `web` is invalid")
            && err.contains("spec.replicas: Invalid value: -1"),
        "{err}"
    );
    rejects(
        &dir,
        &format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  generate:\n    template: {{kind: Pod, metadata: {{name: Job_1}}, spec: {{containers: [{{name: c, image: x}}]}}}}\n    count: 2\n    every: 1s\n"
        ),
        &[
            "scenario.yaml:8:16: ",
            "Pod `Job_1-1` is invalid (the apiserver would refuse it: 422): metadata.name: Invalid value: \"Job_1-1\"",
        ],
    );
}

#[test]
fn a_manifest_key_kubernetes_does_not_have_is_refused_at_its_place() {
    // As `kubectl apply`'s strict field validation: a typo is an error at
    // its line and column with the closest field; a real field the model
    // does not use is accepted.
    let dir = scratch("manifest-keys");
    let pod = |spec: &str| {
        format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  apply:\n  - kind: Pod\n    metadata: {{name: p}}\n    spec:\n{spec}"
        )
    };
    rejects(
        &dir,
        &pod(
            "      containers:\n      - name: c\n        image: x\n        resources: {requets: {cpu: 1}}\n",
        ),
        &[
            "scenario.yaml:14:21: ",
            "`requets` is not a field of Kubernetes' ResourceRequirements (did you mean `requests`?)",
        ],
    );
    rejects(
        &dir,
        &pod("      nodeselector: {disk: ssd}\n      containers: [{name: c, image: x}]\n"),
        &[
            "scenario.yaml:11:7: ",
            "`nodeselector` is not a field of Kubernetes' PodSpec (did you mean `nodeSelector`?)",
        ],
    );
    rejects(
        &dir,
        &format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  apply:\n  - kind: Deployment\n    metadata: {{name: d}}\n    specs: {{replicas: 1}}\n"
        ),
        &[
            "scenario.yaml:10:5: ",
            "`specs` is not a field of a Deployment manifest",
            "did you mean `spec`?",
        ],
    );
    rejects(
        &dir,
        &format!(
            "{GOOD_HEAD}actions:\n- at: 0s\n  apply: {{kind: Deployment, metadata: {{name: d}}, spec: {{replicaz: 2, selector: {{matchLabels: {{a: b}}}}, template: {{metadata: {{labels: {{a: b}}}}, spec: {{containers: [{{name: c, image: x}}]}}}}}}}}\n"
        ),
        &["`replicaz` is not a field of Kubernetes' DeploymentSpec (did you mean `replicas`?)"],
    );
    // A YAML merge key is named as one, in a manifest and in the
    // scenario's own keys: kubesim's reader does not expand it.
    let merge = "`<<` is a YAML merge key, which kubesim does not expand";
    rejects(
        &dir,
        &pod(
            "      containers:\n      - &c {name: c, image: x}\n      - <<: *c\n        name: d\n",
        ),
        &["scenario.yaml:13:9: ", merge],
    );
    rejects(
        &dir,
        "name: bad\ncluster:\n  nodeGroups:\n  - name: n\n    <<: {count: 1, capacity: {cpu: '2', memory: 4Gi}}\n",
        &["scenario.yaml:5:5: ", merge],
    );
    // Real fields the model does not use load, and so does any key of a
    // kind it does not model (skipped with a warning).
    let s = write(
        &dir,
        "scenario.yaml",
        &format!(
            "{}  - kind: ConfigMap\n    metadata: {{name: c}}\n    data: {{anything: goes}}\n",
            pod(
                "      volumes: [{name: v, emptyDir: {}}]\n      dnsPolicy: ClusterFirst\n      containers:\n      - name: c\n        image: x\n        env: [{name: A, value: b}]\n        livenessProbe: {httpGet: {path: /, port: 80}}\n        securityContext: {runAsUser: 1000}\n"
            )
        ),
    );
    let o = kubesim(&["validate", s.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
