//! What the count models say about one customer: next order and lifetime value.

use super::BtydError;
use super::data::History;
use super::gamma_gamma::GammaGamma;

/// A fitted repeat-purchase model ([`super::BgNbd`], [`super::ParetoNbd`]).
///
/// Times are in the unit of the histories the model was fitted on; "the end of observation"
/// is the moment the history's age `T` was measured at.
pub trait RepeatModel {
    /// Probability that the customer is still active ("alive") at the end of observation.
    fn p_alive(&self, history: &History) -> f64;

    /// Expected purchases of a new customer in their first `t` time units after the first
    /// purchase (repeat purchases only).
    fn expected_transactions(&self, t: f64) -> f64;

    /// Expected purchases in the `t` time units after the end of observation, given the
    /// history.
    fn conditional_expected_transactions(&self, history: &History, t: f64) -> f64;

    /// Shape and rate of the gamma posterior of the purchase rate λ of the customer if still
    /// alive: Gamma(r + x, α + T) in both models.
    fn rate_posterior_if_alive(&self, history: &History) -> (f64, f64);
}

/// When the next order is expected.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NextOrder {
    /// Probability that the customer is still active at the end of observation.
    pub p_alive: f64,
    /// Median time from the end of observation to the next order if the customer is still
    /// active: (α+T) (2^{1/(r+x)} − 1). See [`expected_next_order`].
    pub median_wait_if_alive: f64,
    /// Expected purchase rate if still active, (r+x)/(α+T) orders per time unit.
    pub rate_if_alive: f64,
}

/// The expected next order of a customer.
///
/// Definition: given that the customer is still active, their purchase rate λ follows its
/// posterior Gamma(r+x, α+T), so the wait W until the next order has
/// P(W > w) = ((α+T)/(α+T+w))^{r+x}; the expected next order is the median of W,
/// w½ = (α+T)(2^{1/(r+x)} − 1) after the end of observation. The median is used because the
/// mean is infinite for r + x ≤ 1. For BG/NBD this is exact (drop-out only happens right
/// after an order, so an active customer orders again); for Pareto/NBD it ignores a drop-out
/// before that order. Combine with [`NextOrder::p_alive`] to judge whether the order will
/// come at all.
pub fn expected_next_order<M: RepeatModel + ?Sized>(model: &M, history: &History) -> NextOrder {
    let (shape, rate) = model.rate_posterior_if_alive(history);
    NextOrder {
        p_alive: model.p_alive(history),
        median_wait_if_alive: rate * (std::f64::consts::LN_2 / shape).exp_m1(),
        rate_if_alive: shape / rate,
    }
}

/// Horizon and discounting of a customer lifetime value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClvOptions {
    /// How far ahead to count, in model time units (for example 52 for a year in weeks).
    pub horizon: f64,
    /// Discount rate per model time unit: value at time t is worth (1 + rate)^{−t} today.
    pub discount_rate: f64,
    /// Number of equal steps the horizon is cut into; each step's expected orders are
    /// discounted from the end of the step.
    pub steps: u32,
}

impl ClvOptions {
    /// A horizon cut into steps of one time unit (at least one step).
    pub fn new(horizon: f64, discount_rate: f64) -> Self {
        let steps = if horizon.is_finite() && horizon >= 1.0 {
            horizon.ceil().min(f64::from(u32::MAX)) as u32
        } else {
            1
        };
        Self {
            horizon,
            discount_rate,
            steps,
        }
    }

    fn check(&self) -> Result<(), BtydError> {
        if !(self.horizon.is_finite() && self.horizon > 0.0) {
            return Err(BtydError::InvalidParameter {
                name: "horizon",
                reason: "must be positive and finite",
            });
        }
        if !(self.discount_rate.is_finite() && self.discount_rate > -1.0) {
            return Err(BtydError::InvalidParameter {
                name: "discount_rate",
                reason: "must be finite and above -1",
            });
        }
        if self.steps == 0 {
            return Err(BtydError::InvalidParameter {
                name: "steps",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

/// Discounted expected transactions over the horizon:
/// Σₖ (E[Y(tₖ)] − E[Y(tₖ₋₁)]) (1 + d)^{−tₖ}, tₖ = k · horizon / steps, where E[Y(t)] is the
/// model's conditional expectation for the history (the discrete form of Fader, Hardie &
/// Lee's discounted expected residual transactions).
pub fn discounted_expected_transactions<M: RepeatModel + ?Sized>(
    model: &M,
    history: &History,
    options: &ClvOptions,
) -> Result<f64, BtydError> {
    options.check()?;
    let ln_discount = options.discount_rate.ln_1p();
    let step = options.horizon / f64::from(options.steps);
    let mut previous = 0.0;
    let mut total = 0.0;
    for k in 1..=options.steps {
        let t = step * f64::from(k);
        let expected = model.conditional_expected_transactions(history, t);
        total += (expected - previous) * (-ln_discount * t).exp();
        previous = expected;
    }
    Ok(total)
}

/// Discounted customer lifetime value over the horizon: the Gamma-Gamma expected order value
/// given the customer's `x` repeat orders with mean `mean_repeat_value`, times the discounted
/// expected transactions (see [`discounted_expected_transactions`]).
pub fn clv<M: RepeatModel + ?Sized>(
    model: &M,
    spend: &GammaGamma,
    history: &History,
    mean_repeat_value: f64,
    options: &ClvOptions,
) -> Result<f64, BtydError> {
    let value = spend.conditional_expected_value(history.x, mean_repeat_value)?;
    Ok(value * discounted_expected_transactions(model, history, options)?)
}
