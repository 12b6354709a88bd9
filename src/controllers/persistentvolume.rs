//! The PersistentVolume controller (upstream
//! `pkg/controller/volume/persistentvolume/pv_controller.go`, the
//! controller manager's `persistentvolume-binder-controller`) and the
//! external provisioner a StorageClass names (upstream's CSI
//! external-provisioner, a process of its own, modelled here beside it).
//!
//! The binder syncs claims and volumes from one work queue, fed by the
//! controller manager's PersistentVolume, PersistentVolumeClaim and
//! StorageClass informers and by a resync of every claim and volume each
//! 15 s (`--pvclaimbinder-sync-period`):
//! - an unbound claim gets the smallest Available volume of its class
//!   whose access modes include the claim's, whose size is at least the
//!   request and whose labels match the claim's selector (a volume
//!   pre-bound to the claim by its `claimRef` wins at once); binding is
//!   upstream's four writes in order, each sent once the one before it
//!   succeeded: the volume's `claimRef` (with the claim's uid), its phase
//!   Bound, the claim's `volumeName` with the bind-completed and
//!   bound-by-controller annotations, and its phase Bound with the
//!   volume's capacity and access modes;
//! - a claim of a WaitForFirstConsumer class is left to the scheduler:
//!   it waits (`WaitForFirstConsumer`) until the scheduler reserves it a
//!   volume (the volume's `claimRef`, then bound here) or names its node
//!   (`volume.kubernetes.io/selected-node`, then provisioned);
//! - with no volume, a claim without a class gets the default class if
//!   one exists (upstream's retroactive default); a claim of a class is
//!   annotated for the class's provisioner (`ExternalProvisioning`; an
//!   in-tree one migrated to CSI is its driver); one of no class waits
//!   (`FailedBinding`);
//! - a claim naming its volume binds to it if the volume fits
//!   (`VolumeMismatch` otherwise) and is free or reserved for it;
//! - a bound claim whose volume is gone or bound elsewhere is Lost;
//! - a volume whose claim is gone is Released: Retain keeps it so; Delete
//!   leaves a provisioned or CSI volume to its provisioner, and fails any
//!   other (`VolumeFailedDelete`: no in-tree deleter is modelled), as
//!   Recycle fails (no recycler).
//!
//! The controller reads its informers' objects, or what its own writes
//! returned when that is newer, and syncs no key while writes of its
//! objects are in flight (a chain locks them), so that it never decides
//! from an object half written.
//!
//! The provisioner makes volume `pvc-<claim uid>` for an unbound claim
//! annotated with its name (of a WaitForFirstConsumer class, once the
//! scheduler named the node: the volume then requires the node's zone, or
//! the node), after the modelled provisioning time (`volumeProvision`),
//! with the claim's request as capacity, its access modes and volume
//! mode, and the class's reclaim policy; it deletes the Released volumes
//! of its driver whose policy is Delete. Every provisioner a class names
//! is taken to be installed and to succeed.
//!
//! Simplified: one worker for claims and volumes (upstream runs one each);
//! no volume expansion, finalizers, allowedTopologies or storage capacity.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::api::volume::{
    ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_MIGRATED_TO,
    ANN_PROVISIONED_BY, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER, ClaimPhase, ClaimRef,
    ClaimStatus, PersistentVolume, PersistentVolumeClaim, StorageClass, StorageStatus, VolumePhase,
    VolumeStatus,
};
use crate::api::{Kind, Object, ObjectKey};
use crate::engine::{SECOND, Time};
use crate::etcd::EventType;
use crate::fasthash::HashMap;
use crate::output::Subject;
use crate::sim::msg::Response;
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

use super::{Cache, Client, PERSISTENT_VOLUME, PROVISIONER, WorkQueue, log};

pub(super) const NAME: &str = "persistentvolume-controller";
pub(super) const PROVISIONER_NAME: &str = "external-provisioner";

/// `--pvclaimbinder-sync-period`: every claim and volume is synced again
/// this often.
pub const SYNC_PERIOD: Time = 15 * SECOND;

/// The provisioner upstream reserves for classes of statically made
/// volumes: nothing provisions for it.
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

fn as_volume(o: &Object) -> Option<&PersistentVolume> {
    match o {
        Object::PersistentVolume(v) => Some(v),
        _ => None,
    }
}

fn as_claim(o: &Object) -> Option<&PersistentVolumeClaim> {
    match o {
        Object::PersistentVolumeClaim(c) => Some(c),
        _ => None,
    }
}

fn class<'a>(cache: &'a Cache, name: &str) -> Option<&'a StorageClass> {
    match cache
        .get(&ObjectKey::new(Kind::StorageClass, "", name))
        .map(|o| &**o)
    {
        Some(Object::StorageClass(c)) => Some(c),
        _ => None,
    }
}

/// Upstream's `GetDefaultClass`: of the classes marked default, the newest
/// (a tie: the first by name).
pub fn default_class<'a>(classes: impl Iterator<Item = &'a Object>) -> Option<&'a StorageClass> {
    classes
        .filter_map(|o| match o {
            Object::StorageClass(c) if c.is_default() => Some(&**c),
            _ => None,
        })
        .min_by(|a, b| {
            // Upstream's timestamps are whole seconds.
            let secs = |c: &StorageClass| c.metadata.creation_timestamp.map(|t| t / SECOND);
            secs(b)
                .cmp(&secs(a))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        })
}

/// The external provisioner that makes the volumes of a class whose
/// `provisioner` is `p`: `p` itself, or for an in-tree provisioner
/// migrated to CSI (AWS EBS, GCE PD, Azure Disk) its CSI driver; `None`
/// for the other in-tree provisioners, which are not modelled.
pub fn external_provisioner(p: &str) -> Option<&str> {
    use crate::api::volume::{
        AWS_EBS_DRIVER, AWS_EBS_PLUGIN, AZURE_DISK_DRIVER, AZURE_DISK_PLUGIN, GCE_PD_DRIVER,
        GCE_PD_PLUGIN,
    };
    match p {
        AWS_EBS_PLUGIN => Some(AWS_EBS_DRIVER),
        GCE_PD_PLUGIN => Some(GCE_PD_DRIVER),
        AZURE_DISK_PLUGIN => Some(AZURE_DISK_DRIVER),
        _ if p.starts_with("kubernetes.io/") => None,
        _ => Some(p),
    }
}

