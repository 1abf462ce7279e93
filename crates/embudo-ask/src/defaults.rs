//! The default question bank about the purchase phase, in Spanish with English translations.
//!
//! Likelihoods are P(answer | phase), set by hand from the phase definitions of the seeds:
//! phase I has a need but does not know which product (it answers "not yet", "I don't know",
//! "understanding what suits me"); phase II knows the need and weighs features, budget and
//! brands (it has compared, knows roughly when it will buy); phase III has bought before (it
//! answers "yes" to buying before, often knows exactly what it wants, restocks). No answer has
//! likelihood 0, so no single answer rules a phase out. The shop's own answers refine them
//! through [`crate::reestimate`].

use crate::bank::{Answer, Question, QuestionBank, Text};

/// The classes of the default bank: the purchase phases.
pub const PHASES: [&str; 3] = ["I", "II", "III"];

/// Question id, cost in bits, Spanish and English text, and answers as (id, Spanish, English,
/// likelihoods in phases I, II, III).
type Spec = (
    &'static str,
    f64,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str, [f64; 3])],
);

const DEFAULTS: &[Spec] = &[
    (
        "knows_product",
        0.02,
        "¿Ya sabes qué producto necesitas?",
        "Do you already know which product you need?",
        &[
            (
                "yes",
                "Sí, lo tengo claro",
                "Yes, I know exactly",
                [0.10, 0.45, 0.70],
            ),
            (
                "several",
                "Dudo entre varios",
                "I am torn between several",
                [0.30, 0.45, 0.20],
            ),
            (
                "not_yet",
                "Todavía no, estoy mirando",
                "Not yet, I am looking around",
                [0.60, 0.10, 0.10],
            ),
        ],
    ),
    (
        "compared",
        0.02,
        "¿Has comparado marcas o precios?",
        "Have you compared brands or prices?",
        &[
            ("yes", "Sí, varias", "Yes, several", [0.10, 0.60, 0.40]),
            ("a_little", "Un poco", "A little", [0.30, 0.30, 0.30]),
            ("no", "Todavía no", "Not yet", [0.60, 0.10, 0.30]),
        ],
    ),
    (
        "budget",
        0.05,
        "¿Qué presupuesto tienes?",
        "What is your budget?",
        &[
            ("under_50", "Menos de 50 €", "Under €50", [0.25, 0.30, 0.30]),
            (
                "50_200",
                "Entre 50 y 200 €",
                "€50 to €200",
                [0.20, 0.35, 0.35],
            ),
            ("over_200", "Más de 200 €", "Over €200", [0.10, 0.25, 0.25]),
            (
                "unknown",
                "Aún no lo sé",
                "I don't know yet",
                [0.45, 0.10, 0.10],
            ),
        ],
    ),
    (
        "when",
        0.02,
        "¿Cuándo piensas comprar?",
        "When do you plan to buy?",
        &[
            (
                "this_week",
                "Hoy o esta semana",
                "Today or this week",
                [0.05, 0.45, 0.40],
            ),
            ("this_month", "Este mes", "This month", [0.15, 0.35, 0.25]),
            ("later", "Más adelante", "Later on", [0.40, 0.15, 0.20]),
            ("unknown", "No lo sé", "I don't know", [0.40, 0.05, 0.15]),
        ],
    ),
    (
        "bought_before",
        0.02,
        "¿Nos has comprado antes?",
        "Have you bought from us before?",
        &[
            ("yes", "Sí", "Yes", [0.05, 0.15, 0.90]),
            ("no", "No", "No", [0.95, 0.85, 0.10]),
        ],
    ),
    (
        "what_matters",
        0.02,
        "¿Qué es lo más importante para ti ahora?",
        "What matters most to you right now?",
        &[
            (
                "understand",
                "Entender qué me conviene",
                "Understanding what suits me",
                [0.55, 0.15, 0.10],
            ),
            (
                "features",
                "Comparar prestaciones",
                "Comparing features",
                [0.20, 0.40, 0.20],
            ),
            (
                "price",
                "El precio y el envío",
                "Price and shipping",
                [0.15, 0.35, 0.30],
            ),
            (
                "restock",
                "Reponer o completar lo que ya tengo",
                "Restocking or adding to what I have",
                [0.10, 0.10, 0.40],
            ),
        ],
    ),
];

/// The default bank about the purchase phases I, II and III.
pub fn default_bank() -> QuestionBank {
    let questions = DEFAULTS
        .iter()
        .map(|&(id, cost, es, en, answers)| Question {
            id: id.to_owned(),
            text: Text::new(es, en),
            cost,
            answers: answers
                .iter()
                .map(|&(id, es, en, likelihoods)| Answer {
                    id: id.to_owned(),
                    text: Text::new(es, en),
                    likelihoods: likelihoods.to_vec(),
                })
                .collect(),
        })
        .collect();
    let classes = PHASES.iter().map(|&p| p.to_owned()).collect();
    // The table above is normalised per phase, which the tests check through this same call.
    QuestionBank::new(classes, questions)
        .unwrap_or_else(|error| unreachable!("default bank is invalid: {error}"))
}
