//! The fields Kubernetes' own types have, so that a manifest key Kubernetes
//! does not know (a typo such as `replicaz`, or `nodeselector`) is an error
//! at its line and column, as `kubectl apply`'s strict field validation
//! makes it, while a real field the model does not use (`livenessProbe`,
//! `volumes`, `env`, ...) is still accepted and ignored.
//!
//! [`Checked`] wraps the deserializer a derived type reads from and checks
//! every key of every mapping against a [`Schema`] tree (upstream's field
//! names, from `k8s.io/api`'s `core/v1`, `apps/v1` and `meta/v1` types);
//! the wrapped type sees exactly the data it would have seen without it.
//! Below a field the schema does not describe (a volume, a probe's
//! handler, a security context) nothing is checked.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// What a value may hold.
pub enum Schema {
    /// Anything: not checked.
    Any,
    /// A mapping whose keys are these fields (a Kubernetes struct), each
    /// with the schema of its value; `.0` names the type for messages.
    Struct(&'static str, &'static [(&'static str, &'static Schema)]),
    /// A sequence of values of one schema.
    Seq(&'static Schema),
}

use Schema::{Any, Seq, Struct};

const OWNER_REFERENCE: Schema = Struct(
    "OwnerReference",
    &[
        ("apiVersion", &Any),
        ("kind", &Any),
        ("name", &Any),
        ("uid", &Any),
        ("controller", &Any),
        ("blockOwnerDeletion", &Any),
    ],
);

/// `metav1.ObjectMeta`'s fields, and `extra` ones after them.
macro_rules! object_meta_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            ("name", &Any),
            ("generateName", &Any),
            ("namespace", &Any),
            ("selfLink", &Any),
            ("uid", &Any),
            ("resourceVersion", &Any),
            ("generation", &Any),
            ("creationTimestamp", &Any),
            ("deletionTimestamp", &Any),
            ("deletionGracePeriodSeconds", &Any),
            ("labels", &Any),
            ("annotations", &Any),
            ("ownerReferences", &Seq(&OWNER_REFERENCE)),
            ("finalizers", &Any),
            ("managedFields", &Any),
            $($extra),*
        ]
    };
}

/// `metav1.ObjectMeta`.
pub const OBJECT_META: Schema = Struct("ObjectMeta", object_meta_fields!());

/// A manifest's `metadata` before its kind is known: an object's, or a
/// List's (`metav1.ListMeta`: `continue`, `remainingItemCount`).
pub const ANY_META: Schema = Struct(
    "ObjectMeta",
    object_meta_fields!(("continue", &Any), ("remainingItemCount", &Any)),
);

const LABEL_SELECTOR_REQUIREMENT: Schema = Struct(
    "LabelSelectorRequirement",
    &[("key", &Any), ("operator", &Any), ("values", &Any)],
);

const LABEL_SELECTOR: Schema = Struct(
    "LabelSelector",
    &[
        ("matchLabels", &Any),
        ("matchExpressions", &Seq(&LABEL_SELECTOR_REQUIREMENT)),
    ],
);

const NODE_SELECTOR_REQUIREMENT: Schema = Struct(
    "NodeSelectorRequirement",
    &[("key", &Any), ("operator", &Any), ("values", &Any)],
);

const NODE_SELECTOR_TERM: Schema = Struct(
    "NodeSelectorTerm",
    &[
        ("matchExpressions", &Seq(&NODE_SELECTOR_REQUIREMENT)),
        ("matchFields", &Seq(&NODE_SELECTOR_REQUIREMENT)),
    ],
);

const NODE_AFFINITY: Schema = Struct(
    "NodeAffinity",
    &[
        (
            "requiredDuringSchedulingIgnoredDuringExecution",
            &Struct(
                "NodeSelector",
                &[("nodeSelectorTerms", &Seq(&NODE_SELECTOR_TERM))],
            ),
        ),
        (
            "preferredDuringSchedulingIgnoredDuringExecution",
            &Seq(&Struct(
                "PreferredSchedulingTerm",
                &[("weight", &Any), ("preference", &NODE_SELECTOR_TERM)],
            )),
        ),
    ],
);

