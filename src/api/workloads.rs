//! Workload objects: Deployments, ReplicaSets, DaemonSets and StatefulSets.
//! A user writes the spec; the status is written only by their controllers.

use serde::{Deserialize, Deserializer};

use super::meta::ObjectMeta;
use super::pod::PodSpec;
use super::selector::LabelSelector;
use crate::engine::Time;

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
    /// StatefulSet only: the claims each replica gets, named
    /// `<template>-<set>-<ordinal>`.
    #[serde(default)]
    pub volume_claim_templates: Vec<ClaimTemplate>,
    /// StatefulSet only: the first replica's ordinal.
    #[serde(default)]
    pub ordinals: Option<StatefulSetOrdinals>,
}

/// One of a StatefulSet's `volumeClaimTemplates`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ClaimTemplate {
    #[serde(default)]
    pub metadata: crate::api::ObjectMeta,
    #[serde(default)]
    pub spec: crate::api::volume::PersistentVolumeClaimSpec,
}

/// A StatefulSet's `spec.ordinals`: replicas are numbered from `start`
/// (upstream's StatefulSetStartOrdinal, GA in 1.31).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetOrdinals {
    /// Unset (or null) is 0.
    #[serde(default)]
    pub start: Option<i32>,
}

/// A Deployment, ReplicaSet, DaemonSet or StatefulSet: the kind is carried
/// by the [`super::Object`] variant.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Workload {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Shared between versions: a status update copies the metadata, not
    /// the spec; a change to the spec copies it (`Arc::make_mut`).
    #[serde(default)]
    pub spec: std::sync::Arc<WorkloadSpec>,
    /// Written only by the controllers (a manifest's `status` is ignored).
    #[serde(skip)]
    pub status: WorkloadStatus,
}

/// A condition of a Deployment (`Progressing`, `Available`). Its type and
/// reason are the Deployment controller's own constants.
#[derive(Clone, Debug, Eq)]
pub struct WorkloadCondition {
    pub kind: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub last_update: Time,
    pub last_transition: Time,
}

/// Field by field, as derived; the type and reason, the controller's own
/// constants, are the same text at the same place but for a copy made
/// elsewhere, so they are compared by place first and by text only when
/// the places differ. A status sync compares every condition.
impl PartialEq for WorkloadCondition {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status
            && self.last_update == other.last_update
            && self.last_transition == other.last_transition
            && same_text(self.kind, other.kind)
            && same_text(self.reason, other.reason)
    }
}

