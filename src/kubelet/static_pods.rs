//! The control-plane boot, as kubeadm sets it up: the control-plane node's
//! kubelet reads its static pod manifests (`/etc/kubernetes/manifests`:
//! etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and runs
//! them without any apiserver. Each component is up a startup time after
//! its container started; the apiserver serves once etcd is up too. Then
//! the kubelet registers its Node, creates the mirror pods (where the
//! static pods' status goes) and the components waiting on the apiserver
//! (worker kubelets registering their Nodes, kube-proxy, the Lease loops)
//! get their first successful attempt; the scheduler and the controller
//! manager start acting once their own static pod is up.
//!
//! Simplified: components that wait for the apiserver are modelled as
//! retrying until it answers, without the failed attempts; a component
//! that crashes while its dependency is down is not modelled.

use std::sync::Arc;

use crate::api::meta::OwnerReference;
use crate::api::pod::{Container, Pod, PodSpec, Toleration, TolerationOperator};
use crate::api::{Object, ObjectMeta};
use crate::engine::{SECOND, Time};
use crate::output::Subject;
use crate::sim::{Cx, Dest, Msg, Verb};

use super::Kubelet;

/// The annotation marking a mirror pod (`kubernetes.io/config.mirror`).
pub const ANNOTATION_MIRROR: &str = "kubernetes.io/config.mirror";
/// The priority of `system-node-critical`.
const SYSTEM_NODE_CRITICAL: i32 = 2_000_001_000;

/// One static pod manifest.
#[derive(Clone, Debug)]
pub struct StaticManifest {
    /// `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`.
    pub component: &'static str,
    pub image: String,
    /// From the container's start to the component serving.
    pub startup: Time,
}

impl StaticManifest {
    /// kubeadm's four manifests with their default images and startup times.
    pub fn kubeadm_defaults() -> Vec<StaticManifest> {
        let m = |component, image: &str, startup| StaticManifest {
            component,
            image: image.to_string(),
            startup,
        };
        vec![
            m("etcd", "registry.k8s.io/etcd:3.5.15-0", 2 * SECOND),
            m(
                "kube-apiserver",
                "registry.k8s.io/kube-apiserver:v1.31.0",
                5 * SECOND,
            ),
            m(
                "kube-controller-manager",
                "registry.k8s.io/kube-controller-manager:v1.31.0",
                2 * SECOND,
            ),
            m(
                "kube-scheduler",
                "registry.k8s.io/kube-scheduler:v1.31.0",
                SECOND,
            ),
        ]
    }
}

/// The control-plane kubelet's boot state.
pub struct ControlPlane {
    pub manifests: Vec<StaticManifest>,
    /// The static pods were created.
    pub static_started: bool,
    /// Uids of the static pods, by manifest.
    uids: Vec<u64>,
    up: Vec<bool>,
    apiserver_serving: bool,
    scheduler_started: bool,
    controllers_started: bool,
}

impl ControlPlane {
    pub fn new(manifests: Vec<StaticManifest>) -> Self {
        let n = manifests.len();
        ControlPlane {
            manifests,
            static_started: false,
            uids: Vec::new(),
            up: vec![false; n],
            apiserver_serving: false,
            scheduler_started: false,
            controllers_started: false,
        }
    }

    fn is_up(&self, component: &str) -> bool {
        self.manifests
            .iter()
            .zip(&self.up)
            .any(|(m, up)| m.component == component && *up)
    }
}

/// Static pods get uids far above those the apiserver hands out.
const STATIC_UID_BASE: u64 = 1 << 60;

