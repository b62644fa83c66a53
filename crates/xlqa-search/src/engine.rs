//! The [`Engine`]: question → language → retrievers → fusion → reader,
//! with per-stage timings. Built by [`crate::EngineBuilder`]; `Send + Sync`,
//! so one engine answers concurrent questions.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::Instant;

use xlqa_core::{Lang, Question, StageTimings};
use xlqa_index::Index;

use crate::answer::{AskOptions, AskResult, RetrievedPassage};
use crate::corpus::Corpus;
use crate::fusion::{interpolate, rrf, single, FusedHit, RankedList};
use crate::read::{ReadInput, ReadOutcome, Reader};
use crate::retrieve::{FusionMethod, RetrieveOptions, RetrieveQuery, Retriever};
use crate::SearchError;

/// An opened index with its retrievers and readers.
pub struct Engine {
    /// Read-locked by each question for its whole answer; write-locked only
    /// for the moment a live update becomes visible (update.rs).
    corpus: RwLock<Corpus>,
    /// Serializes live updates within this process (the index's lock file
    /// covers other processes).
    writer: Mutex<()>,
    retrievers: Vec<Box<dyn Retriever>>,
    readers: Vec<Box<dyn Reader>>,
}

/// The corpus, read-locked: live updates wait until it is dropped.
pub type CorpusGuard<'a> = RwLockReadGuard<'a, Corpus>;

/// The index, read-locked (see [`CorpusGuard`]).
pub struct IndexGuard<'a>(CorpusGuard<'a>);

