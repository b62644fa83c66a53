//! Int8 matrix multiplication for the encoder's linear layers.
//!
//! `out[i, j] = sa[i] · sw[j] · Σ_k qa[i, k] · qw[j, k] (+ bias[j], GELU)`
//! with `qa` the activations quantized per row (symmetric, dynamic: one scale
//! per token) and `qw` the weights quantized per output row (symmetric, at
//! load time). The integer dot products are exact in `i32`, so every kernel
//! below gives bit-identical results; only the f32 epilogue rounds.
//!
//! Kernels, chosen at run time:
//! - **AVX-512 VNNI** (`vpdpbusd`: 64 `u8 × i8` products a cycle into `i32`),
//!   activations stored as `u8 = q + 128` and the offset removed with the
//!   weights' column sums;
//! - **AVX2** (`vpmaddubsw` + `vpmaddwd` with the sign trick: `|a| · sign(w, a)`,
//!   whose pair sums stay below `2 · 127² < 2¹⁵`, so nothing saturates);
//! - a portable scalar kernel (also the reference of the tests).
//!
//! Weights are packed once into panels of 16 output columns: for every group of
//! 4 inputs, 16 columns × 4 bytes, i.e. one 64-byte vector; inputs are padded
//! to a multiple of 4 and columns to a multiple of 16 with zeros.

use rayon::prelude::*;

/// Output columns per packed panel.
const PANEL: usize = 16;
/// Rows per parallel task (a multiple of every kernel's row tile).
const ROWS_PER_TASK: usize = 48;

/// Which kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 F/BW + VNNI.
    Avx512Vnni,
    /// AVX2 (no VNNI).
    Avx2,
    /// Portable Rust.
    Scalar,
}

impl Kernel {
    /// The fastest kernel this CPU supports. `XLQA_QGEMM_KERNEL=avx512vnni|avx2|scalar`
    /// forces one, for comparisons; an unknown or unsupported choice is
    /// reported on stderr (once) and the fastest kernel is used.
    pub fn detect() -> Kernel {
        use std::sync::OnceLock;
        static K: OnceLock<Kernel> = OnceLock::new();
        *K.get_or_init(|| {
            let best = Kernel::best_supported();
            let Ok(want) = std::env::var("XLQA_QGEMM_KERNEL") else {
                return best;
            };
            let chosen = [Kernel::Avx512Vnni, Kernel::Avx2, Kernel::Scalar]
                .into_iter()
                .find(|k| k.name() == want);
            match chosen {
                Some(k) if k.supported() => k,
                Some(k) => {
                    eprintln!(
                        "xlqa: XLQA_QGEMM_KERNEL={} is not supported by this CPU; using {}",
                        k.name(),
                        best.name()
                    );
                    best
                }
                None => {
                    eprintln!(
                        "xlqa: XLQA_QGEMM_KERNEL={want:?} is not a kernel (avx512vnni, avx2, scalar); using {}",
                        best.name()
                    );
                    best
                }
            }
        })
    }

    fn best_supported() -> Kernel {
        [Kernel::Avx512Vnni, Kernel::Avx2]
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernel::Scalar)
    }

    /// Whether this CPU can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// A short name (as accepted by `XLQA_QGEMM_KERNEL`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512Vnni => "avx512vnni",
            Kernel::Avx2 => "avx2",
            Kernel::Scalar => "scalar",
        }
    }
}

/// A weight matrix `[n, k]` (PyTorch `[out, in]`) quantized to int8 per output
/// row and packed into panels.
#[derive(Debug, Clone)]
pub struct PackedWeight {
    n: usize,
    k: usize,
    /// Groups of 4 inputs (`ceil(k / 4)`).
    k4: usize,
    panels: usize,
    /// `panels × k4 × 64` bytes.
    data: Vec<i8>,
    /// Per output column: the dequantization scale.
    scale: Vec<f32>,
    /// Per output column: `128 · Σ_k qw` (removes the activations' u8 offset).
    offset: Vec<i32>,
}

impl PackedWeight {
    /// Quantizes `w` (row-major `[n, k]`, f32) with one symmetric scale per row.
    pub fn quantize(w: &[f32], n: usize, k: usize) -> PackedWeight {
        assert_eq!(w.len(), n * k, "weight is not [{n}, {k}]");
        let r: Result<PackedWeight, std::convert::Infallible> =
            PackedWeight::from_rows(n, k, |j, row| {
                row.copy_from_slice(&w[j * k..(j + 1) * k]);
                Ok(())
            });
        match r {
            Ok(p) => p,
            Err(e) => match e {},
        }
    }

