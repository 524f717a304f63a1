//! Vectorised f32x4 math emitted as cranelift IR: exp, log and the functions
//! built on them. Cranelift has no transcendental instructions, so these are
//! polynomial approximations with range reduction.
//!
//! Accuracy (measured against f64 over wide ranges in `tests/math.rs`):
//! `exp` ≤ 2 ulp on [-87, 88] (a degree-6 fit after reduction by ln 2);
//! `log` ≤ 2 ulp on normal numbers (fdlibm's logf kernel); the derived
//! functions (`log1p`, `expm1`, `sigmoid`, `log_sigmoid`, `softplus`, `tanh`,
//! `log1mexp`) stay within 1e-6 relative (or 1e-7 absolute near zero; measured
//! worst ≈ 2.9e-7 for `log_sigmoid` and `softplus`, whose log(1 + e^−|x|) is a
//! division-free polynomial). `min`, `max` and constant clamps are `minps` and
//! `maxps` arranged to keep NaN. Subnormal inputs to `log` are treated as zero.

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, condcodes::FloatCC, types};
use cranelift_frontend::FunctionBuilder;

pub const V: types::Type = types::F32X4;
const I: types::Type = types::I32X4;

/// Little-endian lane order for vector bitcasts.
pub fn lanes_flags() -> MemFlagsData {
    lanes()
}

fn lanes() -> MemFlagsData {
    MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little)
}

thread_local! {
    /// Vector constants created in the entry block of the function being built,
    /// by bit pattern: loops reuse them instead of rematerialising them.
    static CONSTANTS: std::cell::RefCell<std::collections::HashMap<(bool, u32), Value>> = Default::default();
    static PRIMING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set by [`separate_constants`].
    static SEPARATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// `−x` results of the function being built, mapped to `x`, so that |−x|
    /// is computed as |x| and the shared exponentials below are found equal.
    static NEGATED: std::cell::RefCell<std::collections::HashMap<Value, Value>> = Default::default();
}

/// −x, remembered so that functions of |x| see through it.
pub fn neg(b: &mut FunctionBuilder, x: Value) -> Value {
    if let Some(original) = NEGATED.with(|n| n.borrow().get(&x).copied()) {
        return original;
    }
    let y = flip_sign(b, x);
    NEGATED.with(|n| n.borrow_mut().insert(y, x));
    y
}

fn abs(b: &mut FunctionBuilder, x: Value) -> Value {
    let base = NEGATED.with(|n| n.borrow().get(&x).copied()).unwrap_or(x);
    clear_sign(b, base)
}

// fneg and fabs as a bitwise xor and and with a sign-mask constant made once
// per function: the backend otherwise builds the mask inside the loop at each
// use (an all-ones compare and a shift, two instructions). Same bits.
fn flip_sign(b: &mut FunctionBuilder, x: Value) -> Value {
    let mask = splat_i(b, i32::MIN);
    let bits = b.ins().bitcast(I, lanes(), x);
    let flipped = b.ins().bxor(bits, mask);
    b.ins().bitcast(V, lanes(), flipped)
}

/// |x| (the sign bit cleared, NaN kept).
pub fn clear_sign(b: &mut FunctionBuilder, x: Value) -> Value {
    let mask = splat_i(b, i32::MAX);
    let bits = b.ins().bitcast(I, lanes(), x);
    let cleared = b.ins().band(bits, mask);
    b.ins().bitcast(V, lanes(), cleared)
}

/// Creates, in the entry block, every constant the math below uses, so that
/// loops reuse them. Call with the builder positioned in the entry block.
pub fn prime_constants(b: &mut FunctionBuilder) {
    reset_constants();
    PRIMING.with(|p| p.set(true));
    let x = splat(b, 0.5);
    let y = splat(b, 2.0);
    for f in [exp, log, log1p, expm1, sigmoid, log_sigmoid, softplus, tanh, log1mexp] {
        f(b, x);
    }
    pow(b, x, y, None);
    let m = cmp(b, FloatCC::Equal, x, y);
    mask_to_number(b, m);
    for c in [0.0, 1.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        splat(b, c);
    }
    splat_i(b, i32::MIN);
    splat_i(b, i32::MAX);
    PRIMING.with(|p| p.set(false));
}

