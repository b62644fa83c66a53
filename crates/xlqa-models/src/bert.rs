//! The BERT encoder of multilingual-e5-small on candle, loaded from an `E5S1` file.
//!
//! Post-LN BERT: word (Q4_0) + position (ids from 0) + token type 0 embeddings,
//! LayerNorm, `layers` × [self-attention → add & LayerNorm → FFN with exact
//! erf GELU → add & LayerNorm], then mean pooling over the attention mask and
//! L2 normalization.

use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType, QMatMul, QTensor};
use candle_core::{DType as CDType, Device, Module, Tensor};

use crate::e5s1::{DType, E5s1File, Header};
use crate::ops;
use xlqa_kernels::qgemm::Epilogue;

/// Weight precision of the linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Keep the Q4_0 blocks; matmuls quantize activations to Q8_0 on the fly
    /// (GGML's `q4_0 × q8_0` dot products), like the reference C engine.
    /// Smaller in memory, but candle's Q4_0 kernels are much slower on x86.
    Q4,
    /// Dequantize the weights to f32 at load time; f32 matmuls (gemm).
    /// Several times faster than `Q4` here, at equal accuracy; the path
    /// training and the reference comparisons use.
    F32,
    /// Weights requantized to int8 per output row at load time, activations
    /// quantized to int8 per token on the fly; our own integer kernels
    /// (`qgemm`: AVX-512 VNNI, AVX2, portable), bias and GELU fused. The
    /// default: the fastest path (docs/RESULTS.md), cosine ≥ 0.998 to `F32`.
    #[default]
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "q4" => Ok(Precision::Q4),
            "int8" => Ok(Precision::Int8),
            other => Err(format!(
                "unknown precision {other:?}: expected f32, int8 or q4"
            )),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Q4 => "q4",
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        })
    }
}

/// A candle error with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct CandleError {
    /// What was being done.
    pub context: String,
    /// The candle error (boxed: it is large).
    #[source]
    pub source: Box<candle_core::Error>,
}

/// Errors loading the model.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is unusable.
    #[error(transparent)]
    Format(#[from] crate::e5s1::E5s1Error),
    /// Building a tensor failed.
    #[error(transparent)]
    Candle(#[from] CandleError),
}

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, CandleError>;
}

impl<T> Ctx<T> for candle_core::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, CandleError> {
        self.map_err(|source| CandleError {
            context: what(),
            source: Box::new(source),
        })
    }
}

/// A weight matrix of PyTorch shape `[out, in]`.
enum Weight {
    /// Q4_0 blocks, `[out, in]`.
    Q4(QMatMul),
    /// f32, `[out, in]` (multiplied as a transposed view: measured faster
    /// with candle's gemm call than a contiguous `[in, out]` copy).
    F32(Tensor),
    /// int8 per output row, packed for [`xlqa_kernels::qgemm`].
    I8(xlqa_kernels::qgemm::PackedWeight),
}

impl Weight {
    /// `x [m, in] -> [m, out]`.
    fn matmul(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Weight::Q4(q) => q.forward(x),
            Weight::F32(w) => x.matmul(&w.t()?),
            Weight::I8(w) => qlinear(x, w, Epilogue::None),
        }
    }
}

/// `x · wᵀ` with the epilogue fused, on int8 weights.
fn qlinear(
    x: &Tensor,
    w: &xlqa_kernels::qgemm::PackedWeight,
    epi: Epilogue<'_>,
) -> candle_core::Result<Tensor> {
    x.apply_op1_no_bwd(&crate::qlinear::QLinearOp { w, epi })
}

struct Linear {
    w: Weight,
    /// The bias as a tensor (for `broadcast_add`) and as a slice (for fused ops).
    b: Tensor,
    bv: Vec<f32>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.w {
            Weight::I8(w) => qlinear(x, w, Epilogue::Bias(&self.bv)),
            _ => self.w.matmul(x)?.broadcast_add(&self.b),
        }
    }

    /// `GELU(x · wᵀ + b)`, fused into the matmul for int8 weights.
    fn forward_gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.w {
            Weight::I8(w) => qlinear(x, w, Epilogue::BiasGelu(&self.bv)),
            _ => ops::bias_gelu_erf(&self.w.matmul(x)?, &self.bv),
        }
    }
}

