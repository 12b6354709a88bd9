//! Scenario files: the YAML a user writes, loaded and checked into a typed
//! [`Scenario`] ready to run.
//!
//! The file's own keys are strict (see `schema`); manifests, inline or in
//! files beside the scenario, are read by the api's lenient `Manifest`
//! deserializer so that pasted `kubectl` output works. Every problem is a
//! [`LoadError`] naming the file, line and column and what was expected;
//! objects the simulator does not model are skipped with a warning.

pub mod duration;
pub mod generate;
mod locate;
pub(crate) mod message;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::api::node::{ContainerImage, NodeSpec, NodeStatus};
use crate::api::pod::Taint;
use crate::api::{Kind, Manifest, Node, Object, ObjectMeta};
use crate::controllers::ControllerManagerConfig;
use crate::engine::Time;
use crate::sim::latency::LatencyConfig;

use duration::format_duration;
use locate::{Loc, ManifestDoc, ManifestInfo};
use schema::{ManifestSource, RawAction, RawNodeGroup, RawScenario};

/// The seed when the scenario names none.
pub const DEFAULT_SEED: u64 = 1;
/// The scheduler policy when the scenario names none.
pub const DEFAULT_POLICY: &str = "default";

/// A scenario, loaded and checked, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `name:`, or else the file's stem.
    pub name: String,
    pub path: PathBuf,
    /// `seed:`, default [`DEFAULT_SEED`].
    pub seed: u64,
    /// `duration:`, the virtual-time limit; `None`: run until idle.
    pub duration: Option<Time>,
    /// Node groups expanded, then `cluster.nodes` manifests, in file order;
    /// names are unique.
    pub nodes: Vec<Node>,
    /// `images:`: image -> size in bytes.
    pub images: BTreeMap<String, u64>,
    /// Images marked `missing: true` in `images:`: the registry lacks them,
    /// so pulls fail (ErrImagePull, then ImagePullBackOff).
    pub missing_images: std::collections::BTreeSet<String>,
    /// `scheduler.policy`, default [`DEFAULT_POLICY`].
    pub policy: String,
    /// `scheduler.featureGates.SchedulerQueueingHints`, default true (as
    /// upstream since v1.32): the queue's queueing hints.
    pub queueing_hints: bool,
    /// `scheduler.clientConnection`: the scheduler's API client rate limit
    /// (upstream's default QPS 50, burst 100, unless set).
    pub scheduler_client: crate::scheduler::ClientConnection,
    pub latencies: LatencyConfig,
    pub boot_control_plane: bool,
    /// `cluster.staticPods`: (component, image, startup) overrides.
    pub static_pods: Vec<StaticPodOverride>,
    /// Sorted by `at`, stable (file order among equal times).
    pub actions: Vec<Action>,
    /// Each `FILE:LINE:COLUMN: message`, e.g. a skipped ConfigMap.
    pub warnings: Vec<String>,
    /// `controllerManager:`: the client rate limit.
    pub controller_manager: ControllerManagerConfig,
}

/// An override of a control-plane static pod (`cluster.staticPods`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticPodOverride {
    pub component: String,
    pub image: Option<String>,
    pub startup: Option<Time>,
}

/// One step of the scenario's timeline.
#[derive(Clone, Debug)]
pub struct Action {
    pub at: Time,
    /// `FILE:LINE:COLUMN` of the action in the scenario, for messages.
    pub place: String,
    pub op: ActionOp,
}

/// The pods a `removeSchedulingGates` action ungates.
#[derive(Clone, Debug)]
pub enum GatedPods {
    /// One pod, by name.
    Name(String),
    /// Every pod of the namespace the selector picks when the action runs.
    Selector(crate::api::selector::LabelSelector),
}

