//! What the apiserver does to an object before storing it: defaulting
//! (including the DefaultTolerationSeconds admission plugin) and validation,
//! with upstream's field paths and wording where the simulator checks the
//! same rule.

use crate::api::pod::{
    PodAffinityTerm, PodSpec, RestartPolicy, TaintEffect, Toleration, TolerationOperator,
    WhenUnsatisfiable,
};
use crate::api::selector::LabelSelector;
use crate::api::workloads::{IntOrPercent, Workload};
use crate::api::{Kind, Object, ObjectMeta};

/// Upstream's DefaultTolerationSeconds: 300 s for not-ready and unreachable.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Fills in the defaults the apiserver sets on create.
pub fn default_object(obj: &mut Object) {
    let kind = obj.kind();
    let meta = obj.meta_mut();
    if kind.namespaced() && meta.namespace.is_empty() {
        meta.namespace = "default".into();
    }
    match obj {
        // The spec (shared with the pod's template) is copied only when
        // a default is missing.
        Object::Pod(p) if !is_defaulted(&p.spec) => {
            default_pod_spec(std::sync::Arc::make_mut(&mut p.spec))
        }
        Object::Workload(_, w) if !is_defaulted(&w.spec.template.spec) => {
            default_pod_spec(&mut std::sync::Arc::make_mut(&mut w.spec).template.spec)
        }
        _ => {}
    }
}

/// [`default_object`] for an update: a pod's priority the update leaves
/// out stays unset (upstream's Priority admission plugin resolves a
/// priority on create only, and on update keeps the stored one: see
/// [`pod_update`]).
pub fn default_for_update(obj: &mut Object) {
    let unset = matches!(obj, Object::Pod(p)
        if p.spec.priority.is_none() && p.spec.priority_class_name.is_none());
    default_object(obj);
    if unset && let Object::Pod(p) = obj {
        std::sync::Arc::make_mut(&mut p.spec).priority = None;
    }
}

/// Upstream's `SetDefaults_Namespace`: a Namespace carries its own name as
/// the label `kubernetes.io/metadata.name`, on every write (run once the
/// name is set, after `generateName`).
pub fn label_namespace(obj: &mut Object) {
    use crate::api::namespace::METADATA_NAME_LABEL;
    if let Object::Namespace(ns) = obj {
        let name = ns.metadata.name.as_str();
        if ns
            .metadata
            .labels
            .get(METADATA_NAME_LABEL)
            .map(String::as_str)
            != Some(name)
        {
            let name = name.to_string();
            std::sync::Arc::make_mut(&mut ns.metadata.labels)
                .insert(METADATA_NAME_LABEL.into(), name);
        }
    }
}

/// Whether a `NoExecute` toleration of the taint is present.
fn tolerates_no_execute(spec: &PodSpec, taint: &str) -> bool {
    spec.tolerations.iter().any(|t| {
        (t.key == taint || (t.key.is_empty() && t.operator == TolerationOperator::Exists))
            && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
    })
}

/// Whether [`default_pod_spec`] would leave the spec as it is.
pub fn is_defaulted(spec: &PodSpec) -> bool {
    spec.scheduler_name.is_some()
        && (spec.priority.is_some() || spec.priority_class_name.is_some())
        && spec.termination_grace_period_seconds.is_some()
        && [TAINT_NOT_READY, TAINT_UNREACHABLE]
            .iter()
            .all(|taint| tolerates_no_execute(spec, taint))
}

fn default_pod_spec(spec: &mut PodSpec) {
    if spec.scheduler_name.is_none() {
        spec.scheduler_name = Some(crate::api::pod::DEFAULT_SCHEDULER.into());
    }
    if spec.priority.is_none() && spec.priority_class_name.is_none() {
        spec.priority = Some(0);
    }
    if spec.termination_grace_period_seconds.is_none() {
        spec.termination_grace_period_seconds = Some(30);
    }
    for taint in [TAINT_NOT_READY, TAINT_UNREACHABLE] {
        if !tolerates_no_execute(spec, taint) {
            std::sync::Arc::make_mut(&mut spec.tolerations).push(Toleration {
                key: taint.into(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: Some(TaintEffect::NoExecute),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
            });
        }
    }
}

/// RFC 1123 subdomain: lower-case alphanumerics, '-' and '.', at most 253
/// characters, starting and ending with an alphanumeric.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// RFC 1123 label: lower-case alphanumerics and '-', at most 63 characters,
/// starting and ending with an alphanumeric.
fn is_dns1123_label(s: &str) -> bool {
    // Bytes: a non-ASCII character's bytes are all >= 0x80, so none passes.
    let ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| ok(c) || *c == b'-')
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
}

/// A qualified name (label keys, scheduling gates): an optional RFC 1123
/// subdomain and `/`, then at most 63 alphanumerics, '-', '_' or '.',
/// starting and ending with an alphanumeric.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let ok = |b: &u8| b.is_ascii_alphanumeric();
    let b = name.as_bytes();
    prefix.is_none_or(is_dns1123_subdomain)
        && !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| ok(c) || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
}

/// A label value: empty, or at most 63 alphanumerics, '-', '_' or '.',
/// starting and ending with an alphanumeric.
pub fn is_label_value(s: &str) -> bool {
    let ok = |b: &u8| b.is_ascii_alphanumeric();
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter().all(|c| ok(c) || matches!(c, b'-' | b'_' | b'.'))
            && b.first().is_some_and(ok)
            && b.last().is_some_and(ok))
}

/// RFC 1035 label (Service names): a label that starts with a letter.
fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn validate_meta(kind: Kind, meta: &ObjectMeta, errs: &mut Vec<String>) {
    let name_ok = match kind {
        Kind::Service => is_dns1035_label(&meta.name),
        Kind::Namespace => is_dns1123_label(&meta.name),
        _ => is_dns1123_subdomain(&meta.name),
    };
    if !name_ok {
        // Upstream's wording of each format.
        let rule = match kind {
            Kind::Service => {
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
            }
            Kind::Namespace => {
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
            }
            _ => {
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            }
        };
        errs.push(format!(
            "metadata.name: Invalid value: \"{}\": {rule}",
            meta.name
        ));
    }
    if kind.namespaced() && !is_dns1123_label(&meta.namespace) {
        errs.push(format!(
            "metadata.namespace: Invalid value: \"{}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            meta.namespace
        ));
    }
}

/// The problems of the containers' readiness probes (negative fields), as
/// upstream's validation words them.
fn probe_errors(path: &str, spec: &PodSpec) -> Vec<String> {
    let mut errs = Vec::new();
    for (group, list) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
    ] {
        for (i, c) in list.iter().enumerate() {
            let Some(probe) = &c.readiness_probe else {
                continue;
            };
            for (field, v) in [
                ("initialDelaySeconds", probe.initial_delay_seconds),
                ("periodSeconds", probe.period_seconds),
                ("timeoutSeconds", probe.timeout_seconds),
                ("successThreshold", probe.success_threshold),
                ("failureThreshold", probe.failure_threshold),
            ] {
                if let Some(v) = v.filter(|v| *v < 0) {
                    errs.push(format!(
                        "{path}.{group}[{i}].readinessProbe.{field}: Invalid value: {v}: must be greater than or equal to 0"
                    ));
                }
            }
        }
    }
    errs
}

