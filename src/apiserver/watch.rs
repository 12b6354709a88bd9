//! The watch registry: who watches what, indexed so that a write costs
//! nothing for the watchers it does not concern. Pod watches with the field
//! selector `spec.nodeName=X` are indexed by node, so a kubelet's watch is
//! only looked at for its own node's pods.

use crate::fasthash::HashMap;

use crate::api::{Kind, Object};
use crate::engine::Time;
use crate::etcd::{Change, EventType};
use crate::sim::Dest;
use crate::sim::msg::{FieldSelector, WatchSpec};

pub struct Watcher {
    pub owner: Dest,
    pub spec: WatchSpec,
    /// The arrival time of the last event sent: events of one watch arrive
    /// in order, like on one stream.
    pub last_delivery: Time,
}

impl Watcher {
    /// Whether the object is one this watch selects.
    pub fn selects(&self, obj: &Object) -> bool {
        selects(&self.spec, obj)
    }
}

/// Whether every watch selects two versions of one object (one key) alike:
/// the same labels and, for a pod, the same spec (shared, as a status write
/// leaves them), since the field selectors read only the spec's node name.
/// Most writes are such, and their previous version need not be looked at.
fn selected_alike(prev: &Object, obj: &Object) -> bool {
    std::sync::Arc::ptr_eq(&prev.meta().labels, &obj.meta().labels)
        && match (prev, obj) {
            (Object::Pod(p), Object::Pod(q)) => std::sync::Arc::ptr_eq(&p.spec, &q.spec),
            _ => prev.kind() == obj.kind() && prev.as_pod().is_none(),
        }
}

/// Whether a watch with this spec selects the object.
pub fn selects(s: &WatchSpec, obj: &Object) -> bool {
    if obj.kind() != s.kind {
        return false;
    }
    let meta = obj.meta();
    if s.namespace
        .as_deref()
        .is_some_and(|ns| ns != meta.namespace)
    {
        return false;
    }
    if s.labels.as_ref().is_some_and(|l| !l.matches(&meta.labels)) {
        return false;
    }
    match (&s.field, obj) {
        (FieldSelector::Everything, _) => true,
        (FieldSelector::NodeName(n), Object::Pod(p)) => p.spec.node_name() == Some(n),
        (FieldSelector::Unassigned, Object::Pod(p)) => p.spec.node_name().is_none(),
        _ => false,
    }
}

impl Watcher {
    /// The event this watcher sees for a change, if any: an object that
    /// starts matching is ADDED, one that stops matching is DELETED.
    pub fn event_for(&self, change: &Change) -> Option<EventType> {
        let now = self.selects(&change.object);
        let before = match change.prev.as_deref() {
            None => false,
            Some(p) if selected_alike(p, &change.object) => now,
            Some(p) => self.selects(p),
        };
        let after = change.kind != EventType::Deleted && now;
        match (before, after) {
            (false, true) => Some(EventType::Added),
            (true, true) => Some(EventType::Modified),
            (true, false) => Some(EventType::Deleted),
            (false, false) => None,
        }
    }
}

#[derive(Default)]
pub struct Registry {
    pub watchers: Vec<Watcher>,
    by_kind: [Vec<u32>; Kind::ALL.len()],
    by_node: HashMap<String, Vec<u32>>,
    unassigned: Vec<u32>,
}

impl Registry {
    pub fn add(&mut self, owner: Dest, spec: WatchSpec, now: Time) -> u32 {
        let id = self.watchers.len() as u32;
        match &spec.field {
            FieldSelector::NodeName(n) if spec.kind == Kind::Pod => {
                self.by_node.entry(n.clone()).or_default().push(id)
            }
            FieldSelector::Unassigned if spec.kind == Kind::Pod => self.unassigned.push(id),
            _ => self.by_kind[spec.kind.index()].push(id),
        }
        self.watchers.push(Watcher {
            owner,
            spec,
            last_delivery: now,
        });
        id
    }

