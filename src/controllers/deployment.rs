//! The Deployment controller (upstream `pkg/controller/deployment/`): owns
//! ReplicaSets named `<deployment>-<pod-template-hash>` and moves replicas
//! from the old ones to the new one.
//!
//! Each sync (`syncDeployment`): adopt matching orphan ReplicaSets; find the
//! new ReplicaSet (template equal but for the hash label) and sync its
//! revision annotation (and the Deployment's); a paused Deployment or a
//! scaling event only scales
//! (proportionally across active ReplicaSets); otherwise roll out: Recreate
//! (scale the old to 0, wait until no old pod runs, scale the new up) or
//! RollingUpdate (scale the new up within `replicas + maxSurge`, else
//! scale the old down keeping `replicas - maxUnavailable` available, else
//! clean up beyond `revisionHistoryLimit`); then the status, with the
//! Progressing condition and `progressDeadlineSeconds`.
//!
//! Simplified: writes are asynchronous, so a sync that creates the new
//! ReplicaSet ends there and the next sync (on the ReplicaSet's ADDED
//! event) goes on.

use crate::fasthash::{HashMap, HashSet};
use std::sync::Arc;

use crate::api::selector::LabelSelector;
use crate::api::workloads::{
    IntOrPercent, PodTemplateSpec, Workload, WorkloadCondition, WorkloadStatus, same_text,
};
use crate::api::{Kind, Object, ObjectKey, ObjectMeta};
use crate::engine::{SECOND, Time};
use crate::etcd::EventType;
use crate::output::{RolloutRecord, Subject};
use crate::sim::msg::Response;
use crate::sim::{Cx, Dest, Msg, Verb};

use super::podutil;
use super::{Cache, Client, DEPLOYMENT, WorkQueue, log};

pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

pub(super) const NAME: &str = "deployment-controller";
/// How many failed syncs in a row before a Deployment is dropped from the
/// queue (until its next change).
pub const MAX_RETRIES: u32 = 15;
const PROGRESSING: &str = "Progressing";
const AVAILABLE: &str = "Available";
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
const RS_UPDATED: &str = "ReplicaSetUpdated";
const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";

fn as_workload(o: &Object) -> Option<&Workload> {
    match o {
        Object::Workload(_, w) => Some(w),
        _ => None,
    }
}

/// upstream `SafeEncodeString`'s alphabet (no vowels, no confusable
/// characters).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The pod-template-hash: fnv32a over the printed template and the
/// collision count, its decimal form encoded with `SafeEncodeString`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: i32) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(format!("{template:?}").as_bytes());
    if collision_count > 0 {
        feed(&(collision_count as u32).to_le_bytes());
    }
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// Whether two templates are equal once the hash label is dropped
/// (upstream `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    // Compared in place: the labels but the hash label, the rest of the
    // metadata (b's with a's labels, so that only the other fields count),
    // and the spec.
    fn labels(t: &PodTemplateSpec) -> impl Iterator<Item = (&String, &String)> {
        let l = &t.metadata.labels;
        l.iter().filter(|(k, _)| *k != POD_TEMPLATE_HASH_LABEL)
    }
    if !labels(a).eq(labels(b)) {
        return false;
    }
    // Every other field of the metadata (named, so that a new field is
    // not forgotten here), without copying either side.
    let ObjectMeta {
        name,
        generate_name,
        namespace,
        labels: _,
        annotations,
        owner_references,
        finalizers,
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
    } = &a.metadata;
    let m = &b.metadata;
    *name == m.name
        && *generate_name == m.generate_name
        && *namespace == m.namespace
        && *annotations == m.annotations
        && *owner_references == m.owner_references
        && *finalizers == m.finalizers
        && *uid == m.uid
        && *resource_version == m.resource_version
        && *generation == m.generation
        && *creation_timestamp == m.creation_timestamp
        && *deletion_timestamp == m.deletion_timestamp
        && *deletion_grace_period_seconds == m.deletion_grace_period_seconds
        && a.spec == b.spec
}

/// Whether `text` is there and is `n` as `to_string` writes it, told
/// without allocating (the controller compares its annotations with the
/// numbers it wants on every sync).
fn reads_as(text: Option<&String>, n: impl Into<i64>) -> bool {
    let mut buf = [0u8; 20];
    text.is_some_and(|t| t.as_bytes() == crate::output::rows::i64_bytes(n.into(), &mut buf))
}

pub fn revision(w: &Workload) -> i64 {
    w.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// upstream `GetScaledValueFromIntOrPercent`.
pub fn scaled_value(v: &IntOrPercent, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrPercent::Int(i) => *i as i32,
        IntOrPercent::Percent(p) => {
            let x = *p * i64::from(total);
            (if round_up {
                (x + 99).div_euclid(100)
            } else {
                x.div_euclid(100)
            }) as i32
        }
    }
}

fn is_recreate(d: &Workload) -> bool {
    d.spec
        .strategy
        .as_ref()
        .and_then(|s| s.strategy_type.as_deref())
        == Some("Recreate")
}

/// upstream `ResolveFenceposts`: (maxSurge, maxUnavailable) for `replicas`,
/// with the 25 % defaults.
pub fn resolve_fenceposts(d: &Workload) -> (i32, i32) {
    let ru = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let pct25 = IntOrPercent::Percent(25);
    let surge = ru
        .and_then(|r| r.max_surge.clone())
        .unwrap_or(pct25.clone());
    let unavail = ru.and_then(|r| r.max_unavailable.clone()).unwrap_or(pct25);
    let replicas = d.replicas();
    let s = scaled_value(&surge, replicas, true);
    let mut u = scaled_value(&unavail, replicas, false);
    if s == 0 && u == 0 {
        u = 1;
    }
    (s, u)
}

pub fn max_surge(d: &Workload) -> i32 {
    if is_recreate(d) {
        0
    } else {
        resolve_fenceposts(d).0
    }
}

pub fn max_unavailable(d: &Workload) -> i32 {
    if is_recreate(d) || d.replicas() == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(d.replicas())
}

/// One ReplicaSet as this sync sees it: its cached object and its
/// `spec.replicas` after the scalings this sync decided.
#[derive(Clone)]
struct Rs {
    key: ObjectKey,
    obj: Arc<Object>,
    replicas: i32,
    /// Scaled by this sync, not yet written.
    dirty: bool,
}

