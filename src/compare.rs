//! `kubesim compare`: one scenario under several scheduling policies and
//! seeds. Each (policy, seed) cell is a normal run with its usual outputs in
//! its own directory; this module reduces a cell to its metrics, writes
//! `comparison.csv` (one row per cell) and prints one row per policy with
//! the mean and the 95 % confidence interval across seeds.
//!
//! Allocation metrics are taken from the cell's `nodes.csv` at the moment
//! the most pods were bound at once (the first such moment): nodes in use
//! (with at least one pod), the mean and the largest cpu and memory
//! allocation (requested / allocatable) over the nodes in use, and the
//! imbalance, the standard deviation of cpu allocation over all nodes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::output::Recorder;

/// The metrics of one cell. Wall time is kept apart: it is printed, never
/// written, so that `comparison.csv` stays byte-identical between runs.
#[derive(Clone, Debug)]
pub struct Cell {
    pub policy: String,
    pub seed: u64,
    /// Name and value, in [`METRICS`] order.
    pub values: Vec<f64>,
    pub wall_s: f64,
}

/// The metric columns, in order.
pub const METRICS: [&str; 14] = [
    "pods_scheduled",
    "pods_pending",
    "scheduling_latency_p50_s",
    "scheduling_latency_p99_s",
    "startup_latency_p50_s",
    "startup_latency_p99_s",
    "nodes_in_use",
    "cpu_allocation_mean",
    "cpu_allocation_max",
    "memory_allocation_mean",
    "memory_allocation_max",
    "cpu_allocation_imbalance",
    "preemptions",
    "pods_without_scheduler_profile",
];

fn percentile_s(mut v: Vec<u64>, p: u32) -> f64 {
    v.sort_unstable();
    crate::output::percentile(&v, p).map_or(f64::NAN, |t| t as f64 / 1e9)
}

/// The allocation state when the most pods were bound, from `nodes.csv`.
fn allocation(nodes_csv: &Path) -> io::Result<[f64; 6]> {
    let mut r = csv::Reader::from_path(nodes_csv).map_err(io::Error::other)?;
    // node -> (cpu req, cpu alloc, mem req, mem alloc, pods)
    let mut state: BTreeMap<String, [f64; 5]> = BTreeMap::new();
    let mut best_pods = -1.0;
    let mut best: [f64; 6] = [0.0; 6];
    let mut rows = r.records().peekable();
    while let Some(rec) = rows.next() {
        let rec = rec.map_err(io::Error::other)?;
        let num = |k: usize| rec[k].parse::<f64>().unwrap_or(0.0);
        state.insert(rec[1].to_string(), [num(2), num(3), num(4), num(5), num(6)]);
        // Evaluate once all rows of the same instant are in.
        let same_time = rows
            .peek()
            .and_then(|n| n.as_ref().ok())
            .is_some_and(|n| n[0] == rec[0]);
        if same_time {
            continue;
        }
        let pods: f64 = state.values().map(|s| s[4]).sum();
        if pods > best_pods {
            best_pods = pods;
            let frac = |req: f64, alloc: f64| if alloc > 0.0 { req / alloc } else { 0.0 };
            let used: Vec<&[f64; 5]> = state.values().filter(|s| s[4] > 0.0).collect();
            let cpu: Vec<f64> = used.iter().map(|s| frac(s[0], s[1])).collect();
            let mem: Vec<f64> = used.iter().map(|s| frac(s[2], s[3])).collect();
            let mean = |v: &[f64]| {
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            };
            let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            let all: Vec<f64> = state.values().map(|s| frac(s[0], s[1])).collect();
            let m = mean(&all);
            let sd = (all.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / all.len().max(1) as f64)
                .sqrt();
            best = [
                used.len() as f64,
                mean(&cpu),
                max(&cpu),
                mean(&mem),
                max(&mem),
                sd,
            ];
        }
    }
    Ok(best)
}

