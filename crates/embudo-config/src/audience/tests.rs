use embudo_core::page::PageCategory;
use embudo_core::profile::{Aggregates, OrderFacts};

use super::*;

/// Everything a condition can read, converted.
const ALL_READS: Reads = Reads {
    traits: true,
    aggregates: ALL_AGGREGATES,
};

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

/// Profiles with every combination of small counts and of traits that hold an e-mail, hold it
/// as null, lack it, or are not a map at all.
fn grid() -> Vec<(Aggregates, Value)> {
    let mut traits_forms = Vec::new();
    let mut with_email = embudo_core::Map::default();
    with_email.insert("email".into(), Value::from("ana@example.es"));
    traits_forms.push(Value::Map(with_email));
    let mut null_email = embudo_core::Map::default();
    null_email.insert("email".into(), Value::Null);
    traits_forms.push(Value::Map(null_email));
    traits_forms.push(Value::Map(Default::default()));
    traits_forms.push(Value::Null);
    let mut grid = Vec::new();
    for n in 0..4u64 {
        for orders in 0..3 {
            for traits in &traits_forms {
                let mut aggregates = Aggregates {
                    n_events: n * 2,
                    n_cart_adds: n,
                    n_checkouts: 3 - n,
                    n_distinct_products_viewed: n + 1,
                    ..Aggregates::default()
                };
                for i in 0..orders {
                    aggregates.orders.insert(
                        format!("o-{i}"),
                        OrderFacts {
                            placed_at: Timestamp::from_millis(0),
                            total: 10.0,
                            refunded: 0.0,
                            cancelled: false,
                            currency: None,
                        },
                    );
                }
                grid.push((aggregates, traits.clone()));
            }
        }
    }
    grid
}

#[test]
fn simple_conditions_are_decided_without_the_interpreter_and_as_it_decides() {
    let direct = [
        "aggregates.n_orders >= 1",
        "aggregates.n_events >= 3",
        "has(traits.email)",
        "aggregates.n_events == 4",
        "aggregates.n_cart_adds != 2",
        "aggregates.n_checkouts < 2",
        "aggregates.n_distinct_products_viewed <= 2",
        "aggregates.n_orders > 0",
        "2 <= aggregates.n_events",
        "1 > aggregates.n_orders",
        "1 < aggregates.n_cart_adds",
        "3 >= aggregates.n_events",
        "2 == aggregates.n_events",
        "2 != aggregates.n_distinct_products_viewed",
        "aggregates.n_events > -1",
        "!has(traits.email) && aggregates.n_events >= 2",
        "has(traits.email) || aggregates.n_orders == 2",
        "!(aggregates.n_orders >= 1 || aggregates.n_cart_adds > 2)",
        "true",
        "false || has(traits.phone)",
    ];
    let interpreted = [
        "aggregates.revenue >= 10.0",
        "aggregates.n_orders >= 1.0",
        "aggregates.n_orders >= uint(1)",
        "traits.email == 'ana@example.es'",
        "has(aggregates.n_orders)",
        "aggregates.n_events >= aggregates.n_cart_adds",
        "aggregates.page_counts['blog'] >= 1",
        "aggregates.n_events in [1, 2]",
        "size(traits) > 0",
    ];
    let grid = grid();
    for (source, decided) in direct
        .iter()
        .map(|source| (source, true))
        .chain(interpreted.iter().map(|source| (source, false)))
    {
        let audience = Audience::new("a", source, Fit::Constant(0.8)).unwrap();
        assert_eq!(audience.direct().is_some(), decided, "{source}");
        for (aggregates, traits) in &grid {
            let input = AudienceInput {
                traits,
                aggregates,
                now: Timestamp::from_millis(0),
            };
            let by_cel = with_context(&input, ALL_READS, |context| {
                audience.evaluate_in(context).ok()
            });
            if by_cel.is_none() {
                // The interpreter fails here (a trait it lacks): only interpreted conditions.
                assert!(
                    !decided,
                    "{source} fails in CEL for {aggregates:?}, {traits:?}"
                );
                continue;
            }
            assert_eq!(
                audience.evaluate(&input).ok(),
                by_cel,
                "{source} for {aggregates:?}, {traits:?}"
            );
        }
    }
    // A computed fit needs the interpreter whatever the condition.
    let computed = Audience::new(
        "a",
        "aggregates.n_orders >= 1",
        Fit::expression("0.5").unwrap(),
    )
    .unwrap();
    assert!(computed.direct().is_none());
}

#[test]
fn audiences_decided_both_ways_give_what_the_interpreter_gives_in_order() {
    let list = [
        ("compradores", "aggregates.n_orders >= 1", 0.9),
        ("con_email", "traits.email != ''", 0.7),
        ("suscriptores", "has(traits.email)", 0.7),
        ("gastan", "aggregates.revenue >= 20.0", 0.95),
        ("visitantes", "aggregates.n_events >= 3", 0.6),
    ]
    .into_iter()
    .map(|(name, condition, fit)| Audience::new(name, condition, Fit::Constant(fit)).unwrap())
    .collect();
    let audiences = Audiences { list };
    for (aggregates, traits) in grid() {
        let input = AudienceInput {
            traits: &traits,
            aggregates: &aggregates,
            now: Timestamp::from_millis(0),
        };
        let mut expected_fits = Vec::new();
        let mut expected_errors = Vec::new();
        with_context(&input, ALL_READS, |context| {
            for audience in &audiences.list {
                match audience.evaluate_in(context) {
                    Ok(Some(fit)) => expected_fits.push(AudienceFit {
                        name: audience.name.clone(),
                        fit,
                    }),
                    Ok(None) => {}
                    Err(error) => expected_errors.push(error),
                }
            }
        });
        expected_fits.sort_by(|a, b| b.fit.total_cmp(&a.fit).then_with(|| a.name.cmp(&b.name)));
        let (fits, errors) = audiences.fits(&input);
        assert_eq!(fits, expected_fits, "{aggregates:?}, {traits:?}");
        assert_eq!(errors, expected_errors, "{aggregates:?}, {traits:?}");
    }
}
