//! The closed set of stored objects, and manifests as users write them:
//! `apiVersion`, `kind`, `metadata`, `spec` (and a Node's `status`), with
//! every other field ignored. A `List` (as `kubectl get -o yaml` prints it)
//! carries its manifests in `items`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::fields::{self, CheckedSeed, Schema};

use super::meta::{Kind, ObjectKey, ObjectMeta};
use super::namespace::Namespace;
use super::node::{Node, NodeSpec, NodeStatus};
use super::pod::{Pod, PodSpec};
use super::priority::PriorityClass;
use super::service::{EndpointSlice, Service, ServiceSpec};
use super::volume::{
    CsiNode, CsiNodeSpec, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeSpec, STORAGE_CLASS_FIELDS, StorageClass, StorageClassFields,
};
use super::workloads::{Workload, WorkloadSpec};

/// A stored object. Objects are shared between components as
/// `Arc<Object>` snapshots and never mutated in place once stored.
// Objects live behind `Arc`, so the enum's size is paid once per version.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Node(Node),
    Pod(Pod),
    Service(Service),
    EndpointSlice(EndpointSlice),
    /// A Deployment, ReplicaSet, DaemonSet or StatefulSet.
    Workload(Kind, Box<Workload>),
    PriorityClass(PriorityClass),
    Namespace(Namespace),
    /// Boxed, as the workloads: every object is as large as its largest
    /// variant.
    PersistentVolume(Box<PersistentVolume>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    CsiNode(Box<CsiNode>),
    StorageClass(Box<StorageClass>),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Workload(k, _) => *k,
            Object::PriorityClass(_) => Kind::PriorityClass,
            Object::Namespace(_) => Kind::Namespace,
            Object::PersistentVolume(_) => Kind::PersistentVolume,
            Object::PersistentVolumeClaim(_) => Kind::PersistentVolumeClaim,
            Object::CsiNode(_) => Kind::CSINode,
            Object::StorageClass(_) => Kind::StorageClass,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Node(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Workload(_, o) => &o.metadata,
            Object::PriorityClass(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::PersistentVolume(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::CsiNode(o) => &o.metadata,
            Object::StorageClass(o) => &o.metadata,
        }
    }

    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Node(o) => &mut o.metadata,
            Object::Pod(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::EndpointSlice(o) => &mut o.metadata,
            Object::Workload(_, o) => &mut o.metadata,
            Object::PriorityClass(o) => &mut o.metadata,
            Object::Namespace(o) => &mut o.metadata,
            Object::PersistentVolume(o) => &mut o.metadata,
            Object::PersistentVolumeClaim(o) => &mut o.metadata,
            Object::CsiNode(o) => &mut o.metadata,
            Object::StorageClass(o) => &mut o.metadata,
        }
    }

    pub fn key(&self) -> ObjectKey {
        let m = self.meta();
        ObjectKey::new(self.kind(), &m.namespace, &m.name)
    }

    pub fn as_pod(&self) -> Option<&Pod> {
        match self {
            Object::Pod(p) => Some(p),
            _ => None,
        }
    }

    pub fn as_node(&self) -> Option<&Node> {
        match self {
            Object::Node(n) => Some(n),
            _ => None,
        }
    }

    /// Whether two versions of the object differ in what `generation` tracks
    /// (everything but metadata and status).
    pub fn spec_differs(&self, other: &Object) -> bool {
        match (self, other) {
            (Object::Node(a), Object::Node(b)) => a.spec != b.spec,
            (Object::Pod(a), Object::Pod(b)) => a.spec != b.spec,
            (Object::Service(a), Object::Service(b)) => a.spec != b.spec,
            (Object::EndpointSlice(a), Object::EndpointSlice(b)) => a.endpoints != b.endpoints,
            (Object::Workload(_, a), Object::Workload(_, b)) => a.spec != b.spec,
            (Object::PersistentVolume(a), Object::PersistentVolume(b)) => a.spec != b.spec,
            (Object::PersistentVolumeClaim(a), Object::PersistentVolumeClaim(b)) => {
                a.spec != b.spec
            }
            (Object::CsiNode(a), Object::CsiNode(b)) => a.spec != b.spec,
            (Object::StorageClass(a), Object::StorageClass(b)) => a.class != b.class,
            _ => true,
        }
    }
}

