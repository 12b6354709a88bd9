//! The kubelet of one node: watches the pods bound to its node, admits them
//! (resources, maxPods), and runs each through its lifecycle as upstream's
//! pod workers do: the sandbox (pause container, pod IP), then the init
//! containers one at a time, each run to completion, then the containers in
//! order (image pull per pull policy, create, start). It restarts containers
//! that end according to `restartPolicy` with the CrashLoopBackOff back-off
//! (none for the first restart, then 10 s doubling to 300 s, forgotten after
//! 10 min of running), retries failed pulls with the image back-off
//! (ErrImagePull, ImagePullBackOff), runs readiness probes, terminates pods
//! gracefully when their deletionTimestamp is set, and reports the phase,
//! the five conditions and the container statuses through the apiserver
//! under its client rate limit (QPS 50, burst 100).
//!
//! A simulated container runs no code: how long it runs and how it ends come
//! from the pod's `kubesim.io/*` annotations (`api::pod::SimBehaviour`).
//!
//! Simplified: a readiness probe's first success is at `initialDelaySeconds`
//! after the container started (the probe worker's phase is not modelled);
//! the kubelet's GET before its status PATCH is not modelled.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::api::pod::{
    ContainerState, ContainerStatus, PodCondition, PodConditionType, PodStatus, PullPolicy,
    RestartPolicy, SimBehaviour,
};
use crate::api::resources::{Resources, pod_requests};
use crate::api::{Object, ObjectKey, PodPhase};
use crate::engine::{SECOND, Time};
use crate::etcd::EventType;
use crate::fasthash::HashMap;
use crate::output::{Part, Subject};
use crate::ratelimit::TokenBucket;
use crate::sim::msg::{RuntimeCall, RuntimeResult, WatchSpec};
use crate::sim::{Cx, Dest, Hop, Msg, Verb};

mod static_pods;
pub use static_pods::{ANNOTATION_MIRROR, ControlPlane, StaticManifest};

/// The container restart back-off (`pkg/kubelet`: 10 s doubling to 5 min)
/// and the image pull back-off, which has the same bounds.
pub const BACKOFF_INITIAL: Time = 10 * SECOND;
pub const BACKOFF_MAX: Time = 300 * SECOND;
/// From its seventh restart on (the exit after its sixth restart starts
/// the capped back-off of 300 s), a container's own exit is a retry that
/// may repeat forever: it keeps only a run with a `duration` going.
/// Without this, crash loops started at different times, or a container
/// that runs longer than the back-off's 10 min memory between crashes (so
/// that its back-off never reaches the cap), would keep a run without
/// `duration` going forever.
pub const LINGER_RESTARTS: u32 = 7;
/// The kubelet's API client limits (`kubeAPIQPS`, `kubeAPIBurst`).
pub const KUBELET_QPS: f64 = 50.0;
pub const KUBELET_BURST: u32 = 100;

/// A back-off entry as client-go's `flowcontrol.Backoff` keeps it.
#[derive(Clone, Copy, Debug, Default)]
struct Backoff {
    /// 0: no entry.
    delay: Time,
    updated: Time,
}

impl Backoff {
    /// Whether `event` (a container's finish, a failed pull) is still
    /// inside the back-off window at `now`.
    fn in_backoff_since(&self, event: Time, now: Time) -> bool {
        self.delay > 0 && !self.expired(event) && now.saturating_sub(event) < self.delay
    }

    /// An entry not touched for twice the maximum is forgotten.
    fn expired(&self, event: Time) -> bool {
        event.saturating_sub(self.updated) > 2 * BACKOFF_MAX
    }

    fn next(&mut self, event: Time, now: Time) {
        self.delay = if self.delay == 0 || self.expired(event) {
            BACKOFF_INITIAL
        } else {
            (self.delay * 2).min(BACKOFF_MAX)
        };
        self.updated = now;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Pull,
    Create,
    Start,
}

struct Ctr {
    name: Arc<str>,
    image: String,
    policy: PullPolicy,
    init: bool,
    /// (initialDelay, period, failureThreshold) of the readiness probe.
    probe: Option<(Time, Time, u64)>,
    state: ContainerState,
    ready: bool,
    restarts: u32,
    /// Bumped on every start; stale runtime answers carry an older one.
    attempt: u32,
    started_once: bool,
    crash: Backoff,
    pull: Backoff,
    /// When the last pull failed.
    pull_failed_at: Option<Time>,
    /// When the last run ended (its finishedAt).
    finished_at: Option<Time>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sandbox {
    None,
    Creating,
    Ready,
    Stopping,
    Stopped,
}

struct KubeletPod {
    object: Arc<Object>,
    key: ObjectKey,
    requests: Resources,
    behaviour: SimBehaviour,
    restart: RestartPolicy,
    admitted: bool,
    rejected: bool,
    sandbox: Sandbox,
    seen_at: Time,
    ctrs: Vec<Ctr>,
    busy: Option<(usize, Step)>,
    relist_pending: bool,
    /// The earliest KubeletWake scheduled and not yet handled.
    wake_at: Option<Time>,
    terminating: bool,
    /// Containers asked to stop that have not exited yet.
    stopping: usize,
    /// The pod reached a terminal phase (or finished terminating).
    finished: bool,
    /// For the startup SLI: image pulling and init containers.
    pull_requested: Time,
    pull_first: Option<Time>,
    pull_last: Option<Time>,
    init_first: Option<Time>,
    init_last: Option<Time>,
    /// The status as last built (conditions keep their transition times);
    /// its `pod_ip` is the sandbox's, set when the sandbox is ready.
    status: PodStatus,
    /// A fingerprint of the status as last sent.
    sent: Option<u64>,
    /// A status update sent and not answered yet: the next waits for its
    /// answer, so that statuses are stored in order.
    status_in_flight: bool,
    /// A status sync was due while one was in flight.
    status_again: bool,
    /// A status sync is queued in the outbox.
    status_queued: bool,
    /// Terminated: delete with grace 0 once the final status is stored.
    delete_pending: bool,
    /// A static pod: its index in the control plane's manifests.
    static_pod: Option<usize>,
    /// A static pod whose mirror pod exists (its status goes there).
    mirrored: bool,
    /// A Running status was sent.
    reported_running: bool,
}

/// A request waiting for the client rate limiter.
enum Outgoing {
    /// Sync pod `uid`'s status (built when sent, so always the latest).
    Status(u64),
    Call(Box<Verb>),
}

/// A kubelet's state. With one per node, a kubelet's state is seldom in
/// the cache when its event comes, so the fields nearly every event reads
/// come first, in declared order (`repr(C)`), and each state starts a
/// cache line of its own: the flags, index and watch tag, the pod table,
/// the outbox, the rate limiter and the node's name lie in its first two
/// lines, not wherever the compiler would have put them.
#[repr(C, align(64))]
pub struct Kubelet {
    /// The node failed (`failNode`): the kubelet does nothing until it
    /// comes back.
    failed: bool,
    flush_scheduled: bool,
    index: u32,
    /// Bumped at every restart after a failure: the tag of the current
    /// watch, and the high part of container attempts.
    boot: u32,
    /// Looked up by uid, never iterated; boxed, so that the table stays
    /// small and a pod is not moved when it grows.
    pods: HashMap<u64, Box<KubeletPod>>,
    outbox: VecDeque<Outgoing>,
    limiter: TokenBucket,
    node: Arc<str>,
    allocatable: Resources,
    max_pods: i64,
    admitted: Resources,
    admitted_pods: i64,
    /// A kubelet on a new machine registers its Node first.
    register: Option<Box<crate::api::Node>>,
    /// The control-plane node's kubelet, when the cluster boots.
    control_plane: Option<Box<ControlPlane>>,
}

impl Kubelet {
    pub fn new(index: u32, node: &crate::api::Node) -> Self {
        let (allocatable, max_pods) = crate::api::resources::node_allocatable(node);
        Kubelet {
            index,
            node: Arc::from(node.metadata.name.as_str()),
            allocatable,
            max_pods,
            pods: HashMap::default(),
            admitted: Resources::default(),
            admitted_pods: 0,
            limiter: TokenBucket::new(KUBELET_QPS, KUBELET_BURST),
            outbox: VecDeque::new(),
            flush_scheduled: false,
            failed: false,
            boot: 0,
            register: None,
            control_plane: None,
        }
    }