    /// The watchers a change may concern, each once, in a fixed order.
    pub fn candidates(&self, change: &Change, out: &mut Vec<u32>) {
        out.clear();
        let kind = change.object.kind();
        out.extend_from_slice(&self.by_kind[kind.index()]);
        if kind != Kind::Pod {
            return;
        }
        fn node_of(o: &Object) -> Option<&str> {
            o.as_pod().and_then(|p| p.spec.node_name())
        }
        let before = change.prev.as_deref().map(node_of);
        let after = node_of(&change.object);
        let unassigned_involved = after.is_none() || before.is_some_and(|b| b.is_none());
        if unassigned_involved {
            out.extend_from_slice(&self.unassigned);
        }
        if let Some(Some(b)) = before
            && let Some(ids) = self.by_node.get(b)
        {
            out.extend_from_slice(ids);
        }
        if let Some(a) = after
            && before.flatten() != Some(a)
            && let Some(ids) = self.by_node.get(a)
        {
            out.extend_from_slice(ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Pod;
    use std::sync::Arc;

    fn pod(node: Option<&str>) -> Object {
        let mut p = Pod::default();
        p.metadata.name = "p".into();
        p.metadata.namespace = "default".into();
        std::sync::Arc::make_mut(&mut p.spec).node_name = node.map(str::to_string);
        Object::Pod(p)
    }

    fn spec(field: FieldSelector) -> WatchSpec {
        WatchSpec {
            tag: 0,
            kind: Kind::Pod,
            namespace: None,
            labels: None,
            field,
            list_only: false,
        }
    }

    #[test]
    fn binding_is_added_for_the_node_and_deleted_for_the_unassigned_watch() {
        let mut r = Registry::default();
        let kubelet_a = r.add(
            Dest::Kubelet(0),
            spec(FieldSelector::NodeName("a".into())),
            0,
        );
        let kubelet_b = r.add(
            Dest::Kubelet(1),
            spec(FieldSelector::NodeName("b".into())),
            0,
        );
        let sched = r.add(Dest::Scheduler, spec(FieldSelector::Unassigned), 0);
        let all = r.add(Dest::ControllerManager, spec(FieldSelector::Everything), 0);
        let change = Change {
            revision: 2,
            key: pod(None).key(),
            kind: EventType::Modified,
            object: Arc::new(pod(Some("a"))),
            prev: Some(Arc::new(pod(None))),
        };
        let mut c = Vec::new();
        r.candidates(&change, &mut c);
        assert!(
            !c.contains(&kubelet_b),
            "other nodes' kubelets are not even looked at"
        );
        let ev = |id: u32| r.watchers[id as usize].event_for(&change);
        assert_eq!(ev(kubelet_a), Some(EventType::Added));
        assert_eq!(ev(sched), Some(EventType::Deleted));
        assert_eq!(ev(all), Some(EventType::Modified));
        assert_eq!(ev(kubelet_b), None);
    }

    /// Writes that keep the labels and the spec shared (status writes) are
    /// decided from the new version alone; every write gives the event the
    /// two versions' selections give, shared or not.
    #[test]
    fn shared_labels_and_spec_give_the_events_both_versions_give() {
        let mut r = Registry::default();
        let mut web = spec(FieldSelector::Everything);
        web.labels = Some(crate::api::selector::LabelSelector::from_labels(
            [("app".to_string(), "web".to_string())].into(),
        ));
        let ids = [
            r.add(
                Dest::Kubelet(0),
                spec(FieldSelector::NodeName("a".into())),
                0,
            ),
            r.add(
                Dest::Kubelet(1),
                spec(FieldSelector::NodeName("b".into())),
                0,
            ),
            r.add(Dest::Scheduler, spec(FieldSelector::Unassigned), 0),
            r.add(Dest::ControllerManager, web, 0),
        ];
        let mut bound = pod(Some("a"));
        if let Object::Pod(p) = &mut bound {
            Arc::make_mut(&mut p.metadata.labels).insert("app".into(), "web".into());
        }
        // A status write: labels and spec shared.
        let mut status = bound.clone();
        if let Object::Pod(p) = &mut status {
            p.status.host_ip = Some("10.0.0.1".into());
        }
        // A relabel: the spec shared, the labels not.
        let mut relabelled = status.clone();
        if let Object::Pod(p) = &mut relabelled {
            Arc::make_mut(&mut p.metadata.labels).insert("app".into(), "db".into());
        }
        // A move (as a test can write it): the labels shared, the spec not.
        let mut moved = status.clone();
        if let Object::Pod(p) = &mut moved {
            Arc::make_mut(&mut p.spec).node_name = Some("b".into());
        }
        let changes = [
            (bound.clone(), status.clone(), EventType::Modified),
            (status.clone(), relabelled, EventType::Modified),
            (status.clone(), moved, EventType::Modified),
            (bound, status, EventType::Deleted),
        ];
        let mut seen = Vec::new();
        for (prev, object, kind) in changes {
            let change = Change {
                revision: 3,
                key: object.key(),
                kind,
                object: Arc::new(object),
                prev: Some(Arc::new(prev)),
            };
            for &id in &ids {
                let w = &r.watchers[id as usize];
                let before = w.selects(change.prev.as_deref().unwrap());
                let after = kind != EventType::Deleted && w.selects(&change.object);
                let want = match (before, after) {
                    (false, true) => Some(EventType::Added),
                    (true, true) => Some(EventType::Modified),
                    (true, false) => Some(EventType::Deleted),
                    (false, false) => None,
                };
                assert_eq!(w.event_for(&change), want, "watcher {id}, {kind:?}");
                seen.push(want);
            }
        }
        // The cases cover every event and none.
        for e in [
            Some(EventType::Added),
            Some(EventType::Modified),
            Some(EventType::Deleted),
            None,
        ] {
            assert!(seen.contains(&e), "{e:?}");
        }
    }
}
