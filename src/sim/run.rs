//! The run driver: builds the cluster from a scenario, runs the engine, and
//! writes the outputs so that a failed run never leaves files that look
//! complete.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::node::ContainerImage;
use crate::api::resources::node_allocatable;
use crate::api::{Kind, Object};
use crate::apiserver::ApiServer;
use crate::controllers::ControllerManager;
use crate::engine::{Engine, RngStreams, Stop, Time};
use crate::etcd::EtcdServer;
use crate::kubelet::{ControlPlane, Kubelet, StaticManifest};
use crate::output::{BackgroundWriter, DirectFile, RunFacts};
use crate::output::{EventsOut, Recorder, Summary};
use crate::proxy::link::{ProxyLink, combined_hash};
use crate::runtime::Docker;
use crate::scenario::{ActionOp, Scenario};
use crate::scheduler::Scheduler;
use crate::scheduler::config::PolicyError;
use crate::scheduler::profile::Profile;

use super::{Client, Cluster, Dest, Hop, Latencies, Msg};

/// What a finished simulation hands back.
pub struct Outcome {
    pub summary: Summary,
    pub recorder: Recorder,
    pub virtual_time: Time,
    pub events: u64,
    pub hash: u64,
    /// The outcome of flushing the decision trace (Ok when not traced).
    pub trace: io::Result<()>,
    /// The wall-clock time elapsed since the start of the run when the
    /// virtual clock reached each of [`RunOptions::wall_marks`]' times (for
    /// benchmarks; it never reaches the model or the outputs).
    pub wall_marks: Vec<(Time, std::time::Duration)>,
    /// The CPU time of the run's threads at its end (printed beside the
    /// wall time; never in an output file).
    pub cpu: crate::output::cpu::RunCpu,
}

/// What a run takes besides the scenario and the seed.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The scheduler's profiles; `None`: the scenario's `scheduler.policy`.
    pub profiles: Option<Vec<Profile>>,
    /// Write the scheduler's decision trace, [`TRACE_FILE`].
    pub trace_scheduling: bool,
    /// Read the wall clock when virtual time reaches `from`, then every
    /// `step` after it (benchmarks measure a phase of a run with it). The
    /// run's events and outputs are the same with or without it.
    pub wall_marks: Option<(Time, Time)>,
    /// The process exits after this run: the simulated cluster and the
    /// event queue are not freed (at 150 000 pods freeing them takes
    /// seconds). Only for a command-line run; a library caller that runs
    /// again would leak them.
    pub skip_teardown: bool,
    /// Run only the components scheduling needs, as upstream's
    /// scheduler_perf sets up: etcd, the apiserver and the scheduler. The
    /// nodes are API objects only (no kubelet, runtime, kube-proxy or
    /// Lease), and no controller manager runs, so bound pods stay Pending
    /// with their node set. Ignored with `bootControlPlane` (the
    /// control-plane kubelet starts the components).
    pub scheduling_only: bool,
    /// The scheduler's SchedulerQueueingHints feature gate; `None`: the
    /// scenario's `scheduler.featureGates`.
    pub queueing_hints: Option<bool>,
    /// The scheduler's API client rate limit; `None`: the policy's
    /// KubeSchedulerConfiguration `clientConnection` when it sets one,
    /// else the scenario's `scheduler.clientConnection`.
    pub scheduler_client: Option<crate::scheduler::ClientConnection>,
    /// No PersistentVolume controller or provisioner runs, as in upstream's
    /// scheduler_perf, whose harness writes its claims and volumes bound
    /// (its volumes' claim references carry no uid, which the controller
    /// would take for another claim's).
    pub no_volume_controllers: bool,
}

/// The decision trace's file, written on request beside [`OUTPUT_FILES`].
pub const TRACE_FILE: &str = "scheduling.csv";

/// The scheduler profiles of a scenario's `scheduler.policy` (a file name
/// is taken relative to the scenario's directory).
pub fn scenario_profiles(scenario: &Scenario) -> Result<Vec<Profile>, PolicyError> {
    let base = scenario.path.parent().unwrap_or(Path::new("."));
    crate::scheduler::config::resolve(&scenario.policy, base)
}

