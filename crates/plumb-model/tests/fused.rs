//! The fused rotary embeddings and RMSNorm against the libtorch ops they
//! replace: RoPE bit for bit (values and gradients), RMSNorm within f32
//! rounding of an f64 reference, on random shapes; bad inputs as errors.

use plumb_model::fused::{rms_norm, rope};
use proptest::prelude::*;
use tch::{Kind, Tensor};

fn random(shape: &[i64], seed: i64, kind: Kind) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (kind, tch::Device::Cpu))
}

fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    Tensor::cat(&[-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1)
}

fn bits(t: &Tensor) -> Vec<u32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap().iter().map(|x| x.to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn rope_is_bitwise_the_libtorch_ops_forward_and_backward(
        leading in prop_oneof![Just(vec![7i64]), Just(vec![3, 5]), Just(vec![1])],
        heads in 1i64..5,
        half in 1i64..13,
        seed in 0i64..1000,
    ) {
        let dim = 2 * half;
        let mut shape = leading.clone();
        shape.extend([heads, dim]);
        let mut angle_shape = leading.clone();
        angle_shape.extend([1, dim]);
        let angles = random(&angle_shape, seed, Kind::Float) * 3.0;
        let (cos, sin) = (angles.cos(), angles.sin());
        let upstream = random(&shape, seed + 1, Kind::Float);
        let x = random(&shape, seed + 2, Kind::Float).set_requires_grad(true);
        let theirs = &x * &cos + rotate_half(&x) * &sin;
        let their_grad = Tensor::run_backward(&[(&theirs * &upstream).sum(Kind::Float)], &[&x], false, false);
        let ours = rope(&x, &cos, &sin).unwrap();
        let our_grad = Tensor::run_backward(&[(&ours * &upstream).sum(Kind::Float)], &[&x], false, false);
        prop_assert_eq!(bits(&ours), bits(&theirs));
        prop_assert_eq!(bits(&our_grad[0]), bits(&their_grad[0]));
    }

    #[test]
    fn rms_norm_matches_an_f64_reference_in_values_and_gradients(
        leading in prop_oneof![Just(vec![9i64]), Just(vec![2, 7]), Just(vec![1])],
        width in 1i64..100,
        seed in 0i64..1000,
    ) {
        let eps = 1e-6;
        let mut shape = leading.clone();
        shape.push(width);
        let x64 = (random(&shape, seed, Kind::Double) * 3.0).set_requires_grad(true);
        let w64 = random(&[width], seed + 1, Kind::Double).set_requires_grad(true);
        let upstream = random(&shape, seed + 2, Kind::Double);
        let reference = &w64 * (&x64 * (x64.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Double) + eps).rsqrt());
        let want = Tensor::run_backward(&[(&reference * &upstream).sum(Kind::Double)], &[&x64, &w64], false, false);
        let leaf = |t: &Tensor| t.detach().to_kind(Kind::Float).set_requires_grad(true);
        let (x, w) = (leaf(&x64), leaf(&w64));
        let ours = rms_norm(&x, &w, eps).unwrap();
        let got = Tensor::run_backward(&[(&ours * upstream.to_kind(Kind::Float)).sum(Kind::Float)], &[&x, &w], false, false);
        let outputs = [("y", ours.detach(), reference.detach()), ("dx", got[0].shallow_clone(), want[0].shallow_clone()), ("dw", got[1].shallow_clone(), want[1].shallow_clone())];
        for (name, a, b) in outputs {
            let scale = b.abs().max().double_value(&[]).max(1.0);
            let error = (a.to_kind(Kind::Double) - &b).abs().max().double_value(&[]) / scale;
            prop_assert!(error < 1e-5, "{}: relative error {} (shape {:?})", name, error, shape);
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let f = |shape: &[i64]| Tensor::zeros(shape, (Kind::Float, tch::Device::Cpu));
    let d = |shape: &[i64]| Tensor::zeros(shape, (Kind::Double, tch::Device::Cpu));
    for (what, result) in [
        ("odd head size", rope(&f(&[2, 3, 5]), &f(&[2, 1, 5]), &f(&[2, 1, 5]))),
        ("angles of another shape", rope(&f(&[2, 3, 4]), &f(&[3, 1, 4]), &f(&[3, 1, 4]))),
        ("f64", rope(&d(&[2, 3, 4]), &d(&[2, 1, 4]), &d(&[2, 1, 4]))),
        ("one dimension", rope(&f(&[4]), &f(&[4]), &f(&[4]))),
        ("weight of another width", rms_norm(&f(&[2, 3]), &f(&[4]), 1e-6)),
        ("rms f64", rms_norm(&d(&[2, 3]), &d(&[3]), 1e-6)),
    ] {
        assert_eq!(result.expect_err(what).code, "P0710", "{what}");
    }
}
