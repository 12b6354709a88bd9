//! `kubesim bench --scheduler-perf FILE --workload CASE/WORKLOAD`: runs a
//! test case of upstream's scheduler_perf configuration format (a list of
//! test cases, each a `workloadTemplate` of operations and `workloads` with
//! `params` and an optional `threshold` in pods/s) through the whole
//! simulator.
//!
//! Supported operations: `createNodes` (`count` / `countParam`,
//! `nodeTemplatePath`: the template's labels and `status.capacity`),
//! `createPods` (`count` / `countParam`, `podTemplatePath`, else the test
//! case's `defaultPodTemplatePath`, else a 100m / 500Mi pause pod;
//! `namespace`; `collectMetrics` marks the measured pods), `churn` (`mode:
//! create` or `recreate`, `templatePaths` of Pods or Services,
//! `intervalMilliseconds`, `number`) and `barrier` (a no-op: every phase
//! already starts after the previous one has been scheduled). Other
//! operations are refused with their name. Template paths are relative to
//! the configuration file.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_yaml::Value;

use crate::api::{Kind, Manifest, Object};
use crate::engine::SECOND;
use crate::scenario::{self, Action, ActionOp};
use crate::sim::run::{RunOptions, simulate_with};

/// What one workload run measured.
#[derive(Clone, Debug)]
pub struct PerfResult {
    pub name: String,
    /// Upstream's threshold for the workload, pods/s, if it has one.
    pub threshold: Option<f64>,
    pub nodes: usize,
    /// Pods of `createPods` operations (churn pods excluded).
    pub pods: usize,
    pub measured: usize,
    pub scheduled: usize,
    pub wall_s: f64,
    pub events: u64,
    /// Virtual seconds from the measured pods' creation to their last bind.
    pub virtual_span_s: f64,
}

impl PerfResult {
    /// Pods scheduled (of `createPods` operations) per wall-clock second.
    pub fn pods_per_wall_second(&self) -> f64 {
        self.scheduled as f64 / self.wall_s.max(1e-9)
    }

    /// Measured pods bound per virtual second.
    pub fn pods_per_virtual_second(&self) -> f64 {
        self.measured as f64 / self.virtual_span_s.max(1e-9)
    }
}

/// The first phase starts here; each later one after the previous has had
/// time to be scheduled (at least 100 pods per virtual second, at least a
/// minute).
const PHASE_GAP_PER_POD: u64 = SECOND / 100;
const PHASE_MIN: u64 = 60 * SECOND;

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(Value::from(k)))
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    field(v, k).and_then(Value::as_str)
}

/// `count`, or `countParam: $name` looked up in the workload's params.
fn count(op: &Value, params: &BTreeMap<String, u64>, what: &str) -> Result<usize, String> {
    if let Some(n) = field(op, "count").and_then(Value::as_u64) {
        return Ok(n as usize);
    }
    let Some(p) = str_field(op, "countParam") else {
        return Err(format!("{what}: neither `count` nor `countParam`"));
    };
    let name = p.strip_prefix('$').unwrap_or(p);
    params
        .get(name)
        .map(|&n| n as usize)
        .ok_or_else(|| format!("{what}: `countParam: {p}`: the workload has no param `{name}`"))
}

fn read_template(base: &Path, rel: &str) -> Result<Value, String> {
    let path: PathBuf = base.join(rel);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("template {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("template {}: {e}", path.display()))
}

fn object_template(base: &Path, rel: &str) -> Result<Object, String> {
    let v = read_template(base, rel)?;
    let m: Manifest = serde_yaml::from_value(v).map_err(|e| format!("template {rel}: {e}"))?;
    m.object
        .ok_or_else(|| format!("template {rel}: a kind the simulator does not model"))
}

/// The pod every `createPods` without a template uses: upstream's default
/// shape, a pause pod of 100m / 500Mi.
fn default_pod() -> Object {
    let mut pod = crate::bench::pause_pod(String::new());
    let meta = pod.meta_mut();
    meta.namespace.clear();
    meta.generate_name = "pod-".into();
    pod
}

/// A copy of `t` named `{prefix}{i}` in `namespace` (namespaced kinds).
fn instance(t: &Object, prefix: &str, i: usize, namespace: &str) -> Object {
    let mut o = t.clone();
    let m = o.meta_mut();
    m.name = format!("{prefix}{i}");
    m.generate_name.clear();
    m.namespace = namespace.to_string();
    o
}

fn prefix_of(t: &Object, fallback: &str) -> String {
    let m = t.meta();
    if !m.generate_name.is_empty() {
        m.generate_name.clone()
    } else if !m.name.is_empty() {
        format!("{}-", m.name)
    } else {
        fallback.to_string()
    }
}

/// A node group's YAML from a node template (labels, `status.capacity`),
/// upstream's default node (4 cpu, 32Gi, 110 pods) without one.
fn node_group(base: &Path, op: &Value, name: &str, n: usize) -> Result<String, String> {
    let mut cap: BTreeMap<String, String> = [("cpu", "4"), ("memory", "32Gi"), ("pods", "110")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut labels = BTreeMap::new();
    if let Some(rel) = str_field(op, "nodeTemplatePath") {
        let t = read_template(base, rel)?;
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(c) = field(&t, "status")
            .and_then(|s| field(s, "capacity"))
            .and_then(Value::as_mapping)
        {
            for (k, v) in c {
                if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                    cap.insert(k.to_string(), v);
                }
            }
        }
        if let Some(l) = field(&t, "metadata")
            .and_then(|m| field(m, "labels"))
            .and_then(Value::as_mapping)
        {
            for (k, v) in l {
                if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                    labels.insert(k.to_string(), v);
                }
            }
        }
    }
    let flow = |m: &BTreeMap<String, String>| {
        let items: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
        format!("{{{}}}", items.join(", "))
    };
    Ok(format!(
        "  - name: {name}\n    count: {n}\n    capacity: {}\n    labels: {}\n    images: ['registry.k8s.io/pause:3.10']\n",
        flow(&cap),
        flow(&labels)
    ))
}

