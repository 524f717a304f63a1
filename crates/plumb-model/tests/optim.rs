//! AdamW's one-pass update against the same arithmetic written as libtorch
//! ops and against the closed form of a first step; the gradient
//! norm against its definition; and the slice views' refusals.

use plumb_model::slices::{sum_of_squares, with_slices};
use plumb_model::{AdamW, AdamWConfig};
use tch::{Device, Kind, Tensor};

/// `shape`'s worth of values in about [-2, 2) from a seeded generator of this
/// test's own (libtorch's global one is shared by tests running in parallel).
fn seeded(shape: &[i64], seed: i64) -> Tensor {
    let mut state = seed as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let values: Vec<f32> = (0..shape.iter().product::<i64>())
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    Tensor::from_slice(&values).view(shape)
}

/// Seeded parameters: a decayed matrix, an undecayed norm weight, and a bias.
fn params(seed: i64) -> Vec<(String, Tensor)> {
    [("layers.0.mlp.up.weight", vec![7, 5]), ("layers.0.input_layernorm.weight", vec![5]), ("score.bias", vec![3])]
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| (name.to_string(), seeded(&shape, seed * 10 + i as i64).set_requires_grad(true)))
        .collect()
}

/// Gives every parameter the gradient `scale · seeded` through a backward of Σ p · g.
fn set_grads(params: &[(String, Tensor)], seed: i64, scale: f64) {
    let mut total: Option<Tensor> = None;
    for (i, (_, p)) in params.iter().enumerate() {
        let g = seeded(&p.size(), seed * 10 + i as i64) * scale;
        let term = (p * g).sum(Kind::Float);
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    total.unwrap().backward();
}

/// The update as separate libtorch ops, as `torch.optim.AdamW` and
/// `clip_grad_norm_` compute it, given the step's gradient norm.
fn reference_step(
    params: &[(String, Tensor)],
    m: &mut [Tensor],
    v: &mut [Tensor],
    config: &AdamWConfig,
    step: i32,
    lr: f64,
    grad_norm: f64,
) {
    let clip = config.max_grad_norm.map_or(1.0, |max| (max / (grad_norm + 1e-6)).min(1.0));
    let bias1 = 1.0 - config.beta1.powi(step);
    let bias2 = 1.0 - config.beta2.powi(step);
    tch::no_grad(|| {
        for (i, (name, param)) in params.iter().enumerate() {
            let grad = param.grad();
            let grad = if clip < 1.0 { &grad * clip } else { grad.shallow_clone() };
            if param.dim() >= 2 && !name.contains("norm") && config.weight_decay > 0.0 {
                let _ = param.shallow_clone().g_mul_scalar_(1.0 - lr * config.weight_decay);
            }
            let _ = m[i].g_mul_scalar_(config.beta1);
            let _ = m[i].g_add_(&(&grad * (1.0 - config.beta1)));
            let _ = v[i].g_mul_scalar_(config.beta2);
            let _ = v[i].g_add_(&(grad.square() * (1.0 - config.beta2)));
            let denom = v[i].sqrt() / bias2.sqrt() + config.eps;
            let update = (&m[i] / &denom) * (lr / bias1);
            let _ = param.shallow_clone().g_sub_(&update);
            let _ = param.grad().zero_();
        }
    });
}

fn shallow(params: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    params.iter().map(|(n, p)| (n.clone(), p.shallow_clone())).collect()
}

fn bits(t: &Tensor) -> Vec<u32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap().into_iter().map(f32::to_bits).collect()
}

