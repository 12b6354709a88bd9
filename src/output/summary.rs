//! The end-of-run summary: counts and latency percentiles, all in virtual
//! time, as ordered (metric, value) rows for `summary.csv` and the console.

use std::io::{self, Write};

use crate::api::PodPhase;
use crate::engine::{Time, format_seconds};

use super::Recorder;

/// The pod startup SLO: p99 of the SLI at most 5 s.
pub const POD_STARTUP_SLO: Time = 5 * crate::engine::SECOND;

/// The nearest-rank percentile `p` (0 < p <= 100) of sorted values.
pub fn percentile(sorted: &[Time], p: u32) -> Option<Time> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// What the run reports, in a fixed order.
pub struct Summary {
    pub rows: Vec<(&'static str, String)>,
}

/// Facts of the run the recorder does not hold.
pub struct RunFacts<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    pub virtual_time: Time,
    pub events: u64,
    pub hash: u64,
    pub stopped_by_limit: bool,
}

impl Summary {
    pub fn build(facts: &RunFacts<'_>, rec: &Recorder) -> Summary {
        let mut rows: Vec<(&'static str, String)> = Vec::new();
        rows.push(("scenario", facts.scenario.to_string()));
        rows.push(("seed", facts.seed.to_string()));
        rows.push(("virtual_time_s", format_seconds(facts.virtual_time)));
        rows.push((
            "stopped_by",
            if facts.stopped_by_limit {
                "duration"
            } else {
                "idle"
            }
            .to_string(),
        ));
        rows.push(("events_processed", facts.events.to_string()));
        let opt = |t: Option<Time>| t.map(format_seconds).unwrap_or_default();
        rows.push(("control_plane_ready_s", opt(rec.control_plane_ready)));
        rows.push(("cluster_ready_s", opt(rec.cluster_ready)));
        rows.push(("run_hash", format!("{:016x}", facts.hash)));

        let pods = rec.pods();
        let live = || pods.iter().filter(|p| p.deleted.is_none());
        let count = |phase: PodPhase| live().filter(|p| p.phase == phase).count().to_string();
        rows.push(("pods_created", pods.len().to_string()));
        rows.push(("pods_pending", count(PodPhase::Pending)));
        rows.push(("pods_running", count(PodPhase::Running)));
        rows.push(("pods_succeeded", count(PodPhase::Succeeded)));
        rows.push(("pods_failed", count(PodPhase::Failed)));
        rows.push(("pods_deleted", (pods.len() - live().count()).to_string()));
        rows.push((
            "pods_unscheduled",
            live().filter(|p| p.node.is_empty()).count().to_string(),
        ));

        let add_percentiles =
            |rows: &mut Vec<(&'static str, String)>, name: [&'static str; 3], mut v: Vec<Time>| {
                v.sort_unstable();
                for (metric, p) in name.into_iter().zip([50, 90, 99]) {
                    rows.push((
                        metric,
                        percentile(&v, p).map(format_seconds).unwrap_or_default(),
                    ));
                }
            };
        add_percentiles(
            &mut rows,
            [
                "scheduling_latency_p50_s",
                "scheduling_latency_p90_s",
                "scheduling_latency_p99_s",
            ],
            pods.iter().filter_map(|p| p.scheduling_latency()).collect(),
        );
        add_percentiles(
            &mut rows,
            [
                "startup_latency_p50_s",
                "startup_latency_p90_s",
                "startup_latency_p99_s",
            ],
            pods.iter().filter_map(|p| p.startup_latency()).collect(),
        );
        // The pod startup SLI (sig-scalability): schedulable pods (bound at
        // their first scheduling attempt), creation to all containers
        // started and observable, less image pulls and init containers.
        let sli: Vec<Time> = pods
            .iter()
            .filter(|p| p.attempts <= 1 && !p.owner.starts_with("Node/"))
            .filter_map(|p| p.startup_sli())
            .collect();
        let sli_count = sli.len();
        let mut sorted_sli = sli.clone();
        sorted_sli.sort_unstable();
        add_percentiles(
            &mut rows,
            [
                "pod_startup_sli_p50_s",
                "pod_startup_sli_p90_s",
                "pod_startup_sli_p99_s",
            ],
            sli,
        );
        let np = &rec.counters.network_programming;
        let np_percentiles = np.percentiles(&[50, 90, 99]);
        for (metric, value) in [
            "network_programming_latency_p50_s",
            "network_programming_latency_p90_s",
            "network_programming_latency_p99_s",
        ]
        .into_iter()
        .zip(np_percentiles)
        {
            rows.push((metric, value.map(format_seconds).unwrap_or_default()));
        }
        rows.push(("network_programming_samples", np.len().to_string()));
        add_percentiles(
            &mut rows,
            [
                "network_programming_last_node_p50_s",
                "network_programming_last_node_p90_s",
                "network_programming_last_node_p99_s",
            ],
            rec.counters.network_programming_last.clone(),
        );
        rows.push(("pod_startup_sli_pods", sli_count.to_string()));
        rows.push((
            "pod_startup_slo_5s_p99_met",
            match percentile(&sorted_sli, 99) {
                None => String::new(),
                Some(p99) => (p99 <= POD_STARTUP_SLO).to_string(),
            },
        ));

        let rollouts = &rec.rollouts.records;
        rows.push(("rollouts", rollouts.len().to_string()));
        let mut durations: Vec<Time> = rollouts.iter().filter_map(|r| r.duration()).collect();
        rows.push(("rollouts_completed", durations.len().to_string()));
        durations.sort_unstable();
        rows.push((
            "rollout_duration_max_s",
            durations
                .last()
                .copied()
                .map(format_seconds)
                .unwrap_or_default(),
        ));

        let c = &rec.counters;
        for (name, value) in [
            ("api_requests", c.api_requests),
            ("api_rejected", c.api_rejected),
            ("api_conflicts", c.api_conflicts),
            ("etcd_writes", c.etcd_writes),
            ("watch_events", c.watch_events),
            ("scheduling_attempts", c.scheduling_attempts),
            ("scheduling_failures", c.scheduling_failures),
            ("pods_without_scheduler_profile", c.pods_without_profile),
            ("preemptions", c.preemptions),
            ("image_pulls", c.image_pulls),
            ("proxy_syncs", c.proxy_syncs),
            ("timeline_rows", c.timeline_rows),
        ] {
            rows.push((name, value.to_string()));
        }
        Summary { rows }
    }

    pub fn get(&self, metric: &str) -> Option<&str> {
        self.rows
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, v)| v.as_str())
    }

    pub fn write_csv<W: Write>(&self, out: W) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["metric", "value"])?;
        for (m, v) in &self.rows {
            w.write_record([*m, v.as_str()])?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Time> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[1, 2], 50), Some(1));
        assert_eq!(percentile(&[], 50), None);
    }
}
