//! `kubesim bench --scheduler-perf FILE --workload CASE/WORKLOAD`: runs a
//! test case of upstream's scheduler_perf configuration format (a list of
//! test cases, each a `workloadTemplate` of operations and `workloads` with
//! `params` and an optional `threshold` in pods/s) through the whole
//! simulator.
//!
//! Supported operations and their fields:
//! - `createNodes`: `count` / `countParam`; `nodeTemplatePath` (the
//!   template's labels, taints, `spec.unschedulable` and `status.capacity`,
//!   else 4 cpu / 32Gi / 110 pods; rendered for each node as upstream, so a
//!   `metadata.name` with `{{ .Index }}` names each node, and each run of
//!   nodes whose renderings differ elsewhere is a node group of its own;
//!   a name shared by two nodes is refused, as upstream's second create
//!   fails);
//!   `labelNodePrepareStrategy` (`labelKey`, `labelValues`: the op's node
//!   `i` gets value `i mod len`, round-robin as upstream's
//!   LabelNodePrepareStrategy); `uniqueNodeLabelStrategy` (`labelKey`: each
//!   node its own value, here its name where upstream draws a UUID);
//!   `nodeAllocatableStrategy` (one strategy at a time, as upstream
//!   applies only one): each node gets a CSINode named as the node, as
//!   upstream's NodeAllocatableStrategy makes it, with one driver per
//!   `csiNodeAllocatable` entry (`{name, nodeID: the node, allocatable:
//!   {count}}`, in the drivers' name order where upstream ranges over a
//!   Go map) and the annotation
//!   `storage.alpha.kubernetes.io/migrated-plugins`, the `migratedPlugins`
//!   joined by "," ("" without any); its `nodeAllocatable` is checked and
//!   ignored, in a note: upstream patches it into the Node's status
//!   through the main resource, where the apiserver keeps the old status.
//!   The CSINodes of the cluster's first nodes are created first of all,
//!   and the next operation starts a second later; those of a later
//!   `createNodes` come with its nodes. The
//!   nodes of a `createNodes` that comes after an operation that created
//!   something come at its place in the run (with `--scheduling-only` as
//!   API objects with no kubelet, as all of upstream's are; through the
//!   whole simulator as machines joining, each with its kubelet, as the
//!   cluster's other nodes), and a barrier after it gives the pods waiting
//!   then a phase's time from their arrival; the others are the cluster's
//!   nodes from the start.
//! - `createNamespaces`: `prefix`, `count` / `countParam`,
//!   `namespaceTemplatePath` (Namespaces `PREFIX-0` .., with the template's
//!   labels; names already made are skipped, as upstream tolerates
//!   AlreadyExists).
//! - `createPods`: `count` / `countParam`; `podTemplatePath`, else the test
//!   case's `defaultPodTemplatePath`, else a 100m / 500Mi pause pod;
//!   `namespace`, else `namespace-N` for operation N as upstream (created,
//!   unlabelled, when no earlier operation created it, as upstream);
//!   `collectMetrics` marks the measured pods (not inside a window, as
//!   upstream, which has one collector at a time);
//!   `persistentVolumeTemplatePath` with `persistentVolumeClaimTemplatePath`
//!   (both or neither; upstream ignores the first alone and fails on the
//!   second alone): pod `i` of the operation gets a PersistentVolumeClaim
//!   `pvc-i` in the namespace from the claim template (its annotations,
//!   such as `pv.kubernetes.io/bind-completed`, kept) with
//!   `spec.volumeName: NS-vol-i`, a PersistentVolume `NS-vol-i` from the
//!   volume template with `spec.claimRef` naming the claim (a `csi`
//!   volume's `volumeHandle` is `NS-vol-i`, an `awsElasticBlockStore`
//!   volume's `volumeID` `vol-i`, as upstream's), and its `spec.volumes`
//!   replaced by the one volume `vol` reading `pvc-i`, as upstream's
//!   harness makes them. The claims and volumes, in upstream's order
//!   (claim, volume), are created 100 ms before the pods, so that the
//!   scheduler has them first; upstream's status updates to phase Bound
//!   are not made (status is not kept: a claim is bound by its
//!   `volumeName` and annotation). Both templates are checked as the
//!   apiserver checks the objects made from them.
//! - `createPodSets`: `count` / `countParam`, `namespacePrefix`,
//!   `createPodsOp`: unrolled, as upstream, into one `createPods` per
//!   namespace `namespacePrefix-i`.
//! - `createAny`: `templatePath` (any kind the simulator models), `count` /
//!   `countParam` (default 1), `namespace` (namespaced kinds; default the
//!   template's, else `default`; created when missing, where upstream's
//!   create fails); generated names start `anyN-`.
//! - `updateAny`: `templatePath`, `count` / `countParam` (default 1),
//!   `updatePerSecond` (upstream's ticker: update `i` at `(i + 1) /
//!   rate` virtual seconds; all at once when 0; the next operation starts
//!   after the last, and the pods then waiting have a phase's time before
//!   a barrier passes), `namespace` (refused for a Node, as upstream;
//!   required for a Pod), `subresources` (only a Pod's `[resize]`).
//!   Upstream renders the template for each index and replaces the object
//!   it names (update, then status update). Here the object must be a Node
//!   an earlier `createNodes` made or a Pod an earlier `createPods` made in
//!   the operation's namespace (others are refused; a name none made is
//!   refused as upstream's NotFound). A Pod's rendering is a PUT of the pod
//!   under the apiserver's pod update rules, or with `[resize]` a PATCH of
//!   its containers' resources through the `resize` subresource
//!   (`--scheduling-only` only), each checked against the pod as created
//!   and updated when the configuration is read (see
//!   `pod_update_action`); upstream's status update after it, which
//!   writes the template's empty status, is not made (noted). A Node's
//!   rendering is compared with the node
//!   as created and earlier updates left it: a change of labels, taints
//!   or `spec.unschedulable` is a PUT of the Node (a Node update the
//!   scheduler handles as upstream's, moving the pods it found
//!   unschedulable), then a change of `status.capacity` (defaults as
//!   `createNodes`; the allocatable defaults to it) a PUT of its status,
//!   with `--scheduling-only` only: through the whole simulator the
//!   kubelets own their nodes' status, and such a change is refused with
//!   the template, node and field named. The `kubernetes.io/hostname`
//!   label upstream's update drops (its templates have none) is kept, in a
//!   note. A rendering that changes nothing modelled writes nothing.
//! - `deletePods`: `namespace`, `labelSelector`, `deletePodsPerSecond`,
//!   `skipWaitToCompletion` (see the README).
//! - `churn`: `mode` (`create` or `recreate`), `templatePaths` of Pods,
//!   Services or Nodes, `intervalMilliseconds`, `number` (see [`Churn`]),
//!   `namespace` (else `namespace-N` for operation N, as upstream).
//! - `barrier` (also with `namespaces` and `labelSelector`): the next phase
//!   starts once the pods of earlier `skipWaitToCompletion` phases have
//!   had their time (all of them, which covers those the namespaces and
//!   selector pick); the other phases already start after the previous one
//!   has had its.
//! - `startCollectingMetrics` (`namespaces`, required; `labelSelector`;
//!   `name`, which only labels upstream's results) and
//!   `stopCollectingMetrics`: a window in place of `collectMetrics`. The
//!   pods of `createPods` operations inside it, in its namespaces, whose
//!   labels the selector matches, are the measured ones (upstream's
//!   collector counts every pod of those namespaces bound while it is
//!   open: here pods made by other operations, or before the window, are
//!   not counted). The window is measured from its start to the last bind
//!   of its pods (upstream's cases close it after a barrier that waits for
//!   them). As upstream, a second window, or a `collectMetrics`, while one
//!   is open is refused, and so is a stop without a start; a window never
//!   stopped is refused too (upstream would measure nothing for it).
//!
//! Other operations, and other fields of these, are refused with the
//! operation and the field named; `labels` (of a test case or workload)
//! are ignored, and so are the test case's `metricsCollectorConfig`
//! (which upstream Prometheus metrics to gather; its shape is checked)
//! and every feature gate but `SchedulerQueueingHints`, which turns the
//! scheduling queue's hints on or off (on unless set, as upstream's
//! default), each named in a note. The scheduler's API client is limited
//! as upstream's test sets it up: QPS and burst 5000, or the workload's
//! (else the test case's) `schedulerApiClientQPS` and
//! `schedulerApiClientBurst`.
//! `createPods`' `skipWaitToCompletion` starts the next operation at once.
//! Template paths are relative to the configuration file. A `createPods`
//! pod template (its own or the case's `defaultPodTemplatePath`), a
//! `createNodes` node template and an `updateAny` template may hold the
//! placeholders of Go's text/template that upstream's own templates use,
//! `{{ .Index }}` (the object's index in its operation), `{{ .Count }}`
//! (the operation's count) and the integer functions of upstream's
//! templates `{{ div A B }}` / `{{ DivideInt A B }}`, `{{ Mod A B }}` /
//! `{{ mod A B }}` and `{{ AddInt A B }}` of `.Index`, `.Count` or
//! numbers, filled in for each object as upstream does (a pod's name is kubesim's
//! own, from the operation and the index); any other `{{ ... }}`, and
//! placeholders in other templates, are refused with the template and the
//! construct named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand_chacha::rand_core::Rng;
use serde_yaml::Value;

use crate::api::{Kind, Manifest, Object};
use crate::engine::{SECOND, Time};
use crate::scenario::{self, Action, ActionOp};
use crate::sim::run::{RunOptions, simulate_discarding};

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
    /// Measured pods that were bound.
    pub measured_bound: usize,
    /// Wall-clock seconds the simulator took over that span (whole
    /// simulator included): the phase upstream's threshold is about.
    pub measured_wall_s: f64,
    /// Where each pod of a `createPods` operation ended up, in creation
    /// order.
    pub placements: Vec<Placement>,
    /// Every node's labels, by node name.
    pub node_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// What the run did not model that the configuration asked for: the
    /// feature gates it sets and its `metricsCollectorConfig`, each a line.
    pub notes: Vec<String>,
}

/// One pod of a `createPods` operation at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The index of the `createPods` operation in the `workloadTemplate`.
    pub op: usize,
    /// Whether the pod is measured: its operation has `collectMetrics:
    /// true`, or ran inside a collecting window that selects it.
    pub measured: bool,
    pub namespace: String,
    pub name: String,
    /// The node the pod was bound to; `None` if it never was.
    pub node: Option<String>,
    /// When it was deleted (a `deletePods` operation), in virtual time.
    pub deleted: Option<Time>,
}

impl PerfResult {
    /// Pods scheduled (of `createPods` operations) per wall-clock second.
    pub fn pods_per_wall_second(&self) -> f64 {
        self.scheduled as f64 / self.wall_s.max(1e-9)
    }

    /// Measured pods bound per wall-clock second of the measured phase.
    pub fn measured_pods_per_wall_second(&self) -> f64 {
        self.measured_bound as f64 / self.measured_wall_s.max(1e-9)
    }

    /// Measured pods bound per virtual second.
    pub fn pods_per_virtual_second(&self) -> f64 {
        self.measured_bound as f64 / self.virtual_span_s.max(1e-9)
    }
}

/// The first phase starts here; each later one after the previous has had
/// time to be scheduled (at least 100 pods per virtual second, at least a
/// minute).
const PHASE_GAP_PER_POD: u64 = SECOND / 100;
const PHASE_MIN: u64 = 60 * SECOND;
/// How long a `createNamespaces` or `createAny` operation takes before the
/// next one starts: upstream's creates return before the next operation,
/// and the scheduler's informers must have the new objects (a Namespace's
/// labels, a Service's selector) before the pods that read them arrive (a
/// few milliseconds).
const CREATE_GAP: u64 = SECOND;
/// How long before a `createPods` operation's pods its claims and volumes
/// (`persistentVolumeClaimTemplatePath`) are created: long enough for the
/// scheduler to have them before the pods (a few milliseconds), as
/// upstream creates each pod after its claim and volume.
const VOLUME_LEAD: u64 = SECOND / 10;

