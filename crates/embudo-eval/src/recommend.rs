//! `embudo eval recommend`: cross-sell on the UCI Online Retail invoices, against popularity
//! and plain item-to-item cosine, plus season and reorder-interval estimates for the
//! retailer's top products.
//!
//! Protocol: lines with a customer, quantity > 0 and an invoice not starting with `C`.
//! Test: train on orders up to 2011-09-30, evaluate the customers who bought before and
//! bought, after that date, products they had never bought; ten recommendations each,
//! excluding what they bought. Reorder variant: every later purchase is a target and bought
//! products may be recommended. Hyper-parameters are chosen on a validation split inside the
//! training period (train to 2011-06-30, targets from July to September 2011): `--tune`
//! prints that grid; the test figures use [`RecommendParams::tuned`].

mod baselines;
mod protocol;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use embudo_recommend::{
    Catalogue, CivilDate, CustomerIdx, ProductIdx, Purchases, RecommendParams, RecommendRequest,
    Recommender, ReorderModel, ReorderParams, ReorderPolicy, SeasonParams, Seasons, Timestamp,
    timestamp_of,
};
use serde_json::json;

use crate::online_retail;
use baselines::{Cosine, Popularity};
use protocol::{K, Metrics, Split, Targets, evaluate, split};

/// Options of `embudo eval recommend`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to read (see `../shared/data/README.md`).
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object with the figures instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also print the hyper-parameter grid on the validation split (train to 2011-06-30,
    /// targets July to September 2011).
    #[arg(long)]
    pub tune: bool,
}

/// Customers the issue expects in the cross-sell test set.
const EXPECTED_TEST_CUSTOMERS: usize = 1_768;

fn date(year: i32, month: u8, day: u8) -> Timestamp {
    timestamp_of(CivilDate { year, month, day })
}

/// Figures of the three recommenders on one split.
#[derive(Debug, Clone, Copy)]
struct Comparison {
    embudo: Metrics,
    popularity: Metrics,
    cosine: Metrics,
}

