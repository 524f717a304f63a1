//! f64 `exp`, `log` and `log1p` emitted as cranelift IR, in scalar f64 or
//! f64x2 lanes, instruction for instruction the interpreter's portable
//! definitions (`plumb_ir::math`), so f64 kernels agree with the interpreter
//! bit for bit (cranelift never fuses a multiply and an add). Integers that
//! the definitions convert from floats are read off the bits of `k + 1.5·2^52`
//! (exact for the small integers involved), which works in both widths.
//! Change both files together.

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value, condcodes::FloatCC, types};
use cranelift_frontend::FunctionBuilder;
use plumb_ir::math::{
    EXP_HIGH, EXP_LOW, EXP_P, LN2_HI, LN2_LO, LOG_HIGH_BASE, LOG_HIGH_SHIFT, LOG_LG, LOG2_E, SHIFTER, TWO_54,
};

/// Scalar f64 or two f64 lanes: the types, constants, comparisons and
/// selects of one width.
#[derive(Clone, Copy)]
pub struct Lanes {
    pub wide: bool,
}

impl Lanes {
    pub fn float(self) -> Type {
        if self.wide { types::F64X2 } else { types::F64 }
    }

    fn int(self) -> Type {
        if self.wide { types::I64X2 } else { types::I64 }
    }

    fn flags(self) -> MemFlagsData {
        if self.wide { crate::math::lanes_flags() } else { MemFlagsData::new() }
    }

    /// A constant in every lane.
    pub fn constant(self, b: &mut FunctionBuilder, x: f64) -> Value {
        let c = b.ins().f64const(x);
        self.splat(b, c)
    }

    /// A scalar f64 in every lane.
    pub fn splat(self, b: &mut FunctionBuilder, x: Value) -> Value {
        if self.wide { b.ins().splat(types::F64X2, x) } else { x }
    }

    fn integer(self, b: &mut FunctionBuilder, x: i64) -> Value {
        let c = b.ins().iconst(types::I64, x);
        if self.wide { b.ins().splat(types::I64X2, c) } else { c }
    }

    /// `cc(x, y)` lane by lane, as a condition for [`Lanes::choose`].
    pub fn compare(self, b: &mut FunctionBuilder, cc: FloatCC, x: Value, y: Value) -> Value {
        let holds = b.ins().fcmp(cc, x, y);
        if self.wide { b.ins().bitcast(types::F64X2, self.flags(), holds) } else { holds }
    }

    /// `condition ? x : y` lane by lane.
    pub fn choose(self, b: &mut FunctionBuilder, condition: Value, x: Value, y: Value) -> Value {
        if self.wide { b.ins().bitselect(condition, x, y) } else { b.ins().select(condition, x, y) }
    }

    fn bits_of(self, b: &mut FunctionBuilder, x: Value) -> Value {
        b.ins().bitcast(self.int(), self.flags(), x)
    }

    fn float_of_bits(self, b: &mut FunctionBuilder, x: Value) -> Value {
        b.ins().bitcast(self.float(), self.flags(), x)
    }

    fn shift_left(self, b: &mut FunctionBuilder, x: Value, by: i64) -> Value {
        let by = b.ins().iconst(types::I32, by);
        b.ins().ishl(x, by)
    }

    fn shift_right(self, b: &mut FunctionBuilder, x: Value, by: i64) -> Value {
        let by = b.ins().iconst(types::I32, by);
        b.ins().ushr(x, by)
    }

    /// `if x <cc> limit { replacement } else { otherwise }` (ordered: false for NaN).
    fn replace_if(
        self,
        b: &mut FunctionBuilder,
        cc: FloatCC,
        x: Value,
        limit: f64,
        replacement: Value,
        otherwise: Value,
    ) -> Value {
        let limit = self.constant(b, limit);
        let holds = self.compare(b, cc, x, limit);
        self.choose(b, holds, replacement, otherwise)
    }

