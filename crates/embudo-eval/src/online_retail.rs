//! Reader of the UCI "Online Retail" invoice lines
//! (`../shared/data/online_retail/online_retail.csv.gz`), and their conversion into
//! [`embudo_recommend`] inputs.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::Context;
use embudo_recommend::{
    Catalogue, CivilDate, CustomerIdx, Interner, OrderIdx, OrderLine, Product, ProductIdx,
    Timestamp, timestamp_of,
};

/// One invoice line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RetailLine {
    /// `InvoiceNo`; a `C` prefix marks a cancellation.
    pub invoice: String,
    pub stock_code: String,
    pub description: String,
    pub quantity: i64,
    /// `InvoiceDate` as seconds since 1970 in the shop's (UK) local time.
    pub at: Timestamp,
    pub unit_price: f64,
    /// `CustomerID`, absent for guests.
    pub customer: Option<u32>,
    pub country: String,
}

/// Stock codes that are not products: postage, fees, manual adjustments, vouchers.
pub fn is_non_product(stock_code: &str) -> bool {
    matches!(
        stock_code,
        "POST"
            | "DOT"
            | "M"
            | "m"
            | "C2"
            | "D"
            | "S"
            | "B"
            | "BANK CHARGES"
            | "AMAZONFEE"
            | "CRUK"
            | "PADS"
    ) || stock_code.starts_with("gift_0001")
        || stock_code.starts_with("DCGS")
}

/// Reads every line of the file (gzip-compressed when the name ends in `.gz`).
pub fn read(path: &Path) -> anyhow::Result<Vec<RetailLine>> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut csv = csv::Reader::from_reader(reader);
    let mut lines = Vec::with_capacity(550_000);
    let mut record = csv::StringRecord::new();
    while csv
        .read_record(&mut record)
        .with_context(|| format!("failed to read {}", path.display()))?
    {
        let row = lines.len() + 2;
        let field = |k: usize| record.get(k).unwrap_or("");
        let customer = match field(6).trim() {
            "" => None,
            text => Some(
                text.trim_end_matches(".0")
                    .parse()
                    .with_context(|| format!("line {row}: bad CustomerID {text:?}"))?,
            ),
        };
        lines.push(RetailLine {
            invoice: field(0).to_owned(),
            stock_code: field(1).to_owned(),
            description: field(2).trim().to_owned(),
            quantity: field(3)
                .parse()
                .with_context(|| format!("line {row}: bad Quantity {:?}", field(3)))?,
            at: parse_time(field(4))
                .with_context(|| format!("line {row}: bad InvoiceDate {:?}", field(4)))?,
            unit_price: field(5)
                .parse()
                .with_context(|| format!("line {row}: bad UnitPrice {:?}", field(5)))?,
            customer,
            country: field(7).to_owned(),
        });
    }
    Ok(lines)
}

/// Parses `YYYY-MM-DD HH:MM:SS`.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let (date, time) = text.split_once(' ')?;
    let mut date = date.split('-');
    let year = date.next()?.parse().ok()?;
    let month = date.next()?.parse().ok()?;
    let day = date.next()?.parse().ok()?;
    let mut time = time.split(':');
    let hours: i64 = time.next()?.parse().ok()?;
    let minutes: i64 = time.next()?.parse().ok()?;
    let seconds: i64 = time.next().map_or(Some(0), |s| s.parse().ok())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(timestamp_of(CivilDate { year, month, day }) + hours * 3600 + minutes * 60 + seconds)
}

/// The purchases of identified customers, interned for the models.
#[derive(Debug, Clone)]
pub struct RetailPurchases {
    /// Lines with a customer, a positive quantity and not on a cancellation invoice.
    pub lines: Vec<OrderLine>,
    pub customers: Interner,
    pub products: Interner,
    pub orders: Interner,
    /// Every stock code of the kept lines; non-product codes ([`is_non_product`]) are
    /// inactive, names are the first non-blank description.
    pub catalogue: Catalogue,
}

/// Keeps the lines with a customer, `quantity > 0` and an invoice not starting with `C`.
pub fn purchases(lines: &[RetailLine]) -> RetailPurchases {
    let mut customers = Interner::default();
    let mut products = Interner::default();
    let mut orders = Interner::default();
    let mut catalogue = Catalogue::default();
    let mut kept = Vec::new();
    for line in lines {
        let Some(customer) = line.customer else {
            continue;
        };
        if line.quantity <= 0 || line.invoice.starts_with('C') {
            continue;
        }
        let product = products.intern(&line.stock_code);
        if product as usize == catalogue.products.len() {
            catalogue.products.push(Product {
                active: !is_non_product(&line.stock_code),
                category: None,
                name: String::new(),
            });
        }
        let entry = &mut catalogue.products[product as usize];
        if entry.name.is_empty() {
            entry.name.clone_from(&line.description);
        }
        kept.push(OrderLine {
            customer: CustomerIdx(customers.intern(&customer.to_string())),
            product: ProductIdx(product),
            order: OrderIdx(orders.intern(&line.invoice)),
            at: line.at,
            quantity: u32::try_from(line.quantity).unwrap_or(u32::MAX),
            unit_price: line.unit_price.max(0.0),
        });
    }
    RetailPurchases {
        lines: kept,
        customers,
        products,
        orders,
        catalogue,
    }
}