impl Rs {
    fn w(&self) -> &Workload {
        as_workload(&self.obj).expect("a ReplicaSet")
    }
    /// The sort key of the ReplicaSets (oldest first, then by name).
    fn created(&self) -> (Option<Time>, &str) {
        (self.w().metadata.creation_timestamp, self.key.name())
    }
}

/// What a request was for. `event` is the ScalingReplicaSet event the
/// request records once it succeeds, as upstream records it after the
/// write returns.
enum Pending {
    CreateRs {
        d: ObjectKey,
        event: String,
    },
    Update {
        d: ObjectKey,
        event: Option<String>,
        /// Whether a refusal fails the sync (and retries it). Not for an
        /// old ReplicaSet's scale-down in a rolling update, whose refusal
        /// upstream's reconcileOldReplicaSets drops: the ReplicaSet's
        /// change brings the next sync.
        fails_sync: bool,
    },
    Other,
}

#[derive(Default)]
pub struct DeploymentController {
    pub queue: WorkQueue,
    /// Deployments whose new ReplicaSet is being created and not yet
    /// observed.
    creating: HashMap<ObjectKey, String>,
    pending: HashMap<u64, Pending>,
    /// Deployment uid -> the ReplicaSet of its current rollout.
    rollout_rs: HashMap<u64, String>,
    /// Deployments whose revision annotation is being written, and to what.
    annotating: HashMap<ObjectKey, String>,
    /// Deployments whose ProgressDeadlineExceeded is already reported.
    timed_out: HashSet<ObjectKey>,
    /// Whether a ReplicaSet's template equals its Deployment's, by
    /// (Deployment uid, ReplicaSet uid), with the two generations it was
    /// found at: a template is part of the spec, whose every change bumps
    /// the generation, so the answer holds until either moves. (Comparing
    /// the templates field by field at every sync cost more than the rest
    /// of the split.)
    same_template: HashMap<(u64, u64), (i64, i64, bool)>,
    /// When each Deployment's progress-check requeue is due (the latest
    /// sent; one that is past has fired).
    stuck_requeue: HashMap<ObjectKey, Time>,
}

impl DeploymentController {
    /// A Deployment's watch event; `key` is its key.
    pub fn observe_deployment(&mut self, kind: EventType, key: &ObjectKey, obj: &Arc<Object>) {
        if self.annotating.get(key).is_some_and(|r| {
            kind == EventType::Deleted || obj.meta().annotations.get(REVISION_ANNOTATION) == Some(r)
        }) {
            self.annotating.remove(key);
        }
        if kind == EventType::Deleted {
            self.creating.remove(key);
            let uid = obj.meta().uid;
            self.rollout_rs.remove(&uid);
            self.same_template.retain(|&(d, _), _| d != uid);
            self.stuck_requeue.remove(key);
        } else {
            self.queue.add(key.clone());
        }
    }

    pub fn observe_rs(&mut self, obj: &Arc<Object>, cache: &Cache) {
        match cache.controller_of(obj) {
            Some(k) if k.kind == Kind::Deployment => {
                if self.creating.get(k).is_some_and(|n| *n == obj.meta().name) {
                    self.creating.remove(k);
                }
                self.queue.add(k.clone());
            }
            Some(_) => {}
            None if obj.meta().controller_ref().is_none() => {
                let ns = &obj.meta().namespace;
                let lo = ObjectKey::new(Kind::Deployment, ns, "");
                for (k, d) in cache.range_from(&lo) {
                    if k.kind != Kind::Deployment || k.namespace() != ns {
                        break;
                    }
                    if as_workload(d)
                        .and_then(|w| w.spec.selector.as_ref())
                        .is_some_and(|s| s.matches(&obj.meta().labels))
                    {
                        self.queue.add(k.clone());
                    }
                }
            }
            None => {}
        }
    }

    /// A pod change: keeps the rollout's pod counts, and queues a Recreate
    /// Deployment when its last pod is deleted (its rollout waits for that).
    pub fn observe_pod(
        &mut self,
        kind: EventType,
        obj: &Arc<Object>,
        old: Option<&Object>,
        owner: Option<&super::UidEntry>,
        cache: &Cache,
        cx: &mut Cx,
    ) {
        let d_uid = match owner {
            // The ReplicaSet's Deployment, as indexed with it.
            Some(w) if w.key.kind == Kind::ReplicaSet => w.deployment,
            Some(_) => return,
            None => {
                let Some(rs_key) = old.and_then(|o| cache.controller_of(o)) else {
                    return;
                };
                if rs_key.kind != Kind::ReplicaSet {
                    return;
                }
                let Some(rs) = cache.get(rs_key) else { return };
                rs.meta()
                    .controller_ref()
                    .filter(|r| r.kind == "Deployment")
                    .and_then(|r| r.uid.parse::<u64>().ok())
            }
        };
        let Some(d_uid) = d_uid else {
            return;
        };
        let (before, after) = podutil::counts_across(kind, obj, old);
        if before != after {
            cx.rec
                .rollouts
                .pods_changed(d_uid, after.0 - before.0, after.1 - before.1);
        }
        // upstream's pod handler (deletePod): a Recreate Deployment is
        // queued once the last of its pods is deleted; other pod changes
        // reach the Deployment through its ReplicaSets' status.
        if kind == EventType::Deleted
            && let Some(d) = cache.workload(Some(d_uid))
            && cache
                .get(&d.key)
                .and_then(|o| as_workload(o))
                .is_some_and(is_recreate)
            && cache.controlled(d_uid, Kind::ReplicaSet).all(|rs| {
                cache
                    .controlled_pods_unordered(rs.meta().uid)
                    .next()
                    .is_none()
            })
        {
            self.queue.add(d.key.clone());
        }
    }