/// While set, float constants are made as integer vectors reinterpreted, which
/// the optimizer does not identify with the same constants made as floats.
pub fn separate_constants(on: bool) {
    SEPARATE.with(|s| s.set(on));
}

/// Forgets the constants (and negations) of the last function built.
pub fn reset_constants() {
    CONSTANTS.with(|c| c.borrow_mut().clear());
    NEGATED.with(|n| n.borrow_mut().clear());
}

fn cached(key: (bool, u32), b: &mut FunctionBuilder, make: impl FnOnce(&mut FunctionBuilder) -> Value) -> Value {
    if let Some(v) = CONSTANTS.with(|c| c.borrow().get(&key).copied()) {
        return v;
    }
    let v = make(b);
    if PRIMING.with(|p| p.get()) {
        CONSTANTS.with(|c| c.borrow_mut().insert(key, v));
    }
    v
}

pub fn splat(b: &mut FunctionBuilder, x: f32) -> Value {
    if SEPARATE.with(|s| s.get()) && x.to_bits() != 0 {
        let c = b.ins().iconst(types::I32, i64::from(x.to_bits() as i32));
        let v = b.ins().splat(I, c);
        return b.ins().bitcast(V, lanes(), v);
    }
    cached((false, x.to_bits()), b, |b| {
        let c = b.ins().f32const(x);
        b.ins().splat(V, c)
    })
}

fn splat_i(b: &mut FunctionBuilder, x: i32) -> Value {
    cached((true, x as u32), b, |b| {
        let c = b.ins().iconst(types::I32, i64::from(x));
        b.ins().splat(I, c)
    })
}

/// A lane mask (as f32x4 bits) of `cc(a, b)`.
pub fn cmp(b: &mut FunctionBuilder, cc: FloatCC, x: Value, y: Value) -> Value {
    let mask = b.ins().fcmp(cc, x, y);
    b.ins().bitcast(V, lanes(), mask)
}

/// `mask ? x : y` lane by lane.
pub fn select(b: &mut FunctionBuilder, mask: Value, x: Value, y: Value) -> Value {
    b.ins().bitselect(mask, x, y)
}

/// 1.0 where the mask is set, else 0.0.
pub fn mask_to_number(b: &mut FunctionBuilder, mask: Value) -> Value {
    let one = splat(b, 1.0);
    let zero = splat(b, 0.0);
    select(b, mask, one, zero)
}

fn poly(b: &mut FunctionBuilder, x: Value, coefficients: &[f32]) -> Value {
    // Horner, highest degree first.
    let mut acc = splat(b, coefficients[0]);
    for &c in &coefficients[1..] {
        let c = splat(b, c);
        acc = b.ins().fma(acc, x, c);
    }
    acc
}

/// Σ c_k x^k, lowest degree first, by Estrin's scheme: pairs c_k + c_{k+1}·x,
/// then pairs of those with x², then x⁴, … (independent multiply-adds that
/// overlap, where Horner's rule is one long dependent chain).
fn estrin(b: &mut FunctionBuilder, x: Value, coefficients: &[f32]) -> Value {
    let mut terms: Vec<Value> = coefficients
        .chunks(2)
        .map(|pair| match pair {
            [c0, c1] => {
                let c0 = splat(b, *c0);
                let c1 = splat(b, *c1);
                b.ins().fma(c1, x, c0)
            }
            [c0] => splat(b, *c0),
            _ => unreachable!("chunks of two"),
        })
        .collect();
    let mut power = b.ins().fmul(x, x);
    while terms.len() > 1 {
        terms = terms
            .chunks(2)
            .map(|pair| match pair {
                [low, high] => b.ins().fma(*high, power, *low),
                [low] => *low,
                _ => unreachable!("chunks of two"),
            })
            .collect();
        if terms.len() > 1 {
            power = b.ins().fmul(power, power);
        }
    }
    terms[0]
}

