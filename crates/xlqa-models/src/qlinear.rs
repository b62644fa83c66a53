//! The int8 linear layer as a candle op (kernels in `xlqa_kernels::qgemm`).

/// A linear layer `y = x · wᵀ (+ bias, GELU)` on int8 weights as a candle op
/// (no gradient): `x` is `[m, k]` f32, contiguous.
pub(crate) struct QLinearOp<'a> {
    pub(crate) w: &'a xlqa_kernels::qgemm::PackedWeight,
    pub(crate) epi: xlqa_kernels::qgemm::Epilogue<'a>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<xlqa_kernels::qgemm::QuantizedRows> = std::cell::RefCell::new(xlqa_kernels::qgemm::QuantizedRows::default());
}

impl candle_core::CustomOp1 for QLinearOp<'_> {
    fn name(&self) -> &'static str {
        "xlqa-int8-linear"
    }

    fn cpu_fwd(
        &self,
        s: &candle_core::CpuStorage,
        l: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let dims = l.shape().dims();
        let k = dims.last().copied().unwrap_or(0);
        if k != self.w.k() {
            candle_core::bail!(
                "{}: input has {k} features, weights {}",
                self.name(),
                self.w.k()
            )
        }
        let data = s.as_slice::<f32>()?;
        let x = match l.contiguous_offsets() {
            Some((a, b)) => &data[a..b],
            None => candle_core::bail!("{}: input is not contiguous", self.name()),
        };
        let m = x.len() / k.max(1);
        let mut out: Vec<f32> = Vec::with_capacity(m * self.w.n());
        // The scratch buffer is busy when rayon runs another encoder call on
        // this thread while one waits inside `matmul`: then use a fresh one.
        SCRATCH.with(|q| match q.try_borrow_mut() {
            Ok(mut q) => {
                q.quantize(x, m, k);
                xlqa_kernels::qgemm::matmul_into_spare(&q, self.w, self.epi, &mut out);
            }
            Err(_) => {
                let mut q = xlqa_kernels::qgemm::QuantizedRows::default();
                q.quantize(x, m, k);
                xlqa_kernels::qgemm::matmul_into_spare(&q, self.w, self.epi, &mut out);
            }
        });
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = self.w.n();
        }
        Ok((candle_core::CpuStorage::F32(out), shape.into()))
    }
}
