//! A small builder over naga's IR for one compute function: typed helpers that
//! append expressions (emitting each one where naga needs it), nested blocks,
//! loops, and the math the kernels use, including the stable forms of the
//! delicate functions. Kernels compute in f32 or, with [`Types::wide`], in f64,
//! whose exp/log/log1p/log Φ come from `math64.rs` (Vulkan has no f64 `Exp` or `Log`).
//!
//! Math (f32; `Exp`, `Log`, `Exp2`, `Log2` and `Sqrt` are the driver's):
//! * `log`, `sqrt` get explicit special values (negative → NaN, 0 → −inf), which
//!   Vulkan leaves undefined; NaN tests use the bit pattern, which no driver
//!   optimises away.
//! * `log1p` of small arguments and `log(1 + e)` inside `log_sigmoid`/`softplus`
//!   use fdlibm's logf kernel (arithmetic only, ≤ 2 ulp), not the driver's `log`,
//!   whose absolute error near 1 (2⁻²¹ in Vulkan's rules) would swamp small results.
//! * `expm1` is a degree-8 Taylor polynomial for |x| < 0.35, `exp(x) − 1` beyond.
//! * `tanh` is `expm1(2x)/(expm1(2x) + 2)` on x clamped to ±10 (as the CPU backend).
//! * `min`, `max`, `clamp` and the batch/tok extremes propagate NaN explicitly.
//! * `log_ndtr` (log Φ) takes log erfc from a Chebyshev fit in t = 1/(1 + z/2), as the CPU backend.

use std::collections::HashMap;

use naga::{
    BinaryOperator, Block, Expression, Function, Handle, Literal, LocalVariable, MathFunction, ScalarKind, Span,
    Statement, Type, UnaryOperator,
};

pub type H = Handle<Expression>;

/// The scalar types the kernels use.
#[derive(Clone, Copy)]
pub struct Types {
    /// The float type values are stored and computed in: f32, or f64 when `wide`.
    pub float: Handle<Type>,
    pub u32: Handle<Type>,
    pub wide: bool,
}

/// Builds one function: expressions, local variables and a stack of blocks.
pub struct FnBuilder {
    pub function: Function,
    blocks: Vec<Block>,
    /// Pure expressions already emitted, per open block (common subexpressions
    /// are reused from the block that emitted them or an enclosing one).
    emitted: Vec<HashMap<String, H>>,
    pub types: Types,
}

impl FnBuilder {
    pub fn new(types: Types) -> Self {
        let function = Function::default();
        FnBuilder { function, blocks: vec![Block::new()], emitted: vec![HashMap::new()], types }
    }

    /// The finished function.
    pub fn finish(mut self) -> Function {
        debug_assert_eq!(self.blocks.len(), 1, "unbalanced blocks");
        self.function.body = self.blocks.pop().unwrap_or_default();
        self.function
    }

    /// Appends an expression, emitting it in the current block when naga needs that.
    pub fn push(&mut self, e: Expression) -> H {
        // Loads (and variables) are not pure; everything else built here is.
        let pure = !matches!(e, Expression::Load { .. } | Expression::LocalVariable(_));
        let key = if pure { Some(format!("{e:?}")) } else { None };
        if let Some(key) = &key
            && let Some(h) = self.emitted.iter().rev().find_map(|scope| scope.get(key))
        {
            return *h;
        }
        let h = self.append(e);
        if let (Some(key), Some(scope)) = (key, self.emitted.last_mut()) {
            scope.insert(key, h);
        }
        h
    }

    fn append(&mut self, e: Expression) -> H {
        let pre = e.needs_pre_emit();
        let start = self.function.expressions.len();
        let h = self.function.expressions.append(e, Span::UNDEFINED);
        if !pre {
            let range = self.function.expressions.range_from(start);
            self.stmt(Statement::Emit(range));
        }
        h
    }

    pub fn stmt(&mut self, s: Statement) {
        if let Some(block) = self.blocks.last_mut() {
            block.push(s, Span::UNDEFINED);
        }
    }

    /// Names an emitted expression (`let name = …` in WGSL) unless it has a name.
    pub fn name(&mut self, h: H, name: String) {
        if !self.function.expressions[h].needs_pre_emit() && !self.function.named_expressions.contains_key(&h) {
            self.function.named_expressions.insert(h, name);
        }
    }

    pub fn begin(&mut self) {
        self.blocks.push(Block::new());
        self.emitted.push(HashMap::new());
    }

    pub fn end(&mut self) -> Block {
        self.emitted.pop();
        self.blocks.pop().unwrap_or_default()
    }

