//! The opened index with the models every stage shares: the retrieval
//! encoder (questions and sentences into the index's vector space) and the
//! language identifier. Readers get a `&Corpus`.

use std::collections::HashMap;
use std::path::Path;

use xlqa_core::{Lang, LangSource, Passage, Question};
use xlqa_index::{DebiasMethod, Index};
use xlqa_models::{Encoder, TextKind};
use xlqa_text::langid::LangId;

use crate::indexer::encoder_info;
use crate::reader::{best_sentence, SentenceAnswer};
use crate::SearchError;

/// group id → the live rows of the passages that have one.
fn groups_of(index: &Index) -> HashMap<String, Vec<u32>> {
    let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
    for (row, p) in index.store.iter().enumerate() {
        if let Some(g) = p.group.as_ref().filter(|_| index.is_live(row as u32)) {
            groups.entry(g.clone()).or_default().push(row as u32);
        }
    }
    groups
}

/// A question's language and how it was found.
#[derive(Clone, Debug)]
pub struct QuestionLang {
    pub lang: Lang,
    pub source: LangSource,
    pub confidence: Option<f32>,
}

/// An index and the models that read it.
pub struct Corpus {
    pub index: Index,
    encoder: Encoder,
    langid: LangId,
    /// group id → passage rows, for the passages that have one.
    groups: HashMap<String, Vec<u32>>,
}

impl Corpus {
    /// Opens the index at `dir`, refusing it if `encoder` is not the one
    /// that built it.
    pub fn open(dir: &Path, encoder: Encoder, langid: LangId) -> Result<Corpus, SearchError> {
        let index = Index::open(dir)?;
        index.manifest.check_encoder(&encoder_info(&encoder), dir)?;
        let groups = groups_of(&index);
        Ok(Corpus {
            index,
            encoder,
            langid,
            groups,
        })
    }

    /// Makes a committed live update visible (the caller holds the write lock).
    pub(crate) fn apply_committed(
        &mut self,
        c: xlqa_index::update::Committed,
        dense: xlqa_index::DenseIndex,
    ) -> Result<xlqa_index::UpdateReport, SearchError> {
        let r = self.index.apply_committed(c, dense)?;
        self.groups = groups_of(&self.index);
        Ok(r)
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    pub fn langid(&self) -> &LangId {
        &self.langid
    }

    /// The passage at `row`, or an error naming the row.
    pub fn passage(&self, row: u32) -> Result<&Passage, SearchError> {
        self.index.store.get(row).ok_or_else(|| {
            SearchError::Input(format!("index returned row {row} beyond the passage store"))
        })
    }

    /// The passage in `lang` linked to passage `row` (same group), the one
    /// whose vector is closest to `row`'s when there are several chunks.
    pub fn linked_passage(&self, row: u32, lang: &Lang) -> Option<u32> {
        let store = &self.index.store;
        let g = store.get(row)?.group.as_ref()?;
        let cands: Vec<u32> = self
            .groups
            .get(g)?
            .iter()
            .copied()
            .filter(|&r| r != row && store.get(r).is_some_and(|p| &p.lang == lang))
            .collect();
        if cands.len() <= 1 {
            return cands.first().copied();
        }
        let dense = &self.index.dense;
        let v = dense.vector(row as usize)?;
        let sim = |r: u32| {
            dense.vector(r as usize).map_or(f32::NEG_INFINITY, |w| {
                w.iter().zip(v.iter()).map(|(x, y)| x * y).sum()
            })
        };
        cands.into_iter().max_by(|&a, &b| sim(a).total_cmp(&sim(b)))
    }

    /// The question's language: the one given (in the question or as
    /// `default`), else the detected one. Fails when none can be detected.
    pub fn question_lang(
        &self,
        q: &Question,
        default: Option<&Lang>,
    ) -> Result<QuestionLang, SearchError> {
        if let Some(l) = q.lang.as_ref().or(default) {
            return Ok(QuestionLang {
                lang: l.clone(),
                source: LangSource::Given,
                confidence: None,
            });
        }
        match self.langid.detect(&q.question) {
            Some(d) => Ok(QuestionLang {
                lang: d.lang,
                source: LangSource::Detected,
                confidence: Some(d.confidence),
            }),
            None => Err(SearchError::UndetectableLanguage { id: q.id.clone() }),
        }
    }

    /// Embeds questions (raw encoder space; see [`Corpus::to_index_space`]).
    pub fn embed_questions(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        Ok(self.encoder.encode(texts, TextKind::Query)?)
    }

    /// Puts a raw query embedding into the index's vector space: the index's
    /// de-biasing transform, with the question's language (see
    /// [`Corpus::debias_warning`] for languages it has no statistics for).
    pub fn to_index_space(&self, lang: &Lang, v: &mut [f32]) -> Result<(), SearchError> {
        if let Some(d) = &self.index.manifest.debias {
            d.apply_or_fallback(lang.as_str(), v)?;
        }
        Ok(())
    }

    /// The question's vector in the index's space.
    pub fn query_vector(&self, text: &str, lang: &Lang) -> Result<Option<Vec<f32>>, SearchError> {
        let mut v = self.encoder.encode(&[text], TextKind::Query)?.pop();
        if let Some(v) = v.as_mut() {
            self.to_index_space(lang, v)?;
        }
        Ok(v)
    }

    /// What to tell the user when questions in `lang` get the de-biasing
    /// fallback (the collection has too few passages in `lang`).
    pub fn debias_warning(&self, lang: &Lang) -> Option<String> {
        let d = self.index.manifest.debias.as_ref()?;
        let uses_lang = matches!(d.method, DebiasMethod::Center | DebiasMethod::Lir(_));
        (uses_lang && !d.fitted_langs().iter().any(|l| l == lang.as_str())).then(|| {
            format!(
                "de-biasing ({}): the collection has too few passages in {lang} for statistics of its own; the question was {} instead",
                d.method,
                if d.method == DebiasMethod::Center {
                    "centered with the average of the collection's language means"
                } else {
                    "only normalized"
                }
            )
        })
    }

    /// The sentence of `rows` closest to the question vector `qe`
    /// (LAReQA-style; the passage's own score weighs in by `context_weight`).
    pub fn evidence_sentence(
        &self,
        qe: &[f32],
        rows: &[(u32, &Passage)],
        context_weight: f32,
    ) -> Result<Option<SentenceAnswer>, SearchError> {
        let dense = &self.index.dense;
        let context = |row: u32| -> f32 {
            dense
                .vector(row as usize)
                .map(|v| v.iter().zip(qe.iter()).map(|(a, b)| a * b).sum())
                .unwrap_or(0.0)
        };
        best_sentence(
            &self.encoder,
            qe,
            rows,
            context_weight,
            &context,
            self.index.manifest.debias.as_ref(),
        )
    }
}