/// Refuses any key of `v` outside `allowed`, naming it and `what`.
fn check_fields(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    let Some(m) = v.as_mapping() else {
        return Err(format!("{what}: expected a mapping"));
    };
    for k in m.keys() {
        let key = k.as_str().unwrap_or("");
        if !allowed.contains(&key) {
            return Err(format!(
                "{what}: field `{}` is not supported (supported: {})",
                serde_yaml::to_string(k).unwrap_or_default().trim(),
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// Labels a `createNodes` strategy gives the operation's nodes.
#[derive(Clone, Debug)]
enum NodeLabeling {
    /// `labelNodePrepareStrategy`: node `i` gets `values[i % len]`.
    RoundRobin { key: String, values: Vec<String> },
    /// `uniqueNodeLabelStrategy`: each node its own value (its name).
    Unique { key: String },
}

impl NodeLabeling {
    fn value(&self, i: usize, node: &str) -> (String, String) {
        match self {
            NodeLabeling::RoundRobin { key, values } => {
                (key.clone(), values[i % values.len()].clone())
            }
            NodeLabeling::Unique { key } => (key.clone(), node.to_string()),
        }
    }
}

/// A `createNodes` operation's label strategy, if it has one.
fn node_labeling(op: &Value, what: &str) -> Result<Option<NodeLabeling>, String> {
    let label_key = |s: &Value, field_name: &str| -> Result<String, String> {
        match str_field(s, "labelKey") {
            Some(k) if !k.is_empty() => Ok(k.to_string()),
            _ => Err(format!("{what}: `{field_name}` needs a `labelKey` string")),
        }
    };
    let round_robin = field(op, "labelNodePrepareStrategy");
    let unique = field(op, "uniqueNodeLabelStrategy");
    match (round_robin, unique) {
        (Some(_), Some(_)) => Err(format!(
            "{what}: `labelNodePrepareStrategy` and `uniqueNodeLabelStrategy` together: upstream applies only one, give one"
        )),
        (Some(s), None) => {
            let w = format!("{what} `labelNodePrepareStrategy`");
            check_fields(s, &["labelKey", "labelValues"], &w)?;
            let key = label_key(s, "labelNodePrepareStrategy")?;
            let values = field(s, "labelValues")
                .and_then(Value::as_sequence)
                .ok_or_else(|| format!("{w}: needs `labelValues`, a list of strings"))?
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(format!("{w}: `labelValues` holds a non-scalar")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if values.is_empty() {
                return Err(format!("{w}: `labelValues` is empty"));
            }
            Ok(Some(NodeLabeling::RoundRobin { key, values }))
        }
        (None, Some(s)) => {
            check_fields(
                s,
                &["labelKey"],
                &format!("{what} `uniqueNodeLabelStrategy`"),
            )?;
            Ok(Some(NodeLabeling::Unique {
                key: label_key(s, "uniqueNodeLabelStrategy")?,
            }))
        }
        (None, None) => Ok(None),
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(Value::from(k)))
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    field(v, k).and_then(Value::as_str)
}

/// Field `k` of `v` as a boolean, false when absent; another type is
/// refused rather than read as false.
fn bool_field(v: &Value, k: &str, what: &str) -> Result<bool, String> {
    match field(v, k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{what}: `{k}` must be true or false")),
    }
}

/// Field `k` of `v` as a string, if present; another type is refused
/// rather than read as absent.
fn opt_str_field<'a>(v: &'a Value, k: &str, what: &str) -> Result<Option<&'a str>, String> {
    match field(v, k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{what}: `{k}` must be a string")),
    }
}

/// Field `labelSelector` of `op` (label keys to values, all of which a
/// pod's labels must have, as upstream's `labels.SelectorFromSet`); empty
/// when absent.
fn label_selector(op: &Value, what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut selector = BTreeMap::new();
    let Some(v) = field(op, "labelSelector") else {
        return Ok(selector);
    };
    let bad = || format!("{what}: `labelSelector` must map label keys to string values");
    for (key, value) in v.as_mapping().ok_or_else(bad)? {
        match (key.as_str(), value.as_str()) {
            (Some(key), Some(value)) => {
                selector.insert(key.to_string(), value.to_string());
            }
            _ => return Err(bad()),
        }
    }
    Ok(selector)
}

/// Whether `labels` has every key and value of `selector`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The measured window a `startCollectingMetrics` operation opens and a
/// `stopCollectingMetrics` closes: upstream's throughput collector counts
/// the pods of `namespaces` (those whose labels `labelSelector` matches)
/// bound while it is open.
struct Window {
    /// The operation that opened it.
    op: usize,
    namespaces: BTreeSet<String>,
    selector: BTreeMap<String, String>,
    /// How many pods of `createPods` operations inside it it measures.
    measured: usize,
}

/// A `startCollectingMetrics` operation's window, its fields checked as
/// upstream's `startCollectingMetricsOp` (`name` only labels upstream's
/// results).
fn start_window(op: &Value, k: usize, what: &str) -> Result<Window, String> {
    check_fields(op, &["opcode", "name", "namespaces", "labelSelector"], what)?;
    if let Some(v) = field(op, "name")
        && !v.is_string()
    {
        return Err(format!("{what}: `name` must be a string"));
    }
    let list = field(op, "namespaces")
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("{what}: needs `namespaces`, a list of namespace names"))?;
    let mut namespaces = BTreeSet::new();
    for ns in list {
        match ns.as_str() {
            Some(ns) if !ns.is_empty() => {
                namespaces.insert(ns.to_string());
            }
            _ => return Err(format!("{what}: `namespaces` must hold non-empty strings")),
        }
    }
    if namespaces.is_empty() {
        // As upstream's startCollectingMetricsOp.isValid.
        return Err(format!("{what}: `namespaces` cannot be empty"));
    }
    Ok(Window {
        op: k,
        namespaces,
        selector: label_selector(op, what)?,
        measured: 0,
    })
}

/// A note naming the test case's `metricsCollectorConfig`, after checking
/// its shape (upstream's: `metrics`, mapping metric names to label filters
/// or null); `None` without one.
fn metrics_collector_note(case: &Value, case_name: &str) -> Result<Option<String>, String> {
    let Some(v) = field(case, "metricsCollectorConfig") else {
        return Ok(None);
    };
    let what = format!("test case {case_name} `metricsCollectorConfig`");
    check_fields(v, &["metrics"], &what)?;
    let metrics = match field(v, "metrics") {
        None | Some(Value::Null) => Default::default(),
        Some(Value::Mapping(m)) => m.clone(),
        Some(_) => {
            return Err(format!(
                "{what}: `metrics` must map metric names to label filters"
            ));
        }
    };
    let mut names = Vec::new();
    for (name, filters) in &metrics {
        let Some(name) = name.as_str() else {
            return Err(format!("{what}: `metrics` keys must be metric names"));
        };
        if !matches!(filters, Value::Null | Value::Sequence(_)) {
            return Err(format!(
                "{what}: metric `{name}`: expected a list of label filters or null"
            ));
        }
        names.push(name);
    }
    names.sort_unstable();
    Ok(Some(format!(
        "metricsCollectorConfig ({}) is ignored: it selects upstream's Prometheus metrics; kubesim reports its own figures",
        if names.is_empty() {
            "no metrics".to_string()
        } else {
            names.join(", ")
        }
    )))
}

/// `count`, or `countParam: $name` looked up in the workload's params.
/// Field `k` of `op` as a non-negative integer: `None` when absent, an
/// error naming the field when it is anything else.
fn uint_field(op: &Value, k: &str, what: &str) -> Result<Option<u64>, String> {
    match field(op, k) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{what}: `{k}` must be a non-negative integer")),
    }
}

/// The most objects one operation may make or update: upstream's largest
/// workloads stay far below it (5 000 nodes, some 100 000 pods), and a
/// count beyond it would only exhaust memory before the run starts.
const MAX_COUNT: u64 = 1_000_000;

fn count(op: &Value, params: &BTreeMap<String, u64>, what: &str) -> Result<usize, String> {
    let n = if let Some(n) = uint_field(op, "count", what)? {
        n
    } else {
        let Some(p) = str_field(op, "countParam") else {
            return Err(format!("{what}: neither `count` nor `countParam`"));
        };
        let name = p.strip_prefix('$').unwrap_or(p);
        *params.get(name).ok_or_else(|| {
            format!("{what}: `countParam: {p}`: the workload has no param `{name}`")
        })?
    };
    if n > MAX_COUNT {
        return Err(format!(
            "{what}: a count of {n}; at most {MAX_COUNT} objects per operation"
        ));
    }
    Ok(n as usize)
}

fn read_template(base: &Path, rel: &str) -> Result<Value, String> {
    let path: PathBuf = base.join(rel);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("template {}: {e}", path.display()))?;
    // Upstream renders each object from its template with Go's
    // text/template (`{{ .Index }}`, `{{ .Count }}`); taken literally here,
    // the placeholders would make other names and labels than upstream's.
    if text.contains("{{") {
        return Err(format!(
            "template {}: Go template placeholders (`{{{{ ... }}}}`) are supported in the \
             templates of createPods, createNodes and updateAny only",
            path.display()
        ));
    }
    serde_yaml::from_str(&text).map_err(|e| format!("template {}: {e}", path.display()))
}

/// `text` with each placeholder of the subset of Go's text/template that
/// upstream's pod templates use filled in: `{{ .Index }}` (the pod's index
/// in its operation), `{{ .Count }}` (the operation's count), and the
/// integer functions `div` / `DivideInt`, `Mod` / `mod` and `AddInt` of
/// two of those or numbers. Anything else between `{{` and `}}`
/// (conditionals, nested calls, template parameters) is refused, named.
fn render(text: &str, path: &Path, index: usize, count: usize) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!(
                "template {}: a `{{{{` without its `}}}}`",
                path.display()
            ));
        };
        let value = |name: &str| match name {
            ".Index" => Some(index),
            ".Count" => Some(count),
            n => n.parse::<usize>().ok(),
        };
        let words: Vec<&str> = after[..close].split_whitespace().collect();
        let filled = match words.as_slice() {
            [v] if v.starts_with('.') => value(v),
            // Upstream's integer functions (`div`, and the template
            // library's `DivideInt`, `Mod` / `mod`, `AddInt`) of
            // `.Index`, `.Count` or a number.
            [f, a, b] => match (*f, value(a), value(b)) {
                ("div" | "DivideInt", Some(a), Some(b)) if b > 0 => Some(a / b),
                ("Mod" | "mod", Some(a), Some(b)) if b > 0 => Some(a % b),
                ("AddInt", Some(a), Some(b)) => a.checked_add(b),
                _ => None,
            },
            _ => None,
        };
        let Some(filled) = filled else {
            return Err(format!(
                "template {}: `{{{{{}}}}}` is not supported (only `{{{{ .Index }}}}`, \
                 `{{{{ .Count }}}}` and `{{{{ F A B }}}}` with F one of div, DivideInt, Mod, mod \
                 and AddInt, A and B `.Index`, `.Count` or a non-negative integer, and no \
                 division by 0, are)",
                path.display(),
                &after[..close],
            ));
        };
        out.push_str(&filled.to_string());
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The pods of a `createPods` operation: namespace, name prefix, count,
/// the template's object and, when the template has placeholders, each
/// pod's own.
type CreatedPods = (String, String, usize, Object, Option<Vec<Object>>);

/// The pods `n` creations from pod template `rel` make: the template's
/// object (its index-0 rendering), and, when it has placeholders, each
/// index's own object, as upstream renders the template for every pod.
fn pod_templates(
    base: &Path,
    rel: &str,
    n: usize,
) -> Result<(Object, Option<Vec<Object>>), String> {
    let path: PathBuf = base.join(rel);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("template {}: {e}", path.display()))?;
    if !text.contains("{{") {
        return Ok((object_template(base, rel, true)?, None));
    }
    let parse = |i: usize| -> Result<Object, String> {
        let rendered = render(&text, &path, i, n)?;
        let m: Manifest = template_manifest(&rendered, true)
            .map_err(|e| format!("template {} (rendered for index {i}): {e}", path.display()))?;
        m.object.ok_or_else(|| {
            format!(
                "template {}: a kind the simulator does not model",
                path.display()
            )
        })
    };
    let first = parse(0)?;
    let all = (0..n).map(parse).collect::<Result<Vec<_>, _>>()?;
    Ok((first, Some(all)))
}

/// A rendered template as a manifest, read as upstream's harness reads
/// it (`fields::loosen`): keys Kubernetes does not have dropped and, for
/// a pod template (decoded into its Go type), keys matched but for case.
fn template_manifest(text: &str, fold_case: bool) -> Result<Manifest, serde_yaml::Error> {
    let mut v: Value = serde_yaml::from_str(text)?;
    crate::api::fields::loosen(&mut v, fold_case);
    serde_yaml::from_value(v)
}

/// The object of template `rel`, read as upstream's harness reads it
/// (`fold_case` for a pod template, decoded into its Go type; see
/// [`template_manifest`]).
fn object_template(base: &Path, rel: &str, fold_case: bool) -> Result<Object, String> {
    let mut v = read_template(base, rel)?;
    crate::api::fields::loosen(&mut v, fold_case);
    let m: Manifest = serde_yaml::from_value(v).map_err(|e| format!("template {rel}: {e}"))?;
    m.object
        .ok_or_else(|| format!("template {rel}: a kind the simulator does not model"))
}

/// The pod every `createPods` without a template uses: upstream's default
/// shape, a pause pod of 100m / 500Mi.
fn default_pod() -> Object {
    let mut pod = crate::bench::pause_pod(String::new());
    let meta = pod.meta_mut();
    meta.namespace = Default::default();
    meta.generate_name = "pod-".into();
    pod
}

/// The PersistentVolume and PersistentVolumeClaim templates of a
/// `createPods` operation (`persistentVolumeTemplatePath`,
/// `persistentVolumeClaimTemplatePath`): each pod gets a claim and a
/// volume of its own, made from them as upstream's
/// `CreatePodWithPersistentVolume` makes them (see [`VolumeTemplates::objects`]).
struct VolumeTemplates {
    pv: Box<crate::api::volume::PersistentVolume>,
    pvc: Box<crate::api::volume::PersistentVolumeClaim>,
}

impl VolumeTemplates {
    /// Reads the two templates (decoded as upstream decodes them into their
    /// Go types) and checks the objects they make as the apiserver would,
    /// naming the template: upstream's create would fail and fail the test.
    fn read(base: &Path, pv_rel: &str, pvc_rel: &str, what: &str) -> Result<Self, String> {
        let pv = match unnamed_template(base, pv_rel)? {
            Object::PersistentVolume(pv) => pv,
            o => {
                return Err(format!(
                    "{what}: persistentVolumeTemplatePath {pv_rel}: a {}, not a PersistentVolume",
                    o.kind()
                ));
            }
        };
        let pvc = match unnamed_template(base, pvc_rel)? {
            Object::PersistentVolumeClaim(pvc) => pvc,
            o => {
                return Err(format!(
                    "{what}: persistentVolumeClaimTemplatePath {pvc_rel}: a {}, not a \
                     PersistentVolumeClaim",
                    o.kind()
                ));
            }
        };
        let t = VolumeTemplates { pv, pvc };
        // Every index makes the same objects but for names and ids: the
        // first one's stand for all.
        let [pvc, pv] = t.objects("namespace", 0);
        for (o, rel) in [(pvc, pvc_rel), (pv, pv_rel)] {
            let errs = crate::apiserver::admission::validate(&o);
            if !errs.is_empty() {
                return Err(format!(
                    "{what}: template {rel}: the apiserver would refuse the {} made from it: {}",
                    o.kind(),
                    errs.join("; ")
                ));
            }
        }
        Ok(t)
    }

    /// The claim and the volume of pod `i` of an operation in namespace
    /// `ns`, in upstream's order of creation: the claim `pvc-i` (the
    /// template's, its annotations kept, `spec.volumeName` set), then the
    /// volume `NS-vol-i` (the template's, its `spec.claimRef` naming the
    /// claim; a CSI volume's `volumeHandle` is its name, an AWS EBS
    /// volume's `volumeID` `vol-i`, not prefixed, as upstream's volume
    /// factory leaves it). Upstream then writes each one's status phase
    /// Bound; status is not kept here, and the scheduler reads the claim's
    /// binding from `spec.volumeName` and its bind-completed annotation.
    fn objects(&self, ns: &str, i: usize) -> [Object; 2] {
        use crate::api::volume::ClaimRef;
        let claim = format!("pvc-{i}");
        let volume = format!("{ns}-vol-{i}");
        let mut pvc = self.pvc.clone();
        pvc.metadata.name = claim.as_str().into();
        pvc.metadata.generate_name = Default::default();
        pvc.metadata.namespace = ns.into();
        pvc.spec.volume_name = Some(volume.clone());
        let mut pv = self.pv.clone();
        pv.metadata.name = volume.as_str().into();
        pv.metadata.generate_name = Default::default();
        pv.metadata.namespace = Default::default();
        let source = &mut pv.spec.source;
        if let Some(csi) = &mut source.csi {
            csi.volume_handle = volume;
        } else if let Some(ebs) = &mut source.aws_elastic_block_store {
            ebs.volume_id = format!("vol-{i}");
        }
        // Upstream's reference also says `kind: PersistentVolumeClaim` and
        // `apiVersion: v1`, which the model's ClaimRef does not keep.
        pv.spec.claim_ref = Some(ClaimRef {
            uid: None,
            namespace: Some(ns.to_string()),
            name: Some(claim),
        });
        [
            Object::PersistentVolumeClaim(pvc),
            Object::PersistentVolume(pv),
        ]
    }
}

/// The object of template `rel` that need not be named (upstream names
/// each object it makes from it), read as upstream decodes it into its Go
/// type (see [`template_manifest`]).
fn unnamed_template(base: &Path, rel: &str) -> Result<Object, String> {
    template_named_if_unnamed(base, rel, true)?
        .ok_or_else(|| format!("template {rel}: a kind the simulator does not model"))
}

/// Template `rel`'s object, named `template` if it has no name, read with
/// [`crate::api::fields::loosen`] (`fold_case` as there).
fn template_named_if_unnamed(
    base: &Path,
    rel: &str,
    fold_case: bool,
) -> Result<Option<Object>, String> {
    let mut v = read_template(base, rel)?;
    if let Some(m) = v.as_mapping_mut() {
        let meta = m
            .entry("metadata".into())
            .or_insert_with(|| Value::Mapping(Default::default()));
        if let Some(meta) = meta.as_mapping_mut() {
            meta.entry("name".into())
                .or_insert_with(|| "template".into());
        }
    }
    crate::api::fields::loosen(&mut v, fold_case);
    let m: Manifest = serde_yaml::from_value(v).map_err(|e| format!("template {rel}: {e}"))?;
    Ok(m.object)
}

/// Pod `pod`, pod `i` of its operation, with its volumes replaced by the
/// one upstream's harness gives it: `vol`, reading claim `pvc-i`.
fn with_claim_volume(mut pod: Object, i: usize) -> Object {
    use crate::api::volume::{ClaimSource, PodVolume, VolumeSources};
    if let Object::Pod(p) = &mut pod {
        std::sync::Arc::make_mut(&mut p.spec).volumes = vec![PodVolume {
            name: "vol".into(),
            source: VolumeSources {
                persistent_volume_claim: Some(ClaimSource {
                    claim_name: format!("pvc-{i}"),
                    read_only: false,
                }),
                ..Default::default()
            },
        }];
    }
    pod
}

/// The CSINodes a `createNodes` operation's `nodeAllocatableStrategy`
/// makes, one per node, as upstream's `NodeAllocatableStrategy`
/// (`PrepareDependentObjects`, creating the CSINode as none exists).
struct CsiNodes {
    /// `csiNodeAllocatable`: each driver and its `allocatable` (`None` for
    /// a null entry), in the drivers' name order. Upstream ranges over a
    /// Go map, whose order is random: the drivers' order changes nothing
    /// the scheduler reads.
    drivers: Vec<(String, Option<crate::api::volume::VolumeNodeResources>)>,
    /// `migratedPlugins`, joined by "," ("" when there are none, as
    /// upstream's `strings.Join`).
    migrated: String,
}