/// `x` limited to constant bounds `[lo, hi]` (neither NaN nor ±0), NaN staying
/// NaN: the same values as fmax/fmin, in two instructions (`maxps`, `minps`,
/// which return their second operand where a comparison is unordered).
pub fn clamp_constant(b: &mut FunctionBuilder, x: Value, lo: f32, hi: f32) -> Value {
    let lo = splat(b, lo);
    let hi = splat(b, hi);
    let t = pseudo_max(b, lo, x);
    pseudo_min(b, hi, t)
}

/// `y < x ? x : y`, one `maxps`: `y` where either is NaN.
fn pseudo_max(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let less = cmp(b, FloatCC::LessThan, y, x);
    select(b, less, x, y)
}

/// `x < y ? x : y`, one `minps`: `y` where either is NaN.
fn pseudo_min(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let less = cmp(b, FloatCC::LessThan, x, y);
    select(b, less, x, y)
}

fn bits_or(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let x = b.ins().bitcast(I, lanes(), x);
    let y = b.ins().bitcast(I, lanes(), y);
    let z = b.ins().bor(x, y);
    b.ins().bitcast(V, lanes(), z)
}

/// min(x, y) with NaN propagated and −0 below +0, as `fmin` but in three
/// instructions instead of seven: `minps` both ways round, or-ed (where the
/// two differ, they are −0 and +0, or one is a NaN, which the or keeps a NaN).
/// A NaN result need not be the canonical NaN.
pub fn min(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let xy = pseudo_min(b, x, y);
    let yx = pseudo_min(b, y, x);
    bits_or(b, xy, yx)
}

/// max(x, y) with NaN propagated and +0 above −0, as `fmax` but in five
/// instructions instead of eight: `maxps` both ways round, and-ed (−0 and +0
/// give +0), then or-ed with the unordered mask (all ones: a NaN).
pub fn max(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    let xy = pseudo_max(b, x, y);
    let yx = pseudo_max(b, y, x);
    let xy = b.ins().bitcast(I, lanes(), xy);
    let yx = b.ins().bitcast(I, lanes(), yx);
    let both = b.ins().band(xy, yx);
    let both = b.ins().bitcast(V, lanes(), both);
    let nan = cmp(b, FloatCC::Unordered, x, y);
    bits_or(b, both, nan)
}

pub fn exp(b: &mut FunctionBuilder, x: Value) -> Value {
    // A NaN x stays NaN through the clamp and the arithmetic.
    let xc = clamp_constant(b, x, -88.0, 88.0);
    let result = exp_core(b, xc);
    let limit = splat(b, 88.72);
    let over = cmp(b, FloatCC::GreaterThan, x, limit);
    let inf = splat(b, f32::INFINITY);
    select(b, over, inf, result)
}

/// e^x for an x known to be in [−88, 88] or NaN (the graph clamped it to
/// constant bounds there): no clamps, and NaN flows through the arithmetic.
pub fn exp_bounded(b: &mut FunctionBuilder, x: Value) -> Value {
    exp_core(b, x)
}

/// e^x for x ≤ 0 or NaN: only the lower clamp (a NaN fails the comparison and
/// stays NaN through the arithmetic).
fn exp_non_positive(b: &mut FunctionBuilder, x: Value) -> Value {
    let lo = splat(b, -88.0);
    let below = cmp(b, FloatCC::LessThan, x, lo);
    let xc = select(b, below, lo, x);
    exp_core(b, xc)
}

