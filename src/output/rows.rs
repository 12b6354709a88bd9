//! A CSV row writer for the timeline, the one output written for every
//! event: fields are copied into one reusable byte buffer, which goes to the
//! underlying writer in large chunks, and a field can be formatted in place
//! (`fmt::Arguments`) instead of through a `String`.
//!
//! The bytes are those of the `csv` crate's default writer: comma
//! delimiter, `\n` terminator, and `QuoteStyle::Necessary`: a field is
//! quoted when it contains a comma, a double quote, `\r` or `\n`, a quote
//! inside a quoted field is doubled, and a record whose only field is
//! empty is written as `""`. Nothing else (spaces, empty fields among
//! others, non-ASCII text) is quoted. A test compares the two writers.

use std::fmt;
use std::io::{self, Write};

/// The buffer goes to the underlying writer once it holds this much.
const CHUNK: usize = 1 << 20;

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

/// Whether the `csv` crate's default writer quotes `field`: it holds a
/// comma, a double quote, `\r` or `\n`. Eight bytes at a time.
#[inline]
fn needs_quotes(field: &[u8]) -> bool {
    let mut chunks = field.chunks_exact(8);
    for c in &mut chunks {
        if has_special(u64::from_le_bytes(c.try_into().expect("8 bytes"))) {
            return true;
        }
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return false;
    }
    // Zero bytes pad the rest; zero is not special.
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    has_special(u64::from_le_bytes(last))
}

/// A piece of a field written by [`RowWriter::field_parts`].
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    Text(&'a str),
    /// A number in decimal (never quoted for).
    Num(u64),
}

/// Writes CSV rows into a buffer and the buffer into `out`. A write error
/// is kept (the first one) and returned by [`RowWriter::flush`]; rows after
/// it are dropped.
pub struct RowWriter {
    out: Box<dyn Write>,
    buf: Vec<u8>,
    /// Where the current row starts in `buf`.
    row_start: usize,
    /// A field of the current row has been written.
    in_row: bool,
    error: Option<io::Error>,
}

impl RowWriter {
    pub fn new(out: Box<dyn Write>) -> Self {
        RowWriter {
            out,
            buf: Vec::new(),
            row_start: 0,
            in_row: false,
            error: None,
        }
    }

    #[inline]
    fn delimit(&mut self) {
        if self.in_row {
            self.buf.push(b',');
        }
        self.in_row = true;
    }

    /// Appends `field` quoted, its quotes doubled.
    #[cold]
    #[inline(never)]
    fn quoted(&mut self, field: &[u8]) {
        self.buf.reserve(field.len() + 2);
        self.buf.push(b'"');
        let mut rest = field;
        while let Some(i) = rest.iter().position(|&b| b == b'"') {
            self.buf.extend_from_slice(&rest[..=i]);
            self.buf.push(b'"');
            rest = &rest[i + 1..];
        }
        self.buf.extend_from_slice(rest);
        self.buf.push(b'"');
    }

    /// Quotes the field written at `start..` in place, its quotes doubled.
    fn quote_in_place(&mut self, start: usize) {
        let end = self.buf.len();
        let quotes = self.buf[start..].iter().filter(|&&b| b == b'"').count();
        if quotes == 0 {
            self.buf.push(b'"');
            self.buf.copy_within(start..end, start + 1);
            self.buf[start] = b'"';
            self.buf.push(b'"');
            return;
        }
        self.buf.resize(end + quotes + 2, 0);
        // From the back, so that nothing is overwritten before it moves.
        let mut dst = self.buf.len() - 1;
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
    }

    /// The next field of the row.
    #[inline(always)]
    pub fn field(&mut self, field: &[u8]) {
        self.delimit();
        if needs_quotes(field) {
            self.quoted(field);
        } else {
            self.buf.extend_from_slice(field);
        }
    }

    /// The next field, formatted in place.
    pub fn field_fmt(&mut self, args: fmt::Arguments<'_>) {
        if let Some(s) = args.as_str() {
            return self.field(s.as_bytes());
        }
        self.delimit();
        let start = self.buf.len();
        // Writing into a `Vec` cannot fail.
        let _ = self.buf.write_fmt(args);
        if needs_quotes(&self.buf[start..]) {
            self.quote_in_place(start);
        }
    }