    /// The control-plane node's kubelet: it starts the static pods, then,
    /// once the apiserver answers, registers `node`.
    pub fn control_plane(index: u32, node: crate::api::Node, cp: ControlPlane) -> Self {
        let mut k = Kubelet::registering(index, node);
        k.control_plane = Some(Box::new(cp));
        k
    }

    /// The kubelet of a machine that joins: it registers `node` on start.
    pub fn registering(index: u32, node: crate::api::Node) -> Self {
        let mut k = Kubelet::new(index, &node);
        k.register = Some(Box::new(node));
        k
    }

    fn me(&self) -> Dest {
        Dest::Kubelet(self.index)
    }

    fn runtime(&self) -> Dest {
        Dest::Docker(self.index)
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        if let Msg::NodePower { up, .. } = msg {
            return self.power(up, cx);
        }
        if self.failed {
            return;
        }
        match msg {
            Msg::WatchList { tag, .. } | Msg::WatchEvent { tag, .. } if tag != self.boot => {}
            Msg::Start
                if self
                    .control_plane
                    .as_ref()
                    .is_some_and(|cp| !cp.static_started) =>
            {
                self.start_static_pods(cx);
            }
            Msg::StaticPodReady { component } => self.static_pod_ready(component, cx),
            Msg::Start => {
                if let Some(node) = self.register.take() {
                    let key =
                        crate::api::ObjectKey::new(crate::api::Kind::Node, "", &node.metadata.name);
                    cx.log(self.me(), "register-node", Subject::from(&key), "");
                    cx.api(self.me(), 0, Verb::Create(Object::Node(*node)));
                }
                let spec = WatchSpec::pods_on(self.boot, &self.node);
                cx.api(self.me(), 0, Verb::Watch(spec));
            }
            Msg::WatchList { objects, .. } => {
                for o in *objects {
                    self.observe(EventType::Added, o, None, cx);
                }
            }
            Msg::WatchEvent { kind, change, .. } => {
                self.observe(kind, change.object.clone(), Some(&change.key), cx)
            }
            Msg::KubeletSync { pod } => self.admit_and_sync(pod, cx),
            Msg::RuntimeResult(r) => self.runtime_result(*r, cx),
            Msg::Relist { pod } => {
                if let Some(p) = self.pods.get_mut(&pod) {
                    p.relist_pending = false;
                    self.drive(pod, cx);
                    self.report(pod, cx);
                }
            }
            Msg::KubeletWake { pod } => {
                if let Some(p) = self.pods.get_mut(&pod) {
                    if p.wake_at.is_some_and(|t| t <= cx.now()) {
                        p.wake_at = None;
                    }
                    self.drive(pod, cx);
                    self.report(pod, cx);
                }
            }
            Msg::ProbeResult {
                pod,
                container,
                attempt,
                ready,
            } => self.probe_result(pod, container, attempt, ready, cx),
            Msg::KubeletFlush => {
                self.flush_scheduled = false;
                self.pump(cx);
            }
            Msg::Response(resp) => {
                if let Err(e) = &resp.result {
                    let detail = format!("{} failed: {} {}", resp.verb, e.code, e.message);
                    cx.log(self.me(), "error", Subject::from(&resp.key), &detail);
                } else if resp.verb == "create"
                    && let Some(p) = self.pods.get_mut(&resp.tag)
                    && p.static_pod.is_some()
                {
                    // The mirror pod exists: the static pod's status goes there.
                    p.mirrored = true;
                    self.report(resp.tag, cx);
                }
                if resp.verb == "update-status"
                    && let Some(p) = self.pods.get_mut(&resp.tag)
                {
                    p.status_in_flight = false;
                    if std::mem::take(&mut p.status_again) {
                        self.report(resp.tag, cx);
                    }
                    self.maybe_delete(resp.tag, cx);
                }
            }
            _ => {}
        }
    }

