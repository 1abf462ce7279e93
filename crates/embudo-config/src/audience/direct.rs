//! Conditions simple enough to decide without CEL's interpreter.
//!
//! Most audiences test a count against a number or whether a trait is present
//! (`aggregates.n_orders >= 1`, `has(traits.email)`), possibly joined with `&&`, `||` and `!`.
//! Every touched profile is evaluated on every processing step, and building CEL's context
//! (maps of converted values) and interpreting the program cost far more than the test itself:
//! such conditions are compiled once into a [`Direct`] and decided on the profile's own fields.
//! Anything else — another field, a float, a function, a trait's value — stays with CEL. The
//! two agree on every condition a [`Direct`] accepts (tested against the interpreter).

use cel_parser::Expression;
use cel_parser::ast::{Expr, operators};
use cel_parser::reference::Val;
use embudo_core::profile::Aggregates;

use super::AudienceInput;

/// A condition decided without the interpreter.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Direct {
    Constant(bool),
    /// `aggregates.<count> <op> <integer>`.
    Count {
        field: Count,
        op: Comparison,
        value: i64,
    },
    /// `has(traits.<name>)`.
    HasTrait(String),
    Not(Box<Direct>),
    And(Box<Direct>, Box<Direct>),
    Or(Box<Direct>, Box<Direct>),
}

/// The integer counts of [`Aggregates`] a condition can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    Events,
    Orders,
    CartAdds,
    Checkouts,
    DistinctProductsViewed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Direct {
    /// The condition as a [`Direct`], or `None` when it needs the interpreter.
    pub(super) fn compile(expression: &Expression) -> Option<Direct> {
        match &expression.expr {
            Expr::Literal(Val::Boolean(flag)) => Some(Direct::Constant(*flag)),
            // `has(x.f)` is a select with its test flag set.
            Expr::Select(select) if select.test => match &select.operand.expr {
                Expr::Ident(name) if name == "traits" => {
                    Some(Direct::HasTrait(select.field.clone()))
                }
                _ => None,
            },
            Expr::Call(call) if call.target.is_none() => {
                match (call.func_name.as_str(), &call.args[..]) {
                    (operators::LOGICAL_NOT, [operand]) => {
                        Some(Direct::Not(Box::new(Direct::compile(operand)?)))
                    }
                    (operators::LOGICAL_AND, [left, right]) => Some(Direct::And(
                        Box::new(Direct::compile(left)?),
                        Box::new(Direct::compile(right)?),
                    )),
                    (operators::LOGICAL_OR, [left, right]) => Some(Direct::Or(
                        Box::new(Direct::compile(left)?),
                        Box::new(Direct::compile(right)?),
                    )),
                    (name, [left, right]) => {
                        let op = Comparison::of(name)?;
                        match (count(left), integer(right), integer(left), count(right)) {
                            (Some(field), Some(value), _, _) => {
                                Some(Direct::Count { field, op, value })
                            }
                            // `1 <= aggregates.n_orders`: the same test seen from the count.
                            (_, _, Some(value), Some(field)) => Some(Direct::Count {
                                field,
                                op: op.flipped(),
                                value,
                            }),
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The condition's value for one profile.
    pub(super) fn decide(&self, input: &AudienceInput<'_>) -> bool {
        match self {
            Direct::Constant(flag) => *flag,
            Direct::Count { field, op, value } => op.holds(field.of(input.aggregates), *value),
            // As the interpreter: false when traits are not a map.
            Direct::HasTrait(name) => input
                .traits
                .as_map()
                .is_some_and(|traits| traits.contains_key(name.as_str())),
            Direct::Not(operand) => !operand.decide(input),
            Direct::And(left, right) => left.decide(input) && right.decide(input),
            Direct::Or(left, right) => left.decide(input) || right.decide(input),
        }
    }
}

impl Count {
    fn named(field: &str) -> Option<Count> {
        Some(match field {
            "n_events" => Count::Events,
            "n_orders" => Count::Orders,
            "n_cart_adds" => Count::CartAdds,
            "n_checkouts" => Count::Checkouts,
            "n_distinct_products_viewed" => Count::DistinctProductsViewed,
            _ => return None,
        })
    }

    /// The count as CEL sees it: an `int`, converted as the interpreter's context converts it.
    fn of(self, aggregates: &Aggregates) -> i64 {
        let n = match self {
            Count::Events => aggregates.n_events,
            Count::Orders => aggregates.n_orders(),
            Count::CartAdds => aggregates.n_cart_adds,
            Count::Checkouts => aggregates.n_checkouts,
            Count::DistinctProductsViewed => aggregates.n_distinct_products_viewed,
        };
        super::saturated(n)
    }
}

impl Comparison {
    fn of(function: &str) -> Option<Comparison> {
        Some(match function {
            operators::EQUALS => Comparison::Equal,
            operators::NOT_EQUALS => Comparison::NotEqual,
            operators::LESS => Comparison::Less,
            operators::LESS_EQUALS => Comparison::LessOrEqual,
            operators::GREATER => Comparison::Greater,
            operators::GREATER_EQUALS => Comparison::GreaterOrEqual,
            _ => return None,
        })
    }

    /// `a op b` as `b op' a`.
    fn flipped(self) -> Comparison {
        match self {
            Comparison::Equal | Comparison::NotEqual => self,
            Comparison::Less => Comparison::Greater,
            Comparison::LessOrEqual => Comparison::GreaterOrEqual,
            Comparison::Greater => Comparison::Less,
            Comparison::GreaterOrEqual => Comparison::LessOrEqual,
        }
    }

    fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Comparison::Equal => left == right,
            Comparison::NotEqual => left != right,
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
            Comparison::Greater => left > right,
            Comparison::GreaterOrEqual => left >= right,
        }
    }
}

/// `aggregates.<count>`.
fn count(expression: &Expression) -> Option<Count> {
    match &expression.expr {
        Expr::Select(select) if !select.test => match &select.operand.expr {
            Expr::Ident(name) if name == "aggregates" => Count::named(&select.field),
            _ => None,
        },
        _ => None,
    }
}

/// An `int` literal (`-3` parses as a negation of `3`).
fn integer(expression: &Expression) -> Option<i64> {
    match &expression.expr {
        Expr::Literal(Val::Int(value)) => Some(*value),
        Expr::Call(call) if call.func_name == operators::NEGATE && call.target.is_none() => {
            match &call.args[..] {
                [operand] => integer(operand)?.checked_neg(),
                _ => None,
            }
        }
        _ => None,
    }
}
