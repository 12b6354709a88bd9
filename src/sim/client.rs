//! The client: plays the scenario's actions against the apiserver, as
//! `kubectl` would, and records the answers it gets.

use crate::api::{Kind, ObjectKey};
use crate::output::Subject;
use crate::scenario::{Action, ActionOp, NodeOp};

use super::msg::{FieldSelector, NodePatch, WatchSpec};

use super::{Cx, Dest, Msg, Verb};

/// Watch tags of the client's drains (a list of the node's pods) start here.
const DRAIN_TAG: u32 = 300;

pub struct Client {
    actions: Vec<Action>,
    next_tag: u64,
    drains: u32,
}

impl Client {
    fn node_action(&mut self, op: NodeOp, node: &str, cx: &mut Cx) {
        let key = ObjectKey::new(Kind::Node, "", node);
        cx.log(Dest::Client, op.key(), Subject::from(&key), "");
        let Some(i) = cx.node_index(node) else {
            cx.log(Dest::Client, "error", Subject::from(&key), "no such node");
            return;
        };
        match op {
            NodeOp::Cordon | NodeOp::Uncordon | NodeOp::Drain => {
                let t = self.tag();
                let patch = NodePatch::Unschedulable(op != NodeOp::Uncordon);
                cx.api(Dest::Client, t, Verb::PatchNode { key, patch });
                if op == NodeOp::Drain {
                    // kubectl drain lists the node's pods, then evicts them.
                    let spec = WatchSpec {
                        tag: DRAIN_TAG + self.drains,
                        kind: Kind::Pod,
                        namespace: None,
                        labels: None,
                        field: FieldSelector::NodeName(node.to_string()),
                        from_revision: None,
                    };
                    self.drains += 1;
                    let t = self.tag();
                    cx.api(Dest::Client, t, Verb::Watch(spec));
                }
            }
            NodeOp::Fail | NodeOp::Recover | NodeOp::Remove => {
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

    pub fn new(actions: Vec<Action>) -> Self {
        Client {
            actions,
            next_tag: 0,
            drains: 0,
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

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Action(i) => {
                let op = self.actions[i].op.clone();
                match op {
                    ActionOp::Apply(objects) => {
                        for obj in objects {
                            cx.log(Dest::Client, "create", Subject::from(&obj), "");
                            let tag = self.tag();
                            cx.api(Dest::Client, tag, Verb::Create(obj));
                        }
                    }
                    ActionOp::Node { op, node } => self.node_action(op, &node, cx),
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
                        let tag = self.tag();
                        cx.api(
                            Dest::Client,
                            tag,
                            Verb::Delete {
                                key,
                                precondition: None,
                            },
                        );
                    }
                }
            }
            Msg::WatchList { tag, objects, .. } if tag >= DRAIN_TAG => {
                // The drained node's pods: evict each (a graceful delete).
                for o in objects {
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
            Msg::Response(resp) => {
                if let Err(e) = &resp.result {
                    let detail = format!(
                        "{} failed: {} {}: {}",
                        resp.verb, e.code, e.reason, e.message
                    );
                    cx.log(Dest::Client, "error", Subject::from(&resp.key), &detail);
                }
            }
            _ => {}
        }
    }
}
