//! `[recommend]`: cross-sell settings (results, inactive products, consumables, category
//! rules), checked with errors that name the key.

use toml::Spanned;

use crate::error::ConfigError;
use crate::phases::{At, Rule, number};
use crate::raw::{RawRecommend, RawRecommendRule};

/// How recommendations are chosen and filtered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendSettings {
    /// Recommendations returned when the caller does not say how many.
    pub results: usize,
    /// A product not sold for this many days before the model's build is inactive; `None`:
    /// products never become inactive by age.
    pub inactive_after_days: Option<f64>,
    /// Product ids never recommended (discontinued, out of stock, not for sale).
    pub inactive_products: Vec<String>,
    /// Product ids that may be recommended again to their buyers once they are due.
    pub consumables: Vec<String>,
    /// Categories whose products are consumables.
    pub consumable_categories: Vec<String>,
    /// Also treat as consumables the products that at least `min_reorder_rate` of their buyers
    /// bought again (on another day), learned from the orders.
    pub learn_consumables: bool,
    pub min_reorder_rate: f64,
    /// A consumable is due from this many days before its expected reorder date on.
    pub reorder_window_days: f64,
    pub rules: Vec<RecommendRule>,
}

impl Default for RecommendSettings {
    fn default() -> RecommendSettings {
        RecommendSettings {
            results: 10,
            inactive_after_days: Some(180.0),
            inactive_products: Vec::new(),
            consumables: Vec::new(),
            consumable_categories: Vec::new(),
            learn_consumables: true,
            min_reorder_rate: 0.3,
            reorder_window_days: 7.0,
            rules: Vec::new(),
        }
    }
}

/// A category rule, by category name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecommendRule {
    /// Never recommend products of `recommended` to people who bought in `bought`.
    Never { bought: String, recommended: String },
    /// Products of `category` go only with products of the same category.
    WithinCategory { category: String },
}

/// Most recommendations one request may ask for.
pub const MAX_RESULTS: usize = 100;

pub(crate) fn recommend_settings(
    raw: RawRecommend,
    at: &At<'_>,
) -> Result<RecommendSettings, ConfigError> {
    let defaults = RecommendSettings::default();
    let results = match raw.results {
        None => defaults.results,
        Some(value) => {
            let n = *value.get_ref();
            if !(1..=MAX_RESULTS as i64).contains(&n) {
                return Err(at(
                    value.span(),
                    format!("recommend.results must be between 1 and {MAX_RESULTS}, got {n}"),
                ));
            }
            n as usize
        }
    };
    let inactive_after_days = match raw.inactive_after_days {
        None => defaults.inactive_after_days,
        Some(value) => {
            let days = number(
                Some(value),
                "recommend.inactive_after_days",
                Rule::NonNegative,
                0.0,
                at,
            )?;
            (days > 0.0).then_some(days)
        }
    };
    let ids = |list: Option<Spanned<Vec<String>>>, key: &str| match list {
        None => Ok(Vec::new()),
        Some(list) => {
            let span = list.span();
            let list = list.into_inner();
            match list.iter().position(|id| id.trim().is_empty()) {
                Some(k) => Err(at(span, format!("recommend.{key}[{k}] must not be empty"))),
                None => Ok(list.into_iter().map(|id| id.trim().to_owned()).collect()),
            }
        }
    };
    let mut rules = Vec::new();
    for (k, rule) in raw.rules.unwrap_or_default().into_iter().enumerate() {
        let span = rule.span();
        let rule = rule.into_inner();
        let name =
            |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let rule = match rule {
            RawRecommendRule {
                bought,
                never,
                within: None,
            } if bought.is_some() || never.is_some() => match (name(bought), name(never)) {
                (Some(bought), Some(recommended)) => RecommendRule::Never {
                    bought,
                    recommended,
                },
                _ => {
                    return Err(at(
                        span,
                        format!(
                            "recommend.rules[{k}] needs both `bought` and `never` category names"
                        ),
                    ));
                }
            },
            RawRecommendRule {
                bought: None,
                never: None,
                within: Some(category),
            } => match name(Some(category)) {
                Some(category) => RecommendRule::WithinCategory { category },
                None => {
                    return Err(at(
                        span,
                        format!("recommend.rules[{k}].within must name a category"),
                    ));
                }
            },
            _ => {
                return Err(at(
                    span,
                    format!(
                        "recommend.rules[{k}] must be {{ bought = \"X\", never = \"Y\" }} or {{ within = \"Z\" }}"
                    ),
                ));
            }
        };
        rules.push(rule);
    }
    Ok(RecommendSettings {
        results,
        inactive_after_days,
        inactive_products: ids(raw.inactive_products, "inactive_products")?,
        consumables: ids(raw.consumables, "consumables")?,
        consumable_categories: ids(raw.consumable_categories, "consumable_categories")?,
        learn_consumables: raw.learn_consumables.unwrap_or(defaults.learn_consumables),
        min_reorder_rate: number(
            raw.min_reorder_rate,
            "recommend.min_reorder_rate",
            Rule::Probability,
            defaults.min_reorder_rate,
            at,
        )?,
        reorder_window_days: number(
            raw.reorder_window_days,
            "recommend.reorder_window_days",
            Rule::NonNegative,
            defaults.reorder_window_days,
            at,
        )?,
        rules,
    })
}