    /// The node fails (its kubelet and containers are gone) or comes back
    /// (the kubelet starts afresh, lists its pods and syncs them again).
    fn power(&mut self, up: bool, cx: &mut Cx) {
        if up != self.failed {
            return;
        }
        self.failed = !up;
        self.pods.clear();
        self.outbox.clear();
        self.admitted = Resources::default();
        self.admitted_pods = 0;
        if up {
            self.boot += 1;
            cx.log(self.me(), "start", Subject::NONE, "kubelet restarted");
            self.handle(Msg::Start, cx);
        } else {
            cx.log(
                self.me(),
                "stop",
                Subject::NONE,
                "node failed: kubelet and containers stopped",
            );
        }
    }

    // ---- watch ----

    /// A watched pod changed; `key` is its key when the event carries one.
    fn observe(&mut self, kind: EventType, obj: Arc<Object>, key: Option<&ObjectKey>, cx: &mut Cx) {
        let Some(pod) = obj.as_pod() else { return };
        let uid = pod.metadata.uid;
        match kind {
            EventType::Deleted => {
                if self.pods.contains_key(&uid) {
                    self.release(uid);
                    let p = self.pods.remove(&uid).expect("present");
                    cx.log(self.me(), "forget-pod", Subject::from(&*obj), "pod deleted");
                    if matches!(p.sandbox, Sandbox::Creating | Sandbox::Ready) {
                        cx.send(
                            self.runtime(),
                            0,
                            Msg::runtime(RuntimeCall::StopPodSandbox { pod: uid }),
                        );
                    }
                }
            }
            EventType::Added | EventType::Modified => {
                let deleting = pod.metadata.deletion_timestamp.is_some();
                if let Some(p) = self.pods.get_mut(&uid) {
                    p.object = obj;
                    if deleting && !p.terminating {
                        self.terminate(uid, cx);
                    }
                    return;
                }
                if pod.status.phase.is_terminal()
                    || pod.metadata.annotations.contains_key(ANNOTATION_MIRROR)
                {
                    // Mirror pods stand for static pods this kubelet runs.
                    return;
                }
                cx.log(self.me(), "observe", Subject::from(&*obj), kind.as_str());
                let key = key.cloned().unwrap_or_else(|| obj.key());
                self.add_pod_keyed(obj, key, None, cx);
            }
        }
    }

    /// The pod stops counting against the node's allocatable.
    /// Starts tracking a pod bound to this node (from the watch, or a
    /// static pod from the manifests).
    fn add_pod(&mut self, obj: Arc<Object>, static_pod: Option<usize>, cx: &mut Cx) {
        let key = obj.key();
        self.add_pod_keyed(obj, key, static_pod, cx);
    }

    /// [`Kubelet::add_pod`] with the pod's key already built.
    fn add_pod_keyed(
        &mut self,
        obj: Arc<Object>,
        key: ObjectKey,
        static_pod: Option<usize>,
        cx: &mut Cx,
    ) {
        let pod = obj.as_pod().expect("kubelet pods are pods");
        let uid = pod.metadata.uid;
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let spec = &pod.spec;
        let ctrs = spec
            .init_containers
            .iter()
            .map(|c| (c, true))
            .chain(spec.containers.iter().map(|c| (c, false)))
            .map(|(c, init)| Ctr {
                name: Arc::from(c.name.as_str()),
                image: c.image.clone(),
                policy: c.pull_policy(),
                init,
                probe: c.readiness_probe.as_ref().filter(|_| !init).map(|p| {
                    (
                        p.initial_delay().max(0) as Time * SECOND,
                        p.period() as Time * SECOND,
                        p.failure_threshold() as u64,
                    )
                }),
                state: ContainerState::Waiting {
                    reason: if init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    },
                },
                ready: false,
                restarts: 0,
                attempt: self.boot * 1_000_000,
                started_once: false,
                crash: Backoff::default(),
                pull: Backoff::default(),
                pull_failed_at: None,
                finished_at: None,
            })
            .collect();
        self.pods.insert(
            uid,
            Box::new(KubeletPod {
                key,
                requests: pod_requests(spec),
                behaviour: SimBehaviour::of(&pod.metadata).unwrap_or_default(),
                restart: spec.restart_policy(),
                object: obj,
                admitted: false,
                rejected: false,
                sandbox: Sandbox::None,
                seen_at: cx.now(),
                ctrs,
                busy: None,
                relist_pending: false,
                wake_at: None,
                terminating: false,
                stopping: 0,
                finished: false,
                pull_requested: 0,
                pull_first: None,
                pull_last: None,
                init_first: None,
                init_last: None,
                status: PodStatus::default(),
                sent: None,
                status_in_flight: false,
                status_again: false,
                status_queued: false,
                delete_pending: false,
                static_pod,
                mirrored: false,
                reported_running: false,
            }),
        );
        if deleting {
            // Already terminating when first seen (a restarted
            // kubelet): nothing to start, only to clean up.
            self.terminate(uid, cx);
            return;
        }
        let delay = cx.lat.sample(Hop::KubeletSync);
        cx.send(self.me(), delay, Msg::KubeletSync { pod: uid });
    }

    fn release(&mut self, uid: u64) {
        if let Some(p) = self.pods.get_mut(&uid) {
            release(p, &mut self.admitted, &mut self.admitted_pods);
        }
    }

    // ---- admission ----

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

    fn admit_and_sync(&mut self, uid: u64, cx: &mut Cx) {
        let Some(p) = self.pods.get(&uid) else { return };
        if p.admitted || p.rejected || p.terminating {
            return;
        }
        let verdict = self.admit(p);
        let me = self.me();
        let p = self.pods.get_mut(&uid).expect("present");
        let subject_obj = p.object.clone();
        match verdict {
            Err((reason, message)) => {
                p.rejected = true;
                p.finished = true;
                cx.log(me, "reject", Subject::from(&*subject_obj), &message);
                let mut status = PodStatus {
                    phase: PodPhase::Failed,
                    reason,
                    message,
                    ..Default::default()
                };
                status.set_condition(PodConditionType::PodScheduled, true, cx.now(), "");
                p.status = status;
                self.report(uid, cx);
            }
            Ok(()) => {
                p.admitted = true;
                self.admitted.add(&p.requests);
                self.admitted_pods += 1;
                cx.log(me, "admit", Subject::from(&*subject_obj), "");
                self.drive(uid, cx);
                self.report(uid, cx);
            }
        }
    }