#[derive(Clone, Debug)]
pub enum ActionOp {
    /// Create these objects, in order.
    Apply(Vec<Object>),
    /// A node action: `cordon`, `uncordon`, `drain`, `failNode`,
    /// `recoverNode`, `removeNode`.
    Node { op: NodeOp, node: String },
    /// A PATCH of a Node by the client (`label`, `taint`, and
    /// scheduler_perf's `updateAny`); `action` names it in the timeline.
    PatchNode {
        action: &'static str,
        node: String,
        patch: crate::sim::msg::NodePatch,
    },
    /// New nodes join (`addNodes`): each gets a kubelet, a runtime and a
    /// kube-proxy, and its kubelet registers the Node.
    AddNodes(Vec<Node>),
    /// Delete one object (`propagationPolicy: Background`: the garbage
    /// collector deletes its dependents).
    Delete {
        kind: Kind,
        /// Empty for cluster-scoped kinds.
        namespace: String,
        name: String,
    },
    /// Delete one object with `propagationPolicy: Orphan`.
    DeleteOrphan {
        kind: Kind,
        namespace: String,
        name: String,
    },
    /// Set `spec.replicas` (a Deployment, ReplicaSet or StatefulSet).
    Scale {
        kind: Kind,
        namespace: String,
        name: String,
        replicas: i32,
    },
    /// Set one container's image in a workload's pod template.
    SetImage {
        kind: Kind,
        namespace: String,
        name: String,
        container: String,
        image: String,
    },
    /// Roll a Deployment back to the previous revision, or to `to_revision`.
    RolloutUndo {
        namespace: String,
        name: String,
        to_revision: Option<i64>,
    },
    /// A PUT of a Pod (scheduler_perf's `updateAny` of a Pod): the object
    /// replaces the stored pod, which keeps its status; the apiserver's
    /// pod update rules apply (`apiserver::admission::pod_update`).
    ReplacePod(Box<Object>),
    /// A PATCH of a pod's `resize` subresource: the named containers' new
    /// resources (scheduler_perf's `updateAny` with `subresources:
    /// [resize]`).
    ResizePod {
        namespace: String,
        name: String,
        resources: Vec<(String, crate::api::pod::ResourceRequirements)>,
    },
    /// Remove scheduling gates from a pod (`None`: all of them), as an
    /// external controller does by updating `spec.schedulingGates`.
    RemoveSchedulingGates {
        namespace: String,
        pods: GatedPods,
        gates: Option<Vec<String>>,
    },
    /// Remove finalizers from an object (`None`: all of them), as the
    /// controller that owns them does.
    RemoveFinalizers {
        kind: Kind,
        namespace: String,
        name: String,
        finalizers: Option<Vec<String>>,
    },
    /// Set a Deployment's `spec.paused`.
    Pause {
        namespace: String,
        name: String,
        paused: bool,
    },
    /// Objects from a template, expanded when the run starts
    /// ([`generate::expand`]).
    Generate(Box<generate::Generate>),
}

/// The operation keys an action gives, in the order of the schema.
fn ops_given(action: &RawAction) -> Vec<&'static str> {
    [
        ("apply", action.apply.is_some()),
        ("delete", action.delete.is_some()),
        ("scale", action.scale.is_some()),
        ("setImage", action.set_image.is_some()),
        ("rolloutUndo", action.rollout_undo.is_some()),
        ("pause", action.pause.is_some()),
        ("resume", action.resume.is_some()),
        (
            "removeSchedulingGates",
            action.remove_scheduling_gates.is_some(),
        ),
        ("removeFinalizers", action.remove_finalizers.is_some()),
        ("cordon", action.cordon.is_some()),
        ("uncordon", action.uncordon.is_some()),
        ("drain", action.drain.is_some()),
        ("failNode", action.fail_node.is_some()),
        ("recoverNode", action.recover_node.is_some()),
        ("removeNode", action.remove_node.is_some()),
        ("label", action.label.is_some()),
        ("taint", action.taint.is_some()),
        ("generate", action.generate.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, present)| present.then_some(key))
    .collect()
}

/// Whether `key` is a label key and `value` (when given) a label value,
/// by upstream's rules; else what is wrong, in upstream's words.
pub fn check_label(key: &str, value: Option<&str>) -> Result<(), String> {
    if !crate::apiserver::admission::is_qualified_name(key) {
        return Err(format!(
            "key `{key}`: a qualified name must consist of alphanumeric characters, '-', '_' or '.', \
             and must start and end with an alphanumeric character, with an optional DNS subdomain \
             prefix and '/' (e.g. 'example.com/MyName')"
        ));
    }
    if let Some(v) = value
        && !crate::apiserver::admission::is_label_value(v)
    {
        return Err(format!(
            "value `{v}` of `{key}`: a valid label must be an empty string or consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character, at most 63 characters"
        ));
    }
    Ok(())
}

/// What a node action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOp {
    /// Mark the node unschedulable.
    Cordon,
    Uncordon,
    /// Cordon, then delete (gracefully) every pod on the node.
    Drain,
    /// The node fails: its kubelet stops (no Lease renewals, no status) and
    /// its containers are gone.
    Fail,
    /// The node comes back: its kubelet starts again.
    Recover,
    /// The Node is deleted and the machine goes away.
    Remove,
}