fn volume_mode(m: Option<&str>) -> &str {
    m.unwrap_or("Filesystem")
}

/// Whether `volume`'s claim reference names `claim` (its uid, when the
/// reference has one): upstream's `IsVolumeBoundToClaim`.
fn bound_to(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    volume.reserved_for(
        &claim.metadata.namespace,
        &claim.metadata.name,
        claim.metadata.uid,
    )
}

fn size(q: Option<&crate::api::Quantity>) -> i64 {
    q.map_or(0, |q| q.value())
}

/// Why `volume` cannot serve `claim`, as upstream's
/// `checkVolumeSatisfyClaim` words it.
fn mismatch(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Option<String> {
    if volume.metadata.deletion_timestamp.is_some() {
        return Some(format!(
            "the volume is marked for deletion \"{}\"",
            volume.metadata.name
        ));
    }
    if size(volume.size()) < size(claim.request()) {
        return Some("requested PV is too small".into());
    }
    if volume.class() != claim.class() {
        return Some("storageClassName does not match".into());
    }
    if volume_mode(volume.spec.volume_mode.as_deref())
        != volume_mode(claim.spec.volume_mode.as_deref())
    {
        return Some("incompatible volumeMode".into());
    }
    if !modes_include(&volume.spec.access_modes, &claim.spec.access_modes) {
        return Some("incompatible accessMode".into());
    }
    None
}

fn modes_include(have: &[String], want: &[String]) -> bool {
    want.iter().all(|m| have.contains(m))
}

/// Upstream's `FindMatchingVolume` over `volumes`: a volume reserved for
/// the claim by its `claimRef` at once (none, on the scheduler's path, if
/// its node affinity does not select the node), else the smallest one that
/// fits (of equal sizes, the first by name). On the scheduler's path (`node`, the node's labels) a volume must
/// also select the node and include the claim's access modes; with
/// `delay` and no node (the controller, for a WaitForFirstConsumer claim)
/// only a reserved volume is taken, the scheduler binds the rest.
pub fn find_matching<'a>(
    claim: &PersistentVolumeClaim,
    volumes: impl Iterator<Item = &'a PersistentVolume>,
    node: Option<&crate::api::Labels>,
    delay: bool,
    excluded: &dyn Fn(&str) -> bool,
) -> Option<&'a PersistentVolume> {
    let request = size(claim.request());
    let mode = volume_mode(claim.spec.volume_mode.as_deref());
    let mut best: Option<(i64, &PersistentVolume)> = None;
    for v in volumes {
        if excluded(&v.metadata.name) || (v.spec.claim_ref.is_some() && !bound_to(v, claim)) {
            continue;
        }
        let vsize = size(v.size());
        if vsize < request
            || volume_mode(v.spec.volume_mode.as_deref()) != mode
            || v.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let affinity_ok = node.is_none_or(|labels| {
            (v.spec.node_affinity.as_ref())
                .and_then(|a| a.required.as_ref())
                .is_none_or(|r| r.matches("", labels))
        });
        if bound_to(v, claim) {
            return affinity_ok.then_some(v);
        }
        if (node.is_none() && delay)
            || v.status.phase != VolumePhase::Available
            || v.class() != claim.class()
            || claim
                .spec
                .selector
                .as_ref()
                .is_some_and(|s| !s.matches(&v.metadata.labels))
            || !affinity_ok
            || (node.is_some() && !modes_include(&v.spec.access_modes, &claim.spec.access_modes))
        {
            continue;
        }
        // Of equal sizes, the first by name (upstream keeps the first of
        // its list, in no particular order).
        if best.is_none_or(|(s, b)| (vsize, &v.metadata.name) < (s, &b.metadata.name)) {
            best = Some((vsize, v));
        }
    }
    best.map(|(_, v)| v)
}

/// Upstream's `findBestMatchForClaim`: volumes are grouped by their set of
/// access modes; the groups that include the claim's are tried from the
/// fewest modes up (a tie by the modes' names), and the first group with a
/// match ([`find_matching`]) wins.
pub fn best_match<'a>(
    claim: &PersistentVolumeClaim,
    volumes: impl Iterator<Item = &'a PersistentVolume>,
    delay: bool,
) -> Option<&'a PersistentVolume> {
    let mut groups: BTreeMap<(usize, Vec<&str>), Vec<&PersistentVolume>> = BTreeMap::new();
    for v in volumes {
        let mut modes: Vec<&str> = v.spec.access_modes.iter().map(String::as_str).collect();
        modes.sort_unstable();
        modes.dedup();
        if claim
            .spec
            .access_modes
            .iter()
            .all(|m| modes.contains(&m.as_str()))
        {
            groups.entry((modes.len(), modes)).or_default().push(v);
        }
    }
    groups
        .into_values()
        .find_map(|g| find_matching(claim, g.into_iter(), None, delay, &|_| false))
}

/// The writes of one sync that must go one after another (upstream's
/// `bind`, each call made once the one before it returned).
struct Chain {
    /// The key whose sync sent them.
    key: ObjectKey,
    /// The keys it writes (and the sync's): none is synced while it runs.
    locked: Vec<ObjectKey>,
    rest: VecDeque<Verb>,
}

#[derive(Default)]
pub struct PersistentVolumeController {
    pub queue: WorkQueue,
    /// Chains of writes in flight, by the tag of the write sent.
    chains: HashMap<u64, Chain>,
    /// Keys a chain in flight writes (or whose sync sent it): not synced
    /// until it ends, so that a sync never reads its objects half written.
    busy: BTreeSet<ObjectKey>,
    /// The last event row of each claim or volume (reason and message),
    /// so that a resync repeats none (upstream's recorder folds repeats
    /// into one event with a count).
    last_event: HashMap<ObjectKey, String>,
    /// Whether the resync timer runs, and when it fires next.
    started: bool,
    next_resync: Time,
    /// When a keep-alive for the next resync was last sent.
    kept_alive: Option<Time>,
    /// What the controller's own writes returned, newer than its informers
    /// (upstream keeps them in its own cache: `storeVolumeUpdate`), until
    /// the informers catch up.
    written: HashMap<ObjectKey, Arc<Object>>,
    /// Keys whose sync was skipped while their writes were in flight:
    /// synced again once they end.
    skipped: BTreeSet<ObjectKey>,
    /// Keys whose sync would have written an object another chain was
    /// writing: synced again when a chain ends.
    deferred: BTreeSet<ObjectKey>,
}

