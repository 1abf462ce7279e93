//! Learning answer likelihoods from the shop's own answers and later outcomes.

use crate::bank::QuestionBank;

/// One answered question whose person's class is known by now (for the purchase phases: the
/// phase the person turned out to be in, for example III once they bought).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Question index in the bank.
    pub question: usize,
    /// Answer index in the question.
    pub answer: usize,
    /// Class index of the outcome.
    pub class: usize,
}

/// Why likelihoods could not be re-estimated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LearnError {
    /// The pseudo-count must be positive (it keeps unseen answers possible).
    #[error("the pseudo-count must be positive and finite, got {0}")]
    InvalidPseudoCount(f64),
    /// The re-estimated bank failed validation (cannot happen with a valid input bank).
    #[error("the re-estimated bank is invalid: {0}")]
    Invalid(#[from] crate::bank::BankError),
    /// An observation points outside the bank.
    #[error("observation {index} points outside the bank")]
    OutOfRange {
        /// Position in the observations.
        index: usize,
    },
}

/// Re-estimates every likelihood as the posterior mean under a Dirichlet prior centred on the
/// current (default) likelihoods with `pseudo_count` pseudo-observations per class:
/// P(a | c) = (n(a, c) + α · P₀(a | c)) / (n(c) + α), where n counts the observations of the
/// question. With no observations the defaults come back unchanged; with many, the
/// observed frequencies win.
pub fn reestimate(
    bank: &QuestionBank,
    observations: &[Observation],
    pseudo_count: f64,
) -> Result<QuestionBank, LearnError> {
    if !(pseudo_count.is_finite() && pseudo_count > 0.0) {
        return Err(LearnError::InvalidPseudoCount(pseudo_count));
    }
    let n_classes = bank.classes().len();
    let mut counts: Vec<Vec<Vec<f64>>> = bank
        .questions()
        .iter()
        .map(|q| vec![vec![0.0; n_classes]; q.answers.len()])
        .collect();
    for (index, observation) in observations.iter().enumerate() {
        let cell = counts
            .get_mut(observation.question)
            .and_then(|answers| answers.get_mut(observation.answer))
            .and_then(|classes| classes.get_mut(observation.class))
            .ok_or(LearnError::OutOfRange { index })?;
        *cell += 1.0;
    }
    let mut questions = bank.questions().to_vec();
    for (question, question_counts) in questions.iter_mut().zip(&counts) {
        for class in 0..n_classes {
            let total: f64 = question_counts.iter().map(|answer| answer[class]).sum();
            for (answer, answer_counts) in question.answers.iter_mut().zip(question_counts) {
                let prior = answer.likelihoods[class];
                answer.likelihoods[class] =
                    (answer_counts[class] + pseudo_count * prior) / (total + pseudo_count);
            }
        }
    }
    // The smoothed likelihoods of each class still sum to 1; validate all the same.
    Ok(QuestionBank::new(bank.classes().to_vec(), questions)?)
}