impl NodeOp {
    pub fn key(self) -> &'static str {
        match self {
            NodeOp::Cordon => "cordon",
            NodeOp::Uncordon => "uncordon",
            NodeOp::Drain => "drain",
            NodeOp::Fail => "failNode",
            NodeOp::Recover => "recoverNode",
            NodeOp::Remove => "removeNode",
        }
    }
}

/// Why a scenario could not be loaded: a message a person can act on, and
/// where the problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based.
    pub column: Option<usize>,
    pub message: String,
}

impl LoadError {
    fn new(file: &Path, loc: Option<Loc>, message: impl Into<String>) -> Self {
        LoadError {
            file: file.to_path_buf(),
            line: loc.map(|l| l.line),
            column: loc.map(|l| l.column),
            message: message.into(),
        }
    }

    fn at(place: &Place, message: impl Into<String>) -> Self {
        LoadError::new(&place.file, place.loc, message)
    }

    /// From a serde_yaml error: its position goes into the fields, and out
    /// of the message.
    fn from_yaml(file: &Path, err: &serde_yaml::Error, syntax: bool) -> Self {
        let loc = err.location().map(|l| Loc {
            line: l.line(),
            column: l.column(),
        });
        let mut message = err.to_string();
        if let Some(l) = loc {
            let suffix = format!(" at line {} column {}", l.line, l.column);
            if let Some(at) = message.find(&suffix) {
                message.replace_range(at..at + suffix.len(), "");
            }
        }
        let message = if syntax {
            format!("YAML syntax error: {message}")
        } else {
            message::tidy_serde_message(&message)
        };
        LoadError::new(file, loc, message)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// Reads and checks the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, LoadError> {
    let text = fs::read_to_string(path)
        .map_err(|e| LoadError::new(path, None, format!("cannot read scenario: {e}")))?;
    load_str(&text, path)
}

/// Checks a scenario given as text; `path` names it in messages, and
/// relative manifest file names are resolved against its directory.
pub fn load_str(text: &str, path: &Path) -> Result<Scenario, LoadError> {
    let raw = parse_scenario(text, path)?;
    let mut loader = Loader {
        path,
        dir: path.parent().unwrap_or(Path::new("")),
        warnings: Vec::new(),
        files: BTreeMap::new(),
    };
    loader.lower(raw)
}

/// A place in a file, for messages: `FILE:LINE:COLUMN`.
#[derive(Clone, Debug)]
struct Place {
    file: PathBuf,
    loc: Option<Loc>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.loc {
            write!(f, ":{}:{}", l.line, l.column)?;
        }
        Ok(())
    }
}

/// The scenario's one YAML document, deserialized.
fn parse_scenario(text: &str, path: &Path) -> Result<RawScenario, LoadError> {
    let mut documents = serde_yaml::Deserializer::from_str(text);
    let empty = || {
        LoadError::new(
            path,
            None,
            "the scenario is empty: expected a mapping with keys such as `cluster` and `actions`",
        )
    };
    let first = documents.next().ok_or_else(empty)?;
    let raw = match Option::<RawScenario>::deserialize(first) {
        Ok(Some(raw)) => raw,
        Ok(None) => return Err(empty()),
        Err(e) => return Err(yaml_error(text, 0, path, &e)),
    };
    // A trailing `---` is harmless; a second document is a mistake.
    if let Some(second) = documents.next() {
        match Option::<IgnoredAny>::deserialize(second) {
            Ok(None) => {}
            Ok(Some(_)) => {
                return Err(LoadError::new(
                    path,
                    None,
                    "a scenario is one YAML document, but this file holds more \
                     (a `---` line starts another); put manifests in their own files",
                ));
            }
            Err(e) => return Err(LoadError::from_yaml(path, &e, true)),
        }
    }
    Ok(raw)
}

/// The error of document `index` of `text`, told apart: a syntax error (the
/// document is not YAML) or a value that does not fit.
fn yaml_error(text: &str, index: usize, file: &Path, err: &serde_yaml::Error) -> LoadError {
    // serde_yaml parses a whole document before deserializing it, so a
    // syntax error anywhere in it fails even a deserializer that accepts
    // anything.
    let syntax = serde_yaml::Deserializer::from_str(text)
        .take(index + 1)
        .find_map(|doc| IgnoredAny::deserialize(doc).err());
    match syntax {
        Some(e) => LoadError::from_yaml(file, &e, true),
        None => LoadError::from_yaml(file, err, false),
    }
}

