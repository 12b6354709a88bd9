//! The `kubesim` command line: parses what the user typed, calls the library
//! and maps failures to exit codes (0 success, 1 a failed run, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use kubesim::scenario;
use kubesim::scheduler::config::PolicyError;
use kubesim::scheduler::profile::Profile;
use kubesim::sim::run::{
    OUTPUT_FILES, RunOptions, TRACE_FILE, run_to_dir_with, scenario_profiles, simulate_discarding,
};

/// mimalloc (`kubesim::alloc`): about 10 % fewer instructions than the
/// system allocator on the simulator's many small allocations, and far fewer
/// page faults. The model never depends on addresses, so outputs are the
/// same with either.
#[global_allocator]
static GLOBAL: kubesim::alloc::MiMalloc = kubesim::alloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kubesim",
    version,
    about = "A deterministic discrete-event simulator of a Kubernetes cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Let the operating system place every thread. By default, on Linux
    /// with two usable cores, the model's thread has one to itself and the
    /// helper threads (kube-proxy's, the writers') use the other; outputs
    /// are the same either way.
    #[arg(long, global = true)]
    share_cores: bool,
    /// kube-scheduler feature gates, as its --feature-gates: the one the
    /// model has, SchedulerQueueingHints=true|false. Overrides a
    /// scenario's `scheduler.featureGates` and a scheduler_perf
    /// configuration's gate.
    #[arg(long, global = true, value_name = "GATE=BOOL", value_parser = parse_feature_gates)]
    feature_gates: Option<bool>,
}

/// `--feature-gates`: comma-separated `GATE=BOOL` pairs, of which the model
/// has SchedulerQueueingHints; its value (the last one given).
fn parse_feature_gates(s: &str) -> Result<bool, String> {
    let mut hints = None;
    for pair in s.split(',') {
        let Some((gate, value)) = pair.split_once('=') else {
            return Err(format!("`{pair}` is not GATE=BOOL"));
        };
        if gate != "SchedulerQueueingHints" {
            return Err(format!(
                "unknown feature gate `{gate}`: the model has SchedulerQueueingHints only"
            ));
        }
        hints = Some(match value {
            "true" => true,
            "false" => false,
            _ => return Err(format!("{gate}={value}: the value must be true or false")),
        });
    }
    hints.ok_or_else(|| "no feature gate given".to_string())
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
        /// Scheduling policy: a name (`kubesim policies`) or a
        /// KubeSchedulerConfiguration file; overrides `scheduler.policy`.
        #[arg(long)]
        policy: Option<String>,
        /// Also write the scheduler's decision trace, scheduling.csv.
        #[arg(long)]
        trace_scheduling: bool,
    },
    /// List the named scheduling policies.
    Policies,
    /// Run a scenario under several policies and seeds; print and write a
    /// side-by-side table (comparison.csv).
    Compare {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Comma-separated policies (names or KubeSchedulerConfiguration files).
        #[arg(long, value_delimiter = ',', required = true)]
        policies: Vec<String>,
        /// How many seeds per policy, from the scenario's seed (or --seed) up.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// The first seed [default: the scenario's].
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory [default: results/<scenario name>/compare/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a scenario and explain where one pod was placed, and why.
    Explain {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// The pod, as NAMESPACE/NAME.
        #[arg(long)]
        pod: String,
        /// The scheduling attempt [default: the last].
        #[arg(long)]
        attempt: Option<u32>,
        /// Seed; overrides the scenario's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Scheduling policy; overrides `scheduler.policy`.
        #[arg(long)]
        policy: Option<String>,
    },
    /// Scheduler throughput through the whole simulator on a workload shaped
    /// like SchedulingBasic (nodes of 4 cpu / 32Gi / 110 pods, pause pods
    /// of 100m / 500Mi).
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
        /// Seed for every random draw.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scheduling policy: a name (`kubesim policies`) or a
        /// KubeSchedulerConfiguration file [default: the default profile].
        #[arg(long)]
        policy: Option<String>,
        /// An upstream scheduler_perf configuration (performance-config.yaml
        /// format) to run instead of the built-in workload.
        #[arg(long, requires = "workload")]
        scheduler_perf: Option<PathBuf>,
        /// The configuration's workload, as CASE/WORKLOAD
        /// (e.g. SchedulingBasic/5000Nodes_10000Pods).
        #[arg(long, requires = "scheduler_perf")]
        workload: Option<String>,
        /// Run only etcd, the apiserver and the scheduler, as upstream's
        /// scheduler_perf does: nodes are API objects without a kubelet,
        /// kube-proxy or Lease, and no controller manager runs.
        #[arg(long)]
        scheduling_only: bool,
        /// Run the benchmark this many times, each in a process of its own
        /// (a fresh heap, as a single run has), and report every run's
        /// measured phase and their median, least and greatest: wall-clock
        /// figures vary from run to run.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
    },
    /// Check a scenario without running it.
    Validate {
        /// The scenario file (YAML).
        scenario: PathBuf,
    },
}