impl Kubelet {
    /// Reads the manifests and starts the static pods.
    pub(super) fn start_static_pods(&mut self, cx: &mut Cx) {
        let node = self.node.to_string();
        let Some(cp) = self.control_plane.as_mut() else {
            return;
        };
        cp.static_started = true;
        let mut pods = Vec::new();
        for (k, m) in cp.manifests.iter().enumerate() {
            let uid = STATIC_UID_BASE + u64::from(self.index) * 16 + k as u64;
            cp.uids.push(uid);
            let mut meta = ObjectMeta {
                name: format!("{}-{node}", m.component).into(),
                namespace: "kube-system".into(),
                uid,
                creation_timestamp: Some(cx.now()),
                ..Default::default()
            };
            std::sync::Arc::make_mut(&mut meta.labels)
                .insert("component".into(), m.component.into());
            std::sync::Arc::make_mut(&mut meta.labels)
                .insert("tier".into(), "control-plane".into());
            std::sync::Arc::make_mut(&mut meta.annotations)
                .insert("kubernetes.io/config.source".into(), "file".into());
            let pod = Pod {
                metadata: meta,
                spec: Arc::new(PodSpec {
                    containers: Arc::new(vec![Container {
                        name: m.component.into(),
                        image: m.image.clone(),
                        ..Default::default()
                    }]),
                    node_name: Some(node.clone()),
                    host_network: true,
                    priority: Some(SYSTEM_NODE_CRITICAL),
                    priority_class_name: Some("system-node-critical".into()),
                    tolerations: Arc::new(vec![Toleration {
                        operator: TolerationOperator::Exists,
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                status: Default::default(),
            };
            pods.push((Arc::new(Object::Pod(pod)), k));
        }
        for (obj, k) in pods {
            let detail = format!(
                "static pod from /etc/kubernetes/manifests/{}.yaml",
                self.control_plane
                    .as_ref()
                    .map_or("", |cp| cp.manifests[k].component)
            );
            cx.log(self.me(), "observe", Subject::from(&*obj), &detail);
            self.add_pod(obj, Some(k), cx);
        }
    }

    /// A component is up: see who can act now.
    pub(super) fn static_pod_ready(&mut self, k: usize, cx: &mut Cx) {
        let me = self.me();
        let Some(cp) = self.control_plane.as_mut() else {
            return;
        };
        if cp.up[k] {
            return;
        }
        cp.up[k] = true;
        let component = cp.manifests[k].component;
        cx.log(
            me,
            "component-up",
            Subject::NONE,
            &format!("{component} is up"),
        );
        let mut apiserver_now = false;
        if !cp.apiserver_serving && cp.is_up("etcd") && cp.is_up("kube-apiserver") {
            cp.apiserver_serving = true;
            apiserver_now = true;
        }
        let mut start = Vec::new();
        if cp.apiserver_serving && !cp.scheduler_started && cp.is_up("kube-scheduler") {
            cp.scheduler_started = true;
            start.push(Dest::Scheduler);
        }
        if cp.apiserver_serving && !cp.controllers_started && cp.is_up("kube-controller-manager") {
            cp.controllers_started = true;
            start.push(Dest::ControllerManager);
        }
        let control_plane_up = cp.scheduler_started && cp.controllers_started;
        if apiserver_now {
            cx.send(Dest::ApiServer, 0, Msg::ComponentUp);
            // Everything that waited for the apiserver gets through now.
            for i in 0..cx.node_count() as u32 {
                if i != self.index {
                    start.push(Dest::Kubelet(i));
                }
            }
            start.push(Dest::KubeProxy);
            start.push(Dest::NodeLeases);
            // This kubelet registers its Node, watches its pods and
            // mirrors its static pods.
            self.handle(Msg::Start, cx);
            self.create_mirror_pods(cx);
        }
        for dest in start {
            cx.send(dest, 0, Msg::Start);
        }
        if control_plane_up {
            cx.rec.control_plane_up(cx.now());
        }
    }

    fn create_mirror_pods(&mut self, cx: &mut Cx) {
        let me = self.me();
        let node = self.node.to_string();
        let uids = self
            .control_plane
            .as_ref()
            .map(|cp| cp.uids.clone())
            .unwrap_or_default();
        for uid in uids {
            let Some(p) = self.pods.get(&uid) else {
                continue;
            };
            let Some(pod) = p.object.as_pod() else {
                continue;
            };
            let mut mirror = pod.clone();
            mirror.metadata.uid = 0;
            std::sync::Arc::make_mut(&mut mirror.metadata.annotations)
                .insert(ANNOTATION_MIRROR.into(), "static".into());
            std::sync::Arc::make_mut(&mut mirror.metadata.owner_references).push(OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.clone(),
                uid: String::new(),
                controller: Some(true),
            });
            cx.log(me, "create-mirror-pod", Subject::from(&*p.object), "");
            cx.api(me, uid, Verb::Create(Object::Pod(mirror)));
        }
    }
}
