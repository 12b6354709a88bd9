//! Persistent storage as the scheduler's volume plugins and the
//! PersistentVolume controller read it: PersistentVolumes and
//! PersistentVolumeClaims (`v1`) with their phases, StorageClasses and
//! CSINodes (`storage.k8s.io/v1`), and the volumes of a pod's spec.
//!
//! Only the fields the model reads are typed (a claim's binding, access
//! modes, class and request; a volume's source, class, claim reference,
//! reclaim policy, node affinity and zone labels; a class's provisioner,
//! reclaim policy and binding mode; a CSINode's per-driver attach limits);
//! every other real field is accepted and ignored. Simplified: the kubelet
//! attaches and mounts nothing (a pod's volumes cost it no time).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::selector::NodeSelector;

/// The annotation that marks a claim's binding complete.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// The annotation the PersistentVolume controller puts on the volumes and
/// claims it binds (rather than a user pre-binding them).
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The annotation naming the provisioner asked to provision a claim's
/// volume, and its beta twin, which upstream still sets.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// The annotation the scheduler puts on a WaitForFirstConsumer claim it
/// wants provisioned for the node it chose.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The annotation a claim provisioned through a migrated in-tree
/// provisioner carries: the CSI driver it went to.
pub const ANN_MIGRATED_TO: &str = "pv.kubernetes.io/migrated-to";
/// The annotation naming the provisioner that made a volume.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// The annotation that named a claim's class before `storageClassName`.
pub const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// The annotation that makes a StorageClass the default one.
pub const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
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

/// An object's class: the beta annotation, else its `storageClassName`
/// (`""`: none).
fn class_of<'a>(meta: &'a ObjectMeta, name: Option<&'a str>) -> &'a str {
    (meta.annotations.get(ANN_BETA_STORAGE_CLASS))
        .map(String::as_str)
        .or(name)
        .unwrap_or("")
}

/// A PersistentVolume.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersistentVolume {
    pub metadata: ObjectMeta,
    pub spec: PersistentVolumeSpec,
    pub status: VolumeStatus,
}

impl PersistentVolume {
    /// The class the volume belongs to (`""`: none): the beta annotation,
    /// else `storageClassName`, as upstream's `GetPersistentVolumeClass`.
    pub fn class(&self) -> &str {
        class_of(&self.metadata, self.spec.storage_class_name.as_deref())
    }

    /// The volume's size, `spec.capacity.storage`.
    pub fn size(&self) -> Option<&Quantity> {
        self.spec.capacity.get("storage")
    }

    /// The reclaim policy (defaulted by the apiserver to Retain).
    pub fn reclaim_policy(&self) -> &str {
        self.spec
            .persistent_volume_reclaim_policy
            .as_deref()
            .unwrap_or("Retain")
    }

    /// Whether the volume's claim reference names the claim
    /// `namespace/name` (and, when the reference has a uid, the claim with
    /// `uid`).
    pub fn reserved_for(&self, namespace: &str, name: &str, uid: u64) -> bool {
        self.spec.claim_ref.as_ref().is_some_and(|r| {
            r.namespace.as_deref() == Some(namespace)
                && r.name.as_deref() == Some(name)
                && r.uid
                    .as_deref()
                    .is_none_or(|u| u.is_empty() || u == uid.to_string())
        })
    }
}

/// A PersistentVolume's phase (`status.phase`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VolumePhase {
    /// Not yet available (upstream's phase of a volume being created).
    #[default]
    Pending,
    /// Free to bind.
    Available,
    /// Bound to a claim.
    Bound,
    /// Its claim was deleted; not yet reclaimed.
    Released,
    /// Its reclamation failed.
    Failed,
}

impl VolumePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumePhase::Pending => "Pending",
            VolumePhase::Available => "Available",
            VolumePhase::Bound => "Bound",
            VolumePhase::Released => "Released",
            VolumePhase::Failed => "Failed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolumeStatus {
    pub phase: VolumePhase,
    /// Why the volume is in its phase (a failed reclamation's error).
    pub message: String,
}

