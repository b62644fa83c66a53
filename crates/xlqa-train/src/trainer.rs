//! Contrastive training of the alignment adapter ([`crate::adapter`]) with
//! candle, on frozen (cached) encoder embeddings.
//!
//! Every training example is a pair (anchor, positive) of embeddings: a
//! translation pair (Tatoeba, XOR-TyDi question translations) or a question
//! and the sentence holding its answer (TyDi GoldP train). A batch of `B`
//! pairs gives a `B × B` similarity matrix `S_ij = s · cos(f(a_i), f(b_j))`,
//! `f(v) = v·W`; the loss is the cross-entropy of picking `b_i` for `a_i`
//! among the batch (the other positives are the negatives):
//!
//! * `in-batch`: LAReQA's sampled softmax (Roy et al. 2020, Eq. 2) with a
//!   learnable scale `s = exp(σ)`, initialized at 20; symmetric (`a → b` and
//!   `b → a`, averaged), as translation ranking does. With one positive and
//!   in-batch negatives this is also DPR's negative log-likelihood (CORA
//!   Eq. 2) without mined hard negatives.
//! * `mixcse`: MixCSE (Zhang et al. 2022, as configured in ZusammenQA App. B):
//!   one extra negative per anchor, `normalize(λ·f(b_i) + (1−λ)·f(b_h))`
//!   where `b_h` is the anchor's hardest in-batch negative, with the gradient
//!   stopped through it; fixed temperature `τ` (`s = 1/τ`); λ = 0.2, τ = 0.05.
//!
//! Batching (LAReQA Fig. 3): `xy` shuffles all pairs together, so a batch
//! mixes languages and an anchor's negatives include sentences in its own
//! language: the loss then pushes same-language non-answers below
//! cross-language answers. `mono` draws each batch from one source group
//! (one language pair of one corpus), the X-X-mono regime.
//!
//! Regularizer: `ρ · ‖W − I‖²_F`, which keeps the adapter near the base
//! model (what protects same-language quality).
//!
//! Determinism: the order of pairs comes from a seeded SplitMix64 shuffle;
//! candle's CPU kernels are deterministic for a fixed thread count.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use xlqa_core::SplitMix64 as Rng;

/// Which contrastive loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    InBatch,
    /// In-batch plus hard negatives (DPR); the adapter has no hard
    /// negatives and trains it as `in-batch`.
    Dpr,
    Mixcse,
}

impl std::str::FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "in-batch" => Ok(Loss::InBatch),
            "dpr" => Ok(Loss::Dpr),
            "mixcse" => Ok(Loss::Mixcse),
            _ => Err(format!(
                "unknown loss '{s}' (expected in-batch, dpr or mixcse)"
            )),
        }
    }
}

/// How batches are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Batching {
    Xy,
    Mono,
}

impl std::str::FromStr for Batching {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "xy" => Ok(Batching::Xy),
            "mono" => Ok(Batching::Mono),
            _ => Err(format!("unknown batching '{s}' (expected xy or mono)")),
        }
    }
}

/// The training recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub loss: Loss,
    pub batching: Batching,
    /// ρ of the ‖W − I‖² regularizer.
    pub reg: f64,
    /// MixCSE λ and τ.
    pub mix_lambda: f64,
    pub tau: f64,
    /// Initial scale of the in-batch softmax.
    pub init_scale: f64,
    /// Stop after this many optimizer steps (0: run all epochs).
    pub max_steps: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 13,
            epochs: 3,
            batch_size: 128,
            lr: 1e-3,
            loss: Loss::InBatch,
            batching: Batching::Xy,
            reg: 1.0,
            mix_lambda: 0.2,
            tau: 0.05,
            init_scale: 20.0,
            max_steps: 0,
        }
    }
}

/// One training pair of embeddings.
#[derive(Clone, Debug)]
pub struct VecPair {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    /// Batching group for `mono` (e.g. "tatoeba:de-en").
    pub group: String,
}

/// What happened in one epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub steps: usize,
    /// Mean training loss of the epoch (none for epoch 0, the base model).
    pub train_loss: Option<f64>,
    /// Loss and top-1 accuracy (a → b among the held-out pairs, in batches)
    /// on held-out training pairs.
    pub dev_loss: f64,
    pub dev_acc: f64,
    pub scale: f64,
    pub w_minus_i: f64,
}

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training: {0}")]
    Config(String),
    #[error("training (candle): {0}")]
    Candle(#[from] candle_core::Error),
}

/// The trainable parameters.
pub struct Params {
    pub w: Var,
    pub log_scale: Var,
}

impl Params {
    pub fn new(dim: usize, cfg: &TrainConfig) -> Result<Params, TrainError> {
        let dev = Device::Cpu;
        Ok(Params {
            w: Var::from_tensor(&Tensor::eye(dim, DType::F32, &dev)?)?,
            log_scale: Var::new(&[cfg.init_scale.ln() as f32], &dev)?,
        })
    }

