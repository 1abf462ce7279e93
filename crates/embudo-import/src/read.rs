//! Reading a file: format detection from the first line, then line by line (Segment) or record
//! by record (CSV formats), handing out batches of events.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::Ordering;

use csv::{ByteRecord, StringRecord};

use crate::pipeline::Progress;
use crate::records::Records;
use crate::{Format, ImportError, ImportOptions, Issue, Output};

/// A CSV format's conversion: records in, events out.
pub(crate) trait CsvConverter {
    /// One data record; `line` is the file line where it starts.
    fn record(&mut self, line: u64, row: Row<'_>, out: &mut Output);

    /// The end of the file (formats that group rows emit here what is still open).
    fn finish(&mut self, _out: &mut Output) {}
}

/// A CSV record as a converter reads it: checked for UTF-8 once as a whole (nearly every
/// record is), or, when it is not, as bytes whose fields are converted one by one with the
/// invalid sequences replaced. Checking each field on its own cost a tenth of the reading
/// thread.
#[derive(Clone, Copy)]
pub(crate) enum Row<'a> {
    Text(&'a StringRecord),
    Bytes(&'a ByteRecord),
}

impl<'a> Row<'a> {
    /// Field `index`, trimmed; `None` past the record's end.
    pub(crate) fn field(self, index: usize) -> Option<Cow<'a, str>> {
        match self {
            Row::Text(record) => record
                .get(index)
                .map(|text| Cow::Borrowed(embudo_core::value::trim(text))),
            Row::Bytes(record) => record.get(index).map(crate::common::text),
        }
    }

    /// The record's bytes (for its hash and for rejected-row reports).
    pub(crate) fn bytes(self) -> &'a ByteRecord {
        match self {
            Row::Text(record) => record.as_byte_record(),
            Row::Bytes(record) => record,
        }
    }
}

/// How many rows between two progress updates.
const PROGRESS_EVERY: u64 = 4_096;

/// Converts a whole (already decompressed) file. `emit` gets the output in batches of about
/// `options.batch_size` events, in file order; the rows that did not become events travel with
/// the batch they were read in. Returns the format read.
pub fn convert<R: Read>(
    reader: R,
    options: &ImportOptions,
    progress: &Progress,
    emit: &mut dyn FnMut(Output) -> Result<(), ImportError>,
) -> Result<Format, ImportError> {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut first = Vec::new();
    reader.read_until(b'\n', &mut first)?;
    let first_line = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&first);
    if first_line.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::Empty);
    }
    let format = match options.format {
        Some(format) => format,
        None => detect(first_line, options)?,
    };
    let batch = options.batch_size.max(1);
    if format == Format::Segment {
        let first_line = first_line.to_vec();
        segment_lines(first_line, reader, options, progress, batch, emit)?;
        return Ok(format);
    }
    let header = header(first_line)?;
    let mut converter: Box<dyn CsvConverter> = match format {
        Format::Rees46 => Box::new(crate::rees46::Rees46::new(&header, options)?),
        Format::OnlineRetail | Format::Shopify | Format::OrdersCsv => {
            Box::new(crate::orders::Orders::new(format, &header, options)?)
        }
        Format::Segment => return Err(ImportError::Undetected),
    };
    // The header was line 1.
    let mut records = Records::new(reader, 2);
    // Two records' buffers take turns: one is read into while the other is lent out as text.
    let mut record = ByteRecord::new();
    let mut spare = ByteRecord::new();
    let mut out = Output::with_capacity(batch);
    let mut rows = 0u64;
    while let Some(line) = records.read(&mut record)? {
        let read = std::mem::replace(&mut record, spare);
        let done = match StringRecord::from_byte_record(read) {
            Ok(text) => {
                converter.record(line, Row::Text(&text), &mut out);
                text.into_byte_record()
            }
            Err(invalid) => {
                let bytes = invalid.into_byte_record();
                converter.record(line, Row::Bytes(&bytes), &mut out);
                bytes
            }
        };
        spare = std::mem::replace(&mut record, done);
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY) {
            progress.rows.fetch_add(PROGRESS_EVERY, Ordering::Relaxed);
        }
        if out.events.len() >= batch || out.skipped.len() + out.rejected.len() >= batch {
            emit(std::mem::replace(&mut out, Output::with_capacity(batch)))?;
        }
    }
    progress
        .rows
        .fetch_add(rows % PROGRESS_EVERY, Ordering::Relaxed);
    converter.finish(&mut out);
    while out.events.len() > batch {
        let rest = out.events.split_off(batch);
        let head = std::mem::replace(&mut out.events, rest);
        emit(Output {
            events: head,
            ..Output::default()
        })?;
    }
    if !out.is_empty() {
        emit(out)?;
    }
    Ok(format)
}

fn detect(first_line: &[u8], options: &ImportOptions) -> Result<Format, ImportError> {
    if first_line.trim_ascii_start().starts_with(b"{") {
        return Ok(Format::Segment);
    }
    let header = header(first_line)?;
    let has = |name: &str| header.iter().any(|column| column == name);
    if has("event_time") && has("event_type") && has("user_session") {
        Ok(Format::Rees46)
    } else if has("InvoiceNo") && has("StockCode") {
        Ok(Format::OnlineRetail)
    } else if has("Name") && has("Lineitem quantity") {
        Ok(Format::Shopify)
    } else if !options.columns.is_empty() {
        Ok(Format::OrdersCsv)
    } else {
        Err(ImportError::Undetected)
    }
}

/// The header's column names, trimmed.
fn header(first_line: &[u8]) -> Result<Vec<String>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(first_line);
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record)? {
        return Err(ImportError::Empty);
    }
    Ok(record.iter().map(|name| name.trim().to_owned()).collect())
}

fn segment_lines<R: BufRead>(
    first_line: Vec<u8>,
    mut reader: R,
    options: &ImportOptions,
    progress: &Progress,
    batch: usize,
    emit: &mut dyn FnMut(Output) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut out = Output::with_capacity(batch);
    let mut line = first_line;
    let mut line_number = 1u64;
    loop {
        crate::segment::line(line_number, &line, options.received_at, &mut out);
        if out.events.len() >= batch || out.rejected.len() >= batch {
            emit(std::mem::replace(&mut out, Output::with_capacity(batch)))?;
        }
        if line_number.is_multiple_of(PROGRESS_EVERY) {
            progress.rows.fetch_add(PROGRESS_EVERY, Ordering::Relaxed);
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_number += 1;
    }
    progress
        .rows
        .fetch_add(line_number % PROGRESS_EVERY, Ordering::Relaxed);
    if !out.is_empty() {
        emit(out)?;
    }
    Ok(())
}

/// A rejected row of a CSV file.
pub(crate) fn reject(
    out: &mut Output,
    line: u64,
    row: Row<'_>,
    field: &str,
    reason: impl Into<String>,
) {
    out.rejected.push(Issue {
        line,
        raw: crate::common::raw_record(row.bytes()),
        field: field.to_owned(),
        reason: reason.into(),
    });
}

/// A skipped row of a CSV file (the raw row is not kept: skipped rows are only counted).
pub(crate) fn skip(out: &mut Output, line: u64, field: &str, reason: impl Into<String>) {
    out.skipped.push(Issue {
        line,
        raw: String::new(),
        field: field.to_owned(),
        reason: reason.into(),
    });
}