    /// Like [`PackedWeight::quantize`], with row `j` written by `fill(j, row)`
    /// in order `0..n`, so a large matrix can be streamed from a file
    /// without holding it in f32.
    pub fn from_rows<E>(
        n: usize,
        k: usize,
        mut fill: impl FnMut(usize, &mut [f32]) -> Result<(), E>,
    ) -> Result<PackedWeight, E> {
        let k4 = k.div_ceil(4);
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0i8; panels * k4 * 64];
        let mut scale = vec![0f32; n];
        let mut offset = vec![0i32; n];
        let mut row = vec![0f32; k];
        let mut qrow = vec![0i8; k];
        for j in 0..n {
            fill(j, &mut row)?;
            scale[j] = quantize_row_i8(&row, &mut qrow);
            let (p, c) = (j / PANEL, j % PANEL);
            for (kk, &q) in qrow.iter().enumerate() {
                data[p * k4 * 64 + (kk / 4) * 64 + c * 4 + kk % 4] = q;
            }
            offset[j] = 128 * qrow.iter().map(|&q| i32::from(q)).sum::<i32>();
        }
        Ok(PackedWeight {
            n,
            k,
            k4,
            panels,
            data,
            scale,
            offset,
        })
    }

    /// Output columns.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inputs.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The quantized weight `(j, kk)` (for tests).
    fn q(&self, j: usize, kk: usize) -> i8 {
        self.data[(j / PANEL) * self.k4 * 64 + (kk / 4) * 64 + (j % PANEL) * 4 + kk % 4]
    }

    /// Number of 16-column panels.
    pub fn panels(&self) -> usize {
        self.panels
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() + 8 * self.n
    }
}

/// Quantizes one weight row (or stored vector) symmetrically to int8:
/// `out = round(v / s)` with `s = max |v| / 127` (1 for an all-zero row);
/// returns `s`. The weights of [`PackedWeight`] and the rows of the dense
/// index's HNSW graph use it.
pub fn quantize_row_i8(v: &[f32], out: &mut [i8]) -> f32 {
    let mx = v.iter().fold(0f32, |m, &x| m.max(x.abs()));
    let s = if mx > 0.0 { mx / 127.0 } else { 1.0 };
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (x / s).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    s
}

/// Activations `[m, k]` quantized per row to `u8 = round(x / s) + 128`,
/// rows padded to a multiple of 4 bytes (padding = 128, i.e. zero).
#[derive(Debug, Default, Clone)]
pub struct QuantizedRows {
    m: usize,
    k: usize,
    /// Bytes per row (`4 · ceil(k / 4)`).
    stride: usize,
    data: Vec<u8>,
    scale: Vec<f32>,
}

impl QuantizedRows {
    /// Rows.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Quantizes `x` (row-major `[m, k]`), reusing this buffer's memory.
    pub fn quantize(&mut self, x: &[f32], m: usize, k: usize) {
        assert_eq!(x.len(), m * k, "activations are not [{m}, {k}]");
        let stride = k.div_ceil(4) * 4;
        self.m = m;
        self.k = k;
        self.stride = stride;
        // every byte is written below: no need to clear
        self.data.resize(m * stride, 128);
        self.scale.resize(m, 0.0);
        if k == 0 {
            return;
        }
        self.data
            .par_chunks_mut(stride * ROWS_PER_TASK)
            .zip(self.scale.par_chunks_mut(ROWS_PER_TASK))
            .zip(x.par_chunks(k * ROWS_PER_TASK))
            .for_each(|((d, s), x)| {
                for ((drow, sv), xrow) in d.chunks_mut(stride).zip(s).zip(x.chunks(k)) {
                    quantize_row(&mut drow[..k], sv, xrow);
                    drow[k..].fill(128);
                }
            });
    }
}

#[inline(always)]
fn quantize_row_impl(d: &mut [u8], s: &mut f32, x: &[f32]) {
    let mut lanes = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v.abs());
        }
    }
    let mx = lanes
        .iter()
        .chain(tail.iter())
        .fold(0f32, |m, &v| m.max(v.abs()));
    let scale = if mx > 0.0 { mx / 127.0 } else { 1.0 };
    *s = scale;
    let inv = 1.0 / scale;
    for (o, &v) in d.iter_mut().zip(x) {
        // |v · inv| <= 127 (+ rounding), so the sum stays within 1..=255
        *o = ((v * inv).round_ties_even().clamp(-127.0, 127.0) as i32 + 128) as u8;
    }
}

