//! Target audiences: CEL conditions over a profile's traits and aggregates, each giving a fit.
//!
//! Conditions are compiled when the configuration is checked (a syntax error, a variable
//! other than `traits`, `aggregates` and those CEL's macros bind, or a condition that cannot be
//! evaluated on an empty profile is a configuration error). [`Audiences::fits`] evaluates them
//! for one profile and gives the [`AudienceFit`]s the phase engine's stage reads. Conditions
//! that only compare counts or test traits' presence are decided without the interpreter
//! ([`direct`]); for the others it converts only the parts of the profile they read.

mod direct;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cel_interpreter::{Context, Program, Value as Cel};
use embudo_core::phase::AudienceFit;
use embudo_core::profile::Aggregates;
use embudo_core::time::Timestamp;
use embudo_core::value::Value;

use self::direct::Direct;
use crate::error::ConfigError;
use crate::phases::At;
use crate::raw::{RawAudience, RawFit};

/// The variables a condition may use.
const VARIABLES: [&str; 2] = ["traits", "aggregates"];

/// The shop's audiences, in configuration order.
#[derive(Debug, Clone, PartialEq)]
pub struct Audiences {
    pub list: Vec<Audience>,
}

/// One audience.
#[derive(Clone)]
pub struct Audience {
    pub name: String,
    pub description: Option<String>,
    /// The CEL source of the condition (a bool).
    pub condition: String,
    pub fit: Fit,
    program: Arc<Program>,
    /// What the condition and the fit read of a profile.
    reads: Reads,
    /// The condition without the interpreter, when it is that simple and the fit constant.
    direct: Option<Arc<Direct>>,
}

/// The fit of a matched audience: a constant or a CEL expression (clamped to [0, 1]).
#[derive(Clone)]
pub enum Fit {
    Constant(f64),
    Expression {
        source: String,
        program: Arc<Program>,
    },
}

impl fmt::Debug for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fit::Constant(fit) => write!(f, "{fit}"),
            Fit::Expression { source, .. } => write!(f, "{source:?}"),
        }
    }
}

