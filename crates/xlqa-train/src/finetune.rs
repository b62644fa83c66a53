//! Fine-tuning the encoder's top layers for cross-lingual alignment
//! (`xlqa train encoder`, the default method).
//!
//! The lower layers (`0..from_layer`) stay frozen: they are run once, with
//! the inference encoder's kernels, over every distinct training text, and
//! their outputs are kept as f16 ([`prepare`]). The top layers are trainable
//! f32 copies ([`xlqa_models::TrainableLayer`]); a text's embedding is the
//! L2-normalized mean of their output over its tokens, as at inference.
//!
//! One batch of `B` pairs `(a_i, b_i)` (a question or sentence and its
//! answer sentence or translation) gives the score matrix
//! `S = s · Z_a · [Z_b; Z_h]ᵀ` (`Z_h`: hard negatives), and the loss is
//!
//! `L = contrastive + align_weight · L_align + reg · L_reg`
//!
//! * contrastive, by [`Loss`]:
//!   * `in-batch`: cross-entropy of `b_i` among the batch's positives with
//!     a learnable scale `s = exp(σ)` (LAReQA, Roy et al. 2020, Eq. 2);
//!   * `dpr`: the same with hard negatives added to every anchor's
//!     candidates (DPR's negative log-likelihood, CORA Eq. 2); for TyDi
//!     pairs the hard negatives are other sentences of the answer's passage;
//!   * `mixcse`: one more candidate per anchor, `normalize(λ·z_b_i +
//!     (1−λ)·z_b_h)` with `h` the anchor's hardest in-batch negative and the
//!     gradient stopped through it, fixed `s = 1/τ` (ZusammenQA App. B:
//!     λ = 0.2, τ = 0.05).
//!
//!   Translation pairs are scored in both directions (translation ranking:
//!   `a → b` and `b → a`); question pairs `a → b` only.
//! * `L_align` (Cao et al. 2020): for translation pairs, the mean squared
//!   distance between the top-layer outputs of word-aligned tokens. The
//!   alignment comes from the encoder itself: mutual nearest neighbours
//!   (cosine) of the frozen lower-layer states, SimAlign's argmax rule.
//! * `L_reg` (Cao et al. 2020's regularizer): the mean squared distance of
//!   every token's top-layer output from the base model's (a frozen copy of
//!   the initial top layers), which keeps the model near the original and
//!   protects same-language quality. Cao et al. apply it to the English
//!   side only; here it covers every text.
//!
//! Batching (LAReQA Fig. 3): `xy` mixes all pairs (languages and sources)
//! in every batch; `mono` draws each batch from one group (one source and
//! language pair). A batch never holds the same text twice (a duplicate
//! would be a false negative).
//!
//! Determinism: batch order, hard-negative choice and everything else come
//! from seeded SplitMix64 streams; candle's CPU kernels are deterministic
//! for a fixed thread count.

use std::collections::{HashMap, HashSet};

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use xlqa_core::SplitMix64;
use xlqa_models::{mean_pool_normalize_diff, Encoder, ModelError, TextKind, TrainableLayer};

use crate::trainer::{Batching, Loss};
use xlqa_data::pairs::{Pair, PairKind};

/// Errors of fine-tuning.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    #[error("fine-tuning: {0}")]
    Config(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("fine-tuning (candle): {0}")]
    Candle(#[from] candle_core::Error),
}

