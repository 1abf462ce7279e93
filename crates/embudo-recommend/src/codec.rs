//! A compact binary encoding of the built models, for storing them between builds.
//!
//! Little-endian fixed-width numbers and length-prefixed sequences, written by [`Writer`] and
//! read back by [`Reader`]. Decoding checks every length and index it reads, so a damaged
//! payload is a [`DecodeError`], never a panic or an out-of-range index at request time.
//! The format carries no version of its own: the caller stores one beside it.

use crate::recommender::Neighbour;
use crate::season::{MONTHS, WEEKS};
use crate::{
    ProductInterval, RecommendParams, Recommender, ReorderModel, ReorderParams, SeasonParams,
    SeasonProfile, Seasons,
};

#[cfg(test)]
mod tests;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the payload ends early, at byte {at}, reading {what}")]
    Truncated { at: usize, what: &'static str },
    #[error("the payload is inconsistent: {0}")]
    Inconsistent(String),
}

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn f32(&mut self, value: f32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn f64(&mut self, value: f64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// A length or index (as 64 bits).
    pub fn usize(&mut self, value: usize) {
        self.u64(value as u64);
    }

    pub fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    pub fn option_f64(&mut self, value: Option<f64>) {
        self.bool(value.is_some());
        self.f64(value.unwrap_or(0.0));
    }

    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, value: &str) {
        self.usize(value.len());
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// A length-prefixed sequence, each item written by `item`.
    pub fn seq<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) {
        self.usize(items.len());
        self.bytes.reserve(std::mem::size_of_val(items));
        for value in items {
            item(self, value);
        }
    }
}

/// Reads values written by a [`Writer`], in the same order.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// Whether every byte was read.
    pub fn is_at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let end = self
            .at
            .checked_add(N)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(DecodeError::Truncated { at: self.at, what });
        };
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take::<1>(what)?[0])
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take(what)?))
    }

    pub fn f32(&mut self, what: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.take(what)?))
    }

    pub fn f64(&mut self, what: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.take(what)?))
    }

    pub fn usize(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let value = self.u64(what)?;
        usize::try_from(value)
            .map_err(|_| DecodeError::Inconsistent(format!("{what} {value} does not fit")))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::Inconsistent(format!(
                "{what} is {other}, not a boolean"
            ))),
        }
    }

    pub fn option_f64(&mut self, what: &'static str) -> Result<Option<f64>, DecodeError> {
        let some = self.bool(what)?;
        let value = self.f64(what)?;
        Ok(some.then_some(value))
    }

    pub fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let len = self.len(what, 1)?;
        let bytes = &self.bytes[self.at..self.at + len];
        self.at += len;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| DecodeError::Inconsistent(format!("{what} is not UTF-8")))
    }

    /// A sequence written by [`Writer::seq`]; `min_item_bytes` bounds the length by the bytes
    /// left, so a damaged length cannot allocate without bound.
    pub fn seq<T>(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.len(what, min_item_bytes)?;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn len(&mut self, what: &'static str, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let len = self.usize(what)?;
        let left = self.bytes.len() - self.at;
        if len.saturating_mul(min_item_bytes.max(1)) > left {
            return Err(DecodeError::Truncated { at: self.at, what });
        }
        Ok(len)
    }
}

/// Checks that `starts` are CSR offsets into `len` items for `rows` rows.
fn check_starts(starts: &[usize], rows: usize, len: usize, what: &str) -> Result<(), DecodeError> {
    let ok = starts.len() == rows + 1
        && starts.first() == Some(&0)
        && starts.last() == Some(&len)
        && starts.windows(2).all(|pair| pair[0] <= pair[1]);
    if ok {
        Ok(())
    } else {
        Err(DecodeError::Inconsistent(format!(
            "{what} offsets do not cover {len} items in {rows} rows"
        )))
    }
}

fn check_len(len: usize, expected: usize, what: &str) -> Result<(), DecodeError> {
    if len == expected {
        Ok(())
    } else {
        Err(DecodeError::Inconsistent(format!(
            "{what} has {len} entries, expected {expected}"
        )))
    }
}

