//! The scenario file as written: serde types mirroring its keys, before any
//! manifest file is read or any node group expanded.
//!
//! Every struct here rejects unknown keys, so that a typo is an error naming
//! the key and its position rather than a setting silently ignored. Values
//! are checked as they are read (counts, quantities, durations, kinds), so
//! that each error carries the line and column of the offending value;
//! manifests inside the scenario are read by the api's own `Manifest`
//! deserializer straight from the scenario text for the same reason.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use super::duration::{Duration, parse_duration};
use super::locate::{Loc, Located, ManifestDoc, catch_probe, probe};
use super::message::unknown;
use crate::api::Kind;
use crate::api::pod::TaintEffect;
use crate::api::quantity::Quantity;
use crate::engine::dist::Dist;
use crate::sim::latency::{Hop, LatencyConfig};

/// The most nodes one node group may have: far beyond Kubernetes' tested
/// 5000, low enough that a slip of the keyboard cannot exhaust memory.
pub(super) const MAX_GROUP_NODES: u64 = 100_000;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a scenario: a mapping with keys such as `cluster` and `actions`"
)]
pub(super) struct RawScenario {
    pub name: Option<ScenarioName>,
    #[serde(default, deserialize_with = "seed")]
    pub seed: Option<u64>,
    pub duration: Option<Duration>,
    #[serde(default)]
    pub cluster: RawCluster,
    #[serde(default)]
    pub images: BTreeMap<String, RawImage>,
    #[serde(default)]
    pub scheduler: RawScheduler,
    #[serde(default)]
    pub latencies: RawLatencies,
    #[serde(default)]
    pub actions: Vec<Located<RawAction>>,
    pub controller_manager: Option<RawControllerManager>,
}

/// `controllerManager:`: kube-controller-manager's client rate limit and
/// the pod GC's threshold.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the controller manager settings: a mapping with `qps`, `burst` and `terminatedPodGCThreshold`"
)]
pub(super) struct RawControllerManager {
    pub qps: Option<Qps>,
    pub burst: Option<Burst>,
    #[serde(rename = "terminatedPodGCThreshold")]
    pub terminated_pod_gc_threshold: Option<PodThreshold>,
}

/// An integer of 0 or more, named in its error as `what` (`seed`,
/// `replicas`), rather than by its Rust type.
struct Unsigned(&'static str);

impl Visitor<'_> for Unsigned {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as an integer of 0 or more", self.0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| self.bad(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(self.bad(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        Err(self.bad(format_args!("`{v}`")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        Err(self.bad(v))
    }
}

impl Unsigned {
    fn bad<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format!(
            "{} must be an integer of 0 or more, got {got}",
            self.0
        ))
    }
}

/// `seed`: any integer of 0 or more (null: the default).
fn seed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Seed(u64);
    impl<'de> Deserialize<'de> for Seed {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Unsigned("seed")).map(Seed)
        }
    }
    Ok(Option::<Seed>::deserialize(d)?.map(|s| s.0))
}

/// `scale.replicas`: an integer of 0 or more (at most `i32::MAX`, checked
/// when the action is built).
fn replicas<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = d.deserialize_any(Unsigned("replicas"))?;
    u32::try_from(v)
        .map_err(|_| de::Error::custom(format!("replicas must be at most {}", i32::MAX)))
}

/// A number of pods, 0 or more (`terminatedPodGCThreshold`).
#[derive(Clone, Copy, Debug)]
pub(super) struct PodThreshold(pub u32);

