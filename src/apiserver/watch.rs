//! The watch registry: who watches what, indexed so that a write costs
//! nothing for the watchers it does not concern. Pod watches with the field
//! selector `spec.nodeName=X` are indexed by node, so a kubelet's watch is
//! only looked at for its own node's pods.

use crate::fasthash::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

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

/// The least number of changes a resource's ring holds (upstream's
/// `defaultLowerBoundCapacity`).
pub const RING_MIN: usize = 100;
/// The most (upstream's `defaultUpperBoundCapacity`, 100 × 1024).
pub const RING_MAX: usize = 100 * 1024;
/// How long a change is fresh for the ring's sizing (upstream's
/// `eventFreshDuration`).
pub const EVENT_FRESH: Time = 75 * crate::engine::SECOND;

/// One resource's ring of recent changes in the watch cache, from which a
/// watch of that resource resumes after a resourceVersion; older revisions
/// are gone (410). Sized as upstream's watch cache
/// (`staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go`): it
/// starts at [`RING_MIN`] changes; when full, it doubles (up to
/// [`RING_MAX`]) while its oldest change is younger than [`EVENT_FRESH`],
/// and halves (down to [`RING_MIN`], keeping the newest) once the change a
/// quarter of the capacity back from the newest is older than that.
pub struct ChangeRing {
    /// The changes, oldest first, with the time the cache received each.
    ring: VecDeque<(Time, Arc<Change>)>,
    capacity: usize,
    /// The newest revision dropped from the ring.
    compacted: u64,
}

impl Default for ChangeRing {
    fn default() -> Self {
        ChangeRing {
            ring: VecDeque::new(),
            capacity: RING_MIN,
            compacted: 0,
        }
    }
}

impl ChangeRing {
    /// Starts empty at `revision`: nothing at or before it can be replayed.
    pub fn start_at(&mut self, revision: u64) {
        self.ring.clear();
        self.compacted = revision;
    }

    /// How many changes the ring holds at most now.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Drops the oldest change.
    fn drop_oldest(&mut self) {
        if let Some((_, old)) = self.ring.pop_front() {
            self.compacted = old.revision;
        }
    }

    /// Adds a change received at `now`, resizing first as upstream does.
    pub fn push(&mut self, now: Time, change: Arc<Change>) {
        if self.ring.len() == self.capacity {
            let oldest = self.ring.front().map_or(now, |(t, _)| *t);
            let quarter_back = self.ring[self.ring.len() - self.capacity / 4].0;
            if now.saturating_sub(oldest) < EVENT_FRESH {
                self.capacity = (self.capacity * 2).min(RING_MAX);
            } else if now.saturating_sub(quarter_back) > EVENT_FRESH {
                let capacity = (self.capacity / 2).max(RING_MIN);
                while self.ring.len() > capacity {
                    self.drop_oldest();
                }
                self.capacity = capacity;
                self.ring.shrink_to(capacity);
            }
        }
        if self.ring.len() == self.capacity {
            self.drop_oldest();
        }
        self.ring.push_back((now, change));
    }

    /// The events `watcher` sees after revision `since`, or the compacted
    /// revision when some of them are no longer kept.
    pub fn since(
        &self,
        since: u64,
        watcher: &Watcher,
    ) -> Result<Vec<(EventType, Arc<Change>)>, u64> {
        if since < self.compacted {
            return Err(self.compacted);
        }
        let start = self.ring.partition_point(|(_, c)| c.revision <= since);
        Ok(self
            .ring
            .range(start..)
            .filter_map(|(_, c)| watcher.event_for(c).map(|t| (t, c.clone())))
            .collect())
    }
}

/// The watch cache's rings, one per resource (kind), as upstream keeps a
/// cacher per resource.
#[derive(Default)]
pub struct WatchCache {
    rings: [ChangeRing; Kind::ALL.len()],
}

impl WatchCache {
    /// Every ring starts empty at `revision`.
    pub fn start_at(&mut self, revision: u64) {
        for r in &mut self.rings {
            r.start_at(revision);
        }
    }

    pub fn push(&mut self, now: Time, change: Arc<Change>) {
        self.rings[change.key.kind.index()].push(now, change);
    }

