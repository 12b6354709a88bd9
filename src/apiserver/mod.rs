//! kube-apiserver: the hub. It defaults and validates requests, turns them
//! into etcd transactions, keeps a watch cache of every object (from which
//! lists are served), and fans each committed change out to the watches it
//! concerns.
//!
//! Simplified: upstream's watch cache also keeps, per resource, a ring of
//! recent changes from which a broken watch resumes (or gets 410 Gone and
//! re-lists). Watches never break in the model (no watch timeouts,
//! apiserver restarts or lost connections) and each list-and-watch is one
//! request, so no watch resumes and the ring would hold every change's
//! objects for up to 75 s for no reader; it is not kept.

pub mod admission;
pub mod watch;

use crate::api::keyed::LazyKeyedMap;
use std::sync::Arc;

use crate::api::pod::PodConditionType;
use crate::api::{Kind, Object, ObjectKey};
use crate::engine::Time;
use crate::etcd::{Change, EventType};
use crate::output::{Part, Recorder, Subject};
use crate::sim::msg::{ApiError, FieldSelector, Response, TxnDone, TxnResult, WatchSpec};
use crate::sim::{Cx, Dest, Hop, Msg, Request, Verb, component_name};

use watch::Registry;

pub struct ApiServer {
    registry: Registry,
    cache: LazyKeyedMap<Arc<Object>>,
    revision: u64,
    next_uid: u64,
    scratch: Vec<u32>,
    /// The pod spec of the last pod that passed validation: the next pods
    /// of a ReplicaSet batch share it and skip checking it again.
    valid_spec: Option<Arc<crate::api::pod::PodSpec>>,
    /// The last pod spec that admission had to copy for its defaults, as
    /// it came (after the Priority plugin) and as it was stored (defaulted
    /// and valid): a create with an equal spec (a benchmark's pods, each
    /// with its own copy) gets the stored one, neither copied again for
    /// its defaults nor checked again.
    admitted_spec: Option<AdmittedSpec>,
    /// When the last transaction sent to etcd reaches it.
    last_txn_at: Time,
    /// False while the cluster boots and the kube-apiserver static pod is
    /// not yet serving: requests get 503.
    pub serving: bool,
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiServer {
    pub fn new() -> Self {
        ApiServer {
            registry: Registry::default(),
            cache: LazyKeyedMap::new(),
            revision: 0,
            next_uid: 1,
            scratch: Vec::new(),
            valid_spec: None,
            admitted_spec: None,
            last_txn_at: 0,
            serving: true,
        }
    }

    /// Fills the watch cache from what etcd held before the run started (an
    /// already booted cluster's nodes).
    pub fn bootstrap<'a>(&mut self, objects: impl Iterator<Item = &'a Arc<Object>>, revision: u64) {
        for o in objects {
            self.next_uid = self.next_uid.max(o.meta().uid + 1);
            self.cache.set(&o.key(), o.clone());
        }
        self.revision = revision;
    }

