//! The main model's timeline rows as a log of their parts, formatted on
//! another thread.
//!
//! When kube-proxy runs on a thread of its own (`proxy::link`), the main
//! model's timeline rows go to that thread anyway, to be merged there with
//! the group's. So the main model does not format them: it copies each
//! row's parts (time, sequence number, kind, texts, the detail's texts and
//! numbers) into a [`RowLog`], a byte buffer handed over with the batch,
//! and the thread writes each logged row with the same [`RowWriter`] calls
//! a row written directly makes ([`RowLog::write_into`]), so the bytes are
//! the same. The main model's share of the timeline is then copies of
//! short texts; the digits, the quoting checks and the CSV bytes are made
//! on the second core.
//!
//! A record, in the buffer (numbers little-endian; a text is its length
//! as a `u32`, then its bytes):
//!
//! - the time (`u64`), the sequence number (`u64`), the kind's index (a
//!   byte, [`NO_KIND`] for none) and the detail's shape (a byte);
//! - for [`SHAPE_ROW`], one text: the whole row, already in CSV form (the
//!   rare rows of a shape not logged by parts);
//! - else the namespace, the name and the node (three texts), then for [`SHAPE_TEXT`] the detail (a text), for
//!   [`SHAPE_PARTS`] the number of parts (`u32`) and per part a tag byte
//!   and a text or a `u64`.
//!
//! A record's component and action, texts of the program (`&'static
//! str`), are not copied: they go, in the records' order, into a list of
//! references beside the buffer, two per record but a whole row's, which
//! the reader takes in turn.

use std::io::Write;

use super::rows::{Part, RowWriter, copy_at};
use crate::api::Kind;
use crate::engine::Time;

/// The kind byte of a row about no object.
const NO_KIND: u8 = u8::MAX;

/// The detail is one text.
const SHAPE_TEXT: u8 = 0;
/// The detail is text and number parts ([`RowWriter::field_parts`]).
const SHAPE_PARTS: u8 = 1;
/// The record is a whole row in CSV form.
const SHAPE_ROW: u8 = 2;

const PART_TEXT: u8 = 0;
const PART_NUM: u8 = 1;
const PART_INT: u8 = 2;
const PART_SECONDS: u8 = 3;

/// Room kept past what is written, so that a short copy can store whole
/// words (as in [`RowWriter`]).
const SLACK: usize = 16;

/// The buffer's first size: a batch's rows (see `proxy::link::BATCH`)
/// take some hundreds of kilobytes.
const FIRST: usize = 256 << 10;

/// A row's detail, as logged.
pub enum Detail<'a> {
    Text(&'a [u8]),
    Parts(&'a [Part<'a>]),
}

/// Timeline rows logged by their parts (see the module's documentation).
#[derive(Default)]
pub struct RowLog {
    /// The records are `buf[..len]`; the rest is zeroed room.
    buf: Vec<u8>,
    len: usize,
    /// Each record's component and action, in order (none for a whole
    /// row).
    statics: Vec<&'static str>,
}

impl RowLog {
    /// How many rows are logged (by writing them: for tests).
    #[cfg(test)]
    pub fn rows(&self) -> usize {
        let mut w = RowWriter::new(std::io::sink());
        w.hold();
        self.write_into(&mut w);
        w.take_held().marks.len()
    }

