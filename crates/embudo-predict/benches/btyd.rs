//! BTYD benchmarks: BG/NBD fit and predictions on the full CDNOW cohort (23,570 customers,
//! `CDNOW_master.txt`, 39-week calibration, weeks) and on 1,000,000 customers resampled from
//! it with replacement (SplitMix64, seed 42, index = (next >> 11) mod n: the same draw as
//! `scripts/bench_btyd_lifetimes.py`, which runs this bench next to Python `lifetimes`).
//!
//! The data file is `$EMBUDO_CDNOW_MASTER`, or `../shared/data/cdnow/CDNOW_master.txt` next to
//! the repository. Before measuring, one line per dataset gives the fitted parameters and a
//! checksum of the histories, for the comparison script:
//! `btyd-bench <dataset> customers=… sum_x=… sum_t_x=… sum_age=… r=… alpha=… a=… b=…`.
//!
//! Each fit starts from the per-customer histories: merging them into a cohort is measured.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use embudo_predict::btyd::{
    BgNbd, Cohort, FitOptions, History, ParetoNbd, RepeatModel, SummaryOptions, Transaction,
    summarize,
};

/// Resampled customers.
const N_RESAMPLED: usize = 1_000_000;
/// Seed of the resampling.
const SEED: u64 = 42;
/// Horizon of the conditional expectations: the 39-week holdout.
const HORIZON: f64 = 39.0;

fn data_path() -> PathBuf {
    std::env::var_os("EMBUDO_CDNOW_MASTER").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/cdnow/CDNOW_master.txt")
        },
        PathBuf::from,
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calibration histories of the master file, sorted by customer id (`None` without data).
fn cdnow_master() -> Option<Vec<History>> {
    let path = data_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "btyd bench: no data at {} (set EMBUDO_CDNOW_MASTER)",
            path.display()
        );
        return None;
    };
    let mut transactions = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Skips the header line and anything malformed.
        let (Some(customer), Some(date), Some(value)) = (
            fields.first().and_then(|f| f.parse::<u32>().ok()),
            fields.get(1).and_then(|f| f.parse::<i64>().ok()),
            fields.get(3).and_then(|f| f.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let period = days_from_civil(date / 10_000, date / 100 % 100, date % 100);
        transactions.push(Transaction {
            customer,
            period,
            value,
        });
    }
    let options = SummaryOptions {
        calibration_end: days_from_civil(1997, 9, 30),
        holdout_end: None,
        periods_per_unit: 7.0,
    };
    let summaries = summarize(&transactions, &options).expect("valid CDNOW transactions");
    Some(summaries.into_iter().map(|s| s.history).collect())
}

/// SplitMix64 (Steele, Lea & Flood 2014), written out so that Python can draw the same.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn resample(histories: &[History], n: usize, seed: u64) -> Vec<History> {
    let mut state = seed;
    (0..n)
        .map(|_| histories[((splitmix64(&mut state) >> 11) % histories.len() as u64) as usize])
        .collect()
}

fn fit(histories: &[History]) -> BgNbd {
    let cohort = Cohort::new(histories.iter().copied()).expect("valid histories");
    BgNbd::fit(&cohort, &FitOptions::default())
        .expect("BG/NBD converges on CDNOW")
        .model
}

/// P(alive) and the expected purchases in the horizon, customer by customer.
fn predict_each(model: &BgNbd, histories: &[History]) -> Vec<(f64, f64)> {
    histories
        .iter()
        .map(|h| {
            (
                model.p_alive(h),
                model.conditional_expected_transactions(h, HORIZON),
            )
        })
        .collect()
}

/// The same, computed once per distinct history and copied to the customers.
fn predict_grouped(model: &BgNbd, histories: &[History]) -> Vec<(f64, f64)> {
    let (cohort, row_of) = Cohort::new_indexed(histories).expect("valid histories");
    let rows = predict_each(model, cohort.rows());
    row_of.iter().map(|&row| rows[row as usize]).collect()
}

fn report(name: &str, histories: &[History], model: &BgNbd) {
    let (mut sum_x, mut sum_t_x, mut sum_age) = (0u64, 0.0, 0.0);
    for h in histories {
        sum_x += u64::from(h.x);
        sum_t_x += h.t_x;
        sum_age += h.age;
    }
    println!(
        "btyd-bench {name} customers={} sum_x={sum_x} sum_t_x={sum_t_x:.4} sum_age={sum_age:.4} \
         r={:.10} alpha={:.10} a={:.10} b={:.10}",
        histories.len(),
        model.r,
        model.alpha,
        model.a,
        model.b
    );
}

fn benches(c: &mut Criterion) {
    let Some(master) = cdnow_master() else {
        return;
    };
    let resampled = resample(&master, N_RESAMPLED, SEED);
    let datasets = [("cdnow_master", &master), ("resampled_1m", &resampled)];
    let mut models = Vec::new();
    for (name, histories) in datasets {
        let model = fit(histories);
        report(name, histories, &model);
        models.push(model);
    }

    let mut group = c.benchmark_group("bgnbd_fit");
    group.sample_size(20);
    for (name, histories) in datasets {
        group.bench_with_input(BenchmarkId::from_parameter(name), histories, |b, h| {
            b.iter(|| fit(black_box(h)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("bgnbd_predict");
    group.sample_size(10);
    for ((name, histories), model) in datasets.iter().zip(&models) {
        group.bench_with_input(BenchmarkId::new("each", name), histories, |b, h| {
            b.iter(|| predict_each(model, black_box(h)));
        });
        group.bench_with_input(BenchmarkId::new("grouped", name), histories, |b, h| {
            b.iter(|| predict_grouped(model, black_box(h)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("pareto_nbd_fit");
    group.sample_size(10);
    group.bench_function("cdnow_master", |b| {
        b.iter(|| {
            let cohort = Cohort::new(black_box(&master).iter().copied()).expect("valid histories");
            ParetoNbd::fit(&cohort, &FitOptions::default()).expect("Pareto/NBD converges on CDNOW")
        });
    });
    group.finish();
}

criterion_group!(btyd, benches);
criterion_main!(btyd);
