//! The fits against answers computed here, independently of the crate: closed
//! forms, a Zermelo fixed point, finite-difference gradients and observed
//! information on the raw comparisons, and recovery of known strengths.

#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use plumb_ratings::{Dataset, Model, Observations, Options, PairRow, Ties, bootstrap, fit, parse_csv, parse_rankings};

/// Raw comparisons: (winner, loser) or a tie between the two.
#[derive(Clone, Copy)]
enum Outcome {
    Win(usize, usize),
    Tie(usize, usize),
}

fn dataset(n: usize, outcomes: &[Outcome]) -> Dataset {
    let rows = outcomes
        .iter()
        .map(|o| match *o {
            Outcome::Win(w, l) => PairRow { a: w as u32, b: l as u32, wins_a: 1.0, wins_b: 0.0, ties: 0.0 },
            Outcome::Tie(a, b) => PairRow { a: a as u32, b: b as u32, wins_a: 0.0, wins_b: 0.0, ties: 1.0 },
        })
        .collect();
    Dataset { items: (0..n).map(|i| format!("i{i}")).collect(), observations: Observations::Pairs(rows) }
}

fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Log-likelihood on the raw comparisons, written out per comparison.
fn loglik(model: Model, theta: &[f64], nu: f64, outcomes: &[Outcome]) -> f64 {
    let mut sum = 0.0;
    for o in outcomes {
        sum += match (model, *o) {
            (Model::BradleyTerry, Outcome::Win(w, l)) => (theta[w].exp() / (theta[w].exp() + theta[l].exp())).ln(),
            (Model::Thurstone, Outcome::Win(w, l)) => phi(theta[w] - theta[l]).ln(),
            (Model::Davidson, Outcome::Win(w, l)) => {
                let (pw, pl) = (theta[w].exp(), theta[l].exp());
                (pw / (pw + pl + nu * (pw * pl).sqrt())).ln()
            }
            (Model::Davidson, Outcome::Tie(a, b)) => {
                let (pa, pb) = (theta[a].exp(), theta[b].exp());
                (nu * (pa * pb).sqrt() / (pa + pb + nu * (pa * pb).sqrt())).ln()
            }
            _ => 0.0,
        };
    }
    sum
}

struct Lcg(u64);
impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn two_items_have_closed_forms() {
    // a beats b 3 times, b beats a once.
    let outcomes = [Outcome::Win(0, 1), Outcome::Win(0, 1), Outcome::Win(0, 1), Outcome::Win(1, 0)];
    let data = dataset(2, &outcomes);
    let bt = fit(&data, &Options::new(Model::BradleyTerry)).unwrap();
    let d = 3f64.ln();
    assert!(close(bt.abilities[0], d / 2.0, 1e-10) && close(bt.abilities[1], -d / 2.0, 1e-10), "{bt:?}");
    // var(d̂) = 1/(N p (1 − p)); θa = d/2.
    let se = 0.5 / (4.0 * 0.75 * 0.25f64).sqrt();
    assert!(close(bt.se[0], se, 1e-9) && close(bt.se[1], se, 1e-9), "{bt:?}");
    assert!(close(bt.loglik, 3.0 * 0.75f64.ln() + 0.25f64.ln(), 1e-10));
    let th = fit(&data, &Options::new(Model::Thurstone)).unwrap();
    // Φ⁻¹(0.75)
    assert!(close(th.abilities[0] - th.abilities[1], 0.674_489_750_196_081_7, 1e-9), "{th:?}");
    // Davidson on two items is saturated: d = log(wa/wb), ν = t/sqrt(wa wb).
    let mut with_ties = outcomes.to_vec();
    with_ties.extend([Outcome::Tie(0, 1), Outcome::Tie(1, 0)]);
    let dv = fit(&dataset(2, &with_ties), &Options::new(Model::Davidson)).unwrap();
    assert!(close(dv.abilities[0] - dv.abilities[1], d, 1e-9), "{dv:?}");
    assert!(close(dv.tie_param.unwrap(), 2.0 / 3f64.sqrt(), 1e-9), "{dv:?}");
    let expected = 3.0 * 0.5f64.ln() + (1.0f64 / 6.0).ln() + 2.0 * (2.0f64 / 6.0).ln();
    assert!(close(dv.loglik, expected, 1e-10), "{} vs {expected}", dv.loglik);
}