    /// The variables the optimizer updates (the scale only for `in-batch`).
    pub fn trainable(&self, cfg: &TrainConfig) -> Vec<Var> {
        match cfg.loss {
            Loss::InBatch | Loss::Dpr => vec![self.w.clone(), self.log_scale.clone()],
            Loss::Mixcse => vec![self.w.clone()],
        }
    }
}

fn normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let n = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    x.broadcast_div(&(n + 1e-12)?)
}

fn stack(rows: &[&[f32]], dim: usize) -> candle_core::Result<Tensor> {
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), dim), &Device::Cpu)
}

/// The loss of one batch (and its a → b top-1 accuracy).
pub fn batch_loss(
    p: &Params,
    cfg: &TrainConfig,
    batch: &[&VecPair],
    dim: usize,
) -> Result<(Tensor, f64), TrainError> {
    let n = batch.len();
    let a = stack(
        &batch.iter().map(|x| x.a.as_slice()).collect::<Vec<_>>(),
        dim,
    )?;
    let b = stack(
        &batch.iter().map(|x| x.b.as_slice()).collect::<Vec<_>>(),
        dim,
    )?;
    let za = normalize(&a.matmul(p.w.as_tensor())?)?;
    let zb = normalize(&b.matmul(p.w.as_tensor())?)?;
    let sim = za.matmul(&zb.t()?)?; // n × n cosines
    let targets = Tensor::arange(0u32, n as u32, &Device::Cpu)?;
    let acc = {
        let s: Vec<Vec<f32>> = sim.to_vec2()?;
        let hits = s
            .iter()
            .enumerate()
            .filter(|(i, row)| row.iter().enumerate().all(|(j, &x)| j == *i || x < row[*i]))
            .count();
        hits as f64 / n.max(1) as f64
    };
    let loss = match cfg.loss {
        Loss::InBatch | Loss::Dpr => {
            let logits = sim.broadcast_mul(&p.log_scale.as_tensor().exp()?)?;
            let l1 = candle_nn::loss::cross_entropy(&logits, &targets)?;
            let l2 = candle_nn::loss::cross_entropy(&logits.t()?.contiguous()?, &targets)?;
            ((l1 + l2)? * 0.5)?
        }
        Loss::Mixcse => {
            // hardest in-batch negative of each anchor, from detached scores
            let s: Vec<Vec<f32>> = sim.to_vec2()?;
            let hard: Vec<u32> = s
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let mut best: Option<(usize, f32)> = None;
                    for (j, &x) in row.iter().enumerate() {
                        if j != i && best.is_none_or(|(_, b)| x > b) {
                            best = Some((j, x));
                        }
                    }
                    best.map_or(i, |b| b.0) as u32
                })
                .collect();
            let hard = Tensor::from_vec(hard, n, &Device::Cpu)?;
            let zb_d = zb.detach();
            let mixed = normalize(
                &((zb_d.clone() * cfg.mix_lambda)?
                    + (zb_d.index_select(&hard, 0)? * (1.0 - cfg.mix_lambda))?)?,
            )?
            .detach();
            let extra = (za.clone() * mixed)?.sum_keepdim(1)?; // n × 1
            let logits = (Tensor::cat(&[&sim, &extra], 1)? / cfg.tau)?;
            candle_nn::loss::cross_entropy(&logits, &targets)?
        }
    };
    let eye = Tensor::eye(dim, DType::F32, &Device::Cpu)?;
    let reg = (p.w.as_tensor() - eye)?.sqr()?.sum_all()?;
    let loss = (loss + (reg * cfg.reg)?)?;
    Ok((loss, acc))
}

fn batches(pairs: &[VecPair], cfg: &TrainConfig, rng: &mut Rng) -> Vec<Vec<usize>> {
    let bs = cfg.batch_size.max(2);
    let mut out = Vec::new();
    match cfg.batching {
        Batching::Xy => {
            let mut idx: Vec<usize> = (0..pairs.len()).collect();
            rng.shuffle(&mut idx);
            out.extend(idx.chunks(bs).filter(|c| c.len() >= 2).map(|c| c.to_vec()));
        }
        Batching::Mono => {
            let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (i, p) in pairs.iter().enumerate() {
                groups.entry(p.group.as_str()).or_default().push(i);
            }
            for g in groups.values_mut() {
                rng.shuffle(g);
                out.extend(g.chunks(bs).filter(|c| c.len() >= 2).map(|c| c.to_vec()));
            }
            rng.shuffle(&mut out);
        }
    }
    out
}

