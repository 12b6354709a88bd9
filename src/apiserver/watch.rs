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
        let before = change.prev.as_deref().is_some_and(|p| self.selects(p));
        let after = change.kind != EventType::Deleted && self.selects(&change.object);
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
}
