//! Extractive span reader on multilingual-e5-small.
//!
//! The reader is the base encoder's lower layers (frozen, run with the fast
//! inference kernels) followed by its top layers fine-tuned in f32 and a
//! start/end head. A question and a passage go in as one sequence,
//! `<s> question </s></s> passage </s>`; a passage longer than the window is
//! cut into overlapping windows (doc spans). Position 0 (`<s>`) is the
//! "no answer" position: its start+end logit is the null score.
//!
//! Files: `reader.safetensors` (trained layers and head) and `reader.json`
//! ([`ReaderMeta`]: base encoder, layout, recipe and the sha256 of the weights).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::bert::TrainableLayer;
use crate::encoder::{Encoder, ModelError};

/// Format tag written into `reader.json`.
pub const READER_FORMAT: &str = "xlqa-span-reader/1";

/// How questions and passages become windows and how spans are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanConfig {
    /// Tokens per window, specials included.
    pub max_seq: usize,
    /// Question pieces kept (longer questions are truncated).
    pub max_question: usize,
    /// Context pieces shared by consecutive windows of one passage.
    pub overlap: usize,
    /// Longest answer, in pieces.
    pub max_answer: usize,
}

impl Default for SpanConfig {
    fn default() -> Self {
        SpanConfig {
            max_seq: 256,
            max_question: 64,
            overlap: 96,
            max_answer: 30,
        }
    }
}

/// One model input: the question and a slice of the passage's pieces.
#[derive(Debug, Clone)]
pub struct Window {
    /// `<s> q </s></s> ctx </s>`.
    pub ids: Vec<u32>,
    /// Index in `ids` of the first context piece.
    pub ctx_offset: usize,
    /// Index (in the passage's piece list) of the first piece in the window.
    pub first_piece: usize,
    /// Context pieces in the window.
    pub n_ctx: usize,
}

impl Window {
    /// Window position of passage piece `p`, if the window holds it.
    pub fn position_of(&self, p: usize) -> Option<usize> {
        (p >= self.first_piece && p < self.first_piece + self.n_ctx)
            .then(|| self.ctx_offset + p - self.first_piece)
    }
}

/// A passage cut into windows, with the byte span of every piece.
#[derive(Debug, Clone)]
pub struct Features {
    pub windows: Vec<Window>,
    /// Byte span in the passage of each piece.
    pub spans: Vec<(usize, usize)>,
}

/// Tokenizes `question` and `context` and cuts the context into windows.
pub fn make_features(
    enc: &Encoder,
    question: &str,
    context: &str,
    cfg: &SpanConfig,
) -> Result<Features, ModelError> {
    passage_features(enc, &question_pieces(enc, question, cfg)?, context, cfg)
}

/// The question's pieces, cut to `cfg.max_question`.
fn question_pieces(
    enc: &Encoder,
    question: &str,
    cfg: &SpanConfig,
) -> Result<Vec<u32>, ModelError> {
    let (mut q, _) = enc.pieces(question)?;
    q.truncate(cfg.max_question);
    Ok(q)
}

/// Windows of `context` for a question already cut into pieces.
fn passage_features(
    enc: &Encoder,
    question: &[u32],
    context: &str,
    cfg: &SpanConfig,
) -> Result<Features, ModelError> {
    let (c, spans) = enc.pieces(context)?;
    Ok(features_from_pieces(
        enc.special_ids(),
        question,
        &c,
        spans,
        cfg,
    ))
}

