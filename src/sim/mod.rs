//! The simulated cluster: every component in one [`World`], the handler
//! context they share, and the run driver that turns a scenario into outputs.
//!
//! Architecture invariant: a component's handler changes only its own state
//! and sends messages; it never reads another component's state. The only
//! shared thing is the recorder, which observes and never feeds back.

mod client;
pub mod latency;
pub mod msg;
pub mod run;

use std::sync::Arc;

use crate::apiserver::ApiServer;
use crate::controllers::ControllerManager;
use crate::engine::{Ctx, Time, World};
use crate::etcd::EtcdServer;
use crate::kubelet::Kubelet;
use crate::output::{Part, Recorder, Subject};
use crate::proxy::link::ProxyLink;
use crate::runtime::Docker;
use crate::scheduler::Scheduler;

pub use client::Client;
pub use latency::{Hop, Latencies, LatencyConfig};
pub use msg::{Dest, Msg, Request, Verb};

/// The Kubernetes name of a component, as the timeline prints it.
pub fn component_name(d: Dest) -> &'static str {
    match d {
        Dest::Client => "client",
        Dest::ApiServer => "kube-apiserver",
        Dest::Etcd => "etcd",
        Dest::Scheduler => "kube-scheduler",
        Dest::ControllerManager => "kube-controller-manager",
        Dest::Kubelet(_) => "kubelet",
        Dest::Docker(_) => "docker",
        Dest::KubeProxy => "kube-proxy",
        Dest::NodeLeases => "kubelet",
        Dest::Cloud => "cloud-provider",
    }
}

/// What a handler may touch besides its own state.
pub struct Cx<'a> {
    ctx: &'a mut Ctx<Dest, Msg>,
    pub rec: &'a mut Recorder,
    pub lat: &'a mut Latencies,
    node_names: &'a [Arc<str>],
}

impl<'a> Cx<'a> {
    /// A handler context over an engine context of one's own: for a
    /// component run apart (kube-proxy's thread) and tests that drive a
    /// component alone.
    pub fn new(
        ctx: &'a mut Ctx<Dest, Msg>,
        rec: &'a mut Recorder,
        lat: &'a mut Latencies,
        node_names: &'a [Arc<str>],
    ) -> Self {
        Cx {
            ctx,
            rec,
            lat,
            node_names,
        }
    }

    pub fn now(&self) -> Time {
        self.ctx.now()
    }

    pub fn send(&mut self, dest: Dest, delay: Time, msg: Msg) {
        self.ctx.send(dest, delay, msg);
    }

    /// Sends a retry; when `lingering` (it may repeat forever) it keeps
    /// the run going only when the run has a time limit
    /// (`Ctx::send_retry`).
    pub fn send_retry(&mut self, dest: Dest, at: Time, msg: Msg, lingering: bool) {
        let delay = at.saturating_sub(self.now());
        self.ctx.send_retry(dest, delay, msg, lingering);
    }

    /// Sends a message that does not by itself keep the run going.
    pub fn send_background(&mut self, dest: Dest, delay: Time, msg: Msg) {
        self.ctx.send_background(dest, delay, msg);
    }

    pub fn send_at(&mut self, dest: Dest, at: Time, msg: Msg) {
        self.ctx.send_at(dest, at, msg);
    }

    /// Sends an API request from `from`; it reaches the apiserver after the
    /// modelled request handling time.
    pub fn api(&mut self, from: Dest, tag: u64, verb: Verb) {
        let delay = self.lat.sample(Hop::ApiserverRequest);
        self.ctx.send(
            Dest::ApiServer,
            delay,
            Msg::Request(Box::new(Request { from, tag, verb })),
        );
    }

    /// The index of the node named `name` (a scan: for rare actions only).
    pub fn node_index(&self, name: &str) -> Option<u32> {
        self.node_names
            .iter()
            .position(|n| &**n == name)
            .map(|i| i as u32)
    }

    /// How many nodes (machines) there are.
    pub fn node_count(&self) -> usize {
        self.node_names.len()
    }

    /// The name of node `i`.
    pub fn node_name(&self, i: u32) -> &Arc<str> {
        &self.node_names[i as usize]
    }

