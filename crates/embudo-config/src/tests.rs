//! Tests of the configuration: the example is the defaults, overrides apply, and every kind of
//! mistake is reported with its file, line and problem.

use embudo_core::event::{Event, EventKind};
use embudo_core::page::{PageCategory, PageRules};
use embudo_core::phase::{PhaseModel, Signal};
use embudo_core::profile::Aggregates;
use embudo_core::time::Timestamp;
use embudo_core::value::Value;
use expect_test::{Expect, expect};

use super::*;

fn check_error(text: &str, expect: &Expect) {
    let error = check("embudo.toml", text).expect_err("the config should be rejected");
    expect.assert_eq(&error.to_string());
}

#[test]
fn the_example_is_exactly_the_defaults() {
    let config = check("config/embudo.example.toml", EXAMPLE).unwrap();
    assert_eq!(config, EmbudoConfig::default());
    assert_eq!(config.phases, PhaseModel::default());
    assert_eq!(config.pages, PageRules::default());
    // Every signal is spelled out in the example, so a shop sees what it can change.
    for signal in Signal::DECAYED {
        assert!(
            EXAMPLE.contains(&format!("\n{} ", signal.key())),
            "{} missing from the example",
            signal.key()
        );
    }
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(check("embudo.toml", "").unwrap(), EmbudoConfig::default());
}

#[test]
fn overrides_change_only_what_they_name() {
    let config = check(
        "embudo.toml",
        r#"
        [phases.signals]
        cart = { half_life_days = 2.0 }
        [phases.customer]
        repurchase_interval_days = 30
        [[audiences]]
        name = "runners"
        condition = "has(traits.sport) && traits.sport == 'running'"
        fit = "aggregates.n_orders > 0 ? 1.0 : 0.8"
        [pages]
        rules = [{ category = "blog", pattern = "/consejos/" }]
        "#,
    )
    .unwrap();
    let defaults = PhaseModel::default();
    let cart = config.phases.signals[Signal::Cart.index()];
    assert_eq!(cart.half_life_days, 2.0);
    assert_eq!(cart.weights, defaults.signals[Signal::Cart.index()].weights);
    assert_eq!(config.phases.customer.repurchase_interval_days, 30.0);
    assert_eq!(config.phases.stage, defaults.stage);
    assert_eq!(config.audiences.list.len(), 1);
    assert_eq!(
        config.pages.classify_path("/consejos/correr"),
        PageCategory::Blog
    );
    assert_eq!(config.pages.classify_path("/carrito"), PageCategory::Cart);
}