fn tournament() -> Vec<Outcome> {
    // 4 items, every pair played, each item wins and loses.
    let games = [(0, 1, 5, 2), (0, 2, 4, 3), (0, 3, 6, 1), (1, 2, 3, 3), (1, 3, 4, 2), (2, 3, 2, 5)];
    let mut outcomes = Vec::new();
    for (a, b, wa, wb) in games {
        outcomes.extend(std::iter::repeat_n(Outcome::Win(a, b), wa));
        outcomes.extend(std::iter::repeat_n(Outcome::Win(b, a), wb));
    }
    outcomes
}

#[test]
fn bradley_terry_matches_zermelo_fixed_point() {
    let outcomes = tournament();
    let n = 4;
    // Zermelo / Hunter MM: π_i ← W_i / Σ_j n_ij / (π_i + π_j), to a fixed point.
    let mut wins = vec![0.0; n];
    let mut games = vec![vec![0.0; n]; n];
    for o in &outcomes {
        if let Outcome::Win(w, l) = *o {
            wins[w] += 1.0;
            games[w][l] += 1.0;
            games[l][w] += 1.0;
        }
    }
    let mut pi = vec![1.0; n];
    for _ in 0..100_000 {
        let next: Vec<f64> = (0..n)
            .map(|i| wins[i] / (0..n).filter(|&j| j != i).map(|j| games[i][j] / (pi[i] + pi[j])).sum::<f64>())
            .collect();
        pi = next;
    }
    let logs: Vec<f64> = pi.iter().map(|p: &f64| p.ln()).collect();
    let mean = logs.iter().sum::<f64>() / n as f64;
    let got = fit(&dataset(n, &outcomes), &Options::new(Model::BradleyTerry)).unwrap();
    for i in 0..n {
        assert!(close(got.abilities[i], logs[i] - mean, 1e-9), "{i}: {} vs {}", got.abilities[i], logs[i] - mean);
    }
    assert!(close(got.loglik, loglik(Model::BradleyTerry, &got.abilities, 0.0, &outcomes), 1e-10));
    // With a reference the abilities shift by a constant.
    let mut opts = Options::new(Model::BradleyTerry);
    opts.reference = Some(2);
    let referenced = fit(&dataset(n, &outcomes), &opts).unwrap();
    for i in 0..n {
        assert!(close(referenced.abilities[i], logs[i] - logs[2], 1e-9));
    }
}