impl PartialEq for Fit {
    fn eq(&self, other: &Fit) -> bool {
        match (self, other) {
            (Fit::Constant(a), Fit::Constant(b)) => a == b,
            (Fit::Expression { source: a, .. }, Fit::Expression { source: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl fmt::Debug for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audience")
            .field("name", &self.name)
            .field("condition", &self.condition)
            .field("fit", &self.fit)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Audience {
    fn eq(&self, other: &Audience) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.condition == other.condition
            && self.fit == other.fit
    }
}

/// Why an audience could not be evaluated for one profile (it then does not match).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("audience {audience:?}: {message}")]
pub struct AudienceError {
    pub audience: String,
    pub message: String,
}

/// What a condition sees of one profile.
#[derive(Debug, Clone, Copy)]
pub struct AudienceInput<'a> {
    pub traits: &'a Value,
    pub aggregates: &'a Aggregates,
    pub now: Timestamp,
}

impl Audience {
    /// Compiles an audience; errors are plain messages (the config layer adds the place).
    pub fn new(name: &str, condition: &str, fit: Fit) -> Result<Audience, String> {
        let program = compile(condition)?;
        let mut reads = Reads::of(condition, &program);
        if let Fit::Expression { source, program } = &fit {
            reads = reads.union(Reads::of(source, program));
        }
        let direct = match fit {
            Fit::Constant(_) => cel_parser::Parser::default()
                .parse(condition)
                .ok()
                .and_then(|expression| Direct::compile(&expression))
                .map(Arc::new),
            Fit::Expression { .. } => None,
        };
        Ok(Audience {
            name: name.to_owned(),
            description: None,
            condition: condition.to_owned(),
            fit,
            program: Arc::new(program),
            reads,
            direct,
        })
    }

    /// The fit when the condition holds, `None` when it does not.
    pub fn evaluate(&self, input: &AudienceInput<'_>) -> Result<Option<f64>, AudienceError> {
        match self.decide_directly(input) {
            Some(fit) => Ok(fit),
            None => with_context(input, self.reads, |context| self.evaluate_in(context)),
        }
    }

    /// [`Audience::evaluate`] without the interpreter, when the condition is simple enough.
    fn decide_directly(&self, input: &AudienceInput<'_>) -> Option<Option<f64>> {
        let (direct, fit) = self.direct()?;
        Some(direct.decide(input).then_some(fit.clamp(0.0, 1.0)))
    }

    /// The condition without the interpreter and the constant fit, when there are both.
    fn direct(&self) -> Option<(&Direct, f64)> {
        match (&self.direct, &self.fit) {
            (Some(direct), Fit::Constant(fit)) => Some((direct, *fit)),
            _ => None,
        }
    }

    fn evaluate_in(&self, context: &Context<'_>) -> Result<Option<f64>, AudienceError> {
        let error = |message: String| AudienceError {
            audience: self.name.clone(),
            message,
        };
        match self.program.execute(context) {
            Ok(Cel::Bool(false)) => Ok(None),
            Ok(Cel::Bool(true)) => {
                let fit = match &self.fit {
                    Fit::Constant(fit) => *fit,
                    Fit::Expression { program, .. } => match program.execute(context) {
                        Ok(value) => number(&value)
                            .ok_or_else(|| error(format!("fit is not a number: {value:?}")))?,
                        Err(cause) => return Err(error(format!("fit: {cause}"))),
                    },
                };
                Ok(Some(fit.clamp(0.0, 1.0)))
            }
            Ok(other) => Err(error(format!("condition is not a bool: {other:?}"))),
            Err(cause) => Err(error(cause.to_string())),
        }
    }
}

impl Fit {
    /// A fit from a CEL expression.
    pub fn expression(source: &str) -> Result<Fit, String> {
        Ok(Fit::Expression {
            source: source.to_owned(),
            program: Arc::new(compile(source)?),
        })
    }
}

impl Audiences {
    /// The matched audiences and their fits, best first, and the audiences whose condition
    /// failed to evaluate for this profile (typically a trait it lacks: guard with `has()`).
    pub fn fits(&self, input: &AudienceInput<'_>) -> (Vec<AudienceFit>, Vec<AudienceError>) {
        let mut fits = Vec::new();
        let mut errors = Vec::new();
        let mut fitted = |audience: &Audience, fit: Option<f64>| {
            if let Some(fit) = fit {
                fits.push(AudienceFit {
                    name: audience.name.clone(),
                    fit,
                });
            }
        };
        let mut reads = Reads::default();
        for audience in &self.list {
            match audience.decide_directly(input) {
                Some(fit) => fitted(audience, fit),
                None => reads = reads.union(audience.reads),
            }
        }
        let interpreted = || {
            self.list
                .iter()
                .filter(|audience| audience.direct().is_none())
        };
        if interpreted().next().is_some() {
            with_context(input, reads, |context| {
                for audience in interpreted() {
                    match audience.evaluate_in(context) {
                        Ok(fit) => fitted(audience, fit),
                        Err(error) => errors.push(error),
                    }
                }
            });
        }
        fits.sort_by(|a, b| b.fit.total_cmp(&a.fit).then_with(|| a.name.cmp(&b.name)));
        (fits, errors)
    }
}

impl Default for Audiences {
    /// Customers, subscribers (an e-mail is known) and returning visitors (3+ events): the
    /// people a shop can work with before it defines its own target segments.
    fn default() -> Audiences {
        let defaults = [
            ("compradores", "aggregates.n_orders >= 1", 0.9),
            ("suscriptores", "has(traits.email)", 0.7),
            ("visitantes_recurrentes", "aggregates.n_events >= 3", 0.6),
        ];
        let list = defaults
            .into_iter()
            .filter_map(|(name, condition, fit)| {
                Audience::new(name, condition, Fit::Constant(fit)).ok()
            })
            .collect();
        Audiences { list }
    }
}

fn compile(source: &str) -> Result<Program, String> {
    // cel-parser 0.10 panics on some malformed input (e.g. `traits.age >`) instead of
    // returning an error: a bad config must be an error, not a crash, so the panic is caught.
    let compiled = std::panic::catch_unwind(|| Program::compile(source))
        .map_err(|_| "invalid CEL: the expression is incomplete or malformed".to_owned())?;
    let program = compiled.map_err(|error| format!("invalid CEL: {error}"))?;
    // The source compiled, so it parses.
    let bound = cel_parser::Parser::default()
        .parse(source)
        .map(|expression| bound_variables(&expression))
        .unwrap_or_default();
    let references = program.references();
    if let Some(unknown) = references.variables().into_iter().find(|variable| {
        !VARIABLES.contains(variable) && !bound.iter().any(|name| name == variable)
    }) {
        return Err(format!(
            "unknown variable {unknown:?} in CEL (use {})",
            VARIABLES.join(" or ")
        ));
    }
    Ok(program)
}

pub(crate) fn audiences(
    raw: Vec<toml::Spanned<RawAudience>>,
    at: &At<'_>,
) -> Result<Audiences, ConfigError> {
    let mut list: Vec<Audience> = Vec::new();
    let empty_traits = Value::Map(Default::default());
    let empty_aggregates = Aggregates::default();
    let probe = AudienceInput {
        traits: &empty_traits,
        aggregates: &empty_aggregates,
        now: Timestamp::from_millis(0),
    };
    for raw in raw {
        let raw = raw.into_inner();
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(at(
                raw.name.span(),
                "an audience's name must not be empty".to_owned(),
            ));
        }
        if list.iter().any(|audience| audience.name == name) {
            return Err(at(
                raw.name.span(),
                format!("audience {name:?} is defined twice"),
            ));
        }
        let fit_span = raw.fit.span();
        let fit = match raw.fit.into_inner() {
            RawFit::Number(fit) if (0.0..=1.0).contains(&fit) => Fit::Constant(fit),
            RawFit::Number(fit) => {
                return Err(at(
                    fit_span,
                    format!("audience {name:?}: fit must be between 0 and 1, got {fit}"),
                ));
            }
            RawFit::Expression(source) => Fit::expression(&source).map_err(|message| {
                at(
                    fit_span.clone(),
                    format!("audience {name:?}: fit: {message}"),
                )
            })?,
        };
        let mut audience =
            Audience::new(&name, raw.condition.get_ref(), fit).map_err(|message| {
                at(
                    raw.condition.span(),
                    format!("audience {name:?}: condition: {message}"),
                )
            })?;
        audience.description = raw.description;
        // A condition that fails on an empty profile would fail for every new visitor.
        if let Err(error) = audience.evaluate(&probe) {
            return Err(at(
                raw.condition.span(),
                format!(
                    "{} on a profile without traits (guard optional traits with has(traits.x))",
                    error
                ),
            ));
        }
        list.push(audience);
    }
    Ok(Audiences { list })
}

fn number(value: &Cel) -> Option<f64> {
    match value {
        Cel::Int(n) => Some(*n as f64),
        Cel::UInt(n) => Some(*n as f64),
        Cel::Float(n) if n.is_finite() => Some(*n),
        _ => None,
    }
}

thread_local! {
    /// CEL's standard functions, registered once per thread: a context of its own per
    /// evaluation cost more than the evaluation (profiles are evaluated twice per processing
    /// step).
    static FUNCTIONS: Context<'static> = Context::default();
}

/// Runs `f` with the input's variables that `reads` names in a scope over the standard
/// functions.
fn with_context<T>(
    input: &AudienceInput<'_>,
    reads: Reads,
    f: impl FnOnce(&Context<'_>) -> T,
) -> T {
    FUNCTIONS.with(|functions| {
        let mut context = functions.new_inner_scope();
        if reads.traits {
            context.add_variable_from_value("traits", to_cel(input.traits));
        }
        if reads.aggregates != 0 {
            context.add_variable_from_value(
                "aggregates",
                aggregates_to_cel(input.aggregates, input.now, reads.aggregates),
            );
        }
        f(&context)
    })
}

/// The fields of `aggregates` a condition can read, in the order of their bits in
/// [`Reads::aggregates`].
const AGGREGATE_FIELDS: [&str; 12] = [
    "n_events",
    "n_orders",
    "revenue",
    "n_cart_adds",
    "n_checkouts",
    "n_distinct_products_viewed",
    "days_since_first_seen",
    "days_since_last_seen",
    "days_since_last_order",
    "page_counts",
    "event_counts",
    "categories_viewed",
];
const ALL_AGGREGATES: u16 = (1 << AGGREGATE_FIELDS.len()) - 1;

/// What a program reads of a profile: whether it reads `traits`, and which fields of
/// `aggregates` (a bit per [`AGGREGATE_FIELDS`] entry). An evaluation converts only those into
/// CEL values: converting every field for every profile was most of the evaluation's cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reads {
    traits: bool,
    aggregates: u16,
}

impl Reads {
    fn of(source: &str, program: &Program) -> Reads {
        // The source compiled already, so it parses; should it not, everything is read.
        let aggregates =
            cel_parser::Parser::default()
                .parse(source)
                .map_or(ALL_AGGREGATES, |expression| {
                    let mut mask = 0;
                    aggregate_fields(&expression, &mut mask);
                    mask
                });
        Reads {
            traits: program.references().has_variable("traits"),
            aggregates,
        }
    }

    fn union(self, other: Reads) -> Reads {
        Reads {
            traits: self.traits || other.traits,
            aggregates: self.aggregates | other.aggregates,
        }
    }
}

/// Adds to `mask` the `aggregates` fields that `expression` selects by name; `aggregates` used
/// any other way (indexed, passed to a function, iterated) reads every field.
fn aggregate_fields(expression: &cel_parser::Expression, mask: &mut u16) {
    use cel_parser::ast::Expr;

    walk(expression, &mut |expression| match &expression.expr {
        Expr::Select(select) => match &select.operand.expr {
            Expr::Ident(name) if name == "aggregates" => {
                // An unknown field reads nothing: it fails (or `has` is false) either way.
                if let Some(bit) = AGGREGATE_FIELDS
                    .iter()
                    .position(|field| *field == select.field)
                {
                    *mask |= 1 << bit;
                }
                false
            }
            _ => true,
        },
        Expr::Ident(name) if name == "aggregates" => {
            *mask = ALL_AGGREGATES;
            false
        }
        _ => true,
    });
}

/// The variables that macros bind in `expression` (`k` in `m.exists(k, …)`).
fn bound_variables(expression: &cel_parser::Expression) -> Vec<String> {
    let mut bound = Vec::new();
    walk(expression, &mut |expression| {
        if let cel_parser::ast::Expr::Comprehension(comprehension) = &expression.expr {
            bound.push(comprehension.iter_var.clone());
            bound.extend(comprehension.iter_var2.clone());
            bound.push(comprehension.accu_var.clone());
        }
        true
    });
    bound
}

/// Calls `visit` on `expression` and, while it returns true, on the expressions within.
fn walk(
    expression: &cel_parser::Expression,
    visit: &mut dyn FnMut(&cel_parser::Expression) -> bool,
) {
    use cel_parser::ast::{EntryExpr, Expr};

    if !visit(expression) {
        return;
    }
    match &expression.expr {
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        Expr::Select(select) => walk(&select.operand, visit),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                walk(target, visit);
            }
            for argument in &call.args {
                walk(argument, visit);
            }
        }
        Expr::Comprehension(comprehension) => {
            for part in [
                &comprehension.iter_range,
                &comprehension.accu_init,
                &comprehension.loop_cond,
                &comprehension.loop_step,
                &comprehension.result,
            ] {
                walk(part, visit);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                walk(element, visit);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    walk(&entry.key, visit);
                    walk(&entry.value, visit);
                }
            }
        }
        Expr::Struct(structure) => {
            for entry in &structure.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    walk(&field.value, visit);
                }
            }
        }
    }
}

