//! CSV records, read fast while the file lets us.
//!
//! A machine-written export rarely quotes a field, and the csv crate's parser, a state machine
//! that steps through every byte, was a quarter of the reading thread. So a line without a
//! quote and without a carriage return (other than before its line feed) is split at its
//! commas here. From the first line that has one to the end of the file, the csv crate reads,
//! with every rule of the format: quoted fields, line breaks and doubled quotes inside them, a
//! carriage return alone ending a record. Both give the same records (a property test holds
//! them to it).
//!
//! The fast path numbers a record with the line it is on. The csv crate numbers one with the
//! line where reading it began, which after a `\r\n` line end or an empty line is a line early;
//! that is how the import numbered every record before this fast path.

use std::io::{BufRead, BufReader, Chain, Cursor, Read};

use csv::ByteRecord;

use crate::ImportError;

/// The data records of a CSV file whose header was read.
pub(crate) struct Records<R: Read> {
    state: State<R>,
    /// The file line the next line read starts.
    line: u64,
    /// The line being split.
    buffer: Vec<u8>,
}

enum State<R: Read> {
    Fast(BufReader<R>),
    Csv {
        reader: csv::Reader<Chain<Cursor<Vec<u8>>, BufReader<R>>>,
        /// The file line of the csv reader's line 1.
        first_line: u64,
    },
    /// Only while switching from one to the other.
    Switching,
}

impl<R: Read> Records<R> {
    /// Records from `input`, whose first line is line `first_line` of the file.
    pub(crate) fn new(input: BufReader<R>, first_line: u64) -> Records<R> {
        Records {
            state: State::Fast(input),
            line: first_line,
            buffer: Vec::with_capacity(1024),
        }
    }

    /// Reads the next record into `record`; returns the file line where it starts, or `None`
    /// at the end of the file. Empty lines are no records, as for the csv crate.
    pub(crate) fn read(&mut self, record: &mut ByteRecord) -> Result<Option<u64>, ImportError> {
        loop {
            match &mut self.state {
                State::Fast(input) => {
                    self.buffer.clear();
                    if input.read_until(b'\n', &mut self.buffer)? == 0 {
                        return Ok(None);
                    }
                    let content = without_terminator(&self.buffer);
                    if memchr::memchr2(b'"', b'\r', content).is_some() {
                        self.switch_to_csv();
                        continue;
                    }
                    let line = self.line;
                    self.line += 1;
                    if content.is_empty() {
                        continue;
                    }
                    record.clear();
                    let mut start = 0;
                    for comma in memchr::memchr_iter(b',', content) {
                        record.push_field(&content[start..comma]);
                        start = comma + 1;
                    }
                    record.push_field(&content[start..]);
                    return Ok(Some(line));
                }
                State::Csv { reader, first_line } => {
                    if !reader.read_byte_record(record)? {
                        return Ok(None);
                    }
                    let line = record
                        .position()
                        .map_or(*first_line, |position| *first_line + position.line() - 1);
                    return Ok(Some(line));
                }
                State::Switching => unreachable!("switching is never interrupted"),
            }
        }
    }

    /// Hands the line in the buffer and the rest of the input to the csv crate.
    fn switch_to_csv(&mut self) {
        let State::Fast(input) = std::mem::replace(&mut self.state, State::Switching) else {
            unreachable!("only the fast path switches");
        };
        let line = Cursor::new(std::mem::take(&mut self.buffer));
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line.chain(input));
        self.state = State::Csv {
            reader,
            first_line: self.line,
        };
    }
}

/// The line without its `\n` or `\r\n`.
fn without_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