/// e^x for x in [−88, 88] or NaN (a NaN gives NaN: every step propagates it,
/// and the final product with any scale is NaN).
fn exp_core(b: &mut FunctionBuilder, xc: Value) -> Value {
    let log2e = splat(b, std::f32::consts::LOG2_E);
    let t = b.ins().fmul(xc, log2e);
    // Round to nearest by adding 1.5·2^23: the integer lands in the low mantissa bits.
    let magic = splat(b, 12_582_912.0);
    let shifted = b.ins().fadd(t, magic);
    let n = b.ins().fsub(shifted, magic);
    let minus_ln2_hi = splat(b, -0.693_359_4);
    let minus_ln2_lo = splat(b, 2.121_944_4e-4);
    let r = b.ins().fma(n, minus_ln2_hi, xc);
    let r = b.ins().fma(n, minus_ln2_lo, r);
    // e^r on |r| ≤ 0.35: a degree-6 fit with 1 + r fixed (least squares
    // weighted to the relative error, within 3.3e-9 in exact arithmetic, as
    // accurate after f32 rounding as degree-7 Taylor and one multiply-add and
    // one constant shorter), by Estrin's scheme (≈ 3 multiply-adds deep).
    let p = estrin(b, r, &[1.0, 1.0, 0.499_999_94, 0.166_665_15, 0.041_668_456, 0.008_369_385, 0.001_381_306_2]);
    // 2^n: (bits(shifted) − bits(magic) + 127) << 23.
    let ni = b.ins().bitcast(I, lanes(), shifted);
    let magic_bits = splat_i(b, 0x4b40_0000 - 127);
    let e = b.ins().isub(ni, magic_bits);
    let e = b.ins().ishl_imm_u(e, 23);
    let scale = b.ins().bitcast(V, lanes(), e);
    b.ins().fmul(p, scale)
}

pub fn log(b: &mut FunctionBuilder, x: Value) -> Value {
    let bits = b.ins().bitcast(I, lanes(), x);
    let shifted = b.ins().ushr_imm_u(bits, 23);
    let byte = splat_i(b, 0xff);
    let exponent_bits = b.ins().band(shifted, byte);
    let bias = splat_i(b, 127);
    let e = b.ins().isub(exponent_bits, bias);
    let mantissa_mask = splat_i(b, 0x007f_ffff);
    let one_bits = splat_i(b, 0x3f80_0000);
    let m = b.ins().band(bits, mantissa_mask);
    let m = b.ins().bor(m, one_bits);
    let m = b.ins().bitcast(V, lanes(), m);
    let e = b.ins().fcvt_from_sint(V, e);
    // Centre the mantissa on 1: m in [sqrt(1/2), sqrt(2)).
    let sqrt2 = splat(b, std::f32::consts::SQRT_2);
    let big = cmp(b, FloatCC::GreaterThan, m, sqrt2);
    let half = splat(b, 0.5);
    let halved = b.ins().fmul(m, half);
    let m = select(b, big, halved, m);
    let one = splat(b, 1.0);
    let e_plus = b.ins().fadd(e, one);
    let e = select(b, big, e_plus, e);
    let f = b.ins().fsub(m, one);
    let result = log_kernel(b, f, e);
    // Special values: log(+inf) = inf, log(0) = -inf, log(x < 0) = NaN, NaN stays.
    let zero = splat(b, 0.0);
    let inf = splat(b, f32::INFINITY);
    let is_inf = cmp(b, FloatCC::Equal, x, inf);
    let result = select(b, is_inf, inf, result);
    let tiny = splat(b, f32::MIN_POSITIVE);
    let at_zero = cmp(b, FloatCC::LessThan, x, tiny);
    let neg_inf = splat(b, f32::NEG_INFINITY);
    let result = select(b, at_zero, neg_inf, result);
    let negative = cmp(b, FloatCC::LessThan, x, zero);
    let nan = splat(b, f32::NAN);
    let result = select(b, negative, nan, result);
    let is_nan = cmp(b, FloatCC::Unordered, x, x);
    select(b, is_nan, x, result)
}

/// log(1 + x), accurate near 0: log(u)·x/(u − 1) with u = 1 + x.
pub fn log1p(b: &mut FunctionBuilder, x: Value) -> Value {
    let one = splat(b, 1.0);
    let u = b.ins().fadd(one, x);
    let d = b.ins().fsub(u, one);
    let l = log(b, u);
    let ratio = b.ins().fdiv(x, d);
    let corrected = b.ins().fmul(l, ratio);
    let zero = splat(b, 0.0);
    let exact = cmp(b, FloatCC::Equal, d, zero);
    let result = select(b, exact, x, corrected);
    let inf = splat(b, f32::INFINITY);
    let is_inf = cmp(b, FloatCC::Equal, u, inf);
    select(b, is_inf, u, result)
}

