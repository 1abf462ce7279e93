//! Import formats: files of events and orders into embudo events.
//!
//! A file is read once, front to back. Its rows become [`Event`]s with a deterministic
//! `messageId` derived from the source, so that importing the same file again stores nothing
//! twice (the log de-duplicates on `(workspace, message_id)`). Rows that cannot become an event
//! are either *skipped* (they cannot belong to a person, e.g. an invoice line without a customer)
//! or *rejected* (a value is wrong); both are counted by reason, and rejected rows are written
//! out with their line, raw text, field and reason. A rejected row never stops the others.
//!
//! The conversion itself ([`convert`]) is synchronous and works on any [`std::io::Read`]; the
//! pipeline ([`import`]) runs it on a blocking thread and appends large batches through
//! [`Embudo::ingest`] on the async side, with a bounded channel between them.
//!
//! Formats:
//! - [`Format::Segment`]: Segment JSON lines, one message per line.
//! - [`Format::OrdersCsv`]: order lines from CSV with a column mapping ([`OrderField`]).
//! - [`Format::OnlineRetail`]: the UCI Online Retail layout (a preset of order lines).
//! - [`Format::Shopify`]: the Shopify orders export (a preset of order lines).
//! - [`Format::Rees46`]: behaviour events in the REES46 layout.

mod common;
mod orders;
mod pipeline;
mod read;
mod records;
mod rees46;
mod segment;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use embudo_core::{Event, Timestamp};

pub use crate::pipeline::{Mode, Progress, import};
pub use crate::read::convert;

/// The file formats `embudo import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Segment,
    OrdersCsv,
    OnlineRetail,
    Shopify,
    Rees46,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Segment,
        Format::OrdersCsv,
        Format::OnlineRetail,
        Format::Shopify,
        Format::Rees46,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Segment => "segment",
            Format::OrdersCsv => "orders-csv",
            Format::OnlineRetail => "online-retail",
            Format::Shopify => "shopify",
            Format::Rees46 => "rees46",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ImportError;

    fn from_str(text: &str) -> Result<Format, ImportError> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| ImportError::UnknownFormat(text.to_owned()))
    }
}

/// The fields of an order line that a column mapping (`--map field=Column`) can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderField {
    OrderId,
    CustomerId,
    Email,
    PlacedAt,
    ProductId,
    Sku,
    Name,
    Category,
    Quantity,
    UnitPrice,
    Currency,
    /// The refunded amount of the order (a number), or `true`/`yes` for a whole-order refund.
    Refunded,
    CancelledAt,
    /// The order total (else the sum of its lines).
    Total,
    /// A customer trait: the country.
    Country,
    /// Shopify's `Financial Status` (`refunded` without an amount refunds the whole order).
    FinancialStatus,
}

impl OrderField {
    pub const ALL: [OrderField; 16] = [
        OrderField::OrderId,
        OrderField::CustomerId,
        OrderField::Email,
        OrderField::PlacedAt,
        OrderField::ProductId,
        OrderField::Sku,
        OrderField::Name,
        OrderField::Category,
        OrderField::Quantity,
        OrderField::UnitPrice,
        OrderField::Currency,
        OrderField::Refunded,
        OrderField::CancelledAt,
        OrderField::Total,
        OrderField::Country,
        OrderField::FinancialStatus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderField::OrderId => "order_id",
            OrderField::CustomerId => "customer_id",
            OrderField::Email => "email",
            OrderField::PlacedAt => "placed_at",
            OrderField::ProductId => "product_id",
            OrderField::Sku => "sku",
            OrderField::Name => "name",
            OrderField::Category => "category",
            OrderField::Quantity => "quantity",
            OrderField::UnitPrice => "unit_price",
            OrderField::Currency => "currency",
            OrderField::Refunded => "refunded",
            OrderField::CancelledAt => "cancelled_at",
            OrderField::Total => "total",
            OrderField::Country => "country",
            OrderField::FinancialStatus => "financial_status",
        }
    }

    /// Parses one `--map field=Column` argument.
    pub fn parse_mapping(text: &str) -> Result<(OrderField, String), ImportError> {
        let (field, column) = text
            .split_once('=')
            .ok_or_else(|| ImportError::BadMapping(text.to_owned()))?;
        let field = OrderField::ALL
            .into_iter()
            .find(|known| known.as_str() == field.trim())
            .ok_or_else(|| ImportError::UnknownField(field.trim().to_owned()))?;
        Ok((field, column.to_owned()))
    }
}