/// The query/key/value projections.
#[allow(clippy::large_enum_variant)] // three per layer, built once
enum Qkv {
    /// One `[3H, H]` f32 matmul (one large gemm beats three small ones).
    Fused(Linear),
    /// Three Q4_0 matmuls.
    Split(Linear, Linear, Linear),
}

struct Layer {
    qkv: Qkv,
    ao: Linear,
    aln: (Vec<f32>, Vec<f32>),
    fi: Linear,
    fo: Linear,
    oln: (Vec<f32>, Vec<f32>),
}

/// The encoder network.
pub(crate) struct Bert {
    header: Header,
    word: QTensor,
    pos: Tensor,
    type0: Tensor,
    eln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    device: Device,
}

fn q4_tensor(
    f: &E5s1File,
    name: &str,
    rows: usize,
    cols: usize,
    dev: &Device,
) -> Result<QTensor, LoadError> {
    let bytes = f.tensor_bytes(name, DType::Q4_0, rows * cols)?;
    // The slice comes from a page-aligned map at a 4-byte aligned offset and has
    // exactly rows*cols/32 blocks (both checked by the reader).
    Ok(
        qtensor_from_ggml(GgmlDType::Q4_0, bytes, vec![rows, cols], dev)
            .ctx(|| format!("loading {name} as Q4_0 [{rows}, {cols}]"))?,
    )
}

fn linear(
    f: &E5s1File,
    prefix: &str,
    rows: usize,
    cols: usize,
    precision: Precision,
    dev: &Device,
) -> Result<Linear, LoadError> {
    let name = format!("{prefix}.w");
    let q = q4_tensor(f, &name, rows, cols, dev)?;
    let w = match precision {
        Precision::Q4 => Weight::Q4(QMatMul::from_qtensor(q).ctx(|| format!("preparing {name}"))?),
        Precision::F32 => {
            let t = q.dequantize(dev).ctx(|| format!("dequantizing {name}"))?;
            Weight::F32(t)
        }
        Precision::Int8 => {
            let t = q.dequantize(dev).ctx(|| format!("dequantizing {name}"))?;
            int8_weight(&t, rows, cols, &name)?
        }
    };
    let bname = format!("{prefix}.b");
    let bv = f.f32_tensor(&bname, rows)?;
    let b = Tensor::from_slice(&bv, rows, dev).ctx(|| format!("loading {bname}"))?;
    Ok(Linear { w, b, bv })
}

/// An f32 `[rows, cols]` weight requantized to int8 for `qgemm`.
fn int8_weight(t: &Tensor, rows: usize, cols: usize, name: &str) -> Result<Weight, LoadError> {
    let v = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .ctx(|| format!("reading {name}"))?;
    Ok(Weight::I8(xlqa_kernels::qgemm::PackedWeight::quantize(
        &v, rows, cols,
    )))
}

