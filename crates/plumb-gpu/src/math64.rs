//! The f64 math of wide kernels: Vulkan's `Exp` and `Log` are 32-bit only, so
//! `exp` and `log` are `plumb_ir::math`'s portable algorithms written out step
//! for step (64-bit integer ops for the exponent bits, `SHADER_INT64`), except
//! that `exp` rounds with `round`, not the 1.5·2⁵² shifter, which a driver may
//! fold away ((a + c) − c = a is a legal rewrite of inexact SPIR-V, and Mesa's
//! NIR makes it); `log1p` is fdlibm's log kernel near 0 and `log(1 + x)`
//! beyond, for the same reason; `expm1` is a degree-14 Taylor polynomial below 0.35 in magnitude, and log Φ
//! takes log erfc from the Chebyshev series `LOG_ERFC_CHEBYSHEV`.
//!
//! Agreement with the interpreter: within a few ulps, not bitwise — drivers may
//! contract a multiply and an add into one fused operation, reassociate, and
//! round f64 division and square root within Vulkan's bounds; the GPU suite
//! checks every function over wide ranges.

use crate::builder::{FnBuilder, H};
use naga::{BinaryOperator, Expression, MathFunction, ScalarKind};
use plumb_ir::math;

impl FnBuilder {
    fn convert(&mut self, expr: H, kind: ScalarKind, width: u8) -> H {
        self.push(Expression::As { expr, kind, convert: Some(width) })
    }

    fn bitcast(&mut self, expr: H, kind: ScalarKind) -> H {
        self.push(Expression::As { expr, kind, convert: None })
    }

    /// 2^k for an integral f64 k in the normal exponent range: the bits (k + 1023) << 52.
    fn power_of_two(&mut self, k: H) -> H {
        let k = self.convert(k, ScalarKind::Sint, 4);
        let bias = self.i(1023);
        let biased = self.add(k, bias);
        let biased = self.convert(biased, ScalarKind::Uint, 8);
        let shift = self.u(52);
        let bits = self.bin(BinaryOperator::ShiftLeft, biased, shift);
        self.bitcast(bits, ScalarKind::Float)
    }

    /// `plumb_ir::math::exp`.
    pub(crate) fn exp64(&mut self, x: H) -> H {
        let low = self.f(math::EXP_LOW);
        let under = self.lt(x, low);
        let x = self.select(under, low, x);
        let high = self.f(math::EXP_HIGH);
        let over = self.gt(x, high);
        let x = self.select(over, high, x);
        let log2e = self.f(math::LOG2_E);
        let scaled = self.mul(x, log2e);
        let k = self.math1(MathFunction::Round, scaled);
        let ln2_hi = self.f(math::LN2_HI);
        let ln2_lo = self.f(math::LN2_LO);
        let k_hi = self.mul(k, ln2_hi);
        let hi = self.sub(x, k_hi);
        let lo = self.mul(k, ln2_lo);
        let r = self.sub(hi, lo);
        let t = self.mul(r, r);
        let p = &math::EXP_P;
        let mut acc = self.f(p[4]);
        for &c in p[..4].iter().rev() {
            let m = self.mul(t, acc);
            let c = self.f(c);
            acc = self.add(c, m);
        }
        let p = self.mul(t, acc);
        let c = self.sub(r, p);
        let rc = self.mul(r, c);
        let two = self.f(2.0);
        let denominator = self.sub(two, c);
        let quotient = self.div(rc, denominator);
        let inner = self.sub(lo, quotient);
        let inner = self.sub(inner, hi);
        let one = self.f(1.0);
        let y = self.sub(one, inner);
        let half = self.f(0.5);
        let k_half = self.mul(k, half);
        let k1 = self.math1(MathFunction::Round, k_half);
        let k2 = self.sub(k, k1);
        let p1 = self.power_of_two(k1);
        let p2 = self.power_of_two(k2);
        let y = self.mul(y, p1);
        self.mul(y, p2)
    }

