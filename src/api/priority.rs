//! PriorityClasses (`scheduling.k8s.io/v1`): named pod priorities that the
//! apiserver's Priority admission plugin resolves into `spec.priority` when a
//! pod is created (`plugin/pkg/admission/priority`).

use serde::Deserialize;

use super::meta::ObjectMeta;

/// The highest value a user-defined PriorityClass may have
/// (`HighestUserDefinablePriority`).
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;
/// The built-in classes and their values.
pub const SYSTEM_CLASSES: [(&str, i32); 2] = [
    ("system-cluster-critical", 2_000_000_000),
    ("system-node-critical", 2_000_001_000),
];

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityClass {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub value: i32,
    #[serde(default)]
    pub global_default: bool,
    #[serde(default)]
    pub preemption_policy: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}