/// What the controller reads: its informers' objects, or what its own
/// writes returned when that is newer.
struct Store<'a> {
    cache: &'a Cache,
    written: &'a HashMap<ObjectKey, Arc<Object>>,
}

impl<'a> Store<'a> {
    fn newest(&self, key: &ObjectKey, cached: Option<&'a Arc<Object>>) -> Option<&'a Arc<Object>> {
        match (cached, self.written.get(key)) {
            (Some(c), Some(w)) if w.meta().resource_version > c.meta().resource_version => Some(w),
            (c, _) => c,
        }
    }

    fn get(&self, key: &ObjectKey) -> Option<&'a Arc<Object>> {
        self.newest(key, self.cache.get(key))
    }

    fn volume(&self, name: &str) -> Option<&'a PersistentVolume> {
        self.get(&ObjectKey::new(Kind::PersistentVolume, "", name))
            .and_then(|o| as_volume(o))
    }

    fn volumes(&self) -> impl Iterator<Item = &'a PersistentVolume> + use<'a, '_> {
        (self.cache.of_kind(Kind::PersistentVolume))
            .filter_map(|(k, o)| self.newest(k, Some(o)))
            .filter_map(|o| as_volume(o))
    }
}

impl PersistentVolumeController {
    /// Starts the resync loop (once the storage informers open).
    pub fn start(&mut self, cx: &mut Cx) {
        if !self.started {
            self.started = true;
            self.next_resync = cx.now() + SYNC_PERIOD;
            cx.send_background(Dest::ControllerManager, SYNC_PERIOD, Msg::VolumeResync);
        }
    }

    /// The periodic resync: every claim, then every volume.
    pub fn resync(&mut self, cache: &Cache, cx: &mut Cx) {
        for kind in [Kind::PersistentVolumeClaim, Kind::PersistentVolume] {
            for (k, _) in cache.of_kind(kind) {
                self.queue.add(k.clone());
            }
        }
        self.next_resync = cx.now() + SYNC_PERIOD;
        cx.send_background(Dest::ControllerManager, SYNC_PERIOD, Msg::VolumeResync);
    }

    /// A claim stays unbound: the run (if it has a time limit) goes on to
    /// the next resync, which may bind it (a lingering no-op then, so
    /// that a claim that never binds does not keep a run without one
    /// going forever).
    fn keep_alive(&mut self, cx: &mut Cx) {
        if self.started && self.kept_alive != Some(self.next_resync) {
            self.kept_alive = Some(self.next_resync);
            cx.send_retry(
                Dest::ControllerManager,
                self.next_resync,
                Msg::AwaitRequests,
                true,
            );
        }
    }

    /// A claim, volume or class changed: its key is queued, and a deleted
    /// claim's volume and a deleted volume's claim with it.
    pub fn observe(&mut self, kind: EventType, key: &ObjectKey, obj: &Object) {
        if let Some(w) = self.written.get(key)
            && (kind == EventType::Deleted
                || obj.meta().resource_version >= w.meta().resource_version)
        {
            self.written.remove(key);
        }
        match obj {
            Object::PersistentVolumeClaim(c) => {
                self.queue.add(key.clone());
                if kind == EventType::Deleted
                    && let Some(v) = c.volume()
                {
                    self.queue
                        .add(ObjectKey::new(Kind::PersistentVolume, "", v));
                }
            }
            Object::PersistentVolume(v) => {
                self.queue.add(key.clone());
                if kind == EventType::Deleted
                    && let Some(r) = &v.spec.claim_ref
                    && let (Some(ns), Some(name)) = (&r.namespace, &r.name)
                {
                    self.queue
                        .add(ObjectKey::new(Kind::PersistentVolumeClaim, ns, name));
                }
            }
            _ => {}
        }
    }

    /// An event row of `key`, unless it repeats the last one.
    fn event(&mut self, cx: &mut Cx, key: &ObjectKey, reason: &str, message: &str) {
        let text = format!("{reason}: {message}");
        if self.last_event.get(key) == Some(&text) {
            return;
        }
        log(cx, "event", Subject::from(key), NAME, &text);
        self.last_event.insert(key.clone(), text);
    }

    /// Sends `writes` one after another for `key`'s sync.
    fn send_chain(&mut self, key: &ObjectKey, writes: Vec<Verb>, client: &mut Client, cx: &mut Cx) {
        let mut rest: VecDeque<Verb> = writes.into();
        let Some(first) = rest.pop_front() else {
            return;
        };
        if std::iter::once(&first)
            .chain(rest.iter())
            .any(|w| self.busy.contains(&w.key()))
        {
            // Read while another chain writes it: decided again after.
            self.deferred.insert(key.clone());
            return;
        }
        let mut locked: Vec<ObjectKey> = std::iter::once(key.clone())
            .chain(std::iter::once(&first).chain(rest.iter()).map(Verb::key))
            .collect();
        locked.sort_unstable();
        locked.dedup();
        for k in &locked {
            self.busy.insert(k.clone());
        }
        self.queue.await_answer(key);
        let tag = client.send(PERSISTENT_VOLUME, cx, first);
        self.chains.insert(
            tag,
            Chain {
                key: key.clone(),
                locked,
                rest,
            },
        );
    }

    /// A chain ended: its keys are free, and those whose syncs it held
    /// back are queued.
    fn unlock(&mut self, chain: &Chain) {
        for k in &chain.locked {
            self.busy.remove(k);
            if self.skipped.remove(k) {
                self.queue.add(k.clone());
            }
        }
        for k in std::mem::take(&mut self.deferred) {
            self.queue.add(k);
        }
    }