impl CsiNodes {
    /// The operation's strategy, if it has one; `notes` gets one for its
    /// `nodeAllocatable`, which changes nothing (see the comment inside).
    fn of(op: &Value, what: &str, notes: &mut Vec<String>) -> Result<Option<CsiNodes>, String> {
        let Some(s) = field(op, "nodeAllocatableStrategy") else {
            return Ok(None);
        };
        let w = format!("{what} `nodeAllocatableStrategy`");
        check_fields(
            s,
            &["nodeAllocatable", "csiNodeAllocatable", "migratedPlugins"],
            &w,
        )?;
        // Upstream's PreparePatch writes these into the node's
        // `status.allocatable` and sends the patch to the Node's main
        // resource, not its `status` subresource: the apiserver keeps the
        // node's old status on such an update (nodeStrategy's
        // PrepareForUpdate), so the patch changes nothing the scheduler
        // reads. Each value must parse (upstream's MustParse panics).
        let mut ignored = Vec::new();
        match field(s, "nodeAllocatable") {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let (Some(k), Some(v)) = (k.as_str(), scalar_string(v)) else {
                        return Err(format!(
                            "{w}: `nodeAllocatable` must map resource names to quantities"
                        ));
                    };
                    crate::api::Quantity::parse(&v).map_err(|e| {
                        format!("{w}: `nodeAllocatable`: {k}: {v:?} is not a quantity: {e}")
                    })?;
                    ignored.push(format!("{k}={v}"));
                }
            }
            Some(_) => {
                return Err(format!(
                    "{w}: `nodeAllocatable` must map resource names to quantities"
                ));
            }
        }
        if !ignored.is_empty() {
            notes.push(format!(
                "{w}: nodeAllocatable ({}) is ignored: upstream's harness patches it into the \
                 node's status through the Node's main resource, where the apiserver keeps the \
                 old status, so it changes nothing there either",
                ignored.join(", ")
            ));
        }
        let mut drivers = Vec::new();
        match field(s, "csiNodeAllocatable") {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                // Sorted by name: upstream's map has no order.
                let mut entries: Vec<(&str, &Value)> = Vec::new();
                for (k, v) in m {
                    let Some(k) = k.as_str().filter(|k| !k.is_empty()) else {
                        return Err(format!(
                            "{w}: `csiNodeAllocatable` must map CSI driver names to {{count: N}}"
                        ));
                    };
                    entries.push((k, v));
                }
                entries.sort_by_key(|(k, _)| *k);
                for (driver, v) in entries {
                    let allocatable = match v {
                        Value::Null => None,
                        Value::Mapping(_) => {
                            let dw = format!("{w} `csiNodeAllocatable` {driver}");
                            check_fields(v, &["count"], &dw)?;
                            let count = match field(v, "count") {
                                None | Some(Value::Null) => None,
                                Some(c) => Some(
                                    c.as_i64()
                                        .filter(|c| (0..=i64::from(i32::MAX)).contains(c))
                                        .ok_or_else(|| {
                                            format!(
                                                "{dw}: `count` must be an integer from 0 to {} \
                                                 (the apiserver refuses a negative count)",
                                                i32::MAX
                                            )
                                        })?,
                                ),
                            };
                            Some(crate::api::volume::VolumeNodeResources { count })
                        }
                        _ => {
                            return Err(format!(
                                "{w}: `csiNodeAllocatable` {driver}: expected {{count: N}}"
                            ));
                        }
                    };
                    drivers.push((driver.to_string(), allocatable));
                }
            }
            Some(_) => {
                return Err(format!(
                    "{w}: `csiNodeAllocatable` must map CSI driver names to {{count: N}}"
                ));
            }
        }
        let migrated = match field(s, "migratedPlugins") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|p| {
                    p.as_str().map(str::to_string).ok_or_else(|| {
                        format!("{w}: `migratedPlugins` must be a list of plugin names")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(format!(
                    "{w}: `migratedPlugins` must be a list of plugin names"
                ));
            }
        };
        Ok(Some(CsiNodes {
            drivers,
            migrated: migrated.join(","),
        }))
    }

    /// Node `node`'s CSINode: named as the node, the migrated-plugins
    /// annotation, and each driver with the node's name as its `nodeID`.
    fn object(&self, node: &str) -> Object {
        use crate::api::volume::{ANN_MIGRATED_PLUGINS, CsiNode, CsiNodeDriver};
        let mut c = CsiNode::default();
        c.metadata.name = node.into();
        std::sync::Arc::make_mut(&mut c.metadata.annotations)
            .insert(ANN_MIGRATED_PLUGINS.to_string(), self.migrated.clone());
        c.spec.drivers = self
            .drivers
            .iter()
            .map(|(name, allocatable)| CsiNodeDriver {
                name: name.clone(),
                node_id: node.to_string(),
                topology_keys: Vec::new(),
                allocatable: allocatable.clone(),
            })
            .collect();
        Object::CsiNode(Box::new(c))
    }
}

/// A YAML scalar as a string (a number or a string), else `None`.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `churn` operation's timeline: upstream's ticker fires every
/// `interval` from `start` (the first tick one interval in) until `end`.
/// Each tick, per template: in create mode an object is created (at most
/// `number` ticks, unbounded when 0); in recreate mode each template has
/// `number` slots visited in turn, and a tick deletes the object its slot
/// holds, or creates one into an empty slot, so an object lives `number`
/// ticks and the slot stays empty as long.
struct Churn {
    k: usize,
    /// Where namespaced objects go.
    namespace: String,
    recreate: bool,
    number: usize,
    interval: u64,
    start: u64,
    end: u64,
}

impl Churn {
    fn actions(&self, templates: &[Object], place: &str) -> Vec<Action> {
        let mut out = Vec::new();
        // A tick visits slot `count % number`, so no more slots than ticks
        // are ever visited, however large `number` is; create mode has none.
        let ticks = ((self.end.saturating_sub(self.start)) / self.interval) as usize;
        let held = if self.recreate {
            self.number.min(ticks)
        } else {
            0
        };
        let mut slots: Vec<Vec<Option<String>>> = vec![vec![None; held]; templates.len()];
        // A huge interval saturates: no tick falls before the end then.
        let mut next = self.start.checked_add(self.interval);
        let mut count = 0usize;
        while let Some(t) = next.filter(|&t| t <= self.end) {
            if !self.recreate && self.number > 0 && count >= self.number {
                break;
            }
            for (j, tmpl) in templates.iter().enumerate() {
                let kind = tmpl.kind();
                let namespace = if kind.namespaced() {
                    self.namespace.as_str()
                } else {
                    ""
                };
                let slot = if self.recreate {
                    slots[j].get_mut(count % self.number)
                } else {
                    None
                };
                let op = match slot {
                    Some(slot) if slot.is_some() => ActionOp::Delete {
                        kind,
                        namespace: namespace.into(),
                        name: slot.take().expect("held"),
                    },
                    slot => {
                        let prefix = format!("churn{}-{j}-", self.k);
                        let object = instance(tmpl, &prefix, count, namespace);
                        if let Some(slot) = slot {
                            *slot = Some(object.meta().name.to_string());
                        }
                        ActionOp::Apply(vec![object])
                    }
                };
                out.push(Action {
                    at: t,
                    place: place.to_string(),
                    op,
                });
            }
            count += 1;
            next = t.checked_add(self.interval);
        }
        out
    }
}

/// The operations of a workload template, each `createPodSets` unrolled
/// into one `createPods` per namespace `namespacePrefix-i`, as upstream
/// unrolls it before running (operation indices count the unrolled ones).
fn unroll(
    template: &[Value],
    params: &BTreeMap<String, u64>,
    case_name: &str,
) -> Result<Vec<Value>, String> {
    let mut ops = Vec::with_capacity(template.len());
    for op in template {
        if str_field(op, "opcode") != Some("createPodSets") {
            ops.push(op.clone());
            continue;
        }
        // Numbered as the first operation it unrolls into, as every other
        // operation's errors are.
        let what = format!("{case_name} operation {} (createPodSets)", ops.len());
        check_fields(
            op,
            &[
                "opcode",
                "count",
                "countParam",
                "namespacePrefix",
                "createPodsOp",
            ],
            &what,
        )?;
        let n = count(op, params, &what)?;
        let prefix = match str_field(op, "namespacePrefix") {
            Some(p) if !p.is_empty() => p,
            _ => return Err(format!("{what}: needs a `namespacePrefix` string")),
        };
        let inner = field(op, "createPodsOp")
            .filter(|o| str_field(o, "opcode") == Some("createPods"))
            .and_then(Value::as_mapping)
            .ok_or_else(|| format!("{what}: needs a `createPodsOp` with `opcode: createPods`"))?;
        // Each set's namespace replaces the one `createPodsOp` names, if
        // any, as upstream's.
        for i in 0..n {
            let mut pods = inner.clone();
            pods.insert("namespace".into(), format!("{prefix}-{i}").into());
            ops.push(Value::Mapping(pods));
        }
    }
    Ok(ops)
}

/// A Namespace named `name`, unlabelled (the apiserver adds its name label).
fn namespace_object(name: &str) -> Object {
    let mut ns = crate::api::namespace::Namespace::default();
    ns.metadata.name = name.into();
    Object::Namespace(ns)
}

/// A `namespaceTemplatePath` manifest: a Namespace whose labels (and
/// annotations) each created namespace copies; its name, if any, is
/// replaced, as upstream names them `PREFIX-i`.
fn namespace_template(base: &Path, rel: &str) -> Result<Object, String> {
    match template_named_if_unnamed(base, rel, false)? {
        Some(o) if o.kind() == Kind::Namespace => Ok(o),
        _ => Err(format!("template {rel}: not a Namespace")),
    }
}

/// A copy of `t` named `{prefix}{i}` in `namespace` (namespaced kinds).
fn instance(t: &Object, prefix: &str, i: usize, namespace: &str) -> Object {
    let mut o = t.clone();
    let m = o.meta_mut();
    m.name = format!("{prefix}{i}").into();
    m.generate_name = Default::default();
    m.namespace = namespace.into();
    o
}

fn prefix_of(t: &Object, fallback: &str) -> String {
    let m = t.meta();
    if !m.generate_name.is_empty() {
        m.generate_name.to_string()
    } else if !m.name.is_empty() {
        format!("{}-", m.name)
    } else {
        fallback.to_string()
    }
}

/// Upstream's default node's capacity, which a node template's
/// `status.capacity` overrides resource by resource.
const NODE_CAPACITY: [(&str, &str); 3] = [("cpu", "4"), ("memory", "32Gi"), ("pods", "110")];

fn node_capacity_defaults() -> BTreeMap<String, crate::api::Quantity> {
    NODE_CAPACITY
        .into_iter()
        .map(|(k, v)| {
            let q = crate::api::Quantity::parse(v).expect("the default capacity parses");
            (k.to_string(), q)
        })
        .collect()
}

/// Consecutive nodes of a `createNodes` operation that are alike but for
/// their names: the first one's rendering, and how many they are.
type Run = (Value, usize);

/// The node template of a `createNodes` operation (`rel`) rendered for
/// each of its `n` nodes, as upstream renders it per node (`{{ .Index }}`,
/// `{{ .Count }}`): the name each rendering gives its node, if any, and
/// the runs of consecutive nodes whose renderings make alike nodes (the
/// same labels, taints, `spec.unschedulable` and `status.capacity`), each
/// as (its first rendering, its length). Each run is a node group of its
/// own.
fn node_templates(
    base: &Path,
    rel: &str,
    n: usize,
) -> Result<(Vec<Run>, Vec<Option<String>>), String> {
    let path: PathBuf = base.join(rel);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("template {}: {e}", path.display()))?;
    let name_of = |v: &Value| {
        field(v, "metadata")
            .and_then(|m| field(m, "name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if !text.contains("{{") {
        let t: Value =
            serde_yaml::from_str(&text).map_err(|e| format!("template {}: {e}", path.display()))?;
        let name = name_of(&t);
        return Ok((vec![(t, n)], vec![name; n]));
    }
    let parse = |i: usize| -> Result<Value, String> {
        let rendered = render(&text, &path, i, n)?;
        serde_yaml::from_str(&rendered)
            .map_err(|e| format!("template {} (rendered for index {i}): {e}", path.display()))
    };
    // What of a rendering makes its node (`node_group` reads these).
    let shape_of = |v: &Value| -> [Option<Value>; 4] {
        let at = |a: &str, b: &str| field(v, a).and_then(|x| field(x, b)).cloned();
        [
            at("metadata", "labels"),
            at("spec", "taints"),
            at("spec", "unschedulable"),
            at("status", "capacity"),
        ]
    };
    let mut runs: Vec<Run> = Vec::new();
    let mut shape = Default::default();
    let mut names = Vec::with_capacity(n);
    for i in 0..n {
        let t = parse(i)?;
        let this = shape_of(&t);
        names.push(name_of(&t));
        match runs.last_mut() {
            Some((_, len)) if this == shape => *len += 1,
            _ => {
                runs.push((t, 1));
                shape = this;
            }
        }
    }
    Ok((runs, names))
}

/// The node group of a `createNodes` operation, as scenario YAML, from its
/// node template `t` (`rel`, for messages: its labels, `status.capacity`,
/// taints and `spec.unschedulable`; upstream's default node, 4 cpu, 32Gi,
/// 110 pods, without one).
fn node_group(t: Option<(&Value, &str)>, name: &str, n: usize) -> Result<String, String> {
    let mut cap: BTreeMap<String, String> = NODE_CAPACITY
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut labels = BTreeMap::new();
    // The template's taints and `unschedulable`, as scenario YAML lines.
    let mut spec_lines = String::new();
    if let Some((t, rel)) = t {
        if let Some(spec) = field(t, "spec") {
            if let Some(taints) = field(spec, "taints") {
                // Read as taints, written back as the group's `taints`.
                let taints: Vec<crate::api::pod::Taint> = serde_yaml::from_value(taints.clone())
                    .map_err(|e| format!("template {rel}: spec.taints: {e}"))?;
                let items: Vec<String> = taints
                    .iter()
                    .map(|t| {
                        format!(
                            "{{key: {:?}, value: {:?}, effect: {}}}",
                            t.key,
                            t.value,
                            t.effect.as_str()
                        )
                    })
                    .collect();
                spec_lines.push_str(&format!("    taints: [{}]\n", items.join(", ")));
            }
            if field(spec, "unschedulable").and_then(Value::as_bool) == Some(true) {
                spec_lines.push_str("    unschedulable: true\n");
            }
        }
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(c) = field(t, "status")
            .and_then(|s| field(s, "capacity"))
            .and_then(Value::as_mapping)
        {
            for (k, v) in c {
                if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                    cap.insert(k.to_string(), v);
                }
            }
        }
        if let Some(l) = field(t, "metadata")
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
    let group = format!(
        "  - name: {name}\n    count: {n}\n    capacity: {}\n    labels: {}\n    images: ['registry.k8s.io/pause:3.10']\n{spec_lines}",
        flow(&cap),
        flow(&labels)
    );
    Ok(group)
}

/// An `updateAny` operation's updates of Nodes, each the object its
/// template renders for an index (upstream replaces the Node with it).
struct NodeUpdates {
    /// The operation, for messages.
    what: String,
    /// The template, as the operation gives it.
    rel: String,
    updates: Vec<NodeUpdate>,
}

struct NodeUpdate {
    index: usize,
    /// The place of the update's action, filled in once the cluster is built.
    place: String,
    node: crate::api::Node,
}

/// Where an `updateAny` of a Pod points: the operation, its template, the
/// index rendered, and how it updates.
struct PodTarget<'a> {
    what: &'a str,
    rel: &'a str,
    index: usize,
    namespace: Option<&'a str>,
    /// Through the `resize` subresource.
    resize: bool,
    scheduling_only: bool,
}

/// The client action of an `updateAny` of a Pod: the template rendered for
/// one index names a pod an earlier `createPods` made in the operation's
/// namespace (by the name its own template gave it; kubesim names the pod
/// after the operation), and upstream's Update replaces the pod with it
/// (a PUT, checked by the apiserver's pod update rules), or, with
/// `subresources: [resize]`, its containers' resources are PATCHed
/// through the pod's `resize` subresource. Each update is checked here
/// against the pod as created and as earlier updates left it, so that one
/// the apiserver would refuse is refused with the template and index
/// named. A resize needs `--scheduling-only`: through the whole simulator
/// the kubelets would have to actuate it, which is not modelled.
fn pod_update_action(
    target: &PodTarget<'_>,
    pod: crate::api::Pod,
    created: &[CreatedPods],
    updated: &mut BTreeMap<(String, String), crate::api::Pod>,
) -> Result<ActionOp, String> {
    let PodTarget {
        what,
        rel,
        index: i,
        ..
    } = *target;
    let at = format!("{what}: template {rel} (rendered for index {i})");
    let Some(ns) = target.namespace else {
        // As upstream's check of the object's scope.
        return Err(format!(
            "{what}: namespace not set for {rel}, but a Pod is namespaced"
        ));
    };
    let name = pod.metadata.name.to_string();
    if name.is_empty() {
        return Err(format!(
            "{at} names no object: upstream updates the object metadata.name names"
        ));
    }
    let found = created.iter().find_map(|(cns, prefix, _, t, per_index)| {
        if cns != ns {
            return None;
        }
        match per_index {
            Some(all) => all
                .iter()
                .position(|p| p.meta().name == name.as_str())
                .map(|j| (format!("{prefix}{j}"), &all[j])),
            None => (t.meta().name == name.as_str()).then(|| (format!("{prefix}0"), t)),
        }
    });
    let Some((kname, original)) = found else {
        return Err(format!(
            "{at} names pod `{ns}/{name}`, which no earlier createPods operation made (updateAny \
             of a Pod updates those alone; upstream's update of a pod that does not exist fails \
             with NotFound)"
        ));
    };
    let current = updated
        .entry((ns.to_string(), kname.clone()))
        .or_insert_with(|| {
            let mut o = original.clone();
            crate::apiserver::admission::default_object(&mut o);
            match o {
                Object::Pod(p) => p,
                _ => unreachable!("createPods makes pods"),
            }
        });
    if target.resize {
        if !target.scheduling_only {
            return Err(format!(
                "{at}: `subresources: [resize]` needs --scheduling-only: through the whole \
                 simulator the kubelet of the pod's node would actuate the resize, which is not \
                 modelled"
            ));
        }
        // Upstream's resize takes the rendered pod's containers, which must
        // be the pod's, in its order.
        let names = |p: &crate::api::Pod| -> Vec<String> {
            p.spec.containers.iter().map(|c| c.name.clone()).collect()
        };
        if names(&pod) != names(current) {
            return Err(format!(
                "{at}: the resize of pod `{ns}/{name}` lists containers {:?} where the pod has \
                 {:?}: a resize must list the pod's containers, in order",
                names(&pod),
                names(current)
            ));
        }
        let resources: Vec<_> = pod
            .spec
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.resources.clone()))
            .collect();
        *current = crate::apiserver::admission::pod_resize(current, &resources).map_err(|e| {
            format!(
                "{at}: the resize of pod `{ns}/{name}` is invalid: {}",
                e.join("; ")
            )
        })?;
        return Ok(ActionOp::ResizePod {
            namespace: ns.to_string(),
            name: kname,
            resources,
        });
    }
    let mut new = pod;
    new.metadata.name = kname.as_str().into();
    new.metadata.namespace = ns.into();
    new.metadata.generate_name = Default::default();
    let mut obj = Object::Pod(new);
    crate::apiserver::admission::default_for_update(&mut obj);
    let Object::Pod(mut checked) = obj.clone() else {
        unreachable!("a pod stays a pod");
    };
    // Where the scheduler will have bound the pod is known only in the
    // run (whose apiserver checks the update again): the node the update
    // names is taken as the pod's.
    if current.spec.node_name.is_none() && checked.spec.node_name.is_some() {
        std::sync::Arc::make_mut(&mut current.spec)
            .node_name
            .clone_from(&checked.spec.node_name);
    }
    let errs = crate::apiserver::admission::pod_update(current, &mut checked);
    if !errs.is_empty() {
        return Err(format!(
            "{at}: the update of pod `{ns}/{name}` is invalid: {}",
            errs.join("; ")
        ));
    }
    *current = checked;
    Ok(ActionOp::ReplacePod(Box::new(obj)))
}

