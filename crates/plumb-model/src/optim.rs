//! Training-step machinery: AdamW with decoupled weight decay, global-norm
//! gradient clipping, warmup + linear/cosine learning-rate schedules, and
//! gradient accumulation from externally computed upstream gradients.

use crate::error::{ModelError, Result, codes};
use crate::slices::{sum_of_squares, with_slices};
use tch::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay {
    Constant,
    Linear,
    Cosine,
}

/// Learning rate at each optimizer step: linear warmup from 0, then a decay to 0 at `total_steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub decay: Decay,
}

impl Schedule {
    pub fn constant(lr: f64) -> Self {
        Schedule { peak: lr, warmup_steps: 0, total_steps: 1, decay: Decay::Constant }
    }

    /// The rate for the update that takes the step count from `step` to `step + 1`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        match self.decay {
            Decay::Constant => self.peak,
            Decay::Linear => self.peak * (1.0 - progress),
            Decay::Cosine => self.peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (None: no clipping).
    pub max_grad_norm: Option<f64>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, max_grad_norm: Some(1.0) }
    }
}

/// One parameter and its moment estimates.
pub struct Slot {
    pub name: String,
    pub param: Tensor,
    pub m: Tensor,
    pub v: Tensor,
    /// Biases and norm weights are not decayed (the usual convention).
    pub decay: bool,
}

/// AdamW (Loshchilov & Hutter) as PyTorch's `torch.optim.AdamW` computes it.
pub struct AdamW {
    pub config: AdamWConfig,
    pub slots: Vec<Slot>,
    /// Optimizer steps taken.
    pub step: u64,
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

fn decays(name: &str, param: &Tensor) -> bool {
    param.dim() >= 2 && !name.contains("norm") && !name.contains("ln_")
}

impl AdamW {
    /// Takes the parameters (which must require gradients) by name.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        let slots = params
            .into_iter()
            .map(|(name, param)| Slot {
                decay: decays(&name, &param),
                m: param.zeros_like(),
                v: param.zeros_like(),
                name,
                param,
            })
            .collect();
        AdamW { config, slots, step: 0 }
    }

    pub fn zero_grad(&mut self) -> Result<()> {
        for slot in &self.slots {
            let grad = slot.param.grad();
            if grad.defined() {
                with_slices(&[], &[&grad], |_, w| w[0].fill(0.0))?;
            }
        }
        Ok(())
    }

    /// The global L2 norm of the accumulated gradients: per tensor a sum of
    /// squares in f64 in a fixed order, tensors added in parameter order.
    pub fn grad_norm(&self) -> Result<f64> {
        let mut total = 0.0f64;
        for slot in &self.slots {
            let grad = slot.param.grad();
            if grad.defined() {
                total += with_slices(&[&grad], &[], |r, _| sum_of_squares(r[0]))?;
            }
        }
        Ok(total.sqrt())
    }

    /// Clips, updates every parameter with learning rate `lr`, and clears the gradients.
    ///
    /// Element by element this is the f32 arithmetic of `torch.optim.AdamW`
    /// with `clip_grad_norm_` before it, each operation rounded separately
    /// (no fused multiply-adds), in one pass over each parameter instead of a
    /// dozen libtorch ops.
    pub fn step(&mut self, lr: f64) -> Result<StepReport> {
        let grad_norm = self.grad_norm()?;
        if !grad_norm.is_finite() {
            return Err(ModelError::new(
                codes::OPTION,
                format!("the gradient norm is {grad_norm} at step {}", self.step + 1),
            ));
        }
        // As torch.nn.utils.clip_grad_norm_ computes the factor.
        let clip = self.config.max_grad_norm.map_or(1.0, |max| (max / (grad_norm + 1e-6)).min(1.0));
        self.step += 1;
        let t = self.step as i32;
        let c = &self.config;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        // Scalars enter f32 arithmetic as libtorch casts them: rounded to f32 once.
        let clip_f = if clip < 1.0 { clip as f32 } else { 1.0 };
        let (beta1, one_minus_beta1) = (c.beta1 as f32, (1.0 - c.beta1) as f32);
        let (beta2, one_minus_beta2) = (c.beta2 as f32, (1.0 - c.beta2) as f32);
        let bias2_sqrt = bias2.sqrt() as f32;
        let eps = c.eps as f32;
        let step_size = (lr / bias1) as f32;
        let decayed = if c.weight_decay > 0.0 { (1.0 - lr * c.weight_decay) as f32 } else { 1.0 };
        for slot in &self.slots {
            let grad = slot.param.grad();
            if !grad.defined() {
                continue;
            }
            if grad.numel() != slot.param.numel() {
                return Err(ModelError::new(
                    codes::OPTION,
                    format!("the gradient of `{}` has the wrong size", slot.name),
                ));
            }
            let shrink = if slot.decay { decayed } else { 1.0 };
            // The same pass clears the gradient once it is read.
            with_slices(&[], &[&slot.param, &slot.m, &slot.v, &grad], |_, w| {
                let [param, m, v, grad] = w else { unreachable!("four written slices") };
                // Multiplying by 1.0 is exact, so disabled clipping and decay need no branch.
                for (((p, m), v), g) in param.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(grad.iter_mut()) {
                    let g = std::mem::take(g) * clip_f;
                    *p *= shrink;
                    *m = *m * beta1 + g * one_minus_beta1;
                    *v = *v * beta2 + (g * g) * one_minus_beta2;
                    let denom = v.sqrt() / bias2_sqrt + eps;
                    *p -= (*m / denom) * step_size;
                }
            })?;
        }
        Ok(StepReport { lr, grad_norm })
    }
}

/// `Σ (output · grad).sum()` over pairs of a model output and a gradient of
/// the same shape (detached): its backward sends each `grad` into its output,
/// i.e. adds d(objective)/d(parameters) for an objective whose gradient with
/// respect to the outputs is `grad`. `None` for no pairs.
pub fn surrogate<'a>(pairs: impl IntoIterator<Item = (&'a Tensor, &'a Tensor)>) -> Result<Option<Tensor>> {
    let mut total: Option<Tensor> = None;
    for (output, grad) in pairs {
        if output.size() != grad.size() {
            return Err(ModelError::new(
                codes::OPTION,
                format!("an upstream gradient of shape {:?} for an output of shape {:?}", grad.size(), output.size()),
            ));
        }
        let term = (output * grad.detach()).sum(tch::Kind::Float);
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    Ok(total)
}