/// The recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Share of the steps with a linear warm-up (then linear decay to 0).
    pub warmup: f64,
    pub weight_decay: f64,
    pub loss: Loss,
    pub batching: Batching,
    /// Number of trained top layers.
    pub train_layers: usize,
    /// Weight of the token regularizer (0: off, no base forward pass).
    pub reg: f64,
    /// Weight of the word-alignment loss (0: off).
    pub align_weight: f64,
    /// Hard negatives per anchor for `dpr`.
    pub hard_negatives: usize,
    pub mix_lambda: f64,
    pub tau: f64,
    pub init_scale: f64,
    /// Texts are cut to this many word-pieces (specials included).
    pub max_tokens: usize,
    /// Stop after this many steps (0: every epoch).
    pub max_steps: usize,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            seed: 13,
            epochs: 1,
            batch_size: 64,
            lr: 3e-5,
            warmup: 0.1,
            weight_decay: 0.01,
            loss: Loss::Dpr,
            batching: Batching::Xy,
            train_layers: 3,
            reg: 1.0,
            align_weight: 1.0,
            hard_negatives: 1,
            mix_lambda: 0.2,
            tau: 0.05,
            init_scale: 20.0,
            max_tokens: 128,
            max_steps: 0,
        }
    }
}

/// One distinct training text: its lower-layer states (f16, `len × hidden`).
pub struct CachedText {
    pub x: Vec<half::f16>,
    pub len: usize,
}

/// A training pair over [`CachedText`] indices.
#[derive(Clone, Debug)]
pub struct FtPair {
    pub a: usize,
    pub b: usize,
    /// Hard negatives (passage side).
    pub hard: Vec<usize>,
    pub translation: bool,
    /// Batching group for `mono` (e.g. `tatoeba:de-en`).
    pub group: String,
    /// Aligned token positions `(in a, in b)` (translations only).
    pub align: Vec<(u16, u16)>,
}

/// The cached texts and the pairs over them.
pub struct Prepared {
    pub texts: Vec<CachedText>,
    pub pairs: Vec<FtPair>,
    pub hidden: usize,
    pub from_layer: usize,
    /// Number of aligned token pairs over all translation pairs.
    pub aligned_tokens: usize,
}

/// One source's pairs, with the encoder prefix of each side.
pub struct SourcePairs<'a> {
    pub name: &'a str,
    pub pairs: &'a [Pair],
    pub kinds: (TextKind, TextKind),
}

