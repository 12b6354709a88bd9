//! kube-controller-manager: one component running one work loop per
//! controller, each fed only by its watches and acting only through
//! apiserver requests. This version runs the EndpointSlice controller; the
//! workload controllers come next.

pub mod endpointslice;
pub mod nodelifecycle;

use crate::api::Kind;
use crate::output::Subject;
use crate::sim::msg::{FieldSelector, WatchSpec};
use crate::sim::{Cx, Dest, Msg, Verb};

use endpointslice::EndpointSliceController;

#[derive(Default)]
pub struct ControllerManager {
    endpoints: EndpointSliceController,
    nodes: nodelifecycle::NodeLifecycleController,
}

impl ControllerManager {
    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => {
                self.nodes.start(cx);
                for (tag, kind) in [(1, Kind::Service), (2, Kind::Pod)] {
                    let spec = WatchSpec {
                        tag,
                        kind,
                        namespace: None,
                        labels: None,
                        field: FieldSelector::Everything,
                        from_revision: None,
                    };
                    cx.api(Dest::ControllerManager, 0, Verb::Watch(spec));
                }
            }
            Msg::WatchList { objects, .. } => {
                for o in &objects {
                    self.endpoints.observe(crate::etcd::EventType::Added, o);
                    self.nodes.observe(crate::etcd::EventType::Added, o, cx);
                }
            }
            Msg::WatchEvent { kind, change, .. } => {
                self.endpoints.observe(kind, &change.object);
                self.nodes.observe(kind, &change.object, cx);
            }
            msg @ (Msg::NodeMonitor | Msg::LeasesRenewed { .. } | Msg::TaintEviction { .. }) => {
                self.nodes.handle(msg, cx)
            }
            Msg::EndpointsWork => self.endpoints.work(cx),
            Msg::Response(resp) => {
                if let Err(e) = &resp.result {
                    let detail = format!("{} failed: {} {}", resp.verb, e.code, e.message);
                    cx.log(
                        Dest::ControllerManager,
                        "error",
                        Subject::from(&resp.key),
                        &detail,
                    );
                }
            }
            _ => {}
        }
        self.endpoints.kick(cx);
    }
}