/// e^x − 1, accurate near 0: (u − 1)·x/log(u) with u = e^x.
pub fn expm1(b: &mut FunctionBuilder, x: Value) -> Value {
    let u = exp(b, x);
    let one = splat(b, 1.0);
    let d = b.ins().fsub(u, one);
    let l = log(b, u);
    let ratio = b.ins().fdiv(x, l);
    let corrected = b.ins().fmul(d, ratio);
    let exact = cmp(b, FloatCC::Equal, u, one);
    let result = select(b, exact, x, corrected);
    // For large |x| the plain difference is exact enough and avoids inf/inf.
    let big = splat(b, 20.0);
    let ax = clear_sign(b, x);
    let large = cmp(b, FloatCC::GreaterThan, ax, big);
    let result = select(b, large, d, result);
    let is_nan = cmp(b, FloatCC::Unordered, x, x);
    select(b, is_nan, x, result)
}

/// e^(−|x|): the one exponential that sigmoid, log_sigmoid and softplus of
/// x and −x all share, so that the optimizer computes it once.
pub fn exp_neg_abs(b: &mut FunctionBuilder, x: Value) -> Value {
    let ax = abs(b, x);
    let minus = flip_sign(b, ax);
    exp_non_positive(b, minus)
}

/// 1/(1 + e) for x ≥ 0, e/(1 + e) otherwise, with e = e^(−|x|).
pub fn sigmoid(b: &mut FunctionBuilder, x: Value) -> Value {
    let e = exp_neg_abs(b, x);
    sigmoid_given(b, x, e)
}

/// [`sigmoid`] with e = e^(−|x|) already computed.
pub fn sigmoid_given(b: &mut FunctionBuilder, x: Value, e: Value) -> Value {
    let one = splat(b, 1.0);
    let d = b.ins().fadd(one, e);
    let r = b.ins().fdiv(one, d);
    let er = b.ins().fmul(e, r);
    let zero = splat(b, 0.0);
    let negative = cmp(b, FloatCC::LessThan, x, zero);
    select(b, negative, er, r)
}

/// log(1 + e) for e in [0, 1] (or NaN): e·q(e), where q is a degree-8 fit of
/// log(1 + e)/e on [2^−12, 1] (least squares weighted to the relative error:
/// within 3.1e-8 in exact arithmetic, ≤ 3 ulp after f32 rounding like the
/// degree-10 interpolant it replaced; below 2^−12 it is c₀ + c₁e to f32
/// precision, c₀ within 6e-8 of 1). No division and no exponent extraction:
/// it sits on the critical path of every `log_sigmoid` and `softplus`.
fn log1p_unit(b: &mut FunctionBuilder, e: Value) -> Value {
    const Q: [f32; 9] = [
        0.999_999_94,
        -0.499_994_84,
        0.333_189_87,
        -0.248_423_22,
        0.191_038_88,
        -0.136_594,
        0.078_186_28,
        -0.029_483_566,
        0.005_227_827_5,
    ];
    // Even and odd halves by Horner's rule in e², joined by one multiply-add:
    // six multiply-adds deep where Horner in e is eight (the loops are bound by
    // this chain's latency), and no power beyond e². Squaring max(e, 2^−60)
    // keeps e² normal: for e < 2^−63 (|x| beyond ≈ 43.7, common in SimPO) a
    // subnormal e² cost 8% on SimPO here and a microcode assist per lane on
    // Intel cores. Below 2^−60 the even and odd parts are their constant terms
    // in f32 either way.
    let even: Vec<f32> = Q.iter().step_by(2).rev().copied().collect();
    let odd: Vec<f32> = Q.iter().skip(1).step_by(2).rev().copied().collect();
    let floor = splat(b, f32::from_bits(0x2180_0000)); // 2^−60
    let clamped = pseudo_max(b, floor, e);
    let e2 = b.ins().fmul(clamped, clamped);
    let q_even = poly(b, e2, &even);
    let q_odd = poly(b, e2, &odd);
    let q = b.ins().fma(q_odd, e, q_even);
    b.ins().fmul(e, q)
}