    pub fn on_response(&mut self, resp: &Response, client: &mut Client, cx: &mut Cx) {
        let Some(mut chain) = self.chains.remove(&resp.tag) else {
            return;
        };
        self.queue.answer_came(&chain.key);
        let written = match &resp.result {
            Ok(o) => o.clone(),
            Err(e) => {
                let detail = format!(
                    "{} {} failed: {} {}: {}",
                    resp.verb, resp.key, e.code, e.reason, e.message
                );
                log(cx, "error", Subject::from(&chain.key), NAME, &detail);
                self.unlock(&chain);
                self.queue
                    .add_rate_limited(PERSISTENT_VOLUME, chain.key, cx);
                return;
            }
        };
        let rv = written.meta().resource_version;
        self.written.insert(resp.key.clone(), written);
        match chain.rest.pop_front() {
            Some(mut next) => {
                // The next write of the same object is made against what
                // this one returned.
                match &mut next {
                    Verb::Update {
                        key, precondition, ..
                    }
                    | Verb::UpdateStorageStatus {
                        key, precondition, ..
                    } if *key == resp.key => *precondition = Some(rv),
                    _ => {}
                }
                self.queue.await_answer(&chain.key);
                let tag = client.send(PERSISTENT_VOLUME, cx, next);
                self.chains.insert(tag, chain);
            }
            None => {
                self.unlock(&chain);
                if !self.queue.awaiting(&chain.key) {
                    self.queue.forget(&chain.key);
                }
            }
        }
    }

    pub fn sync(&mut self, key: &ObjectKey, cache: &Cache, client: &mut Client, cx: &mut Cx) {
        if self.busy.contains(key) {
            // Its writes are in flight: synced again once they end.
            self.skipped.insert(key.clone());
            return;
        }
        let written = std::mem::take(&mut self.written);
        let store = Store {
            cache,
            written: &written,
        };
        match store.get(key).cloned().as_deref() {
            None => {
                self.last_event.remove(key);
            }
            Some(Object::PersistentVolumeClaim(c)) => self.sync_claim(key, c, &store, client, cx),
            Some(Object::PersistentVolume(v)) => self.sync_volume(key, v, &store, client, cx),
            Some(_) => {}
        }
        self.written = written;
    }

    fn claim_status_write(
        key: &ObjectKey,
        claim: &PersistentVolumeClaim,
        status: ClaimStatus,
    ) -> Option<Verb> {
        (claim.status != status).then(|| Verb::UpdateStorageStatus {
            key: key.clone(),
            status: StorageStatus::Claim(status),
            precondition: Some(claim.metadata.resource_version),
        })
    }

    /// The claim's phase set to Pending (its status cleared), if it is not.
    fn pend(
        &mut self,
        key: &ObjectKey,
        claim: &PersistentVolumeClaim,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        self.keep_alive(cx);
        if let Some(w) = Self::claim_status_write(key, claim, ClaimStatus::default()) {
            self.send_chain(key, vec![w], client, cx);
        }
    }

    /// The claim's phase set to Lost, with the event of why.
    fn lose(
        &mut self,
        key: &ObjectKey,
        claim: &PersistentVolumeClaim,
        reason: &str,
        message: &str,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        if claim.status.phase == ClaimPhase::Lost {
            return;
        }
        self.event(cx, key, reason, message);
        // Upstream's status of a claim without a volume: no capacity or
        // access modes.
        let status = ClaimStatus {
            phase: ClaimPhase::Lost,
            ..ClaimStatus::default()
        };
        let w = Verb::UpdateStorageStatus {
            key: key.clone(),
            status: StorageStatus::Claim(status),
            precondition: Some(claim.metadata.resource_version),
        };
        self.send_chain(key, vec![w], client, cx);
    }

