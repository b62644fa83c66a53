//! The [`Engine`]: question → language → retrieval (BM25, dense, hybrid) →
//! fused passages → answer sentence, with per-stage timings.

use crate::fusion::{rrf, single, FusedHit};
use crate::indexer::encoder_info;
use crate::reader::best_sentence;
use crate::SearchError;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;
use xlqa_core::{Lang, LangSource, Question, StageTimings};
use xlqa_index::{DebiasMethod, Index};
use xlqa_models::span::SpanReader;
use xlqa_models::{Encoder, TextKind};
use xlqa_text::analyze::Analyzer;
use xlqa_text::langid::LangId;

/// Which retriever to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrieverKind {
    Bm25,
    Dense,
    Hybrid,
}

impl FromStr for RetrieverKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bm25" => Ok(RetrieverKind::Bm25),
            "dense" => Ok(RetrieverKind::Dense),
            "hybrid" => Ok(RetrieverKind::Hybrid),
            other => Err(format!(
                "unknown retriever \"{other}\": expected bm25, dense or hybrid"
            )),
        }
    }
}

impl RetrieverKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RetrieverKind::Bm25 => "bm25",
            RetrieverKind::Dense => "dense",
            RetrieverKind::Hybrid => "hybrid",
        }
    }
}

/// How the answer is read out of the retrieved passages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReaderKind {
    /// A short answer span (name, date, number, phrase) read by the trained
    /// extractive reader from the top passages.
    Span,
    /// The best sentence of the top passages (LAReQA-style scoring).
    Sentence,
    /// A generative reader (CORA's mGEN style: question, language tag and
    /// ranked passages in the prompt; the answer written in the question's
    /// language) on a small instruct model. Slow on a CPU.
    Llm,
    /// No reader: passages only.
    None,
}

impl FromStr for ReaderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "span" => Ok(ReaderKind::Span),
            "sentence" => Ok(ReaderKind::Sentence),
            "llm" => Ok(ReaderKind::Llm),
            "none" => Ok(ReaderKind::None),
            other => Err(format!(
                "unknown reader \"{other}\": expected span, sentence, llm or none"
            )),
        }
    }
}

/// Retrieval settings.
#[derive(Clone, Debug)]
pub struct RetrieveOptions {
    pub retriever: RetrieverKind,
    /// Passages to return.
    pub k: usize,
    /// Candidates taken from each retriever before fusion.
    pub depth: usize,
    /// RRF constant.
    pub rrf_k: f32,
    pub w_dense: f32,
    pub w_bm25: f32,
    /// Passages in these languages are never returned.
    pub exclude_langs: Vec<Lang>,
    /// Beam width of the HNSW search when the index has a graph (it is used
    /// only when no language is excluded; raised to `depth` if smaller).
    pub ann_ef: usize,
    /// Use the index's HNSW graph when it has one (else the exact int8 scan).
    pub use_ann: bool,
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        RetrieveOptions {
            retriever: RetrieverKind::Hybrid,
            k: 5,
            depth: 100,
            rrf_k: 60.0,
            w_dense: 1.0,
            w_bm25: 1.0,
            exclude_langs: Vec::new(),
            ann_ef: 128,
            use_ann: true,
        }
    }
}

/// Settings for answering.
#[derive(Clone, Debug)]
pub struct AskOptions {
    pub retrieve: RetrieveOptions,
    pub reader: ReaderKind,
    /// Passages the reader looks at.
    pub read_top: usize,
    /// The question's language, when the user states it.
    pub lang: Option<Lang>,
    /// Weight of the passage's similarity to the question in a sentence's
    /// score (0 = the sentence alone, as LAReQA's sentence candidates).
    pub context_weight: f32,
    /// Span reader: weight of the passage's retrieval score (relative to the
    /// top passage's, in [0, 1]) added to the span's start+end logit.
    pub retrieval_weight: f32,
    /// Span reader: carry an answer found in another language into a linked
    /// passage (same `group`) in the question's language.
    pub project: bool,
    /// Span reader: choose the evidence sentence as the sentence reader does
    /// and read the span from it (instead of comparing span scores across
    /// passages).
    pub sentence_evidence: bool,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            retrieve: RetrieveOptions::default(),
            reader: ReaderKind::Span,
            read_top: 5,
            lang: None,
            context_weight: 0.5,
            retrieval_weight: 2.0,
            project: true,
            sentence_evidence: true,
        }
    }
}

