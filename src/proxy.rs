//! kube-proxy on every node, modelled as one group. Every kube-proxy
//! watches the same Services and EndpointSlices, so the group takes one
//! delivery per change and appends it to a shared log; each member (node)
//! runs its own rate-limited sync (at most one start per minSyncPeriod) that
//! programs everything in the log up to that point. The cost grows with
//! syncs, not with changes times nodes, and a pod's `reachable_s`, the end
//! of the last node's sync that programs it, stays exact.
//!
//! Simplified: all members receive a change at the same time (one watch
//! delivery); the periodic 30 s resync and the burst of 2 are not modelled.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::api::service::ANNOTATION_TRIGGER_TIME;
use crate::api::{Kind, Object, ObjectKey};
use crate::engine::Time;
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::msg::{FieldSelector, WatchSpec};
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

/// One change of the rules: when it was triggered and, when an endpoint
/// became ready, the pod it makes reachable.
struct RuleChange {
    trigger: Time,
    pod: Option<u64>,
    name: Option<ObjectKey>,
}

struct Member {
    last_start: Option<Time>,
    pending: bool,
    /// Log entries before this index are programmed on the node.
    upto: usize,
}

pub struct ProxyGroup {
    node_names: Vec<Arc<str>>,
    members: Vec<Member>,
    log: Vec<RuleChange>,
    /// Ready endpoints per slice, as last seen: pod uid -> ready.
    slices: HashMap<ObjectKey, BTreeMap<u64, bool>>,
    /// How many members have programmed exactly up to each log index.
    upto_counts: BTreeMap<usize, u32>,
    /// Every log entry before this index is programmed on every node.
    everywhere: usize,
    /// The number of endpoints in the rules (sync cost grows with it).
    endpoints: usize,
    idle: Vec<u32>,
}

