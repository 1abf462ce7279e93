//! Tests of `embudo eval phases` on a few inline rows: the mapping to events, the counting per
//! phase and the detection of the dataset by its header.

use std::io::{BufRead, Cursor};

use expect_test::expect;

use super::*;

fn reader(text: &str) -> Box<dyn BufRead> {
    Box::new(Cursor::new(text.to_owned().into_bytes()))
}

const SHOPPERS_HEADER: &str = "Administrative,Administrative_Duration,Informational,Informational_Duration,ProductRelated,ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,Month,OperatingSystems,Browser,Region,TrafficType,VisitorType,Weekend,Revenue";

#[test]
fn shoppers_sessions_are_classified_from_behaviour() {
    // Blog readers (phase I), heavy product browsers (II), one with page value (cart: II).
    let rows = "\
0,0,3,120,1,10,0,0.1,0,0,Feb,1,1,1,1,Returning_Visitor,FALSE,FALSE
1,5,2,60,0,0,0,0.1,0,0,Feb,1,1,1,1,New_Visitor,FALSE,FALSE
0,0,0,0,25,900,0,0.02,0,0,Nov,1,1,1,1,Returning_Visitor,FALSE,TRUE
0,0,0,0,12,400,0,0.02,0,0,Nov,1,1,1,1,Returning_Visitor,FALSE,FALSE
0,0,0,0,3,60,0,0.05,18.5,0,Nov,1,1,1,1,Returning_Visitor,TRUE,TRUE
";
    let report = shoppers::read(reader(rows), SHOPPERS_HEADER).unwrap();
    expect![[r#"
        online_shoppers: 5 sessions, each classified at its end from its page counts alone (never the Revenue label)

        behaviour with PageValues (> 0 → cart reached)
          phase          n     buyers   rate
          I                  2         0     0.0%
          II                 3         2    66.7%
            II conf<0.8      2         1    50.0%
            II conf≥0.8      1         1   100.0%
          III                0         0     0.0%
          all                5         2    40.0%
          lift (rate II / rate I): n/a

        page counts only (PageValues ignored)
          phase          n     buyers   rate
          I                  3         1    33.3%
          II                 2         1    50.0%
            II conf<0.8      2         1    50.0%
            II conf≥0.8      0         0     0.0%
          III                0         0     0.0%
          all                5         2    40.0%
          lift (rate II / rate I): 1.50

        note: 1 sessions have PageValues > 0 and get one Cart Viewed event in the first table
        note: no session has an earlier order, so nobody is phase III here
    "#]].assert_eq(&report.to_table());
}

#[test]
fn a_session_becomes_page_and_product_events() {
    let session = shoppers::Session {
        administrative: 1,
        administrative_secs: 10.0,
        informational: 1,
        informational_secs: 30.0,
        product_related: 2,
        product_related_secs: 40.0,
        page_values: 3.0,
        revenue: false,
    };
    let rules = embudo_core::page::PageRules::default();
    let got: Vec<String> = shoppers::session_events(7, &session, true)
        .iter()
        .map(|event| format!("{} {:?}", event.timestamp, event.action(&rules).unwrap()))
        .collect();
    expect![[r#"
        2026-01-01T00:00:00.000Z PageViewed { category: Other, social_referral: false }
        2026-01-01T00:00:10.000Z PageViewed { category: Blog, social_referral: false }
        2026-01-01T00:00:40.000Z ProductViewed(ProductRef { product_id: Some("p0"), category: None, brand: None, price: None })
        2026-01-01T00:01:00.000Z ProductViewed(ProductRef { product_id: Some("p1"), category: None, brand: None, price: None })
        2026-01-01T00:01:20.000Z CartViewed"#]].assert_eq(&got.join("\n"));
}

const REES46_HEADER: &str =
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session";

#[test]
fn rees46_people_are_classified_at_the_cutoff() {
    let rows = "\
2019-10-01 00:00:00 UTC,view,1,10,electronics.smartphone,apple,500.00,u1,s1
2019-10-01 00:05:00 UTC,view,2,10,electronics.smartphone,samsung,400.00,u1,s1
2019-10-01 00:06:00 UTC,view,3,10,electronics.smartphone,xiaomi,200.00,u1,s1
2019-10-01 00:10:00 UTC,view,4,20,,,30.00,u2,s2
2019-10-01 00:20:00 UTC,view,5,30,furniture.sofa,ikea,300.00,u3,s3
2019-10-01 00:21:00 UTC,purchase,5,30,furniture.sofa,ikea,300.00,u3,s3
2019-10-01 01:40:00 UTC,purchase,2,10,electronics.smartphone,samsung,400.00,u1,s4
2019-10-01 01:45:00 UTC,purchase,9,10,electronics.smartphone,apple,900.00,u9,s9
2019-10-01 03:00:00 UTC,purchase,4,20,,,30.00,u2,s5
";
    let at = Timestamp::parse("2019-10-01T01:30:00Z").unwrap();
    let until = Timestamp::parse("2019-10-01T02:50:00Z").unwrap();
    let report = rees46::read(reader(rows), REES46_HEADER, at, until).unwrap();
    expect![[r#"
        rees46: 6 events before 2019-10-01T01:30:00.000Z from 3 people fed through the engine; each person classified at 2019-10-01T01:30:00.000Z

        classified at 2019-10-01T01:30:00.000Z, bought in [2019-10-01T01:30:00.000Z, 2019-10-01T02:50:00.000Z)
          phase          n     buyers   rate
          I                  1         0     0.0%
          II                 1         1   100.0%
            II conf<0.8      0         0     0.0%
            II conf≥0.8      1         1   100.0%
          III                1         0     0.0%
          all                3         1    33.3%
          lift (rate II / rate I): n/a

        note: 1 people who bought in [2019-10-01T01:30:00.000Z, 2019-10-01T02:50:00.000Z) had no event before 2019-10-01T01:30:00.000Z and are not classified
        note: 0 events were rejected by the order validation
    "#]].assert_eq(&report.to_table());
}

#[test]
fn an_unknown_header_is_an_error() {
    let dir = std::env::temp_dir().join(format!("embudo-eval-phases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.csv");
    std::fs::write(&path, "a,b,c\n1,2,3\n").unwrap();
    let args = Args {
        data: path,
        json: false,
        at: "2019-10-01T01:30:00Z".to_owned(),
        until: "2019-10-01T02:50:00Z".to_owned(),
    };
    let error = run(&args, &mut Vec::new()).unwrap_err();
    assert!(
        format!("{error:#}").contains("unknown dataset"),
        "{error:#}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
