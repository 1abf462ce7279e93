//! Why a product was recommended: structured data, and a helper rendering it in Spanish or
//! English.

use crate::{ProductIdx, Timestamp, calendar::civil_date};

#[cfg(test)]
mod tests;

/// Languages of the rendered explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Spanish,
    English,
}

/// The evidence behind one recommendation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Explanation {
    /// Customers who bought `anchor` (which this person bought) also bought the product.
    BoughtWith {
        anchor: ProductIdx,
        /// Customers who bought both.
        customers: u32,
        /// Share of `anchor`'s buyers who also bought the product.
        confidence: f64,
        lift: f64,
    },
    /// The person bought the product before and it is often bought again.
    Reorder {
        last_bought_at: Timestamp,
        /// Distinct days on which the person bought it.
        times: u32,
        /// Share of the product's buyers who bought it on two or more days.
        reorder_rate: f64,
    },
    /// Customers who bought much of what this person bought also bought the product.
    SimilarCustomers {
        /// Similar customers who bought it.
        customers: u32,
    },
    /// The product sells well right now (and nothing in the person's history points
    /// elsewhere more strongly).
    Popular {
        /// Customers who bought it in the 30 days before the model was built.
        recent_customers: u32,
    },
}

impl Explanation {
    /// A short sentence for a person, with `name` giving product names.
    pub fn render(&self, language: Language, name: &dyn Fn(ProductIdx) -> String) -> String {
        match (*self, language) {
            (
                Explanation::BoughtWith {
                    anchor, customers, ..
                },
                Language::Spanish,
            ) => {
                let clientes = if customers == 1 {
                    "cliente"
                } else {
                    "clientes"
                };
                format!(
                    "comprado junto con {} por {customers} {clientes}",
                    name(anchor)
                )
            }
            (
                Explanation::BoughtWith {
                    anchor, customers, ..
                },
                Language::English,
            ) => {
                let noun = if customers == 1 {
                    "customer"
                } else {
                    "customers"
                };
                format!("bought with {} by {customers} {noun}", name(anchor))
            }
            (
                Explanation::Reorder {
                    last_bought_at,
                    times,
                    ..
                },
                Language::Spanish,
            ) => {
                let date = civil_date(last_bought_at);
                let veces = if times == 1 { "vez" } else { "veces" };
                format!(
                    "lo has comprado {times} {veces}, la última el {}/{}/{}",
                    date.day, date.month, date.year
                )
            }
            (
                Explanation::Reorder {
                    last_bought_at,
                    times,
                    ..
                },
                Language::English,
            ) => {
                let date = civil_date(last_bought_at);
                let noun = if times == 1 { "time" } else { "times" };
                format!(
                    "you bought it {times} {noun}, last on {}-{:02}-{:02}",
                    date.year, date.month, date.day
                )
            }
            (Explanation::SimilarCustomers { customers }, Language::Spanish) => {
                format!("lo compraron {customers} clientes con compras parecidas a las tuyas")
            }
            (Explanation::SimilarCustomers { customers }, Language::English) => {
                format!("bought by {customers} customers who buy what you buy")
            }
            (Explanation::Popular { recent_customers }, Language::Spanish) => {
                format!(
                    "popular ahora: {recent_customers} clientes lo compraron en los últimos 30 días"
                )
            }
            (Explanation::Popular { recent_customers }, Language::English) => {
                format!("popular now: bought by {recent_customers} customers in the last 30 days")
            }
        }
    }
}
