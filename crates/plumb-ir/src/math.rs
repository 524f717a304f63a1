//! Portable f64 `exp`, `log`, `log1p` (and `log_ndtr`, log Φ, built on them): the interpreter's definitions of
//! those ops, written as plain IEEE arithmetic and bit operations with no
//! fused multiply-adds, so that the CPU backend's f64 kernels emit the very same
//! operations and agree with the interpreter bit for bit on every machine.
//!
//! The algorithms are fdlibm's (range reduction by ln 2 and a rational
//! remainder for `exp`; 2^k·(1+f) with a polynomial in s = f/(2+f) for `log`);
//! `log1p(x)` is `log(1+x)` plus the rounding error of `1+x` divided by `1+x`.
//! Measured against the platform's libm on 10^6 random arguments per function
//! over the whole range (`tests/math.rs`): at most 1 ulp apart.
//!
//! Every step below maps to one instruction of `plumb-cpu`'s `codegen64.rs`;
//! change both together. Comparisons are written as selects (not `f64::max`,
//! which ignores NaN) so that NaN flows through as it does in the kernels.

#![allow(clippy::excessive_precision)] // fdlibm's constants, digit for digit as published

/// 1.5 · 2^52: adding and subtracting it rounds to the nearest integer.
pub const SHIFTER: f64 = 6_755_399_441_055_744.0;
pub const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split so that k · LN2_HI is exact for |k| < 2^11.
pub const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
pub const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// Below this `exp` is 0, above [`EXP_HIGH`] it is +∞ (kept in range of the scaling).
pub const EXP_LOW: f64 = -746.0;
pub const EXP_HIGH: f64 = 710.0;
pub const EXP_P: [f64; 5] = [
    1.666_666_666_666_660_190_37e-1,
    -2.777_777_777_701_559_338_42e-3,
    6.613_756_321_437_934_361_17e-5,
    -1.653_390_220_546_525_153_90e-6,
    4.138_136_797_057_238_460_39e-8,
];
pub const LOG_LG: [f64; 7] = [
    6.666_666_666_666_735_130e-1,
    3.999_999_999_940_941_908e-1,
    2.857_142_874_366_239_149e-1,
    2.222_219_843_214_978_396e-1,
    1.818_357_216_161_805_012e-1,
    1.531_383_769_920_937_332e-1,
    1.479_819_860_511_658_591e-1,
];
/// 2^54, the scale that makes a subnormal argument of `log` normal.
pub const TWO_54: f64 = 18_014_398_509_481_984.0;
/// Added to the high word so that the mantissa lands in [√2/2, √2).
pub const LOG_HIGH_SHIFT: i64 = 0x3ff0_0000 - 0x3fe6_a09e;
pub const LOG_HIGH_BASE: i64 = 0x3fe6_a09e;

/// e^x.
pub fn exp(x: f64) -> f64 {
    let x = if x < EXP_LOW { EXP_LOW } else { x };
    let x = if x > EXP_HIGH { EXP_HIGH } else { x };
    let k = x * LOG2_E + SHIFTER - SHIFTER;
    let hi = x - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    let t = r * r;
    let p = t * (EXP_P[0] + t * (EXP_P[1] + t * (EXP_P[2] + t * (EXP_P[3] + t * EXP_P[4]))));
    let c = r - p;
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    // 2^k as two factors, so that results near overflow and subnormal results are rounded once.
    let k1 = k * 0.5 + SHIFTER - SHIFTER;
    let k2 = k - k1;
    y * power_of_two(k1) * power_of_two(k2)
}

/// 2^k for an integral k in the normal exponent range.
fn power_of_two(k: f64) -> f64 {
    f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// The natural logarithm (NaN below zero, −∞ at zero).
pub fn log(x: f64) -> f64 {
    let small = x < f64::MIN_POSITIVE;
    let scaled = if small { x * TWO_54 } else { x };
    let bias: i64 = if small { 1023 + 54 } else { 1023 };
    let bits = scaled.to_bits() as i64;
    // Logical shifts (the sign bit of a negative x only reaches a result replaced below).
    let high = ((bits as u64) >> 32) as i64 + LOG_HIGH_SHIFT;
    let k = ((high as u64) >> 20) as i64 - bias;
    let reduced_high = (high & 0x000f_ffff) + LOG_HIGH_BASE;
    let m = f64::from_bits(((reduced_high << 32) | (bits & 0xffff_ffff)) as u64);
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LOG_LG[1] + w * (LOG_LG[3] + w * LOG_LG[5]));
    let t2 = z * (LOG_LG[0] + w * (LOG_LG[2] + w * (LOG_LG[4] + w * LOG_LG[6])));
    let r = t2 + t1;
    let dk = k as f64;
    let mut y = s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
    if x == 0.0 {
        y = f64::NEG_INFINITY;
    }
    if x < 0.0 {
        y = f64::NAN;
    }
    // +∞ or NaN (the kernels' unordered-or-≥ comparison).
    if x.is_nan() || x == f64::INFINITY {
        y = x;
    }
    y
}