#[test]
fn one_pass_adamw_is_the_libtorch_arithmetic() {
    for (config, grad_scale) in [
        (AdamWConfig { weight_decay: 0.01, ..AdamWConfig::default() }, 3.0), // clipped
        (AdamWConfig { weight_decay: 0.0, max_grad_norm: None, ..AdamWConfig::default() }, 0.01),
        (AdamWConfig { beta1: 0.8, beta2: 0.95, eps: 1e-6, weight_decay: 0.1, max_grad_norm: Some(100.0) }, 1.0),
    ] {
        let ours = params(1);
        let theirs = params(1);
        let mut optimizer = AdamW::new(shallow(&ours), config.clone());
        let mut m: Vec<Tensor> = theirs.iter().map(|(_, p)| p.zeros_like()).collect();
        let mut v: Vec<Tensor> = theirs.iter().map(|(_, p)| p.zeros_like()).collect();
        for step in 1..=4 {
            let lr = 1e-2 / f64::from(step);
            set_grads(&ours, 10 + i64::from(step), grad_scale);
            set_grads(&theirs, 10 + i64::from(step), grad_scale);
            let report = optimizer.step(lr).unwrap();
            reference_step(&theirs, &mut m, &mut v, &config, step, lr, report.grad_norm);
            for (i, ((name, a), (_, b))) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(bits(&optimizer.slots[i].m), bits(&m[i]), "m of {name} after step {step} ({config:?})");
                assert_eq!(bits(&optimizer.slots[i].v), bits(&v[i]), "v of {name} after step {step} ({config:?})");
                // libtorch's f32 sqrt is MKL's vsSqrt in high-accuracy mode, not
                // always correctly rounded; ours is IEEE's. Everything else is
                // the same operation by operation, so m and v agree bit for bit
                // and the weights (all below 2.2 in size) within an ulp of 2 per step.
                let worst = (a - b).abs().max().double_value(&[]);
                assert!(worst <= f64::from(step) * 2.4e-7, "{name} after step {step}: {worst} apart ({config:?})");
                assert!(a.grad().abs().max().double_value(&[]) == 0.0, "the step clears the gradients");
            }
        }
    }
}

#[test]
fn a_first_step_moves_each_weight_by_the_learning_rate_against_its_gradient() {
    // After one step from zero moments, m̂ = g and v̂ = g², so the update is
    // lr · g / (|g| + ε) ≈ lr · sign(g), whatever the gradient's size.
    let ours = params(2);
    let before: Vec<Vec<f32>> = ours.iter().map(|(_, p)| Vec::<f32>::try_from(p.flatten(0, -1)).unwrap()).collect();
    set_grads(&ours, 3, 0.05);
    let grads: Vec<Vec<f32>> =
        ours.iter().map(|(_, p)| Vec::<f32>::try_from(p.grad().flatten(0, -1)).unwrap()).collect();
    let norm = grads.iter().flatten().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt();
    let config = AdamWConfig { weight_decay: 0.0, max_grad_norm: None, ..AdamWConfig::default() };
    let lr = 1e-3;
    let report = AdamW::new(shallow(&ours), config).step(lr).unwrap();
    assert!((report.grad_norm - norm).abs() <= 1e-12 * norm, "{} vs {norm}", report.grad_norm);
    for (((_, p), before), grads) in ours.iter().zip(&before).zip(&grads) {
        let after = Vec::<f32>::try_from(p.flatten(0, -1)).unwrap();
        for ((a, b), g) in after.iter().zip(before).zip(grads) {
            let g = f64::from(*g);
            let want = f64::from(*b) - lr * g / (g.abs() + 1e-8);
            assert!((f64::from(*a) - want).abs() < 1e-6, "{a} vs {want}");
        }
    }
}

#[test]
fn sums_of_squares_are_exact_enough_and_fixed_in_order() {
    let values: Vec<f32> = (0..1001).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
    let exact: f64 = values.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let got = sum_of_squares(&values);
    assert!((got - exact).abs() <= 1e-12 * exact);
    assert_eq!(got.to_bits(), sum_of_squares(&values).to_bits());
    assert_eq!(sum_of_squares(&[]), 0.0);
}

#[test]
fn slice_views_refuse_what_they_cannot_show_safely() {
    let t = Tensor::ones([4, 3], (Kind::Float, Device::Cpu));
    let err = |r: plumb_model::Result<()>| r.unwrap_err().message;
    assert!(err(with_slices(&[], &[&t, &t.shallow_clone()], |_, _| ())).contains("two views"));
    assert!(err(with_slices(&[&t.narrow(0, 1, 2)], &[&t], |_, _| ())).contains("two views"));
    assert!(err(with_slices(&[&t.tr()], &[], |_, _| ())).contains("not contiguous"));
    assert!(err(with_slices(&[&t.to_kind(Kind::Double)], &[], |_, _| ())).contains("not f32"));
    // Distinct tensors, and shared reads, are fine.
    let u = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    with_slices(&[&t, &t], &[&u], |r, w| {
        w[0][1] = r[0].iter().sum::<f32>() + r[1][0];
    })
    .unwrap();
    assert_eq!(Vec::<f32>::try_from(&u).unwrap(), vec![0.0, 13.0]);
    let empty = Tensor::zeros([0], (Kind::Float, Device::Cpu));
    assert_eq!(with_slices(&[&empty], &[], |r, _| r[0].len()).unwrap(), 0);
}
