//! Persistent storage as the scheduler's volume plugins read it:
//! PersistentVolumes and PersistentVolumeClaims (`v1`) and CSINodes
//! (`storage.k8s.io/v1`), and the volumes of a pod's spec.
//!
//! Only the fields the plugins read are typed (a claim's binding, access
//! modes and request; a volume's source, node affinity and zone labels; a
//! CSINode's per-driver attach limits); every other real field is accepted
//! and ignored. Simplified: no PersistentVolume controller runs, so a claim
//! is bound only as written (`spec.volumeName` with the
//! `pv.kubernetes.io/bind-completed` annotation, as upstream's scheduler_perf
//! writes its claims); no StorageClass is modelled, so every claim binds
//! immediately in upstream's terms; status is not kept; the kubelet
//! attaches and mounts nothing (a pod's volumes cost it no time).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::selector::NodeSelector;

/// The annotation that marks a claim's binding complete.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// The CSINode annotation listing the in-tree plugins migrated to CSI on
/// the node, comma-separated.
pub const ANN_MIGRATED_PLUGINS: &str = "storage.alpha.kubernetes.io/migrated-plugins";
/// The in-tree AWS EBS plugin and the CSI driver it migrates to.
pub const AWS_EBS_PLUGIN: &str = "kubernetes.io/aws-ebs";
pub const AWS_EBS_DRIVER: &str = "ebs.csi.aws.com";
/// The in-tree GCE PD plugin and the CSI driver it migrates to.
pub const GCE_PD_PLUGIN: &str = "kubernetes.io/gce-pd";
pub const GCE_PD_DRIVER: &str = "pd.csi.storage.gke.io";
/// The in-tree Azure Disk plugin and the CSI driver it migrates to.
pub const AZURE_DISK_PLUGIN: &str = "kubernetes.io/azure-disk";
pub const AZURE_DISK_DRIVER: &str = "disk.csi.azure.com";

/// The access modes a volume or claim may list.
pub const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// A PersistentVolume.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersistentVolume {
    pub metadata: ObjectMeta,
    pub spec: PersistentVolumeSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeSpec {
    #[serde(default)]
    pub capacity: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub access_modes: Vec<String>,
    #[serde(default)]
    pub claim_ref: Option<ClaimRef>,
    #[serde(default)]
    pub persistent_volume_reclaim_policy: Option<String>,
    #[serde(default)]
    pub storage_class_name: Option<String>,
    #[serde(default)]
    pub volume_mode: Option<String>,
    #[serde(default)]
    pub node_affinity: Option<VolumeNodeAffinity>,
    #[serde(flatten)]
    pub source: VolumeSources,
}

/// The claim a volume is reserved for.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRef {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct VolumeNodeAffinity {
    #[serde(default)]
    pub required: Option<NodeSelector>,
}

/// The sources of a volume that the plugins tell apart (a PersistentVolume
/// has no `persistentVolumeClaim` or `ephemeral`); every other source is
/// accepted and ignored.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSources {
    #[serde(default)]
    pub csi: Option<CsiSource>,
    #[serde(default)]
    pub aws_elastic_block_store: Option<AwsEbsSource>,
    #[serde(default)]
    pub gce_persistent_disk: Option<GcePdSource>,
    #[serde(default)]
    pub azure_disk: Option<AzureDiskSource>,
    #[serde(default)]
    pub persistent_volume_claim: Option<ClaimSource>,
    #[serde(default)]
    pub ephemeral: Option<serde_yaml::Value>,
}

