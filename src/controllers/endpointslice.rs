//! The EndpointSlice controller: for every Service with a selector, the
//! endpoints of the pods it selects that have an IP and are not terminal,
//! at most 100 per slice, written through the apiserver with the trigger
//! time of the pod change that caused the write.
//!
//! As upstream, an endpoint stays in the slice it was placed in, and a new
//! one goes to a slice with room, so a pod change rewrites one slice, not
//! the whole Service. The desired endpoints are kept up to date as pod
//! events arrive; a Service's sync writes the slices that changed.
//!
//! Its requests wait on the controller's client rate limit, and its worker
//! with them, so that changes arriving meanwhile are written together.
//!
//! Simplified: slices are named `<service>-<n>`; one worker (upstream runs 5).

use crate::fasthash::HashMap;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::api::meta::OwnerReference;
use crate::api::pod::PodConditionType;
use crate::api::service::{
    ANNOTATION_TRIGGER_TIME, Endpoint, EndpointSlice, EndpointTarget, LABEL_SERVICE_NAME,
    MAX_ENDPOINTS_PER_SLICE,
};
use crate::api::{Kind, Labels, Object, ObjectKey, ObjectMeta, Pod};
use crate::engine::Time;
use crate::etcd::EventType;
use crate::output::{Part, Subject};
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

/// A (namespace, label key, label value) triple: the key of a
/// [`LabelIndex`], hashed and compared as its three strings in turn.
#[derive(Debug)]
struct Triple {
    namespace: Box<str>,
    key: Box<str>,
    value: Box<str>,
}

/// A triple owned ([`Triple`]) or borrowed (`(&str, &str, &str)`), so that a
/// lookup hashes borrowed strings (one hash, one probe) without copying them.
trait TripleView {
    fn parts(&self) -> (&str, &str, &str);
}

impl TripleView for Triple {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.namespace, &self.key, &self.value)
    }
}

impl TripleView for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn TripleView + 'a> for Triple {
    fn borrow(&self) -> &(dyn TripleView + 'a) {
        self
    }
}

impl std::hash::Hash for dyn TripleView + '_ {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

impl PartialEq for dyn TripleView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn TripleView + '_ {}

// Hashed and compared as its view, as `Borrow` requires.
impl std::hash::Hash for Triple {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self as &dyn TripleView).hash(h);
    }
}

