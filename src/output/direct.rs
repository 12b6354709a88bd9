//! A file written around the page cache (Linux's `O_DIRECT`), for the large
//! outputs (`events.csv` is hundreds of megabytes in the big scenarios).
//!
//! Written the ordinary way, every page of such a file is fresh page-cache
//! memory the kernel allocates and copies into. On virtual machines that
//! back guest memory lazily that costs the writer thread up to half a second
//! of system time per 250 MB, on the core kube-proxy's thread needs, and
//! made churn-1h's wall time vary by a third from run to run. Direct writes
//! go from the buffer to the device: no page cache, a few percent of the
//! system time.
//!
//! Direct writes must start at, and be a multiple of, the device's logical
//! block size, from memory aligned to it: bytes are staged in a buffer
//! aligned to [`ALIGN`] (4 KiB, a multiple of every usual block size) and
//! written in whole blocks. A flush writes the unaligned tail through a
//! second, ordinary handle on the same file and keeps it staged, so that
//! the next direct write rewrites its block in full. Where the file system
//! refuses `O_DIRECT` at open (tmpfs on older kernels), or a direct write
//! fails (`EINVAL` for a larger block size, say), that write and every one
//! after it go through the ordinary handle, whose errors are the ones
//! returned: the bytes in the file are the same either way. So it does when
//! direct writes turn out slow (under [`SLOWEST_BYTES_PER_SECOND`], timed
//! once [`PROBE`] bytes are written; smaller files are written directly
//! throughout): on a slow disk, waiting for the device would cost more
//! than the page cache does. That check reads the wall clock, on the
//! writer's thread: it decides how bytes reach the file, never what they
//! are, and the model never sees it. Only on Linux, on the architectures
//! whose `O_DIRECT` is known here (x86, x86-64, ARM, AArch64, RISC-V 64,
//! s390x); elsewhere on Unix the file is written the ordinary way, through
//! the same staging, and off Unix [`DirectFile`] is a plain file.

use std::fs::File;
#[cfg(unix)]
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

/// The alignment of direct writes' offsets, lengths and memory.
pub const ALIGN: usize = 4096;

/// How many bytes are staged before a direct write.
#[cfg_attr(not(unix), allow(dead_code))]
const CHUNK: usize = 1 << 20;

/// Direct writes slower than this, on average once [`PROBE`] bytes are
/// written, are given up for ordinary ones.
pub const SLOWEST_BYTES_PER_SECOND: u64 = 500_000_000;

/// How many bytes direct writes are timed over before they may be given up.
pub const PROBE: u64 = 8 << 20;

/// `O_DIRECT` on the Linux architectures that have the common value.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "riscv64",
        target_arch = "s390x"
    )
))]
const O_DIRECT: Option<i32> = Some(0o40000);
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: Option<i32> = Some(0o200000);
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "riscv64",
        target_arch = "s390x",
        target_arch = "aarch64",
        target_arch = "arm"
    )
)))]
#[cfg_attr(not(unix), allow(dead_code))]
const O_DIRECT: Option<i32> = None;

/// A file written with direct I/O where the system allows it (see the
/// module's documentation).
#[cfg(unix)]
pub struct DirectFile {
    /// The file opened with `O_DIRECT`, while direct writes work.
    direct: Option<File>,
    /// The file opened the ordinary way.
    plain: File,
    /// `ALIGN + CHUNK + ALIGN` bytes, of which `stage()` is the aligned part.
    mem: Vec<u8>,
    /// Where the aligned part starts in `mem`.
    start: usize,
    /// How many bytes are staged.
    len: usize,
    /// The file offset of the first staged byte (a multiple of [`ALIGN`]).
    at: u64,
    /// Bytes written directly so far, and the time their writes took.
    direct_bytes: u64,
    direct_time: std::time::Duration,
    /// [`SLOWEST_BYTES_PER_SECOND`] (another rate in tests).
    slowest: u64,
    /// Opened over what the file held ([`DirectFile::over`]): a flush
    /// also cuts the file to the bytes written.
    over: bool,
}