const POD_AFFINITY_TERM: Schema = Struct(
    "PodAffinityTerm",
    &[
        ("labelSelector", &LABEL_SELECTOR),
        ("namespaces", &Any),
        ("topologyKey", &Any),
        ("namespaceSelector", &LABEL_SELECTOR),
        ("matchLabelKeys", &Any),
        ("mismatchLabelKeys", &Any),
    ],
);

const POD_AFFINITY: Schema = Struct(
    "PodAffinity",
    &[
        (
            "requiredDuringSchedulingIgnoredDuringExecution",
            &Seq(&POD_AFFINITY_TERM),
        ),
        (
            "preferredDuringSchedulingIgnoredDuringExecution",
            &Seq(&Struct(
                "WeightedPodAffinityTerm",
                &[("weight", &Any), ("podAffinityTerm", &POD_AFFINITY_TERM)],
            )),
        ),
    ],
);

const RESOURCES: Schema = Struct(
    "ResourceRequirements",
    &[("limits", &Any), ("requests", &Any), ("claims", &Any)],
);

const PROBE: Schema = Struct(
    "Probe",
    &[
        ("exec", &Any),
        ("httpGet", &Any),
        ("tcpSocket", &Any),
        ("grpc", &Any),
        ("initialDelaySeconds", &Any),
        ("timeoutSeconds", &Any),
        ("periodSeconds", &Any),
        ("successThreshold", &Any),
        ("failureThreshold", &Any),
        ("terminationGracePeriodSeconds", &Any),
    ],
);

const CONTAINER: Schema = Struct(
    "Container",
    &[
        ("name", &Any),
        ("image", &Any),
        ("command", &Any),
        ("args", &Any),
        ("workingDir", &Any),
        (
            "ports",
            &Seq(&Struct(
                "ContainerPort",
                &[
                    ("name", &Any),
                    ("hostPort", &Any),
                    ("containerPort", &Any),
                    ("protocol", &Any),
                    ("hostIP", &Any),
                ],
            )),
        ),
        ("envFrom", &Any),
        ("env", &Any),
        ("resources", &RESOURCES),
        ("resizePolicy", &Any),
        ("restartPolicy", &Any),
        ("restartPolicyRules", &Any),
        ("volumeMounts", &Any),
        ("volumeDevices", &Any),
        ("livenessProbe", &PROBE),
        ("readinessProbe", &PROBE),
        ("startupProbe", &PROBE),
        ("lifecycle", &Any),
        ("terminationMessagePath", &Any),
        ("terminationMessagePolicy", &Any),
        ("imagePullPolicy", &Any),
        ("securityContext", &Any),
        ("stdin", &Any),
        ("stdinOnce", &Any),
        ("tty", &Any),
    ],
);

