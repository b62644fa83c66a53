//! The sentence reader: the answer is the sentence of the top passages whose
//! embedding is closest to the question's (language-agnostic answer
//! retrieval in the manner of LAReQA: question and candidate sentences are
//! embedded by the same multilingual encoder, whatever their languages).

use crate::SearchError;
use serde::Serialize;
use std::collections::BTreeMap;
use xlqa_core::Passage;
use xlqa_models::{Encoder, TextKind};
use xlqa_text::sentence::split_sentences;

/// A sentence chosen as the answer.
#[derive(Clone, Debug, Serialize)]
pub struct SentenceAnswer {
    pub text: String,
    /// Row of the passage it came from.
    pub passage: u32,
    /// Byte range of the sentence in the passage text.
    pub start: usize,
    pub end: usize,
    /// Cosine similarity between question and sentence, plus the weighted
    /// similarity of its passage (see [`best_sentence`]).
    pub score: f32,
}

/// Sentences shorter than this many characters are not answers.
const MIN_SENTENCE_CHARS: usize = 3;

/// Scores every sentence of `passages` (row, passage) against the question
/// embedding and returns the best one, or `None` when the passages hold no
/// sentence at all. A sentence's score is
/// `cos(q, sentence) + context_weight × context(row)`, where `context(row)` is the similarity of its passage to
/// the question: the sentence's surroundings count, as in LAReQA's
/// sentence+context candidates, without encoding each sentence twice.
pub fn best_sentence(
    encoder: &Encoder,
    question: &[f32],
    passages: &[(u32, &Passage)],
    context_weight: f32,
    context: &dyn Fn(u32) -> f32,
    debias: Option<&xlqa_index::Debias>,
) -> Result<Option<SentenceAnswer>, SearchError> {
    let mut cands: Vec<(u32, usize, usize, &str)> = Vec::new();
    for (row, p) in passages {
        for r in split_sentences(&p.text, &p.lang) {
            let s = &p.text[r.clone()];
            if s.chars().count() >= MIN_SENTENCE_CHARS {
                cands.push((*row, r.start, r.end, s));
            }
        }
    }
    if cands.is_empty() {
        return Ok(None);
    }
    let texts: Vec<&str> = cands.iter().map(|c| c.3).collect();
    let mut embs = encoder.encode(&texts, TextKind::Passage)?;
    if let Some(d) = debias {
        // into the index's space, like the question
        let langs: BTreeMap<u32, &str> = passages
            .iter()
            .map(|(r, p)| (*r, p.lang.as_str()))
            .collect();
        for (c, e) in cands.iter().zip(embs.iter_mut()) {
            let lang = langs.get(&c.0).copied().unwrap_or("");
            d.apply_or_fallback(lang, e)?;
        }
    }
    let mut best: Option<SentenceAnswer> = None;
    for (c, e) in cands.iter().zip(&embs) {
        let sim: f32 = e.iter().zip(question).map(|(a, b)| a * b).sum();
        let score = sim + context_weight * context(c.0);
        if best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(SentenceAnswer {
                text: c.3.to_string(),
                passage: c.0,
                start: c.1,
                end: c.2,
                score,
            });
        }
    }
    Ok(best)
}