/// log(1 + f) + k·ln 2 for f in [−0.3, 0.42] (fdlibm's logf kernel).
fn log_kernel(b: &mut FunctionBuilder, f: Value, k: Value) -> Value {
    let two = splat(b, 2.0);
    let denominator = b.ins().fadd(two, f);
    let s = b.ins().fdiv(f, denominator);
    let z = b.ins().fmul(s, s);
    let w = b.ins().fmul(z, z);
    let t1 = poly(b, w, &[0.242_790_79, 0.400_009_72]);
    let t1 = b.ins().fmul(w, t1);
    let t2 = poly(b, w, &[0.284_987_87, 0.666_666_6]);
    let t2 = b.ins().fmul(z, t2);
    let r = b.ins().fadd(t2, t1);
    let half = splat(b, 0.5);
    let hf = b.ins().fmul(half, f);
    let hfsq = b.ins().fmul(hf, f);
    let ln2_hi = splat(b, 6.931_381e-1);
    let ln2_lo = splat(b, 9.058_001e-6);
    let inner = b.ins().fadd(hfsq, r);
    let inner = b.ins().fmul(s, inner);
    let low = b.ins().fmul(k, ln2_lo);
    let inner = b.ins().fadd(inner, low);
    let inner = b.ins().fsub(hfsq, inner);
    let inner = b.ins().fsub(inner, f);
    let high = b.ins().fmul(k, ln2_hi);
    b.ins().fsub(high, inner)
}

pub fn log_sigmoid(b: &mut FunctionBuilder, x: Value) -> Value {
    let e = exp_neg_abs(b, x);
    log_sigmoid_given(b, x, e)
}

/// [`log_sigmoid`] with e = e^(−|x|) already computed.
pub fn log_sigmoid_given(b: &mut FunctionBuilder, x: Value, e: Value) -> Value {
    // min(x, 0) by a compare: a NaN x makes the log term NaN anyway.
    let zero = splat(b, 0.0);
    let negative = cmp(b, FloatCC::LessThan, x, zero);
    let m = select(b, negative, x, zero);
    let l = log1p_unit(b, e);
    b.ins().fsub(m, l)
}

pub fn softplus(b: &mut FunctionBuilder, x: Value) -> Value {
    let e = exp_neg_abs(b, x);
    softplus_given(b, x, e)
}

/// [`softplus`] with e = e^(−|x|) already computed.
pub fn softplus_given(b: &mut FunctionBuilder, x: Value, e: Value) -> Value {
    let zero = splat(b, 0.0);
    let positive = cmp(b, FloatCC::GreaterThan, x, zero);
    let m = select(b, positive, x, zero);
    let l = log1p_unit(b, e);
    b.ins().fadd(m, l)
}

pub fn tanh(b: &mut FunctionBuilder, x: Value) -> Value {
    let xc = clamp_constant(b, x, -10.0, 10.0);
    let two_x = b.ins().fadd(xc, xc);
    let e = expm1(b, two_x);
    let two = splat(b, 2.0);
    let d = b.ins().fadd(e, two);
    b.ins().fdiv(e, d)
}

/// log(1 − e^x) for x < 0 (two branches, as the interpreter); NaN for x ≥ 0.
pub fn log1mexp(b: &mut FunctionBuilder, x: Value) -> Value {
    let e = expm1(b, x);
    let minus = flip_sign(b, e);
    let near = log(b, minus);
    let ex = exp(b, x);
    let minus_ex = flip_sign(b, ex);
    let far = log1p(b, minus_ex);
    let cut = splat(b, -std::f32::consts::LN_2);
    let is_near = cmp(b, FloatCC::GreaterThan, x, cut);
    let result = select(b, is_near, near, far);
    let zero = splat(b, 0.0);
    let bad = cmp(b, FloatCC::GreaterThanOrEqual, x, zero);
    let nan = splat(b, f32::NAN);
    select(b, bad, nan, result)
}