impl PartialEq for Triple {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Triple {}

/// An index by (namespace, label key, label value), looked up with borrowed
/// strings (a lookup allocates nothing; only a new entry copies its key).
/// The map holds each entry's slot in `values`, so that [`Self::entry`]
/// hashes the triple once when it is there (most calls).
struct LabelIndex<T> {
    map: HashMap<Triple, u32>,
    values: Vec<T>,
}

impl<T> Default for LabelIndex<T> {
    fn default() -> Self {
        LabelIndex {
            map: HashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<T: Default> LabelIndex<T> {
    fn get(&self, namespace: &str, k: &str, v: &str) -> Option<&T> {
        let i = *self.map.get(&(namespace, k, v) as &dyn TripleView)?;
        Some(&self.values[i as usize])
    }

    fn get_mut(&mut self, namespace: &str, k: &str, v: &str) -> Option<&mut T> {
        let i = *self.map.get(&(namespace, k, v) as &dyn TripleView)?;
        Some(&mut self.values[i as usize])
    }

    fn entry(&mut self, namespace: &str, k: &str, v: &str) -> &mut T {
        let view = &(namespace, k, v) as &dyn TripleView;
        let i = match self.map.get(view) {
            Some(&i) => i,
            None => {
                let key = Triple {
                    namespace: namespace.into(),
                    key: k.into(),
                    value: v.into(),
                };
                let i = u32::try_from(self.values.len()).expect("fewer than 2^32 triples");
                self.map.insert(key, i);
                self.values.push(T::default());
                i
            }
        };
        &mut self.values[i as usize]
    }
}

/// The time a pod change counts from: its Ready condition's transition, as
/// upstream's trigger time tracker takes it; `None` without the condition.
fn trigger_time(pod: &Pod) -> Option<Time> {
    pod.status
        .condition(PodConditionType::Ready)
        .map(|c| c.last_transition)
}

/// The endpoint a pod contributes: only pods with an IP that are not terminal.
fn endpoint_of(pod: &Pod) -> Option<Endpoint> {
    endpoint_reusing(pod, None)
}

/// [`endpoint_of`], sharing the strings of the pod's previous endpoint
/// where they did not change.
fn endpoint_reusing(pod: &Pod, prev: Option<&Endpoint>) -> Option<Endpoint> {
    if pod.status.phase.is_terminal() {
        return None;
    }
    let ip = pod.status.pod_ip.as_deref()?;
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let serving = pod.status.is_ready();
    let node = pod.spec.node_name().unwrap_or("");
    let target = match prev.map(|e| &e.target) {
        Some(t)
            if t.pod_uid == pod.metadata.uid
                && t.address == ip
                && t.pod_name == pod.metadata.name
                && t.node_name == node =>
        {
            t.clone()
        }
        _ => Arc::new(EndpointTarget {
            address: ip.to_string(),
            pod_uid: pod.metadata.uid,
            pod_name: pod.metadata.name.to_string(),
            node_name: node.to_string(),
        }),
    };
    Some(Endpoint {
        target,
        ready: serving && !terminating,
        serving,
        terminating,
    })
}

#[derive(Default)]
struct Slice {
    endpoints: BTreeMap<u64, Endpoint>,
    /// Whether the slice exists in the apiserver.
    written: bool,
    /// Its key, made at its first write.
    key: Option<ObjectKey>,
}

struct ServiceState {
    key: ObjectKey,
    /// Whether the Service is queued, with the earliest new trigger time of
    /// its pending changes (`Some(None)`: queued, no pod's Ready condition
    /// changed).
    pending: Option<Option<Time>>,
    selector: Labels,
    slices: Vec<Slice>,
    /// The slice each pod's endpoint sits in.
    slot: HashMap<u64, usize>,
    dirty: BTreeSet<usize>,
    /// The labels and owner reference every slice of the Service carries,
    /// made at the first write and shared by all.
    slice_meta: Option<(Arc<Labels>, Arc<Vec<OwnerReference>>)>,
}

impl ServiceState {
    fn new(key: ObjectKey) -> Self {
        ServiceState {
            key,
            pending: None,
            selector: Labels::new(),
            slices: Vec::new(),
            slot: HashMap::default(),
            dirty: BTreeSet::new(),
            slice_meta: None,
        }
    }

    /// Sets (or removes, with `None`) a pod's endpoint; whether it changed.
    fn set(&mut self, uid: u64, endpoint: Option<Endpoint>) -> bool {
        match (self.slot.get(&uid).copied(), endpoint) {
            (Some(i), Some(e)) => {
                let old = self.slices[i]
                    .endpoints
                    .get_mut(&uid)
                    .expect("a pod's slot holds its endpoint");
                if *old == e {
                    return false;
                }
                *old = e;
                self.dirty.insert(i);
                true
            }
            (Some(i), None) => {
                self.slot.remove(&uid);
                self.slices[i].endpoints.remove(&uid);
                self.dirty.insert(i);
                true
            }
            (None, Some(e)) => {
                let i = match self
                    .slices
                    .iter()
                    .position(|s| s.endpoints.len() < MAX_ENDPOINTS_PER_SLICE)
                {
                    Some(i) => i,
                    None => {
                        self.slices.push(Slice::default());
                        self.slices.len() - 1
                    }
                };
                self.slices[i].endpoints.insert(uid, e);
                self.slot.insert(uid, i);
                self.dirty.insert(i);
                true
            }
            (None, None) => false,
        }
    }

    /// [`Self::set`] with the endpoint `f` makes of the pod's current one
    /// here (if any): one lookup of the pod's slot and endpoint for both.
    fn set_from(
        &mut self,
        uid: u64,
        f: impl FnOnce(Option<&Endpoint>) -> Option<Endpoint>,
    ) -> bool {
        let Some(i) = self.slot.get(&uid).copied() else {
            return self.set(uid, f(None));
        };
        let endpoints = &mut self.slices[i].endpoints;
        let old = endpoints
            .get_mut(&uid)
            .expect("a pod's slot holds its endpoint");
        match f(Some(old)) {
            Some(e) => {
                if *old == e {
                    return false;
                }
                *old = e;
            }
            None => {
                endpoints.remove(&uid);
                self.slot.remove(&uid);
            }
        }
        self.dirty.insert(i);
        true
    }

    /// The pod's endpoint, if it has one here.
    fn endpoint(&self, uid: u64) -> Option<&Endpoint> {
        let i = *self.slot.get(&uid)?;
        self.slices[i].endpoints.get(&uid)
    }

    fn selects(&self, labels: &Labels) -> bool {
        !self.selector.is_empty() && self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// A pod as last seen, with the Services selecting its labels as of
/// `generation` (their ids, in key order, each once).
struct PodEntry {
    object: Arc<Object>,
    services: Vec<u32>,
    generation: u64,
}

/// The Services' states by id: a slot of `states`, looked up without
/// hashing a key. An id is handed out when a Service is first seen and
/// freed when its state goes; both bump the controller's generation (a
/// new Service sets its selector, a state goes only once its selector is
/// empty), so a pod's remembered ids never name another Service.
#[derive(Default)]
pub struct EndpointSliceController {
    states: Vec<Option<ServiceState>>,
    free: Vec<u32>,
    /// Service ids by key. Looked up by key only (never walked).
    ids: HashMap<ObjectKey, u32>,
    /// Services (key and id) by (namespace, one key, its value) of their
    /// selector.
    service_index: LabelIndex<BTreeMap<ObjectKey, u32>>,
    pods: HashMap<u64, PodEntry>,
    /// Bumped whenever a Service's selector (and so the index) changes: a
    /// pod's remembered Services are valid while it stays the same.
    generation: u64,
    /// Pods by (namespace, label key, value).
    pod_index: LabelIndex<BTreeSet<u64>>,
    /// Queued services (each once: see [`ServiceState::pending`]).
    queue: VecDeque<ObjectKey>,
    /// The services a pod change concerns, each with whether it selects
    /// the pod's (new) labels (reused between changes).
    affected: Vec<(u32, bool)>,
    /// The services found selecting a pod's labels, with the same flag
    /// (reused).
    found: Vec<(ObjectKey, u32, bool)>,
    busy: bool,
    /// The worker waits until its last request has left the controller's
    /// rate limiter.
    pub blocked_until: Time,
}

/// Queues a Service's sync, or folds `trigger` into its queued one.
fn enqueue(queue: &mut VecDeque<ObjectKey>, state: &mut ServiceState, trigger: Option<Time>) {
    match &mut state.pending {
        Some(t) => {
            *t = match (*t, trigger) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        None => {
            state.pending = Some(trigger);
            queue.push_back(state.key.clone());
        }
    }
}

impl EndpointSliceController {
    fn state(&self, id: u32) -> Option<&ServiceState> {
        self.states.get(id as usize).and_then(Option::as_ref)
    }

    fn state_mut(&mut self, id: u32) -> &mut ServiceState {
        self.states[id as usize]
            .as_mut()
            .expect("a live id names a state")
    }

    /// The id of the Service `key`, handing one out (with a state) if new.
    fn id_of(&mut self, key: &ObjectKey) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let state = Some(ServiceState::new(key.clone()));
        let id = match self.free.pop() {
            Some(id) => {
                self.states[id as usize] = state;
                id
            }
            None => {
                self.states.push(state);
                u32::try_from(self.states.len() - 1).expect("fewer than 2^32 services")
            }
        };
        self.ids.insert(key.clone(), id);
        id
    }

    /// The services selecting `labels`, each with whether it selects `new`
    /// (the pod's labels now; `None`: `labels` are).
    fn services_selecting(
        &self,
        namespace: &str,
        labels: &Labels,
        new: Option<&Labels>,
        out: &mut Vec<(ObjectKey, u32, bool)>,
    ) {
        for (k, v) in labels {
            if let Some(keys) = self.service_index.get(namespace, k, v) {
                for (key, &id) in keys {
                    if let Some(s) = self.state(id)
                        && s.selects(labels)
                    {
                        let selects_new = new.is_none_or(|l| s.selects(l));
                        out.push((key.clone(), id, selects_new));
                    }
                }
            }
        }
    }

    pub fn observe(&mut self, kind: EventType, obj: &Arc<Object>) {
        match &**obj {
            Object::Pod(pod) => self.observe_pod(kind, obj, pod),
            Object::Service(svc) => {
                let selector = if kind == EventType::Deleted {
                    Labels::new()
                } else {
                    svc.spec.selector.clone()
                };
                self.set_selector(obj.key(), selector, obj.meta().creation_timestamp);
            }
            _ => {}
        }
    }

    /// A Service appeared, changed or went away (empty selector): reindex it
    /// and recompute which pods it selects.
    fn set_selector(&mut self, key: ObjectKey, selector: Labels, trigger: Option<Time>) {
        let id = self.id_of(&key);
        let state = self.states[id as usize].as_mut().expect("a live id");
        if state.selector == selector && !state.slices.is_empty() {
            return;
        }
        if let Some((k, v)) = state.selector.iter().next()
            && let Some(set) = self.service_index.get_mut(key.namespace(), k, v)
        {
            set.remove(&key);
        }
        state.selector = selector;
        self.generation += 1;
        if let Some((k, v)) = state.selector.iter().next() {
            self.service_index
                .entry(key.namespace(), k, v)
                .insert(key.clone(), id);
        }
        let state = self.states[id as usize].as_mut().expect("a live id");
        // Drop the endpoints of pods no longer selected, add the new ones.
        let current: Vec<u64> = state.slot.keys().copied().collect();
        for uid in current {
            let keep = self
                .pods
                .get(&uid)
                .is_some_and(|e| state.selects(&e.object.meta().labels));
            if !keep {
                state.set(uid, None);
            }
        }
        if let Some((k, v)) = state.selector.iter().next()
            && let Some(uids) = self.pod_index.get(key.namespace(), k, v)
        {
            for uid in uids {
                if let Some(Object::Pod(p)) = self.pods.get(uid).map(|e| &*e.object)
                    && state.selects(&p.metadata.labels)
                {
                    state.set(*uid, endpoint_of(p));
                }
            }
        }
        enqueue(&mut self.queue, state, trigger);
    }

    fn observe_pod(&mut self, kind: EventType, obj: &Arc<Object>, pod: &Pod) {
        let uid = pod.metadata.uid;
        let ns = pod.metadata.namespace.as_str();
        let deleted = kind == EventType::Deleted;
        let labels = &pod.metadata.labels;
        let generation = self.generation;
        let mut affected = std::mem::take(&mut self.affected);
        affected.clear();
        // The previous version, and whether the Services it remembers are
        // still the ones selecting this version's labels.
        let (old, remembered) = match self.pods.get_mut(&uid) {
            Some(e) => {
                let remembered = e.generation == generation && e.object.meta().labels == *labels;
                if remembered {
                    affected.extend(e.services.iter().map(|&id| (id, true)));
                }
                let old = (!deleted).then(|| std::mem::replace(&mut e.object, obj.clone()));
                (old, remembered)
            }
            None => (None, false),
        };
        let old = match (deleted, old) {
            (true, _) => self.pods.remove(&uid).map(|e| e.object),
            (false, Some(o)) => Some(o),
            (false, None) => {
                self.pods.insert(
                    uid,
                    PodEntry {
                        object: obj.clone(),
                        services: Vec::new(),
                        generation: u64::MAX,
                    },
                );
                None
            }
        };
        let old_labels = old.as_ref().map(|o| &o.meta().labels);
        let labels_changed = old_labels != Some(labels);
        if labels_changed || deleted {
            if let Some(old_labels) = old_labels {
                for (k, v) in old_labels.iter() {
                    if let Some(set) = self.pod_index.get_mut(ns, k, v) {
                        set.remove(&uid);
                    }
                }
            }
            if !deleted {
                for (k, v) in labels.iter() {
                    self.pod_index.entry(ns, k, v).insert(uid);
                }
            }
        }
        if !remembered {
            let mut found = std::mem::take(&mut self.found);
            found.clear();
            if let Some(old_labels) = old_labels.filter(|_| labels_changed) {
                self.services_selecting(ns, old_labels, Some(labels), &mut found);
            }
            self.services_selecting(ns, labels, None, &mut found);
            // In key order, each once (a service found by both the old and
            // the new labels carries the same flag both times).
            found.sort_unstable();
            found.dedup();
            affected.extend(found.iter().map(|&(_, id, selects)| (id, selects)));
            self.found = found;
            if !deleted && let Some(e) = self.pods.get_mut(&uid) {
                // What selects these labels (the old labels' Services are
                // dropped below when they do not select the new ones).
                e.services.clear();
                e.services.extend(
                    affected
                        .iter()
                        .filter(|&&(_, selects)| selects)
                        .map(|&(id, _)| id),
                );
                e.generation = generation;
            }
        }
        // A trigger only when the Ready condition moved since last seen.
        let old_trigger = old.as_ref().and_then(|o| o.as_pod()).and_then(trigger_time);
        let trigger = trigger_time(pod).filter(|t| Some(*t) != old_trigger);
        if let [(id, true)] = affected[..]
            && !deleted
        {
            // One Service selects the pod (most changes): its endpoint is
            // made from, and compared with, the one there in one lookup.
            let state = self.states[id as usize]
                .as_mut()
                .expect("indexed services exist");
            if state.set_from(uid, |prev| endpoint_reusing(pod, prev)) {
                enqueue(&mut self.queue, state, trigger);
            }
            self.affected = affected;
            return;
        }
        if affected.is_empty() {
            // No Service selects the pod, or did: no endpoint to make.
            self.affected = affected;
            return;
        }
        let endpoint = if deleted {
            None
        } else {
            let prev = affected
                .iter()
                .find_map(|&(id, _)| self.state(id).and_then(|s| s.endpoint(uid)));
            endpoint_reusing(pod, prev)
        };
        for &(id, selects) in &affected {
            let state = self.states[id as usize]
                .as_mut()
                .expect("indexed services exist");
            let wanted = if selects { endpoint.clone() } else { None };
            if state.set(uid, wanted) {
                enqueue(&mut self.queue, state, trigger);
            }
        }
        self.affected = affected;
    }

    /// Starts the worker if there is work and it is idle (checked inline:
    /// after most events there is nothing to start).
    #[inline]
    pub fn kick(&mut self, cx: &mut Cx) {
        if !self.busy && !self.queue.is_empty() {
            self.start(cx);
        }
    }

    #[cold]
    fn start(&mut self, cx: &mut Cx) {
        self.busy = true;
        let delay = cx.lat.sample(Hop::EndpointsSync);
        let at = (cx.now() + delay).max(self.blocked_until);
        cx.send_at(Dest::ControllerManager, at, Msg::EndpointsWork);
    }

    /// The worker syncs the Service at the head of the queue.
    pub fn work(&mut self, client: &mut super::Client, cx: &mut Cx) {
        self.busy = false;
        if let Some(svc) = self.queue.pop_front()
            && let Some(&id) = self.ids.get(&svc)
            && let Some(trigger) = self.state_mut(id).pending.take()
        {
            self.sync(id, trigger, client, cx);
        }
        self.kick(cx);
    }

    /// Writes the Service's changed slices.
    fn sync(&mut self, id: u32, trigger: Option<Time>, client: &mut super::Client, cx: &mut Cx) {
        let state = self.state_mut(id);
        let svc = &state.key;
        for i in std::mem::take(&mut state.dirty) {
            let slice = &mut state.slices[i];
            let key = slice
                .key
                .get_or_insert_with(|| {
                    ObjectKey::new(
                        Kind::EndpointSlice,
                        svc.namespace(),
                        &format!("{}-{i}", svc.name()),
                    )
                })
                .clone();
            if slice.endpoints.is_empty() {
                if slice.written {
                    slice.written = false;
                    cx.log(
                        Dest::ControllerManager,
                        "delete",
                        Subject::from(&key),
                        "endpointslice-controller",
                    );
                    client.send(
                        0,
                        cx,
                        Verb::Delete {
                            key,
                            precondition: None,
                        },
                    );
                }
                continue;
            }
            let (labels, owner_references) = state
                .slice_meta
                .get_or_insert_with(|| {
                    let labels =
                        Labels::from([(LABEL_SERVICE_NAME.into(), svc.name().to_string())]);
                    let owner = OwnerReference {
                        api_version: "v1".into(),
                        kind: "Service".into(),
                        name: svc.name().to_string(),
                        uid: String::new(),
                        controller: Some(true),
                    };
                    (Arc::new(labels), Arc::new(vec![owner]))
                })
                .clone();
            let mut meta = ObjectMeta::created_with(
                key.name().into(),
                Default::default(),
                key.namespace().into(),
                labels,
                Default::default(),
                owner_references,
            );
            if let Some(trigger) = trigger {
                std::sync::Arc::make_mut(&mut meta.annotations)
                    .insert(ANNOTATION_TRIGGER_TIME.into(), trigger.to_string());
            }
            let endpoints: Vec<Endpoint> = slice.endpoints.values().cloned().collect();
            let ready = endpoints.iter().filter(|e| e.ready).count();
            let serving = endpoints.iter().filter(|e| e.serving).count();
            let terminating = endpoints.iter().filter(|e| e.terminating).count();
            // Written from parts: one of these rows goes with every
            // slice write.
            let [t0, t1, t2] = match trigger {
                Some(t) => [
                    Part::Text(" terminating, trigger "),
                    Part::Seconds(t),
                    Part::Text("s"),
                ],
                None => [
                    Part::Text(" terminating, trigger none"),
                    Part::Text(""),
                    Part::Text(""),
                ],
            };
            let detail = [
                Part::Text("endpointslice-controller: "),
                Part::Num(endpoints.len() as u64),
                Part::Text(" endpoints, "),
                Part::Num(ready as u64),
                Part::Text(" ready, "),
                Part::Num(serving as u64),
                Part::Text(" serving, "),
                Part::Num(terminating as u64),
                t0,
                t1,
                t2,
            ];
            let object = Object::EndpointSlice(EndpointSlice {
                metadata: meta,
                endpoints,
            });
            let verb = if slice.written {
                cx.log_parts(
                    Dest::ControllerManager,
                    "update",
                    Subject::from(&key),
                    &detail,
                );
                Verb::Update {
                    key: key.clone(),
                    object,
                    precondition: None,
                }
            } else {
                slice.written = true;
                cx.log_parts(
                    Dest::ControllerManager,
                    "create",
                    Subject::from(&key),
                    &detail,
                );
                Verb::Create(object)
            };
            client.send(0, cx, verb);
        }
        if state.selector.is_empty()
            && state.slot.is_empty()
            && state.slices.iter().all(|s| !s.written)
        {
            let svc = state.key.clone();
            self.states[id as usize] = None;
            self.ids.remove(&svc);
            self.free.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tests::object;

    fn service(name: &str, app: &str) -> Arc<Object> {
        let yaml = format!(
            "kind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {{app: {app}}}, ports: [{{port: 80}}]}}"
        );
        object(&yaml, 1000)
    }

    fn pod(name: &str, uid: u64, app: &str) -> Arc<Object> {
        let yaml = format!("kind: Pod\nmetadata: {{name: {name}, labels: {{app: {app}}}}}");
        let mut o = (*object(&yaml, uid)).clone();
        if let Object::Pod(p) = &mut o {
            p.status.pod_ip = Some(format!("10.0.0.{uid}").into());
        }
        Arc::new(o)
    }

    #[test]
    fn set_from_makes_a_pods_endpoint_from_its_current_one_as_set_would() {
        let ep = |ready: bool| Endpoint {
            target: Arc::new(EndpointTarget {
                address: "10.0.0.1".into(),
                pod_uid: 7,
                pod_name: "p".into(),
                node_name: "n".into(),
            }),
            ready,
            serving: ready,
            terminating: false,
        };
        let key = ObjectKey::new(Kind::Service, "default", "s");
        let (mut a, mut b) = (ServiceState::new(key.clone()), ServiceState::new(key));
        let mut seen = Vec::new();
        // New, unchanged, changed, removed, absent: the same answers and
        // the same endpoints and dirty slices as `set`.
        for want in [Some(ep(false)), Some(ep(false)), Some(ep(true)), None, None] {
            let w = want.clone();
            let changed = a.set_from(7, |prev| {
                seen.push(prev.cloned());
                w
            });
            assert_eq!(changed, b.set(7, want.clone()));
            assert_eq!(a.endpoint(7), want.as_ref());
            assert_eq!(a.dirty, b.dirty);
            assert_eq!(a.slot, b.slot);
            a.dirty.clear();
            b.dirty.clear();
        }
        let readiness: Vec<Option<bool>> =
            seen.iter().map(|e| e.as_ref().map(|e| e.ready)).collect();
        assert_eq!(
            readiness,
            [None, Some(false), Some(false), Some(true), None]
        );
    }

    #[test]
    fn a_label_index_looks_up_borrowed_triples_without_mixing_their_parts() {
        let mut ix: LabelIndex<Vec<u32>> = LabelIndex::default();
        ix.entry("ns", "a", "bc").push(1);
        ix.entry("ns", "ab", "c").push(2);
        ix.entry("ns", "a", "bc").push(3);
        assert_eq!(ix.get("ns", "a", "bc"), Some(&vec![1, 3]));
        assert_eq!(ix.get("ns", "ab", "c"), Some(&vec![2]));
        assert_eq!(ix.get("nsa", "", "bc"), None);
        assert_eq!(ix.values.len(), 2, "one slot a triple");
        ix.get_mut("ns", "ab", "c").unwrap().clear();
        assert_eq!(ix.get("ns", "ab", "c"), Some(&vec![]));
    }

    #[test]
    fn services_keep_their_ids_and_pods_remember_the_services_selecting_them() {
        let mut c = EndpointSliceController::default();
        let (a, b) = (service("a", "x"), service("b", "y"));
        c.observe(EventType::Added, &a);
        c.observe(EventType::Added, &b);
        let (ia, ib) = (c.ids[&a.key()], c.ids[&b.key()]);
        assert_ne!(ia, ib);
        assert_eq!(c.id_of(&a.key()), ia);
        // A pod of `x` lands in `a`'s slices and remembers `a` only.
        c.observe(EventType::Added, &pod("p", 7, "x"));
        assert!(c.state(ia).unwrap().endpoint(7).is_some());
        assert!(c.state(ib).unwrap().endpoint(7).is_none());
        assert_eq!(c.pods[&7].services, [ia]);
        // Relabelled to `y`, it moves to `b`.
        c.observe(EventType::Modified, &pod("p", 7, "y"));
        assert!(c.state(ia).unwrap().endpoint(7).is_none());
        assert!(c.state(ib).unwrap().endpoint(7).is_some());
        assert_eq!(c.pods[&7].services, [ib]);
        // Each Service is queued once, however many changes it has.
        let queued: Vec<&str> = c.queue.iter().map(|k| k.name()).collect();
        assert_eq!(queued, ["a", "b"]);
        assert_eq!(c.state(ia).unwrap().pending, Some(None));
    }
}