/// The vector width the element-wise loops (activation quantization,
/// epilogue) are compiled for, detected once (these run per row: no feature
/// test in the loop).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Simd {
    Avx512,
    Avx2,
    Portable,
}

fn simd() -> Simd {
    use std::sync::OnceLock;
    static S: OnceLock<Simd> = OnceLock::new();
    *S.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = is_x86_feature_detected!("fma");
            if Kernel::Avx512Vnni.supported() && fma {
                return Simd::Avx512;
            }
            if Kernel::Avx2.supported() && fma {
                return Simd::Avx2;
            }
        }
        Simd::Portable
    })
}

fn quantize_row(d: &mut [u8], s: &mut f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd() != Simd::Portable {
        // SAFETY: AVX2 and FMA are present (simd() checked them).
        return unsafe { quantize_row_avx2(d, s, x) };
    }
    quantize_row_impl(d, s, x)
}

/// [`quantize_row_impl`] with AVX2 intrinsics: the same results (`cvtps`
/// rounds half to even, like `round_ties_even`), 32 values a step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn quantize_row_avx2(d: &mut [u8], s: &mut f32, x: &[f32]) {
    use std::arch::x86_64::*;
    let k = x.len();
    assert!(d.len() >= k, "row buffer too short");
    let mut mx = 0f32;
    let mut i = 0;
    // SAFETY: every load reads x[i..i + 8] with i + 8 <= k, every store
    // writes d[i..i + 32] with i + 32 <= k <= d.len().
    unsafe {
        let sign = _mm256_set1_ps(-0.0);
        let mut m = _mm256_setzero_ps();
        while i + 8 <= k {
            let v = _mm256_loadu_ps(x.as_ptr().add(i));
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v));
            i += 8;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), m);
        for &v in lanes.iter().chain(x[i..].iter()) {
            mx = mx.max(v.abs());
        }
    }
    let scale = if mx > 0.0 { mx / 127.0 } else { 1.0 };
    *s = scale;
    let inv = 1.0 / scale;
    i = 0;
    // SAFETY: as above.
    unsafe {
        let vinv = _mm256_set1_ps(inv);
        let (lo, hi) = (_mm256_set1_epi32(-127), _mm256_set1_epi32(127));
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let flip = _mm256_set1_epi8(-128);
        let conv = |at: usize| {
            let v = _mm256_mul_ps(_mm256_loadu_ps(x.as_ptr().add(at)), vinv);
            _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(v), lo), hi)
        };
        while i + 32 <= k {
            let ab = _mm256_packs_epi32(conv(i), conv(i + 8));
            let cd = _mm256_packs_epi32(conv(i + 16), conv(i + 24));
            let q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
            _mm256_storeu_si256(d.as_mut_ptr().add(i).cast(), _mm256_xor_si256(q, flip));
            i += 32;
        }
    }
    for (o, &v) in d[i..k].iter_mut().zip(&x[i..]) {
        *o = ((v * inv).round_ties_even().clamp(-127.0, 127.0) as i32 + 128) as u8;
    }
}

/// What happens to each output after scaling.
#[derive(Debug, Clone, Copy)]
pub enum Epilogue<'a> {
    /// `out = acc`.
    None,
    /// `out = acc + bias`.
    Bias(&'a [f32]),
    /// `out = GELU(acc + bias)` (exact erf GELU).
    BiasGelu(&'a [f32]),
}

/// `out[m, n] = a · wᵀ` with the given epilogue, on the detected kernel.
pub fn matmul(a: &QuantizedRows, w: &PackedWeight, epi: Epilogue<'_>, out: &mut [f32]) {
    matmul_with(Kernel::detect(), a, w, epi, out)
}

/// [`matmul`] into the spare capacity of an empty `out` (no zero-fill of a
/// buffer that is overwritten anyway), then sets its length to `m · n`.
pub fn matmul_into_spare(
    a: &QuantizedRows,
    w: &PackedWeight,
    epi: Epilogue<'_>,
    out: &mut Vec<f32>,
) {
    let len = a.m * w.n;
    out.clear();
    out.reserve_exact(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    // SAFETY: f32 has no invalid bit patterns and no drop; `matmul` writes
    // every one of the m · n elements (its tiles cover the whole output)
    // before the length is set, and nothing reads the slice before that.
    let buf = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<f32>(), len) };
    matmul(a, w, epi, buf);
    // SAFETY: all `len` elements were initialized by `matmul` above.
    unsafe { out.set_len(len) };
}