/// Runs the evaluation.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let raw = online_retail::read(&args.data)?;
    let data = online_retail::purchases(&raw);
    let parse_seconds = started.elapsed().as_secs_f64();
    let n_products = data.catalogue.len();
    let end = date(2012, 1, 1);
    let test_cut = date(2011, 10, 1);
    let validation_cut = date(2011, 7, 1);
    let tuned = RecommendParams::tuned();
    let tuned_reorder = RecommendParams::tuned_reorder();

    let test = split(&data.lines, n_products, test_cut, end, Targets::NewProducts)
        .context("failed to index the training lines")?;
    let reorder_test = split(&data.lines, n_products, test_cut, end, Targets::AllProducts)
        .context("failed to index the training lines")?;
    let validation = split(
        &data.lines,
        n_products,
        validation_cut,
        test_cut,
        Targets::NewProducts,
    )
    .context("failed to index the validation lines")?;
    let reorder_validation = split(
        &data.lines,
        n_products,
        validation_cut,
        test_cut,
        Targets::AllProducts,
    )
    .context("failed to index the validation lines")?;

    if args.tune {
        tune(&validation, &reorder_validation, &data.catalogue, out)?;
    }

    let started = Instant::now();
    let test_figures = compare(&test, &data.catalogue, &tuned, false);
    let reorder_figures = compare(&reorder_test, &data.catalogue, &tuned_reorder, true);
    let validation_figures = compare(&validation, &data.catalogue, &tuned, false);
    let reorder_validation_figures =
        compare(&reorder_validation, &data.catalogue, &tuned_reorder, true);
    let evaluation_seconds = started.elapsed().as_secs_f64();

    let all = Purchases::new(data.lines.clone(), n_products).context("failed to index lines")?;
    let now = all.span().map_or(end, |(_, last)| last);
    let top = top_products(&all, &data.catalogue, now, 10);

    if args.json {
        let figures = |c: &Comparison| {
            json!({
                "customers": c.embudo.customers,
                "hit_rate_at_10": c.embudo.hit_rate,
                "recall_at_10": c.embudo.recall,
                "map_at_10": c.embudo.map,
                "popularity": metrics_json(&c.popularity),
                "cosine": metrics_json(&c.cosine),
            })
        };
        let mut report = figures(&test_figures);
        report["reorder"] = figures(&reorder_figures);
        report["validation"] = figures(&validation_figures);
        report["validation"]["reorder"] = figures(&reorder_validation_figures);
        report["expected_customers"] = json!(EXPECTED_TEST_CUSTOMERS);
        report["top_products"] = top.iter().map(TopProduct::to_json).collect();
        report["parse_seconds"] = json!(parse_seconds);
        report["evaluation_seconds"] = json!(evaluation_seconds);
        writeln!(out, "{report}")?;
        return Ok(());
    }

    writeln!(
        out,
        "UCI Online Retail: {} purchase lines of {} customers, {} stock codes ({} not products)",
        data.lines.len(),
        data.customers.len(),
        n_products,
        data.catalogue.products.iter().filter(|p| !p.active).count(),
    )?;
    writeln!(
        out,
        "test customers: {} (expected {EXPECTED_TEST_CUSTOMERS}); reorder variant: {}",
        test.targets.len(),
        reorder_test.targets.len()
    )?;
    writeln!(out)?;
    for (title, figures) in [
        ("cross-sell, test (train to 2011-09-30)", &test_figures),
        ("reorder variant, test", &reorder_figures),
        (
            "cross-sell, validation (train to 2011-06-30, Jul-Sep)",
            &validation_figures,
        ),
        ("reorder variant, validation", &reorder_validation_figures),
    ] {
        writeln!(out, "{title}: {} customers", figures.embudo.customers)?;
        writeln!(
            out,
            "  {:<12} {:>9} {:>9} {:>9}",
            "recommender", "hit@10", "recall@10", "MAP@10"
        )?;
        for (name, m) in [
            ("embudo", figures.embudo),
            ("popularity", figures.popularity),
            ("cosine", figures.cosine),
        ] {
            writeln!(
                out,
                "  {name:<12} {:>9.3} {:>9.3} {:>9.3}",
                m.hit_rate, m.recall, m.map
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "top products (all data; seasons and intervals as of {})",
        show_date(now)
    )?;
    writeln!(
        out,
        "  {:<8} {:<36} {:>5} {:>9} {:>10} {:>10} {:>6} {:>10}",
        "code", "product", "cust", "best", "peak idx", "next peak", "reps", "interval"
    )?;
    for product in &top {
        writeln!(
            out,
            "  {:<8} {:<36} {:>5} {:>9} {:>10.2} {:>10} {:>6} {:>10}",
            data.products.name(product.product.0).unwrap_or("?"),
            truncate(&product.name, 36),
            product.customers,
            product
                .best_months
                .iter()
                .map(|m| MONTH_NAMES[usize::from(*m) - 1])
                .collect::<Vec<_>>()
                .join(","),
            product.peak_index,
            product
                .next_peak
                .map_or("-".to_owned(), |(y, m)| format!("{y}-{m:02}")),
            product.intervals,
            format!(
                "{:.0} d [{:.0}-{:.0}]",
                product.median_days, product.lower_days, product.upper_days
            ),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "parse {parse_seconds:.2} s, evaluation {evaluation_seconds:.2} s"
    )?;
    Ok(())
}

const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn show_date(at: Timestamp) -> String {
    let d = embudo_recommend::civil_date(at);
    format!("{}-{:02}-{:02}", d.year, d.month, d.day)
}

fn truncate(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    json!({
        "customers": m.customers,
        "hit_rate_at_10": m.hit_rate,
        "recall_at_10": m.recall,
        "map_at_10": m.map,
    })
}

/// Runs embudo's recommender with `params` on `split`.
fn embudo_metrics(
    split: &Split,
    catalogue: &Catalogue,
    params: &RecommendParams,
    reorder: bool,
) -> Metrics {
    let model = Recommender::build(&split.train, params, split.cut);
    evaluate(split, |customer| {
        let request = RecommendRequest {
            customer: Some(customer),
            history: split.train.customer_items(customer),
            catalogue,
            rules: &[],
            reorder: if reorder {
                ReorderPolicy::Always
            } else {
                ReorderPolicy::Never
            },
            n: K,
            now: split.cut,
        };
        // The catalogue and the history come from the same interning: requests cannot fail.
        model
            .recommend(&request)
            .map(|recs| recs.into_iter().map(|r| r.product).collect())
            .unwrap_or_default()
    })
}

fn compare(
    split: &Split,
    catalogue: &Catalogue,
    params: &RecommendParams,
    reorder: bool,
) -> Comparison {
    let popularity = Popularity::build(&split.train, catalogue);
    let cosine = Cosine::build(&split.train, catalogue);
    Comparison {
        embudo: embudo_metrics(split, catalogue, params, reorder),
        popularity: evaluate(split, |c: CustomerIdx| {
            popularity.recommend(&split.train, c, K, !reorder)
        }),
        cosine: evaluate(split, |c: CustomerIdx| {
            cosine.recommend(&split.train, c, K, !reorder)
        }),
    }
}

/// The tuning objective: hit rate and recall, each relative to the goal.
fn objective(m: &Metrics) -> f64 {
    m.hit_rate / 0.44 + m.recall / 0.045
}

/// One axis of the tuning grid: a name and the values it tries.
type Axis = (&'static str, Vec<f64>, fn(&mut RecommendParams, f64));

/// Chooses hyper-parameters on the validation split by coordinate descent (two sweeps over
/// every axis from the plain cosine; cross-sell axes on the cross-sell objective, then the
/// reorder axes on the reorder variant's), printing every trial.
fn tune(
    validation: &Split,
    reorder_validation: &Split,
    catalogue: &Catalogue,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let cross_sell_axes: Vec<Axis> = vec![
        ("alpha", vec![0.0, 0.25, 0.5, 0.75, 1.0], |p, x| p.alpha = x),
        ("beta", vec![0.0, 0.25, 0.5, 0.75, 1.0], |p, x| p.beta = x),
        ("locality", vec![1.0, 2.0, 3.0, 4.0, 6.0], |p, x| {
            p.locality = x
        }),
        ("customer damping", vec![0.0, 0.25, 0.5, 1.0], |p, x| {
            p.customer_damping = x
        }),
        (
            "neighbours",
            vec![50.0, 100.0, 200.0, 400.0, 1e9],
            |p, x| {
                p.neighbours = x as usize;
            },
        ),
        (
            "history half-life (0: none)",
            vec![0.0, 15.0, 30.0, 60.0, 120.0, 240.0],
            |p, x| {
                p.history_half_life_days = (x > 0.0).then_some(x);
            },
        ),
        ("order exponent", vec![0.0, 0.5, 1.0], |p, x| {
            p.order_exponent = x
        }),
        (
            "popularity weight",
            vec![0.0, 0.02, 0.05, 0.1, 0.2, 0.4],
            |p, x| {
                p.popularity_weight = x;
            },
        ),
        (
            "popularity half-life",
            vec![7.0, 14.0, 30.0, 60.0, 120.0],
            |p, x| {
                p.popularity_half_life_days = x;
            },
        ),
    ];
    let cross_sell_axes: Vec<Axis> = cross_sell_axes
        .into_iter()
        .chain([
            (
                "customer knn weight",
                vec![0.0, 0.25, 0.5, 1.0, 2.0],
                (|p, x| p.customer_knn_weight = x) as fn(&mut RecommendParams, f64),
            ),
            (
                "customer neighbours",
                vec![20.0, 50.0, 100.0, 200.0, 400.0],
                |p, x| p.customer_neighbours = x as usize,
            ),
            ("customer locality", vec![1.0, 2.0, 3.0], |p, x| {
                p.customer_locality = x
            }),
            (
                "customer half-life (0: none)",
                vec![0.0, 15.0, 30.0, 60.0, 120.0],
                |p, x| {
                    p.customer_half_life_days = (x > 0.0).then_some(x);
                },
            ),
        ])
        .collect();
    let reorder_axes: Vec<Axis> =
        vec![("repeat weight", vec![0.25, 0.5, 1.0, 2.0, 4.0], |p, x| {
            p.repeat_weight = x
        })];
    let all_axes: Vec<Axis> = cross_sell_axes
        .iter()
        .cloned()
        .chain(reorder_axes)
        .collect();
    for (title, mut best, axes, split, reorder) in [
        (
            "cross-sell",
            RecommendParams::tuned(),
            &cross_sell_axes,
            validation,
            false,
        ),
        (
            "reorder variant",
            RecommendParams::tuned_reorder(),
            &all_axes,
            reorder_validation,
            true,
        ),
    ] {
        writeln!(
            out,
            "validation, {title} ({} customers): objective = hit/0.44 + recall/0.045",
            split.targets.len()
        )?;
        let mut best_metrics = embudo_metrics(split, catalogue, &best, reorder);
        for sweep in 1..=1 {
            for (name, values, set) in axes {
                for &value in values {
                    let mut params = best.clone();
                    set(&mut params, value);
                    if params == best {
                        continue;
                    }
                    let m = embudo_metrics(split, catalogue, &params, reorder);
                    let better = objective(&m) > objective(&best_metrics) + 1e-9;
                    writeln!(
                        out,
                        "  sweep {sweep} {name:<28} {value:>9} hit {:.3} recall {:.4} MAP {:.4}{}",
                        m.hit_rate,
                        m.recall,
                        m.map,
                        if better { "  *" } else { "" }
                    )?;
                    if better {
                        best = params;
                        best_metrics = m;
                    }
                }
            }
        }
        writeln!(
            out,
            "  chosen: hit {:.3} recall {:.4} MAP {:.4} with {best:?}",
            best_metrics.hit_rate, best_metrics.recall, best_metrics.map
        )?;
        writeln!(out)?;
    }
    Ok(())
}

/// Season and reorder estimates of one product.
struct TopProduct {
    product: ProductIdx,
    name: String,
    customers: u32,
    best_months: Vec<u8>,
    peak_index: f64,
    next_peak: Option<(i32, u8)>,
    intervals: u32,
    median_days: f64,
    lower_days: f64,
    upper_days: f64,
}

impl TopProduct {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "product": self.name,
            "customers": self.customers,
            "best_months": self.best_months,
            "peak_index": self.peak_index,
            "next_peak": self.next_peak.map(|(y, m)| format!("{y}-{m:02}")),
            "repeat_intervals": self.intervals,
            "median_interval_days": self.median_days,
            "interval_quartiles_days": [self.lower_days, self.upper_days],
        })
    }
}

