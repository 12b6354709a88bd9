//! Which cores a run's threads use. The model's thread sets the pace of a
//! run, and its helpers (kube-proxy's thread, the output writers, the
//! draws made ahead, the end-of-run counting) keep the other cores busy:
//! with more runnable threads than cores, the operating system moves the
//! model's thread around and lets helpers preempt it, and it loses its
//! caches each time. So on a machine of two cores the `kubesim` command
//! (not the library, not a test harness running simulations side by
//! side) gives the model's thread a core of its own ([`dedicate_core`]),
//! the one of the two that serves fewer device interrupts (the disk's
//! completions of the timeline's writes, for one, which land on a single
//! core), and keeps the helpers on the other ([`helper_thread`]).
//! churn-1h, in sets of 12 to 30 runs: 0 to 8 % less wall time than with
//! the threads placed by the operating system, most often 2 to 5 %;
//! pinning the model's thread to the core it started on gave nothing
//! (results/BENCHMARKS.md, twentieth pass).
//!
//! Linux only (`sched_setaffinity`, `/proc/interrupts`). Nothing is
//! pinned elsewhere, nor with other than two usable cores (with more,
//! simulations run side by side would all pick the same core, and the
//! gain was not measured), nor when the user asks (`--share-cores`).
//! Where threads run never changes what a run computes: outputs are the
//! same either way.

use std::sync::OnceLock;

/// A set of CPUs as Linux's `cpu_set_t`: 1024 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSet([u64; 16]);

impl CpuSet {
    pub const EMPTY: CpuSet = CpuSet([0; 16]);

    pub fn with(mut self, cpu: usize) -> CpuSet {
        if cpu < 1024 {
            self.0[cpu / 64] |= 1 << (cpu % 64);
        }
        self
    }

