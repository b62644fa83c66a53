//! Branch-free f32 approximations that vectorize.

/// `erf(x)` as a rational minimax approximation on `[-4, 4]` (the one of
/// Eigen / XLA); absolute error below 5e-7 in f32 (a few ulp of 1.0).
/// Branch-free, so the loops using it vectorize.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_1e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    p / q
}

/// The exact (erf) GELU, `0.5 x (1 + erf(x / √2))`.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `exp(x)` for `x <= 0` (Cephes' polynomial after range reduction by ln 2);
/// relative error about 1e-7, results below `exp(-87)` flush to a tiny normal.
#[inline(always)]
pub fn exp_nonpos(x: f32) -> f32 {
    let x = x.clamp(-87.0, 0.0);
    let t = x * std::f32::consts::LOG2_E + 0.5;
    let mut n = t as i32; // truncation toward zero ...
    if (n as f32) > t {
        n -= 1; // ... corrected to floor
    }
    let nf = n as f32;
    let r = x - nf * 0.693_359_4 + nf * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n + 127) as u32) << 23)
}
