//! The client: plays the scenario's actions against the apiserver, as
//! `kubectl` would, and records the answers it gets.

use crate::api::ObjectKey;
use crate::output::Subject;
use crate::scenario::{Action, ActionOp};

use super::{Cx, Dest, Msg, Verb};

pub struct Client {
    actions: Vec<Action>,
    next_tag: u64,
}

impl Client {
    pub fn new(actions: Vec<Action>) -> Self {
        Client {
            actions,
            next_tag: 0,
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
                    // Expanded into `Apply` actions before the run starts.
                    ActionOp::Generate(_) => {}
                    ActionOp::Apply(objects) => {
                        for obj in objects {
                            cx.log(Dest::Client, "create", Subject::from(&obj), "");
                            let tag = self.tag();
                            cx.api(Dest::Client, tag, Verb::Create(obj));
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