/// The client actions that make the updates `u` describes, by action
/// place, each applied to `current`: as upstream's Update and then
/// UpdateStatus of the rendered Node, a PUT of its labels and spec when
/// they change (labels, taints, `spec.unschedulable`: a Node update the
/// scheduler, the DaemonSet controller and the taint manager handle as
/// upstream's), then a PUT of its status when the capacity changes (with
/// `--scheduling-only`, where the nodes are API objects alone as
/// upstream's; through the whole simulator each node's kubelet owns its
/// status, the capacity of its machine, so a change is refused, named).
/// An update that changes nothing is not written. The
/// `kubernetes.io/hostname` and `kubernetes.io/os` labels the cluster gave
/// the node are kept when the template has none (upstream drops its
/// hostname label; noted).
fn node_update_actions(
    u: &NodeUpdates,
    current: &mut BTreeMap<String, crate::api::Node>,
    scheduling_only: bool,
) -> Result<Vec<(String, ActionOp)>, String> {
    use crate::sim::msg::NodePatch;
    let mut out = Vec::new();
    for up in &u.updates {
        let name = up.node.metadata.name.to_string();
        let node = current
            .get_mut(&name)
            .expect("updateAny names only nodes createNodes made");
        let wanted = &up.node;
        let mut labels = (*wanted.metadata.labels).clone();
        for key in ["kubernetes.io/hostname", "kubernetes.io/os"] {
            if let Some(v) = node.metadata.labels.get(key) {
                labels.entry(key.to_string()).or_insert_with(|| v.clone());
            }
        }
        // The apiserver's validation of the rendered labels and taints.
        for (k, v) in &labels {
            crate::scenario::check_label(k, Some(v)).map_err(|m| {
                format!(
                    "{}: template {} (rendered for index {}): metadata.labels: {m}",
                    u.what, u.rel, up.index
                )
            })?;
        }
        for (i, t) in wanted.spec.taints.iter().enumerate() {
            crate::scenario::check_label(&t.key, Some(&t.value)).map_err(|m| {
                format!(
                    "{}: template {} (rendered for index {}): spec.taints[{i}]: {m}",
                    u.what, u.rel, up.index
                )
            })?;
        }
        let spec_changes = labels != *node.metadata.labels
            || node.spec.taints != wanted.spec.taints
            || node.spec.unschedulable != wanted.spec.unschedulable;
        if spec_changes {
            let labels = std::sync::Arc::new(labels);
            node.metadata.labels = labels.clone();
            node.spec.taints = wanted.spec.taints.clone();
            node.spec.unschedulable = wanted.spec.unschedulable;
            out.push((
                up.place.clone(),
                ActionOp::PatchNode {
                    action: "update",
                    node: name.clone(),
                    patch: NodePatch::Replace {
                        labels,
                        taints: wanted.spec.taints.clone(),
                        unschedulable: wanted.spec.unschedulable,
                    },
                },
            ));
        }
        // As createNodes reads a template: upstream's default node's
        // capacity where the template gives none; an allocatable the
        // template leaves out is its capacity (upstream's defaulting of
        // NodeStatus).
        let mut capacity = node_capacity_defaults();
        capacity.extend(wanted.status.capacity.clone());
        let allocatable = if wanted.status.allocatable.is_empty() {
            capacity.clone()
        } else {
            wanted.status.allocatable.clone()
        };
        let effective = |n: &crate::api::Node| crate::api::resources::node_allocatable(n);
        let mut after = node.clone();
        after.status.capacity = capacity.clone();
        after.status.allocatable = allocatable.clone();
        if capacity != node.status.capacity || effective(&after) != effective(node) {
            if !scheduling_only {
                let show = |m: &BTreeMap<String, crate::api::Quantity>| {
                    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{{{}}}", items.join(", "))
                };
                return Err(format!(
                    "{}: template {} (rendered for index {}) changes node `{name}`'s \
                     status.capacity ({} to {}): through the whole simulator each node's kubelet \
                     owns its status, its machine's capacity; run with --scheduling-only, \
                     upstream's setup, where the nodes are API objects alone",
                    u.what,
                    u.rel,
                    up.index,
                    show(&node.status.capacity),
                    show(&capacity)
                ));
            }
            node.status = after.status;
            out.push((
                format!("{} status", up.place),
                ActionOp::PatchNode {
                    action: "update-status",
                    node: name.clone(),
                    patch: NodePatch::Status {
                        capacity,
                        allocatable,
                    },
                },
            ));
        }
    }
    Ok(out)
}

/// Runs workload `selector` (`CASE/WORKLOAD`; the workload name may itself
/// contain `/`) of the configuration at `path`.
pub fn run(
    path: &Path,
    selector: &str,
    seed: u64,
    opts: &RunOptions,
) -> Result<PerfResult, String> {
    run_writing(path, selector, seed, opts, None)
}

/// [`run`], writing the run's outputs (events.csv, pods.csv, ...) into
/// `dir` as `kubesim run` does, to see what happened in the run (the
/// wall-clock figures then include the writing).
pub fn run_to_dir(
    path: &Path,
    selector: &str,
    seed: u64,
    opts: &RunOptions,
    dir: &Path,
) -> Result<PerfResult, String> {
    run_writing(path, selector, seed, opts, Some(dir))
}

