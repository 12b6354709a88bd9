//! The StatefulSet controller (upstream
//! `pkg/controller/statefulset/stateful_set_control.go`): pods named
//! `<set>-<ordinal>` for ordinals start..start+replicas-1 (`start` is
//! `spec.ordinals.start`, 0 by default). With OrderedReady (the default)
//! it creates the lowest missing ordinal only when every lower one is
//! Running and Ready, and deletes the pods of ordinals out of that range
//! from the highest down, one at a time, only while all are healthy;
//! Parallel creates and deletes without waiting. A rolling update deletes
//! pods whose `controller-revision-hash` is not the template's, from the
//! highest ordinal down to replica `partition` (ordinal start +
//! partition, as upstream counts it), one at a time, each replaced and
//! healthy before the next.
//!
//! Each replica gets a claim per `volumeClaimTemplates` entry, named
//! `<template>-<set>-<ordinal>` and labelled with the template's labels
//! and the set's `matchLabels`; a missing claim is created before its pod,
//! which is created once the claim is seen (upstream creates the pod when
//! the claim's create returns), with a volume named after the template
//! reading it. Claims are kept when pods go (upstream's default retention,
//! Retain and Retain).
//!
//! Simplified: the revision is the template hash (no ControllerRevision
//! objects); `maxUnavailable` and `persistentVolumeClaimRetentionPolicy`
//! are not modelled.

use crate::fasthash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::api::pod::PodPhase;
use crate::api::volume::{ClaimSource, PersistentVolumeClaim, PodVolume, VolumeSources};
use crate::api::workloads::Workload;
use crate::api::{Kind, Object, ObjectKey, Pod};
use crate::etcd::EventType;
use crate::output::{RolloutRecord, Subject};
use crate::sim::Verb;
use crate::sim::msg::Response;

use super::daemon::REVISION_LABEL;
use super::deployment::pod_template_hash;
use super::podutil::{self, is_available};
use super::{Cache, Client, STATEFULSET, WorkQueue, log};

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub(super) const NAME: &str = "statefulset-controller";

fn as_workload(o: &Object) -> Option<&Workload> {
    match o {
        Object::Workload(_, w) => Some(w),
        _ => None,
    }
}

/// The claim of template `template` for replica `ordinal` of set `set`.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// The ordinal of a pod named `<set>-<ordinal>`.
pub fn ordinal(set: &str, pod: &str) -> Option<i32> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn healthy(p: &Pod) -> bool {
    p.status.phase == PodPhase::Running
        && p.status.is_ready()
        && p.metadata.deletion_timestamp.is_none()
}

#[derive(Default)]
pub struct StatefulSetController {
    pub queue: WorkQueue,
    /// Pods created or deleted and not yet observed: (set, pod name).
    in_flight: BTreeSet<(ObjectKey, String)>,
    /// Claims created and not yet observed: (set, claim name).
    claims_in_flight: BTreeSet<(ObjectKey, String)>,
    /// The set of each pod create or delete not yet answered, by tag.
    pending: HashMap<u64, ObjectKey>,
    /// Set uid -> (revision number, template hash) of its rollout.
    revisions: BTreeMap<u64, (i64, String)>,
}

impl StatefulSetController {
    /// Sends a request of set `key`'s sync, counting it until answered.
    fn send(
        &mut self,
        key: &ObjectKey,
        client: &mut Client,
        cx: &mut crate::sim::Cx,
        verb: Verb,
        lingering: bool,
    ) -> u64 {
        self.queue.await_answer(key);
        client.send_as(STATEFULSET, cx, verb, lingering)
    }

    pub fn observe_pod(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        old: Option<&Object>,
        owner: Option<&ObjectKey>,
    ) {
        let Some(owner) = owner else {
            return;
        };
        if owner.kind != Kind::StatefulSet {
            return;
        }
        let owner = owner.clone();
        if kind == EventType::Deleted || old.is_none() {
            self.in_flight
                .remove(&(owner.clone(), obj.meta().name.to_string()));
        }
        self.queue.add(owner);
    }

    /// A claim was seen: the set whose create of it was in flight syncs
    /// again (its pod waits for it).
    pub fn observe_claim(&mut self, obj: &Object) {
        let name = obj.meta().name.as_str();
        let ns = obj.meta().namespace.as_str();
        let found = self
            .claims_in_flight
            .iter()
            .find(|(k, n)| n == name && k.namespace() == ns)
            .cloned();
        if let Some(entry) = found {
            self.claims_in_flight.remove(&entry);
            self.queue.add(entry.0);
        }
    }

