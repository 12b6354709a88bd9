//! Random draws made ahead of time, on a thread of their own.
//!
//! A distribution drawn from a stream that nothing else draws from gives
//! the same values in the same order whoever draws them and whenever: the
//! k-th draw depends on the seed, the stream's name and k alone. [`Ahead`]
//! hands clones of such (distribution, stream) pairs, its lanes, to a
//! helper thread, which fills buffers with each lane's next draws; the owner
//! reads them in order. The values and their order are those the owner
//! would have drawn itself, so outputs do not change; what leaves the
//! owner's thread is each draw's arithmetic (a log-normal draw's `ln`,
//! `sqrt` and `exp`, and the ChaCha blocks).
//!
//! Each lane has two buffers: the one being read, and the other, being
//! filled or ready (the first read asks for the second). When the one
//! being read is spent it goes back to be filled, and the other is read.
//! A buffer is asked for with the number of values wanted, which starts
//! at [`FIRST`] (a short run draws little) and doubles up to [`MOST`].
//!
//! If the helper thread cannot be started or stops, the owner draws the
//! values itself from its own copy of each stream, first skipping the
//! values it already read, so the run goes on with the same draws.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use rand_chacha::ChaCha8Rng;

use super::Time;
use super::dist::Prepared;

/// The first buffer's length.
const FIRST: usize = 64;
/// The longest buffer.
const MOST: usize = 4096;

/// One distribution and its stream, as the owner knows them.
struct Lane {
    /// The buffer being read, from `at`.
    vals: Vec<Time>,
    at: usize,
    /// The other buffer, when it came back filled before it was needed.
    ready: Option<Vec<Time>>,
    /// The length to ask for next.
    next_len: usize,
    /// Values in the buffers read to their end (with `at`, the values
    /// read, which the owner skips if it must draw itself).
    done: u64,
    dist: Prepared,
    /// The stream as it was when the lane was handed over.
    origin: ChaCha8Rng,
}

/// A buffer to fill: `len` draws of lane `lane`.
struct Fill {
    lane: usize,
    buf: Vec<Time>,
    len: usize,
}

/// Draws made ahead for a set of lanes (see the module's documentation).
pub struct Ahead {
    /// By lane index; `None` for an index not drawn ahead.
    lanes: Vec<Option<Lane>>,
    /// `None` once the owner draws itself.
    helper: Option<Helper>,
}

struct Helper {
    fills: Sender<Fill>,
    filled: Receiver<(usize, Vec<Time>)>,
    thread: JoinHandle<()>,
}

impl Ahead {
    /// Draws ahead for `draws`: each a lane index, its distribution and
    /// its stream, not drawn from again by the caller. Lanes not named
    /// are not served ([`Ahead::next`] answers `None` for them).
    pub fn start(draws: Vec<(usize, Prepared, ChaCha8Rng)>) -> Ahead {
        let count = draws.iter().map(|d| d.0 + 1).max().unwrap_or(0);
        let mut lanes: Vec<Option<Lane>> = (0..count).map(|_| None).collect();
        let mut theirs: Vec<Option<(Prepared, ChaCha8Rng)>> = (0..count).map(|_| None).collect();
        for (i, dist, stream) in draws {
            theirs[i] = Some((dist, stream.clone()));
            lanes[i] = Some(Lane {
                vals: Vec::new(),
                at: 0,
                ready: None,
                next_len: FIRST,
                done: 0,
                dist,
                origin: stream,
            });
        }
        let (fills, fills_rx) = channel::<Fill>();
        let (filled_tx, filled) = channel();
        let thread = if count == 0 {
            None
        } else {
            std::thread::Builder::new()
                .name("kubesim-draws".into())
                .spawn(move || {
                    crate::cores::helper_thread();
                    fill_loop(theirs, fills_rx, filled_tx)
                })
                .ok()
        };
        let mut ahead = Ahead {
            lanes,
            helper: thread.map(|thread| Helper {
                fills,
                filled,
                thread,
            }),
        };
        // Every lane's first buffer; its first read asks for the second.
        for i in 0..ahead.lanes.len() {
            ahead.ask(i, Vec::new());
        }
        ahead
    }