    /// The events `watcher` sees after revision `since`, from the ring of
    /// the kind it watches (see [`ChangeRing::since`]).
    pub fn since(
        &self,
        since: u64,
        watcher: &Watcher,
    ) -> Result<Vec<(EventType, Arc<Change>)>, u64> {
        self.rings[watcher.spec.kind.index()].since(since, watcher)
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
            from_revision: None,
        }
    }

    /// The pod `p`'s change at revision `rev`, bound to node `a` from
    /// revision 4 on.
    fn change(rev: u64, prev: &mut Option<Arc<Object>>) -> Arc<Change> {
        let obj = Arc::new(pod(if rev >= 4 { Some("a") } else { None }));
        Arc::new(Change {
            revision: rev,
            key: obj.key(),
            kind: if rev == 1 {
                EventType::Added
            } else {
                EventType::Modified
            },
            object: obj.clone(),
            prev: prev.replace(obj),
        })
    }

    #[test]
    fn watches_resume_from_the_ring_or_are_gone() {
        let mut ring = ChangeRing::default();
        let mut prev = None;
        // 105 changes 1 s apart: the ring is full at 100 with its oldest
        // 100 s old, so it does not grow and revisions 1 to 5 fall out.
        for rev in 1..=105 {
            ring.push(rev * crate::engine::SECOND, change(rev, &mut prev));
        }
        assert_eq!((ring.len(), ring.capacity()), (100, 100));
        let mut r = Registry::default();
        let id = r.add(
            Dest::Kubelet(0),
            spec(FieldSelector::NodeName("a".into())),
            0,
        );
        let w = &r.watchers[id as usize];
        assert_eq!(ring.since(4, w).unwrap_err(), 5);
        let events: Vec<(EventType, u64)> = ring
            .since(5, w)
            .unwrap()
            .into_iter()
            .map(|(t, c)| (t, c.revision))
            .collect();
        assert_eq!(events.len(), 100);
        assert_eq!(events[0], (EventType::Modified, 6));
        assert!(ring.since(105, w).unwrap().is_empty());
        // Revision 3 does not concern node a; at 4 the pod starts matching.
        let mut ring = ChangeRing::default();
        let mut prev = None;
        for rev in 1..=5 {
            ring.push(0, change(rev, &mut prev));
        }
        let events: Vec<(EventType, u64)> = ring
            .since(2, w)
            .unwrap()
            .into_iter()
            .map(|(t, c)| (t, c.revision))
            .collect();
        assert_eq!(
            events,
            vec![(EventType::Added, 4), (EventType::Modified, 5)]
        );
    }

    /// The ring doubles while full of fresh changes, up to its bound, and
    /// halves (keeping the newest) once a quarter back is stale.
    #[test]
    fn the_ring_grows_with_fresh_changes_and_shrinks_when_they_age() {
        use crate::engine::{MILLISECOND, SECOND};
        let mut ring = ChangeRing::default();
        let mut prev = None;
        // 1 000 changes within one second: 100, 200, 400, 800, 1 600.
        for rev in 1..=1000 {
            ring.push(rev * MILLISECOND, change(rev, &mut prev));
        }
        assert_eq!((ring.len(), ring.capacity()), (1000, 1600));
        let w = Watcher {
            owner: Dest::Scheduler,
            spec: spec(FieldSelector::Everything),
            last_delivery: 0,
        };
        assert_eq!(ring.since(0, &w).unwrap().len(), 1000);
        // Filled to 1 600 at once, then a change ten minutes later: the
        // quarter back is stale, so the ring halves to 800 and takes it.
        for rev in 1001..=1600 {
            ring.push(SECOND, change(rev, &mut prev));
        }
        assert_eq!((ring.len(), ring.capacity()), (1600, 1600));
        ring.push(600 * SECOND, change(1601, &mut prev));
        assert_eq!((ring.len(), ring.capacity()), (800, 800));
        assert_eq!(ring.since(800, &w).unwrap_err(), 801);
        assert_eq!(ring.since(801, &w).unwrap().len(), 800);
        // Never past the bounds.
        let mut ring = ChangeRing::default();
        for rev in 1..=(RING_MAX as u64 + 10) {
            ring.push(0, change(rev, &mut prev));
        }
        assert_eq!((ring.len(), ring.capacity()), (RING_MAX, RING_MAX));
        let mut ring = ChangeRing::default();
        for rev in 1..=300 {
            ring.push(rev * 100 * SECOND, change(rev, &mut prev));
        }
        assert_eq!((ring.len(), ring.capacity()), (RING_MIN, RING_MIN));
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
