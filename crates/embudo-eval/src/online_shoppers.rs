//! Reader of the UCI "Online Shoppers Purchasing Intention" sessions
//! (`../shared/data/online_shoppers/online_shoppers_intention.csv`), and its encodings as
//! feature matrices.

use std::path::Path;

use anyhow::Context;
use embudo_predict::intent::FeatureMatrix;

/// Month codes as written in the file (no January or April; June spelled out).
const MONTHS: [&str; 10] = [
    "Feb", "Mar", "May", "June", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Month numbers of [`MONTHS`].
const MONTH_NUMBERS: [u8; 10] = [2, 3, 5, 6, 7, 8, 9, 10, 11, 12];

/// Visitor type of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitorType {
    /// `Returning_Visitor`.
    Returning,
    /// `New_Visitor`.
    New,
    /// `Other`.
    Other,
}

/// One session (one row of the file).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The ten numeric columns, in file order: Administrative, Administrative_Duration,
    /// Informational, Informational_Duration, ProductRelated, ProductRelated_Duration,
    /// BounceRates, ExitRates, PageValues, SpecialDay.
    pub numeric: [f64; 10],
    /// Month number (2–12).
    pub month: u8,
    /// Anonymised operating system code.
    pub operating_system: u8,
    /// Anonymised browser code.
    pub browser: u8,
    /// Anonymised region code.
    pub region: u8,
    /// Anonymised traffic source code.
    pub traffic_type: u8,
    /// New, returning or other visitor.
    pub visitor_type: VisitorType,
    /// Visit on a weekend.
    pub weekend: bool,
    /// The label: the session ended with a purchase.
    pub revenue: bool,
}

/// Names of the numeric columns, in file order.
pub const NUMERIC_NAMES: [&str; 10] = [
    "Administrative",
    "Administrative_Duration",
    "Informational",
    "Informational_Duration",
    "ProductRelated",
    "ProductRelated_Duration",
    "BounceRates",
    "ExitRates",
    "PageValues",
    "SpecialDay",
];

/// Names of the 17 session attributes of [`attribute_matrix`], in file order.
pub const ATTRIBUTE_NAMES: [&str; 17] = [
    "Administrative",
    "Administrative_Duration",
    "Informational",
    "Informational_Duration",
    "ProductRelated",
    "ProductRelated_Duration",
    "BounceRates",
    "ExitRates",
    "PageValues",
    "SpecialDay",
    "Month",
    "OperatingSystems",
    "Browser",
    "Region",
    "TrafficType",
    "VisitorType",
    "Weekend",
];

/// Reads every session of the file.
pub fn read(path: &Path) -> anyhow::Result<Vec<Session>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    let headers = reader
        .headers()
        .context("failed to read the header line")?
        .clone();
    anyhow::ensure!(
        headers.len() == 18 && &headers[0] == "Administrative" && &headers[17] == "Revenue",
        "unexpected header line in {}: {:?}",
        path.display(),
        headers
    );
    let mut sessions = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("failed to read line {line}"))?;
        sessions
            .push(parse_record(&record).with_context(|| format!("bad session on line {line}"))?);
    }
    Ok(sessions)
}

fn parse_record(record: &csv::StringRecord) -> anyhow::Result<Session> {
    let mut numeric = [0.0; 10];
    for (j, value) in numeric.iter_mut().enumerate() {
        *value = record[j]
            .parse()
            .with_context(|| format!("{}: not a number", NUMERIC_NAMES[j]))?;
    }
    let month_index = MONTHS
        .iter()
        .position(|&m| m == &record[10])
        .with_context(|| format!("unknown month {:?}", &record[10]))?;
    let code = |j: usize| -> anyhow::Result<u8> {
        record[j]
            .parse()
            .with_context(|| format!("bad code {:?}", &record[j]))
    };
    let flag = |j: usize| -> anyhow::Result<bool> {
        match &record[j] {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            other => anyhow::bail!("not TRUE or FALSE: {other:?}"),
        }
    };
    let visitor_type = match &record[15] {
        "Returning_Visitor" => VisitorType::Returning,
        "New_Visitor" => VisitorType::New,
        "Other" => VisitorType::Other,
        other => anyhow::bail!("unknown visitor type {other:?}"),
    };
    Ok(Session {
        numeric,
        month: MONTH_NUMBERS[month_index],
        operating_system: code(11)?,
        browser: code(12)?,
        region: code(13)?,
        traffic_type: code(14)?,
        visitor_type,
        weekend: flag(16)?,
        revenue: flag(17)?,
    })
}

