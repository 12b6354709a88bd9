//! The kubelets' node Lease loops, modelled as one group. Every kubelet
//! renews its Lease in `kube-node-lease` every 10 s; at 5000 nodes that is
//! 500 writes a second that say nothing new. The group renews the Leases
//! of all live kubelets in one batch per interval: one timeline row, and
//! one delivery to the node lifecycle controller after the request, etcd
//! write and watch hops, carrying the nodes renewed. A failed node's
//! kubelet (scenario action `failNode`) drops out of the batches until
//! `recoverNode`.
//!
//! Simplified: all kubelets renew at the same phase of the 10 s interval;
//! the Lease objects are not stored in etcd one by one.

use std::sync::Arc;

use crate::engine::{SECOND, Time};
use crate::output::Subject;
use crate::sim::{Cx, Dest, Hop, Msg};

/// The kubelet's lease renew interval (`nodeLeaseDurationSeconds` 40 / 4).
pub const LEASE_RENEW_INTERVAL: Time = 10 * SECOND;

pub struct NodeLeases {
    up: Vec<bool>,
}

impl NodeLeases {
    pub fn new(nodes: usize) -> Self {
        NodeLeases {
            up: vec![true; nodes],
        }
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => cx.send_background(Dest::NodeLeases, 0, Msg::LeaseTick),
            Msg::LeaseTick => {
                let nodes: Arc<Vec<u32>> = Arc::new(
                    (0..self.up.len() as u32)
                        .filter(|&i| self.up[i as usize])
                        .collect(),
                );
                if !nodes.is_empty() {
                    cx.rec.counters.lease_renewals += nodes.len() as u64;
                    let detail = format!("{} node Leases renewed", nodes.len());
                    cx.log(Dest::NodeLeases, "renew-leases", Subject::NONE, &detail);
                    let delay = cx.lat.sample(Hop::ApiserverRequest)
                        + cx.lat.sample(Hop::EtcdWrite)
                        + cx.lat.sample(Hop::WatchDelivery);
                    let at = cx.now();
                    cx.send_background(
                        Dest::ControllerManager,
                        delay,
                        Msg::LeasesRenewed { at, nodes },
                    );
                }
                cx.send_background(Dest::NodeLeases, LEASE_RENEW_INTERVAL, Msg::LeaseTick);
            }
            Msg::NodePower { node, up } => {
                if let Some(u) = self.up.get_mut(node as usize) {
                    *u = up;
                }
                // Nothing else may happen in the cluster, but the node
                // lifecycle controller is about to notice: keep the run
                // alive past the node's next renewal (or, for a failure,
                // its grace period) and the next monitor pass.
                let grace = if up {
                    0
                } else {
                    crate::controllers::nodelifecycle::NODE_MONITOR_GRACE
                };
                let horizon = grace
                    + LEASE_RENEW_INTERVAL
                    + 2 * crate::controllers::nodelifecycle::NODE_MONITOR_PERIOD;
                cx.send(Dest::NodeLeases, horizon, Msg::LeaseExpiry);
            }
            Msg::LeaseExpiry => {}
            _ => {}
        }
    }

    /// A node added at run time renews from now on.
    pub fn add_node(&mut self) {
        self.up.push(true);
    }
}