/// Whether two texts are equal, by place first: for a condition's type and
/// reason, which are the controllers' constants.
#[inline]
pub fn same_text(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The status the workload controllers report: the union of the fields of
/// the four kinds' statuses that the simulator models.
#[derive(Clone, Debug, Default, Eq)]
pub struct WorkloadStatus {
    pub observed_generation: i64,
    pub replicas: i32,
    pub updated_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub unavailable_replicas: i32,
    /// DaemonSet: nodes that should run the daemon pod.
    pub desired_number_scheduled: i32,
    pub collision_count: i32,
    /// StatefulSet: the revision label of the current and the update pods.
    pub current_revision: String,
    pub update_revision: String,
    pub conditions: Vec<WorkloadCondition>,
}

/// Field by field, as derived; the revisions, empty but for DaemonSets
/// and StatefulSets, are compared by length first, so that a status sync
/// of a Deployment or ReplicaSet (which compares its whole status every
/// time) makes no library call for two empty texts.
impl PartialEq for WorkloadStatus {
    fn eq(&self, other: &Self) -> bool {
        // Destructured in full: a new field fails to compile here until
        // it is compared.
        let WorkloadStatus {
            observed_generation,
            replicas,
            updated_replicas,
            ready_replicas,
            available_replicas,
            unavailable_replicas,
            desired_number_scheduled,
            collision_count,
            current_revision,
            update_revision,
            conditions,
        } = self;
        let same = |a: &String, b: &String| a.len() == b.len() && (a.is_empty() || a == b);
        *observed_generation == other.observed_generation
            && *replicas == other.replicas
            && *updated_replicas == other.updated_replicas
            && *ready_replicas == other.ready_replicas
            && *available_replicas == other.available_replicas
            && *unavailable_replicas == other.unavailable_replicas
            && *desired_number_scheduled == other.desired_number_scheduled
            && *collision_count == other.collision_count
            && same(current_revision, &other.current_revision)
            && same(update_revision, &other.update_revision)
            && *conditions == other.conditions
    }
}

impl WorkloadStatus {
    pub fn condition(&self, kind: &str) -> Option<&WorkloadCondition> {
        self.conditions.iter().find(|c| same_text(c.kind, kind))
    }
}

impl Workload {
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    pub fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Conditions are equal exactly when every field is, whether their
    /// texts are at the same place or are copies.
    #[test]
    fn conditions_compare_by_text_wherever_it_is() {
        let c = WorkloadCondition {
            kind: "Progressing",
            status: true,
            reason: "NewReplicaSetAvailable",
            last_update: 5,
            last_transition: 3,
        };
        let copied = WorkloadCondition {
            kind: String::from("Progressing").leak(),
            reason: String::from("NewReplicaSetAvailable").leak(),
            ..c.clone()
        };
        assert!(!std::ptr::eq(c.kind, copied.kind));
        assert_eq!(c, copied);
        let differ = [
            WorkloadCondition {
                kind: "Available",
                ..c.clone()
            },
            WorkloadCondition {
                status: false,
                ..c.clone()
            },
            WorkloadCondition {
                reason: "ReplicaSetUpdated",
                ..c.clone()
            },
            WorkloadCondition {
                last_update: 6,
                ..c.clone()
            },
            WorkloadCondition {
                last_transition: 4,
                ..c.clone()
            },
        ];
        for d in differ {
            assert_ne!(c, d);
            assert_ne!(copied, d);
        }
    }

    /// Statuses are equal exactly when every field is.
    #[test]
    fn statuses_compare_field_by_field() {
        let s = WorkloadStatus {
            observed_generation: 2,
            replicas: 3,
            updated_replicas: 3,
            ready_replicas: 2,
            available_replicas: 2,
            unavailable_replicas: 1,
            desired_number_scheduled: 0,
            collision_count: 0,
            current_revision: "web-5d8f".into(),
            update_revision: "web-5d8f".into(),
            conditions: vec![WorkloadCondition {
                kind: "Progressing",
                status: true,
                reason: "NewReplicaSetAvailable",
                last_update: 5,
                last_transition: 3,
            }],
        };
        assert_eq!(s, s.clone());
        assert_eq!(WorkloadStatus::default(), WorkloadStatus::default());
        let differ = [
            WorkloadStatus {
                observed_generation: 3,
                ..s.clone()
            },
            WorkloadStatus {
                replicas: 4,
                ..s.clone()
            },
            WorkloadStatus {
                updated_replicas: 2,
                ..s.clone()
            },
            WorkloadStatus {
                ready_replicas: 3,
                ..s.clone()
            },
            WorkloadStatus {
                available_replicas: 3,
                ..s.clone()
            },
            WorkloadStatus {
                unavailable_replicas: 0,
                ..s.clone()
            },
            WorkloadStatus {
                desired_number_scheduled: 1,
                ..s.clone()
            },
            WorkloadStatus {
                collision_count: 1,
                ..s.clone()
            },
            WorkloadStatus {
                current_revision: "web-5d8e".into(),
                ..s.clone()
            },
            WorkloadStatus {
                current_revision: String::new(),
                ..s.clone()
            },
            WorkloadStatus {
                update_revision: "web-6a01".into(),
                ..s.clone()
            },
            WorkloadStatus {
                conditions: Vec::new(),
                ..s.clone()
            },
        ];
        for d in differ {
            assert_ne!(s, d);
            assert_ne!(d, s);
        }
    }
}