/// `core/v1.PodSpec`.
pub const POD_SPEC: Schema = Struct(
    "PodSpec",
    &[
        ("volumes", &Seq(&VOLUME)),
        ("initContainers", &Seq(&CONTAINER)),
        ("containers", &Seq(&CONTAINER)),
        ("ephemeralContainers", &Any),
        ("restartPolicy", &Any),
        ("terminationGracePeriodSeconds", &Any),
        ("activeDeadlineSeconds", &Any),
        ("dnsPolicy", &Any),
        ("nodeSelector", &Any),
        ("serviceAccountName", &Any),
        ("serviceAccount", &Any),
        ("automountServiceAccountToken", &Any),
        ("nodeName", &Any),
        ("hostNetwork", &Any),
        ("hostPID", &Any),
        ("hostIPC", &Any),
        ("shareProcessNamespace", &Any),
        ("securityContext", &Any),
        ("imagePullSecrets", &Any),
        ("hostname", &Any),
        ("subdomain", &Any),
        (
            "affinity",
            &Struct(
                "Affinity",
                &[
                    ("nodeAffinity", &NODE_AFFINITY),
                    ("podAffinity", &POD_AFFINITY),
                    ("podAntiAffinity", &POD_AFFINITY),
                ],
            ),
        ),
        ("schedulerName", &Any),
        (
            "tolerations",
            &Seq(&Struct(
                "Toleration",
                &[
                    ("key", &Any),
                    ("operator", &Any),
                    ("value", &Any),
                    ("effect", &Any),
                    ("tolerationSeconds", &Any),
                ],
            )),
        ),
        ("hostAliases", &Any),
        ("priorityClassName", &Any),
        ("priority", &Any),
        ("dnsConfig", &Any),
        ("readinessGates", &Any),
        ("runtimeClassName", &Any),
        ("enableServiceLinks", &Any),
        ("preemptionPolicy", &Any),
        ("overhead", &Any),
        (
            "topologySpreadConstraints",
            &Seq(&Struct(
                "TopologySpreadConstraint",
                &[
                    ("maxSkew", &Any),
                    ("topologyKey", &Any),
                    ("whenUnsatisfiable", &Any),
                    ("labelSelector", &LABEL_SELECTOR),
                    ("minDomains", &Any),
                    ("nodeAffinityPolicy", &Any),
                    ("nodeTaintsPolicy", &Any),
                    ("matchLabelKeys", &Any),
                ],
            )),
        ),
        ("setHostnameAsFQDN", &Any),
        ("os", &Any),
        ("hostUsers", &Any),
        (
            "schedulingGates",
            &Seq(&Struct("PodSchedulingGate", &[("name", &Any)])),
        ),
        ("resourceClaims", &Any),
        ("resources", &RESOURCES),
        ("hostnameOverride", &Any),
        ("workloadRef", &Any),
    ],
);

const POD_TEMPLATE: Schema = Struct(
    "PodTemplateSpec",
    &[("metadata", &OBJECT_META), ("spec", &POD_SPEC)],
);

/// A rolling update's `maxUnavailable` and `maxSurge` (Deployments and
/// DaemonSets).
const ROLLING_UPDATE: Schema = Struct(
    "RollingUpdate",
    &[("maxUnavailable", &Any), ("maxSurge", &Any)],
);

/// `apps/v1.DeploymentSpec`.
pub const DEPLOYMENT_SPEC: Schema = Struct(
    "DeploymentSpec",
    &[
        ("replicas", &Any),
        ("selector", &LABEL_SELECTOR),
        ("template", &POD_TEMPLATE),
        (
            "strategy",
            &Struct(
                "DeploymentStrategy",
                &[("type", &Any), ("rollingUpdate", &ROLLING_UPDATE)],
            ),
        ),
        ("minReadySeconds", &Any),
        ("revisionHistoryLimit", &Any),
        ("paused", &Any),
        ("progressDeadlineSeconds", &Any),
    ],
);

/// `apps/v1.ReplicaSetSpec`.
pub const REPLICA_SET_SPEC: Schema = Struct(
    "ReplicaSetSpec",
    &[
        ("replicas", &Any),
        ("minReadySeconds", &Any),
        ("selector", &LABEL_SELECTOR),
        ("template", &POD_TEMPLATE),
    ],
);

/// `apps/v1.DaemonSetSpec`.
pub const DAEMON_SET_SPEC: Schema = Struct(
    "DaemonSetSpec",
    &[
        ("selector", &LABEL_SELECTOR),
        ("template", &POD_TEMPLATE),
        (
            "updateStrategy",
            &Struct(
                "DaemonSetUpdateStrategy",
                &[("type", &Any), ("rollingUpdate", &ROLLING_UPDATE)],
            ),
        ),
        ("minReadySeconds", &Any),
        ("revisionHistoryLimit", &Any),
    ],
);