/// An object read from a manifest, and where.
#[derive(Clone)]
struct Placed {
    object: Object,
    place: Place,
}

/// The apiserver's validation of an object the scenario applies, when the
/// scenario loads: what it would refuse whatever the cluster holds (a
/// negative replica count, a selector that does not match the template's
/// labels, a name that is not a DNS subdomain, ...) is bad input, an
/// error at the manifest, not a 422 found in events.csv after a run. What
/// depends on the cluster (a PriorityClass that is missing, an object
/// that already exists) is still the apiserver's answer in the run, and
/// the objects the controllers make are validated there.
fn admissible(p: &Placed) -> Result<(), LoadError> {
    let mut obj = p.object.clone();
    crate::apiserver::admission::default_object(&mut obj);
    let meta = obj.meta_mut();
    if meta.name.is_empty() {
        // As the apiserver names it: the prefix, cut to 58 characters, and
        // five more.
        meta.name = format!(
            "{}x0x0x",
            crate::apiserver::name_prefix(&meta.generate_name)
        )
        .into();
    }
    let errs = crate::apiserver::admission::validate(&obj);
    if errs.is_empty() {
        return Ok(());
    }
    let meta = p.object.meta();
    let name = if meta.name.is_empty() {
        format!("(generateName `{}`)", meta.generate_name)
    } else {
        format!("`{}`", meta.name)
    };
    Err(LoadError::at(
        &p.place,
        format!(
            "{} {name} is invalid (the apiserver would refuse it: 422): {}",
            p.object.kind(),
            errs.join("; ")
        ),
    ))
}

/// Turns the raw scenario into a [`Scenario`]: reads manifest files,
/// expands node groups and checks what spans several keys.
struct Loader<'a> {
    path: &'a Path,
    dir: &'a Path,
    warnings: Vec<String>,
    /// Manifest files read so far, by resolved path: a file applied twice
    /// is read (and warned about) once.
    files: BTreeMap<PathBuf, Vec<Placed>>,
}

