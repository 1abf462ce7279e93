//! `embudo eval btyd`: BG/NBD, Pareto/NBD and Gamma-Gamma on the CDNOW cohort.
//!
//! Protocol of Fader, Hardie & Lee (2005): transactions of one customer on the same day are
//! one purchase (their values summed); time is in weeks (days / 7); the calibration period is
//! 1997-01-01 to 1997-09-30 (39 weeks, T measured to 1997-09-30) and the holdout 1997-10-01
//! to 1998-06-30 (39 weeks). The models are fitted on the calibration summaries; Gamma-Gamma
//! on the mean day-aggregated spend of the repeat purchases of the customers with x > 0. The
//! report compares the estimates with the published ones (for the 2,357-customer sample) and
//! the predicted repeat purchases in the holdout with the actual ones, overall and by
//! calibration frequency.
//!
//! `--data` takes the `cdnow` folder (then `CDNOW_sample.txt`, the papers' data, is read) or a
//! transactions file: `CDNOW_sample.txt` (five columns, the sample id is the customer) or
//! `CDNOW_master.txt` (four columns, a header line). When the sample is read and
//! `cdnow_customers_summary_with_transactions.csv` sits next to it, every customer's
//! `(x, t_x, T, m̄)` is checked against that file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use embudo_predict::btyd::{
    BgNbd, Cohort, CustomerSummary, Fit, FitOptions, GammaGamma, History, ParetoNbd, RepeatModel,
    SpendData, SummaryOptions, Transaction, summarize,
};
use serde_json::{Value, json};

/// Options of `embudo eval btyd`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to read (see `../shared/data/README.md`).
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object with the figures instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Published estimates for the 2,357-customer sample, 39-week calibration: BG/NBD and
/// Pareto/NBD from Fader, Hardie & Lee (2005, Marketing Science), Gamma-Gamma from Fader,
/// Hardie & Lee (2005, JMR).
const PUBLISHED_BGNBD: [(&str, f64); 5] = [
    ("r", 0.243),
    ("alpha", 4.414),
    ("a", 0.793),
    ("b", 2.426),
    ("log_likelihood", -9582.4),
];
const PUBLISHED_PARETO: [(&str, f64); 4] = [
    ("r", 0.553),
    ("alpha", 10.578),
    ("s", 0.606),
    ("beta", 11.668),
];
const PUBLISHED_GAMMA_GAMMA: [(&str, f64); 3] = [("p", 6.25), ("q", 3.74), ("gamma", 15.44)];
/// The reproduction criterion: each estimate within 0.5 % of the published one.
const TOLERANCE: f64 = 0.005;
/// The calibration-frequency groups of the holdout table: 0, 1, …, 6 and 7+.
const FREQUENCY_GROUPS: u32 = 8;

/// Which CDNOW file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `CDNOW_sample.txt`: original id, sample id, date, CDs, dollars.
    Sample,
    /// `CDNOW_master.txt`: id, date, CDs, dollars.
    Master,
}

/// Runs the evaluation.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let path = transactions_file(&args.data)?;
    let (layout, transactions) = read_transactions(&path)?;
    let report = evaluate(&path, layout, &transactions)?;
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        report.write_table(out)?;
    }
    Ok(())
}

/// The transactions file named by `--data`: the file itself, or `CDNOW_sample.txt` in a folder.
fn transactions_file(data: &Path) -> anyhow::Result<PathBuf> {
    if data.is_dir() {
        let sample = data.join("CDNOW_sample.txt");
        anyhow::ensure!(
            sample.is_file(),
            "no CDNOW_sample.txt in {}",
            data.display()
        );
        Ok(sample)
    } else {
        Ok(data.to_path_buf())
    }
}

