//! The recorder: streams timeline rows as they happen and keeps the per-pod
//! and per-node records the end-of-run files are made from.

use crate::fasthash::HashMap;
use std::fmt;
use std::io::{self, Write};

use crate::api::pod::PodSpec;
use crate::api::resources::Resources;
use crate::api::{Kind, Object, ObjectKey, PodPhase};
use crate::engine::Time;

use super::rowlog::{Detail, RowLog};
use super::rows::{FieldTemplate, FixedFields, HeldRows, Part, RowWriter};
use super::{EVENTS_HEADER, NODES_HEADER, PODS_HEADER};

/// What a timeline row is about: a kind, namespace and name, or nothing.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub kind: Option<Kind>,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl Subject<'_> {
    pub const NONE: Subject<'static> = Subject {
        kind: None,
        namespace: "",
        name: "",
    };
}

impl<'a> From<&'a Object> for Subject<'a> {
    fn from(o: &'a Object) -> Self {
        let m = o.meta();
        Subject {
            kind: Some(o.kind()),
            namespace: &m.namespace,
            name: &m.name,
        }
    }
}

impl<'a> From<&'a ObjectKey> for Subject<'a> {
    fn from(k: &'a ObjectKey) -> Self {
        Subject {
            kind: Some(k.kind),
            namespace: k.namespace(),
            name: k.name(),
        }
    }
}

/// One pod's lifecycle, in virtual time.
#[derive(Clone, Debug, Default)]
pub struct PodRecord {
    pub namespace: crate::api::Text,
    pub name: crate::api::Text,
    pub owner: String,
    pub node: String,
    pub phase: PodPhase,
    pub created: Option<Time>,
    pub scheduled: Option<Time>,
    pub bound: Option<Time>,
    /// When the status saying all containers started was stored (the
    /// moment it became observable through a watch).
    pub started: Option<Time>,
    pub ready: Option<Time>,
    /// When the last node's kube-proxy programmed the pod's endpoint.
    pub reachable: Option<Time>,
    pub deleted: Option<Time>,
    pub attempts: u32,
    /// What the startup SLI leaves out: the kubelet's image pulling (first
    /// pull started to last finished) and init containers' run time.
    pub startup_excluded: Time,
    /// Whether the kubelet pulled an image for the pod.
    pub pulled: bool,
}

impl PodRecord {
    /// Creation to started, the pod startup latency SLI.
    pub fn startup_latency(&self) -> Option<Time> {
        Some(self.started? - self.created?)
    }

    /// The pod startup SLI: creation to all containers started and
    /// observed, less image pulls and init containers.
    pub fn startup_sli(&self) -> Option<Time> {
        Some(
            self.startup_latency()?
                .saturating_sub(self.startup_excluded),
        )
    }

    /// Creation to bind.
    pub fn scheduling_latency(&self) -> Option<Time> {
        Some(self.bound? - self.created?)
    }
}

/// Counts the summary reports.
#[derive(Default)]
pub struct Counters {
    pub api_requests: u64,
    pub api_rejected: u64,
    pub api_conflicts: u64,
    pub etcd_writes: u64,
    pub watch_events: u64,
    pub scheduling_attempts: u64,
    pub scheduling_failures: u64,
    /// Pods whose `spec.schedulerName` no scheduler profile has.
    pub pods_without_profile: u64,
    /// Pods the scheduler deleted to make room for higher-priority ones.
    pub preemptions: u64,
    pub image_pulls: u64,
    pub proxy_syncs: u64,
    pub lease_renewals: u64,
    pub timeline_rows: u64,
    /// Per (node, endpoint change), the programming latency.
    pub network_programming: super::netprog::NetworkProgramming,
    /// Per endpoint change, the latency to the last node.
    pub network_programming_last: Vec<Time>,
    /// The client's pod updates and resizes the apiserver refused, as
    /// their timeline rows say them (scheduler_perf's `updateAny` fails on
    /// the first, as upstream's does).
    pub pod_update_errors: Vec<String>,
}

struct NodeTotals {
    name: String,
    requested: Resources,
    pods: i64,
    allocatable: Resources,
    pods_allocatable: i64,
}