/// A retrieved passage as reported to the user.
#[derive(Clone, Debug, Serialize)]
pub struct RetrievedPassage {
    pub rank: usize,
    pub id: String,
    pub doc_id: String,
    pub title: String,
    pub text: String,
    pub lang: Lang,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_score: Option<f32>,
}

/// The answer read from the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub text: String,
    pub lang: Lang,
    /// True when the answer is in another language than the question.
    pub cross_lingual: bool,
    pub reader: ReaderKind,
    pub score: f32,
    pub passage_id: String,
    pub doc_id: String,
    pub title: String,
    /// Span reader: the "no answer" score of the window the span came from
    /// (start+end logit of `<s>`); above `score` minus the retrieval part,
    /// the reader thinks the passage does not answer the question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_answer_score: Option<f32>,
    /// Set when the answer was carried from a passage in another language
    /// into the linked passage `passage_id` in the question's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected_from: Option<ProjectedFrom>,
}

/// Where a projected answer was read.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectedFrom {
    pub text: String,
    pub lang: Lang,
    pub passage_id: String,
    /// `identical` (same text in both) or `alignment` (token alignment).
    pub method: &'static str,
}

/// Everything known about one answered question.
#[derive(Clone, Debug, Serialize)]
pub struct AskResult {
    pub id: String,
    pub question: String,
    pub question_lang: Lang,
    pub question_lang_source: LangSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question_lang_confidence: Option<f32>,
    pub retriever: RetrieverKind,
    pub answer: Option<Answer>,
    /// Why the answer is missing or not in the question's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Things the caller should know about how the answer was found (e.g. a
    /// de-biasing fallback for a language the collection lacks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub passages: Vec<RetrievedPassage>,
    pub timings: StageTimings,
}

/// A question's language and how it was found.
#[derive(Clone, Debug)]
pub struct QuestionLang {
    pub lang: Lang,
    pub source: LangSource,
    pub confidence: Option<f32>,
}

