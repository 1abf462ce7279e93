//! `[phases]` and `[pages]`: raw values checked and laid over the built-in defaults.

use std::ops::Range;

use embudo_core::page::{PageCategory, PageRules, PathRule};
use embudo_core::phase::{PhaseModel, Signal};
use toml::Spanned;

use crate::error::ConfigError;
use crate::raw::{RawPages, RawPhases};

/// Builds an error at a span.
pub(crate) type At<'a> = dyn Fn(Range<usize>, String) -> ConfigError + 'a;

/// What a number must be.
#[derive(Clone, Copy)]
pub(crate) enum Rule {
    /// Finite.
    Any,
    /// Finite and ≥ 0.
    NonNegative,
    /// Finite and > 0.
    Positive,
    /// In [0, 1].
    Probability,
}

pub(crate) fn number(
    value: Option<Spanned<f64>>,
    key: &str,
    rule: Rule,
    default: f64,
    at: &At<'_>,
) -> Result<f64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let (span, number) = (value.span(), *value.get_ref());
    let ok = number.is_finite()
        && match rule {
            Rule::Any => true,
            Rule::NonNegative => number >= 0.0,
            Rule::Positive => number > 0.0,
            Rule::Probability => (0.0..=1.0).contains(&number),
        };
    if ok {
        return Ok(number);
    }
    let must = match rule {
        Rule::Any => "a finite number",
        Rule::NonNegative => "a non-negative number",
        Rule::Positive => "positive",
        Rule::Probability => "between 0 and 1",
    };
    Err(at(span, format!("{key} must be {must}, got {number}")))
}

