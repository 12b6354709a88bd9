//! A `Write` that hands its bytes to a thread of its own, for the large
//! outputs (`events.csv`, `nodes.csv`, `scheduling.csv`): the simulation's
//! thread only copies bytes into a buffer, and the writes (into a
//! [`super::DirectFile`] in a run, around the page cache where the system
//! allows it) run on the writer thread beside it. I/O only: the model never
//! sees the thread.
//!
//! Full buffers go to the thread through a bounded channel and come back
//! emptied, to be filled again (fresh memory would cost a page fault per
//! page), so that at most [`BUFFERS`] buffers exist per writer. Each
//! buffer's bytes start at an address aligned to [`super::direct::ALIGN`],
//! so that a [`super::DirectFile`] writes a whole buffer straight from it,
//! without copying it first into its own aligned memory. The first
//! error of the thread (a write or a flush of the inner writer) is
//! returned by the next write or flush after the thread reports it, at the
//! latest by [`Write::flush`], which waits until the thread has written and
//! flushed everything handed to it; every write and flush after an error
//! fails too. A thread that has died is an error, never a panic.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use super::direct::ALIGN;

/// The size of a buffer handed to the thread.
pub const BUFFER: usize = 1 << 20;

/// The most buffers of a writer in existence at once (filling, queued,
/// being written, or emptied and waiting to be filled again).
pub const BUFFERS: usize = 4;

/// A buffer: its bytes are `mem[start..]`, and `mem[..start]` is padding
/// that puts them at an aligned address.
struct Buffer {
    mem: Vec<u8>,
    start: usize,
}

impl Buffer {
    /// An empty buffer with room for `size` bytes at an aligned address.
    fn new(size: usize) -> Buffer {
        let mut mem: Vec<u8> = Vec::with_capacity(size + ALIGN);
        let start = mem.as_ptr().align_offset(ALIGN).min(ALIGN);
        mem.resize(start, 0);
        Buffer { mem, start }
    }

    fn len(&self) -> usize {
        self.mem.len() - self.start
    }

    fn bytes(&self) -> &[u8] {
        &self.mem[self.start..]
    }

    fn clear(&mut self) {
        self.mem.truncate(self.start);
    }
}

/// To the thread.
enum Job {
    Write(Buffer),
    Flush,
}

/// From the thread, in the order of the jobs.
enum Done {
    /// A buffer written (or dropped after an error), emptied.
    Empty(Buffer),
    /// The thread's first error; it writes nothing after it.
    Failed(io::Error),
    /// Everything before the flush job is written and the inner writer
    /// flushed (or an error was reported before this).
    Flushed,
}

/// A writer whose bytes are written to an inner writer by a thread of its
/// own (see the module's documentation).
pub struct BackgroundWriter {
    /// The buffer being filled (`None` until the first write after a
    /// hand-over).
    buf: Option<Buffer>,
    /// A buffer is handed over when it holds this many bytes.
    size: usize,
    /// The most buffers allocated.
    max_buffers: usize,
    /// The buffers allocated so far.
    buffers: usize,
    /// Emptied buffers back from the thread.
    spare: Vec<Buffer>,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// The first error, until a write or flush returns it.
    error: Option<io::Error>,
    /// What the first error was, kept for the writes and flushes after it.
    failed: Option<(io::ErrorKind, String)>,
}