impl<'de> Deserialize<'de> for PodThreshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn bad<E: de::Error>(got: impl fmt::Display) -> E {
            E::custom(format!(
                "terminatedPodGCThreshold must be a number of pods (0 or more), got {got}"
            ))
        }
        impl Visitor<'_> for V {
            type Value = PodThreshold;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of pods (0 or more), such as 12500")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PodThreshold, E> {
                u32::try_from(v).map(PodThreshold).map_err(|_| bad(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PodThreshold, E> {
                u64::try_from(v)
                    .map_err(|_| bad(v))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PodThreshold, E> {
                Err(bad(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PodThreshold, E> {
                Err(bad(format_args!("`{v}`")))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PodThreshold, E> {
                Err(bad(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A positive number of requests per second.
#[derive(Clone, Copy, Debug)]
pub(super) struct Qps(pub f64);

impl<'de> Deserialize<'de> for Qps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn check<E: de::Error>(v: f64) -> Result<Qps, E> {
                if v.is_finite() && v > 0.0 {
                    Ok(Qps(v))
                } else {
                    Err(E::custom(format!("qps must be a positive number, got {v}")))
                }
            }
        }
        impl Visitor<'_> for V {
            type Value = Qps;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive number of requests per second, such as 20")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Qps, E> {
                Self::check(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Qps, E> {
                Self::check(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Qps, E> {
                Self::check(v)
            }
        }
        d.deserialize_any(V)
    }
}

/// A positive request burst.
#[derive(Clone, Copy, Debug)]
pub(super) struct Burst(pub u32);

impl<'de> Deserialize<'de> for Burst {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Burst;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer burst, such as 30")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Burst, E> {
                match u32::try_from(v) {
                    Ok(b) if b > 0 => Ok(Burst(b)),
                    _ => Err(E::custom(format!(
                        "burst must be a positive integer, got {v}"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Burst, E> {
                Err(E::custom(format!(
                    "burst must be a positive integer, got {v}"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Burst, E> {
                Err(E::custom(format!(
                    "burst must be a positive integer, got {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the cluster: a mapping with `nodeGroups`, `nodes` or `bootControlPlane`"
)]
pub(super) struct RawCluster {
    #[serde(default)]
    pub node_groups: Vec<Located<RawNodeGroup>>,
    pub nodes: Option<ManifestSource>,
    #[serde(default)]
    pub boot_control_plane: bool,
    /// With `bootControlPlane`: overrides of the static pods.
    #[serde(default)]
    pub static_pods: BTreeMap<StaticPodName, RawStaticPod>,
}

/// An override of one control-plane static pod.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a static pod override such as `{image: registry.k8s.io/etcd:3.5.16-0, startup: 3s}`"
)]
pub(super) struct RawStaticPod {
    pub image: Option<String>,
    pub startup: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a node group such as `{name: worker, count: 3, capacity: {cpu: 4, memory: 16Gi}}`"
)]
pub(super) struct RawNodeGroup {
    pub name: GroupName,
    pub count: Count,
    #[serde(default)]
    pub capacity: BTreeMap<String, NonNegative<Capacity>>,
    pub allocatable: Option<BTreeMap<String, NonNegative<Capacity>>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<RawTaint>,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub unschedulable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a taint such as `{key: dedicated, value: gpu, effect: NoSchedule}`"
)]
pub(super) struct RawTaint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the scheduler settings: a mapping with `policy`, `featureGates` or `clientConnection`"
)]
pub(super) struct RawScheduler {
    pub policy: Option<PolicyName>,
    #[serde(default)]
    pub feature_gates: RawFeatureGates,
    pub client_connection: Option<RawClientConnection>,
}

/// `scheduler.clientConnection`: kube-scheduler's API client rate limit
/// (KubeSchedulerConfiguration's `clientConnection.qps` and `burst`).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the scheduler's client rate limit: a mapping with `qps` and `burst`"
)]
pub(super) struct RawClientConnection {
    pub qps: Option<Qps>,
    pub burst: Option<Burst>,
}

/// `scheduler.featureGates`: kube-scheduler's `--feature-gates`, the
/// ones the model has.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "kube-scheduler feature gates: a mapping of `SchedulerQueueingHints` to true or false"
)]
pub(super) struct RawFeatureGates {
    #[serde(rename = "SchedulerQueueingHints")]
    pub scheduler_queueing_hints: Option<bool>,
}

/// `scheduler.policy`: a named policy, or a KubeSchedulerConfiguration
/// file (read when the run starts). A name that is neither is refused
/// here, where its place is known.
#[derive(Debug)]
pub(super) struct PolicyName(pub String);

impl<'de> Deserialize<'de> for PolicyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if crate::scheduler::profile::named(&s).is_none() && !crate::scheduler::config::is_file(&s)
        {
            return Err(de::Error::custom(
                crate::scheduler::profile::unknown_policy(&s),
            ));
        }
        Ok(PolicyName(s))
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an action such as `{at: 0s, apply: web.yaml}`"
)]
pub(super) struct RawAction {
    pub at: Duration,
    pub apply: Option<ManifestSource>,
    pub delete: Option<RawTarget>,
    pub scale: Option<RawScale>,
    pub set_image: Option<RawSetImage>,
    pub rollout_undo: Option<RawUndo>,
    pub pause: Option<RawRef>,
    pub resume: Option<RawRef>,
    pub remove_scheduling_gates: Option<RawUngate>,
    pub remove_finalizers: Option<RawUnfinalize>,
    /// Node actions, each naming a node.
    pub cordon: Option<String>,
    pub uncordon: Option<String>,
    pub drain: Option<String>,
    pub fail_node: Option<String>,
    pub recover_node: Option<String>,
    pub remove_node: Option<String>,
    /// A node group to add at run time.
    pub add_nodes: Option<RawNodeGroup>,
    /// `kubectl label node`.
    pub label: Option<RawLabel>,
    /// `kubectl taint node`.
    pub taint: Option<RawTaintAction>,
    pub generate: Option<super::generate::RawGenerate>,
}

/// `propagationPolicy` of a `delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(super) enum Propagation {
    Background,
    Orphan,
}

/// The object a `pause` or `resume` names.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the Deployment, such as `{kind: Deployment, name: web}`"
)]
pub(super) struct RawRef {
    pub kind: KindName,
    pub name: String,
    pub namespace: Option<String>,
}

/// `rolloutUndo`: back to the previous revision, or to `toRevision`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the Deployment to roll back, such as `{kind: Deployment, name: web, toRevision: 1}`"
)]
pub(super) struct RawUndo {
    pub kind: KindName,
    pub name: String,
    pub namespace: Option<String>,
    pub to_revision: Option<u32>,
}

/// `removeSchedulingGates`: the pod (by name, or every pod a label
/// selector picks in the namespace), and the gates to remove (all when
/// none are listed).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the pods whose gates to remove, such as \
                 `{name: job-0, gates: [example.com/quota]}` or \
                 `{selector: {matchLabels: {app: web}}}`"
)]
pub(super) struct RawUngate {
    pub name: Option<String>,
    pub selector: Option<crate::api::selector::LabelSelector>,
    pub namespace: Option<String>,
    pub gates: Option<Vec<String>>,
}

/// `removeFinalizers`: the object, and the finalizers to remove (all when
/// none are listed).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the object whose finalizers to remove, such as \
                 `{kind: Pod, name: web-0, finalizers: [example.com/keep]}`"
)]
pub(super) struct RawUnfinalize {
    pub kind: KindName,
    pub name: String,
    pub namespace: Option<String>,
    pub finalizers: Option<Vec<String>>,
}