/// `apps/v1.StatefulSetSpec`.
pub const STATEFUL_SET_SPEC: Schema = Struct(
    "StatefulSetSpec",
    &[
        ("replicas", &Any),
        ("selector", &LABEL_SELECTOR),
        ("template", &POD_TEMPLATE),
        (
            "volumeClaimTemplates",
            &Seq(&Struct(
                "PersistentVolumeClaim",
                &[
                    ("apiVersion", &Any),
                    ("kind", &Any),
                    ("metadata", &OBJECT_META),
                    ("spec", &PERSISTENT_VOLUME_CLAIM_SPEC),
                    ("status", &Any),
                ],
            )),
        ),
        ("serviceName", &Any),
        ("podManagementPolicy", &Any),
        (
            "updateStrategy",
            &Struct(
                "StatefulSetUpdateStrategy",
                &[
                    ("type", &Any),
                    (
                        "rollingUpdate",
                        &Struct(
                            "RollingUpdateStatefulSetStrategy",
                            &[("partition", &Any), ("maxUnavailable", &Any)],
                        ),
                    ),
                ],
            ),
        ),
        ("revisionHistoryLimit", &Any),
        ("minReadySeconds", &Any),
        ("persistentVolumeClaimRetentionPolicy", &Any),
        (
            "ordinals",
            &Struct("StatefulSetOrdinals", &[("start", &Any)]),
        ),
    ],
);

/// `core/v1.ServiceSpec`.
pub const SERVICE_SPEC: Schema = Struct(
    "ServiceSpec",
    &[
        (
            "ports",
            &Seq(&Struct(
                "ServicePort",
                &[
                    ("name", &Any),
                    ("protocol", &Any),
                    ("appProtocol", &Any),
                    ("port", &Any),
                    ("targetPort", &Any),
                    ("nodePort", &Any),
                ],
            )),
        ),
        ("selector", &Any),
        ("clusterIP", &Any),
        ("clusterIPs", &Any),
        ("type", &Any),
        ("externalIPs", &Any),
        ("sessionAffinity", &Any),
        ("loadBalancerIP", &Any),
        ("loadBalancerSourceRanges", &Any),
        ("externalName", &Any),
        ("externalTrafficPolicy", &Any),
        ("healthCheckNodePort", &Any),
        ("publishNotReadyAddresses", &Any),
        ("sessionAffinityConfig", &Any),
        ("ipFamilies", &Any),
        ("ipFamilyPolicy", &Any),
        ("allocateLoadBalancerNodePorts", &Any),
        ("loadBalancerClass", &Any),
        ("internalTrafficPolicy", &Any),
        ("trafficDistribution", &Any),
    ],
);

/// `core/v1.NodeSpec`.
pub const NODE_SPEC: Schema = Struct(
    "NodeSpec",
    &[
        ("podCIDR", &Any),
        ("podCIDRs", &Any),
        ("providerID", &Any),
        ("unschedulable", &Any),
        (
            "taints",
            &Seq(&Struct(
                "Taint",
                &[
                    ("key", &Any),
                    ("value", &Any),
                    ("effect", &Any),
                    ("timeAdded", &Any),
                ],
            )),
        ),
        ("configSource", &Any),
        ("externalID", &Any),
    ],
);

const CSI_SOURCE: Schema = Struct(
    "CSIVolumeSource",
    &[
        ("driver", &Any),
        ("volumeHandle", &Any),
        ("readOnly", &Any),
        ("fsType", &Any),
        ("volumeAttributes", &Any),
        ("controllerPublishSecretRef", &Any),
        ("nodeStageSecretRef", &Any),
        ("nodePublishSecretRef", &Any),
        ("controllerExpandSecretRef", &Any),
        ("nodeExpandSecretRef", &Any),
    ],
);

const AWS_EBS_SOURCE: Schema = Struct(
    "AWSElasticBlockStoreVolumeSource",
    &[
        ("volumeID", &Any),
        ("fsType", &Any),
        ("partition", &Any),
        ("readOnly", &Any),
    ],
);

const GCE_PD_SOURCE: Schema = Struct(
    "GCEPersistentDiskVolumeSource",
    &[
        ("pdName", &Any),
        ("fsType", &Any),
        ("partition", &Any),
        ("readOnly", &Any),
    ],
);