impl Bert {
    /// Builds the network from a validated file.
    pub(crate) fn load(f: &E5s1File, precision: Precision) -> Result<Bert, LoadError> {
        let dev = Device::Cpu;
        let h = *f.header();
        let (hs, ff) = (h.hidden, h.ff);
        let word = q4_tensor(f, "emb.word", h.vocab, hs, &dev)?;
        let pos = f.f32_tensor("emb.pos", h.max_positions * hs)?;
        let pos = Tensor::from_vec(pos, (h.max_positions, hs), &dev)
            .ctx(|| "loading emb.pos".to_string())?;
        let ty = f.f32_tensor("emb.type", h.type_vocab * hs)?;
        let type0 =
            Tensor::from_vec(ty[..hs].to_vec(), hs, &dev).ctx(|| "loading emb.type".to_string())?;
        let eln = (f.f32_tensor("emb.ln.w", hs)?, f.f32_tensor("emb.ln.b", hs)?);
        let mut layers = Vec::with_capacity(h.layers);
        for l in 0..h.layers {
            let p = |s: &str| format!("l{l}.{s}");
            layers.push(Layer {
                qkv: {
                    // int8: fuse in f32, then quantize the [3H, H] matrix
                    // (per-row scales, so the same as three separate ones)
                    let qkv_precision = match precision {
                        Precision::Int8 => Precision::F32,
                        p => p,
                    };
                    let q = linear(f, &p("q"), hs, hs, qkv_precision, &dev)?;
                    let k = linear(f, &p("k"), hs, hs, qkv_precision, &dev)?;
                    let v = linear(f, &p("v"), hs, hs, qkv_precision, &dev)?;
                    match (&q.w, &k.w, &v.w) {
                        (Weight::F32(qw), Weight::F32(kw), Weight::F32(vw)) => {
                            let ctx = || format!("fusing l{l}.q/k/v");
                            let w = Tensor::cat(&[qw, kw, vw], 0).ctx(ctx)?;
                            let b = Tensor::cat(&[&q.b, &k.b, &v.b], 0).ctx(ctx)?;
                            let bv = [q.bv, k.bv, v.bv].concat();
                            let w = match precision {
                                Precision::Int8 => {
                                    int8_weight(&w, 3 * hs, hs, &format!("l{l}.qkv"))?
                                }
                                _ => Weight::F32(w),
                            };
                            Qkv::Fused(Linear { w, b, bv })
                        }
                        _ => Qkv::Split(q, k, v),
                    }
                },
                ao: linear(f, &p("ao"), hs, hs, precision, &dev)?,
                aln: (
                    f.f32_tensor(&p("aln.w"), hs)?,
                    f.f32_tensor(&p("aln.b"), hs)?,
                ),
                fi: linear(f, &p("fi"), ff, hs, precision, &dev)?,
                fo: linear(f, &p("fo"), hs, ff, precision, &dev)?,
                oln: (
                    f.f32_tensor(&p("oln.w"), hs)?,
                    f.f32_tensor(&p("oln.b"), hs)?,
                ),
            });
        }
        Ok(Bert {
            header: h,
            word,
            pos,
            type0,
            eln,
            layers,
            device: dev,
        })
    }

    /// Replaces layer `i` with the weights of a trained layer, stored with
    /// `precision` (int8 weights are requantized per row; Q4 is kept as f32).
    pub(crate) fn replace_layer(
        &mut self,
        i: usize,
        t: &TrainableLayer,
        precision: Precision,
    ) -> Result<(), CandleError> {
        let n = self.layers.len();
        let dev = self.device.clone();
        let ctx = || format!("replacing layer {i} of {n}");
        if i >= n {
            return Err(CandleError {
                context: ctx(),
                source: Box::new(candle_core::Error::Msg("no such layer".into())),
            });
        }
        let vec = |v: &candle_core::Var| v.as_tensor().to_vec1::<f32>().ctx(ctx);
        let lin = |w: &candle_core::Var, b: &candle_core::Var| -> Result<Linear, CandleError> {
            let wt = w.as_tensor().clone();
            let (rows, cols) = wt.dims2().ctx(ctx)?;
            let w = match precision {
                Precision::Int8 => {
                    int8_weight(&wt, rows, cols, "trained layer").map_err(|e| CandleError {
                        context: format!("{}: {e}", ctx()),
                        source: Box::new(candle_core::Error::Msg(e.to_string())),
                    })?
                }
                _ => Weight::F32(wt.contiguous().ctx(ctx)?),
            };
            let bv = vec(b)?;
            let b = Tensor::from_slice(&bv, bv.len(), &dev).ctx(ctx)?;
            Ok(Linear { w, b, bv })
        };
        self.layers[i] = Layer {
            qkv: Qkv::Fused(lin(&t.wqkv, &t.bqkv)?),
            ao: lin(&t.wo, &t.bo)?,
            aln: (vec(&t.ln1.0)?, vec(&t.ln1.1)?),
            fi: lin(&t.wi, &t.bi)?,
            fo: lin(&t.wf, &t.bf)?,
            oln: (vec(&t.ln2.0)?, vec(&t.ln2.1)?),
        };
        Ok(())
    }