    /// A fresh uid for an object created outside a request (bootstrap).
    pub fn allocate_uid(&mut self) -> u64 {
        let uid = self.next_uid;
        self.next_uid += 1;
        uid
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::ComponentUp => {
                self.serving = true;
                cx.log(
                    Dest::ApiServer,
                    "serving",
                    Subject::NONE,
                    "kube-apiserver is up",
                );
            }
            Msg::Request(req) if !self.serving => {
                let err = ApiError {
                    code: 503,
                    reason: "ServiceUnavailable",
                    message: "the server is currently unable to handle the request \
                              (kube-apiserver not started yet)"
                        .into(),
                };
                Self::reject(cx, *req, err);
            }
            Msg::Request(req) => self.on_request(req, cx),
            Msg::TxnDone(done) => self.on_commit(*done, cx),
            _ => {}
        }
    }

    fn respond(
        cx: &mut Cx,
        to: Dest,
        tag: u64,
        verb: &'static str,
        key: ObjectKey,
        result: Result<Arc<Object>, ApiError>,
    ) {
        cx.send(
            to,
            0,
            Msg::Response(Box::new(Response {
                tag,
                verb,
                key,
                result,
            })),
        );
    }

    /// The Priority admission plugin: a pod's `priorityClassName` (or the
    /// global default class) becomes its `spec.priority`. The spec (shared
    /// with the pod's template) is copied only when this changes it.
    fn resolve_priority(
        &mut self,
        spec: &mut std::sync::Arc<crate::api::pod::PodSpec>,
    ) -> Result<(), String> {
        use crate::api::priority::SYSTEM_CLASSES;
        fn classes(
            cache: &mut LazyKeyedMap<Arc<Object>>,
        ) -> impl Iterator<Item = &crate::api::priority::PriorityClass> {
            cache
                .of_kind(Kind::PriorityClass)
                .filter_map(|(_, o)| match &**o {
                    Object::PriorityClass(pc) => Some(pc),
                    _ => None,
                })
        }
        let requested = spec
            .priority_class_name
            .as_deref()
            .filter(|n| !n.is_empty());
        let (name, value, policy) = match requested {
            Some(name) => {
                let (value, policy) = SYSTEM_CLASSES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v, None))
                    .or_else(|| {
                        classes(&mut self.cache)
                            .find(|pc| pc.metadata.name == name)
                            .map(|pc| (pc.value, pc.preemption_policy.clone()))
                    })
                    .ok_or_else(|| format!("no PriorityClass with name {name} was found"))?;
                (name.to_string(), value, policy)
            }
            None => match classes(&mut self.cache)
                .filter(|pc| pc.global_default)
                .max_by_key(|pc| pc.value)
            {
                Some(pc) => (
                    pc.metadata.name.to_string(),
                    pc.value,
                    pc.preemption_policy.clone(),
                ),
                None => return Ok(()),
            },
        };
        if let Some(p) = spec.priority
            && p != value
        {
            return Err(format!(
                "the integer value of priority ({p}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            ));
        }
        let unchanged = spec.priority == Some(value)
            && spec.priority_class_name.as_deref() == Some(name.as_str())
            && (spec.preemption_policy.is_some() || policy.is_none());
        if unchanged {
            return Ok(());
        }
        let spec = std::sync::Arc::make_mut(spec);
        spec.priority = Some(value);
        spec.priority_class_name = Some(name);
        if spec.preemption_policy.is_none() {
            spec.preemption_policy = policy;
        }
        Ok(())
    }

    /// The DefaultStorageClass admission plugin: a claim created without
    /// a class (neither `storageClassName`, not even `""`, nor the beta
    /// annotation) gets the default class, if there is one.
    fn default_storage_class(&mut self, claim: &mut crate::api::volume::PersistentVolumeClaim) {
        if claim.has_class() {
            return;
        }
        let classes = self.cache.of_kind(Kind::StorageClass).map(|(_, o)| &**o);
        if let Some(c) = crate::controllers::persistentvolume::default_class(classes) {
            claim.spec.storage_class_name = Some(c.metadata.name.to_string());
        }
    }

    fn reject(cx: &mut Cx, req: Request, err: ApiError) {
        let key = req.verb.key();
        cx.rec.counters.api_rejected += 1;
        let detail = format!("{} {}: {}", err.code, err.reason, err.message);
        cx.log(Dest::ApiServer, "reject", Subject::from(&key), &detail);
        Self::respond(cx, req.from, req.tag, req.verb.name(), key, Err(err));
    }

    /// Admits a request and passes it on to etcd in its own box.
    fn on_request(&mut self, mut req: Box<Request>, cx: &mut Cx) {
        cx.rec.counters.api_requests += 1;
        let from = component_name(req.from);
        if let Verb::Watch(spec) = req.verb {
            let (action, what) = if spec.list_only {
                ("list", "list")
            } else {
                ("watch", "list+watch")
            };
            let detail = format!("{what} {} from {from}", describe_watch(&spec));
            let key = ObjectKey::new(spec.kind, spec.namespace.as_deref().unwrap_or(""), "");
            cx.log(Dest::ApiServer, action, Subject::from(&key), &detail);
            self.open_watch(req.from, spec, cx);
            return;
        }
        let now = cx.now();
        let mut etcd_hop = Hop::EtcdWrite;
        match &mut req.verb {
            Verb::Create(obj) => {
                if let Object::Pod(pod) = obj
                    && let Err(message) = self.resolve_priority(&mut pod.spec)
                {
                    let err = ApiError {
                        code: 403,
                        reason: "Forbidden",
                        message: format!("pods \"{}\" is forbidden: {message}", pod.metadata.name),
                    };
                    return Self::reject(cx, *req, err);
                }
                // A spec that lacks defaults and is shared with its sender
                // (so that defaulting copies it): the stored copy of an
                // equal one, or else the spec as it came, kept (a pointer)
                // until it is admitted.
                let raw = match obj {
                    Object::Pod(pod)
                        if Arc::strong_count(&pod.spec) > 1
                            && !admission::is_defaulted(&pod.spec) =>
                    {
                        match &self.admitted_spec {
                            Some(a) if a.reuse(&mut pod.spec) => None,
                            _ => Some(pod.spec.clone()),
                        }
                    }
                    _ => None,
                };
                admission::default_object(obj);
                if let Object::PersistentVolumeClaim(c) = obj {
                    self.default_storage_class(c);
                }
                let meta = obj.meta_mut();
                if meta.name.is_empty() {
                    let prefix = name_prefix(&meta.generate_name);
                    let mut name = String::with_capacity(prefix.len() + SUFFIX_LEN);
                    name.push_str(prefix);
                    push_name_suffix(&mut name, self.next_uid);
                    meta.name = name.into();
                }
                admission::label_namespace(obj);
                let meta = obj.meta_mut();
                meta.uid = self.next_uid;
                self.next_uid += 1;
                meta.creation_timestamp = Some(now);
                meta.generation = 1;
                meta.resource_version = 0;
                let errs = admission::validate_with(obj, self.valid_spec.as_ref());
                if !errs.is_empty() {
                    let err = ApiError::invalid(&obj.key(), &errs);
                    return Self::reject(cx, *req, err);
                }
                if let Object::Pod(p) = obj {
                    // Upstream's pod strategy: a gated pod is created
                    // PodScheduled=False, reason SchedulingGated.
                    if !p.spec.scheduling_gates.is_empty() {
                        p.status.set_condition(
                            PodConditionType::PodScheduled,
                            false,
                            now,
                            "SchedulingGated",
                        );
                    }
                    self.valid_spec = Some(p.spec.clone());
                    if let Some(raw) = raw {
                        self.admitted_spec = Some(AdmittedSpec {
                            raw,
                            stored: p.spec.clone(),
                        });
                    }
                }
            }
            Verb::Update { key, object, .. } => {
                debug_assert!(*key == object.key(), "an update's key is its object's");
                admission::default_for_update(object);
                admission::label_namespace(object);
                let errs = admission::validate(object);
                if !errs.is_empty() {
                    let err = ApiError::invalid(&object.key(), &errs);
                    return Self::reject(cx, *req, err);
                }
            }
            Verb::Get(_) => etcd_hop = Hop::EtcdRead,
            _ => {}
        }
        // The subject from the object itself when it reads the same as its
        // key (a cluster-scoped object's key has no namespace).
        let key;
        let subject = match &req.verb {
            Verb::Create(o) | Verb::Update { object: o, .. }
                if o.kind().namespaced() || o.meta().namespace.is_empty() =>
            {
                Subject::from(o)
            }
            verb => {
                key = verb.key();
                Subject::from(&key)
            }
        };
        let action = req.verb.name();
        let me = component_name(Dest::ApiServer);
        // The detail from its parts: no formatting machinery per request.
        let rec = &mut *cx.rec;
        match &req.verb {
            Verb::Bind { node, .. } => rec.event_parts(
                now,
                me,
                action,
                subject,
                "",
                &[
                    Part::Text("from "),
                    Part::Text(from),
                    Part::Text(" node="),
                    Part::Text(node),
                ],
            ),
            Verb::UpdatePodStatus { .. } | Verb::UpdateStorageStatus { .. } => {
                use crate::api::volume::StorageStatus;
                let (phase, ready) = match &req.verb {
                    Verb::UpdatePodStatus { status, .. } => (
                        status.phase.as_str(),
                        if status.is_ready() { " ready" } else { "" },
                    ),
                    Verb::UpdateStorageStatus {
                        status: StorageStatus::Volume(s),
                        ..
                    } => (s.phase.as_str(), ""),
                    Verb::UpdateStorageStatus {
                        status: StorageStatus::Claim(s),
                        ..
                    } => (s.phase.as_str(), ""),
                    _ => unreachable!("a status write"),
                };
                rec.event_parts(
                    now,
                    me,
                    action,
                    subject,
                    "",
                    &[
                        Part::Text("from "),
                        Part::Text(from),
                        Part::Text(" phase="),
                        Part::Text(phase),
                        Part::Text(ready),
                    ],
                )
            }
            _ => rec.event_parts(
                now,
                me,
                action,
                subject,
                "",
                &[Part::Text("from "), Part::Text(from)],
            ),
        }
        // etcd applies proposals in the order its leader receives them (the
        // raft log): a transaction never commits before an earlier one.
        let at = (cx.now() + cx.lat.sample(etcd_hop)).max(self.last_txn_at);
        self.last_txn_at = at;
        cx.send_at(Dest::Etcd, at, Msg::Txn(req));
    }

    /// Opens a list-and-watch: the objects it selects now, then every
    /// change after this revision.
    fn open_watch(&mut self, owner: Dest, spec: WatchSpec, cx: &mut Cx) {
        let now = cx.now();
        let watch_tag = spec.tag;
        let objects = self
            .cache
            .of_kind(spec.kind)
            .filter(|(_, o)| watch::selects(&spec, o))
            .map(|(_, o)| o.clone())
            .collect();
        let at = if spec.list_only {
            // No watch to keep: the list's delivery delay alone.
            now + cx.lat.sample(Hop::WatchDelivery)
        } else {
            let id = self.registry.add(owner, spec, now);
            self.next_delivery(id, cx)
        };
        cx.rec.counters.watch_events += 1;
        cx.send_at(
            owner,
            at,
            Msg::WatchList {
                tag: watch_tag,
                revision: self.revision,
                objects: Box::new(objects),
            },
        );
    }

    /// The arrival time of the next event on watch `id`: a sampled delivery
    /// delay, never before the previous event of the same watch.
    fn next_delivery(&mut self, id: u32, cx: &mut Cx) -> Time {
        let w = &mut self.registry.watchers[id as usize];
        let at = (cx.now() + cx.lat.sample(Hop::WatchDelivery)).max(w.last_delivery);
        w.last_delivery = at;
        at
    }

    fn deliver(&mut self, id: u32, kind: EventType, change: Arc<Change>, cx: &mut Cx) {
        let at = self.next_delivery(id, cx);
        let w = &self.registry.watchers[id as usize];
        cx.rec.counters.watch_events += 1;
        cx.send_at(
            w.owner,
            at,
            Msg::WatchEvent {
                tag: w.spec.tag,
                kind,
                change,
            },
        );
    }

    fn on_commit(&mut self, done: TxnDone, cx: &mut Cx) {
        let TxnDone {
            from,
            tag,
            verb,
            key,
            result,
        } = done;
        match result {
            TxnResult::Read(obj) | TxnResult::Unchanged(obj) => {
                Self::respond(cx, from, tag, verb, key, Ok(obj))
            }
            TxnResult::Failed(e) => {
                let err = ApiError::from_etcd(&e);
                match err.code {
                    409 => cx.rec.counters.api_conflicts += 1,
                    // The update rules, checked against the stored object.
                    422 => cx.rec.counters.api_rejected += 1,
                    _ => {}
                }
                let detail = format!("{} {}: {}", err.code, err.reason, err.message);
                cx.log(Dest::ApiServer, "error", Subject::from(&key), &detail);
                Self::respond(cx, from, tag, verb, key, Err(err));
            }
            TxnResult::Written(change) => {
                self.revision = change.revision;
                if key.kind == Kind::Node && change.kind == EventType::Added {
                    cx.rec.node_registered(cx.now());
                }
                if change.kind == EventType::Deleted {
                    self.cache.remove(&key);
                } else {
                    self.cache.set(&key, change.object.clone());
                }
                if key.kind == Kind::Pod {
                    record_pod(&change, cx.rec, cx.now());
                }
                let mut candidates = std::mem::take(&mut self.scratch);
                self.registry.candidates(&change, &mut candidates);
                for &id in &candidates {
                    if let Some(kind) = self.registry.watchers[id as usize].event_for(&change) {
                        self.deliver(id, kind, change.clone(), cx);
                    }
                }
                self.scratch = candidates;
                Self::respond(cx, from, tag, verb, key, Ok(change.object.clone()));
            }
        }
    }
}