/// log Φ(x): log(erfc(|x|/√2)/2) for x < 0, log1p(−erfc(x/√2)/2) otherwise,
/// with log erfc from `plumb_ir::math::LOG_ERFC_T`, so neither tail under- or overflows.
pub fn log_ndtr(b: &mut FunctionBuilder, x: Value) -> Value {
    let ax = abs(b, x);
    let scale = splat(b, std::f32::consts::FRAC_1_SQRT_2);
    let z = b.ins().fmul(ax, scale);
    let half = splat(b, 0.5);
    let one = splat(b, 1.0);
    let denominator = b.ins().fma(half, z, one);
    let t = b.ins().fdiv(one, denominator);
    let p = poly(b, t, &plumb_ir::math::LOG_ERFC_T);
    let zz = b.ins().fmul(z, z);
    let q = b.ins().fsub(p, zz);
    let log_t = log(b, t);
    let log_erfc = b.ins().fadd(log_t, q);
    let ln2 = splat(b, std::f32::consts::LN_2);
    let lower = b.ins().fsub(log_erfc, ln2);
    let erfc = exp(b, log_erfc);
    let minus_half = splat(b, -0.5);
    let tail = b.ins().fmul(erfc, minus_half);
    let upper = log1p(b, tail);
    let zero = splat(b, 0.0);
    let negative = cmp(b, FloatCC::LessThan, x, zero);
    select(b, negative, lower, upper)
}

/// x^y: repeated multiplication for small integer constant exponents,
/// otherwise e^(y·log x) (NaN for x < 0, and 0^y handled).
pub fn pow(b: &mut FunctionBuilder, x: Value, y: Value, constant_y: Option<f64>) -> Value {
    if let Some(k) = constant_y
        && k.fract() == 0.0
        && k.abs() <= 16.0
    {
        let one = splat(b, 1.0);
        let mut acc = one;
        for _ in 0..k.abs() as u32 {
            acc = b.ins().fmul(acc, x);
        }
        return if k < 0.0 { b.ins().fdiv(one, acc) } else { acc };
    }
    let l = log(b, x);
    let t = b.ins().fmul(y, l);
    let result = exp(b, t);
    let zero = splat(b, 0.0);
    let base_zero = cmp(b, FloatCC::Equal, x, zero);
    let positive_y = cmp(b, FloatCC::GreaterThan, y, zero);
    let zero_y = cmp(b, FloatCC::Equal, y, zero);
    let one = splat(b, 1.0);
    let inf = splat(b, f32::INFINITY);
    let at_zero = select(b, positive_y, zero, inf);
    let at_zero = select(b, zero_y, one, at_zero);
    let result = select(b, base_zero, at_zero, result);
    select(b, zero_y, one, result)
}

/// Loads `width` (1 or 4) f32 lanes from `base + 4·index` as an f32x4 (1: splat).
pub fn load(b: &mut FunctionBuilder, base: Value, index: Value, width: u32) -> Value {
    let byte_offset = b.ins().imul_imm_s(index, 4);
    let address = b.ins().iadd(base, byte_offset);
    let flags = MemFlagsData::new().with_notrap();
    if width == 4 {
        b.ins().load(V, flags, address, 0)
    } else {
        let x = b.ins().load(types::F32, flags, address, 0);
        b.ins().splat(V, x)
    }
}

/// Stores `width` lanes of an f32x4 to `base + 4·index`.
pub fn store(b: &mut FunctionBuilder, base: Value, index: Value, value: Value, width: u32) {
    let byte_offset = b.ins().imul_imm_s(index, 4);
    let address = b.ins().iadd(base, byte_offset);
    let flags = MemFlagsData::new().with_notrap();
    if width == 4 {
        b.ins().store(flags, value, address, 0);
    } else {
        let x = b.ins().extractlane(value, 0);
        b.ins().store(flags, x, address, 0);
    }
}
