//! Object metadata, kinds and keys shared by every object of the model.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::text::Text;
use crate::engine::Time;

/// Labels and annotations: ordered, so that iteration order never depends on
/// hashing.
pub type Labels = BTreeMap<String, String>;

/// The kinds of object the simulator models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Node,
    Pod,
    Service,
    EndpointSlice,
    Deployment,
    ReplicaSet,
    DaemonSet,
    StatefulSet,
    PriorityClass,
    Namespace,
    PersistentVolume,
    PersistentVolumeClaim,
    CSINode,
    StorageClass,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Node,
        Kind::Pod,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::DaemonSet,
        Kind::StatefulSet,
        Kind::PriorityClass,
        Kind::Namespace,
        Kind::PersistentVolume,
        Kind::PersistentVolumeClaim,
        Kind::CSINode,
        Kind::StorageClass,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::PriorityClass => "PriorityClass",
            Kind::Namespace => "Namespace",
            Kind::PersistentVolume => "PersistentVolume",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
            Kind::CSINode => "CSINode",
            Kind::StorageClass => "StorageClass",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Cluster-scoped kinds have no namespace.
    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Node
                | Kind::PriorityClass
                | Kind::Namespace
                | Kind::PersistentVolume
                | Kind::CSINode
                | Kind::StorageClass
        )
    }

    /// The apiVersion a manifest of this kind carries.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Node
            | Kind::Pod
            | Kind::Service
            | Kind::Namespace
            | Kind::PersistentVolume
            | Kind::PersistentVolumeClaim => "v1",
            Kind::CSINode | Kind::StorageClass => "storage.k8s.io/v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::PriorityClass => "scheduling.k8s.io/v1",
            _ => "apps/v1",
        }
    }

    /// A dense index, for per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of a stored object: kind, namespace ("" when cluster-scoped)
/// and name. Ordered by kind, then namespace, then name, part by part: the
/// order the stores' lists walk (etcd itself compares whole key strings).
///
/// A key is built once per object version at most and then passed around a
/// great deal (every request, response, transaction, work-queue entry and
/// cache index holds one), so it is shared: a copy is a reference count,
/// not two strings. The parts are read through `Deref` (`key.kind`,
/// `key.name()`).
///
/// Its hash is computed once, when the key is built: the stores and
/// indexes that look a key up (etcd, the watch cache, the informer caches,
/// the work queues) hash one word instead of the two strings, and two keys
/// with different hashes differ without a look at their texts.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey(Arc<KeyParts>);

/// The parts of an [`ObjectKey`]: the namespace and the name are one text
/// (one allocation beside the shared block, read with one load).
/// Compared by kind, namespace, then name.
pub struct KeyParts {
    hash: u64,
    pub kind: Kind,
    /// Where the name starts in `text`.
    split: u32,
    /// The namespace, then the name.
    text: Box<str>,
}

impl KeyParts {
    /// The namespace ("" when cluster-scoped).
    #[inline]
    pub fn namespace(&self) -> &str {
        &self.text[..self.split as usize]
    }

    /// The name.
    #[inline]
    pub fn name(&self) -> &str {
        &self.text[self.split as usize..]
    }
}

impl PartialEq for KeyParts {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // The hash follows from the parts: a different one settles it.
        self.hash == other.hash
            && self.kind == other.kind
            && self.split == other.split
            && self.text == other.text
    }
}

impl Eq for KeyParts {}

impl PartialOrd for KeyParts {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyParts {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.kind.cmp(&other.kind).then_with(|| {
            if self.split == other.split {
                // Namespaces of one length: the texts compare as the
                // namespaces and then the names do, in one comparison.
                self.text.cmp(&other.text)
            } else {
                self.namespace()
                    .cmp(other.namespace())
                    .then_with(|| self.name().cmp(other.name()))
            }
        })
    }
}

impl fmt::Debug for KeyParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyParts")
            .field("kind", &self.kind)
            .field("namespace", &self.namespace())
            .field("name", &self.name())
            .finish()
    }
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let namespace = if kind.namespaced() { namespace } else { "" };
        let mut h = crate::fasthash::WordHasher::default();
        kind.hash(&mut h);
        namespace.hash(&mut h);
        name.hash(&mut h);
        let mut text = String::with_capacity(namespace.len() + name.len());
        text.push_str(namespace);
        text.push_str(name);
        ObjectKey(Arc::new(KeyParts {
            hash: h.finish(),
            kind,
            split: u32::try_from(namespace.len()).expect("a namespace shorter than 4 GiB"),
            text: text.into_boxed_str(),
        }))
    }
}

impl std::hash::Hash for ObjectKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl std::ops::Deref for ObjectKey {
    type Target = KeyParts;

    fn deref(&self) -> &KeyParts {
        &self.0
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectKey")
            .field("kind", &self.kind)
            .field("namespace", &self.namespace())
            .field("name", &self.name())
            .finish()
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace().is_empty() {
            write!(f, "{}/{}", self.kind, self.name())
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace(), self.name())
        }
    }
}

