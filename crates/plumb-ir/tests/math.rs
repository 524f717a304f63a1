//! The portable f64 `exp`, `log` and `log1p` against the platform's libm: at
//! most 1 ulp apart on 10^6 random arguments each over the whole range, and
//! exact on the special values (±0, ±∞, NaN, subnormals, the overflow and
//! underflow edges).

use plumb_ir::math;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// A positive number with a uniformly random exponent and mantissa (subnormals included).
    fn any_positive(&mut self) -> f64 {
        f64::from_bits(self.next() % 0x7ff0_0000_0000_0000)
    }
}

/// The distance in units in the last place (on the ordered integer line of f64 bit patterns).
fn ulps(x: f64, y: f64) -> u64 {
    if x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) {
        return 0;
    }
    let key = |v: f64| {
        let b = v.to_bits() as i64;
        if b < 0 { i64::MIN - b } else { b }
    };
    key(x).abs_diff(key(y))
}

fn worst(name: &str, ours: fn(f64) -> f64, libm: fn(f64) -> f64, args: impl Iterator<Item = f64>) -> u64 {
    let mut worst = (0, 0.0);
    for x in args {
        let d = ulps(ours(x), libm(x));
        if d > worst.0 {
            worst = (d, x);
        }
    }
    assert!(
        worst.0 <= 1,
        "{name}({:e}) = {:e}, libm {:e}: {} ulps apart",
        worst.1,
        ours(worst.1),
        libm(worst.1),
        worst.0
    );
    worst.0
}

const SAMPLES: usize = 1_000_000;

#[test]
fn exp_is_within_one_ulp_of_libm() {
    let mut rng = Rng(1);
    worst("exp", math::exp, f64::exp, (0..SAMPLES).map(|_| rng.uniform(-750.0, 712.0)));
    worst("exp", math::exp, f64::exp, (0..SAMPLES).map(|_| rng.uniform(-1.0, 1.0)));
    worst("exp", math::exp, f64::exp, (0..SAMPLES).map(|_| rng.uniform(-745.2, -708.0)));
}

#[test]
fn log_is_within_one_ulp_of_libm() {
    let mut rng = Rng(2);
    worst("log", math::log, f64::ln, (0..SAMPLES).map(|_| rng.any_positive()));
    worst("log", math::log, f64::ln, (0..SAMPLES).map(|_| rng.uniform(0.5, 2.0)));
    worst("log", math::log, f64::ln, (0..SAMPLES).map(|_| 1.0 + rng.uniform(-1e-6, 1e-6)));
}

#[test]
fn log1p_is_within_one_ulp_of_libm() {
    let mut rng = Rng(3);
    worst("log1p", math::log1p, f64::ln_1p, (0..SAMPLES).map(|_| rng.any_positive()));
    worst("log1p", math::log1p, f64::ln_1p, (0..SAMPLES).map(|_| -rng.any_positive().min(1.0)));
    worst("log1p", math::log1p, f64::ln_1p, (0..SAMPLES).map(|_| rng.uniform(-1.0, 1.0)));
    worst("log1p", math::log1p, f64::ln_1p, (0..SAMPLES).map(|_| rng.uniform(-1e-8, 1e-8)));
}

#[test]
fn special_values_are_exact() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 3.0,
        5e-324,
        -5e-324,
        1.0,
        -1.0,
        -1.0 - f64::EPSILON,
        709.782_712_893_384,
        709.782_712_893_385,
        -745.133_219_101_941_1,
        -745.2,
        -708.4,
        f64::MAX,
        -f64::MAX,
        1e-300,
    ];
    for x in specials {
        for (name, ours, libm) in [
            ("exp", math::exp as fn(f64) -> f64, f64::exp as fn(f64) -> f64),
            ("log", math::log, f64::ln),
            ("log1p", math::log1p, f64::ln_1p),
        ] {
            let (a, b) = (ours(x), libm(x));
            let exact = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            // Finite, nonzero results may differ by the 1 ulp measured above.
            assert!(
                exact || (a.is_finite() && b.is_finite() && a != 0.0 && ulps(a, b) <= 1),
                "{name}({x:e}) = {a:e}, libm {b:e}"
            );
        }
    }
}

