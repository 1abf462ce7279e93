//! Maximum likelihood with argmin's L-BFGS on log-parameters.

use std::cell::RefCell;
use std::time::Instant;

use argmin::core::{
    CostFunction, Error as ArgminError, Executor, Gradient, State, TerminationReason,
    TerminationStatus,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::{BtydError, FitOptions};

/// A smooth objective: the mean negative log-likelihood per customer as a function of the
/// logarithms of the parameters, with its gradient.
pub(crate) trait Objective {
    /// Writes the gradient to `grad` and returns the value; non-finite when undefined.
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64;

    /// [`Objective::eval`], giving up (with a non-finite value) once `deadline` has passed:
    /// objectives whose one evaluation can take long check it as they go.
    fn eval_until(&self, theta: &[f64], grad: &mut [f64], deadline: Option<Instant>) -> f64 {
        let _ = deadline;
        self.eval(theta, grad)
    }
}

/// Whether `deadline` (none: no limit) has passed.
pub(crate) fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| Instant::now() >= deadline)
}

/// The point the optimiser stopped at.
pub(crate) struct Minimum {
    pub(crate) theta: Vec<f64>,
    pub(crate) value: f64,
    pub(crate) iterations: u64,
}

/// A point, the value there and the gradient there.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// Remembers the last evaluation: argmin asks for the cost and the gradient separately,
/// mostly at the same point, and each evaluation computes both.
struct Problem<'a, O> {
    objective: &'a O,
    last: RefCell<Option<Evaluation>>,
    /// Past it, every point is outside the region (a wall), and the line search gives up.
    deadline: Option<Instant>,
}

impl<O: Objective> Problem<'_, O> {
    fn eval(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((at, value, grad)) = self.last.borrow().as_ref()
            && at.as_slice() == theta
        {
            return (*value, grad.clone());
        }
        let mut grad = vec![0.0; theta.len()];
        let mut value = if past(self.deadline) {
            f64::NAN
        } else {
            self.objective.eval_until(theta, &mut grad, self.deadline)
        };
        if !value.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            // Outside the region where the likelihood can be computed: argmin's line search
            // rejects non-finite values, so report a steep wall instead.
            value = f64::MAX.sqrt();
            grad.iter_mut()
                .zip(theta)
                .for_each(|(g, t)| *g = t.signum());
        }
        *self.last.borrow_mut() = Some((theta.to_vec(), value, grad.clone()));
        (value, grad)
    }
}

impl<O: Objective> CostFunction for Problem<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Vec<f64>) -> Result<f64, ArgminError> {
        Ok(self.eval(theta).0)
    }
}

impl<O: Objective> Gradient for Problem<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, ArgminError> {
        Ok(self.eval(theta).1)
    }
}