/// Raw pointer to the output, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint (row range, column range) tiles of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// [`matmul`] on a chosen kernel (it must be supported: see [`Kernel::supported`]).
pub fn matmul_with(
    kernel: Kernel,
    a: &QuantizedRows,
    w: &PackedWeight,
    epi: Epilogue<'_>,
    out: &mut [f32],
) {
    assert_eq!(a.k, w.k, "activations have {} inputs, weights {}", a.k, w.k);
    assert_eq!(out.len(), a.m * w.n, "output is not [{}, {}]", a.m, w.n);
    assert!(kernel.supported(), "kernel {} not supported", kernel.name());
    if let Epilogue::Bias(b) | Epilogue::BiasGelu(b) = epi {
        assert_eq!(
            b.len(),
            w.n,
            "bias has {} values for {} columns",
            b.len(),
            w.n
        );
    }
    let (m, n) = (a.m, w.n);
    if m == 0 || n == 0 {
        return;
    }
    // Tasks: row blocks × column blocks; small batches (a question) are split
    // by columns so that every core has work.
    let row_blocks = m.div_ceil(ROWS_PER_TASK);
    let threads = rayon::current_num_threads().max(1);
    let col_blocks = if row_blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(row_blocks).min(w.panels.div_ceil(4))
    };
    let panels_per_block = w.panels.div_ceil(col_blocks).div_ceil(4) * 4;
    let ptr = OutPtr(out.as_mut_ptr());
    (0..row_blocks * col_blocks).into_par_iter().for_each(|t| {
        let (rb, cb) = (t / col_blocks, t % col_blocks);
        let rows = rb * ROWS_PER_TASK..((rb + 1) * ROWS_PER_TASK).min(m);
        let p0 = cb * panels_per_block;
        let p1 = ((cb + 1) * panels_per_block).min(w.panels);
        if p0 >= p1 {
            return;
        }
        let p = ptr;
        let o = Out {
            ptr: p.0,
            stride: w.n,
            row0: 0,
            col0: 0,
        };
        block(kernel, a, w, epi, rows, p0..p1, o);
    });
}

/// Where a block writes: element (row, c) at `ptr + (row − row0) · stride + c − col0`.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    stride: usize,
    row0: usize,
    col0: usize,
}

/// Raw dot products scaled, `out[(i − rows.start) · stride + (c − 16 · panels.start)]
/// = a[i] · w[c]` for `i` in `rows` and the columns of `panels` (up to `n`),
/// on the calling thread: for callers that parallelize by themselves and
/// consume the output block by block (e.g. a top-k scan over many columns).
pub fn matmul_block(
    kernel: Kernel,
    a: &QuantizedRows,
    w: &PackedWeight,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: &mut [f32],
    stride: usize,
) {
    assert_eq!(a.k, w.k, "activations have {} inputs, weights {}", a.k, w.k);
    assert!(kernel.supported(), "kernel {} not supported", kernel.name());
    assert!(
        rows.end <= a.m && panels.end <= w.panels,
        "block out of range"
    );
    if rows.is_empty() || panels.is_empty() {
        return;
    }
    let cols = (panels.end * PANEL).min(w.n) - panels.start * PANEL;
    assert!(stride >= cols, "stride {stride} < {cols} columns");
    assert!(
        out.len() >= (rows.len() - 1) * stride + cols,
        "output too small for the block"
    );
    let o = Out {
        ptr: out.as_mut_ptr(),
        stride,
        row0: rows.start,
        col0: panels.start * PANEL,
    };
    block(kernel, a, w, Epilogue::None, rows, panels, o);
}

/// Number of 16-column panels of a packed matrix.
pub fn panel_width() -> usize {
    PANEL
}

