use embudo_core::page::PageCategory;
use embudo_core::profile::{Aggregates, OrderFacts};

use super::*;

fn reads(source: &str) -> Reads {
    Reads::of(source, &compile(source).unwrap())
}

fn bits(fields: &[&str]) -> u16 {
    fields
        .iter()
        .map(|field| 1 << AGGREGATE_FIELDS.iter().position(|f| f == field).unwrap())
        .sum()
}

#[test]
fn a_program_reads_the_aggregate_fields_it_selects_and_traits_only_when_named() {
    let cases: [(&str, bool, u16); 10] = [
        ("aggregates.n_events >= 3", false, bits(&["n_events"])),
        ("has(traits.email)", true, 0),
        (
            "aggregates.page_counts['blog'] > 0 && has(aggregates.revenue)",
            false,
            bits(&["page_counts", "revenue"]),
        ),
        (
            "size(aggregates.event_counts) > 1 || traits.vip == true",
            true,
            bits(&["event_counts"]),
        ),
        (
            "aggregates.categories_viewed.exists(c, c.startsWith('calzado'))",
            false,
            bits(&["categories_viewed"]),
        ),
        (
            "[aggregates.n_orders, {'a': aggregates.n_checkouts}['a']][0] > 0",
            false,
            bits(&["n_orders", "n_checkouts"]),
        ),
        // Used as a whole: every field.
        ("size(aggregates) > 3", false, ALL_AGGREGATES),
        ("aggregates['n_events'] > 0", false, ALL_AGGREGATES),
        ("'n_events' in aggregates", false, ALL_AGGREGATES),
        // An unknown field fails whatever is read.
        ("aggregates.nope > 0", false, 0),
    ];
    for (source, traits, aggregates) in cases {
        assert_eq!(reads(source), Reads { traits, aggregates }, "{source}");
    }
}

#[test]
fn each_aggregate_field_read_alone_has_its_value() {
    let now = Timestamp::from_millis(10 * 86_400_000);
    let mut aggregates = Aggregates {
        first_seen: Some(Timestamp::from_millis(86_400_000)),
        last_seen: Some(Timestamp::from_millis(5 * 86_400_000)),
        n_events: 12,
        n_distinct_products_viewed: 4,
        n_cart_adds: 3,
        n_checkouts: 2,
        ..Aggregates::default()
    };
    aggregates
        .event_counts
        .insert("Product Viewed".to_owned(), 7);
    aggregates.page_counts.insert(PageCategory::Blog, 5);
    aggregates
        .categories_viewed
        .insert("zapatillas".to_owned(), 6);
    aggregates.orders.insert(
        "o-1".to_owned(),
        OrderFacts {
            placed_at: Timestamp::from_millis(4 * 86_400_000),
            total: 30.0,
            refunded: 0.0,
            cancelled: false,
            currency: None,
        },
    );
    let traits = Value::Map(Default::default());
    let input = AudienceInput {
        traits: &traits,
        aggregates: &aggregates,
        now,
    };
    let checks = [
        "aggregates.n_events == 12",
        "aggregates.n_orders == 1",
        "aggregates.revenue == 30.0",
        "aggregates.n_cart_adds == 3",
        "aggregates.n_checkouts == 2",
        "aggregates.n_distinct_products_viewed == 4",
        "aggregates.days_since_first_seen == 9.0",
        "aggregates.days_since_last_seen == 5.0",
        "aggregates.days_since_last_order == 6.0",
        "aggregates.page_counts['blog'] == 5",
        "aggregates.event_counts['Product Viewed'] == 7",
        "aggregates.categories_viewed['zapatillas'] == 6",
    ];
    assert_eq!(checks.len(), AGGREGATE_FIELDS.len());
    for source in checks {
        let program = compile(source).unwrap();
        let read = reads(source);
        assert_eq!(read.aggregates.count_ones(), 1, "{source}");
        let value = with_context(&input, read, |context| program.execute(context));
        assert_eq!(value.unwrap(), Cel::Bool(true), "{source}");
    }
    // And the default audiences decide as they did with every field converted.
    let (fits, errors) = Audiences::default().fits(&input);
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = fits.iter().map(|fit| fit.name.as_str()).collect();
    assert_eq!(names, ["compradores", "visitantes_recurrentes"]);
}

#[test]
fn a_condition_may_use_the_variables_of_macros_and_no_other() {
    let input_aggregates = {
        let mut aggregates = Aggregates::default();
        aggregates
            .categories_viewed
            .insert("calzado.running".to_owned(), 2);
        aggregates
    };
    let traits = Value::Map(Default::default());
    let input = AudienceInput {
        traits: &traits,
        aggregates: &input_aggregates,
        now: Timestamp::from_millis(0),
    };
    let audience = Audience::new(
        "corredores",
        "aggregates.categories_viewed.exists(c, c.startsWith('calzado'))",
        Fit::Constant(0.7),
    )
    .unwrap();
    assert_eq!(audience.evaluate(&input).unwrap(), Some(0.7));
    let all = Audience::new(
        "todo_calzado",
        "aggregates.categories_viewed.all(c, c.startsWith('calzado')) && [1, 2].map(n, n * 2)[1] == 4",
        Fit::Constant(0.5),
    )
    .unwrap();
    assert_eq!(all.evaluate(&input).unwrap(), Some(0.5));
    // A name no macro binds is still unknown, even beside one that is.
    let error = Audience::new(
        "x",
        "aggregates.categories_viewed.exists(c, c == perfil)",
        Fit::Constant(0.5),
    )
    .unwrap_err();
    assert!(error.contains("unknown variable \"perfil\""), "{error}");
}