/// A pod spec as a create brought it and as the apiserver stored it.
struct AdmittedSpec {
    raw: Arc<crate::api::pod::PodSpec>,
    stored: Arc<crate::api::pod::PodSpec>,
}

impl AdmittedSpec {
    /// Replaces `spec` by the stored spec when it equals the raw one (the
    /// same defaults would be added to it, and it would pass the same
    /// checks); returns whether it did.
    fn reuse(&self, spec: &mut Arc<crate::api::pod::PodSpec>) -> bool {
        let same = Arc::ptr_eq(&self.raw, spec) || *self.raw == **spec;
        if same {
            *spec = self.stored.clone();
        }
        same
    }
}

fn describe_watch(spec: &WatchSpec) -> String {
    let mut s = spec.kind.as_str().to_string();
    if let Some(ns) = &spec.namespace {
        s.push_str(&format!(" namespace={ns}"));
    }
    match &spec.field {
        FieldSelector::Everything => {}
        FieldSelector::NodeName(n) => s.push_str(&format!(" spec.nodeName={n}")),
        FieldSelector::Unassigned => s.push_str(" spec.nodeName="),
    }
    s
}

/// The length of [`push_name_suffix`]'s suffix.
const SUFFIX_LEN: usize = 5;

/// The part of a `generateName` a generated name keeps: upstream's
/// `SimpleNameGenerator` cuts it to 58 characters (63, a label's limit,
/// less the suffix's 5).
pub fn name_prefix(generate_name: &str) -> &str {
    const MAX: usize = 63 - SUFFIX_LEN;
    match generate_name.char_indices().nth(MAX) {
        Some((at, _)) => &generate_name[..at],
        None => generate_name,
    }
}