    pub fn on_response(
        &mut self,
        resp: &Response,
        cache: &Cache,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let Some(p) = self.pending.remove(&resp.tag) else {
            return;
        };
        // Whether this was the last answer a Deployment's syncs awaited:
        // its failures are forgotten only once all have succeeded
        // (upstream's sync stops at the first error).
        let last_answer = match Self::counted(&p, &resp.key) {
            Some(d) => {
                self.queue.answer_came(d);
                !self.queue.awaiting(d)
            }
            None => false,
        };
        if let Err(e) = &resp.result {
            let detail = format!(
                "{} failed: {} {}: {}",
                resp.verb, e.code, e.reason, e.message
            );
            log(cx, "error", Subject::from(&resp.key), NAME, &detail);
        }
        match p {
            Pending::CreateRs { d, event } => {
                // On success the new ReplicaSet is awaited in the cache.
                if resp.result.is_err() {
                    self.creating.remove(&d);
                } else {
                    log(cx, "create", Subject::from(&resp.key), NAME, &event);
                }
                if let Err(e) = &resp.result
                    && e.reason == "AlreadyExists"
                {
                    // A hash collision unless the existing ReplicaSet has
                    // the Deployment's template: bump collisionCount.
                    let same = cache
                        .get(&d)
                        .and_then(|o| as_workload(o))
                        .zip(cache.get(&resp.key).and_then(|o| as_workload(o)))
                        .is_some_and(|(dw, rw)| {
                            equal_ignore_hash(&dw.spec.template, &rw.spec.template)
                        });
                    if !same && let Some(dw) = cache.get(&d).and_then(|o| as_workload(o)) {
                        let mut st = dw.status.clone();
                        st.collision_count += 1;
                        self.send(
                            client,
                            cx,
                            Verb::UpdateWorkloadStatus {
                                key: d.clone(),
                                status: st,
                            },
                            Pending::Other,
                        );
                    }
                }
                if resp.result.is_err() {
                    self.queue.add_rate_limited(DEPLOYMENT, d, cx);
                } else {
                    if last_answer {
                        self.queue.forget(&d);
                    }
                    self.queue.add(d);
                }
            }
            Pending::Update {
                d,
                event,
                fails_sync,
            } => {
                if let (Ok(_), Some(event)) = (&resp.result, event) {
                    log(cx, "scale", Subject::from(&resp.key), NAME, &event);
                }
                if resp.result.is_err() && fails_sync {
                    if resp.key == d {
                        self.annotating.remove(&d);
                    }
                    self.queue.add_rate_limited(DEPLOYMENT, d, cx);
                } else if last_answer {
                    self.queue.forget(&d);
                }
            }
            // The Deployment's status write ends its sync.
            Pending::Other if resp.key.kind == Kind::Deployment => {
                self.queue
                    .status_answered(DEPLOYMENT, resp, !last_answer, cx)
            }
            Pending::Other => {}
        }
    }

    /// The Deployment whose sync a request counts for: the one a
    /// ReplicaSet create or update is for, or the Deployment a status
    /// write is of (`key`, the request's object).
    fn counted<'a>(p: &'a Pending, key: &'a ObjectKey) -> Option<&'a ObjectKey> {
        match p {
            Pending::CreateRs { d, .. } | Pending::Update { d, .. } => Some(d),
            Pending::Other if key.kind == Kind::Deployment => Some(key),
            Pending::Other => None,
        }
    }

    fn send(&mut self, client: &mut Client, cx: &mut Cx, verb: Verb, p: Pending) {
        let d = match &p {
            Pending::CreateRs { d, .. } | Pending::Update { d, .. } => Some(d.clone()),
            Pending::Other => Some(verb.key()).filter(|k| k.kind == Kind::Deployment),
        };
        if let Some(d) = d {
            self.queue.await_answer(&d);
        }
        let tag = client.send(DEPLOYMENT, cx, verb);
        self.pending.insert(tag, p);
    }

    pub fn sync(&mut self, key: &ObjectKey, cache: &Cache, client: &mut Client, cx: &mut Cx) {
        let Some(obj) = cache.get(key).cloned() else {
            return;
        };
        let Some(d) = as_workload(&obj) else { return };
        if d.metadata.deletion_timestamp.is_some() {
            return;
        }
        let Some(selector) = d.spec.selector.as_ref() else {
            return;
        };
        if selector.is_empty() {
            return;
        }
        let mut rss: Vec<Rs> = cache
            .controlled_keyed(d.metadata.uid, Kind::ReplicaSet)
            .map(|(k, o)| Rs {
                key: k.clone(),
                obj: o.clone(),
                replicas: as_workload(o).map_or(0, Workload::replicas),
                dirty: false,
            })
            .collect();
        for o in cache.orphans(Kind::ReplicaSet, key.namespace()) {
            if o.meta().deletion_timestamp.is_some() || !selector.matches(&o.meta().labels) {
                continue;
            }
            let mut adopted = (**o).clone();
            std::sync::Arc::make_mut(&mut adopted.meta_mut().owner_references)
                .push(podutil::controller_ref(Kind::Deployment, &d.metadata));
            log(cx, "adopt", Subject::from(&**o), NAME, &format!("by {key}"));
            let rv = o.meta().resource_version;
            self.send(
                client,
                cx,
                Verb::Update {
                    key: o.key(),
                    object: adopted,
                    precondition: Some(rv),
                },
                Pending::Update {
                    d: key.clone(),
                    event: None,
                    fails_sync: true,
                },
            );
            rss.push(Rs {
                key: o.key(),
                obj: o.clone(),
                replicas: as_workload(o).map_or(0, Workload::replicas),
                dirty: false,
            });
        }
        rss.sort_by(|a, b| a.created().cmp(&b.created()));

        let paused = d.spec.paused;
        if paused || self.is_scaling_event(d, &rss) {
            let (new, mut old) = self.split(d, rss);
            let mut new = new;
            self.scale(d, new.as_mut(), &mut old);
            self.flush(key, d, old.iter_mut().chain(new.iter_mut()), client, cx);
            if paused {
                // upstream also cleans up while paused
                self.cleanup(d, &old, client, cx);
            }
            self.sync_status(key, d, &old, new.as_ref(), false, client, cx);
            return;
        }
        if is_recreate(d) {
            self.rollout_recreate(key, d, rss, cache, client, cx);
        } else {
            self.rollout_rolling(key, d, rss, client, cx);
        }
    }

    /// The new ReplicaSet (the first with the template) and the old ones,
    /// in the order of `rss` (oldest first).
    fn split(&mut self, d: &Workload, mut rss: Vec<Rs>) -> (Option<Rs>, Vec<Rs>) {
        let new = rss
            .iter()
            .position(|rs| self.same_template(d, rs.w()))
            .map(|i| rss.remove(i));
        (new, rss)
    }

