//! Training the extractive span reader (`xlqa train reader`): the pieces.
//!
//! Recipe: the base encoder's lower layers are frozen and run with the same
//! int8 kernels the reader uses at inference; the top layers (f32 copies of
//! the base weights) and a fresh start/end head are trained with AdamW
//! ([`crate::adamw`]) on masked softmax cross-entropy over the window's
//! positions, for the start and for the end. Windows that do not hold the
//! answer (another window of a long passage, or the question paired with
//! another paragraph of the same article) are trained toward position 0
//! (`<s>`), so that span scores and the no-answer score are comparable
//! across passages at reading time.
//!
//! * [`crate::qa_data`] reads the SQuAD-format training files;
//! * [`crate::reader_plan`] samples languages and builds the windows of
//!   every step in advance (a pure function of data, config and seed);
//! * [`crate::reader_run`] runs the steps, with checkpoints and `--resume`.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use xlqa_models::span::{decode, features_from_pieces, SpanConfig, SpanModel};
use xlqa_models::Encoder;

/// Errors of reader training.
#[derive(Debug, thiserror::Error)]
pub enum ReaderTrainError {
    #[error(transparent)]
    Data(#[from] xlqa_data::DataError),
    #[error(transparent)]
    Model(#[from] xlqa_models::ModelError),
    #[error(transparent)]
    Span(#[from] xlqa_models::span::SpanError),
    #[error("training: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
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
    /// `source file/article title`: paragraphs of one article share it.
    pub title: String,
    pub answer: (usize, usize),
}

/// Why a window is in the training stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum WindowKind {
    /// Holds the answer: the target is its span.
    Answer,
    /// Another window of the same passage: target position 0.
    OtherWindow,
    /// The question over another paragraph (same article if it has one): target 0.
    OtherParagraph,
}

/// One training window with its targets.
#[derive(Debug, Clone)]
pub struct TrainWindow {
    /// `<s> q </s></s> ctx </s>`.
    pub ids: Vec<u32>,
    /// Target positions (0, 0 when the answer is not in the window).
    pub start: u32,
    pub end: u32,
    /// Positions a start or end may take: 0 and context pieces with text.
    pub valid: Vec<bool>,
    /// Index of the example (question) it was built for.
    pub example: usize,
    pub kind: WindowKind,
}

impl TrainWindow {
    /// True when the window holds the answer.
    pub fn has_answer(&self) -> bool {
        self.kind == WindowKind::Answer
    }
}

/// The windows of `question` over a passage already cut into pieces, with
/// targets for the answer pieces `answer` (`None`: every window is negative).
pub fn windows_of(
    specials: (u32, u32, u32),
    question: &[u32],
    pieces: &[u32],
    spans: &[(usize, usize)],
    answer: Option<(usize, usize)>,
    cfg: &SpanConfig,
) -> Vec<(Vec<u32>, u32, u32, Vec<bool>)> {
    let f = features_from_pieces(specials, question, pieces, spans.to_vec(), cfg);
    f.windows
        .iter()
        .map(|w| {
            let target = answer.and_then(|(ps, pe)| match (w.position_of(ps), w.position_of(pe)) {
                (Some(s), Some(e)) if pe - ps < cfg.max_answer => Some((s as u32, e as u32)),
                _ => None,
            });
            let (s, e) = target.unwrap_or((0, 0));
            let mut valid = vec![false; w.ids.len()];
            valid[0] = true;
            for i in 0..w.n_ctx {
                let (a, b) = spans[w.first_piece + i];
                valid[w.ctx_offset + i] = a < b;
            }
            (w.ids.clone(), s, e, valid)
        })
        .collect()
}

/// Targets and masks of a batch: start `[b]`, end `[b]`, additive mask `[b, l]`.
fn batch_targets(ws: &[&TrainWindow], l: usize) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let b = ws.len();
    let mut mask = vec![-1e4f32; b * l];
    for (r, w) in ws.iter().enumerate() {
        for (p, &v) in w.valid.iter().enumerate().take(l) {
            if v {
                mask[r * l + p] = 0.0;
            }
        }
    }
    let dev = &Device::Cpu;
    let s = Tensor::from_vec(ws.iter().map(|w| w.start).collect::<Vec<u32>>(), b, dev)?;
    let e = Tensor::from_vec(ws.iter().map(|w| w.end).collect::<Vec<u32>>(), b, dev)?;
    Ok((s, e, Tensor::from_vec(mask, (b, l), dev)?))
}

/// Loss of a batch (mean of the start and end cross-entropies) given the
/// lower-layer states `x` `[b, l, h]`, with the masked start/end logits.
pub fn batch_loss(
    model: &SpanModel,
    x: &Tensor,
    lens: &[usize],
    ws: &[&TrainWindow],
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (_, l, _) = x.dims3()?;
    let (ts, te, mask) = batch_targets(ws, l)?;
    let (s, e) = model.logits(x, lens)?;
    let (s, e) = ((s + &mask)?, (e + &mask)?);
    let ls = candle_nn::loss::cross_entropy(&s, &ts)?;
    let le = candle_nn::loss::cross_entropy(&e, &te)?;
    Ok((((ls + le)? / 2.0)?, s, e))
}

/// Lower-layer states of a batch of windows, run by the inference encoder.
pub fn lower_states(
    enc: &Encoder,
    ws: &[&TrainWindow],
    lower: usize,
) -> Result<(Tensor, Vec<usize>), ReaderTrainError> {
    let ids: Vec<&[u32]> = ws.iter().map(|w| w.ids.as_slice()).collect();
    let (x, lens) = enc.hidden_states_ids(&ids, lower)?;
    Ok((x.to_dtype(candle_core::DType::F32)?, lens))
}

/// Best (start, end) positions inside one window, "no answer" excluded.
pub fn best_positions(w: &TrainWindow, s: &[f32], e: &[f32], max_answer: usize) -> (u32, u32) {
    let mut best = (f32::NEG_INFINITY, 0u32, 0u32);
    let n = w.ids.len().min(s.len()).min(e.len());
    for (i, &si) in s.iter().enumerate().take(n).skip(1) {
        if !w.valid[i] {
            continue;
        }
        let end = n.min(i + max_answer);
        for (j, &ej) in e.iter().enumerate().take(end).skip(i) {
            if w.valid[j] && si + ej > best.0 {
                best = (si + ej, i as u32, j as u32);
            }
        }
    }
    (best.1, best.2)
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

/// FNV-1a of a string (stable across platforms and runs).
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_mark_the_answer_only_where_it_lies_whole() {
        let cfg = SpanConfig {
            max_seq: 12,
            max_question: 2,
            overlap: 2,
            max_answer: 3,
        };
        let pieces: Vec<u32> = (100..116).collect();
        let spans: Vec<(usize, usize)> = (0..16).map(|i| (i * 2, i * 2 + 1)).collect();
        let ws = windows_of((0, 2, 1), &[7, 8], &pieces, &spans, Some((5, 6)), &cfg);
        // q offset 5, budget 6, step 4: windows start at 0, 4, 8, 12
        assert_eq!(ws.len(), 4);
        assert_eq!((ws[0].1, ws[0].2), (0, 0), "answer cut by the window end");
        assert_eq!((ws[1].1, ws[1].2), (5 + 1, 5 + 2));
        assert_eq!((ws[2].1, ws[2].2), (0, 0));
        assert!(ws.iter().all(|w| w.3[0] && !w.3[1]));
        let long = windows_of((0, 2, 1), &[7, 8], &pieces, &spans, Some((4, 7)), &cfg);
        assert!(long.iter().all(|w| w.1 == 0), "longer than max_answer");
    }
}
