//! Splits a CSV byte stream into rows with bounded memory, and knows the physical lines of each.
//!
//! csv-core does the RFC 4180 parsing (quotes, doubled quotes, line breaks inside quotes, CR, LF
//! and CRLF line ends, a UTF-8 BOM). This module feeds it from a fixed buffer, stops reading at
//! the file limit, and keeps at most the bytes and fields a row may have: a row over them is
//! still parsed to its end, into a small scratch buffer, so one enormous row (or a stray quote
//! in front of a million lines) costs no more memory than a normal one.
//!
//! Line numbers are counted here from the bytes csv-core consumes, not taken from the parser: a
//! record's first line is the line its first byte is on, after any blank lines and after the
//! `\n` of a CRLF that csv-core leaves to the next record; a trailing line end closes the last
//! line rather than opening another. So an Excel export (BOM, CRLF) is numbered as an LF file.

use std::io::Read;

/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;
/// The output buffer a row starts with; it grows, up to the row's limit, as the row needs.
const FIRST_OUTPUT: usize = 4 * 1024;
/// Scratch room for a row over its limits: parsed, counted and dropped.
const SCRATCH_OUTPUT: usize = 4 * 1024;
const SCRATCH_ENDS: usize = 256;

/// What one row may hold.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Bytes of field data, all fields together (quotes and separators not counted).
    pub bytes: usize,
    /// Fields.
    pub fields: usize,
}

/// One record.
#[derive(Debug)]
pub(super) enum Row {
    /// Within the limits: the field data and where each field ends in it.
    Fields { data: Vec<u8>, ends: Vec<usize> },
    /// Over the limits: only its size is known.
    Oversize { fields: usize, bytes: u64 },
}

impl Row {
    /// The fields of a row within its limits (none for an oversize one).
    pub fn fields(&self) -> Vec<&[u8]> {
        match self {
            Row::Fields { data, ends } => {
                let mut start = 0;
                ends.iter()
                    .map(|&end| {
                        let field = data.get(start..end).unwrap_or_default();
                        start = end;
                        field
                    })
                    .collect()
            }
            Row::Oversize { .. } => Vec::new(),
        }
    }
}

/// Why the stream could not be read to its end.
#[derive(Debug)]
pub(super) enum Stop {
    /// The reader failed.
    Io(std::io::Error),
    /// More than the file limit: nothing from the file may be used.
    TooLarge,
}

/// The physical lines one record covers (a quoted field may hold line breaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub first: u64,
    pub last: u64,
}

impl Span {
    /// `hr.csv line 4`, or `hr.csv lines 4-9` for a record over several lines.
    pub fn location(&self, label: &str) -> String {
        if self.first == self.last {
            format!("{label} line {}", self.first)
        } else {
            format!("{label} lines {}-{}", self.first, self.last)
        }
    }

    /// For messages: `line 4` or `lines 4-9 (6 lines)`.
    pub fn lines(&self, label: &str) -> String {
        if self.first == self.last {
            format!("{label} line {}", self.first)
        } else {
            format!(
                "{label} lines {}-{} ({} lines)",
                self.first,
                self.last,
                self.last - self.first + 1
            )
        }
    }
}

/// Where the line counter stands, carried across reads. A line ends at `\n`, `\r\n` or a lone
/// `\r` (a classic Mac export), as csv-core ends records.
#[derive(Debug, Default)]
struct Lines {
    /// Line ends consumed so far.
    ends: u64,
    /// The last byte consumed.
    last: Option<u8>,
}

impl Lines {
    /// Count `consumed`; `first` is set to the line of the record's first byte once it is seen
    /// (line ends before it end the previous line or are blank lines).
    fn consume(&mut self, consumed: &[u8], first: &mut Option<u64>) {
        for &b in consumed {
            let line_end = b == b'\r' || (b == b'\n' && self.last != Some(b'\r'));
            if first.is_none() && b != b'\n' && b != b'\r' {
                *first = Some(self.ends + 1);
            }
            self.ends += u64::from(line_end);
            self.last = Some(b);
        }
    }

    /// The line the next byte is on.
    fn current(&self) -> u64 {
        self.ends + 1
    }

    /// The span of a record that began at `first` and has just ended: a line end it consumed
    /// last closes its last line rather than opening another.
    fn span(&self, first: u64) -> Span {
        let closing = u64::from(matches!(self.last, Some(b'\n' | b'\r')));
        let last = self.current().saturating_sub(closing).max(first);
        Span { first, last }
    }
}

/// The rows of a CSV stream, read at most `max_bytes` bytes far.
pub(super) struct Rows<R> {
    input: std::io::Take<R>,
    max_bytes: u64,
    read: u64,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    done: bool,
    core: csv_core::Reader,
    lines: Lines,
    output: Vec<u8>,
    ends: Vec<usize>,
    scratch: Box<[u8]>,
    scratch_ends: Box<[usize]>,
}

impl<R: Read> Rows<R> {
    /// Rows of `input` split on `delimiter`; more than `max_bytes` bytes is [`Stop::TooLarge`].
    pub fn new(input: R, delimiter: u8, max_bytes: u64) -> Self {
        Self {
            input: input.take(max_bytes.saturating_add(1)),
            max_bytes,
            read: 0,
            buf: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            done: false,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            lines: Lines::default(),
            output: Vec::new(),
            ends: Vec::new(),
            scratch: vec![0; SCRATCH_OUTPUT].into_boxed_slice(),
            scratch_ends: vec![0; SCRATCH_ENDS].into_boxed_slice(),
        }
    }