    /// The header the network was built from.
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// Encodes a right-padded batch: `ids` is `[batch, len]` row-major and row
    /// `i` holds `lens[i]` real tokens followed by padding. Returns one
    /// L2-normalized mean-pooled vector per row.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        lens: &[usize],
        len: usize,
    ) -> Result<Vec<Vec<f32>>, CandleError> {
        let batch = lens.len();
        self.forward_inner(ids, lens, batch, len)
            .ctx(|| format!("encoding a batch of {batch} × {len} tokens"))
    }

    fn forward_inner(
        &self,
        ids: &[u32],
        lens: &[usize],
        b: usize,
        l: usize,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let h = self.header.hidden;
        let x = self.hidden(ids, lens, b, l, self.layers.len())?;
        let x = x.to_dtype(CDType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(mean_pool_normalize(&x, lens, l, h))
    }

    /// Number of transformer layers.
    pub(crate) fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The hidden states `[b * l, hidden]` after the first `upto` layers
    /// (`upto` = 0: the embeddings), with the inference kernels.
    pub(crate) fn hidden_states(
        &self,
        ids: &[u32],
        lens: &[usize],
        len: usize,
        upto: usize,
    ) -> Result<Tensor, CandleError> {
        let b = lens.len();
        self.hidden(ids, lens, b, len, upto.min(self.layers.len()))
            .ctx(|| format!("hidden states of a batch of {b} × {len} tokens"))
    }

    /// A differentiable copy of layer `i` (f32 weights only).
    pub(crate) fn trainable_layer(&self, i: usize) -> Result<TrainableLayer, CandleError> {
        let no = |what: &str| CandleError {
            context: format!("trainable layer {i}"),
            source: Box::new(candle_core::Error::Msg(what.to_string())),
        };
        let layer = self
            .layers
            .get(i)
            .ok_or_else(|| no(&format!("the model has {} layers", self.layers.len())))?;
        let f32w = |w: &Weight| match w {
            Weight::F32(t) => Ok(t.clone()),
            Weight::Q4(_) | Weight::I8(_) => Err(no(
                "needs f32 weights (load the encoder with precision f32, the default)",
            )),
        };
        let var =
            |t: &Tensor| candle_core::Var::from_tensor(t).ctx(|| format!("layer {i} parameters"));
        let vec1 = |v: &[f32]| {
            Tensor::from_slice(v, v.len(), &self.device).ctx(|| format!("layer {i} parameters"))
        };
        let Qkv::Fused(qkv) = &layer.qkv else {
            return Err(no(
                "needs f32 weights (load the encoder with precision f32, the default)",
            ));
        };
        Ok(TrainableLayer {
            wqkv: var(&f32w(&qkv.w)?)?,
            bqkv: var(&vec1(&qkv.bv)?)?,
            wo: var(&f32w(&layer.ao.w)?)?,
            bo: var(&vec1(&layer.ao.bv)?)?,
            ln1: (var(&vec1(&layer.aln.0)?)?, var(&vec1(&layer.aln.1)?)?),
            wi: var(&f32w(&layer.fi.w)?)?,
            bi: var(&vec1(&layer.fi.bv)?)?,
            wf: var(&f32w(&layer.fo.w)?)?,
            bf: var(&vec1(&layer.fo.bv)?)?,
            ln2: (var(&vec1(&layer.oln.0)?)?, var(&vec1(&layer.oln.1)?)?),
            heads: self.header.heads,
            eps: f64::from(self.header.eps),
        })
    }

    fn hidden(
        &self,
        ids: &[u32],
        lens: &[usize],
        b: usize,
        l: usize,
        upto: usize,
    ) -> candle_core::Result<Tensor> {
        if ids.len() != b * l || lens.iter().any(|&n| n == 0 || n > l) {
            candle_core::bail!(
                "{} ids / lengths {lens:?} do not form a [{b}, {l}] batch",
                ids.len()
            )
        }
        let h = self.header.hidden;
        let nh = self.header.heads;
        let hd = h / nh;
        let eps = f64::from(self.header.eps);
        let dev = &self.device;
        if l > self.header.max_positions {
            candle_core::bail!(
                "sequence length {l} exceeds the model's {} positions",
                self.header.max_positions
            )
        }
        let ids_t = Tensor::from_slice(ids, b * l, dev)?;
        let x = self.word.embedding(&ids_t)?.reshape((b, l, h))?;
        let x = x
            .broadcast_add(&self.pos.narrow(0, 0, l)?)?
            .broadcast_add(&self.type0)?
            .reshape((b * l, h))?;
        let mut x = ops::layer_norm(&x, None, &self.eln.0, &self.eln.1, eps)?;

        let scale = 1.0 / (hd as f32).sqrt();
        for layer in &self.layers[..upto] {
            let qkv = match &layer.qkv {
                Qkv::Fused(lin) => lin.forward(&x)?,
                Qkv::Split(q, k, v) => {
                    Tensor::cat(&[&q.forward(&x)?, &k.forward(&x)?, &v.forward(&x)?], 1)?
                }
            };
            let ctx = qkv.apply_op1_no_bwd(&crate::attention::Attention {
                lens,
                batch: b,
                len: l,
                heads: nh,
                scale,
            })?;
            let a = layer.ao.w.matmul(&ctx)?;
            x = ops::layer_norm(
                &a,
                Some((&x, &layer.ao.bv)),
                &layer.aln.0,
                &layer.aln.1,
                eps,
            )?;
            let m = layer.fi.forward_gelu(&x)?;
            let f = layer.fo.w.matmul(&m)?;
            x = ops::layer_norm(
                &f,
                Some((&x, &layer.fo.bv)),
                &layer.oln.0,
                &layer.oln.1,
                eps,
            )?;
        }
        Ok(x)
    }
}

