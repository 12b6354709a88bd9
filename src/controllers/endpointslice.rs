//! The EndpointSlice controller: for every Service with a selector, the
//! endpoints of the pods it selects that have an IP and are not terminal,
//! at most 100 per slice, written through the apiserver with the trigger
//! time of the pod change that caused the write.
//!
//! Simplified: slices are named `<service>-<n>` and rewritten in order
//! rather than packed incrementally; one worker (upstream runs 5).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
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

type LabelKey = (String, String, String);

pub struct EndpointSliceController {
    services: BTreeMap<ObjectKey, Labels>,
    /// Services by (namespace, one key, its value) of their selector.
    service_index: HashMap<LabelKey, BTreeSet<ObjectKey>>,
    pods: HashMap<u64, Arc<Object>>,
    /// Pods by (namespace, label key, value): (name, uid).
    pod_index: HashMap<LabelKey, BTreeSet<(String, u64)>>,
    queue: VecDeque<ObjectKey>,
    /// Queued services and the earliest trigger time of their pending changes.
    dirty: BTreeMap<ObjectKey, Time>,
    busy: bool,
    /// The slices last written per Service.
    written: BTreeMap<ObjectKey, Vec<Vec<Endpoint>>>,
}

fn index_key(namespace: &str, k: &str, v: &str) -> LabelKey {
    (namespace.to_string(), k.to_string(), v.to_string())
}

/// The time a pod change counts from: its Ready transition, else creation.
fn trigger_time(pod: &Pod) -> Time {
    pod.status
        .condition(PodConditionType::Ready)
        .map(|c| c.last_transition)
        .or(pod.metadata.creation_timestamp)
        .unwrap_or(0)
}

/// What of a pod the endpoints depend on.
fn endpoint_view(pod: &Pod) -> (Option<&String>, bool, bool, Option<&str>, bool) {
    (
        pod.status.pod_ip.as_ref(),
        pod.status.is_ready(),
        pod.status.phase.is_terminal(),
        pod.spec.node_name(),
        pod.metadata.deletion_timestamp.is_some(),
    )
}

impl Default for EndpointSliceController {
    fn default() -> Self {
        EndpointSliceController {
            services: BTreeMap::new(),
            service_index: HashMap::new(),
            pods: HashMap::new(),
            pod_index: HashMap::new(),
            queue: VecDeque::new(),
            dirty: BTreeMap::new(),
            busy: false,
            written: BTreeMap::new(),
        }
    }
}

impl EndpointSliceController {
    fn enqueue(&mut self, svc: &ObjectKey, trigger: Time) {
        match self.dirty.get_mut(svc) {
            Some(t) => *t = (*t).min(trigger),
            None => {
                self.dirty.insert(svc.clone(), trigger);
                self.queue.push_back(svc.clone());
            }
        }
    }

    fn services_selecting(&self, namespace: &str, labels: &Labels, out: &mut BTreeSet<ObjectKey>) {
        for (k, v) in labels {
            if let Some(keys) = self.service_index.get(&index_key(namespace, k, v)) {
                for key in keys {
                    if self.services.get(key).is_some_and(|sel| {
                        sel.iter().all(|(sk, sv)| labels.get(sk) == Some(sv))
                    }) {
                        out.insert(key.clone());
                    }
                }
            }
        }
    }

    pub fn observe(&mut self, kind: EventType, obj: &Arc<Object>) {
        match &**obj {
            Object::Pod(pod) => self.observe_pod(kind, obj, pod),
            Object::Service(svc) => {
                let key = obj.key();
                if let Some(old) = self.services.remove(&key)
                    && let Some((k, v)) = old.iter().next()
                    && let Some(set) = self.service_index.get_mut(&index_key(&key.namespace, k, v))
                {
                    set.remove(&key);
                }
                let trigger = obj.meta().creation_timestamp.unwrap_or(0);
                if kind != EventType::Deleted && !svc.spec.selector.is_empty() {
                    let (k, v) = svc.spec.selector.iter().next().expect("non-empty");
                    self.service_index
                        .entry(index_key(&key.namespace, k, v))
                        .or_default()
                        .insert(key.clone());
                    self.services.insert(key.clone(), svc.spec.selector.clone());
                }
                self.enqueue(&key, trigger);
            }
            _ => {}
        }
    }

