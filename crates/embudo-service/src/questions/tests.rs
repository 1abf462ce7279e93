//! Questions end to end on the real service: asking spends the budget, answers move the phase
//! and the next choice, bad answers are refused by name, and a learned bank is used.

use embudo_core::Value;
use embudo_core::phase::Lang;
use embudo_store::IdentityKind;
use expect_test::{Expect, expect};

use super::*;
use crate::test_support::{START, Shop};

const MINUTE: i64 = 60_000;

/// One line: the posterior and the question asked, or why none.
fn render(next: &NextQuestion) -> String {
    let [i, ii, iii] = next.posterior;
    let what = match &next.outcome {
        Ok(question) => format!(
            "ask {} {:?} gain {:.3} answers [{}]",
            question.question_id,
            question.text,
            question.gain,
            question
                .answers
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(reason) => format!(
            "stop {}: {}",
            stop_code(reason),
            describe_stop(reason, Lang::En)
        ),
    };
    format!("P = [{i:.3}, {ii:.3}, {iii:.3}]; {what}")
}

async fn next(shop: &Shop, person: &str, check: Expect) -> NextQuestion {
    let next = shop
        .embudo
        .next_question(
            shop.workspace,
            &Person::Anonymous(person.to_owned()),
            Lang::Es,
        )
        .await
        .unwrap();
    check.assert_eq(&render(&next));
    next
}

fn at_minutes(minutes: i64) -> embudo_core::Timestamp {
    embudo_core::Timestamp::parse(START)
        .unwrap()
        .plus_millis(minutes * MINUTE)
}

async fn history(shop: &Shop, person: &str) -> QuestionHistory {
    let record = shop
        .embudo
        .store()
        .profile_by_identity(shop.workspace, IdentityKind::Anonymous, person)
        .await
        .unwrap()
        .expect("the person has a profile");
    EngineState::of(&record).questions
}

#[tokio::test]
async fn an_asked_question_spends_the_visit_and_the_window_budget() {
    let shop = Shop::new().await;
    shop.clock.set(at_minutes(0));
    // Someone embudo has never seen gets the prior and the best question for it.
    let first = next(&shop, "ana", expect![[r#"P = [0.599, 0.401, 0.000]; ask when "¿Cuándo piensas comprar?" gain 0.307 answers [this_week, this_month, later, unknown]"#]]).await;
    assert_eq!(first.profile_id, None);
    // Asked again before processing: the same question, stored once (same message id).
    next(&shop, "ana", expect![[r#"P = [0.599, 0.401, 0.000]; ask when "¿Cuándo piensas comprar?" gain 0.307 answers [this_week, this_month, later, unknown]"#]]).await;
    let done = shop.embudo.process_all().await.unwrap();
    assert_eq!(done.events, 1);
    // The asked question counts by name, not as the person's activity (audiences that count
    // events must not tip because embudo asked).
    let record = shop
        .embudo
        .store()
        .profile_by_identity(shop.workspace, IdentityKind::Anonymous, "ana")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.aggregates.n_events, 0);
    assert_eq!(record.aggregates.last_seen, None);
    assert_eq!(
        record.aggregates.event_counts.get("Question Asked"),
        Some(&1)
    );
    // Once processed, the asked question is durable and the visit's budget (1) is spent,
    // though it was never answered.
    shop.clock.set(at_minutes(10));
    next(
        &shop,
        "ana",
        expect![
            "P = [0.599, 0.401, 0.000]; stop visit_budget_spent: already asked during this visit"
        ],
    )
    .await;
    let asked = history(&shop, "ana").await;
    assert_eq!(asked.records.len(), 1);
    assert_eq!(asked.records[0].question_id, "when");
    assert_eq!(asked.records[0].answer_id, None);
    // Next visit (after 30 minutes of silence): another question, not the unanswered one.
    shop.clock.set(at_minutes(45));
    next(&shop, "ana", expect![[r#"P = [0.599, 0.401, 0.000]; ask compared "¿Has comparado marcas o precios?" gain 0.276 answers [yes, a_little, no]"#]]).await;
    shop.embudo.process_all().await.unwrap();
    shop.clock.set(at_minutes(120));
    next(&shop, "ana", expect![[r#"P = [0.599, 0.401, 0.000]; ask knows_product "¿Ya sabes qué producto necesitas?" gain 0.229 answers [yes, several, not_yet]"#]]).await;
    shop.embudo.process_all().await.unwrap();
    // Three asked within 30 days: the window's budget is spent.
    shop.clock.set(at_minutes(24 * 60));
    next(&shop, "ana", expect!["P = [0.599, 0.401, 0.000]; stop window_budget_spent: the 30-day question budget is spent"]).await;
}

#[tokio::test]
async fn an_answer_moves_the_phase_and_the_next_choice() {
    let shop = Shop::new().await;
    shop.clock.set(at_minutes(0));
    next(&shop, "ana", expect![[r#"P = [0.599, 0.401, 0.000]; ask when "¿Cuándo piensas comprar?" gain 0.307 answers [this_week, this_month, later, unknown]"#]]).await;
    let person = Person::Anonymous("ana".to_owned());
    shop.clock.set(at_minutes(1));
    let receipt = shop
        .embudo
        .answer_question(shop.workspace, &person, "when", "this_week")
        .await
        .unwrap();
    assert_eq!(receipt.inserted, 1);
    shop.embudo.process_all().await.unwrap();
    let answered = history(&shop, "ana").await;
    assert_eq!(
        answered.records.len(),
        1,
        "the answer closes the asked record"
    );
    assert_eq!(answered.records[0].answer_id.as_deref(), Some("this_week"));
    assert_eq!(answered.records[0].likelihoods, Some([0.05, 0.45, 0.40]));
    // "Today or this week" is 9 times likelier in phase II than in I: the posterior moves
    // from [0.599, 0.401] to [0.599 · 0.05, 0.401 · 0.45] / 0.210 = [0.142, 0.858], and the
    // next visit's question is chosen on it.
    shop.clock.set(at_minutes(60));
    next(&shop, "ana", expect![[r#"P = [0.142, 0.858, 0.000]; ask compared "¿Has comparado marcas o precios?" gain 0.147 answers [yes, a_little, no]"#]]).await;
    shop.clock.set(at_minutes(61));
    shop.embudo
        .answer_question(shop.workspace, &person, "compared", "yes")
        .await
        .unwrap();
    shop.embudo.process_all().await.unwrap();
    // Two answers for phase II: confident, nothing more to ask.
    shop.clock.set(at_minutes(120));
    next(
        &shop,
        "ana",
        expect!["P = [0.027, 0.973, 0.000]; stop confident: phase II is already 97 % certain"],
    )
    .await;
    let phase = shop
        .embudo
        .phase(shop.workspace, answered_profile(&shop, "ana").await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(phase.classification.phase.as_str(), "II");
}

async fn answered_profile(shop: &Shop, person: &str) -> embudo_store::ProfileId {
    shop.embudo
        .store()
        .profile_by_identity(shop.workspace, IdentityKind::Anonymous, person)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn unknown_questions_and_answers_are_refused_by_name() {
    let shop = Shop::new().await;
    let person = Person::Anonymous("ana".to_owned());
    let error = shop
        .embudo
        .answer_question(shop.workspace, &person, "talla", "m")
        .await
        .unwrap_err();
    expect![[r#"questionId: unknown question "talla" (known: knows_product, compared, budget, when, bought_before, what_matters)"#]]
        .assert_eq(&error.to_string());
    let error = shop
        .embudo
        .answer_question(shop.workspace, &person, "budget", "lots")
        .await
        .unwrap_err();
    expect![[r#"answerId: question "budget" has no answer "lots" (known: under_50, 50_200, over_200, unknown)"#]]
        .assert_eq(&error.to_string());
    // The same check on the tracking path: the bad answer is rejected, its neighbour stored.
    shop.send(
        "ana",
        &[
            (0, "Product Viewed", &[("product_id", Value::from("p1"))]),
            (
                1,
                "Question Answered",
                &[
                    ("question_id", Value::from("budget")),
                    ("answer_id", Value::from("lots")),
                ],
            ),
        ],
    )
    .await;
    let events = shop
        .embudo
        .profile_events(
            shop.workspace,
            answered_profile(&shop, "ana").await,
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.name.as_deref(), Some("Product Viewed"));
}

#[tokio::test]
async fn learning_reestimates_from_outcomes_and_the_learned_bank_is_used() {
    let shop = Shop::new().await;
    // Four people say they have not compared yet, and then buy: for this shop "no" is a
    // customer's answer far more often than the defaults say (0.30 in phase III).
    for person in ["p1", "p2", "p3", "p4"] {
        shop.send(
            person,
            &[
                (
                    0,
                    "Question Answered",
                    &[
                        ("question_id", Value::from("compared")),
                        ("answer_id", Value::from("no")),
                    ],
                ),
                (
                    5,
                    "Order Completed",
                    &[
                        ("order_id", Value::from(person)),
                        ("total", Value::from(30.0)),
                    ],
                ),
            ],
        )
        .await;
    }
    let info = shop.embudo.learn_questions(shop.workspace).await.unwrap();
    assert_eq!((info.kind.as_str(), info.version), ("questions", 1));
    let report: serde_json::Value = serde_json::from_str(&info.report).unwrap();
    assert_eq!(report["observations"], 4);
    let compared = &report["questions"][1];
    assert_eq!(compared["question_id"], "compared");
    assert_eq!(compared["answers"][2]["answer_id"], "no");
    assert_eq!(
        compared["answers"][2]["n_by_phase"],
        serde_json::json!([0, 0, 4])
    );
    // (4 + 20 · 0.30) / (4 + 20) = 10 / 24 in phase III; phases I and II keep the defaults.
    let bank = shop.embudo.question_bank(shop.workspace).await.unwrap();
    let no = &bank.questions()[1].answers[2];
    assert!(
        (no.likelihoods[2] - 10.0 / 24.0).abs() < 1e-12,
        "{:?}",
        no.likelihoods
    );
    assert_eq!(no.likelihoods[..2], [0.60, 0.10]);
    let stats = shop.embudo.question_stats(shop.workspace).await.unwrap();
    assert_eq!(stats.learned.map(|model| model.version), Some(1));
    let compared = &stats.questions[1];
    assert_eq!(
        (compared.asked, compared.answered, compared.answer_rate),
        (0, 4, None)
    );
    assert_eq!(compared.answers[2].2, 4);
}