/// Reads a CDNOW transactions file: whitespace-separated, dates as YYYYMMDD; a first line
/// that does not start with a customer id (the header of the master file) is skipped.
fn read_transactions(path: &Path) -> anyhow::Result<(Layout, Vec<Transaction<u32>>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).context("valid date")?;
    let mut layout = None;
    let mut transactions = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if line_idx == 0 && !fields[0].bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let line_no = line_idx + 1;
        let this = match fields.len() {
            5 => Layout::Sample,
            4 => Layout::Master,
            n => anyhow::bail!(
                "{}:{line_no}: expected 4 or 5 fields, found {n}",
                path.display()
            ),
        };
        anyhow::ensure!(
            *layout.get_or_insert(this) == this,
            "{}:{line_no}: the number of fields changes",
            path.display()
        );
        let (customer, date, value) = match this {
            Layout::Sample => (fields[1], fields[2], fields[4]),
            Layout::Master => (fields[0], fields[1], fields[3]),
        };
        let parse = || -> anyhow::Result<Transaction<u32>> {
            let date = NaiveDate::parse_from_str(date, "%Y%m%d").context("bad date")?;
            Ok(Transaction {
                customer: customer.parse().context("bad customer id")?,
                period: (date - epoch).num_days(),
                value: value.parse().context("bad dollar value")?,
            })
        };
        transactions.push(parse().with_context(|| format!("{}:{line_no}", path.display()))?);
    }
    let layout = layout.with_context(|| format!("no transactions in {}", path.display()))?;
    Ok((layout, transactions))
}

/// Everything the evaluation measured.
struct Report {
    path: PathBuf,
    layout: Layout,
    n_transactions: usize,
    /// Repeat customers left out of the Gamma-Gamma fit because their repeat spend is 0.
    zero_spend: usize,
    summaries: Vec<CustomerSummary<u32>>,
    holdout_weeks: f64,
    summary_check: Option<SummaryCheck>,
    bgnbd: Timed<BgNbd>,
    bgnbd_se: Option<BgNbd>,
    pareto: Timed<ParetoNbd>,
    pareto_se: Option<ParetoNbd>,
    gamma_gamma: Timed<GammaGamma>,
    gamma_gamma_se: Option<GammaGamma>,
    /// Per customer: E[holdout repeat purchases] under BG/NBD and Pareto/NBD.
    predicted: Vec<(f64, f64)>,
    /// Expected holdout spend: Σ E[value | x, m̄] · E[purchases] (BG/NBD).
    predicted_value: f64,
}

/// A fit and the time it took (building the cohort included).
struct Timed<M> {
    fit: Fit<M>,
    seconds: f64,
}

/// The comparison of our summaries with the published summary file.
struct SummaryCheck {
    file: PathBuf,
    customers: usize,
    matching: usize,
}