impl Loader<'_> {
    fn place(&self, loc: Option<Loc>) -> Place {
        Place {
            file: self.path.to_path_buf(),
            loc,
        }
    }

    fn lower(&mut self, raw: RawScenario) -> Result<Scenario, LoadError> {
        let name = match raw.name {
            Some(name) => name.0,
            None => self.path.file_stem().map_or_else(
                || "scenario".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            ),
        };
        let images: BTreeMap<String, u64> = raw
            .images
            .iter()
            .map(|(image, spec)| (image.clone(), spec.size))
            .collect();
        let missing_images = raw
            .images
            .iter()
            .filter(|(_, spec)| spec.missing)
            .map(|(image, _)| image.clone())
            .collect();

        let mut nodes = Vec::new();
        let mut node_places: BTreeMap<String, Place> = BTreeMap::new();
        let mut add_node = |node: Node, place: Place| {
            if let Some(first) = node_places.get(node.metadata.name.as_str()) {
                return Err(LoadError::at(
                    &place,
                    format!(
                        "duplicate node name `{}`: already defined at {first}",
                        node.metadata.name
                    ),
                ));
            }
            node_places.insert(node.metadata.name.to_string(), place);
            nodes.push(node);
            Ok(())
        };
        for group in &raw.cluster.node_groups {
            let place = self.place(group.loc);
            for node in expand_group(&group.value, &images) {
                add_node(node, place.clone())?;
            }
        }
        if let Some(source) = raw.cluster.nodes {
            for placed in self.objects(source)? {
                let Object::Node(mut node) = placed.object else {
                    return Err(LoadError::at(
                        &placed.place,
                        format!(
                            "cluster.nodes holds Node manifests, but this is a {} (`{}`)",
                            placed.object.kind(),
                            placed.object.meta().name
                        ),
                    ));
                };
                if node.metadata.name.is_empty() {
                    return Err(LoadError::at(
                        &placed.place,
                        "a Node in cluster.nodes needs `metadata.name` (generateName is not enough)",
                    ));
                }
                node.metadata.namespace = Default::default();
                add_node(node, placed.place)?;
            }
        }

        let duration = raw.duration.map(|d| d.0);
        // Nodes added at run time can be named by any node action.
        let mut added: Vec<Option<Vec<Node>>> = Vec::with_capacity(raw.actions.len());
        for action in &raw.actions {
            let Some(group) = &action.value.add_nodes else {
                added.push(None);
                continue;
            };
            let place = self.place(action.loc);
            let group_nodes = expand_group(group, &images);
            for node in &group_nodes {
                if let Some(first) = node_places.get(node.metadata.name.as_str()) {
                    return Err(LoadError::at(
                        &place,
                        format!(
                            "addNodes: duplicate node name `{}`: already defined at {first}",
                            node.metadata.name
                        ),
                    ));
                }
                node_places.insert(node.metadata.name.to_string(), place.clone());
            }
            added.push(Some(group_nodes));
        }
        let mut actions = Vec::with_capacity(raw.actions.len());
        for (action, added) in raw.actions.into_iter().zip(added) {
            let place = self.place(action.loc);
            let at = action.value.at.0;
            if let Some(end) = duration.filter(|end| at > *end) {
                self.warnings.push(format!(
                    "{place}: this action at {} comes after the end of the run \
                     (duration: {}) and will not run",
                    format_duration(at),
                    format_duration(end)
                ));
            }
            let op = match added {
                Some(nodes) => {
                    let mut value = action.value;
                    value.add_nodes = None;
                    let only = self.action_op_given(&value);
                    if let Some(other) = only {
                        return Err(LoadError::at(
                            &place,
                            format!(
                                "this action has both `addNodes` and `{other}`: \
                                 write one operation per action"
                            ),
                        ));
                    }
                    ActionOp::AddNodes(nodes)
                }
                None => self.action_op(action.value, &place, &node_places)?,
            };
            actions.push(Action {
                at,
                place: place.to_string(),
                op,
            });
        }
        // Stable: actions at the same time keep their file order.
        actions.sort_by_key(|a| a.at);

        Ok(Scenario {
            name,
            path: self.path.to_path_buf(),
            seed: raw.seed.unwrap_or(DEFAULT_SEED),
            duration,
            nodes,
            images,
            missing_images,
            policy: raw
                .scheduler
                .policy
                .map_or_else(|| DEFAULT_POLICY.to_owned(), |p| p.0),
            queueing_hints: raw
                .scheduler
                .feature_gates
                .scheduler_queueing_hints
                .unwrap_or(true),
            scheduler_client: {
                let mut c = crate::scheduler::ClientConnection::DEFAULT;
                if let Some(cc) = &raw.scheduler.client_connection {
                    if let Some(q) = cc.qps {
                        c.qps = q.0;
                    }
                    if let Some(b) = cc.burst {
                        c.burst = b.0;
                    }
                }
                c
            },
            latencies: raw.latencies.0,
            boot_control_plane: raw.cluster.boot_control_plane,
            static_pods: raw
                .cluster
                .static_pods
                .iter()
                .map(|(name, o)| StaticPodOverride {
                    component: name.0.clone(),
                    image: o.image.clone(),
                    startup: o.startup.as_ref().map(|d| d.0),
                })
                .collect(),
            actions,
            warnings: std::mem::take(&mut self.warnings),
            controller_manager: {
                let mut c = ControllerManagerConfig::default();
                if let Some(cm) = &raw.controller_manager {
                    if let Some(q) = cm.qps {
                        c.qps = q.0;
                    }
                    if let Some(b) = cm.burst {
                        c.burst = b.0;
                    }
                    if let Some(t) = cm.terminated_pod_gc_threshold {
                        c.terminated_pod_gc_threshold = t.0;
                    }
                }
                c
            },
        })
    }

    /// The first operation key an action gives, if any.
    fn action_op_given(&self, action: &RawAction) -> Option<&'static str> {
        ops_given(action).first().copied()
    }

    fn action_op(
        &mut self,
        action: RawAction,
        place: &Place,
        nodes: &BTreeMap<String, Place>,
    ) -> Result<ActionOp, LoadError> {
        let given = ops_given(&action);
        match given.as_slice() {
            [] => {
                return Err(LoadError::at(
                    place,
                    "this action does nothing: add one of `apply`, `delete`, `scale`, `setImage`, \
                     `rolloutUndo`, `pause`, `resume`, `removeSchedulingGates` or `removeFinalizers`, or a node action (`cordon`, `uncordon`, \
                     `drain`, `failNode`, `recoverNode`, `addNodes`, `removeNode`, `label`, `taint`)",
                ));
            }
            [_] => {}
            [first, second, ..] => {
                return Err(LoadError::at(
                    place,
                    format!(
                        "this action has both `{first}` and `{second}`: \
                         write one operation per action"
                    ),
                ));
            }
        }
        let ns = |kind: Kind, namespace: Option<String>| {
            if kind.namespaced() {
                namespace.unwrap_or_else(|| "default".to_owned())
            } else {
                String::new()
            }
        };
        // An operation on a kind it does not apply to.
        let only = |key: &str, kind: Kind, allowed: &[Kind]| {
            if allowed.contains(&kind) {
                Ok(())
            } else {
                let names: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
                Err(LoadError::at(
                    place,
                    format!(
                        "`{key}` does not apply to a {kind}: expected {}",
                        names.join(", ")
                    ),
                ))
            }
        };
        if let Some(source) = action.apply {
            let placed = self.objects(source)?;
            placed.iter().try_for_each(admissible)?;
            let objects: Vec<Object> = placed.into_iter().map(|p| p.object).collect();
            if objects.is_empty() {
                self.warnings
                    .push(format!("{place}: this action applies no object"));
            }
            return Ok(ActionOp::Apply(objects));
        }
        let known_node = |key: &str, node: &str| {
            if nodes.contains_key(node) {
                return Ok(());
            }
            let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
            let hint = match message::closest(node, &names) {
                Some(c) => format!(" (did you mean `{c}`?)"),
                None if names.is_empty() => " (the cluster has no nodes)".to_string(),
                None => format!(
                    " (nodes: {}{})",
                    names.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                    if names.len() > 5 { ", ..." } else { "" }
                ),
            };
            Err(LoadError::at(
                place,
                format!("`{key}` names node `{node}`, which the cluster does not have{hint}"),
            ))
        };
        for (op, node) in [
            (NodeOp::Cordon, &action.cordon),
            (NodeOp::Uncordon, &action.uncordon),
            (NodeOp::Drain, &action.drain),
            (NodeOp::Fail, &action.fail_node),
            (NodeOp::Recover, &action.recover_node),
            (NodeOp::Remove, &action.remove_node),
        ] {
            let Some(node) = node else { continue };
            known_node(op.key(), node)?;
            return Ok(ActionOp::Node {
                op,
                node: node.clone(),
            });
        }
        if let Some(l) = action.label {
            known_node("label", &l.node)?;
            if l.labels.is_empty() {
                return Err(LoadError::at(
                    place,
                    "`label` sets or removes no label: give `labels`",
                ));
            }
            let mut set = Vec::new();
            let mut remove = Vec::new();
            for (key, value) in l.labels {
                check_label(&key, value.as_deref())
                    .map_err(|m| LoadError::at(place, format!("`label`: {m}")))?;
                match value {
                    Some(v) => set.push((key, v)),
                    None => remove.push(key),
                }
            }
            return Ok(ActionOp::PatchNode {
                action: "label",
                node: l.node,
                patch: crate::sim::msg::NodePatch::Labels { set, remove },
            });
        }
        if let Some(t) = action.taint {
            known_node("taint", &t.node)?;
            if t.add.is_empty() && t.remove.is_empty() {
                return Err(LoadError::at(
                    place,
                    "`taint` adds or removes no taint: give `add` or `remove`",
                ));
            }
            let mut add: Vec<crate::api::pod::Taint> = Vec::new();
            for (i, spec) in t.add.into_iter().enumerate() {
                check_label(&spec.key, Some(&spec.value))
                    .map_err(|m| LoadError::at(place, format!("`taint`: add[{i}]: {m}")))?;
                if add
                    .iter()
                    .any(|a| a.key == spec.key && a.effect == spec.effect)
                {
                    return Err(LoadError::at(
                        place,
                        format!(
                            "`taint`: add[{i}]: a second taint `{}:{}`",
                            spec.key,
                            spec.effect.as_str()
                        ),
                    ));
                }
                add.push(crate::api::pod::Taint {
                    key: spec.key,
                    value: spec.value,
                    effect: spec.effect,
                });
            }
            let remove = t.remove.into_iter().map(|r| (r.key, r.effect)).collect();
            return Ok(ActionOp::PatchNode {
                action: "taint",
                node: t.node,
                patch: crate::sim::msg::NodePatch::Taint { add, remove },
            });
        }
        if let Some(mut g) = action.generate {
            let source =
                std::mem::replace(&mut g.template, schema::ManifestSource::Inline(Vec::new()));
            let placed = self.objects(source)?;
            // Checked as its last copy is named (`generate` names copy k
            // `{name}-{k}`).
            let last = g.count.0.saturating_sub(1);
            for p in &placed {
                let mut copy = Placed {
                    object: p.object.clone(),
                    place: p.place.clone(),
                };
                let meta = copy.object.meta_mut();
                meta.name = format!("{}-{last}", meta.name).into();
                admissible(&copy)?;
            }
            let template: Vec<Object> = placed.into_iter().map(|p| p.object).collect();
            return g
                .build(template)
                .map(|g| ActionOp::Generate(Box::new(g)))
                .map_err(|m| LoadError::at(place, m));
        }
        if let Some(target) = action.delete {
            let kind = target.kind.0;
            let namespace = ns(kind, target.namespace);
            if target.propagation_policy == Some(schema::Propagation::Orphan) {
                return Ok(ActionOp::DeleteOrphan {
                    kind,
                    namespace,
                    name: target.name,
                });
            }
            return Ok(ActionOp::Delete {
                kind,
                namespace,
                name: target.name,
            });
        }
        if let Some(s) = action.scale {
            let kind = s.kind.0;
            only(
                "scale",
                kind,
                &[Kind::Deployment, Kind::ReplicaSet, Kind::StatefulSet],
            )?;
            let replicas = i32::try_from(s.replicas).map_err(|_| {
                LoadError::at(place, format!("replicas must be at most {}", i32::MAX))
            })?;
            return Ok(ActionOp::Scale {
                kind,
                namespace: ns(kind, s.namespace),
                name: s.name,
                replicas,
            });
        }
        if let Some(s) = action.set_image {
            let kind = s.kind.0;
            only(
                "setImage",
                kind,
                &[
                    Kind::Deployment,
                    Kind::ReplicaSet,
                    Kind::DaemonSet,
                    Kind::StatefulSet,
                ],
            )?;
            return Ok(ActionOp::SetImage {
                kind,
                namespace: ns(kind, s.namespace),
                name: s.name,
                container: s.container,
                image: s.image,
            });
        }
        if let Some(u) = action.rollout_undo {
            only("rolloutUndo", u.kind.0, &[Kind::Deployment])?;
            return Ok(ActionOp::RolloutUndo {
                namespace: ns(u.kind.0, u.namespace),
                name: u.name,
                to_revision: u.to_revision.map(i64::from),
            });
        }
        if let Some(u) = action.remove_scheduling_gates {
            let pods = match (u.name, u.selector) {
                (Some(name), None) => GatedPods::Name(name),
                (None, Some(selector)) => GatedPods::Selector(selector),
                _ => {
                    return Err(LoadError::at(
                        place,
                        "removeSchedulingGates names its pods by `name` or by `selector`: \
                         give one of them",
                    ));
                }
            };
            return Ok(ActionOp::RemoveSchedulingGates {
                namespace: ns(Kind::Pod, u.namespace),
                pods,
                gates: u.gates,
            });
        }
        if let Some(u) = action.remove_finalizers {
            let kind = u.kind.0;
            return Ok(ActionOp::RemoveFinalizers {
                kind,
                namespace: ns(kind, u.namespace),
                name: u.name,
                finalizers: u.finalizers,
            });
        }
        let (key, r, paused) = match (action.pause, action.resume) {
            (Some(r), _) => ("pause", r, true),
            (_, Some(r)) => ("resume", r, false),
            _ => unreachable!("one operation was given"),
        };
        only(key, r.kind.0, &[Kind::Deployment])?;
        Ok(ActionOp::Pause {
            namespace: ns(r.kind.0, r.namespace),
            name: r.name,
            paused,
        })
    }

    /// The objects of a manifest source, in order, with namespaces
    /// defaulted; manifests of kinds not modelled become warnings. (What
    /// is wrong in a manifest whatever the cluster, a negative probe
    /// number, is refused as it is read, at its place.)
    fn objects(&mut self, source: ManifestSource) -> Result<Vec<Placed>, LoadError> {
        match source {
            ManifestSource::Inline(docs) => {
                let file = self.path.to_path_buf();
                Ok(self.collect(docs, &file))
            }
            ManifestSource::File { path, loc } => {
                let resolved = self.dir.join(&path);
                if let Some(objects) = self.files.get(&resolved) {
                    return Ok(objects.clone());
                }
                let text = fs::read_to_string(&resolved).map_err(|e| {
                    LoadError::at(
                        &self.place(loc),
                        format!("cannot read manifest file `{}`: {e}", resolved.display()),
                    )
                })?;
                let docs = parse_manifests(&text, &resolved)?;
                let objects = self.collect(docs, &resolved);
                self.files.insert(resolved, objects.clone());
                Ok(objects)
            }
        }
    }

    fn collect(&mut self, docs: Vec<ManifestDoc>, file: &Path) -> Vec<Placed> {
        let mut out = Vec::new();
        for doc in docs {
            self.walk(doc.manifest, doc.info, file, &mut out);
        }
        out
    }

    /// Flattens a manifest and its List items depth first, as
    /// `Manifest::flatten` does, keeping each one's info beside it.
    fn walk(
        &mut self,
        mut manifest: Manifest,
        mut info: ManifestInfo,
        file: &Path,
        out: &mut Vec<Placed>,
    ) {
        let place = Place {
            file: file.to_path_buf(),
            loc: info.loc,
        };
        let items = std::mem::take(&mut manifest.items);
        let item_infos = std::mem::take(&mut info.items);
        match manifest.object {
            Some(mut object) => {
                let namespaced = object.kind().namespaced();
                let meta = object.meta_mut();
                if namespaced {
                    if meta.namespace.is_empty() {
                        meta.namespace = "default".into();
                    }
                } else {
                    meta.namespace = Default::default();
                }
                out.push(Placed { object, place });
            }
            None if manifest.kind.ends_with("List") => {}
            None => {
                let what = match (info.namespace.as_str(), info.name.as_str()) {
                    (_, "") => manifest.kind.clone(),
                    ("", name) => format!("{} {name}", manifest.kind),
                    (ns, name) => format!("{} {ns}/{name}", manifest.kind),
                };
                let why = if manifest.kind == Kind::EndpointSlice.as_str() {
                    "EndpointSlices are written by their controller, not applied"
                } else {
                    "kind not modelled"
                };
                self.warnings
                    .push(format!("{place}: skipping {what}: {why}"));
            }
        }
        let mut item_infos = item_infos.into_iter();
        for item in items {
            let info = item_infos.next().unwrap_or_default();
            self.walk(item, info, file, out);
        }
    }
}