/// Minimises `objective` from `theta0`. L-BFGS restarts (with a fresh memory) from the best
/// point when its line search gives up before the gradient is small; the fit fails when the
/// iterations run out first.
pub(crate) fn minimize<O: Objective>(
    model: &'static str,
    objective: &O,
    theta0: Vec<f64>,
    options: &FitOptions,
) -> Result<Minimum, BtydError> {
    if !(options.gradient_tolerance.is_finite() && options.gradient_tolerance > 0.0) {
        return Err(BtydError::InvalidParameter {
            name: "gradient_tolerance",
            reason: "must be positive and finite",
        });
    }
    let mut theta = theta0;
    // Changes of the cost below this are rounding noise of a sum over many rows; near the
    // optimum the line search cannot see the decrease it looks for any more.
    let cost_noise = {
        let mut grad = vec![0.0; theta.len()];
        1e-15 * objective.eval(&theta, &mut grad).abs().max(1.0)
    };
    let started = Instant::now();
    let deadline = options.time_limit.map(|limit| started + limit);
    let mut iterations = 0u64;
    let mut reason = String::from("no iteration allowed");
    let mut norm = f64::INFINITY;
    for _restart in 0..5 {
        let remaining = options.max_iterations.saturating_sub(iterations);
        if remaining == 0 {
            break;
        }
        let problem = Problem {
            objective,
            last: RefCell::new(None),
            deadline,
        };
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(options.gradient_tolerance)
            .and_then(|s| s.with_tolerance_cost(cost_noise))
            .map_err(|e| optimizer_error(model, iterations, &e))?;
        let run = Executor::new(problem, solver)
            .configure(|state| state.param(theta.clone()).max_iters(remaining))
            .timer(false)
            .run();
        let timed_out = |iterations| BtydError::TimedOut {
            model,
            seconds: started.elapsed().as_secs_f64(),
            iterations,
        };
        let result = match run {
            Ok(result) => result,
            // The walls past the deadline can make the line search fail.
            Err(_) if past(deadline) => return Err(timed_out(iterations)),
            Err(e) => return Err(optimizer_error(model, iterations, &e)),
        };
        let state = result.state();
        iterations += state.get_iter().max(1);
        if past(deadline) {
            return Err(timed_out(iterations));
        }
        if let Some(best) = state.get_best_param() {
            theta.clone_from(best);
        }
        let mut grad = vec![0.0; theta.len()];
        let value = objective.eval(&theta, &mut grad);
        norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        let stalled = matches!(
            state.get_termination_status(),
            TerminationStatus::Terminated(TerminationReason::SolverConverged)
        );
        // A cost stall is convergence when the gradient is nearly at the tolerance as well.
        let limit = if stalled { 100.0 } else { 1.0 } * options.gradient_tolerance;
        if value.is_finite() && norm < limit {
            return Ok(Minimum {
                theta,
                value,
                iterations,
            });
        }
        reason = if stalled {
            format!(
                "the likelihood stopped improving before its gradient vanished, at parameters \
                 [{}]; the maximum may lie on the boundary (a parameter going to 0 or \
                 infinity)",
                theta
                    .iter()
                    .map(|t| format!("{:.4e}", t.exp()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            match state.get_termination_status() {
                TerminationStatus::Terminated(reason) => reason.text().to_string(),
                TerminationStatus::NotTerminated => "not terminated".to_string(),
            }
        };
    }
    Err(BtydError::NotConverged {
        model,
        iterations,
        gradient_norm: norm,
        reason,
    })
}

fn optimizer_error(model: &'static str, iterations: u64, e: &ArgminError) -> BtydError {
    BtydError::NotConverged {
        model,
        iterations,
        gradient_norm: f64::NAN,
        reason: e.to_string(),
    }
}

/// Standard errors of the parameters from the observed information: the Hessian of the
/// total log-likelihood in the natural parameters, by central differences of the analytic
/// gradient, inverted. `grad_natural` returns the gradient of the *total* log-likelihood.
pub(crate) fn standard_errors<const N: usize>(
    params: [f64; N],
    grad_natural: impl Fn(&[f64; N]) -> [f64; N],
) -> Option<[f64; N]> {
    let mut hessian = [[0.0; N]; N];
    for j in 0..N {
        let h = 1e-5 * params[j].abs().max(1e-8);
        let (mut up, mut down) = (params, params);
        up[j] += h;
        down[j] -= h;
        let (gu, gd) = (grad_natural(&up), grad_natural(&down));
        for i in 0..N {
            hessian[i][j] = (gu[i] - gd[i]) / (2.0 * h);
        }
    }
    // Information = −H (symmetrised); invert by Gauss-Jordan with partial pivoting.
    let mut m = [[0.0; N]; N];
    let mut inv = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..N {
            m[i][j] = -0.5 * (hessian[i][j] + hessian[j][i]);
        }
        inv[i][i] = 1.0;
    }
    for col in 0..N {
        let pivot = (col..N).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let p = m[col][col];
        for j in 0..N {
            m[col][j] /= p;
            inv[col][j] /= p;
        }
        for row in 0..N {
            if row != col {
                let f = m[row][col];
                for j in 0..N {
                    m[row][j] -= f * m[col][j];
                    inv[row][j] -= f * inv[col][j];
                }
            }
        }
    }
    let mut se = [0.0; N];
    for i in 0..N {
        if inv[i][i].is_nan() || inv[i][i] <= 0.0 {
            return None;
        }
        se[i] = inv[i][i].sqrt();
    }
    Some(se)
}