/// [`make_features`] on pieces already computed (`specials` = `<s>, </s>, <pad>`).
pub fn features_from_pieces(
    specials: (u32, u32, u32),
    question: &[u32],
    context: &[u32],
    spans: Vec<(usize, usize)>,
    cfg: &SpanConfig,
) -> Features {
    let (bos, eos, _) = specials;
    let q = &question[..question.len().min(cfg.max_question)];
    let ctx_offset = q.len() + 3;
    // at least one context piece per window, even with a tiny max_seq
    let budget = cfg.max_seq.saturating_sub(ctx_offset + 1).max(1);
    let step = budget.saturating_sub(cfg.overlap).max(1);
    let mut windows = Vec::new();
    let mut start = 0usize;
    loop {
        let end = (start + budget).min(context.len());
        let mut ids = Vec::with_capacity(ctx_offset + end - start + 1);
        ids.push(bos);
        ids.extend_from_slice(q);
        ids.push(eos);
        ids.push(eos);
        ids.extend_from_slice(&context[start..end]);
        ids.push(eos);
        windows.push(Window {
            ids,
            ctx_offset,
            first_piece: start,
            n_ctx: end - start,
        });
        if end >= context.len() {
            break;
        }
        start += step;
    }
    Features { windows, spans }
}

/// The pieces `[first, last]` (inclusive) whose byte spans cover
/// `[a, b)` of the passage; `None` when no non-empty piece overlaps it.
pub fn pieces_covering(spans: &[(usize, usize)], a: usize, b: usize) -> Option<(usize, usize)> {
    let hit = |&(s, e): &(usize, usize)| s < e && s < b && e > a;
    let first = spans.iter().position(hit)?;
    let last = spans.iter().rposition(hit)?;
    Some((first, last))
}

/// The best span of one passage.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanPrediction {
    /// Byte range in the passage.
    pub start: usize,
    pub end: usize,
    /// Pieces `[first, last]` of the span.
    pub pieces: (usize, usize),
    /// start + end logit of the span.
    pub score: f32,
    /// start + end logit of "no answer" in the window the span came from.
    pub null_score: f32,
    /// Which window.
    pub window: usize,
}

/// Best span of a passage from per-window start/end logits
/// (`logits[w]` = `(start, end)`, each at least as long as window `w`).
///
/// Spans lie inside the context, start and end on pieces with text, have
/// `start ≤ end < start + max_answer`. Ties go to the earliest window, then
/// the earliest start, then the shortest span.
pub fn decode(
    feats: &Features,
    logits: &[WindowLogits],
    max_answer: usize,
) -> Option<SpanPrediction> {
    let mut best: Option<SpanPrediction> = None;
    for (w, (win, (s, e))) in feats.windows.iter().zip(logits).enumerate() {
        let null_score = s[0] + e[0];
        for i in 0..win.n_ctx {
            let pi = win.first_piece + i;
            let (a, _) = feats.spans[pi];
            if feats.spans[pi].0 >= feats.spans[pi].1 {
                continue;
            }
            let si = s[win.ctx_offset + i];
            for j in i..win.n_ctx.min(i + max_answer.max(1)) {
                let pj = win.first_piece + j;
                let (c, d) = feats.spans[pj];
                if c >= d {
                    continue;
                }
                let score = si + e[win.ctx_offset + j];
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(SpanPrediction {
                        start: a,
                        end: d,
                        pieces: (pi, pj),
                        score,
                        null_score,
                        window: w,
                    });
                }
            }
        }
    }
    best
}

/// Start and end logits of one window.
pub type WindowLogits = (Vec<f32>, Vec<f32>);

/// What `reader.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReaderMeta {
    pub format: String,
    /// The base encoder (id and sha256 of its weights file).
    pub encoder_id: String,
    pub encoder_sha256: String,
    /// Precision of the frozen lower layers, in training and at inference.
    pub lower_precision: String,
    /// Layers `0..lower_layers` are the base encoder's; the rest are in the file.
    pub lower_layers: usize,
    pub trained_layers: usize,
    pub config: SpanConfig,
    /// sha256 of `reader.safetensors`.
    pub weights_sha256: String,
    /// How it was trained (command, data, seed, losses…), free-form JSON.
    pub recipe: serde_json::Value,
    /// How to compare answers read from different passages (fitted by
    /// `xlqa train calibrate` on held-out training data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// One score for a span read from one of several retrieved passages:
/// `span − null_weight × null − rank_weight × ln(rank)` (rank from 1), so
/// that spans of different passages can be compared. The reader is trained
/// with "no answer" windows, so a passage that does not answer the question
/// has a high null score.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    pub null_weight: f32,
    pub rank_weight: f32,
}