    // ---- the pod worker ----

    /// One pass of the pod worker: start whatever should start next. Safe
    /// to call at any time; it does nothing while a step is in flight.
    fn drive(&mut self, uid: u64, cx: &mut Cx) {
        let now = cx.now();
        let me = self.me();
        let runtime = self.runtime();
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        if !p.admitted || p.finished || p.terminating {
            return;
        }
        match p.sandbox {
            Sandbox::None => {
                p.sandbox = Sandbox::Creating;
                // The runtime names the sandbox from the key (shared).
                let key = p.key.clone();
                cx.send(
                    runtime,
                    0,
                    Msg::runtime(RuntimeCall::RunPodSandbox { pod: uid, key }),
                );
                return;
            }
            Sandbox::Ready => {}
            _ => return,
        }
        if p.busy.is_some() {
            return;
        }
        let n_init = p.ctrs.iter().filter(|c| c.init).count();
        // Init containers, one at a time, each to completion.
        for i in 0..n_init {
            match p.ctrs[i].state {
                ContainerState::Terminated { exit_code: 0, .. } => continue,
                ContainerState::Running { .. } => return,
                ContainerState::Terminated { .. } if p.restart == RestartPolicy::Never => {
                    // A failed init container with Never: the pod fails.
                    return;
                }
                _ => {
                    start_or_back_off(p, i, uid, me, runtime, now, cx);
                    return;
                }
            }
        }
        // The containers, in order.
        for i in n_init..p.ctrs.len() {
            let c = &p.ctrs[i];
            let wants_start = match c.state {
                ContainerState::Running { .. } => false,
                ContainerState::Waiting { .. } => true,
                ContainerState::Terminated { exit_code, .. } => match p.restart {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure => exit_code != 0,
                    RestartPolicy::Never => false,
                },
            };
            if wants_start && start_or_back_off(p, i, uid, me, runtime, now, cx) {
                return;
            }
        }
    }