    fn sync_claim(
        &mut self,
        key: &ObjectKey,
        claim: &PersistentVolumeClaim,
        store: &Store<'_>,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        if claim.metadata.deletion_timestamp.is_some() {
            return;
        }
        let cache = store.cache;
        let volumes = || store.volumes();
        if !claim.metadata.annotations.contains_key(ANN_BIND_COMPLETED) {
            let Some(name) = claim.volume() else {
                let delay = class(cache, claim.class()).is_some_and(|c| c.waits_for_consumer());
                if let Some(v) = best_match(claim, volumes(), delay) {
                    let writes = bind_writes(v, key, claim);
                    return self.send_chain(key, writes, client, cx);
                }
                if !claim.has_class()
                    && let Some(def) =
                        default_class(cache.of_kind(Kind::StorageClass).map(|(_, o)| &**o))
                {
                    // Upstream's retroactive default class; the sync that
                    // its update causes goes on.
                    let mut c = claim.clone();
                    c.spec.storage_class_name = Some(def.metadata.name.to_string());
                    let w = update(
                        key,
                        Object::PersistentVolumeClaim(Box::new(c)),
                        claim.metadata.resource_version,
                    );
                    return self.send_chain(key, vec![w], client, cx);
                }
                let selected = claim.metadata.annotations.contains_key(ANN_SELECTED_NODE);
                if delay && !selected {
                    self.event(
                        cx,
                        key,
                        "WaitForFirstConsumer",
                        "waiting for first consumer to be created before binding",
                    );
                    return self.pend(key, claim, client, cx);
                }
                let class_name = claim.class();
                if class_name.is_empty() {
                    self.event(
                        cx,
                        key,
                        "FailedBinding",
                        "no persistent volumes available for this claim and no storage class is set",
                    );
                    return self.pend(key, claim, client, cx);
                }
                let Some(sc) = class(cache, class_name) else {
                    let msg = format!("storageclass.storage.k8s.io \"{class_name}\" not found");
                    self.event(cx, key, "ProvisioningFailed", &msg);
                    return self.pend(key, claim, client, cx);
                };
                let in_tree = sc.class.provisioner.as_str();
                let Some(p) = external_provisioner(in_tree) else {
                    // An in-tree provisioner not migrated to CSI: none is
                    // modelled.
                    let msg = format!("no volume plugin matched name: {in_tree}");
                    self.event(cx, key, "ProvisioningFailed", &msg);
                    return self.pend(key, claim, client, cx);
                };
                let migrated = (p != in_tree).then_some(p);
                let annotated = claim
                    .metadata
                    .annotations
                    .get(ANN_STORAGE_PROVISIONER)
                    .map(String::as_str)
                    == Some(p)
                    && claim
                        .metadata
                        .annotations
                        .get(ANN_BETA_STORAGE_PROVISIONER)
                        .map(String::as_str)
                        == Some(p)
                    && migrated.is_none_or(|m| {
                        claim
                            .metadata
                            .annotations
                            .get(ANN_MIGRATED_TO)
                            .map(String::as_str)
                            == Some(m)
                    });
                let msg = format!(
                    "Waiting for a volume to be created either by the external provisioner '{p}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
                );
                self.event(cx, key, "ExternalProvisioning", &msg);
                let mut writes = Vec::new();
                if !annotated {
                    let mut c = claim.clone();
                    let ann = Arc::make_mut(&mut c.metadata.annotations);
                    ann.insert(ANN_BETA_STORAGE_PROVISIONER.into(), p.into());
                    ann.insert(ANN_STORAGE_PROVISIONER.into(), p.into());
                    if let Some(m) = migrated {
                        ann.insert(ANN_MIGRATED_TO.into(), m.into());
                    }
                    writes.push(update(
                        key,
                        Object::PersistentVolumeClaim(Box::new(c)),
                        claim.metadata.resource_version,
                    ));
                }
                writes.extend(Self::claim_status_write(key, claim, ClaimStatus::default()));
                return self.send_chain(key, writes, client, cx);
            };
            // The claim names its volume.
            let Some(v) = store.volume(name) else {
                return self.pend(key, claim, client, cx);
            };
            if v.spec.claim_ref.is_none() {
                if let Some(why) = mismatch(v, claim) {
                    let msg = format!("Cannot bind to requested volume \"{name}\": {why}");
                    self.event(cx, key, "VolumeMismatch", &msg);
                    return self.pend(key, claim, client, cx);
                }
            } else if !bound_to(v, claim) {
                let msg = format!("volume \"{name}\" already bound to a different claim.");
                self.event(cx, key, "FailedBinding", &msg);
                return self.pend(key, claim, client, cx);
            }
            let writes = bind_writes(v, key, claim);
            return self.send_chain(key, writes, client, cx);
        }
        // A bound claim.
        let Some(name) = claim.volume() else {
            let msg =
                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!";
            return self.lose(key, claim, "ClaimLost", msg, client, cx);
        };
        let Some(v) = store.volume(name) else {
            let msg = "Bound claim has lost its PersistentVolume. Data on the volume is lost!";
            return self.lose(key, claim, "ClaimLost", msg, client, cx);
        };
        let uid_matches = v
            .spec
            .claim_ref
            .as_ref()
            .is_none_or(|r| r.uid.as_deref() == Some(claim.metadata.uid.to_string().as_str()));
        if uid_matches {
            let writes = bind_writes(v, key, claim);
            self.send_chain(key, writes, client, cx);
        } else {
            let msg = "Two claims are bound to the same volume, this one is bound incorrectly";
            self.lose(key, claim, "ClaimMisbound", msg, client, cx);
        }
    }

    fn volume_phase(
        key: &ObjectKey,
        volume: &PersistentVolume,
        phase: VolumePhase,
        message: &str,
    ) -> Option<Verb> {
        // Upstream's `updateVolumePhase` compares the phase alone.
        (volume.status.phase != phase).then(|| Verb::UpdateStorageStatus {
            key: key.clone(),
            status: StorageStatus::Volume(VolumeStatus {
                phase,
                message: message.to_string(),
            }),
            precondition: Some(volume.metadata.resource_version),
        })
    }

    fn sync_volume(
        &mut self,
        key: &ObjectKey,
        volume: &PersistentVolume,
        store: &Store<'_>,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let reference = volume.spec.claim_ref.as_ref();
        let uid = reference
            .and_then(|r| r.uid.as_deref())
            .filter(|u| !u.is_empty());
        let (Some(r), Some(uid)) = (reference, uid) else {
            // Free, or pre-bound by a user: Available.
            let w = Self::volume_phase(key, volume, VolumePhase::Available, "");
            return self.send_chain(key, w.into_iter().collect(), client, cx);
        };
        let claim_key = ObjectKey::new(
            Kind::PersistentVolumeClaim,
            r.namespace.as_deref().unwrap_or(""),
            r.name.as_deref().unwrap_or(""),
        );
        let claim = store
            .get(&claim_key)
            .and_then(|o| as_claim(o))
            .filter(|c| c.metadata.uid.to_string() == uid);
        match claim {
            None => {
                let writes = self.release(key, volume, cx);
                self.send_chain(key, writes, client, cx);
            }
            Some(c) if c.volume().is_none() => {
                // The claim's half of the binding is to come.
                self.queue.add(claim_key);
            }
            Some(c) if c.volume() == Some(&volume.metadata.name) => {
                let w = Self::volume_phase(key, volume, VolumePhase::Bound, "");
                self.send_chain(key, w.into_iter().collect(), client, cx);
            }
            Some(_) => {
                // The claim is bound to another volume.
                if volume.metadata.annotations.contains_key(ANN_PROVISIONED_BY)
                    && volume.reclaim_policy() == "Delete"
                {
                    let writes = self.release(key, volume, cx);
                    return self.send_chain(key, writes, client, cx);
                }
                let mut v = volume.clone();
                if v.metadata.annotations.contains_key(ANN_BOUND_BY_CONTROLLER) {
                    v.spec.claim_ref = None;
                    Arc::make_mut(&mut v.metadata.annotations).remove(ANN_BOUND_BY_CONTROLLER);
                } else if let Some(r) = &mut v.spec.claim_ref {
                    r.uid = None;
                }
                let w = update(
                    key,
                    Object::PersistentVolume(Box::new(v)),
                    volume.metadata.resource_version,
                );
                let status = Verb::UpdateStorageStatus {
                    key: key.clone(),
                    status: StorageStatus::Volume(VolumeStatus {
                        phase: VolumePhase::Available,
                        message: String::new(),
                    }),
                    precondition: None,
                };
                self.send_chain(key, vec![w, status], client, cx);
            }
        }
    }

    /// A volume whose claim is gone: its phase Released (unless it is so
    /// or Failed already), then its reclamation.
    fn release(&mut self, key: &ObjectKey, volume: &PersistentVolume, cx: &mut Cx) -> Vec<Verb> {
        let mut writes = Vec::new();
        if !matches!(
            volume.status.phase,
            VolumePhase::Released | VolumePhase::Failed
        ) {
            writes.extend(Self::volume_phase(key, volume, VolumePhase::Released, ""));
        }
        writes.extend(self.reclaim(key, volume, cx));
        writes
    }

    /// Upstream's `reclaimVolume` of a Released volume: the status write
    /// of a reclamation that fails here, if any (Retain keeps the volume;
    /// a provisioned volume is its provisioner's to delete).
    fn reclaim(&mut self, key: &ObjectKey, volume: &PersistentVolume, cx: &mut Cx) -> Option<Verb> {
        let name = &volume.metadata.name;
        let (reason, message) = match volume.reclaim_policy() {
            "Retain" => return None,
            // A provisioned volume, or a CSI one (upstream's
            // HonorPVReclaimPolicy): the external provisioner deletes it.
            "Delete"
                if volume.metadata.annotations.contains_key(ANN_PROVISIONED_BY)
                    || volume.spec.source.csi.is_some() =>
            {
                return None;
            }
            "Delete" => (
                "VolumeFailedDelete",
                format!(
                    "error getting deleter volume plugin for volume \"{name}\": no deletable volume plugin matched"
                ),
            ),
            "Recycle" => (
                "VolumeFailedRecycle",
                "No recycler plugin found for the volume!".to_string(),
            ),
            _ => (
                "VolumeUnknownReclaimPolicy",
                "Volume has unrecognized PersistentVolumeReclaimPolicy".to_string(),
            ),
        };
        self.event(cx, key, reason, &message);
        Self::volume_phase(key, volume, VolumePhase::Failed, &message)
    }
}

