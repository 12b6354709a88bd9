//! Which cores a run's threads use. The model's thread sets the pace of a
//! run, and its helpers (kube-proxy's thread, the output writers, the
//! draws made ahead, the end-of-run counting) keep the other cores busy:
//! with more runnable threads than cores, the operating system moves the
//! model's thread around and lets helpers preempt it, and it loses its
//! caches each time. So the `kubesim` command (not the library, not a
//! test harness running simulations side by side) gives the model's
//! thread a core of its own ([`dedicate_core`]): the core it is running
//! on, taken out of the set its helpers may use ([`helper_thread`]).
//! churn-1h on two cores: about 6 to 8 % less wall time
//! (results/BENCHMARKS.md, twentieth pass).
//!
//! Linux only (`sched_setaffinity`); elsewhere, or with fewer than two
//! usable cores, or when the user asks for it (`--share-cores`), nothing is
//! pinned. Where threads run never changes what a run computes: outputs
//! are the same either way.

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

/// The split for a thread allowed on `allowed` and running on `current`
/// (when known): its own core, the one it runs on when that is allowed
/// (processes started side by side then tend to keep apart), else the
/// lowest allowed; `None` with fewer than two cores, when the helpers
/// would have none.
pub fn split(allowed: CpuSet, current: Option<usize>) -> Option<Split> {
    if allowed.count() < 2 {
        return None;
    }
    let model = current
        .filter(|&c| allowed.contains(c))
        .or_else(|| allowed.first())?;
    Some(Split {
        model,
        helpers: allowed.without(model),
    })
}

/// The split in force, once [`dedicate_core`] made one.
static SPLIT: OnceLock<Split> = OnceLock::new();

/// Gives the calling thread (the model's: call it from the thread that
/// will run the simulation, before it starts any helper) a core of its
/// own, and notes the other cores for its helpers. Returns the split, or
/// `None` when nothing was pinned.
pub fn dedicate_core() -> Option<Split> {
    let s = split(sys::allowed()?, sys::current())?;
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
        fn sched_getcpu() -> c_int;
    }

    pub fn allowed() -> Option<CpuSet> {
        let mut set = CpuSet::EMPTY;
        // SAFETY: the kernel writes at most `size` bytes into the mask,
        // which has that many.
        let rc = unsafe { sched_getaffinity(0, std::mem::size_of_val(&set.0), set.0.as_mut_ptr()) };
        (rc == 0).then_some(set)
    }

    pub fn current() -> Option<usize> {
        // SAFETY: no arguments; -1 on failure.
        let cpu = unsafe { sched_getcpu() };
        usize::try_from(cpu).ok()
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

    pub fn current() -> Option<usize> {
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

    #[test]
    fn the_model_keeps_the_core_it_runs_on_and_helpers_get_the_rest() {
        let s = split(set(&[0, 1]), Some(1)).unwrap();
        assert_eq!((s.model, s.helpers), (1, set(&[0])));
        let s = split(set(&[2, 3, 70]), Some(70)).unwrap();
        assert_eq!((s.model, s.helpers), (70, set(&[2, 3])));
    }

    #[test]
    fn a_current_core_outside_the_allowed_set_is_not_taken() {
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