#[test]
fn audiences_give_fits_from_traits_and_aggregates() {
    let config = check(
        "embudo.toml",
        r#"
        [[audiences]]
        name = "runners"
        condition = "has(traits.sport) && traits.sport == 'running'"
        fit = "aggregates.n_orders > 0 ? 1.0 : 0.8"
        [[audiences]]
        name = "big_spenders"
        condition = "aggregates.revenue >= 100.0"
        fit = 0.9
        [[audiences]]
        name = "recent"
        condition = "aggregates.days_since_last_seen != null && aggregates.days_since_last_seen < 7.0"
        fit = 0.5
        "#,
    )
    .unwrap();
    let mut traits = embudo_core::Map::default();
    traits.insert("sport".into(), Value::from("running"));
    traits.insert("email".into(), Value::from("ana@example.es"));
    let traits = Value::Map(traits);
    let mut aggregates = Aggregates::default();
    let order = Event {
        message_id: "m1".to_owned(),
        kind: EventKind::Track,
        name: Some("Order Completed".into()),
        anonymous_id: Some("a".into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: Timestamp::parse("2026-03-01").unwrap(),
        received_at: Timestamp::parse("2026-03-01").unwrap(),
        properties: Value::Map(
            [
                ("order_id".into(), Value::from("o1")),
                ("total".into(), Value::from(120.0)),
            ]
            .into_iter()
            .collect(),
        ),
        traits: Value::Null,
        context: Value::Null,
    };
    aggregates.apply(&order, &order.action(&PageRules::default()).unwrap());
    let input = AudienceInput {
        traits: &traits,
        aggregates: &aggregates,
        now: Timestamp::parse("2026-03-03").unwrap(),
    };
    let (fits, errors) = config.audiences.fits(&input);
    let got: Vec<String> = fits
        .iter()
        .map(|f| format!("{} {:.2}", f.name, f.fit))
        .collect();
    expect![[r#"["runners 1.00", "big_spenders 0.90", "recent 0.50"]"#]]
        .assert_eq(&format!("{got:?}"));
    assert!(errors.is_empty(), "{errors:?}");
    // The built-in audiences: a customer with an e-mail matches two of them.
    let (fits, _) = Audiences::default().fits(&input);
    let got: Vec<&str> = fits.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(got, ["compradores", "suscriptores"]);
}

#[test]
fn a_toml_syntax_error_names_the_line() {
    check_error(
        "[phases]\nprior = { i = 0.4, ii = }\n",
        &expect!["embudo.toml:2:25: invalid literal string, expected `'`"],
    );
}

#[test]
fn an_unknown_key_is_an_error() {
    check_error(
        "[phases.customer]\nweight = 10\nrepurchase_days = 30\n",
        &expect![
            "embudo.toml:3:1: unknown field `repurchase_days`, expected one of `weight`, `saturation`, `repurchase_interval_days`, `at_risk_after`, `lapsed_after`, `p_alive_at_risk`, `p_alive_lapsed`"
        ],
    );
}

#[test]
fn an_unknown_signal_is_an_error() {
    check_error(
        "[phases.signals]\n\ncarrito = { half_life_days = 3.0 }\n",
        &expect![[
            r#"embudo.toml:3:1: unknown signal "carrito" in phases.signals (known: info_page, social_visit, sign_up, search, browse, focused_views, comparison, pricing, cart, checkout, coupon, wishlist, product_email, email_engagement, visit, review, share, referral, question_answered)"#
        ]],
    );
}

#[test]
fn a_non_positive_half_life_is_an_error() {
    check_error(
        "[phases.signals]\ncart = { weights = [0.0, 2.0, 0.0] }\ncheckout = { half_life_days = -3.0 }\n",
        &expect![
            "embudo.toml:3:31: phases.signals.checkout.half_life_days must be positive, got -3"
        ],
    );
}

#[test]
fn weights_need_three_numbers() {
    check_error(
        "[phases.signals]\ncart = { weights = [0.0, 2.0] }\n",
        &expect![
            "embudo.toml:2:20: phases.signals.cart.weights must be three finite numbers [I, II, III], got [0.0, 2.0]"
        ],
    );
}

#[test]
fn thresholds_must_be_ordered() {
    check_error(
        "[phases.customer]\nat_risk_after = 2.0\nlapsed_after = 1.0\n",
        &expect![
            "embudo.toml:3:16: phases.customer.lapsed_after (1) must not be below at_risk_after (2)"
        ],
    );
}

#[test]
fn invalid_cel_is_an_error() {
    check_error(
        "[[audiences]]\nname = \"x\"\ncondition = \"traits.age >\"\nfit = 0.5\n",
        &expect![[
            r#"embudo.toml:3:13: audience "x": condition: invalid CEL: the expression is incomplete or malformed"#
        ]],
    );
}

#[test]
fn an_unknown_variable_in_cel_is_an_error() {
    check_error(
        "[[audiences]]\nname = \"x\"\ncondition = \"profile.age > 30\"\nfit = 0.5\n",
        &expect![[
            r#"embudo.toml:3:13: audience "x": condition: unknown variable "profile" in CEL (use traits or aggregates)"#
        ]],
    );
}

#[test]
fn a_condition_that_fails_on_an_empty_profile_is_an_error() {
    check_error(
        "[[audiences]]\nname = \"adults\"\ncondition = \"traits.age >= 18\"\nfit = 0.5\n",
        &expect![[
            r#"embudo.toml:3:13: audience "adults": No such key: age on a profile without traits (guard optional traits with has(traits.x))"#
        ]],
    );
}

#[test]
fn a_fit_out_of_range_is_an_error() {
    check_error(
        "[[audiences]]\nname = \"x\"\ncondition = \"true\"\nfit = 1.5\n",
        &expect![[r#"embudo.toml:4:7: audience "x": fit must be between 0 and 1, got 1.5"#]],
    );
}

#[test]
fn an_unknown_page_category_is_an_error() {
    check_error(
        "[pages]\nrules = [\n  { category = \"tienda\", pattern = \"/tienda/\" },\n]\n",
        &expect![[
            r#"embudo.toml:3:3: unknown page category "tienda" (known: landing, blog, forum, product, comparison, pricing, cart, checkout, other)"#
        ]],
    );
}

#[test]
fn the_server_section_is_left_to_the_binary() {
    // The binary's `[server]` keys live in the same file; whatever they are, they are not ours
    // to judge, and they change nothing in the engine's configuration.
    let config = check(
        "embudo.toml",
        "[server]\nlisten = \"127.0.0.1:9000\"\nanything = [1, 2]\n\n[phases]\nanswers_weight = 2.0\n",
    )
    .unwrap();
    assert_eq!(config.phases.answers_weight, 2.0);
    assert_eq!(config.audiences, Audiences::default());
    // A misspelt section is still an error.
    check_error(
        "[sever]\nlisten = \"127.0.0.1:9000\"\n",
        &expect![
            "embudo.toml:1:2: unknown field `sever`, expected one of `phases`, `audiences`, `pages`, `questions`, `recommend`, `server`"
        ],
    );
}

#[test]
fn recommend_settings_are_read() {
    let config = check(
        "embudo.toml",
        r#"
        [recommend]
        results = 5
        inactive_after_days = 0
        inactive_products = ["85123A"]
        consumables = ["cafe-1kg"]
        consumable_categories = ["cafe"]
        learn_consumables = false
        min_reorder_rate = 0.5
        reorder_window_days = 3
        rules = [
            { bought = "cafeteras", never = "cafeteras" },
            { within = "regalos" },
        ]
        "#,
    )
    .unwrap();
    let recommend = config.recommend;
    assert_eq!(recommend.results, 5);
    assert_eq!(recommend.inactive_after_days, None);
    assert_eq!(recommend.inactive_products, ["85123A"]);
    assert_eq!(recommend.consumables, ["cafe-1kg"]);
    assert_eq!(recommend.consumable_categories, ["cafe"]);
    assert!(!recommend.learn_consumables);
    assert_eq!(recommend.min_reorder_rate, 0.5);
    assert_eq!(recommend.reorder_window_days, 3.0);
    assert_eq!(
        recommend.rules,
        [
            RecommendRule::Never {
                bought: "cafeteras".to_owned(),
                recommended: "cafeteras".to_owned()
            },
            RecommendRule::WithinCategory {
                category: "regalos".to_owned()
            }
        ]
    );
    assert_eq!(
        check("embudo.toml", "[recommend]\nresults = 3\n")
            .unwrap()
            .recommend
            .inactive_after_days,
        Some(180.0)
    );
}

#[test]
fn recommend_mistakes_name_the_key() {
    check_error(
        "[recommend]\nresults = 0\n",
        &expect!["embudo.toml:2:11: recommend.results must be between 1 and 100, got 0"],
    );
    check_error(
        "[recommend]\nmin_reorder_rate = 1.5\n",
        &expect!["embudo.toml:2:20: recommend.min_reorder_rate must be between 0 and 1, got 1.5"],
    );
    check_error(
        "[recommend]\ninactive_after_days = -1\n",
        &expect![
            "embudo.toml:2:23: recommend.inactive_after_days must be a non-negative number, got -1"
        ],
    );
    check_error(
        "[recommend]\nconsumables = [\"a\", \" \"]\n",
        &expect!["embudo.toml:2:15: recommend.consumables[1] must not be empty"],
    );
    check_error(
        "[recommend]\nrules = [{ bought = \"a\" }]\n",
        &expect![
            "embudo.toml:2:10: recommend.rules[0] needs both `bought` and `never` category names"
        ],
    );
    check_error(
        "[recommend]\nrules = [{ bought = \"a\", never = \"b\", within = \"c\" }]\n",
        &expect![[
            r#"embudo.toml:2:10: recommend.rules[0] must be { bought = "X", never = "Y" } or { within = "Z" }"#
        ]],
    );
    check_error(
        "[recommend]\nresult = 3\n",
        &expect![
            "embudo.toml:2:1: unknown field `result`, expected one of `results`, `inactive_after_days`, `inactive_products`, `consumables`, `consumable_categories`, `learn_consumables`, `min_reorder_rate`, `reorder_window_days`, `rules`"
        ],
    );
}

#[test]
fn questions_default_to_the_built_in_bank_and_policy() {
    let config = check("embudo.toml", "").unwrap();
    assert_eq!(config.questions.bank, embudo_ask::default_bank());
    assert_eq!(config.questions.policy, embudo_ask::AskPolicy::default());
}

#[test]
fn a_configured_bank_replaces_the_defaults() {
    let config = check(
        "embudo.toml",
        r#"
        [questions]
        confidence = 0.8
        max_per_visit = 2
        max_per_30_days = 5
        cost = 0.1
        [[questions.bank]]
        id = "talla"
        es = "¿Sabes tu talla?"
        en = "Do you know your size?"
        answers = [
            { id = "si", es = "Sí", en = "Yes", likelihoods = [0.2, 0.7, 0.9] },
            { id = "no", es = "No", en = "No", likelihoods = [0.8, 0.3, 0.1] },
        ]
        "#,
    )
    .unwrap();
    let questions = &config.questions;
    assert_eq!(questions.policy.confidence, 0.8);
    assert_eq!(questions.policy.max_per_visit, 2);
    assert_eq!(questions.policy.max_per_window, 5);
    assert_eq!(questions.bank.questions().len(), 1);
    let talla = &questions.bank.questions()[0];
    assert_eq!((talla.id.as_str(), talla.cost), ("talla", 0.1));
    assert_eq!(talla.text.en, "Do you know your size?");
    assert_eq!(talla.answers[1].likelihoods, vec![0.8, 0.3, 0.1]);
}

#[test]
fn question_mistakes_name_line_and_field() {
    let bank = |answers: &str| {
        format!(
            "[[questions.bank]]\nid = \"q\"\nes = \"¿?\"\nen = \"?\"\nanswers = [\n{answers}\n]\n"
        )
    };
    check_error(
        &bank(
            "{ id = \"a\", es = \"A\", en = \"A\", likelihoods = [0.5, 0.5, 0.5] },\n{ id = \"b\", es = \"B\", en = \"B\", likelihoods = [0.5, 0.4, 0.5] },",
        ),
        &expect![[
            r#"embudo.toml:5:11: questions.bank "q": the answers' likelihoods in phase II sum to 0.9, not 1"#
        ]],
    );
    check_error(
        &bank(
            "{ id = \"a\", es = \"A\", en = \"A\", likelihoods = [0.5, 0.5] },\n{ id = \"b\", es = \"B\", en = \"B\", likelihoods = [0.5, 0.5, 0.5] },",
        ),
        &expect![[
            r#"embudo.toml:6:47: questions.bank "q" answer "a": likelihoods must be three numbers between 0 and 1 [I, II, III], got [0.5, 0.5]"#
        ]],
    );
    check_error(
        &bank("{ id = \"a\", es = \"A\", en = \"A\", likelihoods = [1, 1, 1] },"),
        &expect![[
            r#"embudo.toml:5:11: questions.bank "q": a question needs at least two answers, got 1"#
        ]],
    );
    check_error(
        "[questions]\nconfidence = 1.5\n",
        &expect!["embudo.toml:2:14: questions.confidence must be between 0 and 1, got 1.5"],
    );
    check_error(
        "[questions]\nmax_per_visit = -1\n",
        &expect!["embudo.toml:2:17: questions.max_per_visit must be 0 or more, got -1"],
    );
    check_error(
        "[questions]\nmax_per_day = 1\n",
        &expect![
            "embudo.toml:2:1: unknown field `max_per_day`, expected one of `confidence`, `min_gain`, `cost`, `max_per_visit`, `max_per_30_days`, `learning_pseudo_count`, `bank`"
        ],
    );
}

#[test]
fn going_cold_thresholds_are_read_and_checked() {
    let config = check(
        "embudo.toml",
        "[phases.intent]\ncold_below = 0.02\ncold_drop = 0.3\n",
    )
    .unwrap();
    assert_eq!(config.phases.intent.cold_below, 0.02);
    assert_eq!(config.phases.intent.cold_drop, 0.3);
    check_error(
        "[phases.intent]\ncold_drop = 1.5\n",
        &expect!["embudo.toml:2:13: phases.intent.cold_drop must be between 0 and 1, got 1.5"],
    );
}