impl VolumeSources {
    /// The in-tree plugin and the CSI driver it migrates to, and the
    /// volume's id, for the in-tree attachable disks.
    pub fn in_tree_disk(&self) -> Option<(&'static str, &'static str, &str)> {
        if let Some(s) = &self.aws_elastic_block_store {
            return Some((AWS_EBS_PLUGIN, AWS_EBS_DRIVER, &s.volume_id));
        }
        if let Some(s) = &self.gce_persistent_disk {
            return Some((GCE_PD_PLUGIN, GCE_PD_DRIVER, &s.pd_name));
        }
        if let Some(s) = &self.azure_disk {
            return Some((AZURE_DISK_PLUGIN, AZURE_DISK_DRIVER, &s.disk_uri));
        }
        None
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsiSource {
    #[serde(default)]
    pub driver: String,
    /// A PersistentVolume's; an inline CSI volume has none.
    #[serde(default)]
    pub volume_handle: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsEbsSource {
    #[serde(rename = "volumeID", default)]
    pub volume_id: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcePdSource {
    #[serde(default)]
    pub pd_name: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureDiskSource {
    #[serde(rename = "diskURI", default)]
    pub disk_uri: String,
    #[serde(default)]
    pub disk_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSource {
    #[serde(default)]
    pub claim_name: String,
    #[serde(default)]
    pub read_only: bool,
}

/// One volume of a pod's spec.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PodVolume {
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub source: VolumeSources,
}

impl PodVolume {
    /// The claim the volume reads from: its own, or the one a generic
    /// ephemeral volume's controller names `<pod>-<volume>`.
    pub fn claim_name(&self, pod_name: &str) -> Option<Cow<'_, str>> {
        if let Some(c) = &self.source.persistent_volume_claim {
            return Some(Cow::Borrowed(&c.claim_name));
        }
        self.source
            .ephemeral
            .as_ref()
            .map(|_| Cow::Owned(format!("{pod_name}-{}", self.name)))
    }
}

/// A PersistentVolumeClaim.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersistentVolumeClaim {
    pub metadata: ObjectMeta,
    pub spec: PersistentVolumeClaimSpec,
}

impl PersistentVolumeClaim {
    /// Upstream's `isPVCFullyBound`: a volume named and the binding
    /// marked complete.
    pub fn fully_bound(&self) -> bool {
        self.spec
            .volume_name
            .as_deref()
            .is_some_and(|v| !v.is_empty())
            && self.metadata.annotations.contains_key(ANN_BIND_COMPLETED)
    }

    pub fn read_write_once_pod(&self) -> bool {
        self.spec
            .access_modes
            .iter()
            .any(|m| m == "ReadWriteOncePod")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimSpec {
    #[serde(default)]
    pub access_modes: Vec<String>,
    #[serde(default)]
    pub resources: ClaimResources,
    #[serde(default)]
    pub volume_name: Option<String>,
    #[serde(default)]
    pub storage_class_name: Option<String>,
    #[serde(default)]
    pub volume_mode: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ClaimResources {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
}

/// A CSINode: the CSI drivers installed on the node of its name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsiNode {
    pub metadata: ObjectMeta,
    pub spec: CsiNodeSpec,
}

impl CsiNode {
    /// Whether the in-tree `plugin` is migrated to CSI on this node (the
    /// migrated-plugins annotation lists it; entries are not trimmed, as
    /// upstream splits the value).
    pub fn migrated(&self, plugin: &str) -> bool {
        self.metadata
            .annotations
            .get(ANN_MIGRATED_PLUGINS)
            .is_some_and(|v| v.split(',').any(|p| p == plugin))
    }

    /// The number of volumes of `driver` the node may attach, if limited.
    pub fn limit(&self, driver: &str) -> Option<i64> {
        self.spec
            .drivers
            .iter()
            .find(|d| d.name == driver)
            .and_then(|d| d.allocatable.as_ref()?.count)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct CsiNodeSpec {
    #[serde(default)]
    pub drivers: Vec<CsiNodeDriver>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsiNodeDriver {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "nodeID", default)]
    pub node_id: String,
    #[serde(default)]
    pub topology_keys: Vec<String>,
    #[serde(default)]
    pub allocatable: Option<VolumeNodeResources>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct VolumeNodeResources {
    #[serde(default)]
    pub count: Option<i64>,
}