impl ProxyGroup {
    pub fn new(node_names: Vec<Arc<str>>) -> Self {
        let n = node_names.len();
        let mut upto_counts = BTreeMap::new();
        if n > 0 {
            upto_counts.insert(0, n as u32);
        }
        ProxyGroup {
            node_names,
            members: (0..n)
                .map(|_| Member {
                    last_start: None,
                    pending: false,
                    upto: 0,
                })
                .collect(),
            log: Vec::new(),
            slices: HashMap::new(),
            upto_counts,
            everywhere: 0,
            endpoints: 0,
            idle: (0..n as u32).rev().collect(),
        }
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => {
                for (tag, kind) in [(1, Kind::Service), (2, Kind::EndpointSlice)] {
                    let spec = WatchSpec {
                        tag,
                        kind,
                        namespace: None,
                        labels: None,
                        field: FieldSelector::Everything,
                        from_revision: None,
                    };
                    cx.api(Dest::KubeProxy, 0, Verb::Watch(spec));
                }
            }
            Msg::WatchList { objects, .. } => {
                for o in objects {
                    self.observe(EventType::Added, &o, cx);
                }
            }
            Msg::WatchEvent { kind, change, .. } => self.observe(kind, &change.object, cx),
            Msg::ProxySync(node) => self.start_sync(node, cx),
            Msg::ProxySyncDone { node, upto } => self.sync_done(node, upto, cx),
            _ => {}
        }
    }

    fn observe(&mut self, kind: EventType, obj: &Arc<Object>, cx: &mut Cx) {
        let now = cx.now();
        match &**obj {
            Object::Service(_) => self.log.push(RuleChange {
                trigger: now,
                pod: None,
                name: None,
            }),
            Object::EndpointSlice(slice) => {
                let trigger = slice
                    .metadata
                    .annotations
                    .get(ANNOTATION_TRIGGER_TIME)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(now);
                let key = obj.key();
                let old = self.slices.remove(&key).unwrap_or_default();
                let new: BTreeMap<u64, bool> = if kind == EventType::Deleted {
                    BTreeMap::new()
                } else {
                    slice
                        .endpoints
                        .iter()
                        .map(|e| (e.pod_uid, e.ready))
                        .collect()
                };
                self.endpoints = self.endpoints + new.len() - old.len();
                let logged = self.log.len();
                for e in &slice.endpoints {
                    let was_ready = old.get(&e.pod_uid).copied().unwrap_or(false);
                    if e.ready && !was_ready && kind != EventType::Deleted {
                        self.log.push(RuleChange {
                            trigger,
                            pod: Some(e.pod_uid),
                            name: Some(ObjectKey::new(Kind::Pod, &key.namespace, &e.pod_name)),
                        });
                    }
                }
                if self.log.len() == logged && old != new {
                    self.log.push(RuleChange {
                        trigger,
                        pod: None,
                        name: None,
                    });
                }
                if !new.is_empty() {
                    self.slices.insert(key, new);
                }
            }
            _ => return,
        }
        self.wake_idle(cx);
    }

    /// Every idle member with unprogrammed changes schedules a sync.
    fn wake_idle(&mut self, cx: &mut Cx) {
        let now = cx.now();
        let min_period = cx.lat.sample(Hop::ProxyMinSyncPeriod);
        while let Some(i) = self.idle.pop() {
            let m = &mut self.members[i as usize];
            m.pending = true;
            let at = m.last_start.map_or(now, |s| (s + min_period).max(now));
            cx.send_at(Dest::KubeProxy, at, Msg::ProxySync(i));
        }
    }

    fn start_sync(&mut self, node: u32, cx: &mut Cx) {
        let now = cx.now();
        let m = &mut self.members[node as usize];
        m.last_start = Some(now);
        let upto = self.log.len();
        let cost = cx.lat.sample(Hop::ProxySync)
            + cx.lat.sample(Hop::ProxySyncPerEndpoint) * self.endpoints as Time;
        cx.send(Dest::KubeProxy, cost, Msg::ProxySyncDone { node, upto });
    }

    fn sync_done(&mut self, node: u32, upto: usize, cx: &mut Cx) {
        cx.rec.counters.proxy_syncs += 1;
        let now = cx.now();
        let m = &mut self.members[node as usize];
        let from = m.upto;
        m.upto = upto;
        m.pending = false;
        let detail = format!(
            "programmed {} rule changes, {} endpoints",
            upto - from,
            self.endpoints
        );
        let name = self.node_names[node as usize].clone();
        cx.log_on(Dest::KubeProxy, "sync", Subject::NONE, &name, &detail);
        if let Some(c) = self.upto_counts.get_mut(&from) {
            *c -= 1;
            if *c == 0 {
                self.upto_counts.remove(&from);
            }
        }
        *self.upto_counts.entry(upto).or_default() += 1;
        let everywhere = self.upto_counts.keys().next().copied().unwrap_or(upto);
        // Changes now programmed on every node: this sync was the last.
        for i in self.everywhere..everywhere {
            let c = &self.log[i];
            if let (Some(uid), Some(key)) = (c.pod, &c.name) {
                cx.rec
                    .counters
                    .network_programming
                    .push(now.saturating_sub(c.trigger));
                if let Some(r) = cx.rec.pod_if_known(uid)
                    && r.reachable.is_none()
                    && r.deleted.is_none()
                {
                    r.reachable = Some(now);
                    let key = key.clone();
                    cx.log_on(
                        Dest::KubeProxy,
                        "reachable",
                        Subject::from(&key),
                        &name,
                        "programmed on every node",
                    );
                }
            }
        }
        self.everywhere = self.everywhere.max(everywhere);
        if self.log.len() > upto {
            // Changes arrived during the sync: the next one waits out
            // minSyncPeriod from this one's start.
            let m = &mut self.members[node as usize];
            m.pending = true;
            let min_period = cx.lat.sample(Hop::ProxyMinSyncPeriod);
            let at = m.last_start.map_or(now, |s| (s + min_period).max(now));
            cx.send_at(Dest::KubeProxy, at, Msg::ProxySync(node));
        } else {
            self.idle.push(node);
        }
    }
}
