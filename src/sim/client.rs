//! The client: plays the scenario's actions against the apiserver, as
//! `kubectl` would, and records the answers it gets.
//!
//! `apply` creates, and on AlreadyExists reads the object and replaces it
//! (an update of a Deployment's template starts a rollout; pods and nodes
//! are not updated this way: their AlreadyExists is recorded); `scale`,
//! `setImage`, `pause`/`resume`, `rolloutUndo`, `removeSchedulingGates`
//! and `removeFinalizers` read the object, change it and write it back
//! with its resourceVersion, reading again on a conflict. `rolloutUndo` lists the ReplicaSets (one list-and-watch,
//! opened on first use) to find the revision's template, as `kubectl
//! rollout undo` does.

use crate::fasthash::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::{Kind, Object, ObjectKey};
use crate::controllers::deployment::{POD_TEMPLATE_HASH_LABEL, revision};
use crate::etcd::EventType;
use crate::output::Subject;
use crate::scenario::{Action, ActionOp, GatedPods, NodeOp};

use super::msg::{NodePatch, WatchSpec};
use super::{Cx, Dest, Msg, Verb};

/// How many times an update is retried after a conflict.
const MAX_CONFLICT_RETRIES: u32 = 5;
const RS_WATCH_TAG: u32 = 1;
/// Tags of the client's lists (no watch follows them) start here: a
/// drain's (the node's pods) and a `removeSchedulingGates` by selector's
/// (the selected pods).
const DRAIN_TAG: u32 = 300;

#[derive(Clone, Debug)]
enum Change {
    Replace(Box<Object>),
    Scale(i32),
    SetImage {
        container: String,
        image: String,
    },
    Undo(Option<i64>),
    Pause(bool),
    /// Remove these scheduling gates (all when `None`).
    Ungate(Option<Vec<String>>),
    /// Remove these finalizers (all when `None`).
    Unfinalize(Option<Vec<String>>),
}

#[derive(Clone, Debug)]
struct Op {
    key: ObjectKey,
    change: Change,
    tries: u32,
}

enum Step {
    Create(Op),
    Get(Op),
    Update(Op),
    Other,
}

pub struct Client {
    actions: Vec<Action>,
    next_tag: u64,
    pending: HashMap<u64, Step>,
    /// The ReplicaSets, once listed (for `rolloutUndo`).
    replicasets: BTreeMap<ObjectKey, Arc<Object>>,
    rs_watch: bool,
    rs_synced: bool,
    waiting_for_list: Vec<Op>,
    drains: u32,
    /// The gates to remove from the pods each list of a
    /// `removeSchedulingGates` by selector brings, by its watch tag.
    ungates: BTreeMap<u32, Option<Vec<String>>>,
}

impl Client {
    pub fn new(actions: Vec<Action>) -> Self {
        Client {
            actions,
            next_tag: 0,
            pending: HashMap::default(),
            replicasets: BTreeMap::new(),
            rs_watch: false,
            rs_synced: false,
            waiting_for_list: Vec::new(),
            drains: 0,
            ungates: BTreeMap::new(),
        }
    }

