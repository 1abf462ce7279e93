//! "Buy till you die" models for repeat purchases: BG/NBD, Pareto/NBD and Gamma-Gamma.
//!
//! A customer's purchase history is summarised as a [`History`]: the number of repeat
//! purchases `x`, the time of the last purchase `t_x` and the customer's age `T`, all measured
//! from the first purchase in one time unit chosen by the caller (the papers use weeks).
//! [`summarize`] builds these summaries (and the mean repeat-order value, and the repeat
//! purchases in a holdout window) from raw transactions.
//!
//! The count models [`BgNbd`] (Fader, Hardie & Lee 2005) and [`ParetoNbd`] (Schmittlein,
//! Morrison & Colombo 1987) are fitted by maximum likelihood on a [`Cohort`], which merges
//! identical histories into weighted rows: a million customers usually have only a few
//! thousand distinct `(x, t_x, T)`, and the fit only ever looks at those. [`GammaGamma`]
//! (Fader, Hardie & Lee 2005, "RFM and CLV") models the value of an order from the mean
//! repeat-order values of the customers who came back ([`SpendData`]).
//!
//! Both count models implement [`RepeatModel`]; on top of it, [`expected_next_order`] and
//! [`clv`] give the expected next order and the discounted customer lifetime value.
//!
//! The parameters are plain `Copy` structs with public fields so callers can store them; with
//! the `serde` feature they also derive `Serialize` and `Deserialize`.
//!
//! ```
//! use embudo_predict::btyd::{BgNbd, Cohort, FitOptions, History, RepeatModel};
//!
//! let histories = [History::new(2, 30.43, 38.86)?, History::new(0, 0.0, 38.86)?];
//! let cohort = Cohort::new(histories.iter().copied())?;
//! let fit = BgNbd::fit(&cohort, &FitOptions::default())?;
//! let p = fit.model.p_alive(&histories[0]);
//! # Ok::<(), embudo_predict::btyd::BtydError>(())
//! ```

use std::time::Duration;

mod bgnbd;
mod clv;
mod data;
mod dual;
mod gamma_gamma;
mod optim;
mod pareto_nbd;
mod special;
#[cfg(test)]
mod tests;

pub use bgnbd::BgNbd;
pub use clv::{
    ClvOptions, NextOrder, RepeatModel, clv, discounted_expected_transactions, expected_next_order,
};
pub use data::{
    Cohort, CustomerSummary, History, SpendData, SummaryOptions, Transaction, summarize,
};
pub use gamma_gamma::GammaGamma;
pub use pareto_nbd::ParetoNbd;

/// Why BTYD data could not be built or a model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BtydError {
    /// There is no customer (or no customer with repeat purchases, for Gamma-Gamma) to fit.
    #[error("no customers to fit")]
    NoCustomers,
    /// A customer history is impossible or not finite.
    #[error("customer {index}: {reason}")]
    InvalidHistory {
        /// Position of the history in the input.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A transaction has a value that is negative or not finite.
    #[error("transaction {index}: {reason}")]
    InvalidTransaction {
        /// Position of the transaction in the input.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An option or a model parameter is outside its valid range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The option's or parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The optimiser stopped before reaching a maximum of the likelihood.
    #[error(
        "the {model} fit did not converge after {iterations} iterations \
         (gradient norm {gradient_norm:.3e}): {reason}"
    )]
    NotConverged {
        /// The model being fitted.
        model: &'static str,
        /// Iterations done.
        iterations: u64,
        /// Norm of the gradient of the mean negative log-likelihood (log-parameters) at the end.
        gradient_norm: f64,
        /// Why the optimiser stopped.
        reason: String,
    },
    /// The fit ran out of [`FitOptions::time_limit`] (the likelihood grows costly to evaluate
    /// where the data do not pin a parameter down, as when Pareto/NBD's shapes run off).
    #[error(
        "the {model} fit was stopped after {seconds:.1} s and {iterations} iterations, at its \
         time limit, before it converged"
    )]
    TimedOut {
        /// The model being fitted.
        model: &'static str,
        /// How long it ran.
        seconds: f64,
        /// Iterations done.
        iterations: u64,
    },
}

/// Settings of a maximum-likelihood fit.
///
/// The optimiser is L-BFGS (argmin) on the logarithms of the parameters, minimising the mean
/// negative log-likelihood per customer with its analytic gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Upper bound on optimiser iterations.
    pub max_iterations: u64,
    /// Convergence threshold on the Euclidean norm of the gradient of the mean negative
    /// log-likelihood with respect to the log-parameters.
    pub gradient_tolerance: f64,
    /// The longest a fit may run before it fails with [`BtydError::TimedOut`]; `None` for no
    /// limit. Iterations bound the work of BG/NBD and Gamma-Gamma, but one evaluation of the
    /// Pareto/NBD likelihood costs terms in proportion to r + s + x, which can grow without
    /// bound while the optimiser wanders.
    pub time_limit: Option<Duration>,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            max_iterations: 1000,
            gradient_tolerance: 1e-9,
            time_limit: Some(Duration::from_secs(120)),
        }
    }
}

/// A fitted model and how the fit went.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Fit<M> {
    /// The maximum-likelihood parameters.
    pub model: M,
    /// The total log-likelihood at the maximum (sum over customers, weights included).
    pub log_likelihood: f64,
    /// Number of customers fitted (sum of the weights).
    pub customers: f64,
    /// Optimiser iterations.
    pub iterations: u64,
}
