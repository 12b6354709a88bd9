//! A CSV row writer for the timeline and the node samples, the outputs
//! written for every event: fields are copied into one reusable byte
//! buffer, which goes to the underlying writer in large chunks; a field can
//! be formatted in place (`fmt::Arguments`) or written from text and number
//! parts, and numbers and virtual times are written digit pairs at a time,
//! without the formatting machinery.
//!
//! The bytes are those of the `csv` crate's default writer: comma
//! delimiter, `\n` terminator, and `QuoteStyle::Necessary`: a field is
//! quoted when it contains a comma, a double quote, `\r` or `\n`, a quote
//! inside a quoted field is doubled, and a record whose only field is
//! empty is written as `""`. Nothing else (spaces, empty fields among
//! others, non-ASCII text) is quoted. A test compares the two writers.
//!
//! A field is copied and checked for those bytes in one pass, eight bytes
//! at a time (a short field as two overlapping words), and quoted in place
//! afterwards in the rare case it needs it. A row written at every event
//! of a kind can have its fixed fields and its detail's texts put in CSV
//! form once ([`FixedFields`], [`FieldTemplate`]), so that writing it is
//! copies and numbers with no check but its one variable text.

use std::fmt;
use std::io::{self, Write};

/// The buffer goes to the underlying writer once it holds this much.
const CHUNK: usize = 1 << 20;

/// The buffer's first size.
const FIRST: usize = 16 << 10;

/// Room kept past the end of what is written, so that a short copy can
/// store whole words and a number its digits without checking again.
const SLACK: usize = 64;

/// Whether any byte of `w` is zero (exact as a whole, whichever byte).
#[inline(always)]
fn has_zero_byte(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    w.wrapping_sub(LO) & !w & HI != 0
}

/// Whether any byte of `w` is one the `csv` crate quotes a field for.
#[inline(always)]
fn has_special(w: u64) -> bool {
    const EACH: u64 = 0x0101_0101_0101_0101;
    has_zero_byte(w ^ (EACH * u64::from(b',')))
        | has_zero_byte(w ^ (EACH * u64::from(b'"')))
        | has_zero_byte(w ^ (EACH * u64::from(b'\r')))
        | has_zero_byte(w ^ (EACH * u64::from(b'\n')))
}

/// Whether [`RowWriter::put`]'s word-at-a-time check finds that `field`
/// needs quotes.
#[cfg(test)]
fn put_finds_quotes(field: &[u8]) -> bool {
    let mut w = RowWriter::new(io::sink());
    w.reserve(field.len());
    w.put(field)
}

#[inline(always)]
fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn half(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}

/// "00" to "99", for writing numbers two digits at a time.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// 10^i for every i a `u64` reaches.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// How many decimal digits `n` has (1 for 0): the bit length times
/// log10(2) (1233 / 4096) is the digit count or one more, and one
/// comparison with a power of ten tells which.
#[inline(always)]
fn decimal_len(n: u64) -> usize {
    let n = n | 1;
    let bits = (u64::BITS - n.leading_zeros()) as usize;
    let t = (bits * 1233) >> 12;
    t + 1 - usize::from(n < POW10[t])
}

/// Whether any byte of `w` is below `-` (exact as a whole): the bytes
/// the `csv` crate quotes for are, and the text of names is not, so this
/// one test clears most words.
#[inline(always)]
fn has_low(w: u64) -> bool {
    const EACH: u64 = 0x0101_0101_0101_0101;
    w.wrapping_sub(EACH * u64::from(b'-')) & !w & (EACH * 0x80) != 0
}

/// Whether either word holds a byte the `csv` crate quotes for.
#[inline(always)]
fn special2(a: u64, b: u64) -> bool {
    (has_low(a) | has_low(b)) && (has_special(a) | has_special(b))
}

/// Whether `field` holds a double quote, a word at a time (the last
/// word overlapping the one before).
#[inline(always)]
fn has_quote(field: &[u8]) -> bool {
    const QUOTES: u64 = 0x0101_0101_0101_0101 * b'"' as u64;
    let n = field.len();
    if n < 8 {
        return field.contains(&b'"');
    }
    let mut i = 0;
    while i + 8 <= n {
        if has_zero_byte(word(&field[i..]) ^ QUOTES) {
            return true;
        }
        i += 8;
    }
    i < n && has_zero_byte(word(&field[n - 8..]) ^ QUOTES)
}

/// Copies `src` to `buf[at..]`, which has room for it and for eight
/// bytes at least, and says whether it holds a byte the field must be
/// quoted for. Copies whole words: a field of up to 16 bytes is two
/// overlapping loads and stores, one of up to 32 four.
#[inline(always)]
fn put_at(buf: &mut [u8], at: usize, src: &[u8]) -> bool {
    let n = src.len();
    let dst = &mut buf[at..at + n.max(8)];
    if n >= 8 {
        if n <= 16 {
            let (a, b) = (word(src), word(&src[n - 8..]));
            dst[..8].copy_from_slice(&a.to_le_bytes());
            dst[n - 8..n].copy_from_slice(&b.to_le_bytes());
            return special2(a, b);
        }
        if n <= 32 {
            // Pod names and the like: four overlapping words, no loop.
            let (a, b) = (word(src), word(&src[8..]));
            let (c, d) = (word(&src[n - 16..]), word(&src[n - 8..]));
            dst[..8].copy_from_slice(&a.to_le_bytes());
            dst[8..16].copy_from_slice(&b.to_le_bytes());
            dst[n - 16..n - 8].copy_from_slice(&c.to_le_bytes());
            dst[n - 8..n].copy_from_slice(&d.to_le_bytes());
            return (has_low(a) | has_low(b) | has_low(c) | has_low(d))
                && (has_special(a) | has_special(b) | has_special(c) | has_special(d));
        }
        return put_long(dst, src);
    }
    if n >= 4 {
        let (a, b) = (half(src), half(&src[n - 4..]));
        dst[..4].copy_from_slice(&a.to_le_bytes());
        dst[n - 4..n].copy_from_slice(&b.to_le_bytes());
        // Every byte of the word is one of the field's.
        let w = u64::from(a) | (u64::from(b) << 32);
        return has_low(w) && has_special(w);
    }
    if n == 0 {
        return false;
    }
    let (a, m, b) = (src[0], src[n / 2], src[n - 1]);
    dst[0] = a;
    dst[n / 2] = m;
    dst[n - 1] = b;
    // Zero bytes pad the word; zero is not special.
    has_special(u64::from(a) | (u64::from(m) << 8) | (u64::from(b) << 16))
}