/// Runs the frozen lower layers of `enc` (the inference encoder) over every
/// distinct text of `sources` and computes the word alignments of the
/// translation pairs. `progress(done, total)` counts texts.
pub fn prepare(
    enc: &Encoder,
    sources: &[SourcePairs<'_>],
    cfg: &FinetuneConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<Prepared, FinetuneError> {
    let n_layers = enc.num_layers();
    if cfg.train_layers == 0 || cfg.train_layers > n_layers {
        return Err(FinetuneError::Config(format!(
            "train_layers is {}, expected 1..={n_layers}",
            cfg.train_layers
        )));
    }
    if cfg.max_tokens < 3 {
        return Err(FinetuneError::Config(
            "max_tokens must be at least 3".into(),
        ));
    }
    let from_layer = n_layers - cfg.train_layers;
    let mut rng = SplitMix64::new(cfg.seed ^ 0x0a11_9e5e_ed00);
    let mut index: HashMap<(bool, &str), usize> = HashMap::new();
    let mut texts: Vec<(&str, TextKind)> = Vec::new();
    fn intern<'a>(
        index: &mut HashMap<(bool, &'a str), usize>,
        texts: &mut Vec<(&'a str, TextKind)>,
        t: &'a str,
        k: TextKind,
    ) -> usize {
        *index.entry((k == TextKind::Query, t)).or_insert_with(|| {
            texts.push((t, k));
            texts.len() - 1
        })
    }
    let mut pairs = Vec::new();
    for s in sources {
        let (ka, kb) = s.kinds;
        for p in s.pairs {
            let a = intern(&mut index, &mut texts, &p.a, ka);
            let b = intern(&mut index, &mut texts, &p.b, kb);
            let mut hard = Vec::new();
            if cfg.loss == Loss::Dpr && cfg.hard_negatives > 0 && !p.hard_negatives.is_empty() {
                let mut cand: Vec<&String> = p.hard_negatives.iter().collect();
                rng.shuffle(&mut cand);
                for t in cand.into_iter().take(cfg.hard_negatives) {
                    hard.push(intern(&mut index, &mut texts, t, kb));
                }
            }
            pairs.push(FtPair {
                a,
                b,
                hard,
                translation: p.kind == PairKind::Translation,
                group: format!("{}:{}-{}", s.name, p.a_lang, p.b_lang),
                align: Vec::new(),
            });
        }
    }
    // token ids, cut to max_tokens (keeping the closing </s>)
    let (_, eos, _) = enc.special_ids();
    let mut ids = Vec::with_capacity(texts.len());
    for (t, k) in &texts {
        let mut v = enc.input_ids(t, *k)?;
        if v.len() > cfg.max_tokens {
            v.truncate(cfg.max_tokens - 1);
            v.push(eos);
        }
        ids.push(v);
    }
    let h = enc.dim();
    let total = texts.len();
    let mut order: Vec<usize> = (0..total).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut cached: Vec<Option<CachedText>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    for chunk in order.chunks(64) {
        let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
        let (x, lens) = enc.hidden_states_ids(&batch, from_layer)?;
        let x: Vec<Vec<Vec<f32>>> = x.to_dtype(DType::F32)?.to_vec3()?;
        for ((&i, rows), len) in chunk.iter().zip(x).zip(lens) {
            let mut flat = Vec::with_capacity(len * h);
            for r in rows.iter().take(len) {
                flat.extend(r.iter().map(|&v| half::f16::from_f32(v)));
            }
            cached[i] = Some(CachedText { x: flat, len });
        }
        done += chunk.len();
        progress(done, total);
    }
    let texts: Vec<CachedText> = cached
        .into_iter()
        .map(|c| c.ok_or_else(|| FinetuneError::Config("internal: a text was not cached".into())))
        .collect::<Result<_, _>>()?;
    let mut aligned_tokens = 0;
    for p in pairs.iter_mut().filter(|p| p.translation) {
        p.align = mutual_argmax(&texts[p.a], &ids[p.a], &texts[p.b], &ids[p.b], h);
        aligned_tokens += p.align.len();
    }
    Ok(Prepared {
        texts,
        pairs,
        hidden: h,
        from_layer,
        aligned_tokens,
    })
}

/// SimAlign's argmax rule on the cached states: token `i` of `a` and `j` of
/// `b` are aligned when each is the other's most similar (cosine). Special
/// tokens and the shared prefix (`query: ` / `passage: `) are left out.
fn mutual_argmax(
    a: &CachedText,
    a_ids: &[u32],
    b: &CachedText,
    b_ids: &[u32],
    h: usize,
) -> Vec<(u16, u16)> {
    let (na, nb) = (a.len.min(a_ids.len()), b.len.min(b_ids.len()));
    if na < 3 || nb < 3 {
        return Vec::new();
    }
    // shared prefix pieces after <s>
    let mut first = 1;
    while first < na - 1 && first < nb - 1 && a_ids[first] == b_ids[first] {
        first += 1;
    }
    let unit = |c: &CachedText, t: usize| -> Vec<f32> {
        let v: Vec<f32> = c.x[t * h..(t + 1) * h].iter().map(|x| x.to_f32()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.into_iter().map(|x| x / n).collect()
    };
    let ua: Vec<Vec<f32>> = (first..na - 1).map(|t| unit(a, t)).collect();
    let ub: Vec<Vec<f32>> = (first..nb - 1).map(|t| unit(b, t)).collect();
    if ua.is_empty() || ub.is_empty() {
        return Vec::new();
    }
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    let sim: Vec<Vec<f32>> = ua
        .iter()
        .map(|x| ub.iter().map(|y| dot(x, y)).collect())
        .collect();
    let argmax = |row: &mut dyn Iterator<Item = f32>| -> usize {
        let mut best = (f32::NEG_INFINITY, 0);
        for (k, v) in row.enumerate() {
            if v > best.0 {
                best = (v, k);
            }
        }
        best.1
    };
    let best_b: Vec<usize> = sim.iter().map(|r| argmax(&mut r.iter().copied())).collect();
    let best_a: Vec<usize> = (0..ub.len())
        .map(|j| argmax(&mut sim.iter().map(|r| r[j])))
        .collect();
    best_b
        .iter()
        .enumerate()
        .filter(|&(i, &j)| best_a[j] == i)
        .map(|(i, &j)| ((i + first) as u16, (j + first) as u16))
        .collect()
}

/// The trained top layers, the frozen base copies of them (for the
/// regularizer) and the softmax scale.
pub struct FtModel {
    pub top: Vec<TrainableLayer>,
    pub base: Vec<TrainableLayer>,
    pub log_scale: Var,
}

impl FtModel {
    /// Copies of `enc`'s top `cfg.train_layers` layers (`enc` loaded in f32).
    pub fn from_encoder(enc: &Encoder, cfg: &FinetuneConfig) -> Result<FtModel, FinetuneError> {
        let n = enc.num_layers();
        let from = n.checked_sub(cfg.train_layers).ok_or_else(|| {
            FinetuneError::Config(format!(
                "train_layers is {}, the encoder has {n}",
                cfg.train_layers
            ))
        })?;
        let copy = || {
            (from..n)
                .map(|i| enc.trainable_layer(i))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(FtModel {
            top: copy()?,
            base: copy()?,
            log_scale: Var::new(&[cfg.init_scale.ln() as f32], &Device::Cpu)?,
        })
    }

    /// What the optimizer updates: the top layers, and the scale for the
    /// learnable-scale losses.
    pub fn trainable(&self, cfg: &FinetuneConfig) -> Vec<Var> {
        let mut v: Vec<Var> = self.top.iter().flat_map(|l| l.vars()).collect();
        if cfg.loss != Loss::Mixcse {
            v.push(self.log_scale.clone());
        }
        v
    }

    /// The current softmax scale.
    pub fn scale(&self, cfg: &FinetuneConfig) -> Result<f64, FinetuneError> {
        Ok(match cfg.loss {
            Loss::Mixcse => 1.0 / cfg.tau,
            _ => f64::from(self.log_scale.as_tensor().exp()?.to_vec1::<f32>()?[0]),
        })
    }
}

fn run(layers: &[TrainableLayer], x: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
    let mut x = x.clone();
    for l in layers {
        x = l.forward(&x, lens)?;
    }
    Ok(x)
}

/// Right-padded f32 states `[b, l, h]` of the texts `idx`, and their lengths.
fn side(
    texts: &[CachedText],
    idx: &[usize],
    h: usize,
) -> candle_core::Result<(Tensor, Vec<usize>)> {
    let l = idx.iter().map(|&i| texts[i].len).max().unwrap_or(1);
    let mut x = vec![half::f16::ZERO; idx.len() * l * h];
    for (r, &i) in idx.iter().enumerate() {
        let t = &texts[i];
        x[r * l * h..r * l * h + t.len * h].copy_from_slice(&t.x);
    }
    let x = Tensor::from_vec(x, (idx.len(), l, h), &Device::Cpu)?.to_dtype(DType::F32)?;
    Ok((x, idx.iter().map(|&i| texts[i].len).collect()))
}

/// Sum of squared differences between `y` and `y0` over real tokens.
fn token_sq_sum(y: &Tensor, y0: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
    let (b, l, _) = y.dims3()?;
    let mut m = vec![0f32; b * l];
    for (i, &n) in lens.iter().enumerate() {
        for v in &mut m[i * l..i * l + n.min(l)] {
            *v = 1.0;
        }
    }
    let m = Tensor::from_vec(m, (b, l, 1), y.device())?;
    (y - y0)?.sqr()?.broadcast_mul(&m)?.sum_all()
}

/// Rows per forward pass inside a batch: texts are sorted by length and run
/// in groups of this many, so padding stays small and no tensor gets large.
const MICRO: usize = 32;

/// The top-layer outputs of one side of a batch.
struct SideOut {
    /// Pooled, normalized embeddings `[n, h]`, in the order of `idx`.
    z: Tensor,
    /// Every group's token outputs, flattened and concatenated `[T, h]`.
    tokens: Tensor,
    /// Row `r`'s token 0 is `tokens[starts[r]]`.
    starts: Vec<usize>,
    /// Regularizer: sum of squared distances to the base model, and the
    /// number of real tokens.
    reg: Option<(Tensor, usize)>,
}

fn encode_side(
    m: &FtModel,
    texts: &[CachedText],
    idx: &[usize],
    h: usize,
    with_reg: bool,
) -> candle_core::Result<SideOut> {
    let mut order: Vec<usize> = (0..idx.len()).collect();
    order.sort_by_key(|&r| texts[idx[r]].len);
    let mut zs = Vec::new();
    let mut flats = Vec::new();
    let mut starts = vec![0usize; idx.len()];
    let mut offset = 0;
    let mut reg: Option<(Tensor, usize)> = None;
    for chunk in order.chunks(MICRO) {
        let ids: Vec<usize> = chunk.iter().map(|&r| idx[r]).collect();
        let (x, lens) = side(texts, &ids, h)?;
        let y = run(&m.top, &x, &lens)?;
        zs.push(mean_pool_normalize_diff(&y, &lens)?);
        let l = y.dim(1)?;
        for (k, &r) in chunk.iter().enumerate() {
            starts[r] = offset + k * l;
        }
        offset += chunk.len() * l;
        if with_reg {
            let y0 = run(&m.base, &x, &lens)?.detach();
            let sq = token_sq_sum(&y, &y0, &lens)?;
            let n: usize = lens.iter().sum();
            reg = Some(match reg {
                None => (sq, n),
                Some((acc, k)) => ((acc + sq)?, k + n),
            });
        }
        flats.push(y.reshape((chunk.len() * l, h))?);
    }
    // back to the order of idx
    let mut inverse = vec![0u32; idx.len()];
    for (pos, &r) in order.iter().enumerate() {
        inverse[r] = pos as u32;
    }
    let z =
        Tensor::cat(&zs, 0)?.index_select(&Tensor::new(inverse.as_slice(), &Device::Cpu)?, 0)?;
    Ok(SideOut {
        z,
        tokens: Tensor::cat(&flats, 0)?,
        starts,
        reg,
    })
}

/// The parts of one batch's loss.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct LossParts {
    pub contrastive: f64,
    pub align: f64,
    pub reg: f64,
    /// Share of anchors whose own positive scores highest.
    pub acc: f64,
}

/// Loss of one batch. `with_extras`: also the alignment and regularizer
/// terms (the held-out evaluation leaves them out).
pub fn batch_loss(
    m: &FtModel,
    prep: &Prepared,
    batch: &[&FtPair],
    cfg: &FinetuneConfig,
    with_extras: bool,
) -> Result<(Tensor, LossParts), FinetuneError> {
    let h = prep.hidden;
    let n = batch.len();
    let a_idx: Vec<usize> = batch.iter().map(|p| p.a).collect();
    let mut b_idx: Vec<usize> = batch.iter().map(|p| p.b).collect();
    if cfg.loss == Loss::Dpr {
        b_idx.extend(batch.iter().flat_map(|p| p.hard.iter().copied()));
    }
    let with_reg = with_extras && cfg.reg > 0.0;
    let sa = encode_side(m, &prep.texts, &a_idx, h, with_reg)?;
    let sb = encode_side(m, &prep.texts, &b_idx, h, with_reg)?;
    let (za, zb) = (&sa.z, &sb.z);
    let scale = match cfg.loss {
        Loss::Mixcse => Tensor::new(&[(1.0 / cfg.tau) as f32], &Device::Cpu)?,
        _ => m.log_scale.as_tensor().exp()?,
    };
    let mut s = za.matmul(&zb.t()?)?.broadcast_mul(&scale)?; // [n, n + hard]
    if cfg.loss == Loss::Mixcse && n > 1 {
        let sv: Vec<Vec<f32>> = s.to_vec2()?;
        let hardest: Vec<u32> = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| j != i)
                    .max_by(|&x, &y| sv[i][x].total_cmp(&sv[i][y]))
                    .unwrap_or(i) as u32
            })
            .collect();
        let zpos = zb.narrow(0, 0, n)?;
        let zh = zpos.index_select(&Tensor::new(hardest.as_slice(), &Device::Cpu)?, 0)?;
        let mix = ((&zpos * cfg.mix_lambda)? + (zh * (1.0 - cfg.mix_lambda))?)?;
        let norm = mix.sqr()?.sum_keepdim(1)?.sqrt()?;
        let mix = mix.broadcast_div(&(norm + 1e-12)?)?.detach();
        let col = (za * mix)?.sum_keepdim(1)?.broadcast_mul(&scale)?;
        s = Tensor::cat(&[&s, &col], 1)?;
    }
    let targets = Tensor::new((0..n as u32).collect::<Vec<_>>().as_slice(), &Device::Cpu)?;
    let pick = |s: &Tensor| -> candle_core::Result<Tensor> {
        candle_nn::ops::log_softmax(s, D::Minus1)?
            .gather(&targets.unsqueeze(1)?, 1)?
            .squeeze(1)
    };
    // a → b for every anchor; b → a (among the batch's anchors) for translations
    let ab = pick(&s)?;
    let trans: Vec<f32> = batch
        .iter()
        .map(|p| if p.translation { 1.0 } else { 0.0 })
        .collect();
    let n_trans: f32 = trans.iter().sum();
    let mut contrastive = ab.sum_all()?;
    if n_trans > 0.0 {
        let sba = zb
            .narrow(0, 0, n)?
            .matmul(&za.t()?)?
            .broadcast_mul(&scale)?;
        let ba = pick(&sba)?;
        let w = Tensor::from_vec(trans, n, &Device::Cpu)?;
        contrastive = (contrastive + (ba * w)?.sum_all()?)?;
    }
    let contrastive = (contrastive.neg()? / (n as f64 + f64::from(n_trans)))?;
    let acc = {
        let sv: Vec<Vec<f32>> = s.to_vec2()?;
        sv.iter()
            .enumerate()
            .filter(|(i, r)| r.iter().all(|&v| v <= r[*i]))
            .count() as f64
            / n.max(1) as f64
    };
    let mut parts = LossParts {
        contrastive: f64::from(contrastive.to_scalar::<f32>()?),
        acc,
        ..LossParts::default()
    };
    let mut total = contrastive;
    if with_extras && cfg.align_weight > 0.0 {
        let mut ia = Vec::new();
        let mut ib = Vec::new();
        for (r, p) in batch.iter().enumerate() {
            for &(i, j) in &p.align {
                ia.push((sa.starts[r] + usize::from(i)) as u32);
                ib.push((sb.starts[r] + usize::from(j)) as u32);
            }
        }
        if !ia.is_empty() {
            let ga = sa
                .tokens
                .index_select(&Tensor::new(ia.as_slice(), &Device::Cpu)?, 0)?;
            let gb = sb
                .tokens
                .index_select(&Tensor::new(ib.as_slice(), &Device::Cpu)?, 0)?;
            let al = (ga - gb)?.sqr()?.mean_all()?;
            parts.align = f64::from(al.to_scalar::<f32>()?);
            total = (total + (al * cfg.align_weight)?)?;
        }
    }
    if let (Some((ra, na)), Some((rb, nb))) = (sa.reg, sb.reg) {
        let r = ((ra + rb)? / ((na + nb).max(1) * h) as f64)?;
        parts.reg = f64::from(r.to_scalar::<f32>()?);
        total = (total + (r * cfg.reg)?)?;
    }
    Ok((total, parts))
}

/// Batches for one epoch: seeded order, no text twice in a batch, `mono`
/// batches from one group.
pub fn make_batches(
    pairs: &[FtPair],
    cfg: &FinetuneConfig,
    rng: &mut SplitMix64,
) -> Vec<Vec<usize>> {
    let mut pools: Vec<Vec<usize>> = match cfg.batching {
        Batching::Xy => vec![(0..pairs.len()).collect()],
        Batching::Mono => {
            let mut g: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
            for (i, p) in pairs.iter().enumerate() {
                g.entry(p.group.as_str()).or_default().push(i);
            }
            g.into_values().collect()
        }
    };
    let mut out = Vec::new();
    for pool in &mut pools {
        rng.shuffle(pool);
        let mut pending: Vec<usize> = pool.clone();
        while !pending.is_empty() {
            let mut batch = Vec::with_capacity(cfg.batch_size);
            let mut seen: HashSet<usize> = HashSet::new();
            let mut rest = Vec::new();
            for i in pending {
                let p = &pairs[i];
                let texts = [p.a, p.b].into_iter().chain(p.hard.iter().copied());
                let clash = texts.clone().any(|t| seen.contains(&t));
                if batch.len() < cfg.batch_size && !clash {
                    seen.extend(texts);
                    batch.push(i);
                } else {
                    rest.push(i);
                }
            }
            if batch.len() >= 2 {
                out.push(batch);
            } else {
                break; // one pair cannot be contrasted
            }
            pending = rest;
        }
    }
    rng.shuffle(&mut out);
    out
}

/// Per-epoch numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FtEpoch {
    pub epoch: usize,
    pub steps: usize,
    /// Means over the epoch's steps (none for epoch 0, the base model).
    pub train: Option<LossParts>,
    /// Held-out pairs: contrastive loss and top-1 accuracy (batches of
    /// `batch_size`, no extras).
    pub dev_loss: f64,
    pub dev_acc: f64,
    pub scale: f64,
    pub seconds: f64,
}

