//! `kubesim explain`: reads a decision trace (`scheduling.csv`) and prints,
//! for one pod's attempt, the nodes by total score with each score plugin's
//! weighted contribution, then the rejected nodes with the filter and the
//! reason in upstream's words.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One node in an attempt.
#[derive(Default)]
struct NodeRows {
    /// Plugin -> (raw, normalized, weighted), in trace order.
    scores: Vec<(String, String, String, String)>,
    rejected: Option<(String, String)>,
    passed: bool,
}

/// The table for `pod` (`NAMESPACE/NAME`) at `attempt` (default: the last).
pub fn explain(trace_csv: &[u8], pod: &str, attempt: Option<u32>) -> Result<String, String> {
    let mut r = csv::Reader::from_reader(trace_csv);
    // attempt -> (time, node order, node -> rows, selection)
    type Attempt = (
        String,
        Vec<String>,
        BTreeMap<String, NodeRows>,
        Option<(String, String)>,
    );
    let mut attempts: BTreeMap<u32, Attempt> = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        if &rec[1] != pod {
            continue;
        }
        let k: u32 = rec[2]
            .parse()
            .map_err(|_| format!("bad attempt {:?}", &rec[2]))?;
        let a = attempts
            .entry(k)
            .or_insert_with(|| (rec[0].to_string(), Vec::new(), BTreeMap::new(), None));
        let node = rec[3].to_string();
        match &rec[5] {
            "select" => {
                a.3 = Some((
                    node,
                    if &rec[6] == "selected" {
                        rec[7].to_string()
                    } else {
                        rec[6].to_string()
                    },
                ))
            }
            stage => {
                if !a.2.contains_key(&node) {
                    a.1.push(node.clone());
                }
                let n = a.2.entry(node).or_default();
                if stage == "filter" {
                    if &rec[6] == "pass" {
                        n.passed = true;
                    } else {
                        n.passed = false;
                        n.rejected = Some((rec[4].to_string(), rec[6].to_string()));
                    }
                } else {
                    n.scores.push((
                        rec[4].to_string(),
                        rec[7].to_string(),
                        rec[8].to_string(),
                        rec[9].to_string(),
                    ));
                }
            }
        }
    }
    let Some(last) = attempts.keys().next_back().copied() else {
        return Err(format!(
            "no scheduling attempt of pod {pod} in the trace (namespace/name; pods bound by name are never scheduled)"
        ));
    };
    let k = attempt.unwrap_or(last);
    let Some((time, order, nodes, selection)) = attempts.get(&k) else {
        return Err(format!("pod {pod} has attempts 1 to {last}, not {k}"));
    };
    let mut out = String::new();
    let _ = write!(out, "pod {pod}, attempt {k} of {last}, at {time} s: ");
    match selection {
        Some((node, score)) if !node.is_empty() => {
            let _ = writeln!(out, "scheduled on {node} (total score {score})");
        }
        Some((_, message)) => {
            let _ = writeln!(out, "unschedulable: {message}");
        }
        None => {
            let _ = writeln!(out, "no decision recorded");
        }
    }
    let plugins: Vec<String> = order
        .iter()
        .filter_map(|n| nodes.get(n))
        .flat_map(|n| n.scores.iter().map(|s| s.0.clone()))
        .fold(Vec::new(), |mut v, p| {
            if !v.contains(&p) {
                v.push(p);
            }
            v
        });
    let mut scored: Vec<(i64, &String, &NodeRows)> = order
        .iter()
        .filter_map(|n| nodes.get(n).map(|r| (n, r)))
        .filter(|(_, r)| r.rejected.is_none())
        .map(|(n, r)| {
            let total: i64 = r
                .scores
                .iter()
                .filter_map(|s| s.3.parse::<i64>().ok())
                .sum();
            (total, n, r)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    if !scored.is_empty() {
        let width = scored.iter().map(|s| s.1.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(
            out,
            "\nfeasible nodes by total score; each plugin: weighted (normalized, raw); * = chosen"
        );
        let _ = write!(out, "{:<width$}  {:>6}", "node", "total");
        for p in &plugins {
            let _ = write!(out, "  {p}");
        }
        let _ = writeln!(out);
        for (total, node, rows) in &scored {
            let mark = match selection {
                Some((chosen, _)) if chosen == *node => "*",
                _ => "",
            };
            let name = format!("{node}{mark}");
            let _ = write!(out, "{:<w$} {:>6}", name, total, w = width + 1);
            for p in &plugins {
                let cell = rows
                    .scores
                    .iter()
                    .find(|s| &s.0 == p)
                    .map(|s| format!("{} ({}, raw {})", s.3, s.2, s.1))
                    .unwrap_or_else(|| "-".into());
                let _ = write!(out, "  {:>w$}", cell, w = p.len());
            }
            let _ = writeln!(out);
        }
        if plugins.is_empty() {
            let _ = writeln!(
                out,
                "(not scored: one feasible node, or a policy without scoring)"
            );
        }
    }
    let rejected: Vec<(&String, &(String, String))> = order
        .iter()
        .filter_map(|n| {
            nodes
                .get(n)
                .and_then(|r| r.rejected.as_ref().map(|x| (n, x)))
        })
        .collect();
    if !rejected.is_empty() {
        let _ = writeln!(out, "\nrejected by filters ({} nodes):", rejected.len());
        for (node, (plugin, reason)) in rejected {
            let _ = writeln!(out, "{node}: {plugin}: {reason}");
        }
    }
    Ok(out)
}
