//! The closed set of messages components exchange, each documented "from X to
//! Y", and the destinations they are addressed to.

use std::sync::Arc;

use crate::api::pod::PodStatus;
use crate::api::selector::LabelSelector;
use crate::api::workloads::WorkloadStatus;
use crate::api::{Kind, Object, ObjectKey};
use crate::engine::{Address, MessageKind, Time};
use crate::etcd::{Change, EtcdError, EventType};

/// A component instance. Per-node agents are addressed by the node's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    /// The scenario's actions: a kubectl-like client.
    Client,
    ApiServer,
    Etcd,
    Scheduler,
    ControllerManager,
    Kubelet(u32),
    Docker(u32),
    /// Every node's kube-proxy, modelled as one group (see `proxy`).
    KubeProxy,
    /// Every kubelet's node Lease loop, modelled as one group (see
    /// `nodelease`).
    NodeLeases,
    /// The infrastructure: provisions machines for `addNodes` (handled by
    /// the world itself, which owns the per-node components).
    Cloud,
}

impl Address for Dest {
    fn address_id(&self) -> u64 {
        match *self {
            Dest::Client => 0,
            Dest::ApiServer => 1,
            Dest::Etcd => 2,
            Dest::Scheduler => 3,
            Dest::ControllerManager => 4,
            Dest::KubeProxy => 5,
            Dest::NodeLeases => 6,
            Dest::Cloud => 7,
            Dest::Kubelet(n) => (1 << 32) | u64::from(n),
            Dest::Docker(n) => (2 << 32) | u64::from(n),
        }
    }
}

/// Which objects a watch wants by field: all of them, the pods bound to one
/// node (`spec.nodeName=X`), or the pods bound to none (`spec.nodeName=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldSelector {
    Everything,
    NodeName(String),
    Unassigned,
}

/// A list-and-watch: the informer's LIST followed by a WATCH from the list's
/// revision, in one request (no change can fall between them). Watches
/// never break in the model, so none resumes from a revision.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// The watcher's own tag, echoed on every event.
    pub tag: u32,
    pub kind: Kind,
    pub namespace: Option<String>,
    pub labels: Option<LabelSelector>,
    pub field: FieldSelector,
    /// A LIST alone, as kubectl reads (drain, a selector's pods): the list
    /// is delivered and no watch is kept.
    pub list_only: bool,
}

impl WatchSpec {
    /// A list-and-watch of every object of `kind`.
    pub fn all(tag: u32, kind: Kind) -> Self {
        WatchSpec {
            tag,
            kind,
            namespace: None,
            labels: None,
            field: FieldSelector::Everything,
            list_only: false,
        }
    }

    /// A list-and-watch of the pods bound to `node` (`spec.nodeName=node`).
    pub fn pods_on(tag: u32, node: &str) -> Self {
        WatchSpec {
            field: FieldSelector::NodeName(node.to_string()),
            ..WatchSpec::all(tag, Kind::Pod)
        }
    }
}

/// An API call.
#[derive(Clone, Debug)]
pub enum Verb {
    Create(Object),
    Get(ObjectKey),
    /// Replace the object; with a precondition, only at that resourceVersion.
    Update {
        /// The object's key (every sender has it at hand; etcd looks the
        /// object up by it).
        key: ObjectKey,
        object: Object,
        precondition: Option<u64>,
    },
    /// PATCH `pods/status` (no resourceVersion precondition, as the kubelet's
    /// status manager patches).
    UpdatePodStatus {
        key: ObjectKey,
        status: PodStatus,
    },
    /// POST `pods/binding`: fails if the pod is already bound.
    Bind {
        key: ObjectKey,
        node: String,
    },
    Delete {
        key: ObjectKey,
        precondition: Option<u64>,
    },
    Watch(WatchSpec),
    /// PUT the `status` subresource of a Deployment, ReplicaSet, DaemonSet
    /// or StatefulSet: only the status changes, as upstream's status
    /// strategy keeps the spec.
    UpdateWorkloadStatus {
        key: ObjectKey,
        status: WorkloadStatus,
    },
    /// PUT the `status` subresource of a PersistentVolume or a
    /// PersistentVolumeClaim: only the status changes.
    UpdateStorageStatus {
        key: ObjectKey,
        status: crate::api::volume::StorageStatus,
        /// Only at this resourceVersion, when given.
        precondition: Option<u64>,
    },
    /// DELETE with `propagationPolicy: Orphan`: the object gets a
    /// deletionTimestamp and the `orphan` finalizer; the garbage collector
    /// orphans its dependents and then deletes it.
    DeleteOrphan {
        key: ObjectKey,
    },
    /// DELETE with grace period 0: the object goes at once, even a pod
    /// bound to a node (the kubelet's final delete after its containers
    /// stopped, or a force delete).
    ForceDelete {
        key: ObjectKey,
    },
    /// PATCH a Node (a read-modify-write in one transaction).
    PatchNode {
        key: ObjectKey,
        patch: NodePatch,
    },
    /// PATCH a pod's `resize` subresource (in-place pod vertical scaling):
    /// the named containers' resources, nothing else.
    ResizePod {
        key: ObjectKey,
        resources: Vec<(String, crate::api::pod::ResourceRequirements)>,
    },
}

