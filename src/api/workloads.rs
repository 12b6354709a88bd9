//! Workload objects: Deployments, ReplicaSets, DaemonSets and StatefulSets.
//! They are parsed and stored; their controllers are not modelled yet.

use serde::{Deserialize, Deserializer};

use super::meta::ObjectMeta;
use super::pod::PodSpec;
use super::selector::LabelSelector;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PodTemplateSpec {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
}

/// An integer or a percentage, as in `maxSurge: 25%`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i64),
    Percent(i64),
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(i) => Ok(IntOrPercent::Int(i)),
            Raw::Str(s) => {
                let bad = || {
                    serde::de::Error::custom(format!(
                        "invalid value `{s}`: expected an integer or a percentage such as 25%"
                    ))
                };
                let digits = s.strip_suffix('%').ok_or_else(bad)?;
                digits.parse().map(IntOrPercent::Percent).map_err(|_| bad())
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdate {
    #[serde(default)]
    pub max_surge: Option<IntOrPercent>,
    #[serde(default)]
    pub max_unavailable: Option<IntOrPercent>,
    #[serde(default)]
    pub partition: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    #[serde(default, rename = "type")]
    pub strategy_type: Option<String>,
    #[serde(default)]
    pub rolling_update: Option<RollingUpdate>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    #[serde(default)]
    pub replicas: Option<i32>,
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub min_ready_seconds: Option<i32>,
    #[serde(default)]
    pub revision_history_limit: Option<i32>,
    #[serde(default)]
    pub progress_deadline_seconds: Option<i32>,
    #[serde(default)]
    pub paused: bool,
    /// Deployment strategy.
    #[serde(default)]
    pub strategy: Option<UpdateStrategy>,
    /// DaemonSet and StatefulSet strategy.
    #[serde(default)]
    pub update_strategy: Option<UpdateStrategy>,
    /// StatefulSet only.
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub pod_management_policy: Option<String>,
}

/// A Deployment, ReplicaSet, DaemonSet or StatefulSet: the kind is carried
/// by the [`super::Object`] variant.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Workload {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: WorkloadSpec,
}