    /// `if (condition) { <the block since `begin`> }`. The condition must be
    /// computed before `begin`, in the enclosing block.
    pub fn end_if(&mut self, condition: H) {
        let accept = self.end();
        self.stmt(Statement::If { condition, accept, reject: Block::new() });
    }

    /// A function-scope variable set to `value` here (naga wants constant
    /// initialisers; a store works for any value).
    pub fn var(&mut self, name: &str, ty: Handle<Type>, value: H) -> H {
        let var = self
            .function
            .local_variables
            .append(LocalVariable { name: Some(name.to_string()), ty, init: None }, Span::UNDEFINED);
        let pointer = self.push(Expression::LocalVariable(var));
        self.store(pointer, value);
        pointer
    }

    pub fn load(&mut self, pointer: H) -> H {
        self.push(Expression::Load { pointer })
    }

    pub fn store(&mut self, pointer: H, value: H) {
        self.stmt(Statement::Store { pointer, value });
    }

    pub fn global(&mut self, g: Handle<naga::GlobalVariable>) -> H {
        self.push(Expression::GlobalVariable(g))
    }

    /// `array[index]` as a pointer.
    pub fn at(&mut self, array: H, index: H) -> H {
        self.push(Expression::Access { base: array, index })
    }

    /// A float literal of the kernel's precision (`v` rounded to f32 unless wide).
    pub fn f(&mut self, v: f64) -> H {
        if self.types.wide {
            if v.is_finite() {
                return self.push(Expression::Literal(Literal::F64(v)));
            }
            let bits = self.u64(v.to_bits());
            return self.push(Expression::As { expr: bits, kind: ScalarKind::Float, convert: None });
        }
        let v = v as f32;
        if v.is_finite() {
            self.push(Expression::Literal(Literal::F32(v)))
        } else {
            // WGSL has no NaN or infinity literals: bitcast the pattern.
            let bits = self.u(v.to_bits());
            self.push(Expression::As { expr: bits, kind: ScalarKind::Float, convert: None })
        }
    }

    pub fn u64(&mut self, v: u64) -> H {
        self.push(Expression::Literal(Literal::U64(v)))
    }

    pub fn i(&mut self, v: i32) -> H {
        self.push(Expression::Literal(Literal::I32(v)))
    }

    pub fn u(&mut self, v: u32) -> H {
        self.push(Expression::Literal(Literal::U32(v)))
    }

    pub fn b(&mut self, v: bool) -> H {
        self.push(Expression::Literal(Literal::Bool(v)))
    }

    pub fn bin(&mut self, op: BinaryOperator, left: H, right: H) -> H {
        self.push(Expression::Binary { op, left, right })
    }