    /// `plumb_ir::math::log`.
    pub(crate) fn log64(&mut self, x: H) -> H {
        let min_positive = self.f(f64::MIN_POSITIVE);
        let small = self.lt(x, min_positive);
        let two_54 = self.f(math::TWO_54);
        let up = self.mul(x, two_54);
        let scaled = self.select(small, up, x);
        let bias_small = self.u64(1023 + 54);
        let bias_normal = self.u64(1023);
        let bias = self.select(small, bias_small, bias_normal);
        let bits = self.bitcast_u(scaled);
        let thirty_two = self.u(32);
        let high = self.bin(BinaryOperator::ShiftRight, bits, thirty_two);
        // Wrapping u64 arithmetic is the interpreter's i64 arithmetic bit for bit.
        let shift = self.u64(math::LOG_HIGH_SHIFT as u64);
        let high = self.add(high, shift);
        let twenty = self.u(20);
        let exponent = self.bin(BinaryOperator::ShiftRight, high, twenty);
        let k = self.sub(exponent, bias);
        let mantissa_mask = self.u64(0x000f_ffff);
        let reduced = self.bin(BinaryOperator::And, high, mantissa_mask);
        let base = self.u64(math::LOG_HIGH_BASE as u64);
        let reduced = self.add(reduced, base);
        let reduced = self.bin(BinaryOperator::ShiftLeft, reduced, thirty_two);
        let low_mask = self.u64(0xffff_ffff);
        let low = self.bin(BinaryOperator::And, bits, low_mask);
        let m_bits = self.bin(BinaryOperator::InclusiveOr, reduced, low);
        let m = self.bitcast(m_bits, ScalarKind::Float);
        let one = self.f(1.0);
        let f = self.sub(m, one);
        // k as a signed integer, then as f64.
        let k = self.bitcast(k, ScalarKind::Sint);
        let dk = self.convert(k, ScalarKind::Float, 8);
        let y = self.log_core(f, dk);
        self.log_fixups(x, y)
    }

    /// log(1 + f) + k·ln 2 for f in [√2/2 − 1, √2 − 1]: fdlibm's polynomial in s = f/(2 + f).
    fn log_core(&mut self, f: H, dk: H) -> H {
        let half = self.f(0.5);
        let half_f = self.mul(half, f);
        let hfsq = self.mul(half_f, f);
        let two = self.f(2.0);
        let denominator = self.add(two, f);
        let s = self.div(f, denominator);
        let z = self.mul(s, s);
        let w = self.mul(z, z);
        let lg = math::LOG_LG.map(|c| self.f(c));
        let t1 = self.mul(w, lg[5]);
        let t1 = self.add(lg[3], t1);
        let t1 = self.mul(w, t1);
        let t1 = self.add(lg[1], t1);
        let t1 = self.mul(w, t1);
        let t2 = self.mul(w, lg[6]);
        let t2 = self.add(lg[4], t2);
        let t2 = self.mul(w, t2);
        let t2 = self.add(lg[2], t2);
        let t2 = self.mul(w, t2);
        let t2 = self.add(lg[0], t2);
        let t2 = self.mul(z, t2);
        let r = self.add(t2, t1);
        let inner = self.add(hfsq, r);
        let y = self.mul(s, inner);
        let ln2_lo = self.f(math::LN2_LO);
        let ln2_hi = self.f(math::LN2_HI);
        let klo = self.mul(dk, ln2_lo);
        let y = self.add(y, klo);
        let y = self.sub(y, hfsq);
        let y = self.add(y, f);
        let khi = self.mul(dk, ln2_hi);
        self.add(y, khi)
    }