impl std::ops::Deref for IndexGuard<'_> {
    type Target = Index;
    fn deref(&self) -> &Index {
        &self.0.index
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Adds `ms` to the timing slot of retriever `name`.
fn add_time(t: &mut StageTimings, name: &str, ms: f64) {
    match name {
        "dense" => t.dense_ms += ms,
        "bm25" => t.lexical_ms += ms,
        other => *t.other_retrievers_ms.entry(other.to_string()).or_default() += ms,
    }
}

impl Engine {
    pub(crate) fn new(
        corpus: Corpus,
        retrievers: Vec<Box<dyn Retriever>>,
        readers: Vec<Box<dyn Reader>>,
    ) -> Engine {
        Engine {
            corpus: RwLock::new(corpus),
            writer: Mutex::new(()),
            retrievers,
            readers,
        }
    }

    /// The corpus (index, encoder, language identifier), read-locked.
    pub fn corpus(&self) -> CorpusGuard<'_> {
        self.corpus.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index, read-locked.
    pub fn index(&self) -> IndexGuard<'_> {
        IndexGuard(self.corpus())
    }

    /// The corpus for a live update: the in-process writer lock, then the
    /// corpus write lock is taken by [`Engine::with_corpus_mut`].
    pub(crate) fn writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the corpus write-locked (questions wait meanwhile).
    pub(crate) fn with_corpus_mut<T>(&self, f: impl FnOnce(&mut Corpus) -> T) -> T {
        let mut c = self.corpus.write().unwrap_or_else(PoisonError::into_inner);
        f(&mut c)
    }

    /// Names of the registered retrievers, in report order.
    pub fn retrievers(&self) -> Vec<&'static str> {
        self.retrievers.iter().map(|r| r.name()).collect()
    }

    /// Names of the loaded readers.
    pub fn readers(&self) -> Vec<&'static str> {
        self.readers.iter().map(|r| r.name()).collect()
    }

    /// Whether retrieval with `opts` uses the question's embedding.
    pub fn retrieval_needs_vector(&self, opts: &RetrieveOptions) -> bool {
        self.retrievers
            .iter()
            .any(|r| opts.retriever.includes(r.name()) && r.needs_vector())
    }

    fn reader(&self, name: &str) -> Result<Option<&dyn Reader>, SearchError> {
        if name == "none" {
            return Ok(None);
        }
        self.readers
            .iter()
            .find(|r| r.name() == name)
            .map(|r| Some(r.as_ref()))
            .ok_or_else(|| {
                SearchError::Input(format!(
                    "the {name} reader is not loaded (loaded: {}); load it with the engine builder",
                    if self.readers.is_empty() {
                        "none".to_string()
                    } else {
                        self.readers().join(", ")
                    }
                ))
            })
    }

    /// Retrieves passages for `text` in language `lang`. `embedding` is the
    /// question's raw embedding ([`Corpus::embed_questions`]) when the caller
    /// already has it; the returned one is in the index's space.
    pub fn retrieve(
        &self,
        text: &str,
        lang: &Lang,
        embedding: Option<&[f32]>,
        opts: &RetrieveOptions,
        timings: &mut StageTimings,
    ) -> Result<(Vec<FusedHit>, Option<Vec<f32>>), SearchError> {
        self.retrieve_in(&self.corpus(), text, lang, embedding, opts, timings)
    }

    /// [`Engine::retrieve`] on a corpus the caller has locked.
    fn retrieve_in(
        &self,
        corpus: &Corpus,
        text: &str,
        lang: &Lang,
        embedding: Option<&[f32]>,
        opts: &RetrieveOptions,
        timings: &mut StageTimings,
    ) -> Result<(Vec<FusedHit>, Option<Vec<f32>>), SearchError> {
        let mut vector = embedding.map(<[f32]>::to_vec);
        if let Some(v) = vector.as_mut() {
            corpus.to_index_space(lang, v)?;
        } else if self.retrieval_needs_vector(opts) {
            let t = Instant::now();
            vector = corpus.query_vector(text, lang)?;
            timings.encode_ms += ms(t);
        }
        let hits = self.retrieve_with(corpus, text, lang, vector.as_deref(), opts, timings)?;
        Ok((hits, vector))
    }

    /// Retrieval and fusion with the question's vector already in the index's space.
    fn retrieve_with(
        &self,
        corpus: &Corpus,
        text: &str,
        lang: &Lang,
        vector: Option<&[f32]>,
        opts: &RetrieveOptions,
        timings: &mut StageTimings,
    ) -> Result<Vec<FusedHit>, SearchError> {
        let exclude: HashSet<&str> = opts.exclude_langs.iter().map(|l| l.as_str()).collect();
        let q = RetrieveQuery {
            text,
            lang,
            vector,
            exclude: &exclude,
            options: opts,
        };
        let depth = opts.depth.max(opts.k);
        let mut lists = Vec::new();
        for r in self
            .retrievers
            .iter()
            .filter(|r| opts.retriever.includes(r.name()))
        {
            let t = Instant::now();
            let hits = r.search(&corpus.index, &q, depth)?;
            add_time(timings, r.name(), ms(t));
            lists.push((r.name(), hits));
        }
        let t = Instant::now();
        let ranked: Vec<RankedList<'_>> = lists
            .iter()
            .map(|(name, hits)| RankedList {
                name,
                weight: opts.weight(name),
                hits,
            })
            .collect();
        let fused = match (ranked.len(), opts.fusion) {
            (1, _) => single(&ranked[0], opts.k),
            (_, FusionMethod::Rrf) => rrf(&ranked, opts.rrf_k, opts.k),
            (_, FusionMethod::Interp) => interpolate(&ranked, opts.k),
        };
        timings.fuse_ms += ms(t);
        Ok(fused)
    }

    /// Answers one question.
    pub fn ask(&self, q: &Question, opts: &AskOptions) -> Result<AskResult, SearchError> {
        let t_all = Instant::now();
        let mut timings = StageTimings::default();
        let reader = self.reader(&opts.reader)?;
        let corpus = self.corpus();
        let t = Instant::now();
        let ql = corpus.question_lang(q, opts.lang.as_ref())?;
        timings.lang_id_ms = ms(t);
        // The reader may look deeper than the passages shown.
        let mut ropts = opts.retrieve.clone();
        if reader.is_some() {
            ropts.k = ropts.k.max(opts.read_top);
        }
        if opts.exclude_question_lang && !ropts.exclude_langs.contains(&ql.lang) {
            ropts.exclude_langs.push(ql.lang.clone());
        }
        let wants_vector = reader.is_some_and(|r| r.needs_vector(opts));
        let (hits, mut vector) =
            self.retrieve_in(&corpus, &q.question, &ql.lang, None, &ropts, &mut timings)?;
        if wants_vector && vector.is_none() {
            let t = Instant::now();
            vector = corpus.query_vector(&q.question, &ql.lang)?;
            timings.encode_ms += ms(t);
        }
        let passages = report_passages(&corpus, &hits, opts.retrieve.k)?;
        let outcome = match reader {
            Some(r) => {
                let t = Instant::now();
                let input = ReadInput {
                    question: q,
                    lang: &ql.lang,
                    vector: vector.as_deref(),
                    hits: &hits,
                    opts,
                };
                let o = r.read(&corpus, &input)?;
                timings.read_ms = ms(t);
                o
            }
            None => ReadOutcome::default(),
        };
        timings.total_ms = ms(t_all);
        let uses_vectors = self.retrieval_needs_vector(&opts.retrieve) || wants_vector;
        let warnings = if uses_vectors {
            corpus.debias_warning(&ql.lang).into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(AskResult {
            id: q.id.clone(),
            question: q.question.clone(),
            question_lang: ql.lang,
            question_lang_source: ql.source,
            question_lang_confidence: ql.confidence,
            retriever: opts.retrieve.retriever.clone(),
            answer: outcome.answer,
            note: outcome.note,
            warnings,
            passages,
            timings,
        })
    }
}

/// The first `k` hits as the user sees them.
fn report_passages(
    corpus: &Corpus,
    hits: &[FusedHit],
    k: usize,
) -> Result<Vec<RetrievedPassage>, SearchError> {
    hits.iter()
        .take(k)
        .enumerate()
        .map(|(i, h)| {
            let p = corpus.passage(h.passage)?;
            Ok(RetrievedPassage {
                rank: i + 1,
                id: p.id.clone(),
                doc_id: p.doc_id.clone(),
                title: p.title.clone(),
                text: p.text.clone(),
                lang: p.lang.clone(),
                score: h.score,
                ranks: h.ranks.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_engine_is_send_and_sync() {
        assert_send_sync::<super::Engine>();
    }
}
