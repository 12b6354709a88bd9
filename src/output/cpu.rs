//! CPU time (user and system) of the calling thread, for the figures a run
//! prints beside its wall time: how busy the model's thread and kube-proxy's
//! thread were shows which one set the pace. Read from Linux's
//! `/proc/thread-self/stat` (in clock ticks of 10 ms); unknown elsewhere or
//! when the file cannot be read. Never read by the model, never written to
//! an output file.

use std::time::Duration;

/// `/proc`'s clock tick (`USER_HZ`), 100 per second on every Linux
/// architecture.
const TICKS_PER_SECOND: u64 = 100;

/// The CPU time the calling thread has used so far.
pub fn thread_cpu() -> Option<Duration> {
    // Bytes: the thread's name, in the line, need not be UTF-8.
    let stat = std::fs::read("/proc/thread-self/stat").ok()?;
    parse_stat(&String::from_utf8_lossy(&stat))
}

/// User plus system time from a `stat` line: fields 14 and 15, counted
/// after the command name, which is in parentheses and may hold spaces.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name.
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

/// The CPU time of a run's threads, as [`thread_cpu`] read them at its end.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunCpu {
    /// The thread that ran the model (and, before it, loaded the scenario).
    pub model: Option<Duration>,
    /// kube-proxy's thread; `None` too when the run had no kube-proxy.
    pub kube_proxy: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_after_a_name_with_spaces_and_parentheses() {
        let line = "4242 (kube sim) (x)) R 1 2 3 0 -1 4194304 100 0 0 0 \
                    250 37 0 0 20 0 1 0 4866732 3133440 394";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(2870)));
        assert_eq!(parse_stat("4242 (kubesim) R 1 2"), None);
        assert_eq!(parse_stat("no parentheses"), None);
    }

    #[test]
    fn this_thread_has_a_cpu_time_on_linux() {
        if cfg!(target_os = "linux") {
            // Spin until the clock ticks once, so that the figure moves.
            let start = thread_cpu().expect("readable on Linux");
            let mut x = 0u64;
            while thread_cpu().unwrap() == start {
                for i in 0..100_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
            }
            assert!(thread_cpu().unwrap() > start);
        }
    }
}
