//! Pods: the spec a user writes (containers, resources, scheduling
//! constraints) and the status the kubelet reports.

use std::collections::BTreeMap;

use std::sync::Arc;

use serde::Deserialize;

use super::meta::{Labels, ObjectMeta};
use super::quantity::Quantity;
use super::selector::{LabelSelector, NodeSelector};
use crate::engine::Time;

/// The scheduler name pods get when they name none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Shared between the versions of a pod: status writes, which are most
    /// writes, copy the pointer; a spec change copies the spec
    /// (`Arc::make_mut`).
    #[serde(default)]
    pub spec: Arc<PodSpec>,
    /// Written only by the simulation (a manifest's `status` is ignored).
    #[serde(skip)]
    pub status: PodStatus,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// The containers, init containers and tolerations are shared between
    /// copies of a spec (a binding or an admission default copies the spec,
    /// not them); a change copies the list (`Arc::make_mut`).
    #[serde(default)]
    pub containers: Arc<Vec<Container>>,
    #[serde(default)]
    pub init_containers: Arc<Vec<Container>>,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub node_selector: Labels,
    #[serde(default)]
    pub affinity: Option<Affinity>,
    #[serde(default)]
    pub tolerations: Arc<Vec<Toleration>>,
    #[serde(default)]
    pub scheduler_name: Option<String>,
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub priority_class_name: Option<String>,
    /// `PreemptLowerPriority` (the default) or `Never`; set from the
    /// PriorityClass at admission.
    #[serde(default)]
    pub preemption_policy: Option<String>,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default)]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub host_network: bool,
    #[serde(default)]
    pub overhead: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// While any is left, the scheduler leaves the pod alone (upstream's
    /// SchedulingGates PreEnqueue plugin); gates can only be removed.
    #[serde(default)]
    pub scheduling_gates: Vec<PodSchedulingGate>,
    /// Pod-level requests and limits (upstream's PodLevelResources): cpu
    /// and memory set here replace the containers' sum.
    #[serde(default)]
    pub resources: Option<PodLevelResources>,
    /// The pod's volumes (only claims and attachable disks are read).
    #[serde(default)]
    pub volumes: Vec<super::volume::PodVolume>,
}

/// `spec.resources` of a pod.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PodLevelResources {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
}

impl PodLevelResources {
    /// The pod-level request for `resource`: its request, else its limit
    /// (upstream's defaulting copies a limit without a request).
    pub fn request(&self, resource: &str) -> Option<&Quantity> {
        self.requests
            .get(resource)
            .or_else(|| self.limits.get(resource))
    }
}

/// As a derived `Debug`, but without `scheduling_gates` when there are
/// none and without `resources` when unset: a ReplicaSet's name hashes
/// its template's `Debug` text (`controllers::deployment::pod_template_hash`),
/// and a template without them keeps the name it had before the fields
/// existed.
impl std::fmt::Debug for PodSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("PodSpec");
        d.field("containers", &self.containers)
            .field("init_containers", &self.init_containers)
            .field("node_name", &self.node_name)
            .field("node_selector", &self.node_selector)
            .field("affinity", &self.affinity)
            .field("tolerations", &self.tolerations)
            .field("scheduler_name", &self.scheduler_name)
            .field("priority", &self.priority)
            .field("priority_class_name", &self.priority_class_name)
            .field("preemption_policy", &self.preemption_policy)
            .field("restart_policy", &self.restart_policy)
            .field(
                "termination_grace_period_seconds",
                &self.termination_grace_period_seconds,
            )
            .field("host_network", &self.host_network)
            .field("overhead", &self.overhead)
            .field(
                "topology_spread_constraints",
                &self.topology_spread_constraints,
            );
        if !self.scheduling_gates.is_empty() {
            d.field("scheduling_gates", &self.scheduling_gates);
        }
        if let Some(r) = &self.resources {
            d.field("resources", r);
        }
        d.finish()
    }
}