/// A PUT of `object`, at the resourceVersion the controller read.
fn update(key: &ObjectKey, object: Object, rv: u64) -> Verb {
    Verb::Update {
        key: key.clone(),
        object,
        precondition: Some(rv),
    }
}

/// Upstream's `bind` of `volume` and `claim`: the writes still needed, in
/// its order.
fn bind_writes(
    volume: &PersistentVolume,
    claim_key: &ObjectKey,
    claim: &PersistentVolumeClaim,
) -> Vec<Verb> {
    let uid = claim.metadata.uid.to_string();
    let vkey = ObjectKey::new(Kind::PersistentVolume, "", &volume.metadata.name);
    let mut writes = Vec::new();
    let reference_done = volume
        .spec
        .claim_ref
        .as_ref()
        .is_some_and(|r| bound_to(volume, claim) && r.uid.as_deref() == Some(uid.as_str()));
    if !reference_done {
        let mut v = volume.clone();
        if !bound_to(volume, claim) {
            Arc::make_mut(&mut v.metadata.annotations)
                .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
        }
        v.spec.claim_ref = Some(ClaimRef {
            namespace: Some(claim.metadata.namespace.to_string()),
            name: Some(claim.metadata.name.to_string()),
            uid: Some(uid),
        });
        writes.push(update(
            &vkey,
            Object::PersistentVolume(Box::new(v)),
            volume.metadata.resource_version,
        ));
    }
    if volume.status.phase != VolumePhase::Bound {
        writes.push(Verb::UpdateStorageStatus {
            key: vkey,
            status: StorageStatus::Volume(VolumeStatus {
                phase: VolumePhase::Bound,
                message: String::new(),
            }),
            precondition: Some(volume.metadata.resource_version),
        });
    }
    let ann = &claim.metadata.annotations;
    if claim.volume() != Some(&volume.metadata.name) || !ann.contains_key(ANN_BIND_COMPLETED) {
        let mut c = claim.clone();
        let a = Arc::make_mut(&mut c.metadata.annotations);
        if claim.volume() != Some(&volume.metadata.name) {
            a.insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
        }
        a.insert(ANN_BIND_COMPLETED.into(), "yes".into());
        c.spec.volume_name = Some(volume.metadata.name.to_string());
        writes.push(update(
            claim_key,
            Object::PersistentVolumeClaim(Box::new(c)),
            claim.metadata.resource_version,
        ));
    }
    let status = ClaimStatus {
        phase: ClaimPhase::Bound,
        capacity: if claim.status.phase == ClaimPhase::Bound {
            claim.status.capacity.clone()
        } else {
            volume.spec.capacity.clone()
        },
        access_modes: volume.spec.access_modes.clone(),
    };
    if claim.status != status {
        writes.push(Verb::UpdateStorageStatus {
            key: claim_key.clone(),
            status: StorageStatus::Claim(status),
            precondition: Some(claim.metadata.resource_version),
        });
    }
    writes
}

/// The external provisioner: it makes the volumes of the claims annotated
/// for a class's provisioner and deletes the Released volumes it made.
#[derive(Default)]
pub struct Provisioner {
    pub queue: WorkQueue,
    /// Claims whose volume is being made: their uid, and when it is ready.
    provisioning: BTreeMap<ObjectKey, (u64, Time)>,
    /// Creates and deletes in flight, by tag: the claim's uid (a create)
    /// or none (a delete), and the key synced.
    pending: HashMap<u64, (Option<u64>, ObjectKey)>,
}

impl Provisioner {
    pub fn observe(&mut self, key: &ObjectKey, obj: &Object) {
        if matches!(
            obj,
            Object::PersistentVolumeClaim(_) | Object::PersistentVolume(_)
        ) {
            self.queue.add(key.clone());
        }
    }

    pub fn on_response(&mut self, resp: &Response, cx: &mut Cx) {
        let Some((claim_uid, key)) = self.pending.remove(&resp.tag) else {
            return;
        };
        self.queue.answer_came(&key);
        match (&resp.result, claim_uid) {
            (Ok(o), Some(_)) => {
                let msg = format!(
                    "ProvisioningSucceeded: Successfully provisioned volume {}",
                    o.meta().name
                );
                log(cx, "event", Subject::from(&key), PROVISIONER_NAME, &msg);
                self.queue.forget(&key);
            }
            (Ok(_), None) => self.queue.forget(&key),
            (Err(e), uid) => {
                if e.reason == "AlreadyExists" || e.reason == "NotFound" {
                    self.queue.forget(&key);
                } else {
                    let msg = format!(
                        "{} failed: {} {}: {}",
                        resp.verb, e.code, e.reason, e.message
                    );
                    log(cx, "error", Subject::from(&key), PROVISIONER_NAME, &msg);
                    if uid.is_some() {
                        self.provisioning.remove(&key);
                    }
                    self.queue.add_rate_limited(PROVISIONER, key, cx);
                }
            }
        }
    }