fn to_cel(value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(flag) => Cel::Bool(*flag),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Cel::Int(*n as i64),
        Value::Number(n) => Cel::Float(*n),
        Value::String(text) => Cel::String(Arc::new(text.to_string())),
        Value::List(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Map(map) => {
            let map: HashMap<String, Cel> = map
                .iter()
                .map(|(k, v)| (k.to_string(), to_cel(v)))
                .collect();
            Cel::from(map)
        }
    }
}

fn count(n: u64) -> Cel {
    Cel::Int(saturated(n))
}

/// A count as a CEL `int`: saturated, since CEL has no unsigned counts of its own here.
fn saturated(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The fields of `aggregates` that `mask` names (bits as in [`AGGREGATE_FIELDS`]).
fn aggregates_to_cel(aggregates: &Aggregates, now: Timestamp, mask: u16) -> Cel {
    let days = |at: Option<Timestamp>| at.map_or(Cel::Null, |at| Cel::Float(at.days_until(now)));
    let counts = |pairs: &mut dyn Iterator<Item = (String, u64)>| {
        let map: HashMap<String, Cel> = pairs.map(|(k, n)| (k, count(n))).collect();
        Cel::from(map)
    };
    let mut map: HashMap<String, Cel> = HashMap::new();
    for (bit, field) in AGGREGATE_FIELDS.iter().enumerate() {
        if mask & (1 << bit) == 0 {
            continue;
        }
        let value = match *field {
            "n_events" => count(aggregates.n_events),
            "n_orders" => count(aggregates.n_orders()),
            "revenue" => Cel::Float(aggregates.revenue()),
            "n_cart_adds" => count(aggregates.n_cart_adds),
            "n_checkouts" => count(aggregates.n_checkouts),
            "n_distinct_products_viewed" => count(aggregates.n_distinct_products_viewed),
            "days_since_first_seen" => days(aggregates.first_seen),
            "days_since_last_seen" => days(aggregates.last_seen),
            "days_since_last_order" => days(aggregates.last_order_at()),
            "page_counts" => counts(
                &mut aggregates
                    .page_counts
                    .iter()
                    .map(|(k, n)| (k.as_str().to_owned(), *n)),
            ),
            "event_counts" => {
                counts(&mut aggregates.event_counts.iter().map(|(k, n)| (k.clone(), *n)))
            }
            "categories_viewed" => counts(
                &mut aggregates
                    .categories_viewed
                    .iter()
                    .map(|(k, n)| (k.clone(), *n)),
            ),
            // Every entry of AGGREGATE_FIELDS has its arm (tested).
            _ => continue,
        };
        map.insert((*field).to_owned(), value);
    }
    Cel::from(map)
}

#[cfg(test)]
mod tests;