    /// Lane `i`'s next value, or `None` when lane `i` is not drawn ahead.
    #[inline]
    pub fn next(&mut self, i: usize) -> Option<Time> {
        let lane = self.lanes.get_mut(i)?.as_mut()?;
        if let Some(&v) = lane.vals.get(lane.at) {
            lane.at += 1;
            return Some(v);
        }
        Some(self.next_slow(i))
    }

    /// Asks for lane `i`'s next buffer, filled into `buf`.
    fn ask(&mut self, i: usize, buf: Vec<Time>) {
        let Some(lane) = &mut self.lanes[i] else {
            return;
        };
        let len = lane.next_len;
        lane.next_len = (len * 2).min(MOST);
        let sent = match &self.helper {
            Some(h) => h.fills.send(Fill { lane: i, buf, len }).is_ok(),
            None => false,
        };
        if !sent {
            self.draw_here();
        }
    }

    /// The current buffer of lane `i` is spent: it goes to be filled, and
    /// the other one is read.
    #[cold]
    #[inline(never)]
    fn next_slow(&mut self, i: usize) -> Time {
        let lane = self.lanes[i].as_mut().expect("the lane is served");
        if self.helper.is_none() {
            return self.draw_one(i);
        }
        let spent = std::mem::take(&mut lane.vals);
        lane.done += spent.len() as u64;
        lane.at = 0;
        let mut next = lane.ready.take();
        self.ask(i, spent);
        if self.helper.is_none() {
            // The helper is gone (`ask` could not reach it): the values
            // come from here on, the ready buffer's too.
            return self.draw_one(i);
        }
        while next.is_none() {
            let Some(h) = &self.helper else {
                return self.draw_one(i);
            };
            match h.filled.recv() {
                Ok((j, buf)) if j == i => next = Some(buf),
                Ok((j, buf)) => {
                    // A lane has one buffer besides the one being read.
                    if let Some(other) = &mut self.lanes[j] {
                        debug_assert!(other.ready.is_none());
                        other.ready = Some(buf);
                    }
                }
                Err(_) => {
                    self.draw_here();
                    return self.draw_one(i);
                }
            }
        }
        let lane = self.lanes[i].as_mut().expect("the lane is served");
        lane.vals = next.unwrap_or_default();
        lane.at = 0;
        match lane.vals.first() {
            Some(&v) => {
                lane.at = 1;
                v
            }
            // An empty buffer: the helper stopped mid-way.
            None => {
                self.draw_here();
                self.draw_one(i)
            }
        }
    }

    /// The helper is gone: every lane goes on from its own stream, past
    /// the values already read, and the buffers not yet read are dropped.
    #[cold]
    fn draw_here(&mut self) {
        if let Some(h) = self.helper.take() {
            drop(h.fills);
            let _ = h.thread.join();
        }
        for lane in self.lanes.iter_mut().flatten() {
            for _ in 0..lane.done + lane.at as u64 {
                lane.dist.sample(&mut lane.origin);
            }
            lane.vals = Vec::new();
            lane.at = 0;
            lane.done = 0;
            lane.ready = None;
        }
    }

    /// Lane `i`'s next value drawn here, once the helper is gone.
    fn draw_one(&mut self, i: usize) -> Time {
        let lane = self.lanes[i].as_mut().expect("the lane is served");
        lane.dist.sample(&mut lane.origin)
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(h) = self.helper.take() {
            drop(h.fills);
            let _ = h.thread.join();
        }
    }
}

