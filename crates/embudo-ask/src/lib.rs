//! Ask as little as possible: the next survey question by expected information gain.
//!
//! A [`QuestionBank`] holds questions whose answers each have a likelihood in every class
//! (the purchase phases I, II, III by default, or any other target: buy / not buy, budget
//! band). Given the current posterior over the classes, [`next_question`] picks the question
//! with the largest expected information gain I(A; Φ) = H(Φ) − Σₐ P(a) H(Φ | a) net of its
//! cost, or says why it asks nothing: the posterior is already confident, no question gains
//! enough, or the person's question budget (per visit and per 30 days) is spent.
//! [`update`] folds an answer into the posterior (Bayes' rule in log space), and
//! [`reestimate`] learns answer likelihoods from answered questions and later outcomes,
//! smoothed toward the defaults.
//!
//! Everything is pure: the caller passes the person's question history and `now`.

mod bank;
mod choose;
mod defaults;
mod info;
mod learn;

pub use bank::{Answer, BankError, Question, QuestionBank, Text};
pub use choose::{AskPolicy, AskedQuestion, Decision, StopReason, next_question};
pub use defaults::{PHASES, default_bank};
pub use info::{
    UpdateError, entropy, expected_information_gain, information_gain, posterior_from_history,
    update,
};
pub use learn::{LearnError, Observation, reestimate};

#[cfg(test)]
mod tests;