/// `label`: the node, and its labels to set (`KEY: VALUE`) or remove
/// (`KEY: null`), as `kubectl label node NODE KEY=VALUE KEY- --overwrite`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the node and its labels, such as \
                 `{node: worker-1, labels: {disktype: ssd, old-label: null}}`"
)]
pub(super) struct RawLabel {
    pub node: String,
    pub labels: BTreeMap<String, Option<String>>,
}

/// `taint`: the node, the taints to add (a taint of the same key and
/// effect is replaced, as with `kubectl taint --overwrite`) and those to
/// remove.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the node and its taints, such as \
                 `{node: worker-1, add: [{key: dedicated, value: gpu, effect: NoSchedule}], \
                 remove: [{key: maintenance}]}`"
)]
pub(super) struct RawTaintAction {
    pub node: String,
    #[serde(default)]
    pub add: Vec<RawTaint>,
    #[serde(default)]
    pub remove: Vec<RawTaintRef>,
}

/// A taint to remove: its key, and its effect (every effect of the key
/// without one).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a taint to remove, such as `{key: dedicated}` or \
                 `{key: dedicated, effect: NoSchedule}`"
)]
pub(super) struct RawTaintRef {
    pub key: String,
    pub effect: Option<crate::api::pod::TaintEffect>,
}