/// Runs `scenario` with `seed`, streaming the timeline into `events` and the
/// node samples into `nodes`.
pub fn simulate(
    scenario: &Scenario,
    seed: u64,
    events: EventsOut,
    nodes: Box<dyn Write>,
) -> Outcome {
    simulate_with(scenario, seed, events, nodes, &RunOptions::default())
}

/// [`simulate`] with options. A policy that does not resolve falls back to
/// the default profile: callers check it first with [`scenario_profiles`].
pub fn simulate_with(
    scenario: &Scenario,
    seed: u64,
    events: EventsOut,
    nodes: Box<dyn Write>,
    opts: &RunOptions,
) -> Outcome {
    simulate_traced(scenario, seed, events, nodes, opts, None)
}

/// [`simulate_with`], writing the scheduler's decision trace into `trace`.
pub fn simulate_traced(
    scenario: &Scenario,
    seed: u64,
    events: EventsOut,
    nodes: Box<dyn Write>,
    opts: &RunOptions,
    trace: Option<Box<dyn Write>>,
) -> Outcome {
    simulate_into(scenario, seed, Recorder::new(events, nodes), opts, trace)
}

/// Runs `scenario` without writing its timelines: the outcome's records,
/// counters and summary are those of [`simulate_traced`], and the
/// decision trace is written into `trace` if given, but no timeline row
/// or node sample is formatted (for the benchmarks and `explain`, which
/// would throw them away).
pub fn simulate_discarding(
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
    trace: Option<Box<dyn Write>>,
) -> Outcome {
    simulate_into(scenario, seed, Recorder::discarding(), opts, trace)
}