/// One of `spec.schedulingGates`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PodSchedulingGate {
    pub name: String,
}

impl PodSpec {
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart_policy.unwrap_or_default()
    }

    pub fn node_name(&self) -> Option<&str> {
        self.node_name.as_deref().filter(|n| !n.is_empty())
    }

    pub fn scheduler_name(&self) -> &str {
        self.scheduler_name.as_deref().unwrap_or(DEFAULT_SCHEDULER)
    }

    /// The pod's priority; unset counts as 0.
    pub fn priority(&self) -> i32 {
        self.priority.unwrap_or(0)
    }

    pub fn required_node_affinity(&self) -> Option<&NodeSelector> {
        self.affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()
    }
}

/// How long a pod's containers run and how they end: kubesim's own
/// annotations, since a simulated container runs no code.
pub const ANNOTATION_RUN_DURATION: &str = "kubesim.io/run-duration";
pub const ANNOTATION_EXIT_CODE: &str = "kubesim.io/exit-code";
pub const ANNOTATION_INIT_RUN_DURATION: &str = "kubesim.io/init-run-duration";
pub const ANNOTATION_SHUTDOWN_DURATION: &str = "kubesim.io/shutdown-duration";
pub const ANNOTATION_READINESS_FAIL_AFTER: &str = "kubesim.io/readiness-fail-after";

/// What the kubesim annotations say a pod's containers do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimBehaviour {
    /// Each container exits this long after it starts; `None`: runs until
    /// stopped.
    pub run_for: Option<Time>,
    /// The exit code when it does (default 0).
    pub exit_code: i32,
    /// Each init container runs this long, then exits 0 (default 0).
    pub init_run_for: Time,
    /// How long a container takes to stop on SIGTERM (default 0); past the
    /// grace period it is killed (exit code 137).
    pub shutdown: Time,
    /// Readiness probes start failing once the container has run this long.
    pub readiness_fail_after: Option<Time>,
}

impl SimBehaviour {
    /// Reads the annotations; an error names the bad one, as validation says it.
    pub fn of(meta: &super::meta::ObjectMeta) -> Result<SimBehaviour, String> {
        if meta.annotations.is_empty() {
            return Ok(SimBehaviour::default());
        }
        let dur = |key: &str| -> Result<Option<Time>, String> {
            match meta.annotations.get(key) {
                None => Ok(None),
                Some(v) => crate::scenario::duration::parse_duration(v)
                    .map(Some)
                    .map_err(|e| {
                        format!(
                            "metadata.annotations[{key}]: Invalid value: \"{v}\": {}, expected a Go duration such as 30s",
                            e.reason
                        )
                    }),
            }
        };
        let exit_code = match meta.annotations.get(ANNOTATION_EXIT_CODE) {
            None => 0,
            Some(v) => v.trim().parse::<i32>().ok().filter(|c| (0..=255).contains(c)).ok_or_else(|| {
                format!(
                    "metadata.annotations[{ANNOTATION_EXIT_CODE}]: Invalid value: \"{v}\": expected an exit code from 0 to 255"
                )
            })?,
        };
        Ok(SimBehaviour {
            run_for: dur(ANNOTATION_RUN_DURATION)?,
            exit_code,
            init_run_for: dur(ANNOTATION_INIT_RUN_DURATION)?.unwrap_or(0),
            shutdown: dur(ANNOTATION_SHUTDOWN_DURATION)?.unwrap_or(0),
            readiness_fail_after: dur(ANNOTATION_READINESS_FAIL_AFTER)?,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default)]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    #[serde(default)]
    pub readiness_probe: Option<Probe>,
}

/// A probe's timing (`readinessProbe`); the handler (`httpGet`, `exec`,
/// ...) is accepted and ignored: a probe succeeds while its container runs,
/// unless the pod's `kubesim.io/readiness-fail-after` says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default, deserialize_with = "probe_fields::initial_delay_seconds")]
    pub initial_delay_seconds: Option<i64>,
    #[serde(default, deserialize_with = "probe_fields::period_seconds")]
    pub period_seconds: Option<i64>,
    #[serde(default, deserialize_with = "probe_fields::timeout_seconds")]
    pub timeout_seconds: Option<i64>,
    #[serde(default, deserialize_with = "probe_fields::success_threshold")]
    pub success_threshold: Option<i64>,
    #[serde(default, deserialize_with = "probe_fields::failure_threshold")]
    pub failure_threshold: Option<i64>,
}