    /// Forgets the rows, keeping the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.statics.clear();
    }

    /// Makes room for `n` more bytes and the slack.
    #[inline(always)]
    fn reserve(&mut self, n: usize) {
        if self.len + n + SLACK > self.buf.len() {
            self.grow(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let size = (self.buf.len() * 2).max(FIRST).max(self.len + n + SLACK);
        self.buf.resize(size, 0);
    }

    /// Logs a row: its time, sequence number, kind, its component and
    /// action, its namespace, name and node, and its detail.
    #[inline]
    pub fn push(
        &mut self,
        t: Time,
        seq: u64,
        kind: Option<Kind>,
        component_action: [&'static str; 2],
        texts: [&[u8]; 3],
        detail: Detail<'_>,
    ) {
        self.statics.extend(component_action);
        let detail_room = match &detail {
            Detail::Text(d) => 4 + d.len(),
            Detail::Parts(parts) => {
                4 + parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(s) => 5 + s.len(),
                        Part::Bytes(s) => 5 + s.len(),
                        _ => 9,
                    })
                    .sum::<usize>()
            }
        };
        let room = 18 + 12 + texts.iter().map(|s| s.len()).sum::<usize>() + detail_room;
        self.reserve(room);
        let shape = match detail {
            Detail::Text(_) => SHAPE_TEXT,
            Detail::Parts(_) => SHAPE_PARTS,
        };
        let kind = kind.map_or(NO_KIND, |k| k.index() as u8);
        let buf = &mut self.buf[..];
        let mut at = put_start(buf, self.len, t, seq, kind, shape);
        for s in texts {
            at = put_text(buf, at, s);
        }
        match detail {
            Detail::Text(d) => at = put_text(buf, at, d),
            Detail::Parts(parts) => {
                buf[at..at + 4].copy_from_slice(&(parts.len() as u32).to_le_bytes());
                at += 4;
                for p in parts {
                    let (tag, n) = match *p {
                        Part::Text(s) => {
                            buf[at] = PART_TEXT;
                            at = put_text(buf, at + 1, s.as_bytes());
                            continue;
                        }
                        Part::Bytes(s) => {
                            buf[at] = PART_TEXT;
                            at = put_text(buf, at + 1, s);
                            continue;
                        }
                        Part::Num(n) => (PART_NUM, n),
                        Part::Int(n) => (PART_INT, n as u64),
                        Part::Seconds(n) => (PART_SECONDS, n),
                    };
                    buf[at] = tag;
                    buf[at + 1..at + 9].copy_from_slice(&n.to_le_bytes());
                    at += 9;
                }
            }
        }
        self.len = at;
    }

    /// Logs a whole row already in CSV form (its end of line included),
    /// at time `t`.
    pub fn push_row(&mut self, t: Time, row: &[u8]) {
        self.reserve(18 + 4 + row.len());
        let buf = &mut self.buf[..];
        let at = put_start(buf, self.len, t, 0, NO_KIND, SHAPE_ROW);
        self.len = put_text(buf, at, row);
    }

    /// Writes the logged rows into `w`, in their order, each with the
    /// calls that write it directly.
    pub fn write_into<W: Write>(&self, w: &mut RowWriter<W>) {
        let mut r = Reader {
            buf: &self.buf[..self.len],
            at: 0,
        };
        let mut statics = self.statics.iter();
        let mut parts = Vec::new();
        while r.at < r.buf.len() {
            let t = r.u64();
            let seq = r.u64();
            let kind = r.byte();
            let shape = r.byte();
            if shape == SHAPE_ROW {
                w.whole_row(t, r.text());
                continue;
            }
            let kind = match kind {
                NO_KIND => "",
                k => Kind::ALL[usize::from(k)].as_str(),
            };
            let (component, action) = match (statics.next(), statics.next()) {
                (Some(c), Some(a)) => (c.as_bytes(), a.as_bytes()),
                _ => unreachable!("a record's component and action are logged with it"),
            };
            let (namespace, name, node) = (r.text(), r.text(), r.text());
            w.row_head(
                t,
                seq,
                [component, action, kind.as_bytes(), namespace, name, node],
            );
            if shape == SHAPE_TEXT {
                w.field(r.text());
            } else {
                parts.clear();
                let n = r.u32();
                for _ in 0..n {
                    parts.push(match r.byte() {
                        PART_TEXT => Part::Bytes(r.text()),
                        PART_NUM => Part::Num(r.u64()),
                        PART_INT => Part::Int(r.u64() as i64),
                        _ => Part::Seconds(r.u64()),
                    });
                }
                w.field_parts(&parts);
            }
            w.end_row();
        }
    }
}

/// Writes a record's start at `buf[at..]`; returns where it ends.
#[inline(always)]
fn put_start(buf: &mut [u8], at: usize, t: Time, seq: u64, kind: u8, shape: u8) -> usize {
    buf[at..at + 8].copy_from_slice(&t.to_le_bytes());
    buf[at + 8..at + 16].copy_from_slice(&seq.to_le_bytes());
    buf[at + 16] = kind;
    buf[at + 17] = shape;
    at + 18
}

/// Writes a text (its length, then its bytes) at `buf[at..]`, which has
/// room for it and eight bytes more; returns where it ends.
#[inline(always)]
fn put_text(buf: &mut [u8], at: usize, s: &[u8]) -> usize {
    buf[at..at + 4].copy_from_slice(&(s.len() as u32).to_le_bytes());
    copy_at(buf, at + 4, s);
    at + 4 + s.len()
}