/// Runs workload `selector` (`CASE/WORKLOAD`; the workload name may itself
/// contain `/`) of the configuration at `path`.
pub fn run(
    path: &Path,
    selector: &str,
    seed: u64,
    opts: &RunOptions,
) -> Result<PerfResult, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (case_name, workload_name) = selector
        .split_once('/')
        .ok_or_else(|| format!("--workload {selector:?}: expected CASE/WORKLOAD"))?;
    let cases = config
        .as_sequence()
        .ok_or_else(|| format!("{}: expected a list of test cases", path.display()))?;
    let case = cases
        .iter()
        .find(|c| str_field(c, "name") == Some(case_name))
        .ok_or_else(|| {
            let names: Vec<&str> = cases.iter().filter_map(|c| str_field(c, "name")).collect();
            format!(
                "no test case {case_name:?}; the file has: {}",
                names.join(", ")
            )
        })?;
    let workloads = field(case, "workloads")
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("{case_name}: no `workloads`"))?;
    let workload = workloads
        .iter()
        .find(|w| str_field(w, "name") == Some(workload_name))
        .ok_or_else(|| {
            let names: Vec<&str> = workloads
                .iter()
                .filter_map(|w| str_field(w, "name"))
                .collect();
            format!(
                "{case_name} has no workload {workload_name:?}; it has: {}",
                names.join(", ")
            )
        })?;
    let mut params = BTreeMap::new();
    if let Some(p) = field(workload, "params").and_then(Value::as_mapping) {
        for (k, v) in p {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_u64()) {
                params.insert(k.to_string(), v);
            }
        }
    }
    let threshold = field(workload, "threshold").and_then(Value::as_f64);
    let default_pod_template = match str_field(case, "defaultPodTemplatePath") {
        Some(rel) => object_template(base, rel)?,
        None => default_pod(),
    };
    let ops = field(case, "workloadTemplate")
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("{case_name}: no `workloadTemplate`"))?;

    let mut groups = String::new();
    let mut nodes = 0;
    let mut actions = Vec::new();
    let mut at = 0u64;
    let mut pods = 0usize;
    let mut measured_prefixes = Vec::new();
    let mut measured = 0usize;
    let mut measure_from = None;
    // Churn operations: started at their time, run until the last phase.
    let mut churns: Vec<(u64, usize, &Value)> = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let opcode = str_field(op, "opcode").unwrap_or("");
        let what = format!("{case_name} operation {k} ({opcode})");
        match opcode {
            "createNodes" => {
                let n = count(op, &params, &what)?;
                groups.push_str(&node_group(base, op, &format!("node-{k}"), n)?);
                nodes += n;
            }
            "createPods" => {
                let n = count(op, &params, &what)?;
                let t = match str_field(op, "podTemplatePath") {
                    Some(rel) => object_template(base, rel)?,
                    None => default_pod_template.clone(),
                };
                if t.kind() != Kind::Pod {
                    return Err(format!("{what}: the template is not a Pod"));
                }
                let ns = str_field(op, "namespace").unwrap_or("default");
                let prefix = format!("op{k}-{}", prefix_of(&t, "pod-"));
                let objs = (0..n).map(|i| instance(&t, &prefix, i, ns)).collect();
                actions.push(Action {
                    at,
                    place: format!("<{case_name} operation {k}>"),
                    op: ActionOp::Apply(objs),
                });
                if field(op, "collectMetrics").and_then(Value::as_bool) == Some(true) {
                    measured_prefixes.push(prefix);
                    measured += n;
                    measure_from.get_or_insert(at);
                }
                pods += n;
                at += (n as u64 * PHASE_GAP_PER_POD).max(PHASE_MIN);
            }
            "churn" => churns.push((at, k, op)),
            "barrier" => {}
            other => {
                return Err(format!(
                    "{what}: operation {other:?} is not supported (createNodes, createPods, churn, barrier are)"
                ));
            }
        }
    }
    for (start, k, op) in churns {
        let what = format!("{case_name} operation {k} (churn)");
        let interval = field(op, "intervalMilliseconds")
            .and_then(Value::as_u64)
            .unwrap_or(500)
            * (SECOND / 1000);
        let recreate = match str_field(op, "mode").unwrap_or("create") {
            "create" => false,
            "recreate" => true,
            m => {
                return Err(format!(
                    "{what}: mode {m:?} is not supported (create, recreate)"
                ));
            }
        };
        let number = field(op, "number").and_then(Value::as_u64).unwrap_or(0) as usize;
        let mut templates = Vec::new();
        for p in field(op, "templatePaths")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let t = object_template(base, p)?;
            if !matches!(t.kind(), Kind::Pod | Kind::Service) {
                return Err(format!(
                    "{what}: template {p}: only Pods and Services churn"
                ));
            }
            templates.push(t);
        }
        let mut t = start;
        let mut i = 0usize;
        while t < at.max(start + interval) {
            for (j, tmpl) in templates.iter().enumerate() {
                let prefix = format!("churn{k}-{j}-");
                let name = instance(tmpl, &prefix, i, "default");
                if recreate && number > 0 && i >= number {
                    // Recreate mode keeps `number` objects: the oldest goes.
                    actions.push(Action {
                        at: t,
                        place: what.clone(),
                        op: ActionOp::Delete {
                            kind: tmpl.kind(),
                            namespace: "default".into(),
                            name: format!("{prefix}{}", i - number),
                        },
                    });
                }
                actions.push(Action {
                    at: t,
                    place: what.clone(),
                    op: ActionOp::Apply(vec![name]),
                });
            }
            i += 1;
            t += interval.max(1);
        }
    }
    actions.sort_by_key(|a| a.at);

    let yaml = format!(
        "name: {case_name}-{workload_name}\nseed: {seed}\ncluster:\n  nodeGroups:\n{groups}images:\n  registry.k8s.io/pause:3.10: 300Ki\n",
        workload_name = workload_name.replace('/', "-"),
    );
    let mut s = scenario::load_str(&yaml, Path::new("<scheduler-perf>"))
        .map_err(|e| format!("{selector}: the cluster built from the config: {e}"))?;
    s.actions = actions;
    let started = Instant::now();
    let outcome = simulate_with(&s, seed, Box::new(io::sink()), Box::new(io::sink()), opts);
    let wall_s = started.elapsed().as_secs_f64();
    let recorded = outcome.recorder.pods();
    let is_op_pod = |n: &str| n.starts_with("op");
    let scheduled = recorded
        .iter()
        .filter(|p| is_op_pod(&p.name) && p.bound.is_some())
        .count();
    let from = measure_from.unwrap_or(0);
    let last = recorded
        .iter()
        .filter(|p| {
            measured_prefixes
                .iter()
                .any(|m| p.name.starts_with(m.as_str()))
        })
        .filter_map(|p| p.bound)
        .max()
        .unwrap_or(from);
    Ok(PerfResult {
        name: selector.to_string(),
        threshold,
        nodes,
        pods,
        measured,
        scheduled,
        wall_s,
        events: outcome.events,
        virtual_span_s: last.saturating_sub(from) as f64 / SECOND as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scheduler_perf/performance-config.yaml")
    }

    #[test]
    fn the_bundled_small_workload_schedules_every_pod() {
        let r = run(
            &example(),
            "SchedulingBasic/5Nodes",
            1,
            &RunOptions::default(),
        )
        .unwrap();
        assert_eq!((r.nodes, r.pods, r.measured), (5, 15, 10));
        assert_eq!(r.scheduled, 15);
        assert_eq!(r.threshold, None);
        assert!(r.virtual_span_s > 0.0);
    }

    #[test]
    fn churn_runs_beside_the_measured_pods() {
        let r = run(
            &example(),
            "SchedulingWithChurn/10Nodes",
            1,
            &RunOptions::default(),
        )
        .unwrap();
        assert_eq!(r.scheduled, r.pods);
        assert_eq!(r.measured, 100);
    }

    #[test]
    fn unknown_workloads_and_params_are_named() {
        let e = run(
            &example(),
            "SchedulingBasic/7Nodes",
            1,
            &RunOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("5Nodes"), "{e}");
        let e = run(&example(), "Nope/x", 1, &RunOptions::default()).unwrap_err();
        assert!(e.contains("SchedulingBasic"), "{e}");
    }
}