/// A probe's numbers: the apiserver's validation refuses a negative one
/// (`initialDelaySeconds: Invalid value: -3: must be greater than or equal
/// to 0`); refused while the manifest is read, where its place is known.
mod probe_fields {
    use serde::Deserialize;

    fn non_negative<'de, D: serde::Deserializer<'de>>(
        d: D,
        field: &str,
    ) -> Result<Option<i64>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            Some(n) if n < 0 => Err(serde::de::Error::custom(format!(
                "{field}: Invalid value: {n}: must be greater than or equal to 0"
            ))),
            v => Ok(v),
        }
    }

    macro_rules! fields {
        ($($f:ident: $name:literal),*) => {$(
            pub fn $f<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
                non_negative(d, $name)
            }
        )*};
    }

    fields!(
        initial_delay_seconds: "initialDelaySeconds",
        period_seconds: "periodSeconds",
        timeout_seconds: "timeoutSeconds",
        success_threshold: "successThreshold",
        failure_threshold: "failureThreshold"
    );
}

impl Probe {
    /// initialDelaySeconds, default 0.
    pub fn initial_delay(&self) -> i64 {
        self.initial_delay_seconds.unwrap_or(0)
    }
    /// periodSeconds, default (and when 0) 10.
    pub fn period(&self) -> i64 {
        self.period_seconds.filter(|p| *p > 0).unwrap_or(10)
    }
    /// failureThreshold, default (and when 0) 3.
    pub fn failure_threshold(&self) -> i64 {
        self.failure_threshold.filter(|f| *f > 0).unwrap_or(3)
    }
}

impl Container {
    /// The pull policy with the upstream default: `Always` for the tag
    /// `latest` or no tag (and no digest), else `IfNotPresent`.
    pub fn pull_policy(&self) -> PullPolicy {
        self.image_pull_policy.unwrap_or_else(|| {
            // Byte searches (the kubelet asks for every container it starts).
            let image = self.image.as_bytes();
            if image.contains(&b'@') {
                return PullPolicy::IfNotPresent;
            }
            // The last path segment, and its tag after the first ':'.
            let last = match image.iter().rposition(|&b| b == b'/') {
                Some(i) => &image[i + 1..],
                None => image,
            };
            match last.iter().position(|&b| b == b':') {
                None => PullPolicy::Always,
                Some(i) if &last[i + 1..] == b"latest" => PullPolicy::Always,
                Some(_) => PullPolicy::IfNotPresent,
            }
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ResourceRequirements {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
}

impl ResourceRequirements {
    /// Requests, with limits standing in where a request is missing (the
    /// apiserver's defaulting).
    pub fn effective_requests(&self) -> BTreeMap<String, Quantity> {
        let mut r = self.requests.clone();
        for (k, v) in &self.limits {
            r.entry(k.clone()).or_insert(*v);
        }
        r
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default)]
    pub container_port: i32,
    #[serde(default)]
    pub host_port: Option<i32>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    #[serde(default)]
    pub node_affinity: Option<NodeAffinity>,
    #[serde(default)]
    pub pod_affinity: Option<PodAffinity>,
    #[serde(default)]
    pub pod_anti_affinity: Option<PodAffinity>,
}

/// `podAffinity` or `podAntiAffinity` (the two have the same shape).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    #[serde(default)]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    #[serde(default)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// Pods matching `labelSelector` in `namespaces` or in the namespaces whose
/// labels `namespaceSelector` matches (the pod's own namespace when both
/// are absent; an empty `namespaceSelector`, `{}`, matches every
/// namespace), counted per domain of `topologyKey`. A missing
/// `labelSelector` matches no pod, as upstream.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub topology_key: String,
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
}

// By hand, to leave out an absent namespaceSelector: a ReplicaSet's name
// hashes its pod template's `Debug` text, which stays as it was before the
// field existed.
impl std::fmt::Debug for PodAffinityTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("PodAffinityTerm");
        d.field("label_selector", &self.label_selector)
            .field("namespaces", &self.namespaces)
            .field("topology_key", &self.topology_key);
        if let Some(s) = &self.namespace_selector {
            d.field("namespace_selector", s);
        }
        d.finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    pub weight: i32,
    pub pod_affinity_term: PodAffinityTerm,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
    /// Not given: the apiserver refuses the pod (the field is required).
    #[default]
    #[serde(skip)]
    Unset,
}

/// A spread constraint's node inclusion policy: whether the pod's node
/// affinity (or its tolerations) decide which nodes count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum NodeInclusionPolicy {
    Honor,
    Ignore,
}