    /// The integer value of an integral float k with |k| < 2^51.
    fn integral_to_int(self, b: &mut FunctionBuilder, k: Value) -> Value {
        let shifter = self.constant(b, SHIFTER);
        let shifted = b.ins().fadd(k, shifter);
        let bits = self.bits_of(b, shifted);
        let offset = self.integer(b, SHIFTER.to_bits() as i64);
        b.ins().isub(bits, offset)
    }

    /// The float value of a small integer k (|k| < 2^51).
    fn int_to_float(self, b: &mut FunctionBuilder, k: Value) -> Value {
        let offset = self.integer(b, SHIFTER.to_bits() as i64);
        let bits = b.ins().iadd(k, offset);
        let shifted = self.float_of_bits(b, bits);
        let shifter = self.constant(b, SHIFTER);
        b.ins().fsub(shifted, shifter)
    }

    /// Horner's rule from the highest coefficient: c₀ + x(c₁ + x(c₂ + …)).
    fn horner(self, b: &mut FunctionBuilder, x: Value, coefficients: &[f64]) -> Value {
        let (last, rest) = coefficients.split_last().expect("coefficients");
        let mut acc = self.constant(b, *last);
        for &c in rest.iter().rev() {
            let product = b.ins().fmul(x, acc);
            let c = self.constant(b, c);
            acc = b.ins().fadd(c, product);
        }
        acc
    }

    /// 2^k for an integral k in the normal exponent range.
    fn power_of_two(self, b: &mut FunctionBuilder, k: Value) -> Value {
        let k = self.integral_to_int(b, k);
        let bias = self.integer(b, 1023);
        let biased = b.ins().iadd(k, bias);
        let bits = self.shift_left(b, biased, 52);
        self.float_of_bits(b, bits)
    }

    /// e^x (`plumb_ir::math::exp`).
    pub fn exp(self, b: &mut FunctionBuilder, x: Value) -> Value {
        let low = self.constant(b, EXP_LOW);
        let x = self.replace_if(b, FloatCC::LessThan, x, EXP_LOW, low, x);
        let high = self.constant(b, EXP_HIGH);
        let x = self.replace_if(b, FloatCC::GreaterThan, x, EXP_HIGH, high, x);
        let log2e = self.constant(b, LOG2_E);
        let shifter = self.constant(b, SHIFTER);
        let scaled = b.ins().fmul(x, log2e);
        let shifted = b.ins().fadd(scaled, shifter);
        let k = b.ins().fsub(shifted, shifter);
        let ln2_hi = self.constant(b, LN2_HI);
        let ln2_lo = self.constant(b, LN2_LO);
        let k_hi = b.ins().fmul(k, ln2_hi);
        let hi = b.ins().fsub(x, k_hi);
        let lo = b.ins().fmul(k, ln2_lo);
        let r = b.ins().fsub(hi, lo);
        let t = b.ins().fmul(r, r);
        let poly = self.horner(b, t, &EXP_P);
        let p = b.ins().fmul(t, poly);
        let c = b.ins().fsub(r, p);
        let rc = b.ins().fmul(r, c);
        let two = self.constant(b, 2.0);
        let two_minus_c = b.ins().fsub(two, c);
        let quotient = b.ins().fdiv(rc, two_minus_c);
        let inner = b.ins().fsub(lo, quotient);
        let inner = b.ins().fsub(inner, hi);
        let one = self.constant(b, 1.0);
        let y = b.ins().fsub(one, inner);
        let half = self.constant(b, 0.5);
        let k_half = b.ins().fmul(k, half);
        let k1 = b.ins().fadd(k_half, shifter);
        let k1 = b.ins().fsub(k1, shifter);
        let k2 = b.ins().fsub(k, k1);
        let scale1 = self.power_of_two(b, k1);
        let scale2 = self.power_of_two(b, k2);
        let y = b.ins().fmul(y, scale1);
        b.ins().fmul(y, scale2)
    }