    pub fn sync(&mut self, key: &ObjectKey, cache: &Cache, client: &mut Client, cx: &mut Cx) {
        let Some(obj) = cache.get(key).cloned() else {
            self.provisioning.remove(key);
            return;
        };
        match &*obj {
            Object::PersistentVolumeClaim(c) => self.sync_claim(key, c, cache, client, cx),
            Object::PersistentVolume(v) => {
                // Its provisioner's (or, a static CSI volume, its
                // driver's), when a class names that provisioner.
                let owner = (v.metadata.annotations.get(ANN_PROVISIONED_BY)).or(v
                    .spec
                    .source
                    .csi
                    .as_ref()
                    .map(|c| &c.driver));
                let mine = owner.is_some_and(|p| {
                    cache.of_kind(Kind::StorageClass).any(|(_, o)| match &**o {
                        Object::StorageClass(c) => {
                            external_provisioner(&c.class.provisioner) == Some(p.as_str())
                        }
                        _ => false,
                    })
                });
                if mine
                    && v.status.phase == VolumePhase::Released
                    && v.reclaim_policy() == "Delete"
                    && v.metadata.deletion_timestamp.is_none()
                    && !self.pending.values().any(|(_, k)| k == key)
                {
                    log(
                        cx,
                        "delete",
                        Subject::from(key),
                        PROVISIONER_NAME,
                        "deleting the released volume it provisioned",
                    );
                    self.queue.await_answer(key);
                    let verb = Verb::Delete {
                        key: key.clone(),
                        precondition: None,
                    };
                    let tag = client.send(PROVISIONER, cx, verb);
                    self.pending.insert(tag, (None, key.clone()));
                }
            }
            _ => {}
        }
    }

    fn sync_claim(
        &mut self,
        key: &ObjectKey,
        claim: &PersistentVolumeClaim,
        cache: &Cache,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        let uid = claim.metadata.uid;
        let Some(p) = claim
            .metadata
            .annotations
            .get(ANN_STORAGE_PROVISIONER)
            .or_else(|| claim.metadata.annotations.get(ANN_BETA_STORAGE_PROVISIONER))
        else {
            return;
        };
        let name = format!("pvc-{uid}");
        let sc = class(cache, claim.class())
            .filter(|c| external_provisioner(&c.class.provisioner) == Some(p.as_str()));
        let wanted = claim.volume().is_none()
            && claim.metadata.deletion_timestamp.is_none()
            && sc.is_some()
            && cache
                .get(&ObjectKey::new(Kind::PersistentVolume, "", &name))
                .is_none();
        let selected = claim.metadata.annotations.get(ANN_SELECTED_NODE);
        let Some(sc) = sc.filter(|c| wanted && (selected.is_some() || !c.waits_for_consumer()))
        else {
            self.provisioning.remove(key);
            return;
        };
        let now = cx.now();
        let ready = match self.provisioning.get(key).filter(|(u, _)| *u == uid) {
            Some(&(_, t)) => t,
            None => {
                let msg = format!(
                    "Provisioning: External provisioner is provisioning volume for claim \"{}/{}\"",
                    claim.metadata.namespace, claim.metadata.name
                );
                log(cx, "event", Subject::from(key), PROVISIONER_NAME, &msg);
                let t = now + cx.lat.sample(Hop::VolumeProvision);
                self.provisioning.insert(key.clone(), (uid, t));
                cx.send_at(
                    Dest::ControllerManager,
                    t,
                    Msg::ControllerRequeue {
                        controller: PROVISIONER,
                        key: key.clone(),
                    },
                );
                t
            }
        };
        if now < ready || self.pending.values().any(|(u, _)| *u == Some(uid)) {
            return;
        }
        let mut v = PersistentVolume::default();
        v.metadata.name = name.into();
        Arc::make_mut(&mut v.metadata.annotations).insert(ANN_PROVISIONED_BY.into(), p.clone());
        v.spec.capacity = claim
            .request()
            .map(|q| BTreeMap::from([("storage".to_string(), *q)]))
            .unwrap_or_default();
        v.spec.access_modes = claim.spec.access_modes.clone();
        v.spec.volume_mode = claim.spec.volume_mode.clone();
        v.spec.storage_class_name = Some(claim.class().to_string());
        v.spec.persistent_volume_reclaim_policy = Some(
            sc.class
                .reclaim_policy
                .clone()
                .unwrap_or_else(|| "Delete".into()),
        );
        v.spec.claim_ref = Some(ClaimRef {
            namespace: Some(claim.metadata.namespace.to_string()),
            name: Some(claim.metadata.name.to_string()),
            uid: Some(uid.to_string()),
        });
        v.spec.source.csi = Some(crate::api::volume::CsiSource {
            driver: p.clone(),
            volume_handle: format!("{p}-{uid}"),
            read_only: false,
        });
        if let Some(node) = selected {
            v.spec.node_affinity = Some(topology_of(cache, node));
        }
        self.queue.await_answer(key);
        let tag = client.send(
            PROVISIONER,
            cx,
            Verb::Create(Object::PersistentVolume(Box::new(v))),
        );
        self.pending.insert(tag, (Some(uid), key.clone()));
    }
}

