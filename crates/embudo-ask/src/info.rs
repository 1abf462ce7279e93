//! Entropy, Bayes updates and expected information gain.

use crate::bank::{Question, QuestionBank};
use crate::choose::AskedQuestion;

/// Why an answer could not be folded into a posterior.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpdateError {
    /// The answer has likelihood 0 in every class that is still possible.
    #[error("the answer is impossible under the current posterior")]
    ImpossibleAnswer,
    /// The answer or question index does not exist.
    #[error("unknown question {question} or answer {answer}")]
    Unknown {
        /// The question id.
        question: String,
        /// The answer index.
        answer: usize,
    },
    /// The prior has the wrong number of classes.
    #[error("the prior has {got} classes, the bank {expected}")]
    WrongWidth {
        /// Classes in the prior.
        got: usize,
        /// Classes in the bank.
        expected: usize,
    },
}

/// Shannon entropy in bits, Σ −p log₂ p (terms with p = 0 count 0).
pub fn entropy(probabilities: &[f64]) -> f64 {
    probabilities
        .iter()
        .filter(|&&p| p > 0.0)
        .map(|&p| -p * p.log2())
        .sum()
}

/// Bayes' rule in log space: posterior ∝ prior × likelihood, normalised with log-sum-exp so
/// that long chains of small likelihoods do not underflow.
pub fn update(prior: &[f64], likelihoods: &[f64]) -> Result<Vec<f64>, UpdateError> {
    if prior.len() != likelihoods.len() {
        return Err(UpdateError::WrongWidth {
            got: prior.len(),
            expected: likelihoods.len(),
        });
    }
    let logs: Vec<f64> = prior
        .iter()
        .zip(likelihoods)
        .map(|(&p, &l)| p.ln() + l.ln())
        .collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || max.is_nan() {
        return Err(UpdateError::ImpossibleAnswer);
    }
    let sum: f64 = logs.iter().map(|&l| (l - max).exp()).sum();
    let log_norm = max + sum.ln();
    Ok(logs.iter().map(|&l| (l - log_norm).exp()).collect())
}

/// The information gain of an observation with the given outcomes: H(prior) − Σ w·H(post),
/// for outcomes given as (probability of the outcome, posterior after it). Used by
/// [`expected_information_gain`] and by callers whose answer model is not a likelihood
/// table (for example a classifier that handles missing attributes).
pub fn information_gain<'a>(
    prior: &[f64],
    outcomes: impl IntoIterator<Item = (f64, &'a [f64])>,
) -> f64 {
    let after: f64 = outcomes
        .into_iter()
        .map(|(weight, posterior)| weight * entropy(posterior))
        .sum();
    (entropy(prior) - after).max(0.0)
}

/// Expected information gain of asking `question` under `posterior`, in bits:
/// I(A; Φ) = H(Φ) − Σₐ P(a) H(Φ | a), with P(a) = Σ_c P(c) P(a | c).
pub fn expected_information_gain(posterior: &[f64], question: &Question) -> f64 {
    let n_classes = posterior.len();
    let mut after = 0.0;
    let mut joint = vec![0.0; n_classes];
    for answer in &question.answers {
        let mut p_answer = 0.0;
        for c in 0..n_classes {
            joint[c] = posterior[c] * answer.likelihoods[c];
            p_answer += joint[c];
        }
        if p_answer <= 0.0 {
            continue;
        }
        // P(a) · H(Φ | a) = −Σ_c j_c log₂(j_c / P(a)), with j_c = P(c, a).
        after -= joint
            .iter()
            .filter(|&&j| j > 0.0)
            .map(|&j| j * (j / p_answer).log2())
            .sum::<f64>();
    }
    (entropy(posterior) - after).max(0.0)
}

/// The posterior after every answered question of `history` (unanswered ones and questions
/// no longer in the bank are skipped, answers are matched by index).
pub fn posterior_from_history(
    bank: &QuestionBank,
    prior: &[f64],
    history: &[AskedQuestion],
) -> Result<Vec<f64>, UpdateError> {
    if prior.len() != bank.classes().len() {
        return Err(UpdateError::WrongWidth {
            got: prior.len(),
            expected: bank.classes().len(),
        });
    }
    let mut posterior = prior.to_vec();
    for asked in history {
        let (Some(answer), Some(question)) = (asked.answer, bank.position(&asked.question_id))
        else {
            continue;
        };
        let likelihoods = &bank.questions()[question]
            .answers
            .get(answer)
            .ok_or_else(|| UpdateError::Unknown {
                question: asked.question_id.clone(),
                answer,
            })?
            .likelihoods;
        posterior = update(&posterior, likelihoods)?;
    }
    Ok(posterior)
}
