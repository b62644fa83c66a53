//! Fused CPU ops for the encoder (candle custom ops, parallel over rows).
//!
//! candle's element-wise ops run on one thread and each allocates its output;
//! fusing `bias + residual + LayerNorm` and `bias + GELU` into one parallel
//! pass each saves several passes over the activations per layer.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows per rayon task (keeps tasks coarse enough to amortize scheduling).
const ROWS_PER_TASK: usize = 16;

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: input is not contiguous"),
    }
}

fn last_dim(shape: &Shape, expect: usize, what: &str) -> Result<usize> {
    let d = shape.dims().last().copied().unwrap_or(0);
    if d != expect || d == 0 {
        candle_core::bail!("{what}: last dim {d} does not match parameter size {expect}")
    }
    Ok(d)
}

fn normalize_row(row: &mut [f32], w: &[f32], b: &[f32], eps: f64) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = row
        .iter()
        .map(|&v| {
            let d = f64::from(v) - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let inv = 1.0 / (var + eps).sqrt();
    let (mean, inv) = (mean as f32, inv as f32);
    for ((v, &wi), &bi) in row.iter_mut().zip(w).zip(b) {
        *v = (*v - mean) * inv * wi + bi;
    }
}

struct LayerNorm<'a> {
    w: &'a [f32],
    b: &'a [f32],
    eps: f64,
}

