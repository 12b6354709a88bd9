//! etcd as an MVCC store: one global revision bumped by every write, an
//! object's `resourceVersion` equal to the revision of its last write, and
//! optimistic concurrency on writes.
//!
//! Simplified: the store keeps each key's current state only. Upstream
//! etcd keeps past revisions until kube-apiserver compacts them (every 5
//! minutes), but nothing in the model reads a past revision from etcd:
//! upstream's cacher serves watches, and in the model no watch resumes
//! from a revision at all (see `apiserver`), so a history here would be
//! memory that no one reads.

use std::fmt;
use std::sync::Arc;

use crate::api::workloads::Workload;
use crate::api::{Kind, Object, ObjectKey};
use crate::fasthash::HashMap;
use crate::sim::msg::TxnResult;

/// What happened to an object in one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed write. `object` is the new state (for a delete, the last
/// state with the deletion's revision), `prev` the state before.
#[derive(Clone, Debug)]
pub struct Change {
    pub revision: u64,
    pub kind: EventType,
    /// The object's key, built once by the write: watchers look the
    /// object up by it without building their own.
    pub key: ObjectKey,
    pub object: Arc<Object>,
    pub prev: Option<Arc<Object>>,
}

/// Why a write failed. The apiserver maps these to HTTP 409 and 404.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtcdError {
    AlreadyExists(ObjectKey),
    NotFound(ObjectKey),
    Conflict {
        key: ObjectKey,
        expected: u64,
        actual: u64,
    },
    /// The write was refused by the guarded update's own check.
    Precondition {
        key: ObjectKey,
        reason: String,
    },
    /// The update breaks a rule of the object's update strategy (a pod's
    /// spec changed beyond what an update may change): upstream's 422.
    Invalid {
        key: ObjectKey,
        errors: Vec<String>,
    },
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtcdError::AlreadyExists(k) => write!(f, "{k} already exists"),
            EtcdError::NotFound(k) => write!(f, "{k} not found"),
            EtcdError::Conflict {
                key,
                expected,
                actual,
            } => write!(
                f,
                "Operation cannot be fulfilled on {key}: the object has been modified (resourceVersion {expected}, now {actual}); please apply your changes to the latest version and try again"
            ),
            EtcdError::Precondition { key, reason } => write!(f, "{key}: {reason}"),
            EtcdError::Invalid { key, errors } => {
                write!(f, "{key} is invalid: {}", errors.join("; "))
            }
        }
    }
}

impl std::error::Error for EtcdError {}

struct Stored {
    object: Arc<Object>,
    create_revision: u64,
}

