//! Live updates through the engine: documents go through the same language
//! ID, chunking (the index's settings), encoding and de-biasing (the
//! index's fitted transform) as `xlqa index`, then into the index's crash-safe
//! update (`xlqa_index::update`). Questions keep being answered meanwhile;
//! they wait only for the moment the update becomes visible.

use serde::Serialize;
use xlqa_core::{Document, Passage};
use xlqa_index::{Update, UpdateReport};

use crate::corpus::Corpus;
use crate::engine::Engine;
use crate::indexer::{encode_passages, label_languages, make_passages, IndexOptions};
use crate::SearchError;

/// Share of a language's passages added since the build above which the
/// de-biasing statistics (fitted at build time) are due for a refit.
pub const REFIT_SHARE: f64 = 0.2;

/// What an add/delete did, for the caller.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentsReport {
    #[serde(flatten)]
    pub index: UpdateReport,
    /// Documents whose detected language had confidence under 0.5: [id, lang, confidence].
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<Object>>))]
    pub low_confidence: Vec<(String, String, f32)>,
    /// Why a rebuild (`xlqa index --force`) is advisable now, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refit_due: Option<String>,
}

/// Passages with their vectors, the ids of documents too short to index,
/// and the low-confidence language detections.
type Prepared = (
    Vec<(Passage, Vec<f32>)>,
    Vec<String>,
    Vec<(String, String, f32)>,
);

/// The passages and vectors (in the index's space) of `docs`.
fn prepare(corpus: &Corpus, docs: Vec<Document>) -> Result<Prepared, SearchError> {
    if docs.is_empty() {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    }
    let m = &corpus.index.manifest;
    let opts = IndexOptions {
        target_tokens: m.chunking.target_tokens,
        min_tokens: m.chunking.min_tokens,
        progress: false,
        ..IndexOptions::default()
    };
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let labelled = label_languages(docs, corpus.langid(), &opts)?;
    let (passages, _) = match make_passages(&labelled.docs, corpus.encoder(), &opts) {
        Ok(p) => p,
        // every document too short: nothing to add, each one reported
        Err(_) if !labelled.docs.is_empty() => (Vec::new(), labelled.docs.len()),
        Err(e) => return Err(e),
    };
    let kept: std::collections::BTreeSet<&str> =
        passages.iter().map(|p| p.doc_id.as_str()).collect();
    let dropped = ids
        .into_iter()
        .filter(|i| !kept.contains(i.as_str()))
        .collect();
    let mut vectors = if passages.is_empty() {
        Vec::new()
    } else {
        encode_passages(&passages, corpus.encoder(), &opts)?
    };
    for (p, v) in passages.iter().zip(vectors.iter_mut()) {
        corpus.to_index_space(&p.lang, v)?;
    }
    Ok((
        passages.into_iter().zip(vectors).collect(),
        dropped,
        labelled.low_confidence,
    ))
}

/// Why the de-biasing statistics fitted at build time are stale, if they are.
fn refit_due(corpus: &Corpus) -> Option<String> {
    let m = &corpus.index.manifest;
    let d = m.debias.as_ref()?;
    let mut stale = Vec::new();
    for (lang, added) in &m.added_by_lang {
        let fitted = d.counts.get(lang).copied().unwrap_or(0);
        if fitted == 0 || *added as f64 > REFIT_SHARE * fitted as f64 {
            stale.push(format!("{lang} ({added} added, {fitted} fitted)"));
        }
    }
    let dead = m.deleted_rows.len() as f64 / m.counts.passages.max(1) as f64;
    if dead > REFIT_SHARE {
        stale.push(format!(
            "{:.0}% of the stored passages are deleted",
            100.0 * dead
        ));
    }
    (!stale.is_empty()).then(|| {
        format!(
            "the de-biasing statistics were fitted at build time and the index has changed since: {}; rebuild with `xlqa index --force` to refit",
            stale.join(", ")
        )
    })
}

impl Engine {
    /// Adds (or replaces: same id) `add` and deletes the documents `delete`,
    /// all in one durable update; visible to the next question when this
    /// returns.
    pub fn update_documents(
        &self,
        add: Vec<Document>,
        delete: Vec<String>,
    ) -> Result<DocumentsReport, SearchError> {
        let _one_writer = self.writer();
        if add.is_empty() {
            let c = self.corpus();
            let (found, not_found): (Vec<String>, Vec<String>) =
                delete.into_iter().partition(|id| c.index.has_document(id));
            if found.is_empty() {
                // nothing to change: no commit, the generation stays
                return Ok(DocumentsReport {
                    index: UpdateReport {
                        generation: c.index.manifest.generation,
                        not_found,
                        ..UpdateReport::default()
                    },
                    low_confidence: Vec::new(),
                    refit_due: refit_due(&c),
                });
            }
            drop(c);
            return self.commit_and_apply(Vec::new(), found.into_iter().chain(not_found).collect());
        }
        self.commit_and_apply(add, delete)
    }

    fn commit_and_apply(
        &self,
        add: Vec<Document>,
        delete: Vec<String>,
    ) -> Result<DocumentsReport, SearchError> {
        let (committed, dense, low) = {
            let corpus = self.corpus();
            let (add, dropped, low) = prepare(&corpus, add)?;
            if !dropped.is_empty() {
                return Err(SearchError::Input(format!(
                    "{} documents are too short to index (under the index's minimum of {} word-pieces), so nothing was changed: {}",
                    dropped.len(),
                    corpus.index.manifest.chunking.min_tokens,
                    dropped.join(", ")
                )));
            }
            let c = corpus.index.commit_update(&Update { add, delete })?;
            // the new dense index is built while questions still read the old one
            let dense = corpus.index.dense_after(&c)?;
            (c, dense, low)
        };
        let (index, refit) = self.with_corpus_mut(|c| -> Result<_, SearchError> {
            let r = c.apply_committed(committed, dense)?;
            Ok((r, refit_due(c)))
        })?;
        Ok(DocumentsReport {
            index,
            low_confidence: low,
            refit_due: refit,
        })
    }

    /// The live passages of document `id`, in order (None: no such document).
    pub fn document(&self, id: &str) -> Option<Vec<Passage>> {
        let c = self.corpus();
        let rows = c.index.rows_of(id);
        (!rows.is_empty()).then(|| {
            rows.iter()
                .filter_map(|&r| c.index.store.get(r).cloned())
                .collect()
        })
    }

    /// Why a rebuild is advisable now (see [`REFIT_SHARE`]), if it is.
    pub fn refit_due(&self) -> Option<String> {
        refit_due(&self.corpus())
    }
}