impl BackgroundWriter {
    /// A writer of [`BUFFERS`] buffers of [`BUFFER`] bytes at most, whose
    /// thread writes into `inner`.
    pub fn new<W: Write + Send + 'static>(inner: W) -> io::Result<Self> {
        Self::with_buffers(inner, BUFFER, BUFFERS)
    }

    /// A writer of `count` (at least 2) buffers of `size` (at least 1)
    /// bytes at most.
    pub fn with_buffers<W: Write + Send + 'static>(
        inner: W,
        size: usize,
        count: usize,
    ) -> io::Result<Self> {
        let (size, count) = (size.max(1), count.max(2));
        let (jobs, jobs_rx) = mpsc::sync_channel(count);
        let (done_tx, done) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("kubesim-writer".into())
            .spawn(move || {
                crate::cores::helper_thread();
                write_jobs(inner, jobs_rx, done_tx)
            })?;
        Ok(BackgroundWriter {
            buf: None,
            size,
            max_buffers: count,
            buffers: 0,
            spare: Vec::new(),
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            error: None,
            failed: None,
        })
    }

    /// Notes an error; the first one is kept.
    fn fail(&mut self, e: io::Error) {
        if self.failed.is_none() {
            self.failed = Some((e.kind(), e.to_string()));
            self.error = Some(e);
        }
    }

    /// Fails if an error is known: the first error itself the first time,
    /// then one of the same kind and text.
    fn check(&mut self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some((kind, text)) => Err(self.error.take().unwrap_or_else(|| {
                io::Error::new(*kind, format!("{text} (an earlier write failed)"))
            })),
        }
    }

    fn stopped(&mut self) {
        self.fail(io::Error::other("the output writer thread stopped"));
    }

    /// Takes in one report of the thread.
    fn take(&mut self, d: Done) {
        match d {
            Done::Empty(b) => self.spare.push(b),
            Done::Failed(e) => self.fail(e),
            Done::Flushed => {}
        }
    }

    /// A buffer to fill: an emptied one, a new one while fewer than the
    /// most exist, or else the next one the thread empties.
    fn next_buffer(&mut self) -> io::Result<()> {
        while let Ok(d) = self.done.try_recv() {
            self.take(d);
        }
        self.check()?;
        if let Some(b) = self.spare.pop() {
            self.buf = Some(b);
            return Ok(());
        }
        if self.buffers < self.max_buffers {
            self.buffers += 1;
            self.buf = Some(Buffer::new(self.size));
            return Ok(());
        }
        loop {
            match self.done.recv() {
                Ok(Done::Empty(b)) => {
                    self.buf = Some(b);
                    return Ok(());
                }
                Ok(d) => {
                    self.take(d);
                    self.check()?;
                }
                Err(_) => {
                    self.stopped();
                    return self.check();
                }
            }
        }
    }

    /// Sends a job to the thread (a thread that is gone is noted as the
    /// error).
    fn send(&mut self, job: Job) {
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            self.stopped();
        }
    }

    /// Hands the buffer being filled, if any, to the thread.
    fn hand_over(&mut self) {
        if let Some(full) = self.buf.take() {
            self.send(Job::Write(full));
        }
    }

    /// Whether bytes wait in the buffer being filled.
    fn holds_bytes(&self) -> bool {
        self.buf.as_ref().is_some_and(|b| b.len() > 0)
    }
}

impl Write for BackgroundWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.is_none() {
            self.next_buffer()?;
        }
        let Some(buf) = &mut self.buf else {
            return Ok(0);
        };
        let n = data.len().min(self.size - buf.len());
        buf.mem.extend_from_slice(&data[..n]);
        if buf.len() == self.size {
            // An error here is returned by the next write or flush.
            self.hand_over();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        if self.holds_bytes() {
            self.hand_over();
        }
        self.send(Job::Flush);
        self.check()?;
        loop {
            match self.done.recv() {
                Ok(Done::Flushed) => return self.check(),
                Ok(d) => self.take(d),
                Err(_) => {
                    self.stopped();
                    return self.check();
                }
            }
        }
    }
}