#[cfg(unix)]
impl DirectFile {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::open(path, true)
    }

    /// Opens the file at `path`, or creates it, to be written from its
    /// start over what it holds: its blocks are overwritten rather than
    /// freed and allocated again, and every flush cuts the file to the
    /// bytes written so far. For an earlier run's output renamed to `path`
    /// (see `sim::run`): on ext4, deleting churn-1h's 264 MB timeline
    /// before a re-run took 30 to 50 ms. Until the first flush the file
    /// holds the new bytes followed by what is left of the old ones: a run
    /// killed before its end leaves such a partial file, which is never
    /// renamed as complete (the next run writes over it in turn).
    pub fn over(path: &Path) -> io::Result<Self> {
        let mut f = Self::open(path, false)?;
        f.over = true;
        Ok(f)
    }

    fn open(path: &Path, truncate: bool) -> io::Result<Self> {
        let plain = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(path)?;
        let direct = O_DIRECT.and_then(|flag| {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .write(true)
                .custom_flags(flag)
                .open(path)
                .ok()
        });
        Ok(Self::with(plain, direct))
    }

    fn with(plain: File, direct: Option<File>) -> Self {
        let mem = vec![0u8; ALIGN + CHUNK + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        DirectFile {
            direct,
            plain,
            mem,
            start,
            len: 0,
            at: 0,
            direct_bytes: 0,
            direct_time: std::time::Duration::ZERO,
            slowest: SLOWEST_BYTES_PER_SECOND,
            over: false,
        }
    }

    /// Whether writes still go around the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// The staging area (aligned), `CHUNK + ALIGN` bytes.
    fn stage(&mut self) -> &mut [u8] {
        let start = self.start;
        &mut self.mem[start..start + CHUNK + ALIGN]
    }

    /// Writes `n` staged bytes from `bytes_at` at file offset `offset`
    /// (see [`DirectFile::put`]).
    fn write_at(&mut self, bytes_at: usize, n: usize, offset: u64) -> io::Result<()> {
        let start = self.start + bytes_at;
        let mem = std::mem::take(&mut self.mem);
        let result = self.put(&mem[start..start + n], offset);
        self.mem = mem;
        result
    }

    /// Writes `bytes` (aligned, and whole blocks while direct writes are
    /// on) at file offset `offset`: directly, or the ordinary way once
    /// direct writes are off. A direct write that fails, or that makes
    /// them too slow, turns them off; a failed one is made again the
    /// ordinary way.
    fn put(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let n = bytes.len();
        if let Some(direct) = &self.direct {
            let started = std::time::Instant::now();
            match direct.write_all_at(bytes, offset) {
                Ok(()) => {
                    self.direct_time += started.elapsed();
                    self.direct_bytes += n as u64;
                    if self.too_slow() {
                        self.direct = None;
                    }
                    return Ok(());
                }
                // The ordinary handle retries it, and reports what fails
                // there too (a full disk).
                Err(_) => self.direct = None,
            }
        }
        self.plain.write_all_at(bytes, offset)
    }

    /// Whether direct writes, timed over [`PROBE`] bytes at least, ran
    /// slower than `slowest` bytes per second.
    fn too_slow(&self) -> bool {
        self.direct_bytes >= PROBE
            && self.direct_time.as_nanos() * u128::from(self.slowest)
                > u128::from(self.direct_bytes) * 1_000_000_000
    }

    /// Writes the staged whole blocks and keeps the rest staged.
    fn write_blocks(&mut self) -> io::Result<()> {
        let whole = self.len / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        self.write_at(0, whole, self.at)?;
        let rest = self.len - whole;
        self.stage().copy_within(whole..whole + rest, 0);
        self.len = rest;
        self.at += whole as u64;
        Ok(())
    }
}