/// A PersistentVolumeClaim's phase (`status.phase`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimPhase {
    /// Not yet bound.
    #[default]
    Pending,
    Bound,
    /// Its volume is gone or bound elsewhere.
    Lost,
}

impl ClaimPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimPhase::Pending => "Pending",
            ClaimPhase::Bound => "Bound",
            ClaimPhase::Lost => "Lost",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClaimStatus {
    pub phase: ClaimPhase,
    /// The bound volume's capacity and access modes.
    pub capacity: BTreeMap<String, Quantity>,
    pub access_modes: Vec<String>,
}

/// A status write of a volume or a claim (their `status` subresources).
#[derive(Clone, Debug, PartialEq)]
pub enum StorageStatus {
    Volume(VolumeStatus),
    Claim(ClaimStatus),
}

/// A StorageClass: its fields sit beside its metadata, as upstream's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageClass {
    pub metadata: ObjectMeta,
    pub class: StorageClassFields,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClassFields {
    #[serde(default)]
    pub provisioner: String,
    /// The volumes' reclaim policy (defaulted by the apiserver to Delete).
    #[serde(default)]
    pub reclaim_policy: Option<String>,
    /// `Immediate` (the default) or `WaitForFirstConsumer`.
    #[serde(default)]
    pub volume_binding_mode: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub allow_volume_expansion: Option<bool>,
    #[serde(default)]
    pub mount_options: Vec<String>,
    #[serde(default)]
    pub allowed_topologies: Option<serde_yaml::Value>,
}

/// A StorageClass manifest's top-level keys...
pub const STORAGE_CLASS_KEYS: [&str; 10] = [
    "apiVersion",
    "kind",
    "metadata",
    "provisioner",
    "parameters",
    "reclaimPolicy",
    "volumeBindingMode",
    "allowVolumeExpansion",
    "mountOptions",
    "allowedTopologies",
];
/// ...and its fields among them (beside `apiVersion`, `kind` and
/// `metadata`).
pub const STORAGE_CLASS_FIELDS: &[&str] = STORAGE_CLASS_KEYS.split_at(3).1;

impl StorageClass {
    /// Whether the class is marked the default one.
    pub fn is_default(&self) -> bool {
        self.metadata
            .annotations
            .get(ANN_DEFAULT_CLASS)
            .is_some_and(|v| v == "true")
    }

    /// Whether its claims wait for a pod to be scheduled before binding.
    pub fn waits_for_consumer(&self) -> bool {
        self.class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
    }
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
    /// The claim's uid once the PersistentVolume controller bound it.
    #[serde(default)]
    pub uid: Option<String>,
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
    pub status: ClaimStatus,
}

impl PersistentVolumeClaim {
    /// The class the claim asks for (`""`: none): the beta annotation,
    /// else `storageClassName`, as upstream's
    /// `GetPersistentVolumeClaimClass`.
    pub fn class(&self) -> &str {
        class_of(&self.metadata, self.spec.storage_class_name.as_deref())
    }

    /// Whether the claim names a class at all (`""` included), as
    /// upstream's `PersistentVolumeClaimHasClass`.
    pub fn has_class(&self) -> bool {
        self.spec.storage_class_name.is_some()
            || self
                .metadata
                .annotations
                .contains_key(ANN_BETA_STORAGE_CLASS)
    }

    /// The volume the claim names, if any.
    pub fn volume(&self) -> Option<&str> {
        self.spec.volume_name.as_deref().filter(|v| !v.is_empty())
    }

    /// The storage the claim requests.
    pub fn request(&self) -> Option<&Quantity> {
        self.spec.resources.requests.get("storage")
    }

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
    #[serde(default)]
    pub selector: Option<super::selector::LabelSelector>,
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