fn evaluate(
    path: &Path,
    layout: Layout,
    transactions: &[Transaction<u32>],
) -> anyhow::Result<Report> {
    let day = |y, m, d| -> anyhow::Result<i64> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).context("valid date")?;
        Ok((NaiveDate::from_ymd_opt(y, m, d).context("valid date")? - epoch).num_days())
    };
    let options = SummaryOptions {
        calibration_end: day(1997, 9, 30)?,
        holdout_end: Some(day(1998, 6, 30)?),
        periods_per_unit: 7.0,
    };
    let summaries = summarize(transactions, &options)?;
    let histories: Vec<History> = summaries.iter().map(|s| s.history).collect();
    let fit_options = FitOptions::default();

    let start = Instant::now();
    let cohort = Cohort::new(histories.iter().copied())?;
    let bgnbd_fit = BgNbd::fit(&cohort, &fit_options)?;
    let bgnbd = Timed {
        fit: bgnbd_fit,
        seconds: start.elapsed().as_secs_f64(),
    };
    let start = Instant::now();
    let cohort = Cohort::new(histories.iter().copied())?;
    let pareto_fit = ParetoNbd::fit(&cohort, &fit_options)?;
    let pareto = Timed {
        fit: pareto_fit,
        seconds: start.elapsed().as_secs_f64(),
    };
    let start = Instant::now();
    // Gamma-Gamma needs positive spend: repeat customers whose repeat purchases are all $0
    // (a few in the master file) are left out of its fit.
    let spend = SpendData::new(
        summaries
            .iter()
            .filter(|s| s.mean_repeat_value > 0.0)
            .map(|s| (s.history.x, s.mean_repeat_value)),
    )?;
    let zero_spend = summaries
        .iter()
        .filter(|s| s.history.x > 0 && s.mean_repeat_value <= 0.0)
        .count();
    let gamma_gamma_fit = GammaGamma::fit(&spend, &fit_options)?;
    let gamma_gamma = Timed {
        fit: gamma_gamma_fit,
        seconds: start.elapsed().as_secs_f64(),
    };

    let holdout_weeks = options.holdout_length();
    let mut predicted = Vec::with_capacity(summaries.len());
    let mut predicted_value = 0.0;
    for s in &summaries {
        let bg = bgnbd
            .fit
            .model
            .conditional_expected_transactions(&s.history, holdout_weeks);
        let pn = pareto
            .fit
            .model
            .conditional_expected_transactions(&s.history, holdout_weeks);
        predicted.push((bg, pn));
        predicted_value += gamma_gamma
            .fit
            .model
            .conditional_expected_value(s.history.x, s.mean_repeat_value)?
            * bg;
    }
    let summary_check = match layout {
        Layout::Sample => check_summaries(path, &summaries)?,
        Layout::Master => None,
    };
    Ok(Report {
        path: path.to_path_buf(),
        layout,
        n_transactions: transactions.len(),
        zero_spend,
        bgnbd_se: bgnbd.fit.model.standard_errors(&cohort),
        pareto_se: pareto.fit.model.standard_errors(&cohort),
        gamma_gamma_se: gamma_gamma.fit.model.standard_errors(&spend),
        summaries,
        holdout_weeks,
        summary_check,
        bgnbd,
        pareto,
        gamma_gamma,
        predicted,
        predicted_value,
    })
}

/// Compares `(x, t_x, T, m̄)` with `cdnow_customers_summary_with_transactions.csv` next to the
/// sample file, if there (values there are rounded to two decimals).
fn check_summaries(
    path: &Path,
    summaries: &[CustomerSummary<u32>],
) -> anyhow::Result<Option<SummaryCheck>> {
    let file = path.with_file_name("cdnow_customers_summary_with_transactions.csv");
    if !file.is_file() {
        return Ok(None);
    }
    let mut reader = csv::Reader::from_path(&file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let mut published: HashMap<u32, [f64; 4]> = HashMap::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("failed to read {}", file.display()))?;
        let field = |i: usize| -> anyhow::Result<f64> {
            record
                .get(i)
                .context("missing field")?
                .trim()
                .parse::<f64>()
                .with_context(|| format!("{}: bad number", file.display()))
        };
        published.insert(
            field(0)? as u32,
            [field(1)?, field(2)?, field(3)?, field(4)?],
        );
    }
    let near = |a: f64, b: f64| (a - b).abs() <= 0.005 + 1e-9;
    let matching = summaries
        .iter()
        .filter(|s| {
            published.get(&s.customer).is_some_and(|p| {
                f64::from(s.history.x) == p[0]
                    && near(s.history.t_x, p[1])
                    && near(s.history.age, p[2])
                    && near(s.mean_repeat_value, p[3])
            })
        })
        .count();
    Ok(Some(SummaryCheck {
        file,
        customers: published.len(),
        matching,
    }))
}

/// A model's lines of the table: name, estimates, standard errors, published values, fit
/// seconds and iterations.
type ModelRows<'a> = (
    &'a str,
    Vec<(&'a str, f64)>,
    Option<Vec<f64>>,
    &'a [(&'a str, f64)],
    f64,
    u64,
);

/// One row of the holdout table.
struct FrequencyRow {
    label: String,
    customers: usize,
    actual: f64,
    bgnbd: f64,
    pareto: f64,
}

impl Report {
    fn repeat_customers(&self) -> usize {
        self.summaries.iter().filter(|s| s.history.x > 0).count()
    }