/// Optimizer steps `train` will take on `pairs` with `cfg`.
pub fn total_steps(pairs: &[VecPair], cfg: &TrainConfig) -> usize {
    let n = batches(pairs, cfg, &mut Rng::new(cfg.seed)).len() * cfg.epochs;
    if cfg.max_steps > 0 {
        n.min(cfg.max_steps)
    } else {
        n
    }
}

/// Splits off every `every`-th pair (after a seeded shuffle) as held-out dev pairs.
pub fn split_dev(mut pairs: Vec<VecPair>, every: usize, seed: u64) -> (Vec<VecPair>, Vec<VecPair>) {
    let mut rng = Rng::new(seed ^ 0x5eed);
    rng.shuffle(&mut pairs);
    let mut train = Vec::new();
    let mut dev = Vec::new();
    for (i, p) in pairs.into_iter().enumerate() {
        if every > 0 && i % every == 0 {
            dev.push(p);
        } else {
            train.push(p);
        }
    }
    (train, dev)
}

fn evaluate(
    p: &Params,
    cfg: &TrainConfig,
    dev: &[VecPair],
    dim: usize,
) -> Result<(f64, f64), TrainError> {
    let mut loss = 0.0;
    let mut acc = 0.0;
    let mut n = 0usize;
    // fixed batches of the dev set in order, xy style
    for chunk in dev.chunks(cfg.batch_size.max(2)) {
        if chunk.len() < 2 {
            continue;
        }
        let refs: Vec<&VecPair> = chunk.iter().collect();
        let (l, a) = batch_loss(p, cfg, &refs, dim)?;
        loss += l.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        acc += a * chunk.len() as f64;
        n += chunk.len();
    }
    let n = n.max(1) as f64;
    Ok((loss / n, acc / n))
}

/// Called after every epoch with its log and the weights (for checkpoints).
pub type OnEpoch<'a> = dyn FnMut(&EpochLog, &[f32]) -> Result<(), TrainError> + 'a;

