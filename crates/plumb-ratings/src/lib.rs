//! Preference models over items: Bradley–Terry (logit), Thurstone (probit),
//! Davidson ties and Plackett–Luce over rankings, fitted by maximum likelihood
//! (Newton with a dense Cholesky on the reduced Hessian and a backtracking line
//! search), with standard errors from the observed information and seeded
//! bootstrap percentile intervals. See docs/ratings.md.

pub mod data;
mod fit;
pub mod graphs;
mod linalg;

pub use data::{Dataset, Observations, PairRow, load, parse_csv, parse_rankings};
pub use fit::{MAX_DENSE, bootstrap, bootstrap_with_progress, fit};

/// A coded error (`P06xx`) with a message that names the file and line where one applies.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingsError {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for RatingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RatingsError {}

/// The preference model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Bradley–Terry: P(a beats b) = σ(θa − θb).
    BradleyTerry,
    /// Thurstone case V: P(a beats b) = Φ(θa − θb).
    Thurstone,
    /// Davidson: P(a) ∝ πa, P(tie) ∝ ν·sqrt(πa πb), with π = exp θ.
    Davidson,
    /// Plackett–Luce over rankings (best first).
    PlackettLuce,
}

/// How ties count in a Bradley–Terry or Thurstone fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ties {
    /// Ties are dropped.
    #[default]
    Ignore,
    /// Each tie is half a win for each side.
    Half,
}

/// Options of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub model: Model,
    /// Adds (λ/2)·Σθ² to the negative log-likelihood.
    pub l2: f64,
    /// The item fixed at 0 (by index); `None`: abilities sum to zero.
    pub reference: Option<usize>,
    pub ties: Ties,
    /// Stop when no ability moves by this much in a Newton step.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Evaluate each Newton iteration's per-pair (Bradley–Terry, Thurstone,
    /// Davidson) or per-position (Plackett–Luce) terms as fused f64 kernels
    /// (`graphs::pair_terms`, `graphs::ranking_weights`/`ranking_stages` on the
    /// CPU backend): the default. `false` runs the equivalent native loops,
    /// which the tests compare against.
    pub kernels: bool,
    /// Where those kernels run.
    pub backend: Backend,
}

/// Where a fit's kernels run (the Newton steps, the dense Hessian and the
/// standard errors stay on the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// The CPU backend's f64 kernels on all cores.
    #[default]
    Cpu,
    /// The GPU backend's f64 kernels: needs this crate's `gpu` feature and a
    /// device with 64-bit floats and integers in shaders, else error P0611.
    Gpu,
}

impl Options {
    pub fn new(model: Model) -> Options {
        Options {
            model,
            l2: 0.0,
            reference: None,
            ties: Ties::Ignore,
            tolerance: 1e-8,
            max_iterations: 200,
            kernels: true,
            backend: Backend::Cpu,
        }
    }
}

/// The result of a fit; vectors are indexed like `Dataset::items`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub abilities: Vec<f64>,
    /// Standard errors from the observed information (penalised when λ > 0), under the same constraint.
    pub se: Vec<f64>,
    /// Σ log P(observed outcome), prior excluded.
    pub loglik: f64,
    pub iterations: usize,
    /// Davidson's ν.
    pub tie_param: Option<f64>,
}

/// Bootstrap percentile intervals, per item.
#[derive(Clone, Debug, PartialEq)]
pub struct Intervals {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}