    fn calibration_repeats(&self) -> u64 {
        self.summaries.iter().map(|s| u64::from(s.history.x)).sum()
    }

    fn actual_holdout(&self) -> u64 {
        self.summaries
            .iter()
            .map(|s| u64::from(s.holdout_transactions))
            .sum()
    }

    fn actual_holdout_value(&self) -> f64 {
        self.summaries.iter().map(|s| s.holdout_value).sum()
    }

    fn predicted_totals(&self) -> (f64, f64) {
        self.predicted
            .iter()
            .fold((0.0, 0.0), |(a, b), &(bg, pn)| (a + bg, b + pn))
    }

    /// Mean holdout purchases per customer by calibration frequency: 0, …, 6, 7+.
    fn by_frequency(&self) -> Vec<FrequencyRow> {
        let mut rows: Vec<FrequencyRow> = (0..FREQUENCY_GROUPS)
            .map(|x| FrequencyRow {
                label: if x + 1 == FREQUENCY_GROUPS {
                    format!("{x}+")
                } else {
                    x.to_string()
                },
                customers: 0,
                actual: 0.0,
                bgnbd: 0.0,
                pareto: 0.0,
            })
            .collect();
        for (s, &(bg, pn)) in self.summaries.iter().zip(&self.predicted) {
            let row = &mut rows[s.history.x.min(FREQUENCY_GROUPS - 1) as usize];
            row.customers += 1;
            row.actual += f64::from(s.holdout_transactions);
            row.bgnbd += bg;
            row.pareto += pn;
        }
        for row in &mut rows {
            let n = row.customers.max(1) as f64;
            row.actual /= n;
            row.bgnbd /= n;
            row.pareto /= n;
        }
        rows
    }

    /// The published values with our relative differences, for the sample only.
    fn published(
        &self,
        published: &[(&str, f64)],
        ours: &[(&str, f64)],
    ) -> Option<Vec<(String, f64, f64)>> {
        if self.layout != Layout::Sample {
            return None;
        }
        Some(
            published
                .iter()
                .map(|&(name, value)| {
                    let our = ours
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or(f64::NAN, |&(_, v)| v);
                    (name.to_string(), value, (our - value) / value.abs())
                })
                .collect(),
        )
    }

    fn model_json(
        &self,
        ours: &[(&str, f64)],
        se: Option<Vec<(&str, f64)>>,
        published: &[(&str, f64)],
        seconds: f64,
        iterations: u64,
    ) -> Value {
        let mut object = serde_json::Map::new();
        for &(name, value) in ours {
            object.insert(name.to_string(), json!(value));
        }
        object.insert("fit_seconds".into(), json!(seconds));
        object.insert("iterations".into(), json!(iterations));
        object.insert(
            "standard_errors".into(),
            se.map_or(Value::Null, |se| {
                Value::Object(
                    se.into_iter()
                        .map(|(n, v)| (n.to_string(), json!(v)))
                        .collect(),
                )
            }),
        );
        match self.published(published, ours) {
            Some(rows) => {
                let within = rows.iter().all(|(_, _, rel)| rel.abs() <= TOLERANCE);
                object.insert(
                    "published".into(),
                    Value::Object(rows.iter().map(|(n, v, _)| (n.clone(), json!(v))).collect()),
                );
                object.insert(
                    "relative_difference".into(),
                    Value::Object(
                        rows.iter()
                            .map(|(n, _, rel)| (n.clone(), json!(rel)))
                            .collect(),
                    ),
                );
                object.insert("within_half_percent".into(), json!(within));
            }
            None => {
                object.insert("published".into(), Value::Null);
            }
        }
        Value::Object(object)
    }

