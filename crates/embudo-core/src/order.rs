//! Orders and refunds, as the Segment e-commerce spec (v2) describes them.

use crate::time::Timestamp;
use crate::value::Value;

/// A purchase with its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_id: String,
    pub placed_at: Timestamp,
    /// `total` (or `revenue`, or the sum of the lines when neither is given).
    pub total: f64,
    /// ISO 4217, uppercase; `None` when the shop did not say.
    pub currency: Option<String>,
    pub lines: Vec<OrderLine>,
}

/// One product line of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub product_id: String,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub unit_price: f64,
    pub quantity: f64,
}

/// A refund of a whole order (no lines) or of some of its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    pub order_id: String,
    /// The refunded amount when given (`total`), else the sum of the refunded lines.
    pub amount: Option<f64>,
    pub lines: Vec<OrderLine>,
}

impl Refund {
    /// A refund with neither lines nor amount refunds the whole order, as the spec implies.
    pub fn is_whole_order(&self) -> bool {
        self.lines.is_empty() && self.amount.is_none()
    }
}

/// Why an order could not be read. Each names the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("properties.order_id is missing")]
    MissingOrderId,
    #[error(
        "properties.products[{index}].product_id is missing (neither product_id, sku nor id given)"
    )]
    MissingProductId { index: usize },
    #[error("properties.products[{index}].{field} is not a non-negative number")]
    BadNumber { index: usize, field: &'static str },
    #[error("properties.{field} is not a non-negative number")]
    BadTotal { field: &'static str },
    #[error("properties.products is not a list")]
    ProductsNotAList,
    #[error("properties.currency {currency:?} is not a three-letter ISO 4217 code")]
    BadCurrency { currency: String },
}

impl Order {
    /// Reads an `Order Completed` event's properties.
    pub fn from_properties(props: &Value, placed_at: Timestamp) -> Result<Order, OrderError> {
        let order_id = props
            .get("order_id")
            .and_then(Value::as_id)
            .ok_or(OrderError::MissingOrderId)?;
        let lines = lines_from(props)?;
        let total = match amount_field(props, "total")?.or(amount_field(props, "revenue")?) {
            Some(total) => total,
            None => lines
                .iter()
                .fold(0.0, |sum, line| sum + line.unit_price * line.quantity),
        };
        let currency = currency_from(props)?;
        Ok(Order {
            order_id,
            placed_at,
            total,
            currency,
            lines,
        })
    }

    pub fn n_items(&self) -> f64 {
        self.lines.iter().fold(0.0, |sum, line| sum + line.quantity)
    }
}

impl Refund {
    /// Reads an `Order Refunded` event's properties.
    pub fn from_properties(props: &Value) -> Result<Refund, OrderError> {
        let order_id = props
            .get("order_id")
            .and_then(Value::as_id)
            .ok_or(OrderError::MissingOrderId)?;
        let lines = lines_from(props)?;
        let amount = match amount_field(props, "total")? {
            Some(total) => Some(total),
            None if !lines.is_empty() => Some(
                lines
                    .iter()
                    .fold(0.0, |sum, line| sum + line.unit_price * line.quantity),
            ),
            None => None,
        };
        Ok(Refund {
            order_id,
            amount,
            lines,
        })
    }
}

fn amount_field(props: &Value, field: &'static str) -> Result<Option<f64>, OrderError> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(amount) if amount >= 0.0 => Ok(Some(amount)),
            _ => Err(OrderError::BadTotal { field }),
        },
    }
}

fn currency_from(props: &Value) -> Result<Option<String>, OrderError> {
    match props.str_field("currency") {
        None => Ok(None),
        Some(code) if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) => {
            Ok(Some(code.to_ascii_uppercase()))
        }
        Some(code) => Err(OrderError::BadCurrency {
            currency: code.to_owned(),
        }),
    }
}

fn lines_from(props: &Value) -> Result<Vec<OrderLine>, OrderError> {
    let products = match props.get("products") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::List(products)) => products,
        Some(_) => return Err(OrderError::ProductsNotAList),
    };
    products
        .iter()
        .enumerate()
        .map(|(index, product)| {
            let product_id = product
                .get("product_id")
                .and_then(Value::as_id)
                .or_else(|| product.get("sku").and_then(Value::as_id))
                .or_else(|| product.get("id").and_then(Value::as_id))
                .ok_or(OrderError::MissingProductId { index })?;
            let number = |field: &'static str, default: f64| match product.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(value) => value
                    .as_f64()
                    .filter(|number| *number >= 0.0)
                    .ok_or(OrderError::BadNumber { index, field }),
            };
            Ok(OrderLine {
                product_id,
                sku: product.get("sku").and_then(Value::as_id),
                name: product.str_field("name").map(str::to_owned),
                category: product.str_field("category").map(str::to_owned),
                brand: product.str_field("brand").map(str::to_owned),
                unit_price: number("price", 0.0)?,
                quantity: number("quantity", 1.0)?,
            })
        })
        .collect()
}