/// Writes `n` in decimal at `buf[at..]`, `-` first when negative (room
/// reserved); returns where it ends.
#[inline(always)]
fn put_i64_at(buf: &mut [u8], mut at: usize, n: i64) -> usize {
    if n < 0 {
        buf[at] = b'-';
        at += 1;
    }
    put_u64_at(buf, at, n.unsigned_abs())
}

/// `n` in decimal, as `to_string` writes it, in `buf`; returns its bytes
/// (for callers that compare a number with a text without allocating).
pub fn i64_bytes(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let end = put_i64_at(buf, 0, n);
    &buf[..end]
}

/// [`i64_bytes`] as text.
pub fn i64_text(n: i64, buf: &mut [u8; 20]) -> &str {
    std::str::from_utf8(i64_bytes(n, buf)).expect("ASCII digits")
}

/// Writes `n` in decimal at `buf[at..]` (room reserved); returns where
/// it ends.
#[inline(always)]
fn put_u64_at(buf: &mut [u8], at: usize, mut n: u64) -> usize {
    let end = at + decimal_len(n);
    let mut i = end;
    while n >= 100 {
        let r = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if n >= 10 {
        let r = n as usize * 2;
        buf[i - 2..i].copy_from_slice(&PAIRS[r..r + 2]);
    } else {
        buf[i - 1] = b'0' + n as u8;
    }
    end
}

/// Writes a virtual time at `buf[at..]` (room reserved) as seconds, a
/// point and six decimals (the microseconds, truncated), as
/// [`crate::engine::format_seconds`]; returns where it ends.
#[inline(always)]
fn put_seconds_at(buf: &mut [u8], at: usize, t: crate::engine::Time) -> usize {
    use crate::engine::{MICROSECOND, SECOND};
    let at = put_u64_at(buf, at, t / SECOND);
    let micros = ((t % SECOND) / MICROSECOND) as usize;
    let d = &mut buf[at..at + 7];
    d[0] = b'.';
    let (hi, mid, lo) = (micros / 10_000, micros / 100 % 100, micros % 100);
    d[1..3].copy_from_slice(&PAIRS[hi * 2..hi * 2 + 2]);
    d[3..5].copy_from_slice(&PAIRS[mid * 2..mid * 2 + 2]);
    d[5..7].copy_from_slice(&PAIRS[lo * 2..lo * 2 + 2]);
    at + 7
}

/// [`RowWriter::put`] of more than 32 bytes, a word at a time.
#[inline(never)]
fn put_long(dst: &mut [u8], src: &[u8]) -> bool {
    let n = src.len();
    let mut special = false;
    let mut i = 0;
    while i + 8 <= n {
        let w = word(&src[i..]);
        dst[i..i + 8].copy_from_slice(&w.to_le_bytes());
        special |= has_special(w);
        i += 8;
    }
    if i < n {
        let w = word(&src[n - 8..]);
        dst[n - 8..n].copy_from_slice(&w.to_le_bytes());
        special |= has_low(w) && has_special(w);
    }
    special
}

/// Copies `src` to `buf[at..]`, which has room for it and for eight bytes
/// at least, a word at a time (a copy of up to 16 bytes is two overlapping
/// loads and stores); no check of what it holds.
#[inline(always)]
pub(super) fn copy_at(buf: &mut [u8], at: usize, src: &[u8]) {
    let n = src.len();
    let dst = &mut buf[at..at + n.max(8)];
    if n >= 8 {
        if n <= 16 {
            let (a, b) = (word(src), word(&src[n - 8..]));
            dst[..8].copy_from_slice(&a.to_le_bytes());
            dst[n - 8..n].copy_from_slice(&b.to_le_bytes());
        } else if n <= 32 {
            let (a, b) = (word(src), word(&src[8..]));
            let (c, d) = (word(&src[n - 16..]), word(&src[n - 8..]));
            dst[..8].copy_from_slice(&a.to_le_bytes());
            dst[8..16].copy_from_slice(&b.to_le_bytes());
            dst[n - 16..n - 8].copy_from_slice(&c.to_le_bytes());
            dst[n - 8..n].copy_from_slice(&d.to_le_bytes());
        } else {
            dst[..n].copy_from_slice(src);
        }
    } else if n >= 4 {
        let (a, b) = (half(src), half(&src[n - 4..]));
        dst[..4].copy_from_slice(&a.to_le_bytes());
        dst[n - 4..n].copy_from_slice(&b.to_le_bytes());
    } else if n > 0 {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/// Whether the `csv` crate quotes a field holding `text`: for a comma, a
/// double quote, `\r` or `\n`.
fn needs_quotes(text: &[u8]) -> bool {
    text.iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// Appends `text` to `out` with its double quotes doubled.
fn push_doubled(out: &mut Vec<u8>, text: &[u8]) {
    for &b in text {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
}

/// Appends `field` to `out` as the `csv` crate writes it: quoted when it
/// [needs quotes](needs_quotes), its quotes doubled.
fn push_escaped(out: &mut Vec<u8>, field: &[u8]) {
    if !needs_quotes(field) {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    push_doubled(out, field);
    out.push(b'"');
}

/// Fields that follow the time and the number of every row of one kind
/// (see [`RowWriter::row_fixed`]), written in CSV form once: each after
/// its comma, quoted as needed. A row copies them as one block.
#[derive(Clone, Debug)]
pub struct FixedFields(Box<[u8]>);

impl FixedFields {
    pub fn new(fields: &[&[u8]]) -> Self {
        let mut out = Vec::new();
        for f in fields {
            out.push(b',');
            push_escaped(&mut out, f);
        }
        FixedFields(out.into())
    }
}

/// A field made of fixed texts with a number between each two, its
/// quoting decided once: numbers in decimal never need quotes, so the
/// texts alone decide whether the field is quoted, and their quotes are
/// doubled once. Written by [`RowWriter::row_fixed`].
#[derive(Clone, Debug)]
pub struct FieldTemplate {
    /// The texts in CSV form, the opening quote (when quoted) in the first
    /// and the closing one in the last.
    pieces: Box<[Box<[u8]>]>,
    /// All the pieces' bytes.
    len: usize,
}

impl FieldTemplate {
    /// The field `texts[0] n0 texts[1] n1 ... texts[k]`: `k + 1` texts for
    /// `k` numbers.
    pub fn new(texts: &[&str]) -> Self {
        assert!(!texts.is_empty(), "a template has a text at least");
        let quoted = texts.iter().any(|t| needs_quotes(t.as_bytes()));
        let last = texts.len() - 1;
        let pieces: Box<[Box<[u8]>]> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut p = Vec::new();
                if quoted && i == 0 {
                    p.push(b'"');
                }
                push_doubled(&mut p, t.as_bytes());
                if quoted && i == last {
                    p.push(b'"');
                }
                p.into()
            })
            .collect();
        let len = pieces.iter().map(|p| p.len()).sum();
        FieldTemplate { pieces, len }
    }
}

/// A piece of a field written by [`RowWriter::field_parts`].
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    Text(&'a str),
    /// Text as bytes (as read back from a row log, `output::rowlog`).
    Bytes(&'a [u8]),
    /// A number in decimal (never quoted for).
    Num(u64),
    /// A signed number in decimal, `-` first when negative.
    Int(i64),
    /// A virtual time in seconds with six decimals, as
    /// [`crate::engine::format_seconds`] (never quoted for).
    Seconds(crate::engine::Time),
}

/// Writes CSV rows into a buffer and the buffer into `out`. A write error
/// is kept (the first one) and returned by [`RowWriter::flush`]; rows after
/// it are dropped.
pub struct RowWriter<W: Write = Box<dyn Write>> {
    out: W,
    /// The bytes written are `buf[..len]`; the rest is room, at least
    /// [`SLACK`] bytes of it past any field being written.
    buf: Vec<u8>,
    len: usize,
    /// Where the current row starts in `buf`.
    row_start: usize,
    /// A field of the current row has been written.
    in_row: bool,
    error: Option<io::Error>,
    /// Rows are held (see [`RowWriter::hold`]): kept in `buf`, each with
    /// its time and where it ends in `marks`, until merged out.
    held: bool,
    /// The time of the row being written (set by the rows that start
    /// with a time).
    row_time: crate::engine::Time,
    marks: Marks,
    /// Buffers of rows taken out, for the next takes (see
    /// [`RowWriter::recycle`]), at most [`SPARES`].
    spare: Vec<(Vec<u8>, Marks)>,
}

/// The most buffers of taken rows kept for reuse: rows taken out may be
/// on their way elsewhere for a while (kube-proxy's thread has up to three
/// batches of them), and a fresh buffer costs its zeroing and page faults.
const SPARES: usize = 4;

/// Per held row, its time and where it ends.
type Marks = Vec<(crate::engine::Time, usize)>;

/// Rows taken from a holding [`RowWriter`]: their bytes (`bytes[..len]`;
/// the rest is the buffer's room), and per row its time and where it
/// ends, in time order.
#[derive(Default)]
pub struct HeldRows {
    pub bytes: Vec<u8>,
    pub len: usize,
    pub marks: Marks,
}

/// Formats into the current field, noting whether it needs quotes.
struct Sink<'w, W: Write> {
    w: &'w mut RowWriter<W>,
    special: bool,
}

impl<W: Write> fmt::Write for Sink<'_, W> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.w.reserve(s.len());
        self.special |= self.w.put(s.as_bytes());
        Ok(())
    }
}

impl<W: Write> RowWriter<W> {
    pub fn new(out: W) -> Self {
        RowWriter {
            out,
            buf: Vec::new(),
            len: 0,
            row_start: 0,
            in_row: false,
            error: None,
            held: false,
            row_time: 0,
            marks: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// From now on rows are held rather than written out, until taken
    /// out by [`RowWriter::take_held`] (and written, merged with another
    /// writer's, by [`RowWriter::write_merged`]). Rows written so far are
    /// handed to the writer first.
    pub fn hold(&mut self) {
        debug_assert!(!self.in_row, "between rows");
        if !self.held {
            self.write_buf();
            self.held = true;
        }
    }

    /// Swaps the writer for `out` and returns it, after handing it the
    /// rows written so far (not the held ones).
    pub fn take_out(&mut self, out: W) -> W {
        if !self.held {
            self.write_buf();
        }
        std::mem::replace(&mut self.out, out)
    }

    /// Ends holding: rows are written out again as the buffer fills.
    /// Rows still held are written first, in their order.
    pub fn release(&mut self) {
        if self.held {
            self.held = false;
            self.marks.clear();
            self.write_buf();
        }
    }

    /// The rows held, taken out: the buffer itself is handed over (and a
    /// spare one from [`RowWriter::recycle`] takes its place), so nothing
    /// is copied.
    pub fn take_held(&mut self) -> HeldRows {
        debug_assert!(!self.in_row, "between rows");
        let (buf, marks) = self.spare.pop().unwrap_or_default();
        let rows = HeldRows {
            bytes: std::mem::replace(&mut self.buf, buf),
            len: self.len,
            marks: std::mem::replace(&mut self.marks, marks),
        };
        self.len = 0;
        self.row_start = 0;
        rows
    }

    /// Keeps the buffers of rows taken out (here or from another writer)
    /// for the next [`RowWriter::take_held`].
    pub fn recycle(&mut self, mut rows: HeldRows) {
        if self.spare.len() < SPARES {
            rows.marks.clear();
            self.spare.push((rows.bytes, rows.marks));
        }
    }

    /// Writes out `first`'s rows and `second`'s, interleaved in time
    /// order, `first`'s first of equal times.
    pub fn write_merged(&mut self, first: &HeldRows, second: &HeldRows) {
        let (mut i, mut j) = (0, 0);
        loop {
            let a = first.marks.get(i).map(|m| m.0);
            let b = second.marks.get(j).map(|m| m.0);
            match (a, b) {
                (None, None) => break,
                (Some(a), b) if b.is_none_or(|b| a <= b) => {
                    // `first`'s rows up to `second`'s next time.
                    let upto = b.unwrap_or(crate::engine::Time::MAX);
                    let k = i + first.marks[i..].partition_point(|m| m.0 <= upto);
                    self.write_rows(first, i, k);
                    i = k;
                }
                (a, _) => {
                    // `second`'s rows before `first`'s next time.
                    let upto = a.unwrap_or(crate::engine::Time::MAX);
                    let k = j + second.marks[j..].partition_point(|m| m.0 < upto);
                    self.write_rows(second, j, k);
                    j = k;
                }
            }
        }
    }

    /// Writes out rows `from..to` of `rows` (at least one).
    fn write_rows(&mut self, rows: &HeldRows, from: usize, to: usize) {
        let start = if from == 0 { 0 } else { rows.marks[from - 1].1 };
        let end = rows.marks[to - 1].1;
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&rows.bytes[start..end])
        {
            self.error = Some(e);
        }
    }

    /// A row has ended at `len`: noted when held, else the buffer is
    /// handed to the writer once full enough.
    #[inline(always)]
    fn row_ended(&mut self) {
        if self.held {
            self.marks.push((self.row_time, self.len));
        } else if self.len >= CHUNK {
            self.write_buf();
        }
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
        // Small first (most writers write little, and every byte of the
        // buffer is zeroed once), then room for a whole chunk and a row.
        let next = if self.buf.is_empty() {
            FIRST
        } else if self.buf.len() < CHUNK {
            CHUNK + (64 << 10)
        } else {
            self.buf.len() * 2
        };
        let size = next.max(self.len + n + SLACK);
        if self.buf.is_empty() {
            // Zeroed memory straight from the allocator.
            self.buf = vec![0; size];
        } else {
            self.buf.resize(size, 0);
        }
    }

    #[inline(always)]
    fn delimit(&mut self) {
        if self.in_row {
            self.buf[self.len] = b',';
            self.len += 1;
        }
        self.in_row = true;
    }

    /// Appends `src` (room for it reserved) and says whether it holds a
    /// byte the field must be quoted for.
    #[inline(always)]
    fn put(&mut self, src: &[u8]) -> bool {
        let at = self.len;
        self.len = at + src.len();
        put_at(&mut self.buf, at, src)
    }

    /// Quotes the field written at `start..` in place, its quotes doubled.
    #[cold]
    #[inline(never)]
    fn quote_in_place(&mut self, start: usize) {
        let end = self.len;
        if !has_quote(&self.buf[start..end]) {
            // The usual case (a comma in a detail): the field moves one
            // byte up as a block, between its two quotes.
            self.reserve(2);
            self.buf.copy_within(start..end, start + 1);
            self.buf[start] = b'"';
            self.buf[end + 1] = b'"';
            self.len = end + 2;
            return;
        }
        let quotes = self.buf[start..end].iter().filter(|&&b| b == b'"').count();
        self.reserve(quotes + 2);
        let new_end = end + quotes + 2;
        // From the back, so that nothing is overwritten before it moves.
        let mut dst = new_end - 1;
        self.buf[dst] = b'"';
        for src in (start..end).rev() {
            let b = self.buf[src];
            dst -= 1;
            self.buf[dst] = b;
            if b == b'"' {
                dst -= 1;
                self.buf[dst] = b'"';
            }
        }
        dst -= 1;
        debug_assert_eq!(dst, start);
        self.buf[dst] = b'"';
        self.len = new_end;
    }

    /// The next field of the row.
    #[inline(always)]
    pub fn field(&mut self, field: &[u8]) {
        self.reserve(field.len() + 1);
        self.delimit();
        let start = self.len;
        if self.put(field) {
            self.quote_in_place(start);
        }
    }

    /// The next field, formatted in place.
    pub fn field_fmt(&mut self, args: fmt::Arguments<'_>) {
        if let Some(s) = args.as_str() {
            return self.field(s.as_bytes());
        }
        self.reserve(1);
        self.delimit();
        let start = self.len;
        let mut sink = Sink {
            w: self,
            special: false,
        };
        // Writing into the buffer cannot fail.
        let _ = fmt::write(&mut sink, args);
        if sink.special {
            self.quote_in_place(start);
        }
    }

    /// The next field, the concatenation of `parts`: text written as it
    /// is, numbers in decimal, quoted as one field. Room for them all is
    /// made once.
    pub fn field_parts(&mut self, parts: &[Part<'_>]) {
        let room: usize = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Bytes(t) => t.len(),
                Part::Num(_) => 20,
                Part::Int(_) => 21,
                Part::Seconds(_) => 28,
            })
            .sum();
        self.reserve(room + 1);
        self.delimit();
        let start = self.len;
        let buf = &mut self.buf[..];
        let mut pos = start;
        let mut special = false;
        for p in parts {
            match *p {
                Part::Text(t) => {
                    special |= put_at(buf, pos, t.as_bytes());
                    pos += t.len();
                }
                Part::Bytes(t) => {
                    special |= put_at(buf, pos, t);
                    pos += t.len();
                }
                Part::Num(n) => pos = put_u64_at(buf, pos, n),
                Part::Int(n) => pos = put_i64_at(buf, pos, n),
                Part::Seconds(t) => pos = put_seconds_at(buf, pos, t),
            }
        }
        self.len = pos;
        if special {
            self.quote_in_place(start);
        }
    }

    /// Appends `n` in decimal.
    #[inline(always)]
    fn put_u64(&mut self, n: u64) {
        self.reserve(20);
        self.len = put_u64_at(&mut self.buf, self.len, n);
    }

    /// The next field: `n` in decimal.
    #[inline]
    pub fn field_u64(&mut self, n: u64) {
        self.reserve(1);
        self.delimit();
        self.put_u64(n);
    }

    /// The next field: a number written by `Display` (an `i64` in
    /// decimal, with its sign).
    #[inline]
    pub fn field_i64(&mut self, n: i64) {
        self.reserve(22);
        self.delimit();
        self.len = put_i64_at(&mut self.buf, self.len, n);
    }

    /// The next field: a virtual time as seconds with six decimals, as
    /// [`crate::engine::format_seconds`].
    #[inline]
    pub fn field_seconds(&mut self, t: crate::engine::Time) {
        self.reserve(1);
        self.delimit();
        self.put_seconds(t);
    }

    /// Appends a virtual time as seconds with six decimals.
    #[inline(always)]
    fn put_seconds(&mut self, t: crate::engine::Time) {
        self.reserve(28);
        self.len = put_seconds_at(&mut self.buf, self.len, t);
    }

    /// The next field: an optional virtual time, empty when `None`.
    #[inline]
    pub fn field_opt_seconds(&mut self, t: Option<crate::engine::Time>) {
        match t {
            Some(t) => self.field_seconds(t),
            None => self.field(b""),
        }
    }

    /// A row's first fields: a virtual time (as
    /// [`RowWriter::field_seconds`]), a number, then text fields. Room for
    /// them all is made once and they are written with no other check.
    #[inline]
    pub fn row_head<const N: usize>(&mut self, t: crate::engine::Time, n: u64, texts: [&[u8]; N]) {
        debug_assert!(!self.in_row, "a row's head starts the row");
        self.row_time = t;
        let total: usize = texts.iter().map(|f| f.len()).sum();
        // Seconds (at most 20 digits and 7), a number, delimiters.
        self.reserve(total + N + 48);
        let buf = &mut self.buf[..];
        let mut pos = put_seconds_at(buf, self.len, t);
        buf[pos] = b',';
        pos = put_u64_at(buf, pos + 1, n);
        let texts_start = pos;
        let mut special = false;
        for f in texts {
            buf[pos] = b',';
            special |= put_at(buf, pos + 1, f);
            pos += 1 + f.len();
        }
        self.len = pos;
        self.in_row = true;
        if special {
            // Rare: write the text fields again, quoting those that need it.
            self.len = texts_start;
            for f in texts {
                self.field(f);
            }
        }
    }

    /// A whole row of one kind written at every event of it: a virtual
    /// time (as [`RowWriter::field_seconds`]) and a number, the fixed
    /// fields, a text field (checked, quoted in the rare case it needs
    /// it), and last a field from `detail` with `nums` between its texts.
    /// Room for it all is made once.
    #[inline]
    pub fn row_fixed<const K: usize>(
        &mut self,
        t: crate::engine::Time,
        n: u64,
        fixed: &FixedFields,
        text: &[u8],
        detail: &FieldTemplate,
        nums: [u64; K],
    ) {
        debug_assert!(!self.in_row, "a whole row starts the row");
        debug_assert_eq!(detail.pieces.len(), K + 1, "a number between texts");
        self.row_time = t;
        // Seconds (at most 20 digits and 7), a number, the detail's
        // numbers of at most 20 digits, delimiters and the row's end.
        let detail_room = detail.len + 20 * K + 2;
        self.reserve(fixed.0.len() + text.len() + detail_room + 50);
        let buf = &mut self.buf[..];
        let mut pos = put_seconds_at(buf, self.len, t);
        buf[pos] = b',';
        pos = put_u64_at(buf, pos + 1, n);
        copy_at(buf, pos, &fixed.0);
        pos += fixed.0.len();
        buf[pos] = b',';
        let text_start = pos + 1;
        let special = put_at(buf, text_start, text);
        self.len = text_start + text.len();
        if special {
            // Rare: the text is quoted in place, and room made again.
            self.quote_in_place(text_start);
            self.reserve(detail_room);
        }
        let buf = &mut self.buf[..];
        let mut pos = self.len;
        buf[pos] = b',';
        pos += 1;
        for (piece, n) in detail.pieces.iter().zip(nums) {
            copy_at(buf, pos, piece);
            pos = put_u64_at(buf, pos + piece.len(), n);
        }
        let last = &detail.pieces[K];
        copy_at(buf, pos, last);
        pos += last.len();
        buf[pos] = b'\n';
        self.len = pos + 1;
        self.in_row = false;
        self.row_ended();
        self.row_start = self.len;
    }

    /// A whole row: a virtual time, a text field and signed numbers
    /// (as `Display` writes them), with room made once.
    pub fn row_time_text_ints<const N: usize>(
        &mut self,
        t: crate::engine::Time,
        text: &[u8],
        ints: [i64; N],
    ) {
        debug_assert!(!self.in_row, "a whole row starts the row");
        // Seconds (at most 20 digits and 7), N signed numbers of at most
        // 20 digits, delimiters and the row's end.
        self.reserve(text.len() + 30 + 22 * N);
        let buf = &mut self.buf[..];
        let mut pos = put_seconds_at(buf, self.len, t);
        buf[pos] = b',';
        let text_start = pos + 1;
        let special = put_at(buf, text_start, text);
        pos = text_start + text.len();
        for n in ints {
            buf[pos] = b',';
            pos = put_i64_at(buf, pos + 1, n);
        }
        self.len = pos;
        self.in_row = true;
        if special {
            // Rare: write the text and the numbers again, quoted as needed.
            self.len = text_start - 1;
            self.field(text);
            for n in ints {
                self.field_i64(n);
            }
        }
        self.end_row();
    }

    /// A whole row already in CSV form, its end of line included, at
    /// time `t` (see [`super::rowlog::RowLog::push_row`]).
    pub fn whole_row(&mut self, t: crate::engine::Time, row: &[u8]) {
        debug_assert!(!self.in_row, "a whole row starts the row");
        self.row_time = t;
        self.reserve(row.len());
        copy_at(&mut self.buf, self.len, row);
        self.len += row.len();
        self.row_ended();
        self.row_start = self.len;
    }

    /// Ends the row; hands the buffer to the writer when it is full enough.
    #[inline]
    pub fn end_row(&mut self) {
        self.reserve(3);
        if self.len == self.row_start {
            // As the csv crate: a record of one empty field is `""`, so
            // that it is not read back as no record at all.
            self.buf[self.len..self.len + 2].copy_from_slice(b"\"\"");
            self.len += 2;
        }
        self.buf[self.len] = b'\n';
        self.len += 1;
        self.in_row = false;
        self.row_ended();
        self.row_start = self.len;
    }

    /// A whole row of byte fields.
    pub fn row<I, T>(&mut self, fields: I)
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        for f in fields {
            self.field(f.as_ref());
        }
        self.end_row();
    }

    fn write_buf(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf[..self.len])
        {
            self.error = Some(e);
        }
        self.len = 0;
        self.row_start = 0;
    }

    /// Writes out the buffer's complete rows and flushes the writer;
    /// returns the first write error.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.held {
            self.release();
        }
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf[..self.row_start])
        {
            self.error = Some(e);
        }
        self.buf.copy_within(self.row_start..self.len, 0);
        self.len -= self.row_start;
        self.row_start = 0;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