/// The timeline's writer: `Send`, so that a model run beside on a thread
/// of its own can take it and write the merged timeline there.
pub type EventsOut = Box<dyn Write + Send>;

/// Writes the timeline as it goes and keeps the records.
pub struct Recorder {
    /// With a simulated boot: the Nodes still to register, and when the
    /// control plane came up and the cluster became ready for workloads.
    pub nodes_to_register: usize,
    pub control_plane_ready: Option<Time>,
    pub cluster_ready: Option<Time>,
    /// The timeline: its writer can be handed to another thread (see
    /// [`Recorder::take_events_out`]).
    events: RowWriter<EventsOut>,
    nodes: RowWriter,
    /// The sequence number of the event being handled, for the `seq` column.
    pub seq: u64,
    pub counters: Counters,
    /// The workloads' rollouts, reported by their controllers.
    pub rollouts: super::Rollouts,
    pods: Vec<PodRecord>,
    /// Per object uid, the index of its pod record plus one (0: none).
    /// Uids are dense (the apiserver numbers objects from 1), so this is
    /// a few bytes per object of the run and one load per lookup.
    pod_index: Vec<u32>,
    node_totals: Vec<NodeTotals>,
    node_index: HashMap<String, usize>,
    error: Option<io::Error>,
    /// Whether timeline rows and node samples are written; without, the
    /// records, counters and rollouts are kept all the same.
    writes_rows: bool,
    /// Pods whose delete was accepted since last taken, with the time,
    /// when asked for (see [`Recorder::note_deletions`]).
    deletions: Option<Vec<(Time, u64)>>,
    /// When the timeline's rows are formatted elsewhere (see
    /// [`Recorder::defer_rows`]): the rows logged since last taken.
    log: Option<RowLog>,
    /// Logs taken out and given back, for the next takes.
    spare_logs: Vec<RowLog>,
}

/// The most logs of rows kept for reuse (kube-proxy's thread has up to
/// three batches of them).
const SPARE_LOGS: usize = 4;

impl Recorder {
    /// A recorder streaming the timeline to `events` and node samples to `nodes`.
    pub fn new(events: EventsOut, nodes: Box<dyn Write>) -> Self {
        let mut r = Recorder::over(events, nodes, true);
        r.events.row(EVENTS_HEADER);
        r.nodes.row(NODES_HEADER);
        r
    }

    /// A recorder over these writers, with no row written yet.
    fn over(events: EventsOut, nodes: Box<dyn Write>, writes_rows: bool) -> Self {
        Recorder {
            nodes_to_register: 0,
            control_plane_ready: None,
            cluster_ready: None,
            events: RowWriter::new(events),
            nodes: RowWriter::new(nodes),
            seq: 0,
            counters: Counters::default(),
            rollouts: super::Rollouts::default(),
            pods: Vec::new(),
            pod_index: Vec::new(),
            node_totals: Vec::new(),
            node_index: HashMap::default(),
            error: None,
            writes_rows,
            deletions: None,
            log: None,
            spare_logs: Vec::new(),
        }
    }

    /// A recorder that writes no timeline rows and no node samples: for
    /// runs that only want the records, the counters and the summary (the
    /// benchmarks, `explain`), which would otherwise format every row only
    /// to throw it away.
    pub fn discarding() -> Self {
        Recorder {
            writes_rows: false,
            ..Recorder::new(Box::new(io::sink()), Box::new(io::sink()))
        }
    }

    /// A recorder for a model run beside the main one (kube-proxy's, see
    /// `proxy::link`): no header rows, its timeline rows held for
    /// [`Recorder::take_rows`], and none written when `writes_rows` is
    /// false.
    pub fn beside(writes_rows: bool) -> Self {
        let mut r = Recorder::over(Box::new(io::sink()), Box::new(io::sink()), writes_rows);
        r.events.hold();
        r
    }

    /// From now on the timeline's rows are logged by their parts rather
    /// than formatted, to be taken out ([`Recorder::take_log`]), formatted
    /// and merged with those of a model run beside, on its thread (see
    /// `proxy::link` and `output::rowlog`).
    pub fn defer_rows(&mut self) {
        if self.writes_rows && self.log.is_none() {
            self.log = Some(RowLog::default());
        }
    }

