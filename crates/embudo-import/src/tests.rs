//! Tests of the import formats: small inline files in, a compact rendering of the events and
//! the skipped and rejected rows out.

use std::fmt::Write as _;

use embudo_core::{Event, Timestamp, Value};
use expect_test::{Expect, expect};

use crate::{Format, ImportError, ImportOptions, OrderField, Output, Progress, convert};

const RECEIVED_AT: Timestamp = Timestamp::from_secs(1_800_000_000);

fn options(format: Option<Format>, maps: &[&str]) -> ImportOptions {
    ImportOptions {
        format,
        columns: maps
            .iter()
            .map(|text| OrderField::parse_mapping(text).unwrap())
            .collect(),
        date_format: None,
        // Small batches exercise the batching.
        batch_size: 2,
        received_at: RECEIVED_AT,
    }
}

fn run(options: &ImportOptions, bytes: &[u8]) -> Result<(Format, Output), ImportError> {
    let progress = Progress::default();
    let mut all = Output::default();
    let format = convert(bytes, options, &progress, &mut |output| {
        all.events.extend(output.events);
        all.skipped.extend(output.skipped);
        all.rejected.extend(output.rejected);
        Ok(())
    })?;
    Ok((format, all))
}

fn render_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => write!(out, "{flag}").unwrap(),
        Value::Number(number) => write!(out, "{number}").unwrap(),
        Value::String(text) => write!(out, "{text:?}").unwrap(),
        Value::List(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                render_value(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write!(out, "{key}: ").unwrap();
                render_value(item, out);
            }
            out.push('}');
        }
    }
}

fn render_event(event: &Event) -> String {
    let mut out = format!(
        "{} {:?} id={} user={} anon={} at={}\n  props=",
        event.kind.as_str(),
        event.name.as_deref().unwrap_or("-"),
        event.message_id,
        event.user_id.as_deref().unwrap_or("-"),
        event.anonymous_id.as_deref().unwrap_or("-"),
        event.timestamp,
    );
    render_value(&event.properties, &mut out);
    if event.context.as_map().is_some_and(|map| !map.is_empty()) {
        out.push_str("\n  context=");
        render_value(&event.context, &mut out);
    }
    if event.traits.as_map().is_some_and(|map| !map.is_empty()) {
        out.push_str("\n  traits=");
        render_value(&event.traits, &mut out);
    }
    out
}

fn render(result: Result<(Format, Output), ImportError>) -> String {
    let (format, output) = match result {
        Ok(ok) => ok,
        Err(err) => return format!("error: {err}\n"),
    };
    let mut out = format!("format {format}\n");
    for event in &output.events {
        writeln!(out, "{}", render_event(event)).unwrap();
    }
    for issue in &output.skipped {
        writeln!(
            out,
            "skipped line {} {}: {}",
            issue.line, issue.field, issue.reason
        )
        .unwrap();
    }
    for issue in &output.rejected {
        writeln!(
            out,
            "rejected line {} {}: {}\n  raw={}",
            issue.line, issue.field, issue.reason, issue.raw
        )
        .unwrap();
    }
    out
}

fn check(format: Option<Format>, maps: &[&str], text: &str, expect: &Expect) {
    expect.assert_eq(&render(run(&options(format, maps), text.as_bytes())));
}