/// The helper's loop: fills each buffer asked for, in the order asked.
fn fill_loop(
    mut lanes: Vec<Option<(Prepared, ChaCha8Rng)>>,
    fills: Receiver<Fill>,
    filled: Sender<(usize, Vec<Time>)>,
) {
    while let Ok(Fill { lane, mut buf, len }) = fills.recv() {
        let Some(Some((dist, stream))) = lanes.get_mut(lane) else {
            return;
        };
        buf.clear();
        buf.extend((0..len).map(|_| dist.sample(stream)));
        if filled.send((lane, buf)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dist::Dist;
    use crate::engine::{MILLISECOND, RngStreams};

    fn lanes() -> Vec<(usize, Prepared, ChaCha8Rng)> {
        let s = RngStreams::new(9);
        vec![
            (
                0,
                Dist::LogNormal {
                    median: MILLISECOND,
                    p99: 10 * MILLISECOND,
                }
                .prepare(),
                s.stream("a"),
            ),
            (
                2,
                Dist::Uniform { min: 0, max: 1000 }.prepare(),
                s.stream("b"),
            ),
        ]
    }

    /// Read in any interleaving, across many buffers, each lane gives the
    /// values its own stream gives drawn directly.
    #[test]
    fn values_are_the_direct_draws_in_order() {
        let mut direct: Vec<(Prepared, ChaCha8Rng)> =
            lanes().into_iter().map(|(_, d, s)| (d, s)).collect();
        let mut ahead = Ahead::start(lanes());
        assert!(ahead.lanes[0].is_some() && ahead.lanes[2].is_some());
        assert_eq!((ahead.next(1), ahead.next(3)), (None, None));
        for k in 0..40_000usize {
            let (lane, which) = if k % 7 < 2 { (2, 1) } else { (0, 0) };
            let (dist, stream) = &mut direct[which];
            assert_eq!(ahead.next(lane), Some(dist.sample(stream)), "draw {k}");
        }
    }

    /// A lane left unread while another is read through many buffers
    /// (whose waits receive the first lane's buffers) still gives its
    /// values in order.
    #[test]
    fn a_lane_read_late_keeps_its_order() {
        let mut direct: Vec<(Prepared, ChaCha8Rng)> =
            lanes().into_iter().map(|(_, d, s)| (d, s)).collect();
        let mut ahead = Ahead::start(lanes());
        let (dist, stream) = &mut direct[1];
        assert_eq!(ahead.next(2), Some(dist.sample(stream)));
        for _ in 0..20_000 {
            let (dist, stream) = &mut direct[0];
            assert_eq!(ahead.next(0), Some(dist.sample(stream)));
        }
        for k in 0..20_000 {
            let (dist, stream) = &mut direct[1];
            assert_eq!(ahead.next(2), Some(dist.sample(stream)), "draw {k}");
        }
    }

    /// The helper gone while a lane has a buffer ready and another lane
    /// is part read: both go on with the values they would have read.
    #[test]
    fn a_helper_lost_with_buffers_ready_changes_no_value() {
        let mut direct: Vec<(Prepared, ChaCha8Rng)> =
            lanes().into_iter().map(|(_, d, s)| (d, s)).collect();
        let mut ahead = Ahead::start(lanes());
        let mut check = |ahead: &mut Ahead, lane: usize, which: usize, n: usize| {
            for _ in 0..n {
                let (dist, stream) = &mut direct[which];
                assert_eq!(ahead.next(lane), Some(dist.sample(stream)));
            }
        };
        // Lane 0's first read asks for its second buffer, which arrives
        // while lane 2 waits for its own.
        check(&mut ahead, 0, 0, 1);
        check(&mut ahead, 2, 1, 10_000);
        assert!(ahead.lanes[0].as_ref().unwrap().ready.is_some());
        // The helper can no longer be asked (its channel is closed: it
        // ends), as if it had died.
        let (dead, _) = channel();
        ahead.helper.as_mut().unwrap().fills = dead;
        check(&mut ahead, 0, 0, 5_000);
        assert!(ahead.helper.is_none());
        check(&mut ahead, 2, 1, 5_000);
    }

    /// Without the helper, the owner skips what it read and goes on with
    /// the same values.
    #[test]
    fn the_owner_goes_on_alone_with_the_same_values() {
        let mut direct: Vec<(Prepared, ChaCha8Rng)> =
            lanes().into_iter().map(|(_, d, s)| (d, s)).collect();
        let mut ahead = Ahead::start(lanes());
        for _ in 0..5_000 {
            let (dist, stream) = &mut direct[0];
            assert_eq!(ahead.next(0), Some(dist.sample(stream)));
        }
        ahead.draw_here();
        assert!(ahead.helper.is_none());
        for _ in 0..5_000 {
            for (lane, which) in [(0, 0), (2, 1)] {
                let (dist, stream) = &mut direct[which];
                assert_eq!(ahead.next(lane), Some(dist.sample(stream)));
            }
        }
    }
}