/// The volume sources both a pod's volume and a PersistentVolume may have
/// (upstream's `VolumeSource` and `PersistentVolumeSource` share them),
/// then `extra` ones.
macro_rules! volume_sources {
    ($($extra:expr),* $(,)?) => {
        &[
            ("hostPath", &Any),
            ("gcePersistentDisk", &GCE_PD_SOURCE),
            ("awsElasticBlockStore", &AWS_EBS_SOURCE),
            ("nfs", &Any),
            ("iscsi", &Any),
            ("glusterfs", &Any),
            ("rbd", &Any),
            ("flexVolume", &Any),
            ("cinder", &Any),
            ("cephfs", &Any),
            ("flocker", &Any),
            ("fc", &Any),
            ("azureFile", &Any),
            ("vsphereVolume", &Any),
            ("quobyte", &Any),
            ("azureDisk", &Any),
            ("photonPersistentDisk", &Any),
            ("portworxVolume", &Any),
            ("scaleIO", &Any),
            ("storageos", &Any),
            ("csi", &CSI_SOURCE),
            $($extra),*
        ]
    };
}

/// `core/v1.Volume`: a pod's volume.
const VOLUME: Schema = Struct(
    "Volume",
    volume_sources!(
        ("name", &Any),
        ("emptyDir", &Any),
        ("gitRepo", &Any),
        ("secret", &Any),
        (
            "persistentVolumeClaim",
            &Struct(
                "PersistentVolumeClaimVolumeSource",
                &[("claimName", &Any), ("readOnly", &Any)],
            ),
        ),
        ("downwardAPI", &Any),
        ("configMap", &Any),
        ("projected", &Any),
        ("ephemeral", &Any),
        ("image", &Any),
    ),
);

/// `core/v1.PersistentVolumeSpec`.
pub const PERSISTENT_VOLUME_SPEC: Schema = Struct(
    "PersistentVolumeSpec",
    volume_sources!(
        ("capacity", &Any),
        ("local", &Any),
        ("accessModes", &Any),
        (
            "claimRef",
            &Struct(
                "ObjectReference",
                &[
                    ("kind", &Any),
                    ("namespace", &Any),
                    ("name", &Any),
                    ("uid", &Any),
                    ("apiVersion", &Any),
                    ("resourceVersion", &Any),
                    ("fieldPath", &Any),
                ],
            ),
        ),
        ("persistentVolumeReclaimPolicy", &Any),
        ("storageClassName", &Any),
        ("mountOptions", &Any),
        ("volumeMode", &Any),
        (
            "nodeAffinity",
            &Struct(
                "VolumeNodeAffinity",
                &[(
                    "required",
                    &Struct(
                        "NodeSelector",
                        &[("nodeSelectorTerms", &Seq(&NODE_SELECTOR_TERM))],
                    ),
                )],
            ),
        ),
        ("volumeAttributesClassName", &Any),
    ),
);

/// `core/v1.PersistentVolumeClaimSpec`.
pub const PERSISTENT_VOLUME_CLAIM_SPEC: Schema = Struct(
    "PersistentVolumeClaimSpec",
    &[
        ("accessModes", &Any),
        ("selector", &LABEL_SELECTOR),
        (
            "resources",
            &Struct(
                "VolumeResourceRequirements",
                &[("limits", &Any), ("requests", &Any)],
            ),
        ),
        ("volumeName", &Any),
        ("storageClassName", &Any),
        ("volumeMode", &Any),
        ("dataSource", &Any),
        ("dataSourceRef", &Any),
        ("volumeAttributesClassName", &Any),
    ],
);

/// `storage/v1.CSINodeSpec`.
pub const CSI_NODE_SPEC: Schema = Struct(
    "CSINodeSpec",
    &[(
        "drivers",
        &Seq(&Struct(
            "CSINodeDriver",
            &[
                ("name", &Any),
                ("nodeID", &Any),
                ("topologyKeys", &Any),
                (
                    "allocatable",
                    &Struct("VolumeNodeResources", &[("count", &Any)]),
                ),
            ],
        )),
    )],
);

