//! Purchase-intent benchmarks: training time and per-prediction latency.
//!
//! The data is synthetic but shaped like the online shoppers sessions: 12,330 rows (9,864 in a
//! training fold), 17 columns of skewed counts, rates and small codes, 15 % positives.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use embudo_predict::intent::{
    BoostParams, BoostedTrees, FeatureMatrix, LogisticParams, LogisticRegression, sigmoid,
};
use embudo_predict::metrics::SplitMix64;

fn sessions(n: usize, seed: u64) -> (FeatureMatrix, Vec<bool>) {
    let mut rng = SplitMix64::new(seed);
    let names = (0..17).map(|j| format!("x{j}")).collect();
    let mut x = FeatureMatrix::new(names);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let mut row = [0f32; 17];
        for (j, value) in row.iter_mut().enumerate() {
            let u = rng.next_f64();
            *value = match j {
                0..=5 => (-(1.0 - u).ln() * 10.0 * (j + 1) as f64) as f32,
                6 | 7 => (u * 0.2) as f32,
                8 => {
                    if u < 0.78 {
                        0.0
                    } else {
                        (-(1.0 - rng.next_f64()).ln() * 30.0) as f32
                    }
                }
                _ => (u * 10.0).floor() as f32,
            };
        }
        let z = -2.5 + 0.08 * f64::from(row[8]) - 8.0 * f64::from(row[7])
            + 0.01 * f64::from(row[5])
            + if row[10] > 7.0 { 0.8 } else { 0.0 };
        labels.push(rng.next_f64() < sigmoid(z));
        x.push_row(&row).expect("17 values");
    }
    (x, labels)
}

fn bench(c: &mut Criterion) {
    let (x, labels) = sessions(9_864, 1);
    let (test, _) = sessions(2_466, 2);
    // A fixed number of trees (no early stopping), about what the evaluation ends with.
    let boost = BoostParams {
        n_trees: 250,
        learning_rate: 0.03,
        max_leaves: 15,
        min_samples_leaf: 40,
        col_subsample: 0.7,
        validation_fraction: 0.0,
        ..BoostParams::default()
    };
    let logistic = LogisticParams::default();

    let mut group = c.benchmark_group("intent_fit");
    group.sample_size(10);
    group.bench_function("boosted_trees_250_9864_rows", |b| {
        b.iter(|| BoostedTrees::fit(black_box(&x), &labels, &boost).expect("fit"))
    });
    group.bench_function("logistic_regression_9864_rows", |b| {
        b.iter(|| LogisticRegression::fit(black_box(&x), &labels, &logistic).expect("fit"))
    });
    group.finish();

    let trees = BoostedTrees::fit(&x, &labels, &boost).expect("fit");
    let linear = LogisticRegression::fit(&x, &labels, &logistic).expect("fit");
    let mut group = c.benchmark_group("intent_predict_one");
    let mut row_idx = 0;
    group.bench_function("boosted_trees_250", |b| {
        b.iter(|| {
            row_idx = (row_idx + 1) % test.n_rows();
            trees.predict_proba(black_box(test.row(row_idx)))
        })
    });
    group.bench_function("boosted_trees_250_explain", |b| {
        b.iter(|| {
            row_idx = (row_idx + 1) % test.n_rows();
            trees.explain(black_box(test.row(row_idx)))
        })
    });
    group.bench_function("logistic_regression", |b| {
        b.iter(|| {
            row_idx = (row_idx + 1) % test.n_rows();
            linear.predict_proba(black_box(test.row(row_idx)))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
