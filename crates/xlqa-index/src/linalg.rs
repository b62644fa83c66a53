//! Small dense linear algebra for embedding statistics: means, scatter
//! matrices and the symmetric eigendecomposition behind PCA and the
//! de-biasing subspaces (matrices of the embedding dimension, 384 × 384).

/// Eigenvalues (descending) and the matching unit eigenvectors of the
/// symmetric matrix `a` (row-major, `n × n`), by nalgebra's symmetric
/// eigensolver; each vector's sign is fixed (largest-magnitude entry
/// positive) so results are reproducible.
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    assert_eq!(a.len(), n * n, "sym_eigen: matrix is not n × n");
    let m = nalgebra::DMatrix::from_row_slice(n, n, a);
    let e = nalgebra::SymmetricEigen::new(m);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        e.eigenvalues[j]
            .total_cmp(&e.eigenvalues[i])
            .then(i.cmp(&j))
    });
    let values = order.iter().map(|&i| e.eigenvalues[i]).collect();
    let vectors = order
        .iter()
        .map(|&i| {
            let mut col: Vec<f64> = e.eigenvectors.column(i).iter().copied().collect();
            let big = col
                .iter()
                .copied()
                .fold(0f64, |b, x| if x.abs() > b.abs() { x } else { b });
            if big < 0.0 {
                col.iter_mut().for_each(|x| *x = -*x);
            }
            col
        })
        .collect();
    (values, vectors)
}

/// `Σ x xᵀ` over `rows` (each of length `d`), after subtracting `center` when
/// given; row-major `d × d`.
pub fn scatter(rows: &[&[f32]], d: usize, center: Option<&[f64]>) -> Vec<f64> {
    let mut s = vec![0f64; d * d];
    let mut x = vec![0f64; d];
    for r in rows {
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = r[i] as f64 - center.map_or(0.0, |c| c[i]);
        }
        for i in 0..d {
            let xi = x[i];
            let row = &mut s[i * d..(i + 1) * d];
            for (sij, &xj) in row.iter_mut().zip(&x) {
                *sij += xi * xj;
            }
        }
    }
    s
}

/// The mean of `rows` (each of length `d`).
pub fn mean(rows: &[&[f32]], d: usize) -> Vec<f64> {
    let mut m = vec![0f64; d];
    for r in rows {
        for (mi, &x) in m.iter_mut().zip(r.iter()) {
            *mi += x as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    m.iter_mut().for_each(|x| *x /= n);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_a_known_matrix() {
        // eigenvalues 3 and 1, vectors (1,1)/√2 and (1,-1)/√2
        let (vals, vecs) = sym_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 3.0).abs() < 1e-12 && (vals[1] - 1.0).abs() < 1e-12);
        let r = 1.0 / 2f64.sqrt();
        assert!((vecs[0][0] - r).abs() < 1e-12 && (vecs[0][1] - r).abs() < 1e-12);
        assert!((vecs[1][0].abs() - r).abs() < 1e-12);
        assert!((vecs[1][0] + vecs[1][1]).abs() < 1e-12);
    }

    #[test]
    fn eigen_reconstructs_a_random_symmetric_matrix() {
        let n = 9;
        let mut a = vec![0f64; n * n];
        let mut s = 7u64;
        for i in 0..n {
            for j in i..n {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let (vals, vecs) = sym_eigen(&a, n);
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n).map(|k| vals[k] * vecs[k][i] * vecs[k][j]).sum();
                assert!(
                    (r - a[i * n + j]).abs() < 1e-10,
                    "({i},{j}) {r} vs {}",
                    a[i * n + j]
                );
                let dot: f64 = (0..n).map(|k| vecs[i][k] * vecs[j][k]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn scatter_and_mean() {
        let rows: Vec<&[f32]> = vec![&[1.0, 2.0], &[3.0, 4.0]];
        let m = mean(&rows, 2);
        assert_eq!(m, vec![2.0, 3.0]);
        let s = scatter(&rows, 2, Some(&m));
        assert_eq!(s, vec![2.0, 2.0, 2.0, 2.0]);
        assert_eq!(scatter(&rows, 2, None), vec![10.0, 14.0, 14.0, 20.0]);
    }
}