/// The fields of a kind's `spec`, as Kubernetes has them.
pub fn spec_of(kind: super::Kind) -> &'static Schema {
    use super::Kind;
    match kind {
        Kind::Node => &NODE_SPEC,
        Kind::Pod => &POD_SPEC,
        Kind::Service => &SERVICE_SPEC,
        Kind::Deployment => &DEPLOYMENT_SPEC,
        Kind::ReplicaSet => &REPLICA_SET_SPEC,
        Kind::DaemonSet => &DAEMON_SET_SPEC,
        Kind::StatefulSet => &STATEFUL_SET_SPEC,
        Kind::PersistentVolume => &PERSISTENT_VOLUME_SPEC,
        Kind::PersistentVolumeClaim => &PERSISTENT_VOLUME_CLAIM_SPEC,
        Kind::CSINode => &CSI_NODE_SPEC,
        _ => &Any,
    }
}

/// Makes a scheduler_perf template read as upstream's harness reads it:
/// keys Kubernetes' types do not have are dropped, not refused (upstream's
/// Go decoding, and the apiserver's default field validation, drop them),
/// and with `fold_case`, a key that matches a field but for case
/// (`NodeAffinityPolicy`) is renamed to the field, as Go's `encoding/json`
/// matches keys when upstream decodes a pod template into its type.
/// (A scenario's manifests are checked as `kubectl apply` checks them,
/// strictly.)
pub fn loosen(manifest: &mut serde_yaml::Value, fold_case: bool) {
    let kind = manifest
        .get("kind")
        .and_then(serde_yaml::Value::as_str)
        .and_then(super::Kind::parse);
    let Some(kind) = kind else { return };
    let Some(map) = manifest.as_mapping_mut() else {
        return;
    };
    let top = super::object::top_level_keys(kind);
    map.retain(|k, _| k.as_str().is_some_and(|k| top.contains(&k)));
    if let Some(meta) = map.get_mut("metadata") {
        loosen_value(meta, &OBJECT_META, fold_case);
    }
    if let Some(spec) = map.get_mut("spec") {
        loosen_value(spec, spec_of(kind), fold_case);
    }
}

fn loosen_value(v: &mut serde_yaml::Value, schema: &'static Schema, fold_case: bool) {
    match (schema, v) {
        (Struct(_, fields), serde_yaml::Value::Mapping(map)) => {
            let keys: Vec<serde_yaml::Value> = map.keys().cloned().collect();
            for key in keys {
                let mut value = map.remove(&key).unwrap_or_default();
                let Some(k) = key.as_str() else { continue };
                let found = fields.iter().find(|(n, _)| *n == k).or_else(|| {
                    fields
                        .iter()
                        .find(|(n, _)| fold_case && n.eq_ignore_ascii_case(k))
                });
                let Some((name, child)) = found else { continue };
                loosen_value(&mut value, child, fold_case);
                map.insert(serde_yaml::Value::String((*name).to_owned()), value);
            }
        }
        (Seq(element), serde_yaml::Value::Sequence(items)) => {
            for item in items {
                loosen_value(item, element, fold_case);
            }
        }
        _ => {}
    }
}

/// A seed that reads `T` through [`Checked`] against `schema`.
pub struct CheckedSeed<T> {
    pub schema: &'static Schema,
    pub inner: T,
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for CheckedSeed<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.inner.deserialize(Checked {
            de: d,
            schema: self.schema,
        })
    }
}

/// Reads a `T` from `d`, checking its keys against `schema`.
pub fn checked<'de, T: de::Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
    schema: &'static Schema,
) -> Result<T, D::Error> {
    T::deserialize(Checked { de: d, schema })
}

/// A deserializer that checks mappings' keys against a schema.
pub struct Checked<D> {
    de: D,
    schema: &'static Schema,
}

/// The message for a key `key` that the type `ty` does not have, with the
/// closest field it has when one is close.
fn unknown(key: &str, ty: &str, fields: &[(&'static str, &'static Schema)]) -> String {
    if key == "<<" {
        return crate::scenario::message::MERGE_KEY.to_owned();
    }
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    let hint = match crate::scenario::message::closest(key, &names) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    };
    format!("`{key}` is not a field of Kubernetes' {ty}{hint}")
}