    fn runtime_result(&mut self, r: RuntimeResult, cx: &mut Cx) {
        let me = self.me();
        let runtime = self.runtime();
        let now = cx.now();
        match r {
            RuntimeResult::SandboxReady { pod, ip } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                if p.sandbox != Sandbox::Creating {
                    return;
                }
                cx.log_parts(
                    me,
                    "sandbox-ready",
                    Subject::from(&*p.object),
                    &[Part::Text("ip="), Part::Text(&ip)],
                );
                p.sandbox = Sandbox::Ready;
                // Kept in the status only: builds leave it as it is.
                p.status.pod_ip = Some(ip.into());
                self.drive(pod, cx);
                self.report(pod, cx);
            }
            RuntimeResult::ImageReady { pod, pulled, .. } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                let Some((i, Step::Pull)) = p.busy else {
                    return;
                };
                if p.terminating {
                    p.busy = None;
                    return;
                }
                if pulled {
                    p.pull_first.get_or_insert(p.pull_requested);
                    p.pull_last = Some(now);
                }
                p.ctrs[i].pull_failed_at = None;
                p.busy = Some((i, Step::Create));
                cx.send(
                    runtime,
                    0,
                    Msg::runtime(RuntimeCall::CreateContainer { pod, container: i }),
                );
            }
            RuntimeResult::ImagePullFailed { pod, image, reason } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                let Some((i, Step::Pull)) = p.busy else {
                    return;
                };
                p.busy = None;
                let c = &mut p.ctrs[i];
                c.state = ContainerState::Waiting { reason };
                c.pull_failed_at = Some(now);
                c.pull.next(now, now);
                let retry = c.pull.delay;
                let detail = format!("{image}: {reason}, back-off {}s", retry / SECOND);
                cx.log(me, "pull-failed", Subject::from(&*p.object), &detail);
                if reason == "ErrImagePull" {
                    // The next sync shows ImagePullBackOff; the one after the
                    // back-off retries the pull.
                    schedule_wake(p, pod, me, now + SECOND, cx);
                    schedule_retry(p, pod, me, now + retry, retry, cx);
                }
                self.report(pod, cx);
            }
            RuntimeResult::ContainerCreated { pod, container } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                if p.busy != Some((container, Step::Create)) || p.terminating {
                    return;
                }
                p.busy = Some((container, Step::Start));
                let c = &mut p.ctrs[container];
                c.attempt += 1;
                let run = if c.init {
                    Some((p.behaviour.init_run_for, 0))
                } else {
                    p.behaviour.run_for.map(|d| (d, p.behaviour.exit_code))
                };
                // This start is restart number `restarts + 1`.
                let exit_lingers = c.started_once && c.restarts + 1 >= LINGER_RESTARTS;
                cx.send(
                    runtime,
                    0,
                    Msg::runtime(RuntimeCall::StartContainer {
                        pod,
                        container,
                        attempt: c.attempt,
                        run,
                        exit_lingers,
                    }),
                );
            }
            RuntimeResult::ContainerStarted { pod, container } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                if p.busy != Some((container, Step::Start)) {
                    return;
                }
                p.busy = None;
                if p.terminating {
                    return;
                }
                let c = &mut p.ctrs[container];
                if c.started_once {
                    c.restarts += 1;
                }
                c.started_once = true;
                c.state = ContainerState::Running { started_at: now };
                c.ready = !c.init && c.probe.is_none();
                let attempt = c.attempt;
                if c.init {
                    p.init_first.get_or_insert(now);
                }
                if let Some((initial, period, threshold)) = c.probe {
                    cx.send(
                        me,
                        initial,
                        Msg::ProbeResult {
                            pod,
                            container,
                            attempt,
                            ready: true,
                        },
                    );
                    if let Some(fail_after) = p.behaviour.readiness_fail_after {
                        // The first failing probe, then failureThreshold in a row.
                        let ticks = fail_after.saturating_sub(initial).div_ceil(period);
                        let first_fail = initial + ticks * period;
                        let unready = first_fail + threshold.saturating_sub(1) * period;
                        cx.send(
                            me,
                            unready.max(initial + 1),
                            Msg::ProbeResult {
                                pod,
                                container,
                                attempt,
                                ready: false,
                            },
                        );
                    }
                }
                let all_started = p
                    .ctrs
                    .iter()
                    .all(|c| c.init || matches!(c.state, ContainerState::Running { .. }));
                if all_started && !p.ctrs[container].init {
                    cx.log(me, "containers-started", Subject::from(&*p.object), "");
                    if let (Some(k), Some(cp)) = (p.static_pod, &self.control_plane) {
                        // The component needs a while to come up.
                        let delay = cp.manifests[k].startup;
                        cx.send(me, delay, Msg::StaticPodReady { component: k });
                    }
                }
                schedule_relist(p, pod, me, cx);
                self.drive(pod, cx);
            }
            RuntimeResult::ContainerExited {
                pod,
                container,
                attempt,
                exit_code,
            } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                let c = &mut p.ctrs[container];
                if c.attempt != attempt || !matches!(c.state, ContainerState::Running { .. }) {
                    return;
                }
                c.state = ContainerState::Terminated {
                    exit_code,
                    finished_at: now,
                };
                c.ready = false;
                c.finished_at = Some(now);
                if c.init && exit_code == 0 {
                    p.init_last = Some(now);
                }
                cx.log_parts(
                    me,
                    "container-exited",
                    Subject::from(&*p.object),
                    &[
                        Part::Text("container="),
                        Part::Text(&c.name),
                        Part::Text(" exit-code="),
                        Part::Int(exit_code.into()),
                    ],
                );
                if p.terminating {
                    p.stopping = p.stopping.saturating_sub(1);
                    if p.stopping == 0 {
                        p.sandbox = Sandbox::Stopping;
                        cx.send(
                            runtime,
                            0,
                            Msg::runtime(RuntimeCall::StopPodSandbox { pod }),
                        );
                    }
                    return;
                }
                schedule_relist(p, pod, me, cx);
            }
            RuntimeResult::SandboxStopped { pod } => {
                let Some(p) = self.pods.get_mut(&pod) else {
                    return;
                };
                if p.sandbox != Sandbox::Stopping {
                    return;
                }
                p.sandbox = Sandbox::Stopped;
                if p.terminating {
                    self.finish_termination(pod, cx);
                }
            }
        }
    }

    fn probe_result(&mut self, uid: u64, i: usize, attempt: u32, ready: bool, cx: &mut Cx) {
        let me = self.me();
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        let c = &mut p.ctrs[i];
        if c.attempt != attempt
            || !matches!(c.state, ContainerState::Running { .. })
            || c.ready == ready
            || p.terminating
        {
            return;
        }
        c.ready = ready;
        let detail = format!(
            "container={} readiness probe {}",
            c.name,
            if ready { "succeeded" } else { "failed" }
        );
        cx.log(me, "probe", Subject::from(&*p.object), &detail);
        self.report(uid, cx);
    }

    // ---- termination ----

    /// The pod's deletionTimestamp is set: stop its containers (SIGTERM,
    /// SIGKILL after the grace period), its sandbox, report the final
    /// status and delete it with grace 0.
    fn terminate(&mut self, uid: u64, cx: &mut Cx) {
        let runtime = self.runtime();
        let me = self.me();
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        p.terminating = true;
        let pod = p.object.as_pod().expect("kubelet pods are pods");
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(0) as Time
            * SECOND;
        cx.log_parts(
            me,
            "kill-pod",
            Subject::from(&*p.object),
            &[
                Part::Text("grace period "),
                Part::Num(grace / SECOND),
                Part::Text("s"),
            ],
        );
        p.stopping = 0;
        for (i, c) in p.ctrs.iter().enumerate() {
            if matches!(c.state, ContainerState::Running { .. }) {
                p.stopping += 1;
                cx.send(
                    runtime,
                    0,
                    Msg::runtime(RuntimeCall::StopContainer {
                        pod: uid,
                        container: i,
                        attempt: c.attempt,
                        grace,
                        shutdown: p.behaviour.shutdown,
                    }),
                );
            }
        }
        if p.stopping == 0 {
            if matches!(p.sandbox, Sandbox::Creating | Sandbox::Ready) {
                p.sandbox = Sandbox::Stopping;
                cx.send(
                    runtime,
                    0,
                    Msg::runtime(RuntimeCall::StopPodSandbox { pod: uid }),
                );
            } else if p.sandbox != Sandbox::Stopping {
                self.finish_termination(uid, cx);
            }
        }
    }

    fn finish_termination(&mut self, uid: u64, cx: &mut Cx) {
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        let was_finished = p.finished;
        p.finished = true;
        // Containers that never ran count as ended.
        for c in &mut p.ctrs {
            if let ContainerState::Waiting { .. } = c.state {
                c.ready = false;
            }
        }
        if !was_finished {
            self.release(uid);
        }
        if let Some(p) = self.pods.get_mut(&uid) {
            p.delete_pending = true;
        }
        self.report(uid, cx);
        self.maybe_delete(uid, cx);
    }

    /// As the status manager does: a terminated pod is deleted (grace 0)
    /// only once its final status is stored.
    fn maybe_delete(&mut self, uid: u64, cx: &mut Cx) {
        let Some(p) = self.pods.get_mut(&uid) else {
            return;
        };
        if !p.delete_pending || p.status_in_flight || p.status_queued {
            return;
        }
        p.delete_pending = false;
        let key = p.key.clone();
        self.outbox
            .push_back(Outgoing::Call(Box::new(Verb::ForceDelete { key })));
        self.pump(cx);
    }

    // ---- status ----

    /// Rebuilds pod `uid`'s status from the containers; finishes the pod
    /// when it reached a terminal phase, and then says whether it is to
    /// be released (its resources no longer counted as admitted).
    fn build_status(
        p: &mut KubeletPod,
        uid: u64,
        node: &Arc<str>,
        me: Dest,
        runtime: Dest,
        cx: &mut Cx,
    ) -> bool {
        let now = cx.now();
        if p.rejected {
            return false;
        }
        // The status is rebuilt in place: its vectors and strings keep
        // their allocations from one build to the next.
        let status = &mut p.status;
        let statuses = |init: bool, out: &mut Vec<ContainerStatus>| {
            out.clear();
            out.extend(p.ctrs.iter().filter(|c| c.init == init).map(|c| {
                let state = match c.state {
                    ContainerState::Waiting {
                        reason: "ErrImagePull",
                    } if c
                        .pull_failed_at
                        .is_some_and(|t| now > t && c.pull.in_backoff_since(t, now)) =>
                    {
                        ContainerState::Waiting {
                            reason: "ImagePullBackOff",
                        }
                    }
                    s => s,
                };
                ContainerStatus {
                    name: c.name.clone(),
                    state,
                    ready: c.ready,
                    restart_count: c.restarts,
                }
            }));
        };
        statuses(true, &mut status.init_container_statuses);
        statuses(false, &mut status.container_statuses);
        let init_statuses = &status.init_container_statuses;
        let container_statuses = &status.container_statuses;
        let initialized = init_statuses
            .iter()
            .all(|s| matches!(s.state, ContainerState::Terminated { exit_code: 0, .. }));
        let init_failed = p.restart == RestartPolicy::Never
            && init_statuses.iter().any(|s| {
                matches!(s.state, ContainerState::Terminated { exit_code, .. } if exit_code != 0)
            });
        let terminal_by_deletion = p.terminating && p.finished;
        let phase = if p.finished && !p.terminating {
            // The phase last built.
            status.phase
        } else if init_failed {
            PodPhase::Failed
        } else if !initialized && !terminal_by_deletion {
            PodPhase::Pending
        } else {
            pod_phase(&p.ctrs, p.restart, container_statuses, terminal_by_deletion)
        };
        let containers_ready = !container_statuses.is_empty()
            && container_statuses.iter().all(|s| s.ready)
            && !phase.is_terminal();
        status.phase = phase;
        // `pod_ip` was set when the sandbox became ready.
        if status.host_ip.as_deref() != Some(&**node) {
            status.host_ip = Some(node.clone());
        }
        status.start_time = Some(p.seen_at);
        let reason = |ok: bool, why: &'static str| if ok { "" } else { why };
        let terminal = phase.is_terminal();
        let why_not_ready = if terminal {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        set_conditions(
            status,
            now,
            [
                (PodConditionType::PodScheduled, true, ""),
                (
                    PodConditionType::PodReadyToStartContainers,
                    p.sandbox == Sandbox::Ready,
                    "",
                ),
                (
                    PodConditionType::Initialized,
                    initialized,
                    reason(initialized, "ContainersNotInitialized"),
                ),
                (
                    PodConditionType::ContainersReady,
                    containers_ready,
                    reason(containers_ready, why_not_ready),
                ),
                (
                    PodConditionType::Ready,
                    containers_ready,
                    reason(containers_ready, why_not_ready),
                ),
            ],
        );
        if terminal && !p.finished {
            p.finished = true;
            cx.log(
                me,
                "pod-finished",
                Subject::from(&*p.object),
                &format!("phase={}", phase.as_str()),
            );
            if matches!(p.sandbox, Sandbox::Creating | Sandbox::Ready) {
                p.sandbox = Sandbox::Stopping;
                cx.send(
                    runtime,
                    0,
                    Msg::runtime(RuntimeCall::StopPodSandbox { pod: uid }),
                );
            }
            return true;
        }
        false
    }

    /// Queues a status sync for the pod (once, however often it is asked).
    fn report(&mut self, uid: u64, cx: &mut Cx) {
        if let Some(p) = self.pods.get_mut(&uid)
            && !p.status_queued
        {
            p.status_queued = true;
            self.outbox.push_back(Outgoing::Status(uid));
        }
        self.pump(cx);
    }

    /// Sends what the rate limiter allows, oldest first.
    fn pump(&mut self, cx: &mut Cx) {
        let me = self.me();
        let runtime = self.runtime();
        while let Some(front) = self.outbox.front() {
            let uid = match *front {
                Outgoing::Status(uid) => uid,
                Outgoing::Call(_) => {
                    if !take_token(&mut self.limiter, &mut self.flush_scheduled, me, cx) {
                        return;
                    }
                    if let Some(Outgoing::Call(verb)) = self.outbox.pop_front() {
                        cx.api(me, 0, *verb);
                    }
                    continue;
                }
            };
            // One lookup of the pod for the check, the build and the send.
            let Some(p) = self.pods.get_mut(&uid) else {
                // Forgotten since it was queued: nothing to send.
                self.outbox.pop_front();
                continue;
            };
            if p.status_in_flight {
                // One at a time per pod: sent again once answered.
                p.status_again = true;
                p.status_queued = false;
                self.outbox.pop_front();
                continue;
            }
            // Build now: the latest status goes out.
            if Kubelet::build_status(p, uid, &self.node, me, runtime, cx) {
                release(p, &mut self.admitted, &mut self.admitted_pods);
            }
            // Computed once for the check and the send.
            let built = fingerprint(&p.status);
            if p.sent == Some(built) || (p.static_pod.is_some() && !p.mirrored) {
                p.status_queued = false;
                self.outbox.pop_front();
                self.maybe_delete(uid, cx);
                continue;
            }
            if !take_token(&mut self.limiter, &mut self.flush_scheduled, me, cx) {
                return;
            }
            self.outbox.pop_front();
            p.status_queued = false;
            let status = p.status.clone();
            let subject = Subject::from(&*p.object);
            match Describe(&status).plain() {
                Some(parts) => cx.log_parts(me, "status", subject, &parts),
                None => cx.log_args(me, "status", subject, format_args!("{}", Describe(&status))),
            }
            if status.phase == PodPhase::Running && !p.reported_running {
                p.reported_running = true;
                // What the startup SLI leaves out: pulls and init containers.
                let pulls = match (p.pull_first, p.pull_last) {
                    (Some(a), Some(b)) => b.saturating_sub(a),
                    _ => 0,
                };
                let init = match (p.init_first, p.init_last) {
                    (Some(a), Some(b)) => b.saturating_sub(a),
                    _ => 0,
                };
                if let Some(r) = cx.rec.pod_if_known(uid) {
                    r.startup_excluded = pulls + init;
                    r.pulled = p.pull_last.is_some();
                }
            }
            p.sent = Some(built);
            p.status_in_flight = true;
            let key = p.key.clone();
            cx.api(me, uid, Verb::UpdatePodStatus { key, status });
        }
    }
}