fn evaluate(
    m: &FtModel,
    prep: &Prepared,
    dev: &[FtPair],
    cfg: &FinetuneConfig,
) -> Result<(f64, f64), FinetuneError> {
    let (mut loss, mut acc, mut n) = (0.0, 0.0, 0usize);
    let refs: Vec<&FtPair> = dev.iter().collect();
    for chunk in refs.chunks(cfg.batch_size.max(2)) {
        if chunk.len() < 2 {
            continue;
        }
        let (_, p) = batch_loss(m, prep, chunk, cfg, false)?;
        loss += p.contrastive * chunk.len() as f64;
        acc += p.acc * chunk.len() as f64;
        n += chunk.len();
    }
    let n = n.max(1) as f64;
    Ok((loss / n, acc / n))
}

/// Number of optimizer steps [`train`] will take.
pub fn total_steps(train: &[FtPair], cfg: &FinetuneConfig) -> usize {
    let mut rng = SplitMix64::new(cfg.seed);
    let per_epoch = make_batches(train, cfg, &mut rng).len();
    let total = per_epoch * cfg.epochs;
    if cfg.max_steps > 0 {
        total.min(cfg.max_steps)
    } else {
        total
    }
}

/// Trains `m.top` (and the scale) in place on `train`, reporting held-out
/// numbers on `dev` before training and after every epoch.
/// `progress(step, total, loss)`; `on_epoch` after every epoch (checkpoints).
pub fn train(
    m: &FtModel,
    prep: &Prepared,
    train: &[FtPair],
    dev: &[FtPair],
    cfg: &FinetuneConfig,
    progress: &dyn Fn(usize, usize, f64),
    on_epoch: &mut dyn FnMut(&FtEpoch, &FtModel) -> Result<(), FinetuneError>,
) -> Result<Vec<FtEpoch>, FinetuneError> {
    if cfg.epochs == 0 || cfg.batch_size < 2 {
        return Err(FinetuneError::Config(
            "epochs must be at least 1 and the batch size at least 2".into(),
        ));
    }
    let mut rng = SplitMix64::new(cfg.seed);
    // the first epoch's batches also give the schedule's length (the same
    // batches `total_steps` counts: same seed, same first draw)
    let mut next_batches = Some(make_batches(train, cfg, &mut rng));
    let per_epoch = next_batches.as_ref().map_or(0, Vec::len);
    let mut total = per_epoch * cfg.epochs;
    if cfg.max_steps > 0 {
        total = total.min(cfg.max_steps);
    }
    if total == 0 {
        return Err(FinetuneError::Config(format!(
            "{} training pairs make no batch of 2",
            train.len()
        )));
    }
    let mut opt = AdamW::new(
        m.trainable(cfg),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let warm = ((total as f64 * cfg.warmup).ceil() as usize).max(1);
    let t0 = std::time::Instant::now();
    let (dev_loss, dev_acc) = evaluate(m, prep, dev, cfg)?;
    let mut log = vec![FtEpoch {
        epoch: 0,
        steps: 0,
        train: None,
        dev_loss,
        dev_acc,
        scale: m.scale(cfg)?,
        seconds: 0.0,
    }];
    let mut step = 0;
    for epoch in 1..=cfg.epochs {
        let mut sum = LossParts::default();
        let mut steps = 0;
        let batches = next_batches
            .take()
            .unwrap_or_else(|| make_batches(train, cfg, &mut rng));
        for b in batches {
            if step >= total {
                break;
            }
            opt.set_learning_rate(crate::warmup_linear_lr(cfg.lr, step, warm, total));
            let refs: Vec<&FtPair> = b.iter().map(|&i| &train[i]).collect();
            let (loss, p) = batch_loss(m, prep, &refs, cfg, true)?;
            let l = f64::from(loss.to_scalar::<f32>()?);
            if !l.is_finite() {
                return Err(FinetuneError::Config(format!(
                    "loss became {l} at step {step}; lower the learning rate"
                )));
            }
            opt.backward_step(&loss)?;
            sum.contrastive += p.contrastive;
            sum.align += p.align;
            sum.reg += p.reg;
            sum.acc += p.acc;
            steps += 1;
            step += 1;
            progress(step, total, l);
        }
        let k = steps.max(1) as f64;
        let (dev_loss, dev_acc) = evaluate(m, prep, dev, cfg)?;
        let e = FtEpoch {
            epoch,
            steps,
            train: Some(LossParts {
                contrastive: sum.contrastive / k,
                align: sum.align / k,
                reg: sum.reg / k,
                acc: sum.acc / k,
            }),
            dev_loss,
            dev_acc,
            scale: m.scale(cfg)?,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_epoch(&e, m)?;
        log.push(e);
        if step >= total {
            break;
        }
    }
    Ok(log)
}

/// Splits pairs into train and held-out: every `every`-th pair in a seeded
/// order is held out (0: none).
pub fn split_dev(pairs: Vec<FtPair>, every: usize, seed: u64) -> (Vec<FtPair>, Vec<FtPair>) {
    if every == 0 {
        return (pairs, Vec::new());
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    SplitMix64::new(seed ^ 0xde5e_7d00).shuffle(&mut order);
    let dev_set: HashSet<usize> = order.iter().step_by(every).copied().collect();
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    for (i, p) in pairs.into_iter().enumerate() {
        if dev_set.contains(&i) {
            dev.push(p);
        } else {
            train.push(p);
        }
    }
    (train, dev)
}