impl Calibration {
    /// The comparable score of a span with `span`/`null` logit sums read
    /// from the passage at retrieval rank `rank` (1-based).
    pub fn score(&self, span: f32, null: f32, rank: usize) -> f32 {
        span - self.null_weight * null - self.rank_weight * (rank.max(1) as f32).ln()
    }
}

/// Errors of the span reader.
#[derive(Debug, thiserror::Error)]
pub enum SpanError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("span reader: {0}")]
    Candle(#[from] candle_core::Error),
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> SpanError {
    SpanError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The trained part of the reader: top layers and the start/end head.
pub struct SpanModel {
    pub top: Vec<TrainableLayer>,
    /// `[hidden, 2]`.
    pub head_w: Var,
    /// `[2]`.
    pub head_b: Var,
}

impl SpanModel {
    /// The encoder's layers `lower..` as trainable copies (the encoder must
    /// be loaded in f32) and a head initialized from `seed` (N(0, 0.02²)).
    pub fn from_encoder(enc: &Encoder, lower: usize, seed: u64) -> Result<SpanModel, SpanError> {
        let n = enc.num_layers();
        if lower > n {
            return Err(SpanError::Model(ModelError::Options(format!(
                "{lower} frozen layers asked for, the encoder has {n}"
            ))));
        }
        let top = (lower..n)
            .map(|i| enc.trainable_layer(i))
            .collect::<Result<Vec<_>, _>>()?;
        let h = enc.dim();
        let mut rng = xlqa_core::SplitMix64::new(seed);
        let w: Vec<f32> = (0..h * 2).map(|_| 0.02 * gaussian(&mut rng)).collect();
        Ok(SpanModel {
            top,
            head_w: Var::from_tensor(&Tensor::from_vec(w, (h, 2), &Device::Cpu)?)?,
            head_b: Var::from_tensor(&Tensor::zeros(2, DType::F32, &Device::Cpu)?)?,
        })
    }

    /// Every trainable parameter.
    pub fn vars(&self) -> Vec<Var> {
        let mut v: Vec<Var> = self.top.iter().flat_map(|l| l.vars()).collect();
        v.push(self.head_w.clone());
        v.push(self.head_b.clone());
        v
    }

    /// Start and end logits `[b, l]` each for lower-layer states `x` `[b, l, h]`.
    pub fn logits(&self, x: &Tensor, lens: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
        let mut x = x.clone();
        for layer in &self.top {
            x = layer.forward(&x, lens)?;
        }
        self.head(&x)
    }

    /// The head alone, on top-layer states `[b, l, h]`.
    pub fn head(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, l, h) = x.dims3()?;
        let y = x
            .reshape((b * l, h))?
            .matmul(self.head_w.as_tensor())?
            .broadcast_add(self.head_b.as_tensor())?
            .reshape((b, l, 2))?;
        let s = y.narrow(2, 0, 1)?.squeeze(2)?;
        let e = y.narrow(2, 1, 1)?.squeeze(2)?;
        Ok((s, e))
    }

    /// Writes the weights as safetensors; returns the file's sha256.
    pub fn save(&self, path: &Path) -> Result<String, SpanError> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (i, l) in self.top.iter().enumerate() {
            for (name, t) in l.named(&format!("top.{i}.")) {
                map.insert(name, t);
            }
        }
        map.insert("head.w".into(), self.head_w.as_tensor().clone());
        map.insert("head.b".into(), self.head_b.as_tensor().clone());
        candle_core::safetensors::save(&map, path).map_err(|e| file_err(path, e))?;
        crate::install::sha256_file(path).map_err(|e| file_err(path, e))
    }

    /// Reads weights written by [`SpanModel::save`] (`layers` trained layers).
    pub fn load(path: &Path, layers: usize, enc: &Encoder) -> Result<SpanModel, SpanError> {
        let map =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| file_err(path, e))?;
        let get = |n: &str| map.get(n).cloned();
        let shape = enc.layer_shape();
        let top = (0..layers)
            .map(|i| TrainableLayer::from_named(&get, &format!("top.{i}."), shape))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| file_err(path, e))?;
        let h = enc.dim();
        let tensor = |n: &str, dims: &[usize]| -> Result<Var, SpanError> {
            let t = get(n).ok_or_else(|| file_err(path, format!("missing tensor {n}")))?;
            if t.dims() != dims {
                return Err(file_err(
                    path,
                    format!("tensor {n} has shape {:?}, expected {dims:?}", t.dims()),
                ));
            }
            Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?)
        };
        Ok(SpanModel {
            top,
            head_w: tensor("head.w", &[h, 2])?,
            head_b: tensor("head.b", &[2])?,
        })
    }
}