/// An opened index with the models needed to query it.
pub struct Engine {
    pub index: Index,
    encoder: Encoder,
    langid: LangId,
    span: Option<SpanReader>,
    llm: Option<std::sync::Mutex<xlqa_models::llm::LlmReader>>,
    /// group id → passage rows, for the passages that have one.
    groups: HashMap<String, Vec<u32>>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl Engine {
    /// Opens the index at `dir`, refusing it if `encoder` is not the one
    /// that built it.
    pub fn open(dir: &Path, encoder: Encoder, langid: LangId) -> Result<Engine, SearchError> {
        let index = Index::open(dir)?;
        index.manifest.check_encoder(&encoder_info(&encoder), dir)?;
        let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
        for (row, p) in index.store.iter().enumerate() {
            if let Some(g) = &p.group {
                groups.entry(g.clone()).or_default().push(row as u32);
            }
        }
        Ok(Engine {
            index,
            encoder,
            langid,
            span: None,
            llm: None,
            groups,
        })
    }

    /// Adds the generative reader (needed for [`ReaderKind::Llm`]).
    pub fn with_llm_reader(mut self, reader: xlqa_models::llm::LlmReader) -> Engine {
        self.llm = Some(std::sync::Mutex::new(reader));
        self
    }

    /// Adds the span reader (needed for [`ReaderKind::Span`]).
    pub fn with_span_reader(mut self, reader: SpanReader) -> Engine {
        self.span = Some(reader);
        self
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
        cands.into_iter().max_by(|&a, &b| {
            let s = |r: u32| {
                dense.vector(r as usize).map_or(f32::NEG_INFINITY, |w| {
                    w.iter().zip(v.iter()).map(|(x, y)| x * y).sum()
                })
            };
            s(a).total_cmp(&s(b))
        })
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    pub fn langid(&self) -> &LangId {
        &self.langid
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
            None => Err(SearchError::Input(format!(
                "question \"{}\": cannot detect its language (no letters); pass --lang",
                q.id
            ))),
        }
    }

    /// Embeds questions (for callers that reuse one embedding across runs).
    pub fn embed_questions(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        Ok(self.encoder.encode(texts, TextKind::Query)?)
    }

    /// Puts a raw query embedding (from the encoder) into the index's vector
    /// space: the index's de-biasing transform, with the question's language
    /// (see [`Engine::debias_warning`] for languages it has no statistics for).
    pub fn to_index_space(&self, lang: &Lang, v: &mut [f32]) -> Result<(), SearchError> {
        if let Some(d) = &self.index.manifest.debias {
            d.apply_or_fallback(lang.as_str(), v)?;
        }
        Ok(())
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

    /// Retrieves passages for `text` in language `lang`. `embedding` is the
    /// question's raw embedding ([`Engine::embed_questions`]) when the caller
    /// already has it; the returned one is in the index's space.
    pub fn retrieve(
        &self,
        text: &str,
        lang: &Lang,
        embedding: Option<&[f32]>,
        opts: &RetrieveOptions,
        timings: &mut StageTimings,
    ) -> Result<(Vec<FusedHit>, Option<Vec<f32>>), SearchError> {
        let excluded: HashSet<&str> = opts.exclude_langs.iter().map(|l| l.as_str()).collect();
        let depth = opts.depth.max(opts.k);
        let use_dense = opts.retriever != RetrieverKind::Bm25;
        let use_bm25 = opts.retriever != RetrieverKind::Dense;

        let mut q_emb = embedding.map(|e| e.to_vec());
        let mut dense = Vec::new();
        if use_dense {
            if q_emb.is_none() {
                let t = Instant::now();
                let mut e = self.encoder.encode(&[text], TextKind::Query)?;
                q_emb = e.pop();
                timings.encode_ms += ms(t);
            }
            if let Some(q) = q_emb.as_mut() {
                self.to_index_space(lang, q)?;
            }
            let t = Instant::now();
            if let Some(q) = &q_emb {
                let store = &self.index.store;
                let keep = |row: usize| {
                    excluded.is_empty()
                        || store
                            .get(row as u32)
                            .is_some_and(|p| !excluded.contains(p.lang.as_str()))
                };
                dense = if opts.use_ann && excluded.is_empty() && self.index.dense.has_ann() {
                    self.index
                        .dense
                        .search_approx(q, depth, opts.ann_ef.max(depth), &keep)
                } else {
                    self.index.dense.search(q, depth, &keep)
                };
            }
            timings.dense_ms += ms(t);
        }
        let mut lexical = Vec::new();
        if use_bm25 {
            let t = Instant::now();
            let terms: Vec<String> = Analyzer::for_lang(lang)
                .analyze(text)
                .into_iter()
                .map(|t| t.text)
                .collect();
            lexical = self
                .index
                .lexical
                .search(&terms, depth, &|l| !excluded.contains(l))?;
            timings.lexical_ms += ms(t);
        }
        let t = Instant::now();
        let fused = match opts.retriever {
            RetrieverKind::Dense => single(&dense, true, opts.k),
            RetrieverKind::Bm25 => single(&lexical, false, opts.k),
            RetrieverKind::Hybrid => rrf(
                &dense,
                &lexical,
                opts.w_dense,
                opts.w_bm25,
                opts.rrf_k,
                opts.k,
            ),
        };
        timings.fuse_ms += ms(t);
        Ok((fused, q_emb))
    }

    /// Answers one question.
    pub fn ask(&self, q: &Question, opts: &AskOptions) -> Result<AskResult, SearchError> {
        let t_all = Instant::now();
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let ql = self.question_lang(q, opts.lang.as_ref())?;
        timings.lang_id_ms = ms(t);

        // The reader may look deeper than the passages shown.
        let mut ropts = opts.retrieve.clone();
        if opts.reader != ReaderKind::None {
            ropts.k = ropts.k.max(opts.read_top);
        }
        let (hits, mut q_emb) = self.retrieve(&q.question, &ql.lang, None, &ropts, &mut timings)?;
        let store = &self.index.store;
        let mut passages = Vec::with_capacity(hits.len());
        for (i, h) in hits.iter().take(opts.retrieve.k).enumerate() {
            let p = store.get(h.passage).ok_or_else(|| {
                SearchError::Input(format!(
                    "index returned row {} beyond the passage store",
                    h.passage
                ))
            })?;
            passages.push(RetrievedPassage {
                rank: i + 1,
                id: p.id.clone(),
                doc_id: p.doc_id.clone(),
                title: p.title.clone(),
                text: p.text.clone(),
                lang: p.lang.clone(),
                score: h.score,
                dense_rank: h.dense.map(|d| d.0),
                dense_score: h.dense.map(|d| d.1),
                bm25_rank: h.bm25.map(|d| d.0),
                bm25_score: h.bm25.map(|d| d.1),
            });
        }

        let mut answer = None;
        let mut note = None;
        if opts.reader == ReaderKind::Span {
            let t = Instant::now();
            if opts.sentence_evidence {
                self.ensure_query_vector(&q.question, &ql.lang, &mut q_emb, &mut timings)?;
            }
            (answer, note) = self.read_span(q, &ql.lang, q_emb.as_deref(), &hits, opts)?;
            timings.read_ms = ms(t);
        }
        if opts.reader == ReaderKind::Llm {
            let t = Instant::now();
            (answer, note) = self.read_llm(q, &ql.lang, &hits, opts)?;
            timings.read_ms = ms(t);
        }
        if opts.reader == ReaderKind::Sentence {
            let t = Instant::now();
            self.ensure_query_vector(&q.question, &ql.lang, &mut q_emb, &mut timings)?;
            let top: Vec<(u32, &xlqa_core::Passage)> = hits
                .iter()
                .take(opts.read_top)
                .filter_map(|h| store.get(h.passage).map(|p| (h.passage, p)))
                .collect();
            if let Some(qe) = &q_emb {
                if let Some(s) = self.evidence_sentence(qe, &top, opts)? {
                    if let Some(p) = store.get(s.passage) {
                        let cross = p.lang != ql.lang;
                        if cross {
                            note = Some(format!(
                                "the answer is in {} but the question is in {}: the evidence for it is in another language, and the sentence reader cannot give it in {} (the span reader can, through linked passages)",
                                p.lang, ql.lang, ql.lang
                            ));
                        }
                        answer = Some(Answer {
                            text: s.text,
                            lang: p.lang.clone(),
                            cross_lingual: cross,
                            reader: ReaderKind::Sentence,
                            score: s.score,
                            passage_id: p.id.clone(),
                            doc_id: p.doc_id.clone(),
                            title: p.title.clone(),
                            projected_from: None,
                            no_answer_score: None,
                        });
                    }
                }
            }
            if answer.is_none() {
                note = Some(if hits.is_empty() {
                    "no passage matched the question".to_string()
                } else {
                    "the retrieved passages hold no sentence to answer with".to_string()
                });
            }
            timings.read_ms = ms(t);
        }
        timings.total_ms = ms(t_all);
        let uses_vectors =
            opts.retrieve.retriever != RetrieverKind::Bm25 || opts.reader == ReaderKind::Sentence;
        let warnings = if uses_vectors {
            self.debias_warning(&ql.lang).into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(AskResult {
            id: q.id.clone(),
            question: q.question.clone(),
            question_lang: ql.lang,
            question_lang_source: ql.source,
            question_lang_confidence: ql.confidence,
            retriever: opts.retrieve.retriever,
            answer,
            note,
            warnings,
            passages,
            timings,
        })
    }

    /// The span reader over the top `read_top` hits, and the answer carried
    /// into the question's language when it was found in another one.
    fn read_span(
        &self,
        q: &Question,
        qlang: &Lang,
        q_emb: Option<&[f32]>,
        hits: &[FusedHit],
        opts: &AskOptions,
    ) -> Result<(Option<Answer>, Option<String>), SearchError> {
        let reader = self.span.as_ref().ok_or_else(|| {
            SearchError::Input(
                "the span reader is not loaded (use --reader sentence, or give --reader-dir)"
                    .into(),
            )
        })?;
        let store = &self.index.store;
        let top: Vec<(&FusedHit, &xlqa_core::Passage)> = hits
            .iter()
            .take(opts.read_top)
            .filter_map(|h| store.get(h.passage).map(|p| (h, p)))
            .collect();
        if top.is_empty() {
            return Ok((None, Some("no passage matched the question".to_string())));
        }
        let best = if let (true, Some(qe)) = (opts.sentence_evidence, q_emb) {
            self.span_in_best_sentence(reader, q, qe, &top, opts)?
        } else {
            let texts: Vec<&str> = top.iter().map(|(_, p)| p.text.as_str()).collect();
            let spans = reader.read(&q.question, &texts)?;
            let best_retrieval = top[0].0.score.max(f32::MIN_POSITIVE);
            let mut best: Option<(f32, usize, xlqa_models::span::SpanAnswer)> = None;
            for (k, s) in spans.into_iter().enumerate() {
                let Some(s) = s else { continue };
                if s.text.is_empty() {
                    continue;
                }
                let rel = (top[k].0.score / best_retrieval).clamp(0.0, 1.0);
                let score = s.score + opts.retrieval_weight * rel;
                if best.as_ref().is_none_or(|b| score > b.0) {
                    best = Some((score, k, s));
                }
            }
            best
        };
        let Some((score, k, s)) = best else {
            return Ok((
                None,
                Some("the span reader found no answer in the retrieved passages".to_string()),
            ));
        };
        let (hit, p) = top[k];
        let mut ans = Answer {
            text: s.text.clone(),
            lang: p.lang.clone(),
            cross_lingual: p.lang != *qlang,
            reader: ReaderKind::Span,
            score,
            passage_id: p.id.clone(),
            doc_id: p.doc_id.clone(),
            title: p.title.clone(),
            projected_from: None,
            no_answer_score: Some(s.null_score),
        };
        let doubt = (s.null_score > s.score).then(|| {
            format!(
                "the reader's no-answer score ({:.2}) is above the answer's ({:.2}): the passages may not answer the question",
                s.null_score, s.score
            )
        });
        if p.lang == *qlang {
            return Ok((Some(ans), doubt));
        }
        if opts.project {
            if let Some(row) = self.linked_passage(hit.passage, qlang) {
                if let Some(lp) = store.get(row) {
                    let proj = xlqa_models::align::project_span(
                        &self.encoder,
                        &p.text,
                        (s.start, s.end),
                        &lp.text,
                    )?;
                    if let Some(pr) = proj {
                        let text = lp.text[pr.start..pr.end].trim().to_string();
                        if !text.is_empty() {
                            ans.projected_from = Some(ProjectedFrom {
                                text: ans.text.clone(),
                                lang: p.lang.clone(),
                                passage_id: p.id.clone(),
                                method: pr.method,
                            });
                            ans.text = text;
                            ans.lang = lp.lang.clone();
                            ans.cross_lingual = false;
                            ans.passage_id = lp.id.clone();
                            ans.doc_id = lp.doc_id.clone();
                            ans.title = lp.title.clone();
                            return Ok((Some(ans), doubt));
                        }
                    }
                    return Ok((
                        Some(ans),
                        Some(format!(
                            "the answer was found in another language, {} ({}); the linked {} passage {} holds no aligned span, so it is given in {}",
                            p.lang, p.id, qlang, lp.id, p.lang
                        )),
                    ));
                }
            }
        }
        let mut note = format!(
            "the answer is in another language, {} (passage {}), than the question's ({}): no passage in {} is linked to it",
            p.lang, p.id, qlang, qlang
        );
        if let Some(d) = doubt {
            note = format!("{note}; {d}");
        }
        Ok((Some(ans), Some(note)))
    }

    /// Evidence chosen as the sentence reader does (the top passages'
    /// sentence closest to the question in the shared embedding space,
    /// LAReQA-style), then the span read out of that sentence by the span
    /// reader. Returns (score, index into `top`, span in passage offsets).
    fn span_in_best_sentence(
        &self,
        reader: &SpanReader,
        q: &Question,
        qe: &[f32],
        top: &[(&FusedHit, &xlqa_core::Passage)],
        opts: &AskOptions,
    ) -> Result<Option<(f32, usize, xlqa_models::span::SpanAnswer)>, SearchError> {
        let rows: Vec<(u32, &xlqa_core::Passage)> =
            top.iter().map(|(h, p)| (h.passage, *p)).collect();
        let Some(sent) = self.evidence_sentence(qe, &rows, opts)? else {
            return Ok(None);
        };
        let Some(k) = top.iter().position(|(h, _)| h.passage == sent.passage) else {
            return Ok(None);
        };
        let Some(Some(mut s)) = reader.read(&q.question, &[sent.text.as_str()])?.pop() else {
            return Ok(None);
        };
        s.start += sent.start;
        s.end += sent.start;
        Ok(Some((s.score, k, s)))
    }

    /// Fills in the question's vector in the index space when retrieval did
    /// not compute one (BM25 only).
    fn ensure_query_vector(
        &self,
        question: &str,
        qlang: &Lang,
        q_emb: &mut Option<Vec<f32>>,
        timings: &mut StageTimings,
    ) -> Result<(), SearchError> {
        if q_emb.is_none() {
            let te = Instant::now();
            *q_emb = self.encoder.encode(&[question], TextKind::Query)?.pop();
            timings.encode_ms += ms(te);
            if let Some(v) = q_emb.as_mut() {
                self.to_index_space(qlang, v)?;
            }
        }
        Ok(())
    }

    /// The sentence of `rows` closest to the question vector `qe`
    /// (LAReQA-style; the passage's own score weighs in by `context_weight`).
    fn evidence_sentence(
        &self,
        qe: &[f32],
        rows: &[(u32, &xlqa_core::Passage)],
        opts: &AskOptions,
    ) -> Result<Option<crate::reader::SentenceAnswer>, SearchError> {
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
            opts.context_weight,
            &context,
            self.index.manifest.debias.as_ref(),
        )
    }

    /// The generative reader over the top `read_top` hits.
    fn read_llm(
        &self,
        q: &Question,
        qlang: &Lang,
        hits: &[FusedHit],
        opts: &AskOptions,
    ) -> Result<(Option<Answer>, Option<String>), SearchError> {
        let llm = self
            .llm
            .as_ref()
            .ok_or_else(|| SearchError::Input("the generative reader is not loaded".into()))?;
        let store = &self.index.store;
        let top: Vec<&xlqa_core::Passage> = hits
            .iter()
            .take(opts.read_top)
            .filter_map(|h| store.get(h.passage))
            .collect();
        if top.is_empty() {
            return Ok((None, Some("no passage matched the question".to_string())));
        }
        let pairs: Vec<(&str, &str)> = top
            .iter()
            .map(|p| (p.title.as_str(), p.text.as_str()))
            .collect();
        let cut = xlqa_models::llm::cut_passages(&pairs, 4000);
        let refs: Vec<(&str, &str)> = cut.iter().map(|(t, p)| (*t, p.as_str())).collect();
        let prompt = xlqa_models::llm::LlmReader::prompt(&q.question, qlang.as_str(), &refs);
        let g = llm
            .lock()
            .map_err(|_| SearchError::Input("the generative reader panicked earlier".into()))?
            .generate(&prompt)
            .map_err(|e| SearchError::Input(e.to_string()))?;
        if g.text.is_empty() {
            return Ok((
                None,
                Some("the generative reader produced no answer".to_string()),
            ));
        }
        // the passage that holds the answer verbatim, else the top one
        let src = top
            .iter()
            .find(|p| p.text.contains(g.text.as_str()))
            .copied();
        let p = src.unwrap_or(top[0]);
        // the prompt asks for the question's language; check what came out
        let detected = self.langid.detect(&g.text).filter(|d| {
            d.confidence >= 0.8 && g.text.chars().filter(|c| c.is_alphabetic()).count() >= 4
        });
        let (lang, mut notes) = match detected {
            Some(d) if d.lang.primary() != qlang.primary() => (
                d.lang.clone(),
                vec![format!(
                    "the generated answer reads as {} (confidence {:.2}), not {}",
                    d.lang, d.confidence, qlang
                )],
            ),
            _ => (qlang.clone(), Vec::new()),
        };
        if src.is_none() {
            notes.push(format!(
                "generated from the top {} passages; the answer text does not occur verbatim in them",
                top.len()
            ));
        }
        let answer = Answer {
            text: g.text,
            cross_lingual: lang != *qlang,
            lang,
            reader: ReaderKind::Llm,
            score: 0.0,
            passage_id: p.id.clone(),
            doc_id: p.doc_id.clone(),
            title: p.title.clone(),
            projected_from: None,
            no_answer_score: None,
        };
        Ok((Some(answer), (!notes.is_empty()).then(|| notes.join("; "))))
    }
}