    /// The next field, the concatenation of `parts`: text written as it
    /// is, numbers in decimal, quoted as one field.
    pub fn field_parts(&mut self, parts: &[Part<'_>]) {
        let mut quote = false;
        let mut inner_quote = false;
        for p in parts {
            if let Part::Text(t) = p
                && needs_quotes(t.as_bytes())
            {
                quote = true;
                inner_quote |= t.as_bytes().contains(&b'"');
            }
        }
        self.delimit();
        let start = self.buf.len();
        if quote && !inner_quote {
            self.buf.push(b'"');
        }
        for p in parts {
            match *p {
                Part::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
                Part::Num(n) => {
                    let mut digits = [0u8; 20];
                    self.buf.extend_from_slice(format_u64_into(n, &mut digits));
                }
            }
        }
        if quote {
            if inner_quote {
                self.quote_in_place(start);
            } else {
                self.buf.push(b'"');
            }
        }
    }

    /// The next field: `n` in decimal.
    #[inline]
    pub fn field_u64(&mut self, n: u64) {
        self.delimit();
        let mut digits = [0u8; 20];
        self.buf.extend_from_slice(format_u64_into(n, &mut digits));
    }

    /// The next field: a virtual time as seconds with six decimals, as
    /// [`crate::engine::format_seconds`].
    #[inline]
    pub fn field_seconds(&mut self, t: crate::engine::Time) {
        self.delimit();
        let mut digits = [0u8; 32];
        self.buf
            .extend_from_slice(format_seconds_into(t, &mut digits));
    }

    /// Ends the row; hands the buffer to the writer when it is full enough.
    #[inline]
    pub fn end_row(&mut self) {
        if self.buf.len() == self.row_start {
            // As the csv crate: a record of one empty field is `""`, so
            // that it is not read back as no record at all.
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf.push(b'\n');
        self.in_row = false;
        if self.buf.len() >= CHUNK {
            self.write_buf();
        }
        self.row_start = self.buf.len();
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
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.error = Some(e);
        }
        self.buf.clear();
        self.row_start = 0;
    }

    /// Writes out the buffer's complete rows and flushes the writer;
    /// returns the first write error.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf[..self.row_start])
        {
            self.error = Some(e);
        }
        self.buf.drain(..self.row_start);
        self.row_start = 0;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

/// Writes `n` in decimal at the end of `buf`; returns the digits.
pub fn format_u64_into(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// [`crate::engine::format_seconds`] without allocating: seconds, a point,
/// six decimals.
pub fn format_seconds_into(t: crate::engine::Time, buf: &mut [u8; 32]) -> &[u8] {
    let mut micros = (t % crate::engine::SECOND) / crate::engine::MICROSECOND;
    let mut i = buf.len();
    for _ in 0..6 {
        i -= 1;
        buf[i] = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    i -= 1;
    buf[i] = b'.';
    let mut secs = t / crate::engine::SECOND;
    loop {
        i -= 1;
        buf[i] = b'0' + (secs % 10) as u8;
        secs /= 10;
        if secs == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::format_seconds;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A writer whose bytes stay readable after it is boxed.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
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
        let mut w = RowWriter::new(Box::new(out.clone()));
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
        out.0.take()
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
        let mut w = RowWriter::new(Box::new(out.clone()));
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
                c.write_record(["x".to_string(), format!("{a}{n}{b}")])
                    .unwrap();
                c.write_record([format!("{a}{b}")]).unwrap();
            }
        }
        w.field_parts(&[]);
        w.end_row();
        c.write_record([""]).unwrap();
        w.flush().unwrap();
        assert_eq!(out.0.take(), c.into_inner().unwrap());
    }

    /// The word-at-a-time check against the byte-by-byte rule, for every
    /// length up to 24 and every position of every byte value.
    #[test]
    fn needs_quotes_matches_the_byte_rule() {
        let rule = |f: &[u8]| f.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
        for len in 0..=24 {
            for pos in 0..len.max(1) {
                for v in 0..=255u8 {
                    let mut f = vec![b'a'; len];
                    if len > 0 {
                        f[pos] = v;
                    }
                    assert_eq!(needs_quotes(&f), rule(&f), "{f:?}");
                }
            }
        }
    }

    #[test]
    fn formatted_fields_and_large_outputs() {
        let out = Shared::default();
        let mut w = RowWriter::new(Box::new(out.clone()));
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
        assert_eq!(out.0.take(), c.into_inner().unwrap());
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
        let mut w = RowWriter::new(Box::new(Full));
        w.row(["a", "b"]);
        let e = w.flush().unwrap_err();
        assert_eq!(e.to_string(), "disk full");
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
    }
}