/// `topologySpreadConstraints[]`. `nodeAffinityPolicy` defaults to Honor,
/// `nodeTaintsPolicy` to Ignore; `matchLabelKeys` adds the pod's own values
/// of those labels to the selector (upstream's scheduler-side merge).
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    #[serde(default)]
    pub when_unsatisfiable: WhenUnsatisfiable,
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    #[serde(default)]
    pub min_domains: Option<i32>,
    // Upstream's JSON decoding matches keys without regard to case, and its
    // own scheduler_perf templates write these two capitalised.
    #[serde(default, alias = "NodeAffinityPolicy")]
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    #[serde(default, alias = "NodeTaintsPolicy")]
    pub node_taints_policy: Option<NodeInclusionPolicy>,
    #[serde(default)]
    pub match_label_keys: Vec<String>,
}

impl TopologySpreadConstraint {
    /// Whether the pod's required node affinity decides the nodes counted.
    pub fn honors_node_affinity(&self) -> bool {
        self.node_affinity_policy != Some(NodeInclusionPolicy::Ignore)
    }

    /// Whether nodes with taints the pod does not tolerate are left out.
    pub fn honors_node_taints(&self) -> bool {
        self.node_taints_policy == Some(NodeInclusionPolicy::Honor)
    }
}

// By hand, to leave out the fields added later when absent: a ReplicaSet's
// name hashes its pod template's `Debug` text.
impl std::fmt::Debug for TopologySpreadConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TopologySpreadConstraint");
        d.field("max_skew", &self.max_skew)
            .field("topology_key", &self.topology_key)
            .field("when_unsatisfiable", &self.when_unsatisfiable)
            .field("label_selector", &self.label_selector)
            .field("min_domains", &self.min_domains);
        if let Some(p) = &self.node_affinity_policy {
            d.field("node_affinity_policy", p);
        }
        if let Some(p) = &self.node_taints_policy {
            d.field("node_taints_policy", p);
        }
        if !self.match_label_keys.is_empty() {
            d.field("match_label_keys", &self.match_label_keys);
        }
        d.finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    #[serde(default)]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    #[serde(default)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PreferredSchedulingTerm {
    pub weight: i32,
    pub preference: super::selector::NodeSelectorTerm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum TolerationOperator {
    #[default]
    Equal,
    Exists,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: TolerationOperator,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub effect: Option<TaintEffect>,
    #[serde(default)]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Upstream `ToleratesTaint`: the effect must match unless the toleration
    /// names none; the key must match unless it is empty (which, with
    /// `Exists`, tolerates every taint); then `Exists` matches any value and
    /// `Equal` the same value.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
}