/// One manifest as written by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    /// `None` when the kind is one the simulator does not model (a ConfigMap,
    /// say): the loader reports it and skips it.
    pub object: Option<Object>,
    /// The manifests of a `List`.
    pub items: Vec<Manifest>,
}

impl Manifest {
    /// The manifest and the manifests of its list items, depth first.
    pub fn flatten(self) -> Vec<Manifest> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(mut m) = stack.pop() {
            let items = std::mem::take(&mut m.items);
            if m.object.is_some() || !is_list_kind(&m.kind) {
                out.push(m);
            }
            stack.extend(items.into_iter().rev());
        }
        out
    }
}

fn is_list_kind(kind: &str) -> bool {
    kind.ends_with("List")
}

/// The kinds a user may apply: every stored kind but EndpointSlice, which only
/// its controller writes.
fn user_kind(kind: &str) -> Option<Kind> {
    Kind::parse(kind).filter(|k| *k != Kind::EndpointSlice)
}

#[allow(clippy::large_enum_variant)] // short-lived, one per manifest
enum Spec {
    Node(NodeSpec),
    Pod(PodSpec),
    Service(ServiceSpec),
    Workload(WorkloadSpec),
    Volume(PersistentVolumeSpec),
    Claim(PersistentVolumeClaimSpec),
    CsiNode(CsiNodeSpec),
}

fn spec_for<E: de::Error>(
    kind: Kind,
    value: impl FnOnce(SpecType, &'static Schema) -> Result<Spec, E>,
) -> Result<Spec, E> {
    let t = match kind {
        Kind::Node => SpecType::Node,
        Kind::Pod => SpecType::Pod,
        Kind::Service => SpecType::Service,
        Kind::PersistentVolume => SpecType::Volume,
        Kind::PersistentVolumeClaim => SpecType::Claim,
        Kind::CSINode => SpecType::CsiNode,
        _ => SpecType::Workload,
    };
    value(t, fields::spec_of(kind))
}

/// The top-level keys a manifest of `kind` may have.
pub(crate) fn top_level_keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::PriorityClass => &[
            "apiVersion",
            "kind",
            "metadata",
            "value",
            "globalDefault",
            "description",
            "preemptionPolicy",
        ],
        Kind::StorageClass => &super::volume::STORAGE_CLASS_KEYS,
        _ => &["apiVersion", "kind", "metadata", "spec", "status"],
    }
}

/// A manifest's top-level key, checked against its kind's once the kind
/// is known (an unknown one is an error at the key).
struct TopKey(Option<Kind>);

impl<'de> DeserializeSeed<'de> for TopKey {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for TopKey {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a manifest's field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        match self.0 {
            Some(k) if !top_level_keys(k).contains(&v) => Err(E::custom(unknown_top_level(k, v))),
            _ => Ok(v.to_owned()),
        }
    }
}