/// Reduces a finished cell (its recorder, and its outputs in `dir`).
pub fn cell(
    policy: &str,
    seed: u64,
    rec: &Recorder,
    summary: &crate::output::Summary,
    dir: &Path,
    wall_s: f64,
) -> io::Result<Cell> {
    let pods = rec.pods();
    let scheduled = pods.iter().filter(|p| !p.node.is_empty()).count() as f64;
    let num = |m: &str| {
        summary
            .get(m)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let sched: Vec<u64> = pods.iter().filter_map(|p| p.scheduling_latency()).collect();
    let start: Vec<u64> = pods.iter().filter_map(|p| p.startup_latency()).collect();
    let a = allocation(&dir.join("nodes.csv"))?;
    let values = vec![
        scheduled,
        num("pods_pending"),
        percentile_s(sched.clone(), 50),
        percentile_s(sched, 99),
        percentile_s(start.clone(), 50),
        percentile_s(start, 99),
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5],
        num("preemptions"),
        num("pods_without_scheduler_profile"),
    ];
    Ok(Cell {
        policy: policy.to_string(),
        seed,
        values,
        wall_s,
    })
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.6}")
    }
}

/// `comparison.csv`: `policy,seed` and the metrics, one row per cell.
pub fn write_csv<W: io::Write>(cells: &[Cell], out: W) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["policy", "seed"];
    header.extend(METRICS);
    w.write_record(&header).map_err(io::Error::other)?;
    for c in cells {
        let mut row = vec![c.policy.clone(), c.seed.to_string()];
        row.extend(c.values.iter().map(|v| fmt_value(*v)));
        w.write_record(&row).map_err(io::Error::other)?;
    }
    w.flush()
}

/// Student's t for a two-sided 95 % interval with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    if df == 0 {
        f64::NAN
    } else if df <= T.len() {
        T[df - 1]
    } else {
        1.96
    }
}

/// Mean and the half-width of the 95 % interval (NaN with one seed).
pub fn mean_ci(v: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, t95(v.len() - 1) * (var / n).sqrt())
}

/// The table: one row per policy (in the order given), mean ± 95 % CI.
pub fn table(policies: &[String], cells: &[Cell]) -> String {
    let short = [
        "scheduled",
        "pending",
        "sched p50 s",
        "sched p99 s",
        "startup p50 s",
        "startup p99 s",
        "nodes used",
        "cpu mean",
        "cpu max",
        "mem mean",
        "mem max",
        "cpu imbalance",
        "preemptions",
        "no profile",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["policy".to_string()];
    header.extend(short.iter().map(|s| s.to_string()));
    header.push("wall s".into());
    rows.push(header);
    for p in policies {
        let mine: Vec<&Cell> = cells.iter().filter(|c| &c.policy == p).collect();
        let mut row = vec![p.clone()];
        for k in 0..METRICS.len() {
            let v: Vec<f64> = mine.iter().map(|c| c.values[k]).collect();
            row.push(cell_text(mean_ci(&v)));
        }
        let w: Vec<f64> = mine.iter().map(|c| c.wall_s).collect();
        row.push(cell_text(mean_ci(&w)));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|k| rows.iter().map(|r| r[k].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (k, c) in r.iter().enumerate() {
            if k == 0 {
                let _ = write!(out, "{:<w$}", c, w = widths[k]);
            } else {
                let _ = write!(out, "  {:>w$}", c, w = widths[k]);
            }
        }
        out.push('\n');
    }
    out
}

fn short_num(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell_text((mean, ci): (f64, f64)) -> String {
    if ci.is_nan() {
        short_num(mean)
    } else {
        format!("{}±{}", short_num(mean), short_num(ci))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_interval() {
        let (m, ci) = mean_ci(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        // sd 1, n 3, t(2) 4.303: 4.303 / sqrt(3)
        assert!((ci - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        let (m, ci) = mean_ci(&[5.0]);
        assert_eq!(m, 5.0);
        assert!(ci.is_nan());
    }
}