    /// log(1 + x): [`Self::log_core`] of x itself for x in [√2/2 − 1, √2 − 1],
    /// log(1 + x) beyond, where rounding 1 + x costs under an ulp of the result.
    /// (Not the interpreter's compensated form: drivers may fold the
    /// compensation `x − ((1 + x) − 1)` to 0, as Mesa's NIR does.)
    pub(crate) fn log1p64(&mut self, x: H) -> H {
        let zero = self.f(0.0);
        let near = self.log_core(x, zero);
        let one = self.f(1.0);
        let u = self.add(one, x);
        let far = self.log64(u);
        let low = self.f(std::f64::consts::FRAC_1_SQRT_2 - 1.0);
        let high = self.f(std::f64::consts::SQRT_2 - 1.0);
        let above = self.ge(x, low);
        let below = self.le(x, high);
        let inside = self.and(above, below);
        let y = self.select(inside, near, far);
        let at_minus_one = self.eq(u, zero);
        let neg_inf = self.f(f64::NEG_INFINITY);
        let y = self.select(at_minus_one, neg_inf, y);
        let inf = self.f(f64::INFINITY);
        let at_inf = self.eq(x, inf);
        self.select(at_inf, x, y)
    }

    /// e^x − 1: x·Σ x^k/(k+1)! to k = 13 for |x| < 0.35 (truncation under 2⁻⁵⁵
    /// relative), e^x − 1 beyond.
    pub(crate) fn expm1_64(&mut self, x: H) -> H {
        let mut factorial = 1.0f64;
        let mut coefficients = Vec::new();
        for k in 1..=14 {
            factorial *= f64::from(k);
            coefficients.push(1.0 / factorial);
        }
        coefficients.reverse();
        let p = self.poly(x, &coefficients);
        let small_value = self.mul(x, p);
        let e = self.exp64(x);
        let one = self.f(1.0);
        let wide = self.sub(e, one);
        let ax = self.math1(MathFunction::Abs, x);
        let cut = self.f(0.35);
        let small = self.lt(ax, cut);
        self.select(small, small_value, wide)
    }

    /// log Φ(x): log erfc(z) = log t − z² + P(t), z = |x|/√2, t = 1/(1 + z/2),
    /// P summed by Clenshaw's recurrence in u = 2t − 1 (as `plumb_ir::math::chebyshev`).
    pub(crate) fn log_ndtr64(&mut self, x: H) -> H {
        let ax = self.math1(MathFunction::Abs, x);
        let scale = self.f(std::f64::consts::FRAC_1_SQRT_2);
        let z = self.mul(ax, scale);
        let half = self.f(0.5);
        let one = self.f(1.0);
        let two = self.f(2.0);
        let half_z = self.mul(half, z);
        let denominator = self.add(one, half_z);
        let t = self.div(one, denominator);
        let two_t = self.mul(two, t);
        let u = self.sub(two_t, one);
        let two_u = self.mul(two, u);
        let c = &math::LOG_ERFC_CHEBYSHEV;
        let (mut b1, mut b2) = (self.f(0.0), self.f(0.0));
        for &ck in c[1..].iter().rev() {
            let ck = self.f(ck);
            let m = self.mul(two_u, b1);
            let sum = self.add(ck, m);
            let b = self.sub(sum, b2);
            b2 = b1;
            b1 = b;
        }
        let c0 = self.f(c[0]);
        let ub = self.mul(u, b1);
        let p = self.add(c0, ub);
        let p = self.sub(p, b2);
        let log_t = self.log64(t);
        let zz = self.mul(z, z);
        let log_erfc = self.sub(log_t, zz);
        let log_erfc = self.add(log_erfc, p);
        let ln2 = self.f(std::f64::consts::LN_2);
        let lower = self.sub(log_erfc, ln2);
        let erfc = self.exp64(log_erfc);
        let minus_half = self.f(-0.5);
        let tail = self.mul(minus_half, erfc);
        let upper = self.log1p64(tail);
        let zero = self.f(0.0);
        let negative = self.lt(x, zero);
        self.select(negative, lower, upper)
    }
}
