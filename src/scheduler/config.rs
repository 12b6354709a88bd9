//! Scheduling policies as users name them: one of the named policies of
//! [`super::profile::POLICIES`], or a `KubeSchedulerConfiguration` file
//! (`apiVersion: kubescheduler.config.k8s.io/v1`) with `profiles`, plugins
//! enabled and disabled per extension point, score weights and
//! `pluginConfig` args. Bad input is an error naming the file, the line and
//! the reason.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::framework::{FilterPlugin, FitStrategy, MAX_NODE_SCORE, ScorePlugin};
use super::profile::{self, Profile};

/// A policy that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The configuration file, if the policy named one.
    pub file: Option<PathBuf>,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) if self.line > 0 => {
                write!(f, "{}:{}: {}", p.display(), self.line, self.message)
            }
            Some(p) => write!(f, "{}: {}", p.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Whether `policy` names a configuration file rather than a named policy.
pub fn is_file(policy: &str) -> bool {
    policy.ends_with(".yaml") || policy.ends_with(".yml") || policy.contains('/')
}

/// The profiles of `policy`; a relative file name is taken from `base`.
pub fn resolve(policy: &str, base: &Path) -> Result<Vec<Profile>, PolicyError> {
    if let Some(p) = profile::named(policy) {
        return Ok(vec![p]);
    }
    if !is_file(policy) {
        return Err(PolicyError {
            file: None,
            line: 0,
            message: profile::unknown_policy(policy),
        });
    }
    let path = if Path::new(policy).is_absolute() {
        PathBuf::from(policy)
    } else {
        base.join(policy)
    };
    let text = std::fs::read_to_string(&path).map_err(|e| PolicyError {
        file: Some(path.clone()),
        line: 0,
        message: format!("cannot read the KubeSchedulerConfiguration: {e}"),
    })?;
    parse(&text).map_err(|(line, message)| PolicyError {
        file: Some(path),
        line,
        message,
    })
}

#[derive(Deserialize)]
// Some fields are accepted for compatibility and never read.
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    api_version: String,
    kind: String,
    #[serde(default)]
    profiles: Vec<RawProfile>,
    #[serde(default)]
    percentage_of_nodes_to_score: Option<i64>,
    // Accepted upstream fields without an effect on the simulation.
    #[serde(default)]
    parallelism: Option<serde_yaml::Value>,
    #[serde(default)]
    leader_election: Option<serde_yaml::Value>,
    #[serde(default)]
    client_connection: Option<RawClientConnection>,
    #[serde(default)]
    pod_initial_backoff_seconds: Option<i64>,
    #[serde(default)]
    pod_max_backoff_seconds: Option<i64>,
    #[serde(default)]
    extenders: Option<serde_yaml::Value>,
    #[serde(default)]
    delay_cache_until_active: Option<serde_yaml::Value>,
    #[serde(default)]
    enable_profiling: Option<serde_yaml::Value>,
    #[serde(default)]
    enable_contention_profiling: Option<serde_yaml::Value>,
}