    /// The rows logged since last taken (see [`Recorder::defer_rows`]),
    /// taken out.
    pub fn take_log(&mut self) -> RowLog {
        let spare = self.spare_logs.pop().unwrap_or_default();
        match &mut self.log {
            Some(log) => std::mem::replace(log, spare),
            None => spare,
        }
    }

    /// Keeps a log taken out, its rows written, for the next take.
    pub fn recycle_log(&mut self, mut log: RowLog) {
        if self.spare_logs.len() < SPARE_LOGS {
            log.clear();
            self.spare_logs.push(log);
        }
    }

    /// The timeline's writer, taken out (rows written so far go to it
    /// first; a sink takes its place): the rows held from now on are
    /// written by whoever took it.
    pub fn take_events_out(&mut self) -> EventsOut {
        self.events.take_out(Box::new(io::sink()))
    }

    /// Keeps `e` as the run's first write error, unless there is one.
    pub fn note_error(&mut self, e: io::Error) {
        self.error.get_or_insert(e);
    }

    /// The timeline rows held, taken out.
    pub fn take_rows(&mut self) -> HeldRows {
        self.events.take_held()
    }

    /// Keeps the buffers of rows taken out for the next take.
    pub fn recycle_rows(&mut self, rows: HeldRows) {
        self.events.recycle(rows);
    }

    /// From now on the pods whose delete is accepted are noted, for
    /// [`Recorder::take_deletions`].
    pub fn note_deletions(&mut self) {
        self.deletions.get_or_insert_with(Vec::new);
    }

    /// Pod `uid`'s delete was accepted at `now` (its first).
    pub fn pod_deleted(&mut self, uid: u64, now: Time) {
        let r = self.pod(uid);
        if r.deleted.is_none() {
            r.deleted = Some(now);
            if let Some(d) = &mut self.deletions {
                d.push((now, uid));
            }
        }
    }