#[cfg(unix)]
impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len == 0 && data.len() >= ALIGN {
            // Nothing staged: whole blocks at an aligned address are
            // written from where they are (a `BackgroundWriter`'s
            // buffers), and any block or more once direct writes are off.
            let n = if self.direct.is_none() {
                data.len()
            } else if data.as_ptr().align_offset(ALIGN) == 0 {
                data.len() / ALIGN * ALIGN
            } else {
                0
            };
            if n > 0 {
                self.put(&data[..n], self.at)?;
                self.at += n as u64;
                return Ok(n);
            }
        }
        if self.len >= CHUNK {
            self.write_blocks()?;
        }
        let len = self.len;
        let n = data.len().min(CHUNK + ALIGN - len);
        self.stage()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    /// Writes everything staged: the whole blocks directly, the tail the
    /// ordinary way (it stays staged for the next direct write).
    fn flush(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.write_blocks()?;
        if self.len > 0 {
            let (start, len, at) = (self.start, self.len, self.at);
            self.plain.write_all_at(&self.mem[start..start + len], at)?;
            if self.direct.is_none() {
                // Written for good: nothing is rewritten the ordinary way.
                self.at += len as u64;
                self.len = 0;
            }
        }
        if self.over {
            // What the file held past the bytes written goes.
            self.plain.set_len(self.at + self.len as u64)?;
        }
        Ok(())
    }
}

#[cfg(unix)]
impl Drop for DirectFile {
    /// Writes what is staged (its error is lost, as with a `BufWriter`:
    /// flush first to see it).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Off Unix: a plain file.
#[cfg(not(unix))]
pub struct DirectFile(File);

#[cfg(not(unix))]
impl DirectFile {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        File::create(path).map(DirectFile)
    }

    /// As [`DirectFile::create`]: off Unix a file is not written over.
    pub fn over(path: &Path) -> io::Result<Self> {
        Self::create(path)
    }

    /// Never: writes go through the page cache.
    pub fn is_direct(&self) -> bool {
        false
    }
}