fn unknown_top_level(kind: Kind, key: &str) -> String {
    let keys = top_level_keys(kind);
    let hint = crate::scenario::message::closest(key, keys)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    format!(
        "`{key}` is not a field of a {kind} manifest, which has {}{hint}",
        keys.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[derive(Clone, Copy)]
enum SpecType {
    Node,
    Pod,
    Service,
    Workload,
    Volume,
    Claim,
    CsiNode,
}

/// The next value, read as `T` with its keys checked against `schema`.
fn next_checked<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    schema: &'static Schema,
) -> Result<T, A::Error> {
    map.next_value_seed(CheckedSeed {
        schema,
        inner: std::marker::PhantomData::<T>,
    })
}

fn next_spec<'de, A: MapAccess<'de>>(
    map: &mut A,
    t: SpecType,
    schema: &'static Schema,
) -> Result<Spec, A::Error> {
    Ok(match t {
        SpecType::Node => Spec::Node(next_checked(map, schema)?),
        SpecType::Pod => Spec::Pod(next_checked(map, schema)?),
        SpecType::Service => Spec::Service(next_checked(map, schema)?),
        SpecType::Workload => Spec::Workload(next_checked(map, schema)?),
        SpecType::Volume => Spec::Volume(next_checked(map, schema)?),
        SpecType::Claim => Spec::Claim(next_checked(map, schema)?),
        SpecType::CsiNode => Spec::CsiNode(next_checked(map, schema)?),
    })
}

fn spec_from_value<E: de::Error>(
    v: serde_yaml::Value,
    t: SpecType,
    schema: &'static Schema,
) -> Result<Spec, E> {
    let err = |e: serde_yaml::Error| E::custom(format!("in spec: {e}"));
    Ok(match t {
        SpecType::Node => Spec::Node(fields::checked(v, schema).map_err(err)?),
        SpecType::Pod => Spec::Pod(fields::checked(v, schema).map_err(err)?),
        SpecType::Service => Spec::Service(fields::checked(v, schema).map_err(err)?),
        SpecType::Workload => Spec::Workload(fields::checked(v, schema).map_err(err)?),
        SpecType::Volume => Spec::Volume(fields::checked(v, schema).map_err(err)?),
        SpecType::Claim => Spec::Claim(fields::checked(v, schema).map_err(err)?),
        SpecType::CsiNode => Spec::CsiNode(fields::checked(v, schema).map_err(err)?),
    })
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ManifestVisitor)
    }
}

struct ManifestVisitor;