/// The node affinity of a volume provisioned for `node`: the node's zone
/// (`topology.kubernetes.io/zone`) when it has one, as a zonal disk's,
/// else the node itself (`kubernetes.io/hostname`), as a local volume's.
fn topology_of(cache: &Cache, node: &str) -> crate::api::volume::VolumeNodeAffinity {
    use crate::api::selector::{
        NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
    };
    const ZONE: &str = "topology.kubernetes.io/zone";
    let zone = match cache
        .get(&ObjectKey::new(Kind::Node, "", node))
        .map(|o| &**o)
    {
        Some(Object::Node(n)) => n.metadata.labels.get(ZONE).cloned(),
        _ => None,
    };
    let (key, value) = match zone {
        Some(z) => (ZONE, z),
        None => ("kubernetes.io/hostname", node.to_string()),
    };
    crate::api::volume::VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: vec![NodeSelectorRequirement {
                    key: key.to_string(),
                    operator: NodeSelectorOperator::In,
                    values: vec![value],
                }],
                match_fields: Vec::new(),
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Manifest;

    fn volume(yaml: &str) -> PersistentVolume {
        let Some(Object::PersistentVolume(mut v)) =
            serde_yaml::from_str::<Manifest>(yaml).unwrap().object
        else {
            panic!("not a volume")
        };
        v.status.phase = VolumePhase::Available;
        *v
    }

    fn claim(yaml: &str) -> PersistentVolumeClaim {
        let Some(Object::PersistentVolumeClaim(mut c)) =
            serde_yaml::from_str::<Manifest>(yaml).unwrap().object
        else {
            panic!("not a claim")
        };
        c.metadata.namespace = "default".into();
        c.metadata.uid = 7;
        *c
    }

    fn pv(name: &str, size: &str, modes: &str, extra: &str) -> PersistentVolume {
        volume(&format!(
            "kind: PersistentVolume\nmetadata: {{name: {name}, labels: {{tier: {name}}}}}\nspec: {{capacity: {{storage: {size}}}, accessModes: [{modes}], hostPath: {{path: /x}}{extra}}}\n"
        ))
    }

    #[test]
    fn the_best_match_is_the_smallest_fit_of_the_fewest_modes_and_a_pre_bound_volume_wins() {
        let c = claim(
            "kind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}\n",
        );
        let small = pv("small", "1Gi", "ReadWriteOnce", "");
        let big = pv("big", "100Gi", "ReadWriteOnce", "");
        let mid = pv("mid", "10Gi", "ReadWriteOnce", "");
        let many = pv("many", "6Gi", "ReadWriteOnce, ReadOnlyMany", "");
        let classed = pv(
            "classed",
            "6Gi",
            "ReadWriteOnce",
            ", storageClassName: fast",
        );
        let all = [&small, &big, &mid, &many, &classed];
        let best = best_match(&c, all.iter().copied(), false).unwrap();
        // `many` is smaller but has more modes: its group comes later.
        assert_eq!(best.metadata.name, "mid");
        // Not Available: skipped; the group of the claim's modes alone
        // still has a fit, the 100Gi one, which wins over the smaller one
        // of more modes.
        let mut mid_bound = mid.clone();
        mid_bound.status.phase = VolumePhase::Released;
        let best = best_match(&c, [&small, &big, &mid_bound, &many].into_iter(), false).unwrap();
        assert_eq!(best.metadata.name, "big");
        let best = best_match(&c, [&small, &mid_bound, &many].into_iter(), false).unwrap();
        assert_eq!(best.metadata.name, "many");
        // A volume reserved for the claim wins over a smaller one.
        let pre = pv(
            "pre",
            "100Gi",
            "ReadWriteOnce",
            ", claimRef: {namespace: default, name: data}",
        );
        let best = best_match(&c, [&mid, &pre].into_iter(), false).unwrap();
        assert_eq!(best.metadata.name, "pre");
        // One reserved for another claim is never chosen.
        let other = pv(
            "other",
            "6Gi",
            "ReadWriteOnce",
            ", claimRef: {namespace: default, name: else}",
        );
        assert!(best_match(&c, [&other, &small].into_iter(), false).is_none());
        // A selector picks by labels; a class must match.
        let c2 = claim(
            "kind: PersistentVolumeClaim\nmetadata: {name: d2}\nspec: {accessModes: [ReadWriteOnce], selector: {matchLabels: {tier: big}}, resources: {requests: {storage: 5Gi}}}\n",
        );
        assert_eq!(
            best_match(&c2, all.iter().copied(), false)
                .unwrap()
                .metadata
                .name,
            "big"
        );
        let c3 = claim(
            "kind: PersistentVolumeClaim\nmetadata: {name: d3}\nspec: {accessModes: [ReadWriteOnce], storageClassName: fast, resources: {requests: {storage: 5Gi}}}\n",
        );
        assert_eq!(
            best_match(&c3, all.iter().copied(), false)
                .unwrap()
                .metadata
                .name,
            "classed"
        );
    }

    #[test]
    fn a_mismatch_is_named_as_upstream_names_it() {
        let c = claim(
            "kind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {accessModes: [ReadWriteMany], resources: {requests: {storage: 5Gi}}}\n",
        );
        let small = pv("small", "1Gi", "ReadWriteMany", "");
        assert_eq!(
            mismatch(&small, &c).as_deref(),
            Some("requested PV is too small")
        );
        let rwo = pv("rwo", "10Gi", "ReadWriteOnce", "");
        assert_eq!(
            mismatch(&rwo, &c).as_deref(),
            Some("incompatible accessMode")
        );
        let ok = pv("ok", "10Gi", "ReadWriteMany", "");
        assert_eq!(mismatch(&ok, &c), None);
    }

    #[test]
    fn the_newest_default_class_wins() {
        let class = |name: &str, t: Time, default: bool| {
            let mut c = StorageClass::default();
            c.metadata.name = name.into();
            c.metadata.creation_timestamp = Some(t);
            if default {
                Arc::make_mut(&mut c.metadata.annotations)
                    .insert(crate::api::volume::ANN_DEFAULT_CLASS.into(), "true".into());
            }
            Object::StorageClass(Box::new(c))
        };
        // Upstream's timestamps are whole seconds: b and d, made within
        // the same second, tie, and the first by name wins.
        let classes = [
            class("a", SECOND, true),
            class("b", 5 * SECOND + 700_000_000, true),
            class("c", 9 * SECOND, false),
            class("d", 5 * SECOND, true),
        ];
        let d = default_class(classes.iter()).unwrap();
        assert_eq!(d.metadata.name, "b");
        assert!(default_class(classes[2..3].iter()).is_none());
    }
}