/// Takes a token of the kubelet's client rate limiter for a request sent
/// now; without one, makes sure a flush is scheduled for the next token.
fn take_token(
    limiter: &mut TokenBucket,
    flush_scheduled: &mut bool,
    me: Dest,
    cx: &mut Cx,
) -> bool {
    let now = cx.now();
    if limiter.try_take(now) {
        return true;
    }
    if !*flush_scheduled {
        *flush_scheduled = true;
        let at = limiter.next_token(now);
        cx.send_at(me, at, Msg::KubeletFlush);
    }
    false
}

/// The pod stops counting against the node's allocatable, if it did.
fn release(p: &mut KubeletPod, admitted: &mut Resources, admitted_pods: &mut i64) {
    if p.admitted {
        p.admitted = false;
        admitted.sub(&p.requests);
        *admitted_pods -= 1;
    }
}

/// Sets the five pod conditions, given in their order, as
/// [`PodStatus::set_condition`] does one at a time (a condition keeps its
/// transition time and reason while its status is unchanged): in one pass
/// when the status has none (the first build) or exactly those (every
/// build after).
fn set_conditions(
    status: &mut PodStatus,
    now: Time,
    conditions: [(PodConditionType, bool, &'static str); 5],
) {
    debug_assert!(conditions.is_sorted_by_key(|(kind, _, _)| *kind));
    if status.conditions.is_empty() {
        status
            .conditions
            .extend(conditions.map(|(kind, status, reason)| PodCondition {
                kind,
                status,
                last_transition: now,
                reason,
            }));
        return;
    }
    let same_kinds = status.conditions.len() == conditions.len()
        && status
            .conditions
            .iter()
            .zip(&conditions)
            .all(|(c, (kind, _, _))| c.kind == *kind);
    if !same_kinds {
        for (kind, ok, reason) in conditions {
            status.set_condition(kind, ok, now, reason);
        }
        return;
    }
    for (c, (_, ok, reason)) in status.conditions.iter_mut().zip(conditions) {
        if c.status != ok {
            c.status = ok;
            c.last_transition = now;
            c.reason = reason;
        }
    }
}

/// A fingerprint of a status, to tell whether it changed since it was sent
/// (the model's fixed word hasher: the same on every run; two different
/// statuses share a fingerprint with odds near 2^-64). Every field is
/// hashed, small ones packed into one word, and every text after its
/// length, so that no two statuses feed the hasher the same words.
fn fingerprint(s: &PodStatus) -> u64 {
    use std::hash::Hasher;
    // Destructured in full: a new field of the status fails to compile
    // here until it is hashed.
    let PodStatus {
        phase,
        conditions,
        init_container_statuses,
        container_statuses,
        pod_ip,
        host_ip,
        start_time,
        reason,
        message,
        nominated_node_name,
    } = s;
    let mut h = crate::fasthash::WordHasher::default();
    let text = |h: &mut crate::fasthash::WordHasher, tag: u64, t: &str| {
        h.write_u64(tag | (t.len() as u64) << 8);
        h.write(t.as_bytes());
    };
    h.write_u64(
        *phase as u64
            | (conditions.len() as u64) << 8
            | (init_container_statuses.len() as u64) << 24
            | (container_statuses.len() as u64) << 40,
    );
    for c in conditions {
        h.write_u64(c.kind as u64 | u64::from(c.status) << 8);
        h.write_u64(c.last_transition);
        text(&mut h, 1, c.reason);
    }
    for c in init_container_statuses.iter().chain(container_statuses) {
        h.write_u64(u64::from(c.ready) | u64::from(c.restart_count) << 8);
        text(&mut h, 2, &c.name);
        match c.state {
            ContainerState::Waiting { reason } => text(&mut h, 3, reason),
            ContainerState::Running { started_at } => {
                h.write_u64(4);
                h.write_u64(started_at);
            }
            ContainerState::Terminated {
                exit_code,
                finished_at,
            } => {
                h.write_u64(5 | u64::from(exit_code as u32) << 8);
                h.write_u64(finished_at);
            }
        }
    }
    let opt_text = |h: &mut crate::fasthash::WordHasher, tag: u64, t: Option<&str>| match t {
        Some(t) => text(h, tag, t),
        None => h.write_u64(tag | 0xff),
    };
    opt_text(&mut h, 6, pod_ip.as_deref());
    opt_text(&mut h, 7, host_ip.as_deref());
    opt_text(&mut h, 8, nominated_node_name.as_deref());
    match start_time {
        Some(t) => {
            h.write_u64(9);
            h.write_u64(*t);
        }
        None => h.write_u64(10),
    }
    text(&mut h, 11, reason);
    text(&mut h, 12, message);
    h.finish()
}

/// The container's last exit time (its finishedAt), or 0.
fn last_exit(c: &Ctr) -> Time {
    c.finished_at.unwrap_or(0)
}

/// Upstream `getPhase` for a pod whose init containers completed.
fn pod_phase(
    ctrs: &[Ctr],
    restart: RestartPolicy,
    statuses: &[ContainerStatus],
    terminal: bool,
) -> PodPhase {
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for (s, c) in statuses.iter().zip(ctrs.iter().filter(|c| !c.init)) {
        match s.state {
            ContainerState::Running { .. } => running += 1,
            ContainerState::Terminated { exit_code, .. } => {
                stopped += 1;
                if exit_code == 0 {
                    succeeded += 1;
                }
            }
            ContainerState::Waiting { .. } if c.started_once => stopped += 1,
            ContainerState::Waiting { .. } => waiting += 1,
        }
    }
    if terminal {
        // Terminated by deletion: whatever did not succeed failed.
        return if running == 0 && waiting == 0 && stopped == succeeded {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        };
    }
    if waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 {
        return PodPhase::Running;
    }
    if stopped == 0 {
        return PodPhase::Pending;
    }
    match restart {
        RestartPolicy::Always => PodPhase::Running,
        _ if stopped == succeeded => PodPhase::Succeeded,
        RestartPolicy::Never => PodPhase::Failed,
        RestartPolicy::OnFailure => PodPhase::Running,
    }
}

/// A status as the timeline's detail: the phase, readiness, and the
/// containers waiting for a reason worth telling or restarted.
struct Describe<'a>(&'a PodStatus);

impl Describe<'_> {
    /// The description as parts when no container has anything to say
    /// (the common case): the phase and whether the pod is ready.
    fn plain(&self) -> Option<[Part<'static>; 3]> {
        let s = self.0;
        let quiet = s
            .init_container_statuses
            .iter()
            .chain(&s.container_statuses)
            .all(|c| c.restart_count == 0 && !Self::waiting_reason(&c.state));
        quiet.then(|| {
            [
                Part::Text("phase="),
                Part::Text(s.phase.as_str()),
                Part::Text(if s.is_ready() { " ready" } else { "" }),
            ]
        })
    }

    /// A container waits for a reason worth showing (not the ordinary
    /// ContainerCreating or PodInitializing).
    fn waiting_reason(state: &ContainerState) -> bool {
        matches!(state, ContainerState::Waiting { reason }
            if *reason != "ContainerCreating" && *reason != "PodInitializing")
    }
}