fn top_products(
    all: &Purchases,
    catalogue: &Catalogue,
    now: Timestamp,
    n: usize,
) -> Vec<TopProduct> {
    let seasons = Seasons::build(all, catalogue, &SeasonParams::standard());
    let reorder = ReorderModel::build(all, catalogue, &ReorderParams::standard());
    let counts = all.product_customer_counts();
    let mut ranked: Vec<ProductIdx> = (0..counts.len() as u32)
        .map(ProductIdx)
        .filter(|&p| catalogue.product(p).is_some_and(|p| p.active))
        .collect();
    ranked.sort_by(|a, b| counts[b.index()].cmp(&counts[a.index()]).then(a.cmp(b)));
    ranked
        .into_iter()
        .take(n)
        .filter_map(|product| {
            let season = seasons.product(product)?;
            let interval = reorder.product(product)?;
            let best_months = season.best_months(3);
            Some(TopProduct {
                product,
                name: catalogue
                    .product(product)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                customers: counts[product.index()],
                peak_index: season.month(best_months[0]),
                best_months,
                next_peak: seasons
                    .upcoming_peak(product, now)
                    .map(|p| (p.year, p.month)),
                intervals: interval.intervals,
                median_days: interval.median_days,
                lower_days: interval.lower_quartile_days,
                upper_days: interval.upper_quartile_days,
            })
        })
        .collect()
}