/// Computes rows × panels of the output.
fn block(
    kernel: Kernel,
    a: &QuantizedRows,
    w: &PackedWeight,
    epi: Epilogue<'_>,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: Out,
) {
    let mut acc = [[0i32; 4 * PANEL]; 6];
    let mut p = panels.start;
    while p < panels.end {
        let np = (panels.end - p).min(4);
        let mut r = rows.start;
        while r < rows.end {
            let mr = (rows.end - r).min(6);
            tile(kernel, a, w, r, mr, p, np, &mut acc);
            let c0 = p * PANEL;
            let c1 = ((p + np) * PANEL).min(w.n);
            let use_offset = i32::from(kernel != Kernel::Avx2);
            for (i, arow) in acc.iter().enumerate().take(mr) {
                let row = r + i;
                // SAFETY: (row, c0..c1) lies in this task's tile of the [m, n]
                // output (the caller's ranges), written by no other task.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(
                        out.ptr.add((row - out.row0) * out.stride + c0 - out.col0),
                        c1 - c0,
                    )
                };
                let cols = Cols {
                    acc: &arow[..c1 - c0],
                    offset: &w.offset[c0..c1],
                    scale: &w.scale[c0..c1],
                    use_offset,
                    sa: a.scale[row],
                };
                let bias = match epi {
                    Epilogue::None => None,
                    Epilogue::Bias(b) => Some((&b[c0..c1], false)),
                    Epilogue::BiasGelu(b) => Some((&b[c0..c1], true)),
                };
                epilogue(dst, &cols, bias);
            }
            r += mr;
        }
        p += np;
    }
}

/// One row of a tile's integer results and what scales them.
struct Cols<'a> {
    acc: &'a [i32],
    offset: &'a [i32],
    scale: &'a [f32],
    /// 1 when `acc` includes the activations' +128 offset, else 0.
    use_offset: i32,
    sa: f32,
}