impl std::fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0;
        write!(f, "phase={}", s.phase.as_str())?;
        if s.is_ready() {
            f.write_str(" ready")?;
        }
        for c in s
            .init_container_statuses
            .iter()
            .chain(&s.container_statuses)
        {
            if let ContainerState::Waiting { reason } = c.state
                && Self::waiting_reason(&c.state)
            {
                write!(f, " {}={reason}", c.name)?;
            }
            if c.restart_count > 0 {
                write!(f, " {}.restarts={}", c.name, c.restart_count)?;
            }
        }
        Ok(())
    }
}

fn schedule_relist(p: &mut KubeletPod, uid: u64, me: Dest, cx: &mut Cx) {
    if !p.relist_pending {
        p.relist_pending = true;
        let delay = cx.lat.sample(Hop::PlegRelist);
        cx.send(me, delay, Msg::Relist { pod: uid });
    }
}

fn schedule_wake(p: &mut KubeletPod, uid: u64, me: Dest, at: Time, cx: &mut Cx) {
    schedule_retry(p, uid, me, at, 0, cx);
}

/// [`schedule_wake`] for the end of a back-off of `delay`: once the
/// back-off has reached its cap the wake keeps only a run with a
/// `duration` going, so that a container that always fails (or an image
/// that never pulls) does not make a run without one endless.
fn schedule_retry(p: &mut KubeletPod, uid: u64, me: Dest, at: Time, delay: Time, cx: &mut Cx) {
    if p.wake_at.is_none_or(|w| w != at) {
        p.wake_at = Some(p.wake_at.map_or(at, |w| w.min(at)));
        let msg = Msg::KubeletWake { pod: uid };
        cx.send_retry(me, at, msg, delay >= BACKOFF_MAX);
    }
}

