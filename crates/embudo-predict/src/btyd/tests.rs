//! Tests of the BTYD models.
//!
//! Reference values come from the closed forms evaluated in 40-digit arithmetic with mpmath
//! (the Pareto/NBD integral by quadrature, independent of the hypergeometric path used
//! here), and agree with the Python `lifetimes` package where it gives a value. They are
//! quoted with all the digits printed, hence the `excessive_precision` allowance.

#![allow(clippy::excessive_precision)]

use expect_test::expect;

use super::bgnbd::BgNbdObjective;
use super::dual::{Dual, Real};
use super::gamma_gamma::SpendObjective;
use super::optim::Objective;
use super::pareto_nbd::ParetoObjective;
use super::special::{ln_hyp2f1_a_a1, ln_phi1, one_minus_exp_over, rising_sums, softplus};
use super::*;

fn h(x: u32, t_x: f64, age: f64) -> History {
    History::new(x, t_x, age).unwrap()
}

fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected.abs().max(1e-300)
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, rel: f64) {
    assert!(
        close(actual, expected, rel),
        "{actual} vs {expected} (relative error {:.2e})",
        (actual - expected).abs() / expected.abs()
    );
}

/// Histories used for the reference values below.
const HISTORIES: [(u32, f64, f64); 7] = [
    (0, 0.0, 38.86),
    (2, 30.43, 38.86),
    (1, 1.71, 38.86),
    (7, 35.0, 38.0),
    (20, 37.5, 38.86),
    (5, 10.0, 70.0),
    (3, 0.5, 0.75),
];

/// Every 40th customer of the CDNOW sample: (x, t_x, T, mean repeat value), weeks and dollars.
const TINY: [(u32, f64, f64, f64); 59] = [
    (2, 30.43, 38.86, 22.35),
    (0, 0.00, 38.57, 0.00),
    (0, 0.00, 38.29, 0.00),
    (1, 3.00, 38.14, 13.77),
    (0, 0.00, 37.86, 0.00),
    (0, 0.00, 37.57, 0.00),
    (0, 0.00, 37.43, 0.00),
    (0, 0.00, 37.14, 0.00),
    (2, 32.00, 37.00, 60.75),
    (0, 0.00, 36.71, 0.00),
    (2, 21.86, 36.43, 18.14),
    (4, 26.71, 36.29, 13.93),
    (1, 21.57, 36.00, 89.48),
    (6, 34.86, 35.86, 18.67),
    (2, 29.00, 35.57, 46.35),
    (4, 21.43, 35.43, 31.97),
    (3, 26.71, 35.14, 40.04),
    (5, 25.14, 35.00, 17.25),
    (0, 0.00, 34.86, 0.00),
    (5, 34.57, 34.57, 89.61),
    (7, 33.71, 34.43, 124.61),
    (19, 34.00, 34.14, 29.49),
    (0, 0.00, 34.00, 0.00),
    (2, 32.71, 33.86, 55.51),
    (0, 0.00, 33.71, 0.00),
    (0, 0.00, 33.57, 0.00),
    (0, 0.00, 33.29, 0.00),
    (11, 32.00, 33.14, 106.53),
    (0, 0.00, 33.00, 0.00),
    (0, 0.00, 32.71, 0.00),
    (6, 26.71, 32.57, 41.17),
    (0, 0.00, 32.29, 0.00),
    (0, 0.00, 32.14, 0.00),
    (0, 0.00, 32.00, 0.00),
    (1, 30.57, 31.86, 12.99),
    (0, 0.00, 31.57, 0.00),
    (2, 22.57, 31.43, 36.81),
    (0, 0.00, 31.14, 0.00),
    (1, 8.29, 31.00, 14.90),
    (0, 0.00, 30.86, 0.00),
    (0, 0.00, 30.71, 0.00),
    (0, 0.00, 30.43, 0.00),
    (3, 18.29, 30.29, 13.23),
    (1, 21.86, 30.14, 43.89),
    (3, 6.29, 29.86, 90.41),
    (0, 0.00, 29.71, 0.00),
    (0, 0.00, 29.57, 0.00),
    (0, 0.00, 29.43, 0.00),
    (2, 3.71, 29.14, 20.69),
    (1, 28.00, 29.00, 11.49),
    (0, 0.00, 28.71, 0.00),
    (2, 9.57, 28.57, 13.07),
    (1, 1.43, 28.43, 4.79),
    (3, 27.71, 28.14, 33.47),
    (2, 8.43, 28.00, 38.13),
    (1, 23.57, 27.86, 37.95),
    (0, 0.00, 27.57, 0.00),
    (0, 0.00, 27.29, 0.00),
    (0, 0.00, 27.14, 0.00),
];

fn tiny_cohort() -> Cohort {
    Cohort::new(TINY.iter().map(|&(x, t_x, age, _)| h(x, t_x, age))).unwrap()
}