    pub fn contains(&self, cpu: usize) -> bool {
        cpu < 1024 && self.0[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// The lowest CPU in the set.
    pub fn first(&self) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    pub fn without(mut self, cpu: usize) -> CpuSet {
        if cpu < 1024 {
            self.0[cpu / 64] &= !(1 << (cpu % 64));
        }
        self
    }
}

/// How a run's threads are placed: the model's thread on `model`, every
/// helper on `helpers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub model: usize,
    pub helpers: CpuSet,
}

/// The split for a thread allowed on `allowed`: its own core, `preferred`
/// when that is allowed, else the lowest allowed; `None` with fewer than
/// two cores, when the helpers would have none.
pub fn split(allowed: CpuSet, preferred: Option<usize>) -> Option<Split> {
    if allowed.count() < 2 {
        return None;
    }
    let model = preferred
        .filter(|&c| allowed.contains(c))
        .or_else(|| allowed.first())?;
    Some(Split {
        model,
        helpers: allowed.without(model),
    })
}

/// Of the `allowed` CPUs, the one that has served the fewest device
/// interrupts (the numbered lines of Linux's `/proc/interrupts`, whose
/// header names a column per CPU); the lowest of those that tie. `None`
/// when the text names no allowed CPU.
pub fn quietest(allowed: CpuSet, interrupts: &str) -> Option<usize> {
    let mut lines = interrupts.lines();
    let cpus: Vec<Option<usize>> = lines
        .next()?
        .split_whitespace()
        .map(|c| c.strip_prefix("CPU").and_then(|n| n.parse().ok()))
        .collect();
    let mut served = vec![0u64; cpus.len()];
    for line in lines {
        let mut fields = line.split_whitespace();
        let device = fields
            .next()
            .and_then(|irq| irq.strip_suffix(':'))
            .is_some_and(|irq| irq.parse::<u64>().is_ok());
        if !device {
            continue;
        }
        for (n, count) in served.iter_mut().zip(fields) {
            *n += count.parse::<u64>().unwrap_or(0);
        }
    }
    cpus.iter()
        .zip(&served)
        .filter_map(|(cpu, &n)| cpu.filter(|&c| allowed.contains(c)).map(|c| (n, c)))
        .min()
        .map(|(_, c)| c)
}

/// The split in force, once [`dedicate_core`] made one.
static SPLIT: OnceLock<Split> = OnceLock::new();

/// On two usable cores, gives the calling thread (the model's: call it
/// from the thread that will run the simulation, before it starts any
/// helper) the quieter core, and notes the other for its helpers. Returns
/// the split, or `None` when nothing was pinned.
pub fn dedicate_core() -> Option<Split> {
    let allowed = sys::allowed()?;
    if allowed.count() != 2 {
        return None;
    }
    let interrupts = std::fs::read_to_string("/proc/interrupts").ok();
    let s = split(allowed, interrupts.and_then(|t| quietest(allowed, &t)))?;
    if !sys::set(CpuSet::EMPTY.with(s.model)) {
        return None;
    }
    Some(*SPLIT.get_or_init(|| s))
}

/// Called first thing by every helper thread: keeps it off the model's
/// core when [`dedicate_core`] made a split (else it runs anywhere).
pub fn helper_thread() {
    if let Some(s) = SPLIT.get() {
        sys::set(s.helpers);
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use super::CpuSet;
    use std::ffi::c_int;

    // glibc's affinity calls (`sched.h`); pid 0 is the calling thread.
    unsafe extern "C" {
        fn sched_getaffinity(pid: c_int, size: usize, mask: *mut u64) -> c_int;
        fn sched_setaffinity(pid: c_int, size: usize, mask: *const u64) -> c_int;
    }

    pub fn allowed() -> Option<CpuSet> {
        let mut set = CpuSet::EMPTY;
        // SAFETY: the kernel writes at most `size` bytes into the mask,
        // which has that many.
        let rc = unsafe { sched_getaffinity(0, std::mem::size_of_val(&set.0), set.0.as_mut_ptr()) };
        (rc == 0).then_some(set)
    }

    /// Restricts the calling thread to `set`; whether it took.
    pub fn set(set: CpuSet) -> bool {
        // SAFETY: the kernel reads `size` bytes from the mask.
        unsafe { sched_setaffinity(0, std::mem::size_of_val(&set.0), set.0.as_ptr()) == 0 }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::CpuSet;

    pub fn allowed() -> Option<CpuSet> {
        None
    }

    pub fn set(_: CpuSet) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cpus: &[usize]) -> CpuSet {
        cpus.iter().fold(CpuSet::EMPTY, |s, &c| s.with(c))
    }

    /// This machine's `/proc/interrupts`, shortened: the disk's requests
    /// are served on CPU1, so the model's thread goes to CPU0; the
    /// per-CPU lines (timer, rescheduling) do not count.
    const TWO_CORES: &str = "           CPU0       CPU1       
 31:          0      17532 PCI-MSIX-0000:00:01.0   3-edge      virtio0-stats
 32:      16116          0 PCI-MSIX-0000:00:01.0   4-edge      virtio0-reporting_vq
 36:          0    2199794 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
LOC:   98903436   11479039   Local timer interrupts
RES:     636761     483893   Rescheduling interrupts
";

    #[test]
    fn the_model_goes_to_the_core_with_fewer_device_interrupts() {
        assert_eq!(quietest(set(&[0, 1]), TWO_CORES), Some(0));
        let s = split(set(&[0, 1]), quietest(set(&[0, 1]), TWO_CORES)).unwrap();
        assert_eq!((s.model, s.helpers), (0, set(&[1])));
        // Only allowed CPUs are candidates, and ties go to the lowest.
        assert_eq!(quietest(set(&[1]), TWO_CORES), Some(1));
        let even = "  CPU2 CPU5\n 7:  10  10 x\nNMI: 0 99 y\n";
        assert_eq!(quietest(set(&[2, 5]), even), Some(2));
        assert_eq!(quietest(set(&[3]), even), None);
        assert_eq!(quietest(set(&[0, 1]), ""), None);
    }

    #[test]
    fn the_preferred_core_goes_to_the_model_and_helpers_get_the_rest() {
        let s = split(set(&[0, 1]), Some(1)).unwrap();
        assert_eq!((s.model, s.helpers), (1, set(&[0])));
        let s = split(set(&[2, 3, 70]), Some(70)).unwrap();
        assert_eq!((s.model, s.helpers), (70, set(&[2, 3])));
    }

    #[test]
    fn a_preferred_core_outside_the_allowed_set_is_not_taken() {
        let s = split(set(&[4, 5]), Some(0)).unwrap();
        assert_eq!((s.model, s.helpers), (4, set(&[5])));
        let s = split(set(&[4, 5]), None).unwrap();
        assert_eq!((s.model, s.helpers), (4, set(&[5])));
    }

    #[test]
    fn one_core_is_not_split() {
        assert_eq!(split(set(&[3]), Some(3)), None);
        assert_eq!(split(CpuSet::EMPTY, None), None);
    }

    #[test]
    fn sets_count_and_find_their_cpus() {
        let s = set(&[1, 64, 1023, 2000]);
        assert_eq!(s.count(), 3, "a CPU past the mask is not added");
        assert_eq!(s.first(), Some(1));
        assert!(s.contains(1023) && !s.contains(2) && !s.contains(5000));
        assert_eq!(s.without(1).first(), Some(64));
    }
}