impl CustomOp1 for LayerNorm<'_> {
    fn name(&self) -> &'static str {
        "xlqa-layer-norm"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let h = last_dim(l.shape(), self.w.len(), self.name())?;
        let x = contiguous_f32(s, l, self.name())?;
        let mut out = x.to_vec();
        out.par_chunks_mut(h * ROWS_PER_TASK).for_each(|rows| {
            for row in rows.chunks_exact_mut(h) {
                normalize_row(row, self.w, self.b, self.eps);
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

struct AddBiasLayerNorm<'a> {
    bias: &'a [f32],
    w: &'a [f32],
    b: &'a [f32],
    eps: f64,
}

impl CustomOp2 for AddBiasLayerNorm<'_> {
    fn name(&self) -> &'static str {
        "xlqa-add-bias-layer-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let h = last_dim(l1.shape(), self.w.len(), self.name())?;
        if l1.shape() != l2.shape() || self.bias.len() != h {
            candle_core::bail!(
                "{}: shapes {:?} / {:?} / bias {} disagree",
                self.name(),
                l1.shape(),
                l2.shape(),
                self.bias.len()
            )
        }
        let x = contiguous_f32(s1, l1, self.name())?;
        let r = contiguous_f32(s2, l2, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(h * ROWS_PER_TASK)
            .zip(x.par_chunks(h * ROWS_PER_TASK))
            .zip(r.par_chunks(h * ROWS_PER_TASK))
            .for_each(|((o, x), r)| {
                for ((orow, xrow), rrow) in o
                    .chunks_exact_mut(h)
                    .zip(x.chunks_exact(h))
                    .zip(r.chunks_exact(h))
                {
                    for (((ov, &xv), &rv), &bv) in
                        orow.iter_mut().zip(xrow).zip(rrow).zip(self.bias)
                    {
                        *ov = xv + bv + rv;
                    }
                    normalize_row(orow, self.w, self.b, self.eps);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `LayerNorm(x)` over the last dim, or `LayerNorm(x + bias + residual)` when
/// `residual = Some((residual, bias))`.
pub(crate) fn layer_norm(
    x: &Tensor,
    residual: Option<(&Tensor, &[f32])>,
    w: &[f32],
    b: &[f32],
    eps: f64,
) -> Result<Tensor> {
    match residual {
        None => x.apply_op1_no_bwd(&LayerNorm { w, b, eps }),
        Some((r, bias)) => x.apply_op2_no_bwd(r, &AddBiasLayerNorm { bias, w, b, eps }),
    }
}

#[cfg(test)]
use xlqa_kernels::math::erf;
pub(crate) use xlqa_kernels::math::{exp_nonpos, gelu_erf};

/// Calls `kernels::$f` compiled for AVX2+FMA when the CPU has them (the
/// default x86-64 target only assumes SSE2), else the portable build.
macro_rules! dispatch {
    ($f:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if kernels::has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked at runtime).
                unsafe { kernels::avx2::$f($($arg),*) }
            } else {
                kernels::$f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            kernels::$f($($arg),*)
        }
    }};
}

mod kernels {
    use super::gelu_erf;

    #[cfg(target_arch = "x86_64")]
    pub(super) fn has_avx2_fma() -> bool {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }

    /// `o = GELU(x + bias)` for one row.
    #[inline(always)]
    pub(super) fn bias_gelu_row(o: &mut [f32], x: &[f32], bias: &[f32]) {
        for ((ov, &xv), &bv) in o.iter_mut().zip(x).zip(bias) {
            *ov = gelu_erf(xv + bv);
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) mod avx2 {
        /// See [`super::bias_gelu_row`].
        #[target_feature(enable = "avx2,fma")]
        pub(in super::super) fn bias_gelu_row(o: &mut [f32], x: &[f32], bias: &[f32]) {
            super::bias_gelu_row(o, x, bias)
        }
    }
}

struct BiasGelu<'a> {
    bias: &'a [f32],
}

impl CustomOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "xlqa-bias-gelu-erf"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let h = last_dim(l.shape(), self.bias.len(), self.name())?;
        let x = contiguous_f32(s, l, self.name())?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(h * ROWS_PER_TASK)
            .zip(x.par_chunks(h * ROWS_PER_TASK))
            .for_each(|(o, x)| {
                for (orow, xrow) in o.chunks_exact_mut(h).zip(x.chunks_exact(h)) {
                    dispatch!(bias_gelu_row(orow, xrow, self.bias));
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// `GELU(x + bias)` with the exact erf GELU; `bias` runs along the last dim.
pub(crate) fn bias_gelu_erf(x: &Tensor, bias: &[f32]) -> Result<Tensor> {
    x.apply_op1_no_bwd(&BiasGelu { bias })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn fused_ops_match_plain_math() {
        let dev = Device::Cpu;
        let h = 8;
        let rows = 37; // not a multiple of ROWS_PER_TASK
        let xs: Vec<f32> = (0..rows * h)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let rs: Vec<f32> = (0..rows * h)
            .map(|i| ((i * 104729) % 67) as f32 / 30.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..h).map(|i| 1.0 + i as f32 / 10.0).collect();
        let b: Vec<f32> = (0..h).map(|i| i as f32 / 20.0 - 0.2).collect();
        let bias: Vec<f32> = (0..h).map(|i| 0.3 - i as f32 / 15.0).collect();
        let x = Tensor::from_vec(xs.clone(), (rows, h), &dev).unwrap();
        let r = Tensor::from_vec(rs.clone(), (rows, h), &dev).unwrap();
        let got = layer_norm(&x, Some((&r, &bias)), &w, &b, 1e-12)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let plain = layer_norm(&x, None, &w, &b, 1e-12)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let gel = bias_gelu_erf(&x, &bias).unwrap().to_vec2::<f32>().unwrap();
        for i in 0..rows {
            let check = |row: Vec<f32>, got: &[f32]| {
                let mean = row.iter().sum::<f32>() / h as f32;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
                for j in 0..h {
                    let want = (row[j] - mean) / (var + 1e-12).sqrt() * w[j] + b[j];
                    assert!((got[j] - want).abs() < 1e-4, "{} vs {want}", got[j]);
                }
            };
            let summed: Vec<f32> = (0..h)
                .map(|j| xs[i * h + j] + bias[j] + rs[i * h + j])
                .collect();
            check(summed, &got[i]);
            check(xs[i * h..(i + 1) * h].to_vec(), &plain[i]);
            for j in 0..h {
                let v = f64::from(xs[i * h + j] + bias[j]);
                // erf via its Taylor series (|v| < 2 here)
                let z = v / std::f64::consts::SQRT_2;
                let mut term = z;
                let mut erf = z;
                for n in 1..60 {
                    term *= -z * z / n as f64;
                    erf += term / (2 * n + 1) as f64;
                }
                let erf = erf * 2.0 / std::f64::consts::PI.sqrt();
                let want = 0.5 * v * (1.0 + erf);
                assert!((f64::from(gel[i][j]) - want).abs() < 1e-6);
            }
        }
        assert_eq!(gelu_erf(0.0), 0.0);
    }

    #[test]
    fn fast_math_is_accurate() {
        let mut max_erf = 0f64;
        let mut max_exp = 0f64;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            let e = (f64::from(erf(x)) - libm_erf(f64::from(x))).abs();
            max_erf = max_erf.max(e);
        }
        for i in 0..=870_000 {
            let x = -(i as f32) / 10_000.0;
            let want = f64::from(x).exp();
            let rel = (f64::from(exp_nonpos(x)) - want).abs() / want;
            max_exp = max_exp.max(rel);
        }
        assert!(max_erf < 1e-6, "erf max abs error {max_erf}");
        assert!(max_exp < 3e-7, "exp max rel error {max_exp}");
        assert!((erf(10.0) - 1.0).abs() < 1e-6);
        assert!((erf(-10.0) + 1.0).abs() < 1e-6);
        assert_eq!(exp_nonpos(0.0), 1.0);
    }

    fn libm_erf(x: f64) -> f64 {
        candle_core::cpu::erf::erf_f64(x)
    }
}