/// How to read a file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `None`: detected from the first line.
    pub format: Option<Format>,
    /// Column mapping for order CSV files (`orders-csv`; overrides a preset's columns).
    pub columns: Vec<(OrderField, String)>,
    /// strftime format of the date columns of order CSV files (default: ISO-like forms).
    pub date_format: Option<String>,
    /// Events per append.
    pub batch_size: usize,
    /// When the events are received (the import's start).
    pub received_at: Timestamp,
}

/// A row that did not become an event: where, what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The row as read (re-encoded for CSV).
    pub raw: String,
    pub field: String,
    pub reason: String,
}

impl Issue {
    /// The key rows are counted by in a summary: the field and the reason, without details
    /// after a colon.
    pub fn count_key(&self) -> String {
        let reason = self.reason.split(':').next().unwrap_or_default();
        format!("{}: {}", self.field, reason)
    }

    /// One JSON object (for the rejected-rows file).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "line": self.line,
            "raw": self.raw,
            "field": self.field,
            "reason": self.reason,
        })
        .to_string()
    }
}

/// What a conversion produced: events, and rows that did not become events.
#[derive(Debug, Default)]
pub struct Output {
    pub events: Vec<Event>,
    /// Rows that cannot belong to a person (not an error in the file).
    pub skipped: Vec<Issue>,
    /// Rows with a wrong value.
    pub rejected: Vec<Issue>,
}

impl Output {
    /// An empty output with room for a batch of `events`: the batch's vector is allocated
    /// once instead of doubled a dozen times (a copy of the events each time).
    pub(crate) fn with_capacity(events: usize) -> Output {
        Output {
            events: Vec::with_capacity(events),
            ..Output::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.skipped.is_empty() && self.rejected.is_empty()
    }

    /// Adds an event after the store's checks; an event the store would refuse is rejected.
    pub(crate) fn push_event(&mut self, event: Event, line: u64, raw: impl FnOnce() -> String) {
        match embudo_store::validate_event(&event) {
            Ok(()) => self.events.push(event),
            Err(err) => self.rejected.push(Issue {
                line,
                raw: raw(),
                field: "(event)".to_owned(),
                reason: err.to_string(),
            }),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub format: Option<Format>,
    /// Data rows (or lines) read.
    pub rows: u64,
    /// Bytes of the file read (compressed size for `.gz`).
    pub bytes: u64,
    /// Events the rows became.
    pub events: u64,
    /// Events newly stored.
    pub stored: u64,
    /// Events already in the log (an earlier run of the same import, or a repeated message).
    pub duplicates: u64,
    /// Skipped rows by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Rejected rows by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Time spent reading, decompressing and converting (without waiting for the store).
    pub parse_time: Duration,
    /// Time spent in appends (and in processing them into profiles, with
    /// [`Mode::StoreAndProcess`]).
    pub append_time: Duration,
    /// What processing the events into profiles did, with [`Mode::StoreAndProcess`].
    pub processed: embudo_service::ProcessOutcome,
    /// Wall-clock time of the whole import.
    pub total_time: Duration,
}

impl Summary {
    pub fn n_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn n_rejected(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Why an import could not run (rows with bad values are [`Issue`]s, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "unknown format {0:?} (expected segment, orders-csv, online-retail, shopify or rees46)"
    )]
    UnknownFormat(String),
    #[error("--map {0:?} is not field=Column")]
    BadMapping(String),
    #[error(
        "--map names unknown field {0:?} (expected order_id, customer_id, email, placed_at, product_id, sku, name, category, quantity, unit_price, currency, refunded, cancelled_at, total, country, financial_status)"
    )]
    UnknownField(String),
    #[error("column {column:?} (for {field}) is not in the header")]
    MissingColumn { field: String, column: String },
    #[error("orders-csv needs --map for {0}")]
    Unmapped(&'static str),
    #[error("cannot tell the format from the first line; pass --format")]
    Undetected,
    #[error("the file is empty")]
    Empty,
    #[error("failed to read the file")]
    Io(#[from] std::io::Error),
    #[error("failed to read the CSV")]
    Csv(#[from] csv::Error),
    #[error("failed to write a rejected row")]
    WriteRejected(#[source] std::io::Error),
    #[error("failed to append events")]
    Ingest(#[source] embudo_service::ServiceError),
    #[error("the reading thread failed: {0}")]
    Thread(String),
}

#[cfg(test)]
mod tests;