fn simulate_into(
    scenario: &Scenario,
    seed: u64,
    mut rec: Recorder,
    opts: &RunOptions,
    trace: Option<Box<dyn Write>>,
) -> Outcome {
    let profiles = opts.profiles.clone().unwrap_or_else(|| {
        scenario_profiles(scenario).unwrap_or_else(|_| vec![Profile::default()])
    });
    // A KubeSchedulerConfiguration's `clientConnection` (each profile
    // carries the file's).
    let client_of_policy = profiles.first().and_then(|p| p.client_connection);
    let backoff_of_policy = profiles.first().and_then(|p| p.pod_backoff);
    let rng = RngStreams::new(seed);
    let lat = Latencies::new(&scenario.latencies, &rng);
    let mut etcd = EtcdServer::new();
    let mut apiserver = ApiServer::new();
    let sizes = Arc::new(crate::runtime::ImageCatalog {
        sizes: scenario.images.clone(),
        missing: scenario.missing_images.clone(),
    });
    let mut kubelets = Vec::with_capacity(scenario.nodes.len());
    let mut runtimes = Vec::with_capacity(scenario.nodes.len());
    let mut node_names = Vec::with_capacity(scenario.nodes.len());

    let boot = scenario.boot_control_plane;
    // With a simulated boot, the control plane runs on the first node with
    // the control-plane role, or on a node of its own. (The scenario's
    // nodes are read in place: each is copied once, into its Node object.)
    let mut own_control_plane = None;
    let control_plane = if boot {
        Some(
            scenario
                .nodes
                .iter()
                .position(|n| n.metadata.labels.contains_key(LABEL_CONTROL_PLANE))
                .unwrap_or_else(|| {
                    own_control_plane = Some(control_plane_node());
                    scenario.nodes.len()
                }),
        )
    } else {
        None
    };
    let machines: Vec<&crate::api::Node> =
        scenario.nodes.iter().chain(&own_control_plane).collect();
    // An already booted cluster: the nodes are registered before time 0;
    // with a simulated boot, each kubelet registers its own.
    for (i, node) in machines.iter().enumerate() {
        let i = i as u32;
        let mut node = (*node).clone();
        node.metadata.uid = apiserver.allocate_uid();
        node.metadata.creation_timestamp = Some(0);
        node.metadata.generation = 1;
        node.status.ready = Some(crate::api::node::NodeReady {
            status: "True",
            reason: "KubeletReady".into(),
            last_transition: 0,
        });
        if node.spec.pod_cidr.is_none() {
            node.spec.pod_cidr = Some(Docker::pod_cidr(i));
        }
        let (alloc, pods) = node_allocatable(&node);
        rec.node_added(0, &node.metadata.name, alloc, pods);
        if control_plane == Some(i as usize) {
            let mut manifests = StaticManifest::kubeadm_defaults();
            // kubeadm pre-pulls its default images; overridden ones are
            // pulled at boot.
            node.status
                .images
                .extend(manifests.iter().map(|m| ContainerImage {
                    names: vec![m.image.clone()],
                    size_bytes: 0,
                }));
            for o in &scenario.static_pods {
                if let Some(m) = manifests.iter_mut().find(|m| m.component == o.component) {
                    if let Some(image) = &o.image {
                        m.image.clone_from(image);
                    }
                    if let Some(startup) = o.startup {
                        m.startup = startup;
                    }
                }
            }
            kubelets.push(Kubelet::control_plane(
                i,
                node.clone(),
                ControlPlane::new(manifests),
            ));
        } else if boot {
            kubelets.push(Kubelet::registering(i, node.clone()));
        } else {
            kubelets.push(Kubelet::new(i, &node));
        }
        let present = node
            .status
            .images
            .iter()
            .flat_map(|im| im.names.iter().cloned());
        runtimes.push(Docker::new(i, present.collect::<Vec<_>>(), sizes.clone()));
        node_names.push(Arc::from(node.metadata.name.as_str()));
        if !boot {
            etcd.store
                .create(Object::Node(node))
                .expect("scenario node names are unique");
        }
    }
    apiserver.bootstrap(etcd.store.list(Kind::Node), etcd.store.revision());
    if boot {
        apiserver.serving = false;
        rec.nodes_to_register = machines.len();
    } else {
        rec.control_plane_ready = Some(0);
        rec.cluster_ready = Some(0);
    }

    let mut cluster = Cluster {
        client: Client::new(crate::scenario::generate::expand(&scenario.actions, &rng)),
        apiserver,
        etcd,
        scheduler: Scheduler::with_profiles(&rng, profiles),
        controllers: ControllerManager::new(&scenario.controller_manager),
        kubelets,
        runtimes,
        proxy: ProxyLink::none(),
        leases: crate::nodelease::NodeLeases::new(node_names.len()),
        images: sizes,
        rec,
        lat,
        node_names,
    };
    cluster
        .scheduler
        .set_queueing_hints(opts.queueing_hints.unwrap_or(scenario.queueing_hints));
    let client = opts
        .scheduler_client
        .or(client_of_policy)
        .unwrap_or(scenario.scheduler_client);
    cluster.scheduler.set_client_connection(client);
    if let Some((initial, max)) = backoff_of_policy {
        cluster.scheduler.set_pod_backoff(initial, max);
    }
    if let Some(w) = trace {
        cluster.scheduler.set_trace(w);
    }
    let creates_namespaces = scenario.actions.iter().any(|a| match &a.op {
        ActionOp::Apply(objects) => objects.iter().any(|o| o.kind() == Kind::Namespace),
        _ => false,
    });
    if creates_namespaces {
        cluster.scheduler.watch_namespaces();
    }
    let creates_storage = scenario.actions.iter().any(|a| match &a.op {
        ActionOp::Apply(objects) => objects.iter().any(|o| match o {
            Object::PersistentVolume(_)
            | Object::PersistentVolumeClaim(_)
            | Object::CsiNode(_)
            | Object::StorageClass(_) => true,
            Object::Workload(_, w) => !w.spec.volume_claim_templates.is_empty(),
            _ => false,
        }),
        _ => false,
    });
    if creates_storage {
        cluster.scheduler.watch_volumes();
        if !opts.no_volume_controllers {
            cluster.controllers.watch_storage();
        }
    }
    if boot || !opts.scheduling_only {
        cluster.proxy =
            ProxyLink::spawn(cluster.node_names.clone(), &cluster.lat, &mut cluster.rec);
    }
    // The main model's random delays are drawn on a helper thread; kube-
    // proxy's thread draws its own.
    cluster.lat.draw_ahead(&[
        Hop::ProxySync,
        Hop::ProxySyncPerEndpoint,
        Hop::ProxyMinSyncPeriod,
    ]);
    let mut engine: Engine<Dest, Msg> = Engine::new();
    if let Some(cp) = control_plane {
        // Only the control-plane kubelet runs at first; it starts the rest.
        engine.schedule(0, Dest::Kubelet(cp as u32), Msg::Start);
    } else {
        engine.schedule(0, Dest::Scheduler, Msg::Start);
        if !opts.scheduling_only {
            engine.schedule(0, Dest::ControllerManager, Msg::Start);
            engine.schedule(0, Dest::KubeProxy, Msg::Start);
            engine.schedule(0, Dest::NodeLeases, Msg::Start);
            for i in 0..cluster.kubelets.len() {
                engine.schedule(0, Dest::Kubelet(i as u32), Msg::Start);
            }
        }
    }
    for (i, at) in cluster.client.schedule() {
        engine.schedule(at, Dest::Client, Msg::Action(i));
    }
    let mut wall_marks = Vec::new();
    let stop = match opts.wall_marks {
        None => engine.run(&mut cluster, scenario.duration),
        Some((from, step)) => {
            let started = std::time::Instant::now();
            let mut mark = from;
            loop {
                if scenario.duration.is_some_and(|d| mark >= d) {
                    break engine.run(&mut cluster, scenario.duration);
                }
                let limited = scenario.duration.is_some();
                if engine.run_segment(&mut cluster, Some(mark), limited) == Stop::Idle {
                    break Stop::Idle;
                }
                wall_marks.push((mark, started.elapsed()));
                mark += step.max(1);
            }
        }
    };
    let beside = cluster
        .proxy
        .finish(engine.now(), stop, scenario.duration, &mut cluster.rec);
    let (virtual_time, events, hash, stopped_by_limit) = match &beside {
        None => (
            engine.now(),
            engine.processed(),
            engine.hash().value(),
            stop == Stop::TimeLimit,
        ),
        Some(b) => (
            engine.now().max(b.now),
            engine.processed() + b.events,
            combined_hash(engine.hash(), b),
            stop == Stop::TimeLimit || b.stopped_by_limit,
        ),
    };
    let facts = RunFacts {
        scenario: &scenario.name,
        seed,
        virtual_time,
        events,
        hash,
        stopped_by_limit,
    };
    let summary = Summary::build(&facts, &cluster.rec);
    let trace = cluster.scheduler.finish_trace();
    let recorder = std::mem::replace(&mut cluster.rec, Recorder::discarding());
    let cpu = crate::output::cpu::RunCpu {
        model: crate::output::cpu::thread_cpu(),
        kube_proxy: beside.as_ref().and_then(|b| b.cpu),
    };
    if opts.skip_teardown {
        std::mem::forget(cluster);
        std::mem::forget(engine);
    }
    Outcome {
        cpu,
        trace,
        summary,
        recorder,
        virtual_time,
        events,
        hash,
        wall_marks,
    }
}