#[inline(always)]
fn epilogue_impl(dst: &mut [f32], c: &Cols<'_>, bias: Option<(&[f32], bool)>) {
    let it = dst
        .iter_mut()
        .zip(c.acc)
        .zip(c.offset)
        .zip(c.scale)
        .map(|(((d, &a), &o), &s)| (d, (a - o * c.use_offset) as f32 * (c.sa * s)));
    match bias {
        None => it.for_each(|(d, v)| *d = v),
        Some((b, false)) => it.zip(b).for_each(|((d, v), &b)| *d = v + b),
        Some((b, true)) => it
            .zip(b)
            .for_each(|((d, v), &b)| *d = crate::math::gelu_erf(v + b)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn epilogue_avx512(dst: &mut [f32], c: &Cols<'_>, bias: Option<(&[f32], bool)>) {
    epilogue_impl(dst, c, bias)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn epilogue_avx2(dst: &mut [f32], c: &Cols<'_>, bias: Option<(&[f32], bool)>) {
    epilogue_impl(dst, c, bias)
}

/// Scales one row of results into `dst` (the same f32 operations on every
/// path, so results do not depend on the instruction set).
fn epilogue(dst: &mut [f32], c: &Cols<'_>, bias: Option<(&[f32], bool)>) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512 F and FMA are present (simd() checked them).
        Simd::Avx512 => unsafe { epilogue_avx512(dst, c, bias) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 and FMA are present (simd() checked them).
        Simd::Avx2 => unsafe { epilogue_avx2(dst, c, bias) },
        _ => epilogue_impl(dst, c, bias),
    }
}

/// `acc[i][c] = Σ_k a[r0 + i, k] · w[p0 · 16 + c, k]` for `i < mr`, `c < np · 16`
/// (u8 activations for VNNI and scalar, i.e. including the +128 offset; the
/// AVX2 kernel works on the signed values).
#[allow(clippy::too_many_arguments)]
fn tile(
    kernel: Kernel,
    a: &QuantizedRows,
    w: &PackedWeight,
    r0: usize,
    mr: usize,
    p0: usize,
    np: usize,
    acc: &mut [[i32; 4 * PANEL]; 6],
) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni => {
            // SAFETY: supported (asserted in matmul_with); pointers stay inside
            // a (rows r0..r0+mr) and w (panels p0..p0+np), see the kernel.
            unsafe { x86::tile_vnni(a, w, r0, mr, p0, np, acc) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            // SAFETY: as above.
            unsafe { x86::tile_avx2(a, w, r0, mr, p0, np, acc) }
        }
        _ => tile_scalar(a, w, r0, mr, p0, np, acc),
    }
}

fn tile_scalar(
    a: &QuantizedRows,
    w: &PackedWeight,
    r0: usize,
    mr: usize,
    p0: usize,
    np: usize,
    acc: &mut [[i32; 4 * PANEL]; 6],
) {
    for (i, arow) in acc.iter_mut().enumerate().take(mr) {
        let ar = &a.data[(r0 + i) * a.stride..(r0 + i + 1) * a.stride];
        arow.fill(0);
        for p in 0..np {
            let wp = &w.data[(p0 + p) * w.k4 * 64..(p0 + p + 1) * w.k4 * 64];
            for g in 0..w.k4 {
                let av = &ar[g * 4..g * 4 + 4];
                let wg = &wp[g * 64..g * 64 + 64];
                for c in 0..PANEL {
                    let mut s = 0i32;
                    for t in 0..4 {
                        s += i32::from(av[t]) * i32::from(wg[c * 4 + t]);
                    }
                    arow[p * PANEL + c] += s;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{PackedWeight, QuantizedRows, PANEL};
    use std::arch::x86_64::*;

    /// AVX-512 VNNI tile: `MR` rows × `NP` panels of 16 columns.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni<const MR: usize, const NP: usize>(
        a: *const u8,
        lda: usize,
        w: *const i8,
        panel_stride: usize,
        k4: usize,
        acc: &mut [[i32; 4 * PANEL]; 6],
    ) {
        let mut c = [[_mm512_setzero_si512(); NP]; MR];
        for g in 0..k4 {
            let mut wv = [_mm512_setzero_si512(); NP];
            for (p, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(w.add(p * panel_stride + g * 64).cast());
            }
            for (r, cr) in c.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(std::ptr::read_unaligned(
                    a.add(r * lda + g * 4).cast::<i32>(),
                ));
                for (cv, &wvp) in cr.iter_mut().zip(&wv) {
                    *cv = _mm512_dpbusd_epi32(*cv, av, wvp);
                }
            }
        }
        for (r, cr) in c.iter().enumerate() {
            for (p, cv) in cr.iter().enumerate() {
                _mm512_storeu_si512(acc[r][p * PANEL..].as_mut_ptr().cast(), *cv);
            }
        }
    }

    /// AVX2 tile: `MR` rows × 1 panel (two 8-column vectors), sign trick.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2<const MR: usize>(
        a: *const u8,
        lda: usize,
        w: *const i8,
        k4: usize,
        out: &mut [[i32; 4 * PANEL]],
        col: usize,
    ) {
        let ones = _mm256_set1_epi16(1);
        let flip = _mm256_set1_epi8(-128);
        let mut c = [[_mm256_setzero_si256(); 2]; MR];
        for g in 0..k4 {
            let w0 = _mm256_loadu_si256(w.add(g * 64).cast());
            let w1 = _mm256_loadu_si256(w.add(g * 64 + 32).cast());
            for (r, cr) in c.iter_mut().enumerate() {
                let au = _mm256_set1_epi32(std::ptr::read_unaligned(
                    a.add(r * lda + g * 4).cast::<i32>(),
                ));
                let ai = _mm256_xor_si256(au, flip); // u8 - 128 as i8
                let aa = _mm256_abs_epi8(ai);
                let s0 = _mm256_sign_epi8(w0, ai);
                let s1 = _mm256_sign_epi8(w1, ai);
                let d0 = _mm256_madd_epi16(_mm256_maddubs_epi16(aa, s0), ones);
                let d1 = _mm256_madd_epi16(_mm256_maddubs_epi16(aa, s1), ones);
                cr[0] = _mm256_add_epi32(cr[0], d0);
                cr[1] = _mm256_add_epi32(cr[1], d1);
            }
        }
        for (r, cr) in c.iter().enumerate() {
            _mm256_storeu_si256(out[r][col..].as_mut_ptr().cast(), cr[0]);
            _mm256_storeu_si256(out[r][col + 8..].as_mut_ptr().cast(), cr[1]);
        }
    }

    macro_rules! by_mr {
        ($mr:expr, $f:ident::<_ $(, $np:literal)?>($($arg:expr),*)) => {
            match $mr {
                1 => $f::<1 $(, $np)?>($($arg),*),
                2 => $f::<2 $(, $np)?>($($arg),*),
                3 => $f::<3 $(, $np)?>($($arg),*),
                4 => $f::<4 $(, $np)?>($($arg),*),
                5 => $f::<5 $(, $np)?>($($arg),*),
                _ => $f::<6 $(, $np)?>($($arg),*),
            }
        };
    }

    /// # Safety
    /// AVX-512 F/BW/VNNI present; `r0 + mr <= a.m`, `mr <= 6`, `p0 + np <= w.panels`, `np <= 4`.
    pub(super) unsafe fn tile_vnni(
        a: &QuantizedRows,
        w: &PackedWeight,
        r0: usize,
        mr: usize,
        p0: usize,
        np: usize,
        acc: &mut [[i32; 4 * PANEL]; 6],
    ) {
        debug_assert!(r0 + mr <= a.m && p0 + np <= w.panels && mr <= 6 && np <= 4);
        let ap = a.data.as_ptr().add(r0 * a.stride);
        let ps = w.k4 * 64;
        let wp = w.data.as_ptr().add(p0 * ps);
        match np {
            1 => by_mr!(mr, vnni::<_, 1>(ap, a.stride, wp, ps, w.k4, acc)),
            2 => by_mr!(mr, vnni::<_, 2>(ap, a.stride, wp, ps, w.k4, acc)),
            3 => by_mr!(mr, vnni::<_, 3>(ap, a.stride, wp, ps, w.k4, acc)),
            _ => by_mr!(mr, vnni::<_, 4>(ap, a.stride, wp, ps, w.k4, acc)),
        }
    }

    /// # Safety
    /// AVX2 present; ranges as for [`tile_vnni`].
    pub(super) unsafe fn tile_avx2(
        a: &QuantizedRows,
        w: &PackedWeight,
        r0: usize,
        mr: usize,
        p0: usize,
        np: usize,
        acc: &mut [[i32; 4 * PANEL]; 6],
    ) {
        debug_assert!(r0 + mr <= a.m && p0 + np <= w.panels && mr <= 6 && np <= 4);
        let ps = w.k4 * 64;
        // rows in tiles of up to 3 (2 accumulators each, 16 ymm registers)
        let mut i = 0;
        while i < mr {
            let t = (mr - i).min(3);
            let ap = a.data.as_ptr().add((r0 + i) * a.stride);
            for p in 0..np {
                let wp = w.data.as_ptr().add((p0 + p) * ps);
                let rows = &mut acc[i..];
                match t {
                    1 => avx2::<1>(ap, a.stride, wp, w.k4, rows, p * PANEL),
                    2 => avx2::<2>(ap, a.stride, wp, w.k4, rows, p * PANEL),
                    _ => avx2::<3>(ap, a.stride, wp, w.k4, rows, p * PANEL),
                }
            }
            i += t;
        }
    }
}

/// Plain reference: `Σ_k (qa - 128) · qw`, scaled, with the epilogue (tests).
pub fn matmul_reference(a: &QuantizedRows, w: &PackedWeight, epi: Epilogue<'_>) -> Vec<f32> {
    let mut out = vec![0f32; a.m * w.n];
    for i in 0..a.m {
        for j in 0..w.n {
            let mut s = 0i32;
            for kk in 0..a.k {
                s += (i32::from(a.data[i * a.stride + kk]) - 128) * i32::from(w.q(j, kk));
            }
            let v = s as f32 * (a.scale[i] * w.scale[j]);
            out[i * w.n + j] = match epi {
                Epilogue::None => v,
                Epilogue::Bias(b) => v + b[j],
                Epilogue::BiasGelu(b) => crate::math::gelu_erf(v + b[j]),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn rand(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
        (0..n).map(|_| lcg(seed) * scale).collect()
    }

    fn kernels() -> Vec<Kernel> {
        [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512Vnni]
            .into_iter()
            .filter(|k| k.supported())
            .collect()
    }

    #[test]
    fn every_kernel_matches_the_reference_bit_for_bit() {
        let mut seed = 7;
        // odd sizes: rows not a multiple of any tile, k not a multiple of 4,
        // columns not a multiple of 16, a single row, empty batches
        for &(m, k, n) in &[
            (0, 8, 16),
            (1, 1, 1),
            (1, 384, 384),
            (5, 7, 3),
            (7, 33, 17),
            (13, 384, 80),
            (50, 100, 70),
            (97, 1536, 48),
            (49, 5, 200),
        ] {
            let x = rand(m * k, &mut seed, 3.0);
            let wf = rand(n * k, &mut seed, 0.2);
            let bias = rand(n, &mut seed, 1.0);
            let w = PackedWeight::quantize(&wf, n, k);
            let mut a = QuantizedRows::default();
            a.quantize(&x, m, k);
            for epi in [
                Epilogue::None,
                Epilogue::Bias(&bias),
                Epilogue::BiasGelu(&bias),
            ] {
                let want = matmul_reference(&a, &w, epi);
                for kern in kernels() {
                    let mut got = vec![f32::NAN; m * n];
                    matmul_with(kern, &a, &w, epi, &mut got);
                    assert_eq!(got, want, "{} m={m} k={k} n={n} {epi:?}", kern.name());
                }
            }
        }
    }

    #[test]
    fn quantized_product_is_close_to_f32() {
        let mut seed = 11;
        let (m, k, n) = (9, 384, 40);
        let x = rand(m * k, &mut seed, 2.0);
        let wf = rand(n * k, &mut seed, 0.1);
        let w = PackedWeight::quantize(&wf, n, k);
        let mut a = QuantizedRows::default();
        a.quantize(&x, m, k);
        let mut got = vec![0f32; m * n];
        matmul(&a, &w, Epilogue::None, &mut got);
        for i in 0..m {
            let exact: Vec<f64> = (0..n)
                .map(|j| {
                    (0..k)
                        .map(|kk| f64::from(x[i * k + kk]) * f64::from(wf[j * k + kk]))
                        .sum()
                })
                .collect();
            let dot: f64 = exact
                .iter()
                .zip(&got[i * n..(i + 1) * n])
                .map(|(e, &g)| e * f64::from(g))
                .sum();
            let ne: f64 = exact.iter().map(|e| e * e).sum::<f64>().sqrt();
            let ng: f64 = got[i * n..(i + 1) * n]
                .iter()
                .map(|&g| f64::from(g) * f64::from(g))
                .sum::<f64>()
                .sqrt();
            assert!(
                dot / (ne * ng) > 0.999,
                "row {i}: cosine {}",
                dot / (ne * ng)
            );
        }
    }

    #[test]
    fn vector_quantization_matches_scalar() {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            let mut seed = 3;
            for k in [1, 7, 8, 31, 32, 33, 64, 100, 384, 1536] {
                // include exact .5 ties after scaling
                let mut x = rand(k, &mut seed, 5.0);
                x[0] = 127.0;
                if k > 2 {
                    x[1] = 0.5;
                    x[2] = -2.5;
                }
                let (mut d1, mut d2) = (vec![0u8; k], vec![0u8; k]);
                let (mut s1, mut s2) = (0f32, 0f32);
                quantize_row_impl(&mut d1, &mut s1, &x);
                // SAFETY: AVX2 and FMA are present (checked).
                unsafe { quantize_row_avx2(&mut d2, &mut s2, &x) };
                assert_eq!((d1, s1), (d2, s2), "k = {k}");
            }
        }
    }

    #[test]
    fn blocks_match_the_full_product() {
        let mut seed = 9;
        let (m, k, n) = (11, 40, 75);
        let x = rand(m * k, &mut seed, 1.0);
        let wf = rand(n * k, &mut seed, 1.0);
        let w = PackedWeight::quantize(&wf, n, k);
        let mut a = QuantizedRows::default();
        a.quantize(&x, m, k);
        let full = matmul_reference(&a, &w, Epilogue::None);
        for kern in kernels() {
            for (rows, panels) in [(0..11, 0..5), (3..4, 1..3), (5..11, 4..5), (2..2, 0..1)] {
                let stride = 80;
                let mut out = vec![f32::NAN; rows.len().max(1) * stride];
                matmul_block(kern, &a, &w, rows.clone(), panels.clone(), &mut out, stride);
                for i in rows.clone() {
                    for c in panels.start * 16..(panels.end * 16).min(n) {
                        let got = out[(i - rows.start) * stride + c - panels.start * 16];
                        assert_eq!(got, full[i * n + c], "{} row {i} col {c}", kern.name());
                    }
                }
            }
        }
    }

    #[test]
    fn zero_rows_and_weights_are_exact() {
        let w = PackedWeight::quantize(&[0.0; 32], 4, 8);
        let mut a = QuantizedRows::default();
        a.quantize(&[0.0; 16], 2, 8);
        for kern in kernels() {
            let mut got = vec![1f32; 8];
            matmul_with(kern, &a, &w, Epilogue::None, &mut got);
            assert!(got.iter().all(|&v| v == 0.0), "{}", kern.name());
        }
    }
}