/// Prints a line on stdout. A closed pipe (`kubesim run ... | head`) is not
/// an error: the process ends quietly, its outputs already written.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

fn main() -> ExitCode {
    kubesim::alloc::tune_memory();
    let cli = Cli::parse();
    let share_cores = cli.share_cores;
    let queueing_hints = cli.feature_gates;
    // For the commands that simulate in this process (not `bench --runs`,
    // whose children would inherit the one core).
    let dedicate_core = || {
        if !share_cores {
            kubesim::cores::dedicate_core();
        }
    };
    match cli.command {
        Command::Bench {
            nodes,
            init_pods,
            pods,
            seed,
            policy,
            scheduler_perf,
            workload,
            scheduling_only,
            runs,
        } => {
            if runs > 1 {
                let mut args: Vec<std::ffi::OsString> = vec![
                    "bench".into(),
                    format!("--nodes={nodes}").into(),
                    format!("--init-pods={init_pods}").into(),
                    format!("--pods={pods}").into(),
                    format!("--seed={seed}").into(),
                ];
                if let Some(p) = &policy {
                    args.push(format!("--policy={p}").into());
                }
                if let (Some(file), Some(w)) = (&scheduler_perf, &workload) {
                    // The path as given, whatever its bytes.
                    args.push("--scheduler-perf".into());
                    args.push(file.clone().into_os_string());
                    args.push(format!("--workload={w}").into());
                }
                if scheduling_only {
                    args.push("--scheduling-only".into());
                }
                if share_cores {
                    args.push("--share-cores".into());
                }
                if let Some(on) = queueing_hints {
                    args.push(format!("--feature-gates=SchedulerQueueingHints={on}").into());
                }
                return bench_runs(&args, runs);
            }
            dedicate_core();
            let profiles = match policy {
                Some(p) => match kubesim::scheduler::config::resolve(&p, std::path::Path::new("."))
                {
                    Ok(p) => Some(p),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                },
                None => None,
            };
            let opts = RunOptions {
                profiles,
                trace_scheduling: false,
                wall_marks: None,
                // One run, then the process exits.
                skip_teardown: true,
                scheduling_only,
                queueing_hints,
                scheduler_client: None,
                no_volume_controllers: false,
            };
            if let (Some(file), Some(w)) = (scheduler_perf, workload) {
                return scheduler_perf_bench(&file, &w, seed, &opts);
            }
            let spec = kubesim::bench::BenchSpec {
                nodes,
                init_pods,
                pods,
                seed,
            };
            let r = kubesim::bench::run_with(&spec, &opts);
            out!(
                "SchedulingBasic {nodes} nodes, {init_pods} initial pods, {pods} measured pods (seed {seed})"
            );
            out!(
                "scheduled {} pods in {:.3} s of wall time: {:.0} pods/s wall-clock, {:.0} events/s ({} events), peak memory {}",
                r.scheduled,
                r.wall_s,
                r.pods_per_wall_second(),
                r.events_per_second(),
                r.events,
                peak_memory().unwrap_or_else(|| "unknown".into())
            );
            if r.scheduled < init_pods + pods {
                // The measured phase's figures assume every pod was
                // scheduled: none are printed.
                eprintln!(
                    "error: only {} of {} pods were scheduled (too few nodes for the pods?); no throughput is reported",
                    r.scheduled,
                    init_pods + pods
                );
                return ExitCode::from(1);
            }
            out!(
                "measured phase: {pods} pods scheduled in {:.3} s of wall time: {:.0} pods/s wall-clock ({})",
                r.measured_wall_s,
                r.measured_pods_per_wall_second(),
                setup_name(&opts)
            );
            out!(
                "modelled scheduler: {} measured pods bound per virtual second ({:.3} virtual s)",
                rate(r.pods_per_virtual_second()),
                r.virtual_span_s
            );
            ExitCode::SUCCESS
        }
        Command::Validate { scenario } => match scenario::load(&scenario) {
            Ok(s) => {
                if let Err(e) = scenario_profiles(&s) {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
                for w in &s.warnings {
                    eprintln!("warning: {w}");
                }
                let (mut applied, mut generated) = (0u64, 0u64);
                for a in &s.actions {
                    match &a.op {
                        scenario::ActionOp::Apply(o) => applied += o.len() as u64,
                        scenario::ActionOp::Generate(g) => generated += g.count,
                        _ => {}
                    }
                }
                let count = |n: u64, one: &str, many: &str| {
                    format!("{n} {}", if n == 1 { one } else { many })
                };
                out!(
                    "{}: ok: scenario `{}`, {}, {}, {} to apply ({} generated)",
                    scenario.display(),
                    s.name,
                    count(s.nodes.len() as u64, "node", "nodes"),
                    count(s.actions.len() as u64, "action", "actions"),
                    count(applied + generated, "object", "objects"),
                    generated
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Policies => {
            for (name, what) in kubesim::scheduler::profile::POLICIES {
                out!("{name:<16}{what}");
            }
            out!(
                "{:<16}a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): profiles, plugins, weights, pluginConfig",
                "FILE.yaml"
            );
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            out,
            seed,
            policy,
            trace_scheduling,
        } => {
            dedicate_core();
            let mut s = match scenario::load(&scenario) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let profiles = match policy_profiles(&s, policy.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(p) = policy {
                s.policy = p;
            }
            let opts = RunOptions {
                profiles: Some(profiles),
                trace_scheduling,
                wall_marks: None,
                skip_teardown: true,
                queueing_hints,
                ..Default::default()
            };
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            let seed = seed.unwrap_or(s.seed);
            let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name));
            let started = Instant::now();
            let outcome = match run_to_dir_with(&s, seed, &dir, &opts) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: writing outputs to {}: {e}", dir.display());
                    return ExitCode::from(1);
                }
            };
            let wall = started.elapsed().as_secs_f64();
            print_summary(&outcome, wall);
            print_rollouts(&outcome.recorder.rollouts.records);
            let mut files = OUTPUT_FILES.to_vec();
            if trace_scheduling {
                files.push(TRACE_FILE);
            }
            out!("outputs: {} in {}", files.join(", "), dir.display());
            // The process ends here: its memory goes back at once.
            std::mem::forget(outcome);
            ExitCode::SUCCESS
        }
        Command::Compare {
            scenario,
            policies,
            seeds,
            seed,
            out,
        } => {
            dedicate_core();
            compare(&scenario, &policies, seeds, seed, out, queueing_hints)
        }
        Command::Explain {
            scenario,
            pod,
            attempt,
            seed,
            policy,
        } => {
            dedicate_core();
            explain(
                &scenario,
                &pod,
                attempt,
                seed,
                policy.as_deref(),
                queueing_hints,
            )
        }
    }
}

/// The directory name of a policy's cells: its name with every character
/// but ASCII letters, digits and `-` made `_`.
fn cell_label(policy: &str) -> String {
    policy
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `kubesim compare`: every (policy, seed) cell into its own directory,
/// then comparison.csv and the table.
fn compare(
    path: &std::path::Path,
    policies: &[String],
    seeds: u64,
    first_seed: Option<u64>,
    out: Option<PathBuf>,
    queueing_hints: Option<bool>,
) -> ExitCode {
    let s = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if seeds == 0 {
        eprintln!("error: --seeds must be at least 1");
        return ExitCode::from(2);
    }
    // Resolve every policy first: a typo fails before any run. A policy
    // given twice would share its cells' directory and be pooled as if
    // its runs were more seeds.
    let mut resolved = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        if let Some(q) = policies[..i]
            .iter()
            .find(|q| cell_label(q) == cell_label(p))
        {
            if q == p {
                eprintln!("error: --policies names `{p}` twice; give each policy once");
            } else {
                eprintln!(
                    "error: --policies `{q}` and `{p}` would share the directory `{}`; rename one",
                    cell_label(p)
                );
            }
            return ExitCode::from(2);
        }
        match policy_profiles(&s, Some(p)) {
            Ok(profiles) => resolved.push((p.clone(), profiles)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name).join("compare"));
    let first = first_seed.unwrap_or(s.seed);
    let mut cells = Vec::new();
    for (name, profiles) in &resolved {
        for seed in first..first + seeds {
            let label = cell_label(name);
            let cell_dir = dir.join(&label).join(format!("seed-{seed}"));
            let opts = RunOptions {
                profiles: Some(profiles.clone()),
                trace_scheduling: false,
                wall_marks: None,
                skip_teardown: false,
                queueing_hints,
                ..Default::default()
            };
            let started = Instant::now();
            let outcome = match run_to_dir_with(&s, seed, &cell_dir, &opts) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: writing outputs to {}: {e}", cell_dir.display());
                    return ExitCode::from(1);
                }
            };
            let wall = started.elapsed().as_secs_f64();
            match kubesim::compare::cell(
                name,
                seed,
                &outcome.recorder,
                &outcome.summary,
                &cell_dir,
                wall,
            ) {
                Ok(c) => cells.push(c),
                Err(e) => {
                    eprintln!("error: reading {}: {e}", cell_dir.display());
                    return ExitCode::from(1);
                }
            }
            eprintln!("ran {name} seed {seed} in {wall:.2} s");
        }
    }
    let csv_path = dir.join("comparison.csv");
    let partial = dir.join(".comparison.csv.partial");
    let written = std::fs::File::create(&partial)
        .and_then(|f| kubesim::compare::write_csv(&cells, std::io::BufWriter::new(f)))
        .and_then(|_| std::fs::rename(&partial, &csv_path));
    if let Err(e) = written {
        eprintln!("error: writing {}: {e}", csv_path.display());
        return ExitCode::from(1);
    }
    out!(
        "scenario {}, {} seed(s) from {first}; mean ± 95% interval across seeds; allocation at the moment the most pods were bound",
        s.name,
        seeds
    );
    let table = kubesim::compare::table(policies, &cells);
    out!("{}", table.trim_end_matches('\n'));
    out!("outputs: {} and one directory per cell", csv_path.display());
    ExitCode::SUCCESS
}