/// `{path}.{group}[{i}]`, a container's place in an error message.
struct ContainerPath<'a> {
    path: &'a str,
    group: &'a str,
    i: usize,
}

impl std::fmt::Display for ContainerPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}[{}]", self.path, self.group, self.i)
    }
}

/// A label selector's requirements, as upstream's `ValidateLabelSelector`
/// words their problems.
fn validate_selector(path: &str, sel: Option<&LabelSelector>, errs: &mut Vec<String>) {
    for r in sel.into_iter().flat_map(|s| &s.match_expressions) {
        if let Err(e) = r.validate() {
            errs.push(format!("{path}.matchExpressions: {e}"));
        }
    }
}

/// A preferred term's weight (upstream: 1 to 100).
fn validate_weight(path: &str, weight: i32, errs: &mut Vec<String>) {
    if !(1..=100).contains(&weight) {
        errs.push(format!(
            "{path}.weight: Invalid value: {weight}: must be in the range 1-100"
        ));
    }
}

/// Upstream's `validatePodAffinityTerm`.
fn validate_pod_affinity_term(path: &str, t: &PodAffinityTerm, errs: &mut Vec<String>) {
    validate_selector(
        &format!("{path}.labelSelector"),
        t.label_selector.as_ref(),
        errs,
    );
    validate_selector(
        &format!("{path}.namespaceSelector"),
        t.namespace_selector.as_ref(),
        errs,
    );
    for ns in &t.namespaces {
        if !is_dns1123_label(ns) {
            // Upstream names the field `namespace`, as here.
            errs.push(format!(
                "{path}.namespace: Invalid value: \"{ns}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
            ));
        }
    }
    // Upstream adds the label name's errors to the empty key's.
    let key = &t.topology_key;
    if key.is_empty() {
        errs.push(format!(
            "{path}.topologyKey: Required value: can not be empty"
        ));
        errs.push(format!(
            "{path}.topologyKey: Invalid value: \"\": name part must be non-empty"
        ));
    }
    if !is_qualified_name(key) {
        errs.push(format!(
            "{path}.topologyKey: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ));
    }
}

/// Upstream's `validateAffinity` for what the simulator reads: pod
/// (anti-)affinity terms and preferred terms' weights.
fn validate_affinity(path: &str, spec: &PodSpec, errs: &mut Vec<String>) {
    let Some(a) = &spec.affinity else { return };
    if let Some(na) = &a.node_affinity {
        let p =
            format!("{path}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .enumerate()
        {
            validate_weight(&format!("{p}[{i}]"), t.weight, errs);
        }
    }
    for (name, pa) in [
        ("podAffinity", &a.pod_affinity),
        ("podAntiAffinity", &a.pod_anti_affinity),
    ] {
        let Some(pa) = pa else { continue };
        let p = format!("{path}.affinity.{name}");
        for (i, t) in pa
            .required_during_scheduling_ignored_during_execution
            .iter()
            .enumerate()
        {
            let tp = format!("{p}.requiredDuringSchedulingIgnoredDuringExecution[{i}]");
            validate_pod_affinity_term(&tp, t, errs);
        }
        for (i, wt) in pa
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .enumerate()
        {
            let wp = format!("{p}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
            validate_weight(&wp, wt.weight, errs);
            validate_pod_affinity_term(
                &format!("{wp}.podAffinityTerm"),
                &wt.pod_affinity_term,
                errs,
            );
        }
    }
}

/// Upstream's `validateTopologySpreadConstraints`.
fn validate_spread(path: &str, spec: &PodSpec, errs: &mut Vec<String>) {
    let cs = &spec.topology_spread_constraints;
    for (i, c) in cs.iter().enumerate() {
        let p = format!("{path}.topologySpreadConstraints[{i}]");
        if c.max_skew <= 0 {
            errs.push(format!(
                "{p}.maxSkew: Invalid value: {}: must be greater than zero",
                c.max_skew
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(format!("{p}.topologyKey: Required value: can not be empty"));
        }
        let when = match c.when_unsatisfiable {
            WhenUnsatisfiable::DoNotSchedule => "DoNotSchedule",
            WhenUnsatisfiable::ScheduleAnyway => "ScheduleAnyway",
            WhenUnsatisfiable::Unset => {
                errs.push(format!(
                    "{p}.whenUnsatisfiable: Unsupported value: \"\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""
                ));
                ""
            }
        };
        if cs[i + 1..].iter().any(|o| {
            o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
        }) {
            errs.push(format!(
                "{p}.{{topologyKey, whenUnsatisfiable}}: Duplicate value: \"{{{}, {when}}}\"",
                c.topology_key
            ));
        }
        if let Some(m) = c.min_domains {
            if m <= 0 {
                errs.push(format!(
                    "{p}.minDomains: Invalid value: {m}: must be greater than zero"
                ));
            }
            if c.when_unsatisfiable != WhenUnsatisfiable::DoNotSchedule {
                errs.push(format!(
                    "{p}.minDomains: Invalid value: {m}: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"
                ));
            }
        }
        validate_selector(
            &format!("{p}.labelSelector"),
            c.label_selector.as_ref(),
            errs,
        );
        // Upstream's validateMatchLabelKeys.
        let sel = c.label_selector.as_ref();
        for (k, key) in c.match_label_keys.iter().enumerate() {
            let in_selector = sel.is_some_and(|s| {
                s.match_labels.contains_key(key)
                    || s.match_expressions.iter().any(|r| r.key == *key)
            });
            if !is_qualified_name(key) {
                errs.push(format!(
                    "{p}.matchLabelKeys[{k}]: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                ));
            }
            if in_selector {
                errs.push(format!(
                    "{p}.matchLabelKeys[{k}]: Invalid value: \"{key}\": exists in both matchLabelKeys and labelSelector"
                ));
            }
        }
    }
}

fn validate_pod_spec(path: &str, spec: &PodSpec, errs: &mut Vec<String>) {
    errs.extend(probe_errors(path, spec));
    validate_affinity(path, spec, errs);
    validate_spread(path, spec, errs);
    // Upstream's validateSchedulingGates: qualified names, no duplicates.
    for (i, g) in spec.scheduling_gates.iter().enumerate() {
        if !is_qualified_name(&g.name) {
            errs.push(format!(
                "{path}.schedulingGates[{i}]: Invalid value: \"{}\": must be a qualified name (an optional DNS subdomain and '/', then alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)",
                g.name
            ));
        } else if spec.scheduling_gates[..i].iter().any(|o| o.name == g.name) {
            errs.push(format!(
                "{path}.schedulingGates[{i}]: Duplicate value: \"{}\"",
                g.name
            ));
        }
    }
    if let Some(r) = &spec.resources {
        // Upstream's pod-level resources: cpu, memory (and hugepages, not
        // modelled); a request at most its limit.
        for (what, list) in [("requests", &r.requests), ("limits", &r.limits)] {
            for name in list.keys().filter(|n| *n != "cpu" && *n != "memory") {
                errs.push(format!(
                    "{path}.resources.{what}[{name}]: Unsupported value: \"{name}\": supported values: \"cpu\", \"memory\""
                ));
            }
        }
        for (name, req) in &r.requests {
            if let Some(limit) = r.limits.get(name)
                && req.milli_value() > limit.milli_value()
            {
                errs.push(format!(
                    "{path}.resources.requests[{name}]: Invalid value: \"{req}\": must be less than or equal to {name} limit of {limit}"
                ));
            }
        }
    }
    if spec.containers.is_empty() {
        errs.push(format!("{path}.containers: Required value"));
    }
    for (group, list) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
    ] {
        let init = group == "initContainers";
        for (i, c) in list.iter().enumerate() {
            // The containers, then the init containers: a name is a
            // duplicate when one before it in this order has it (a few
            // names: a scan, no set).
            let (before, before_init) = if init {
                (&spec.containers[..], &spec.init_containers[..i])
            } else {
                (&spec.containers[..i], &[][..])
            };
            let duplicate = || before.iter().chain(before_init).any(|o| o.name == c.name);
            // Formatted only into an error.
            let p = ContainerPath { path, group, i };
            if !is_dns1123_label(&c.name) {
                errs.push(format!("{p}.name: Invalid value: \"{}\"", c.name));
            } else if duplicate() {
                errs.push(format!("{p}.name: Duplicate value: \"{}\"", c.name));
            }
            if c.image.trim().is_empty() {
                errs.push(format!("{p}.image: Required value"));
            }
            for (res, q) in c.resources.requests.iter().chain(&c.resources.limits) {
                if q.is_negative() {
                    errs.push(format!(
                        "{p}.resources: Invalid value: \"{q}\": {res} must be greater than or equal to 0"
                    ));
                }
            }
            for (res, req) in &c.resources.requests {
                if let Some(limit) = c.resources.limits.get(res)
                    && req.milli_value() > limit.milli_value()
                {
                    errs.push(format!(
                        "{p}.resources.requests: Invalid value: \"{req}\": must be less than or equal to {res} limit of {limit}"
                    ));
                }
            }
        }
    }
}

fn validate_workload(kind: Kind, w: &Workload, errs: &mut Vec<String>) {
    let s = &w.spec;
    if let Some(r) = s.replicas
        && r < 0
    {
        errs.push(format!(
            "spec.replicas: Invalid value: {r}: must be greater than or equal to 0"
        ));
    }
    match &s.selector {
        None => errs.push("spec.selector: Required value".into()),
        Some(sel) if sel.is_empty() => errs.push(
            "spec.selector: Invalid value: {}: empty selector is invalid for deployment".into(),
        ),
        Some(sel) => {
            for r in &sel.match_expressions {
                if let Err(e) = r.validate() {
                    errs.push(format!("spec.selector.matchExpressions: {e}"));
                }
            }
            if !sel.matches(&w.spec.template.metadata.labels) {
                errs.push(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                        .into(),
                );
            }
        }
    }
    validate_pod_spec("spec.template.spec", &s.template.spec, errs);
    // Upstream's workload validation: the controllers replace pods that
    // end, so only Always is accepted.
    let policy = s.template.spec.restart_policy();
    if policy != RestartPolicy::Always {
        errs.push(format!(
            "spec.template.spec.restartPolicy: Unsupported value: \"{policy:?}\": supported values: \"Always\""
        ));
    }
    if kind == Kind::Deployment
        && let Some(ru) = s
            .strategy
            .as_ref()
            .and_then(|st| st.rolling_update.as_ref())
    {
        let zero = |v: &Option<IntOrPercent>| {
            matches!(
                v,
                Some(IntOrPercent::Int(0)) | Some(IntOrPercent::Percent(0))
            )
        };
        if zero(&ru.max_surge) && zero(&ru.max_unavailable) {
            errs.push(
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
                    .into(),
            );
        }
    }
    if kind == Kind::StatefulSet && s.service_name.as_deref().is_none_or(str::is_empty) {
        errs.push("spec.serviceName: Required value".into());
    }
    if let Some(start) = s.ordinals.as_ref().and_then(|o| o.start)
        && start < 0
    {
        errs.push(format!(
            "spec.ordinals.start: Invalid value: {start}: must be greater than or equal to 0"
        ));
    }
}

/// The validation errors of an object about to be stored, empty when valid.
pub fn validate(obj: &Object) -> Vec<String> {
    validate_with(obj, None)
}

/// [`validate`], skipping a pod's spec when it is `valid_spec` itself (a
/// spec already found valid: the pods of one ReplicaSet batch share their
/// template's).
pub fn validate_with(obj: &Object, valid_spec: Option<&std::sync::Arc<PodSpec>>) -> Vec<String> {
    let mut errs = Vec::new();
    validate_meta(obj.kind(), obj.meta(), &mut errs);
    match obj {
        Object::Pod(p) => {
            let known = valid_spec.is_some_and(|s| std::sync::Arc::ptr_eq(s, &p.spec));
            if !known {
                validate_pod_spec("spec", &p.spec, &mut errs);
            }
            if let Err(e) = crate::api::pod::SimBehaviour::of(&p.metadata) {
                errs.push(e);
            }
            if p.spec.node_name.is_some() && !p.spec.scheduling_gates.is_empty() {
                errs.push(
                    "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"
                        .into(),
                );
            }
            if let Some(g) = p.spec.termination_grace_period_seconds.filter(|g| *g < 0)
                && !known
            {
                errs.push(format!(
                    "spec.terminationGracePeriodSeconds: Invalid value: {g}: must be greater than or equal to 0"
                ));
            }
        }
        Object::Workload(k, w) => validate_workload(*k, w, &mut errs),
        Object::Service(s) => {
            for (i, p) in s.spec.ports.iter().enumerate() {
                if !(1..=65535).contains(&p.port) {
                    errs.push(format!(
                        "spec.ports[{i}].port: Invalid value: {}: must be between 1 and 65535, inclusive",
                        p.port
                    ));
                }
            }
        }
        Object::PriorityClass(pc) => {
            use crate::api::priority::HIGHEST_USER_DEFINABLE_PRIORITY;
            // Upstream's `IsKnownSystemPriorityClass`: a system class as
            // the apiserver has it is valid (its create is AlreadyExists).
            let known_system = crate::api::priority::SYSTEM_CLASSES
                .iter()
                .any(|(n, v)| *n == pc.metadata.name.as_str() && *v == pc.value)
                && !pc.global_default;
            if pc.metadata.name.starts_with("system-") {
                if !known_system {
                    errs.push(format!(
                        "metadata.name: Invalid value: \"{}\": priority class names with 'system-' prefix are reserved for system use only",
                        pc.metadata.name
                    ));
                }
            } else if pc.value > HIGHEST_USER_DEFINABLE_PRIORITY {
                errs.push(format!(
                    "value: Forbidden: maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ));
            }
            if let Some(p) = &pc.preemption_policy
                && p != "Never"
                && p != "PreemptLowerPriority"
            {
                errs.push(format!(
                    "preemptionPolicy: Unsupported value: \"{p}\": supported values: \"Never\", \"PreemptLowerPriority\""
                ));
            }
        }
        Object::PersistentVolume(pv) => validate_volume(&pv.spec, &mut errs),
        Object::PersistentVolumeClaim(pvc) => validate_claim(&pvc.spec, &mut errs),
        Object::CsiNode(n) => validate_csi_node(&n.spec, &mut errs),
        Object::StorageClass(c) => validate_storage_class(&c.class, &mut errs),
        Object::Node(_) | Object::EndpointSlice(_) | Object::Namespace(_) => {}
    }
    errs
}

/// Upstream's access mode checks (`validatePersistentVolumeAccessModes`):
/// at least one, each known, and ReadWriteOncePod alone.
fn validate_access_modes(modes: &[String], errs: &mut Vec<String>) {
    use crate::api::volume::ACCESS_MODES;
    if modes.is_empty() {
        errs.push("spec.accessModes: Required value: at least 1 access mode is required".into());
    }
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(format!(
                "spec.accessModes: Unsupported value: \"{m}\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\""
            ));
        }
    }
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        errs.push(
            "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"
                .into(),
        );
    }
}

/// A PersistentVolume's spec (upstream's `ValidatePersistentVolumeSpec`,
/// the parts the model reads; that exactly one volume source is given is
/// not checked).
fn validate_volume(spec: &crate::api::volume::PersistentVolumeSpec, errs: &mut Vec<String>) {
    validate_access_modes(&spec.access_modes, errs);
    if spec.capacity.is_empty() {
        errs.push("spec.capacity: Required value".into());
    }
    if !spec.capacity.contains_key("storage") || spec.capacity.len() > 1 {
        errs.push("spec.capacity: Unsupported value: supported values: \"storage\"".into());
    }
    for (r, q) in &spec.capacity {
        if !q.is_positive() {
            errs.push(format!(
                "spec.capacity[{r}]: Invalid value: \"{q}\": must be greater than zero"
            ));
        }
    }
    if let Some(p) = &spec.persistent_volume_reclaim_policy
        && !matches!(p.as_str(), "Delete" | "Recycle" | "Retain")
    {
        errs.push(format!(
            "spec.persistentVolumeReclaimPolicy: Unsupported value: \"{p}\": supported values: \"Delete\", \"Recycle\", \"Retain\""
        ));
    }
    if let Some(na) = &spec.node_affinity {
        match &na.required {
            None => errs.push("spec.nodeAffinity.required: Required value".into()),
            Some(ns) if ns.node_selector_terms.is_empty() => errs.push(
                "spec.nodeAffinity.required.nodeSelectorTerms: Required value: must have at least one node selector term".into(),
            ),
            Some(_) => {}
        }
    }
    if let Some(c) = &spec.source.csi {
        if c.driver.is_empty() {
            errs.push("spec.csi.driver: Required value".into());
        }
        if c.volume_handle.is_empty() {
            errs.push("spec.csi.volumeHandle: Required value".into());
        }
    }
    if spec
        .source
        .aws_elastic_block_store
        .as_ref()
        .is_some_and(|s| s.volume_id.is_empty())
    {
        errs.push("spec.awsElasticBlockStore.volumeID: Required value".into());
    }
    if spec
        .source
        .gce_persistent_disk
        .as_ref()
        .is_some_and(|s| s.pd_name.is_empty())
    {
        errs.push("spec.gcePersistentDisk.pdName: Required value".into());
    }
}

/// A PersistentVolumeClaim's spec (upstream's
/// `ValidatePersistentVolumeClaimSpec`, the parts the model reads).
fn validate_claim(spec: &crate::api::volume::PersistentVolumeClaimSpec, errs: &mut Vec<String>) {
    validate_access_modes(&spec.access_modes, errs);
    match spec.resources.requests.get("storage") {
        None => errs.push("spec.resources[storage]: Required value".into()),
        Some(q) if !q.is_positive() => errs.push(format!(
            "spec.resources[storage]: Invalid value: \"{q}\": must be greater than zero"
        )),
        Some(_) => {}
    }
}

/// A CSINode's spec (upstream's `ValidateCSINode`): each driver named
/// once, with a node id, and a limit not below zero.
fn validate_csi_node(spec: &crate::api::volume::CsiNodeSpec, errs: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, d) in spec.drivers.iter().enumerate() {
        if d.name.is_empty() {
            errs.push(format!("spec.drivers[{i}].name: Required value"));
        } else if !seen.insert(d.name.as_str()) {
            errs.push(format!(
                "spec.drivers[{i}].name: Duplicate value: \"{}\"",
                d.name
            ));
        }
        if d.node_id.is_empty() {
            errs.push(format!("spec.drivers[{i}].nodeID: Required value"));
        }
        if let Some(c) = d.allocatable.as_ref().and_then(|a| a.count)
            && c < 0
        {
            errs.push(format!(
                "spec.drivers[{i}].allocatable.count: Invalid value: {c}: must be greater than or equal to 0"
            ));
        }
    }
}

/// A StorageClass (upstream's `ValidateStorageClass`, the parts the model
/// reads): a provisioner named, and known reclaim policy and binding mode.
fn validate_storage_class(c: &crate::api::volume::StorageClassFields, errs: &mut Vec<String>) {
    if c.provisioner.is_empty() {
        errs.push("provisioner: Required value".into());
    } else if !is_qualified_name(&c.provisioner) {
        errs.push(format!(
            "provisioner: Invalid value: \"{}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            c.provisioner
        ));
    }
    if let Some(p) = &c.reclaim_policy
        && p != "Delete"
        && p != "Retain"
    {
        errs.push(format!(
            "reclaimPolicy: Unsupported value: \"{p}\": supported values: \"Delete\", \"Retain\""
        ));
    }
    if let Some(m) = &c.volume_binding_mode
        && m != "Immediate"
        && m != "WaitForFirstConsumer"
    {
        errs.push(format!(
            "volumeBindingMode: Unsupported value: \"{m}\": supported values: \"Immediate\", \"WaitForFirstConsumer\""
        ));
    }
}

/// Upstream's StorageClass update rules (`ValidateStorageClassUpdate`):
/// its provisioner, parameters, reclaim policy and binding mode are
/// immutable.
pub fn storage_class_update(
    old: &crate::api::volume::StorageClass,
    new: &crate::api::volume::StorageClass,
) -> Vec<String> {
    let (o, n) = (&old.class, &new.class);
    let mut errs = Vec::new();
    if o.parameters != n.parameters {
        errs.push("parameters: Forbidden: updates to parameters are forbidden.".to_string());
    }
    if o.provisioner != n.provisioner {
        errs.push("provisioner: Forbidden: updates to provisioner are forbidden.".to_string());
    }
    let policy = |c: &crate::api::volume::StorageClassFields| {
        c.reclaim_policy.clone().unwrap_or_else(|| "Delete".into())
    };
    if policy(o) != policy(n) {
        errs.push("reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.".to_string());
    }
    let mode = |c: &crate::api::volume::StorageClassFields| {
        c.volume_binding_mode
            .clone()
            .unwrap_or_else(|| "Immediate".into())
    };
    if mode(o) != mode(n) {
        errs.push(format!(
            "volumeBindingMode: Invalid value: \"{}\": field is immutable",
            mode(n)
        ));
    }
    errs
}

/// Upstream's PersistentVolumeClaim update rule: the spec is immutable
/// but for naming its volume while it names none, and for setting its
/// class while it has none and is not bound (the retroactive default
/// class); the model keeps `resources.requests` fixed: volume expansion
/// is not modelled.
pub fn claim_update(
    old: &crate::api::volume::PersistentVolumeClaim,
    new: &crate::api::volume::PersistentVolumeClaim,
) -> Vec<String> {
    let mut spec = new.spec.clone();
    let unbound = old.spec.volume_name.as_deref().unwrap_or("").is_empty();
    if unbound {
        spec.volume_name.clone_from(&old.spec.volume_name);
    }
    if unbound && old.spec.storage_class_name.is_none() {
        spec.storage_class_name = None;
    }
    if spec == old.spec {
        Vec::new()
    } else {
        vec!["spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into()]
    }
}

/// Upstream's pod update rules (the Priority admission plugin on update,
/// then `ValidatePodUpdate`), applied to a PUT of a pod against the stored
/// `old`: a priority and preemption policy left out keep the stored ones;
/// then the spec may change only in its containers' and init containers'
/// images, added tolerations (an existing one may change only its
/// `tolerationSeconds`), removed scheduling gates, a negative
/// `terminationGracePeriodSeconds` set to 1 and, while the pod is gated,
/// added `nodeSelector` entries. Returns what is refused, with field
/// paths (upstream's 422 Invalid).
///
/// Simplified: a gated pod's node affinity cannot be narrowed (upstream
/// allows it), and there are no ephemeral containers nor
/// `activeDeadlineSeconds` in the model.
pub fn pod_update(old: &crate::api::Pod, new: &mut crate::api::Pod) -> Vec<String> {
    // The stored spec itself (a controller's relabel or adoption): nothing
    // to check, nothing to copy.
    if std::sync::Arc::ptr_eq(&old.spec, &new.spec) {
        return Vec::new();
    }
    let (o, n) = (&*old.spec, &new.spec);
    if (n.priority.is_none() && o.priority.is_some())
        || (n.preemption_policy.is_none() && o.preemption_policy.is_some())
    {
        let spec = std::sync::Arc::make_mut(&mut new.spec);
        spec.priority = spec.priority.or(o.priority);
        if spec.preemption_policy.is_none() {
            spec.preemption_policy.clone_from(&o.preemption_policy);
        }
    }
    let n = &*new.spec;
    let mut errs = Vec::new();
    for (i, g) in n.scheduling_gates.iter().enumerate() {
        if !o.scheduling_gates.contains(g) {
            errs.push(format!(
                "spec.schedulingGates[{i}]: Forbidden: only deletion is allowed, but found new scheduling gate '{}'",
                g.name
            ));
        }
    }
    for (i, t) in o.tolerations.iter().enumerate() {
        // Upstream compares them with their tolerationSeconds cleared.
        let kept = n.tolerations.iter().any(|nt| {
            nt.key == t.key
                && nt.operator == t.operator
                && nt.value == t.value
                && nt.effect == t.effect
        });
        if !kept {
            errs.push(format!(
                "spec.tolerations[{i}]: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ));
        }
    }
    // The new spec with every change allowed undone must be the old one.
    let mut munged = n.clone();
    for (list, old_list) in [
        (&mut munged.containers, &o.containers),
        (&mut munged.init_containers, &o.init_containers),
    ] {
        if list.len() == old_list.len() {
            for (c, oc) in std::sync::Arc::make_mut(list)
                .iter_mut()
                .zip(old_list.iter())
            {
                c.image.clone_from(&oc.image);
            }
        }
    }
    munged.tolerations = o.tolerations.clone();
    munged.scheduling_gates.clone_from(&o.scheduling_gates);
    if o.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && n.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = o.termination_grace_period_seconds;
    }
    if !o.scheduling_gates.is_empty()
        && o.node_selector
            .iter()
            .all(|(k, v)| n.node_selector.get(k) == Some(v))
    {
        munged.node_selector.clone_from(&o.node_selector);
    }
    if munged != *o {
        errs.push(
            "spec: Forbidden: a pod update may change only containers' and init containers' \
             images, add tolerations, remove scheduling gates, set a negative \
             terminationGracePeriodSeconds to 1 and, while the pod is gated, add nodeSelector \
             entries (resources change through the resize subresource)"
                .into(),
        );
    }
    errs
}

/// A pod's QoS class (upstream's `GetPodQOS`, over the containers and init
/// containers' cpu and memory): Guaranteed when every container limits
/// both and requests what it limits, BestEffort when none requests or
/// limits either, else Burstable.
fn qos_class(spec: &PodSpec) -> &'static str {
    const CPU_MEMORY: [&str; 2] = ["cpu", "memory"];
    let all = || spec.containers.iter().chain(spec.init_containers.iter());
    let any_set = all().any(|c| {
        CPU_MEMORY.iter().any(|r| {
            c.resources
                .requests
                .get(*r)
                .is_some_and(|q| q.milli_value() > 0)
                || c.resources
                    .limits
                    .get(*r)
                    .is_some_and(|q| q.milli_value() > 0)
        })
    });
    if !any_set {
        return "BestEffort";
    }
    let guaranteed = all().all(|c| {
        CPU_MEMORY.iter().all(|r| match c.resources.limits.get(*r) {
            Some(l) => c.resources.requests.get(*r).is_none_or(|q| q == l),
            None => false,
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Upstream's update rules for the apps/v1 workloads, applied to a PUT
/// against the stored `old`: a Deployment's, ReplicaSet's or DaemonSet's
/// `spec.selector` is immutable (their registry strategies'
/// `ValidateImmutableField`); of a StatefulSet's spec only `replicas`,
/// `template`, `updateStrategy`, `revisionHistoryLimit` and
/// `minReadySeconds` may change (`ValidateStatefulSetUpdate`; it also
/// allows `ordinals` and `persistentVolumeClaimRetentionPolicy`, the
/// latter not modelled; `volumeClaimTemplates`, kept as written, are compared as
/// written, without upstream's defaulting of a claim's fields). Returns
/// what is refused (upstream's 422 Invalid).
pub fn workload_update(kind: Kind, old: &Workload, new: &Workload) -> Vec<String> {
    let (o, n) = (&*old.spec, &*new.spec);
    if std::sync::Arc::ptr_eq(&old.spec, &new.spec) {
        return Vec::new();
    }
    if kind == Kind::StatefulSet {
        // Compared as upstream compares them, defaulted: no policy is
        // OrderedReady, no service name is "".
        let policy = |s: &crate::api::workloads::WorkloadSpec| {
            s.pod_management_policy
                .clone()
                .unwrap_or_else(|| "OrderedReady".to_owned())
        };
        let service =
            |s: &crate::api::workloads::WorkloadSpec| s.service_name.clone().unwrap_or_default();
        if o.selector != n.selector
            || service(o) != service(n)
            || policy(o) != policy(n)
            || o.volume_claim_templates != n.volume_claim_templates
        {
            return vec![
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', \
                 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', \
                 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                    .into(),
            ];
        }
        return Vec::new();
    }
    if o.selector != n.selector {
        return vec![format!(
            "spec.selector: Invalid value: {}: field is immutable",
            selector_text(n.selector.as_ref())
        )];
    }
    Vec::new()
}

/// A label selector as upstream's field error prints one (Go's `%#v` of a
/// `*v1.LabelSelector`, as it appears in `field is immutable` errors).
fn selector_text(sel: Option<&LabelSelector>) -> String {
    use crate::api::selector::LabelOperator;
    let Some(sel) = sel else {
        return "(*v1.LabelSelector)(nil)".into();
    };
    let quoted = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let labels = if sel.match_labels.is_empty() {
        "map[string]string(nil)".to_owned()
    } else {
        let pairs: Vec<String> = sel
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k:?}:{v:?}"))
            .collect();
        format!("map[string]string{{{}}}", pairs.join(", "))
    };
    let expressions = if sel.match_expressions.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_owned()
    } else {
        let items: Vec<String> = sel
            .match_expressions
            .iter()
            .map(|r| {
                let op = match r.operator {
                    LabelOperator::In => "In",
                    LabelOperator::NotIn => "NotIn",
                    LabelOperator::Exists => "Exists",
                    LabelOperator::DoesNotExist => "DoesNotExist",
                };
                let values = if r.values.is_empty() {
                    "[]string(nil)".to_owned()
                } else {
                    format!("[]string{{{}}}", quoted(&r.values))
                };
                format!(
                    "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{op:?}, Values:{values}}}",
                    r.key
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!("&v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// Upstream's `resize` subresource of a pod (in-place pod vertical
/// scaling): the named containers get the given resources, nothing else
/// of the pod changes. Refused, with field paths: a container the pod
/// does not have, a resource other than cpu and memory changed, a request
/// or limit removed, a memory limit added or lowered (upstream allows it
/// only with a `RestartContainer` resize policy, not modelled), a resized
/// spec that is invalid (a negative quantity, a request above its limit),
/// or a change of the pod's QoS class.
pub fn pod_resize(
    old: &crate::api::Pod,
    resources: &[(String, crate::api::pod::ResourceRequirements)],
) -> Result<crate::api::Pod, Vec<String>> {
    let mut pod = old.clone();
    let mut errs = Vec::new();
    {
        let spec = std::sync::Arc::make_mut(&mut pod.spec);
        let containers = std::sync::Arc::make_mut(&mut spec.containers);
        for (name, res) in resources {
            let Some((i, c)) = containers
                .iter_mut()
                .enumerate()
                .find(|(_, c)| &c.name == name)
            else {
                errs.push(format!(
                    "spec.containers: Not found: no container named \"{name}\" to resize"
                ));
                continue;
            };
            for (what, new, old) in [
                ("requests", &res.requests, &c.resources.requests),
                ("limits", &res.limits, &c.resources.limits),
            ] {
                let names: std::collections::BTreeSet<&String> =
                    new.keys().chain(old.keys()).collect();
                for r in names {
                    if r != "cpu" && r != "memory" && new.get(r) != old.get(r) {
                        errs.push(format!(
                            "spec.containers[{i}].resources.{what}[{r}]: Forbidden: only cpu and memory resources may be resized"
                        ));
                    } else if old.contains_key(r) && !new.contains_key(r) {
                        errs.push(format!(
                            "spec.containers[{i}].resources.{what}[{r}]: Forbidden: resource {what} cannot be removed"
                        ));
                    }
                }
            }
            // Upstream allows it only with the container's resizePolicy for
            // memory RestartContainer, which the model does not have.
            let old_limit = c.resources.limits.get("memory").map(|q| q.value());
            if let Some(new_limit) = res.limits.get("memory").map(|q| q.value())
                && old_limit.is_none_or(|old| new_limit < old)
            {
                errs.push(format!(
                    "spec.containers[{i}].resources.limits[memory]: Forbidden: memory limits cannot be added or decreased (the model has no resizePolicy RestartContainer)"
                ));
            }
            c.resources = res.clone();
        }
    }
    // The resized spec as any pod's: no negative quantity, no request
    // above its limit.
    if errs.is_empty() {
        validate_pod_spec("spec", &pod.spec, &mut errs);
    }
    let (before, after) = (qos_class(&old.spec), qos_class(&pod.spec));
    if errs.is_empty() && before != after {
        errs.push(format!(
            "spec: Invalid value: \"{after}\": Pod QOS Class may not change as a result of resizing (was {before})"
        ));
    }
    if errs.is_empty() { Ok(pod) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Manifest;

    fn object(yaml: &str) -> Object {
        let mut o = serde_yaml::from_str::<Manifest>(yaml)
            .unwrap()
            .object
            .unwrap();
        default_object(&mut o);
        o
    }

    #[test]
    fn pods_get_upstream_defaults() {
        let Object::Pod(p) =
            object("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}")
        else {
            panic!()
        };
        assert_eq!(p.metadata.namespace, "default");
        assert_eq!(p.spec.scheduler_name(), "default-scheduler");
        assert_eq!(p.spec.termination_grace_period_seconds, Some(30));
        assert_eq!(p.spec.tolerations.len(), 2);
        assert!(
            p.spec
                .tolerations
                .iter()
                .all(|t| t.toleration_seconds == Some(300))
        );
    }

    #[test]
    fn workload_updates_keep_the_selector_and_a_statefulsets_fixed_fields() {
        let w = |kind: &str, extra: &str, labels: &str| -> (Kind, Workload) {
            let o = object(&format!(
                "kind: {kind}\nmetadata: {{name: w}}\nspec: {{{extra}selector: {{matchLabels: {labels}}}, template: {{metadata: {{labels: {labels}}}, spec: {{containers: [{{name: c, image: x}}]}}}}}}"
            ));
            let Object::Workload(k, w) = o else { panic!() };
            (k, *w)
        };
        for kind in ["Deployment", "ReplicaSet", "DaemonSet"] {
            let (k, old) = w(kind, "", "{app: a}");
            let (_, moved) = w(kind, "", "{app: a, tier: b}");
            assert_eq!(
                workload_update(k, &old, &moved),
                [
                    "spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"a\", \"tier\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
                ],
                "{kind}"
            );
            // The rest of the spec may change.
            let replicas = if kind == "DaemonSet" {
                ""
            } else {
                "replicas: 5, "
            };
            let (_, scaled) = w(kind, &format!("{replicas}minReadySeconds: 3, "), "{app: a}");
            assert!(workload_update(k, &old, &scaled).is_empty(), "{kind}");
            assert!(workload_update(k, &old, &old.clone()).is_empty());
        }
        let sts = |extra: &str| {
            w(
                "StatefulSet",
                &format!("serviceName: s, {extra}"),
                "{app: a}",
            )
        };
        let (k, old) = sts("");
        for allowed in [
            "replicas: 3, ",
            "minReadySeconds: 2, revisionHistoryLimit: 4, ",
            "updateStrategy: {type: OnDelete}, ",
        ] {
            assert!(
                workload_update(k, &old, &sts(allowed).1).is_empty(),
                "{allowed}"
            );
        }
        let forbidden = |new: &Workload| {
            let e = workload_update(k, &old, new);
            e.len() == 1 && e[0].starts_with("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template'")
        };
        assert!(forbidden(&sts("podManagementPolicy: Parallel, ").1));
        // A claim template's size, as users most often try to change it.
        let claims = |size: &str| {
            format!(
                "volumeClaimTemplates: [{{metadata: {{name: data}}, spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: {size}}}}}}}}}], "
            )
        };
        let (_, small) = sts(&claims("1Gi"));
        let e = workload_update(k, &small, &sts(&claims("2Gi")).1);
        assert!(e.len() == 1 && e[0].starts_with("spec: Forbidden"), "{e:?}");
        assert!(
            workload_update(
                k,
                &small,
                &sts(&format!("replicas: 4, {}", claims("1Gi"))).1
            )
            .is_empty()
        );
        assert!(forbidden(
            &w("StatefulSet", "serviceName: other, ", "{app: a}").1
        ));
        assert!(forbidden(
            &w("StatefulSet", "serviceName: s, ", "{app: b}").1
        ));
    }

    #[test]
    fn the_known_system_priority_classes_are_valid_as_the_apiserver_has_them() {
        let class = |name: &str, value: i64| {
            validate(&object(&format!(
                "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: {name}}}\nvalue: {value}\n"
            )))
        };
        assert!(class("system-node-critical", 2_000_001_000).is_empty());
        assert!(class("system-cluster-critical", 2_000_000_000).is_empty());
        for (name, value) in [("system-node-critical", 5), ("system-mine", 5)] {
            let e = class(name, value);
            assert!(
                e.len() == 1 && e[0].contains("reserved for system use only"),
                "{name}: {e:?}"
            );
        }
        assert!(class("high", 2_000_000_000)[0].starts_with("value: Forbidden"));
    }

    #[test]
    fn a_statefulsets_policy_is_compared_defaulted() {
        let sts = |extra: &str| {
            let o = object(&format!(
                "kind: StatefulSet\nmetadata: {{name: w}}\nspec: {{serviceName: s, {extra}selector: {{matchLabels: {{app: a}}}}, template: {{metadata: {{labels: {{app: a}}}}, spec: {{containers: [{{name: c, image: x}}]}}}}}}"
            ));
            let Object::Workload(k, w) = o else { panic!() };
            (k, *w)
        };
        let (k, old) = sts("");
        assert!(workload_update(k, &old, &sts("podManagementPolicy: OrderedReady, ").1).is_empty());
        assert_eq!(
            workload_update(k, &old, &sts("podManagementPolicy: Parallel, ").1).len(),
            1
        );
    }

    #[test]
    fn invalid_objects_are_rejected_with_field_paths() {
        let e = validate(&object(
            "kind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: []}",
        ));
        assert!(e.iter().any(|m| m.starts_with("metadata.name")), "{e:?}");
        assert!(
            e.iter().any(|m| m == "spec.containers: Required value"),
            "{e:?}"
        );
        let e = validate(&object(
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: b}}, spec: {containers: [{name: c, image: x}]}}, strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: '0%'}}}",
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        let e = validate(&object(
            "kind: StatefulSet\nmetadata: {name: s}\nspec: {selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, image: x}]}}}",
        ));
        assert_eq!(e, vec!["spec.serviceName: Required value".to_string()]);
        let e = validate(&object(
            "kind: StatefulSet\nmetadata: {name: s}\nspec: {serviceName: s, ordinals: {start: -2}, selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, image: x}]}}}",
        ));
        assert_eq!(
            e,
            ["spec.ordinals.start: Invalid value: -2: must be greater than or equal to 0"]
        );
        assert!(validate(&object("kind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c, image: x, resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}}]}")).len() == 1);
    }

    /// Pod (anti-)affinity terms, preferred weights and spread constraints,
    /// with upstream's paths and wording; a Deployment's template too.
    #[test]
    fn affinity_and_spread_constraints_are_validated() {
        let pod = |spec: &str| {
            validate(&object(&format!(
                "kind: Pod\nmetadata: {{name: a}}\nspec: {{containers: [{{name: c, image: x}}], {spec}}}"
            )))
        };
        let e = pod(
            "affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchExpressions: [{key: k, operator: In}]}, namespaces: [Bad], topologyKey: ''}]}, podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 0, podAffinityTerm: {topologyKey: zone, namespaceSelector: {matchExpressions: [{key: t, operator: Exists, values: [x]}]}}}]}, nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, preference: {matchExpressions: [{key: k, operator: Exists}]}}]}}",
        );
        let req = "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]";
        let pref =
            "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]";
        for wanted in [
            format!("{req}.labelSelector.matchExpressions: key k: values: Required value"),
            format!("{req}.namespace: Invalid value: \"Bad\""),
            format!("{req}.topologyKey: Required value: can not be empty"),
            format!("{req}.topologyKey: Invalid value: \"\": name part must be non-empty"),
            format!("{req}.topologyKey: Invalid value: \"\": name part must consist of"),
            format!("{pref}.weight: Invalid value: 0: must be in the range 1-100"),
            format!("{pref}.podAffinityTerm.namespaceSelector.matchExpressions: key t: values: Forbidden"),
            "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101".into(),
        ] {
            assert!(e.iter().any(|m| m.starts_with(&wanted)), "{wanted}: {e:?}");
        }
        assert_eq!(e.len(), 8, "{e:?}");
        let e = pod(
            "topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, minDomains: 2}, {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway}, {maxSkew: 1, topologyKey: '', minDomains: 1, labelSelector: {matchLabels: {app: a}}, matchLabelKeys: [app, pod-template-hash]}]",
        );
        let c = "spec.topologySpreadConstraints";
        assert_eq!(
            e,
            [
                format!("{c}[0].maxSkew: Invalid value: 0: must be greater than zero"),
                format!(
                    "{c}[0].{{topologyKey, whenUnsatisfiable}}: Duplicate value: \"{{zone, ScheduleAnyway}}\""
                ),
                format!(
                    "{c}[0].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"
                ),
                format!("{c}[2].topologyKey: Required value: can not be empty"),
                format!(
                    "{c}[2].whenUnsatisfiable: Unsupported value: \"\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""
                ),
                format!(
                    "{c}[2].minDomains: Invalid value: 1: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not "
                ),
                format!(
                    "{c}[2].matchLabelKeys[0]: Invalid value: \"app\": exists in both matchLabelKeys and labelSelector"
                ),
            ]
        );
        let e = validate(&object(
            "kind: Deployment\nmetadata: {name: d}\nspec: {selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, image: x}], topologySpreadConstraints: [{maxSkew: -1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}}}",
        ));
        assert_eq!(
            e,
            [
                "spec.template.spec.topologySpreadConstraints[0].maxSkew: Invalid value: -1: must be greater than zero"
            ]
        );
        assert!(pod("topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, minDomains: 3}], affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {a: b}}, namespaceSelector: {}, topologyKey: kubernetes.io/hostname}]}}").is_empty());
    }

    /// Container names are unique across containers and init containers,
    /// in that order; names are checked byte by byte (non-ASCII fails).
    #[test]
    fn duplicate_and_invalid_container_names() {
        let e = validate(&object(
            "kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: x}, {name: b, image: x}, {name: a, image: x}], initContainers: [{name: b, image: x}, {name: é, image: x}, {name: i, image: x}, {name: i, image: x}]}",
        ));
        assert_eq!(
            e,
            vec![
                "spec.containers[2].name: Duplicate value: \"a\"".to_string(),
                "spec.initContainers[0].name: Duplicate value: \"b\"".to_string(),
                "spec.initContainers[1].name: Invalid value: \"\u{e9}\"".to_string(),
                "spec.initContainers[3].name: Duplicate value: \"i\"".to_string(),
            ]
        );
        assert!(is_dns1123_label("a-0") && !is_dns1123_label("-a") && !is_dns1123_label("a-"));
        assert!(
            !is_dns1123_label("A") && !is_dns1123_label("") && !is_dns1123_label(&"a".repeat(64))
        );
    }

    /// Scheduling gates: qualified names, each once; a pod that names its
    /// node may have none.
    #[test]
    fn scheduling_gates_are_qualified_names_listed_once() {
        for ok in ["a", "example.com/quota", "A_b.c-9", "x/y"] {
            assert!(is_qualified_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "-a",
            "a.",
            "/x",
            "Example.com/x",
            "a/b/c",
            &"a".repeat(64),
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
        let e = validate(&object(
            "kind: Pod\nmetadata: {name: a}\nspec: {nodeName: n, schedulingGates: [{name: g}, {name: g}], containers: [{name: a, image: x}]}",
        ));
        assert_eq!(
            e,
            vec![
                "spec.schedulingGates[1]: Duplicate value: \"g\"".to_string(),
                "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"
                    .to_string(),
            ]
        );
    }

    /// A spec is skipped only when it is the very one found valid: an
    /// equal-looking but distinct spec is checked.
    #[test]
    fn only_the_spec_found_valid_is_skipped() {
        let good =
            object("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}");
        let bad = object("kind: Pod\nmetadata: {name: b}\nspec: {containers: []}");
        let (Object::Pod(g), Object::Pod(b)) = (&good, &bad) else {
            panic!()
        };
        assert!(validate_with(&good, Some(&g.spec)).is_empty());
        assert_eq!(validate_with(&bad, Some(&g.spec)).len(), 1);
        assert!(validate_with(&bad, Some(&b.spec)).is_empty());
        let mut renamed = good.clone();
        renamed.meta_mut().name = "Bad_Name".into();
        assert_eq!(
            validate_with(&renamed, Some(&g.spec)).len(),
            1,
            "metadata is checked"
        );
    }

    fn pod(yaml: &str) -> crate::api::Pod {
        let mut o = serde_yaml::from_str::<Manifest>(yaml)
            .unwrap()
            .object
            .unwrap();
        default_for_update(&mut o);
        match o {
            Object::Pod(p) => p,
            _ => unreachable!(),
        }
    }

    const OLD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  priority: 7\n  schedulingGates: [{name: a}, {name: b}]\n  tolerations: [{key: k, operator: Exists, effect: NoExecute, tolerationSeconds: 60}]\n  containers: [{name: c, image: i:1, resources: {requests: {cpu: 100m}}}]\n";

    /// Images, added tolerations, removed gates and labels may change;
    /// a priority left out keeps the stored one.
    #[test]
    fn a_pod_update_may_change_images_tolerations_gates_and_labels() {
        let old = pod(OLD);
        let mut new = pod(&OLD
            .replace("name: p}", "name: p, labels: {x: y}}")
            .replace("  priority: 7\n", "")
            .replace("{name: a}, ", "")
            .replace("i:1", "i:2")
            .replace(
                "tolerationSeconds: 60}]",
                "tolerationSeconds: 30}, {key: n, operator: Exists}]",
            ));
        assert_eq!(pod_update(&old, &mut new), Vec::<String>::new());
        assert_eq!(new.spec.priority, Some(7));
        // tolerationSeconds may change either way.
        let mut raised = pod(&OLD.replace("tolerationSeconds: 60", "tolerationSeconds: 90"));
        assert_eq!(pod_update(&old, &mut raised), Vec::<String>::new());
    }

    #[test]
    fn a_pod_update_may_not_change_resources_add_gates_or_drop_tolerations() {
        let old = pod(OLD);
        let errs = |text: String| {
            let mut new = pod(&text);
            pod_update(&old, &mut new)
        };
        let e = errs(OLD.replace("cpu: 100m", "cpu: 200m"));
        assert!(e.len() == 1 && e[0].starts_with("spec: Forbidden"), "{e:?}");
        let e = errs(OLD.replace("{name: b}", "{name: b}, {name: c}"));
        assert!(
            e[0].starts_with("spec.schedulingGates[2]: Forbidden"),
            "{e:?}"
        );
        let e = errs(OLD.replace(
            "effect: NoExecute, tolerationSeconds: 60",
            "effect: NoSchedule",
        ));
        assert!(e[0].starts_with("spec.tolerations[0]: Forbidden"), "{e:?}");
        let e = errs(OLD.replace(
            "  schedulingGates: [{name: a}, {name: b}]\n",
            "  nodeName: n\n",
        ));
        assert!(e.iter().any(|e| e.starts_with("spec: Forbidden")), "{e:?}");
    }

    /// A resize changes the named containers' cpu and memory and nothing
    /// else; it may not change the QoS class.
    #[test]
    fn a_resize_changes_cpu_and_memory_within_the_qos_class() {
        use crate::api::pod::ResourceRequirements;
        let old = pod(OLD);
        let q = |s: &str| crate::api::Quantity::parse(s).unwrap();
        let res = |pairs: &[(&str, &str)]| ResourceRequirements {
            requests: pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect(),
            limits: Default::default(),
        };
        let with_limits =
            |requests: &[(&str, &str)], limits: &[(&str, &str)]| ResourceRequirements {
                limits: res(limits).requests,
                ..res(requests)
            };
        let resized = pod_resize(
            &old,
            &[("c".into(), res(&[("cpu", "50m"), ("memory", "1Mi")]))],
        )
        .unwrap();
        assert_eq!(
            resized.spec.containers[0].resources,
            res(&[("cpu", "50m"), ("memory", "1Mi")])
        );
        assert_eq!(resized.spec.containers[0].image, "i:1");
        // Guaranteed (limits equal to requests) to Burstable.
        let guaranteed = pod(&OLD.replace(
            "requests: {cpu: 100m}",
            "requests: {cpu: 100m, memory: 1Mi}, limits: {cpu: 100m, memory: 1Mi}",
        ));
        let burstable = with_limits(
            &[("cpu", "50m"), ("memory", "1Mi")],
            &[("cpu", "100m"), ("memory", "1Mi")],
        );
        let e = pod_resize(&guaranteed, &[("c".into(), burstable)]).unwrap_err();
        assert!(e[0].contains("Pod QOS Class may not change"), "{e:?}");
        let e = pod_resize(
            &old,
            &[(
                "c".into(),
                res(&[("cpu", "1"), ("ephemeral-storage", "1Gi")]),
            )],
        )
        .unwrap_err();
        assert!(e[0].contains("only cpu and memory"), "{e:?}");
        let above = with_limits(&[("cpu", "60m")], &[("cpu", "50m")]);
        let e = pod_resize(&old, &[("c".into(), above)]).unwrap_err();
        assert!(
            e[0].contains("must be less than or equal to cpu limit"),
            "{e:?}"
        );
        let e = pod_resize(&old, &[("c".into(), res(&[("memory", "1Mi")]))]).unwrap_err();
        assert!(
            e[0].contains("requests[cpu]: Forbidden: resource requests cannot be removed"),
            "{e:?}"
        );
        let limited = with_limits(&[("cpu", "100m")], &[("memory", "1Mi")]);
        let e = pod_resize(&old, &[("c".into(), limited)]).unwrap_err();
        assert!(
            e[0].contains("memory limits cannot be added or decreased"),
            "{e:?}"
        );
        let e = pod_resize(&old, &[("d".into(), res(&[("cpu", "1")]))]).unwrap_err();
        assert!(e[0].contains("no container named \"d\""), "{e:?}");
    }
}