/// Standard normal from two uniforms (Box–Muller).
fn gaussian(rng: &mut xlqa_core::SplitMix64) -> f32 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Pads windows into one batch of ids.
fn window_ids<'a>(feats: &[&'a Window]) -> Vec<&'a [u32]> {
    feats.iter().map(|w| w.ids.as_slice()).collect()
}

/// Start/end logits of each window, in order, batching `batch` windows at a
/// time. `lower`: layers run by `enc` before `model`'s top layers (all of
/// them, `enc.num_layers()`, when the trained layers are already in `enc`:
/// then only the head is applied).
pub fn window_logits(
    enc: &Encoder,
    model: &SpanModel,
    lower: usize,
    windows: &[&Window],
    batch: usize,
) -> Result<Vec<WindowLogits>, SpanError> {
    let full = lower >= enc.num_layers();
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(windows[i].ids.len()));
    let mut out = vec![(Vec::new(), Vec::new()); windows.len()];
    for chunk in order.chunks(batch.max(1)) {
        let ws: Vec<&Window> = chunk.iter().map(|&i| windows[i]).collect();
        let (x, lens) = enc.hidden_states_ids(&window_ids(&ws), lower)?;
        let (s, e) = if full {
            model.head(&x)?
        } else {
            model.logits(&x, &lens)?
        };
        let s: Vec<Vec<f32>> = s.to_vec2()?;
        let e: Vec<Vec<f32>> = e.to_vec2()?;
        for ((&i, s), e) in chunk.iter().zip(s).zip(e) {
            out[i] = (s, e);
        }
    }
    Ok(out)
}

/// The trained reader, ready to answer.
pub struct SpanReader {
    enc: Encoder,
    model: SpanModel,
    meta: ReaderMeta,
    /// Layers `enc` runs before the model's own top layers.
    run_lower: usize,
    /// Windows per forward pass.
    pub batch: usize,
}

/// An answer read from one passage.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanAnswer {
    pub text: String,
    /// Byte range in the passage.
    pub start: usize,
    pub end: usize,
    pub score: f32,
    pub null_score: f32,
}

impl SpanReader {
    /// Loads `reader.json` + `reader.safetensors` from `dir` on top of `enc`,
    /// checking the weights' sha256 and that `enc` is the encoder it was trained on.
    ///
    /// By default the trained layers are moved into the encoder and run with
    /// its kernels (int8: requantized per row, several times faster than
    /// candle's f32 ops); `exact_top` keeps them in f32 exactly as trained.
    pub fn load(dir: &Path, mut enc: Encoder, exact_top: bool) -> Result<SpanReader, SpanError> {
        let meta_path = dir.join("reader.json");
        let text = std::fs::read_to_string(&meta_path).map_err(|e| file_err(&meta_path, e))?;
        let meta: ReaderMeta = serde_json::from_str(&text).map_err(|e| file_err(&meta_path, e))?;
        if meta.format != READER_FORMAT {
            return Err(file_err(
                &meta_path,
                format!("format is '{}', expected '{READER_FORMAT}'", meta.format),
            ));
        }
        if meta.encoder_sha256 != enc.weights_sha256() {
            return Err(file_err(
                &meta_path,
                format!(
                    "trained on encoder weights {} but the loaded encoder is {}",
                    meta.encoder_sha256,
                    enc.weights_sha256()
                ),
            ));
        }
        let prec = enc.options().precision.to_string();
        if meta.lower_precision != prec {
            return Err(file_err(
                &meta_path,
                format!(
                    "trained with {} lower layers; load the encoder with that precision (not {prec})",
                    meta.lower_precision
                ),
            ));
        }
        if meta.lower_layers + meta.trained_layers != enc.num_layers() {
            return Err(file_err(
                &meta_path,
                format!(
                    "{} + {} layers do not match the encoder's {}",
                    meta.lower_layers,
                    meta.trained_layers,
                    enc.num_layers()
                ),
            ));
        }
        let weights = dir.join("reader.safetensors");
        let sha = crate::install::sha256_file(&weights).map_err(|e| file_err(&weights, e))?;
        if sha != meta.weights_sha256 {
            return Err(file_err(
                &weights,
                format!(
                    "sha256 is {sha}, reader.json expects {} (damaged or replaced file)",
                    meta.weights_sha256
                ),
            ));
        }
        let model = SpanModel::load(&weights, meta.trained_layers, &enc)?;
        let run_lower = if exact_top {
            meta.lower_layers
        } else {
            enc.replace_layers(meta.lower_layers, &model.top)?;
            enc.num_layers()
        };
        Ok(SpanReader {
            enc,
            model,
            meta,
            run_lower,
            batch: 16,
        })
    }

