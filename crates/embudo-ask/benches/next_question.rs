//! Choosing the next question: 10 questions × 5 answers × 3 phases.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use embudo_ask::{Answer, AskPolicy, AskedQuestion, Question, QuestionBank, Text, next_question};

fn bank(n_questions: usize, n_answers: usize) -> QuestionBank {
    let classes: Vec<String> = ["I", "II", "III"].iter().map(|&c| c.to_owned()).collect();
    let questions = (0..n_questions)
        .map(|q| {
            // Deterministic, distinct, normalised likelihoods.
            let weights: Vec<Vec<f64>> = (0..n_answers)
                .map(|a| {
                    (0..3)
                        .map(|c| 1.0 + ((q * 7 + a * 3 + c * 5) % 11) as f64)
                        .collect()
                })
                .collect();
            let totals: Vec<f64> = (0..3).map(|c| weights.iter().map(|w| w[c]).sum()).collect();
            Question {
                id: format!("q{q}"),
                text: Text::new("¿?", "?"),
                cost: 0.01,
                answers: weights
                    .iter()
                    .enumerate()
                    .map(|(a, w)| Answer {
                        id: format!("a{a}"),
                        text: Text::new("r", "a"),
                        likelihoods: (0..3).map(|c| w[c] / totals[c]).collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    QuestionBank::new(classes, questions).expect("normalised by construction")
}

fn bench(c: &mut Criterion) {
    let bank = bank(10, 5);
    let history = vec![
        AskedQuestion {
            question_id: "q3".to_owned(),
            asked_at: 1_000,
            answer: Some(1),
        },
        AskedQuestion {
            question_id: "q7".to_owned(),
            asked_at: 50_000,
            answer: None,
        },
    ];
    let policy = AskPolicy {
        max_per_visit: 3,
        max_per_window: 5,
        min_gain: 0.0,
        ..AskPolicy::default()
    };
    let posterior = [0.5, 0.3, 0.2];
    c.bench_function("next_question_10x5", |b| {
        b.iter(|| {
            next_question(
                black_box(&bank),
                black_box(&posterior),
                &history,
                40_000,
                60_000,
                &policy,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
