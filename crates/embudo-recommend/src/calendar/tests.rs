use super::*;

#[test]
fn round_trips_dates_and_knows_the_epoch() {
    assert_eq!(
        civil_date(0),
        CivilDate {
            year: 1970,
            month: 1,
            day: 1
        }
    );
    assert_eq!(
        civil_date(-1),
        CivilDate {
            year: 1969,
            month: 12,
            day: 31
        }
    );
    for days in (-800_000..800_000).step_by(997) {
        let date = civil_from_days(days);
        assert_eq!(days_from_civil(date), days, "{date:?}");
        assert!(date.day >= 1 && date.day <= days_in_month(date.year, date.month));
    }
    let date = CivilDate {
        year: 2011,
        month: 9,
        day: 30,
    };
    assert_eq!(timestamp_of(date), 1_317_340_800);
    assert_eq!(civil_date(timestamp_of(date) + DAY - 1), date);
}

#[test]
fn counts_iso_weeks() {
    let week = |year, month, day| iso_week(timestamp_of(CivilDate { year, month, day }));
    // 2010-01-03 is a Sunday still in week 53 of 2009; 2011-01-02 is in week 52 of 2010.
    assert_eq!(week(2010, 1, 3), 53);
    assert_eq!(week(2010, 1, 4), 1);
    assert_eq!(week(2011, 1, 2), 52);
    assert_eq!(week(2011, 1, 3), 1);
    assert_eq!(week(2011, 12, 9), 49);
    // 2008-12-29 (Monday) already belongs to week 1 of 2009.
    assert_eq!(week(2008, 12, 29), 1);
    assert_eq!(days_in_month(2000, 2), 29);
    assert_eq!(days_in_month(1900, 2), 28);
}
