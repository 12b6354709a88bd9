//! The garbage collector (upstream `pkg/controller/garbagecollector/`):
//! when an owner is deleted, its dependents (objects whose ownerReferences
//! name it) are deleted in the background; an owner deleted with
//! `propagationPolicy: Orphan` carries the `orphan` finalizer, and the
//! collector removes the references to it from its dependents before it
//! deletes the owner.
//!
//! Simplified: the dependency graph is the controller manager's informer
//! cache (owners are Deployments and ReplicaSets, dependents ReplicaSets
//! and pods); foreground deletion is not modelled.

use crate::fasthash::{HashMap, HashSet};
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::api::{Kind, Object, ObjectKey};
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::Verb;
use crate::sim::msg::Response;

use super::{Cache, Client, GARBAGE_COLLECTOR, WorkQueue, log};

pub const ORPHAN_FINALIZER: &str = "orphan";
pub(super) const NAME: &str = "garbage-collector";

fn owner_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet"
    )
}

#[derive(Default)]
pub struct GarbageCollector {
    pub queue: WorkQueue,
    /// Owners being deleted with the Orphan policy.
    orphaning: BTreeSet<ObjectKey>,
    /// Owners deleted in the background: a dependent that shows up later
    /// (created while its owner went) is collected too, as upstream's
    /// graph does for a dependent whose owner is absent.
    deleted: HashSet<u64>,
    /// Dependents whose delete is sent and not yet observed.
    deleting: BTreeSet<ObjectKey>,
    /// Orphaned owners whose delete (the finalizer's removal) is in flight:
    /// a refused one is orphaned again at its retry.
    finalizing: BTreeSet<ObjectKey>,
    /// Owners whose dependents' updates (dropping the reference) are in
    /// flight: how many, and whether one was refused. The finalizer is
    /// removed once all succeeded; a refusal orphans again at the retry.
    orphan_updates: HashMap<ObjectKey, (usize, bool)>,
    /// The owner of each dependent update in flight, by tag.
    orphan_tags: HashMap<u64, ObjectKey>,
}

impl GarbageCollector {
    pub fn observe(
        &mut self,
        kind: EventType,
        key: &ObjectKey,
        obj: &Arc<Object>,
        old: Option<&Object>,
        cache: &Cache,
    ) {
        let meta = obj.meta();
        let orphan = meta.finalizers.iter().any(|f| f == ORPHAN_FINALIZER);
        // The owner uids are parsed only while some owner is gone.
        if kind != EventType::Deleted
            && !self.deleted.is_empty()
            && meta
                .owner_references
                .iter()
                .filter_map(|r| r.uid.parse::<u64>().ok())
                .any(|u| self.deleted.contains(&u))
        {
            self.queue.add(key.clone());
        }
        if kind == EventType::Deleted {
            self.deleting.remove(key);
        }
        match kind {
            EventType::Deleted if !orphan => {
                if obj.kind() != Kind::Pod && obj.kind() != Kind::Node {
                    self.deleted.insert(meta.uid);
                }
                // The owner is gone: its dependents are checked.
                for d in cache.owned_by(meta.uid) {
                    self.queue.add(d);
                }
            }
            EventType::Modified
                if orphan
                    && meta.deletion_timestamp.is_some()
                    && !old.is_some_and(|o| {
                        o.meta().finalizers.iter().any(|f| f == ORPHAN_FINALIZER)
                    }) =>
            {
                self.orphaning.insert(key.clone());
                self.queue.add(key.clone());
            }
            _ => {}
        }
    }