#[cfg(not(unix))]
impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A scratch directory of one test, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("kubesim-direct-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str) -> std::path::PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// `bytes` copied into memory where they start `off` bytes past an
    /// aligned address: the memory, and where they start in it.
    fn placed(bytes: &[u8], off: usize) -> (Vec<u8>, usize) {
        let mut mem = vec![0u8; bytes.len() + 2 * ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN) + off;
        mem[start..start + bytes.len()].copy_from_slice(bytes);
        (mem, start)
    }

    /// Pieces of sizes around the block and chunk sizes, with flushes
    /// between some of them, every other one from an aligned address
    /// (written from where it is when nothing is staged) and the others
    /// from one off the alignment (staged): the file holds every byte in
    /// order, whether written directly or not.
    fn write_pieces(mut f: DirectFile, path: &Path) {
        let was_direct = f.is_direct();
        let sizes = [
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            7,
            CHUNK - 3,
            CHUNK,
            CHUNK + ALIGN + 5,
            2 * CHUNK + 1,
            0,
            13,
            CHUNK,
            ALIGN,
        ];
        let mut want = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let piece: Vec<u8> = (0..n).map(|j| (i * 31 + j * 7) as u8).collect();
            let (mem, start) = placed(&piece, i % 2);
            f.write_all(&mem[start..start + n]).unwrap();
            want.extend_from_slice(&piece);
            if i % 3 == 1 {
                f.flush().unwrap();
                assert_eq!(std::fs::read(path).unwrap(), want, "after piece {i}");
            }
        }
        f.flush().unwrap();
        // Every direct write was accepted: none fell back for alignment.
        assert_eq!(f.is_direct(), was_direct);
        drop(f);
        assert_eq!(std::fs::read(path).unwrap(), want);
    }

    #[test]
    fn bytes_arrive_in_order_with_direct_writes_where_allowed() {
        let dir = Scratch::new("direct");
        let path = dir.file("direct.csv");
        let f = DirectFile::create(&path).unwrap();
        write_pieces(f, &path);
    }

    #[test]
    fn bytes_arrive_in_order_the_ordinary_way() {
        let dir = Scratch::new("plain");
        let path = dir.file("plain.csv");
        let f = DirectFile::with(File::create(&path).unwrap(), None);
        assert!(!f.is_direct());
        write_pieces(f, &path);
    }

    /// Written over a file longer than what is written, a shorter one and
    /// an empty one, a file holds the bytes written and nothing of what it
    /// held, after every flush.
    #[test]
    fn a_file_written_over_holds_only_the_new_bytes() {
        let dir = Scratch::new("over");
        for (name, old_len) in [("longer", 6 * CHUNK + 999), ("shorter", 100), ("empty", 0)] {
            let path = dir.file(name);
            std::fs::write(&path, vec![b'x'; old_len]).unwrap();
            let f = DirectFile::over(&path).unwrap();
            write_pieces(f, &path);
        }
        // Nothing written: the flush cuts the file to nothing.
        let path = dir.file("nothing");
        std::fs::write(&path, b"an earlier run's bytes").unwrap();
        let mut f = DirectFile::over(&path).unwrap();
        f.flush().unwrap();
        assert!(std::fs::read(&path).unwrap().is_empty());
        // A file that is not there is created.
        let path = dir.file("new");
        let f = DirectFile::over(&path).unwrap();
        write_pieces(f, &path);
    }

    /// Direct writes slower than the floor are given up after the probe:
    /// the rest is written the ordinary way, the bytes the same.
    #[test]
    fn slow_direct_writes_are_given_up() {
        let dir = Scratch::new("slow");
        let path = dir.file("slow.csv");
        let mut f = DirectFile::create(&path).unwrap();
        if !f.is_direct() {
            return; // Nothing to give up on this file system.
        }
        f.slowest = u64::MAX; // Every write is too slow.
        let piece: Vec<u8> = (0..PROBE as usize + 3 * CHUNK + 17)
            .map(|j| j as u8)
            .collect();
        f.write_all(&piece[..PROBE as usize / 2]).unwrap();
        f.flush().unwrap();
        assert!(f.is_direct(), "not before the probe");
        f.write_all(&piece[PROBE as usize / 2..]).unwrap();
        f.flush().unwrap();
        assert!(!f.is_direct(), "given up after the probe");
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), piece);
    }

    /// A direct write the file system refuses (here: from memory one byte
    /// off the alignment, which ext4 and most others refuse) is made the
    /// ordinary way, and so is every write after it.
    #[test]
    fn a_refused_direct_write_is_made_the_ordinary_way() {
        let dir = Scratch::new("refused");
        let path = dir.file("refused.csv");
        let mut f = DirectFile::create(&path).unwrap();
        f.start += 1;
        let piece: Vec<u8> = (0..3 * CHUNK + 5).map(|j| (j * 13) as u8).collect();
        // From memory off the alignment: staged, not written from there.
        let (mem, start) = placed(&piece, 1);
        f.write_all(&mem[start..start + piece.len()]).unwrap();
        f.flush().unwrap();
        // (tmpfs takes unaligned direct writes: there nothing is refused,
        // and the file must be right all the same.)
        f.write_all(b"after").unwrap();
        drop(f);
        let mut want = piece;
        want.extend_from_slice(b"after");
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    /// A write that fails the ordinary way too is an error, never a panic.
    #[test]
    fn a_failed_write_is_an_error() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return; // No such device here.
        }
        let mut f = DirectFile::create(full).unwrap();
        let piece = vec![7u8; 2 * CHUNK];
        let result = f.write_all(&piece).and_then(|()| f.flush());
        assert!(result.is_err());
        drop(f);
    }

    #[test]
    fn the_stage_is_aligned() {
        let dir = Scratch::new("aligned");
        let mut f = DirectFile::with(File::create(dir.file("aligned.csv")).unwrap(), None);
        assert_eq!(f.stage().as_ptr() as usize % ALIGN, 0);
        assert_eq!(f.stage().len(), CHUNK + ALIGN);
    }
}