/// The manifests of a file: one or more YAML documents, empty ones skipped.
fn parse_manifests(text: &str, file: &Path) -> Result<Vec<ManifestDoc>, LoadError> {
    let mut docs = Vec::new();
    // Stop at the first error: serde_yaml's document iterator does not end
    // after some failures.
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match Option::<ManifestDoc>::deserialize(document) {
            Ok(Some(doc)) => docs.push(doc),
            Ok(None) => {}
            Err(e) => return Err(yaml_error(text, index, file, &e)),
        }
    }
    Ok(docs)
}

/// The nodes `<name>-0` .. `<name>-(count-1)` of a node group.
fn expand_group(group: &RawNodeGroup, images: &BTreeMap<String, u64>) -> Vec<Node> {
    let resources = |map: &BTreeMap<String, schema::NonNegative<schema::Capacity>>| {
        map.iter()
            .map(|(name, q)| (name.clone(), q.0))
            .collect::<BTreeMap<_, _>>()
    };
    let capacity = resources(&group.capacity);
    let allocatable = group
        .allocatable
        .as_ref()
        .map_or_else(|| capacity.clone(), resources);
    let taints: Vec<Taint> = group
        .taints
        .iter()
        .map(|t| Taint {
            key: t.key.clone(),
            value: t.value.clone(),
            effect: t.effect,
        })
        .collect();
    let node_images: Vec<ContainerImage> = group
        .images
        .iter()
        .map(|image| ContainerImage {
            names: vec![image.clone()],
            size_bytes: images
                .get(image)
                .map_or(0, |size| i64::try_from(*size).unwrap_or(i64::MAX)),
        })
        .collect();
    (0..group.count.0)
        .map(|i| {
            let name = format!("{}-{i}", group.name.0);
            let mut labels = group.labels.clone();
            labels.insert("kubernetes.io/hostname".to_owned(), name.clone());
            labels
                .entry("kubernetes.io/os".to_owned())
                .or_insert_with(|| "linux".to_owned());
            Node {
                metadata: ObjectMeta {
                    name: name.into(),
                    labels: labels.into(),
                    ..ObjectMeta::default()
                },
                spec: NodeSpec {
                    unschedulable: group.unschedulable,
                    taints: taints.clone(),
                    pod_cidr: None,
                },
                status: NodeStatus {
                    capacity: capacity.clone(),
                    allocatable: allocatable.clone(),
                    images: node_images.clone(),
                    ready: None,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