/// The object a `delete` names.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the object to delete, such as `{kind: Pod, name: web}`"
)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawTarget {
    pub kind: KindName,
    pub name: String,
    pub namespace: Option<String>,
    pub propagation_policy: Option<Propagation>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "what to scale, such as `{kind: Deployment, name: web, replicas: 10}`"
)]
pub(super) struct RawScale {
    pub kind: KindName,
    pub name: String,
    pub namespace: Option<String>,
    #[serde(deserialize_with = "replicas")]
    pub replicas: u32,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the image to set, such as \
                 `{kind: Deployment, name: web, container: nginx, image: nginx:1.28}`"
)]
pub(super) struct RawSetImage {
    pub kind: KindName,
    pub name: String,
    pub namespace: Option<String>,
    pub container: String,
    pub image: String,
}

/// Where manifests come from: a file beside the scenario, or inline.
#[derive(Debug)]
pub(super) enum ManifestSource {
    /// The path as written, and where it is written.
    File {
        path: String,
        loc: Option<Loc>,
    },
    Inline(Vec<ManifestDoc>),
}

impl<'de> Deserialize<'de> for ManifestSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut path = String::new();
        // A file name answers with a probe, to learn where it is written
        // (for the "cannot read" message).
        match catch_probe(d.deserialize_any(SourceVisitor { path: &mut path }))? {
            Ok(docs) => Ok(ManifestSource::Inline(docs)),
            Err(loc) => Ok(ManifestSource::File { path, loc }),
        }
    }
}

struct SourceVisitor<'a> {
    path: &'a mut String,
}

impl<'de> Visitor<'de> for SourceVisitor<'_> {
    type Value = Vec<ManifestDoc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a manifest file name, an inline manifest, or a list of inline manifests")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Err(E::custom(
                "empty file name: expected a manifest file beside the scenario, such as web.yaml",
            ));
        }
        v.clone_into(self.path);
        Err(probe())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(vec![ManifestDoc::from_map(map)?])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut docs = Vec::new();
        while let Some(doc) = seq.next_element::<ManifestDoc>()? {
            docs.push(doc);
        }
        Ok(docs)
    }
}

/// A string checked by its visitor, so that the error has its position.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $expecting:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub(super) struct $name(pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        let check: fn(&str) -> Result<(), String> = $check;
                        check(v).map_err(E::custom)?;
                        Ok($name(v.to_owned()))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

checked_string!(
    /// The scenario's name; it names the output directory, so no paths.
    ScenarioName,
    "a scenario name",
    |v| {
        if v.is_empty() || v == "." || v == ".." || v.contains(['/', '\\']) {
            Err(format!(
                "invalid scenario name `{v}`: it names the output directory, \
                 so it must be non-empty, without `/` or `\\`, and not `.` or `..`"
            ))
        } else {
            Ok(())
        }
    }
);

checked_string!(
    /// A node group's name: the prefix of its nodes' names, which must be
    /// valid Kubernetes object names.
    GroupName,
    "a node group name such as worker",
    |v| {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let valid = v.len() <= 240
            && v.starts_with(ok_char)
            && v.ends_with(ok_char)
            && v.chars().all(|c| ok_char(c) || c == '-' || c == '.');
        if valid {
            Ok(())
        } else {
            Err(format!(
                "invalid node group name `{v}`: it prefixes the node names, so it must be \
                 lowercase letters, digits, `-` and `.`, and start and end with a letter or digit"
            ))
        }
    }
);

/// A node group's node count.
#[derive(Clone, Copy, Debug)]
pub(super) struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl CountVisitor {
    fn bad<E: de::Error>(got: impl fmt::Display) -> E {
        E::custom(format!("count must be a non-negative integer, got {got}"))
    }
}