/// The role label kubeadm puts on control-plane nodes.
pub const LABEL_CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";

/// The control-plane node kubeadm would set up: tainted so that workloads
/// stay off it.
fn control_plane_node() -> crate::api::Node {
    use crate::api::quantity::Quantity;
    let mut node = crate::api::Node::default();
    node.metadata.name = "control-plane".into();
    for (k, v) in [
        (LABEL_CONTROL_PLANE, ""),
        ("kubernetes.io/hostname", "control-plane"),
        ("kubernetes.io/os", "linux"),
    ] {
        std::sync::Arc::make_mut(&mut node.metadata.labels).insert(k.into(), v.into());
    }
    node.spec.taints.push(crate::api::pod::Taint {
        key: LABEL_CONTROL_PLANE.into(),
        value: String::new(),
        effect: crate::api::pod::TaintEffect::NoSchedule,
    });
    for (r, q) in [("cpu", "4"), ("memory", "16Gi"), ("pods", "110")] {
        node.status
            .capacity
            .insert(r.into(), Quantity::parse(q).expect("valid quantity"));
    }
    node
}

/// The output files of a run, in the order they are listed.
pub const OUTPUT_FILES: [&str; 5] = [
    "events.csv",
    "pods.csv",
    "nodes.csv",
    "summary.csv",
    "rollouts.csv",
];

fn partial(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.partial"))
}

/// The outputs written by threads of their own through a [`DirectFile`]
/// (with `--trace-scheduling`, scheduling.csv too).
const LARGE_FILES: [&str; 2] = ["events.csv", "nodes.csv"];