/// One transformer layer with its parameters as candle `Var`s, computed with
/// differentiable candle ops only (the inference path uses fused kernels
/// without gradients). Post-LN like the encoder:
/// `x ← LN(x + Attn(x)); x ← LN(x + W_f·GELU(W_i·x))`.
pub struct TrainableLayer {
    pub wqkv: candle_core::Var,
    pub bqkv: candle_core::Var,
    pub wo: candle_core::Var,
    pub bo: candle_core::Var,
    pub ln1: (candle_core::Var, candle_core::Var),
    pub wi: candle_core::Var,
    pub bi: candle_core::Var,
    pub wf: candle_core::Var,
    pub bf: candle_core::Var,
    pub ln2: (candle_core::Var, candle_core::Var),
    heads: usize,
    eps: f64,
}

fn layer_norm_diff(x: &Tensor, g: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(candle_core::D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(candle_core::D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(g)?
        .broadcast_add(b)
}

impl TrainableLayer {
    /// All parameters.
    pub fn vars(&self) -> Vec<candle_core::Var> {
        vec![
            self.wqkv.clone(),
            self.bqkv.clone(),
            self.wo.clone(),
            self.bo.clone(),
            self.ln1.0.clone(),
            self.ln1.1.clone(),
            self.wi.clone(),
            self.bi.clone(),
            self.wf.clone(),
            self.bf.clone(),
            self.ln2.0.clone(),
            self.ln2.1.clone(),
        ]
    }

    const NAMES: [&'static str; 12] = [
        "wqkv", "bqkv", "wo", "bo", "ln1_g", "ln1_b", "wi", "bi", "wf", "bf", "ln2_g", "ln2_b",
    ];

    /// The parameters as `(prefix + name, tensor)` pairs, in [`TrainableLayer::vars`] order.
    pub fn named(&self, prefix: &str) -> Vec<(String, Tensor)> {
        Self::NAMES
            .iter()
            .zip(self.vars())
            .map(|(n, v)| (format!("{prefix}{n}"), v.as_tensor().clone()))
            .collect()
    }

    /// Rebuilds a layer from tensors saved by [`TrainableLayer::named`]; the
    /// shapes are checked against `hidden`/`ff` (hidden 384 and ff 1536 for e5-small).
    pub fn from_named(
        get: &dyn Fn(&str) -> Option<Tensor>,
        prefix: &str,
        shape: (usize, usize, usize, f64),
    ) -> candle_core::Result<TrainableLayer> {
        let (hidden, ff, heads, eps) = shape;
        let dims: [&[usize]; 12] = [
            &[3 * hidden, hidden],
            &[3 * hidden],
            &[hidden, hidden],
            &[hidden],
            &[hidden],
            &[hidden],
            &[ff, hidden],
            &[ff],
            &[hidden, ff],
            &[hidden],
            &[hidden],
            &[hidden],
        ];
        let mut v = Vec::with_capacity(12);
        for (n, d) in Self::NAMES.iter().zip(dims) {
            let name = format!("{prefix}{n}");
            let t = get(&name)
                .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {name}")))?;
            if t.dims() != d {
                return Err(candle_core::Error::Msg(format!(
                    "tensor {name} has shape {:?}, expected {d:?}",
                    t.dims()
                )));
            }
            v.push(candle_core::Var::from_tensor(&t.to_dtype(CDType::F32)?)?);
        }
        let mut it = v.into_iter();
        let mut next = || it.next().expect("12 tensors");
        Ok(TrainableLayer {
            wqkv: next(),
            bqkv: next(),
            wo: next(),
            bo: next(),
            ln1: (next(), next()),
            wi: next(),
            bi: next(),
            wf: next(),
            bf: next(),
            ln2: (next(), next()),
            heads,
            eps,
        })
    }

    /// `x` `[b, l, hidden]` → `[b, l, hidden]`; `lens[i]` real tokens in row `i`
    /// (padding keys are masked out).
    pub fn forward(&self, x: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
        let (b, l, h) = x.dims3()?;
        let nh = self.heads;
        let hd = h / nh;
        let x2 = x.reshape((b * l, h))?;
        let lin = |x: &Tensor, w: &candle_core::Var, bias: &candle_core::Var| {
            x.matmul(&w.as_tensor().t()?)?
                .broadcast_add(bias.as_tensor())
        };
        let qkv = lin(&x2, &self.wqkv, &self.bqkv)?
            .reshape((b, l, 3, nh, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        // additive mask on padded keys: [b, 1, 1, l]
        let mut mask = vec![0f32; b * l];
        for (i, &n) in lens.iter().enumerate() {
            for m in &mut mask[i * l + n.min(l)..(i + 1) * l] {
                *m = -1e9;
            }
        }
        let mask = Tensor::from_vec(mask, (b, 1, 1, l), x.device())?;
        let scores = scores.broadcast_add(&mask)?;
        let max = scores.max_keepdim(candle_core::D::Minus1)?.detach();
        let e = scores.broadcast_sub(&max)?.exp()?;
        let probs = e.broadcast_div(&e.sum_keepdim(candle_core::D::Minus1)?)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * l, h))?;
        let a = lin(&ctx, &self.wo, &self.bo)?;
        let x2 = layer_norm_diff(
            &(a + &x2)?,
            self.ln1.0.as_tensor(),
            self.ln1.1.as_tensor(),
            self.eps,
        )?;
        let m = lin(&x2, &self.wi, &self.bi)?.gelu_erf()?;
        let f = lin(&m, &self.wf, &self.bf)?;
        let out = layer_norm_diff(
            &(f + &x2)?,
            self.ln2.0.as_tensor(),
            self.ln2.1.as_tensor(),
            self.eps,
        )?;
        out.reshape((b, l, h))
    }
}

/// Mean pooling over the first `lens[i]` tokens of each row of `x`
/// `[b, l, h]`, L2-normalized; differentiable.
pub fn mean_pool_normalize_diff(x: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
    let (b, l, _) = x.dims3()?;
    let mut m = vec![0f32; b * l];
    for (i, &n) in lens.iter().enumerate() {
        let n = n.min(l).max(1);
        for v in &mut m[i * l..i * l + n] {
            *v = 1.0 / n as f32;
        }
    }
    let m = Tensor::from_vec(m, (b, 1, l), x.device())?;
    let pooled = m.matmul(x)?.squeeze(1)?; // [b, h]
    let norm = pooled.sqr()?.sum_keepdim(1)?.sqrt()?;
    pooled.broadcast_div(&(norm + 1e-12)?)
}

/// Per batch row, the mean over its `lens[i]` real tokens, L2-normalized.
fn mean_pool_normalize(x: &[f32], lens: &[usize], l: usize, h: usize) -> Vec<Vec<f32>> {
    lens.iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut acc = vec![0f64; h];
            for t in 0..n {
                let row = &x[(i * l + t) * h..(i * l + t + 1) * h];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += f64::from(v);
                }
            }
            let n = n.max(1) as f64;

            let norm = acc.iter().map(|a| (a / n) * (a / n)).sum::<f64>().sqrt();
            let norm = norm.max(1e-12);
            acc.iter().map(|a| (a / n / norm) as f32).collect()
        })
        .collect()
}
