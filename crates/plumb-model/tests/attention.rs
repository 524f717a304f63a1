//! Packed attention (Rust kernels inside a libtorch autograd function)
//! against softmax attention written out in f64 libtorch ops, values and
//! gradients, on random shapes and key runs; the models with it against the
//! same models with libtorch's attention on padded rows; and bad inputs as
//! errors.

use plumb_model::attention::packed_attention;
use plumb_model::lm::{Inputs, Packed};
use plumb_model::{Model, Sequence};
use proptest::prelude::*;
use std::path::Path;
use tch::{Kind, Tensor};

/// softmax(q·kᵀ·scale over the allowed keys)·v in f64, query head h reading
/// key head h / (heads / kv_heads). q [n, heads, dim], k and v [n, kv_heads, dim].
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, ranges: &[[i64; 4]], scale: f64) -> Tensor {
    let (n, heads, kv_heads) = (q.size()[0], q.size()[1], k.size()[1]);
    let mut allowed = vec![false; (n * n) as usize];
    for (i, r) in ranges.iter().enumerate() {
        for j in (r[0]..r[1]).chain(r[2]..r[3]) {
            allowed[i * n as usize + j as usize] = true;
        }
    }
    let allowed = Tensor::from_slice(&allowed).view([1, n, n]);
    let repeat = heads / kv_heads;
    let k = k.repeat_interleave_self_int(repeat, 1, None).transpose(0, 1);
    let v = v.repeat_interleave_self_int(repeat, 1, None).transpose(0, 1);
    let scores = q.transpose(0, 1).matmul(&k.transpose(1, 2)) * scale;
    let scores = scores.masked_fill(&allowed.logical_not(), f64::NEG_INFINITY);
    scores.softmax(-1, Kind::Double).matmul(&v).transpose(0, 1)
}

fn random(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (Kind::Double, tch::Device::Cpu))
}

/// Largest |a − b| over the largest |b| (or 1, for outputs that cancel to
/// nearly nothing: gradients through a softmax are differences of terms of
/// the inputs' size, so their f32 rounding is relative to that, not to them).
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(Kind::Double);
    let scale = b.abs().max().double_value(&[]).max(1.0);
    (a - b).abs().max().double_value(&[]) / scale
}