/// Whether `path`, an earlier run's output, is written over in place
/// ([`DirectFile::over`]) rather than removed: a re-run then neither frees
/// the old file's blocks nor allocates new ones. Only a regular file with
/// no other link that this process may write is (one kept under another
/// name stays as it is; a read-only one, or another user's, is removed as
/// before; anything else is left to the removal, which fails on a
/// directory). Opening it for writing, without truncation, changes
/// nothing.
fn can_take_over(path: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    let single = {
        use std::os::unix::fs::MetadataExt;
        meta.nlink() == 1
    };
    #[cfg(not(unix))]
    let single = false;
    meta.file_type().is_file() && single && fs::OpenOptions::new().write(true).open(path).is_ok()
}

/// Renames the earlier outputs `names` in `dir` to their partial names,
/// to be written over. If a rename fails, those already renamed get their
/// names back, so that a run that cannot start leaves the directory as it
/// was.
fn take_over(dir: &Path, names: &[&str]) -> io::Result<()> {
    for (i, name) in names.iter().enumerate() {
        if let Err(e) = fs::rename(dir.join(name), partial(dir, name)) {
            for done in &names[..i] {
                let _ = fs::rename(partial(dir, done), dir.join(done));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Runs `scenario` and writes its outputs into `dir`. Files are written
/// under temporary names and renamed into place only when all of them are
/// complete; any earlier outputs in `dir` are removed first (the large
/// ones are written over in place where they can be, see
/// [`can_take_over`]).
pub fn run_to_dir(scenario: &Scenario, seed: u64, dir: &Path) -> io::Result<Outcome> {
    run_to_dir_with(scenario, seed, dir, &RunOptions::default())
}

/// [`run_to_dir`] with options.
pub fn run_to_dir_with(
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
    opts: &RunOptions,
) -> io::Result<Outcome> {
    fs::create_dir_all(dir)?;
    let mut files: Vec<&str> = OUTPUT_FILES.to_vec();
    if opts.trace_scheduling {
        files.push(TRACE_FILE);
    }
    // The earlier outputs that are not written over are removed first:
    // a failure there leaves nothing renamed.
    let taken: Vec<&str> = LARGE_FILES
        .into_iter()
        .chain(opts.trace_scheduling.then_some(TRACE_FILE))
        .filter(|name| can_take_over(&dir.join(name)))
        .collect();
    for name in OUTPUT_FILES.iter().chain([&TRACE_FILE]) {
        if taken.contains(name) {
            continue;
        }
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    take_over(dir, &taken)?;
    let result = (|| {
        // The large outputs are written by threads of their own, so that
        // the simulation's thread only formats their rows.
        // They are written around the page cache where the system allows
        // it (`DirectFile`), over an earlier run's file if there is one.
        let events = BackgroundWriter::new(DirectFile::over(&partial(dir, "events.csv"))?)?;
        let nodes = BackgroundWriter::new(DirectFile::over(&partial(dir, "nodes.csv"))?)?;
        let trace: Option<Box<dyn Write>> = if opts.trace_scheduling {
            let f = DirectFile::over(&partial(dir, TRACE_FILE))?;
            Some(Box::new(BackgroundWriter::new(f)?))
        } else {
            None
        };
        let mut outcome = simulate_traced(
            scenario,
            seed,
            Box::new(events),
            Box::new(nodes),
            opts,
            trace,
        );
        std::mem::replace(&mut outcome.trace, Ok(()))?;
        outcome.recorder.finish()?;
        let mut pods = BufWriter::new(fs::File::create(partial(dir, "pods.csv"))?);
        outcome.recorder.write_pods(&mut pods)?;
        pods.flush()?;
        let mut summary = BufWriter::new(fs::File::create(partial(dir, "summary.csv"))?);
        outcome.summary.write_csv(&mut summary)?;
        summary.flush()?;
        let mut rollouts = BufWriter::new(fs::File::create(partial(dir, "rollouts.csv"))?);
        outcome.recorder.rollouts.write_csv(&mut rollouts)?;
        rollouts.flush()?;
        Ok(outcome)
    })();
    match result {
        Ok(outcome) => {
            for name in &files {
                fs::rename(partial(dir, name), dir.join(name))?;
            }
            Ok(outcome)
        }
        Err(e) => {
            for name in &files {
                let _ = fs::remove_file(partial(dir, name));
            }
            Err(e)
        }
    }
}