    fn to_json(&self) -> Value {
        let bg = &self.bgnbd.fit;
        let pn = &self.pareto.fit;
        let gg = &self.gamma_gamma.fit;
        let (pred_bg, pred_pn) = self.predicted_totals();
        json!({
            "data": {
                "file": self.path.display().to_string(),
                "layout": match self.layout { Layout::Sample => "sample", Layout::Master => "master" },
                "transactions": self.n_transactions,
                "customers": self.summaries.len(),
                "repeat_customers": self.repeat_customers(),
                "zero_spend_repeat_customers": self.zero_spend,
                "calibration_repeat_transactions": self.calibration_repeats(),
                "calibration": { "start": "1997-01-01", "end": "1997-09-30" },
                "holdout": { "start": "1997-10-01", "end": "1998-06-30" },
                "time_unit": "week",
                "summary_check": self.summary_check.as_ref().map(|c| json!({
                    "file": c.file.display().to_string(),
                    "customers": c.customers,
                    "matching": c.matching,
                })),
            },
            "bgnbd": self.model_json(
                &bgnbd_values(bg),
                self.bgnbd_se.map(|m| vec![("r", m.r), ("alpha", m.alpha), ("a", m.a), ("b", m.b)]),
                &PUBLISHED_BGNBD, self.bgnbd.seconds, bg.iterations),
            "pareto_nbd": self.model_json(
                &pareto_values(pn),
                self.pareto_se.map(|m| vec![("r", m.r), ("alpha", m.alpha), ("s", m.s), ("beta", m.beta)]),
                &PUBLISHED_PARETO, self.pareto.seconds, pn.iterations),
            "gamma_gamma": self.model_json(
                &gamma_gamma_values(gg),
                self.gamma_gamma_se.map(|m| vec![("p", m.p), ("q", m.q), ("gamma", m.gamma)]),
                &PUBLISHED_GAMMA_GAMMA, self.gamma_gamma.seconds, gg.iterations),
            "holdout": {
                "weeks": self.holdout_weeks,
                "actual": self.actual_holdout(),
                "bgnbd": pred_bg,
                "pareto_nbd": pred_pn,
                "by_frequency": self.by_frequency().iter().map(|row| json!({
                    "x": row.label,
                    "customers": row.customers,
                    "mean_actual": row.actual,
                    "mean_bgnbd": row.bgnbd,
                    "mean_pareto_nbd": row.pareto,
                })).collect::<Vec<_>>(),
                "value": {
                    "actual": self.actual_holdout_value(),
                    "bgnbd_gamma_gamma": self.predicted_value,
                },
            },
        })
    }