    /// The deletions noted since last taken, in time order (the list
    /// keeps its room: this runs at every message to kube-proxy).
    pub fn take_deletions(&mut self) -> impl Iterator<Item = (Time, u64)> + '_ {
        self.deletions.iter_mut().flat_map(|d| d.drain(..))
    }

    /// Whether timeline rows are written: a caller that builds a row's
    /// detail before calling can skip it when they are not.
    #[inline]
    pub fn writes_rows(&self) -> bool {
        self.writes_rows
    }

    /// One timeline row.
    pub fn event(
        &mut self,
        now: Time,
        component: &'static str,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
        detail: &str,
    ) {
        self.counters.timeline_rows += 1;
        if !self.writes_rows {
            return;
        }
        let logged = Detail::Text(detail.as_bytes());
        if self.logged(now, component, action, subject, node, logged) {
            return;
        }
        self.event_head(now, component, action, subject, node);
        self.events.field(detail.as_bytes());
        self.events.end_row();
    }

    /// One timeline row whose detail is formatted straight into the
    /// output buffer.
    pub fn event_args(
        &mut self,
        now: Time,
        component: &'static str,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
        detail: fmt::Arguments<'_>,
    ) {
        self.counters.timeline_rows += 1;
        if !self.writes_rows {
            return;
        }
        if self.log.is_some() {
            // Formatted here (rare rows), logged as a text detail: the
            // same bytes as `field_fmt`'s.
            let text = fmt::format(detail);
            let detail = Detail::Text(text.as_bytes());
            self.logged(now, component, action, subject, node, detail);
            return;
        }
        self.event_head(now, component, action, subject, node);
        self.events.field_fmt(detail);
        self.events.end_row();
    }

    /// One timeline row whose detail is text and numbers in turn (see
    /// [`RowWriter::field_parts`]): no formatting machinery, for rows
    /// written at every event of a kind.
    pub fn event_parts(
        &mut self,
        now: Time,
        component: &'static str,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
        detail: &[Part<'_>],
    ) {
        self.counters.timeline_rows += 1;
        if !self.writes_rows {
            return;
        }
        if self.logged(now, component, action, subject, node, Detail::Parts(detail)) {
            return;
        }
        self.event_head(now, component, action, subject, node);
        self.events.field_parts(detail);
        self.events.end_row();
    }

    /// The fields of a timeline row from its component to its name, in
    /// CSV form once, for [`Recorder::event_fixed`].
    pub fn fixed_head(component: &str, action: &str, subject: Subject<'_>) -> FixedFields {
        FixedFields::new(&[
            component.as_bytes(),
            action.as_bytes(),
            subject.kind.map_or("", Kind::as_str).as_bytes(),
            subject.namespace.as_bytes(),
            subject.name.as_bytes(),
        ])
    }

    /// One timeline row of a kind written at every event of it, the same
    /// bytes as [`Recorder::event_parts`]: `head` (from
    /// [`Recorder::fixed_head`]), the node, and a detail of `detail`'s
    /// texts with `nums` between them.
    #[inline]
    pub fn event_fixed<const K: usize>(
        &mut self,
        now: Time,
        head: &FixedFields,
        node: &str,
        detail: &FieldTemplate,
        nums: [u64; K],
    ) {
        self.counters.timeline_rows += 1;
        if !self.writes_rows {
            return;
        }
        if self.log.is_some() {
            return self.log_fixed(now, head, node, detail, nums);
        }
        self.events
            .row_fixed(now, self.seq, head, node.as_bytes(), detail, nums);
    }

    /// [`Recorder::event_fixed`] when rows are logged: the row is written
    /// here, through a writer of its own, and logged whole.
    #[cold]
    fn log_fixed<const K: usize>(
        &mut self,
        now: Time,
        head: &FixedFields,
        node: &str,
        detail: &FieldTemplate,
        nums: [u64; K],
    ) {
        let mut w = RowWriter::new(io::sink());
        w.hold();
        w.row_fixed(now, self.seq, head, node.as_bytes(), detail, nums);
        let row = w.take_held();
        if let Some(log) = &mut self.log {
            log.push_row(now, &row.bytes[..row.len]);
        }
    }

    /// Logs the row when rows are deferred ([`Recorder::defer_rows`]);
    /// says whether it did.
    #[inline(always)]
    fn logged(
        &mut self,
        now: Time,
        component: &'static str,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
        detail: Detail<'_>,
    ) -> bool {
        let Some(log) = &mut self.log else {
            return false;
        };
        let texts = [
            subject.namespace.as_bytes(),
            subject.name.as_bytes(),
            node.as_bytes(),
        ];
        log.push(
            now,
            self.seq,
            subject.kind,
            [component, action],
            texts,
            detail,
        );
        true
    }

    /// A timeline row's fields but the detail.
    #[inline]
    fn event_head(
        &mut self,
        now: Time,
        component: &'static str,
        action: &'static str,
        subject: Subject<'_>,
        node: &str,
    ) {
        self.events.row_head(
            now,
            self.seq,
            [
                component.as_bytes(),
                action.as_bytes(),
                subject.kind.map_or("", Kind::as_str).as_bytes(),
                subject.namespace.as_bytes(),
                subject.name.as_bytes(),
                node.as_bytes(),
            ],
        );
    }

    /// A Node object was created (a kubelet registered).
    pub fn node_registered(&mut self, now: Time) {
        self.nodes_to_register = self.nodes_to_register.saturating_sub(1);
        self.check_ready(now);
    }

    /// The scheduler and the controller manager run, with the apiserver.
    pub fn control_plane_up(&mut self, now: Time) {
        self.control_plane_ready.get_or_insert(now);
        self.check_ready(now);
    }

    fn check_ready(&mut self, now: Time) {
        if self.cluster_ready.is_none()
            && self.control_plane_ready.is_some()
            && self.nodes_to_register == 0
        {
            self.cluster_ready = Some(now);
        }
    }

    /// Registers a node for allocation samples and writes its first sample.
    pub fn node_added(
        &mut self,
        now: Time,
        name: &str,
        allocatable: Resources,
        pods_allocatable: i64,
    ) {
        let i = match self.node_index.get(name) {
            Some(&i) => i,
            None => {
                self.node_totals.push(NodeTotals {
                    name: name.to_string(),
                    requested: Resources::default(),
                    pods: 0,
                    allocatable: Resources::default(),
                    pods_allocatable: 0,
                });
                self.node_index
                    .insert(name.to_string(), self.node_totals.len() - 1);
                self.node_totals.len() - 1
            }
        };
        self.node_totals[i].allocatable = allocatable;
        self.node_totals[i].pods_allocatable = pods_allocatable;
        self.sample_node(now, i);
    }

    /// A pod's requests (those of `spec`) start (`sign` 1) or stop (-1)
    /// counting on a node. The totals only make node samples: without
    /// them, nothing is looked up or summed.
    pub fn node_pod(&mut self, now: Time, node: &str, spec: &PodSpec, sign: i64) {
        if !self.writes_rows {
            return;
        }
        let Some(&i) = self.node_index.get(node) else {
            return;
        };
        let requests = crate::api::resources::pod_requests(spec);
        let t = &mut self.node_totals[i];
        if sign > 0 {
            t.requested.add(&requests);
        } else {
            t.requested.sub(&requests);
        }
        t.pods += sign;
        self.sample_node(now, i);
    }

    fn sample_node(&mut self, now: Time, i: usize) {
        if !self.writes_rows {
            return;
        }
        let t = &self.node_totals[i];
        self.nodes.row_time_text_ints(
            now,
            t.name.as_bytes(),
            [
                t.requested.milli_cpu,
                t.allocatable.milli_cpu,
                t.requested.memory,
                t.allocatable.memory,
                t.pods,
                t.pods_allocatable,
            ],
        );
    }

    /// The record of pod `uid`, created on first use.
    pub fn pod(&mut self, uid: u64) -> &mut PodRecord {
        let u = usize::try_from(uid).expect("a uid fits in memory");
        if u >= self.pod_index.len() {
            self.pod_index
                .resize((u + 1).max(2 * self.pod_index.len()), 0);
        }
        let slot = &mut self.pod_index[u];
        if *slot == 0 {
            self.pods.push(PodRecord::default());
            *slot = u32::try_from(self.pods.len()).expect("fewer than 2^32 pods");
        }
        let i = *slot as usize - 1;
        &mut self.pods[i]
    }

    /// The record of pod `uid`, if it was created.
    pub fn pod_if_known(&mut self, uid: u64) -> Option<&mut PodRecord> {
        let slot = *self.pod_index.get(usize::try_from(uid).ok()?)?;
        let i = (slot as usize).checked_sub(1)?;
        Some(&mut self.pods[i])
    }

    /// Every pod record in creation order.
    pub fn pods(&self) -> &[PodRecord] {
        &self.pods
    }

    /// Flushes the streams; returns the first write error of the run.
    pub fn finish(&mut self) -> io::Result<()> {
        let e = self.events.flush();
        if let Err(e) = e
            && self.error.is_none()
        {
            self.error = Some(e);
        }
        let e = self.nodes.flush();
        if let Err(e) = e
            && self.error.is_none()
        {
            self.error = Some(e);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes pods.csv.
    pub fn write_pods<W: Write>(&self, out: W) -> io::Result<()> {
        let mut w = RowWriter::new(out);
        w.row(PODS_HEADER);
        for p in &self.pods {
            w.field(p.namespace.as_bytes());
            w.field(p.name.as_bytes());
            w.field(p.owner.as_bytes());
            w.field(p.node.as_bytes());
            w.field(p.phase.as_str().as_bytes());
            w.field_opt_seconds(p.created);
            w.field_opt_seconds(p.scheduled);
            w.field_opt_seconds(p.bound);
            w.field_opt_seconds(p.started);
            w.field_opt_seconds(p.ready);
            w.field_opt_seconds(p.reachable);
            w.field_opt_seconds(p.deleted);
            w.field_u64(u64::from(p.attempts));
            w.field_opt_seconds(p.startup_latency());
            w.end_row();
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::rows::tests::Shared;

    /// A fixed row is the row `event_parts` writes for the same fields.
    #[test]
    fn fixed_rows_are_the_rows_of_parts() {
        let (a, b) = (Shared::default(), Shared::default());
        let mut ra = Recorder::new(Box::new(a.clone()), Box::new(io::sink()));
        let mut rb = Recorder::new(Box::new(b.clone()), Box::new(io::sink()));
        let key = ObjectKey::new(Kind::Pod, "default", "web-0, \"x\"");
        let subjects = [Subject::NONE, Subject::from(&key)];
        let texts = ["programmed ", " rule changes, ", " endpoints"];
        let detail = FieldTemplate::new(&texts);
        for (i, subject) in subjects.into_iter().enumerate() {
            for (j, node) in ["zone0-1", "node,with\"quotes\"", ""]
                .into_iter()
                .enumerate()
            {
                let now = (i * 3 + j) as Time * 1_234_567_891;
                let nums = [(i * 7 + j) as u64, 1_000_000 + j as u64];
                ra.seq = (i + j) as u64;
                rb.seq = ra.seq;
                let head = Recorder::fixed_head("kube-proxy", "sync", subject);
                ra.event_fixed(now, &head, node, &detail, nums);
                rb.event_parts(
                    now,
                    "kube-proxy",
                    "sync",
                    subject,
                    node,
                    &[
                        Part::Text(texts[0]),
                        Part::Num(nums[0]),
                        Part::Text(texts[1]),
                        Part::Num(nums[1]),
                        Part::Text(texts[2]),
                    ],
                );
            }
        }
        ra.finish().unwrap();
        rb.finish().unwrap();
        assert_eq!(ra.counters.timeline_rows, 6);
        assert_eq!(ra.counters.timeline_rows, rb.counters.timeline_rows);
        let (a, b) = (a.take(), b.take());
        assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
    }

    /// Rows logged by a recorder that defers them (kube-proxy's thread
    /// formats them), written back, are the bytes a recorder writing them
    /// directly writes: every kind of row, texts that need quotes.
    #[test]
    fn deferred_rows_write_the_bytes_of_direct_rows() {
        let direct = Shared::default();
        let mut rd = Recorder::new(Box::new(direct.clone()), Box::new(io::sink()));
        let mut rl = Recorder::new(Box::new(io::sink()), Box::new(io::sink()));
        rl.defer_rows();
        let key = ObjectKey::new(Kind::Pod, "default", "web-0, \"x\"");
        let head = Recorder::fixed_head("kube-proxy", "sync", Subject::NONE);
        let template = FieldTemplate::new(&["programmed ", ", quoted"]);
        for r in [&mut rd, &mut rl] {
            for i in 0..3u64 {
                let now = i * 1_234_567_891;
                r.seq = i;
                r.event(now, "kubelet", "start", Subject::from(&key), "n1", "a, b");
                r.event_args(
                    now,
                    "kube-scheduler",
                    "bind",
                    Subject::from(&key),
                    "",
                    format_args!("to {} after {i} tries", "n,2"),
                );
                r.event_parts(
                    now + 1,
                    "etcd",
                    "update",
                    Subject::NONE,
                    "",
                    &[
                        Part::Text("rev "),
                        Part::Num(i),
                        Part::Int(-2),
                        Part::Seconds(now),
                    ],
                );
                r.event_fixed(now + 2, &head, "node-\"9\"", &template, [i]);
            }
        }
        assert_eq!(rl.counters.timeline_rows, 12);
        let log = rl.take_log();
        assert_eq!(log.rows(), 12);
        let logged = Shared::default();
        let mut w = RowWriter::new(logged.clone());
        // The header, as the recorder writing directly wrote it first.
        w.row(EVENTS_HEADER);
        log.write_into(&mut w);
        w.flush().unwrap();
        rd.finish().unwrap();
        assert_eq!(
            String::from_utf8(direct.take()).unwrap(),
            String::from_utf8(logged.take()).unwrap()
        );
        // The next take starts empty.
        rl.recycle_log(log);
        assert_eq!(rl.take_log().rows(), 0);
    }

    #[test]
    fn pod_records_are_found_by_uid_and_kept_in_creation_order() {
        let mut r = Recorder::discarding();
        assert!(r.pod_if_known(7).is_none());
        r.pod(7).name = "a".into();
        r.pod(3).name = "b".into();
        r.pod(1000).name = "c".into();
        assert_eq!(r.pod(3).name, "b", "a second lookup finds the same record");
        r.pod(7).attempts += 1;
        let names: Vec<&str> = r.pods().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(r.pod_if_known(7).map(|p| p.attempts), Some(1));
        assert!(r.pod_if_known(8).is_none() && r.pod_if_known(u64::MAX).is_none());
    }
}