    pub fn meta(&self) -> &ReaderMeta {
        &self.meta
    }

    pub fn encoder(&self) -> &Encoder {
        &self.enc
    }

    /// The best span in each passage for `question` (`None` for an empty passage).
    pub fn read(
        &self,
        question: &str,
        passages: &[&str],
    ) -> Result<Vec<Option<SpanAnswer>>, SpanError> {
        let cfg = self.meta.config;
        let q = question_pieces(&self.enc, question, &cfg)?;
        let feats = passages
            .iter()
            .map(|p| passage_features(&self.enc, &q, p, &cfg))
            .collect::<Result<Vec<_>, _>>()?;
        self.read_features(&feats, passages)
    }

    /// Reads several (question, passage) pairs at once (batched across pairs).
    pub fn read_pairs(&self, pairs: &[(&str, &str)]) -> Result<Vec<Option<SpanAnswer>>, SpanError> {
        let cfg = self.meta.config;
        let feats = pairs
            .iter()
            .map(|(q, p)| make_features(&self.enc, q, p, &cfg))
            .collect::<Result<Vec<_>, _>>()?;
        let passages: Vec<&str> = pairs.iter().map(|p| p.1).collect();
        self.read_features(&feats, &passages)
    }

    fn read_features(
        &self,
        feats: &[Features],
        passages: &[&str],
    ) -> Result<Vec<Option<SpanAnswer>>, SpanError> {
        let windows: Vec<&Window> = feats.iter().flat_map(|f| f.windows.iter()).collect();
        let logits = window_logits(&self.enc, &self.model, self.run_lower, &windows, self.batch)?;
        let mut at = 0;
        let mut out = Vec::with_capacity(feats.len());
        for (f, p) in feats.iter().zip(passages) {
            let n = f.windows.len();
            let best = if f.spans.is_empty() {
                None
            } else {
                decode(f, &logits[at..at + n], self.meta.config.max_answer)
            };
            at += n;
            out.push(best.map(|b| SpanAnswer {
                text: p[b.start..b.end].trim().to_string(),
                start: b.start,
                end: b.end,
                score: b.score,
                null_score: b.null_score,
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(ctx_len: usize, q: usize, cfg: &SpanConfig) -> Features {
        let spans: Vec<(usize, usize)> = (0..ctx_len).map(|i| (i * 2, i * 2 + 1)).collect();
        let c: Vec<u32> = (100..100 + ctx_len as u32).collect();
        let q: Vec<u32> = (10..10 + q as u32).collect();
        features_from_pieces((0, 2, 1), &q, &c, spans, cfg)
    }

    #[test]
    fn windows_cover_the_passage_with_overlap() {
        let cfg = SpanConfig {
            max_seq: 20,
            max_question: 4,
            overlap: 3,
            max_answer: 5,
        };
        let f = feats(30, 6, &cfg);
        // q truncated to 4: offset 7, budget 20 - 8 = 12, step 9
        assert_eq!(f.windows[0].ctx_offset, 7);
        let starts: Vec<usize> = f.windows.iter().map(|w| w.first_piece).collect();
        assert_eq!(starts, vec![0, 9, 18]);
        for w in &f.windows {
            assert!(w.ids.len() <= 20);
            assert_eq!(w.ids[0], 0);
            assert_eq!(*w.ids.last().unwrap(), 2);
            assert_eq!(w.ids[w.ctx_offset], 100 + w.first_piece as u32);
        }
        let last = f.windows.last().unwrap();
        assert_eq!(last.first_piece + last.n_ctx, 30);
        assert_eq!(f.windows[1].position_of(9), Some(7));
        assert_eq!(f.windows[1].position_of(8), None);
        // a short passage: one window
        assert_eq!(feats(5, 3, &cfg).windows.len(), 1);
    }

    #[test]
    fn decode_picks_the_best_valid_span() {
        let cfg = SpanConfig {
            max_seq: 32,
            max_question: 8,
            overlap: 2,
            max_answer: 3,
        };
        let mut f = feats(10, 2, &cfg);
        f.spans[4] = (8, 8); // an empty piece (a lone word marker): never an end
        let l = f.windows[0].ids.len();
        let off = f.windows[0].ctx_offset;
        let mut s = vec![-10.0f32; l];
        let mut e = vec![-10.0f32; l];
        s[0] = 5.0;
        e[0] = 5.0; // null score 10 is reported, not chosen
        s[1] = 9.0; // a question position: never a start
        s[off + 2] = 3.0;
        e[off + 4] = 4.0; // empty piece
        e[off + 3] = 2.0;
        e[off + 9] = 9.0; // too far (max_answer 3)
        e[off + 1] = 8.0; // before the start
        s[off + 1] = 1.0;
        let best = decode(&f, &[(s.clone(), e.clone())], 3).unwrap();
        // (2,3) = 5, (1,1) = 9, (2,9) too long, (2,4) ends on an empty piece
        assert_eq!(best.pieces, (1, 1));
        assert_eq!((best.start, best.end), (2, 3));
        assert_eq!(best.null_score, 10.0);
        e[off + 1] = -10.0;
        let best = decode(&f, &[(s, e)], 3).unwrap();
        assert_eq!(best.pieces, (2, 3));
        assert_eq!((best.start, best.end), (4, 7));
        assert_eq!(best.score, 5.0);
    }

    #[test]
    fn decode_across_windows_uses_each_windows_positions() {
        let cfg = SpanConfig {
            max_seq: 12,
            max_question: 2,
            overlap: 1,
            max_answer: 4,
        };
        let f = feats(12, 2, &cfg);
        assert!(f.windows.len() > 1);
        let mut logits: Vec<(Vec<f32>, Vec<f32>)> = f
            .windows
            .iter()
            .map(|w| (vec![0.0; w.ids.len()], vec![0.0; w.ids.len()]))
            .collect();
        let w = &f.windows[1];
        let (ps, pe) = (w.first_piece + 1, w.first_piece + 2);
        logits[1].0[w.position_of(ps).unwrap()] = 4.0;
        logits[1].1[w.position_of(pe).unwrap()] = 4.0;
        let best = decode(&f, &logits, 4).unwrap();
        assert_eq!(best.window, 1);
        assert_eq!(best.pieces, (ps, pe));
        assert_eq!(best.score, 8.0);
    }

    #[test]
    fn covering_pieces() {
        let spans = vec![(0, 3), (3, 3), (4, 8), (8, 10), (11, 15)];
        assert_eq!(pieces_covering(&spans, 4, 10), Some((2, 3)));
        assert_eq!(pieces_covering(&spans, 5, 6), Some((2, 2)));
        assert_eq!(pieces_covering(&spans, 10, 11), None);
        assert_eq!(pieces_covering(&spans, 0, 15), Some((0, 4)));
    }
}