fn run_writing(
    path: &Path,
    selector: &str,
    seed: u64,
    opts: &RunOptions,
    out: Option<&Path>,
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
    check_fields(
        case,
        &[
            "name",
            "defaultPodTemplatePath",
            "workloadTemplate",
            "workloads",
            "labels",
            "featureGates",
            "metricsCollectorConfig",
            "schedulerConfigPath",
            "schedulerApiClientQPS",
            "schedulerApiClientBurst",
        ],
        &format!("test case {case_name}"),
    )?;
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
    check_fields(
        workload,
        &[
            "name",
            "params",
            "threshold",
            "labels",
            "featureGates",
            "schedulerApiClientQPS",
            "schedulerApiClientBurst",
        ],
        &format!("{case_name} workload {workload_name}"),
    )?;
    let client = scheduler_client(case, workload, &format!("{case_name}/{workload_name}"))?;
    let mut params = BTreeMap::new();
    if let Some(p) = field(workload, "params").and_then(Value::as_mapping) {
        for (k, v) in p {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_u64()) {
                params.insert(k.to_string(), v);
            }
        }
    }
    let threshold = field(workload, "threshold").and_then(Value::as_f64);
    let mut notes = feature_gate_notes(case, workload);
    notes.extend(metrics_collector_note(case, case_name)?);
    let default_pod_template = opt_str_field(case, "defaultPodTemplatePath", case_name)?;
    // The test case's KubeSchedulerConfiguration, as upstream starts its
    // scheduler with it; `--policy` overrides it.
    let mut case_profiles = None;
    if let Some(rel) = opt_str_field(case, "schedulerConfigPath", case_name)? {
        if opts.profiles.is_some() {
            notes.push(format!(
                "--policy overrides the test case's schedulerConfigPath {rel}"
            ));
        } else {
            let profiles = crate::scheduler::config::resolve(rel, base)
                .map_err(|e| format!("{case_name}: schedulerConfigPath: {e}"))?;
            notes.push(format!(
                "the scheduler runs with the test case's schedulerConfigPath {rel}"
            ));
            case_profiles = Some(profiles);
        }
    }
    let template = field(case, "workloadTemplate")
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("{case_name}: no `workloadTemplate`"))?;
    let ops = unroll(template, &params, case_name)?;

    let mut groups = String::new();
    let mut nodes = 0;
    let mut actions = Vec::new();
    let mut at = 0u64;
    let mut pods = 0usize;
    let mut measured_prefixes = Vec::new();
    let mut measured = 0usize;
    let mut measure_from = None;
    // (operation, pod name prefix, measured) of each `createPods`.
    let mut pod_ops: Vec<(usize, String, bool)> = Vec::new();
    // (its nodes' names as their groups made them, in the operation's
    // order; the operation's group name; label strategy) of each labelled
    // `createNodes`.
    let mut labelings: Vec<(Vec<String>, String, NodeLabeling)> = Vec::new();
    // The pods of each `createPods` operation: (namespace, name prefix,
    // count, the template), for `deletePods`.
    // (With each pod's own object when the template has placeholders.)
    let mut created: Vec<CreatedPods> = Vec::new();
    // Nodes not named as their group named them: (generated name, the
    // template's, or the operation's when its nodes are split into groups).
    let mut renames: Vec<(String, String)> = Vec::new();
    // Churn operations: started at their time, run until the last phase.
    let mut churns: Vec<(u64, usize, String, &Value)> = Vec::new();
    // When the pods of `skipWaitToCompletion` operations have had time to
    // be scheduled: a `barrier` waits until then.
    let mut owed = 0u64;
    // The order upstream's pod lister gives `deletePods` (a map's: none in
    // particular), drawn from the seed.
    let mut lister_order = crate::engine::RngStreams::new(seed).stream("scheduler-perf/deletePods");
    // The namespaces created so far: `createPods` creates its own when it
    // is not among them, as upstream's `createNamespaceIfNotPresent`.
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    // The window a `startCollectingMetrics` opened and no
    // `stopCollectingMetrics` has closed yet.
    let mut window: Option<Window> = None;
    // `createNodes` operations after the first operation that created
    // something: (node group, operation, the name its template gives its
    // node). Their nodes are created at the operation's time.
    let mut later_nodes: Vec<(usize, Vec<String>)> = Vec::new();
    // Each node `createNodes` made: the operation, and whether it is one
    // of a later operation's (an API object with no kubelet).
    let mut node_ops: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    // The `updateAny` operations, checked against the nodes once the
    // cluster is built.
    let mut node_updates: Vec<NodeUpdates> = Vec::new();
    // Pods that `updateAny` updated, as the updates left them (by
    // namespace and kubesim's name), to check the next update against.
    let mut updated_pods: BTreeMap<(String, String), crate::api::Pod> = BTreeMap::new();
    // Pods of `skipWaitToCompletion` operations since the last barrier
    // that waited for pods to be scheduled.
    let mut pending = 0u64;
    // The CSINodes of the cluster's nodes from the start (those of
    // `createNodes` operations before anything else was created), created
    // at time 0 before any other object.
    let mut initial_csi_nodes: Vec<Object> = Vec::new();
    // When the operations after those `createNodes` start: `CREATE_GAP`
    // after the CSINodes, if there are any, else 0.
    let mut initial_csi_gap = 0u64;
    for (k, op) in ops.iter().enumerate() {
        let opcode = str_field(op, "opcode").unwrap_or("");
        let what = format!("{case_name} operation {k} ({opcode})");
        match opcode {
            "createNodes" => {
                check_fields(
                    op,
                    &[
                        "opcode",
                        "count",
                        "countParam",
                        "nodeTemplatePath",
                        "labelNodePrepareStrategy",
                        "uniqueNodeLabelStrategy",
                        "nodeAllocatableStrategy",
                    ],
                    &what,
                )?;
                let n = count(op, &params, &what)?;
                let csi_nodes = CsiNodes::of(op, &what, &mut notes)?;
                if csi_nodes.is_some()
                    && (field(op, "labelNodePrepareStrategy").is_some()
                        || field(op, "uniqueNodeLabelStrategy").is_some())
                {
                    // Upstream's getNodePreparer applies one strategy, the
                    // allocatable one first, and drops the other.
                    return Err(format!(
                        "{what}: `nodeAllocatableStrategy` and a label strategy together: \
                         upstream applies only the nodeAllocatableStrategy, give one"
                    ));
                }
                let group = format!("node-{k}");
                let (runs, names) = match str_field(op, "nodeTemplatePath") {
                    Some(rel) => {
                        let (runs, names) = node_templates(base, rel, n)?;
                        let runs = runs.into_iter().map(|(t, len)| (Some((t, rel)), len));
                        (runs.collect(), names)
                    }
                    None => (vec![(None, n)], vec![None; n]),
                };
                // The nodes' names as the scenario's groups make them: one
                // group, `node-K`, when every rendering is the same but for
                // the name, else one group per run, `node-K-I` from node I
                // on, whose nodes are then renamed `node-K-I`, as one
                // group's would be.
                let mut generated = Vec::with_capacity(n);
                for (t, len) in &runs {
                    let run_group = if runs.len() == 1 {
                        group.clone()
                    } else {
                        format!("{group}-{}", generated.len())
                    };
                    groups.push_str(&node_group(
                        t.as_ref().map(|(t, rel)| (t, *rel)),
                        &run_group,
                        *len,
                    )?);
                    generated.extend((0..*len).map(|j| format!("{run_group}-{j}")));
                }
                let later = at > initial_csi_gap || !actions.is_empty();
                let mut group_names = Vec::new();
                let mut seen = BTreeSet::new();
                for (i, (named, generated)) in names.into_iter().zip(&generated).enumerate() {
                    let name = match named {
                        // Upstream creates every node from its rendering
                        // as it is: a second one of a name is AlreadyExists.
                        Some(node) if seen.contains(&node) => {
                            return Err(format!(
                                "{what}: the node template names node {i} `{node}`, as it named \
                                 an earlier one of this operation (count is {n}; upstream's \
                                 second create would fail with AlreadyExists)"
                            ));
                        }
                        Some(node) => node,
                        None => format!("{group}-{i}"),
                    };
                    if name != *generated {
                        renames.push((generated.clone(), name.clone()));
                    }
                    seen.insert(name.clone());
                    group_names.push(name.clone());
                    node_ops.insert(name, (k, later));
                }
                if let Some(l) = node_labeling(op, &what)? {
                    labelings.push((generated, group.clone(), l));
                }
                nodes += n;
                // Each node's CSINode, as upstream's strategy creates it
                // right after the node.
                let csi: Vec<Object> = csi_nodes
                    .iter()
                    .flat_map(|c| group_names.iter().map(|node| c.object(node)))
                    .collect();
                if later {
                    // Upstream creates them when the operation runs: pods
                    // already waiting may then fit, and have a phase's
                    // time from now before a barrier passes.
                    later_nodes.push((k, group_names));
                    actions.push(Action {
                        at,
                        place: format!("<{case_name} operation {k}>"),
                        op: ActionOp::Apply(Vec::new()),
                    });
                    if !csi.is_empty() {
                        // Right after the nodes, before the next
                        // operation's objects.
                        actions.push(Action {
                            at,
                            place: format!("<{case_name} operation {k} CSINodes>"),
                            op: ActionOp::Apply(csi),
                        });
                    }
                    at += CREATE_GAP;
                    owed = owed.max(at + (pending * PHASE_GAP_PER_POD).max(PHASE_MIN));
                } else {
                    // The cluster's nodes from the start: their CSINodes
                    // are created first of all (see below), not here, so
                    // that a `createNodes` after this one is still among
                    // the cluster's nodes. The next operation starts
                    // `CREATE_GAP` later, once the scheduler has them
                    // (upstream's createNodes returns once it made them);
                    // the requests of one action reach the apiserver in
                    // any order.
                    if !csi.is_empty() && initial_csi_gap == 0 {
                        at += CREATE_GAP;
                        initial_csi_gap = at;
                    }
                    initial_csi_nodes.extend(csi);
                }
            }
            "createAny" => {
                check_fields(
                    op,
                    &["opcode", "namespace", "templatePath", "count", "countParam"],
                    &what,
                )?;
                let Some(rel) = str_field(op, "templatePath") else {
                    return Err(format!("{what}: needs a `templatePath`"));
                };
                let t = object_template(base, rel, false)?;
                // One object unless `count` or `countParam` says otherwise.
                let n = if field(op, "count").is_some() || field(op, "countParam").is_some() {
                    count(op, &params, &what)?
                } else {
                    1
                };
                let kind = t.kind();
                let ns = match (field(op, "namespace"), kind.namespaced()) {
                    (None, true) if t.meta().namespace.is_empty() => "default".to_string(),
                    (None, true) => t.meta().namespace.to_string(),
                    (None, false) => String::new(),
                    (Some(Value::String(ns)), true) if !ns.is_empty() => ns.clone(),
                    (Some(_), true) => {
                        return Err(format!("{what}: `namespace` must be a non-empty string"));
                    }
                    (Some(_), false) => {
                        return Err(format!(
                            "{what}: a {kind} is cluster-scoped: `namespace` must be empty"
                        ));
                    }
                };
                let meta = t.meta();
                let mut objs = Vec::with_capacity(n + 1);
                if kind.namespaced() && namespaces.insert(ns.clone()) {
                    objs.push(namespace_object(&ns));
                }
                if !meta.name.is_empty() && meta.generate_name.is_empty() {
                    // A named template makes one object, as upstream's
                    // second create would fail with AlreadyExists.
                    if n != 1 {
                        return Err(format!(
                            "{what}: the template names its object `{}`, so only one can be \
                             created from it (count is {n})",
                            meta.name
                        ));
                    }
                    let mut o = t.clone();
                    if kind.namespaced() {
                        o.meta_mut().namespace = ns.as_str().into();
                    }
                    objs.push(o);
                } else {
                    // Not `op{k}-`: those name the pods `createPods` made,
                    // which the report counts.
                    let prefix = format!("any{k}-{}", prefix_of(&t, "object-"));
                    let ns = if kind.namespaced() { ns.as_str() } else { "" };
                    objs.extend((0..n).map(|i| instance(&t, &prefix, i, ns)));
                }
                if kind == Kind::Namespace {
                    // Later operations find these made, as upstream's
                    // namespacePreparer and createPods would.
                    for o in &objs {
                        namespaces.insert(o.meta().name.to_string());
                    }
                }
                actions.push(Action {
                    at,
                    place: format!("<{case_name} operation {k}>"),
                    op: ActionOp::Apply(objs),
                });
                at += CREATE_GAP;
            }
            "createNamespaces" => {
                check_fields(
                    op,
                    &[
                        "opcode",
                        "prefix",
                        "count",
                        "countParam",
                        "namespaceTemplatePath",
                    ],
                    &what,
                )?;
                let prefix = match str_field(op, "prefix") {
                    Some(p) if !p.is_empty() => p,
                    _ => return Err(format!("{what}: needs a `prefix` string")),
                };
                let n = count(op, &params, &what)?;
                let t = match str_field(op, "namespaceTemplatePath") {
                    Some(rel) => namespace_template(base, rel)?,
                    None => namespace_object(""),
                };
                // Upstream's namespacePreparer treats AlreadyExists as done:
                // a namespace an earlier operation made keeps its labels.
                let mut objs = Vec::with_capacity(n);
                for i in 0..n {
                    let o = instance(&t, &format!("{prefix}-"), i, "");
                    if namespaces.insert(o.meta().name.to_string()) {
                        objs.push(o);
                    }
                }
                actions.push(Action {
                    at,
                    place: format!("<{case_name} operation {k}>"),
                    op: ActionOp::Apply(objs),
                });
                at += CREATE_GAP;
            }
            "createPods" => {
                check_fields(
                    op,
                    &[
                        "opcode",
                        "count",
                        "countParam",
                        "podTemplatePath",
                        "namespace",
                        "collectMetrics",
                        "skipWaitToCompletion",
                        "signatureBatchSize",
                        "signatureBatchSizeParam",
                        "persistentVolumeTemplatePath",
                        "persistentVolumeClaimTemplatePath",
                    ],
                    &what,
                )?;
                let n = count(op, &params, &what)?;
                // Upstream's getPodStrategy makes volumes when the claim
                // template is given, reading the volume template then
                // (which fails when it is not given), and ignores the
                // volume template without a claim template: here each
                // alone is refused.
                let volumes = match (
                    opt_str_field(op, "persistentVolumeTemplatePath", &what)?,
                    opt_str_field(op, "persistentVolumeClaimTemplatePath", &what)?,
                ) {
                    (Some(pv), Some(pvc)) => Some(VolumeTemplates::read(base, pv, pvc, &what)?),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(format!(
                            "{what}: `persistentVolumeTemplatePath` without \
                             `persistentVolumeClaimTemplatePath`: upstream's harness would \
                             ignore the volume template and create the pods without volumes; \
                             give both"
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(format!(
                            "{what}: `persistentVolumeClaimTemplatePath` without \
                             `persistentVolumeTemplatePath`: upstream's harness needs both \
                             (it fails reading the volume template); give both"
                        ));
                    }
                };
                // Upstream's opportunistic batching of pods of one
                // signature (feature gate OpportunisticBatching): an
                // optimization of its scheduler that kubesim's does not
                // make; the size is checked and noted.
                let batch = match (
                    uint_field(op, "signatureBatchSize", &what)?,
                    str_field(op, "signatureBatchSizeParam"),
                ) {
                    (Some(b), _) => Some(b),
                    (None, Some(p)) => {
                        let name = p.strip_prefix('$').unwrap_or(p);
                        Some(*params.get(name).ok_or_else(|| {
                            format!(
                                "{what}: `signatureBatchSizeParam: {p}`: the workload has no param `{name}`"
                            )
                        })?)
                    }
                    (None, None) => None,
                };
                if let Some(b) = batch {
                    notes.push(format!(
                        "{what}: signature batch size {b} ignored: upstream's opportunistic \
                         batching is not modelled (each pod has a scheduling cycle of its own)"
                    ));
                }
                let (t, per_index) =
                    match opt_str_field(op, "podTemplatePath", &what)?.or(default_pod_template) {
                        Some(rel) => pod_templates(base, rel, n)?,
                        None => (default_pod(), None),
                    };
                if t.kind() != Kind::Pod {
                    return Err(format!("{what}: the template is not a Pod"));
                }
                let ns = match field(op, "namespace") {
                    None => format!("namespace-{k}"),
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(_) => {
                        return Err(format!("{what}: `namespace` must be a non-empty string"));
                    }
                };
                let prefix = format!("op{k}-{}", prefix_of(&t, "pod-"));
                let mut objs = Vec::with_capacity(n + 1);
                if namespaces.insert(ns.clone()) {
                    objs.push(namespace_object(&ns));
                }
                // With volume templates, each pod's volumes are the claim
                // upstream's harness gives it, so each pod is its own.
                let per_index = match (&volumes, per_index) {
                    (Some(_), per_index) => Some(
                        (0..n)
                            .map(|i| {
                                let t = per_index.as_ref().map_or(&t, |all| &all[i]);
                                with_claim_volume(t.clone(), i)
                            })
                            .collect::<Vec<_>>(),
                    ),
                    (None, per_index) => per_index,
                };
                // When the operation starts (its pods may come later).
                let op_start = at;
                if let Some(v) = &volumes {
                    // Upstream creates each pod's claim, then its volume,
                    // then the pod, one after the other. The objects of
                    // one action are sent at once and may reach the
                    // apiserver in any order: the claims and volumes (in
                    // upstream's order) come first, in an action of their
                    // own, and the pods `VOLUME_LEAD` later, once the
                    // scheduler has them, as upstream's scheduler has a
                    // pod's claim before the pod.
                    let mut volume_objs = std::mem::take(&mut objs);
                    volume_objs.reserve(2 * n);
                    for i in 0..n {
                        volume_objs.extend(v.objects(&ns, i));
                    }
                    actions.push(Action {
                        at,
                        place: format!("<{case_name} operation {k} volumes>"),
                        op: ActionOp::Apply(volume_objs),
                    });
                    at += VOLUME_LEAD;
                }
                match &per_index {
                    Some(all) => objs.extend(
                        all.iter()
                            .enumerate()
                            .map(|(i, t)| instance(t, &prefix, i, &ns)),
                    ),
                    None => objs.extend((0..n).map(|i| instance(&t, &prefix, i, &ns))),
                }
                created.push((ns.clone(), prefix.clone(), n, t.clone(), per_index.clone()));
                actions.push(Action {
                    at,
                    place: format!("<{case_name} operation {k}>"),
                    op: ActionOp::Apply(objs),
                });
                let collect = bool_field(op, "collectMetrics", &what)?;
                let skip_wait = bool_field(op, "skipWaitToCompletion", &what)?;
                if collect && skip_wait {
                    // As upstream's createPodsOp.isValid.
                    return Err(format!(
                        "{what}: collectMetrics and skipWaitToCompletion cannot be true at the same time"
                    ));
                }
                if collect && let Some(w) = &window {
                    // As upstream, which has one collector at a time.
                    return Err(format!(
                        "{what}: collectMetrics while the window operation {} opened is open: \
                         metrics collection is overlapping",
                        w.op
                    ));
                }
                // In an open window, the pods of its namespaces that its
                // selector matches are measured.
                let picks = |t: &Object| {
                    window.as_ref().is_some_and(|w| {
                        w.namespaces.contains(&ns) && selects(&w.selector, &t.meta().labels)
                    })
                };
                let in_window = picks(&t);
                if let Some(all) = &per_index
                    && all.iter().any(|t| picks(t) != in_window)
                {
                    return Err(format!(
                        "{what}: the open window's labelSelector picks some of this operation's \
                         pods and not others (their template's labels vary by index): not supported"
                    ));
                }
                if collect {
                    measure_from.get_or_insert(op_start);
                }
                if collect || in_window {
                    measured_prefixes.push(prefix.clone());
                    measured += n;
                }
                if in_window && let Some(w) = &mut window {
                    w.measured += n;
                }
                pod_ops.push((k, prefix, collect || in_window));
                pods += n;
                let phase = (n as u64 * PHASE_GAP_PER_POD).max(PHASE_MIN);
                if skip_wait {
                    // The next operation starts at once; a barrier waits
                    // for these pods.
                    owed = owed.max(at + phase);
                    pending += n as u64;
                } else {
                    at += phase;
                }
            }
            "updateAny" => {
                check_fields(
                    op,
                    &[
                        "opcode",
                        "namespace",
                        "templatePath",
                        "count",
                        "countParam",
                        "updatePerSecond",
                        "subresources",
                    ],
                    &what,
                )?;
                let rel = match str_field(op, "templatePath") {
                    Some(rel) if !rel.is_empty() => rel,
                    _ => return Err(format!("{what}: needs a `templatePath`")),
                };
                // One object unless `count` or `countParam` says otherwise.
                let n = if field(op, "count").is_some() || field(op, "countParam").is_some() {
                    count(op, &params, &what)?
                } else {
                    1
                };
                let rate = uint_field(op, "updatePerSecond", &what)?.unwrap_or(0);
                // Only a Pod's `resize` subresource is modelled.
                let resize = match field(op, "subresources") {
                    None => false,
                    Some(Value::Sequence(list)) if list.is_empty() => false,
                    Some(Value::Sequence(list)) => {
                        let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                        if names.len() != list.len() {
                            return Err(format!(
                                "{what}: `subresources` must be a list of strings"
                            ));
                        }
                        if names != ["resize"] {
                            return Err(format!(
                                "{what}: template {rel}: `subresources: [{}]` is not supported: \
                                 the one subresource modelled is a Pod's `resize`",
                                names.join(", ")
                            ));
                        }
                        true
                    }
                    Some(_) => {
                        return Err(format!("{what}: `subresources` must be a list of strings"));
                    }
                };
                let namespace = match field(op, "namespace") {
                    None => None,
                    Some(Value::String(ns)) if !ns.is_empty() => Some(ns.clone()),
                    Some(_) => {
                        return Err(format!("{what}: `namespace` must be a non-empty string"));
                    }
                };
                let path = base.join(rel);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{what}: template {}: {e}", path.display()))?;
                // At `updatePerSecond`, each on a tick of upstream's ticker
                // (the first one interval in); all at once when 0.
                let gap = SECOND.checked_div(rate).map_or(0, |g| g.max(1));
                let mut updates = Vec::with_capacity(n);
                for i in 0..n {
                    let rendered = render(&text, &path, i, n)?;
                    let m: Manifest = template_manifest(&rendered, false).map_err(|e| {
                        format!(
                            "{what}: template {} (rendered for index {i}): {e}",
                            path.display()
                        )
                    })?;
                    let t = at + (i as u64 + u64::from(gap > 0)) * gap;
                    let place = format!("<{case_name} operation {k} update {i}>");
                    let node = match m.object {
                        Some(Object::Node(_)) if resize => {
                            return Err(format!(
                                "{what}: template {rel} is a Node: `subresources: [resize]` \
                                 resizes a Pod"
                            ));
                        }
                        Some(Object::Node(node)) => node,
                        Some(Object::Pod(pod)) => {
                            let target = PodTarget {
                                what: &what,
                                rel,
                                index: i,
                                namespace: namespace.as_deref(),
                                resize,
                                scheduling_only: opts.scheduling_only,
                            };
                            let op = pod_update_action(&target, pod, &created, &mut updated_pods)?;
                            actions.push(Action { at: t, place, op });
                            continue;
                        }
                        Some(o) => {
                            return Err(format!(
                                "{what}: template {rel} is a {}: updateAny of a {} is not \
                                 supported (only of Nodes and Pods)",
                                o.kind(),
                                o.kind()
                            ));
                        }
                        None => {
                            return Err(format!(
                                "{what}: template {rel}: kind `{}` is not one the simulator \
                                 models",
                                m.kind
                            ));
                        }
                    };
                    if let Some(ns) = &namespace {
                        // As upstream's check of the object's scope.
                        return Err(format!(
                            "{what}: namespace {ns:?} set for {rel}, but a Node is cluster-scoped"
                        ));
                    }
                    let name = node.metadata.name.to_string();
                    match node_ops.get(&name) {
                        Some(_) => {
                            // The Update and the UpdateStatus, each a
                            // no-op unless it changes the node.
                            for place in [place.clone(), format!("{place} status")] {
                                actions.push(Action {
                                    at: t,
                                    place,
                                    op: ActionOp::Apply(Vec::new()),
                                });
                            }
                            updates.push(NodeUpdate {
                                index: i,
                                place,
                                node,
                            });
                        }
                        None if name.is_empty() => {
                            return Err(format!(
                                "{what}: template {rel} (rendered for index {i}) names no \
                                 object: upstream updates the object metadata.name names"
                            ));
                        }
                        None => {
                            // Upstream's update fails: the object is not found.
                            return Err(format!(
                                "{what}: template {rel} (rendered for index {i}) names node \
                                 `{name}`, which no earlier createNodes operation made (updateAny \
                                 updates those alone; upstream's update of a node that does not \
                                 exist fails with NotFound)"
                            ));
                        }
                    }
                }
                if !updates.is_empty() {
                    node_updates.push(NodeUpdates {
                        what: what.clone(),
                        rel: rel.to_string(),
                        updates,
                    });
                } else if n > 0 {
                    // Pods: upstream's UpdateStatus after each Update (or
                    // resize) writes the template's status, which is empty.
                    notes.push(format!(
                        "{what}: upstream follows each pod's update with a status update that \
                         writes the template's (empty) status; not modelled: the pods keep \
                         their status"
                    ));
                }
                // Upstream's operation returns after its last update; the
                // pods waiting then have a phase's time before a barrier
                // passes, as after a later createNodes.
                at += n as u64 * gap;
                owed = owed.max(at + (pending * PHASE_GAP_PER_POD).max(PHASE_MIN));
            }
            "churn" => {
                check_fields(
                    op,
                    &[
                        "opcode",
                        "mode",
                        "number",
                        "templatePaths",
                        "intervalMilliseconds",
                        "namespace",
                    ],
                    &what,
                )?;
                // Upstream's: `namespace`, else `namespace-N` for operation
                // N, created unless it exists.
                let ns = match field(op, "namespace") {
                    None => format!("namespace-{k}"),
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(_) => {
                        return Err(format!("{what}: `namespace` must be a non-empty string"));
                    }
                };
                if namespaces.insert(ns.clone()) {
                    actions.push(Action {
                        at,
                        place: format!("<{case_name} operation {k}>"),
                        op: ActionOp::Apply(vec![namespace_object(&ns)]),
                    });
                }
                churns.push((at, k, ns, op));
            }
            "deletePods" => {
                check_fields(
                    op,
                    &[
                        "opcode",
                        "namespace",
                        "labelSelector",
                        "deletePodsPerSecond",
                        "skipWaitToCompletion",
                    ],
                    &what,
                )?;
                let ns = match str_field(op, "namespace") {
                    Some(ns) if !ns.is_empty() => ns.to_string(),
                    _ => return Err(format!("{what}: needs a `namespace` string")),
                };
                let selector = label_selector(op, &what)?;
                let rate = uint_field(op, "deletePodsPerSecond", &what)?.unwrap_or(0);
                // The pods earlier operations created in the namespace whose
                // template's labels the selector matches, in an arbitrary
                // order (upstream lists them from its informer's map).
                let mut names = Vec::new();
                for (pod_ns, prefix, count, t, per_index) in &created {
                    if *pod_ns != ns {
                        continue;
                    }
                    let picked = |i: usize| {
                        let t = per_index.as_ref().map_or(t, |all| &all[i]);
                        selects(&selector, &t.meta().labels)
                    };
                    names.extend(
                        (0..*count)
                            .filter(|&i| picked(i))
                            .map(|i| format!("{prefix}{i}")),
                    );
                }
                for i in (1..names.len()).rev() {
                    let j = (lister_order.next_u64() % (i as u64 + 1)) as usize;
                    names.swap(i, j);
                }
                // At `deletePodsPerSecond`, each on a tick of upstream's
                // ticker (the first one interval in); all at once when 0.
                let gap = SECOND.checked_div(rate).unwrap_or(0);
                let n = names.len() as u64;
                for (i, name) in names.into_iter().enumerate() {
                    actions.push(Action {
                        at: at + (i as u64 + u64::from(gap > 0)) * gap,
                        place: format!("<{case_name} operation {k}>"),
                        op: ActionOp::Delete {
                            kind: Kind::Pod,
                            namespace: ns.clone(),
                            name,
                        },
                    });
                }
                // Without `skipWaitToCompletion` the next operation waits
                // for the deletes to be sent (upstream waits for the pods
                // to be gone, which a pod bound to a node without a kubelet
                // never is).
                if !bool_field(op, "skipWaitToCompletion", &what)? {
                    at += n * gap;
                }
                // (Upstream then waits for the pods to be gone.)
            }
            "barrier" => {
                check_fields(
                    op,
                    &["opcode", "namespaces", "labelSelector", "stageRequirement"],
                    &what,
                )?;
                // Upstream waits for the matching pods alone; the time
                // owed is all the earlier pods', which covers them.
                label_selector(op, &what)?;
                at = at.max(owed);
                // Scheduled (upstream's default) or Attempted (gated pods
                // count as attempted): the next phase starts at its own
                // time either way (see `PHASE_GAP_PER_POD`).
                match field(op, "stageRequirement") {
                    // Upstream forgets the pods it waited for.
                    None => pending = 0,
                    Some(Value::String(s)) if s == "Scheduled" => pending = 0,
                    Some(Value::String(s)) if s == "Attempted" => {}
                    Some(v) => {
                        return Err(format!(
                            "{what}: `stageRequirement` must be `Scheduled` or `Attempted`, got {}",
                            serde_yaml::to_string(v).unwrap_or_default().trim()
                        ));
                    }
                }
            }
            "startCollectingMetrics" => {
                let w = start_window(op, k, &what)?;
                if let Some(open) = &window {
                    return Err(format!(
                        "{what}: the window operation {} opened is still open: metrics \
                         collection is overlapping (upstream has one collector at a time)",
                        open.op
                    ));
                }
                measure_from.get_or_insert(at);
                window = Some(w);
            }
            "stopCollectingMetrics" => {
                check_fields(op, &["opcode"], &what)?;
                let Some(closed) = window.take() else {
                    return Err(format!(
                        "{what}: missing startCollectingMetrics operation before stopping"
                    ));
                };
                if closed.measured == 0 {
                    // Upstream counts any pod of those namespaces bound
                    // while the window is open; here only the pods of
                    // `createPods` operations inside it.
                    return Err(format!(
                        "{what}: the window operation {} opened measures no pod: no createPods \
                         operation inside it makes pods in its namespaces that its labelSelector \
                         matches",
                        closed.op
                    ));
                }
            }
            other => {
                return Err(format!(
                    "{what}: operation {other:?} is not supported (createNodes, createNamespaces, createPods, createPodSets, createAny, updateAny, deletePods, churn, barrier, startCollectingMetrics, stopCollectingMetrics are)"
                ));
            }
        }
    }
    if let Some(w) = window {
        // Upstream's collector would run to the end and report nothing.
        return Err(format!(
            "{case_name} operation {} (startCollectingMetrics): no stopCollectingMetrics \
             after it; upstream would measure nothing for this window",
            w.op
        ));
    }
    for (start, k, namespace, op) in churns {
        let what = format!("{case_name} operation {k} (churn)");
        // Upstream's ticker: 500 ms unless a non-zero interval is given.
        // A run has at least one tick, so an interval is bounded: a day of
        // virtual time is already far past any workload's end.
        const MAX_INTERVAL_MS: u64 = 86_400_000;
        let interval_ms = uint_field(op, "intervalMilliseconds", &what)?
            .filter(|&ms| ms != 0)
            .unwrap_or(500);
        if interval_ms > MAX_INTERVAL_MS {
            return Err(format!(
                "{what}: `intervalMilliseconds` is {interval_ms}; at most {MAX_INTERVAL_MS} (one day) \
                 is supported, as the churn ticks at least once"
            ));
        }
        let interval = interval_ms * (SECOND / 1000);
        let recreate = match str_field(op, "mode").unwrap_or("create") {
            "create" => false,
            "recreate" => true,
            m => {
                return Err(format!(
                    "{what}: mode {m:?} is not supported (create, recreate)"
                ));
            }
        };
        let number = uint_field(op, "number", &what)?.unwrap_or(0) as usize;
        if recreate && number == 0 {
            return Err(format!("{what}: mode recreate needs a positive `number`"));
        }
        let mut templates = Vec::new();
        for p in field(op, "templatePaths")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let t = object_template(base, p, false)?;
            if !matches!(t.kind(), Kind::Pod | Kind::Service | Kind::Node) {
                return Err(format!(
                    "{what}: template {p}: only Pods, Services and Nodes churn"
                ));
            }
            templates.push(t);
        }
        let churn = Churn {
            k,
            namespace,
            recreate,
            number,
            interval: interval.max(1),
            start,
            end: at.max(start.saturating_add(interval)),
        };
        actions.extend(churn.actions(&templates, &what));
    }
    if !initial_csi_nodes.is_empty() {
        // First of the actions at time 0 (the sort is stable): the
        // scheduler has them before the first pods.
        actions.insert(
            0,
            Action {
                at: 0,
                place: format!("<{case_name} CSINodes>"),
                op: ActionOp::Apply(initial_csi_nodes),
            },
        );
    }
    actions.sort_by_key(|a| a.at);

    let yaml = format!(
        "name: {case_name}-{workload_name}\nseed: {seed}\ncluster:\n  nodeGroups:\n{groups}images:\n  registry.k8s.io/pause:3.10: 300Ki\n",
        workload_name = workload_name.replace('/', "-"),
    );
    let mut s = scenario::load_str(&yaml, Path::new("<scheduler-perf>"))
        .map_err(|e| format!("{selector}: the cluster built from the config: {e}"))?;
    s.actions = actions;
    s.queueing_hints = queueing_hints(case, workload);
    if let Some(on) = opts.queueing_hints
        && on != s.queueing_hints
    {
        notes.push(format!(
            "--feature-gates SchedulerQueueingHints={on} overrides the configuration's {}",
            s.queueing_hints
        ));
    }
    for (generated, group, labeling) in &labelings {
        // Node `i` of the operation by the name its group gave it; the
        // label's value is made from the name it has as the operation's
        // node `i` of one group.
        let index: BTreeMap<&str, usize> = generated
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect();
        for node in &mut s.nodes {
            let Some(&i) = index.get(&*node.metadata.name) else {
                continue;
            };
            let (key, value) = labeling.value(i, &format!("{group}-{i}"));
            std::sync::Arc::make_mut(&mut node.metadata.labels).insert(key, value);
        }
    }
    for (generated, named) in &renames {
        if s.nodes.iter().any(|n| *n.metadata.name == **named) {
            return Err(format!(
                "{selector}: two nodes would be named `{named}` (upstream's second create \
                 would fail with AlreadyExists)"
            ));
        }
        let node = s
            .nodes
            .iter_mut()
            .find(|n| *n.metadata.name == **generated)
            .expect("the group's first node");
        node.metadata.name = named.as_str().into();
        let labels = std::sync::Arc::make_mut(&mut node.metadata.labels);
        // The hostname label the generated name gave it follows the name,
        // as a scenario's own nodes get theirs.
        if labels.get("kubernetes.io/hostname") == Some(generated) {
            labels.insert("kubernetes.io/hostname".into(), named.clone());
        }
    }
    // What each `updateAny` changes, against the nodes as built (renamed,
    // labelled) and as earlier updates left them.
    let mut current: BTreeMap<String, crate::api::Node> = s
        .nodes
        .iter()
        .map(|n| (n.metadata.name.to_string(), n.clone()))
        .collect();
    let mut update_ops: BTreeMap<String, ActionOp> = BTreeMap::new();
    for u in &node_updates {
        for (place, op) in node_update_actions(u, &mut current, opts.scheduling_only)? {
            update_ops.insert(place, op);
        }
        if u.updates.iter().any(|n| {
            !n.node
                .metadata
                .labels
                .contains_key("kubernetes.io/hostname")
        }) {
            notes.push(format!(
                "{}: upstream's update replaces the node's labels with the template's, dropping \
                 the kubernetes.io/hostname label createNodes gave it; kubesim's node keeps it",
                u.what
            ));
        }
    }
    for a in &mut s.actions {
        if let Some(op) = update_ops.remove(&a.place) {
            a.op = op;
        }
    }
    let node_labels = s
        .nodes
        .iter()
        .map(|n| (n.metadata.name.to_string(), (*n.metadata.labels).clone()))
        .collect::<BTreeMap<_, _>>();
    // The nodes of later `createNodes` operations come at the operation's
    // time: with upstream's setup (`--scheduling-only`) as API objects, as
    // upstream's (no kubelet runs for any node there); through the whole
    // simulator as machines joining (`addNodes`), whose kubelets register
    // them and keep them alive, as the cluster's other nodes.
    for (k, names) in &later_nodes {
        let names: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let of_group = |name: &str| names.contains(name);
        let place = format!("<{case_name} operation {k}>");
        let action = s
            .actions
            .iter_mut()
            .find(|a| a.place == place)
            .expect("the operation's action");
        let mut kept = Vec::with_capacity(s.nodes.len());
        let mut created = Vec::new();
        let mut joining = Vec::new();
        for mut node in std::mem::take(&mut s.nodes) {
            if !of_group(&node.metadata.name) {
                kept.push(node);
            } else if opts.scheduling_only {
                node.status.ready = Some(crate::api::node::NodeReady {
                    status: "True",
                    reason: "KubeletReady".into(),
                    last_transition: action.at,
                });
                created.push(Object::Node(node));
            } else {
                joining.push(node);
            }
        }
        s.nodes = kept;
        action.op = if opts.scheduling_only {
            ActionOp::Apply(created)
        } else {
            ActionOp::AddNodes(joining)
        };
    }
    let from = measure_from.unwrap_or(0);
    let opts = RunOptions {
        wall_marks: Some((from, crate::bench::WALL_MARK_STEP)),
        profiles: case_profiles.or_else(|| opts.profiles.clone()),
        // Upstream's test sets its scheduler's client up itself, whatever
        // the scheduler configuration says.
        scheduler_client: opts.scheduler_client.or(Some(client)),
        no_volume_controllers: true,
        ..opts.clone()
    };
    let started = Instant::now();
    let outcome = match out {
        None => simulate_discarding(&s, seed, &opts, None),
        Some(dir) => crate::sim::run::run_to_dir_with(&s, seed, dir, &opts).map_err(|e| {
            format!(
                "{selector}: writing the outputs into {}: {e}",
                dir.display()
            )
        })?,
    };
    let wall_s = started.elapsed().as_secs_f64();
    // As upstream's updateAny, which fails the test on an update's error.
    let refused = &outcome.recorder.counters.pod_update_errors;
    if let Some(first) = refused.first() {
        return Err(format!(
            "{selector}: {} pod update(s) of updateAny refused by the apiserver in the run, the \
             first: {first} (upstream's test fails on it; the configuration check cannot know \
             where the scheduler binds a pod)",
            refused.len()
        ));
    }
    let recorded = outcome.recorder.pods();
    let is_op_pod = |n: &str| n.starts_with("op");
    let scheduled = recorded
        .iter()
        .filter(|p| is_op_pod(&p.name) && p.bound.is_some())
        .count();
    let binds: Vec<u64> = recorded
        .iter()
        .filter(|p| {
            measured_prefixes
                .iter()
                .any(|m| p.name.starts_with(m.as_str()))
        })
        .filter_map(|p| p.bound)
        .collect();
    let last = binds.iter().copied().max().unwrap_or(from);
    let placements = recorded
        .iter()
        .filter_map(|p| {
            let (op, _, measured) = pod_ops
                .iter()
                .find(|(_, prefix, _)| p.name.starts_with(prefix.as_str()))?;
            Some(Placement {
                op: *op,
                measured: *measured,
                namespace: p.namespace.to_string(),
                name: p.name.to_string(),
                node: (p.bound.is_some() && !p.node.is_empty()).then(|| p.node.clone()),
                deleted: p.deleted,
            })
        })
        .collect();
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
        measured_bound: binds.len(),
        measured_wall_s: crate::bench::wall_between(&outcome.wall_marks, from, last),
        placements,
        node_labels,
        notes,
    })
}