impl Visitor<'_> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer node count")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
        if v > MAX_GROUP_NODES {
            return Err(E::custom(format!(
                "count must be at most {MAX_GROUP_NODES}, got {v}"
            )));
        }
        Ok(Count(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(Self::bad(v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
        Err(Self::bad(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
        Err(Self::bad(format_args!("`{v}`")))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Count, E> {
        Err(Self::bad(v))
    }
}

/// What a non-negative quantity measures, for its messages.
pub(super) trait QuantityNoun {
    const NOUN: &'static str;
    const ALLOW_ZERO: bool = true;
}

#[derive(Debug)]
pub(super) struct Capacity;
impl QuantityNoun for Capacity {
    const NOUN: &'static str = "a node resource";
}

#[derive(Debug)]
pub(super) struct ImageSize;
impl QuantityNoun for ImageSize {
    const NOUN: &'static str = "an image size";
}

#[derive(Debug)]
pub(super) struct Bandwidth;
impl QuantityNoun for Bandwidth {
    const NOUN: &'static str = "imagePullBandwidth";
    const ALLOW_ZERO: bool = false;
}

/// A quantity that may not be negative (nor zero, for some nouns),
/// checked while the scalar is read so that the error is located.
#[derive(Debug)]
pub(super) struct NonNegative<N>(pub Quantity, PhantomData<N>);

impl<N> NonNegative<N> {
    /// The whole value (bytes, counts), rounded up.
    pub fn whole(&self) -> u64 {
        u64::try_from(self.0.value()).unwrap_or(0)
    }
}

impl<'de, N: QuantityNoun> Deserialize<'de> for NonNegative<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NonNegativeVisitor(PhantomData))
    }
}

struct NonNegativeVisitor<N>(PhantomData<N>);

impl<N: QuantityNoun> NonNegativeVisitor<N> {
    /// Parses with `Quantity`'s own deserializer (for its messages), then
    /// checks the sign.
    fn check<'de, E: de::Error, D: Deserializer<'de, Error = E>>(
        text: impl fmt::Display,
        d: D,
    ) -> Result<NonNegative<N>, E> {
        let q = Quantity::deserialize(d)?;
        if q.is_negative() {
            return Err(E::custom(format!(
                "{} must not be negative, got `{text}`",
                N::NOUN
            )));
        }
        if !N::ALLOW_ZERO && q.value() == 0 {
            return Err(E::custom(format!(
                "{} must be positive, got `{text}`",
                N::NOUN
            )));
        }
        Ok(NonNegative(q, PhantomData))
    }
}

impl<'de, N: QuantityNoun> Visitor<'de> for NonNegativeVisitor<N> {
    type Value = NonNegative<N>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: a quantity such as 4, 500m or 16Gi", N::NOUN)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::check(v, v.into_deserializer())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::check(v, v.into_deserializer())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::check(v, v.into_deserializer())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::check(v, v.into_deserializer())
    }
}

/// An entry of `images:`: a size, or `{size: 10Mi, missing: true}`.
#[derive(Debug)]
pub(super) struct RawImage {
    pub size: u64,
    /// The registry does not have it: pulls fail.
    pub missing: bool,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an image such as `{size: 70Mi}` or `{size: 10Mi, missing: true}`"
)]
struct RawImageSpec {
    size: Option<NonNegative<ImageSize>>,
    #[serde(default)]
    missing: bool,
}