/// Whether some toleration of the list tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PodConditionType {
    PodScheduled,
    PodReadyToStartContainers,
    Initialized,
    ContainersReady,
    Ready,
}

impl PodConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            PodConditionType::PodScheduled => "PodScheduled",
            PodConditionType::PodReadyToStartContainers => "PodReadyToStartContainers",
            PodConditionType::Initialized => "Initialized",
            PodConditionType::ContainersReady => "ContainersReady",
            PodConditionType::Ready => "Ready",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodCondition {
    pub kind: PodConditionType,
    pub status: bool,
    pub last_transition: Time,
    /// One of the kubelet's fixed reasons (`ContainersNotReady`, ...): a
    /// status copy copies no string for it.
    pub reason: &'static str,
}

/// A container's state, as `containerStatuses[].state` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// `reason`: ContainerCreating, PodInitializing, CrashLoopBackOff,
    /// ErrImagePull, ImagePullBackOff, ErrImageNeverPull.
    Waiting {
        reason: &'static str,
    },
    Running {
        started_at: Time,
    },
    Terminated {
        exit_code: i32,
        finished_at: Time,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerStatus {
    pub name: std::sync::Arc<str>,
    pub state: ContainerState,
    pub ready: bool,
    pub restart_count: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodStatus {
    pub phase: PodPhase,
    pub conditions: Vec<PodCondition>,
    /// Init containers' statuses, then the containers'.
    pub init_container_statuses: Vec<ContainerStatus>,
    pub container_statuses: Vec<ContainerStatus>,
    pub pod_ip: Option<std::sync::Arc<str>>,
    pub host_ip: Option<std::sync::Arc<str>>,
    pub start_time: Option<Time>,
    pub reason: String,
    pub message: String,
    /// Set by the scheduler when it preempted pods for this one.
    pub nominated_node_name: Option<String>,
}

impl PodStatus {
    pub fn condition(&self, kind: PodConditionType) -> Option<&PodCondition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    pub fn is_ready(&self) -> bool {
        self.condition(PodConditionType::Ready)
            .is_some_and(|c| c.status)
    }

    /// Sets a condition, keeping its transition time when the status is unchanged.
    pub fn set_condition(
        &mut self,
        kind: PodConditionType,
        status: bool,
        now: Time,
        reason: &'static str,
    ) {
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) if c.status == status => {}
            Some(c) => {
                c.status = status;
                c.last_transition = now;
                c.reason = reason;
            }
            None => {
                self.conditions.push(PodCondition {
                    kind,
                    status,
                    last_transition: now,
                    reason,
                });
                self.conditions.sort_by_key(|c| c.kind);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    /// The `Debug` text (which ReplicaSet names hash) of a spec without
    /// scheduling gates is the derived one of the fields before gates
    /// existed; gates, when present, come last.
    #[test]
    fn a_spec_without_gates_reads_as_before_they_existed() {
        let mut spec = PodSpec {
            priority: Some(3),
            ..PodSpec::default()
        };
        let text = format!("{spec:?}");
        assert!(text.starts_with("PodSpec { containers: [], init_containers: [], node_name: None"));
        assert!(text.ends_with("overhead: {}, topology_spread_constraints: [] }"));
        spec.scheduling_gates
            .push(PodSchedulingGate { name: "g".into() });
        assert!(format!("{spec:?}").ends_with(
            "topology_spread_constraints: [], scheduling_gates: [PodSchedulingGate { name: \"g\" }] }"
        ));
    }

    /// The same for an affinity term without a namespaceSelector.
    #[test]
    fn a_term_without_namespace_selector_reads_as_before_it_existed() {
        let mut term = PodAffinityTerm {
            topology_key: "zone".into(),
            ..PodAffinityTerm::default()
        };
        assert_eq!(
            format!("{term:?}"),
            "PodAffinityTerm { label_selector: None, namespaces: [], topology_key: \"zone\" }"
        );
        term.namespace_selector = Some(LabelSelector::default());
        assert!(format!("{term:?}").ends_with(
            "topology_key: \"zone\", namespace_selector: LabelSelector { match_labels: {}, match_expressions: [] } }"
        ));
    }

    /// The same for a spread constraint without the later fields.
    #[test]
    fn a_constraint_without_policies_reads_as_before_they_existed() {
        let mut c: TopologySpreadConstraint = serde_yaml::from_str(
            "{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}",
        )
        .unwrap();
        assert_eq!(
            format!("{c:?}"),
            "TopologySpreadConstraint { max_skew: 1, topology_key: \"zone\", when_unsatisfiable: DoNotSchedule, label_selector: None, min_domains: None }"
        );
        assert!(c.honors_node_affinity() && !c.honors_node_taints());
        c = serde_yaml::from_str(
            "{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, NodeTaintsPolicy: Honor, nodeAffinityPolicy: Ignore, matchLabelKeys: [pod-template-hash]}",
        )
        .unwrap();
        assert!(!c.honors_node_affinity() && c.honors_node_taints());
        assert!(format!("{c:?}").ends_with(
            "node_affinity_policy: Ignore, node_taints_policy: Honor, match_label_keys: [\"pod-template-hash\"] }"
        ));
        assert!(
            serde_yaml::from_str::<TopologySpreadConstraint>(
                "{maxSkew: 1, topologyKey: zone, nodeTaintsPolicy: Bogus}"
            )
            .is_err()
        );
    }

    #[test]
    fn toleration_matching_follows_upstream() {
        let t: Vec<Toleration> = serde_yaml::from_str(
            "- {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}",
        )
        .unwrap();
        assert!(tolerated(
            &t,
            &taint("dedicated", "gpu", TaintEffect::NoSchedule)
        ));
        assert!(!tolerated(
            &t,
            &taint("dedicated", "gpu", TaintEffect::NoExecute)
        ));
        assert!(!tolerated(
            &t,
            &taint("dedicated", "cpu", TaintEffect::NoSchedule)
        ));
        let all: Vec<Toleration> = serde_yaml::from_str("- {operator: Exists}").unwrap();
        assert!(tolerated(
            &all,
            &taint("any", "thing", TaintEffect::NoExecute)
        ));
        let key_only: Vec<Toleration> =
            serde_yaml::from_str("- {key: dedicated, operator: Exists}").unwrap();
        assert!(tolerated(
            &key_only,
            &taint("dedicated", "x", TaintEffect::PreferNoSchedule)
        ));
        assert!(!tolerated(
            &key_only,
            &taint("other", "x", TaintEffect::NoSchedule)
        ));
    }

    #[test]
    fn pull_policy_defaults_follow_upstream() {
        let c = |image: &str| Container {
            name: "c".into(),
            image: image.into(),
            ..Default::default()
        };
        assert_eq!(c("nginx").pull_policy(), PullPolicy::Always);
        assert_eq!(c("nginx:latest").pull_policy(), PullPolicy::Always);
        assert_eq!(c("nginx:1.27").pull_policy(), PullPolicy::IfNotPresent);
        assert_eq!(c("registry:5000/app").pull_policy(), PullPolicy::Always);
        assert_eq!(
            c("registry:5000/app:v1").pull_policy(),
            PullPolicy::IfNotPresent
        );
        assert_eq!(c("app@sha256:abc").pull_policy(), PullPolicy::IfNotPresent);
        assert_eq!(c("a/b:latest").pull_policy(), PullPolicy::Always);
        assert_eq!(c("a:1/b").pull_policy(), PullPolicy::Always);
        assert_eq!(c("b:latest:x").pull_policy(), PullPolicy::IfNotPresent);
        assert_eq!(c("b:").pull_policy(), PullPolicy::IfNotPresent);
        assert_eq!(c("").pull_policy(), PullPolicy::Always);
    }
}
