//! The scheduling decision trace (`kubesim run --trace-scheduling`):
//! `scheduling.csv`, one row per (pod attempt, node, plugin) filter verdict,
//! one per (pod attempt, feasible node, score plugin) with the raw,
//! normalized and weighted score, and one `select` row per decision naming
//! the chosen node with its total score. Rows are written in event order.

use std::io::{self, Write};

use crate::engine::{Time, format_seconds};

/// The columns of `scheduling.csv`.
pub const HEADER: [&str; 10] = [
    "time_s",
    "pod",
    "attempt",
    "node",
    "plugin",
    "stage",
    "verdict",
    "raw",
    "normalized",
    "weighted",
];

/// One trace row.
pub struct Row<'a> {
    pub node: &'a str,
    pub plugin: &'a str,
    pub stage: &'a str,
    pub verdict: &'a str,
    pub raw: Option<i64>,
    pub normalized: Option<i64>,
    pub weighted: Option<i64>,
}

/// The writer of `scheduling.csv`.
pub struct Trace {
    w: csv::Writer<Box<dyn Write>>,
    /// The pod and attempt the next rows are about.
    time: String,
    pod: String,
    attempt: String,
    error: Option<io::Error>,
}

impl Trace {
    pub fn new(w: Box<dyn Write>) -> Self {
        let mut w = csv::Writer::from_writer(w);
        let error = w.write_record(HEADER).err().map(io::Error::other);
        Trace {
            w,
            time: String::new(),
            pod: String::new(),
            attempt: String::new(),
            error,
        }
    }

    /// Starts the rows of one decision.
    pub fn begin(&mut self, now: Time, pod: &str, attempt: u32) {
        self.time = format_seconds(now);
        self.pod.clear();
        self.pod.push_str(pod);
        self.attempt = attempt.to_string();
    }

    pub fn row(&mut self, r: Row<'_>) {
        if self.error.is_some() {
            return;
        }
        let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let rec = [
            self.time.as_str(),
            self.pod.as_str(),
            self.attempt.as_str(),
            r.node,
            r.plugin,
            r.stage,
            r.verdict,
            &num(r.raw),
            &num(r.normalized),
            &num(r.weighted),
        ];
        if let Err(e) = self.w.write_record(rec) {
            self.error = Some(io::Error::other(e));
        }
    }

    /// Flushes the file; reports the first write error.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()
    }
}
