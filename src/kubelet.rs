//! The kubelet of one node: watches the pods bound to its node, admits them
//! (resources, maxPods), drives the runtime through sandbox, image pulls,
//! container create and start, and reports status through the apiserver.
//!
//! Simplified for now: init containers, probes, restarts and graceful
//! termination are not modelled; a pod without a readiness probe is Ready as
//! soon as its containers run, as upstream; deletion stops the sandbox at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::pod::{PodConditionType, PodStatus};
use crate::api::resources::{Resources, pod_requests};
use crate::api::{Object, ObjectKey, PodPhase};
use crate::engine::Time;
use crate::etcd::EventType;
use crate::output::Subject;
use crate::sim::msg::{FieldSelector, RuntimeCall, RuntimeResult, WatchSpec};
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Seen, waiting for the pod worker.
    Seen,
    Sandbox,
    Pulling(usize),
    Creating(usize),
    Starting(usize),
    /// Containers running, waiting for the relist to notice.
    Started,
    Running,
    Rejected,
}

struct KubeletPod {
    object: Arc<Object>,
    key: ObjectKey,
    stage: Stage,
    requests: Resources,
    admitted: bool,
    ip: Option<String>,
    seen_at: Time,
}

pub struct Kubelet {
    index: u32,
    node: Arc<str>,
    allocatable: Resources,
    max_pods: i64,
    pods: BTreeMap<u64, KubeletPod>,
    admitted: Resources,
    admitted_pods: i64,
}

impl Kubelet {
    pub fn new(index: u32, node: &crate::api::Node) -> Self {
        let (allocatable, max_pods) = crate::api::resources::node_allocatable(node);
        Kubelet {
            index,
            node: Arc::from(node.metadata.name.as_str()),
            allocatable,
            max_pods,
            pods: BTreeMap::new(),
            admitted: Resources::default(),
            admitted_pods: 0,
        }
    }

    fn me(&self) -> Dest {
        Dest::Kubelet(self.index)
    }

