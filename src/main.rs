//! The `kubesim` command line: parses what the user typed, calls the library
//! and maps failures to exit codes (0 success, 1 a failed run, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use kubesim::scenario;
use kubesim::sim::run::{OUTPUT_FILES, run_to_dir};

#[derive(Parser)]
#[command(
    name = "kubesim",
    version,
    about = "A deterministic discrete-event simulator of a Kubernetes cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its CSV timelines.
    Run {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Output directory [default: results/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed for every random draw; overrides the scenario's `seed`.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Scheduler throughput through the whole simulator on a SchedulingBasic-
    /// shaped workload (nodes of 4 cpu / 32Gi / 110 pods, pause pods of
    /// 100m / 500Mi).
    Bench {
        /// Nodes in the cluster.
        #[arg(long, default_value_t = 5000)]
        nodes: usize,
        /// Pods scheduled before the measured ones.
        #[arg(long, default_value_t = 1000)]
        init_pods: usize,
        /// Measured pods.
        #[arg(long, default_value_t = 10_000)]
        pods: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Check a scenario without running it.
    Validate {
        /// The scenario file (YAML).
        scenario: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench {
            nodes,
            init_pods,
            pods,
            seed,
        } => {
            let spec = kubesim::bench::BenchSpec {
                nodes,
                init_pods,
                pods,
                seed,
            };
            let r = kubesim::bench::run(&spec);
            println!(
                "SchedulingBasic {nodes} nodes, {init_pods} initial pods, {pods} measured pods (seed {seed})"
            );
            println!(
                "scheduled {} pods in {:.3} s of wall time: {:.0} pods/s wall-clock, {:.0} events/s ({} events), peak memory {}",
                r.scheduled,
                r.wall_s,
                r.pods_per_wall_second(),
                r.events_per_second(),
                r.events,
                peak_memory().unwrap_or_else(|| "unknown".into())
            );
            println!(
                "modelled scheduler: {:.0} measured pods bound per virtual second ({:.3} virtual s)",
                r.pods_per_virtual_second(),
                r.virtual_span_s
            );
            if r.scheduled < init_pods + pods {
                eprintln!(
                    "error: only {} of {} pods were scheduled",
                    r.scheduled,
                    init_pods + pods
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Command::Validate { scenario } => match scenario::load(&scenario) {
            Ok(s) => {
                for w in &s.warnings {
                    eprintln!("warning: {w}");
                }
                let objects: usize = s
                    .actions
                    .iter()
                    .map(|a| match &a.op {
                        scenario::ActionOp::Apply(o) => o.len(),
                        _ => 0,
                    })
                    .sum();
                println!(
                    "{}: ok: scenario `{}`, {} nodes, {} actions, {} objects to apply",
                    scenario.display(),
                    s.name,
                    s.nodes.len(),
                    s.actions.len(),
                    objects
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            scenario,
            out,
            seed,
        } => {
            let s = match scenario::load(&scenario) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            let seed = seed.unwrap_or(s.seed);
            let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name));
            let started = Instant::now();
            let outcome = match run_to_dir(&s, seed, &dir) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: writing outputs to {}: {e}", dir.display());
                    return ExitCode::from(1);
                }
            };
            let wall = started.elapsed().as_secs_f64();
            print_summary(&outcome.summary, wall, outcome.virtual_time, outcome.events);
            print_rollouts(&outcome.recorder.rollouts.records);
            println!("outputs: {} in {}", OUTPUT_FILES.join(", "), dir.display());
            ExitCode::SUCCESS
        }
    }
}

fn print_summary(summary: &kubesim::output::Summary, wall: f64, virtual_ns: u64, events: u64) {
    let get = |m: &str| summary.get(m).unwrap_or("").to_string();
    let virtual_s = virtual_ns as f64 / 1e9;
    println!(
        "scenario {} (seed {}): {} s of virtual time, stopped by {}",
        get("scenario"),
        get("seed"),
        get("virtual_time_s"),
        get("stopped_by")
    );
    let speedup = if wall > 0.0 {
        virtual_s / wall
    } else {
        f64::INFINITY
    };
    println!(
        "wall time {:.3} s, speed-up {:.0}x over real time, {} events ({:.0} events/s), peak memory {}",
        wall,
        speedup,
        events,
        events as f64 / wall.max(1e-9),
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    println!(
        "pods: {} created, {} Running, {} Pending, {} Succeeded, {} Failed, {} deleted, {} unscheduled",
        get("pods_created"),
        get("pods_running"),
        get("pods_pending"),
        get("pods_succeeded"),
        get("pods_failed"),
        get("pods_deleted"),
        get("pods_unscheduled")
    );
    for (label, prefix) in [
        (
            "scheduling latency (created to bound)",
            "scheduling_latency",
        ),
        ("startup latency (created to running)", "startup_latency"),
        (
            "network programming latency (per node and change)",
            "network_programming_latency",
        ),
    ] {
        println!(
            "{label}: p50 {} s, p90 {} s, p99 {} s",
            or_dash(get(&format!("{prefix}_p50_s"))),
            or_dash(get(&format!("{prefix}_p90_s"))),
            or_dash(get(&format!("{prefix}_p99_s")))
        );
    }
    let slo = match get("pod_startup_slo_5s_p99_met").as_str() {
        "true" => "met",
        "false" => "NOT met",
        _ => "-",
    };
    println!(
        "pod startup SLI ({} pods, pulls and init containers excluded): p50 {} s, p90 {} s, p99 {} s; SLO p99 <= 5 s {slo}",
        get("pod_startup_sli_pods"),
        or_dash(get("pod_startup_sli_p50_s")),
        or_dash(get("pod_startup_sli_p90_s")),
        or_dash(get("pod_startup_sli_p99_s")),
    );
    println!(
        "api requests {} ({} rejected, {} conflicts), run hash {}",
        get("api_requests"),
        get("api_rejected"),
        get("api_conflicts"),
        get("run_hash")
    );
}

/// One line per rollout, with its duration.
fn print_rollouts(records: &[kubesim::output::RolloutRecord]) {
    use kubesim::engine::format_seconds;
    for r in records {
        let took = match r.duration() {
            Some(d) => format!("took {} s", format_seconds(d)),
            None => "did not complete".into(),
        };
        println!(
            "rollout {}/{}/{} revision {} ({}): {took}, at most {} pods, at least {} available",
            r.kind, r.namespace, r.name, r.revision, r.strategy, r.max_pods, r.min_available
        );
    }
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

/// The process's peak resident memory, from /proc (Linux only).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kb / 1024.0))
}