    /// `equal_ignore_hash` of the two templates, remembered by the
    /// objects' generations.
    fn same_template(&mut self, d: &Workload, rs: &Workload) -> bool {
        let key = (d.metadata.uid, rs.metadata.uid);
        let gens = (d.metadata.generation, rs.metadata.generation);
        match self.same_template.get(&key) {
            Some(&(dg, rg, same)) if (dg, rg) == gens => same,
            _ => {
                let same = equal_ignore_hash(&rs.spec.template, &d.spec.template);
                self.same_template.insert(key, (gens.0, gens.1, same));
                same
            }
        }
    }

    fn is_scaling_event(&self, d: &Workload, rss: &[Rs]) -> bool {
        rss.iter().filter(|r| r.replicas > 0).any(|r| {
            r.w()
                .metadata
                .annotations
                .get(DESIRED_REPLICAS_ANNOTATION)
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|v| v != d.replicas())
        })
    }

    /// upstream `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet, its
    /// revision synced; created (asynchronously) when `create` and missing.
    #[allow(clippy::too_many_arguments)]
    fn new_rs(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        new: Option<Rs>,
        old: &[Rs],
        create: bool,
        client: &mut Client,
        cx: &mut Cx,
    ) -> Option<Rs> {
        let max_old = old.iter().map(|r| revision(r.w())).max().unwrap_or(0);
        let new_rev = max_old + 1;
        let strategy = if is_recreate(d) {
            "Recreate"
        } else {
            "RollingUpdate"
        };
        if let Some(rs) = new {
            let w = rs.w();
            if revision(w) < new_rev {
                // Rolled back to this template: it becomes the newest revision.
                let mut o = (*rs.obj).clone();
                std::sync::Arc::make_mut(&mut o.meta_mut().annotations)
                    .insert(REVISION_ANNOTATION.into(), new_rev.to_string());
                log(
                    cx,
                    "update",
                    Subject::from(&rs.key),
                    NAME,
                    &format!("revision {new_rev}"),
                );
                self.send(
                    client,
                    cx,
                    Verb::Update {
                        key: rs.key.clone(),
                        object: o,
                        precondition: Some(w.metadata.resource_version),
                    },
                    Pending::Update {
                        d: key.clone(),
                        event: None,
                        fails_sync: true,
                    },
                );
            }
            let rev = revision(w).max(new_rev);
            self.start_rollout(key, d, rs.key.name(), rev, strategy, cx);
            self.annotate_revision(key, d, rev, client, cx);
            return Some(rs);
        }
        if !create || self.creating.contains_key(key) {
            return None;
        }
        let hash = pod_template_hash(&d.spec.template, d.status.collision_count);
        let name = format!("{}-{hash}", d.metadata.name);
        let mut template = d.spec.template.clone();
        std::sync::Arc::make_mut(&mut template.metadata.labels)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut selector: LabelSelector = d.spec.selector.clone().unwrap_or_default();
        selector
            .match_labels
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let replicas = if is_recreate(d) {
            d.replicas()
        } else {
            let current: i32 = old.iter().map(|r| r.replicas).sum();
            let max_total = d.replicas() + max_surge(d);
            if current >= max_total {
                0
            } else {
                (max_total - current).min(d.replicas())
            }
        };
        let mut meta = ObjectMeta {
            name: name.as_str().into(),
            namespace: d.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            owner_references: std::sync::Arc::new(vec![podutil::controller_ref(
                Kind::Deployment,
                &d.metadata,
            )]),
            ..Default::default()
        };
        std::sync::Arc::make_mut(&mut meta.annotations)
            .insert(REVISION_ANNOTATION.into(), new_rev.to_string());
        std::sync::Arc::make_mut(&mut meta.annotations)
            .insert(DESIRED_REPLICAS_ANNOTATION.into(), d.replicas().to_string());
        std::sync::Arc::make_mut(&mut meta.annotations).insert(
            MAX_REPLICAS_ANNOTATION.into(),
            (d.replicas() + max_surge(d)).to_string(),
        );
        let mut spec = (*d.spec).clone();
        spec.replicas = Some(replicas);
        spec.selector = Some(selector);
        spec.template = template;
        spec.strategy = None;
        spec.paused = false;
        let rs = Object::Workload(
            Kind::ReplicaSet,
            Box::new(Workload {
                metadata: meta,
                spec: std::sync::Arc::new(spec),
                status: WorkloadStatus::default(),
            }),
        );
        let event = format!(
            "ScalingReplicaSet: Scaled up replica set {name} from 0 to {replicas} (revision {new_rev})"
        );
        self.creating.insert(key.clone(), name.clone());
        let pending = Pending::CreateRs {
            d: key.clone(),
            event,
        };
        self.send(client, cx, Verb::Create(rs), pending);
        self.start_rollout(key, d, &name, new_rev, strategy, cx);
        self.annotate_revision(key, d, new_rev, client, cx);
        None
    }

    /// Writes the new ReplicaSet's revision into the Deployment's
    /// `deployment.kubernetes.io/revision` annotation, as upstream does.
    fn annotate_revision(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        rev: i64,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        if reads_as(d.metadata.annotations.get(REVISION_ANNOTATION), rev)
            || reads_as(self.annotating.get(key), rev)
        {
            return;
        }
        let rev = rev.to_string();
        let mut w = d.clone();
        std::sync::Arc::make_mut(&mut w.metadata.annotations)
            .insert(REVISION_ANNOTATION.into(), rev.clone());
        log(
            cx,
            "update",
            Subject::from(key),
            NAME,
            &format!("revision {rev}"),
        );
        self.annotating.insert(key.clone(), rev);
        let rv = d.metadata.resource_version;
        self.send(
            client,
            cx,
            Verb::Update {
                key: key.clone(),
                object: Object::Workload(Kind::Deployment, Box::new(w)),
                precondition: Some(rv),
            },
            Pending::Update {
                d: key.clone(),
                event: None,
                fails_sync: true,
            },
        );
    }

    fn start_rollout(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        rs_name: &str,
        revision: i64,
        strategy: &str,
        cx: &mut Cx,
    ) {
        let uid = d.metadata.uid;
        if self.rollout_rs.get(&uid).map(String::as_str) == Some(rs_name) {
            return;
        }
        self.rollout_rs.insert(uid, rs_name.to_string());
        log(
            cx,
            "rollout-start",
            Subject::from(key),
            NAME,
            &format!("revision {revision} to replica set {rs_name}, {strategy}"),
        );
        cx.rec.rollouts.start(
            uid,
            RolloutRecord {
                kind: "Deployment".into(),
                namespace: key.namespace().to_string(),
                name: key.name().to_string(),
                revision,
                started: cx.now(),
                completed: None,
                max_pods: 0,
                min_available: 0,
                strategy: strategy.into(),
            },
        );
    }

    /// Decides a ReplicaSet's replicas (and the desired/max annotations);
    /// the writes go out once per ReplicaSet in [`Self::flush`]. Whether
    /// the size changed.
    fn scale_rs(&mut self, d: &Workload, rs: &mut Rs, to: i32) -> bool {
        let w = rs.w();
        let ann = &w.metadata.annotations;
        let annotations_stale = !reads_as(ann.get(DESIRED_REPLICAS_ANNOTATION), d.replicas())
            || !reads_as(
                ann.get(MAX_REPLICAS_ANNOTATION),
                d.replicas() + max_surge(d),
            );
        let size_changed = rs.replicas != to;
        rs.dirty |= size_changed || annotations_stale;
        rs.replicas = to;
        size_changed
    }

    /// Writes the ReplicaSets this sync scaled, each with the
    /// resourceVersion it was read at.
    fn flush<'a>(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        rss: impl Iterator<Item = &'a mut Rs>,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        self.flush_as(key, d, rss, true, client, cx);
    }

    /// [`Self::flush`]; without `fails_sync`, writes whose refusal does
    /// not fail the sync (see [`Pending::Update`]).
    fn flush_as<'a>(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        rss: impl Iterator<Item = &'a mut Rs>,
        fails_sync: bool,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        for rs in rss.filter(|r| r.dirty) {
            rs.dirty = false;
            let w = rs.w();
            let from = w.replicas();
            let to = rs.replicas;
            let mut o = (*rs.obj).clone();
            if let Object::Workload(_, w) = &mut o {
                std::sync::Arc::make_mut(&mut w.spec).replicas = Some(to);
                std::sync::Arc::make_mut(&mut w.metadata.annotations)
                    .insert(DESIRED_REPLICAS_ANNOTATION.into(), d.replicas().to_string());
                std::sync::Arc::make_mut(&mut w.metadata.annotations).insert(
                    MAX_REPLICAS_ANNOTATION.into(),
                    (d.replicas() + max_surge(d)).to_string(),
                );
            }
            let event = (from != to).then(|| {
                let dir = if to > from { "up" } else { "down" };
                format!(
                    "ScalingReplicaSet: Scaled {dir} replica set {} from {from} to {to}",
                    rs.key.name()
                )
            });
            let rv = w.metadata.resource_version;
            self.send(
                client,
                cx,
                Verb::Update {
                    key: rs.key.clone(),
                    object: o,
                    precondition: Some(rv),
                },
                Pending::Update {
                    d: key.clone(),
                    event,
                    fails_sync,
                },
            );
        }
    }

    fn rollout_rolling(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        rss: Vec<Rs>,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let (new, mut old) = self.split(d, rss);
        let Some(mut new) = self.new_rs(key, d, new, &old, true, client, cx) else {
            return;
        };
        let replicas = d.replicas();
        // reconcileNewReplicaSet
        let scaled_up = if new.replicas == replicas {
            false
        } else if new.replicas > replicas {
            self.scale_rs(d, &mut new, replicas)
        } else {
            let current: i32 = old.iter().map(|r| r.replicas).sum::<i32>() + new.replicas;
            let max_total = replicas + max_surge(d);
            if current >= max_total {
                false
            } else {
                let to = new.replicas + (max_total - current).min(replicas - new.replicas);
                self.scale_rs(d, &mut new, to)
            }
        };
        if !scaled_up {
            let scaled_down = self.reconcile_old(d, &mut old, &new);
            // As upstream, the completeness the Deployment's status (as
            // last written) records, not the one this sync computes.
            if !scaled_down && deployment_complete(d, &d.status) {
                self.cleanup(d, &old, client, cx);
            }
        }
        // Old ReplicaSets are only scaled here by reconcileOldReplicaSets.
        self.flush_as(key, d, old.iter_mut(), scaled_up, client, cx);
        self.flush(key, d, [&mut new].into_iter(), client, cx);
        self.sync_status(key, d, &old, Some(&new), true, client, cx);
    }

    /// upstream `reconcileOldReplicaSets`: whether it scaled down.
    fn reconcile_old(&mut self, d: &Workload, old: &mut [Rs], new: &Rs) -> bool {
        let old_pods: i32 = old.iter().map(|r| r.replicas).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods = old_pods + new.replicas;
        let min_available = d.replicas() - max_unavailable(d);
        let new_unavailable = new.replicas - new.w().status.available_replicas;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // cleanupUnhealthyReplicas: oldest first.
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let available = rs.w().status.available_replicas;
            if rs.replicas == 0 || rs.replicas == available {
                continue;
            }
            let n = (max_scaled_down - cleaned).min(rs.replicas - available);
            if n < 0 {
                // A stale status (more available than wanted): upstream's
                // cleanupUnhealthyReplicas refuses to scale up ("got
                // invalid request to scale down"), and
                // reconcileOldReplicaSets drops that error: no scale-down
                // this sync (those made before it stand), no log, no
                // retry; the sync goes on to the status.
                return false;
            }
            let to = rs.replicas - n;
            self.scale_rs(d, rs, to);
            cleaned += n;
        }
        // scaleDownOldReplicaSetsForRollingUpdate
        let available: i32 = old
            .iter()
            .map(|r| r.w().status.available_replicas)
            .sum::<i32>()
            + new.w().status.available_replicas;
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for rs in old.iter_mut() {
                if scaled >= total {
                    break;
                }
                if rs.replicas == 0 {
                    continue;
                }
                let n = rs.replicas.min(total - scaled);
                let to = rs.replicas - n;
                self.scale_rs(d, rs, to);
                scaled += n;
            }
        }
        cleaned + scaled > 0
    }

    fn rollout_recreate(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        rss: Vec<Rs>,
        cache: &Cache,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let (new, mut old) = self.split(d, rss);
        let new = self.new_rs(key, d, new, &old, false, client, cx);
        let mut scaled_down = false;
        for rs in old.iter_mut().filter(|r| r.replicas > 0) {
            scaled_down |= self.scale_rs(d, rs, 0);
        }
        let mut new = new;
        self.flush(key, d, old.iter_mut().chain(new.iter_mut()), client, cx);
        if scaled_down {
            self.sync_status(key, d, &old, new.as_ref(), true, client, cx);
            return;
        }
        // oldPodsRunning
        let old_running = old.iter().map(|r| r.w().status.replicas).sum::<i32>() > 0
            || old.iter().any(|r| {
                cache
                    .controlled(r.w().metadata.uid, Kind::Pod)
                    .filter_map(|o| o.as_pod())
                    .any(|p| !p.status.phase.is_terminal())
            });
        if old_running {
            self.sync_status(key, d, &old, new.as_ref(), true, client, cx);
            return;
        }
        let new = match new {
            Some(n) => n,
            None => match self.new_rs(key, d, None, &old, true, client, cx) {
                Some(n) => n,
                None => return,
            },
        };
        let mut new = new;
        if new.replicas != d.replicas() {
            self.scale_rs(d, &mut new, d.replicas());
        }
        self.flush(key, d, [&mut new].into_iter(), client, cx);
        if deployment_complete(d, &d.status) {
            self.cleanup(d, &old, client, cx);
        }
        self.sync_status(key, d, &old, Some(&new), true, client, cx);
    }

    /// upstream `scale`: a paused Deployment or a scaling event resizes the
    /// ReplicaSets, proportionally when a rolling update is in progress.
    fn scale(&mut self, d: &Workload, new: Option<&mut Rs>, old: &mut [Rs]) {
        let replicas = d.replicas();
        let active_old = old.iter().filter(|r| r.replicas > 0).count();
        let new_active = new.as_ref().is_some_and(|n| n.replicas > 0);
        // FindActiveOrLatest
        if active_old + usize::from(new_active) <= 1 {
            let target: Option<&mut Rs> = if new_active || active_old == 0 {
                match new {
                    Some(n) => Some(n),
                    None => old.iter_mut().max_by(|a, b| a.created().cmp(&b.created())),
                }
            } else {
                old.iter_mut().find(|r| r.replicas > 0)
            };
            if let Some(rs) = target
                && (rs.replicas != replicas || self.annotations_stale(d, rs))
            {
                self.scale_rs(d, rs, replicas);
            }
            return;
        }
        // IsSaturated: the new RS has all the replicas, available.
        if let Some(n) = &new
            && n.replicas == replicas
            && n.w().status.available_replicas == replicas
        {
            for rs in old.iter_mut().filter(|r| r.replicas > 0) {
                self.scale_rs(d, rs, 0);
            }
            return;
        }
        if is_recreate(d) {
            return;
        }
        let mut all: Vec<&mut Rs> = old.iter_mut().filter(|r| r.replicas > 0).collect();
        if let Some(n) = new
            && n.replicas > 0
        {
            all.push(n);
        }
        let total: i32 = all.iter().map(|r| r.replicas).sum();
        let allowed = if replicas > 0 {
            replicas + max_surge(d)
        } else {
            0
        };
        let to_add = allowed - total;
        // Larger first; ties: newer first when adding, older first when
        // removing.
        if to_add > 0 {
            all.sort_by(|a, b| {
                b.replicas
                    .cmp(&a.replicas)
                    .then(b.created().cmp(&a.created()))
            });
        } else {
            all.sort_by(|a, b| {
                b.replicas
                    .cmp(&a.replicas)
                    .then(a.created().cmp(&b.created()))
            });
        }
        let max_replicas = replicas + max_surge(d);
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for rs in &all {
            let mut proportion = 0;
            if rs.replicas != 0 && to_add != 0 && to_add != added {
                let fraction = if replicas == 0 {
                    -rs.replicas
                } else {
                    let annotated = rs
                        .w()
                        .metadata
                        .annotations
                        .get(MAX_REPLICAS_ANNOTATION)
                        .and_then(|v| v.parse::<i32>().ok())
                        .unwrap_or(d.status.replicas);
                    if annotated == 0 {
                        0
                    } else {
                        let size =
                            f64::from(rs.replicas) * f64::from(max_replicas) / f64::from(annotated);
                        size.round() as i32 - rs.replicas
                    }
                };
                let allowed = to_add - added;
                proportion = if to_add > 0 {
                    fraction.min(allowed)
                } else {
                    fraction.max(allowed)
                };
            }
            sizes.push(rs.replicas + proportion);
            added += proportion;
        }
        if let Some(first) = sizes.first_mut()
            && to_add != 0
        {
            *first = (*first + to_add - added).max(0);
        }
        for (rs, to) in all.into_iter().zip(sizes) {
            self.scale_rs(d, rs, to);
        }
    }

    fn annotations_stale(&self, d: &Workload, rs: &Rs) -> bool {
        let ann = &rs.w().metadata.annotations;
        !reads_as(ann.get(DESIRED_REPLICAS_ANNOTATION), d.replicas())
    }

    /// upstream `cleanupDeployment`: delete the oldest unused ReplicaSets
    /// beyond `revisionHistoryLimit`.
    fn cleanup(&mut self, d: &Workload, old: &[Rs], client: &mut Client, cx: &mut Cx) {
        let limit = d
            .spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
            .max(0) as usize;
        let mut alive: Vec<&Rs> = old
            .iter()
            .filter(|r| r.w().metadata.deletion_timestamp.is_none())
            .collect();
        if alive.len() <= limit {
            return;
        }
        alive.sort_by(|a, b| (revision(a.w()), a.created()).cmp(&(revision(b.w()), b.created())));
        let diff = alive.len() - limit;
        for rs in alive.into_iter().take(diff) {
            let w = rs.w();
            if w.status.replicas != 0
                || rs.replicas != 0
                || w.metadata.generation > w.status.observed_generation
            {
                continue;
            }
            log(
                cx,
                "delete",
                Subject::from(&rs.key),
                NAME,
                &format!("revisionHistoryLimit {limit}: old revision {}", revision(w)),
            );
            let tag = client.send(
                DEPLOYMENT,
                cx,
                Verb::Delete {
                    key: rs.key.clone(),
                    precondition: None,
                },
            );
            self.pending.insert(tag, Pending::Other);
        }
    }

    /// upstream `syncRolloutStatus` (with `rollout`) or `syncDeploymentStatus`.
    #[allow(clippy::too_many_arguments)]
    fn sync_status(
        &mut self,
        key: &ObjectKey,
        d: &Workload,
        old: &[Rs],
        new: Option<&Rs>,
        rollout: bool,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let now = cx.now();
        let mut st = calculate_status(d, old, new);
        let deadline = d
            .spec
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        let complete = deployment_complete(d, &st);
        let mut stuck_due = None;
        if complete && cx.rec.rollouts.is_open(d.metadata.uid) {
            cx.rec.rollouts.complete(d.metadata.uid, now);
            log(cx, "rollout-complete", Subject::from(key), NAME, "");
        }
        if rollout && !d.spec.paused {
            let current = d.status.condition(PROGRESSING).cloned();
            let already_complete = st.replicas == st.updated_replicas
                && current
                    .as_ref()
                    .is_some_and(|c| same_text(c.reason, NEW_RS_AVAILABLE));
            if !already_complete {
                let progressing = st.updated_replicas > d.status.updated_replicas
                    || (st.replicas - st.updated_replicas)
                        < (d.status.replicas - d.status.updated_replicas)
                    || st.ready_replicas > d.status.ready_replicas
                    || st.available_replicas > d.status.available_replicas;
                let new_cond = |status: bool, reason: &'static str| WorkloadCondition {
                    kind: PROGRESSING,
                    status,
                    reason,
                    last_update: now,
                    last_transition: match &current {
                        Some(c) if c.status == status => c.last_transition,
                        _ => now,
                    },
                };
                let timed_out = current.as_ref().is_some_and(|c| {
                    same_text(c.reason, TIMED_OUT)
                        || (!same_text(c.reason, NEW_RS_AVAILABLE)
                            && c.last_update + Time::from(deadline.max(0) as u32) * SECOND < now)
                });
                if complete || progressing {
                    self.timed_out.remove(key);
                }
                if complete {
                    set_condition(&mut st, new_cond(true, NEW_RS_AVAILABLE));
                } else if progressing || current.is_none() {
                    let reason = if current.is_none() {
                        NEW_RS_CREATED
                    } else {
                        RS_UPDATED
                    };
                    set_condition(&mut st, new_cond(true, reason));
                } else if timed_out {
                    if current
                        .as_ref()
                        .is_some_and(|c| !same_text(c.reason, TIMED_OUT))
                        && self.timed_out.insert(key.clone())
                    {
                        log(
                            cx,
                            "progress-deadline-exceeded",
                            Subject::from(key),
                            NAME,
                            &format!("ReplicaSet has timed out progressing ({deadline}s)"),
                        );
                    }
                    set_condition(&mut st, new_cond(false, TIMED_OUT));
                }
                // When the progress check is due (requeueStuckDeployment).
                if let Some(c) = st.condition(PROGRESSING)
                    && c.status
                    && !same_text(c.reason, NEW_RS_AVAILABLE)
                {
                    stuck_due =
                        Some(c.last_update + Time::from(deadline.max(0) as u32) * SECOND + SECOND);
                }
            }
        }
        if st != d.status {
            self.send(
                client,
                cx,
                Verb::UpdateWorkloadStatus {
                    key: key.clone(),
                    status: st,
                },
                Pending::Other,
            );
        } else if let Some(at) = stuck_due {
            // As upstream, only a sync with nothing new to write requeues
            // the Deployment for its progress check (the write's own event
            // brings the sync that does), and the work queue's AddAfter
            // keeps one wait per key, the earliest.
            let at = at.max(now);
            match self.stuck_requeue.get(key) {
                Some(&pending) if pending > now && pending <= at => {}
                _ => {
                    self.stuck_requeue.insert(key.clone(), at);
                    cx.send_background(
                        Dest::ControllerManager,
                        at - now,
                        Msg::ControllerRequeue {
                            controller: DEPLOYMENT,
                            key: key.clone(),
                        },
                    );
                }
            }
        }
    }
}

