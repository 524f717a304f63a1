//! Dense symmetric positive-definite algebra: an in-place Cholesky factor
//! (row-major, lower triangle; O(m³/3) flops) and triangular solves.

/// Four-accumulator dot product, so the compiler can vectorise it.
#[inline]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f64; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        let k = c * 4;
        acc[0] += x[k] * y[k];
        acc[1] += x[k + 1] * y[k + 1];
        acc[2] += x[k + 2] * y[k + 2];
        acc[3] += x[k + 3] * y[k + 3];
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in chunks * 4..n {
        sum += x[k] * y[k];
    }
    sum
}

/// Factors the m×m row-major matrix `a` into L Lᵀ in place (lower triangle).
/// Returns false when it is not (numerically) positive definite.
pub fn cholesky(a: &mut [f64], m: usize) -> bool {
    for i in 0..m {
        for j in 0..=i {
            let (head, tail) = a.split_at_mut(i * m);
            let row_i = &tail[..m];
            let s = if j < i {
                let row_j = &head[j * m..j * m + m];
                row_i[j] - dot(&row_i[..j], &row_j[..j])
            } else {
                row_i[i] - dot(&row_i[..i], &row_i[..i])
            };
            if j == i {
                if s.is_nan() || s <= 0.0 || !s.is_finite() {
                    return false;
                }
                tail[i] = s.sqrt();
            } else {
                let d = head[j * m + j];
                tail[j] = s / d;
            }
        }
    }
    true
}

/// Solves L y = b in place.
pub fn forward(l: &[f64], m: usize, b: &mut [f64]) {
    for i in 0..m {
        let s = b[i] - dot(&l[i * m..i * m + i], &b[..i]);
        b[i] = s / l[i * m + i];
    }
}

/// Solves Lᵀ x = y in place.
pub fn backward(l: &[f64], m: usize, y: &mut [f64]) {
    for i in (0..m).rev() {
        let s = y[i] / l[i * m + i];
        y[i] = s;
        for k in 0..i {
            y[k] -= l[i * m + k] * s;
        }
    }
}

/// The diagonal of (L Lᵀ)⁻¹: entry k is ‖L⁻¹ e_k‖², one forward solve per
/// column (O(m³/6) in all), the columns split over two threads.
pub fn inverse_diagonal(l: &[f64], m: usize) -> Vec<f64> {
    let column = |k: usize, inv: &mut [f64]| {
        // Column k of L⁻¹ is zero above row k.
        inv[k] = 1.0 / l[k * m + k];
        for i in k + 1..m {
            let s = -dot(&l[i * m + k..i * m + i], &inv[k..i]);
            inv[i] = s / l[i * m + i];
        }
        dot(&inv[k..], &inv[k..])
    };
    // Interleaved, so the two threads get similar work (column k costs ~(m − k)²/2).
    let half = |parity: usize| {
        let mut inv = vec![0.0; m];
        (parity..m).step_by(2).map(|k| (k, column(k, &mut inv))).collect::<Vec<_>>()
    };
    let (even, odd) = std::thread::scope(|scope| {
        let odd = scope.spawn(|| half(1));
        let even = half(0);
        (even, odd.join().unwrap_or_default())
    });
    let mut diag = vec![f64::NAN; m];
    for (k, v) in even.into_iter().chain(odd) {
        diag[k] = v;
    }
    diag
}

/// y = A x for the m×m row-major matrix A.
fn matvec(a: &[f64], m: usize, x: &[f64], y: &mut [f64]) {
    for (i, out) in y.iter_mut().enumerate().take(m) {
        *out = dot(&a[i * m..i * m + m], x);
    }
}

/// Solves A x = b for symmetric positive-definite A by conjugate gradients with
/// a Jacobi preconditioner, to ‖r‖ ≤ `tol`·‖b‖. O(m²) per iteration; `None` when
/// it does not converge in `max_iter` iterations or A is not positive definite.
pub fn pcg(a: &[f64], m: usize, b: &[f64], tol: f64, max_iter: usize) -> Option<Vec<f64>> {
    let inv_diag: Vec<f64> = (0..m).map(|i| a[i * m + i]).map(|d| if d > 0.0 { 1.0 / d } else { f64::NAN }).collect();
    if inv_diag.iter().any(|d| !d.is_finite()) {
        return None;
    }
    let norm_b = dot(b, b).sqrt();
    let mut x = vec![0.0; m];
    if norm_b == 0.0 {
        return Some(x);
    }
    let mut r = b.to_vec();
    let mut z: Vec<f64> = r.iter().zip(&inv_diag).map(|(r, d)| r * d).collect();
    let mut p = z.clone();
    let mut ap = vec![0.0; m];
    let mut rz = dot(&r, &z);
    for _ in 0..max_iter {
        matvec(a, m, &p, &mut ap);
        let pap = dot(&p, &ap);
        if pap.is_nan() || pap <= 0.0 {
            return None;
        }
        let alpha = rz / pap;
        for i in 0..m {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        if dot(&r, &r).sqrt() <= tol * norm_b {
            return Some(x);
        }
        for i in 0..m {
            z[i] = r[i] * inv_diag[i];
        }
        let rz_next = dot(&r, &z);
        let beta = rz_next / rz;
        rz = rz_next;
        for i in 0..m {
            p[i] = z[i] + beta * p[i];
        }
    }
    None
}