/// Reads records back.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        self.at += 1;
        self.buf[self.at - 1]
    }

    fn u32(&mut self) -> u32 {
        let b = &self.buf[self.at..self.at + 4];
        self.at += 4;
        u32::from_le_bytes(b.try_into().expect("4 bytes"))
    }

    fn u64(&mut self) -> u64 {
        let b = &self.buf[self.at..self.at + 8];
        self.at += 8;
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }

    fn text(&mut self) -> &'a [u8] {
        let n = self.u32() as usize;
        self.at += n;
        &self.buf[self.at - n..self.at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::rows::tests::Shared;

    /// Every shape of row, with texts that need quotes and texts long and
    /// short, logged and written back, gives the bytes of the rows written
    /// directly.
    #[test]
    fn logged_rows_write_the_bytes_of_direct_rows() {
        let long = "a-name-longer-than-thirty-two-bytes-for-the-word-loop".repeat(3);
        let names = ["", "a", "web-7f9c", "quoted,name", "say \"hi\"", &long];
        let direct_out = Shared::default();
        let mut direct = RowWriter::new(direct_out.clone());
        let mut log = RowLog::default();
        let mut row = 0u64;
        for (i, name) in names.iter().enumerate() {
            for kind in [None, Some(Kind::Pod), Some(Kind::PriorityClass)] {
                let t = row * 1_234_567 + 999;
                // A component and an action that need quotes, too.
                let (component, action) = if i % 2 == 0 {
                    ("kube-scheduler", "bind")
                } else {
                    ("kube,odd", "say \"x\"")
                };
                let texts = [
                    name.as_bytes(),
                    names[(i + 1) % names.len()].as_bytes(),
                    b"node-17".as_slice(),
                ];
                let kind_s = kind.map_or("", Kind::as_str).as_bytes();
                let head = [
                    component.as_bytes(),
                    action.as_bytes(),
                    kind_s,
                    texts[0],
                    texts[1],
                    texts[2],
                ];
                // A text detail.
                direct.row_head(t, row, head);
                direct.field(name.as_bytes());
                direct.end_row();
                log.push(
                    t,
                    row,
                    kind,
                    [component, action],
                    texts,
                    Detail::Text(name.as_bytes()),
                );
                // A detail of parts.
                let parts = [
                    Part::Text("took "),
                    Part::Seconds(t),
                    Part::Text(name),
                    Part::Bytes(b", bytes"),
                    Part::Num(row),
                    Part::Int(-(row as i64)),
                ];
                direct.row_head(t, row + 1, head);
                direct.field_parts(&parts);
                direct.end_row();
                log.push(
                    t,
                    row + 1,
                    kind,
                    [component, action],
                    texts,
                    Detail::Parts(&parts),
                );
                // A whole row.
                let whole = format!("{row},whole,{i}\n");
                direct.whole_row(t, whole.as_bytes());
                log.push_row(t, whole.as_bytes());
                row += 2;
            }
        }
        direct.flush().unwrap();
        assert_eq!(log.rows(), names.len() * 3 * 3);
        let logged_out = Shared::default();
        let mut logged = RowWriter::new(logged_out.clone());
        log.write_into(&mut logged);
        logged.flush().unwrap();
        let (a, b) = (direct_out.bytes(), logged_out.bytes());
        assert!(!a.is_empty());
        assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
        // Cleared, the log writes nothing and keeps its room.
        log.clear();
        assert_eq!(log.rows(), 0);
        let empty_out = Shared::default();
        let mut empty = RowWriter::new(empty_out.clone());
        log.write_into(&mut empty);
        empty.flush().unwrap();
        assert!(empty_out.bytes().is_empty());
    }

    /// Written into a holding writer, logged rows keep their times, so
    /// that the merge orders them.
    #[test]
    fn logged_rows_keep_their_times_when_held() {
        let mut log = RowLog::default();
        for t in [5, 5, 9] {
            log.push(t, 1, None, ["c", "a"], [b"", b"", b""], Detail::Text(b"d"));
        }
        log.push_row(12, b"x\n");
        let mut w = RowWriter::new(std::io::sink());
        w.hold();
        log.write_into(&mut w);
        let held = w.take_held();
        let times: Vec<Time> = held.marks.iter().map(|m| m.0).collect();
        assert_eq!(times, [5, 5, 9, 12]);
        assert!(held.bytes[..held.len].ends_with(b"x\n"));
    }
}
