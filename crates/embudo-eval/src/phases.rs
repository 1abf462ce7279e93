//! `embudo eval phases`: do the purchase phases mean something on real data?
//!
//! Two datasets, detected by their CSV header:
//! - the UCI online shoppers sessions: each session's page counts become events, the session
//!   is classified from behaviour alone and the purchase rate is reported per phase
//!   ([`shoppers`]);
//! - the REES46 event slice: every event before `--at` goes through the engine, every person
//!   is classified at `--at`, and purchases in `[--at, --until)` are counted per phase
//!   ([`rees46`]).
//!
//! Both build real [`embudo_core::Event`]s and go through `Event::action`,
//! `PhaseState::apply`, `Aggregates::apply` and `evaluate`, as the service does.

mod rees46;
mod shoppers;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use embudo_core::Timestamp;
use embudo_core::phase::Phase;

/// Options of `embudo eval phases`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to read: `online_shoppers_intention.csv` or the REES46 `.csv.gz` slice
    /// (detected by the header).
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object with the figures instead of a table.
    #[arg(long)]
    pub json: bool,
    /// REES46: classify everyone at this time (RFC 3339).
    #[arg(long, default_value = "2019-10-01T01:30:00Z")]
    pub at: String,
    /// REES46: count purchases from `--at` up to (not including) this time.
    #[arg(long, default_value = "2019-10-01T02:50:00Z")]
    pub until: String,
}

/// Runs the evaluation.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut reader = open(&args.data)?;
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .with_context(|| format!("failed to read the header of {}", args.data.display()))?;
    let header = header.trim_end();
    let report = if header.starts_with("Administrative,") {
        shoppers::read(reader, header)
            .with_context(|| format!("failed to evaluate {}", args.data.display()))?
    } else if header.starts_with("event_time,event_type,") {
        let at = Timestamp::parse(&args.at).context("--at is not a date-time")?;
        let until = Timestamp::parse(&args.until).context("--until is not a date-time")?;
        anyhow::ensure!(until > at, "--until must be later than --at");
        rees46::read(reader, header, at, until)
            .with_context(|| format!("failed to evaluate {}", args.data.display()))?
    } else {
        anyhow::bail!(
            "{}: unknown dataset (expected the online shoppers or the REES46 CSV header, got {header:?})",
            args.data.display()
        );
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?;
    } else {
        write!(out, "{}", report.to_table())?;
    }
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|ext| ext == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader)))
}

/// People (or sessions) and buyers in one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cell {
    pub(crate) n: u64,
    pub(crate) buyers: u64,
}

impl Cell {
    pub(crate) fn add(&mut self, bought: bool) {
        self.n += 1;
        self.buyers += u64::from(bought);
    }

    pub(crate) fn rate(self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.buyers as f64 / self.n as f64
        }
    }

    fn json(self) -> serde_json::Value {
        serde_json::json!({ "n": self.n, "buyers": self.buyers, "rate": round(self.rate(), 4) })
    }
}

/// Counts per phase, for one way of reading the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PhaseTable {
    pub(crate) label: String,
    pub(crate) per_phase: [Cell; 3],
    /// Phase II split by confidence: below 0.8, and 0.8 or more.
    pub(crate) phase_two_by_confidence: [Cell; 2],
}

impl PhaseTable {
    pub(crate) fn new(label: &str) -> PhaseTable {
        PhaseTable {
            label: label.to_owned(),
            ..PhaseTable::default()
        }
    }

    pub(crate) fn add(&mut self, phase: Phase, confidence: f64, bought: bool) {
        self.per_phase[phase.index()].add(bought);
        if phase == Phase::II {
            self.phase_two_by_confidence[usize::from(confidence >= 0.8)].add(bought);
        }
    }

    fn total(&self) -> Cell {
        let mut total = Cell::default();
        for cell in self.per_phase {
            total.n += cell.n;
            total.buyers += cell.buyers;
        }
        total
    }

    /// Purchase rate of phase II over that of phase I.
    pub(crate) fn lift(&self) -> Option<f64> {
        let (one, two) = (self.per_phase[0], self.per_phase[1]);
        (one.n > 0 && two.n > 0 && one.buyers > 0).then(|| two.rate() / one.rate())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label,
            "phase_i": self.per_phase[0].json(),
            "phase_ii": self.per_phase[1].json(),
            "phase_iii": self.per_phase[2].json(),
            "phase_ii_confidence_below_0_8": self.phase_two_by_confidence[0].json(),
            "phase_ii_confidence_0_8_or_more": self.phase_two_by_confidence[1].json(),
            "all": self.total().json(),
            "lift_ii_over_i": self.lift().map(|lift| round(lift, 3)),
        })
    }

    fn table(&self) -> String {
        let mut out = format!("{}\n", self.label);
        out.push_str("  phase          n     buyers   rate\n");
        let rows = [
            ("I", self.per_phase[0]),
            ("II", self.per_phase[1]),
            ("  II conf<0.8", self.phase_two_by_confidence[0]),
            ("  II conf≥0.8", self.phase_two_by_confidence[1]),
            ("III", self.per_phase[2]),
            ("all", self.total()),
        ];
        for (name, cell) in rows {
            out.push_str(&format!(
                "  {name:<13}{:>7}{:>10}{:>8.1}%\n",
                cell.n,
                cell.buyers,
                100.0 * cell.rate()
            ));
        }
        match self.lift() {
            Some(lift) => out.push_str(&format!("  lift (rate II / rate I): {lift:.2}\n")),
            None => out.push_str("  lift (rate II / rate I): n/a\n"),
        }
        out
    }
}

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub(crate) dataset: &'static str,
    pub(crate) description: String,
    pub(crate) tables: Vec<PhaseTable>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dataset": self.dataset,
            "description": self.description,
            "tables": self.tables.iter().map(PhaseTable::json).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }

    fn to_table(&self) -> String {
        let mut out = format!("{}: {}\n\n", self.dataset, self.description);
        for table in &self.tables {
            out.push_str(&table.table());
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests;