impl Recommender {
    /// Appends the model to `w`.
    pub fn encode(&self, w: &mut Writer) {
        let p = &self.params;
        w.usize(p.neighbours);
        for x in [p.alpha, p.beta, p.locality, p.customer_damping] {
            w.f64(x);
        }
        w.u32(p.min_common_customers);
        w.option_f64(p.history_half_life_days);
        for x in [
            p.order_exponent,
            p.popularity_half_life_days,
            p.popularity_weight,
            p.repeat_weight,
            p.customer_knn_weight,
        ] {
            w.f64(x);
        }
        w.usize(p.customer_neighbours);
        w.f64(p.customer_locality);
        w.option_f64(p.customer_half_life_days);

        w.usize(self.n_products);
        w.u32(self.n_customers);
        w.seq(&self.starts, |w, &x| w.usize(x));
        w.seq(&self.neighbours, |w, nb| {
            w.u32(nb.product);
            w.f32(nb.similarity);
            w.u32(nb.common);
        });
        w.seq(&self.product_customers, |w, &x| w.u32(x));
        w.seq(&self.popularity, |w, &x| w.f64(x));
        w.seq(&self.recent_customers, |w, &x| w.u32(x));
        w.seq(&self.reorder_rate, |w, &x| w.f64(x));
        w.seq(&self.customer_starts, |w, &x| w.usize(x));
        w.seq(&self.customer_products, |w, &(product, at)| {
            w.u32(product);
            w.i64(at);
        });
        w.seq(&self.buyer_starts, |w, &x| w.usize(x));
        w.seq(&self.product_buyers, |w, &x| w.u32(x));
    }

    /// Reads a model written by [`Recommender::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Recommender, DecodeError> {
        let params = RecommendParams {
            neighbours: r.usize("neighbours")?,
            alpha: r.f64("alpha")?,
            beta: r.f64("beta")?,
            locality: r.f64("locality")?,
            customer_damping: r.f64("customer_damping")?,
            min_common_customers: r.u32("min_common_customers")?,
            history_half_life_days: r.option_f64("history_half_life_days")?,
            order_exponent: r.f64("order_exponent")?,
            popularity_half_life_days: r.f64("popularity_half_life_days")?,
            popularity_weight: r.f64("popularity_weight")?,
            repeat_weight: r.f64("repeat_weight")?,
            customer_knn_weight: r.f64("customer_knn_weight")?,
            customer_neighbours: r.usize("customer_neighbours")?,
            customer_locality: r.f64("customer_locality")?,
            customer_half_life_days: r.option_f64("customer_half_life_days")?,
        };
        let n_products = r.usize("product count")?;
        let n_customers = r.u32("customer count")?;
        let starts = r.seq("neighbour offsets", 8, |r| r.usize("neighbour offset"))?;
        let neighbours = r.seq("neighbours", 12, |r| {
            Ok(Neighbour {
                product: r.u32("neighbour")?,
                similarity: r.f32("similarity")?,
                common: r.u32("common customers")?,
            })
        })?;
        let product_customers = r.seq("product customers", 4, |r| r.u32("customers"))?;
        let popularity = r.seq("popularity", 8, |r| r.f64("popularity"))?;
        let recent_customers = r.seq("recent customers", 4, |r| r.u32("customers"))?;
        let reorder_rate = r.seq("reorder rates", 8, |r| r.f64("reorder rate"))?;
        let customer_starts = r.seq("customer offsets", 8, |r| r.usize("customer offset"))?;
        let customer_products = r.seq("customer products", 12, |r| {
            Ok((r.u32("product")?, r.i64("time")?))
        })?;
        let buyer_starts = r.seq("buyer offsets", 8, |r| r.usize("buyer offset"))?;
        let product_buyers = r.seq("buyers", 4, |r| r.u32("buyer"))?;