    pub fn on_response(&mut self, resp: &Response, _client: &mut Client, cx: &mut crate::sim::Cx) {
        if let Err(e) = &resp.result {
            let detail = format!(
                "{} failed: {} {}: {}",
                resp.verb, e.code, e.reason, e.message
            );
            log(cx, "error", Subject::from(&resp.key), NAME, &detail);
        }
        if resp.key.kind == Kind::StatefulSet {
            // The status write: a refusal fails the sync; a success ends
            // it unless other requests of the set are unanswered (their
            // answers decide).
            self.queue.answer_came(&resp.key);
            let busy = self.queue.awaiting(&resp.key);
            self.queue.status_answered(STATEFULSET, resp, busy, cx);
            return;
        }
        let Some(set) = self.pending.remove(&resp.tag) else {
            return;
        };
        self.queue.answer_came(&set);
        if resp.result.is_err() {
            // The sync failed: drop the in-flight mark and retry the set.
            let mark = (set.clone(), resp.key.name().to_string());
            if resp.key.kind == Kind::PersistentVolumeClaim {
                self.claims_in_flight.remove(&mark);
            } else {
                self.in_flight.remove(&mark);
            }
            self.queue.add_rate_limited(STATEFULSET, set, cx);
        } else if !self.queue.awaiting(&set) {
            // The last answer of the set's requests.
            self.queue.forget(&set);
        }
    }

    /// Whether replica `i`'s claims all exist; creates those missing (the
    /// pod waits for them) and refuses a claim being deleted, as
    /// upstream's `createPersistentVolumeClaims`.
    #[allow(clippy::too_many_arguments)]
    fn claims_ready(
        &mut self,
        key: &ObjectKey,
        set: &Workload,
        i: i32,
        pod_name: &str,
        cache: &Cache,
        client: &mut Client,
        cx: &mut crate::sim::Cx,
    ) -> bool {
        let mut ready = true;
        for t in &set.spec.volume_claim_templates {
            let claim = claim_name(&t.metadata.name, &set.metadata.name, i);
            let ck = ObjectKey::new(Kind::PersistentVolumeClaim, key.namespace(), &claim);
            if self
                .claims_in_flight
                .contains(&(key.clone(), claim.clone()))
            {
                ready = false;
                continue;
            }
            match cache.get(&ck) {
                Some(c) if c.meta().deletion_timestamp.is_some() => {
                    let detail = format!(
                        "FailedCreate: create Claim {claim} for Pod {pod_name} in StatefulSet {} failed error: pvc {claim} is being deleted",
                        set.metadata.name
                    );
                    log(cx, "error", Subject::from(key), NAME, &detail);
                    // Upstream's sync fails: retried after its backoff.
                    self.queue.add_rate_limited(STATEFULSET, key.clone(), cx);
                    ready = false;
                }
                Some(_) => {}
                None => {
                    let mut c = PersistentVolumeClaim {
                        metadata: t.metadata.clone(),
                        spec: t.spec.clone(),
                        status: Default::default(),
                    };
                    c.metadata.name = claim.as_str().into();
                    c.metadata.namespace = key.namespace().into();
                    if let Some(sel) = &set.spec.selector {
                        let labels = std::sync::Arc::make_mut(&mut c.metadata.labels);
                        for (k, v) in &sel.match_labels {
                            labels.insert(k.clone(), v.clone());
                        }
                    }
                    let detail = format!(
                        "SuccessfulCreate: create Claim {claim} Pod {pod_name} in StatefulSet {} success",
                        set.metadata.name
                    );
                    log(cx, "create", Subject::from(&ck), NAME, &detail);
                    self.claims_in_flight.insert((key.clone(), claim));
                    let verb = Verb::Create(Object::PersistentVolumeClaim(Box::new(c)));
                    let tag = self.send(key, client, cx, verb, false);
                    self.pending.insert(tag, key.clone());
                    ready = false;
                }
            }
        }
        ready
    }