/// Starts container `i` (pull, create, start) unless a back-off holds it;
/// whether it started.
fn start_or_back_off(
    p: &mut KubeletPod,
    i: usize,
    uid: u64,
    me: Dest,
    runtime: Dest,
    now: Time,
    cx: &mut Cx,
) -> bool {
    let c = &mut p.ctrs[i];
    if let Some(failed) = c.pull_failed_at {
        if c.pull.in_backoff_since(failed, now) {
            return false;
        }
        if c.state
            == (ContainerState::Waiting {
                reason: "ErrImageNeverPull",
            })
        {
            return false;
        }
    }
    if c.started_once {
        let exited = last_exit(c);
        if c.crash.in_backoff_since(exited, now) {
            let at = exited + c.crash.delay;
            if !matches!(c.state, ContainerState::Waiting { .. }) {
                let detail = format!(
                    "container={} back-off {}s restarting failed container",
                    c.name,
                    c.crash.delay / SECOND
                );
                cx.log(me, "back-off", Subject::from(&*p.object), &detail);
                c.state = ContainerState::Waiting {
                    reason: "CrashLoopBackOff",
                };
            }
            let delay = c.crash.delay;
            schedule_retry(p, uid, me, at, delay, cx);
            return false;
        }
        c.crash.next(exited, now);
        if matches!(c.state, ContainerState::Terminated { .. }) {
            c.state = ContainerState::Waiting {
                reason: "ContainerCreating",
            };
        }
        let detail = format!("container={} restart {}", c.name, c.restarts + 1);
        cx.log(me, "restart-container", Subject::from(&*p.object), &detail);
    }
    p.busy = Some((i, Step::Pull));
    p.pull_requested = now;
    let c = &p.ctrs[i];
    cx.send(
        runtime,
        0,
        Msg::runtime(RuntimeCall::PullImage {
            pod: uid,
            image: c.image.clone(),
            policy: c.policy,
        }),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_back_off_follows_do_back_off() {
        // Exits every 1 s after each restart: the first restart is at once,
        // then 10, 20, 40 ... s, capped at 300 s.
        let mut b = Backoff::default();
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let exit = now;
            let restart = if b.in_backoff_since(exit, exit) {
                exit + b.delay
            } else {
                exit
            };
            b.next(exit, restart);
            waits.push((restart - exit) / SECOND);
            now = restart + SECOND;
        }
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn back_off_is_forgotten_after_ten_minutes_of_running() {
        let mut b = Backoff::default();
        b.next(0, 0);
        b.next(10 * SECOND, 10 * SECOND);
        assert_eq!(b.delay, 20 * SECOND);
        // Ran 11 minutes since the last restart: fresh entry.
        let exit = 10 * SECOND + 660 * SECOND;
        assert!(!b.in_backoff_since(exit, exit));
        b.next(exit, exit);
        assert_eq!(b.delay, BACKOFF_INITIAL);
    }
}
