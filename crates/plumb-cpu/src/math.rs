//! Vectorised f32x4 math emitted as cranelift IR: exp, log and the functions
//! built on them. Cranelift has no transcendental instructions, so these are
//! polynomial approximations with range reduction.
//!
//! Accuracy (measured against f64 over wide ranges in `tests/math.rs`):
//! `exp` ≤ 2 ulp on [-87, 88]; `log` ≤ 2 ulp on normal numbers; the derived
//! functions (`log1p`, `expm1`, `sigmoid`, `log_sigmoid`, `softplus`, `tanh`,
//! `log1mexp`) stay within 1e-6 relative (or 1e-7 absolute near zero).
//! Subnormal inputs to `log` are treated as zero.

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, condcodes::FloatCC, types};
use cranelift_frontend::FunctionBuilder;

pub const V: types::Type = types::F32X4;
const I: types::Type = types::I32X4;

/// Little-endian lane order for vector bitcasts.
fn lanes() -> MemFlagsData {
    MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little)
}

pub fn splat(b: &mut FunctionBuilder, x: f32) -> Value {
    let c = b.ins().f32const(x);
    b.ins().splat(V, c)
}

fn splat_i(b: &mut FunctionBuilder, x: i32) -> Value {
    let c = b.ins().iconst(types::I32, i64::from(x));
    b.ins().splat(I, c)
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
        let t = b.ins().fmul(acc, x);
        acc = b.ins().fadd(t, c);
    }
    acc
}

pub fn exp(b: &mut FunctionBuilder, x: Value) -> Value {
    let hi = splat(b, 88.0);
    let lo = splat(b, -88.0);
    let xc = b.ins().fmin(x, hi);
    let xc = b.ins().fmax(xc, lo);
    let log2e = splat(b, std::f32::consts::LOG2_E);
    let t = b.ins().fmul(xc, log2e);
    let n = b.ins().nearest(t);
    let ln2_hi = splat(b, 0.693_359_4);
    let ln2_lo = splat(b, -2.121_944_4e-4);
    let a = b.ins().fmul(n, ln2_hi);
    let r = b.ins().fsub(xc, a);
    let c = b.ins().fmul(n, ln2_lo);
    let r = b.ins().fsub(r, c);
    // e^r on |r| ≤ 0.35: Taylor to degree 7.
    let p = poly(b, r, &[1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0]);
    let ni = b.ins().fcvt_to_sint_sat(I, n);
    let bias = splat_i(b, 127);
    let e = b.ins().iadd(ni, bias);
    let e = b.ins().ishl_imm_u(e, 23);
    let scale = b.ins().bitcast(V, lanes(), e);
    let result = b.ins().fmul(p, scale);
    let limit = splat(b, 88.72);
    let over = cmp(b, FloatCC::GreaterThan, x, limit);
    let inf = splat(b, f32::INFINITY);
    select(b, over, inf, result)
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
    // log(1 + f) = 2·atanh(s), s = f / (2 + f).
    let two = splat(b, 2.0);
    let denominator = b.ins().fadd(two, f);
    let s = b.ins().fdiv(f, denominator);
    let z = b.ins().fmul(s, s);
    let p = poly(b, z, &[2.0 / 11.0, 2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0, 2.0]);
    let log1pf = b.ins().fmul(s, p);
    let ln2 = splat(b, std::f32::consts::LN_2);
    let scaled = b.ins().fmul(e, ln2);
    let result = b.ins().fadd(scaled, log1pf);
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
    let ax = b.ins().fabs(x);
    let large = cmp(b, FloatCC::GreaterThan, ax, big);
    let result = select(b, large, d, result);
    let is_nan = cmp(b, FloatCC::Unordered, x, x);
    select(b, is_nan, x, result)
}

pub fn sigmoid(b: &mut FunctionBuilder, x: Value) -> Value {
    let minus = b.ins().fneg(x);
    let e = exp(b, minus);
    let one = splat(b, 1.0);
    let d = b.ins().fadd(one, e);
    b.ins().fdiv(one, d)
}

/// log(1 + e^(−|x|)), shared by log_sigmoid and softplus.
fn log1p_exp_neg_abs(b: &mut FunctionBuilder, x: Value) -> Value {
    let ax = b.ins().fabs(x);
    let minus = b.ins().fneg(ax);
    let e = exp(b, minus);
    log1p(b, e)
}

pub fn log_sigmoid(b: &mut FunctionBuilder, x: Value) -> Value {
    let zero = splat(b, 0.0);
    let m = b.ins().fmin(x, zero);
    let l = log1p_exp_neg_abs(b, x);
    b.ins().fsub(m, l)
}

pub fn softplus(b: &mut FunctionBuilder, x: Value) -> Value {
    let zero = splat(b, 0.0);
    let m = b.ins().fmax(x, zero);
    let l = log1p_exp_neg_abs(b, x);
    b.ins().fadd(m, l)
}

pub fn tanh(b: &mut FunctionBuilder, x: Value) -> Value {
    let limit = splat(b, 10.0);
    let neg_limit = splat(b, -10.0);
    let xc = b.ins().fmin(x, limit);
    let xc = b.ins().fmax(xc, neg_limit);
    let two_x = b.ins().fadd(xc, xc);
    let e = expm1(b, two_x);
    let two = splat(b, 2.0);
    let d = b.ins().fadd(e, two);
    b.ins().fdiv(e, d)
}

/// log(1 − e^x) for x < 0 (two branches, as the interpreter); NaN for x ≥ 0.
pub fn log1mexp(b: &mut FunctionBuilder, x: Value) -> Value {
    let e = expm1(b, x);
    let minus = b.ins().fneg(e);
    let near = log(b, minus);
    let ex = exp(b, x);
    let minus_ex = b.ins().fneg(ex);
    let far = log1p(b, minus_ex);
    let cut = splat(b, -std::f32::consts::LN_2);
    let is_near = cmp(b, FloatCC::GreaterThan, x, cut);
    let result = select(b, is_near, near, far);
    let zero = splat(b, 0.0);
    let bad = cmp(b, FloatCC::GreaterThanOrEqual, x, zero);
    let nan = splat(b, f32::NAN);
    select(b, bad, nan, result)
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