    fn runtime(&self) -> Dest {
        Dest::Docker(self.index)
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Start => {
                let spec = WatchSpec {
                    tag: 0,
                    kind: crate::api::Kind::Pod,
                    namespace: None,
                    labels: None,
                    field: FieldSelector::NodeName(self.node.to_string()),
                    from_revision: None,
                };
                cx.api(self.me(), 0, Verb::Watch(spec));
            }
            Msg::WatchList { objects, .. } => {
                for o in objects {
                    self.observe(EventType::Added, o, cx);
                }
            }
            Msg::WatchEvent { kind, change, .. } => self.observe(kind, change.object.clone(), cx),
            Msg::KubeletSync { pod } => self.sync(pod, cx),
            Msg::RuntimeResult(r) => self.runtime_result(r, cx),
            Msg::Relist { pod } => self.relist(pod, cx),
            Msg::Response(resp) => {
                if let Err(e) = &resp.result {
                    let detail = format!("{} failed: {} {}", resp.verb, e.code, e.message);
                    cx.log(self.me(), "error", Subject::from(&resp.key), &detail);
                }
            }
            _ => {}
        }
    }

    fn observe(&mut self, kind: EventType, obj: Arc<Object>, cx: &mut Cx) {
        let Some(pod) = obj.as_pod() else { return };
        let uid = pod.metadata.uid;
        match kind {
            EventType::Deleted => {
                if let Some(p) = self.pods.remove(&uid) {
                    cx.log(self.me(), "kill-pod", Subject::from(&*obj), "pod deleted");
                    if p.admitted {
                        self.admitted.sub(&p.requests);
                        self.admitted_pods -= 1;
                    }
                    if p.stage != Stage::Rejected && p.stage != Stage::Seen {
                        cx.send(
                            self.runtime(),
                            0,
                            Msg::Runtime(RuntimeCall::StopPodSandbox { pod: uid }),
                        );
                    }
                }
            }
            EventType::Added | EventType::Modified => {
                if let Some(p) = self.pods.get_mut(&uid) {
                    p.object = obj;
                    return;
                }
                if pod.status.phase.is_terminal() {
                    return;
                }
                cx.log(self.me(), "observe", Subject::from(&*obj), kind.as_str());
                self.pods.insert(
                    uid,
                    KubeletPod {
                        key: obj.key(),
                        requests: pod_requests(&pod.spec),
                        object: obj,
                        stage: Stage::Seen,
                        admitted: false,
                        ip: None,
                        seen_at: cx.now(),
                    },
                );
                let delay = cx.lat.sample(Hop::KubeletSync);
                cx.send(self.me(), delay, Msg::KubeletSync { pod: uid });
            }
        }
    }

    /// Admission, as the kubelet's predicate admit handler checks it: the
    /// pod must fit in what the node has left, and under maxPods.
    fn admit(&self, p: &KubeletPod) -> Result<(), (String, String)> {
        if self.admitted_pods + 1 > self.max_pods {
            return Err((
                "OutOfpods".into(),
                format!(
                    "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: {}, capacity: {}",
                    self.admitted_pods, self.max_pods
                ),
            ));
        }
        let r = &p.requests;
        let checks = [
            (
                "cpu",
                r.milli_cpu,
                self.admitted.milli_cpu,
                self.allocatable.milli_cpu,
            ),
            (
                "memory",
                r.memory,
                self.admitted.memory,
                self.allocatable.memory,
            ),
        ];
        for (name, want, used, cap) in checks {
            if want > 0 && want + used > cap {
                return Err((
                    format!("OutOf{name}"),
                    format!(
                        "Pod was rejected: Node didn't have enough resource: {name}, requested: {want}, used: {used}, capacity: {cap}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn sync(&mut self, uid: u64, cx: &mut Cx) {
        let Some(p) = self.pods.get(&uid) else { return };
        if p.stage != Stage::Seen {
            return;
        }
        let verdict = self.admit(p);
        let me = self.me();
        let runtime = self.runtime();
        let p = self.pods.get_mut(&uid).expect("present");
        let subject_obj = p.object.clone();
        match verdict {
            Err((reason, message)) => {
                p.stage = Stage::Rejected;
                cx.log(me, "reject", Subject::from(&*subject_obj), &message);
                let mut status = PodStatus {
                    phase: PodPhase::Failed,
                    reason,
                    message,
                    ..Default::default()
                };
                status.set_condition(PodConditionType::PodScheduled, true, cx.now(), "");
                let key = p.key.clone();
                cx.api(me, uid, Verb::UpdatePodStatus { key, status });
            }
            Ok(()) => {
                p.admitted = true;
                p.stage = Stage::Sandbox;
                self.admitted.add(&p.requests);
                self.admitted_pods += 1;
                cx.log(me, "admit", Subject::from(&*subject_obj), "");
                let name: Arc<str> = Arc::from(format!("{}/{}", p.key.namespace, p.key.name));
                cx.send(
                    runtime,
                    0,
                    Msg::Runtime(RuntimeCall::RunPodSandbox { pod: uid, name }),
                );
            }
        }
    }

    fn runtime_result(&mut self, r: RuntimeResult, cx: &mut Cx) {
        let me = self.me();
        let runtime = self.runtime();
        let (uid, next) = match r {
            RuntimeResult::SandboxReady { pod, ip } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                cx.log(
                    me,
                    "sandbox-ready",
                    Subject::from(&*p.object),
                    &format!("ip={ip}"),
                );
                p.ip = Some(ip);
                (pod, Stage::Pulling(0))
            }
            RuntimeResult::ImageReady { pod, .. } => match self.pods.get(&pod).map(|p| p.stage) {
                Some(Stage::Pulling(c)) => (pod, Stage::Creating(c)),
                _ => return,
            },
            RuntimeResult::ContainerCreated { pod, container } => (pod, Stage::Starting(container)),
            RuntimeResult::ContainerStarted { pod, container } => {
                let Some(p) = self.pods.get(&pod) else { return };
                let n = p.object.as_pod().map_or(0, |x| x.spec.containers.len());
                if container + 1 < n {
                    (pod, Stage::Pulling(container + 1))
                } else {
                    (pod, Stage::Started)
                }
            }
            RuntimeResult::SandboxStopped { .. } => return,
        };
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        p.stage = next;
        let Some(pod) = p.object.as_pod() else { return };
        match next {
            Stage::Pulling(c) => {
                let container = &pod.spec.containers[c];
                let always = container.pull_policy() == crate::api::pod::PullPolicy::Always;
                cx.send(
                    runtime,
                    0,
                    Msg::Runtime(RuntimeCall::PullImage {
                        pod: uid,
                        image: container.image.clone(),
                        always,
                    }),
                );
            }
            Stage::Creating(c) => cx.send(
                runtime,
                0,
                Msg::Runtime(RuntimeCall::CreateContainer {
                    pod: uid,
                    container: c,
                }),
            ),
            Stage::Starting(c) => cx.send(
                runtime,
                0,
                Msg::Runtime(RuntimeCall::StartContainer {
                    pod: uid,
                    container: c,
                }),
            ),
            Stage::Started => {
                cx.log(me, "containers-started", Subject::from(&*p.object), "");
                let delay = cx.lat.sample(Hop::PlegRelist);
                cx.send(me, delay, Msg::Relist { pod: uid });
            }
            _ => {}
        }
    }

    /// The relist notices the running containers: report Running and Ready.
    fn relist(&mut self, uid: u64, cx: &mut Cx) {
        let me = self.me();
        let node = self.node.to_string();
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        if p.stage != Stage::Started {
            return;
        }
        p.stage = Stage::Running;
        let now = cx.now();
        let mut status = PodStatus {
            phase: PodPhase::Running,
            pod_ip: p.ip.clone(),
            host_ip: Some(node),
            start_time: Some(p.seen_at),
            ..Default::default()
        };
        for c in [
            PodConditionType::PodScheduled,
            PodConditionType::PodReadyToStartContainers,
            PodConditionType::Initialized,
            PodConditionType::ContainersReady,
            PodConditionType::Ready,
        ] {
            status.set_condition(c, true, now, "");
        }
        cx.log(
            me,
            "status",
            Subject::from(&*p.object),
            "phase=Running ready",
        );
        let key = p.key.clone();
        cx.api(me, uid, Verb::UpdatePodStatus { key, status });
    }
}