/// Optimistic concurrency: a write that names a resourceVersion goes
/// through only if the object is still at that version.
fn check_version(key: &ObjectKey, expected: Option<u64>, actual: u64) -> Result<(), EtcdError> {
    match expected {
        Some(expected) if expected != actual => Err(EtcdError::Conflict {
            key: key.clone(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// The store. Objects are looked up by hash; a list (only made when a run
/// starts, to fill the watch cache) sorts its keys like etcd's, so listings
/// are deterministic and no ordered set is kept up to date on every write.
pub struct Etcd {
    revision: u64,
    objects: HashMap<ObjectKey, Stored>,
}

impl Etcd {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Etcd {
            revision: 0,
            objects: HashMap::default(),
        }
    }

    /// The current revision: that of the last write.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Object>> {
        self.objects.get(key).map(|s| &s.object)
    }

    /// The revision at which the object under `key` was created.
    pub fn create_revision(&self, key: &ObjectKey) -> Option<u64> {
        self.objects.get(key).map(|s| s.create_revision)
    }

    /// Every object of a kind, in key order.
    pub fn list(&self, kind: Kind) -> impl Iterator<Item = &Arc<Object>> {
        let mut of_kind: Vec<(&ObjectKey, &Arc<Object>)> = self
            .objects
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .map(|(k, s)| (k, &s.object))
            .collect();
        of_kind.sort_unstable_by(|a, b| a.0.cmp(b.0));
        of_kind.into_iter().map(|(_, o)| o)
    }

    fn commit(
        &self,
        kind: EventType,
        key: ObjectKey,
        object: Arc<Object>,
        prev: Option<Arc<Object>>,
    ) -> Arc<Change> {
        Arc::new(Change {
            revision: self.revision,
            kind,
            key,
            object,
            prev,
        })
    }

    /// Creates an object; fails if its key exists.
    pub fn create(&mut self, object: Object) -> Result<Arc<Change>, EtcdError> {
        self.create_keyed(object.key(), object)
    }

    /// [`Etcd::create`] with the object's key already built.
    pub fn create_keyed(
        &mut self,
        key: ObjectKey,
        mut object: Object,
    ) -> Result<Arc<Change>, EtcdError> {
        debug_assert!(key == object.key());
        let std::collections::hash_map::Entry::Vacant(slot) = self.objects.entry(key.clone())
        else {
            return Err(EtcdError::AlreadyExists(key));
        };
        self.revision += 1;
        object.meta_mut().resource_version = self.revision;
        let object = Arc::new(object);
        slot.insert(Stored {
            object: object.clone(),
            create_revision: self.revision,
        });
        Ok(self.commit(EventType::Added, key, object, None))
    }

    /// Replaces an object. With `expected` set, fails with a conflict unless
    /// the stored resourceVersion equals it.
    pub fn update(
        &mut self,
        object: Object,
        expected: Option<u64>,
    ) -> Result<Arc<Change>, EtcdError> {
        let key = object.key();
        self.guaranteed_update(&key, expected, |_| Ok(object))
    }

    /// Read-modify-write in one transaction: `f` computes the new state from
    /// the stored one, or refuses with a reason.
    pub fn guaranteed_update(
        &mut self,
        key: &ObjectKey,
        expected: Option<u64>,
        f: impl FnOnce(&Object) -> Result<Object, String>,
    ) -> Result<Arc<Change>, EtcdError> {
        self.guaranteed_update_or(key, expected, |current| {
            f(current).map_err(|reason| EtcdError::Precondition {
                key: key.clone(),
                reason,
            })
        })
    }

    /// [`Etcd::guaranteed_update`] whose function refuses with an error of
    /// its own (an update rule's 422, say).
    pub fn guaranteed_update_or(
        &mut self,
        key: &ObjectKey,
        expected: Option<u64>,
        f: impl FnOnce(&Object) -> Result<Object, EtcdError>,
    ) -> Result<Arc<Change>, EtcdError> {
        match self.update_unless_same(key, expected, |current| f(current).map(Some))? {
            TxnResult::Written(change) => Ok(change),
            _ => unreachable!("a function that always gives a new state writes it"),
        }
    }

    /// [`Etcd::guaranteed_update_or`] as upstream's store runs an update:
    /// `f` gives the new state, or `None` when it is the stored one (but
    /// for its resourceVersion); then nothing is written (no new revision,
    /// no watch event) and the stored object is the answer.
    pub fn update_unless_same(
        &mut self,
        key: &ObjectKey,
        expected: Option<u64>,
        f: impl FnOnce(&Object) -> Result<Option<Object>, EtcdError>,
    ) -> Result<TxnResult, EtcdError> {
        let Some(stored) = self.objects.get_mut(key) else {
            return Err(EtcdError::NotFound(key.clone()));
        };
        check_version(key, expected, stored.object.meta().resource_version)?;
        let Some(mut next) = f(&stored.object)? else {
            return Ok(TxnResult::Unchanged(stored.object.clone()));
        };
        self.revision += 1;
        next.meta_mut().resource_version = self.revision;
        let next = Arc::new(next);
        let prev = std::mem::replace(&mut stored.object, next.clone());
        Ok(TxnResult::Written(self.commit(
            EventType::Modified,
            key.clone(),
            next,
            Some(prev),
        )))
    }

    /// Deletes an object, optionally only at the given resourceVersion.
    pub fn delete(
        &mut self,
        key: &ObjectKey,
        expected: Option<u64>,
    ) -> Result<Arc<Change>, EtcdError> {
        let Some(stored) = self.objects.get(key) else {
            return Err(EtcdError::NotFound(key.clone()));
        };
        check_version(key, expected, stored.object.meta().resource_version)?;
        let prev = self.objects.remove(key).map(|s| s.object);
        self.revision += 1;
        let mut last = prev.as_deref().cloned().expect("checked above");
        last.meta_mut().resource_version = self.revision;
        Ok(self.commit(EventType::Deleted, key.clone(), Arc::new(last), prev))
    }
}

impl Default for Etcd {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Service;

    fn svc(name: &str) -> Object {
        let mut s = Service::default();
        s.metadata.name = name.into();
        s.metadata.namespace = "default".into();
        Object::Service(s)
    }

    #[test]
    fn revisions_and_resource_versions() {
        let mut etcd = Etcd::new();
        let a = etcd.create(svc("a")).unwrap();
        let b = etcd.create(svc("b")).unwrap();
        assert_eq!((a.revision, b.revision), (1, 2));
        assert_eq!(b.object.meta().resource_version, 2);
        let u = etcd.update(svc("a"), Some(1)).unwrap();
        assert_eq!(u.revision, 3);
        assert_eq!(u.prev.as_ref().unwrap().meta().resource_version, 1);
        assert_eq!(
            etcd.get(&svc("a").key()).unwrap().meta().resource_version,
            3
        );
        assert_eq!(etcd.create_revision(&svc("a").key()), Some(1));
        assert_eq!(etcd.revision(), 3);
    }

    /// As upstream's store: an update to the same state writes nothing,
    /// one that changes something is a new revision; the precondition is
    /// checked either way.
    #[test]
    fn an_update_that_changes_nothing_writes_nothing() {
        let mut etcd = Etcd::new();
        etcd.create(svc("a")).unwrap();
        let key = svc("a").key();
        let same = etcd
            .update_unless_same(&key, Some(1), |_| Ok(None))
            .unwrap();
        assert!(matches!(&same, TxnResult::Unchanged(o) if o.meta().resource_version == 1));
        assert_eq!(etcd.revision(), 1);
        let stale = etcd.update_unless_same(&key, Some(7), |_| Ok(None));
        assert!(
            matches!(stale, Err(EtcdError::Conflict { .. })),
            "{stale:?}"
        );
        let mut changed = svc("a");
        Arc::make_mut(&mut changed.meta_mut().labels).insert("x".into(), "y".into());
        let written = etcd
            .update_unless_same(&key, Some(1), |_| Ok(Some(changed)))
            .unwrap();
        assert!(matches!(&written, TxnResult::Written(c) if c.revision == 2));
        assert_eq!(etcd.get(&key).unwrap().meta().resource_version, 2);
    }

    #[test]
    fn create_of_an_existing_name_and_stale_update_fail() {
        let mut etcd = Etcd::new();
        etcd.create(svc("a")).unwrap();
        assert_eq!(
            etcd.create(svc("a")).unwrap_err(),
            EtcdError::AlreadyExists(svc("a").key())
        );
        etcd.update(svc("a"), Some(1)).unwrap();
        let err = etcd.update(svc("a"), Some(1)).unwrap_err();
        assert!(matches!(
            err,
            EtcdError::Conflict {
                expected: 1,
                actual: 2,
                ..
            }
        ));
        assert!(err.to_string().contains("has been modified"));
        assert!(etcd.update(svc("zz"), None).is_err());
        assert_eq!(etcd.revision(), 2, "failed writes do not bump the revision");
    }

    #[test]
    fn delete_bumps_the_revision_and_keeps_the_last_state() {
        let mut etcd = Etcd::new();
        etcd.create(svc("a")).unwrap();
        etcd.create(svc("b")).unwrap();
        let d = etcd.delete(&svc("a").key(), None).unwrap();
        assert_eq!(d.kind, EventType::Deleted);
        assert_eq!(d.revision, 3);
        assert_eq!(d.object.meta().resource_version, 3);
        assert_eq!(d.prev.as_ref().unwrap().meta().resource_version, 1);
        assert!(etcd.get(&svc("a").key()).is_none());
        assert!(matches!(
            etcd.delete(&svc("a").key(), None),
            Err(EtcdError::NotFound(_))
        ));
        etcd.create(svc("c")).unwrap();
        assert_eq!(etcd.revision(), 4);
        assert_eq!(etcd.list(Kind::Service).count(), 2);
    }

    #[test]
    fn guarded_update_can_refuse() {
        let mut etcd = Etcd::new();
        etcd.create(svc("a")).unwrap();
        let err = etcd
            .guaranteed_update(&svc("a").key(), None, |_| Err("no".into()))
            .unwrap_err();
        assert!(matches!(err, EtcdError::Precondition { .. }));
        assert_eq!(etcd.revision(), 1);
    }
}

/// What a DELETE of `obj` writes, as the pod registry's graceful deletion
/// decides: `None` to remove it now (not a pod, not bound, terminal, or a
/// grace period of 0); `Some(Ok(pod))` the pod with `deletionTimestamp`
/// set; `Some(Err(current))` when it is already terminating.
pub fn graceful_delete(
    obj: &Arc<Object>,
    now: crate::engine::Time,
) -> Option<Result<Object, Arc<Object>>> {
    let Object::Pod(pod) = &**obj else {
        return None;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return Some(Err(obj.clone()));
    }
    let grace = pod.spec.termination_grace_period_seconds.unwrap_or(30);
    if pod.spec.node_name().is_none() || pod.status.phase.is_terminal() || grace <= 0 {
        return None;
    }
    let mut pod = pod.clone();
    pod.metadata.deletion_timestamp = Some(now);
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    Some(Ok(Object::Pod(pod)))
}

/// Applies a Node PATCH.
pub fn apply_node_patch(
    node: &mut crate::api::Node,
    patch: crate::sim::msg::NodePatch,
    now: crate::engine::Time,
) {
    use crate::sim::msg::NodePatch;
    match patch {
        NodePatch::Unschedulable(u) => node.spec.unschedulable = u,
        NodePatch::Taints { add, remove } => {
            node.spec.taints.retain(|t| !remove.contains(&t.key));
            for t in add {
                if !node.spec.taints.contains(&t) {
                    node.spec.taints.push(t);
                }
            }
        }
        NodePatch::Labels { set, remove } => {
            let labels = std::sync::Arc::make_mut(&mut node.metadata.labels);
            for key in &remove {
                labels.remove(key);
            }
            labels.extend(set);
        }
        NodePatch::Taint { add, remove } => {
            node.spec.taints.retain(|t| {
                !remove
                    .iter()
                    .any(|(key, effect)| t.key == *key && effect.is_none_or(|e| e == t.effect))
            });
            for t in add {
                match (node.spec.taints.iter_mut()).find(|o| o.key == t.key && o.effect == t.effect)
                {
                    Some(same) => *same = t,
                    None => node.spec.taints.push(t),
                }
            }
        }
        NodePatch::Replace {
            labels,
            taints,
            unschedulable,
        } => {
            node.metadata.labels = labels;
            node.spec.taints = taints;
            node.spec.unschedulable = unschedulable;
        }
        NodePatch::Status {
            capacity,
            allocatable,
        } => {
            node.status.capacity = capacity;
            node.status.allocatable = allocatable;
        }
        NodePatch::Ready { status, reason } => {
            let unchanged = node
                .status
                .ready
                .as_ref()
                .is_some_and(|r| r.status == status);
            if !unchanged {
                node.status.ready = Some(crate::api::node::NodeReady {
                    status,
                    reason,
                    last_transition: now,
                });
            }
        }
    }
}

/// The etcd member as a component: it applies the apiserver's transactions
/// to the store and answers with the committed change.
#[derive(Default)]
pub struct EtcdServer {
    pub store: Etcd,
}

mod server {
    use super::*;
    use crate::api::pod::PodConditionType;
    use crate::output::{Part, Subject};
    use crate::sim::msg::{Txn, TxnDone};
    use crate::sim::{Cx, Dest, Msg, Verb, component_name};

    impl EtcdServer {
        pub fn new() -> Self {
            Self::default()
        }

        /// A delete that removes the object now, unless it carries
        /// finalizers other than the garbage collector's `orphan` (which
        /// the collector's own delete resolves): then, as upstream's
        /// registry, the object stays, terminating, with `deletionTimestamp`
        /// set and a grace period of 0, until they are gone.
        fn delete_or_finalize(
            &mut self,
            key: &ObjectKey,
            precondition: Option<u64>,
            now: crate::engine::Time,
        ) -> Result<TxnResult, EtcdError> {
            let foreign = |o: &Object| {
                o.meta()
                    .finalizers
                    .iter()
                    .any(|f| f != crate::controllers::gc::ORPHAN_FINALIZER)
            };
            match self.store.get(key) {
                Some(o) if foreign(o) => {
                    let m = o.meta();
                    if m.deletion_timestamp.is_some() && m.deletion_grace_period_seconds == Some(0)
                    {
                        // Already waiting for its finalizers.
                        return Ok(TxnResult::Read(o.clone()));
                    }
                }
                _ => return self.store.delete(key, precondition).map(TxnResult::Written),
            }
            self.store
                .guaranteed_update(key, precondition, |current| {
                    let mut next = current.clone();
                    let m = next.meta_mut();
                    m.deletion_timestamp.get_or_insert(now);
                    m.deletion_grace_period_seconds = Some(0);
                    m.finalizers
                        .retain(|f| f != crate::controllers::gc::ORPHAN_FINALIZER);
                    Ok(next)
                })
                .map(TxnResult::Written)
        }

        pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
            /// A status verb's refusal of an object of another kind.
            fn not_a(key: &ObjectKey, what: &str) -> EtcdError {
                EtcdError::Precondition {
                    key: key.clone(),
                    reason: format!("not a {what}"),
                }
            }
            let Msg::Txn(txn) = msg else {
                return;
            };
            let Txn { from, tag, verb } = *txn;
            let key = verb.key();
            let name = verb.name();
            let now = cx.now();
            let result = match verb {
                Verb::Create(object) => self
                    .store
                    .create_keyed(key.clone(), object)
                    .map(TxnResult::Written),
                Verb::Get(key) => self
                    .store
                    .get(&key)
                    .cloned()
                    .map(TxnResult::Read)
                    .ok_or(EtcdError::NotFound(key)),
                Verb::Update {
                    object,
                    precondition,
                    ..
                } => self
                    .store
                    .update_unless_same(&key, precondition, |current| {
                        let mut next = object;
                        // Upstream's update rules, checked against the
                        // stored object inside the guaranteed update, as
                        // its registry checks them.
                        let errors = match (&mut next, current) {
                            (Object::Pod(n), Object::Pod(c)) => {
                                crate::apiserver::admission::pod_update(c, n)
                            }
                            (Object::Workload(kind, n), Object::Workload(_, c)) => {
                                crate::apiserver::admission::workload_update(*kind, c, n)
                            }
                            (
                                Object::PersistentVolumeClaim(n),
                                Object::PersistentVolumeClaim(c),
                            ) => crate::apiserver::admission::claim_update(c, n),
                            (Object::StorageClass(n), Object::StorageClass(c)) => {
                                crate::apiserver::admission::storage_class_update(c, n)
                            }
                            _ => Vec::new(),
                        };
                        if !errors.is_empty() {
                            return Err(EtcdError::Invalid {
                                key: key.clone(),
                                errors,
                            });
                        }
                        // The server owns identity and bookkeeping fields.
                        let cur = current.meta();
                        let spec_changed = next.spec_differs(current);
                        let meta = next.meta_mut();
                        meta.uid = cur.uid;
                        meta.creation_timestamp = cur.creation_timestamp;
                        meta.deletion_timestamp = cur.deletion_timestamp;
                        meta.generation = cur.generation + i64::from(spec_changed);
                        // As upstream's update strategies, an update of the
                        // main resource keeps the status.
                        match (&mut next, current) {
                            (Object::Pod(n), Object::Pod(c)) => n.status = c.status.clone(),
                            (Object::Workload(_, n), Object::Workload(_, c)) => {
                                n.status = c.status.clone()
                            }
                            (Object::PersistentVolume(n), Object::PersistentVolume(c)) => {
                                n.status = c.status.clone()
                            }
                            (
                                Object::PersistentVolumeClaim(n),
                                Object::PersistentVolumeClaim(c),
                            ) => n.status = c.status.clone(),
                            _ => {}
                        }
                        next.meta_mut().resource_version = cur.resource_version;
                        Ok((next != *current).then_some(next))
                    })
                    .and_then(|result| match result {
                        // The last finalizer of an object whose deletion
                        // was requested is gone: it goes now (as upstream's
                        // registry; here a MODIFIED event, then DELETED).
                        TxnResult::Written(change)
                            if change.object.meta().deletion_timestamp.is_some()
                                && change.object.meta().deletion_grace_period_seconds
                                    == Some(0)
                                && change.object.meta().finalizers.is_empty() =>
                        {
                            self.store.delete(&key, None).map(TxnResult::Written)
                        }
                        other => Ok(other),
                    }),
                Verb::ResizePod { key, resources } => self
                    .store
                    .guaranteed_update_or(&key, None, |current| {
                        let Object::Pod(pod) = current else {
                            return Err(EtcdError::Precondition {
                                key: key.clone(),
                                reason: "not a pod".into(),
                            });
                        };
                        let mut resized = crate::apiserver::admission::pod_resize(pod, &resources)
                            .map_err(|errors| EtcdError::Invalid {
                                key: key.clone(),
                                errors,
                            })?;
                        resized.metadata.generation =
                            pod.metadata.generation + i64::from(resized.spec != pod.spec);
                        Ok(Object::Pod(resized))
                    })
                    .map(TxnResult::Written),
                Verb::UpdatePodStatus { key, status } => {
                    self.store.update_unless_same(&key, None, |current| {
                        let Object::Pod(pod) = current else {
                            return Err(not_a(&key, "pod"));
                        };
                        if status == pod.status {
                            return Ok(None);
                        }
                        // The new status replaces the old one, uncopied.
                        Ok(Some(Object::Pod(crate::api::Pod {
                            metadata: pod.metadata.clone(),
                            spec: pod.spec.clone(),
                            status,
                        })))
                    })
                }
                Verb::Bind { key, node } => self
                    .store
                    .guaranteed_update(&key, None, |current| {
                        let Object::Pod(pod) = current else {
                            return Err("not a pod".into());
                        };
                        if let Some(bound) = pod.spec.node_name() {
                            return Err(format!(
                                "pod {} is already assigned to node \"{bound}\"",
                                pod.metadata.name
                            ));
                        }
                        if pod.metadata.deletion_timestamp.is_some() {
                            return Err(format!("pod {} is being deleted", pod.metadata.name));
                        }
                        if !pod.spec.scheduling_gates.is_empty() {
                            return Err(format!(
                                "pod {} has non-empty .spec.schedulingGates",
                                pod.metadata.name
                            ));
                        }
                        let mut pod = pod.clone();
                        std::sync::Arc::make_mut(&mut pod.spec).node_name = Some(node);
                        pod.status
                            .set_condition(PodConditionType::PodScheduled, true, now, "");
                        Ok(Object::Pod(pod))
                    })
                    .map(TxnResult::Written),
                Verb::Delete { key, precondition } => {
                    match self.store.get(&key).and_then(|o| graceful_delete(o, now)) {
                        // A pod running on a node is deleted gracefully: the
                        // write sets deletionTimestamp, and the kubelet
                        // deletes it with grace 0 once its containers stopped.
                        Some(Ok(next)) => self
                            .store
                            .guaranteed_update(&key, precondition, |_| Ok(next))
                            .map(TxnResult::Written),
                        // Already terminating: nothing to write.
                        Some(Err(current)) => Ok(TxnResult::Read(current)),
                        None => self.delete_or_finalize(&key, precondition, now),
                    }
                }
                Verb::PatchNode { key, patch } => {
                    self.store.update_unless_same(&key, None, |current| {
                        let Object::Node(node) = current else {
                            return Err(not_a(&key, "node"));
                        };
                        let mut next = node.clone();
                        apply_node_patch(&mut next, patch, now);
                        Ok((next != *node).then_some(Object::Node(next)))
                    })
                }
                Verb::UpdateWorkloadStatus { key, status } => {
                    self.store.update_unless_same(&key, None, |current| {
                        let Object::Workload(kind, w) = current else {
                            return Err(not_a(&key, "workload"));
                        };
                        if status == w.status {
                            return Ok(None);
                        }
                        // The new status, and the rest shared or copied
                        // (the old status is not).
                        Ok(Some(Object::Workload(
                            *kind,
                            Box::new(Workload {
                                metadata: w.metadata.clone(),
                                spec: w.spec.clone(),
                                status,
                            }),
                        )))
                    })
                }
                Verb::UpdateStorageStatus {
                    key,
                    status,
                    precondition,
                } => self
                    .store
                    .update_unless_same(&key, precondition, |current| {
                        use crate::api::volume::StorageStatus;
                        match (current, status) {
                            (Object::PersistentVolume(v), StorageStatus::Volume(s)) => {
                                if s == v.status {
                                    return Ok(None);
                                }
                                let mut v = v.clone();
                                v.status = s;
                                Ok(Some(Object::PersistentVolume(v)))
                            }
                            (Object::PersistentVolumeClaim(c), StorageStatus::Claim(s)) => {
                                if s == c.status {
                                    return Ok(None);
                                }
                                let mut c = c.clone();
                                c.status = s;
                                Ok(Some(Object::PersistentVolumeClaim(c)))
                            }
                            _ => Err(not_a(&key, "volume or claim of that status")),
                        }
                    }),
                Verb::DeleteOrphan { key } => self
                    .store
                    .guaranteed_update(&key, None, |current| {
                        let mut next = current.clone();
                        let meta = next.meta_mut();
                        meta.deletion_timestamp.get_or_insert(now);
                        if !meta.finalizers.iter().any(|f| f == "orphan") {
                            meta.finalizers.push("orphan".into());
                        }
                        Ok(next)
                    })
                    .map(TxnResult::Written),
                Verb::ForceDelete { key } => self.delete_or_finalize(&key, None, now),
                Verb::Watch(_) => return,
            };
            let result = result.unwrap_or_else(TxnResult::Failed);
            match &result {
                TxnResult::Written(change) => {
                    cx.rec.counters.etcd_writes += 1;
                    let action = match change.kind {
                        EventType::Deleted => "delete",
                        _ => "put",
                    };
                    cx.rec.event_parts(
                        now,
                        component_name(Dest::Etcd),
                        action,
                        Subject::from(&key),
                        "",
                        &[Part::Text("revision="), Part::Num(change.revision)],
                    );
                }
                TxnResult::Read(_) => cx.log(Dest::Etcd, "range", Subject::from(&key), ""),
                TxnResult::Unchanged(o) => cx.rec.event_parts(
                    now,
                    component_name(Dest::Etcd),
                    "unchanged",
                    Subject::from(&key),
                    "",
                    &[
                        Part::Text("revision="),
                        Part::Num(o.meta().resource_version),
                    ],
                ),
                TxnResult::Failed(e) => cx.log_on_args(
                    Dest::Etcd,
                    "txn-failed",
                    Subject::from(&key),
                    "",
                    format_args!("{e}"),
                ),
            }
            cx.send(
                Dest::ApiServer,
                0,
                Msg::TxnDone(Box::new(TxnDone {
                    from,
                    tag,
                    verb: name,
                    key,
                    result,
                })),
            );
        }
    }
}