/// Gradient of the log-likelihood by central differences.
fn fd_gradient(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let h = 1e-5;
    (0..x.len())
        .map(|k| {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[k] += h;
            down[k] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

/// Inverse of a small symmetric matrix by Gauss–Jordan.
fn invert(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    for c in 0..n {
        let p = (c..n).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs())).unwrap();
        a.swap(c, p);
        inv.swap(c, p);
        let d = a[c][c];
        for j in 0..n {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..n {
            if r != c {
                let factor = a[r][c];
                for j in 0..n {
                    a[r][j] -= factor * a[c][j];
                    inv[r][j] -= factor * inv[c][j];
                }
            }
        }
    }
    inv
}

#[test]
fn optima_have_zero_gradient_and_standard_errors_match_finite_differences() {
    let outcomes = tournament();
    let n = 4;
    for model in [Model::BradleyTerry, Model::Thurstone] {
        for l2 in [0.0, 0.5] {
            let mut opts = Options::new(model);
            opts.l2 = l2;
            opts.reference = Some(0);
            let got = fit(&dataset(n, &outcomes), &opts).unwrap();
            // Free coordinates θ1..θ3, θ0 = 0.
            let objective = |free: &[f64]| {
                let theta = [0.0, free[0], free[1], free[2]];
                loglik(model, &theta, 0.0, &outcomes) - 0.5 * l2 * theta.iter().map(|t| t * t).sum::<f64>()
            };
            let x = &got.abilities[1..];
            for g in fd_gradient(&objective, x) {
                assert!(g.abs() < 1e-6, "{model:?} l2={l2}: gradient {g}");
            }
            // Observed information by central differences of the gradient.
            let h = 1e-4;
            let info: Vec<Vec<f64>> = (0..3)
                .map(|k| {
                    let (mut up, mut down) = (x.to_vec(), x.to_vec());
                    up[k] += h;
                    down[k] -= h;
                    let (gu, gd) = (fd_gradient(&objective, &up), fd_gradient(&objective, &down));
                    (0..3).map(|j| -(gu[j] - gd[j]) / (2.0 * h)).collect()
                })
                .collect();
            let cov = invert(info);
            assert_eq!(got.se[0], 0.0);
            for k in 0..3 {
                let se = cov[k][k].sqrt();
                assert!((got.se[k + 1] - se).abs() < 1e-4 * se, "{model:?} l2={l2}: se {} vs {se}", got.se[k + 1]);
            }
        }
    }
}

#[test]
fn mean_zero_standard_errors_are_those_of_the_centred_abilities() {
    let outcomes = tournament();
    let n = 4;
    let mut opts = Options::new(Model::BradleyTerry);
    opts.reference = Some(3);
    let referenced = fit(&dataset(n, &outcomes), &opts).unwrap();
    let centred = fit(&dataset(n, &outcomes), &Options::new(Model::BradleyTerry)).unwrap();
    // Cov of the reference parameterisation, by finite differences, mapped through centring.
    let objective = |free: &[f64]| loglik(Model::BradleyTerry, &[free[0], free[1], free[2], 0.0], 0.0, &outcomes);
    let x = &referenced.abilities[..3];
    let h = 1e-4;
    let info: Vec<Vec<f64>> = (0..3)
        .map(|k| {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[k] += h;
            down[k] -= h;
            let (gu, gd) = (fd_gradient(&objective, &up), fd_gradient(&objective, &down));
            (0..3).map(|j| -(gu[j] - gd[j]) / (2.0 * h)).collect()
        })
        .collect();
    let cov3 = invert(info);
    let mut cov = vec![vec![0.0; n]; n];
    for i in 0..3 {
        for j in 0..3 {
            cov[i][j] = cov3[i][j];
        }
    }
    // θ_c = P θ with P = I − 11ᵀ/n.
    let p = |i: usize, j: usize| f64::from(u8::from(i == j)) - 1.0 / n as f64;
    for i in 0..n {
        let mut v = 0.0;
        for a in 0..n {
            for b in 0..n {
                v += p(i, a) * cov[a][b] * p(i, b);
            }
        }
        assert!((centred.se[i] - v.sqrt()).abs() < 1e-4 * v.sqrt(), "{i}: {} vs {}", centred.se[i], v.sqrt());
    }
}

#[test]
fn davidson_optimum_has_zero_gradient() {
    let mut outcomes = tournament();
    outcomes.extend([
        Outcome::Tie(0, 1),
        Outcome::Tie(2, 3),
        Outcome::Tie(1, 3),
        Outcome::Tie(3, 1),
        Outcome::Tie(0, 2),
    ]);
    let got = fit(&dataset(4, &outcomes), &Options::new(Model::Davidson)).unwrap();
    let nu = got.tie_param.unwrap();
    // Parameters (θ0, θ1, θ2, log ν) with θ3 = −θ0 − θ1 − θ2.
    let objective = |x: &[f64]| {
        let theta = [x[0], x[1], x[2], -(x[0] + x[1] + x[2])];
        loglik(Model::Davidson, &theta, x[3].exp(), &outcomes)
    };
    let x = [got.abilities[0], got.abilities[1], got.abilities[2], nu.ln()];
    for g in fd_gradient(&objective, &x) {
        assert!(g.abs() < 1e-6, "gradient {g}");
    }
    assert!(close(got.loglik, objective(&x), 1e-10));
    assert!(close(got.abilities.iter().sum::<f64>(), 0.0, 1e-12));
}

#[test]
fn ties_are_ignored_or_halved() {
    let mut outcomes = tournament();
    let plain = fit(&dataset(4, &outcomes), &Options::new(Model::BradleyTerry)).unwrap();
    outcomes.extend([Outcome::Tie(0, 3), Outcome::Tie(0, 3)]);
    let ignored = fit(&dataset(4, &outcomes), &Options::new(Model::BradleyTerry)).unwrap();
    assert_eq!(plain.abilities, ignored.abilities);
    let mut opts = Options::new(Model::BradleyTerry);
    opts.ties = Ties::Half;
    let halved = fit(&dataset(4, &outcomes), &opts).unwrap();
    // Two ties as half wins each way = one extra win each way between 0 and 3.
    let mut extra = tournament();
    extra.extend([Outcome::Win(0, 3), Outcome::Win(3, 0)]);
    let expected = fit(&dataset(4, &extra), &Options::new(Model::BradleyTerry)).unwrap();
    for i in 0..4 {
        assert!(close(halved.abilities[i], expected.abilities[i], 1e-10));
    }
    assert!(halved.abilities[0] - halved.abilities[3] < ignored.abilities[0] - ignored.abilities[3]);
}

/// Synthetic comparisons among `n` items with known abilities.
fn synthetic(n: usize, comparisons: usize, seed: u64) -> (Vec<f64>, Dataset) {
    let mut rng = Lcg(seed);
    let mut truth: Vec<f64> = (0..n).map(|_| 3.0 * rng.uniform() - 1.5).collect();
    let mean = truth.iter().sum::<f64>() / n as f64;
    truth.iter_mut().for_each(|t| *t -= mean);
    let mut rows = Vec::with_capacity(comparisons);
    for _ in 0..comparisons {
        let a = (rng.uniform() * n as f64) as usize;
        let mut b = (rng.uniform() * (n - 1) as f64) as usize;
        if b >= a {
            b += 1;
        }
        let p = 1.0 / (1.0 + (truth[b] - truth[a]).exp());
        let a_wins = rng.uniform() < p;
        rows.push(PairRow {
            a: a as u32,
            b: b as u32,
            wins_a: f64::from(u8::from(a_wins)),
            wins_b: f64::from(u8::from(!a_wins)),
            ties: 0.0,
        });
    }
    (truth, Dataset { items: (0..n).map(|i| format!("m{i:03}")).collect(), observations: Observations::Pairs(rows) })
}

#[test]
fn recovers_known_strengths() {
    let (truth, data) = synthetic(50, 200_000, 42);
    let got = fit(&data, &Options::new(Model::BradleyTerry)).unwrap();
    for i in 0..50 {
        let z = (got.abilities[i] - truth[i]) / got.se[i];
        assert!(z.abs() < 4.5, "item {i}: {} vs {} (se {})", got.abilities[i], truth[i], got.se[i]);
    }
    assert!(got.iterations < 20, "{} iterations", got.iterations);
    // Thurstone orders the items the same way where they are clearly apart.
    let th = fit(&data, &Options::new(Model::Thurstone)).unwrap();
    for i in 0..50 {
        for j in 0..50 {
            if got.abilities[i] - got.abilities[j] > 4.0 * (got.se[i] + got.se[j]) {
                assert!(th.abilities[i] > th.abilities[j], "{i} vs {j}");
            }
        }
    }
    // And on the probit scale the spread is smaller (about 1/1.7).
    let spread = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min);
    let ratio = spread(&got.abilities) / spread(&th.abilities);
    assert!((1.5..1.9).contains(&ratio), "ratio {ratio}");
}

#[test]
fn plackett_luce_on_pairs_is_bradley_terry() {
    let outcomes = tournament();
    let names = ["w", "x", "y", "z"];
    let jsonl: String = outcomes
        .iter()
        .map(|o| match *o {
            Outcome::Win(w, l) => format!("[\"{}\", \"{}\"]\n", names[w], names[l]),
            Outcome::Tie(..) => unreachable!(),
        })
        .collect();
    let rankings = parse_rankings(&jsonl, "r.jsonl").unwrap();
    let csv: String = std::iter::once("item_a,item_b,winner\n".to_string())
        .chain(outcomes.iter().map(|o| match *o {
            Outcome::Win(w, l) => format!("{},{},a\n", names[w], names[l]),
            Outcome::Tie(..) => unreachable!(),
        }))
        .collect();
    let pairs = parse_csv(&csv, "p.csv").unwrap();
    assert_eq!(rankings.items, pairs.items);
    let pl = fit(&rankings, &Options::new(Model::PlackettLuce)).unwrap();
    let bt = fit(&pairs, &Options::new(Model::BradleyTerry)).unwrap();
    for i in 0..4 {
        assert!(close(pl.abilities[i], bt.abilities[i], 1e-10));
        assert!(close(pl.se[i], bt.se[i], 1e-9));
    }
    assert!(close(pl.loglik, bt.loglik, 1e-9));
}

#[test]
fn plackett_luce_optimum_has_zero_gradient() {
    let text = "[\"a\",\"b\",\"c\",\"d\"]\n[\"b\",\"a\",\"d\",\"c\"]\n[\"c\",\"a\",\"b\"]\n[\"d\",\"c\"]\n[\"a\",\"c\",\"d\"]\n[\"b\",\"d\",\"a\",\"c\"]\n";
    let data = parse_rankings(text, "r.jsonl").unwrap();
    let Observations::Rankings(rankings) = &data.observations else { unreachable!() };
    let got = fit(&data, &Options::new(Model::PlackettLuce)).unwrap();
    let ll = |theta: &[f64]| {
        let mut sum = 0.0;
        for r in rankings {
            for k in 0..r.len() - 1 {
                let denom: f64 = r[k..].iter().map(|&i| theta[i as usize].exp()).sum();
                sum += theta[r[k] as usize] - denom.ln();
            }
        }
        sum
    };
    let objective = |x: &[f64]| ll(&[x[0], x[1], x[2], -(x[0] + x[1] + x[2])]);
    for g in fd_gradient(&objective, &got.abilities[..3]) {
        assert!(g.abs() < 1e-6, "gradient {g}");
    }
    assert!(close(got.loglik, ll(&got.abilities), 1e-10));
    // Standard errors with item d as the reference, against finite-difference information.
    let mut opts = Options::new(Model::PlackettLuce);
    opts.reference = Some(3);
    let referenced = fit(&data, &opts).unwrap();
    let objective = |x: &[f64]| ll(&[x[0], x[1], x[2], 0.0]);
    let x = &referenced.abilities[..3];
    let h = 1e-4;
    let info: Vec<Vec<f64>> = (0..3)
        .map(|k| {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[k] += h;
            down[k] -= h;
            let (gu, gd) = (fd_gradient(&objective, &up), fd_gradient(&objective, &down));
            (0..3).map(|j| -(gu[j] - gd[j]) / (2.0 * h)).collect()
        })
        .collect();
    let cov = invert(info);
    for k in 0..3 {
        let se = cov[k][k].sqrt();
        assert!((referenced.se[k] - se).abs() < 1e-4 * se, "{k}: {} vs {se}", referenced.se[k]);
    }
}

#[test]
fn bootstrap_is_deterministic_for_a_seed() {
    let data = dataset(4, &tournament());
    let opts = Options::new(Model::BradleyTerry);
    let est = fit(&data, &opts).unwrap();
    // Small data can resample into an item that never wins; a light prior keeps every refit finite.
    let mut prior = opts.clone();
    prior.l2 = 0.01;
    let a = bootstrap(&data, &prior, &est, 200, 7).unwrap();
    let b = bootstrap(&data, &prior, &est, 200, 7).unwrap();
    let c = bootstrap(&data, &prior, &est, 200, 8).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    for i in 0..4 {
        assert!(a.lower[i] < est.abilities[i] && est.abilities[i] < a.upper[i], "{i}: {a:?}");
    }
    // On the large synthetic data the interval width is close to ±1.96 SE.
    let (_, big) = synthetic(20, 20_000, 3);
    let fit_big = fit(&big, &opts).unwrap();
    let ci = bootstrap(&big, &opts, &fit_big, 100, 1).unwrap();
    for i in 0..20 {
        let ratio = (ci.upper[i] - ci.lower[i]) / (2.0 * 1.96 * fit_big.se[i]);
        assert!((0.7..1.3).contains(&ratio), "item {i}: ratio {ratio}");
    }
}

#[test]
fn unidentified_data_are_coded_errors_and_the_prior_fixes_them() {
    let disconnected = dataset(4, &[Outcome::Win(0, 1), Outcome::Win(1, 0), Outcome::Win(2, 3), Outcome::Win(3, 2)]);
    let error = fit(&disconnected, &Options::new(Model::BradleyTerry)).unwrap_err();
    assert_eq!(error.code, "P0604");
    assert!(error.message.contains("--l2"), "{}", error.message);
    let never_wins = dataset(3, &[Outcome::Win(0, 1), Outcome::Win(1, 0), Outcome::Win(0, 2), Outcome::Win(1, 2)]);
    let error = fit(&never_wins, &Options::new(Model::BradleyTerry)).unwrap_err();
    assert_eq!(error.code, "P0605");
    assert!(error.message.contains("`i2` never wins"), "{}", error.message);
    // A group that never loses to the rest: {0, 1} beat {2, 3} always.
    let group = dataset(
        4,
        &[
            Outcome::Win(0, 1),
            Outcome::Win(1, 0),
            Outcome::Win(2, 3),
            Outcome::Win(3, 2),
            Outcome::Win(0, 2),
            Outcome::Win(1, 3),
        ],
    );
    assert_eq!(fit(&group, &Options::new(Model::BradleyTerry)).unwrap_err().code, "P0605");
    let mut opts = Options::new(Model::BradleyTerry);
    opts.l2 = 0.1;
    for data in [&disconnected, &never_wins, &group] {
        let got = fit(data, &opts).unwrap();
        assert!(got.abilities.iter().all(|a| a.is_finite()) && got.se.iter().all(|s| s.is_finite() && *s > 0.0));
        assert!(close(got.abilities.iter().sum::<f64>(), 0.0, 1e-12));
    }
    let too_many: Vec<Outcome> = (0..=plumb_ratings::MAX_DENSE).map(|i| Outcome::Win(i, (i + 1) % 5001)).collect();
    assert_eq!(fit(&dataset(5001, &too_many), &opts).unwrap_err().code, "P0610");
    let no_ties = fit(&dataset(2, &[Outcome::Win(0, 1), Outcome::Win(1, 0)]), &Options::new(Model::Davidson));
    assert_eq!(no_ties.unwrap_err().code, "P0608");
}

#[test]
fn items_are_strings_and_bad_rows_name_their_line() {
    let data = parse_csv("item_a,item_b,winner\n000,0,a\n0,00,b\n00,000,tie\n", "v.csv").unwrap();
    assert_eq!(data.items, ["000", "0", "00"]);
    let counts = parse_csv("item_a,item_b,wins_a,wins_b,ties\n000,0,3,1,2\n", "c.csv").unwrap();
    assert_eq!(
        counts.observations,
        Observations::Pairs(vec![PairRow { a: 0, b: 1, wins_a: 3.0, wins_b: 1.0, ties: 2.0 }])
    );
    let bad = parse_csv("item_a,item_b,winner\na,b,a\n\na,b,left\n", "v.csv").unwrap_err();
    assert_eq!(bad.code, "P0602");
    assert!(bad.message.starts_with("v.csv:4:"), "{}", bad.message);
    assert_eq!(parse_csv("a,b,c\n", "v.csv").unwrap_err().code, "P0601");
    assert_eq!(parse_csv("item_a,item_b,wins_a,wins_b\nx,y,-1,2\n", "v.csv").unwrap_err().code, "P0602");
    assert_eq!(parse_csv("item_a,item_b,winner\nx,x,a\n", "v.csv").unwrap_err().code, "P0602");
    let bad = parse_rankings("[\"a\",\"b\"]\n[\"a\"]\n", "r.jsonl").unwrap_err();
    assert_eq!((bad.code, bad.message.starts_with("r.jsonl:2:")), ("P0603", true));
    assert_eq!(parse_rankings("[\"a\",\"a\"]\n", "r.jsonl").unwrap_err().code, "P0603");
    assert_eq!(parse_rankings("{}\n", "r.jsonl").unwrap_err().code, "P0603");
    let ranking = parse_rankings("[\"000\",\"0\"]\n", "r.jsonl").unwrap();
    assert_eq!(ranking.items, ["000", "0"]);
}

/// Files over 1 MB are parsed in pieces on several threads: items keep their
/// order of first appearance, rows their order, and errors name the right line
/// (the first bad line in the file), whatever the cut.
#[test]
fn large_files_parse_as_one_piece_would() {
    let rows = 150_000;
    let name = |k: usize| format!("m{:03}", (k * 7919) % 997 + if k > rows / 2 { 1000 } else { 0 });
    let mut csv = String::from("item_a,item_b,winner\r\n");
    let mut items: Vec<String> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut expected = Vec::new();
    for k in 0..rows {
        let (a, b) = (name(k), name(k + 1));
        let mut index = |x: &String| {
            *seen.entry(x.clone()).or_insert_with(|| {
                items.push(x.clone());
                items.len() as u32 - 1
            })
        };
        let (ia, ib) = (index(&a), index(&b));
        expected.push(PairRow { a: ia, b: ib, wins_a: 1.0, wins_b: 0.0, ties: 0.0 });
        csv.push_str(&format!("{a},{b},a\r\n"));
        if k % 1000 == 0 {
            csv.push('\n');
        }
    }
    assert!(csv.len() > 2 << 20, "large enough to be split");
    let data = parse_csv(&csv, "big.csv").unwrap();
    assert_eq!(data.items, items);
    assert_eq!(data.observations, Observations::Pairs(expected));

    let lines: Vec<&str> = csv.split_inclusive('\n').collect();
    let with_bad = |at: &[usize]| {
        let mut text = String::new();
        for (k, line) in lines.iter().enumerate() {
            text.push_str(if at.contains(&k) { "x,y,maybe\n" } else { line });
        }
        parse_csv(&text, "big.csv").unwrap_err()
    };
    for at in [vec![lines.len() - 3], vec![lines.len() / 2 + 17], vec![1000, lines.len() - 5]] {
        let error = with_bad(&at);
        assert_eq!(error.code, "P0602");
        let want = format!("big.csv:{}: winner must be a, b or tie", at[0] + 1);
        assert!(error.message.starts_with(&want), "{} (want {want})", error.message);
    }
}

/// JSONL rankings over 1 MB are parsed in pieces too: same items, rankings and
/// error lines as one piece would give.
#[test]
fn large_ranking_files_parse_as_one_piece_would() {
    let count = 100_000;
    let mut text = String::new();
    let mut items: Vec<String> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut expected = Vec::new();
    for k in 0..count {
        let names: Vec<String> = (0..3 + k % 3)
            .map(|j| format!("é{}", (k * 31 + j * 7) % 500 + if k > count / 2 { 500 } else { 0 }))
            .collect();
        let mut ranking = Vec::new();
        let mut unique = Vec::new();
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        for name in &unique {
            let next = items.len() as u32;
            let index = *seen.entry(name.clone()).or_insert_with(|| {
                items.push(name.clone());
                next
            });
            ranking.push(index);
        }
        text.push_str(&serde_json::to_string(&unique).unwrap());
        text.push('\n');
        expected.push(ranking);
    }
    assert!(text.len() > 1 << 20, "large enough to be split");
    let data = parse_rankings(&text, "r.jsonl").unwrap();
    assert_eq!(data.items, items);
    assert_eq!(data.observations, Observations::Rankings(expected));
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for bad in [lines.len() - 2, lines.len() / 2 + 5] {
        let broken: String = lines.iter().enumerate().map(|(k, l)| if k == bad { "[\"x\"]\n" } else { l }).collect();
        let error = parse_rankings(&broken, "r.jsonl").unwrap_err();
        let want = format!("r.jsonl:{}: a ranking needs at least two items", bad + 1);
        assert!(error.message.starts_with(&want), "{} (want {want})", error.message);
    }
}
