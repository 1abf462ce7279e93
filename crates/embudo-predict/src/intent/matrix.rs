//! A dense row-major feature matrix of f32 with NaN for missing values.

/// Rows of features, stored row-major; `f32::NAN` marks a missing value.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    names: Vec<String>,
    values: Vec<f32>,
}

impl FeatureMatrix {
    /// An empty matrix with the given column names.
    pub fn new(names: Vec<String>) -> Self {
        Self {
            names,
            values: Vec::new(),
        }
    }

    /// A matrix from row-major values; `None` when the length is not a multiple of the number
    /// of columns (or there are no columns).
    pub fn from_rows(names: Vec<String>, values: Vec<f32>) -> Option<Self> {
        if names.is_empty() || !values.len().is_multiple_of(names.len()) {
            return None;
        }
        Some(Self { names, values })
    }

    /// Appends a row; `None` (and no change) when its width is wrong.
    pub fn push_row(&mut self, row: &[f32]) -> Option<()> {
        if row.len() != self.names.len() {
            return None;
        }
        self.values.extend_from_slice(row);
        Some(())
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        if self.names.is_empty() {
            0
        } else {
            self.values.len() / self.names.len()
        }
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.names.len()
    }

    /// Column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One row (panics when `row` is out of range, like slice indexing).
    pub fn row(&self, row: usize) -> &[f32] {
        let width = self.names.len();
        &self.values[row * width..(row + 1) * width]
    }

    /// One value (panics when out of range, like slice indexing).
    pub fn get(&self, row: usize, col: usize) -> f32 {
        self.values[row * self.names.len() + col]
    }

    /// A new matrix with the given rows, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        let mut values = Vec::with_capacity(rows.len() * self.names.len());
        for &row in rows {
            values.extend_from_slice(self.row(row));
        }
        Self {
            names: self.names.clone(),
            values,
        }
    }

    /// Iterates over the rows.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks_exact(self.names.len().max(1))
    }
}