/// log(1 + x), accurate for small x.
pub fn log1p(x: f64) -> f64 {
    let u = 1.0 + x;
    let correction = (x - (u - 1.0)) / u;
    let mut y = log(u) + correction;
    if u == 1.0 {
        y = x;
    }
    if u == 0.0 {
        y = f64::NEG_INFINITY;
    }
    if x == f64::INFINITY {
        y = x;
    }
    y
}

/// ln √(2π): log φ(x) = −x²/2 − LN_SQRT_2PI.
pub const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// log erfc(z) = log t − z² + P(t) with t = 1/(1 + z/2), z ≥ 0: Numerical Recipes'
/// Chebyshev fit `erfcc` (erfc within 1.2e-7 relative for every z ≥ 0), which the
/// f32 backends (CPU and WGSL) use for `log_ndtr`. P's coefficients, highest degree first.
pub const LOG_ERFC_T: [f32; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_87,
    -1.135_203_98,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_68,
    -1.265_512_23,
];

/// The f64 counterpart of [`LOG_ERFC_T`], for backends without a portable erfc
/// (the GPU's f64 kernels): the same P(t) as a Chebyshev series in u = 2t − 1,
/// lowest degree first, fitted at 120 Chebyshev nodes with 60-digit arithmetic;
/// the dropped terms sum to under 1e-19. Evaluate with [`chebyshev`].
pub const LOG_ERFC_CHEBYSHEV: [f64; 32] = [
    -0.6513268598908547,
    0.6419697923564902,
    0.019476473204185836,
    -0.009561514786808632,
    -0.0009465953444820369,
    0.00036683949785276145,
    4.252332480690777e-05,
    -2.0278578112534242e-05,
    -1.6242900046470256e-06,
    1.3036558355805232e-06,
    1.5626441722066142e-08,
    -8.523809591492654e-08,
    6.5290544390988515e-09,
    5.059343495551469e-09,
    -9.91364156493033e-10,
    -2.273651222931836e-10,
    9.646791102015527e-11,
    2.3940380830391146e-12,
    -6.886027526497553e-12,
    8.944879273090725e-13,
    3.130921399342958e-13,
    -1.1270822361367252e-13,
    3.810905255189232e-16,
    7.106097613609237e-15,
    -1.5230282014571043e-15,
    -9.457494571291233e-17,
    1.210237189224279e-16,
    -2.816663087747177e-17,
    5.003005559445902e-20,
    2.3281042579529253e-18,
    -8.446077682509006e-19,
    7.376840893227907e-20,
];

/// Σ c_k T_k(u) by Clenshaw's recurrence (the order the GPU kernels use).
pub fn chebyshev(coefficients: &[f64], u: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in coefficients[1..].iter().rev() {
        let b = c + 2.0 * u * b1 - b2;
        b2 = b1;
        b1 = b;
    }
    coefficients[0] + u * b1 - b2
}

/// log Φ(x), the log of the standard normal CDF, accurate in both tails:
/// log(erfc(−x/√2)/2) below 0, log1p(−erfc(x/√2)/2) above, and below −30
/// (where erfc nears the bottom of the f64 range) the asymptotic series
/// Φ(x) = φ(x)/(−x)·(1 − 1/x² + 3/x⁴ − 15/x⁶ + 105/x⁸ − 945/x¹⁰), whose
/// next term is under 2e-14 there. `erfc` is the `libm` crate's (portable Rust).
/// Within 4e-15 relative below 0 and ≈ x²·1e-15 above (the rounding of x/√2,
/// magnified by erfc's condition number), tested against 40-digit values.
pub fn log_ndtr(x: f64) -> f64 {
    if x < -30.0 {
        let z = 1.0 / (x * x);
        let series = 1.0 + z * (-1.0 + z * (3.0 + z * (-15.0 + z * (105.0 + z * -945.0))));
        -0.5 * x * x - LN_SQRT_2PI - log(-x) + log(series)
    } else if x < 0.0 {
        log(0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2))
    } else {
        log1p(-0.5 * libm::erfc(x * std::f64::consts::FRAC_1_SQRT_2))
    }
}