    fn observe_pod(&mut self, kind: EventType, obj: &Arc<Object>, pod: &Pod) {
        let uid = pod.metadata.uid;
        let ns = &pod.metadata.namespace;
        let old = if kind == EventType::Deleted {
            self.pods.remove(&uid)
        } else {
            self.pods.insert(uid, obj.clone())
        };
        let old_pod = old.as_deref().and_then(Object::as_pod);
        let changed = match old_pod {
            None => true,
            Some(o) => {
                kind == EventType::Deleted
                    || o.metadata.labels != pod.metadata.labels
                    || endpoint_view(o) != endpoint_view(pod)
            }
        };
        if !changed {
            return;
        }
        if let Some(o) = old_pod {
            for (k, v) in &o.metadata.labels {
                if let Some(set) = self.pod_index.get_mut(&index_key(ns, k, v)) {
                    set.remove(&(o.metadata.name.clone(), uid));
                }
            }
        }
        if kind != EventType::Deleted {
            for (k, v) in &pod.metadata.labels {
                self.pod_index
                    .entry(index_key(ns, k, v))
                    .or_default()
                    .insert((pod.metadata.name.clone(), uid));
            }
        }
        let mut affected = BTreeSet::new();
        if let Some(o) = old_pod {
            self.services_selecting(ns, &o.metadata.labels, &mut affected);
        }
        self.services_selecting(ns, &pod.metadata.labels, &mut affected);
        let trigger = trigger_time(pod);
        for svc in affected {
            self.enqueue(&svc, trigger);
        }
    }

    /// Starts the worker if there is work and it is idle.
    pub fn kick(&mut self, cx: &mut Cx) {
        if !self.busy && !self.queue.is_empty() {
            self.busy = true;
            let delay = cx.lat.sample(Hop::EndpointsSync);
            cx.send(Dest::ControllerManager, delay, Msg::EndpointsWork);
        }
    }

    /// The worker syncs the Service at the head of the queue.
    pub fn work(&mut self, cx: &mut Cx) {
        self.busy = false;
        if let Some(svc) = self.queue.pop_front()
            && let Some(trigger) = self.dirty.remove(&svc)
        {
            self.sync(&svc, trigger, cx);
        }
        self.kick(cx);
    }

    fn desired(&self, svc: &ObjectKey, selector: &Labels) -> Vec<Endpoint> {
        let Some((k, v)) = selector.iter().next() else {
            return Vec::new();
        };
        let Some(candidates) = self.pod_index.get(&index_key(&svc.namespace, k, v)) else {
            return Vec::new();
        };
        candidates
            .iter()
            .filter_map(|(_, uid)| self.pods.get(uid))
            .filter_map(|o| o.as_pod())
            .filter(|p| selector.iter().all(|(k, v)| p.metadata.labels.get(k) == Some(v)))
            .filter(|p| !p.status.phase.is_terminal())
            .filter_map(|p| {
                let ip = p.status.pod_ip.clone()?;
                let terminating = p.metadata.deletion_timestamp.is_some();
                let serving = p.status.is_ready();
                Some(Endpoint {
                    address: ip,
                    pod_uid: p.metadata.uid,
                    pod_name: p.metadata.name.clone(),
                    node_name: p.spec.node_name().unwrap_or("").to_string(),
                    ready: serving && !terminating,
                    serving,
                    terminating,
                })
            })
            .collect()
    }

    fn sync(&mut self, svc: &ObjectKey, trigger: Time, cx: &mut Cx) {
        let desired: Vec<Vec<Endpoint>> = match self.services.get(svc) {
            Some(sel) => self
                .desired(svc, sel)
                .chunks(MAX_ENDPOINTS_PER_SLICE)
                .map(<[Endpoint]>::to_vec)
                .collect(),
            None => Vec::new(),
        };
        let before = self.written.remove(svc).unwrap_or_default();
        let slice_key = |i: usize| ObjectKey::new(Kind::EndpointSlice, &svc.namespace, &format!("{}-{i}", svc.name));
        for (i, endpoints) in desired.iter().enumerate() {
            if before.get(i) == Some(endpoints) {
                continue;
            }
            let key = slice_key(i);
            let mut meta = ObjectMeta {
                name: key.name.clone(),
                namespace: key.namespace.clone(),
                ..Default::default()
            };
            meta.labels.insert(LABEL_SERVICE_NAME.into(), svc.name.clone());
            meta.annotations
                .insert(ANNOTATION_TRIGGER_TIME.into(), trigger.to_string());
            meta.owner_references.push(OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: svc.name.clone(),
                uid: String::new(),
                controller: Some(true),
            });
            let object = Object::EndpointSlice(EndpointSlice {
                metadata: meta,
                endpoints: endpoints.clone(),
            });
            let ready = endpoints.iter().filter(|e| e.ready).count();
            let detail = format!(
                "endpointslice-controller: {} endpoints, {ready} ready, trigger {}s",
                endpoints.len(),
                format_seconds(trigger)
            );
            let verb = if i < before.len() {
                cx.log(Dest::ControllerManager, "update", Subject::from(&key), &detail);
                Verb::Update {
                    object,
                    precondition: None,
                }
            } else {
                cx.log(Dest::ControllerManager, "create", Subject::from(&key), &detail);
                Verb::Create(object)
            };
            cx.api(Dest::ControllerManager, 0, verb);
        }
        for i in desired.len()..before.len() {
            let key = slice_key(i);
            cx.log(Dest::ControllerManager, "delete", Subject::from(&key), "endpointslice-controller");
            cx.api(
                Dest::ControllerManager,
                0,
                Verb::Delete {
                    key,
                    precondition: None,
                },
            );
        }
        if !desired.is_empty() {
            self.written.insert(svc.clone(), desired);
        }
    }
}