pub(crate) fn phase_model(raw: RawPhases, at: &At<'_>) -> Result<PhaseModel, ConfigError> {
    let mut model = PhaseModel::default();
    if let Some(prior) = raw.prior {
        let span = prior.span();
        let prior = prior.into_inner();
        if !prior.i.is_finite() || !prior.ii.is_finite() {
            return Err(at(span, "phases.prior must hold finite numbers".to_owned()));
        }
        model.prior = [prior.i, prior.ii];
    }
    model.answers_weight = number(
        raw.answers_weight,
        "phases.answers_weight",
        Rule::NonNegative,
        model.answers_weight,
        at,
    )?;
    for (key, signal_raw) in raw.signals.unwrap_or_default() {
        let Some(signal) = Signal::parse_decayed(key.get_ref()) else {
            let known: Vec<&str> = Signal::DECAYED.iter().map(|signal| signal.key()).collect();
            return Err(at(
                key.span(),
                format!(
                    "unknown signal {:?} in phases.signals (known: {})",
                    key.get_ref(),
                    known.join(", ")
                ),
            ));
        };
        let name = format!("phases.signals.{}", signal.key());
        let signal_raw = signal_raw.into_inner();
        let spec = &mut model.signals[signal.index()];
        if let Some(weights) = signal_raw.weights {
            let span = weights.span();
            let weights = weights.into_inner();
            match weights.as_slice() {
                [i, ii, iii] if weights.iter().all(|w| w.is_finite()) => {
                    spec.weights = [*i, *ii, *iii]
                }
                _ => {
                    return Err(at(
                        span,
                        format!(
                            "{name}.weights must be three finite numbers [I, II, III], got {weights:?}"
                        ),
                    ));
                }
            }
        }
        spec.half_life_days = number(
            signal_raw.half_life_days,
            &format!("{name}.half_life_days"),
            Rule::Positive,
            spec.half_life_days,
            at,
        )?;
        spec.saturation = number(
            signal_raw.saturation,
            &format!("{name}.saturation"),
            Rule::NonNegative,
            spec.saturation,
            at,
        )?;
        spec.engagement = number(
            signal_raw.engagement,
            &format!("{name}.engagement"),
            Rule::NonNegative,
            spec.engagement,
            at,
        )?;
    }
    if let Some(focus) = raw.focus {
        model.focus.half_life_days = number(
            focus.half_life_days,
            "phases.focus.half_life_days",
            Rule::Positive,
            model.focus.half_life_days,
            at,
        )?;
        model.focus.streak_reset_below = number(
            focus.streak_reset_below,
            "phases.focus.streak_reset_below",
            Rule::NonNegative,
            model.focus.streak_reset_below,
            at,
        )?;
        if let Some(max_groups) = focus.max_groups {
            let value = *max_groups.get_ref();
            if !(1..=64).contains(&value) {
                return Err(at(
                    max_groups.span(),
                    format!("phases.focus.max_groups must be between 1 and 64, got {value}"),
                ));
            }
            model.focus.max_groups = usize::try_from(value).unwrap_or(1);
        }
    }
    if let Some(customer) = raw.customer {
        let c = &mut model.customer;
        c.weight = number(
            customer.weight,
            "phases.customer.weight",
            Rule::Any,
            c.weight,
            at,
        )?;
        c.saturation = number(
            customer.saturation,
            "phases.customer.saturation",
            Rule::NonNegative,
            c.saturation,
            at,
        )?;
        c.repurchase_interval_days = number(
            customer.repurchase_interval_days,
            "phases.customer.repurchase_interval_days",
            Rule::Positive,
            c.repurchase_interval_days,
            at,
        )?;
        c.at_risk_after = number(
            customer.at_risk_after,
            "phases.customer.at_risk_after",
            Rule::Positive,
            c.at_risk_after,
            at,
        )?;
        let lapsed_span = customer.lapsed_after.as_ref().map(Spanned::span);
        c.lapsed_after = number(
            customer.lapsed_after,
            "phases.customer.lapsed_after",
            Rule::Positive,
            c.lapsed_after,
            at,
        )?;
        if c.lapsed_after < c.at_risk_after {
            return Err(at(
                lapsed_span.unwrap_or(0..0),
                format!(
                    "phases.customer.lapsed_after ({}) must not be below at_risk_after ({})",
                    c.lapsed_after, c.at_risk_after
                ),
            ));
        }
        c.p_alive_at_risk = number(
            customer.p_alive_at_risk,
            "phases.customer.p_alive_at_risk",
            Rule::Probability,
            c.p_alive_at_risk,
            at,
        )?;
        let lapsed_span = customer.p_alive_lapsed.as_ref().map(Spanned::span);
        c.p_alive_lapsed = number(
            customer.p_alive_lapsed,
            "phases.customer.p_alive_lapsed",
            Rule::Probability,
            c.p_alive_lapsed,
            at,
        )?;
        if c.p_alive_lapsed > c.p_alive_at_risk {
            return Err(at(
                lapsed_span.unwrap_or(0..0),
                format!(
                    "phases.customer.p_alive_lapsed ({}) must not exceed p_alive_at_risk ({})",
                    c.p_alive_lapsed, c.p_alive_at_risk
                ),
            ));
        }
    }
    if let Some(stage) = raw.stage {
        let s = &mut model.stage;
        s.min_fit = number(
            stage.min_fit,
            "phases.stage.min_fit",
            Rule::Probability,
            s.min_fit,
            at,
        )?;
        s.min_engagement = number(
            stage.min_engagement,
            "phases.stage.min_engagement",
            Rule::NonNegative,
            s.min_engagement,
            at,
        )?;
        s.min_evidence = number(
            stage.min_evidence,
            "phases.stage.min_evidence",
            Rule::NonNegative,
            s.min_evidence,
            at,
        )?;
        s.future_customer_min = number(
            stage.future_customer_min,
            "phases.stage.future_customer_min",
            Rule::Probability,
            s.future_customer_min,
            at,
        )?;
        s.min_advocacy = number(
            stage.min_advocacy,
            "phases.stage.min_advocacy",
            Rule::NonNegative,
            s.min_advocacy,
            at,
        )?;
    }
    Ok(model)
}

pub(crate) fn page_rules(raw: RawPages, at: &At<'_>) -> Result<PageRules, ConfigError> {
    let mut rules = Vec::new();
    for rule in raw.rules.unwrap_or_default() {
        let span = rule.span();
        let rule = rule.into_inner();
        let Some(category) = PageCategory::parse(&rule.category) else {
            let known: Vec<&str> = PageCategory::ALL
                .iter()
                .map(|category| category.as_str())
                .collect();
            return Err(at(
                span,
                format!(
                    "unknown page category {:?} (known: {})",
                    rule.category,
                    known.join(", ")
                ),
            ));
        };
        if rule.pattern.trim().is_empty() {
            return Err(at(
                span,
                "a page rule's pattern must not be empty".to_owned(),
            ));
        }
        rules.push(PathRule {
            category,
            pattern: rule.pattern,
        });
    }
    if !raw.replace_defaults.unwrap_or(false) {
        rules.extend(PageRules::default().rules().iter().cloned());
    }
    Ok(PageRules::new(rules))
}
