//! Training the extractive span reader (`xlqa train reader`).
//!
//! Recipe: the base encoder's lower layers are frozen; their output for every
//! training window is computed once (with the same int8 kernels the reader
//! uses at inference) and cached in memory as f16. The top layers (f32
//! copies of the base weights) and a fresh start/end head are then trained
//! with AdamW on the cached states: masked softmax cross-entropy over the
//! window's positions for the start and for the end, position 0 (`<s>`) as
//! the target of windows that do not hold the answer.
//!
//! Data: TyDi QA GoldP `train_partial` (en, ko, sw) and, with `aug`, the
//! Korean training passages paired with the human English translations of
//! their questions (XOR-TyDi `ko-en`), the "+aug" setting of Faisal &
//! Anastasopoulos (2022). Evaluation sets are never read here.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::Serialize;
use xlqa_core::{Lang, SplitMix64};
use xlqa_eval::datasets::{read_tydi_goldp, QaExample};
use xlqa_models::span::{decode, features_from_pieces, pieces_covering, SpanConfig, SpanModel};
use xlqa_models::Encoder;

/// Errors of reader training.
#[derive(Debug, thiserror::Error)]
pub enum ReaderTrainError {
    #[error(transparent)]
    Dataset(#[from] xlqa_eval::datasets::DatasetError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Model(#[from] xlqa_models::ModelError),
    #[error(transparent)]
    Span(#[from] xlqa_models::span::SpanError),
    #[error("training: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{0}")]
    Config(String),
}

/// One training question with its passage and the answer's byte range.
#[derive(Debug, Clone, Serialize)]
pub struct ReaderExample {
    pub id: String,
    pub question_lang: String,
    pub passage_lang: String,
    pub question: String,
    pub context: String,
    pub answer: (usize, usize),
    /// `tydi` or `aug` (translated question).
    pub source: &'static str,
}

/// What was read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReaderData {
    /// Examples per source and language pair, e.g. `tydi ko-ko`.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// TyDi questions dropped because their answer is not in the passage.
    pub bad_answers: usize,
}

/// The TyDi GoldP training files under `data` (the shared data folder).
pub const TYDI_TRAIN_FILES: [(&str, &str); 3] = [
    (
        "en",
        "tydiqa_goldp_v1.1/train_partial/english_tydiqa_train.json",
    ),
    (
        "ko",
        "tydiqa_goldp_v1.1/train_partial/korean_tydiqa_train.json",
    ),
    (
        "sw",
        "tydiqa_goldp_v1.1/train_partial/swahili_tydiqa_train.json",
    ),
];

fn convert(ex: &QaExample, source: &'static str, q: Option<(&str, &str)>) -> Option<ReaderExample> {
    let r = ex.answer_byte_range(0)?;
    if ex.context.get(r.clone())? != ex.answers[0] {
        return None;
    }
    let (question, qlang) = q.unwrap_or((&ex.question, ex.lang.as_str()));
    Some(ReaderExample {
        id: ex.id.clone(),
        question_lang: qlang.to_string(),
        passage_lang: ex.lang.as_str().to_string(),
        question: question.to_string(),
        context: ex.context.clone(),
        answer: (r.start, r.end),
        source,
    })
}

/// Reads the training examples. `per_lang` keeps the first N TyDi questions
/// of each language (for tests); `aug` adds the en→ko questions.
pub fn read_reader_data(
    data: &Path,
    aug: bool,
    per_lang: Option<usize>,
) -> Result<(Vec<ReaderExample>, ReaderData), ReaderTrainError> {
    let mut out = Vec::new();
    let mut info = ReaderData::default();
    let mut ko = Vec::new();
    for (code, rel) in TYDI_TRAIN_FILES {
        let mut exs = read_tydi_goldp(&data.join(rel))?;
        if let Some(n) = per_lang {
            exs.truncate(n);
        }
        for ex in &exs {
            match convert(ex, "tydi", None) {
                Some(e) => {
                    *info
                        .counts
                        .entry(format!("tydi {code}-{code}"))
                        .or_default() += 1;
                    out.push(e);
                }
                None => info.bad_answers += 1,
            }
        }
        if code == "ko" {
            ko = exs;
        }
    }
    if aug {
        let dir = data.join("xor_tydi_question_translations");
        let ko_lang = Lang::parse("ko").map_err(|e| ReaderTrainError::Config(e.to_string()))?;
        let (pairs, _) = crate::data::read_xor_translations(&dir, &[ko_lang], None)?;
        let map = crate::data::translation_map(&pairs);
        for ex in &ko {
            let Some(en) = map.get(ex.question.trim()) else {
                continue;
            };
            if let Some(mut e) = convert(ex, "aug", Some((en, "en"))) {
                e.id = format!("{}+en", e.id);
                *info.counts.entry("aug en-ko".to_string()).or_default() += 1;
                out.push(e);
            }
        }
    }
    Ok((out, info))
}

/// Pairs training passages so that one context serves two questions.
///
/// TyDi GoldP has one question per passage, so a reader can score well by
/// learning which span of a passage is "answer-like" and ignore the
/// question (measured: after one epoch on the plain data, every question
/// about an XQuAD paragraph got the same answer). Here random pairs of
/// short examples (their passages together within `max_pieces` pieces,
/// languages mixed) are joined into one context `A \n\n B` (order random),
/// and each of the two questions is trained on it with its own answer: the
/// same context with two targets can only be solved by reading the
/// question. Examples that find no partner stay as they are.
pub fn pair_contexts(
    enc: &Encoder,
    examples: &[ReaderExample],
    max_pieces: usize,
    seed: u64,
) -> Vec<ReaderExample> {
    let mut rng = SplitMix64::new(seed ^ 0x9a1e_d0c5);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    rng.shuffle(&mut order);
    let len: Vec<usize> = examples
        .iter()
        .map(|e| enc.count_tokens(&e.context))
        .collect();
    let mut out = Vec::with_capacity(examples.len());
    let mut used = vec![false; examples.len()];
    for k in 0..order.len() {
        let a = order[k];
        if used[a] {
            continue;
        }
        used[a] = true;
        // the next unused example that fits with `a` (a short look-ahead)
        let partner = order[k + 1..]
            .iter()
            .take(64)
            .copied()
            .find(|&b| !used[b] && len[a] + len[b] + 2 <= max_pieces);
        let Some(b) = partner else {
            out.push(examples[a].clone());
            continue;
        };
        used[b] = true;
        let (first, second) = if rng.next_u64() & 1 == 0 {
            (a, b)
        } else {
            (b, a)
        };
        let (x, y) = (&examples[first], &examples[second]);
        let context = format!("{}\n\n{}", x.context, y.context);
        let shift = x.context.len() + 2;
        for (e, off) in [(x, 0usize), (y, shift)] {
            out.push(ReaderExample {
                id: format!("{}+pair", e.id),
                question_lang: e.question_lang.clone(),
                passage_lang: format!("{}+{}", x.passage_lang, y.passage_lang),
                question: e.question.clone(),
                context: context.clone(),
                answer: (e.answer.0 + off, e.answer.1 + off),
                source: e.source,
            });
        }
    }
    out
}

/// One cached training window.
pub struct Item {
    /// Lower-layer states, `[len, hidden]` row-major, f16.
    x: Vec<half::f16>,
    len: usize,
    /// Target positions in the window (0, 0 when the answer is not in it).
    start: u32,
    end: u32,
    /// Additive mask: 0 where a start/end may be, −1e4 elsewhere.
    valid: Vec<bool>,
    /// Index of the example.
    pub example: usize,
}

impl Item {
    /// True when the window holds the answer (its target is not position 0).
    pub fn has_answer(&self) -> bool {
        self.start != 0
    }
}

/// Hyper-parameters.
#[derive(Debug, Clone, Serialize)]
pub struct ReaderTrainConfig {
    /// Layers `0..lower` stay frozen.
    pub lower: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// Share of the steps with linear warm-up (then linear decay to 0).
    pub warmup: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Stop after this many steps (0: all epochs); the learning-rate schedule
    /// is fitted to the shorter run.
    pub max_steps: usize,
    /// Stop after this many epochs (0: all) *without* changing the
    /// schedule: the weights are those of the full run's epoch checkpoint.
    pub stop_after_epochs: usize,
    /// Share of the windows without the answer that are kept.
    pub keep_negative: f64,
    pub span: SpanConfig,
}

impl Default for ReaderTrainConfig {
    fn default() -> Self {
        ReaderTrainConfig {
            lower: 9,
            epochs: 2,
            batch: 16,
            lr: 1e-4,
            warmup: 0.1,
            weight_decay: 0.01,
            seed: 13,
            max_steps: 0,
            stop_after_epochs: 0,
            keep_negative: 0.5,
            span: SpanConfig::default(),
        }
    }
}

/// Windows of every example with their targets, and the lower-layer states
/// computed by `enc` (the inference encoder). `progress(done, total)`.
pub fn cache_items(
    enc: &Encoder,
    examples: &[ReaderExample],
    cfg: &ReaderTrainConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<Item>, ReaderTrainError> {
    let mut rng = SplitMix64::new(cfg.seed ^ 0x05ee_d0fc_ac4e);
    let mut windows = Vec::new(); // (start, end, valid, example)
    let mut window_ids: Vec<Vec<u32>> = Vec::new();
    for (k, ex) in examples.iter().enumerate() {
        let (q, _) = enc.pieces(&ex.question)?;
        let (c, spans) = enc.pieces(&ex.context)?;
        let Some((ps, pe)) = pieces_covering(&spans, ex.answer.0, ex.answer.1) else {
            continue;
        };
        let f = features_from_pieces(enc.special_ids(), &q, &c, spans, &cfg.span);
        for w in &f.windows {
            let (start, end) = match (w.position_of(ps), w.position_of(pe)) {
                (Some(s), Some(e)) if pe - ps < cfg.span.max_answer => (s as u32, e as u32),
                _ => {
                    let r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    if r >= cfg.keep_negative {
                        continue;
                    }
                    (0, 0)
                }
            };
            let mut valid = vec![false; w.ids.len()];
            valid[0] = true;
            for i in 0..w.n_ctx {
                let (a, b) = f.spans[w.first_piece + i];
                valid[w.ctx_offset + i] = a < b;
            }
            windows.push((start, end, valid, k));
            window_ids.push(w.ids.clone());
        }
    }
    let total = windows.len();
    let mut items = Vec::with_capacity(total);
    let h = enc.dim();
    let mut done = 0;
    let mut targets = windows.into_iter();
    for ids in window_ids.chunks(32) {
        let (x, lens) = enc.hidden_states_ids(ids, cfg.lower)?;
        let x: Vec<Vec<Vec<f32>>> = x.to_dtype(DType::F32)?.to_vec3()?;
        for ((rows, len), (start, end, valid, example)) in x.into_iter().zip(lens).zip(&mut targets)
        {
            let mut flat = Vec::with_capacity(len * h);
            for r in rows.iter().take(len) {
                flat.extend(r.iter().map(|&v| half::f16::from_f32(v)));
            }
            items.push(Item {
                x: flat,
                len,
                start,
                end,
                valid,
                example,
            });
        }
        done += ids.len();
        progress(done, total);
    }
    Ok(items)
}

/// A padded batch: states `[b, l, h]`, lens, targets, masks `[b, l]`.
fn batch_tensors(
    items: &[&Item],
    h: usize,
) -> candle_core::Result<(Tensor, Vec<usize>, Tensor, Tensor, Tensor)> {
    let l = items.iter().map(|i| i.len).max().unwrap_or(1);
    let b = items.len();
    let mut x = vec![half::f16::ZERO; b * l * h];
    let mut mask = vec![-1e4f32; b * l];
    for (r, it) in items.iter().enumerate() {
        x[r * l * h..r * l * h + it.len * h].copy_from_slice(&it.x);
        for (p, &v) in it.valid.iter().enumerate() {
            if v {
                mask[r * l + p] = 0.0;
            }
        }
    }
    let x = Tensor::from_vec(x, (b, l, h), &Device::Cpu)?.to_dtype(DType::F32)?;
    let lens = items.iter().map(|i| i.len).collect();
    let s = Tensor::from_vec(
        items.iter().map(|i| i.start).collect::<Vec<u32>>(),
        b,
        &Device::Cpu,
    )?;
    let e = Tensor::from_vec(
        items.iter().map(|i| i.end).collect::<Vec<u32>>(),
        b,
        &Device::Cpu,
    )?;
    let mask = Tensor::from_vec(mask, (b, l), &Device::Cpu)?;
    Ok((x, lens, s, e, mask))
}

/// Loss of one batch (mean of the start and end cross-entropies) and the
/// masked start/end logits.
fn batch_loss(
    model: &SpanModel,
    items: &[&Item],
    h: usize,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (x, lens, ts, te, mask) = batch_tensors(items, h)?;
    let (s, e) = model.logits(&x, &lens)?;
    let (s, e) = ((s + &mask)?, (e + &mask)?);
    let ls = candle_nn::loss::cross_entropy(&s, &ts)?;
    let le = candle_nn::loss::cross_entropy(&e, &te)?;
    Ok((((ls + le)? / 2.0)?, s, e))
}

/// Batches of similar lengths in a seeded random order.
fn make_batches(items: &[Item], batch: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    rng.shuffle(&mut order);
    let mut out = Vec::new();
    for pool in order.chunks(batch * 32) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| items[i].len);
        out.extend(pool.chunks(batch).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut out);
    out
}

/// Per-epoch numbers.
#[derive(Debug, Clone, Serialize)]
pub struct ReaderEpoch {
    pub epoch: usize,
    pub steps: usize,
    pub train_loss: Option<f64>,
    pub dev_loss: f64,
    /// Share of dev windows with the answer whose decoded span is exactly the gold one.
    pub dev_exact_span: f64,
    pub seconds: f64,
}

/// Dev loss and exact-span rate.
pub fn evaluate(
    model: &SpanModel,
    items: &[Item],
    cfg: &ReaderTrainConfig,
    h: usize,
) -> Result<(f64, f64), ReaderTrainError> {
    let mut loss = 0.0;
    let mut n = 0usize;
    let (mut hit, mut pos) = (0usize, 0usize);
    let refs: Vec<&Item> = items.iter().collect();
    for chunk in refs.chunks(32) {
        let (l, s, e) = batch_loss(model, chunk, h)?;
        let l = l.to_scalar::<f32>()? as f64;
        loss += l * chunk.len() as f64;
        n += chunk.len();
        let s: Vec<Vec<f32>> = s.to_vec2()?;
        let e: Vec<Vec<f32>> = e.to_vec2()?;
        for ((it, s), e) in chunk.iter().zip(s).zip(e) {
            if !it.has_answer() {
                continue;
            }
            pos += 1;
            if best_positions(it, &s, &e, cfg.span.max_answer) == (it.start, it.end) {
                hit += 1;
            }
        }
    }
    Ok((loss / n.max(1) as f64, hit as f64 / pos.max(1) as f64))
}

/// Best (start, end) positions inside one window (ignores "no answer").
fn best_positions(it: &Item, s: &[f32], e: &[f32], max_answer: usize) -> (u32, u32) {
    let mut best = (f32::NEG_INFINITY, 0u32, 0u32);
    let n = it.len.min(s.len()).min(e.len());
    for (i, &si) in s.iter().enumerate().take(n).skip(1) {
        if !it.valid[i] {
            continue;
        }
        let end = n.min(i + max_answer);
        for (j, &ej) in e.iter().enumerate().take(end).skip(i) {
            if it.valid[j] && si + ej > best.0 {
                best = (si + ej, i as u32, j as u32);
            }
        }
    }
    (best.1, best.2)
}

/// Trains `model` in place. `progress(step, total, loss)` after every step;
/// `on_epoch` after every epoch (for checkpoints).
pub fn train_reader(
    model: &SpanModel,
    train: &[Item],
    dev: &[Item],
    cfg: &ReaderTrainConfig,
    h: usize,
    progress: &dyn Fn(usize, usize, f64),
    on_epoch: &mut dyn FnMut(&ReaderEpoch) -> Result<(), ReaderTrainError>,
) -> Result<Vec<ReaderEpoch>, ReaderTrainError> {
    if train.is_empty() {
        return Err(ReaderTrainError::Config("no training windows".into()));
    }
    if cfg.epochs == 0 || cfg.batch == 0 {
        return Err(ReaderTrainError::Config(
            "epochs and batch must be at least 1".into(),
        ));
    }
    let per_epoch = train.len().div_ceil(cfg.batch);
    let mut total = per_epoch * cfg.epochs;
    if cfg.max_steps > 0 {
        total = total.min(cfg.max_steps);
    }
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let warm = ((total as f64 * cfg.warmup).ceil() as usize).max(1);
    let mut rng = SplitMix64::new(cfg.seed);
    let mut log = Vec::new();
    let t0 = std::time::Instant::now();
    let (dev_loss, dev_exact_span) = evaluate(model, dev, cfg, h)?;
    log.push(ReaderEpoch {
        epoch: 0,
        steps: 0,
        train_loss: None,
        dev_loss,
        dev_exact_span,
        seconds: 0.0,
    });
    let mut step = 0;
    for epoch in 1..=cfg.epochs {
        let mut sum = 0.0;
        let mut steps = 0;
        for b in make_batches(train, cfg.batch, &mut rng) {
            if step >= total {
                break;
            }
            opt.set_learning_rate(crate::warmup_linear_lr(cfg.lr, step, warm, total));
            let refs: Vec<&Item> = b.iter().map(|&i| &train[i]).collect();
            let (loss, _, _) = batch_loss(model, &refs, h)?;
            let l = loss.to_scalar::<f32>()? as f64;
            if !l.is_finite() {
                return Err(ReaderTrainError::Config(format!(
                    "loss became {l} at step {step}; lower the learning rate"
                )));
            }
            opt.backward_step(&loss)?;
            sum += l;
            steps += 1;
            step += 1;
            progress(step, total, l);
        }
        let (dev_loss, dev_exact_span) = evaluate(model, dev, cfg, h)?;
        let e = ReaderEpoch {
            epoch,
            steps,
            train_loss: Some(sum / steps.max(1) as f64),
            dev_loss,
            dev_exact_span,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_epoch(&e)?;
        log.push(e);
        if step >= total || (cfg.stop_after_epochs > 0 && epoch >= cfg.stop_after_epochs) {
            break;
        }
    }
    Ok(log)
}

/// Splits examples into train and a small held-out part of the *training*
/// data (every `every`-th question id by hash), for the dev loss.
pub fn split_held_out(examples: &[ReaderExample], every: u64) -> (Vec<usize>, Vec<usize>) {
    let mut tr = Vec::new();
    let mut dv = Vec::new();
    for (i, e) in examples.iter().enumerate() {
        let base = e.id.trim_end_matches("+pair").trim_end_matches("+en");
        let h = fnv(base);
        if every > 0 && h.is_multiple_of(every) {
            dv.push(i);
        } else {
            tr.push(i);
        }
    }
    (tr, dv)
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Decodes the answer of one example with the given logits; used by tests
/// to check that decoding returns the gold text.
pub fn decode_text(
    enc: &Encoder,
    ex: &ReaderExample,
    logits: &[xlqa_models::span::WindowLogits],
    cfg: &SpanConfig,
) -> Result<Option<String>, ReaderTrainError> {
    let (q, _) = enc.pieces(&ex.question)?;
    let (c, spans) = enc.pieces(&ex.context)?;
    let f = features_from_pieces(enc.special_ids(), &q, &c, spans, cfg);
    Ok(decode(&f, logits, cfg.max_answer).map(|p| ex.context[p.start..p.end].trim().to_string()))
}
