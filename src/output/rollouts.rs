//! `rollouts.csv`: one row per rollout of a workload, from the revision's
//! start (its controller first acting on a new template) to its completion,
//! with the most pods and the fewest available pods the controller manager
//! observed in between.

use crate::fasthash::HashMap;
use std::io::{self, Write};

use crate::engine::{Time, format_seconds};

pub const ROLLOUTS_HEADER: [&str; 10] = [
    "kind",
    "namespace",
    "name",
    "revision",
    "started_s",
    "completed_s",
    "duration_s",
    "max_pods",
    "min_available",
    "strategy",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutRecord {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub revision: i64,
    pub started: Time,
    pub completed: Option<Time>,
    pub max_pods: i64,
    pub min_available: i64,
    pub strategy: String,
}

impl RolloutRecord {
    pub fn duration(&self) -> Option<Time> {
        self.completed.map(|c| c - self.started)
    }
}

/// The rollouts of the run, and the live pod counts of each workload (by
/// uid) they are measured from.
#[derive(Default)]
pub struct Rollouts {
    pub records: Vec<RolloutRecord>,
    /// Workload uid -> (pods, available pods, index of its open rollout).
    live: HashMap<u64, (i64, i64, Option<usize>)>,
}

impl Rollouts {
    /// A workload's rollout of `revision` starts; an open one is closed
    /// unfinished (superseded).
    pub fn start(&mut self, uid: u64, mut record: RolloutRecord) {
        let e = self.live.entry(uid).or_insert((0, 0, None));
        record.max_pods = e.0;
        record.min_available = e.1;
        self.records.push(record);
        e.2 = Some(self.records.len() - 1);
    }

    /// The workload's open rollout completes at `now`.
    pub fn complete(&mut self, uid: u64, now: Time) {
        if let Some(e) = self.live.get_mut(&uid)
            && let Some(i) = e.2.take()
        {
            self.records[i].completed = Some(now);
        }
    }

    /// Whether the workload has an open rollout.
    pub fn is_open(&self, uid: u64) -> bool {
        self.live.get(&uid).is_some_and(|e| e.2.is_some())
    }

    /// The workload's pod count changes by `pods` and its available pods
    /// by `available`.
    pub fn pods_changed(&mut self, uid: u64, pods: i64, available: i64) {
        let e = self.live.entry(uid).or_insert((0, 0, None));
        e.0 += pods;
        e.1 += available;
        if let Some(i) = e.2 {
            let r = &mut self.records[i];
            r.max_pods = r.max_pods.max(e.0);
            r.min_available = r.min_available.min(e.1);
        }
    }

    pub fn write_csv<W: Write>(&self, out: W) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(ROLLOUTS_HEADER)?;
        let opt = |t: Option<Time>| t.map(format_seconds).unwrap_or_default();
        for r in &self.records {
            w.write_record([
                r.kind.as_str(),
                r.namespace.as_str(),
                r.name.as_str(),
                &r.revision.to_string(),
                &format_seconds(r.started),
                &opt(r.completed),
                &opt(r.duration()),
                &r.max_pods.to_string(),
                &r.min_available.to_string(),
                r.strategy.as_str(),
            ])?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_are_tracked_while_open() {
        let mut r = Rollouts::default();
        r.pods_changed(7, 3, 3);
        r.start(
            7,
            RolloutRecord {
                kind: "Deployment".into(),
                namespace: "default".into(),
                name: "web".into(),
                revision: 2,
                started: 10,
                completed: None,
                max_pods: 0,
                min_available: 0,
                strategy: "RollingUpdate".into(),
            },
        );
        r.pods_changed(7, 1, 0);
        r.pods_changed(7, -1, -1);
        r.pods_changed(7, 0, 1);
        r.complete(7, 30);
        r.pods_changed(7, 5, 5);
        let rec = &r.records[0];
        assert_eq!((rec.max_pods, rec.min_available), (4, 2));
        assert_eq!(rec.duration(), Some(20));
        let mut out = Vec::new();
        r.write_csv(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("kind,namespace,name,revision,started_s,completed_s,duration_s,max_pods,min_available,strategy\n"));
    }
}