/// Appends a deterministic 5-character suffix for `generateName`, from the
/// uid.
fn push_name_suffix(name: &mut String, uid: u64) {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = uid.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for _ in 0..SUFFIX_LEN {
        name.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
        x /= ALPHABET.len() as u64;
    }
}

/// Keeps the pod records up to date from committed changes: this is where
/// creation, binding, phase and readiness become observable.
fn record_pod(change: &Change, rec: &mut Recorder, now: Time) {
    let Some(pod) = change.object.as_pod() else {
        return;
    };
    let uid = pod.metadata.uid;
    let prev = change.prev.as_deref().and_then(Object::as_pod);
    match change.kind {
        EventType::Added => {
            let r = rec.pod(uid);
            r.namespace = pod.metadata.namespace.clone();
            r.name = pod.metadata.name.clone();
            r.owner = pod.metadata.controller_owner().unwrap_or_default();
            r.created = pod.metadata.creation_timestamp;
            r.phase = pod.status.phase;
            if let Some(node) = pod.spec.node_name() {
                // Created already bound (spec.nodeName set by the user).
                r.node = node.to_string();
                r.bound = Some(now);
                rec.node_pod(now, node, &pod.spec, 1);
            }
        }
        EventType::Modified => {
            let Some(prev) = prev else { return };
            let node = pod.spec.node_name();
            let newly_bound = prev.spec.node_name().is_none() && node.is_some();
            let phase = pod.status.phase;
            let ready = pod.status.is_ready();
            let r = rec.pod(uid);
            if newly_bound {
                r.node = node.unwrap_or_default().to_string();
                r.bound = Some(now);
            }
            r.phase = phase;
            let terminating = pod.metadata.deletion_timestamp.is_some() && r.deleted.is_none();
            if phase == crate::api::PodPhase::Running && r.started.is_none() {
                r.started = Some(now);
            }
            if ready && r.ready.is_none() {
                r.ready = Some(now);
            }
            if terminating {
                // A graceful delete was accepted: the pod is terminating.
                rec.pod_deleted(uid, now);
            }
            if let Some(node) = node {
                if newly_bound && !phase.is_terminal() {
                    rec.node_pod(now, node, &pod.spec, 1);
                } else if phase.is_terminal() && !prev.status.phase.is_terminal() && !newly_bound {
                    rec.node_pod(now, node, &pod.spec, -1);
                }
            }
        }
        EventType::Deleted => {
            rec.pod_deleted(uid, now);
            let was = prev.unwrap_or(pod);
            if let Some(node) = was.spec.node_name()
                && !was.status.phase.is_terminal()
            {
                rec.node_pod(now, node, &was.spec, -1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_name_keeps_58_characters_of_its_prefix() {
        let long = "a".repeat(70);
        assert_eq!(name_prefix(&long).len(), 58);
        assert_eq!(name_prefix("web-"), "web-");
    }
    use crate::api::pod::PodSpec;

    fn spec(yaml: &str) -> Arc<PodSpec> {
        Arc::new(serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn an_equal_spec_gets_the_admitted_one() {
        let raw = spec("containers:\n- {name: a, image: x, resources: {requests: {cpu: 100m}}}");
        let mut stored = (*raw).clone();
        stored.termination_grace_period_seconds = Some(30);
        let admitted = AdmittedSpec {
            raw: raw.clone(),
            stored: Arc::new(stored),
        };
        // Equal by value, another copy: replaced by the stored spec.
        let mut same =
            spec("containers:\n- {name: a, image: x, resources: {requests: {cpu: 0.1}}}");
        assert!(admitted.reuse(&mut same));
        assert!(Arc::ptr_eq(&same, &admitted.stored));
        // Any difference keeps the spec as it came.
        let mut other =
            spec("containers:\n- {name: a, image: x, resources: {requests: {cpu: 200m}}}");
        let before = other.clone();
        assert!(!admitted.reuse(&mut other));
        assert!(Arc::ptr_eq(&other, &before));
        let mut with_grace = spec(
            "containers:\n- {name: a, image: x, resources: {requests: {cpu: 100m}}}\nterminationGracePeriodSeconds: 30",
        );
        assert!(!admitted.reuse(&mut with_grace));
    }
}
