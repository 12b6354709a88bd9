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
    ANNOTATION_TRIGGER_TIME, Endpoint, EndpointSlice, LABEL_SERVICE_NAME, MAX_ENDPOINTS_PER_SLICE,
};
use crate::api::{Kind, Labels, Object, ObjectKey, ObjectMeta, Pod};
use crate::engine::{Time, format_seconds};
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

/// An index by (namespace, label key, label value), looked up with borrowed
/// strings (a lookup allocates nothing; only a new entry copies its key).
struct LabelIndex<T> {
    map: HashMap<String, HashMap<String, HashMap<String, T>>>,
}

impl<T> Default for LabelIndex<T> {
    fn default() -> Self {
        LabelIndex {
            map: HashMap::default(),
        }
    }
}

impl<T: Default> LabelIndex<T> {
    fn get(&self, namespace: &str, k: &str, v: &str) -> Option<&T> {
        self.map.get(namespace)?.get(k)?.get(v)
    }

    fn get_mut(&mut self, namespace: &str, k: &str, v: &str) -> Option<&mut T> {
        self.map.get_mut(namespace)?.get_mut(k)?.get_mut(v)
    }

    fn entry(&mut self, namespace: &str, k: &str, v: &str) -> &mut T {
        fn slot<'a, U: Default>(m: &'a mut HashMap<String, U>, key: &str) -> &'a mut U {
            if !m.contains_key(key) {
                m.insert(key.to_string(), U::default());
            }
            m.get_mut(key).expect("inserted above")
        }
        slot(slot(slot(&mut self.map, namespace), k), v)
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
    let shared = |now: &str, old: Option<&Arc<str>>| match old {
        Some(old) if **old == *now => old.clone(),
        _ => Arc::from(now),
    };
    Some(Endpoint {
        address: shared(ip, prev.map(|e| &e.address)),
        pod_uid: pod.metadata.uid,
        pod_name: shared(&pod.metadata.name, prev.map(|e| &e.pod_name)),
        node_name: shared(
            pod.spec.node_name().unwrap_or(""),
            prev.map(|e| &e.node_name),
        ),
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
}

#[derive(Default)]
struct ServiceState {
    selector: Labels,
    slices: Vec<Slice>,
    /// The slice each pod's endpoint sits in.
    slot: HashMap<u64, usize>,
    dirty: BTreeSet<usize>,
}

impl ServiceState {
    /// Sets (or removes, with `None`) a pod's endpoint; whether it changed.
    fn set(&mut self, uid: u64, endpoint: Option<Endpoint>) -> bool {
        match (self.slot.get(&uid).copied(), endpoint) {
            (Some(i), Some(e)) => {
                let old = self.slices[i].endpoints.insert(uid, e);
                let changed = old.as_ref() != self.slices[i].endpoints.get(&uid);
                if changed {
                    self.dirty.insert(i);
                }
                changed
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
/// `generation` (in key order, each once).
struct PodEntry {
    object: Arc<Object>,
    services: Vec<ObjectKey>,
    generation: u64,
}

#[derive(Default)]
pub struct EndpointSliceController {
    /// Looked up by key only (never walked): a hash map.
    services: HashMap<ObjectKey, ServiceState>,
    /// Services by (namespace, one key, its value) of their selector.
    service_index: LabelIndex<BTreeSet<ObjectKey>>,
    pods: HashMap<u64, PodEntry>,
    /// Bumped whenever a Service's selector (and so the index) changes: a
    /// pod's remembered Services are valid while it stays the same.
    generation: u64,
    /// Pods by (namespace, label key, value).
    pod_index: LabelIndex<BTreeSet<u64>>,
    queue: VecDeque<ObjectKey>,
    /// Queued services and the earliest new trigger time of their pending
    /// changes (`None`: no pod's Ready condition changed).
    /// Looked up by key only (the queue keeps the order).
    pending: HashMap<ObjectKey, Option<Time>>,
    /// The services a pod change concerns (reused between changes).
    affected: Vec<ObjectKey>,
    busy: bool,
    /// The worker waits until its last request has left the controller's
    /// rate limiter.
    pub blocked_until: Time,
}

impl EndpointSliceController {
    fn enqueue(&mut self, svc: &ObjectKey, trigger: Option<Time>) {
        match self.pending.get_mut(svc) {
            Some(t) => {
                *t = match (*t, trigger) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            None => {
                self.pending.insert(svc.clone(), trigger);
                self.queue.push_back(svc.clone());
            }
        }
    }

    fn services_selecting(&self, namespace: &str, labels: &Labels, out: &mut Vec<ObjectKey>) {
        for (k, v) in labels {
            if let Some(keys) = self.service_index.get(namespace, k, v) {
                for key in keys {
                    if self.services.get(key).is_some_and(|s| s.selects(labels)) {
                        out.push(key.clone());
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
        let state = self.services.entry(key.clone()).or_default();
        if state.selector == selector && !state.slices.is_empty() {
            return;
        }
        if let Some((k, v)) = state.selector.iter().next()
            && let Some(set) = self.service_index.get_mut(&key.namespace, k, v)
        {
            set.remove(&key);
        }
        state.selector = selector;
        self.generation += 1;
        if let Some((k, v)) = state.selector.iter().next() {
            self.service_index
                .entry(&key.namespace, k, v)
                .insert(key.clone());
        }
        let state = self.services.get_mut(&key).expect("inserted above");
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
            && let Some(uids) = self.pod_index.get(&key.namespace, k, v)
        {
            for uid in uids {
                if let Some(Object::Pod(p)) = self.pods.get(uid).map(|e| &*e.object)
                    && state.selects(&p.metadata.labels)
                {
                    state.set(*uid, endpoint_of(p));
                }
            }
        }
        self.enqueue(&key, trigger);
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
                    affected.extend(e.services.iter().cloned());
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
            if let Some(old_labels) = old_labels.filter(|_| labels_changed) {
                self.services_selecting(ns, old_labels, &mut affected);
            }
            self.services_selecting(ns, labels, &mut affected);
            // In key order, each once.
            affected.sort_unstable();
            affected.dedup();
            if !deleted && let Some(e) = self.pods.get_mut(&uid) {
                // What selects these labels (the old labels' Services are
                // dropped below when they do not select the new ones).
                e.services.clear();
                e.services.extend(
                    affected
                        .iter()
                        .filter(|k| self.services.get(*k).is_some_and(|s| s.selects(labels)))
                        .cloned(),
                );
                e.generation = generation;
            }
        }
        let endpoint = if deleted {
            None
        } else {
            let prev = affected
                .iter()
                .find_map(|k| self.services.get(k).and_then(|s| s.endpoint(uid)));
            endpoint_reusing(pod, prev)
        };
        // A trigger only when the Ready condition moved since last seen.
        let old_trigger = old.as_ref().and_then(|o| o.as_pod()).and_then(trigger_time);
        let trigger = trigger_time(pod).filter(|t| Some(*t) != old_trigger);
        for key in &affected {
            let state = self.services.get_mut(key).expect("indexed services exist");
            let wanted = if remembered || state.selects(labels) {
                endpoint.clone()
            } else {
                None
            };
            if state.set(uid, wanted) {
                self.enqueue(key, trigger);
            }
        }
        self.affected = affected;
    }

    /// Starts the worker if there is work and it is idle.
    pub fn kick(&mut self, cx: &mut Cx) {
        if !self.busy && !self.queue.is_empty() {
            self.busy = true;
            let delay = cx.lat.sample(Hop::EndpointsSync);
            let at = (cx.now() + delay).max(self.blocked_until);
            cx.send_at(Dest::ControllerManager, at, Msg::EndpointsWork);
        }
    }

    /// The worker syncs the Service at the head of the queue.
    pub fn work(&mut self, client: &mut super::Client, cx: &mut Cx) {
        self.busy = false;
        if let Some(svc) = self.queue.pop_front()
            && let Some(trigger) = self.pending.remove(&svc)
        {
            self.sync(&svc, trigger, client, cx);
        }
        self.kick(cx);
    }

    /// Writes the Service's changed slices.
    fn sync(
        &mut self,
        svc: &ObjectKey,
        trigger: Option<Time>,
        client: &mut super::Client,
        cx: &mut Cx,
    ) {
        let Some(state) = self.services.get_mut(svc) else {
            return;
        };
        for i in std::mem::take(&mut state.dirty) {
            let slice = &mut state.slices[i];
            let key = ObjectKey::new(
                Kind::EndpointSlice,
                &svc.namespace,
                &format!("{}-{i}", svc.name),
            );
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
            let mut meta = ObjectMeta {
                name: key.name.clone(),
                namespace: key.namespace.clone(),
                ..Default::default()
            };
            std::sync::Arc::make_mut(&mut meta.labels)
                .insert(LABEL_SERVICE_NAME.into(), svc.name.clone());
            if let Some(trigger) = trigger {
                std::sync::Arc::make_mut(&mut meta.annotations)
                    .insert(ANNOTATION_TRIGGER_TIME.into(), trigger.to_string());
            }
            std::sync::Arc::make_mut(&mut meta.owner_references).push(OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: svc.name.clone(),
                uid: String::new(),
                controller: Some(true),
            });
            let endpoints: Vec<Endpoint> = slice.endpoints.values().cloned().collect();
            let ready = endpoints.iter().filter(|e| e.ready).count();
            let serving = endpoints.iter().filter(|e| e.serving).count();
            let terminating = endpoints.iter().filter(|e| e.terminating).count();
            let detail = format!(
                "endpointslice-controller: {} endpoints, {ready} ready, {serving} serving, \
                 {terminating} terminating, trigger {}",
                endpoints.len(),
                trigger.map_or_else(|| "none".to_string(), |t| format!("{}s", format_seconds(t)))
            );
            let object = Object::EndpointSlice(EndpointSlice {
                metadata: meta,
                endpoints,
            });
            let verb = if slice.written {
                cx.log(
                    Dest::ControllerManager,
                    "update",
                    Subject::from(&key),
                    &detail,
                );
                Verb::Update {
                    object,
                    precondition: None,
                }
            } else {
                slice.written = true;
                cx.log(
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
            self.services.remove(svc);
        }
    }
}