/// log Φ against 40-digit values (mpmath `log(ncdf(x))`), across both tails
/// and the switch to the asymptotic series at −30.
#[test]
#[allow(clippy::excessive_precision)] // 20-digit reference values
fn log_ndtr_matches_high_precision_values() {
    let reference = [
        (-1000.0, -500_007.826_694_812_184_31),
        (-200.0, -20_006.217_280_898_190_402),
        (-40.0, -804.608_442_013_753_788_17),
        (-30.5, -469.462_737_322_912_114_39),
        (-30.0, -454.321_243_956_343_197_11),
        (-29.5, -439.429_474_609_150_227_75),
        (-20.0, -203.917_155_371_097_263_94),
        (-10.0, -53.231_285_150_512_470_578),
        (-3.0, -6.607_726_221_510_349_543_3),
        (-1.0, -1.841_021_645_009_263_505_8),
        (-0.001, -0.693_945_383_466_965_178_79),
        (0.0, -std::f64::consts::LN_2),
        (0.001, -0.692_349_614_272_688_243_4),
        (0.5, -0.368_946_415_288_656_393_07),
        (1.0, -0.172_753_779_023_449_889_53),
        (3.0, -0.001_350_809_964_748_193_798_8),
        (5.0, -2.866_516_129_637_635_933_8e-7),
        (8.0, -6.220_960_574_271_786_058_5e-16),
        (10.0, -7.619_853_024_160_526_070_4e-24),
        (20.0, -2.753_624_118_606_233_695_1e-89),
    ];
    for (x, want) in reference {
        let got = math::log_ndtr(x);
        // Above 0, log Φ(x) ≈ −erfc(x/√2)/2, whose condition number x² magnifies the
        // rounding of x/√2: a relative error of ≈ x²·1e-16 is the best f64 can do.
        let tolerance = if x > 0.0 { 1e-15 * (4.0 + x * x) } else { 4e-15 };
        assert!((got - want).abs() <= tolerance * want.abs(), "log_ndtr({x}) = {got:e}, want {want:e}");
    }
    assert_eq!(math::log_ndtr(f64::NEG_INFINITY), f64::NEG_INFINITY);
    assert_eq!(math::log_ndtr(f64::INFINITY), 0.0);
    assert!(math::log_ndtr(f64::NAN).is_nan());
    for (x, want) in reference {
        let got = log_ndtr_by_chebyshev(x);
        let tolerance = if x > 0.0 { 1e-15 * (8.0 + x * x) } else { 8e-15 };
        assert!((got - want).abs() <= tolerance * want.abs(), "Chebyshev log_ndtr({x}) = {got:e}, want {want:e}");
    }
}

/// log Φ as the GPU's f64 kernels compute it, from `LOG_ERFC_CHEBYSHEV`.
fn log_ndtr_by_chebyshev(x: f64) -> f64 {
    let z = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let log_erfc = math::log(t) - z * z + math::chebyshev(&math::LOG_ERFC_CHEBYSHEV, 2.0 * t - 1.0);
    if x < 0.0 { log_erfc - std::f64::consts::LN_2 } else { math::log1p(-0.5 * math::exp(log_erfc)) }
}

/// The Chebyshev form against the interpreter's erfc-based log Φ on a dense grid.
#[test]
fn log_ndtr_chebyshev_form_matches_the_interpreter() {
    for i in 0..=200_000 {
        let x = -60.0 + i as f64 * 0.0004;
        let (got, want) = (log_ndtr_by_chebyshev(x), math::log_ndtr(x));
        let tolerance = if x > 0.0 { 2e-15 * (8.0 + x * x) } else { 1e-14 };
        let error = (got - want).abs() / want.abs();
        assert!(error <= tolerance, "log_ndtr({x}): Chebyshev {got:e}, interpreter {want:e}");
    }
}