/// What a Node PATCH changes.
#[derive(Clone, Debug)]
pub enum NodePatch {
    /// `spec.unschedulable` (cordon, uncordon).
    Unschedulable(bool),
    /// Adds taints (unless present) and removes taints by key.
    Taints {
        add: Vec<crate::api::pod::Taint>,
        remove: Vec<String>,
    },
    /// The Ready condition.
    Ready {
        status: &'static str,
        reason: String,
    },
    /// `kubectl label node --overwrite`: sets these labels and removes
    /// those keys.
    Labels {
        set: Vec<(String, String)>,
        remove: Vec<String>,
    },
    /// `kubectl taint node --overwrite`: a taint added replaces the one of
    /// its key and effect; a removal names a key and, optionally, one
    /// effect (else every effect of the key goes).
    Taint {
        add: Vec<crate::api::pod::Taint>,
        remove: Vec<(String, Option<crate::api::pod::TaintEffect>)>,
    },
    /// A PUT of the Node (scheduler_perf's `updateAny`): its labels,
    /// taints and `spec.unschedulable` become these; the status is kept,
    /// as upstream's node strategy keeps it on an update of the Node.
    Replace {
        labels: Arc<crate::api::meta::Labels>,
        taints: Vec<crate::api::pod::Taint>,
        unschedulable: bool,
    },
    /// A PUT of the Node's `status` (scheduler_perf's `updateAny`, its
    /// UpdateStatus): capacity and allocatable become these.
    Status {
        capacity: std::collections::BTreeMap<String, crate::api::Quantity>,
        allocatable: std::collections::BTreeMap<String, crate::api::Quantity>,
    },
}

