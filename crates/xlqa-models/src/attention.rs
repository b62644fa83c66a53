//! Multi-head self-attention over a fused `[q | k | v]` projection, for
//! inference (no gradient).
//!
//! One task per (sequence, head), in parallel: `Kᵀ` is gathered for the
//! sequence's real tokens only, each real query row gets `softmax(q·Kᵀ·scale)`
//! over the real keys and `Σ_j p_j v_j`; rows of padding get zeros (no query
//! attends to them and mean pooling skips them, so they never reach an
//! embedding). The context is written straight into `[batch · len, hidden]`,
//! so no head transposes are copied.
//!
//! The inner products use `mul_add`: one FMA instruction in the AVX2 and
//! AVX-512 builds (Rust never fuses a multiply and an add by itself); the
//! portable build, for CPUs without FMA, pays for a software `fmaf`.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};
use rayon::prelude::*;

use crate::ops::exp_nonpos;

/// Attention over `qkv` `[batch · len, 3 · hidden]` (query, key, value blocks).
pub(crate) struct Attention<'a> {
    pub(crate) lens: &'a [usize],
    pub(crate) batch: usize,
    pub(crate) len: usize,
    pub(crate) heads: usize,
    pub(crate) scale: f32,
}

#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes its own (sequence, head) block of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Scratch for one task: `Kᵀ` `[head_dim, n16]` and a block of score rows.
#[derive(Default)]
struct Scratch {
    kt: Vec<f32>,
    /// `QB` rows of scores, then probabilities, stride `n16`.
    s: Vec<f32>,
}

/// Keys per block of scores (one 512-bit vector of f32).
const KB: usize = 16;
/// Query rows computed together (each loaded key / value is used `QB` times).
const QB: usize = 4;

/// `s[r][j] = q_r · kᵀ[.., j]` for `R` query rows and `j < n`; `kt` is
/// `[hd, n16]` with `n16` a multiple of [`KB`]; `s` rows have stride `n16`.
#[inline(always)]
fn scores<const R: usize>(s: &mut [f32], q: [&[f32]; R], kt: &[f32], n16: usize, hd: usize) {
    for jb in 0..n16 / KB {
        let mut acc = [[0f32; KB]; R];
        for d in 0..hd {
            let k = &kt[d * n16 + jb * KB..d * n16 + jb * KB + KB];
            for r in 0..R {
                let qd = q[r][d];
                for (a, &kv) in acc[r].iter_mut().zip(k) {
                    *a = qd.mul_add(kv, *a);
                }
            }
        }
        for (r, ar) in acc.iter().enumerate() {
            s[r * n16 + jb * KB..r * n16 + jb * KB + KB].copy_from_slice(ar);
        }
    }
}

/// In place: `s[..n] = exp(scale · (s − max))`; returns `1 / Σ`.
#[inline(always)]
fn exp_row(s: &mut [f32], n: usize, scale: f32) -> f32 {
    let s = &mut s[..n];
    let mut lanes = [f32::NEG_INFINITY; KB];
    let mut chunks = s.chunks_exact(KB);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    let mx = lanes
        .iter()
        .chain(chunks.remainder())
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in s.iter_mut() {
        *v = exp_nonpos(scale * (*v - mx));
    }
    let mut sums = [0f32; KB];
    let mut chunks = s.chunks_exact(KB);
    for c in &mut chunks {
        for (l, &v) in sums.iter_mut().zip(c) {
            *l += v;
        }
    }
    let sum: f32 = sums.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    1.0 / sum
}

/// `o_r = inv_r · Σ_j p_r[j] · v_j` for `R` rows, `v_j = vals[j · stride ..][..HD]`.
#[inline(always)]
fn weighted_sum<const R: usize, const HD: usize>(
    o: [&mut [f32]; R],
    p: &[f32],
    pstride: usize,
    inv: [f32; R],
    vals: &[f32],
    stride: usize,
    n: usize,
) {
    let mut acc = [[0f32; HD]; R];
    for j in 0..n {
        let v = &vals[j * stride..j * stride + HD];
        for r in 0..R {
            let pj = p[r * pstride + j];
            for (a, &vv) in acc[r].iter_mut().zip(v) {
                *a = pj.mul_add(vv, *a);
            }
        }
    }
    for (r, o) in o.into_iter().enumerate() {
        for (ov, a) in o.iter_mut().zip(&acc[r]) {
            *ov = a * inv[r];
        }
    }
}