/// `clientConnection`: `qps` and `burst` set the scheduler's client rate
/// limit; the others are accepted without an effect.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawClientConnection {
    #[serde(default)]
    qps: Option<f64>,
    #[serde(default)]
    burst: Option<i64>,
    #[serde(default)]
    kubeconfig: Option<serde_yaml::Value>,
    #[serde(default)]
    accept_content_types: Option<serde_yaml::Value>,
    #[serde(default)]
    content_type: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    scheduler_name: Option<String>,
    #[serde(default)]
    percentage_of_nodes_to_score: Option<i64>,
    #[serde(default)]
    plugins: Option<RawPlugins>,
    #[serde(default)]
    plugin_config: Vec<RawPluginConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPlugins {
    #[serde(default)]
    multi_point: Option<RawPluginSet>,
    #[serde(default)]
    filter: Option<RawPluginSet>,
    #[serde(default)]
    score: Option<RawPluginSet>,
    // Extension points whose plugins the simulation does not vary.
    #[serde(default)]
    pre_enqueue: Option<RawPluginSet>,
    #[serde(default)]
    queue_sort: Option<RawPluginSet>,
    #[serde(default)]
    pre_filter: Option<RawPluginSet>,
    #[serde(default)]
    post_filter: Option<RawPluginSet>,
    #[serde(default)]
    pre_score: Option<RawPluginSet>,
    #[serde(default)]
    reserve: Option<RawPluginSet>,
    #[serde(default)]
    permit: Option<RawPluginSet>,
    #[serde(default)]
    pre_bind: Option<RawPluginSet>,
    #[serde(default)]
    bind: Option<RawPluginSet>,
    #[serde(default)]
    post_bind: Option<RawPluginSet>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPluginSet {
    #[serde(default)]
    enabled: Vec<RawPlugin>,
    #[serde(default)]
    disabled: Vec<RawPlugin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: String,
    #[serde(default)]
    weight: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginConfig {
    name: String,
    #[serde(default)]
    args: serde_yaml::Value,
}

#[derive(Deserialize)]
// Some fields are accepted for compatibility and never read.
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FitArgs {
    #[serde(default)]
    scoring_strategy: Option<ScoringStrategy>,
    #[serde(default)]
    ignored_resources: Option<serde_yaml::Value>,
    #[serde(default)]
    ignored_resource_groups: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScoringStrategy {
    #[serde(default, rename = "type")]
    strategy: Option<String>,
    #[serde(default)]
    resources: Option<Vec<ResourceSpec>>,
    #[serde(default)]
    requested_to_capacity_ratio: Option<RtcrParam>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceSpec {
    name: String,
    weight: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RtcrParam {
    shape: Vec<ShapePoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapePoint {
    utilization: i64,
    score: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpreadArgs {
    #[serde(default)]
    defaulting_type: Option<String>,
    #[serde(default)]
    default_constraints: Option<Vec<serde_yaml::Value>>,
}

#[derive(Deserialize)]
// Some fields are accepted for compatibility and never read.
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AffinityArgs {
    #[serde(default)]
    hard_pod_affinity_weight: Option<i64>,
    #[serde(default)]
    ignore_preferred_terms_of_existing_pods: Option<bool>,
}

/// Upstream plugins that the simulation accepts in a configuration but
/// whose extension points it does not vary.
const OTHER_PLUGINS: [&str; 9] = [
    "PrioritySort",
    "DefaultPreemption",
    "DefaultBinder",
    "SchedulingGates",
    "EBSLimits",
    "GCEPDLimits",
    "AzureDiskLimits",
    "DynamicResources",
    "NodeDeclaredFeatures",
];

/// Upstream's maximum score plugin weight.
const MAX_WEIGHT: i64 = 100;

type Located = (usize, String);

/// The 1-based line of the first occurrence of `needle` in `text` (0 if
/// absent), to place semantic errors.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |k| k + 1)
}

fn yaml_line(e: &serde_yaml::Error) -> usize {
    e.location().map_or(0, |l| l.line())
}

fn filter_plugin(name: &str) -> Option<FilterPlugin> {
    FilterPlugin::ALL.into_iter().find(|p| p.name() == name)
}

fn score_plugin(name: &str) -> Option<ScorePlugin> {
    ScorePlugin::ALL.into_iter().find(|p| p.name() == name)
}

fn known(name: &str) -> bool {
    filter_plugin(name).is_some() || score_plugin(name).is_some() || OTHER_PLUGINS.contains(&name)
}

/// Parses a KubeSchedulerConfiguration into profiles.
pub fn parse(text: &str) -> Result<Vec<Profile>, Located> {
    let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| (yaml_line(&e), e.to_string()))?;
    const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
    if raw.api_version != API_VERSION {
        return Err((
            line_of(text, "apiVersion"),
            format!(
                "apiVersion {:?} is not supported: expected {API_VERSION}",
                raw.api_version
            ),
        ));
    }
    if raw.kind != "KubeSchedulerConfiguration" {
        return Err((
            line_of(text, "kind"),
            format!("kind {:?}: expected KubeSchedulerConfiguration", raw.kind),
        ));
    }
    // Upstream's defaulting (a qps or burst of 0 is the default's) and
    // validation (a negative burst is invalid); a negative qps means no
    // limit, as client-go then makes no limiter.
    let client = match &raw.client_connection {
        Some(cc) if cc.qps.is_some() || cc.burst.is_some() => {
            let burst = cc.burst.unwrap_or(0);
            if burst < 0 {
                return Err((
                    line_of(text, "burst"),
                    format!("clientConnection.burst: Invalid value: {burst}: must be non-negative"),
                ));
            }
            if burst > i64::from(i32::MAX) {
                return Err((
                    line_of(text, "burst"),
                    format!(
                        "clientConnection.burst: Invalid value: {burst}: must be at most {} (an int32)",
                        i32::MAX
                    ),
                ));
            }
            let qps = cc.qps.unwrap_or(0.0);
            if !qps.is_finite() {
                return Err((
                    line_of(text, "qps"),
                    format!("clientConnection.qps: Invalid value: {qps}: must be a number"),
                ));
            }
            let default = super::ClientConnection::DEFAULT;
            Some(super::ClientConnection {
                qps: if qps == 0.0 { default.qps } else { qps },
                burst: if burst == 0 {
                    default.burst
                } else {
                    burst as u32
                },
            })
        }
        _ => None,
    };
    // The scheduling queue's backoff: upstream's defaults (1 s and 10 s)
    // for what is unset, and its validation.
    let backoff = match (raw.pod_initial_backoff_seconds, raw.pod_max_backoff_seconds) {
        (None, None) => None,
        (initial, max) => {
            let initial = initial.unwrap_or(1);
            let max = max.unwrap_or(10);
            if initial <= 0 {
                return Err((
                    line_of(text, "podInitialBackoffSeconds"),
                    format!(
                        "podInitialBackoffSeconds: Invalid value: {initial}: must be greater than 0"
                    ),
                ));
            }
            if max < initial {
                return Err((
                    line_of(text, "podMaxBackoffSeconds"),
                    format!(
                        "podMaxBackoffSeconds: Invalid value: {max}: must be greater than or equal to podInitialBackoffSeconds ({initial})"
                    ),
                ));
            }
            let secs = |n: i64| (n as u64).saturating_mul(crate::engine::SECOND);
            Some((secs(initial), secs(max)))
        }
    };
    let global_pct = raw.percentage_of_nodes_to_score.unwrap_or(0);
    check_percentage(text, global_pct)?;
    let raws = if raw.profiles.is_empty() {
        vec![RawProfile {
            scheduler_name: None,
            percentage_of_nodes_to_score: None,
            plugins: None,
            plugin_config: Vec::new(),
        }]
    } else {
        raw.profiles
    };
    let mut profiles: Vec<Profile> = Vec::new();
    for rp in raws {
        let mut p = Profile::default();
        if let Some(name) = rp.scheduler_name {
            p.scheduler_name = name;
        }
        if profiles
            .iter()
            .any(|q| q.scheduler_name == p.scheduler_name)
        {
            return Err((
                line_of(text, &p.scheduler_name),
                format!("duplicate profile with schedulerName {}", p.scheduler_name),
            ));
        }
        let pct = rp.percentage_of_nodes_to_score.unwrap_or(global_pct);
        check_percentage(text, pct)?;
        p.percentage_of_nodes_to_score = pct as u32;
        p.client_connection = client;
        p.pod_backoff = backoff;
        if let Some(plugins) = rp.plugins {
            apply_plugins(text, &mut p, plugins)?;
        }
        for pc in rp.plugin_config {
            apply_args(text, &mut p, pc)?;
        }
        profiles.push(p);
    }
    Ok(profiles)
}

fn check_percentage(text: &str, pct: i64) -> Result<(), Located> {
    if !(0..=100).contains(&pct) {
        return Err((
            line_of(text, "percentageOfNodesToScore"),
            format!("percentageOfNodesToScore {pct}: must be in range [0, 100]"),
        ));
    }
    Ok(())
}

fn check_names(text: &str, set: &RawPluginSet) -> Result<(), Located> {
    for pl in set.enabled.iter().chain(&set.disabled) {
        if pl.name != "*" && !known(&pl.name) {
            return Err((
                line_of(text, &pl.name),
                format!("unknown plugin {:?}", pl.name),
            ));
        }
    }
    Ok(())
}

fn weight_of(text: &str, pl: &RawPlugin, default: i64) -> Result<i64, Located> {
    match pl.weight {
        None | Some(0) => Ok(default),
        Some(w) if (1..=MAX_WEIGHT).contains(&w) => Ok(w),
        Some(w) => Err((
            line_of(text, &format!("weight: {w}")).max(line_of(text, &pl.name)),
            format!(
                "plugin {}: weight {w} is out of range [1, {MAX_WEIGHT}]",
                pl.name
            ),
        )),
    }
}

fn apply_filter_set(p: &mut Profile, set: &RawPluginSet) {
    for d in &set.disabled {
        if d.name == "*" {
            p.filters.clear();
        } else if let Some(f) = filter_plugin(&d.name) {
            p.filters.retain(|&x| x != f);
        }
    }
    for e in &set.enabled {
        if let Some(f) = filter_plugin(&e.name)
            && !p.filters.contains(&f)
        {
            p.filters.push(f);
        }
    }
}

fn apply_score_set(text: &str, p: &mut Profile, set: &RawPluginSet) -> Result<(), Located> {
    for d in &set.disabled {
        if d.name == "*" {
            p.weights = [0; super::framework::NUM_SCORE_PLUGINS];
        } else if let Some(s) = score_plugin(&d.name) {
            p.set_weight(s, 0);
        }
    }
    for e in &set.enabled {
        if let Some(s) = score_plugin(&e.name) {
            let w = weight_of(text, e, s.default_weight())?;
            p.set_weight(s, w);
        } else {
            weight_of(text, e, 1)?;
        }
    }
    Ok(())
}

fn apply_plugins(text: &str, p: &mut Profile, plugins: RawPlugins) -> Result<(), Located> {
    let others = [
        &plugins.pre_enqueue,
        &plugins.queue_sort,
        &plugins.pre_filter,
        &plugins.post_filter,
        &plugins.pre_score,
        &plugins.reserve,
        &plugins.permit,
        &plugins.pre_bind,
        &plugins.bind,
        &plugins.post_bind,
    ];
    for set in others.into_iter().flatten() {
        check_names(text, set)?;
    }
    if let Some(mp) = &plugins.multi_point {
        check_names(text, mp)?;
        apply_filter_set(p, mp);
        apply_score_set(text, p, mp)?;
    }
    if let Some(f) = &plugins.filter {
        check_names(text, f)?;
        apply_filter_set(p, f);
    }
    if let Some(s) = &plugins.score {
        check_names(text, s)?;
        apply_score_set(text, p, s)?;
    }
    Ok(())
}

fn args<T: for<'de> Deserialize<'de>>(text: &str, pc: &RawPluginConfig) -> Result<T, Located> {
    serde_yaml::from_value(pc.args.clone()).map_err(|e| {
        (
            line_of(text, &format!("name: {}", pc.name)),
            format!("pluginConfig {}: args: {e}", pc.name),
        )
    })
}

fn apply_args(text: &str, p: &mut Profile, pc: RawPluginConfig) -> Result<(), Located> {
    let at = line_of(text, &format!("name: {}", pc.name));
    match pc.name.as_str() {
        "NodeResourcesFit" => {
            let a: FitArgs = args(text, &pc)?;
            let Some(s) = a.scoring_strategy else {
                return Ok(());
            };
            if let Some(resources) = s.resources {
                let mut list = Vec::new();
                for r in resources {
                    if !(1..=MAX_WEIGHT).contains(&r.weight) {
                        return Err((
                            line_of(text, &format!("name: {}", r.name)).max(at),
                            format!(
                                "NodeResourcesFit: scoringStrategy.resources {}: weight {} is out of range [1, {MAX_WEIGHT}]",
                                r.name, r.weight
                            ),
                        ));
                    }
                    list.push((r.name, r.weight));
                }
                p.fit.resources = list;
            }
            match s.strategy.as_deref().unwrap_or("LeastAllocated") {
                "LeastAllocated" => p.fit.strategy = FitStrategy::LeastAllocated,
                "MostAllocated" => p.fit.strategy = FitStrategy::MostAllocated,
                "RequestedToCapacityRatio" => {
                    let Some(param) = s.requested_to_capacity_ratio else {
                        return Err((
                            at,
                            "NodeResourcesFit: RequestedToCapacityRatio needs requestedToCapacityRatio.shape".into(),
                        ));
                    };
                    let shape = check_shape(&param.shape).map_err(|m| {
                        (
                            line_of(text, "shape").max(at),
                            format!("NodeResourcesFit: {m}"),
                        )
                    })?;
                    p.fit.strategy = FitStrategy::RequestedToCapacityRatio(shape);
                }
                other => {
                    return Err((
                        line_of(text, other).max(at),
                        format!(
                            "NodeResourcesFit: scoringStrategy.type {other:?}: expected LeastAllocated, MostAllocated or RequestedToCapacityRatio"
                        ),
                    ));
                }
            }
        }
        "PodTopologySpread" => {
            let a: SpreadArgs = args(text, &pc)?;
            match a.defaulting_type.as_deref().unwrap_or("System") {
                "System" => p.system_default_spreading = true,
                "List" => {
                    // Custom default constraints are not modelled: a List
                    // with none turns the defaults off.
                    if a.default_constraints
                        .as_ref()
                        .is_some_and(|c| !c.is_empty())
                    {
                        return Err((
                            line_of(text, "defaultConstraints").max(at),
                            "PodTopologySpread: custom defaultConstraints are not supported by the simulator".into(),
                        ));
                    }
                    p.system_default_spreading = false;
                }
                other => {
                    return Err((
                        line_of(text, "defaultingType").max(at),
                        format!(
                            "PodTopologySpread: defaultingType {other:?}: expected System or List"
                        ),
                    ));
                }
            }
        }
        "InterPodAffinity" => {
            let a: AffinityArgs = args(text, &pc)?;
            if let Some(w) = a.hard_pod_affinity_weight {
                if !(0..=MAX_WEIGHT).contains(&w) {
                    return Err((
                        line_of(text, "hardPodAffinityWeight").max(at),
                        format!(
                            "InterPodAffinity: hardPodAffinityWeight {w} is out of range [0, {MAX_WEIGHT}]"
                        ),
                    ));
                }
                p.hard_pod_affinity_weight = w;
            }
        }
        name if known(name) => {}
        name => {
            return Err((at, format!("pluginConfig: unknown plugin {name:?}")));
        }
    }
    Ok(())
}

/// Upstream validation of a RequestedToCapacityRatio shape: at least one
/// point, utilization in [0, 100] strictly increasing, score in [0, 10].
/// Returns the points with scores scaled to [0, 100].
fn check_shape(shape: &[ShapePoint]) -> Result<Vec<(i64, i64)>, String> {
    if shape.is_empty() {
        return Err("requestedToCapacityRatio.shape: at least one point is required".into());
    }
    let mut out = Vec::with_capacity(shape.len());
    for (k, pt) in shape.iter().enumerate() {
        if !(0..=100).contains(&pt.utilization) {
            return Err(format!(
                "shape[{k}].utilization {}: must be in range [0, 100]",
                pt.utilization
            ));
        }
        if !(0..=10).contains(&pt.score) {
            return Err(format!(
                "shape[{k}].score {}: must be in range [0, 10]",
                pt.score
            ));
        }
        if k > 0 && pt.utilization <= shape[k - 1].utilization {
            return Err(format!(
                "shape[{k}].utilization {}: utilization values must be sorted in increasing order",
                pt.utilization
            ));
        }
        out.push((pt.utilization, pt.score * MAX_NODE_SCORE / 10));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";

    #[test]
    fn profiles_plugins_weights_and_args() {
        let text = format!(
            "{HEAD}profiles:
  - schedulerName: default-scheduler
  - schedulerName: bin-packing
    plugins:
      score:
        disabled:
          - name: NodeResourcesBalancedAllocation
        enabled:
          - name: NodeResourcesFit
            weight: 5
      filter:
        disabled:
          - name: NodePorts
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: RequestedToCapacityRatio
            resources: [{{name: cpu, weight: 2}}, {{name: memory, weight: 1}}]
            requestedToCapacityRatio:
              shape: [{{utilization: 0, score: 0}}, {{utilization: 100, score: 10}}]
"
        );
        let ps = parse(&text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0], Profile::default());
        let b = &ps[1];
        assert_eq!(b.scheduler_name, "bin-packing");
        assert_eq!(b.weight(ScorePlugin::NodeResourcesFit), 5);
        assert_eq!(b.weight(ScorePlugin::NodeResourcesBalancedAllocation), 0);
        assert_eq!(b.weight(ScorePlugin::TaintToleration), 3);
        assert!(!b.filter_enabled(FilterPlugin::NodePorts));
        assert_eq!(
            b.fit.strategy,
            FitStrategy::RequestedToCapacityRatio(vec![(0, 0), (100, 100)])
        );
        assert_eq!(
            b.fit.resources,
            vec![("cpu".to_string(), 2), ("memory".to_string(), 1)]
        );
    }

    fn err(body: &str) -> (usize, String) {
        parse(&format!("{HEAD}{body}")).unwrap_err()
    }

    #[test]
    fn bad_configurations_are_located() {
        let (line, msg) = err(
            "profiles:\n  - schedulerName: x\n    plugins:\n      score:\n        enabled:\n          - name: NodeResourceFit\n",
        );
        assert_eq!(line, 8);
        assert!(msg.contains("unknown plugin \"NodeResourceFit\""), "{msg}");
        let (line, msg) = err(
            "profiles:\n  - schedulerName: x\n    plugins:\n      score:\n        enabled:\n          - name: ImageLocality\n            weight: 1000\n",
        );
        assert_eq!(line, 9);
        assert!(msg.contains("out of range"), "{msg}");
        let (line, msg) = err("profiles:\n  - schedulerName: x\n    scheduler: y\n");
        assert_eq!(line, 5);
        assert!(msg.contains("unknown field `scheduler`"), "{msg}");
        let (_, msg) = err(
            "profiles:\n  - pluginConfig:\n      - name: NodeResourcesFit\n        args:\n          scoringStrategy:\n            type: RequestedToCapacityRatio\n            requestedToCapacityRatio:\n              shape: [{utilization: 50, score: 5}, {utilization: 10, score: 1}]\n",
        );
        assert!(msg.contains("increasing"), "{msg}");
        let (_, msg) = err(
            "profiles:\n  - pluginConfig:\n      - name: NodeResourcesFit\n        args:\n          scoringStrategy:\n            type: RequestedToCapacityRatio\n            requestedToCapacityRatio:\n              shape: [{utilization: 0, score: 11}]\n",
        );
        assert!(msg.contains("[0, 10]"), "{msg}");
        let e = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
        )
        .unwrap_err();
        assert_eq!(e.0, 1);
    }

    /// `clientConnection` and the queue's backoff: upstream's defaults for
    /// what is left out or 0, its validation for the rest.
    #[test]
    fn client_connection_and_backoff_settings() {
        let one = |body: &str| parse(&format!("{HEAD}{body}")).unwrap().remove(0);
        let p = one("clientConnection: {qps: 20, kubeconfig: /k}\npodInitialBackoffSeconds: 2\n");
        let c = p.client_connection.unwrap();
        assert_eq!((c.qps, c.burst), (20.0, 100));
        assert_eq!(
            p.pod_backoff,
            Some((2 * crate::engine::SECOND, 10 * crate::engine::SECOND))
        );
        let p = one("clientConnection: {qps: 0, burst: 7}\n");
        let c = p.client_connection.unwrap();
        assert_eq!((c.qps, c.burst), (50.0, 7));
        assert_eq!(p.pod_backoff, None);
        assert_eq!(
            one("clientConnection: {contentType: x}\n").client_connection,
            None
        );
        let (line, msg) = err("podInitialBackoffSeconds: 0\n");
        assert_eq!(line, 3);
        assert!(msg.contains("must be greater than 0"), "{msg}");
        let (_, msg) = err("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 4\n");
        assert!(
            msg.contains("greater than or equal to podInitialBackoffSeconds"),
            "{msg}"
        );
        let (_, msg) = err("clientConnection: {burst: 3000000000}\n");
        assert!(msg.contains("clientConnection.burst"), "{msg}");
    }

    #[test]
    fn unknown_policy_names_list_the_valid_ones() {
        let e = resolve("binpack", Path::new(".")).unwrap_err();
        assert!(
            e.to_string()
                .contains("default, most-allocated, balanced, spread, random, first-fit"),
            "{e}"
        );
        assert_eq!(resolve("spread", Path::new(".")).unwrap().len(), 1);
    }
}
