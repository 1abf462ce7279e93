//! Civil calendar arithmetic on [`Timestamp`]s: dates, months and ISO weeks.
//!
//! The algorithms are Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic
//! Gregorian calendar), which are exact for every `i64` day count this crate meets.

use crate::Timestamp;

#[cfg(test)]
mod tests;

/// Seconds in a day.
pub const DAY: Timestamp = 86_400;

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
}

/// The date of `at`.
pub fn civil_date(at: Timestamp) -> CivilDate {
    civil_from_days(at.div_euclid(DAY))
}

/// The timestamp of midnight at the start of `date`.
pub fn timestamp_of(date: CivilDate) -> Timestamp {
    days_from_civil(date) * DAY
}

/// The number of days in `month` (1 to 12) of `year`.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The ISO 8601 week of `at` (1 to 53; weeks start on Monday, week 1 holds the first
/// Thursday of the year).
pub fn iso_week(at: Timestamp) -> u8 {
    iso_week_of_day(at.div_euclid(DAY))
}

pub(crate) fn iso_week_of_day(days: i64) -> u8 {
    // 1970-01-01 was a Thursday: weekday 0 = Monday.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let year = civil_from_days(thursday).year;
    let jan1 = days_from_civil(CivilDate {
        year,
        month: 1,
        day: 1,
    });
    // The invariant: `thursday` lies in `year`, so the quotient is 0..=52.
    u8::try_from((thursday - jan1) / 7 + 1).unwrap_or(53)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_from_civil(date: CivilDate) -> i64 {
    let month = i64::from(date.month);
    let year = i64::from(date.year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year =
        (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(date.day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

pub(crate) fn civil_from_days(days: i64) -> CivilDate {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // The invariants of the algorithm: 1 <= day <= 31, 1 <= month <= 12, and the year of any
    // timestamp this crate handles fits an i32.
    CivilDate {
        year: i32::try_from(year).unwrap_or(i32::MAX),
        month: u8::try_from(month).unwrap_or(1),
        day: u8::try_from(day).unwrap_or(1),
    }
}