/// Attention for `R` consecutive query rows starting at `i`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows<const R: usize>(
    qkv: &[f32],
    out: &mut [f32],
    sc: &mut Scratch,
    i: usize,
    n: usize,
    n16: usize,
    hd: usize,
    h: usize,
    col: usize,
    scale: f32,
) {
    let stride = 3 * h;
    let q: [&[f32]; R] =
        std::array::from_fn(|r| &qkv[(i + r) * stride + col..(i + r) * stride + col + hd]);
    scores::<R>(&mut sc.s, q, &sc.kt, n16, hd);
    // a plain loop, not array::from_fn: a closure would not inherit the
    // caller's target features (measured: the exp ran as SSE2 code)
    let mut inv = [0f32; R];
    for (r, v) in inv.iter_mut().enumerate() {
        *v = exp_row(&mut sc.s[r * n16..], n, scale);
    }
    let vals = &qkv[2 * h + col..];
    if hd == 32 {
        // rows i..i+R of this head: disjoint column ranges of `out`
        let mut rest = &mut out[i * h..];
        let o: [&mut [f32]; R] = std::array::from_fn(|_| {
            let all = std::mem::take(&mut rest);
            let (row, tail) = all.split_at_mut(h.min(all.len()));
            rest = tail;
            &mut row[col..col + 32]
        });
        weighted_sum::<R, 32>(o, &sc.s, n16, inv, vals, stride, n);
    } else {
        for r in 0..R {
            let o = &mut out[(i + r) * h + col..(i + r) * h + col + hd];
            o.fill(0.0);
            for j in 0..n {
                let pj = sc.s[r * n16 + j] * inv[r];
                let v = &vals[j * stride..j * stride + hd];
                for (ov, &vv) in o.iter_mut().zip(v) {
                    *ov += pj * vv;
                }
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn head_impl(
    qkv: &[f32],
    out: &mut [f32],
    sc: &mut Scratch,
    n: usize,
    hd: usize,
    h: usize,
    col: usize,
    scale: f32,
) {
    let stride = 3 * h;
    let n16 = n.div_ceil(KB) * KB;
    sc.kt.clear();
    sc.kt.resize(hd * n16, 0.0);
    for j in 0..n {
        let k = &qkv[j * stride + h + col..j * stride + h + col + hd];
        for (d, &kv) in k.iter().enumerate() {
            sc.kt[d * n16 + j] = kv;
        }
    }
    sc.s.resize(QB * n16, 0.0);
    let mut i = 0;
    while i + QB <= n {
        rows::<QB>(qkv, out, sc, i, n, n16, hd, h, col, scale);
        i += QB;
    }
    while i < n {
        rows::<1>(qkv, out, sc, i, n, n16, hd, h, col, scale);
        i += 1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn head_avx512(
    qkv: &[f32],
    out: &mut [f32],
    sc: &mut Scratch,
    n: usize,
    hd: usize,
    h: usize,
    col: usize,
    scale: f32,
) {
    head_impl(qkv, out, sc, n, hd, h, col, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn head_avx2(
    qkv: &[f32],
    out: &mut [f32],
    sc: &mut Scratch,
    n: usize,
    hd: usize,
    h: usize,
    col: usize,
    scale: f32,
) {
    head_impl(qkv, out, sc, n, hd, h, col, scale)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
    Portable,
}

fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                Isa::Avx512
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                Isa::Avx2
            } else {
                Isa::Portable
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Isa::Portable
}

/// The attention of one batch, `qkv` row-major `[b · l, 3h]` → `[b · l, h]`.
pub(crate) fn attention(
    qkv: &[f32],
    lens: &[usize],
    l: usize,
    heads: usize,
    scale: f32,
) -> Vec<f32> {
    let b = lens.len();
    let h = qkv.len() / (b * l).max(1) / 3;
    let hd = h / heads.max(1);
    let mut out = vec![0f32; b * l * h];
    let ptr = OutPtr(out.as_mut_ptr());
    let isa = isa();
    (0..b * heads)
        .into_par_iter()
        .for_each_init(Scratch::default, |sc, t| {
            let (bi, head) = (t / heads, t % heads);
            let n = lens[bi].min(l);
            let seq = &qkv[bi * l * 3 * h..(bi + 1) * l * 3 * h];
            let p = ptr;
            // SAFETY: the rows of sequence bi; this task writes only columns
            // head·hd..(head+1)·hd of them (the other heads' tasks the rest).
            let o = unsafe { std::slice::from_raw_parts_mut(p.0.add(bi * l * h), l * h) };
            let col = head * hd;
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX-512 F and FMA are present (checked by isa()).
                Isa::Avx512 => unsafe { head_avx512(seq, o, sc, n, hd, h, col, scale) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX2 and FMA are present (checked by isa()).
                Isa::Avx2 => unsafe { head_avx2(seq, o, sc, n, hd, h, col, scale) },
                _ => head_impl(seq, o, sc, n, hd, h, col, scale),
            }
        });
    out
}

impl CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "xlqa-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, len) = (self.batch, self.len);
        let dims = l.shape().dims();
        if dims.len() != 2
            || dims[0] != b * len
            || !dims[1].is_multiple_of(3 * self.heads.max(1))
            || self.lens.len() != b
        {
            candle_core::bail!(
                "{}: qkv {dims:?} is not [{b} × {len}, 3 × hidden] for {} heads",
                self.name(),
                self.heads
            )
        }
        let data = s.as_slice::<f32>()?;
        let x = match l.contiguous_offsets() {
            Some((a, e)) => &data[a..e],
            None => candle_core::bail!("{}: input is not contiguous", self.name()),
        };
        let h = dims[1] / 3;
        let out = attention(x, self.lens, len, self.heads, self.scale);
        Ok((CpuStorage::F32(out), Shape::from((b * len, h))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain attention with f64 sums, padded keys masked.
    fn reference(qkv: &[f32], lens: &[usize], l: usize, heads: usize, scale: f32) -> Vec<f32> {
        let b = lens.len();
        let h = qkv.len() / (b * l) / 3;
        let hd = h / heads;
        let mut out = vec![0f32; b * l * h];
        for bi in 0..b {
            let n = lens[bi];
            let row = |j: usize| &qkv[(bi * l + j) * 3 * h..(bi * l + j + 1) * 3 * h];
            for hh in 0..heads {
                for i in 0..n {
                    let q = &row(i)[hh * hd..(hh + 1) * hd];
                    let s: Vec<f64> = (0..n)
                        .map(|j| {
                            let k = &row(j)[h + hh * hd..h + (hh + 1) * hd];
                            q.iter()
                                .zip(k)
                                .map(|(&a, &b)| f64::from(a * b))
                                .sum::<f64>()
                                * f64::from(scale)
                        })
                        .collect();
                    let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|v| (v - mx).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for d in 0..hd {
                        let v: f64 = (0..n)
                            .map(|j| e[j] / z * f64::from(row(j)[2 * h + hh * hd + d]))
                            .sum();
                        out[(bi * l + i) * h + hh * hd + d] = v as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_plain_attention_with_padding() {
        let mut seed = 5u64;
        let mut r = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        };
        for &(lens, l, heads, hd) in &[
            (&[5usize, 3, 1][..], 5usize, 2usize, 4usize),
            (&[1][..], 1, 1, 8),
            (&[17, 9][..], 17, 3, 32),
            (&[40, 40, 2][..], 40, 12, 32),
        ] {
            let h = heads * hd;
            let qkv: Vec<f32> = (0..lens.len() * l * 3 * h).map(|_| r()).collect();
            let got = attention(&qkv, lens, l, heads, 0.3);
            let want = reference(&qkv, lens, l, heads, 0.3);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-5, "{lens:?} at {i}: {g} vs {w}");
            }
        }
        assert!(attention(&[], &[], 0, 2, 1.0).is_empty());
    }
}