    /// The natural logarithm (`plumb_ir::math::log`).
    pub fn log(self, b: &mut FunctionBuilder, x: Value) -> Value {
        let min_positive = self.constant(b, f64::MIN_POSITIVE);
        let small = self.compare(b, FloatCC::LessThan, x, min_positive);
        let two_54 = self.constant(b, TWO_54);
        let times = b.ins().fmul(x, two_54);
        let scaled = self.choose(b, small, times, x);
        let bias_small = self.constant(b, f64::from(1023 + 54));
        let bias_normal = self.constant(b, 1023.0);
        let bias = self.choose(b, small, bias_small, bias_normal);
        let bias = self.integral_to_int(b, bias);
        let bits = self.bits_of(b, scaled);
        let high = self.shift_right(b, bits, 32);
        let high_shift = self.integer(b, LOG_HIGH_SHIFT);
        let high = b.ins().iadd(high, high_shift);
        let exponent = self.shift_right(b, high, 20);
        let k = b.ins().isub(exponent, bias);
        let mantissa_mask = self.integer(b, 0x000f_ffff);
        let mantissa_high = b.ins().band(high, mantissa_mask);
        let high_base = self.integer(b, LOG_HIGH_BASE);
        let reduced_high = b.ins().iadd(mantissa_high, high_base);
        let reduced_high = self.shift_left(b, reduced_high, 32);
        let low_mask = self.integer(b, 0xffff_ffff);
        let low = b.ins().band(bits, low_mask);
        let reduced = b.ins().bor(reduced_high, low);
        let m = self.float_of_bits(b, reduced);
        let one = self.constant(b, 1.0);
        let f = b.ins().fsub(m, one);
        let half = self.constant(b, 0.5);
        let half_f = b.ins().fmul(half, f);
        let hfsq = b.ins().fmul(half_f, f);
        let two = self.constant(b, 2.0);
        let two_f = b.ins().fadd(two, f);
        let s = b.ins().fdiv(f, two_f);
        let z = b.ins().fmul(s, s);
        let w = b.ins().fmul(z, z);
        let even = self.horner(b, w, &[LOG_LG[1], LOG_LG[3], LOG_LG[5]]);
        let t1 = b.ins().fmul(w, even);
        let odd = self.horner(b, w, &[LOG_LG[0], LOG_LG[2], LOG_LG[4], LOG_LG[6]]);
        let t2 = b.ins().fmul(z, odd);
        let r = b.ins().fadd(t2, t1);
        let dk = self.int_to_float(b, k);
        let hfsq_r = b.ins().fadd(hfsq, r);
        let y = b.ins().fmul(s, hfsq_r);
        let ln2_lo = self.constant(b, LN2_LO);
        let k_lo = b.ins().fmul(dk, ln2_lo);
        let y = b.ins().fadd(y, k_lo);
        let y = b.ins().fsub(y, hfsq);
        let y = b.ins().fadd(y, f);
        let ln2_hi = self.constant(b, LN2_HI);
        let k_hi = b.ins().fmul(dk, ln2_hi);
        let y = b.ins().fadd(y, k_hi);
        let minus_infinity = self.constant(b, f64::NEG_INFINITY);
        let y = self.replace_if(b, FloatCC::Equal, x, 0.0, minus_infinity, y);
        let nan = self.constant(b, f64::NAN);
        let y = self.replace_if(b, FloatCC::LessThan, x, 0.0, nan, y);
        // !(x < ∞): +∞ or NaN, returned as they are.
        self.replace_if(b, FloatCC::UnorderedOrGreaterThanOrEqual, x, f64::INFINITY, x, y)
    }

    /// log(1 + x) (`plumb_ir::math::log1p`).
    pub fn log1p(self, b: &mut FunctionBuilder, x: Value) -> Value {
        let one = self.constant(b, 1.0);
        let u = b.ins().fadd(one, x);
        let u_minus_one = b.ins().fsub(u, one);
        let error = b.ins().fsub(x, u_minus_one);
        let correction = b.ins().fdiv(error, u);
        let log_u = self.log(b, u);
        let y = b.ins().fadd(log_u, correction);
        let y = self.replace_if(b, FloatCC::Equal, u, 1.0, x, y);
        let minus_infinity = self.constant(b, f64::NEG_INFINITY);
        let y = self.replace_if(b, FloatCC::Equal, u, 0.0, minus_infinity, y);
        self.replace_if(b, FloatCC::Equal, x, f64::INFINITY, x, y)
    }
}