    /// The node a row by `who` names: a node agent's own, else none.
    fn row_node(&self, who: Dest) -> &'a str {
        let names: &'a [Arc<str>] = self.node_names;
        match who {
            Dest::Kubelet(i) | Dest::Docker(i) => &names[i as usize],
            _ => "",
        }
    }

    /// A timeline row by `who`; a node agent's row names its node.
    pub fn log(&mut self, who: Dest, action: &'static str, subject: Subject<'_>, detail: &str) {
        let now = self.now();
        let node = self.row_node(who);
        self.rec
            .event(now, component_name(who), action, subject, node, detail);
    }

    /// [`Cx::log`] with a detail written from text and number parts.
    pub fn log_parts(
        &mut self,
        who: Dest,
        action: &'static str,
        subject: Subject<'_>,
        detail: &[Part<'_>],
    ) {
        let now = self.now();
        let node = self.row_node(who);
        self.rec
            .event_parts(now, component_name(who), action, subject, node, detail);
    }

    /// [`Cx::log`] with a detail formatted straight into the timeline.
    pub fn log_args(
        &mut self,
        who: Dest,
        action: &'static str,
        subject: Subject<'_>,
        detail: std::fmt::Arguments<'_>,
    ) {
        let now = self.now();
        let node = self.row_node(who);
        self.rec
            .event_args(now, component_name(who), action, subject, node, detail);
    }

    /// A timeline row by `who` about `node`.
    pub fn log_on(
        &mut self,
        who: Dest,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
        detail: &str,
    ) {
        let now = self.now();
        self.rec
            .event(now, component_name(who), action, subject, node, detail);
    }

    /// [`Cx::log_on`] with a detail formatted straight into the timeline.
    pub fn log_on_args(
        &mut self,
        who: Dest,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
        detail: std::fmt::Arguments<'_>,
    ) {
        let now = self.now();
        self.rec
            .event_args(now, component_name(who), action, subject, node, detail);
    }
}

/// Every component of the cluster.
pub struct Cluster {
    pub client: Client,
    pub apiserver: ApiServer,
    pub etcd: EtcdServer,
    pub scheduler: Scheduler,
    pub controllers: ControllerManager,
    pub kubelets: Vec<Kubelet>,
    pub runtimes: Vec<Docker>,
    /// kube-proxy, run beside on a thread of its own.
    pub proxy: ProxyLink,
    pub leases: crate::nodelease::NodeLeases,
    /// What every node's runtime knows of the registry.
    pub images: Arc<crate::runtime::ImageCatalog>,
    pub rec: Recorder,
    pub lat: Latencies,
    pub node_names: Vec<Arc<str>>,
}

impl Cluster {
    /// A machine joins: a kubelet (which registers its Node), a runtime, a
    /// kube-proxy and a Lease loop for it.
    fn provision(&mut self, mut node: crate::api::Node, ctx: &mut Ctx<Dest, Msg>) {
        let i = self.kubelets.len() as u32;
        let now = ctx.now();
        if node.spec.pod_cidr.is_none() {
            node.spec.pod_cidr = Some(Docker::pod_cidr(i));
        }
        node.status.ready = Some(crate::api::node::NodeReady {
            status: "True",
            reason: "KubeletReady".into(),
            last_transition: now,
        });
        let name: Arc<str> = Arc::from(node.metadata.name.as_str());
        let (alloc, pods) = crate::api::resources::node_allocatable(&node);
        self.rec.node_added(now, &name, alloc, pods);
        self.rec.event(
            now,
            "cloud-provider",
            "provision",
            crate::output::Subject::NONE,
            &name,
            "",
        );
        let present: Vec<String> = node
            .status
            .images
            .iter()
            .flat_map(|im| im.names.iter().cloned())
            .collect();
        self.runtimes
            .push(Docker::new(i, present, self.images.clone()));
        self.kubelets.push(Kubelet::registering(i, node));
        self.node_names.push(name.clone());
        self.proxy.add_member(now, name, &mut self.rec);
        self.leases.add_node();
        ctx.send(Dest::Kubelet(i), 0, Msg::Start);
        ctx.send(Dest::KubeProxy, 0, Msg::NodePower { node: i, up: true });
    }
}

impl World for Cluster {
    type Dest = Dest;
    type Msg = Msg;

    fn handle(&mut self, ctx: &mut Ctx<Dest, Msg>, dest: Dest, msg: Msg) {
        self.proxy.tick(ctx.now(), &mut self.rec);
        self.rec.seq = ctx.seq();
        if let (Dest::Cloud, Msg::ProvisionNode(node)) = (dest, &msg) {
            let node = (**node).clone();
            return self.provision(node, ctx);
        }
        let mut cx = Cx {
            ctx,
            rec: &mut self.rec,
            lat: &mut self.lat,
            node_names: &self.node_names,
        };
        match dest {
            Dest::Client => self.client.handle(msg, &mut cx),
            Dest::ApiServer => self.apiserver.handle(msg, &mut cx),
            Dest::Etcd => self.etcd.handle(msg, &mut cx),
            Dest::Scheduler => self.scheduler.handle(msg, &mut cx),
            Dest::ControllerManager => self.controllers.handle(msg, &mut cx),
            Dest::Kubelet(i) => self.kubelets[i as usize].handle(msg, &mut cx),
            Dest::Docker(i) => self.runtimes[i as usize].handle(msg, &mut cx),
            Dest::KubeProxy => self.proxy.handle(msg, &mut cx),
            Dest::NodeLeases => self.leases.handle(msg, &mut cx),
            Dest::Cloud => {}
        }
    }
}