/// Trains the adapter; returns `W` (row-major) and the per-epoch log.
/// `progress(step, total_steps, loss)` is called after every step.
pub fn train(
    pairs: &[VecPair],
    dev: &[VecPair],
    cfg: &TrainConfig,
    progress: &dyn Fn(usize, usize, f64),
    on_epoch: &mut OnEpoch,
) -> Result<(Vec<f32>, Vec<EpochLog>), TrainError> {
    let dim = pairs
        .first()
        .map(|p| p.a.len())
        .ok_or_else(|| TrainError::Config("no training pairs".into()))?;
    if let Some(bad) = pairs
        .iter()
        .chain(dev)
        .find(|p| p.a.len() != dim || p.b.len() != dim)
    {
        return Err(TrainError::Config(format!(
            "pair of group '{}' has dimensions {}/{}, expected {dim}",
            bad.group,
            bad.a.len(),
            bad.b.len()
        )));
    }
    if cfg.epochs == 0 || cfg.batch_size < 2 {
        return Err(TrainError::Config(
            "epochs must be ≥ 1 and batch size ≥ 2".into(),
        ));
    }
    let params = Params::new(dim, cfg)?;
    let mut opt = AdamW::new(
        params.trainable(cfg),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut rng = Rng::new(cfg.seed);
    let total = total_steps(pairs, cfg);
    let mut step = 0usize;
    let mut log = Vec::new();
    // epoch 0: the base model (W = I), for reference
    let (dev_loss, dev_acc) = evaluate(&params, cfg, dev, dim)?;
    log.push(EpochLog {
        epoch: 0,
        steps: 0,
        train_loss: None,
        dev_loss,
        dev_acc,
        scale: cfg.init_scale,
        w_minus_i: 0.0,
    });
    'outer: for epoch in 1..=cfg.epochs {
        let mut sum = 0.0;
        let mut steps = 0usize;
        for batch in batches(pairs, cfg, &mut rng) {
            if cfg.max_steps > 0 && step >= cfg.max_steps {
                break;
            }
            let refs: Vec<&VecPair> = batch.iter().map(|&i| &pairs[i]).collect();
            let (loss, _) = batch_loss(&params, cfg, &refs, dim)?;
            let l = loss.to_scalar::<f32>()? as f64;
            opt.backward_step(&loss)?;
            sum += l;
            steps += 1;
            step += 1;
            progress(step, total, l);
        }
        let (dev_loss, dev_acc) = evaluate(&params, cfg, dev, dim)?;
        let w: Vec<f32> = params.w.as_tensor().flatten_all()?.to_vec1()?;
        let w_minus_i = w
            .iter()
            .enumerate()
            .map(|(k, &x)| {
                let e = if k / dim == k % dim { 1.0 } else { 0.0 };
                ((x - e) as f64).powi(2)
            })
            .sum::<f64>()
            .sqrt();
        let e = EpochLog {
            epoch,
            steps,
            train_loss: Some(sum / steps.max(1) as f64),
            dev_loss,
            dev_acc,
            scale: params.log_scale.as_tensor().exp()?.to_vec1::<f32>()?[0] as f64,
            w_minus_i,
        };
        on_epoch(&e, &w)?;
        log.push(e);
        if cfg.max_steps > 0 && step >= cfg.max_steps {
            break 'outer;
        }
    }
    let w: Vec<f32> = params.w.as_tensor().flatten_all()?.to_vec1()?;
    Ok((w, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs whose anchors carry a strong "language" offset on dimension 0
    /// (language A: +3, language B: −3) and share content on the others.
    fn toy(n: usize, seed: u64) -> Vec<VecPair> {
        let mut rng = Rng::new(seed);
        let dim = 8;
        (0..n)
            .map(|i| {
                let content: Vec<f32> = (1..dim)
                    .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                    .collect();
                let mk = |off: f32| {
                    let mut v = vec![off];
                    v.extend(content.iter().map(|c| c + 0.05 * ((rng_f(i) - 0.5) as f32)));
                    v
                };
                VecPair {
                    a: mk(3.0),
                    b: mk(-3.0),
                    group: if i % 2 == 0 { "g1".into() } else { "g2".into() },
                }
            })
            .collect()
    }

    fn rng_f(i: usize) -> f64 {
        ((i * 7919) % 101) as f64 / 101.0
    }

    #[test]
    fn loss_falls_and_only_the_adapter_gets_gradients() {
        let pairs = toy(256, 3);
        let dev = toy(64, 4);
        for loss in [Loss::InBatch, Loss::Mixcse] {
            let cfg = TrainConfig {
                epochs: 8,
                batch_size: 32,
                lr: 1e-2,
                reg: 0.01,
                loss,
                ..Default::default()
            };
            // gradients: exactly the trainable variables get one
            let p = Params::new(8, &cfg).unwrap();
            let refs: Vec<&VecPair> = pairs.iter().take(32).collect();
            let (l, _) = batch_loss(&p, &cfg, &refs, 8).unwrap();
            let grads = l.backward().unwrap();
            assert!(
                grads.get(p.w.as_tensor()).is_some(),
                "{loss:?}: W has no gradient"
            );
            let scale_grad = grads.get(p.log_scale.as_tensor()).is_some();
            assert_eq!(
                scale_grad,
                loss == Loss::InBatch,
                "{loss:?}: scale gradient"
            );
            let (_, log) = train(&pairs, &dev, &cfg, &|_, _, _| {}, &mut |_, _| Ok(())).unwrap();
            assert_eq!(log[0].epoch, 0, "epoch 0 is the base model");
            let first = &log[1];
            let last = log.last().unwrap();
            assert!(
                last.train_loss.unwrap() < 0.8 * first.train_loss.unwrap(),
                "{loss:?}: loss did not fall: {log:?}"
            );
            assert!(last.dev_acc >= log[0].dev_acc, "{loss:?}: {log:?}");
        }
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let pairs = toy(128, 5);
        let cfg = TrainConfig {
            epochs: 2,
            batch_size: 16,
            ..Default::default()
        };
        let run = |c: &TrainConfig| {
            train(&pairs, &[], c, &|_, _, _| {}, &mut |_, _| Ok(()))
                .unwrap()
                .0
        };
        assert_eq!(run(&cfg), run(&cfg));
        let other = TrainConfig {
            seed: 99,
            ..cfg.clone()
        };
        assert_ne!(run(&cfg), run(&other));
    }

    #[test]
    fn mono_batches_hold_one_group() {
        let pairs = toy(100, 1);
        let cfg = TrainConfig {
            batching: Batching::Mono,
            batch_size: 8,
            ..Default::default()
        };
        let bs = batches(&pairs, &cfg, &mut Rng::new(1));
        assert!(!bs.is_empty());
        for b in &bs {
            let g = &pairs[b[0]].group;
            assert!(b.iter().all(|&i| &pairs[i].group == g));
        }
        let xy = batches(
            &pairs,
            &TrainConfig {
                batch_size: 8,
                ..Default::default()
            },
            &mut Rng::new(1),
        );
        assert!(xy
            .iter()
            .any(|b| b.iter().any(|&i| pairs[i].group != pairs[b[0]].group)));
    }

    #[test]
    fn bad_input_is_refused() {
        let e = train(
            &[],
            &[],
            &TrainConfig::default(),
            &|_, _, _| {},
            &mut |_, _| Ok(()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no training pairs"), "{e}");
        let mut pairs = toy(4, 1);
        pairs[2].b.pop();
        let e = train(
            &pairs,
            &[],
            &TrainConfig::default(),
            &|_, _, _| {},
            &mut |_, _| Ok(()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("dimensions 8/7"), "{e}");
    }
}