/// A writer into a shared buffer, to keep a trace in memory.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The pods per wall-clock second of a `measured phase: ...` line.
fn measured_rate(line: &str) -> Option<f64> {
    let end = line.find(" pods/s wall-clock")?;
    let start = line[..end].rfind(' ')? + 1;
    line[start..end].parse().ok()
}

/// `kubesim bench ARGS` run `runs` times, each as a child process of this
/// executable: the first run's report but its measured phase, then each
/// run's measured phase, then their median, least and greatest (and the
/// median beside upstream's threshold, when the workload has one). A
/// failing run stops the series with its own output and exit code.
fn bench_runs(args: &[std::ffi::OsString], runs: u32) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this executable to rerun it: {e}");
            return ExitCode::from(1);
        }
    };
    let mut rates = Vec::new();
    let mut threshold = None;
    for i in 1..=runs {
        let child = std::process::Command::new(&exe)
            .args(args)
            .stderr(std::process::Stdio::inherit())
            .output();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: starting run {i} of {runs}: {e}");
                return ExitCode::from(1);
            }
        };
        let text = String::from_utf8_lossy(&child.stdout);
        if !child.status.success() {
            for line in text.lines() {
                out!("{line}");
            }
            eprintln!("error: run {i} of {runs} failed");
            let code = child.status.code().and_then(|c| u8::try_from(c).ok());
            return ExitCode::from(code.unwrap_or(1).max(1));
        }
        let measured = text.lines().find(|l| l.starts_with("measured phase: "));
        let Some(rate) = measured.and_then(measured_rate) else {
            eprintln!("error: run {i} of {runs} reported no measured phase:\n{text}");
            return ExitCode::from(1);
        };
        if i == 1 {
            for line in text.lines().filter(|l| !l.starts_with("measured phase: ")) {
                out!("{line}");
            }
            threshold = text
                .lines()
                .find_map(|l| l.strip_prefix("upstream threshold "))
                .and_then(|l| l.split(' ').next())
                .and_then(|t| t.parse::<f64>().ok());
        }
        out!("run {i} of {runs}: {}", measured.unwrap_or_default());
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let n = rates.len();
    let median = if n % 2 == 1 {
        rates[n / 2]
    } else {
        (rates[n / 2 - 1] + rates[n / 2]) / 2.0
    };
    out!(
        "measured phase over {n} runs: median {median:.0} pods/s wall-clock, least {:.0}, greatest {:.0}",
        rates[0],
        rates[n - 1]
    );
    if let Some(t) = threshold {
        out!(
            "upstream threshold {t:.0} pods/s: the median is {:.1}x it",
            median / t
        );
    }
    ExitCode::SUCCESS
}