/// The SchedulerQueueingHints gate the test case or workload sets (the
/// workload's value wins), default on as upstream's.
/// The scheduler's API client limits, as upstream's scheduler_perf sets
/// its scheduler's client up: the workload's `schedulerApiClientQPS` and
/// `schedulerApiClientBurst`, else the test case's, else 5000 each.
fn scheduler_client(
    case: &Value,
    workload: &Value,
    what: &str,
) -> Result<crate::scheduler::ClientConnection, String> {
    let mut c = crate::scheduler::ClientConnection::SCHEDULER_PERF;
    let pick = |k: &str| field(workload, k).or_else(|| field(case, k));
    if let Some(v) = pick("schedulerApiClientQPS") {
        c.qps = v
            .as_f64()
            .filter(|q| q.is_finite() && *q > 0.0)
            .ok_or_else(|| {
                format!("{what}: `schedulerApiClientQPS` must be a positive number, got {v:?}")
            })?;
    }
    if let Some(v) = pick("schedulerApiClientBurst") {
        c.burst = v
            .as_u64()
            .and_then(|b| u32::try_from(b).ok())
            .filter(|b| *b > 0)
            .ok_or_else(|| {
                format!("{what}: `schedulerApiClientBurst` must be a positive integer, got {v:?}")
            })?;
    }
    Ok(c)
}

fn queueing_hints(case: &Value, workload: &Value) -> bool {
    let mut on = true;
    for v in [case, workload] {
        if let Some(b) = field(v, "featureGates")
            .and_then(|g| field(g, "SchedulerQueueingHints"))
            .and_then(gate_value)
        {
            on = b;
        }
    }
    on
}