impl<'de> Deserialize<'de> for RawImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawImage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an image size such as 70Mi, or `{size: 10Mi, missing: true}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawImage, E> {
                let q = NonNegativeVisitor::<ImageSize>(PhantomData).visit_str(v)?;
                Ok(RawImage {
                    size: q.whole(),
                    missing: false,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawImage, E> {
                let q = NonNegativeVisitor::<ImageSize>(PhantomData).visit_u64(v)?;
                Ok(RawImage {
                    size: q.whole(),
                    missing: false,
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawImage, E> {
                let q = NonNegativeVisitor::<ImageSize>(PhantomData).visit_i64(v)?;
                Ok(RawImage {
                    size: q.whole(),
                    missing: false,
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawImage, E> {
                let q = NonNegativeVisitor::<ImageSize>(PhantomData).visit_f64(v)?;
                Ok(RawImage {
                    size: q.whole(),
                    missing: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawImage, A::Error> {
                let spec = RawImageSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                match (spec.size, spec.missing) {
                    (Some(size), missing) => Ok(RawImage {
                        size: size.whole(),
                        missing,
                    }),
                    (None, true) => Ok(RawImage {
                        size: 0,
                        missing: true,
                    }),
                    (None, false) => Err(de::Error::custom(
                        "this image needs a `size` (pulls take size / imagePullBandwidth), \
                         unless it is `missing: true`",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A kind of object named in an action.
#[derive(Clone, Copy, Debug)]
pub(super) struct KindName(pub Kind);

impl<'de> Deserialize<'de> for KindName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KindName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a kind such as Pod or Deployment")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KindName, E> {
                Kind::parse(v).map(KindName).ok_or_else(|| {
                    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    E::custom(unknown("kind", v, &kinds))
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a map key, refusing keys not in `valid` and keys already `seen`,
/// with the key's own position.
struct KeySeed<'a> {
    valid: &'a [&'a str],
    seen: &'a [String],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if !self.valid.contains(&v) {
            return Err(E::custom(unknown("key", v, self.valid)));
        }
        if self.seen.iter().any(|s| s == v) {
            return Err(E::custom(format!("duplicate key `{v}`")));
        }
        Ok(v.to_owned())
    }
}

pub(super) const IMAGE_PULL_BANDWIDTH: &str = "imagePullBandwidth";

/// `latencies:`: a duration or a distribution per hop, and the pull
/// bandwidth. Keys are checked by hand since they come from `Hop`.
#[derive(Debug, Default)]
pub(super) struct RawLatencies(pub LatencyConfig);

impl<'de> Deserialize<'de> for RawLatencies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(LatenciesVisitor)
    }
}

struct LatenciesVisitor;

impl<'de> Visitor<'de> for LatenciesVisitor {
    type Value = RawLatencies;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("latencies: a mapping such as `{etcdWrite: 2ms}`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawLatencies, A::Error> {
        let mut valid: Vec<&str> = Hop::ALL.iter().map(|h| h.key()).collect();
        valid.push(IMAGE_PULL_BANDWIDTH);
        let mut seen = Vec::new();
        let mut config = LatencyConfig::default();
        while let Some(key) = map.next_key_seed(KeySeed {
            valid: &valid,
            seen: &seen,
        })? {
            match Hop::parse(&key) {
                Some(hop) => {
                    let LatencyValue(dist) = map.next_value()?;
                    config.overrides.push((hop, dist));
                }
                None => {
                    let bandwidth: NonNegative<Bandwidth> = map.next_value()?;
                    config.image_pull_bandwidth = Some(bandwidth.whole());
                }
            }
            seen.push(key);
        }
        Ok(RawLatencies(config))
    }
}

/// A hop's latency: a duration (a constant) or a distribution.
#[derive(Debug)]
pub(super) struct LatencyValue(pub Dist);

impl<'de> Deserialize<'de> for LatencyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LatencyVisitor)
    }
}

struct LatencyVisitor;

impl LatencyVisitor {
    /// Bare numbers follow `Duration`'s rules (only `0` has no unit).
    fn number<'de, E: de::Error, D: Deserializer<'de, Error = E>>(d: D) -> Result<LatencyValue, E> {
        Ok(LatencyValue(Dist::Constant(Duration::deserialize(d)?.0)))
    }
}

const DISTRIBUTIONS: [&str; 5] = ["constant", "uniform", "exponential", "normal", "lognormal"];
const DISTRIBUTION: &str = "distribution";
const DISTRIBUTION_KEYS: [&str; 8] = [
    DISTRIBUTION,
    "value",
    "min",
    "max",
    "mean",
    "stddev",
    "median",
    "p99",
];

/// The parameters each distribution takes, all durations.
fn parameters(distribution: &str) -> &'static [&'static str] {
    match distribution {
        "constant" => &["value"],
        "uniform" => &["min", "max"],
        "exponential" => &["mean"],
        "normal" => &["mean", "stddev"],
        _ => &["median", "p99"],
    }
}

/// "`a`", "`a` and `b`".
fn and_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

impl<'de> Visitor<'de> for LatencyVisitor {
    type Value = LatencyValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a duration such as 2ms, or a distribution such as \
             `{distribution: lognormal, median: 1ms, p99: 10ms}`",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LatencyValue, E> {
        parse_duration(v)
            .map(|ns| LatencyValue(Dist::Constant(ns)))
            .map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LatencyValue, E> {
        Self::number(v.into_deserializer())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LatencyValue, E> {
        Self::number(v.into_deserializer())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LatencyValue, E> {
        Self::number(v.into_deserializer())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LatencyValue, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut name: Option<&'static str> = None;
        let mut values: BTreeMap<String, u64> = BTreeMap::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            valid: &DISTRIBUTION_KEYS,
            seen: &seen,
        })? {
            if key == DISTRIBUTION {
                name = Some(map.next_value::<DistributionName>()?.0);
            } else {
                values.insert(key.clone(), map.next_value::<Duration>()?.0);
            }
            seen.push(key);
        }
        let Some(name) = name else {
            return Err(de::Error::custom(format!(
                "a latency distribution needs a `distribution` key: one of {}",
                and_list(&DISTRIBUTIONS).replace(" and ", ", ")
            )));
        };
        let wanted = parameters(name);
        if let Some(extra) = values.keys().find(|k| !wanted.contains(&k.as_str())) {
            return Err(de::Error::custom(format!(
                "the {name} distribution takes {}, not `{extra}`",
                and_list(wanted)
            )));
        }
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|p| !values.contains_key(*p))
            .collect();
        if !missing.is_empty() {
            return Err(de::Error::custom(format!(
                "the {name} distribution needs {}; {} missing",
                and_list(wanted),
                and_list(&missing) + if missing.len() == 1 { " is" } else { " are" }
            )));
        }
        let get = |p: &str| values.get(p).copied().unwrap_or(0);
        let dist = match name {
            "constant" => Dist::Constant(get("value")),
            "uniform" => Dist::Uniform {
                min: get("min"),
                max: get("max"),
            },
            "exponential" => Dist::Exponential { mean: get("mean") },
            "normal" => Dist::Normal {
                mean: get("mean"),
                stddev: get("stddev"),
            },
            _ => Dist::LogNormal {
                median: get("median"),
                p99: get("p99"),
            },
        };
        match dist {
            Dist::Uniform { min, max } if min > max => Err(de::Error::custom(format!(
                "the uniform distribution needs min <= max, got min {} and max {}",
                Duration(min),
                Duration(max)
            ))),
            Dist::LogNormal { median, p99 } if p99 < median => Err(de::Error::custom(format!(
                "the lognormal distribution needs p99 >= median, got median {} and p99 {}",
                Duration(median),
                Duration(p99)
            ))),
            dist => Ok(LatencyValue(dist)),
        }
    }
}

struct DistributionName(&'static str);

impl<'de> Deserialize<'de> for DistributionName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DistributionName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a distribution name such as lognormal")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DistributionName, E> {
                DISTRIBUTIONS
                    .iter()
                    .find(|d| **d == v)
                    .map(|d| DistributionName(d))
                    .ok_or_else(|| E::custom(unknown("distribution", v, &DISTRIBUTIONS)))
            }
        }
        d.deserialize_str(V)
    }
}

checked_string!(
    /// A control-plane component with a static pod.
    StaticPodName,
    "a control-plane component: etcd, kube-apiserver, kube-controller-manager or kube-scheduler",
    |v| {
        const NAMES: [&str; 4] = [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ];
        if NAMES.contains(&v) {
            Ok(())
        } else {
            Err(unknown("static pod", v, &NAMES))
        }
    }
);

impl PartialEq for StaticPodName {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for StaticPodName {}
impl PartialOrd for StaticPodName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for StaticPodName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}