    /// When each action runs, in order.
    pub fn schedule(&self) -> impl Iterator<Item = (usize, crate::engine::Time)> + '_ {
        self.actions.iter().enumerate().map(|(i, a)| (i, a.at))
    }

    fn tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    fn send(&mut self, cx: &mut Cx, verb: Verb, step: Step) {
        let tag = self.tag();
        // A response with no pending step is handled as `Step::Other`: such
        // a step is not kept (a bench's thousands of pod creates).
        if !matches!(step, Step::Other) {
            self.pending.insert(tag, step);
        }
        cx.api(Dest::Client, tag, verb);
    }

    fn get(&mut self, cx: &mut Cx, op: Op) {
        let key = op.key.clone();
        self.send(cx, Verb::Get(key), Step::Get(op));
    }

    fn modify(&mut self, cx: &mut Cx, key: ObjectKey, change: Change, what: &'static str) {
        cx.log(Dest::Client, what, Subject::from(&key), &describe(&change));
        let op = Op {
            key,
            change,
            tries: 0,
        };
        if matches!(op.change, Change::Undo(_)) && !self.rs_synced {
            if !self.rs_watch {
                self.rs_watch = true;
                let spec = WatchSpec::all(RS_WATCH_TAG, Kind::ReplicaSet);
                cx.api(Dest::Client, 0, Verb::Watch(spec));
            }
            self.waiting_for_list.push(op);
            return;
        }
        self.get(cx, op);
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Action(i) => self.action(i, cx),
            Msg::WatchList { tag, objects, .. } if self.ungates.contains_key(&tag) => {
                // The selected pods: each still gated loses the gates.
                let gates = self.ungates.remove(&tag).expect("checked");
                for o in *objects {
                    let Some(pod) = o.as_pod() else { continue };
                    if pod.spec.scheduling_gates.is_empty()
                        || pod.metadata.deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    self.modify(
                        cx,
                        o.key(),
                        Change::Ungate(gates.clone()),
                        "remove-scheduling-gates",
                    );
                }
            }
            Msg::WatchList { tag, objects, .. } if tag >= DRAIN_TAG => {
                // The drained node's pods: evict each (a graceful delete).
                for o in *objects {
                    let Some(pod) = o.as_pod() else { continue };
                    if pod.status.phase.is_terminal() || pod.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let key = o.key();
                    cx.log(Dest::Client, "evict", Subject::from(&key), "drain");
                    let t = self.tag();
                    cx.api(
                        Dest::Client,
                        t,
                        Verb::Delete {
                            key,
                            precondition: None,
                        },
                    );
                }
            }
            // Drain watches go on after their list; nothing to do with them.
            Msg::WatchList { objects, .. } => {
                for o in *objects {
                    self.replicasets.insert(o.key(), o);
                }
                self.rs_synced = true;
                for op in std::mem::take(&mut self.waiting_for_list) {
                    self.get(cx, op);
                }
            }
            Msg::WatchEvent { kind, change, .. } => {
                let o = &change.object;
                if kind == EventType::Deleted {
                    self.replicasets.remove(&o.key());
                } else {
                    self.replicasets.insert(o.key(), o.clone());
                }
            }
            Msg::Response(resp) => {
                let step = self.pending.remove(&resp.tag).unwrap_or(Step::Other);
                match (&resp.result, step) {
                    (Err(e), Step::Create(op)) if e.reason == "AlreadyExists" => {
                        cx.log(
                            Dest::Client,
                            "apply",
                            Subject::from(&resp.key),
                            "exists: reading it to update",
                        );
                        self.get(cx, op);
                    }
                    (Err(e), Step::Update(mut op))
                        if e.reason == "Conflict" && op.tries < MAX_CONFLICT_RETRIES =>
                    {
                        op.tries += 1;
                        self.get(cx, op);
                    }
                    (Ok(current), Step::Get(op)) => match self.apply_change(current, &op.change) {
                        Ok(Some(object)) => {
                            let rv = current.meta().resource_version;
                            cx.log(
                                Dest::Client,
                                "update",
                                Subject::from(&op.key),
                                &describe(&op.change),
                            );
                            self.send(
                                cx,
                                Verb::Update {
                                    key: op.key.clone(),
                                    object,
                                    precondition: Some(rv),
                                },
                                Step::Update(op),
                            );
                        }
                        Ok(None) => {}
                        Err(message) => {
                            cx.log(Dest::Client, "error", Subject::from(&op.key), &message);
                        }
                    },
                    (Err(e), _) => {
                        let detail = format!(
                            "{} failed: {} {}: {}",
                            resp.verb, e.code, e.reason, e.message
                        );
                        if resp.key.kind == Kind::Pod && matches!(resp.verb, "update" | "resize") {
                            cx.rec.counters.pod_update_errors.push(detail.clone());
                        }
                        cx.log(Dest::Client, "error", Subject::from(&resp.key), &detail);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn node_action(&mut self, op: NodeOp, node: &str, cx: &mut Cx) {
        let key = ObjectKey::new(Kind::Node, "", node);
        cx.log(Dest::Client, op.key(), Subject::from(&key), "");
        // Cordoning and draining are API calls, which work on any Node
        // object (a machine's or one made by `apply`); failing, recovering
        // and removing act on the machine.
        let machine = cx.node_index(node);
        if machine.is_none() && !matches!(op, NodeOp::Cordon | NodeOp::Uncordon | NodeOp::Drain) {
            cx.log(Dest::Client, "error", Subject::from(&key), "no such node");
            return;
        }
        match op {
            NodeOp::Cordon | NodeOp::Uncordon | NodeOp::Drain => {
                let t = self.tag();
                let patch = NodePatch::Unschedulable(op != NodeOp::Uncordon);
                cx.api(Dest::Client, t, Verb::PatchNode { key, patch });
                if op == NodeOp::Drain {
                    // kubectl drain lists the node's pods, then evicts them.
                    let spec = WatchSpec {
                        list_only: true,
                        ..WatchSpec::pods_on(DRAIN_TAG + self.drains, node)
                    };
                    self.drains += 1;
                    let t = self.tag();
                    cx.api(Dest::Client, t, Verb::Watch(spec));
                }
            }
            NodeOp::Fail | NodeOp::Recover | NodeOp::Remove => {
                let Some(i) = machine else { return };
                let up = op == NodeOp::Recover;
                if op == NodeOp::Remove {
                    let t = self.tag();
                    cx.api(
                        Dest::Client,
                        t,
                        Verb::Delete {
                            key,
                            precondition: None,
                        },
                    );
                }
                for dest in [
                    Dest::Kubelet(i),
                    Dest::Docker(i),
                    Dest::NodeLeases,
                    Dest::KubeProxy,
                ] {
                    cx.send(dest, 0, Msg::NodePower { node: i, up });
                }
            }
        }
    }

    fn action(&mut self, i: usize, cx: &mut Cx) {
        // Each action runs once: its objects are moved into the requests.
        let op = std::mem::replace(&mut self.actions[i].op, ActionOp::Apply(Vec::new()));
        match op {
            ActionOp::Apply(objects) => {
                for obj in objects {
                    cx.log(Dest::Client, "create", Subject::from(&obj), "");
                    // Pods and nodes are not updated on AlreadyExists (see
                    // the response): only other kinds keep a copy to apply.
                    let step = if matches!(obj.kind(), Kind::Pod | Kind::Node) {
                        Step::Other
                    } else {
                        Step::Create(Op {
                            key: obj.key(),
                            change: Change::Replace(Box::new(obj.clone())),
                            tries: 0,
                        })
                    };
                    self.send(cx, Verb::Create(obj), step);
                }
            }
            // Expanded into `Apply` actions before the run starts.
            ActionOp::Generate(_) => {}
            ActionOp::Node { op, node } => self.node_action(op, &node, cx),
            ActionOp::PatchNode {
                action,
                node,
                patch,
            } => {
                let key = ObjectKey::new(Kind::Node, "", &node);
                cx.log(
                    Dest::Client,
                    action,
                    Subject::from(&key),
                    &describe_patch(&patch),
                );
                let t = self.tag();
                cx.api(Dest::Client, t, Verb::PatchNode { key, patch });
            }
            ActionOp::AddNodes(nodes) => {
                for node in nodes {
                    let key = ObjectKey::new(Kind::Node, "", &node.metadata.name);
                    cx.log(Dest::Client, "addNodes", Subject::from(&key), "");
                    cx.send(Dest::Cloud, 0, Msg::ProvisionNode(Box::new(node)));
                }
            }
            ActionOp::Delete {
                kind,
                namespace,
                name,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                cx.log(Dest::Client, "delete", Subject::from(&key), "");
                let verb = Verb::Delete {
                    key,
                    precondition: None,
                };
                self.send(cx, verb, Step::Other);
            }
            ActionOp::DeleteOrphan {
                kind,
                namespace,
                name,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                cx.log(
                    Dest::Client,
                    "delete",
                    Subject::from(&key),
                    "propagationPolicy=Orphan",
                );
                self.send(cx, Verb::DeleteOrphan { key }, Step::Other);
            }
            ActionOp::Scale {
                kind,
                namespace,
                name,
                replicas,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                self.modify(cx, key, Change::Scale(replicas), "scale");
            }
            ActionOp::SetImage {
                kind,
                namespace,
                name,
                container,
                image,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                self.modify(cx, key, Change::SetImage { container, image }, "set-image");
            }
            ActionOp::RolloutUndo {
                namespace,
                name,
                to_revision,
            } => {
                let key = ObjectKey::new(Kind::Deployment, &namespace, &name);
                self.modify(cx, key, Change::Undo(to_revision), "rollout-undo");
            }
            ActionOp::ReplacePod(pod) => {
                let key = pod.key();
                cx.log(Dest::Client, "update", Subject::from(&key), "");
                let verb = Verb::Update {
                    key,
                    object: *pod,
                    precondition: None,
                };
                self.send(cx, verb, Step::Other);
            }
            ActionOp::ResizePod {
                namespace,
                name,
                resources,
            } => {
                let key = ObjectKey::new(Kind::Pod, &namespace, &name);
                let detail = describe_resize(&resources);
                cx.log(Dest::Client, "resize", Subject::from(&key), &detail);
                self.send(cx, Verb::ResizePod { key, resources }, Step::Other);
            }
            ActionOp::RemoveSchedulingGates {
                namespace,
                pods: GatedPods::Name(name),
                gates,
            } => {
                let key = ObjectKey::new(Kind::Pod, &namespace, &name);
                self.modify(cx, key, Change::Ungate(gates), "remove-scheduling-gates");
            }
            ActionOp::RemoveSchedulingGates {
                namespace,
                pods: GatedPods::Selector(selector),
                gates,
            } => {
                // As a controller would: list the selected pods, then
                // update each.
                let key = ObjectKey::new(Kind::Pod, &namespace, "");
                cx.log(
                    Dest::Client,
                    "list",
                    Subject::from(&key),
                    "pods to remove scheduling gates from",
                );
                let tag = DRAIN_TAG + self.drains;
                self.drains += 1;
                self.ungates.insert(tag, gates);
                let spec = WatchSpec {
                    namespace: Some(namespace),
                    labels: Some(selector),
                    list_only: true,
                    ..WatchSpec::all(tag, Kind::Pod)
                };
                let t = self.tag();
                cx.api(Dest::Client, t, Verb::Watch(spec));
            }
            ActionOp::RemoveFinalizers {
                kind,
                namespace,
                name,
                finalizers,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                self.modify(cx, key, Change::Unfinalize(finalizers), "remove-finalizers");
            }
            ActionOp::Pause {
                namespace,
                name,
                paused,
            } => {
                let key = ObjectKey::new(Kind::Deployment, &namespace, &name);
                let what = if paused { "pause" } else { "resume" };
                self.modify(cx, key, Change::Pause(paused), what);
            }
        }
    }

    /// The object to write back, `None` when nothing is to be done, or why
    /// the change cannot be made.
    fn apply_change(&self, current: &Object, change: &Change) -> Result<Option<Object>, String> {
        let mut next = current.clone();
        match (change, &mut next) {
            (Change::Replace(o), _) => {
                let mut o = (**o).clone();
                o.meta_mut().resource_version = current.meta().resource_version;
                return Ok(Some(o));
            }
            (Change::Scale(n), Object::Workload(_, w)) => {
                Arc::make_mut(&mut w.spec).replicas = Some(*n)
            }
            (Change::Pause(p), Object::Workload(_, w)) => Arc::make_mut(&mut w.spec).paused = *p,
            (Change::Unfinalize(which), _) => {
                let finalizers = &mut next.meta_mut().finalizers;
                let before = finalizers.len();
                match which {
                    None => finalizers.clear(),
                    Some(names) => finalizers.retain(|f| !names.contains(f)),
                }
                if finalizers.len() == before {
                    return Ok(None);
                }
            }
            (Change::Ungate(which), Object::Pod(pod)) => {
                let gates = &pod.spec.scheduling_gates;
                let keep: Vec<_> = match which {
                    None => Vec::new(),
                    Some(names) => gates
                        .iter()
                        .filter(|g| !names.contains(&g.name))
                        .cloned()
                        .collect(),
                };
                if keep.len() == gates.len() {
                    // Nothing to remove: no write, as a patch that changes
                    // nothing.
                    return Ok(None);
                }
                Arc::make_mut(&mut pod.spec).scheduling_gates = keep;
            }
            (Change::SetImage { container, image }, Object::Workload(_, w)) => {
                let spec = &mut Arc::make_mut(&mut w.spec).template.spec;
                let c = Arc::make_mut(&mut spec.containers)
                    .iter_mut()
                    .chain(Arc::make_mut(&mut spec.init_containers).iter_mut())
                    .find(|c| &c.name == container)
                    .ok_or_else(|| format!("unable to find container named \"{container}\""))?;
                c.image = image.clone();
            }
            (Change::Undo(to), Object::Workload(_, w)) => {
                let uid = w.metadata.uid.to_string();
                let mut history: Vec<&Arc<Object>> = self
                    .replicasets
                    .values()
                    .filter(|o| {
                        o.meta().namespace == w.metadata.namespace
                            && o.meta().controller_ref().is_some_and(|r| r.uid == uid)
                    })
                    .collect();
                let rev = |o: &Object| match o {
                    Object::Workload(_, rs) => revision(rs),
                    _ => 0,
                };
                history.sort_by_key(|o| rev(o));
                let target = match to {
                    Some(n) => history.iter().find(|o| rev(o) == *n).ok_or_else(|| {
                        format!("unable to find specified revision {n} in history")
                    })?,
                    None => history
                        .iter()
                        .rev()
                        .nth(1)
                        .ok_or_else(|| "no rollout history found".to_string())?,
                };
                let Object::Workload(_, rs) = &***target else {
                    return Err("not a ReplicaSet".into());
                };
                let mut template = rs.spec.template.clone();
                std::sync::Arc::make_mut(&mut template.metadata.labels)
                    .remove(POD_TEMPLATE_HASH_LABEL);
                if template == w.spec.template {
                    return Err(format!(
                        "skipped rollback (current template already matches revision {})",
                        revision(rs)
                    ));
                }
                Arc::make_mut(&mut w.spec).template = template;
            }
            _ => return Err(format!("{} cannot be changed this way", current.key())),
        }
        Ok(Some(next))
    }
}

/// A resize's timeline detail: each container's new requests and limits,
/// as `name requests cpu=1,memory=1Gi limits ...`.
fn describe_resize(resources: &[(String, crate::api::pod::ResourceRequirements)]) -> String {
    let list = |m: &std::collections::BTreeMap<String, crate::api::Quantity>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    resources
        .iter()
        .map(|(name, r)| {
            let mut d = name.clone();
            if !r.requests.is_empty() {
                d.push_str(" requests ");
                d.push_str(&list(&r.requests));
            }
            if !r.limits.is_empty() {
                d.push_str(" limits ");
                d.push_str(&list(&r.limits));
            }
            d
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe(change: &Change) -> String {
    match change {
        Change::Replace(_) => "apply".into(),
        Change::Scale(n) => format!("replicas={n}"),
        Change::SetImage { container, image } => format!("{container}={image}"),
        Change::Undo(Some(n)) => format!("to revision {n}"),
        Change::Undo(None) => "to the previous revision".into(),
        Change::Pause(true) => "paused=true".into(),
        Change::Pause(false) => "paused=false".into(),
        Change::Ungate(None) => "every scheduling gate".into(),
        Change::Unfinalize(None) => "every finalizer".into(),
        Change::Unfinalize(Some(names)) => names.join(" "),
        Change::Ungate(Some(names)) => names.join(" "),
    }
}

/// A Node PATCH as the client's timeline row tells it: `kubectl`'s
/// arguments (`disktype=ssd old-`, `dedicated=gpu:NoSchedule gpu-`).
fn describe_patch(patch: &NodePatch) -> String {
    let taint = |t: &crate::api::pod::Taint| {
        if t.value.is_empty() {
            format!("{}:{}", t.key, t.effect.as_str())
        } else {
            format!("{}={}:{}", t.key, t.value, t.effect.as_str())
        }
    };
    let words: Vec<String> = match patch {
        NodePatch::Unschedulable(u) => vec![format!("unschedulable={u}")],
        NodePatch::Labels { set, remove } => (set.iter().map(|(k, v)| format!("{k}={v}")))
            .chain(remove.iter().map(|k| format!("{k}-")))
            .collect(),
        NodePatch::Taint { add, remove } => (add.iter().map(taint))
            .chain(remove.iter().map(|(k, e)| match e {
                Some(e) => format!("{k}:{}-", e.as_str()),
                None => format!("{k}-"),
            }))
            .collect(),
        NodePatch::Taints { .. } | NodePatch::Ready { .. } => Vec::new(),
        NodePatch::Replace {
            labels,
            taints,
            unschedulable,
        } => vec![format!(
            "labels {{{}}} taints [{}] unschedulable={unschedulable}",
            (labels.iter().map(|(k, v)| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(" "),
            taints.iter().map(taint).collect::<Vec<_>>().join(" ")
        )],
        NodePatch::Status { capacity, .. } => vec![format!(
            "status capacity {{{}}}",
            (capacity.iter().map(|(k, v)| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(" ")
        )],
    };
    words.join(" ")
}
