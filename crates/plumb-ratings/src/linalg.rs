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

/// Rows factored together: rows of L above the block are read once per block.
const ROW_BLOCK: usize = 16;

/// Factors the m×m row-major matrix `a` into L Lᵀ in place (lower triangle).
/// Returns false when it is not (numerically) positive definite.
///
/// Row-oriented (L[i][j] = (A[i][j] − L[i][..j]·L[j][..j]) / L[j][j]) in blocks
/// of rows: the part of a block left of its diagonal block depends only on
/// rows above, so its rows are split over two threads; the triangle inside the
/// block follows on one. Every entry is computed by the same dot products
/// whatever the split, so the factor does not depend on the threads.
pub fn cholesky(a: &mut [f64], m: usize) -> bool {
    for start in (0..m).step_by(ROW_BLOCK) {
        let end = (start + ROW_BLOCK).min(m);
        let (done, rest) = a.split_at_mut(start * m);
        let done: &[f64] = done;
        let mut rows: Vec<&mut [f64]> = rest[..(end - start) * m].chunks_mut(m).collect();
        let left_of_block = |rows: &mut [&mut [f64]]| {
            for j in 0..start {
                let row_j = &done[j * m..j * m + j];
                let diagonal = done[j * m + j];
                for row in rows.iter_mut() {
                    row[j] = (row[j] - dot(&row[..j], row_j)) / diagonal;
                }
            }
        };
        if start >= 64 {
            let half = rows.len() / 2;
            let (upper, lower) = rows.split_at_mut(half);
            std::thread::scope(|scope| {
                scope.spawn(|| left_of_block(lower));
                left_of_block(upper);
            });
        } else {
            left_of_block(&mut rows);
        }
        for r in 0..rows.len() {
            let i = start + r;
            let (above, below) = rows.split_at_mut(r);
            let row_i = &mut below[0];
            for j in start..i {
                let row_j = &above[j - start][..j + 1];
                row_i[j] = (row_i[j] - dot(&row_i[..j], &row_j[..j])) / row_j[j];
            }
            let s = row_i[i] - dot(&row_i[..i], &row_i[..i]);
            if s.is_nan() || s <= 0.0 || !s.is_finite() {
                return false;
            }
            row_i[i] = s.sqrt();
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

/// Columns of L⁻¹ solved together: each row of L is read once per block.
const COLUMN_BLOCK: usize = 8;

/// The diagonal of (L Lᵀ)⁻¹: entry k is ‖L⁻¹ e_k‖², by forward solves for
/// blocks of eight columns at a time (O(m³/6) flops in all), the blocks
/// interleaved over two threads. Each entry's arithmetic does not depend on
/// the split.
pub fn inverse_diagonal(l: &[f64], m: usize) -> Vec<f64> {
    const B: usize = COLUMN_BLOCK;
    // x[(i − k0)·B + c] = (L⁻¹)[i][k0 + c], zero above the diagonal.
    let block = |k0: usize, x: &mut Vec<f64>| -> [f64; B] {
        x.clear();
        x.resize((m - k0) * B, 0.0);
        for i in k0..m {
            let row = &l[i * m + k0..i * m + i];
            let mut acc = [0.0f64; B];
            for (lij, xj) in row.iter().zip(x.chunks_exact(B)) {
                for c in 0..B {
                    acc[c] += lij * xj[c];
                }
            }
            let diagonal = l[i * m + i];
            let out = &mut x[(i - k0) * B..(i - k0) * B + B];
            for c in 0..B {
                let unit = if i == k0 + c { 1.0 } else { 0.0 };
                out[c] = (unit - acc[c]) / diagonal;
            }
        }
        let mut norms = [0.0f64; B];
        for xi in x.chunks_exact(B) {
            for c in 0..B {
                norms[c] += xi[c] * xi[c];
            }
        }
        norms
    };
    // Interleaved, so the two threads get similar work (block k0 costs ~(m − k0)²).
    let half = |parity: usize| {
        let mut x = Vec::new();
        (0..m.div_ceil(B)).filter(|b| b % 2 == parity).map(|b| (b * B, block(b * B, &mut x))).collect::<Vec<_>>()
    };
    let (even, odd) = std::thread::scope(|scope| {
        let odd = scope.spawn(|| half(1));
        let even = half(0);
        (even, odd.join().unwrap_or_default())
    });
    let mut diag = vec![f64::NAN; m];
    for (k0, norms) in even.into_iter().chain(odd) {
        for (c, norm) in norms.into_iter().enumerate() {
            if k0 + c < m {
                diag[k0 + c] = norm;
            }
        }
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