    pub fn sync(
        &mut self,
        key: &ObjectKey,
        cache: &Cache,
        client: &mut Client,
        cx: &mut crate::sim::Cx,
    ) {
        let now = cx.now();
        let Some(obj) = cache.get(key).cloned() else {
            self.in_flight.retain(|(k, _)| k != key);
            self.claims_in_flight.retain(|(k, _)| k != key);
            return;
        };
        let Some(set) = as_workload(&obj) else { return };
        if set.metadata.deletion_timestamp.is_some() {
            return;
        }
        let uid = set.metadata.uid;
        let name = &set.metadata.name;
        let hash = pod_template_hash(&set.spec.template, 0);
        let strategy_type = set
            .spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.strategy_type.clone())
            .unwrap_or_else(|| "RollingUpdate".into());
        match self.revisions.get(&uid) {
            Some((_, h)) if *h == hash => {}
            other => {
                let r = other.map_or(1, |(r, _)| r + 1);
                self.revisions.insert(uid, (r, hash.clone()));
                log(
                    cx,
                    "rollout-start",
                    Subject::from(key),
                    NAME,
                    &format!("revision {r} ({REVISION_LABEL}={hash})"),
                );
                cx.rec.rollouts.start(
                    uid,
                    RolloutRecord {
                        kind: "StatefulSet".into(),
                        namespace: key.namespace().to_string(),
                        name: key.name().to_string(),
                        revision: r,
                        started: now,
                        completed: None,
                        max_pods: 0,
                        min_available: 0,
                        strategy: strategy_type.clone(),
                    },
                );
            }
        }
        let replicas = set.replicas();
        // Replica `i` is ordinal `start + i` (`spec.ordinals.start`).
        let start = set
            .spec
            .ordinals
            .as_ref()
            .and_then(|o| o.start)
            .unwrap_or(0);
        let in_range = start..start.saturating_add(replicas);
        let parallel = set.spec.pod_management_policy.as_deref() == Some("Parallel");
        let partition = set
            .spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0);
        let mut pods: BTreeMap<i32, &Pod> = BTreeMap::new();
        for o in cache.controlled(uid, Kind::Pod) {
            if let Some(p) = o.as_pod()
                && let Some(i) = ordinal(name, &p.metadata.name)
            {
                pods.insert(i, p);
            }
        }
        let busy = |s: &Self, pod: &str| s.in_flight.contains(&(key.clone(), pod.to_string()));
        let mut creates: Vec<i32> = Vec::new();
        let mut deletes: Vec<&Pod> = Vec::new();
        // Replicas: create the missing ordinals, lowest first.
        let mut blocked = false;
        for i in in_range.clone() {
            let pod_name = format!("{name}-{i}");
            match pods.get(&i) {
                _ if busy(self, &pod_name) => blocked = true,
                None => {
                    if !blocked || parallel {
                        creates.push(i);
                    }
                    blocked = true;
                }
                Some(p) if p.status.phase.is_terminal() => {
                    // A failed pod is deleted and created again.
                    deletes.push(p);
                    blocked = true;
                }
                Some(p) => {
                    if !healthy(p) {
                        blocked = true;
                    }
                }
            }
            if blocked && !parallel && !creates.is_empty() {
                break;
            }
        }
        // One change at a time: nothing else while a create or delete of
        // this set is not yet observed.
        let settled = !self.in_flight.iter().any(|(k, _)| k == key);
        let all_healthy = settled
            && in_range
                .clone()
                .all(|i| pods.get(&i).is_some_and(|p| healthy(p)));
        // Condemned: ordinals out of the range, highest first.
        let condemned: Vec<&Pod> = pods
            .iter()
            .rev()
            .filter(|(i, _)| **i >= 0 && !in_range.contains(i))
            .map(|(_, p)| *p)
            .collect();
        if !condemned.is_empty() && creates.is_empty() {
            if parallel {
                deletes.extend(condemned.iter().filter(|p| !busy(self, &p.metadata.name)));
            } else if all_healthy
                && !condemned.iter().any(|p| busy(self, &p.metadata.name))
                && condemned[1..].iter().all(|p| healthy(p))
            {
                deletes.push(condemned[0]);
            }
        }
        // Rolling update, from the highest ordinal down to the partition
        // (counted from the first replica, as upstream's index).
        if strategy_type == "RollingUpdate"
            && creates.is_empty()
            && deletes.is_empty()
            && condemned.is_empty()
            && all_healthy
            && let Some(p) = (start.saturating_add(partition.max(0))..in_range.end)
                .rev()
                .filter_map(|i| pods.get(&i))
                .find(|p| p.metadata.labels.get(REVISION_LABEL) != Some(&hash))
        {
            deletes.push(p);
        }
        let lingering = cache.replaces_failures_forever(uid, replicas);
        for i in creates {
            let pod_name = format!("{name}-{i}");
            if !self.claims_ready(key, set, i, &pod_name, cache, client, cx) {
                continue;
            }
            let mut pod = podutil::pod_from_template(
                &set.spec.template,
                Kind::StatefulSet,
                &set.metadata,
                &pod_name,
            );
            std::sync::Arc::make_mut(&mut pod.metadata.labels)
                .insert(REVISION_LABEL.into(), hash.clone());
            std::sync::Arc::make_mut(&mut pod.metadata.labels)
                .insert(POD_NAME_LABEL.into(), pod_name.clone());
            if !set.spec.volume_claim_templates.is_empty() {
                // Upstream's `updateStorage`: a volume per template, in
                // place of the template's volume of that name.
                let spec = std::sync::Arc::make_mut(&mut pod.spec);
                let mut volumes: Vec<PodVolume> = set
                    .spec
                    .volume_claim_templates
                    .iter()
                    .map(|t| PodVolume {
                        name: t.metadata.name.to_string(),
                        source: VolumeSources {
                            persistent_volume_claim: Some(ClaimSource {
                                claim_name: claim_name(&t.metadata.name, name, i),
                                read_only: false,
                            }),
                            ..Default::default()
                        },
                    })
                    .collect();
                volumes.extend(spec.volumes.drain(..).filter(|v| {
                    !set.spec
                        .volume_claim_templates
                        .iter()
                        .any(|t| *t.metadata.name == *v.name)
                }));
                spec.volumes = volumes;
            }
            let pk = ObjectKey::new(Kind::Pod, key.namespace(), &pod_name);
            log(
                cx,
                "create",
                Subject::from(&pk),
                NAME,
                &format!("SuccessfulCreate: ordinal {i} of {key}"),
            );
            self.in_flight.insert((key.clone(), pod_name));
            let tag = self.send(key, client, cx, Verb::Create(Object::Pod(pod)), lingering);
            self.pending.insert(tag, key.clone());
        }
        for p in deletes {
            let pk = ObjectKey::new(Kind::Pod, &p.metadata.namespace, &p.metadata.name);
            let why = match ordinal(name, &p.metadata.name) {
                Some(i) if !in_range.contains(&i) => "SuccessfulDelete: scale down",
                _ if p.status.phase.is_terminal() => "SuccessfulDelete: failed pod",
                _ => "SuccessfulDelete: rolling update",
            };
            log(cx, "delete", Subject::from(&pk), NAME, why);
            self.in_flight
                .insert((key.clone(), p.metadata.name.to_string()));
            let verb = Verb::Delete {
                key: pk,
                precondition: None,
            };
            let tag = self.send(key, client, cx, verb, false);
            self.pending.insert(tag, key.clone());
        }
        // Status.
        let live: Vec<&Pod> = pods
            .values()
            .copied()
            .filter(|p| podutil::is_active(p))
            .collect();
        let min_ready = set.min_ready_seconds();
        let mut st = set.status.clone();
        st.observed_generation = set.metadata.generation;
        st.replicas = live.len() as i32;
        st.ready_replicas = live.iter().filter(|p| p.status.is_ready()).count() as i32;
        st.available_replicas = live
            .iter()
            .filter(|p| is_available(p, min_ready, now))
            .count() as i32;
        st.updated_replicas = live
            .iter()
            .filter(|p| p.metadata.labels.get(REVISION_LABEL) == Some(&hash))
            .count() as i32;
        st.update_revision = hash.clone();
        if st.updated_replicas == replicas
            && st.replicas == replicas
            && st.ready_replicas == replicas
        {
            st.current_revision = hash.clone();
            if cx.rec.rollouts.is_open(uid) {
                cx.rec.rollouts.complete(uid, now);
                log(cx, "rollout-complete", Subject::from(key), NAME, "");
            }
        }
        if st != set.status {
            let verb = Verb::UpdateWorkloadStatus {
                key: key.clone(),
                status: st,
            };
            self.send(key, client, cx, verb, false);
        }
    }
}
