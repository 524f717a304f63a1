//! Rotary position embeddings and RMSNorm as one op each: Rust kernels for
//! the forward and backward pass, run as libtorch autograd functions
//! (csrc/autograd_ops.cpp), instead of half a dozen small libtorch ops (and
//! their backward nodes) per use. Each kernel runs on the calling thread in a
//! fixed order. RoPE computes exactly libtorch's products and sums, so it is
//! bitwise the op-by-op version; RMSNorm's mean of squares sums in its own
//! order, so it agrees to f32 rounding.

use crate::attention::owned;
use crate::error::{ModelError, Result};
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

unsafe extern "C" {
    fn plumb_rope(
        x: *const C_tensor,
        cos: *const C_tensor,
        sin: *const C_tensor,
        kernel: RopeFn,
        error: *mut *mut std::ffi::c_char,
    ) -> *mut C_tensor;
    fn plumb_rms_norm(
        x: *const C_tensor,
        weight: *const C_tensor,
        eps: f64,
        forward: RmsForwardFn,
        backward: RmsBackwardFn,
        error: *mut *mut std::ffi::c_char,
    ) -> *mut C_tensor;
}

type RopeFn = unsafe extern "C" fn(*const f32, *const f32, *const f32, i64, i64, i64, i64, *mut f32);
type RmsForwardFn = unsafe extern "C" fn(*const f32, *const f32, i64, i64, f32, *mut f32, *mut f32);
type RmsBackwardFn = unsafe extern "C" fn(*const f32, *const f32, *const f32, *const f32, i64, i64, *mut f32, *mut f32);

fn error(what: &str, message: String) -> ModelError {
    ModelError::new("P0710", format!("{what}: {message}"))
}

fn check_f32_cpu(what: &str, tensors: &[&Tensor]) -> Result<()> {
    for t in tensors {
        if t.kind() != Kind::Float || t.device() != Device::Cpu {
            return Err(error(what, format!("{:?} on {:?}; the kernels take f32 on the CPU", t.kind(), t.device())));
        }
    }
    Ok(())
}

/// x·cos + rotate_half(x)·sin, where rotate_half(x) = (−x₂, x₁) for the two
/// halves of the last dimension: `x` [..., heads, dim] (dim even), `cos` and
/// `sin` [..., 1, dim] with the same leading dimensions. Differentiable in x.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    check_f32_cpu("rope", &[x, cos, sin])?;
    let shape = x.size();
    let rank = shape.len();
    let mut angles = shape.clone();
    if rank >= 2 {
        angles[rank - 2] = 1;
    }
    if rank < 2 || shape[rank - 1] % 2 != 0 || cos.size() != angles || sin.size() != angles {
        return Err(error("rope", format!("shapes x {shape:?}, cos {:?}, sin {:?}", cos.size(), sin.size())));
    }
    let (x, cos, sin) = (x.contiguous(), cos.contiguous(), sin.contiguous());
    let mut message: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: f32 CPU contiguous tensors of the shapes checked above, which are
    // all the kernel reads; the C++ side returns an owned tensor or an error.
    unsafe { owned(plumb_rope(x.as_ptr(), cos.as_ptr(), sin.as_ptr(), rope_kernel, &mut message), message) }
        .map_err(|m| error("rope", m))
}

/// x / √(mean(x²) + eps) · weight over the last dimension: `x` [..., width],
/// `weight` [width]. Differentiable in both.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    check_f32_cpu("rms_norm", &[x, weight])?;
    let width = x.size().last().copied().unwrap_or(0);
    if width == 0 || weight.size() != [width] {
        return Err(error("rms_norm", format!("shapes x {:?}, weight {:?}", x.size(), weight.size())));
    }
    let (x, weight) = (x.contiguous(), weight.contiguous());
    let mut message: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: as in `rope`.
    unsafe {
        owned(
            plumb_rms_norm(x.as_ptr(), weight.as_ptr(), eps, rms_forward_kernel, rms_backward_kernel, &mut message),
            message,
        )
    }
    .map_err(|m| error("rms_norm", m))
}