/// A feature gate's value: true or false, as a YAML boolean or string.
fn gate_value(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A note for each feature gate the test case or workload sets (the
/// workload's value wins), except SchedulerQueueingHints, which the
/// scheduler's queue honours: the others change nothing the simulator does.
fn feature_gate_notes(case: &Value, workload: &Value) -> Vec<String> {
    let mut gates = BTreeMap::new();
    for v in [case, workload] {
        if let Some(m) = field(v, "featureGates").and_then(Value::as_mapping) {
            for (k, v) in m {
                if let Some(k) = k.as_str() {
                    let v = match v {
                        Value::Bool(b) => b.to_string(),
                        Value::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    gates.insert(k.to_string(), v);
                }
            }
        }
    }
    gates
        .into_iter()
        .filter_map(|(k, v)| match (k.as_str(), v.as_str()) {
            ("SchedulerQueueingHints", "true" | "false") => None,
            ("SchedulerQueueingHints", _) => Some(format!(
                "feature gate SchedulerQueueingHints={v} is not true or false: it is ignored"
            )),
            _ => Some(format!(
                "feature gate {k}={v} is ignored: kubesim has no feature gates"
            )),
        })
        .collect()
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

    /// Upstream's ticker: recreate mode deletes what a slot holds or
    /// creates into an empty one; create mode stops after `number` ticks.
    #[test]
    fn churn_ticks_follow_upstream_modes() {
        let summary = |recreate: bool, number: usize| {
            let churn = Churn {
                k: 3,
                namespace: "namespace-3".into(),
                recreate,
                number,
                interval: SECOND,
                start: 10 * SECOND,
                end: 16 * SECOND,
            };
            let mut node = crate::api::Node::default();
            node.metadata.generate_name = "node-churn-".into();
            let templates = [default_pod(), Object::Node(node)];
            churn
                .actions(&templates, "p")
                .iter()
                .map(|a| {
                    let what = match &a.op {
                        ActionOp::Apply(o) => {
                            let m = o[0].meta();
                            format!("+{}/{}", m.namespace, m.name)
                        }
                        ActionOp::Delete {
                            namespace, name, ..
                        } => format!("-{namespace}/{name}"),
                        _ => unreachable!(),
                    };
                    format!("{} {what}", a.at / SECOND)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            summary(true, 2),
            [
                "11 +namespace-3/churn3-0-0",
                "11 +/churn3-1-0",
                "12 +namespace-3/churn3-0-1",
                "12 +/churn3-1-1",
                "13 -namespace-3/churn3-0-0",
                "13 -/churn3-1-0",
                "14 -namespace-3/churn3-0-1",
                "14 -/churn3-1-1",
                "15 +namespace-3/churn3-0-4",
                "15 +/churn3-1-4",
                "16 +namespace-3/churn3-0-5",
                "16 +/churn3-1-5",
            ]
        );
        let created = summary(false, 2);
        assert_eq!(created.len(), 4);
        assert_eq!(created[3], "12 +/churn3-1-1");
        assert_eq!(summary(false, 0).len(), 12);
        // Slots beyond the ticks are never visited, nor allocated.
        let held = summary(true, usize::MAX);
        assert_eq!(held.len(), 12);
        assert!(held.iter().all(|a| a.contains(" +")), "{held:?}");
    }

    /// The workload's gates override the case's; SchedulerQueueingHints,
    /// which the queue honours, needs no note unless it is no boolean.
    #[test]
    fn feature_gates_are_noted_as_not_modelled() {
        let yaml = |t: &str| serde_yaml::from_str::<Value>(t).unwrap();
        let case = yaml("featureGates: {SchedulerQueueingHints: true, Foo: false}");
        let off = yaml("featureGates: {SchedulerQueueingHints: false}");
        assert_eq!(
            feature_gate_notes(&case, &off),
            ["feature gate Foo=false is ignored: kubesim has no feature gates"]
        );
        assert_eq!(feature_gate_notes(&case, &yaml("name: w")).len(), 1);
        assert!(feature_gate_notes(&yaml("name: c"), &off).is_empty());
        let odd = yaml("featureGates: {SchedulerQueueingHints: maybe}");
        assert_eq!(
            feature_gate_notes(&odd, &yaml("name: w")),
            ["feature gate SchedulerQueueingHints=maybe is not true or false: it is ignored"]
        );
        assert!(!queueing_hints(&off, &odd));
        let quoted = yaml("featureGates: {SchedulerQueueingHints: 'false'}");
        assert!(!queueing_hints(&case, &quoted));
        assert!(feature_gate_notes(&quoted, &yaml("name: w")).is_empty());
        assert!(queueing_hints(&case, &yaml("name: w")));
        assert!(!queueing_hints(&case, &off));
        assert!(!queueing_hints(&off, &yaml("name: w")));
        assert!(queueing_hints(&yaml("name: c"), &yaml("name: w")));
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

    /// Writes `config` (and the bundled templates beside it) to a scratch
    /// directory and returns the configuration's path.
    fn scratch_config(name: &str, config: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kubesim-schedperf-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        let bundled = example().parent().unwrap().join("templates");
        for e in std::fs::read_dir(bundled).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join("templates").join(e.file_name())).unwrap();
        }
        let path = dir.join("config.yaml");
        std::fs::write(&path, config).unwrap();
        path
    }

    #[test]
    fn label_values_go_round_robin_over_the_operations_nodes() {
        let path = scratch_config(
            "round-robin",
            "- name: C\n  workloadTemplate:\n  - opcode: createNodes\n    count: 2\n  - opcode: createNodes\n    count: 7\n    labelNodePrepareStrategy: {labelKey: zone, labelValues: [a, b, c]}\n  - opcode: createNodes\n    count: 2\n    uniqueNodeLabelStrategy: {labelKey: u}\n  - opcode: createPods\n    count: 3\n  workloads:\n  - name: w\n    params: {}\n",
        );
        let r = run(&path, "C/w", 1, &RunOptions::default()).unwrap();
        let zone = |n: &str| r.node_labels[n].get("zone").cloned();
        assert_eq!(zone("node-0-0"), None);
        let zones: Vec<_> = (0..7)
            .map(|i| zone(&format!("node-1-{i}")).unwrap())
            .collect();
        assert_eq!(zones, ["a", "b", "c", "a", "b", "c", "a"]);
        assert_eq!(r.node_labels["node-2-0"]["u"], "node-2-0");
        assert_eq!(r.node_labels["node-2-1"]["u"], "node-2-1");
        assert!(!r.node_labels["node-1-0"].contains_key("u"));
        // Pods without `namespace` go to `namespace-N`, as upstream's.
        assert_eq!(r.placements.len(), 3);
        assert!(r.placements.iter().all(|p| p.namespace == "namespace-3"));
        assert!(r.placements.iter().all(|p| p.node.is_some() && p.op == 3));
    }

    #[test]
    fn unsupported_fields_and_bad_strategies_are_named() {
        let case = |ops: &str| {
            format!(
                "- name: C\n  workloadTemplate:\n{ops}  workloads:\n  - name: w\n    params: {{n: 1}}\n"
            )
        };
        for (ops, wanted) in [
            (
                "  - {opcode: createNodes, count: 1, nodeAllocatableStrategy: {zones: 1}}\n",
                "C operation 0 (createNodes) `nodeAllocatableStrategy`: field `zones` is not supported",
            ),
            (
                "  - {opcode: createNodes, count: 1, nodeAllocatableStrategy: {csiNodeAllocatable: {d: {count: -1}}}}\n",
                "`csiNodeAllocatable` d: `count` must be an integer from 0",
            ),
            (
                "  - {opcode: createNodes, count: 1, nodeAllocatableStrategy: {csiNodeAllocatable: {d: {count: 1, max: 2}}}}\n",
                "`csiNodeAllocatable` d: field `max` is not supported",
            ),
            (
                "  - {opcode: createNodes, count: 1, nodeAllocatableStrategy: {nodeAllocatable: {cpu: lots}}}\n",
                "`nodeAllocatable`: cpu: \"lots\" is not a quantity",
            ),
            (
                "  - {opcode: createNodes, count: 1, nodeAllocatableStrategy: {migratedPlugins: a}}\n",
                "`migratedPlugins` must be a list of plugin names",
            ),
            (
                "  - {opcode: createNodes, count: 1, nodeAllocatableStrategy: {}, uniqueNodeLabelStrategy: {labelKey: u}}\n",
                "`nodeAllocatableStrategy` and a label strategy together",
            ),
            (
                "  - {opcode: createPods, count: 1, steadyState: true}\n",
                "C operation 0 (createPods): field `steadyState` is not supported",
            ),
            (
                "  - {opcode: createPods, count: 1, persistentVolumeClaimTemplatePath: templates/pvc.yaml}\n",
                "C operation 0 (createPods): `persistentVolumeClaimTemplatePath` without `persistentVolumeTemplatePath`",
            ),
            (
                "  - {opcode: createPods, count: 1, persistentVolumeTemplatePath: templates/pv-csi.yaml}\n",
                "C operation 0 (createPods): `persistentVolumeTemplatePath` without `persistentVolumeClaimTemplatePath`",
            ),
            (
                "  - {opcode: createPods, count: 1, persistentVolumeTemplatePath: templates/pvc.yaml, persistentVolumeClaimTemplatePath: templates/pvc.yaml}\n",
                "persistentVolumeTemplatePath templates/pvc.yaml: a PersistentVolumeClaim, not a PersistentVolume",
            ),
            (
                "  - {opcode: createPods, count: 1, persistentVolumeTemplatePath: templates/pv-csi.yaml, persistentVolumeClaimTemplatePath: templates/pv-csi.yaml}\n",
                "persistentVolumeClaimTemplatePath templates/pv-csi.yaml: a PersistentVolume, not a PersistentVolumeClaim",
            ),
            (
                "  - {opcode: createPods, count: 1, collectMetrics: true, skipWaitToCompletion: true}\n",
                "C operation 0 (createPods): collectMetrics and skipWaitToCompletion cannot be true",
            ),
            (
                "  - {opcode: churn, namespace: '', templatePaths: [templates/churn-pod.yaml]}\n",
                "C operation 0 (churn): `namespace` must be a non-empty string",
            ),
            (
                "  - {opcode: createPods, count: -3}\n",
                "C operation 0 (createPods): `count` must be a non-negative integer",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: churn, mode: recreate, number: -2, templatePaths: [templates/churn-pod.yaml]}\n",
                "C operation 1 (churn): `number` must be a non-negative integer",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: churn, intervalMilliseconds: 0.5, templatePaths: [templates/churn-pod.yaml]}\n",
                "C operation 1 (churn): `intervalMilliseconds` must be a non-negative integer",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: churn, intervalMilliseconds: 18446744073709551615, templatePaths: [templates/churn-pod.yaml]}\n",
                "C operation 1 (churn): `intervalMilliseconds` is 18446744073709551615; at most 86400000 (one day)",
            ),
            (
                "  - {opcode: createNamespaces, prefix: p, count: 1, namespaceLabels: x}\n",
                "C operation 0 (createNamespaces): field `namespaceLabels`",
            ),
            (
                "  - {opcode: createPodSets, count: 2, namespacePrefix: s, createPodsOp: {opcode: createNodes, count: 1}}\n",
                "C operation 0 (createPodSets): needs a `createPodsOp` with `opcode: createPods`",
            ),
            (
                "  - {opcode: createPodSets, count: 2, createPodsOp: {opcode: createPods, count: 1}}\n",
                "needs a `namespacePrefix` string",
            ),
            (
                "  - {opcode: createNamespaces, count: 1}\n",
                "C operation 0 (createNamespaces): needs a `prefix`",
            ),
            (
                "  - {opcode: createNodes, count: 1, labelNodePrepareStrategy: {labelKey: z, labelValues: []}}\n",
                "`labelValues` is empty",
            ),
            (
                "  - {opcode: createNodes, count: 1, labelNodePrepareStrategy: {labelValues: [a]}}\n",
                "needs a `labelKey`",
            ),
            (
                "  - {opcode: createNodes, count: 1, labelNodePrepareStrategy: {labelKey: z, labelValues: [a], extra: 1}}\n",
                "field `extra` is not supported",
            ),
            (
                "  - {opcode: createNodes, count: 1, labelNodePrepareStrategy: {labelKey: z, labelValues: [a]}, uniqueNodeLabelStrategy: {labelKey: u}}\n",
                "together",
            ),
            (
                "  - {opcode: createPods, count: 1, namespace: [a]}\n",
                "`namespace` must be a non-empty string",
            ),
            (
                "  - {opcode: sleep, duration: 1s}\n",
                "operation \"sleep\" is not supported",
            ),
            (
                "  - {opcode: startCollectingMetrics, namespaces: []}\n",
                "C operation 0 (startCollectingMetrics): `namespaces` cannot be empty",
            ),
            (
                "  - {opcode: startCollectingMetrics, name: x}\n",
                "C operation 0 (startCollectingMetrics): needs `namespaces`",
            ),
            (
                "  - {opcode: startCollectingMetrics, namespaces: [a], labelSelector: [x]}\n",
                "`labelSelector` must map label keys to string values",
            ),
            (
                "  - {opcode: startCollectingMetrics, namespaces: [a], when: now}\n",
                "field `when` is not supported",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: stopCollectingMetrics}\n",
                "C operation 1 (stopCollectingMetrics): missing startCollectingMetrics operation before stopping",
            ),
            (
                "  - {opcode: startCollectingMetrics, namespaces: [a]}\n  - {opcode: stopCollectingMetrics, name: x}\n",
                "C operation 1 (stopCollectingMetrics): field `name` is not supported",
            ),
            (
                "  - {opcode: startCollectingMetrics, namespaces: [a]}\n  - {opcode: startCollectingMetrics, namespaces: [b]}\n",
                "C operation 1 (startCollectingMetrics): the window operation 0 opened is still open",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: startCollectingMetrics, namespaces: [a]}\n  - {opcode: createPods, count: 1, collectMetrics: true}\n",
                "C operation 2 (createPods): collectMetrics while the window operation 1 opened is open",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: startCollectingMetrics, namespaces: [a]}\n  - {opcode: createPods, count: 1, namespace: a}\n",
                "C operation 1 (startCollectingMetrics): no stopCollectingMetrics after it",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: startCollectingMetrics, namespaces: [a]}\n  - {opcode: createPods, count: 1, namespace: b}\n  - {opcode: stopCollectingMetrics}\n",
                "C operation 3 (stopCollectingMetrics): the window operation 1 opened measures no pod",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 1, collectMetrics: 'true'}\n",
                "C operation 1 (createPods): `collectMetrics` must be true or false",
            ),
            (
                "  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 1, podTemplatePath: [a]}\n",
                "C operation 1 (createPods): `podTemplatePath` must be a string",
            ),
            (
                "  - {opcode: createNodes, count: 1000001}\n",
                "C operation 0 (createNodes): a count of 1000001; at most 1000000 objects per operation",
            ),
            (
                "  - {opcode: barrier, labelSelector: {type: [a]}}\n",
                "C operation 0 (barrier): `labelSelector` must map label keys to string values",
            ),
        ] {
            let path = scratch_config("bad-fields", &case(ops));
            let e = run(&path, "C/w", 1, &RunOptions::default()).unwrap_err();
            assert!(e.contains(wanted), "{ops}: {e}");
        }
        let path = scratch_config(
            "bad-case-field",
            "- name: C\n  schedulerApiClientTimeout: 5\n  workloadTemplate: []\n  workloads: [{name: w}]\n",
        );
        let e = run(&path, "C/w", 1, &RunOptions::default()).unwrap_err();
        assert!(
            e.contains("test case C: field `schedulerApiClientTimeout` is not supported"),
            "{e}"
        );
        for (field, value, wanted) in [
            ("schedulerApiClientQPS", "-5", "a positive number"),
            ("schedulerApiClientBurst", "2.5", "a positive integer"),
        ] {
            let path = scratch_config(
                "bad-client",
                &format!(
                    "- name: C\n  {field}: {value}\n  workloadTemplate: []\n  workloads: [{{name: w}}]\n"
                ),
            );
            let e = run(&path, "C/w", 1, &RunOptions::default()).unwrap_err();
            assert!(
                e.contains(&format!("C/w: `{field}` must be {wanted}")),
                "{e}"
            );
        }
        let path = scratch_config(
            "ignored-fields",
            "- name: C\n  labels: [performance]\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 1, skipWaitToCompletion: true}\n  - {opcode: barrier, namespaces: [a]}\n  workloads:\n  - {name: w, labels: [short], featureGates: {X: true}}\n  - {name: v, thresholdMetricSelector: {}}\n",
        );
        let r = run(&path, "C/w", 1, &RunOptions::default()).unwrap();
        assert_eq!(r.scheduled, 1);
        let e = run(&path, "C/v", 1, &RunOptions::default()).unwrap_err();
        assert!(
            e.contains("C workload v: field `thresholdMetricSelector` is not supported"),
            "{e}"
        );
        // Upstream's opportunistic batching: its size is checked and noted.
        let path = scratch_config(
            "batching",
            "- name: B\n  workloadTemplate:\n  - {opcode: createNodes, count: 2}\n  - {opcode: createPods, count: 3, signatureBatchSizeParam: $size, collectMetrics: true}\n  workloads:\n  - {name: w, params: {size: 10}}\n  - {name: v, params: {other: 10}}\n",
        );
        let r = run(&path, "B/w", 1, &RunOptions::default()).unwrap();
        assert_eq!(r.measured_bound, 3);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("signature batch size 10 ignored")),
            "{:?}",
            r.notes
        );
        let e = run(&path, "B/v", 1, &RunOptions::default()).unwrap_err();
        assert!(
            e.contains("`signatureBatchSizeParam: $size`: the workload has no param `size`"),
            "{e}"
        );
    }

    /// Writes `name` beside the bundled templates of the scratch
    /// configuration at `config`.
    fn scratch_template(config: &Path, name: &str, text: &str) {
        std::fs::write(config.parent().unwrap().join("templates").join(name), text).unwrap();
    }

    /// An explicit window measures the pods created while it is open in
    /// its namespaces whose labels its selector matches, and no others.
    #[test]
    fn a_collecting_window_measures_its_namespaces_matching_pods() {
        let path = scratch_config(
            "window",
            "- name: W\n  workloadTemplate:\n  - {opcode: createNodes, count: 2}\n  - {opcode: createPods, count: 2, namespace: a, podTemplatePath: templates/unsched.yaml}\n  - {opcode: startCollectingMetrics, name: x, namespaces: [a, b], labelSelector: {type: unsched}}\n  - {opcode: createPods, count: 3, namespace: a, podTemplatePath: templates/unsched.yaml, skipWaitToCompletion: true}\n  - {opcode: createPods, count: 4, namespace: b, skipWaitToCompletion: true}\n  - {opcode: createPods, count: 5, namespace: c, podTemplatePath: templates/unsched.yaml}\n  - {opcode: barrier, labelSelector: {type: unsched}}\n  - {opcode: stopCollectingMetrics}\n  - {opcode: createPods, count: 6, namespace: a, podTemplatePath: templates/unsched.yaml}\n  workloads:\n  - {name: w}\n",
        );
        scratch_template(
            &path,
            "unsched.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: u-\n  labels: {type: unsched}\nspec:\n  containers: [{name: c, image: registry.k8s.io/pause:3.10}]\n",
        );
        let r = run(&path, "W/w", 1, &RunOptions::default()).unwrap();
        assert_eq!((r.pods, r.measured, r.measured_bound), (20, 3, 3));
        let measured_ops: BTreeSet<usize> = r
            .placements
            .iter()
            .filter(|p| p.measured)
            .map(|p| p.op)
            .collect();
        assert_eq!(measured_ops, BTreeSet::from([3]));
        assert_eq!(r.scheduled, 20);
    }

    /// A `createNodes` after pods exist adds its nodes at its own time:
    /// pods that fit only there wait for them.
    #[test]
    fn later_nodes_come_at_their_operations_time() {
        let path = scratch_config(
            "later-nodes",
            "- name: N\n  workloadTemplate:\n  - {opcode: startCollectingMetrics, namespaces: [w]}\n  - {opcode: createNodes, count: 1, nodeTemplatePath: templates/cordoned.yaml}\n  - {opcode: createPods, count: 4, namespace: w, skipWaitToCompletion: true}\n  - {opcode: barrier, stageRequirement: Attempted}\n  - {opcode: createNodes, count: 2, labelNodePrepareStrategy: {labelKey: zone, labelValues: [z]}}\n  - {opcode: barrier}\n  - {opcode: stopCollectingMetrics}\n  workloads:\n  - {name: w}\n",
        );
        scratch_template(
            &path,
            "cordoned.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {generateName: cordoned-}\nspec: {unschedulable: true}\n",
        );
        for scheduling_only in [false, true] {
            let opts = RunOptions {
                scheduling_only,
                ..RunOptions::default()
            };
            let r = run(&path, "N/w", 1, &opts).unwrap();
            assert_eq!((r.nodes, r.measured, r.measured_bound), (3, 4, 4));
            assert_eq!(r.node_labels["node-4-1"]["zone"], "z");
            assert!(
                r.placements
                    .iter()
                    .all(|p| p.node.as_deref().is_some_and(|n| n.starts_with("node-4-"))),
                "{:?}",
                r.placements
            );
            // Bound only once the nodes came, after the Attempted barrier's
            // phase (a minute).
            assert!(r.virtual_span_s >= 60.0, "{}", r.virtual_span_s);
        }
    }

    /// Through the whole simulator, the nodes of a later `createNodes` are
    /// machines with kubelets: still Ready, and taking pods, well past the
    /// node lifecycle controller's grace period (50 s) after they came.
    #[test]
    fn later_nodes_stay_ready_through_the_whole_simulator() {
        let path = scratch_config(
            "later-nodes-ready",
            "- name: N\n  workloadTemplate:\n  - {opcode: createNodes, count: 1, nodeTemplatePath: templates/cordoned.yaml}\n  - {opcode: createPods, count: 2, namespace: a, skipWaitToCompletion: true}\n  - {opcode: createNodes, count: 2}\n  - {opcode: barrier}\n  - {opcode: createPods, count: 2, namespace: b}\n  - {opcode: createPods, count: 4, namespace: c, collectMetrics: true}\n  workloads:\n  - {name: w}\n",
        );
        scratch_template(
            &path,
            "cordoned.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {generateName: cordoned-}\nspec: {unschedulable: true}\n",
        );
        let r = run(&path, "N/w", 1, &RunOptions::default()).unwrap();
        assert_eq!((r.measured, r.measured_bound), (4, 4));
        assert!(
            r.placements.iter().all(|p| p.node.is_some()),
            "{:?}",
            r.placements
        );
    }

    /// A test case's `schedulerConfigPath` configures the scheduler, as
    /// upstream starts it: MostAllocated packs the pods on one node where
    /// the default profile spreads them; `--policy` overrides it, noted;
    /// a file that is not there is an error naming it.
    #[test]
    fn a_test_case_scheduler_config_path_configures_the_scheduler() {
        let case = |config: &str| {
            format!(
                "- name: C\n  schedulerConfigPath: {config}\n  workloadTemplate:\n  - {{opcode: createNodes, count: 3}}\n  - {{opcode: createPods, count: 3, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n"
            )
        };
        let path = scratch_config("scheduler-config", &case("most.yaml"));
        std::fs::write(
            path.parent().unwrap().join("most.yaml"),
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {type: MostAllocated}}\n",
        )
        .unwrap();
        let nodes = |r: &PerfResult| -> BTreeSet<String> {
            r.placements.iter().filter_map(|p| p.node.clone()).collect()
        };
        let packed = run(&path, "C/w", 1, &RunOptions::default()).unwrap();
        assert_eq!((packed.measured_bound, nodes(&packed).len()), (3, 1));
        assert!(
            packed
                .notes
                .iter()
                .any(|n| n.contains("schedulerConfigPath most.yaml")),
            "{:?}",
            packed.notes
        );
        let opts = RunOptions {
            profiles: Some(vec![crate::scheduler::profile::Profile::default()]),
            ..RunOptions::default()
        };
        let spread = run(&path, "C/w", 1, &opts).unwrap();
        assert_eq!((spread.measured_bound, nodes(&spread).len()), (3, 3));
        assert!(
            spread
                .notes
                .iter()
                .any(|n| n.contains("--policy overrides")),
            "{:?}",
            spread.notes
        );
        std::fs::write(&path, case("missing.yaml")).unwrap();
        let e = run(&path, "C/w", 1, &RunOptions::default()).unwrap_err();
        assert!(
            e.contains("C: schedulerConfigPath:") && e.contains("missing.yaml"),
            "{e}"
        );
    }

    #[test]
    fn index_and_count_placeholders_are_filled_and_others_named() {
        let p = Path::new("t.yaml");
        assert_eq!(
            render("a-{{ .Index }}-{{.Count}}-{{  .Index}}", p, 3, 5).unwrap(),
            "a-3-5-3"
        );
        let e = render("x: {{ Mod .Index .podsPerGroup }}", p, 0, 1).unwrap_err();
        assert!(
            e.contains("template t.yaml: `{{ Mod .Index .podsPerGroup }}` is not supported"),
            "{e}"
        );
        let e = render("x: {{ .Index", p, 0, 1).unwrap_err();
        assert!(
            e.contains("template t.yaml: a `{{` without its `}}`"),
            "{e}"
        );
        let e = render("x: {{- .Index }}", p, 0, 1).unwrap_err();
        assert!(e.contains("`{{- .Index }}` is not supported"), "{e}");
        // Upstream's integer functions of the index, the count and numbers.
        assert_eq!(
            render(
                "t-{{ div .Index 10 }}/{{div .Count 3}}/{{DivideInt 30000 .Count}}/{{ Mod .Index 12 }}/{{ mod .Index 12 }}/{{AddInt 8000 .Index}}",
                p,
                19,
                7
            )
            .unwrap(),
            "t-1/2/4285/7/7/8019"
        );
        for bad in [
            "{{ div .Index 0 }}",
            "{{ Mod .Index .Count }}",
            "{{ div .Index }}",
            "{{ AddInt 1 (Mod .Index 2) }}",
            "{{ Sub .Index 1 }}",
            "{{ 7 }}",
        ] {
            let e = render(bad, p, 0, 0).unwrap_err();
            assert!(
                e.contains("is not supported") && e.contains("F one of div, DivideInt"),
                "{bad}: {e}"
            );
        }

        // Each pod gets its own rendering: a selector matches one of them.
        let path = scratch_config(
            "placeholders",
            "- name: T\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createPods, count: 3, namespace: a, podTemplatePath: templates/indexed.yaml}\n  - {opcode: deletePods, namespace: a, labelSelector: {color: c-1-of-3}}\n  workloads:\n  - {name: w}\n",
        );
        scratch_template(
            &path,
            "indexed.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: p-\n  labels: {color: c-{{ .Index }}-of-{{ .Count }}}\nspec:\n  containers: [{name: c, image: registry.k8s.io/pause:3.10}]\n",
        );
        let r = run(&path, "T/w", 1, &RunOptions::default()).unwrap();
        let deleted: Vec<&str> = r
            .placements
            .iter()
            .filter(|p| p.deleted.is_some())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(deleted, ["op1-p-1"]);
        // A node template whose renderings differ in more than the name
        // (upstream's SchedulingWithExtendedResource gives node i its own
        // extended resource) makes nodes that differ so: each pod asking
        // for slot i lands on node i. The operation's nodes keep the names
        // one group gives them, and its label strategy reaches them all.
        scratch_template(
            &path,
            "indexed-node.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {generateName: n-{{ .Index }}-, labels: {rack: 'r-{{ div .Index 2 }}'}}\nstatus: {capacity: {example.com/slot-{{ .Index }}: 1}}\n",
        );
        scratch_template(
            &path,
            "slot-pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\nspec:\n  containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {example.com/slot-{{ .Index }}: 1}, limits: {example.com/slot-{{ .Index }}: 1}}}]\n",
        );
        scratch_template(
            &path,
            "rack-pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {generateName: q-}\nspec:\n  nodeSelector: {rack: r-1, color: b}\n  containers: [{name: c, image: registry.k8s.io/pause:3.10}]\n",
        );
        for later in [false, true] {
            // With `later`, the nodes come after a first pod, at their
            // operation's time.
            let first = if later {
                "  - {opcode: createPods, count: 1, namespace: a}\n"
            } else {
                ""
            };
            std::fs::write(
                &path,
                format!("- name: T\n  workloadTemplate:\n  - {{opcode: createNodes, count: 1}}\n{first}  - {{opcode: createNodes, count: 4, nodeTemplatePath: templates/indexed-node.yaml, labelNodePrepareStrategy: {{labelKey: color, labelValues: [a, b]}}}}\n  - {{opcode: createPods, count: 4, namespace: a, podTemplatePath: templates/slot-pod.yaml, collectMetrics: true}}\n  - {{opcode: createPods, count: 1, namespace: a, podTemplatePath: templates/rack-pod.yaml}}\n  workloads:\n  - {{name: w}}\n"),
            )
            .unwrap();
            let k = if later { 2 } else { 1 };
            for scheduling_only in [true, false] {
                let opts = RunOptions {
                    scheduling_only,
                    ..RunOptions::default()
                };
                let r = run(&path, "T/w", 1, &opts).unwrap();
                let mut placed: Vec<(&str, &str)> = r
                    .placements
                    .iter()
                    .filter(|p| p.op > k)
                    .map(|p| (p.name.as_str(), p.node.as_deref().unwrap_or("none")))
                    .collect();
                placed.sort_unstable();
                let slot = |i| format!("node-{k}-{i}");
                let want: Vec<(String, String)> = (0..4)
                    .map(|i| (format!("op{}-p-{i}", k + 1), slot(i)))
                    .chain([(format!("op{}-q-0", k + 2), slot(3))])
                    .collect();
                let want: Vec<(&str, &str)> =
                    want.iter().map(|(p, n)| (p.as_str(), n.as_str())).collect();
                assert_eq!(
                    placed, want,
                    "later {later}, scheduling only {scheduling_only}"
                );
            }
        }
        // Elsewhere placeholders are refused, the template named.
        scratch_template(
            &path,
            "indexed-service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: 's-{{ .Index }}'}\nspec: {selector: {a: b}, ports: [{port: 80}]}\n",
        );
        std::fs::write(
            &path,
            "- name: T\n  workloadTemplate:\n  - {opcode: createNodes, count: 1}\n  - {opcode: createAny, templatePath: templates/indexed-service.yaml}\n  workloads:\n  - {name: w}\n",
        )
        .unwrap();
        let e = run(&path, "T/w", 1, &RunOptions::default()).unwrap_err();
        assert!(
            e.contains("indexed-service.yaml: Go template placeholders")
                && e.contains("templates of createPods, createNodes and updateAny only"),
            "{e}"
        );
    }

    #[test]
    fn metrics_collector_config_is_checked_and_noted() {
        let config = |mcc: &str| {
            format!(
                "- name: M\n  metricsCollectorConfig: {mcc}\n  workloadTemplate:\n  - {{opcode: createNodes, count: 1}}\n  - {{opcode: createPods, count: 1, collectMetrics: true}}\n  workloads:\n  - {{name: w}}\n"
            )
        };
        let path = scratch_config(
            "mcc",
            &config(
                "{metrics: {scheduler_b: [{label: result, values: [scheduled]}], scheduler_a: null}}",
            ),
        );
        let r = run(&path, "M/w", 1, &RunOptions::default()).unwrap();
        assert_eq!(
            r.notes,
            [
                "metricsCollectorConfig (scheduler_a, scheduler_b) is ignored: it selects upstream's Prometheus metrics; kubesim reports its own figures"
            ]
        );
        for (mcc, wanted) in [
            (
                "[a]",
                "test case M `metricsCollectorConfig`: expected a mapping",
            ),
            (
                "{metrics: 3}",
                "`metrics` must map metric names to label filters",
            ),
            ("{other: 1}", "field `other` is not supported"),
            (
                "{metrics: {x: 1}}",
                "metric `x`: expected a list of label filters or null",
            ),
        ] {
            let path = scratch_config("mcc-bad", &config(mcc));
            let e = run(&path, "M/w", 1, &RunOptions::default()).unwrap_err();
            assert!(e.contains(wanted), "{mcc}: {e}");
        }
    }

    /// Pod `i` of an operation in namespace NS gets claim `pvc-i` and
    /// volume `NS-vol-i`, reserved for each other, as upstream's harness
    /// makes them; a CSI volume's handle is its name, an EBS volume's id
    /// `vol-i`; the claim keeps the template's annotations.
    #[test]
    fn volume_templates_make_a_claim_and_a_volume_per_pod() {
        use crate::api::volume::ANN_BIND_COMPLETED;
        let base = example().parent().unwrap().to_path_buf();
        for (pv, handle) in [
            ("templates/pv-csi.yaml", "ns-a-vol-7"),
            ("templates/pv-aws.yaml", "vol-7"),
        ] {
            let t = VolumeTemplates::read(&base, pv, "templates/pvc.yaml", "op").unwrap();
            let [first, second] = t.objects("ns-a", 7);
            let Object::PersistentVolumeClaim(pvc) = first else {
                panic!("the claim comes first: {first:?}");
            };
            assert_eq!(
                (&*pvc.metadata.namespace, &*pvc.metadata.name),
                ("ns-a", "pvc-7")
            );
            assert_eq!(pvc.spec.volume_name.as_deref(), Some("ns-a-vol-7"));
            assert!(pvc.metadata.annotations.contains_key(ANN_BIND_COMPLETED));
            assert!(pvc.fully_bound());
            let Object::PersistentVolume(pv) = second else {
                panic!("then the volume: {second:?}");
            };
            assert_eq!(
                (&*pv.metadata.namespace, &*pv.metadata.name),
                ("", "ns-a-vol-7")
            );
            let claim = pv.spec.claim_ref.as_ref().unwrap();
            assert_eq!(
                (claim.namespace.as_deref(), claim.name.as_deref()),
                (Some("ns-a"), Some("pvc-7"))
            );
            let src = &pv.spec.source;
            let id = src.csi.as_ref().map(|c| c.volume_handle.as_str()).or(src
                .aws_elastic_block_store
                .as_ref()
                .map(|e| e.volume_id.as_str()));
            assert_eq!(id, Some(handle), "{pv:?}");
        }
        let pod = with_claim_volume(default_pod(), 3);
        let Object::Pod(pod) = pod else {
            unreachable!()
        };
        assert_eq!(pod.spec.volumes.len(), 1);
        assert_eq!(pod.spec.volumes[0].name, "vol");
        assert_eq!(
            pod.spec.volumes[0].claim_name("p").as_deref(),
            Some("pvc-3")
        );
    }

    /// A CSINode per node, named as the node: the drivers in name order,
    /// each with the node as its nodeID, and the migrated plugins joined
    /// by "," (an empty annotation when there are none, as upstream).
    #[test]
    fn node_allocatable_strategy_makes_csi_nodes() {
        use crate::api::volume::ANN_MIGRATED_PLUGINS;
        let op: Value = serde_yaml::from_str(
            "nodeAllocatableStrategy: {nodeAllocatable: {attachable-volumes-csi-x: '3'}, csiNodeAllocatable: {z.csi: {count: 2}, a.csi: {count: 5}, n.csi: null}, migratedPlugins: [kubernetes.io/aws-ebs, kubernetes.io/gce-pd]}",
        )
        .unwrap();
        let mut notes = Vec::new();
        let c = CsiNodes::of(&op, "op", &mut notes).unwrap().unwrap();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("nodeAllocatable (attachable-volumes-csi-x=3) is ignored"),
            "{notes:?}"
        );
        let Object::CsiNode(n) = c.object("node-0-1") else {
            unreachable!()
        };
        assert_eq!(&*n.metadata.name, "node-0-1");
        assert_eq!(
            n.metadata.annotations[ANN_MIGRATED_PLUGINS],
            "kubernetes.io/aws-ebs,kubernetes.io/gce-pd"
        );
        let drivers: Vec<_> = n
            .spec
            .drivers
            .iter()
            .map(|d| (d.name.as_str(), d.node_id.as_str(), n.limit(&d.name)))
            .collect();
        assert_eq!(
            drivers,
            [
                ("a.csi", "node-0-1", Some(5)),
                ("n.csi", "node-0-1", None),
                ("z.csi", "node-0-1", Some(2)),
            ]
        );
        assert!(crate::apiserver::admission::validate(&Object::CsiNode(n)).is_empty());
        let op: Value = serde_yaml::from_str("nodeAllocatableStrategy: {}").unwrap();
        let mut notes = Vec::new();
        let Object::CsiNode(n) = CsiNodes::of(&op, "op", &mut notes)
            .unwrap()
            .unwrap()
            .object("n")
        else {
            unreachable!()
        };
        assert!(notes.is_empty());
        assert_eq!(n.metadata.annotations[ANN_MIGRATED_PLUGINS], "");
        assert!(n.spec.drivers.is_empty());
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
