use expect_test::expect;

use super::*;

fn two_class_question(id: &str, cost: f64, yes: [f64; 2]) -> Question {
    Question {
        id: id.to_owned(),
        text: Text::new(id, id),
        cost,
        answers: vec![
            Answer {
                id: "yes".to_owned(),
                text: Text::new("sí", "yes"),
                likelihoods: yes.to_vec(),
            },
            Answer {
                id: "no".to_owned(),
                text: Text::new("no", "no"),
                likelihoods: vec![1.0 - yes[0], 1.0 - yes[1]],
            },
        ],
    }
}

/// Buy / not buy, with a perfect question, a noisy one (error 0.1) and a useless one.
fn buy_bank() -> QuestionBank {
    QuestionBank::new(
        vec!["buy".to_owned(), "not".to_owned()],
        vec![
            two_class_question("useless", 0.0, [0.5, 0.5]),
            two_class_question("noisy", 0.0, [0.9, 0.1]),
            two_class_question("perfect", 0.0, [1.0, 0.0]),
        ],
    )
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn entropy_arithmetic() {
    assert!(close(entropy(&[0.5, 0.5]), 1.0));
    assert!(close(entropy(&[0.25; 4]), 2.0));
    assert!(close(entropy(&[1.0, 0.0]), 0.0));
    // H(0.25) = −0.25 log₂ 0.25 − 0.75 log₂ 0.75 = 0.5 + 0.311278… = 0.811278…
    assert!((entropy(&[0.25, 0.75]) - 0.811_278_124_459_132_8).abs() < 1e-12);
}

#[test]
fn gains_by_hand() {
    let bank = buy_bank();
    let uniform = [0.5, 0.5];
    let gains: Vec<f64> = bank
        .questions()
        .iter()
        .map(|q| expected_information_gain(&uniform, q))
        .collect();
    assert!(close(gains[0], 0.0));
    // A binary symmetric channel with error 0.1: 1 − H(0.1) = 1 − 0.468996 = 0.531004.
    assert!((gains[1] - (1.0 - entropy(&[0.1, 0.9]))).abs() < 1e-12);
    assert!((gains[1] - 0.531_004_406).abs() < 1e-9);
    assert!(close(gains[2], 1.0));
    // Under a skewed prior the perfect question gains exactly the prior entropy.
    assert!(close(
        expected_information_gain(&[0.2, 0.8], &bank.questions()[2]),
        entropy(&[0.2, 0.8])
    ));
    // The generic form agrees: outcomes "yes" (P = 0.5, posterior 0.9/0.1) and "no".
    let gain = information_gain(&uniform, [(0.5, &[0.9, 0.1][..]), (0.5, &[0.1, 0.9][..])]);
    assert!((gain - gains[1]).abs() < 1e-12);
}

#[test]
fn bayes_update_in_log_space() {
    let posterior = update(&[0.5, 0.5], &[0.8, 0.2]).unwrap();
    assert!(close(posterior[0], 0.8) && close(posterior[1], 0.2));
    let posterior = update(&[0.2, 0.8], &[0.9, 0.1]).unwrap();
    // 0.18 / (0.18 + 0.08) = 0.6923…
    assert!((posterior[0] - 0.18 / 0.26).abs() < 1e-12);
    assert_eq!(
        update(&[1.0, 0.0], &[0.0, 1.0]),
        Err(UpdateError::ImpossibleAnswer)
    );
    // Many tiny likelihoods: the naive product underflows to 0/0, the log-space one does not.
    let mut p = vec![0.5, 0.5];
    for _ in 0..2000 {
        p = update(&p, &[1e-200, 2e-200]).unwrap();
    }
    assert!(p[1] > 0.999_999 && p[0] >= 0.0, "{p:?}");
}

#[test]
fn choice_and_stopping() {
    let bank = buy_bank();
    let policy = AskPolicy {
        confidence: 0.9,
        min_gain: 0.1,
        max_per_visit: 5,
        max_per_window: 5,
        ..AskPolicy::default()
    };
    let ask = |posterior: &[f64], history: &[AskedQuestion]| {
        next_question(&bank, posterior, history, 1_000, 2_000, &policy)
    };

    assert_eq!(
        ask(&[0.5, 0.5], &[]),
        Decision::Ask {
            question: 2,
            gain: 1.0
        }
    );
    // Already confident: nothing is asked.
    assert_eq!(
        ask(&[0.95, 0.05], &[]),
        Decision::Stop(StopReason::Confident {
            class: 0,
            probability: 0.95
        })
    );
    // The perfect question was asked (even unanswered) within the window: the noisy one next.
    let asked = |id: &str, at: i64, answer: Option<usize>| AskedQuestion {
        question_id: id.to_owned(),
        asked_at: at,
        answer,
    };
    let Decision::Ask { question, .. } = ask(&[0.5, 0.5], &[asked("perfect", 1_500, None)]) else {
        panic!()
    };
    assert_eq!(bank.questions()[question].id, "noisy");
    // Only the useless question left: nothing gains enough.
    let history = [asked("perfect", 1_500, None), asked("noisy", 1_600, None)];
    assert_eq!(
        ask(&[0.5, 0.5], &history),
        Decision::Stop(StopReason::NothingGainsEnough { best_net_gain: 0.0 })
    );
    let history = [
        asked("perfect", 1_500, None),
        asked("noisy", 1_600, None),
        asked("useless", 1_700, Some(0)),
    ];
    assert_eq!(
        ask(&[0.5, 0.5], &history),
        Decision::Stop(StopReason::NoQuestionLeft)
    );
}

#[test]
fn cost_weighs_against_gain() {
    let bank = QuestionBank::new(
        vec!["buy".to_owned(), "not".to_owned()],
        vec![
            two_class_question("noisy", 0.0, [0.9, 0.1]),
            two_class_question("perfect", 0.6, [1.0, 0.0]),
        ],
    )
    .unwrap();
    // Perfect: 1.0 − 0.6 = 0.4 net; noisy: 0.531 net.
    let decision = next_question(
        &bank,
        &[0.5, 0.5],
        &[],
        0,
        0,
        &AskPolicy {
            min_gain: 0.0,
            ..AskPolicy::default()
        },
    );
    let Decision::Ask { question, gain } = decision else {
        panic!("{decision:?}")
    };
    assert_eq!((question, (gain * 1e6).round() / 1e6), (0, 0.531004));
}

#[test]
fn budgets_per_visit_and_per_thirty_days() {
    let bank = buy_bank();
    let day = 24 * 3600;
    let now = 100 * day;
    let visit = now - 600;
    let policy = AskPolicy {
        confidence: 0.99,
        min_gain: 0.0,
        max_per_visit: 2,
        max_per_window: 3,
        ..AskPolicy::default()
    };
    let asked = |id: &str, at: i64, answer: Option<usize>| AskedQuestion {
        question_id: id.to_owned(),
        asked_at: at,
        answer,
    };
    let ask =
        |history: &[AskedQuestion]| next_question(&bank, &[0.5, 0.5], history, visit, now, &policy);

    // Two questions in this visit, one of them unanswered: the visit budget is spent.
    let history = [
        asked("useless", visit + 10, Some(0)),
        asked("noisy", visit + 20, None),
    ];
    assert_eq!(ask(&history), Decision::Stop(StopReason::VisitBudgetSpent));
    // One in this visit and two earlier in the 30 days: the window budget is spent.
    let history = [
        asked("useless", now - 20 * day, None),
        asked("noisy", now - 2 * day, Some(1)),
        asked("useless", visit + 5, Some(1)),
    ];
    assert_eq!(ask(&history), Decision::Stop(StopReason::WindowBudgetSpent));
    // The same, but the oldest question is 31 days old: it no longer counts, nor blocks
    // asking the same question again.
    let history = [
        asked("perfect", now - 31 * day, None),
        asked("noisy", now - 2 * day, Some(1)),
        asked("useless", visit + 5, Some(1)),
    ];
    assert_eq!(
        ask(&history),
        Decision::Ask {
            question: 2,
            gain: 1.0
        }
    );
}

#[test]
fn answers_update_the_posterior_at_once() {
    let bank = buy_bank();
    let history = [
        AskedQuestion {
            question_id: "noisy".to_owned(),
            asked_at: 1,
            answer: Some(0),
        },
        AskedQuestion {
            question_id: "useless".to_owned(),
            asked_at: 2,
            answer: None,
        },
        AskedQuestion {
            question_id: "removed".to_owned(),
            asked_at: 3,
            answer: Some(0),
        },
    ];
    let posterior = posterior_from_history(&bank, &[0.5, 0.5], &history).unwrap();
    assert!(close(posterior[0], 0.9));
    let bad = [AskedQuestion {
        question_id: "noisy".to_owned(),
        asked_at: 1,
        answer: Some(7),
    }];
    assert_eq!(
        posterior_from_history(&bank, &[0.5, 0.5], &bad),
        Err(UpdateError::Unknown {
            question: "noisy".to_owned(),
            answer: 7
        })
    );
}

#[test]
fn learning_smooths_toward_the_defaults() {
    let bank = buy_bank();
    assert_eq!(reestimate(&bank, &[], 10.0), Ok(bank.clone()));
    // "useless" (0.5 / 0.5 by default): 30 buyers answered yes, 10 no. With α = 10:
    // P(yes | buy) = (30 + 10 · 0.5) / (40 + 10) = 0.7; the "not" class keeps its default.
    let mut observations = vec![
        Observation {
            question: 0,
            answer: 0,
            class: 0
        };
        30
    ];
    observations.extend(vec![
        Observation {
            question: 0,
            answer: 1,
            class: 0
        };
        10
    ]);
    let learned = reestimate(&bank, &observations, 10.0).unwrap();
    let useless = &learned.questions()[0];
    assert!(close(useless.answers[0].likelihoods[0], 0.7));
    assert!(close(useless.answers[1].likelihoods[0], 0.3));
    assert!(close(useless.answers[0].likelihoods[1], 0.5));
    assert_eq!(learned.questions()[1], bank.questions()[1]);
    assert_eq!(
        reestimate(
            &bank,
            &[Observation {
                question: 9,
                answer: 0,
                class: 0
            }],
            1.0
        ),
        Err(LearnError::OutOfRange { index: 0 })
    );
    assert_eq!(
        reestimate(&bank, &[], 0.0),
        Err(LearnError::InvalidPseudoCount(0.0))
    );
}

#[test]
fn bank_validation() {
    let classes = || vec!["a".to_owned(), "b".to_owned()];
    let rendered = [
        QuestionBank::new(vec!["a".to_owned()], vec![]),
        QuestionBank::new(
            classes(),
            vec![
                two_class_question("q", 0.0, [0.5, 0.5]),
                two_class_question("q", 0.0, [0.5, 0.5]),
            ],
        ),
        QuestionBank::new(classes(), vec![two_class_question("q", -1.0, [0.5, 0.5])]),
        QuestionBank::new(classes(), vec![two_class_question("q", 0.0, [1.5, 0.5])]),
        {
            let mut q = two_class_question("q", 0.0, [0.5, 0.5]);
            q.answers[0].likelihoods[1] = 0.7;
            QuestionBank::new(classes(), vec![q])
        },
    ]
    .map(|result| result.map(|_| ()).unwrap_err().to_string())
    .join("\n");
    expect![[r#"
        a bank needs at least two classes, got 1
        question id q is used twice
        question q has a negative or non-finite likelihood or cost
        question q has a negative or non-finite likelihood or cost
        the answers of question q sum to 1.2 in class b, not 1"#]]
    .assert_eq(&rendered);
}

#[test]
fn default_bank_asks_about_buying_before_first() {
    let bank = default_bank();
    let uniform = [1.0 / 3.0; 3];
    let mut table = String::new();
    for question in bank.questions() {
        table += &format!(
            "{:<14} gain {:.3} cost {:.2}  {}\n",
            question.id,
            expected_information_gain(&uniform, question),
            question.cost,
            question.text.es
        );
    }
    expect![[r#"
        knows_product  gain 0.286 cost 0.02  ¿Ya sabes qué producto necesitas?
        compared       gain 0.193 cost 0.02  ¿Has comparado marcas o precios?
        budget         gain 0.118 cost 0.05  ¿Qué presupuesto tienes?
        when           gain 0.231 cost 0.02  ¿Cuándo piensas comprar?
        bought_before  gain 0.493 cost 0.02  ¿Nos has comprado antes?
        what_matters   gain 0.213 cost 0.02  ¿Qué es lo más importante para ti ahora?
    "#]]
    .assert_eq(&table);
    let Decision::Ask { question, .. } =
        next_question(&bank, &uniform, &[], 0, 0, &AskPolicy::default())
    else {
        panic!()
    };
    assert_eq!(bank.questions()[question].id, "bought_before");
    // After "yes, I bought before" and "yes, I know exactly" phase III has 0.897, below the
    // 0.9 threshold; "restocking" then makes it 0.97 and nothing more is asked.
    let posterior = update(&uniform, &bank.questions()[4].answers[0].likelihoods).unwrap();
    let posterior = update(&posterior, &bank.questions()[0].answers[0].likelihoods).unwrap();
    assert!(
        (posterior[2] - 0.63 / 0.7025).abs() < 1e-12,
        "{posterior:?}"
    );
    let posterior = update(&posterior, &bank.questions()[5].answers[3].likelihoods).unwrap();
    assert!(matches!(
        next_question(&bank, &posterior, &[], 0, 0, &AskPolicy::default()),
        Decision::Stop(StopReason::Confident { class: 2, .. })
    ));
}
