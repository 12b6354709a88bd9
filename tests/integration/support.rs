//! Helpers: run the binary, read its CSV outputs, write scratch scenarios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kubesim-it-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn kubesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("kubesim runs")
}

/// Runs a scenario into `out`, asserting success.
pub fn run_ok(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = kubesim(&args);
    assert!(
        o.status.success(),
        "kubesim run failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    o
}

/// Writes a scenario that must not load into a scratch directory and
/// returns `kubesim validate`'s message, asserting exit code 2 (bad input).
pub fn load_error(name: &str, text: &str) -> String {
    let dir = scratch(name);
    let scenario = write(&dir, "s.yaml", text);
    let o = kubesim(&["validate", scenario.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("s.yaml:"), "names the file: {err}");
    err
}

/// A CSV file as rows of column -> value.
pub fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn header(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Seconds with six decimals to microseconds, exactly.
pub fn micros(s: &str) -> Option<u64> {
    let (a, b) = s.split_once('.')?;
    Some(a.parse::<u64>().ok()? * 1_000_000 + b.parse::<u64>().ok()?)
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Asserts that timeline rows are in time order.
pub fn assert_in_time_order(events: &[BTreeMap<String, String>]) {
    let times: Vec<u64> = events
        .iter()
        .map(|e| micros(&e["time_s"]).unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events.csv is in time order"
    );
}

/// Runs scenario `text` in a scratch directory named after `tag`; returns
/// its output directory.
pub fn run_scenario(tag: &str, text: &str) -> std::path::PathBuf {
    let dir = scratch(tag);
    let out = dir.join("out");
    run_ok(&write(&dir, "s.yaml", text), &out, &[]);
    out
}