/// Writes `n` in decimal at the end of `buf`; returns the digits.
#[cfg(test)]
pub fn format_u64_into(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut w = RowWriter::new(io::sink());
    w.put_u64(n);
    let len = w.len;
    buf[20 - len..].copy_from_slice(&w.buf[..len]);
    &buf[20 - len..]
}

/// [`crate::engine::format_seconds`] into `buf`; returns the text.
#[cfg(test)]
pub fn format_seconds_into(t: crate::engine::Time, buf: &mut [u8; 32]) -> &[u8] {
    let mut w = RowWriter::new(io::sink());
    w.put_seconds(t);
    let len = w.len;
    buf[32 - len..].copy_from_slice(&w.buf[..len]);
    &buf[32 - len..]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::{Time, format_seconds};
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes stay readable after it is boxed (and sent to
    /// another thread).
    #[derive(Clone, Default)]
    pub(crate) struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Shared {
        /// The bytes written so far, taken out.
        pub(crate) fn take(&self) -> Vec<u8> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }

        /// The bytes written so far.
        pub(crate) fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().clone()
        }
    }

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const TRICKY: [&str; 22] = [
        "",
        " ",
        "  leading",
        "trailing  ",
        "plain",
        "a,b",
        ",",
        "\"",
        "say \"hi\"",
        "\"\"",
        "line\nbreak",
        "cr\rhere",
        "crlf\r\n",
        "\n",
        "tab\there",
        "#comment",
        "semi;colon",
        "quote'single",
        "ünïcödé, with comma",
        "日本語",
        "back\\slash",
        "x",
    ];

    /// The rows as the csv crate writes them.
    fn with_csv(rows: &[Vec<&str>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for r in rows {
            w.write_record(r).unwrap();
        }
        w.into_inner().unwrap()
    }

    fn with_rows(rows: &[Vec<&str>], by_fmt: bool) -> Vec<u8> {
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        for r in rows {
            for f in r {
                if by_fmt {
                    w.field_fmt(format_args!("{f}"));
                } else {
                    w.field(f.as_bytes());
                }
            }
            w.end_row();
        }
        w.flush().unwrap();
        out.take()
    }

    /// Rows written through `row_head` (with a time) and `row_fixed`,
    /// named by their text field.
    fn timed_rows<W: Write>(w: &mut RowWriter<W>, rows: &[(Time, &str)]) {
        let detail = FieldTemplate::new(&["x"]);
        let fixed = FixedFields::new(&[b"f"]);
        for (i, &(t, name)) in rows.iter().enumerate() {
            if i % 2 == 0 {
                w.row_head(t, 0, [name.as_bytes()]);
                w.end_row();
            } else {
                w.row_fixed(t, 0, &fixed, name.as_bytes(), &detail, []);
            }
        }
    }

    /// The second field of every row (the name `timed_rows` wrote).
    fn names(bytes: &[u8]) -> Vec<String> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                // `row_fixed`'s rows have the fixed field `f` first.
                let i = if f.get(2) == Some(&"f") { 3 } else { 2 };
                f[i].to_string()
            })
            .collect()
    }

    #[test]
    fn held_rows_are_taken_out_and_merged_by_time_the_first_runs_first_at_equal_times() {
        let out = Shared::default();
        let mut main = RowWriter::new(out.clone());
        main.row([b"h0".as_slice(), b"h1", b"header"]);
        main.hold();
        timed_rows(&mut main, &[(1, "a1"), (3, "a3"), (3, "a3b"), (7, "a7")]);
        assert_eq!(names(&out.bytes()), ["header"], "held, not written");
        let mut other = RowWriter::new(io::sink());
        other.hold();
        timed_rows(&mut other, &[(0, "b0"), (3, "b3"), (5, "b5"), (7, "b7")]);
        let (mine, theirs) = (main.take_held(), other.take_held());
        assert_eq!((mine.marks.len(), theirs.marks.len()), (4, 4));
        assert_eq!(other.take_held().len, 0, "taken out");
        main.write_merged(&mine, &theirs);
        let want = ["header", "b0", "a1", "a3", "a3b", "b3", "b5", "a7", "b7"];
        assert_eq!(names(&out.bytes()), want);
        // Recycled buffers take the place of the next ones taken out.
        let buffers = [theirs.bytes.as_ptr(), mine.bytes.as_ptr()];
        main.recycle(mine);
        main.recycle(theirs);
        timed_rows(&mut main, &[(9, "a9")]);
        let first = main.take_held();
        assert_eq!(names(&first.bytes[..first.len]), ["a9"]);
        for (buffer, row) in buffers.into_iter().zip(["a9b", "a9c"]) {
            timed_rows(&mut main, &[(9, row)]);
            let again = main.take_held();
            assert_eq!(again.bytes.as_ptr(), buffer);
            assert_eq!(names(&again.bytes[..again.len]), [row]);
        }
        // Rows still held when holding ends are written in their order.
        timed_rows(&mut main, &[(10, "a10"), (11, "a11")]);
        main.release();
        timed_rows(&mut main, &[(12, "a12")]);
        main.flush().unwrap();
        let want = [&want[..], &["a10", "a11", "a12"]].concat();
        assert_eq!(names(&out.bytes()), want);
    }

    #[test]
    fn writes_the_bytes_of_the_csv_crate() {
        let mut rows: Vec<Vec<&str>> = Vec::new();
        // Every tricky field alone, first, last and between others.
        for f in TRICKY {
            rows.push(vec![f]);
            rows.push(vec![f, "next"]);
            rows.push(vec!["prev", f]);
            rows.push(vec!["a", f, "b"]);
        }
        rows.push(TRICKY.to_vec());
        rows.push(vec!["", ""]);
        rows.push(vec!["", "", ""]);
        let want = with_csv(&rows);
        assert_eq!(
            String::from_utf8_lossy(&with_rows(&rows, false)),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(with_rows(&rows, false), want);
        assert_eq!(with_rows(&rows, true), want);
    }

    /// Fields made of parts are quoted as the csv crate quotes the whole,
    /// whichever part holds the character that needs it.
    #[test]
    fn parts_are_quoted_as_one_field() {
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut c = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for (i, a) in TRICKY.iter().enumerate() {
            for b in TRICKY {
                let n = (i as u64) * 1_000_003;
                w.field(b"x");
                w.field_parts(&[Part::Text(a), Part::Num(n), Part::Text(b)]);
                w.end_row();
                w.field_parts(&[Part::Text(a), Part::Text(b)]);
                w.end_row();
                let t = n * 7_919 + 999_999;
                w.field_parts(&[Part::Seconds(t), Part::Text(a), Part::Seconds(n)]);
                w.end_row();
                let (neg, pos) = (-(n as i64) - 1, n as i64);
                w.field_parts(&[Part::Int(neg), Part::Text(b), Part::Int(pos)]);
                w.field_parts(&[Part::Int(i64::MIN), Part::Int(i64::MAX)]);
                w.end_row();
                c.write_record(["x".to_string(), format!("{a}{n}{b}")])
                    .unwrap();
                c.write_record([format!("{a}{b}")]).unwrap();
                c.write_record([format!(
                    "{}{a}{}",
                    crate::engine::format_seconds(t),
                    crate::engine::format_seconds(n)
                )])
                .unwrap();
                c.write_record([
                    format!("{neg}{b}{pos}"),
                    format!("{}{}", i64::MIN, i64::MAX),
                ])
                .unwrap();
            }
        }
        w.field_parts(&[]);
        w.end_row();
        c.write_record([""]).unwrap();
        w.flush().unwrap();
        assert_eq!(out.take(), c.into_inner().unwrap());
    }

    /// The word-at-a-time check against the byte-by-byte rule, for every
    /// length up to 40 and every position of every byte value.
    #[test]
    fn needs_quotes_matches_the_byte_rule() {
        let rule = needs_quotes;
        for len in 0..=40 {
            for pos in 0..len.max(1) {
                for v in 0..=255u8 {
                    let mut f = vec![b'a'; len];
                    if len > 0 {
                        f[pos] = v;
                    }
                    assert_eq!(put_finds_quotes(&f), rule(&f), "{f:?}");
                }
            }
        }
    }

    #[test]
    fn has_quote_finds_a_quote_anywhere() {
        for len in 0..=24 {
            assert!(!has_quote(&vec![b'a'; len]));
            for pos in 0..len {
                let mut f = vec![b'a'; len];
                f[pos] = b'"';
                assert!(has_quote(&f), "{len} {pos}");
            }
        }
    }

    #[test]
    fn formatted_fields_and_large_outputs() {
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut c = csv::Writer::from_writer(Vec::new());
        for i in 0..100_000u64 {
            let detail = format!("programmed {i} rule changes, {} endpoints", i * 7);
            w.field_seconds(i * 1_234_567);
            w.field_u64(i);
            w.field(b"kube-proxy");
            w.field_fmt(format_args!(
                "programmed {i} rule changes, {} endpoints",
                i * 7
            ));
            w.end_row();
            c.write_record([
                format_seconds(i * 1_234_567),
                i.to_string(),
                "kube-proxy".into(),
                detail,
            ])
            .unwrap();
        }
        w.flush().unwrap();
        assert_eq!(out.take(), c.into_inner().unwrap());
    }

    #[test]
    fn keeps_the_first_write_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = RowWriter::new(Full);
        w.row(["a", "b"]);
        let e = w.flush().unwrap_err();
        assert_eq!(e.to_string(), "disk full");
    }

    /// A fixed pseudo-random sequence (xorshift), for test inputs.
    fn numbers(mut x: u64, n: usize) -> impl Iterator<Item = u64> {
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
    }

    /// Every power of ten and its neighbours, as `u64`.
    fn around_powers_of_ten() -> Vec<u64> {
        let mut v = vec![0, 1, 2, u64::MAX, u64::MAX - 1, i64::MAX as u64];
        let mut p: u64 = 1;
        loop {
            v.extend([p - 1, p, p + 1, p.saturating_mul(9), p.saturating_mul(5)]);
            match p.checked_mul(10) {
                Some(q) => p = q,
                None => break,
            }
        }
        v
    }

    /// Virtual times as seconds against `format!("{}.{:06}")` (through
    /// `format_seconds`): every microsecond of a second, every power of
    /// ten of nanoseconds and its neighbours (which carry or truncate at
    /// the sixth decimal), the largest times and pseudo-random ones.
    #[test]
    fn seconds_match_std_formatting() {
        let mut times = around_powers_of_ten();
        times.extend((0..1_000_000u64).map(|us| us * 1_000 + us % 1_000));
        times.extend((0..1_000u64).map(|s| s * 1_000_000_000 + 999_999_999));
        times.extend((0..1_000u64).map(|s| s * 1_000_000_000 + 999_999_000));
        times.extend(numbers(0x9e37_79b9_7f4a_7c15, 100_000));
        times.extend(numbers(7, 100_000).map(|x| x % 100_000_000_000_000));
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut want = Vec::new();
        for &t in &times {
            w.field_seconds(t);
            w.field_opt_seconds(Some(t));
            w.field_opt_seconds(None);
            w.end_row();
            want.extend_from_slice(format!("{0},{0},\n", format_seconds(t)).as_bytes());
        }
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(out.take()).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }

    /// The digit count of every power of ten, its neighbours and
    /// pseudo-random numbers against their `Display`.
    #[test]
    fn decimal_lengths_are_exact() {
        let mut ns = around_powers_of_ten();
        ns.extend(numbers(4242, 100_000));
        ns.extend(numbers(17, 100_000).map(|x| x >> (x % 64)));
        for n in ns {
            assert_eq!(decimal_len(n), n.to_string().len(), "{n}");
        }
    }

    /// Integers against their `Display`.
    #[test]
    fn integers_match_std_formatting() {
        let mut ns = around_powers_of_ten();
        ns.extend(numbers(12345, 100_000));
        ns.extend(numbers(99, 100_000).map(|x| x % 1_000_000));
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut want = String::new();
        for &n in &ns {
            let i = n as i64;
            w.field_u64(n);
            w.field_i64(i);
            w.field_i64(i.wrapping_neg());
            w.field_parts(&[Part::Num(n), Part::Text("/"), Part::Num(n / 7)]);
            w.end_row();
            want.push_str(&format!("{n},{i},{},{n}/{}\n", i.wrapping_neg(), n / 7));
        }
        for i in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            w.field_i64(i);
            w.end_row();
            want.push_str(&format!("{i}\n"));
        }
        w.flush().unwrap();
        assert_eq!(String::from_utf8(out.take()).unwrap(), want);
    }

    /// Fields of every length up to 100 bytes, with a special byte (or
    /// none) at every position, against the csv crate.
    #[test]
    fn long_and_short_fields_match_the_csv_crate() {
        let mut fields = Vec::new();
        for len in 0..100usize {
            for special in [None, Some(b','), Some(b'"'), Some(b'\r'), Some(b'\n')] {
                for pos in 0..len.max(1) {
                    let mut f: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    if let Some(b) = special
                        && len > 0
                    {
                        f[pos] = b;
                    }
                    fields.push(String::from_utf8(f).unwrap());
                    if special.is_none() {
                        break;
                    }
                }
            }
        }
        let rows: Vec<Vec<&str>> = fields
            .chunks(3)
            .map(|c| c.iter().map(String::as_str).collect())
            .collect();
        let want = with_csv(&rows);
        assert_eq!(with_rows(&rows, false), want);
        assert_eq!(with_rows(&rows, true), want);
        // The same fields as parts of one field, and formatted in pieces.
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut c = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for r in &rows {
            let parts: Vec<Part<'_>> = r.iter().map(|f| Part::Text(f)).collect();
            w.field_parts(&parts);
            w.field_fmt(format_args!("{}{}", r[0], r[r.len() - 1]));
            w.end_row();
            c.write_record([r.concat(), format!("{}{}", r[0], r[r.len() - 1])])
                .unwrap();
        }
        w.flush().unwrap();
        assert_eq!(out.take(), c.into_inner().unwrap());
    }

    /// Rows of a time, a text and numbers, against the csv crate.
    #[test]
    fn time_text_int_rows_match_the_csv_crate() {
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut c = csv::Writer::from_writer(Vec::new());
        for (i, f) in TRICKY.iter().enumerate() {
            let t = (i as u64) * 987_654_321_123;
            let ints = [i as i64, -(i as i64) * 1_000_003, i64::MIN, i64::MAX, 0];
            w.row_time_text_ints(t, f.as_bytes(), ints);
            let mut want = vec![format_seconds(t), f.to_string()];
            want.extend(ints.iter().map(|n| n.to_string()));
            c.write_record(&want).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(out.take(), c.into_inner().unwrap());
    }

    /// A row's head with an awkward field in each position, against the
    /// csv crate.
    #[test]
    fn row_heads_match_the_csv_crate() {
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut c = csv::Writer::from_writer(Vec::new());
        for (i, f) in TRICKY.iter().enumerate() {
            for pos in 0..4 {
                let mut texts = ["kube-apiserver", "update-status", "Pod", "default"];
                texts[pos] = f;
                let t = (i as u64) * 1_234_567_891;
                w.row_head(t, i as u64, texts.map(str::as_bytes));
                w.field(f.as_bytes());
                w.end_row();
                let mut want = vec![format_seconds(t), i.to_string()];
                want.extend(texts.iter().map(|s| s.to_string()));
                want.push(f.to_string());
                c.write_record(&want).unwrap();
            }
        }
        w.flush().unwrap();
        assert_eq!(out.take(), c.into_inner().unwrap());
    }

    /// Rows from fixed fields and templates, with awkward texts in every
    /// place, against the csv crate (and the rows of the same fields
    /// written one by one).
    #[test]
    fn fixed_rows_match_the_csv_crate() {
        let out = Shared::default();
        let mut w = RowWriter::new(out.clone());
        let mut c = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for (i, a) in TRICKY.iter().enumerate() {
            for (j, b) in TRICKY.iter().enumerate() {
                let fixed_texts = ["kube-proxy", a, "", b];
                let fixed = FixedFields::new(&fixed_texts.map(str::as_bytes));
                let t = (i * 31 + j) as u64 * 987_654_321;
                let nums = [i as u64 * 1_000_003, u64::MAX - j as u64];
                let text = TRICKY[(i + j) % TRICKY.len()];
                for texts in [[*a, " rule changes, ", *b], ["programmed ", *b, *a]] {
                    let detail = FieldTemplate::new(&texts);
                    w.row_fixed(t, (i + j) as u64, &fixed, text.as_bytes(), &detail, nums);
                    let mut want = vec![format_seconds(t), (i + j).to_string()];
                    want.extend(fixed_texts.iter().map(|s| s.to_string()));
                    want.push(text.to_string());
                    want.push(format!(
                        "{}{}{}{}{}",
                        texts[0], nums[0], texts[1], nums[1], texts[2]
                    ));
                    c.write_record(&want).unwrap();
                }
                let one = FieldTemplate::new(&[a]);
                w.row_fixed(t, 7, &FixedFields::new(&[]), b.as_bytes(), &one, []);
                c.write_record([format_seconds(t), "7".into(), b.to_string(), a.to_string()])
                    .unwrap();
            }
        }
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(out.take()).unwrap(),
            String::from_utf8(c.into_inner().unwrap()).unwrap()
        );
    }

    /// Word copies of every length up to 80 bytes land exactly, leaving
    /// the bytes after them for the next write.
    #[test]
    fn copies_of_every_length_are_exact() {
        for n in 0..80usize {
            let src: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let mut buf = vec![b'-'; n + 8 + 3];
            copy_at(&mut buf, 3, &src);
            assert_eq!(&buf[3..3 + n], &src[..], "{n}");
            assert_eq!(&buf[..3], b"---", "{n}");
        }
    }

    #[test]
    fn stack_formatting_matches_format_seconds() {
        for t in [0, 1, 999, 1_000, 1_500_000_999, 12_000_003_000, u64::MAX] {
            let mut buf = [0u8; 32];
            assert_eq!(
                format_seconds_into(t, &mut buf),
                format_seconds(t).as_bytes()
            );
        }
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            let mut buf = [0u8; 20];
            assert_eq!(format_u64_into(n, &mut buf), n.to_string().as_bytes());
        }
        for n in [0, 9, -9, 10, -10, 255, i64::MAX, i64::MIN] {
            assert_eq!(i64_text(n, &mut [0; 20]), n.to_string());
        }
    }
}