/// `Deserializer` methods that hand the visitor, wrapped, to the inner
/// deserializer, with their other arguments as they came.
macro_rules! forward_checked {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(
                self,
                $($arg: $ty,)*
                visitor: V,
            ) -> Result<V::Value, Self::Error> {
                let schema = self.schema;
                self.de.$method($($arg,)* CheckedVisitor { inner: visitor, schema })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Checked<D> {
    type Error = D::Error;

    forward_checked!(
        deserialize_any(),
        deserialize_bool(),
        deserialize_i8(),
        deserialize_i16(),
        deserialize_i32(),
        deserialize_i64(),
        deserialize_i128(),
        deserialize_u8(),
        deserialize_u16(),
        deserialize_u32(),
        deserialize_u64(),
        deserialize_u128(),
        deserialize_f32(),
        deserialize_f64(),
        deserialize_char(),
        deserialize_str(),
        deserialize_string(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_seq(),
        deserialize_map(),
        deserialize_identifier(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
    );

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // A field the model does not read is still walked, so that the keys
        // its schema knows are checked (a probe the model ignores, say).
        match self.schema {
            Any => self.de.deserialize_ignored_any(visitor),
            schema => self.de.deserialize_any(CheckedVisitor {
                inner: visitor,
                schema,
            }),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // Enums are scalars here (operators, effects, policies): no keys.
        self.de.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Passes everything to the inner visitor; a mapping's keys are checked
/// and its values, a sequence's elements and an option's content are read
/// through [`Checked`] with their own schemas.
struct CheckedVisitor<V> {
    inner: V,
    schema: &'static Schema,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for CheckedVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Checked {
            de: d,
            schema: self.schema,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Checked {
            de: d,
            schema: self.schema,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let element = match self.schema {
            Seq(element) => element,
            _ => &Any,
        };
        self.inner.visit_seq(CheckedSeq { seq, element })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(CheckedMap {
            map,
            schema: self.schema,
            value: &Any,
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

struct CheckedSeq<A> {
    seq: A,
    element: &'static Schema,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for CheckedSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.seq.next_element_seed(CheckedSeed {
            schema: self.element,
            inner: seed,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct CheckedMap<A> {
    map: A,
    schema: &'static Schema,
    /// The schema of the value of the key just read.
    value: &'static Schema,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for CheckedMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.schema {
            Struct(ty, fields) => self.map.next_key_seed(KeySeed {
                inner: seed,
                ty,
                fields,
                value: &mut self.value,
            }),
            _ => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let schema = std::mem::replace(&mut self.value, &Any);
        self.map.next_value_seed(CheckedSeed {
            schema,
            inner: seed,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Reads a key of a struct's mapping: an unknown one is an error raised
/// while the key's scalar is read (so serde_yaml gives it the key's line
/// and column); a known one sets the schema of the value that follows.
struct KeySeed<'a, K> {
    inner: K,
    ty: &'static str,
    fields: &'static [(&'static str, &'static Schema)],
    value: &'a mut &'static Schema,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        // Every key of a Kubernetes struct is a string: read it, checked,
        // then hand the same string to the inner seed.
        let (key, schema) = d.deserialize_str(KeyCheck {
            ty: self.ty,
            fields: self.fields,
        })?;
        *self.value = schema;
        self.inner
            .deserialize(de::value::StringDeserializer::<D::Error>::new(key))
    }
}

struct KeyCheck {
    ty: &'static str,
    fields: &'static [(&'static str, &'static Schema)],
}

impl KeyCheck {
    fn check<E: de::Error>(&self, key: &str) -> Result<&'static Schema, E> {
        match self.fields.iter().find(|(n, _)| *n == key) {
            Some((_, s)) => Ok(s),
            None => Err(E::custom(unknown(key, self.ty, self.fields))),
        }
    }
}

impl Visitor<'_> for KeyCheck {
    type Value = (String, &'static Schema);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a field of {}", self.ty)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let s = self.check(v)?;
        Ok((v.to_owned(), s))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        let s = self.check(&v)?;
        Ok((v, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pod::PodSpec;
    use crate::api::workloads::WorkloadSpec;

    fn spec<T: de::DeserializeOwned>(yaml: &str, schema: &'static Schema) -> Result<T, String> {
        let d = serde_yaml::Deserializer::from_str(yaml);
        checked::<T, _>(d, schema).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_folded_as_go_matches_them_keep_their_meaning() {
        // Upstream's own template writes `NodeTaintsPolicy`: Go's decoder
        // takes it for `nodeTaintsPolicy`, and so does `loosen`, which
        // drops what Go drops (`bogus`); read strictly, neither is a field.
        let text = "kind: Pod\nextra: 1\nmetadata: {Name: p, LABELS: {a: b}}\nspec:\n  bogus: 1\n  containers: [{name: c, image: x, Resources: {requests: {cpu: 1}}}]\n  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, NodeTaintsPolicy: Honor}\n";
        assert!(serde_yaml::from_str::<crate::api::Manifest>(text).is_err());
        let mut v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        loosen(&mut v, true);
        let m: crate::api::Manifest = serde_yaml::from_value(v).unwrap();
        let Some(crate::api::Object::Pod(p)) = m.object else {
            panic!()
        };
        assert_eq!(p.metadata.name, "p");
        assert_eq!(p.metadata.labels.get("a").map(String::as_str), Some("b"));
        assert!(!p.spec.containers[0].resources.requests.is_empty());
        assert_eq!(
            p.spec.topology_spread_constraints[0].node_taints_policy,
            Some(crate::api::pod::NodeInclusionPolicy::Honor)
        );
    }

    #[test]
    fn real_fields_pass_and_unknown_ones_are_named_at_their_line() {
        let ok = spec::<PodSpec>(
            "containers:\n- name: c\n  image: x\n  livenessProbe: {httpGet: {path: /, port: 80}}\n  env: [{name: A, value: b}]\nvolumes: [{name: v, emptyDir: {}}]\nnodeSelector: {disk: ssd}\n",
            &POD_SPEC,
        )
        .unwrap();
        assert_eq!(ok.containers[0].image, "x");
        let e = spec::<PodSpec>(
            "containers:\n- name: c\n  image: x\n  resources:\n    requets: {cpu: 1}\n",
            &POD_SPEC,
        )
        .unwrap_err();
        assert!(
            e.contains("`requets` is not a field of Kubernetes' ResourceRequirements (did you mean `requests`?)")
                && e.contains("line 5 column 5"),
            "{e}"
        );
        let e = spec::<WorkloadSpec>(
            "replicaz: 3\nselector: {matchLabels: {a: b}}\n",
            &DEPLOYMENT_SPEC,
        )
        .unwrap_err();
        assert!(
            e.contains(
                "`replicaz` is not a field of Kubernetes' DeploymentSpec (did you mean `replicas`?)"
            ),
            "{e}"
        );
        // Deep inside: a toleration, a node affinity term, a probe the
        // model does not read, a template's metadata.
        for (yaml, key) in [
            (
                "containers: [{name: c, image: x, livenessProbe: {initialDelaySecondz: 1}}]\n",
                "initialDelaySecondz",
            ),
            (
                "containers: []\ntolerations: [{key: a, efect: NoSchedule}]\n",
                "efect",
            ),
            (
                "containers: []\naffinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpression: []}]}}}\n",
                "matchExpression",
            ),
        ] {
            let e = spec::<PodSpec>(yaml, &POD_SPEC).unwrap_err();
            assert!(e.contains(&format!("`{key}` is not a field of")), "{e}");
        }
        let e = spec::<WorkloadSpec>(
            "selector: {matchLabels: {a: b}}\ntemplate: {metadata: {lables: {a: b}}}\n",
            &DEPLOYMENT_SPEC,
        )
        .unwrap_err();
        assert!(
            e.contains(
                "`lables` is not a field of Kubernetes' ObjectMeta (did you mean `labels`?)"
            ),
            "{e}"
        );
        // A StatefulSet field is not a Deployment's.
        assert!(
            spec::<WorkloadSpec>("serviceName: s\n", &DEPLOYMENT_SPEC)
                .unwrap_err()
                .contains("`serviceName` is not a field of Kubernetes' DeploymentSpec")
        );
        assert!(spec::<WorkloadSpec>("serviceName: s\n", &STATEFUL_SET_SPEC).is_ok());
    }
}
