//! The question bank: questions, answers and their likelihood in each class.

/// A text in Spanish with its English translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// Spanish.
    pub es: String,
    /// English.
    pub en: String,
}

impl Text {
    /// A text from its Spanish and English versions.
    pub fn new(es: &str, en: &str) -> Self {
        Self {
            es: es.to_owned(),
            en: en.to_owned(),
        }
    }
}

/// One possible answer to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Stable identifier (sent back by the front end).
    pub id: String,
    /// What the person sees.
    pub text: Text,
    /// P(this answer | class), one per class of the bank.
    pub likelihoods: Vec<f64>,
}

/// A survey question.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// Stable identifier.
    pub id: String,
    /// What the person sees.
    pub text: Text,
    /// The possible answers; for every class their likelihoods sum to 1.
    pub answers: Vec<Answer>,
    /// What asking costs, in bits: the question is chosen by expected gain minus cost.
    pub cost: f64,
}

/// Questions about one target with classes (the purchase phases, or buy / not buy, …).
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionBank {
    classes: Vec<String>,
    questions: Vec<Question>,
}

/// Why a question bank is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BankError {
    /// A bank needs at least two classes.
    #[error("a bank needs at least two classes, got {0}")]
    TooFewClasses(usize),
    /// A question has fewer than two answers.
    #[error("question {0} needs at least two answers")]
    TooFewAnswers(String),
    /// Two questions share an identifier.
    #[error("question id {0} is used twice")]
    DuplicateQuestion(String),
    /// An answer has the wrong number of likelihoods.
    #[error("answer {answer} of question {question} has {got} likelihoods for {expected} classes")]
    WrongWidth {
        /// The question.
        question: String,
        /// The answer.
        answer: String,
        /// Likelihoods given.
        got: usize,
        /// Classes of the bank.
        expected: usize,
    },
    /// A likelihood is negative or not finite, or a cost is negative.
    #[error("question {0} has a negative or non-finite likelihood or cost")]
    InvalidNumber(String),
    /// The likelihoods of a question's answers do not sum to 1 in some class.
    #[error("the answers of question {question} sum to {sum} in class {class}, not 1")]
    NotNormalised {
        /// The question.
        question: String,
        /// The class.
        class: String,
        /// The sum found.
        sum: f64,
    },
}

impl QuestionBank {
    /// A validated bank: two classes at least, two answers per question at least, and for
    /// every question and class the answer likelihoods sum to 1 (within 1e-6).
    pub fn new(classes: Vec<String>, questions: Vec<Question>) -> Result<Self, BankError> {
        if classes.len() < 2 {
            return Err(BankError::TooFewClasses(classes.len()));
        }
        for (index, question) in questions.iter().enumerate() {
            if questions[..index].iter().any(|q| q.id == question.id) {
                return Err(BankError::DuplicateQuestion(question.id.clone()));
            }
            if question.answers.len() < 2 {
                return Err(BankError::TooFewAnswers(question.id.clone()));
            }
            if !(question.cost.is_finite() && question.cost >= 0.0) {
                return Err(BankError::InvalidNumber(question.id.clone()));
            }
            for answer in &question.answers {
                if answer.likelihoods.len() != classes.len() {
                    return Err(BankError::WrongWidth {
                        question: question.id.clone(),
                        answer: answer.id.clone(),
                        got: answer.likelihoods.len(),
                        expected: classes.len(),
                    });
                }
                if answer
                    .likelihoods
                    .iter()
                    .any(|&l| !(l.is_finite() && l >= 0.0))
                {
                    return Err(BankError::InvalidNumber(question.id.clone()));
                }
            }
            for (class_idx, class) in classes.iter().enumerate() {
                let sum: f64 = question
                    .answers
                    .iter()
                    .map(|a| a.likelihoods[class_idx])
                    .sum();
                if (sum - 1.0).abs() > 1e-6 {
                    return Err(BankError::NotNormalised {
                        question: question.id.clone(),
                        class: class.clone(),
                        sum,
                    });
                }
            }
        }
        Ok(Self { classes, questions })
    }

    /// The class names.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The questions.
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }

    /// The index of the question with this id.
    pub fn position(&self, question_id: &str) -> Option<usize> {
        self.questions.iter().position(|q| q.id == question_id)
    }
}