impl Drop for BackgroundWriter {
    /// Hands over what is left (its errors are lost, as with a
    /// `BufWriter`: flush first to see them) and waits for the thread.
    fn drop(&mut self) {
        if self.failed.is_none() && self.holds_bytes() {
            self.hand_over();
        }
        // The thread ends when the channel closes, after the jobs queued.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread: writes each buffer into `inner` and sends it back emptied;
/// after the first error it writes nothing more.
fn write_jobs<W: Write>(mut inner: W, jobs: Receiver<Job>, done: mpsc::Sender<Done>) {
    let mut failed = false;
    for job in jobs {
        match job {
            Job::Write(mut b) => {
                if !failed && let Err(e) = inner.write_all(b.bytes()) {
                    failed = true;
                    let _ = done.send(Done::Failed(e));
                }
                b.clear();
                let _ = done.send(Done::Empty(b));
            }
            Job::Flush => {
                if !failed && let Err(e) = inner.flush() {
                    failed = true;
                    let _ = done.send(Done::Failed(e));
                }
                let _ = done.send(Done::Flushed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes stay readable after the thread owns it; it
    /// fails writes past `limit` bytes, and its flush when told to.
    #[derive(Clone, Default)]
    struct Target {
        bytes: Arc<Mutex<Vec<u8>>>,
        limit: Option<usize>,
        fail_flush: bool,
    }

    impl Write for Target {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            let room = self.limit.map_or(b.len(), |l| l - bytes.len());
            if room == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "test disk full"));
            }
            let n = b.len().min(room);
            bytes.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            if self.fail_flush {
                return Err(io::Error::other("test flush failed"));
            }
            Ok(())
        }
    }

    /// Rows of sizes that straddle the buffers' size, some empty.
    fn rows(size: usize) -> Vec<Vec<u8>> {
        (0..400usize)
            .map(|i| {
                let len = match i % 7 {
                    0 => 0,
                    1 => size - 1,
                    2 => size,
                    3 => size + 1,
                    4 => 3 * size + 5,
                    _ => i % 13 + 1,
                };
                (0..len).map(|j| (i * 31 + j) as u8).collect()
            })
            .collect()
    }

    #[test]
    fn bytes_arrive_in_order_across_buffers() {
        for (size, count) in [(1, 2), (7, 2), (64, 3), (4096, 4)] {
            let target = Target::default();
            let mut direct = Vec::new();
            let mut w = BackgroundWriter::with_buffers(target.clone(), size, count).unwrap();
            for (i, row) in rows(size).iter().enumerate() {
                w.write_all(row).unwrap();
                direct.extend_from_slice(row);
                if i % 97 == 0 {
                    w.flush().unwrap();
                    assert_eq!(
                        *target.bytes.lock().unwrap(),
                        direct,
                        "flushed, size {size}"
                    );
                }
            }
            w.flush().unwrap();
            assert_eq!(*target.bytes.lock().unwrap(), direct, "size {size}");
            // What is written after the last flush arrives when it drops.
            w.write_all(b"tail").unwrap();
            direct.extend_from_slice(b"tail");
            drop(w);
            assert_eq!(
                *target.bytes.lock().unwrap(),
                direct,
                "dropped, size {size}"
            );
        }
    }

    #[test]
    fn a_failed_write_is_returned_and_sticks() {
        let target = Target {
            limit: Some(1000),
            ..Target::default()
        };
        let mut w = BackgroundWriter::with_buffers(target.clone(), 64, 2).unwrap();
        // The error may come back from a write already, or from the flush.
        let mut result = Ok(());
        for row in rows(64) {
            result = w.write_all(&row);
            if result.is_err() {
                break;
            }
        }
        let e = result.and_then(|()| w.flush()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WriteZero);
        assert!(e.to_string().contains("test disk full"), "{e}");
        let later = w.write_all(b"more").unwrap_err();
        assert_eq!(later.kind(), io::ErrorKind::WriteZero);
        assert!(later.to_string().contains("test disk full"), "{later}");
        assert!(w.flush().is_err());
        assert_eq!(target.bytes.lock().unwrap().len(), 1000);
        drop(w);
    }

    #[test]
    fn a_failed_flush_is_returned() {
        let target = Target {
            fail_flush: true,
            ..Target::default()
        };
        let mut w = BackgroundWriter::with_buffers(target.clone(), 16, 2).unwrap();
        w.write_all(b"some bytes, more than one buffer of them")
            .unwrap();
        let e = w.flush().unwrap_err();
        assert!(e.to_string().contains("test flush failed"), "{e}");
        assert_eq!(
            *target.bytes.lock().unwrap(),
            b"some bytes, more than one buffer of them"
        );
        assert!(w.write_all(b"x").is_err());
        assert!(w.flush().is_err());
    }

    /// Records how far off the alignment each write's bytes start.
    #[derive(Clone, Default)]
    struct Offsets(Arc<Mutex<Vec<usize>>>);

    impl Write for Offsets {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(b.as_ptr() as usize % ALIGN);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every buffer reaches the inner writer from an aligned address (a
    /// `DirectFile` writes it from there), the last, partial one too.
    #[test]
    fn buffers_are_aligned() {
        let offsets = Offsets::default();
        let mut w = BackgroundWriter::with_buffers(offsets.clone(), 2 * ALIGN, 3).unwrap();
        for row in rows(2 * ALIGN) {
            w.write_all(&row).unwrap();
        }
        w.flush().unwrap();
        let seen = offsets.0.lock().unwrap();
        assert!(seen.len() > 10, "{} writes", seen.len());
        assert!(seen.iter().all(|&off| off == 0), "{seen:?}");
    }

    /// A writer that panics: the thread dies.
    struct Panics;
    impl Write for Panics {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            panic!("test writer panics");
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_dead_thread_is_an_error() {
        let mut w = BackgroundWriter::with_buffers(Panics, 8, 2).unwrap();
        let mut result = Ok(());
        for _ in 0..10 {
            result = w.write_all(b"0123456789");
            if result.is_err() {
                break;
            }
        }
        let e = result.and_then(|()| w.flush()).unwrap_err();
        assert!(e.to_string().contains("thread stopped"), "{e}");
        assert!(w.write_all(b"x").is_err());
        drop(w);
    }
}