/// Which components a benchmark ran, for its report.
fn setup_name(opts: &RunOptions) -> &'static str {
    if opts.scheduling_only {
        "etcd, apiserver and scheduler only, as upstream scheduler_perf"
    } else {
        "whole simulator"
    }
}

/// `kubesim bench --scheduler-perf FILE --workload CASE/WORKLOAD`.
fn scheduler_perf_bench(file: &std::path::Path, w: &str, seed: u64, opts: &RunOptions) -> ExitCode {
    let r = match kubesim::schedperf::run(file, w, seed, opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    out!(
        "{} (seed {seed}): {} nodes, {} pods ({} measured)",
        r.name,
        r.nodes,
        r.pods,
        r.measured
    );
    out!(
        "scheduled {} pods in {:.3} s of wall time: {:.0} pods/s wall-clock, {:.0} events/s ({} events), peak memory {}",
        r.scheduled,
        r.wall_s,
        r.pods_per_wall_second(),
        r.events as f64 / r.wall_s.max(1e-9),
        r.events,
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    // Only the measured pods must all be scheduled: others may be held by
    // scheduling gates or preempted, as upstream's workloads intend.
    if r.measured_bound < r.measured {
        eprintln!(
            "error: only {} of the {} measured pods were scheduled; no throughput is reported",
            r.measured_bound, r.measured
        );
        return ExitCode::from(1);
    }
    out!(
        "measured phase: {} pods scheduled in {:.3} s of wall time: {:.0} pods/s wall-clock ({})",
        r.measured_bound,
        r.measured_wall_s,
        r.measured_pods_per_wall_second(),
        setup_name(opts)
    );
    out!(
        "modelled scheduler: {} measured pods bound per virtual second ({:.3} virtual s)",
        rate(r.pods_per_virtual_second()),
        r.virtual_span_s
    );
    match r.threshold {
        Some(t) => out!(
            "upstream threshold {t:.0} pods/s: kubesim's measured phase is {:.1}x it",
            r.measured_pods_per_wall_second() / t
        ),
        None => out!("upstream threshold: none for this workload"),
    }
    ExitCode::SUCCESS
}

/// A rate for a report: whole numbers from 100 up, else three significant
/// digits (a few pods over many virtual seconds is not "0").
fn rate(x: f64) -> String {
    if x >= 100.0 || x == 0.0 {
        format!("{x:.0}")
    } else {
        let decimals = (2 - x.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.decimals$}")
    }
}

/// `kubesim explain`: runs the scenario in memory with the decision trace
/// and prints the pod's table.
fn explain(
    path: &std::path::Path,
    pod: &str,
    attempt: Option<u32>,
    seed: Option<u64>,
    policy: Option<&str>,
    queueing_hints: Option<bool>,
) -> ExitCode {
    let s = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !pod.contains('/') {
        eprintln!("error: --pod {pod:?}: expected NAMESPACE/NAME, e.g. default/{pod}");
        return ExitCode::from(2);
    }
    let profiles = match policy_profiles(&s, policy) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let buf = SharedBuf::default();
    let opts = RunOptions {
        profiles: Some(profiles),
        trace_scheduling: true,
        wall_marks: None,
        skip_teardown: false,
        queueing_hints,
        ..Default::default()
    };
    let outcome = simulate_discarding(
        &s,
        seed.unwrap_or(s.seed),
        &opts,
        Some(Box::new(buf.clone())),
    );
    if let Err(e) = outcome.trace {
        eprintln!("error: writing the trace: {e}");
        return ExitCode::from(1);
    }
    let bytes = buf.0.lock().expect("not poisoned").clone();
    match kubesim::scheduler::explain::explain(&bytes, pod, attempt) {
        Ok(text) => {
            out!("{}", text.trim_end_matches('\n'));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The profiles of `--policy` (a file relative to the working directory) or
/// else of the scenario's `scheduler.policy`.
fn policy_profiles(
    s: &scenario::Scenario,
    flag: Option<&str>,
) -> Result<Vec<Profile>, PolicyError> {
    match flag {
        Some(p) => kubesim::scheduler::config::resolve(p, std::path::Path::new(".")),
        None => scenario_profiles(s),
    }
}

fn print_summary(outcome: &kubesim::sim::run::Outcome, wall: f64) {
    let (summary, virtual_ns, events) = (&outcome.summary, outcome.virtual_time, outcome.events);
    let get = |m: &str| summary.get(m).unwrap_or("").to_string();
    let virtual_s = virtual_ns as f64 / 1e9;
    out!(
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
    out!(
        "wall time {:.3} s, speed-up {:.0}x over real time, {} events ({:.0} events/s), peak memory {}",
        wall,
        speedup,
        events,
        events as f64 / wall.max(1e-9),
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    print_cpu(&outcome.cpu);
    out!(
        "pods: {} created, {} Running, {} Pending, {} Succeeded, {} Failed, {} deleted, {} unscheduled",
        get("pods_created"),
        get("pods_running"),
        get("pods_pending"),
        get("pods_succeeded"),
        get("pods_failed"),
        get("pods_deleted"),
        get("pods_unscheduled")
    );
    let orphans = get("pods_without_scheduler_profile");
    if !orphans.is_empty() && orphans != "0" {
        out!(
            "{orphans} pod(s) name a schedulerName no scheduler profile has: left Pending (see `ignored` rows in events.csv)"
        );
    }
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
        out!(
            "{label}: {}",
            percentiles(
                &get(&format!("{prefix}_p50_s")),
                &get(&format!("{prefix}_p90_s")),
                &get(&format!("{prefix}_p99_s"))
            )
        );
    }
    let slo = match get("pod_startup_slo_5s_p99_met").as_str() {
        "true" => "met",
        "false" => "NOT met",
        _ => "not measured",
    };
    let sli_pods = get("pod_startup_sli_pods");
    out!(
        "pod startup SLI ({sli_pods} {}, pulls and init containers excluded): {}; SLO p99 <= 5 s {slo}",
        if sli_pods == "1" { "pod" } else { "pods" },
        percentiles(
            &get("pod_startup_sli_p50_s"),
            &get("pod_startup_sli_p90_s"),
            &get("pod_startup_sli_p99_s")
        ),
    );
    out!(
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
        out!(
            "rollout {}/{}/{} revision {} ({}): {took}, at most {} pods, at least {} available",
            r.kind,
            r.namespace,
            r.name,
            r.revision,
            r.strategy,
            r.max_pods,
            r.min_available
        );
    }
}

/// `p50 X s, p90 Y s, p99 Z s`, or `no samples` when there are none.
fn percentiles(p50: &str, p90: &str, p99: &str) -> String {
    if p50.is_empty() {
        "no samples".into()
    } else {
        format!("p50 {p50} s, p90 {p90} s, p99 {p99} s")
    }
}

/// The CPU time of the run's threads, where known: which one set the pace.
fn print_cpu(cpu: &kubesim::output::cpu::RunCpu) {
    let Some(model) = cpu.model else {
        return;
    };
    let proxy = cpu
        .kube_proxy
        .map(|p| format!(", kube-proxy's thread {:.2} s", p.as_secs_f64()))
        .unwrap_or_default();
    out!(
        "cpu time: the model's thread {:.2} s (the scenario's loading included){proxy}",
        model.as_secs_f64()
    );
}

/// The process's peak resident memory, from /proc (Linux only).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kb / 1024.0))
}