fn set_condition(st: &mut WorkloadStatus, c: WorkloadCondition) {
    match st.conditions.iter_mut().find(|x| same_text(x.kind, c.kind)) {
        Some(x) => {
            if x.status == c.status && same_text(x.reason, c.reason) {
                // An unchanged condition keeps its times unless progress
                // refreshes the update time.
                if same_text(c.reason, RS_UPDATED) {
                    x.last_update = c.last_update;
                }
            } else {
                *x = c;
            }
        }
        None => st.conditions.push(c),
    }
}

/// upstream `calculateStatus`.
fn calculate_status(d: &Workload, old: &[Rs], new: Option<&Rs>) -> WorkloadStatus {
    let all = || old.iter().chain(new);
    let sum = |f: fn(&WorkloadStatus) -> i32| all().map(|r| f(&r.w().status)).sum::<i32>();
    let mut st = d.status.clone();
    st.observed_generation = d.metadata.generation;
    st.replicas = sum(|s| s.replicas);
    st.updated_replicas = new.map_or(0, |n| n.w().status.replicas);
    st.ready_replicas = sum(|s| s.ready_replicas);
    st.available_replicas = sum(|s| s.available_replicas);
    // The ReplicaSets' replicas as this sync read them: upstream's scales
    // return new objects, which the status it computes in the same sync
    // does not see (the next sync's status does).
    let total: i32 = all().map(|r| r.w().replicas()).sum();
    st.unavailable_replicas = (total - st.available_replicas).max(0);
    let min_available = d.replicas() - max_unavailable(d);
    let available = st.available_replicas >= min_available;
    let reason = if available {
        "MinimumReplicasAvailable"
    } else {
        "MinimumReplicasUnavailable"
    };
    match st
        .conditions
        .iter_mut()
        .find(|c| same_text(c.kind, AVAILABLE))
    {
        Some(c) if c.status == available => {}
        Some(c) => {
            c.status = available;
            c.reason = reason;
        }
        None => st.conditions.push(WorkloadCondition {
            kind: AVAILABLE,
            status: available,
            reason,
            last_update: 0,
            last_transition: 0,
        }),
    }
    st
}