fn ranges_strategy() -> impl Strategy<Value = Vec<[i64; 4]>> {
    (1usize..40).prop_flat_map(|n| {
        proptest::collection::vec((any::<u16>(), any::<u16>(), any::<u16>()), n).prop_map(|draws| {
            draws
                .iter()
                .enumerate()
                .map(|(i, &(b, a, len))| {
                    let i = i as i64;
                    let own_from = i64::from(b) % (i + 1);
                    // A shared run before the own run, or none.
                    let shared_from = i64::from(a) % (own_from + 1);
                    let shared_to = (shared_from + i64::from(len) % 8).min(own_from);
                    [shared_from, shared_to, own_from, i + 1]
                })
                .collect()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn packed_attention_matches_softmax_attention_and_its_gradients(
        ranges in ranges_strategy(),
        (heads, kv_heads) in prop_oneof![Just((1i64, 1i64)), Just((4, 2)), Just((3, 3)), Just((6, 2))],
        dim in prop_oneof![Just(1i64), Just(3), Just(8), Just(24)],
        seed in 0i64..1000,
    ) {
        let n = ranges.len() as i64;
        let scale = 1.0 / (dim as f64).sqrt();
        let q64 = random(&[n, heads, dim], seed).set_requires_grad(true);
        let k64 = random(&[n, kv_heads, dim], seed + 1).set_requires_grad(true);
        let v64 = random(&[n, kv_heads, dim], seed + 2).set_requires_grad(true);
        let upstream = random(&[n, heads, dim], seed + 3);
        let want = reference(&q64, &k64, &v64, &ranges, scale);
        (&want * &upstream).sum(Kind::Double).backward();

        let leaf = |t: &Tensor| t.detach().to_kind(Kind::Float).set_requires_grad(true);
        let (q, k, v) = (leaf(&q64), leaf(&k64), leaf(&v64));
        let flat: Vec<i64> = ranges.iter().flatten().copied().collect();
        let got = packed_attention(&q, &k, &v, &Tensor::from_slice(&flat).view([n, 4]), scale).unwrap();
        (&got * upstream.to_kind(Kind::Float)).sum(Kind::Float).backward();

        let pairs = [("y", got.detach(), want.detach()), ("dq", q.grad(), q64.grad()), ("dk", k.grad(), k64.grad()), ("dv", v.grad(), v64.grad())];
        for (name, ours, theirs) in pairs {
            let error = relative_error(&ours, &theirs);
            prop_assert!(error < 2e-5, "{}: relative error {} (n {}, heads {}/{}, dim {})", name, error, n, heads, kv_heads, dim);
        }
        // Bitwise the same on a second run.
        let again = packed_attention(&q, &k, &v, &Tensor::from_slice(&flat).view([n, 4]), scale).unwrap();
        prop_assert!(again.equal(&got.detach()));
    }
}

fn fixture(name: &str) -> Model {
    Model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

/// Rows sharing prompts, with continuations of several lengths, and a
/// prompt alone.
fn rows(model: &Model) -> Vec<Sequence> {
    let mut rows = Vec::new();
    for (p, prompt) in ["The movie was", "Service at the cafe", "A"].iter().enumerate() {
        for completion in [" great fun", " slow and cold, sadly", " fine"] {
            rows.push(model.tokenize(prompt, &format!("{completion}{}", " ok".repeat(p)), "row").unwrap());
        }
    }
    rows.push(Sequence { prompt: rows[0].prompt.clone(), completion: Vec::new() });
    rows
}

#[test]
fn models_with_packed_attention_match_padded_attention_in_values_and_gradients() {
    for name in ["llama", "gpt2", "llama-reward"] {
        let mut model = fixture(name);
        model.set_trainable(true);
        let params: Vec<Tensor> = model.parameters().into_iter().map(|(_, p)| p).collect();
        let packed = Packed::new(&rows(&model), Inputs::All);
        let ours = packed.hidden(&model).unwrap();
        let theirs = packed.hidden_padded(&model).unwrap();
        assert!(relative_error(&ours.detach(), &theirs.detach().to_kind(Kind::Double)) < 1e-5, "{name}: hidden states");
        let weights = random(&ours.size(), 7).to_kind(Kind::Float);
        let grads =
            |hidden: &Tensor| Tensor::run_backward(&[(hidden * &weights).sum(Kind::Float)], &params, false, false);
        for (i, (a, b)) in grads(&ours).iter().zip(grads(&theirs)).enumerate() {
            assert_eq!(a.defined(), b.defined(), "{name}: parameter {i}");
            if !a.defined() {
                continue; // not on the path to the hidden states (a head)
            }
            let error = relative_error(a, &b.to_kind(Kind::Double));
            assert!(error < 1e-4, "{name}: parameter {i} gradient off by {error} of its largest");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let q = Tensor::zeros([3, 2, 4], (Kind::Float, tch::Device::Cpu));
    let kv = Tensor::zeros([3, 1, 4], (Kind::Float, tch::Device::Cpu));
    let ranges = |r: &[i64]| Tensor::from_slice(r).view([3, 4]);
    let good = ranges(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 1, 3]);
    assert!(packed_attention(&q, &kv, &kv, &good, 0.5).is_ok());
    let cases: Vec<(&str, Tensor, Tensor, Tensor)> = vec![
        (
            "a run that does not end at the token",
            q.shallow_clone(),
            kv.shallow_clone(),
            ranges(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3]),
        ),
        ("a run past the tokens", q.shallow_clone(), kv.shallow_clone(), ranges(&[0, 9, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])),
        (
            "a run that starts after it ends",
            q.shallow_clone(),
            kv.shallow_clone(),
            ranges(&[0, 0, 1, 1, 0, 0, 0, 2, 2, 1, 0, 3]),
        ),
        ("f64", q.to_kind(Kind::Double), kv.to_kind(Kind::Double), good.shallow_clone()),
        (
            "heads not a multiple",
            Tensor::zeros([3, 3, 4], (Kind::Float, tch::Device::Cpu)),
            Tensor::zeros([3, 2, 4], (Kind::Float, tch::Device::Cpu)),
            good.shallow_clone(),
        ),
        (
            "head sizes differ",
            q.shallow_clone(),
            Tensor::zeros([3, 1, 5], (Kind::Float, tch::Device::Cpu)),
            good.shallow_clone(),
        ),
    ];
    for (what, q, kv, ranges) in cases {
        let error = packed_attention(&q, &kv, &kv, &ranges, 0.5).expect_err(what);
        assert_eq!(error.code, "P0710", "{what}: {error}");
    }
}