/// The labels (`Revenue`).
pub fn labels(sessions: &[Session]) -> Vec<bool> {
    sessions.iter().map(|s| s.revenue).collect()
}

/// One column per session attribute ([`ATTRIBUTE_NAMES`]), for trees: numbers as they are,
/// the month as its number, the anonymised codes as their numbers (trees can isolate a code
/// with two splits), visitor type as 0 returning / 1 new / 2 other, weekend as 0/1.
pub fn attribute_matrix(sessions: &[Session]) -> FeatureMatrix {
    let names = ATTRIBUTE_NAMES
        .iter()
        .map(|&name| name.to_owned())
        .collect();
    let mut x = FeatureMatrix::new(names);
    for s in sessions {
        let mut row = [0f32; 17];
        for (j, &v) in s.numeric.iter().enumerate() {
            row[j] = v as f32;
        }
        row[10] = f32::from(s.month);
        row[11] = f32::from(s.operating_system);
        row[12] = f32::from(s.browser);
        row[13] = f32::from(s.region);
        row[14] = f32::from(s.traffic_type);
        row[15] = match s.visitor_type {
            VisitorType::Returning => 0.0,
            VisitorType::New => 1.0,
            VisitorType::Other => 2.0,
        };
        row[16] = f32::from(u8::from(s.weekend));
        // The row has exactly ATTRIBUTE_NAMES.len() values.
        let _ = x.push_row(&row);
    }
    x
}

/// A linear-model encoding: counts, durations and page values as ln(1 + x) (they are heavily
/// skewed), rates and SpecialDay as they are, and one-hot columns for month, visitor type,
/// weekend and every anonymised code seen in the data (operating system, browser, region,
/// traffic type). The one-hot levels are those of `sessions`, so pass all sessions (labels
/// are not used) to get the same columns in every fold.
pub fn linear_matrix(sessions: &[Session]) -> FeatureMatrix {
    let mut names: Vec<String> = Vec::new();
    for (j, name) in NUMERIC_NAMES.iter().enumerate() {
        names.push(if is_skewed(j) {
            format!("ln1p_{name}")
        } else {
            (*name).to_owned()
        });
    }
    let levels = |code: fn(&Session) -> u8| -> Vec<u8> {
        let mut values: Vec<u8> = sessions.iter().map(code).collect();
        values.sort_unstable();
        values.dedup();
        values
    };
    let month_levels = levels(|s| s.month);
    let os_levels = levels(|s| s.operating_system);
    let browser_levels = levels(|s| s.browser);
    let region_levels = levels(|s| s.region);
    let traffic_levels = levels(|s| s.traffic_type);
    let groups: [(&str, &[u8]); 5] = [
        ("Month", &month_levels),
        ("OperatingSystems", &os_levels),
        ("Browser", &browser_levels),
        ("Region", &region_levels),
        ("TrafficType", &traffic_levels),
    ];
    for (name, values) in groups {
        names.extend(values.iter().map(|v| format!("{name}={v}")));
    }
    names.extend(["VisitorType=New", "VisitorType=Other", "Weekend"].map(str::to_owned));

    let mut x = FeatureMatrix::new(names);
    let mut row = Vec::new();
    for s in sessions {
        row.clear();
        for (j, &v) in s.numeric.iter().enumerate() {
            row.push(if is_skewed(j) {
                v.ln_1p() as f32
            } else {
                v as f32
            });
        }
        let codes = [
            s.month,
            s.operating_system,
            s.browser,
            s.region,
            s.traffic_type,
        ];
        for ((_, values), code) in groups.iter().zip(codes) {
            row.extend(values.iter().map(|&v| if v == code { 1.0 } else { 0.0 }));
        }
        row.push(if s.visitor_type == VisitorType::New {
            1.0
        } else {
            0.0
        });
        row.push(if s.visitor_type == VisitorType::Other {
            1.0
        } else {
            0.0
        });
        row.push(f32::from(u8::from(s.weekend)));
        // Every row has one value per name pushed above.
        let _ = x.push_row(&row);
    }
    x
}

/// Counts, durations and PageValues are skewed; rates and SpecialDay are not.
fn is_skewed(numeric_index: usize) -> bool {
    !matches!(numeric_index, 6 | 7 | 9)
}