/// upstream `DeploymentComplete`.
fn deployment_complete(d: &Workload, st: &WorkloadStatus) -> bool {
    let r = d.replicas();
    st.updated_replicas == r
        && st.replicas == r
        && st.available_replicas == r
        && st.observed_generation >= d.metadata.generation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_is_the_text_to_string_writes() {
        for n in [0, 1, 9, 10, 42, -1, -10, 1_000_000, i64::MAX, i64::MIN] {
            let text = n.to_string();
            assert!(reads_as(Some(&text), n), "{n}");
            assert!(!reads_as(Some(&text), n.wrapping_add(1)), "{n}");
        }
        // Texts that parse as 1 or 0 but are not what `to_string` writes.
        for other in ["", "01", "+1", " 1", "1 "] {
            assert!(!reads_as(Some(&other.to_string()), 1), "{other:?}");
        }
        assert!(!reads_as(Some(&"-0".to_string()), 0));
        assert!(!reads_as(None, 0));
        assert!(reads_as(Some(&"7".to_string()), 7i32));
    }

    fn deployment(yaml: &str) -> Workload {
        let m: crate::api::Manifest = serde_yaml::from_str(yaml).unwrap();
        match m.object {
            Some(Object::Workload(_, w)) => *w,
            _ => panic!(),
        }
    }

    #[test]
    fn a_sync_is_forgotten_only_once_all_its_requests_have_succeeded() {
        use crate::controllers::tests::{fail, key, run_alone};
        use crate::engine::MILLISECOND;
        use crate::sim::msg::{ApiError, Response};
        let w = run_alone(20.0, None, None, |client, _, cx| {
            let mut c = DeploymentController::default();
            let cache = Cache::default();
            let d = key("web");
            // One failure: retried after 5 ms.
            fail(&mut c.queue, "web", cx);
            c.queue.add(d.clone());
            c.queue.pop();
            // The retry's sync scales a ReplicaSet and writes the status;
            // the scale succeeds, then the status write is refused: still
            // the second failure in a row (10 ms), not a first one (5 ms).
            let rs = ObjectKey::new(Kind::ReplicaSet, "default", "web-1");
            let object = Arc::new(Object::Workload(
                Kind::ReplicaSet,
                Box::new(deployment("kind: ReplicaSet\nmetadata: {name: web-1}")),
            ));
            let scale = Pending::Update {
                d: d.clone(),
                event: None,
                fails_sync: true,
            };
            let verb = Verb::Update {
                key: object.key(),
                object: (*object).clone(),
                precondition: None,
            };
            let first = client.next_tag + 1;
            c.send(client, cx, verb, scale);
            let status = Verb::UpdateWorkloadStatus {
                key: d.clone(),
                status: WorkloadStatus::default(),
            };
            c.send(client, cx, status, Pending::Other);
            let tag = |n: u64| (u64::from(DEPLOYMENT) << 56) | n;
            let ok = Response {
                tag: tag(first),
                verb: "update",
                key: rs,
                result: Ok(object),
            };
            c.on_response(&ok, &cache, client, cx);
            let refused = Response {
                tag: tag(first + 1),
                verb: "update-status",
                key: d.clone(),
                result: Err(ApiError {
                    code: 409,
                    reason: "Conflict",
                    message: String::new(),
                }),
            };
            c.on_response(&refused, &cache, client, cx);
            assert!(!c.queue.awaiting(&d));
        });
        let ms: Vec<Time> = w.requeues.iter().map(|(t, _)| t / MILLISECOND).collect();
        assert_eq!(ms, [5, 10]);
    }

    #[test]
    fn fenceposts_round_like_upstream() {
        let d = |r: i32, s: &str, u: &str| {
            deployment(&format!(
                "kind: Deployment\nmetadata: {{name: d}}\nspec: {{replicas: {r}, strategy: {{rollingUpdate: {{maxSurge: {s}, maxUnavailable: {u}}}}}}}"
            ))
        };
        // Defaults 25 %/25 % of 10: surge rounds up to 3, unavailable down to 2.
        let dflt = deployment("kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 10}");
        assert_eq!((max_surge(&dflt), max_unavailable(&dflt)), (3, 2));
        assert_eq!(resolve_fenceposts(&d(1, "'0%'", "'0%'")), (0, 1));
        assert_eq!(resolve_fenceposts(&d(100, "'10%'", "'5%'")), (10, 5));
        assert_eq!(resolve_fenceposts(&d(3, "'50%'", "'50%'")), (2, 1));
        assert_eq!(max_unavailable(&d(2, "0", "5")), 2);
    }

    #[test]
    fn template_hash_is_deterministic_and_safe() {
        let d = deployment(
            "kind: Deployment\nmetadata: {name: d}\nspec: {template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, image: x}]}}}",
        );
        let h = pod_template_hash(&d.spec.template, 0);
        assert_eq!(h, pod_template_hash(&d.spec.template, 0));
        assert_ne!(h, pod_template_hash(&d.spec.template, 1));
        assert!(h.bytes().all(|b| ALPHANUMS.contains(&b)) && !h.is_empty());
        let mut t = d.spec.template.clone();
        std::sync::Arc::make_mut(&mut t.metadata.labels).insert(POD_TEMPLATE_HASH_LABEL.into(), h);
        assert!(equal_ignore_hash(&t, &d.spec.template));
        assert!(equal_ignore_hash(&d.spec.template, &t));
        // Any other label, annotation or spec difference counts.
        let mut other = t.clone();
        std::sync::Arc::make_mut(&mut other.metadata.labels).insert("tier".into(), "web".into());
        assert!(!equal_ignore_hash(&other, &t));
        assert!(!equal_ignore_hash(&t, &other));
        let mut other = t.clone();
        std::sync::Arc::make_mut(&mut other.metadata.annotations).insert("a".into(), "b".into());
        assert!(!equal_ignore_hash(&other, &t));
        let mut other = t.clone();
        std::sync::Arc::make_mut(&mut other.spec.containers)[0].image = "y".into();
        assert!(!equal_ignore_hash(&other, &d.spec.template));
    }
}
