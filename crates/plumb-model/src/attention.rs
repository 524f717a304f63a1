//! Attention over packed tokens, where each token attends to at most two runs
//! of tokens (its sequence's shared prompt, and its own continuation up to
//! itself): Rust kernels for the forward and backward pass, run as a libtorch
//! autograd function (csrc/autograd_ops.cpp) so the rest of the network
//! keeps libtorch's autograd.
//!
//! Against padding the tokens into rows for libtorch's attention, this skips
//! the scatter into rows, the gather back, repeating K and V for grouped-query
//! heads and every padded slot. Each kernel runs on the calling thread in a
//! fixed order, so results are bitwise reproducible.

use crate::error::{ModelError, Result};
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

unsafe extern "C" {
    fn plumb_packed_attention(
        q: *const C_tensor,
        k: *const C_tensor,
        v: *const C_tensor,
        ranges: *const C_tensor,
        scale: f64,
        pairs: i64,
        forward: ForwardFn,
        backward: BackwardFn,
        error: *mut *mut std::ffi::c_char,
    ) -> *mut C_tensor;
    fn plumb_free_error(error: *mut std::ffi::c_char);
}

type ForwardFn =
    unsafe extern "C" fn(*const f32, *const f32, *const f32, *const i64, i64, i64, i64, i64, f32, *mut f32, *mut f32);
type BackwardFn = unsafe extern "C" fn(
    *const f32,
    *const f32,
    *const f32,
    *const i64,
    *const f32,
    *const f32,
    *const f32,
    i64,
    i64,
    i64,
    i64,
    f32,
    *mut f32,
    *mut f32,
    *mut f32,
);

/// Attention of packed tokens: `q` [n, heads, dim], `k` and `v` [n, kv_heads,
/// dim] (heads a multiple of kv_heads; query head h reads key head
/// h / (heads / kv_heads)), and `ranges` [n, 4] int64, where token i attends
/// to the keys `ranges[i][0]..ranges[i][1]` and `ranges[i][2]..ranges[i][3]`
/// (the second run ending at i itself, so no token attends to nothing).
/// Returns [n, heads, dim], differentiable in q, k and v.
pub fn packed_attention(q: &Tensor, k: &Tensor, v: &Tensor, ranges: &Tensor, scale: f64) -> Result<Tensor> {
    let internal = |message: String| ModelError::new("P0710", format!("packed attention: {message}"));
    let (qs, ks, vs) = (q.size(), k.size(), v.size());
    if qs.len() != 3 || ks.len() != 3 || ks != vs || ks[0] != qs[0] || ks[2] != qs[2] {
        return Err(internal(format!("shapes q {qs:?}, k {ks:?}, v {vs:?}")));
    }
    let (n, heads, kv_heads) = (qs[0], qs[1], ks[1]);
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err(internal(format!("{heads} query heads over {kv_heads} key heads")));
    }
    for t in [q, k, v] {
        if t.kind() != Kind::Float || t.device() != Device::Cpu {
            return Err(internal(format!("{:?} on {:?}; the kernels take f32 on the CPU", t.kind(), t.device())));
        }
    }
    if ranges.size() != [n, 4] || ranges.kind() != Kind::Int64 || ranges.device() != Device::Cpu {
        return Err(internal(format!("ranges {:?} {:?}", ranges.size(), ranges.kind())));
    }
    let ranges = ranges.contiguous();
    let bounds = Vec::<i64>::try_from(ranges.view([-1]))?;
    // Query-key pairs: the length of the attention weights kept for the backward pass.
    let mut pairs = 0;
    for (i, r) in bounds.chunks_exact(4).enumerate() {
        let i = i as i64;
        let valid = 0 <= r[0] && r[0] <= r[1] && r[1] <= n && 0 <= r[2] && r[2] <= i && r[3] == i + 1;
        if !valid {
            return Err(internal(format!("token {i} attends to {r:?}")));
        }
        pairs += (r[1] - r[0]) + (r[3] - r[2]);
    }
    let (q, k, v) = (q.contiguous(), k.contiguous(), v.contiguous());
    let mut error: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: the four tensors are valid for the call; the C++ side checks
    // nothing more but reads exactly the shapes validated above: f32 CPU
    // contiguous q [n, heads, dim], k and v [n, kv_heads, dim], and int64
    // ranges [n, 4] whose runs lie inside 0..n and hold `pairs` keys in all.
    // It returns a new tensor or null with an error message, freed here.
    let result = unsafe {
        plumb_packed_attention(
            q.as_ptr(),
            k.as_ptr(),
            v.as_ptr(),
            ranges.as_ptr(),
            scale,
            pairs,
            forward_kernel,
            backward_kernel,
            &mut error,
        )
    };
    // SAFETY: as the C++ side promises (see `owned`).
    unsafe { owned(result, error) }.map_err(internal)
}