    fn write_table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        writeln!(
            out,
            "BTYD on CDNOW ({file}): {} customers, {} transactions, {} repeat customers, {} repeat purchases in calibration",
            self.summaries.len(),
            self.n_transactions,
            self.repeat_customers(),
            self.calibration_repeats()
        )?;
        writeln!(
            out,
            "calibration 1997-01-01..1997-09-30, holdout 1997-10-01..1998-06-30 ({:.0} weeks); time unit: week; same-day purchases merged",
            self.holdout_weeks
        )?;
        if self.zero_spend > 0 {
            writeln!(
                out,
                "{} repeat customers with $0 repeat spend are left out of the Gamma-Gamma fit",
                self.zero_spend
            )?;
        }
        if let Some(check) = &self.summary_check {
            writeln!(
                out,
                "summary check against {}: {} of {} customers match (x exact; t_x, T, m̄ within 0.005)",
                check
                    .file
                    .file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
                check.matching,
                check.customers
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<12} {:<15} {:>12} {:>10} {:>12} {:>10}",
            "model", "parameter", "estimate", "std err", "published", "rel. diff"
        )?;
        let bg = &self.bgnbd.fit;
        let pn = &self.pareto.fit;
        let gg = &self.gamma_gamma.fit;
        let bg_se = self.bgnbd_se.map(|m| vec![m.r, m.alpha, m.a, m.b]);
        let pn_se = self.pareto_se.map(|m| vec![m.r, m.alpha, m.s, m.beta]);
        let gg_se = self.gamma_gamma_se.map(|m| vec![m.p, m.q, m.gamma]);
        let models: [ModelRows<'_>; 3] = [
            (
                "BG/NBD",
                bgnbd_values(bg),
                bg_se,
                &PUBLISHED_BGNBD,
                self.bgnbd.seconds,
                bg.iterations,
            ),
            (
                "Pareto/NBD",
                pareto_values(pn),
                pn_se,
                &PUBLISHED_PARETO,
                self.pareto.seconds,
                pn.iterations,
            ),
            (
                "Gamma-Gamma",
                gamma_gamma_values(gg),
                gg_se,
                &PUBLISHED_GAMMA_GAMMA,
                self.gamma_gamma.seconds,
                gg.iterations,
            ),
        ];
        for (name, values, se, published, seconds, iterations) in models {
            let rows = self.published(published, &values);
            for (i, &(parameter, value)) in values.iter().enumerate() {
                let se = se
                    .as_ref()
                    .and_then(|se| se.get(i))
                    .map_or_else(String::new, |v| format!("{v:.4}"));
                let reference = rows
                    .as_ref()
                    .and_then(|rows| rows.iter().find(|(n, _, _)| n == parameter));
                let (published, rel) = reference
                    .map_or((String::new(), String::new()), |(_, v, rel)| {
                        (format!("{v}"), format!("{:+.3}%", 100.0 * rel))
                    });
                let label = if i == 0 { name } else { "" };
                let shown = if parameter == "log_likelihood" {
                    format!("{value:.2}")
                } else {
                    format!("{value:.4}")
                };
                writeln!(
                    out,
                    "{label:<12} {parameter:<15} {shown:>12} {se:>10} {published:>12} {rel:>10}"
                )?;
            }
            writeln!(
                out,
                "{:<12} {:<15} {:>12}",
                "",
                "fit",
                format!("{:.1} ms", 1e3 * seconds)
            )?;
            writeln!(out, "{:<12} {:<15} {iterations:>12}", "", "iterations")?;
        }
        writeln!(out)?;
        let (pred_bg, pred_pn) = self.predicted_totals();
        writeln!(
            out,
            "holdout weeks 40-78: repeat purchases per customer by calibration frequency x"
        )?;
        writeln!(
            out,
            "{:<6} {:>10} {:>10} {:>10} {:>11}",
            "x", "customers", "actual", "BG/NBD", "Pareto/NBD"
        )?;
        for row in self.by_frequency() {
            writeln!(
                out,
                "{:<6} {:>10} {:>10.3} {:>10.3} {:>11.3}",
                row.label, row.customers, row.actual, row.bgnbd, row.pareto
            )?;
        }
        writeln!(
            out,
            "{:<6} {:>10} {:>10} {:>10.1} {:>11.1}",
            "total",
            self.summaries.len(),
            self.actual_holdout(),
            pred_bg,
            pred_pn
        )?;
        writeln!(
            out,
            "holdout spend: actual ${:.0}, BG/NBD x Gamma-Gamma ${:.0}",
            self.actual_holdout_value(),
            self.predicted_value
        )?;
        Ok(())
    }
}

fn bgnbd_values(fit: &Fit<BgNbd>) -> Vec<(&'static str, f64)> {
    let m = fit.model;
    vec![
        ("r", m.r),
        ("alpha", m.alpha),
        ("a", m.a),
        ("b", m.b),
        ("log_likelihood", fit.log_likelihood),
    ]
}

fn pareto_values(fit: &Fit<ParetoNbd>) -> Vec<(&'static str, f64)> {
    let m = fit.model;
    vec![
        ("r", m.r),
        ("alpha", m.alpha),
        ("s", m.s),
        ("beta", m.beta),
        ("log_likelihood", fit.log_likelihood),
    ]
}

fn gamma_gamma_values(fit: &Fit<GammaGamma>) -> Vec<(&'static str, f64)> {
    let m = fit.model;
    vec![
        ("p", m.p),
        ("q", m.q),
        ("gamma", m.gamma),
        ("log_likelihood", fit.log_likelihood),
    ]
}