/// A reference from a dependent to its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default)]
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// `metadata`: what a user writes, plus the fields the apiserver sets.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: Text,
    #[serde(default)]
    pub generate_name: Text,
    #[serde(default)]
    pub namespace: Text,
    /// Labels, annotations and owner references are shared between an
    /// object's versions: most writes (status, bookkeeping) copy the
    /// pointer; a change copies the map (`Arc::make_mut`).
    #[serde(default)]
    pub labels: Arc<Labels>,
    #[serde(default)]
    pub annotations: Arc<BTreeMap<String, String>>,
    #[serde(default)]
    pub owner_references: Arc<Vec<OwnerReference>>,
    /// E.g. `orphan`, set by a delete with `propagationPolicy: Orphan` until
    /// the garbage collector has orphaned the dependents.
    #[serde(default)]
    pub finalizers: Vec<String>,
    /// Set by the apiserver on create: a number unique within the run.
    #[serde(skip)]
    pub uid: u64,
    /// The etcd revision of the last write of this object.
    #[serde(skip)]
    pub resource_version: u64,
    /// Bumped by the apiserver on every change of the spec.
    #[serde(skip)]
    pub generation: i64,
    #[serde(skip)]
    pub creation_timestamp: Option<Time>,
    #[serde(skip)]
    pub deletion_timestamp: Option<Time>,
    /// Set with `deletion_timestamp` on a graceful delete.
    #[serde(skip)]
    pub deletion_grace_period_seconds: Option<i64>,
}

impl ObjectMeta {
    /// The metadata of an object a controller creates, with the parts it
    /// sets; the fields the apiserver sets are left unset. Built field by
    /// field: `..Default::default()` would allocate empty labels,
    /// annotations and references only to drop them.
    pub fn created_with(
        name: Text,
        generate_name: Text,
        namespace: Text,
        labels: Arc<Labels>,
        annotations: Arc<BTreeMap<String, String>>,
        owner_references: Arc<Vec<OwnerReference>>,
    ) -> Self {
        ObjectMeta {
            name,
            generate_name,
            namespace,
            labels,
            annotations,
            owner_references,
            finalizers: Vec::new(),
            uid: 0,
            resource_version: 0,
            generation: 0,
            creation_timestamp: None,
            deletion_timestamp: None,
            deletion_grace_period_seconds: None,
        }
    }

    /// The owner reference with `controller: true`, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
    }

    /// The controlling owner, as `Kind/name`, if any.
    pub fn controller_owner(&self) -> Option<String> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
            .or_else(|| self.owner_references.first())
            .map(|o| {
                let mut s = String::with_capacity(o.kind.len() + 1 + o.name.len());
                s.push_str(&o.kind);
                s.push('/');
                s.push_str(&o.name);
                s
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    fn hash(k: &ObjectKey) -> u64 {
        BuildHasherDefault::<crate::fasthash::WordHasher>::default().hash_one(k)
    }

    /// The hash is built once from the parts: equal keys built apart hash
    /// alike, and a cluster-scoped key ignores the namespace it is given.
    #[test]
    fn keys_hash_by_their_parts() {
        let a = ObjectKey::new(Kind::Pod, "default", "web-1");
        let b = ObjectKey::new(Kind::Pod, "default", "web-1");
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        for other in [
            ObjectKey::new(Kind::Pod, "default", "web-2"),
            ObjectKey::new(Kind::Pod, "kube-system", "web-1"),
            ObjectKey::new(Kind::Service, "default", "web-1"),
            ObjectKey::new(Kind::Pod, "defaultweb-1", ""),
        ] {
            assert_ne!(a, other);
            assert_ne!(hash(&a), hash(&other), "{other:?}");
        }
        let n = ObjectKey::new(Kind::Node, "ignored", "n1");
        assert_eq!(n, ObjectKey::new(Kind::Node, "", "n1"));
        assert_eq!(hash(&n), hash(&ObjectKey::new(Kind::Node, "", "n1")));
        let mut set = crate::fasthash::HashSet::default();
        set.insert(a.clone());
        assert!(set.contains(&b));
    }

    /// Keys compare as their (kind, namespace, name) tuples, whether their
    /// namespaces have one length (compared as one text) or not: every
    /// pair from short texts over two letters, where prefixes and ties
    /// abound.
    #[test]
    fn keys_compare_as_their_parts() {
        let texts = ["", "a", "b", "aa", "ab", "ba", "aab", "abb"];
        let mut keys = Vec::new();
        for kind in [Kind::Pod, Kind::Service] {
            for ns in texts {
                for name in texts {
                    keys.push(((kind, ns, name), ObjectKey::new(kind, ns, name)));
                }
            }
        }
        for (pa, a) in &keys {
            for (pb, b) in &keys {
                assert_eq!(a.cmp(b), pa.cmp(pb), "{pa:?} against {pb:?}");
            }
        }
    }

    /// The namespace and the name are one text inside a key: keys whose
    /// texts are the same but split apart differ, read back their parts,
    /// and order by kind, then namespace, then name, part by part (the
    /// order the stores' lists walk).
    #[test]
    fn keys_keep_their_parts_apart_and_order_by_them() {
        let a = ObjectKey::new(Kind::Pod, "ab", "c");
        let b = ObjectKey::new(Kind::Pod, "a", "bc");
        assert_ne!(a, b);
        assert_eq!((a.namespace(), a.name()), ("ab", "c"));
        assert_eq!((b.namespace(), b.name()), ("a", "bc"));
        let mut keys = [
            ObjectKey::new(Kind::Service, "a", "a"),
            a.clone(),
            ObjectKey::new(Kind::Pod, "a-b", "a"),
            b.clone(),
            ObjectKey::new(Kind::Pod, "a", "b"),
            ObjectKey::new(Kind::Node, "", "z"),
        ];
        keys.sort();
        let order: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            order,
            [
                "Node/z",
                "Pod/a/b",
                "Pod/a/bc",
                "Pod/a-b/a",
                "Pod/ab/c",
                "Service/a/a"
            ]
        );
    }
}