        check_starts(&starts, n_products, neighbours.len(), "neighbour")?;
        for (len, what) in [
            (product_customers.len(), "product customers"),
            (popularity.len(), "popularity"),
            (recent_customers.len(), "recent customers"),
            (reorder_rate.len(), "reorder rates"),
        ] {
            check_len(len, n_products, what)?;
        }
        let n_customers_all = customer_starts.len().saturating_sub(1);
        check_starts(
            &customer_starts,
            n_customers_all,
            customer_products.len(),
            "customer",
        )?;
        check_starts(&buyer_starts, n_products, product_buyers.len(), "buyer")?;
        if neighbours
            .iter()
            .any(|nb| nb.product as usize >= n_products)
            || customer_products
                .iter()
                .any(|&(product, _)| product as usize >= n_products)
        {
            return Err(DecodeError::Inconsistent(
                "a product index is out of range".to_owned(),
            ));
        }
        if product_buyers
            .iter()
            .any(|&c| c as usize >= n_customers_all)
        {
            return Err(DecodeError::Inconsistent(
                "a customer index is out of range".to_owned(),
            ));
        }
        Ok(Recommender {
            params,
            n_products,
            n_customers,
            starts,
            neighbours,
            product_customers,
            popularity,
            recent_customers,
            reorder_rate,
            customer_starts,
            customer_products,
            buyer_starts,
            product_buyers,
        })
    }
}

fn encode_profile(w: &mut Writer, profile: &SeasonProfile) {
    for &x in &profile.month_index {
        w.f64(x);
    }
    for &x in &profile.week_index {
        w.f64(x);
    }
    w.u64(profile.orders);
}

fn decode_profile(r: &mut Reader<'_>) -> Result<SeasonProfile, DecodeError> {
    let mut month_index = [0f64; MONTHS];
    for x in &mut month_index {
        *x = r.f64("month index")?;
    }
    let mut week_index = [0f64; WEEKS];
    for x in &mut week_index {
        *x = r.f64("week index")?;
    }
    Ok(SeasonProfile {
        month_index,
        week_index,
        orders: r.u64("season orders")?,
    })
}

const PROFILE_BYTES: usize = (MONTHS + WEEKS + 1) * 8;

impl Seasons {
    /// Appends the model to `w`.
    pub fn encode(&self, w: &mut Writer) {
        w.f64(self.params.product_prior_orders);
        w.f64(self.params.category_prior_orders);
        w.f64(self.params.peak_index);
        encode_profile(w, &self.shop);
        w.seq(&self.categories, encode_profile);
        w.seq(&self.products, encode_profile);
    }

    /// Reads a model written by [`Seasons::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Seasons, DecodeError> {
        let params = SeasonParams {
            product_prior_orders: r.f64("product prior orders")?,
            category_prior_orders: r.f64("category prior orders")?,
            peak_index: r.f64("peak index")?,
        };
        Ok(Seasons {
            shop: decode_profile(r)?,
            categories: r.seq("category seasons", PROFILE_BYTES, decode_profile)?,
            products: r.seq("product seasons", PROFILE_BYTES, decode_profile)?,
            params,
        })
    }
}

fn encode_interval(w: &mut Writer, interval: &ProductInterval) {
    w.u32(interval.intervals);
    w.option_f64(interval.observed_median_days);
    w.f64(interval.median_days);
    w.f64(interval.lower_quartile_days);
    w.f64(interval.upper_quartile_days);
}

fn decode_interval(r: &mut Reader<'_>) -> Result<ProductInterval, DecodeError> {
    Ok(ProductInterval {
        intervals: r.u32("intervals")?,
        observed_median_days: r.option_f64("observed median")?,
        median_days: r.f64("median")?,
        lower_quartile_days: r.f64("lower quartile")?,
        upper_quartile_days: r.f64("upper quartile")?,
    })
}

const INTERVAL_BYTES: usize = 4 + 9 + 3 * 8;

impl ReorderModel {
    /// Appends the model to `w`.
    pub fn encode(&self, w: &mut Writer) {
        w.f64(self.params.prior_intervals);
        w.f64(self.params.person_prior_intervals);
        encode_interval(w, &self.shop);
        encode_interval(w, &self.shop_order_gap);
        w.seq(&self.categories, encode_interval);
        w.seq(&self.products, encode_interval);
    }

    /// Reads a model written by [`ReorderModel::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<ReorderModel, DecodeError> {
        let params = ReorderParams {
            prior_intervals: r.f64("prior intervals")?,
            person_prior_intervals: r.f64("person prior intervals")?,
        };
        let shop = decode_interval(r)?;
        let shop_order_gap = decode_interval(r)?;
        Ok(ReorderModel {
            params,
            shop,
            categories: r.seq("category intervals", INTERVAL_BYTES, decode_interval)?,
            products: r.seq("product intervals", INTERVAL_BYTES, decode_interval)?,
            shop_order_gap,
        })
    }
}