    pub fn add(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Add, a, b)
    }
    pub fn sub(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Subtract, a, b)
    }
    pub fn mul(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Multiply, a, b)
    }
    pub fn div(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Divide, a, b)
    }
    pub fn lt(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Less, a, b)
    }
    pub fn le(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::LessEqual, a, b)
    }
    pub fn gt(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Greater, a, b)
    }
    pub fn ge(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::GreaterEqual, a, b)
    }
    pub fn eq(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::Equal, a, b)
    }
    pub fn and(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::LogicalAnd, a, b)
    }
    pub fn or(&mut self, a: H, b: H) -> H {
        self.bin(BinaryOperator::LogicalOr, a, b)
    }
    pub fn not(&mut self, a: H) -> H {
        self.push(Expression::Unary { op: UnaryOperator::LogicalNot, expr: a })
    }
    /// −a, with −(−x) = x.
    pub fn neg(&mut self, a: H) -> H {
        if let Expression::Unary { op: UnaryOperator::Negate, expr } = self.function.expressions[a] {
            return expr;
        }
        self.push(Expression::Unary { op: UnaryOperator::Negate, expr: a })
    }

    /// `condition ? accept : reject`.
    pub fn select(&mut self, condition: H, accept: H, reject: H) -> H {
        self.push(Expression::Select { condition, accept, reject })
    }

    pub fn math1(&mut self, fun: MathFunction, arg: H) -> H {
        self.push(Expression::Math { fun, arg, arg1: None, arg2: None, arg3: None })
    }

    pub fn math2(&mut self, fun: MathFunction, arg: H, arg1: H) -> H {
        self.push(Expression::Math { fun, arg, arg1: Some(arg1), arg2: None, arg3: None })
    }

    pub fn bitcast_u(&mut self, x: H) -> H {
        self.push(Expression::As { expr: x, kind: ScalarKind::Uint, convert: None })
    }

    /// A float from a bool: 1.0 or 0.0.
    pub fn number(&mut self, cond: H) -> H {
        let one = self.f(1.0);
        let zero = self.f(0.0);
        self.select(cond, one, zero)
    }

    /// x != 0 with NaN counting as non-zero (as the interpreter's `x != 0.0`).
    pub fn nonzero(&mut self, x: H) -> H {
        let zero = self.f(0.0);
        let is_zero = self.eq(x, zero);
        self.not(is_zero)
    }

    /// Whether x is NaN, from its bits (immune to fast-math folding of `x != x`).
    pub fn is_nan(&mut self, x: H) -> H {
        let bits = self.bitcast_u(x);
        if self.types.wide {
            let mask = self.u64(0x7fff_ffff_ffff_ffff);
            let magnitude = self.bin(BinaryOperator::And, bits, mask);
            let inf = self.u64(0x7ff0_0000_0000_0000);
            return self.gt(magnitude, inf);
        }
        let mask = self.u(0x7fff_ffff);
        let magnitude = self.bin(BinaryOperator::And, bits, mask);
        let inf = self.u(0x7f80_0000);
        self.gt(magnitude, inf)
    }

    /// |x|, with |−x| = |x| (so sigmoid(−h) and log_sigmoid(h) share e^(−|h|)).
    pub fn abs(&mut self, x: H) -> H {
        let x = match self.function.expressions[x] {
            Expression::Unary { op: UnaryOperator::Negate, expr } => expr,
            _ => x,
        };
        self.math1(MathFunction::Abs, x)
    }

    /// NaN-propagating minimum or maximum.
    pub fn min_max(&mut self, max: bool, x: H, y: H) -> H {
        let r = self.math2(if max { MathFunction::Max } else { MathFunction::Min }, x, y);
        let nx = self.is_nan(x);
        let ny = self.is_nan(y);
        let either = self.or(nx, ny);
        let nan = self.f(f64::NAN);
        self.select(either, nan, r)
    }

    pub fn exp(&mut self, x: H) -> H {
        if self.types.wide {
            return self.exp64(x);
        }
        self.math1(MathFunction::Exp, x)
    }

    /// The driver's log with IEEE special values made explicit.
    pub fn log(&mut self, x: H) -> H {
        if self.types.wide {
            return self.log64(x);
        }
        let r = self.math1(MathFunction::Log, x);
        self.log_fixups(x, r)
    }

    pub(crate) fn log_fixups(&mut self, x: H, r: H) -> H {
        let zero = self.f(0.0);
        let at_zero = self.eq(x, zero);
        let neg_inf = self.f(f64::NEG_INFINITY);
        let r = self.select(at_zero, neg_inf, r);
        let negative = self.lt(x, zero);
        let nan = self.f(f64::NAN);
        let r = self.select(negative, nan, r);
        let inf = self.f(f64::INFINITY);
        let at_inf = self.eq(x, inf);
        let r = self.select(at_inf, inf, r);
        let is_nan = self.is_nan(x);
        self.select(is_nan, x, r)
    }

    /// Horner's rule, highest degree first.
    pub(crate) fn poly(&mut self, x: H, coefficients: &[f64]) -> H {
        let mut acc = self.f(coefficients[0]);
        for &c in &coefficients[1..] {
            let c = self.f(c);
            let m = self.mul(acc, x);
            acc = self.add(m, c);
        }
        acc
    }

    /// log(1 + f) + k·ln 2 for f in [−0.3, 0.42] (fdlibm's logf kernel).
    fn log_kernel(&mut self, f: H, k: H) -> H {
        let two = self.f(2.0);
        let denominator = self.add(two, f);
        let s = self.div(f, denominator);
        let z = self.mul(s, s);
        let w = self.mul(z, z);
        let t1 = self.poly(w, &[f64::from(0.242_790_79f32), f64::from(0.400_009_72f32)]);
        let t1 = self.mul(w, t1);
        let t2 = self.poly(w, &[f64::from(0.284_987_87f32), f64::from(0.666_666_6f32)]);
        let t2 = self.mul(z, t2);
        let r = self.add(t2, t1);
        let half = self.f(0.5);
        let hf = self.mul(half, f);
        let hfsq = self.mul(hf, f);
        let ln2_hi = self.f(f64::from(6.931_381e-1f32));
        let ln2_lo = self.f(f64::from(9.058_001e-6f32));
        let inner = self.add(hfsq, r);
        let inner = self.mul(s, inner);
        let low = self.mul(k, ln2_lo);
        let inner = self.add(inner, low);
        let inner = self.sub(hfsq, inner);
        let inner = self.sub(inner, f);
        let high = self.mul(k, ln2_hi);
        self.sub(high, inner)
    }

    /// log(1 + x): the logf kernel for |x| < 0.25, the driver's log of 1 + x beyond.
    pub fn log1p(&mut self, x: H) -> H {
        if self.types.wide {
            return self.log1p64(x);
        }
        let zero = self.f(0.0);
        let small_kernel = self.log_kernel(x, zero);
        let one = self.f(1.0);
        let u = self.add(one, x);
        let wide = self.log(u);
        let ax = self.abs(x);
        let quarter = self.f(0.25);
        let small = self.lt(ax, quarter);
        self.select(small, small_kernel, wide)
    }

    /// log(1 + e) for e in [0, 1] (or NaN), arithmetic only: 1 + e is halved above √2.
    fn log1p_unit(&mut self, e: H) -> H {
        if self.types.wide {
            return self.log1p64(e);
        }
        let one = self.f(1.0);
        let half = self.f(0.5);
        let u = self.add(one, e);
        let halved = self.mul(u, half);
        let halved = self.sub(halved, one);
        let cut = self.f(f64::from(std::f32::consts::SQRT_2 - 1.0));
        let big = self.gt(e, cut);
        let f = self.select(big, halved, e);
        let zero = self.f(0.0);
        let k = self.select(big, one, zero);
        self.log_kernel(f, k)
    }

    /// e^x − 1: Taylor to degree 8 for |x| < 0.35, the driver's exp beyond.
    pub fn expm1(&mut self, x: H) -> H {
        if self.types.wide {
            return self.expm1_64(x);
        }
        let c: Vec<f64> =
            [40320.0f32, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0].iter().map(|d| f64::from(1.0 / d)).collect();
        let p = self.poly(x, &c);
        let small_value = self.mul(x, p);
        let e = self.exp(x);
        let one = self.f(1.0);
        let wide = self.sub(e, one);
        let ax = self.abs(x);
        let cut = self.f(0.35);
        let small = self.lt(ax, cut);
        self.select(small, small_value, wide)
    }

    /// e^(−|x|).
    fn exp_neg_abs(&mut self, x: H) -> H {
        let ax = self.abs(x);
        let m = self.neg(ax);
        self.exp(m)
    }

    pub fn sigmoid(&mut self, x: H) -> H {
        let e = self.exp_neg_abs(x);
        let one = self.f(1.0);
        let d = self.add(one, e);
        let r = self.div(one, d);
        let er = self.mul(e, r);
        let zero = self.f(0.0);
        let negative = self.lt(x, zero);
        self.select(negative, er, r)
    }

    pub fn log_sigmoid(&mut self, x: H) -> H {
        let zero = self.f(0.0);
        let negative = self.lt(x, zero);
        let m = self.select(negative, x, zero);
        let e = self.exp_neg_abs(x);
        let l = self.log1p_unit(e);
        self.sub(m, l)
    }

    pub fn softplus(&mut self, x: H) -> H {
        let zero = self.f(0.0);
        let positive = self.gt(x, zero);
        let m = self.select(positive, x, zero);
        let e = self.exp_neg_abs(x);
        let l = self.log1p_unit(e);
        self.add(m, l)
    }

    /// tanh(±10) rounds to ±1 in f32, tanh(±20) in f64.
    pub fn tanh(&mut self, x: H) -> H {
        let bound = if self.types.wide { 20.0 } else { 10.0 };
        let limit = self.f(bound);
        let neg_limit = self.f(-bound);
        let over = self.gt(x, limit);
        let xc = self.select(over, limit, x);
        let under = self.lt(xc, neg_limit);
        let xc = self.select(under, neg_limit, xc);
        let two_x = self.add(xc, xc);
        let e = self.expm1(two_x);
        let two = self.f(2.0);
        let d = self.add(e, two);
        self.div(e, d)
    }

    /// log(1 − e^x) for x < 0 in two branches (as the interpreter); NaN for x ≥ 0.
    pub fn log1mexp(&mut self, x: H) -> H {
        let e = self.expm1(x);
        let minus = self.neg(e);
        let near = self.log(minus);
        let ex = self.exp(x);
        let minus_ex = self.neg(ex);
        let far = self.log1p(minus_ex);
        let cut = self.f(f64::from(-std::f32::consts::LN_2));
        let is_near = self.gt(x, cut);
        let r = self.select(is_near, near, far);
        let zero = self.f(0.0);
        let bad = self.ge(x, zero);
        let nan = self.f(f64::NAN);
        self.select(bad, nan, r)
    }

    /// log Φ(x) as the CPU backend computes it (`plumb_cpu::math::log_ndtr`):
    /// log erfc by a Chebyshev fit in t = 1/(1 + z/2), z = |x|/√2.
    pub fn log_ndtr(&mut self, x: H) -> H {
        if self.types.wide {
            return self.log_ndtr64(x);
        }
        let ax = self.abs(x);
        let scale = self.f(f64::from(std::f32::consts::FRAC_1_SQRT_2));
        let z = self.mul(ax, scale);
        let half = self.f(0.5);
        let one = self.f(1.0);
        let half_z = self.mul(half, z);
        let denominator = self.add(half_z, one);
        let t = self.div(one, denominator);
        let coefficients: Vec<f64> = plumb_ir::math::LOG_ERFC_T.iter().map(|&c| f64::from(c)).collect();
        let p = self.poly(t, &coefficients);
        let zz = self.mul(z, z);
        let q = self.sub(p, zz);
        let log_t = self.log(t);
        let log_erfc = self.add(log_t, q);
        let ln2 = self.f(f64::from(std::f32::consts::LN_2));
        let lower = self.sub(log_erfc, ln2);
        let erfc = self.exp(log_erfc);
        let minus_half = self.f(-0.5);
        let tail = self.mul(erfc, minus_half);
        let upper = self.log1p(tail);
        let zero = self.f(0.0);
        let negative = self.lt(x, zero);
        self.select(negative, lower, upper)
    }

    pub fn sqrt(&mut self, x: H) -> H {
        let r = self.math1(MathFunction::Sqrt, x);
        let zero = self.f(0.0);
        let negative = self.lt(x, zero);
        let nan = self.f(f64::NAN);
        self.select(negative, nan, r)
    }

    /// x^y. A small integer constant exponent multiplies (as the CPU backend);
    /// otherwise 2^(y·log2|x|) with C's `pow` special cases: y = 0 or x = 1 give 1,
    /// x = 0 gives 0 or inf, a negative x needs an integer y (sign by parity),
    /// NaN otherwise propagates.
    pub fn pow(&mut self, x: H, y: H, constant_y: Option<f64>) -> H {
        if let Some(k) = constant_y
            && k.fract() == 0.0
            && k.abs() <= 16.0
        {
            let one = self.f(1.0);
            let mut acc = one;
            for i in 0..k.abs() as u32 {
                acc = if i == 0 { x } else { self.mul(acc, x) };
            }
            return if k < 0.0 { self.div(one, acc) } else { acc };
        }
        let ax = self.abs(x);
        let magnitude = if self.types.wide {
            // Vulkan has no f64 exp2/log2: e^(y·log|x|), within ≈ |y·log x|·2⁻⁵² relative.
            let l = self.log64(ax);
            let t = self.mul(y, l);
            self.exp64(t)
        } else {
            let l = self.math1(MathFunction::Log2, ax);
            let t = self.mul(y, l);
            self.math1(MathFunction::Exp2, t)
        };
        let zero = self.f(0.0);
        let one = self.f(1.0);
        let inf = self.f(f64::INFINITY);
        let nan = self.f(f64::NAN);
        // A negative base: integer exponents keep the magnitude, odd ones flip the sign.
        let floor_y = self.math1(MathFunction::Floor, y);
        let integer = self.eq(floor_y, y);
        let half = self.f(0.5);
        let half_y = self.mul(y, half);
        let floor_half = self.math1(MathFunction::Floor, half_y);
        let odd_part = self.sub(half_y, floor_half);
        let odd = self.gt(odd_part, zero);
        let flipped = self.neg(magnitude);
        let signed = self.select(odd, flipped, magnitude);
        let negative_result = self.select(integer, signed, nan);
        let negative = self.lt(x, zero);
        let r = self.select(negative, negative_result, magnitude);
        let positive_y = self.gt(y, zero);
        let at_zero = self.select(positive_y, zero, inf);
        let base_zero = self.eq(x, zero);
        let r = self.select(base_zero, at_zero, r);
        let nan_x = self.is_nan(x);
        let nan_y = self.is_nan(y);
        let either = self.or(nan_x, nan_y);
        let r = self.select(either, nan, r);
        let base_one = self.eq(x, one);
        let zero_y = self.eq(y, zero);
        let trivial = self.or(base_one, zero_y);
        self.select(trivial, one, r)
    }
}