/// # Safety
/// Buffers of the shapes [`rope`] checked: x and out [tokens, heads, dim],
/// cos and sin [tokens, dim].
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn rope_kernel(
    x: *const f32,
    cos: *const f32,
    sin: *const f32,
    tokens: i64,
    heads: i64,
    dim: i64,
    inverse: i64,
    out: *mut f32,
) {
    let (tokens, heads, dim) = (tokens as usize, heads as usize, dim as usize);
    // SAFETY: the caller's shapes; `out` is a fresh tensor.
    let (x, cos, sin, out) = unsafe {
        (
            std::slice::from_raw_parts(x, tokens * heads * dim),
            std::slice::from_raw_parts(cos, tokens * dim),
            std::slice::from_raw_parts(sin, tokens * dim),
            std::slice::from_raw_parts_mut(out, tokens * heads * dim),
        )
    };
    let half = dim / 2;
    for t in 0..tokens {
        let (c, s) = (&cos[t * dim..(t + 1) * dim], &sin[t * dim..(t + 1) * dim]);
        for h in 0..heads {
            let at = (t * heads + h) * dim;
            let (x, o) = (&x[at..at + dim], &mut out[at..at + dim]);
            // Separate products and sums, as libtorch's ops round them. The
            // backward pass is the transpose: rotate_half's transpose is (x₂, −x₁).
            if inverse == 0 {
                for p in 0..half {
                    o[p] = x[p] * c[p] - x[p + half] * s[p];
                    o[p + half] = x[p + half] * c[p + half] + x[p] * s[p + half];
                }
            } else {
                for p in 0..half {
                    o[p] = x[p] * c[p] + x[p + half] * s[p + half];
                    o[p + half] = x[p + half] * c[p + half] - x[p] * s[p];
                }
            }
        }
    }
}

/// Σ a·b over eight lanes in a fixed order. Plain products and sums, unlike
/// packed attention's `dot`: this code is built without FMA, where `mul_add`
/// would be a library call.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut rest = 0.0f32;
    for (x, w) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        rest += x * w;
    }
    for (x, w) in a_chunks.zip(b_chunks) {
        for l in 0..8 {
            lanes[l] += x[l] * w[l];
        }
    }
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7])) + rest
}

/// # Safety
/// Buffers of the shapes [`rms_norm`] checked: x and y [rows, width], weight
/// [width], inverse_rms [rows].
unsafe extern "C" fn rms_forward_kernel(
    x: *const f32,
    weight: *const f32,
    rows: i64,
    width: i64,
    eps: f32,
    y: *mut f32,
    inverse_rms: *mut f32,
) {
    let (rows, width) = (rows as usize, width as usize);
    // SAFETY: the caller's shapes; `y` and `inverse_rms` are fresh tensors.
    let (x, weight, y, inverse_rms) = unsafe {
        (
            std::slice::from_raw_parts(x, rows * width),
            std::slice::from_raw_parts(weight, width),
            std::slice::from_raw_parts_mut(y, rows * width),
            std::slice::from_raw_parts_mut(inverse_rms, rows),
        )
    };
    for r in 0..rows {
        let row = &x[r * width..(r + 1) * width];
        let inverse = 1.0 / (dot(row, row) / width as f32 + eps).sqrt();
        inverse_rms[r] = inverse;
        for ((out, &v), &w) in y[r * width..(r + 1) * width].iter_mut().zip(row).zip(weight) {
            *out = w * (v * inverse);
        }
    }
}

/// # Safety
/// Buffers of the shapes [`rms_norm`] checked; dx like x, dweight like weight.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn rms_backward_kernel(
    x: *const f32,
    weight: *const f32,
    inverse_rms: *const f32,
    dy: *const f32,
    rows: i64,
    width: i64,
    dx: *mut f32,
    dweight: *mut f32,
) {
    let (rows, width) = (rows as usize, width as usize);
    // SAFETY: the caller's shapes; `dx` and `dweight` are fresh tensors.
    let (x, weight, inverse_rms, dy, dx, dweight) = unsafe {
        (
            std::slice::from_raw_parts(x, rows * width),
            std::slice::from_raw_parts(weight, width),
            std::slice::from_raw_parts(inverse_rms, rows),
            std::slice::from_raw_parts(dy, rows * width),
            std::slice::from_raw_parts_mut(dx, rows * width),
            std::slice::from_raw_parts_mut(dweight, width),
        )
    };
    dweight.fill(0.0);
    let mut scaled = vec![0.0f32; width];
    for r in 0..rows {
        let (row, up) = (&x[r * width..(r + 1) * width], &dy[r * width..(r + 1) * width]);
        let inverse = inverse_rms[r];
        // y = w·t, t = x·ρ, ρ = (mean x² + eps)^(−1/2):
        // ∂t = dy·w; ∂x = ∂t·ρ − x·ρ³·(∂t · x)/width; ∂w = Σ_rows dy·t.
        for (((s, &g), &w), (&v, dw)) in scaled.iter_mut().zip(up).zip(weight).zip(row.iter().zip(dweight.iter_mut())) {
            *s = g * w;
            *dw += g * (v * inverse);
        }
        let k = dot(&scaled, row) * inverse * inverse * inverse / width as f32;
        for ((out, &s), &v) in dx[r * width..(r + 1) * width].iter_mut().zip(&scaled).zip(row) {
            *out = s * inverse - v * k;
        }
    }
}