fn tiny_spend() -> SpendData {
    SpendData::new(TINY.iter().map(|&(x, _, _, m)| (x, m))).unwrap()
}

const BG: BgNbd = BgNbd {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

/// Central differences of the mean negative log-likelihood against the analytic gradient.
#[track_caller]
fn check_gradient(objective: &dyn Objective, theta: &[f64]) {
    let mut grad = vec![0.0; theta.len()];
    objective.eval(theta, &mut grad);
    for i in 0..theta.len() {
        let step = 1e-5;
        let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
        up[i] += step;
        down[i] -= step;
        let mut scratch = vec![0.0; theta.len()];
        let numeric = (objective.eval(&up, &mut scratch) - objective.eval(&down, &mut scratch))
            / (2.0 * step);
        assert!(
            (numeric - grad[i]).abs() <= 1e-7 * (1.0 + grad[i].abs()),
            "component {i}: analytic {} vs numeric {numeric}",
            grad[i]
        );
    }
}

// ---- Data ------------------------------------------------------------------------------

#[test]
fn histories_are_checked() {
    let reason = |x, t_x, age| match History::new(x, t_x, age) {
        Err(BtydError::InvalidHistory { reason, .. }) => reason,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(reason(1, 5.0, 4.0), "t_x is after T");
    assert_eq!(reason(1, -1.0, 4.0), "t_x and T must not be negative");
    assert_eq!(
        reason(0, 1.0, 4.0),
        "t_x must be 0 when there is no repeat purchase"
    );
    assert_eq!(reason(1, f64::NAN, 4.0), "t_x and T must be finite");
    assert!(History::new(3, 4.0, 4.0).is_ok());
}

#[test]
fn cohort_merges_identical_histories_and_reports_bad_ones() {
    let histories = [
        h(1, 2.0, 5.0),
        h(0, 0.0, 5.0),
        h(1, 2.0, 5.0),
        h(0, -0.0, 5.0),
        h(2, 3.0, 4.0),
    ];
    let (cohort, row_of) = Cohort::new_indexed(&histories).unwrap();
    assert_eq!(
        cohort.rows(),
        &[h(0, 0.0, 5.0), h(1, 2.0, 5.0), h(2, 3.0, 4.0)]
    );
    assert_eq!(cohort.weights(), &[2.0, 2.0, 1.0]);
    assert_eq!(cohort.customers(), 5.0);
    for (history, &row) in histories.iter().zip(&row_of) {
        assert_eq!(cohort.rows()[row as usize].x, history.x);
    }
    assert_eq!(Cohort::new([]), Err(BtydError::NoCustomers));
    let bad = History {
        x: 1,
        t_x: 6.0,
        age: 5.0,
    };
    assert!(matches!(
        Cohort::new([h(0, 0.0, 1.0), bad]),
        Err(BtydError::InvalidHistory { index: 1, .. })
    ));
    assert!(matches!(
        Cohort::weighted([(h(0, 0.0, 1.0), 0.0)]),
        Err(BtydError::InvalidHistory { index: 0, .. })
    ));
    // Weighted rows give the same likelihood as repeated ones.
    let weighted = Cohort::weighted([
        (h(1, 2.0, 5.0), 2.0),
        (h(0, 0.0, 5.0), 2.0),
        (h(2, 3.0, 4.0), 1.0),
    ])
    .unwrap();
    assert_close(
        BG.log_likelihood(&weighted),
        BG.log_likelihood(&cohort),
        1e-14,
    );
}

#[test]
fn summaries_merge_periods_and_split_calibration_and_holdout() {
    let t = |customer: &'static str, period: i64, value: f64| Transaction {
        customer,
        period,
        value,
    };
    let transactions = [
        t("b", 3, 10.0),
        t("a", 0, 5.0),
        t("a", 7, 2.0),
        t("a", 7, 3.0), // same period: one purchase worth 5
        t("a", 14, 7.0),
        t("a", 20, 1.0), // holdout
        t("a", 21, 1.0), // holdout
        t("a", 30, 9.0), // after the holdout: ignored
        t("c", 15, 4.0), // first purchase after calibration: left out
        t("b", 3, 1.0),
    ];
    let options = SummaryOptions {
        calibration_end: 14,
        holdout_end: Some(28),
        periods_per_unit: 7.0,
    };
    let summaries = summarize(&transactions, &options).unwrap();
    assert_eq!(options.holdout_length(), 2.0);
    assert_eq!(summaries.len(), 2);
    let a = &summaries[0];
    assert_eq!((a.customer, a.first_period), ("a", 0));
    assert_eq!(a.history, h(2, 2.0, 2.0));
    assert_eq!(a.mean_repeat_value, 6.0);
    assert_eq!((a.holdout_transactions, a.holdout_value), (2, 2.0));
    let b = &summaries[1];
    assert_eq!(b.history, h(0, 0.0, 11.0 / 7.0));
    assert_eq!((b.mean_repeat_value, b.holdout_transactions), (0.0, 0));

    let negative = [t("a", 0, -1.0)];
    assert!(matches!(
        summarize(&negative, &options),
        Err(BtydError::InvalidTransaction { index: 0, .. })
    ));
    let bad_unit = SummaryOptions {
        periods_per_unit: 0.0,
        ..options
    };
    assert!(matches!(
        summarize(&transactions, &bad_unit),
        Err(BtydError::InvalidParameter { .. })
    ));
}

// ---- Special functions -----------------------------------------------------------------

#[test]
fn special_functions() {
    for y in [
        -800.0, -30.0, -1.0, -1e-3, -1e-9, 0.0, 1e-9, 1e-3, 1.0, 30.0, 700.0,
    ] {
        let direct = if y == 0.0 {
            0.0
        } else {
            (f64::exp_m1(y) / y).ln()
        };
        let expected = if y < -700.0 {
            -(-y).ln()
        } else if y > 600.0 {
            y - y.ln()
        } else {
            direct
        };
        assert!(
            (ln_phi1(y) - expected).abs() < 1e-14 * (1.0 + expected.abs()),
            "ln φ₁({y})"
        );
    }
    // The limit at c = 0 and a regular value.
    assert_close(one_minus_exp_over(0.0, 2.0), 2.0, 1e-15);
    assert_close(
        one_minus_exp_over(0.5, 2.0),
        (1.0 - (-1.0f64).exp()) / 0.5,
        1e-15,
    );
    assert_close(softplus(800.0), 800.0, 1e-15);
    assert_close(softplus(-800.0), (-800.0f64).exp(), 1e-15);
    // Σ ln(c+k) and Σ 1/(c+k) against ln Γ and ψ (a long step takes the ln Γ path).
    let (mut l, mut s) = (Vec::new(), Vec::new());
    rising_sums(0.3, &[0, 1, 5, 200], &mut l, &mut s);
    for (i, x) in [0u32, 1, 5, 200].into_iter().enumerate() {
        let lg = statrs::function::gamma::ln_gamma(0.3 + f64::from(x))
            - statrs::function::gamma::ln_gamma(0.3);
        let dg = statrs::function::gamma::digamma(0.3 + f64::from(x))
            - statrs::function::gamma::digamma(0.3);
        assert!((l[i] - lg).abs() < 1e-12 * (1.0 + lg.abs()));
        assert!((s[i] - dg).abs() < 1e-12 * (1.0 + dg.abs()));
    }
    // ₂F₁(1, 1; 2; z) = −ln(1−z)/z, also close to z = 1; ₂F₁(a, b; a+1; 0) = 1.
    for z in [0.1, 0.5, 0.9, 0.999] {
        assert_close(ln_hyp2f1_a_a1(1.0, 1.0, z), (-(-z).ln_1p() / z).ln(), 1e-13);
    }
    assert_eq!(ln_hyp2f1_a_a1(3.0, 2.0, 0.0), 0.0);
    // A sum that would overflow without rescaling: ₂F₁(a, b; a+1; z) ≈ (1−z)^{−b} for large a.
    let big = ln_hyp2f1_a_a1(1e6, 400.0, 0.9);
    assert!(big.is_finite() && close(big, -400.0 * 0.1f64.ln(), 1e-3));
}

#[test]
fn dual_numbers_differentiate() {
    let x = Dual::var(0.7, 0);
    let y = Dual::var(1.9, 1);
    let f = (x * y).ln() + (x / y).exp() - ln_phi1(x - y) + (y * 3.0 + 1.0).ln_1p();
    let eps = 1e-6;
    let value =
        |x: f64, y: f64| (x * y).ln() + (x / y).exp() - ln_phi1(x - y) + (y * 3.0 + 1.0).ln_1p();
    assert_close(
        f.d[0],
        (value(0.7 + eps, 1.9) - value(0.7 - eps, 1.9)) / (2.0 * eps),
        1e-8,
    );
    assert_close(
        f.d[1],
        (value(0.7, 1.9 + eps) - value(0.7, 1.9 - eps)) / (2.0 * eps),
        1e-8,
    );
    assert_eq!(f.v(), value(0.7, 1.9));
}

// ---- BG/NBD ----------------------------------------------------------------------------

#[test]
fn bgnbd_likelihood_matches_reference_values() {
    let expected = [
        -0.55471327643815845,
        -9.4586063070662712,
        -4.4690932750325885,
        -22.012920134497155,
        -38.884630520204366,
        -14.395567813521574,
        -5.8174680685216544,
    ];
    let histories: Vec<History> = HISTORIES
        .iter()
        .map(|&(x, t_x, age)| h(x, t_x, age))
        .collect();
    for (history, &ll) in histories.iter().zip(&expected) {
        assert_close(BG.history_log_likelihood(history), ll, 1e-13);
    }
    // The table-driven cohort likelihood is the sum of the per-history formula.
    let cohort = Cohort::new(histories.iter().copied()).unwrap();
    assert_close(BG.log_likelihood(&cohort), expected.iter().sum(), 1e-13);
}

#[test]
fn bgnbd_gradient_matches_finite_differences() {
    let cohort = tiny_cohort();
    let objective = BgNbdObjective::new(&cohort);
    for p in [BG.to_array(), [1.0, 30.0, 1.0, 1.0], [3.0, 0.5, 0.05, 20.0]] {
        check_gradient(&objective, &p.map(f64::ln));
    }
}

#[test]
fn bgnbd_predictions_match_reference_values() {
    // (x, t_x, T) -> (P(alive), E[Y(39) | x, t_x, T]).
    let expected = [
        (1.0, 0.19509805201126264),
        (0.72657857008067291, 1.2260281747671444),
        (0.21210098537737908, 0.20318698707975406),
        (0.86199106509343288, 4.5561852765897226),
        (0.93401936252008794, 13.236598956153351),
        (0.0014806278896791557, 0.0035490639232214885),
        (0.82613804543141226, 8.8386572294080673),
    ];
    for (&(x, t_x, age), &(p_alive, conditional)) in HISTORIES.iter().zip(&expected) {
        let history = h(x, t_x, age);
        assert_close(BG.p_alive(&history), p_alive, 1e-13);
        assert_close(
            BG.conditional_expected_transactions(&history, 39.0),
            conditional,
            1e-12,
        );
    }
    // E[X(t)] of a new customer; a long horizon; t = 0.
    for (t, value) in [
        (1.0, 0.053267891171658282),
        (39.0, 1.1967231933208169),
        (78.0, 1.8605190579427686),
    ] {
        assert_close(BG.expected_transactions(t), value, 1e-12);
    }
    assert_close(
        BG.conditional_expected_transactions(&h(2, 30.43, 38.86), 400.0),
        6.3468996163413716,
        1e-11,
    );
    assert_eq!(
        BG.conditional_expected_transactions(&h(2, 30.43, 38.86), 0.0),
        0.0
    );
}

#[test]
fn bgnbd_conditional_expectation_is_smooth_at_a_equal_one() {
    // The closed form divides by a − 1; the implementation does not.
    let expected = [0.19107701257392315, 1.102136786039956, 0.16339578108680648];
    for (&(x, t_x, age), &value) in HISTORIES.iter().zip(&expected) {
        for a in [1.0 - 1e-9, 1.0, 1.0 + 1e-9] {
            let model = BgNbd { a, ..BG };
            assert_close(
                model.conditional_expected_transactions(&h(x, t_x, age), 39.0),
                value,
                1e-8,
            );
        }
    }
}

#[test]
fn bgnbd_properties() {
    // Alive for sure without repeat purchases; less likely the longer the silence since the
    // last purchase; more expected purchases over longer horizons.
    assert_eq!(BG.p_alive(&h(0, 0.0, 100.0)), 1.0);
    let mut previous = 1.0;
    for age in [5.0, 10.0, 20.0, 40.0, 80.0] {
        let p = BG.p_alive(&h(3, 5.0, age));
        assert!(p < previous);
        previous = p;
    }
    assert!(BG.p_alive(&h(3, 4.0, 10.0)) < BG.p_alive(&h(3, 9.0, 10.0)));
    let history = h(3, 20.0, 30.0);
    let mut previous = 0.0;
    for t in [1.0, 5.0, 20.0, 52.0, 104.0] {
        let e = BG.conditional_expected_transactions(&history, t);
        assert!(e > previous);
        previous = e;
    }
}

// ---- Pareto/NBD ------------------------------------------------------------------------

/// Log-likelihood, P(alive) and E[Y(39) | x, t_x, T] of one history.
type Expected = (f64, f64, f64);

/// Parameter sets with (per history of [`HISTORIES`]) log-likelihood, P(alive) and
/// E[Y(39) | x, t_x, T]. They cover α < β, α > β, s = 1 (integer shapes), and extreme ratios
/// of α to β, where ₂F₁'s argument comes within 10⁻³ of 1.
const PARETO_REFERENCE: [([f64; 4], [Expected; 7]); 7] = [
    (
        [0.553, 10.578, 0.606, 11.668],
        [
            (
                -0.52103339431862434,
                0.29527100172271059,
                0.10707549340342023,
            ),
            (-9.5543201530010867, 0.8691649224383223, 1.4551144758963528),
            (
                -4.4501724579723038,
                0.16799194158281428,
                0.17108189843612222,
            ),
            (-21.691772882417013, 0.9528386707127493, 4.7905348742397573),
            (-39.217494721570846, 0.97796741721687756, 13.180860494984603),
            (
                -14.652390221727079,
                0.0024124808962547559,
                0.0057298438887122082,
            ),
            (-6.5595813616187206, 0.98725791800979557, 7.3229749820427949),
        ],
    ),
    (
        [0.5, 12.0, 0.7, 3.0],
        [
            (
                -0.24600896460227944,
                0.098167606539749693,
                0.029406223258582852,
            ),
            (-10.516296722810979, 0.821497138661547, 1.2304022231603876),
            (
                -4.3713600449418187,
                0.059728149693487669,
                0.053674914769290057,
            ),
            (-22.898815665788391, 0.93484353978892782, 4.2555855931631161),
            (-40.85864716367044, 0.96963074079851196, 11.908615692501245),
            (
                -15.197260371704143,
                0.0012990966438641315,
                0.0029052235628243684,
            ),
            (-7.1445046133158203, 0.95123576075302119, 3.509679718650951),
        ],
    ),
    (
        [0.8, 0.05, 1.0, 40.0],
        [
            (
                -4.1664928956044906,
                0.15915310315010136,
                0.10368974606024883,
            ),
            (-12.803873468264183, 0.85353603709344603, 1.9463036922131142),
            (
                -6.833762536646921,
                0.047122069329621008,
                0.069076062221235696,
            ),
            (-23.420660443336119, 0.94693657704794975, 6.1391595999974127),
            (-37.623320533610683, 0.97467017978998114, 16.510176913294147),
            (
                -14.971856603158085,
                0.00015318497282325656,
                0.00042338810999702481,
            ),
            (-0.1599327626087932, 0.98706299580911328, 128.28441175391608),
        ],
    ),
    (
        [2.0, 50.0, 3.0, 0.01],
        [
            (
                -0.00019990059579546758,
                5.3922570222675531e-12,
                1.7710171346701421e-12,
            ),
            (-32.266474236078725, 0.42225433098539145, 0.2773679564144116),
            (
                -18.808268960520534,
                1.7878656459234656e-5,
                8.8080205014607647e-6,
            ),
            (-46.310645924988984, 0.75141671670286771, 1.1047201797778675),
            (-70.18096054164298, 0.88126272367135138, 3.1838328830677569),
            (
                -35.367794145777095,
                3.3539870730608684e-5,
                4.0238496114627994e-5,
            ),
            (
                -20.417053080193172,
                0.29891226131515177,
                0.011186715073313294,
            ),
        ],
    ),
    (
        [1.0, 5.0, 2.0, 5.0],
        [
            (
                -0.40472462810940358,
                0.0022206177333085024,
                0.0010451857542726478,
            ),
            (-12.816585028543832, 0.56724284519582477, 0.8009583983576092),
            (
                -3.4786816053192155,
                0.0010949838887004901,
                0.0010307596345478907,
            ),
            (-24.066083960627725, 0.82494208266657468, 3.1388040218533085),
            (-39.710673338349881, 0.91534013333690735, 9.0473517885943413),
            (
                -13.434882809882715,
                1.0239921357403975e-5,
                2.1018785944145002e-5,
            ),
            (-3.7781013036703212, 0.9075336636001987, 3.1636927714330949),
        ],
    ),
    (
        [0.3, 0.002, 0.5, 30.0],
        [
            (
                -2.7733985635300579,
                0.54638688315675677,
                0.14612018591794595,
            ),
            (-11.552960534024895, 0.91712787682142971, 1.8803834792182796),
            (
                -6.7130497753037242,
                0.21680293342924914,
                0.25124486996206571,
            ),
            (-22.745438569706454, 0.96970084740194947, 6.4449126666285957),
            (-37.426032280251787, 0.98551236239077042, 17.833919867276448),
            (
                -15.303469347254601,
                0.00079574034947772967,
                0.0021566399190300154,
            ),
            (-1.0366866604579384, 0.99185441585234654, 135.46989630652495),
        ],
    ),
    (
        [3.0, 1e4, 2.0, 1.0],
        [
            (
                -0.0002921920562285852,
                0.0006222990179230474,
                3.6659041139682833e-6,
            ),
            (
                -22.849802975603224,
                0.62119508915214192,
                0.0060990016249212314,
            ),
            (
                -10.107317362897126,
                0.0045589122480574139,
                3.5808155852263113e-5,
            ),
            (
                -59.568438037303697,
                0.85187494452336901,
                0.016548676447704419,
            ),
            (
                -143.8191881149118,
                0.93282601927254775,
                0.042129782624900674,
            ),
            (
                -43.03084305251174,
                0.023051849115240979,
                0.00046099536119961918,
            ),
            (
                -24.348035325016531,
                0.73467813467570703,
                0.00073822854979054983,
            ),
        ],
    ),
];

#[test]
fn pareto_likelihood_and_predictions_match_reference_values() {
    for (params, rows) in &PARETO_REFERENCE {
        let [r, alpha, s, beta] = *params;
        let model = ParetoNbd { r, alpha, s, beta };
        for (&(x, t_x, age), &(ll, p_alive, conditional)) in HISTORIES.iter().zip(rows) {
            let history = h(x, t_x, age);
            let context = format!("{model:?} {history:?}");
            let error = (model.history_log_likelihood(&history) - ll).abs();
            assert!(error < 1e-11 * ll.abs().max(1.0), "ll {context}");
            assert!(
                close(model.p_alive(&history), p_alive, 1e-10),
                "P(alive) {context}"
            );
            assert!(
                close(
                    model.conditional_expected_transactions(&history, 39.0),
                    conditional,
                    1e-10
                ),
                "E[Y] {context}"
            );
        }
    }
}

#[test]
fn pareto_cohort_likelihood_is_the_sum_over_histories() {
    let cohort = tiny_cohort();
    for (params, _) in &PARETO_REFERENCE {
        let [r, alpha, s, beta] = *params;
        let model = ParetoNbd { r, alpha, s, beta };
        let sum: f64 = TINY
            .iter()
            .map(|&(x, t_x, age, _)| model.history_log_likelihood(&h(x, t_x, age)))
            .sum();
        assert_close(model.log_likelihood(&cohort), sum, 1e-12);
    }
}

#[test]
fn pareto_gradient_matches_finite_differences() {
    let cohort = tiny_cohort();
    let objective = ParetoObjective::new(&cohort);
    for (params, _) in &PARETO_REFERENCE {
        check_gradient(&objective, &params.map(f64::ln));
    }
    // α = β exactly, where the two branches of the case split meet.
    check_gradient(&objective, &[0.5f64, 10.0, 0.7, 10.0].map(f64::ln));
}

#[test]
fn pareto_likelihood_is_continuous_across_the_series_switch() {
    // u = d/(m+y) crosses u* = max(1/2, 1 − 1/a) as β moves; the two evaluations agree.
    let history = h(2, 0.0 + 1.0, 30.0);
    let a = 0.5 + 0.7 + 2.0;
    let u_star = 1.0 - 1.0 / a;
    // At y = t_x = 1: u = (α − β)/(α + 1) = u*  ⇔  β = α − u* (α + 1).
    let alpha = 20.0;
    let beta = alpha - u_star * (alpha + 1.0);
    let ll = |beta: f64| {
        ParetoNbd {
            r: 0.5,
            alpha,
            s: 0.7,
            beta,
        }
        .history_log_likelihood(&history)
    };
    let (below, above) = (ll(beta * (1.0 + 1e-12)), ll(beta * (1.0 - 1e-12)));
    assert!((below - above).abs() < 1e-12, "{below} vs {above}");
}

#[test]
fn pareto_properties() {
    let model = ParetoNbd {
        r: 0.553,
        alpha: 10.578,
        s: 0.606,
        beta: 11.668,
    };
    // A purchase right at the end of observation: alive for sure.
    assert_eq!(model.p_alive(&h(4, 30.0, 30.0)), 1.0);
    let mut previous = 1.0;
    for age in [6.0, 10.0, 20.0, 40.0, 80.0] {
        let p = model.p_alive(&h(3, 5.0, age));
        assert!(p < previous);
        previous = p;
    }
    // E[X(t)] at s = 1 is the limit of the s ≠ 1 formula.
    let at = |s: f64| ParetoNbd { s, ..model }.expected_transactions(39.0);
    assert_close(at(1.0), 0.5 * (at(1.0 - 1e-7) + at(1.0 + 1e-7)), 1e-9);
}

// ---- Gamma-Gamma ---------------------------------------------------------------------------

#[test]
fn gamma_gamma_matches_reference_values() {
    let model = GammaGamma {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };
    // (x, m̄, log-likelihood, E[Z | x, m̄]).
    let cases = [
        (1, 11.77, -3.7377096787408401, 18.91685205784205),
        (2, 22.35, -3.5513167597317048, 24.663713910761157),
        (10, 40.0, -4.2983550130371921, 39.79920294297977),
    ];
    for (x, m, ll, value) in cases {
        let data = SpendData::new([(x, m)]).unwrap();
        assert_close(model.log_likelihood(&data), ll, 1e-13);
        assert_close(
            model.conditional_expected_value(x, m).unwrap(),
            value,
            1e-13,
        );
    }
    assert_close(model.mean_value().unwrap(), 6.25 * 15.44 / 2.74, 1e-15);
    let heavy = GammaGamma { q: 0.5, ..model };
    assert!(heavy.mean_value().is_err());
    assert!(heavy.conditional_expected_value(1, 10.0).is_ok());
    assert_eq!(SpendData::new([(0, 0.0)]), Err(BtydError::NoCustomers));
    assert!(matches!(
        SpendData::new([(1, 0.0)]),
        Err(BtydError::InvalidHistory { .. })
    ));
}

#[test]
fn gamma_gamma_gradient_matches_finite_differences() {
    let data = tiny_spend();
    let objective = SpendObjective::new(&data);
    for p in [[6.25, 3.74, 15.44], [1.0, 2.0, 30.0], [0.3, 20.0, 500.0]] {
        check_gradient(&objective, &p.map(f64::ln));
    }
}

// ---- Fits --------------------------------------------------------------------------------

#[test]
fn fits_on_a_tiny_cohort() {
    let cohort = tiny_cohort();
    let options = FitOptions::default();
    let bg = BgNbd::fit(&cohort, &options).unwrap();
    let pn = ParetoNbd::fit(&cohort, &options).unwrap();
    let gg = GammaGamma::fit(&tiny_spend(), &options).unwrap();
    // Python `lifetimes` 0.11.3 on the same rows (its default tolerance gives ~5 digits; on
    // the flat Pareto/NBD ridge, s ≈ 0.075, it stops early, with a lower likelihood).
    for (o, t) in bg
        .model
        .to_array()
        .iter()
        .zip([0.42048, 7.06136, 0.17737, 3.56533])
    {
        assert!(close(*o, t, 2e-4), "{:?}", bg.model);
    }
    for (o, t) in pn
        .model
        .to_array()
        .iter()
        .zip([0.57071, 8.97543, 0.07502, 1.52047])
    {
        assert!(close(*o, t, 2e-3), "{:?}", pn.model);
    }
    let lifetimes = ParetoNbd {
        r: 0.57071,
        alpha: 8.97543,
        s: 0.07502,
        beta: 1.52047,
    };
    assert!(pn.log_likelihood > lifetimes.log_likelihood(&cohort));
    for (o, t) in gg.model.to_array().iter().zip([2.79576, 3.13842, 32.56317]) {
        assert!(close(*o, t, 2e-4), "{:?}", gg.model);
    }
    let report = format!(
        "BG/NBD     r={:.6} alpha={:.5} a={:.6} b={:.5} ll={:.6} customers={}\n\
         Pareto/NBD r={:.6} alpha={:.5} s={:.6} beta={:.5} ll={:.6}\n\
         GammaGamma p={:.5} q={:.5} gamma={:.4} ll={:.6} customers={}\n",
        bg.model.r,
        bg.model.alpha,
        bg.model.a,
        bg.model.b,
        bg.log_likelihood,
        bg.customers,
        pn.model.r,
        pn.model.alpha,
        pn.model.s,
        pn.model.beta,
        pn.log_likelihood,
        gg.model.p,
        gg.model.q,
        gg.model.gamma,
        gg.log_likelihood,
        gg.customers,
    );
    expect![[r#"
        BG/NBD     r=0.420484 alpha=7.06136 a=0.177366 b=3.56533 ll=-363.325800 customers=59
        Pareto/NBD r=0.570635 alpha=8.97503 s=0.075050 beta=1.52281 ll=-363.142125
        GammaGamma p=2.79576 q=3.13842 gamma=32.5632 ll=-135.672553 customers=30
    "#]]
    .assert_eq(&report);
    // The maximum: the gradient vanishes and the standard errors exist.
    assert!(bg.model.standard_errors(&cohort).is_some());
    assert!(pn.model.standard_errors(&cohort).is_some());
}

#[test]
fn fits_do_not_depend_on_the_order_of_customers() {
    let forward = tiny_cohort();
    let backward = Cohort::new(TINY.iter().rev().map(|&(x, t_x, age, _)| h(x, t_x, age))).unwrap();
    let options = FitOptions::default();
    assert_eq!(
        BgNbd::fit(&forward, &options).unwrap(),
        BgNbd::fit(&backward, &options).unwrap()
    );
}

#[test]
fn fit_errors() {
    let cohort = tiny_cohort();
    let few = FitOptions {
        max_iterations: 2,
        ..FitOptions::default()
    };
    assert!(matches!(
        BgNbd::fit(&cohort, &few),
        Err(BtydError::NotConverged { iterations: 2, .. })
    ));
    let bad = FitOptions {
        gradient_tolerance: 0.0,
        ..FitOptions::default()
    };
    assert!(matches!(
        BgNbd::fit(&cohort, &bad),
        Err(BtydError::InvalidParameter { .. })
    ));
    let start = BgNbd { r: -1.0, ..BG };
    assert!(matches!(
        BgNbd::fit_from(&cohort, start, &FitOptions::default()),
        Err(BtydError::InvalidParameter { name: "r", .. })
    ));
}

#[test]
fn a_fit_stops_at_its_time_limit() {
    let cohort = tiny_cohort();
    let none_left = FitOptions {
        time_limit: Some(std::time::Duration::ZERO),
        ..FitOptions::default()
    };
    assert!(matches!(
        ParetoNbd::fit(&cohort, &none_left),
        Err(BtydError::TimedOut {
            model: "Pareto/NBD",
            ..
        })
    ));
    assert!(matches!(
        BgNbd::fit(&cohort, &none_left),
        Err(BtydError::TimedOut {
            model: "BG/NBD",
            ..
        })
    ));
    // The limit is not in the way of an ordinary fit.
    assert!(ParetoNbd::fit(&cohort, &FitOptions::default()).is_ok());
}

/// Many one-time buyers of long ago beside a few regular ones (a shop's old one-off
/// behaviour import next to its order history): the Pareto/NBD optimiser runs to shapes where
/// one evaluation sums millions of terms, and without a limit this fit runs for minutes (more
/// than 60 s in a release build). With one, it ends there.
#[test]
fn a_runaway_pareto_fit_ends_at_its_time_limit() {
    let mut histories: Vec<History> = (0..3000)
        .map(|i| h(0, 0.0, 370.0 + f64::from(i % 7)))
        .collect();
    histories.extend((0..300).map(|i| {
        let x = 1 + i % 20;
        h(x, f64::from(x) * 2.5, 800.0 + f64::from(i % 11))
    }));
    let cohort = Cohort::new(histories).unwrap();
    let options = FitOptions {
        time_limit: Some(std::time::Duration::from_secs(2)),
        ..FitOptions::default()
    };
    let fit = ParetoNbd::fit(&cohort, &options);
    assert!(
        matches!(
            fit,
            Err(BtydError::TimedOut {
                model: "Pareto/NBD",
                ..
            })
        ),
        "{fit:?}"
    );
}

// ---- Next order and CLV -----------------------------------------------------------------

#[test]
fn next_order_and_clv() {
    let history = h(3, 20.0, 30.0);
    let next = expected_next_order(&BG, &history);
    assert_eq!(next.p_alive, BG.p_alive(&history));
    // Half of the active customers order within the median wait: ((α+T)/(α+T+w))^{r+x} = 1/2.
    let (shape, rate) = (BG.r + 3.0, BG.alpha + 30.0);
    assert_close(
        (rate / (rate + next.median_wait_if_alive)).powf(shape),
        0.5,
        1e-14,
    );
    assert_close(next.rate_if_alive, shape / rate, 1e-15);

    // Without discounting, the discounted transactions are the expected transactions.
    let undiscounted = ClvOptions::new(52.0, 0.0);
    assert_eq!(undiscounted.steps, 52);
    assert_close(
        discounted_expected_transactions(&BG, &history, &undiscounted).unwrap(),
        BG.conditional_expected_transactions(&history, 52.0),
        1e-12,
    );
    let discounted = ClvOptions::new(52.0, 0.01);
    let det = discounted_expected_transactions(&BG, &history, &discounted).unwrap();
    assert!(det < BG.conditional_expected_transactions(&history, 52.0));
    let spend = GammaGamma {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };
    let value = clv(&BG, &spend, &history, 30.0, &discounted).unwrap();
    assert_close(
        value,
        det * spend.conditional_expected_value(3, 30.0).unwrap(),
        1e-15,
    );
    assert!(matches!(
        clv(&BG, &spend, &history, 30.0, &ClvOptions::new(-1.0, 0.01)),
        Err(BtydError::InvalidParameter {
            name: "horizon",
            ..
        })
    ));
    // Both models work behind the trait object.
    let models: [&dyn RepeatModel; 2] = [
        &BG,
        &ParetoNbd {
            r: 0.553,
            alpha: 10.578,
            s: 0.606,
            beta: 11.668,
        },
    ];
    for model in models {
        assert!(discounted_expected_transactions(model, &history, &discounted).unwrap() > 0.0);
    }
}

#[test]
fn a_maximum_at_the_boundary_comes_back_as_its_limit() {
    // Half the customers never come back, half buy every week to the end: the likelihood
    // keeps rising toward no drop-out at all (a → 0, b → ∞: the NBD model), and its gradient
    // in log-parameters vanishes on the way. The fit stops there, with sensible predictions.
    let histories = (0..20).map(|i| {
        if i % 2 == 0 {
            h(0, 0.0, 30.0)
        } else {
            h(30, 29.5, 30.0)
        }
    });
    let cohort = Cohort::new(histories).unwrap();
    let fit = BgNbd::fit(&cohort, &FitOptions::default()).unwrap();
    assert!(
        fit.model.a / (fit.model.a + fit.model.b) < 1e-6,
        "{:?}",
        fit.model
    );
    assert!(fit.model.p_alive(&h(30, 29.5, 30.0)) > 0.999);
}
