use expect_test::expect;

use super::*;
use crate::value::Value;

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect(),
    )
}

fn track(name: &str, properties: Value) -> Event {
    Event {
        message_id: "m1".to_owned(),
        kind: EventKind::Track,
        name: Some(name.into()),
        anonymous_id: Some("a1".into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: Timestamp::from_secs(1_700_000_000),
        received_at: Timestamp::from_secs(1_700_000_000),
        properties,
        traits: Value::Map(Default::default()),
        context: Value::Map(Default::default()),
    }
}

fn page(path: &str, context: Value) -> Event {
    let mut event = track("", map(&[("path", path.into())]));
    event.kind = EventKind::Page;
    event.name = None;
    event.context = context;
    event
}

#[test]
fn pages_are_classified_by_category_then_path() {
    let rules = PageRules::default();
    let cases = [
        "/blog/como-elegir-zapatillas",
        "/comparativa/iphone-vs-pixel",
        "https://tienda.es/producto/zapatilla-42?utm=x",
        "/carrito",
        "/finalizar-compra/paso-2",
        "/lp/verano",
        "/foro/running",
        "/precios",
        "/",
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|path| {
            format!(
                "{path} -> {}",
                page(path, Value::Null).page_category(&rules)
            )
        })
        .collect();
    expect![[r#"
        /blog/como-elegir-zapatillas -> blog
        /comparativa/iphone-vs-pixel -> comparison
        https://tienda.es/producto/zapatilla-42?utm=x -> product
        /carrito -> cart
        /finalizar-compra/paso-2 -> checkout
        /lp/verano -> landing
        /foro/running -> forum
        /precios -> pricing
        / -> other"#]]
    .assert_eq(&got.join("\n"));

    let mut explicit = page("/x", Value::Null);
    explicit.properties = map(&[("category", "Comparativa".into())]);
    assert_eq!(explicit.page_category(&rules), PageCategory::Comparison);
}

#[test]
fn social_referrals_are_recognised() {
    let rules = PageRules::default();
    let from = |referrer: &str| {
        let context = map(&[("page", map(&[("referrer", referrer.into())]))]);
        match page("/blog/x", context).action(&rules) {
            Ok(Action::PageViewed {
                social_referral, ..
            }) => social_referral,
            other => panic!("{other:?}"),
        }
    };
    assert!(from("https://t.co/abc"));
    assert!(from("https://www.Instagram.com/p/1"));
    assert!(!from("https://www.google.es/search?q=x"));
    assert!(!from("https://notx.com/"));
}

#[test]
fn orders_read_lines_and_report_bad_fields() {
    let rules = PageRules::default();
    let product = |id: Value, price: Value| {
        map(&[
            ("product_id", id),
            ("price", price),
            ("quantity", 2.0.into()),
        ])
    };
    let good = track(
        "Order Completed",
        map(&[
            ("order_id", 1001.0.into()),
            ("currency", "eur".into()),
            (
                "products",
                Value::List(vec![
                    product("sku-1".into(), 10.5.into()),
                    product(7.0.into(), "3".into()),
                ]),
            ),
        ]),
    );
    let Ok(Action::OrderCompleted(order)) = good.action(&rules) else {
        panic!()
    };
    assert_eq!(order.order_id, "1001");
    assert_eq!(order.currency.as_deref(), Some("EUR"));
    assert_eq!(order.total, 27.0);
    assert_eq!(order.lines[1].product_id, "7");

    let bad = track(
        "Order Completed",
        map(&[
            ("order_id", "x".into()),
            (
                "products",
                Value::List(vec![product("a".into(), (-1.0).into())]),
            ),
        ]),
    );
    let err = bad.action(&rules).unwrap_err();
    assert_eq!(
        err.to_string(),
        "properties.products[0].price is not a non-negative number"
    );
    let no_id = track("Order Completed", map(&[]));
    assert_eq!(
        no_id.action(&rules).unwrap_err(),
        crate::order::OrderError::MissingOrderId
    );
}

#[test]
fn email_clicks_on_product_content_are_told_apart() {
    let rules = PageRules::default();
    let click = |url: &str| match track("Email Link Clicked", map(&[("link_url", url.into())]))
        .action(&rules)
    {
        Ok(Action::EmailLinkClicked { product_content }) => product_content,
        other => panic!("{other:?}"),
    };
    assert!(click("https://tienda.es/comparativa/a-vs-b"));
    assert!(!click("https://tienda.es/blog/x"));
}

#[test]
fn a_product_is_read_from_its_properties_with_its_id_by_precedence() {
    let product = |pairs: &[(&str, Value)]| ProductRef::from_properties(&map(pairs));
    let full = product(&[
        ("brand", Value::from(" acme ")),
        ("category", Value::from("zapatillas")),
        ("id", Value::from("i-1")),
        ("price", Value::from("19.5")),
        ("product_id", Value::Number(7.0)),
        ("sku", Value::from("s-1")),
    ]);
    assert_eq!(
        full,
        ProductRef {
            product_id: Some("7".into()),
            category: Some("zapatillas".into()),
            brand: Some("acme".into()),
            price: Some(19.5),
        }
    );
    // An empty product id gives way to the sku, and the sku to the id; blank texts are none.
    let fallback = product(&[
        ("brand", Value::from("  ")),
        ("id", Value::from("i-1")),
        ("product_id", Value::from("")),
        ("sku", Value::from("s-1")),
    ]);
    assert_eq!(fallback.product_id.as_deref(), Some("s-1"));
    assert_eq!(fallback.brand, None);
    let by_id = product(&[("id", Value::from("i-1")), ("price", Value::from("gratis"))]);
    assert_eq!(by_id.product_id.as_deref(), Some("i-1"));
    assert_eq!(by_id.price, None);
    assert_eq!(
        ProductRef::from_properties(&Value::Null),
        ProductRef::default()
    );
}