impl Verb {
    pub fn name(&self) -> &'static str {
        match self {
            Verb::Create(_) => "create",
            Verb::Get(_) => "get",
            Verb::Update { .. } => "update",
            Verb::UpdatePodStatus { .. } => "update-status",
            Verb::Bind { .. } => "bind",
            Verb::Delete { .. } => "delete",
            Verb::Watch(_) => "watch",
            Verb::UpdateWorkloadStatus { .. } | Verb::UpdateStorageStatus { .. } => "update-status",
            Verb::DeleteOrphan { .. } => "delete",
            Verb::ForceDelete { .. } => "delete",
            Verb::PatchNode { .. } => "patch",
            Verb::ResizePod { .. } => "resize",
        }
    }

    /// The object the call is about (for a watch: its kind only).
    pub fn key(&self) -> ObjectKey {
        match self {
            Verb::Create(o) => o.key(),
            Verb::Update { key: k, .. }
            | Verb::Get(k)
            | Verb::UpdatePodStatus { key: k, .. }
            | Verb::Bind { key: k, .. }
            | Verb::Delete { key: k, .. }
            | Verb::UpdateWorkloadStatus { key: k, .. }
            | Verb::UpdateStorageStatus { key: k, .. }
            | Verb::DeleteOrphan { key: k } => k.clone(),
            Verb::ForceDelete { key: k }
            | Verb::PatchNode { key: k, .. }
            | Verb::ResizePod { key: k, .. } => k.clone(),
            Verb::Watch(w) => ObjectKey::new(w.kind, w.namespace.as_deref().unwrap_or(""), ""),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    /// Who gets the response.
    pub from: Dest,
    /// The requester's own tag, echoed in the response.
    pub tag: u64,
    pub verb: Verb,
}

/// An API error as the apiserver returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    /// `AlreadyExists`, `Conflict`, `NotFound`, `Invalid`, `Gone`.
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn from_etcd(e: &EtcdError) -> ApiError {
        let (code, reason) = match e {
            EtcdError::AlreadyExists(_) => (409, "AlreadyExists"),
            EtcdError::NotFound(_) => (404, "NotFound"),
            EtcdError::Conflict { .. } | EtcdError::Precondition { .. } => (409, "Conflict"),
            EtcdError::Invalid { .. } => (422, "Invalid"),
        };
        ApiError {
            code,
            reason,
            message: e.to_string(),
        }
    }

    pub fn invalid(key: &ObjectKey, problems: &[String]) -> ApiError {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{key} is invalid: {}", problems.join("; ")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub tag: u64,
    pub verb: &'static str,
    pub key: ObjectKey,
    pub result: Result<Arc<Object>, ApiError>,
}

/// A write or read for etcd, with what the apiserver needs to finish the
/// call: the request itself, passed on in the box it came in.
pub type Txn = Request;

#[derive(Clone, Debug)]
pub enum TxnResult {
    Written(Arc<Change>),
    Read(Arc<Object>),
    /// An update that would change nothing: nothing written, the stored
    /// object is the answer.
    Unchanged(Arc<Object>),
    Failed(EtcdError),
}

#[derive(Clone, Debug)]
pub struct TxnDone {
    pub from: Dest,
    pub tag: u64,
    pub verb: &'static str,
    pub key: ObjectKey,
    pub result: TxnResult,
}

/// A container runtime call (CRI), from a kubelet to its node's runtime.
#[derive(Clone, Debug)]
pub enum RuntimeCall {
    RunPodSandbox {
        pod: u64,
        /// The pod's key: the runtime names the sandbox `namespace/name`.
        key: ObjectKey,
    },
    PullImage {
        pod: u64,
        image: String,
        policy: crate::api::pod::PullPolicy,
    },
    /// `container` indexes the init containers, then the containers.
    CreateContainer {
        pod: u64,
        container: usize,
    },
    /// Start attempt `attempt` of a container; with `run`, the container
    /// exits by itself after that long with that exit code.
    StartContainer {
        pod: u64,
        container: usize,
        attempt: u32,
        run: Option<(Time, i32)>,
        /// The container's own exit (`run`) is a retry that may repeat
        /// forever (see `kubelet::LINGER_RESTARTS`): sent lingering.
        exit_lingers: bool,
    },
    /// SIGTERM, then SIGKILL after `grace`; the process needs `shutdown`
    /// to exit on SIGTERM.
    StopContainer {
        pod: u64,
        container: usize,
        attempt: u32,
        grace: Time,
        shutdown: Time,
    },
    StopPodSandbox {
        pod: u64,
    },
}

/// The runtime's answer, from a node's runtime to its kubelet.
#[derive(Clone, Debug)]
pub enum RuntimeResult {
    SandboxReady {
        pod: u64,
        ip: String,
    },
    /// `pulled`: the image was pulled (or its manifest checked) for this
    /// request, rather than found present.
    ImageReady {
        pod: u64,
        image: String,
        pulled: bool,
    },
    ContainerCreated {
        pod: u64,
        container: usize,
    },
    ContainerStarted {
        pod: u64,
        container: usize,
    },
    SandboxStopped {
        pod: u64,
    },
    /// `reason`: ErrImagePull (the registry has no such image) or
    /// ErrImageNeverPull (policy Never and the image is absent).
    ImagePullFailed {
        pod: u64,
        image: String,
        reason: &'static str,
    },
    /// A container's process ended (by itself, or stopped).
    ContainerExited {
        pod: u64,
        container: usize,
        attempt: u32,
        exit_code: i32,
    },
}

pub enum Msg {
    /// From the scenario timeline to the client: run action number `.0`.
    Action(usize),
    /// From the engine to every component at time 0: start (open watches).
    Start,
    /// From any component to the apiserver.
    Request(Box<Request>),
    /// From the apiserver to etcd.
    Txn(Box<Txn>),
    /// From etcd to the apiserver.
    TxnDone(Box<TxnDone>),
    /// From the apiserver to the component that made the request.
    Response(Box<Response>),
    /// From the apiserver to a watcher: the initial list of a list-and-watch.
    WatchList {
        tag: u32,
        revision: u64,
        /// Boxed, see [`Msg::Runtime`].
        objects: Box<Vec<Arc<Object>>>,
    },
    /// From the apiserver to a watcher: one change, typed from the watcher's
    /// point of view (an object that starts matching its selector is ADDED).
    WatchEvent {
        tag: u32,
        kind: EventType,
        change: Arc<Change>,
    },
    /// From the scheduler to itself: the running scheduling cycle ends.
    SchedulingCycleDone,
    /// From the scheduler to itself: move pods whose backoff expired.
    SchedulerFlush,
    /// An API call of the scheduler's, made once its client's rate limiter
    /// gives it a token.
    SchedulerCall(Box<Request>),
    /// From a kubelet to its node's runtime (boxed, as every variant of
    /// more than 16 bytes: the queue moves every message, see
    /// [`Msg::runtime`]).
    Runtime(Box<RuntimeCall>),
    /// From a node's runtime to its kubelet (boxed, see [`Msg::Runtime`]).
    RuntimeResult(Box<RuntimeResult>),
    /// From a runtime to itself: the image pull in progress finished.
    PullDone,
    /// From a kubelet to itself: the pod worker syncs pod `pod`.
    KubeletSync { pod: u64 },
    /// From a kubelet to itself: the PLEG relist that notices a pod's
    /// containers running.
    Relist { pod: u64 },
    /// From the controller manager to itself: process the endpoint work queue.
    EndpointsWork,
    /// From the kube-proxy group to itself: node `node`'s sync ends, having
    /// programmed the rule changes logged by its start. `epoch`: the
    /// member's power epoch when the sync was scheduled.
    ProxySyncDone { node: u32, epoch: u32 },
    /// From the engine to the recorder's sampler: nothing; a wake-up at the
    /// time limit so that the run ends exactly there.
    End(Time),
    /// From the controller manager to itself: controller `.0`'s worker
    /// processes the next key of its work queue.
    ControllerWork(u8),
    /// From the controller manager to itself: put `key` back on controller
    /// `controller`'s queue (upstream's `AddAfter`).
    ControllerRequeue { controller: u8, key: ObjectKey },
    /// From a kubelet to itself: sync pod `pod` again (a restart or image
    /// pull back-off expired).
    KubeletWake { pod: u64 },
    /// From a kubelet's prober to the kubelet: the readiness of start
    /// `attempt` of a container changed.
    ProbeResult {
        pod: u64,
        container: usize,
        attempt: u32,
        ready: bool,
    },
    /// From a kubelet to itself: its client rate limiter has a token again.
    KubeletFlush,
    /// From the kube-proxy group to itself (background): member `node`'s
    /// periodic sync is due, unless it synced since (then the timer is set
    /// again for the new due time).
    ProxyResync { node: u32 },
    /// From the kube-proxy link to the kube-proxy group: pod `uid`'s delete
    /// was accepted (it is never made reachable after).
    PodDeleted { uid: u64 },
    /// From the node Lease group to itself (background): renew the Leases
    /// of every live kubelet.
    LeaseTick,
    /// From the node Lease group to the controller manager, after the
    /// write and watch hops: these nodes' Leases were renewed at `at`.
    LeasesRenewed { at: Time, nodes: Arc<Vec<u32>> },
    /// From the node Lease group to itself: keeps a run alive until the node
    /// lifecycle controller can have noticed a stopped or restarted
    /// kubelet. Does nothing.
    LeaseExpiry,
    /// From the controller manager to itself: keeps a run going until
    /// requests sent as lingering have arrived. Does nothing.
    AwaitRequests,
    /// From the controller manager to itself (background): the node
    /// lifecycle controller's monitor pass.
    NodeMonitor,
    /// From the controller manager to itself (background): the
    /// PersistentVolume controller's periodic resync.
    VolumeResync,
    /// From the scheduler to itself: VolumeBinding's PreBind checks
    /// whether pod `uid`'s claims are bound.
    VolumeBindPoll { uid: u64 },
    /// From the controller manager to itself: the taint manager evicts pod
    /// `pod` (a NoExecute taint outlived its toleration).
    TaintEviction { pod: u64 },
    /// From the client to a kubelet, its runtime and the Lease group: the
    /// node fails (`up` false) or comes back (`up` true).
    NodePower { node: u32, up: bool },
    /// From the client to the cloud: a new machine boots; its kubelet
    /// registers this Node.
    ProvisionNode(Box<crate::api::Node>),
    /// From the control-plane kubelet to the apiserver: its static pod runs
    /// and etcd answers, so it starts serving.
    ComponentUp,
    /// From the control-plane kubelet to itself: static pod `component`'s
    /// process is up (its startup time after the container started).
    StaticPodReady { component: usize },
}

impl Msg {
    /// [`Msg::Runtime`] of `call`. The queue moves every message once or
    /// more, so the variants are kept to 16 bytes and larger payloads are
    /// boxed: a message is 24 bytes and a queued event 48 (checked by a
    /// test).
    pub fn runtime(call: RuntimeCall) -> Msg {
        Msg::Runtime(Box::new(call))
    }

    /// [`Msg::RuntimeResult`] of `result` (boxed, see [`Msg::runtime`]).
    pub fn runtime_result(result: RuntimeResult) -> Msg {
        Msg::RuntimeResult(Box::new(result))
    }
}

impl MessageKind for Msg {
    fn kind_id(&self) -> u32 {
        match self {
            Msg::Action(_) => 1,
            Msg::Start => 2,
            Msg::Request(_) => 3,
            Msg::Txn(_) => 4,
            Msg::TxnDone(_) => 5,
            Msg::Response(_) => 6,
            Msg::WatchList { .. } => 7,
            Msg::WatchEvent { .. } => 8,
            Msg::SchedulingCycleDone => 9,
            Msg::SchedulerFlush => 10,
            Msg::Runtime(_) => 11,
            Msg::RuntimeResult(_) => 12,
            Msg::PullDone => 13,
            Msg::Relist { .. } => 14,
            Msg::EndpointsWork => 15,
            Msg::ProxySyncDone { .. } => 17,
            Msg::End(_) => 18,
            Msg::KubeletSync { .. } => 19,
            Msg::SchedulerCall(_) => 20,
            Msg::ControllerWork(_) => 200,
            Msg::ControllerRequeue { .. } => 201,
            Msg::KubeletWake { .. } => 300,
            Msg::ProbeResult { .. } => 301,
            Msg::KubeletFlush => 302,
            Msg::ProxyResync { .. } => 303,
            Msg::LeaseTick => 304,
            Msg::LeasesRenewed { .. } => 305,
            Msg::LeaseExpiry => 306,
            Msg::NodeMonitor => 307,
            Msg::TaintEviction { .. } => 308,
            Msg::NodePower { .. } => 309,
            Msg::ProvisionNode(_) => 310,
            Msg::ComponentUp => 311,
            Msg::StaticPodReady { .. } => 312,
            Msg::AwaitRequests => 313,
            Msg::PodDeleted { .. } => 314,
            Msg::VolumeResync => 315,
            Msg::VolumeBindPoll { .. } => 316,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Scheduled;

    /// Every event is moved by the queue once or more: a variant that grows
    /// past 16 bytes of payload grows every event (box it, as
    /// [`Msg::Runtime`]).
    #[test]
    fn messages_and_queued_events_stay_small() {
        assert_eq!(std::mem::size_of::<Msg>(), 24);
        assert_eq!(std::mem::size_of::<Scheduled<Dest, Msg>>(), 48);
    }
}