/// The tensor a C++ entry point returned, or its error message.
///
/// # Safety
/// `result` is null or a tensor allocated for the caller to own; when null,
/// `error` is a NUL-terminated message allocated by the C++ side.
pub(crate) unsafe fn owned(result: *mut C_tensor, error: *mut std::ffi::c_char) -> std::result::Result<Tensor, String> {
    if result.is_null() {
        // SAFETY: the caller's promise.
        return Err(unsafe {
            let message = std::ffi::CStr::from_ptr(error).to_string_lossy().into_owned();
            plumb_free_error(error);
            message
        });
    }
    // SAFETY: the caller's promise.
    Ok(unsafe { Tensor::from_ptr(result) })
}

/// The shapes of one call, in elements.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    heads: usize,
    kv_heads: usize,
    dim: usize,
}

impl Dims {
    fn new(n: i64, heads: i64, kv_heads: i64, dim: i64) -> Self {
        Dims { n: n as usize, heads: heads as usize, kv_heads: kv_heads as usize, dim: dim as usize }
    }
    fn q(&self) -> usize {
        self.n * self.heads * self.dim
    }
    fn kv(&self) -> usize {
        self.n * self.kv_heads * self.dim
    }
}

/// # Safety
/// Pointers to buffers of the shapes [`packed_attention`] checked.
unsafe extern "C" fn forward_kernel(
    q: *const f32,
    k: *const f32,
    v: *const f32,
    ranges: *const i64,
    n: i64,
    heads: i64,
    kv_heads: i64,
    dim: i64,
    scale: f32,
    y: *mut f32,
    probs: *mut f32,
) {
    let d = Dims::new(n, heads, kv_heads, dim);
    // SAFETY: the shapes are the caller's (see above); outputs do not alias inputs.
    unsafe {
        let q = std::slice::from_raw_parts(q, d.q());
        let k = std::slice::from_raw_parts(k, d.kv());
        let v = std::slice::from_raw_parts(v, d.kv());
        let ranges = std::slice::from_raw_parts(ranges, d.n * 4);
        let y = std::slice::from_raw_parts_mut(y, d.q());
        let probs = std::slice::from_raw_parts_mut(probs, pairs(ranges) * d.heads);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return forward_avx2(q, k, v, ranges, d, scale, y, probs);
        }
        forward(q, k, v, ranges, d, scale, y, probs);
    }
}

/// The number of query-key pairs `ranges` holds.
fn pairs(ranges: &[i64]) -> usize {
    (0..ranges.len() / 4).map(|i| key_count(ranges, i)).sum()
}

/// # Safety
/// Pointers to buffers of the shapes [`packed_attention`] checked.
unsafe extern "C" fn backward_kernel(
    q: *const f32,
    k: *const f32,
    v: *const f32,
    ranges: *const i64,
    y: *const f32,
    probs: *const f32,
    dy: *const f32,
    n: i64,
    heads: i64,
    kv_heads: i64,
    dim: i64,
    scale: f32,
    dq: *mut f32,
    dk: *mut f32,
    dv: *mut f32,
) {
    let d = Dims::new(n, heads, kv_heads, dim);
    // SAFETY: as in forward_kernel; dk and dv arrive zeroed.
    unsafe {
        let q = std::slice::from_raw_parts(q, d.q());
        let k = std::slice::from_raw_parts(k, d.kv());
        let v = std::slice::from_raw_parts(v, d.kv());
        let ranges = std::slice::from_raw_parts(ranges, d.n * 4);
        let y = std::slice::from_raw_parts(y, d.q());
        let probs = std::slice::from_raw_parts(probs, pairs(ranges) * d.heads);
        let dy = std::slice::from_raw_parts(dy, d.q());
        let dq = std::slice::from_raw_parts_mut(dq, d.q());
        let dk = std::slice::from_raw_parts_mut(dk, d.kv());
        let dv = std::slice::from_raw_parts_mut(dv, d.kv());
        let grads = Grads { dq, dk, dv };
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return backward_avx2(q, k, v, ranges, y, probs, dy, d, scale, grads);
        }
        backward(q, k, v, ranges, y, probs, dy, d, scale, grads);
    }
}

struct Grads<'a> {
    dq: &'a mut [f32],
    dk: &'a mut [f32],
    dv: &'a mut [f32],
}

// The same code compiled for AVX2 with FMA. Every multiply-add is written as
// `mul_add`, which rounds once with or without the instruction, so both
// versions give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn forward_avx2(q: &[f32], k: &[f32], v: &[f32], r: &[i64], d: Dims, s: f32, y: &mut [f32], p: &mut [f32]) {
    forward(q, k, v, r, d, s, y, p);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn backward_avx2(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    r: &[i64],
    y: &[f32],
    p: &[f32],
    dy: &[f32],
    d: Dims,
    s: f32,
    g: Grads,
) {
    backward(q, k, v, r, y, p, dy, d, s, g);
}

/// The keys of token `i`: its two runs.
#[inline(always)]
fn keys(ranges: &[i64], i: usize) -> impl Iterator<Item = usize> {
    let r = &ranges[i * 4..i * 4 + 4];
    (r[0] as usize..r[1] as usize).chain(r[2] as usize..r[3] as usize)
}

fn key_count(ranges: &[i64], i: usize) -> usize {
    let r = &ranges[i * 4..i * 4 + 4];
    ((r[1] - r[0]) + (r[3] - r[2])) as usize
}