    pub fn sync(
        &mut self,
        key: &ObjectKey,
        cache: &Cache,
        client: &mut Client,
        cx: &mut crate::sim::Cx,
    ) {
        let Some(obj) = cache.get(key).cloned() else {
            self.orphaning.remove(key);
            return;
        };
        let uid = obj.meta().uid;
        if self.orphaning.remove(key) {
            if self.orphan_updates.contains_key(key) {
                // Its dependents' updates are still answering: their
                // answers decide.
                return;
            }
            let deps = cache.owned_by(uid);
            let uid_s = uid.to_string();
            let mut sent = 0;
            for dk in deps {
                let Some(dep) = cache.get(&dk) else { continue };
                let mut o = (**dep).clone();
                std::sync::Arc::make_mut(&mut o.meta_mut().owner_references)
                    .retain(|r| r.uid != uid_s);
                log(
                    cx,
                    "orphan",
                    Subject::from(&dk),
                    NAME,
                    &format!("owner {key} deleted with propagationPolicy=Orphan"),
                );
                let rv = dep.meta().resource_version;
                let tag = client.send(
                    GARBAGE_COLLECTOR,
                    cx,
                    Verb::Update {
                        key: dk.clone(),
                        object: o,
                        precondition: Some(rv),
                    },
                );
                self.orphan_tags.insert(tag, key.clone());
                sent += 1;
            }
            if sent == 0 {
                self.remove_orphan_finalizer(key, client, cx);
            } else {
                self.orphan_updates.insert(key.clone(), (sent, false));
            }
            return;
        }
        // A dependent: delete it once every owner it names is gone.
        let refs: Vec<_> = obj
            .meta()
            .owner_references
            .iter()
            .filter(|r| owner_kind(&r.kind))
            .filter_map(|r| r.uid.parse::<u64>().ok().map(|u| (u, r)))
            .collect();
        if refs.is_empty() || refs.iter().any(|(u, _)| cache.has_uid(*u)) {
            return;
        }
        if (obj.meta().deletion_timestamp.is_some() && key.kind != Kind::Pod)
            || !self.deleting.insert(key.clone())
        {
            return;
        }
        let (_, r) = refs[0];
        log(
            cx,
            "delete",
            Subject::from(key),
            NAME,
            &format!(
                "owner {}/{} deleted (propagationPolicy=Background)",
                r.kind, r.name
            ),
        );
        send_delete(key, client, cx);
    }

    /// Whether `key`'s orphaning (its dependents' updates, then its own
    /// delete) is unanswered: the answers decide its sync.
    pub fn waiting(&self, key: &ObjectKey) -> bool {
        self.orphan_updates.contains_key(key) || self.finalizing.contains(key)
    }

    /// Upstream's `removeFinalizer` once the dependents are orphaned: the
    /// owner's delete goes through.
    fn remove_orphan_finalizer(
        &mut self,
        key: &ObjectKey,
        client: &mut Client,
        cx: &mut crate::sim::Cx,
    ) {
        log(
            cx,
            "delete",
            Subject::from(key),
            NAME,
            "dependents orphaned: orphan finalizer removed",
        );
        self.finalizing.insert(key.clone());
        send_delete(key, client, cx);
    }

    pub fn on_response(&mut self, resp: &Response, client: &mut Client, cx: &mut crate::sim::Cx) {
        if resp.result.is_err() {
            self.deleting.remove(&resp.key);
        }
        if let Err(e) = &resp.result
            && e.reason != "NotFound"
        {
            let detail = format!(
                "{} failed: {} {}: {}",
                resp.verb, e.code, e.reason, e.message
            );
            log(cx, "error", Subject::from(&resp.key), NAME, &detail);
        }
        if let Some(owner) = self.orphan_tags.remove(&resp.tag) {
            let entry = self
                .orphan_updates
                .get_mut(&owner)
                .expect("an update in flight counts for its owner");
            entry.0 -= 1;
            // A dependent gone meanwhile needs no orphaning.
            entry.1 |= resp.result.as_ref().is_err_and(|e| e.reason != "NotFound");
            if entry.0 == 0 {
                let (_, refused) = self.orphan_updates.remove(&owner).expect("present");
                if refused {
                    // Upstream's attemptToOrphan worker retries the owner.
                    self.orphaning.insert(owner.clone());
                    self.queue.add_rate_limited(GARBAGE_COLLECTOR, owner, cx);
                } else {
                    self.remove_orphan_finalizer(&owner, client, cx);
                }
            }
            return;
        }
        // A delete's key is the key that was synced: a refusal fails that
        // sync (retried after its backoff); NotFound means it is done.
        if resp.verb == "delete" {
            let finalizing = self.finalizing.remove(&resp.key);
            if finalizing && resp.result.as_ref().is_err_and(|e| e.reason != "NotFound") {
                self.orphaning.insert(resp.key.clone());
            }
            self.queue.sync_answered(GARBAGE_COLLECTOR, resp, cx);
        }
    }
}

/// The garbage collector's DELETE of `key`.
fn send_delete(key: &ObjectKey, client: &mut Client, cx: &mut crate::sim::Cx) {
    client.send(
        GARBAGE_COLLECTOR,
        cx,
        Verb::Delete {
            key: key.clone(),
            precondition: None,
        },
    );
}