    /// Refill the buffer. The first fill reads at least the 3 bytes of a BOM when the file has
    /// them, since csv-core strips a BOM only when it sees it whole.
    fn fill(&mut self) -> Result<(), Stop> {
        let mut filled = 0;
        let want = if self.read == 0 { 3 } else { 1 };
        while filled < want {
            match self.input.read(&mut self.buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Io(e)),
            }
        }
        self.read += filled as u64;
        if self.read > self.max_bytes {
            return Err(Stop::TooLarge);
        }
        self.start = 0;
        self.end = filled;
        self.done = filled == 0;
        Ok(())
    }

    /// The next record with its span, `None` at the end of the stream.
    pub fn next(&mut self, limits: Limits) -> Result<Option<(Row, Span)>, Stop> {
        use csv_core::ReadRecordResult as R;
        self.output.clear();
        self.output.resize(FIRST_OUTPUT.min(limits.bytes + 1), 0);
        self.ends.clear();
        self.ends.resize(limits.fields + 1, 0);
        let (mut kept, mut kept_ends) = (0usize, 0usize);
        let (mut bytes, mut fields) = (0u64, 0usize);
        let mut over = false;
        let mut first = None;
        loop {
            if self.start == self.end && !self.done {
                self.fill()?;
            }
            let input = &self.buf[self.start..self.end];
            let (result, nin, nout, nend) = if over {
                self.core
                    .read_record(input, &mut self.scratch, &mut self.scratch_ends)
            } else {
                self.core
                    .read_record(input, &mut self.output[kept..], &mut self.ends[kept_ends..])
            };
            self.lines.consume(&input[..nin], &mut first);
            self.start += nin;
            bytes += nout as u64;
            fields += nend;
            if !over {
                kept += nout;
                kept_ends += nend;
            }
            match result {
                R::InputEmpty => {}
                R::OutputFull if !over && self.output.len() <= limits.bytes => {
                    let grown = (self.output.len() * 2).min(limits.bytes + 1);
                    self.output.resize(grown, 0);
                }
                R::OutputFull | R::OutputEndsFull => over = true,
                R::End => return Ok(None),
                R::Record => {
                    let span = self.lines.span(first.unwrap_or(self.lines.current()));
                    let row = if over || kept > limits.bytes || kept_ends > limits.fields {
                        Row::Oversize { fields, bytes }
                    } else {
                        self.output.truncate(kept);
                        self.ends.truncate(kept_ends);
                        Row::Fields {
                            data: std::mem::take(&mut self.output),
                            ends: std::mem::take(&mut self.ends),
                        }
                    };
                    return Ok(Some((row, span)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Limits = Limits {
        bytes: 1 << 20,
        fields: 100,
    };

    fn all(text: &[u8], limits: Limits) -> Vec<(Vec<String>, (u64, u64))> {
        let mut rows = Rows::new(text, b',', 1 << 30);
        let mut out = Vec::new();
        while let Some((row, span)) = rows.next(limits).unwrap() {
            let fields = match &row {
                Row::Fields { .. } => row
                    .fields()
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
                Row::Oversize { fields, bytes } => vec![format!("oversize {fields} {bytes}")],
            };
            out.push((fields, (span.first, span.last)));
        }
        out
    }

    #[test]
    fn spans_are_physical_lines_whatever_the_line_ends() {
        for (end, bom) in [("\n", ""), ("\r\n", ""), ("\r\n", "\u{feff}"), ("\r", "")] {
            let text = format!("{bom}h1,h2{end}a,b{end}{end}\"c{end}c\",d{end}e,f");
            let rows = all(text.as_bytes(), ROOMY);
            let fields: Vec<&Vec<String>> = rows.iter().map(|(f, _)| f).collect();
            assert_eq!(fields[0], &["h1", "h2"], "{end:?} {bom:?}");
            assert_eq!(fields[2], &[format!("c{end}c"), "d".to_owned()]);
            let spans: Vec<(u64, u64)> = rows.iter().map(|(_, s)| *s).collect();
            assert_eq!(spans, [(1, 1), (2, 2), (4, 5), (6, 6)], "{end:?} {bom:?}");
        }
    }

    #[test]
    fn an_unclosed_quote_runs_to_the_last_line_not_past_it() {
        let rows = all(b"h\n\"a\nb\nc\n", ROOMY);
        assert_eq!(rows[1].1, (2, 4));
        let rows = all(b"h\r\n\"a\r\nb\r\n", ROOMY);
        assert_eq!(rows[1].1, (2, 3));
    }

    #[test]
    fn a_row_over_its_limits_is_counted_not_kept() {
        let limits = Limits {
            bytes: 8,
            fields: 3,
        };
        let big = "x".repeat(100_000);
        let text = format!("a,b,c\n{big},y\n1,2,3,4,5\n12345678,,\n123456789,,\nlast,,\n");
        let rows = all(text.as_bytes(), limits);
        let got: Vec<&str> = rows.iter().map(|(f, _)| f[0].as_str()).collect();
        assert_eq!(
            got,
            [
                "a",
                "oversize 2 100001",
                "oversize 5 5",
                "12345678",
                "oversize 3 9",
                "last"
            ]
        );
        assert_eq!(rows[5].1, (6, 6));
    }

    #[test]
    fn the_stream_is_read_no_further_than_its_limit() {
        let endless = std::io::repeat(b'a');
        let mut rows = Rows::new(endless, b',', 1 << 20);
        let limits = Limits {
            bytes: 10,
            fields: 2,
        };
        assert!(matches!(rows.next(limits), Err(Stop::TooLarge)));
        let mut exact = Rows::new(&b"a,b\n"[..], b',', 4);
        assert!(exact.next(limits).unwrap().is_some());
        assert!(exact.next(limits).unwrap().is_none());
        let mut over = Rows::new(&b"a,b\nc"[..], b',', 4);
        assert!(matches!(over.next(limits), Err(Stop::TooLarge)));
    }
}