impl<'de> Visitor<'de> for ManifestVisitor {
    type Value = Manifest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes manifest: a mapping with apiVersion, kind, metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
        let mut kind: Option<String> = None;
        let mut api_version = String::new();
        let mut metadata: Option<ObjectMeta> = None;
        let mut spec: Option<Spec> = None;
        let mut deferred_spec: Option<serde_yaml::Value> = None;
        let mut node_status: Option<NodeStatus> = None;
        let mut deferred_status: Option<serde_yaml::Value> = None;
        let mut items: Vec<Manifest> = Vec::new();
        // A PriorityClass's fields sit beside its metadata, not in a spec.
        let mut priority = PriorityClass::default();
        let mut priority_value: Option<i32> = None;
        // So are a StorageClass's, read once the manifest is read.
        let mut class_fields = serde_yaml::Mapping::new();
        // Fields are read typed as they come, so that an error names its exact
        // line; a `spec` written before `kind` is read once the kind is known.
        // Keys met before the kind, which a known kind does not have.
        let mut strangers: Vec<String> = Vec::new();
        loop {
            let known = kind.as_deref().and_then(user_kind);
            let Some(key) = map.next_key_seed(TopKey(known))? else {
                break;
            };
            // A kind's own keys, met before the kind: checked once it is
            // known (`spec` and `status` below, the rest here).
            if known.is_none()
                && (matches!(
                    key.as_str(),
                    "items" | "value" | "globalDefault" | "preemptionPolicy" | "description"
                ) || STORAGE_CLASS_FIELDS.contains(&key.as_str()))
            {
                strangers.push(key.clone());
            }
            match key.as_str() {
                "kind" => kind = Some(map.next_value()?),
                "apiVersion" => api_version = map.next_value()?,
                "metadata" => {
                    let schema = match known {
                        Some(_) => &fields::OBJECT_META,
                        None => &fields::ANY_META,
                    };
                    metadata = Some(next_checked(&mut map, schema)?)
                }
                "items" => items = map.next_value()?,
                "value" => priority_value = Some(map.next_value()?),
                "globalDefault" => priority.global_default = map.next_value()?,
                "preemptionPolicy" => priority.preemption_policy = Some(map.next_value()?),
                "description" => priority.description = Some(map.next_value()?),
                k if STORAGE_CLASS_FIELDS.contains(&k) => {
                    let v: serde_yaml::Value = map.next_value()?;
                    class_fields.insert(k.into(), v);
                }
                "spec" => match known {
                    // A Namespace's spec (its finalizers) is not modelled.
                    Some(Kind::Namespace) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    Some(k) => spec = Some(spec_for(k, |t, s| next_spec(&mut map, t, s))?),
                    None => {
                        strangers.push(key.clone());
                        deferred_spec = Some(map.next_value()?)
                    }
                },
                "status" => match known {
                    Some(Kind::Node) => node_status = Some(map.next_value()?),
                    Some(_) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    None => {
                        strangers.push(key.clone());
                        deferred_status = Some(map.next_value()?)
                    }
                },
                other => {
                    if known.is_none() {
                        strangers.push(other.to_owned());
                    }
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| {
            de::Error::custom("manifest has no `kind` (expected e.g. `kind: Pod`)")
        })?;
        if let Some(k) = user_kind(&kind)
            && let Some(key) = strangers
                .iter()
                .find(|key| !top_level_keys(k).contains(&key.as_str()))
        {
            return Err(de::Error::custom(unknown_top_level(k, key)));
        }
        let Some(k) = user_kind(&kind) else {
            return Ok(Manifest {
                api_version,
                kind,
                object: None,
                items,
            });
        };
        if let Some(v) = deferred_spec.filter(|_| k != Kind::Namespace) {
            spec = Some(spec_for(k, |t, s| spec_from_value(v, t, s))?);
        }
        if let (Kind::Node, Some(v)) = (k, deferred_status) {
            node_status = Some(
                serde_yaml::from_value(v)
                    .map_err(|e| de::Error::custom(format!("in status: {e}")))?,
            );
        }
        let metadata = metadata.unwrap_or_default();
        if metadata.name.is_empty() && metadata.generate_name.is_empty() {
            return Err(de::Error::custom(format!(
                "{kind} manifest has no `metadata.name` (expected e.g. `metadata: {{name: web}}`)"
            )));
        }
        let object = match (k, spec) {
            (Kind::PriorityClass, _) => {
                let Some(value) = priority_value else {
                    return Err(de::Error::custom(
                        "PriorityClass manifest has no `value` (expected e.g. `value: 1000`)",
                    ));
                };
                Object::PriorityClass(PriorityClass {
                    metadata,
                    value,
                    ..priority
                })
            }
            (Kind::Namespace, _) => Object::Namespace(Namespace { metadata }),
            (Kind::StorageClass, _) => {
                let class: StorageClassFields =
                    serde_yaml::from_value(serde_yaml::Value::Mapping(class_fields))
                        .map_err(|e| de::Error::custom(format!("in StorageClass: {e}")))?;
                Object::StorageClass(Box::new(StorageClass { metadata, class }))
            }
            (Kind::PersistentVolume, s) => Object::PersistentVolume(Box::new(PersistentVolume {
                metadata,
                spec: match s {
                    Some(Spec::Volume(s)) => s,
                    _ => Default::default(),
                },
                status: Default::default(),
            })),
            (Kind::PersistentVolumeClaim, s) => {
                Object::PersistentVolumeClaim(Box::new(PersistentVolumeClaim {
                    metadata,
                    spec: match s {
                        Some(Spec::Claim(s)) => s,
                        _ => Default::default(),
                    },
                    status: Default::default(),
                }))
            }
            (Kind::CSINode, s) => Object::CsiNode(Box::new(CsiNode {
                metadata,
                spec: match s {
                    Some(Spec::CsiNode(s)) => s,
                    _ => Default::default(),
                },
            })),
            (Kind::Node, s) => Object::Node(Node {
                metadata,
                spec: match s {
                    Some(Spec::Node(s)) => s,
                    _ => NodeSpec::default(),
                },
                status: node_status.unwrap_or_default(),
            }),
            (Kind::Pod, s) => Object::Pod(Pod {
                metadata,
                spec: match s {
                    Some(Spec::Pod(s)) => s.into(),
                    _ => Default::default(),
                },
                status: Default::default(),
            }),
            (Kind::Service, s) => Object::Service(Service {
                metadata,
                spec: match s {
                    Some(Spec::Service(s)) => s,
                    _ => ServiceSpec::default(),
                },
            }),
            (k, s) => Object::Workload(
                k,
                Box::new(Workload {
                    metadata,
                    spec: std::sync::Arc::new(match s {
                        Some(Spec::Workload(s)) => s,
                        _ => WorkloadSpec::default(),
                    }),
                    status: Default::default(),
                }),
            ),
        };
        Ok(Manifest {
            api_version,
            kind,
            object: Some(object),
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_pod_manifest_deserializes_and_unknown_fields_are_ignored() {
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\n  creationTimestamp: null\nspec:\n  containers:\n  - name: nginx\n    image: nginx:1.27\n    resources: {requests: {cpu: 250m, memory: 64Mi}}\n    livenessProbe: {httpGet: {path: /, port: 80}}\n  dnsPolicy: ClusterFirst\nstatus: {}\n",
        )
        .unwrap();
        let Some(Object::Pod(p)) = m.object else {
            panic!("not a pod")
        };
        assert_eq!(p.metadata.name, "web");
        assert_eq!(p.spec.containers[0].image, "nginx:1.27");
    }

    #[test]
    fn a_lists_metadata_and_a_priority_class_s_keys_are_checked_as_theirs() {
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: v1\nkind: List\nmetadata: {continue: abc, resourceVersion: '7'}\nitems: [{kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: x}]}}]\n",
        )
        .unwrap();
        assert_eq!(m.flatten().len(), 1);
        // An object's metadata is not a List's.
        let e = serde_yaml::from_str::<Manifest>("kind: Pod\nmetadata: {name: p, continue: abc}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`continue` is not a field of Kubernetes' ObjectMeta"),
            "{e}"
        );
        // A Pod has no `value`, written before its kind or after.
        for text in [
            "value: 1\nkind: Pod\nmetadata: {name: p}\n",
            "kind: Pod\nmetadata: {name: p}\nvalue: 1\n",
        ] {
            let e = serde_yaml::from_str::<Manifest>(text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`value` is not a field of a Pod manifest"),
                "{e}"
            );
        }
        // A PriorityClass has no spec, written before its kind or after.
        for text in [
            "spec: {}\nkind: PriorityClass\nmetadata: {name: x}\nvalue: 1\n",
            "kind: PriorityClass\nmetadata: {name: x}\nvalue: 1\nspec: {}\n",
        ] {
            let e = serde_yaml::from_str::<Manifest>(text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`spec` is not a field of a PriorityClass manifest"),
                "{e}"
            );
        }
    }

    #[test]
    fn spec_before_kind_is_still_typed() {
        let m: Manifest = serde_yaml::from_str(
            "spec: {replicas: 3, template: {spec: {containers: [{name: a, image: x}]}}}\nmetadata: {name: d}\nkind: Deployment\napiVersion: apps/v1\n",
        )
        .unwrap();
        let Some(Object::Workload(Kind::Deployment, d)) = m.object else {
            panic!()
        };
        assert_eq!(d.spec.replicas, Some(3));
    }

    #[test]
    fn missing_kind_and_name_are_errors() {
        let e = serde_yaml::from_str::<Manifest>("metadata: {name: x}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `kind`"), "{e}");
        let e = serde_yaml::from_str::<Manifest>("kind: Pod\nmetadata: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metadata.name"), "{e}");
    }

    #[test]
    fn bad_quantity_in_spec_names_its_line() {
        let e = serde_yaml::from_str::<Manifest>(
            "kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    resources: {requests: {cpu: 1.5K}}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("1.5K") && e.contains("line 6"), "{e}");
    }

    #[test]
    fn lists_flatten_and_unknown_kinds_are_kept_aside() {
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: v1\nkind: List\nitems:\n- {kind: Service, metadata: {name: s}, spec: {selector: {app: a}}}\n- {kind: ConfigMap, metadata: {name: c}}\n",
        )
        .unwrap();
        let flat = m.flatten();
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0].kind, "Service");
        assert!(flat[1].object.is_none());
    }

    #[test]
    fn namespaces_are_cluster_scoped_and_their_spec_is_ignored() {
        for text in [
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a}}\nspec: {finalizers: [kubernetes]}\n",
            "spec: {finalizers: [kubernetes]}\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a}}\n",
        ] {
            let m: Manifest = serde_yaml::from_str(text).unwrap();
            let Some(Object::Namespace(ns)) = m.object else {
                panic!("not a namespace: {text}")
            };
            assert_eq!(ns.metadata.name, "team-a");
            assert_eq!(
                ns.metadata.labels.get("team").map(String::as_str),
                Some("a")
            );
            assert!(!Kind::Namespace.namespaced());
        }
    }

    #[test]
    fn volumes_claims_csinodes_and_pod_volumes_are_typed_and_checked() {
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadOnlyMany]\n  awsElasticBlockStore: {volumeID: vol-1}\n  persistentVolumeReclaimPolicy: Retain\n",
        )
        .unwrap();
        let Some(Object::PersistentVolume(pv)) = m.object else {
            panic!()
        };
        assert_eq!(
            pv.spec.source.in_tree_disk(),
            Some(("kubernetes.io/aws-ebs", "ebs.csi.aws.com", "vol-1"))
        );
        assert!(!Kind::PersistentVolume.namespaced());
        let m: Manifest = serde_yaml::from_str(
            "kind: PersistentVolumeClaim\nmetadata: {name: c, annotations: {pv.kubernetes.io/bind-completed: 'true'}}\nspec: {accessModes: [ReadWriteOncePod], resources: {requests: {storage: 1Gi}}, volumeName: pv-1}\n",
        )
        .unwrap();
        let Some(Object::PersistentVolumeClaim(pvc)) = m.object else {
            panic!()
        };
        assert!(pvc.fully_bound() && pvc.read_write_once_pod());
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: storage.k8s.io/v1\nkind: CSINode\nmetadata: {name: n1, annotations: {storage.alpha.kubernetes.io/migrated-plugins: 'kubernetes.io/aws-ebs,kubernetes.io/gce-pd'}}\nspec: {drivers: [{name: ebs.csi.aws.com, nodeID: n1, allocatable: {count: 39}}]}\n",
        )
        .unwrap();
        let Some(Object::CsiNode(n)) = m.object else {
            panic!()
        };
        assert_eq!(n.limit("ebs.csi.aws.com"), Some(39));
        assert_eq!(n.limit("pd.csi.storage.gke.io"), None);
        assert!(n.migrated("kubernetes.io/gce-pd") && !n.migrated("kubernetes.io/azure-disk"));
        let m: Manifest = serde_yaml::from_str(
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x}]\n  volumes:\n  - {name: d, persistentVolumeClaim: {claimName: data}}\n  - {name: s, secret: {secretName: x}}\n  - {name: e, ephemeral: {volumeClaimTemplate: {spec: {}}}}\n",
        )
        .unwrap();
        let Some(Object::Pod(p)) = m.object else {
            panic!()
        };
        let claims: Vec<_> = (p.spec.volumes.iter())
            .filter_map(|v| v.claim_name("p"))
            .collect();
        assert_eq!(claims, ["data", "p-e"]);
        // A key the types do not have is an error at its line.
        for (text, key) in [
            (
                "kind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - {name: d, persistentVolumeClaim: {claimNme: data}}\n",
                "claimNme",
            ),
            (
                "kind: PersistentVolumeClaim\nmetadata: {name: c}\nspec:\n  volumeNme: x\n",
                "volumeNme",
            ),
            (
                "kind: CSINode\nmetadata: {name: c}\nspec:\n  drivers: [{name: d, nodeId: x}]\n",
                "nodeId",
            ),
        ] {
            let e = serde_yaml::from_str::<Manifest>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains("line"), "{e}");
        }
    }

    #[test]
    fn priority_classes_carry_their_value_beside_metadata() {
        let m: Manifest = serde_yaml::from_str(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\nglobalDefault: true\ndescription: urgent\n",
        )
        .unwrap();
        let Some(Object::PriorityClass(pc)) = m.object else {
            panic!()
        };
        assert_eq!((pc.value, pc.global_default), (1000, true));
        assert_eq!(pc.metadata.namespace, "");
        let e = serde_yaml::from_str::<Manifest>("kind: PriorityClass\nmetadata: {name: x}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `value`"), "{e}");
    }
}