/// Σ a·b over eight lanes in a fixed order.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, w) in a_chunks.zip(b_chunks) {
        for l in 0..8 {
            lanes[l] = x[l].mul_add(w[l], lanes[l]);
        }
    }
    let mut rest = 0.0f32;
    for (x, w) in a_rest.iter().zip(b_rest) {
        rest = x.mul_add(*w, rest);
    }
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7])) + rest
}

/// out += a · x
#[inline(always)]
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o = a.mul_add(*x, *o);
    }
}

/// e^x for x ≤ 0 (or NaN), within one ulp down to x = −87 (0.99 at worst on
/// a sweep, tested below; under −87 it gives e^−87 ≈ 1.6e-38, an absolute
/// error below f32's smallest normal), by Cody–Waite reduction to
/// x = k·ln 2 + r, |r| ≤ ln 2 / 2, and Cephes' degree-5 polynomial for
/// (e^r − 1 − r) / r². Branch-free, so the loop over a slice vectorises,
/// and the same bits with or without AVX2.
#[inline(always)]
fn exp_non_positive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    // Below −87.3 the result is under f32's smallest normal; clamping keeps 2^k
    // a normal number (and a NaN stays NaN: the comparison is false).
    let x = if x < -87.0 { -87.0 } else { x };
    let k = x.mul_add(LOG2_E, ROUND) - ROUND;
    let r = k.mul_add(-LN2_HIGH, x);
    let r = k.mul_add(-LN2_LOW, r);
    let mut p = 1.987_569_1e-4_f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = p.mul_add(r, c);
    }
    let e = (r * r).mul_add(p, r) + 1.0;
    e * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward(q: &[f32], k: &[f32], v: &[f32], ranges: &[i64], d: Dims, scale: f32, y: &mut [f32], probs: &mut [f32]) {
    let (dim, group) = (d.dim, d.heads / d.kv_heads);
    let mut at_prob = 0;
    for i in 0..d.n {
        let count = key_count(ranges, i);
        for h in 0..d.heads {
            let g = h / group;
            let at = (i * d.heads + h) * dim;
            let qi = &q[at..at + dim];
            let weights = &mut probs[at_prob..at_prob + count];
            at_prob += count;
            for (w, j) in weights.iter_mut().zip(keys(ranges, i)) {
                *w = dot(qi, &k[(j * d.kv_heads + g) * dim..][..dim]) * scale;
            }
            let max = weights.iter().fold(f32::NEG_INFINITY, |m, &w| if w > m || w.is_nan() { w } else { m });
            for w in weights.iter_mut() {
                *w = exp_non_positive(*w - max);
            }
            let sum: f32 = weights.iter().sum();
            let inverse = 1.0 / sum;
            let out = &mut y[at..at + dim];
            out.fill(0.0);
            for (w, j) in weights.iter_mut().zip(keys(ranges, i)) {
                *w *= inverse;
                axpy(out, *w, &v[(j * d.kv_heads + g) * dim..][..dim]);
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    ranges: &[i64],
    y: &[f32],
    probs: &[f32],
    dy: &[f32],
    d: Dims,
    scale: f32,
    grads: Grads,
) {
    let Grads { dq, dk, dv } = grads;
    let (dim, group) = (d.dim, d.heads / d.kv_heads);
    let mut at_prob = 0;
    for i in 0..d.n {
        let count = key_count(ranges, i);
        for h in 0..d.heads {
            let g = h / group;
            let at = (i * d.heads + h) * dim;
            let (qi, dyi) = (&q[at..at + dim], &dy[at..at + dim]);
            let weights = &probs[at_prob..at_prob + count];
            at_prob += count;
            // Σ_j p_j (dy · v_j) = dy · y
            let total = dot(dyi, &y[at..at + dim]);
            let dqi = &mut dq[at..at + dim];
            dqi.fill(0.0);
            for (&p, j) in weights.iter().zip(keys(ranges, i)) {
                let kv_at = (j * d.kv_heads + g) * dim;
                let (kj, vj) = (&k[kv_at..kv_at + dim], &v[kv_at..kv_at + dim]);
                let ds = p * (dot(dyi, vj) - total) * scale;
                axpy(dqi, ds, kj);
                axpy(&mut dk[kv_at..kv_at + dim], ds, qi);
                axpy(&mut dv[kv_at..kv_at + dim], p, dyi);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The documented accuracy of `exp_non_positive`, on a fine sweep of [−87, 0].
    #[test]
    fn exp_is_within_one_ulp() {
        let mut worst = 0.0f64;
        for step in 0..=2_000_000u32 {
            let x = -87.0f32 * step as f32 / 2_000_000.0;
            let want = f64::from(x).exp();
            let nearest = want as f32;
            let ulp = f64::from(f32::from_bits(nearest.to_bits() + 1) - nearest);
            worst = worst.max((f64::from(super::exp_non_positive(x)) - want).abs() / ulp);
        }
        assert!(worst <= 1.0, "{worst} ulp");
        assert!(super::exp_non_positive(f32::NAN).is_nan());
        assert_eq!(super::exp_non_positive(0.0), 1.0);
    }
}