#[test]
fn rees46_rows_become_behaviour_events() {
    check(
        None,
        &[],
        "\
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
2019-10-01 00:00:01 UTC,cart,17200506,2053013559792632471,furniture.living_room.sofa,,543.10,519107250,566511c2-e2e3-422b-b695-cf8e6e792ca8
2019-10-01 00:00:02 UTC,remove_from_cart,1307067,2053013558920217191,computers.notebook,lenovo,251.74,550050854,7c90fc70-0e80-4590-96f3-13c02c18c713
2019-10-01 00:02:14 UTC,purchase,1004856,2053013555631882655,electronics.smartphone,samsung,130.76,543272936,8187d148-3c41-46d4-b0c0-9c08cd9dc564
",
        &expect![[r#"
            format rees46
            track "Product Viewed" id=rees46:1569888000000:9d4d488a85758023c115f76210244590 user=541312140 anon=- at=2019-10-01T00:00:00.000Z
              props={brand: "shiseido", category: "2103807459595387724", category_id: "2103807459595387724", price: 35.79, product_id: "44600062"}
              context={session_id: "72d76fde-8bb3-4e00-8c23-a032dfed738c"}
            track "Product Added" id=rees46:1569888001000:c22a09b00c56ddd295743c408a615ff2 user=519107250 anon=- at=2019-10-01T00:00:01.000Z
              props={category: "furniture.living_room.sofa", category_id: "2053013559792632471", price: 543.1, product_id: "17200506"}
              context={session_id: "566511c2-e2e3-422b-b695-cf8e6e792ca8"}
            track "Product Removed" id=rees46:1569888002000:9e2600e82ad0bcda28893d368f52cdb3 user=550050854 anon=- at=2019-10-01T00:00:02.000Z
              props={brand: "lenovo", category: "computers.notebook", category_id: "2053013558920217191", price: 251.74, product_id: "1307067"}
              context={session_id: "7c90fc70-0e80-4590-96f3-13c02c18c713"}
            track "Order Completed" id=rees46:1569888134000:bf572f1faa4e0addd90e27a3737812b3 user=543272936 anon=- at=2019-10-01T00:02:14.000Z
              props={order_id: "2019-10-01 00:02:14 UTC:8187d148-3c41-46d4-b0c0-9c08cd9dc564:1004856", products: [{brand: "samsung", category: "electronics.smartphone", category_id: "2053013555631882655", price: 130.76, product_id: "1004856", quantity: 1}], total: 130.76}
              context={session_id: "8187d148-3c41-46d4-b0c0-9c08cd9dc564"}
        "#]],
    );
}

/// Fields are trimmed of any white space (also beyond ASCII), and a row that is not UTF-8
/// keeps its fields with the bad bytes replaced, between rows read as text.
#[test]
fn rees46_fields_are_trimmed_and_invalid_utf8_is_replaced() {
    let file = b"\
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:00 UTC,view, 1 ,2,,\xc2\xa0sony\t,1.00,7,s1
2019-10-01 00:00:01 UTC,view,1,2,,br\xffand ,1.00,7,s1
2019-10-01 00:00:02 UTC,view,1,2,,,1.00,7,s1
";
    expect![[r#"
        format rees46
        track "Product Viewed" id=rees46:1569888000000:a98ae9dc48ef168d19e3da468bfcb636 user=7 anon=- at=2019-10-01T00:00:00.000Z
          props={brand: "sony", category: "2", category_id: "2", price: 1, product_id: "1"}
          context={session_id: "s1"}
        track "Product Viewed" id=rees46:1569888001000:f5d1db1e4d815cfa3f2d87345a1df7a9 user=7 anon=- at=2019-10-01T00:00:01.000Z
          props={brand: "br�and", category: "2", category_id: "2", price: 1, product_id: "1"}
          context={session_id: "s1"}
        track "Product Viewed" id=rees46:1569888002000:c797666329acea200816eb76ea90dd35 user=7 anon=- at=2019-10-01T00:00:02.000Z
          props={category: "2", category_id: "2", price: 1, product_id: "1"}
          context={session_id: "s1"}
    "#]]
    .assert_eq(&render(run(&options(Some(Format::Rees46), &[]), &file[..])));
}

#[test]
fn rees46_bad_rows_are_rejected_and_the_good_ones_kept() {
    check(
        Some(Format::Rees46),
        &[],
        "\
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
yesterday,view,1,2,,,1.00,7,s1
2019-10-01 00:00:00 UTC,wink,1,2,,,1.00,7,s1
2019-10-01 00:00:00 UTC,view,1,2,,,cheap,7,s1
2019-10-01 00:00:00 UTC,view,1,2,,,1.00,,s1
2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,s1
",
        &expect![[r#"
            format rees46
            track "Product Viewed" id=rees46:1569888000000:79a9aec31166ffd1d4709fd85b009eed user=7 anon=- at=2019-10-01T00:00:00.000Z
              props={category: "2", category_id: "2", price: 1, product_id: "1"}
              context={session_id: "s1"}
            skipped line 5 user_id: is empty: the row cannot belong to a person
            rejected line 2 event_time: is not a date-time
              raw=yesterday,view,1,2,,,1.00,7,s1
            rejected line 3 event_type: is not view, cart, remove_from_cart or purchase
              raw=2019-10-01 00:00:00 UTC,wink,1,2,,,1.00,7,s1
            rejected line 4 price: is not a non-negative number
              raw=2019-10-01 00:00:00 UTC,view,1,2,,,cheap,7,s1
        "#]],
    );
}

#[test]
fn message_ids_are_deterministic_and_a_repeated_row_gets_its_occurrence() {
    let text = "\
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,s1
2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,s1
2019-10-01 00:00:01 UTC,view,1,2,,,1.00,7,s1
";
    let ids = |text: &str| -> Vec<String> {
        let (_, output) = run(&options(None, &[]), text.as_bytes()).unwrap();
        output
            .events
            .into_iter()
            .map(|event| event.message_id)
            .collect()
    };
    let first = ids(text);
    expect![[r#"
        [
            "rees46:1569888000000:79a9aec31166ffd1d4709fd85b009eed",
            "rees46:1569888000000:79a9aec31166ffd1d4709fd85b009eed:2",
            "rees46:1569888001000:383c0dd4599163b41b194a7c08c6afa1",
        ]
    "#]]
    .assert_debug_eq(&first);
    // Rows in time order give ids in the same order (the log's index grows at its end).
    assert!(first[0] < first[2] && first[1] < first[2]);
    // The same file again: the same ids, so the log stores nothing twice.
    assert_eq!(ids(text), first);
}

#[test]
fn online_retail_invoices_become_orders() {
    check(
        None,
        &[],
        "\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,0,2010-12-01 08:34:00,1.69,13047.0,United Kingdom
536367,22745,\"POPPY'S PLAYHOUSE, BEDROOM \",6,2010-12-01 08:34:00,2.1,13047.0,United Kingdom
536368,22960,JAM MAKING SET WITH JARS,6,2010-13-01 08:34:00,4.25,13047.0,United Kingdom
A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,12345.0,United Kingdom
",
        &expect![[r#"
            format online-retail
            track "Order Completed" id=online-retail:536365 user=17850 anon=- at=2010-12-01T08:26:00.000Z
              props={currency: "GBP", order_id: "536365", products: [{name: "WHITE HANGING HEART T-LIGHT HOLDER", price: 2.55, product_id: "85123A", quantity: 6}, {name: "WHITE METAL LANTERN", price: 3.39, product_id: "71053", quantity: 6}], total: 35.64}
              context={traits: {country: "United Kingdom"}}
            track "Order Completed" id=online-retail:536367 user=13047 anon=- at=2010-12-01T08:34:00.000Z
              props={currency: "GBP", order_id: "536367", products: [{name: "POPPY'S PLAYHOUSE, BEDROOM", price: 2.1, product_id: "22745", quantity: 6}], total: 12.6}
              context={traits: {country: "United Kingdom"}}
            skipped line 4 customer_id: no customer id or e-mail: the row cannot belong to a person
            rejected line 5 quantity: is not positive on a sale
              raw=536367,84879,ASSORTED COLOUR BIRD ORNAMENT,0,2010-12-01 08:34:00,1.69,13047.0,United Kingdom
            rejected line 7 placed_at: is not a date-time (see --date-format)
              raw=536368,22960,JAM MAKING SET WITH JARS,6,2010-13-01 08:34:00,4.25,13047.0,United Kingdom
            rejected line 8 unit_price: is not a non-negative number
              raw=A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,12345.0,United Kingdom
        "#]],
    );
}

#[test]
fn online_retail_cancellations_cancel_or_refund_the_earlier_invoice() {
    check(
        Some(Format::OnlineRetail),
        &[],
        "\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
581483,23843,\"PAPER CRAFT , LITTLE BIRDIE\",80995,2011-12-09 09:15:00,2.08,16446.0,United Kingdom
C581484,23843,\"PAPER CRAFT , LITTLE BIRDIE\",-80995,2011-12-09 09:27:00,2.08,16446.0,United Kingdom
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
C536379,71053,WHITE METAL LANTERN,-2,2010-12-01 09:41:00,3.39,17850.0,United Kingdom
C536379,22556,PLASTERS IN TIN CIRCUS PARADE,-12,2010-12-01 09:41:00,1.65,17850.0,United Kingdom
C536380,22557,PLASTERS IN TIN VINTAGE PAISLEY,3,2010-12-01 09:41:00,1.65,17850.0,United Kingdom
",
        &expect![[r##"
            format online-retail
            track "Order Completed" id=online-retail:581483 user=16446 anon=- at=2011-12-09T09:15:00.000Z
              props={currency: "GBP", order_id: "581483", products: [{name: "PAPER CRAFT , LITTLE BIRDIE", price: 2.08, product_id: "23843", quantity: 80995}], total: 168469.6}
              context={traits: {country: "United Kingdom"}}
            track "Order Cancelled" id=online-retail:C581484:581483 user=16446 anon=- at=2011-12-09T09:27:00.000Z
              props={cancellation_id: "C581484", order_id: "581483"}
              context={traits: {country: "United Kingdom"}}
            track "Order Completed" id=online-retail:536365 user=17850 anon=- at=2010-12-01T08:26:00.000Z
              props={currency: "GBP", order_id: "536365", products: [{name: "WHITE HANGING HEART T-LIGHT HOLDER", price: 2.55, product_id: "85123A", quantity: 6}, {name: "WHITE METAL LANTERN", price: 3.39, product_id: "71053", quantity: 6}], total: 35.64}
              context={traits: {country: "United Kingdom"}}
            track "Order Refunded" id=online-retail:C536379:536365 user=17850 anon=- at=2010-12-01T09:41:00.000Z
              props={cancellation_id: "C536379", currency: "GBP", order_id: "536365", products: [{name: "WHITE METAL LANTERN", price: 3.39, product_id: "71053", quantity: 2}], total: 6.78}
              context={traits: {country: "United Kingdom"}}
            skipped line 6 InvoiceNo: cancels a product the customer did not buy earlier in the file
            rejected line 8 quantity: is not negative on a cancellation
              raw=C536380,22557,PLASTERS IN TIN VINTAGE PAISLEY,3,2010-12-01 09:41:00,1.65,17850.0,United Kingdom
        "##]],
    );
}

#[test]
fn shopify_orders_take_order_fields_from_the_first_row_and_identify_by_email() {
    check(
        None,
        &[],
        "\
Name,Email,Financial Status,Paid at,Created at,Currency,Total,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Refunded Amount,Cancelled at
#1001,Ana@Example.com,paid,2024-03-02 10:05:00 +0100,2024-03-02 10:04:31 +0100,EUR,59.90,2,Café molido 500 g,19.95,CAF-500,,
#1001,,,,,,,1,Taza,20.00,TAZA-1,,
#1002,luis@example.com,partially_refunded,2024-03-03 11:00:00 +0100,2024-03-03 10:59:00 +0100,EUR,30.00,1,Tetera,30.00,TET-1,10.00,
#1003,luis@example.com,voided,,2024-03-04 09:00:00 +0100,EUR,12.00,1,Filtros,12.00,FIL-1,,2024-03-04 12:00:00 +0100
#1004,,paid,,2024-03-05 09:00:00 +0100,EUR,5.00,1,Pegatina,5.00,PEG-1,,
",
        &expect![[r##"
            format shopify
            track "Order Completed" id=shopify:#1001 user=- anon=email-9ef70a81a52049d54a13e9905da663da at=2024-03-02T09:04:31.000Z
              props={currency: "EUR", order_id: "#1001", products: [{name: "Café molido 500 g", price: 19.95, product_id: "CAF-500", quantity: 2, sku: "CAF-500"}, {name: "Taza", price: 20, product_id: "TAZA-1", quantity: 1, sku: "TAZA-1"}], total: 59.9}
              context={traits: {email: "ana@example.com"}}
            track "Order Completed" id=shopify:#1002 user=- anon=email-c4075ea230ea1504196748441f698f56 at=2024-03-03T09:59:00.000Z
              props={currency: "EUR", order_id: "#1002", products: [{name: "Tetera", price: 30, product_id: "TET-1", quantity: 1, sku: "TET-1"}], total: 30}
              context={traits: {email: "luis@example.com"}}
            track "Order Refunded" id=shopify:#1002:refunded user=- anon=email-c4075ea230ea1504196748441f698f56 at=2024-03-03T09:59:00.000Z
              props={currency: "EUR", order_id: "#1002", total: 10}
              context={traits: {email: "luis@example.com"}}
            track "Order Completed" id=shopify:#1003 user=- anon=email-c4075ea230ea1504196748441f698f56 at=2024-03-04T08:00:00.000Z
              props={currency: "EUR", order_id: "#1003", products: [{name: "Filtros", price: 12, product_id: "FIL-1", quantity: 1, sku: "FIL-1"}], total: 12}
              context={traits: {email: "luis@example.com"}}
            track "Order Cancelled" id=shopify:#1003:cancelled user=- anon=email-c4075ea230ea1504196748441f698f56 at=2024-03-04T11:00:00.000Z
              props={order_id: "#1003"}
              context={traits: {email: "luis@example.com"}}
            skipped line 6 customer_id: no customer id or e-mail: the row cannot belong to a person
        "##]],
    );
}

#[test]
fn orders_csv_uses_the_column_mapping() {
    check(
        Some(Format::OrdersCsv),
        &[
            "order_id=Pedido",
            "customer_id=Cliente",
            "placed_at=Fecha",
            "product_id=Producto",
            "quantity=Unidades",
            "unit_price=Precio",
            "currency=Moneda",
            "refunded=Devuelto",
        ],
        "\
Pedido,Cliente,Fecha,Producto,Unidades,Precio,Moneda,Devuelto
P-1,c-9,2024-05-01T10:00:00Z,cafe,2,9.5,eur,
P-2,c-9,2024-05-09,te,1,4,EUR,true
P-3,c-9,2024-05-10,te,x,4,EUR,
",
        &expect![[r#"
            format orders-csv
            track "Order Completed" id=orders:P-1 user=c-9 anon=- at=2024-05-01T10:00:00.000Z
              props={currency: "EUR", order_id: "P-1", products: [{price: 9.5, product_id: "cafe", quantity: 2}], total: 19}
            track "Order Completed" id=orders:P-2 user=c-9 anon=- at=2024-05-09T00:00:00.000Z
              props={currency: "EUR", order_id: "P-2", products: [{price: 4, product_id: "te", quantity: 1}], total: 4}
            track "Order Refunded" id=orders:P-2:refunded user=c-9 anon=- at=2024-05-09T00:00:00.000Z
              props={currency: "EUR", order_id: "P-2"}
            rejected line 4 quantity: is not a number
              raw=P-3,c-9,2024-05-10,te,x,4,EUR,
        "#]],
    );
}

#[test]
fn a_mapping_naming_a_column_missing_from_the_header_is_an_error_naming_it() {
    check(
        Some(Format::OrdersCsv),
        &[
            "order_id=Pedido",
            "customer_id=Cliente",
            "placed_at=Fecha",
            "product_id=Item",
        ],
        "Pedido,Cliente,Fecha,Producto\nP-1,c-9,2024-05-01,cafe\n",
        &expect![[r##"
            error: column "Item" (for product_id) is not in the header
        "##]],
    );
    check(
        None,
        &[],
        "a,b,c\n1,2,3\n",
        &expect![[r##"
            error: cannot tell the format from the first line; pass --format
        "##]],
    );
    expect![[r##"
        Err(
            UnknownField(
                "colour",
            ),
        )
    "##]]
    .assert_debug_eq(&OrderField::parse_mapping("colour=Color"));
}

#[test]
fn segment_lines_keep_the_good_messages_next_to_bad_ones() {
    check(
        None,
        &[],
        r#"{"type":"identify","messageId":"m-1","userId":"u-1","traits":{"email":"ana@example.com"},"timestamp":"2024-03-02T10:00:00Z"}
{"type":"track","event":"Product Viewed","anonymousId":"a-1","properties":{"product_id":"p-1"},"timestamp":"2024-03-02T10:01:00Z"}
not json

{"type":"track","messageId":"m-3","event":"Product Viewed","timestamp":"2024-03-02T10:02:00Z"}
{"type":"track","event":"Product Viewed","anonymousId":"a-1","properties":{"product_id":"p-1"},"timestamp":"2024-03-02T10:01:00Z"}
"#,
        &expect![[r#"
            format segment
            identify "-" id=m-1 user=u-1 anon=- at=2024-03-02T10:00:00.000Z
              props={}
              traits={email: "ana@example.com"}
            track "Product Viewed" id=embudo-5533bb26339fb6624918e202d503c532 user=- anon=a-1 at=2024-03-02T10:01:00.000Z
              props={product_id: "p-1"}
            track "Product Viewed" id=embudo-5533bb26339fb6624918e202d503c532 user=- anon=a-1 at=2024-03-02T10:01:00.000Z
              props={product_id: "p-1"}
            rejected line 3 (message): not valid JSON: expected ident at line 1 column 2
              raw=not json
            rejected line 5 userId: either userId or anonymousId is required
              raw={"type":"track","messageId":"m-3","event":"Product Viewed","timestamp":"2024-03-02T10:02:00Z"}
        "#]],
    );
}

#[test]
fn message_ids_are_written_as_format_wrote_them() {
    // Imports made before keep their ids: a re-run must find every row stored.
    let times = [
        0,
        1,
        -1,
        -123,
        1_569_888_000_000,
        9_999_999_999_999,
        10_000_000_000_000,
        i64::MAX,
        i64::MIN,
    ];
    let hashes = [
        0,
        1,
        0xabc,
        u128::MAX,
        0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
    ];
    for millis in times {
        for hash in hashes {
            // Counted by row hash (which covers the row's time).
            let mut occurrences = crate::common::Occurrences::default();
            for count in 1..=11 {
                let id = occurrences.message_id("rees46", Timestamp::from_millis(millis), hash);
                let expected = if count == 1 {
                    format!("rees46:{millis:013}:{hash:032x}")
                } else {
                    format!("rees46:{millis:013}:{hash:032x}:{count}")
                };
                assert_eq!(id, expected);
            }
        }
    }
}

/// Every record of `bytes` with the file line it starts on, as `Records` reads them (the file's
/// first line is line 1).
fn records_read(bytes: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
    let mut records = crate::records::Records::new(std::io::BufReader::new(bytes), 1);
    let mut record = csv::ByteRecord::new();
    let mut all = Vec::new();
    while let Some(line) = records.read(&mut record).unwrap() {
        all.push((line, record.iter().map(<[u8]>::to_vec).collect()));
    }
    all
}

/// The same as the csv crate reads them, with the settings the import had before `Records`.
fn records_by_csv(bytes: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut all = Vec::new();
    while reader.read_byte_record(&mut record).unwrap() {
        let line = record.position().unwrap().line();
        all.push((line, record.iter().map(<[u8]>::to_vec).collect()));
    }
    all
}

#[test]
fn records_split_plain_lines_and_hand_quoted_ones_to_the_csv_parser() {
    let file = b"a,b,,c\r\n\r\n\nx, y ,z\n\"q,1\",\"line\nbreak\"\nplain,again\nlast";
    let read = records_read(file);
    assert_eq!(fields(&read), fields(&records_by_csv(file)));
    // Lines 2 and 3 are empty; the quoted record spans lines 5 and 6, and what follows it keeps
    // its line numbers.
    let lines: Vec<u64> = read.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [1, 4, 5, 7, 8]);
    assert_eq!(read[2].1, [b"q,1".to_vec(), b"line\nbreak".to_vec()]);
}

/// The fields of each record.
fn fields(records: &[(u64, Vec<Vec<u8>>)]) -> Vec<&Vec<Vec<u8>>> {
    records.iter().map(|(_, fields)| fields).collect()
}

proptest::proptest! {
    /// Whatever the bytes (quotes, carriage returns alone, empty lines, invalid UTF-8, no
    /// final line feed), `Records` reads the records the csv crate reads.
    #[test]
    fn records_are_what_the_csv_crate_reads(
        bytes in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'7', b',', b' ', b'"', b'\r', b'\n', b'\n', 0xc3, 0xa9, 0xff]),
            0..300,
        )
    ) {
        let (read, by_csv) = (records_read(&bytes), records_by_csv(&bytes));
        proptest::prop_assert_eq!(fields(&read), fields(&by_csv));
    }

    /// Without quotes, each record is on the line it is read from, counted in line feeds, also
    /// after `\r\n` line ends and empty lines (where the csv crate's own positions run a line
    /// early).
    #[test]
    fn a_plain_record_is_numbered_with_its_own_line(
        bytes in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b',', b' ', b'\n', b'\n', 0xff]),
            0..300,
        ),
        crlf in proptest::bool::ANY,
    ) {
        let text = if crlf {
            bytes.split(|&b| b == b'\n').collect::<Vec<_>>().join(&b"\r\n"[..])
        } else {
            bytes.clone()
        };
        let lines: Vec<u64> = records_read(&text).iter().map(|(line, _)| *line).collect();
        let expected: Vec<u64> = (1..)
            .zip(bytes.split(|&b| b == b'\n'))
            .filter(|(_, line)| !line.is_empty())
            .map(|(number, _)| number)
            .collect();
        proptest::prop_assert_eq!(lines, expected);
    }
}
